//! Records as plain data: the field values of one row, built from a request body, validated
//! field by field, and shaped into the JSON the API returns.
//!
//! A request is handled as: start from [`new_record`] (create) or the stored record (update),
//! [`apply_body`], generate what is still empty and generated (the `id`, `tokenKey`, autodates
//! — not done here), then [`validate_record`]. PocketBase reports the errors of both steps in
//! one response, so [`apply_body`] applies every key it can even when it returns errors, and the
//! caller merges the two error sets (the first error of a key wins, as in
//! [`ValidationErrors::add`]).

use serde_json::{Map, Value};

use crate::collection::Collection;
use crate::error::{FieldError, ValidationErrors};
use crate::field::{Field, FieldKind};
use crate::value::{self, Modifier};

/// Field values keyed by field name, each in its canonical form (see [`crate::value`]).
pub type RecordData = Map<String, Value>;

/// A record with every field of the collection at its zero value.
pub fn new_record(collection: &Collection) -> RecordData {
    collection
        .fields
        .iter()
        .map(|field| (field.name.clone(), value::zero_value(field)))
        .collect()
}

/// Who is writing, and whether the record is new.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    pub is_new: bool,
    pub is_superuser: bool,
}

/// One body key resolved to the field it writes.
struct Write<'a> {
    key_len: usize,
    field: &'a Field,
    modifier: Option<Modifier>,
    raw: &'a Value,
}

/// Apply a request body to the record, with PocketBase's rules:
///
/// * keys name fields exactly (PocketBase 0.40.6 matches them case-sensitively; `TITLE` does
///   not write `title`), plain or with a modifier (`tags+`, `+tags`, `tags-`) the field type
///   takes; every other key — unknown names, `passwordConfirm`, `oldPassword`, `expand`, … —
///   is ignored;
/// * keys are applied shortest first, so `tags` is set before `tags+` modifies it; keys of equal
///   length keep their body order (PocketBase mostly does the same; its order there is not
///   deterministic);
/// * `autodate` fields ignore client values;
/// * hidden fields are dropped unless the writer is a superuser, except the `password` of an
///   auth collection;
/// * on create the primary key may be supplied (its text constraints are checked by
///   [`validate_record`]); on update a different value is `id: validation_pk_change`;
/// * file fields may only keep or drop the record's current files: other names are left out of
///   the record and reported as `validation_invalid_file` (new files arrive as uploads).
pub fn apply_body(
    collection: &Collection,
    record: &mut RecordData,
    body: &Map<String, Value>,
    opts: &ApplyOptions,
) -> Result<(), ValidationErrors> {
    let mut writes: Vec<Write> = body
        .iter()
        .filter_map(|(key, raw)| resolve_key(collection, key, raw))
        .collect();
    writes.sort_by_key(|w| w.key_len);

    let original = record.clone();
    let mut errors = ValidationErrors::new();
    for write in writes {
        let field = write.field;
        if matches!(field.kind, FieldKind::Autodate(_)) || !may_write(collection, field, opts) {
            continue;
        }
        let new = match write.modifier {
            None => value::normalize(field, write.raw),
            Some(modifier) => {
                let current = current_value(record, field);
                value::apply_modifier(field, &current, modifier, write.raw)
            }
        };
        if field.is_primary_key() && !opts.is_new && Some(&new) != original.get(&field.name) {
            errors.add(&field.name, pk_change_error());
            continue;
        }
        record.insert(field.name.clone(), new);
    }

    for field in &collection.fields {
        if let FieldKind::File(_) = field.kind
            && let Some(error) = drop_unknown_files(field, record, &original)
        {
            errors.add(&field.name, error);
        }
    }
    errors.into_result()
}

fn resolve_key<'a>(collection: &'a Collection, key: &str, raw: &'a Value) -> Option<Write<'a>> {
    let (field, modifier) = match collection.field(key) {
        Some(field) => (field, None),
        None => {
            let (name, modifier) = Modifier::split_key(key)?;
            let field = collection
                .field(name)
                .filter(|f| value::supports_modifier(&f.kind, modifier))?;
            (field, Some(modifier))
        }
    };
    Some(Write {
        key_len: key.len(),
        field,
        modifier,
        raw,
    })
}

fn may_write(collection: &Collection, field: &Field, opts: &ApplyOptions) -> bool {
    !field.hidden || opts.is_superuser || is_auth_password(collection, field)
}

fn is_auth_password(collection: &Collection, field: &Field) -> bool {
    collection.is_auth() && field.name == "password"
}

fn current_value(record: &RecordData, field: &Field) -> Value {
    record
        .get(&field.name)
        .cloned()
        .unwrap_or_else(|| value::zero_value(field))
}

fn pk_change_error() -> FieldError {
    FieldError::new(
        "validation_pk_change",
        "The record primary key cannot be changed.",
    )
}

/// Keep only the file names the record had before the body was applied; report the others.
fn drop_unknown_files(
    field: &Field,
    record: &mut RecordData,
    original: &RecordData,
) -> Option<FieldError> {
    let existing = original
        .get(&field.name)
        .map(value::to_string_list)
        .unwrap_or_default();
    let (kept, unknown): (Vec<String>, Vec<String>) = record
        .get(&field.name)
        .map(value::to_string_list)
        .unwrap_or_default()
        .into_iter()
        .partition(|name| existing.contains(name));
    if unknown.is_empty() {
        return None;
    }
    let kept = Value::Array(kept.into_iter().map(Value::String).collect());
    record.insert(field.name.clone(), value::normalize(field, &kept));
    Some(value::invalid_files_error(&unknown))
}

/// Run every field's own validation and collect the errors by field name, as the `data` of a
/// 400 response shows them. `autodate` fields are skipped (the server sets them), and so is a
/// password that holds a stored hash (an unchanged password; see
/// [`value::is_password_hash`]). Relation ids, unique indexes and uploads are checked by the
/// storage and file layers.
pub fn validate_record(
    collection: &Collection,
    record: &RecordData,
) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    for field in &collection.fields {
        if let FieldKind::Autodate(_) = field.kind {
            continue;
        }
        let current = current_value(record, field);
        if let Err(error) = value::validate(field, &current) {
            errors.add(&field.name, error);
        }
    }
    errors.into_result()
}

/// The record as the API returns it: `collectionId`, `collectionName`, then every field in
/// collection order. Hidden fields are left out unless `is_superuser`; password fields read
/// as `""`, except an auth collection's `password` and `tokenKey`, which are never shown.
///
/// An auth record's `email` is included as is: hiding it (when `emailVisibility` is off and
/// the requester is neither the owner, a superuser nor a `manageRule` match) is the caller's
/// decision.
pub fn to_api_json(
    collection: &Collection,
    record: &RecordData,
    is_superuser: bool,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("collectionId".into(), Value::String(collection.id.clone()));
    out.insert(
        "collectionName".into(),
        Value::String(collection.name.clone()),
    );
    for field in &collection.fields {
        let never_shown =
            collection.is_auth() && (field.name == "password" || field.name == "tokenKey");
        if never_shown || (field.hidden && !is_superuser) {
            continue;
        }
        let shown = match field.kind {
            FieldKind::Password(_) => Value::String(String::new()),
            _ => current_value(record, field),
        };
        out.insert(field.name.clone(), shown);
    }
    out
}

#[cfg(test)]
mod tests {
    //! Expected results are PocketBase 0.40.6's for the same bodies.

    use super::*;
    use serde_json::json;

    fn posts() -> Collection {
        serde_json::from_value(json!({
            "id": "pbc_1125843985", "name": "posts", "type": "base",
            "fields": [
                {"name": "id", "type": "text", "primaryKey": true, "required": true, "system": true,
                 "min": 15, "max": 15, "pattern": "^[a-z0-9]+$", "autogeneratePattern": "[a-z0-9]{15}"},
                {"name": "title", "type": "text", "required": true},
                {"name": "tags", "type": "select", "values": ["a", "b", "c", "d"], "maxSelect": 4},
                {"name": "status", "type": "select", "values": ["a", "b"], "maxSelect": 1},
                {"name": "n", "type": "number"},
                {"name": "secret", "type": "text", "hidden": true},
                {"name": "pin", "type": "password"},
                {"name": "docs", "type": "file", "maxSelect": 3},
                {"name": "cover", "type": "file", "maxSelect": 1},
                {"name": "created", "type": "autodate", "onCreate": true},
                {"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true}
            ]
        }))
        .expect("collection")
    }

    fn users() -> Collection {
        serde_json::from_value(json!({
            "id": "_pb_users_auth_", "name": "users", "type": "auth",
            "fields": [
                {"name": "id", "type": "text", "primaryKey": true, "required": true, "min": 15, "max": 15},
                {"name": "password", "type": "password", "hidden": true, "required": true, "min": 8},
                {"name": "tokenKey", "type": "text", "hidden": true, "required": true, "min": 30, "max": 60},
                {"name": "email", "type": "email", "required": true},
                {"name": "emailVisibility", "type": "bool"},
                {"name": "verified", "type": "bool"},
                {"name": "name", "type": "text", "max": 255}
            ]
        }))
        .expect("collection")
    }

    const ID: &str = "abcdefghijklmno";

    fn stored_post() -> RecordData {
        let mut record = new_record(&posts());
        record.insert("id".into(), json!(ID));
        record.insert("title".into(), json!("x"));
        record.insert("tags".into(), json!(["a", "b"]));
        record.insert("docs".into(), json!(["one_abc.txt", "two_def.txt"]));
        record.insert("cover".into(), json!("cover_ghi.png"));
        record.insert("created".into(), json!("2026-11-21 14:20:37.287Z"));
        record
    }

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().expect("object body").clone()
    }

    const UPDATE: ApplyOptions = ApplyOptions {
        is_new: false,
        is_superuser: false,
    };
    const CREATE: ApplyOptions = ApplyOptions {
        is_new: true,
        is_superuser: false,
    };
    const SUPERUSER_UPDATE: ApplyOptions = ApplyOptions {
        is_new: false,
        is_superuser: true,
    };

    fn update(value: Value) -> (RecordData, Result<(), ValidationErrors>) {
        let mut record = stored_post();
        let result = apply_body(&posts(), &mut record, &body(value), &UPDATE);
        (record, result)
    }

    #[test]
    fn new_records_hold_zero_values() {
        let record = new_record(&posts());
        assert_eq!(record["id"], json!(""));
        assert_eq!(record["tags"], json!([]));
        assert_eq!(record["status"], json!(""));
        assert_eq!(record["n"], json!(0));
        assert_eq!(record["docs"], json!([]));
        assert_eq!(record["created"], json!(""));
        assert_eq!(record.len(), posts().fields.len());
    }

    #[test]
    fn plain_keys_set_normalized_values() {
        let (record, result) =
            update(json!({"title": 12.5, "n": "3", "tags": "c", "status": ["a", "b"]}));
        assert_eq!(result, Ok(()));
        assert_eq!(record["title"], json!("12.5"));
        assert_eq!(record["n"], json!(3));
        assert_eq!(record["tags"], json!(["c"]));
        assert_eq!(record["status"], json!("b"));
    }

    #[test]
    fn unknown_and_helper_keys_are_ignored() {
        let (record, result) = update(json!({
            "foo": "bar", "passwordConfirm": "x", "oldPassword": "y", "expand": {}, "collectionId": "z",
            "title": "y"
        }));
        assert_eq!(result, Ok(()));
        assert_eq!(record["title"], json!("y"));
        assert!(!record.contains_key("foo"));
    }

    #[test]
    fn field_names_match_case_sensitively() {
        // PocketBase 0.40.6 ignores `TITLE`, `Tags`, `N`, `TAGS+` for fields `title`, `tags`, `n`.
        let (record, result) = update(json!({"TITLE": "z", "Tags": ["c"], "N": 5, "TAGS+": "d"}));
        assert_eq!(result, Ok(()));
        assert_eq!(record, stored_post());
    }

    #[test]
    fn shorter_keys_apply_first_and_equal_lengths_keep_body_order() {
        // `tags-` and `+tags` have the same length: remove then prepend ⇒ a is back in front.
        let (record, _) = update(json!({"tags-": "a", "+tags": "a"}));
        assert_eq!(record["tags"], json!(["a", "b"]));
        // In the other order: prepend (no-op, a is already there) then remove.
        let (record, _) = update(json!({"+tags": "a", "tags-": "a"}));
        assert_eq!(record["tags"], json!(["b"]));
        // `tags` is shorter than `tags+`, so it is set first whatever the body order.
        let (record, _) = update(json!({"tags+": "c", "tags": ["b"]}));
        assert_eq!(record["tags"], json!(["b", "c"]));
        let (record, _) = update(json!({"+tags": ["c", "d"], "tags": ["b"]}));
        assert_eq!(record["tags"], json!(["c", "d", "b"]));
        let (record, _) = update(json!({"n": 1, "n+": 5, "n-": 2}));
        assert_eq!(record["n"], json!(4));
    }

    #[test]
    fn unsupported_modifiers_are_ignored() {
        let (record, result) = update(json!({"+n": 100, "title+": "more", "title-": "x"}));
        assert_eq!(result, Ok(()));
        assert_eq!(record["n"], json!(0));
        assert_eq!(record["title"], json!("x"));
    }

    #[test]
    fn autodate_values_from_clients_are_ignored() {
        let (record, result) =
            update(json!({"created": "2020-01-01 00:00:00.000Z", "updated": "2020-01-01"}));
        assert_eq!(result, Ok(()));
        assert_eq!(record["created"], json!("2026-11-21 14:20:37.287Z"));
        assert_eq!(record["updated"], json!(""));
    }

    #[test]
    fn hidden_fields_are_writable_by_superusers_only() {
        let (record, _) = update(json!({"secret": "s"}));
        assert_eq!(record["secret"], json!(""));
        let mut record = stored_post();
        apply_body(
            &posts(),
            &mut record,
            &body(json!({"secret": "s"})),
            &SUPERUSER_UPDATE,
        )
        .unwrap();
        assert_eq!(record["secret"], json!("s"));
    }

    #[test]
    fn auth_password_is_writable_by_anyone_but_token_key_is_not() {
        let collection = users();
        let mut record = new_record(&collection);
        let written =
            body(json!({"email": "a@b.com", "password": "12345678", "tokenKey": "k".repeat(40)}));
        apply_body(&collection, &mut record, &written, &CREATE).unwrap();
        assert_eq!(record["password"], json!("12345678"));
        assert_eq!(record["tokenKey"], json!(""));
        let superuser = ApplyOptions {
            is_new: true,
            is_superuser: true,
        };
        apply_body(&collection, &mut record, &written, &superuser).unwrap();
        assert_eq!(record["tokenKey"], json!("k".repeat(40)));
    }

    #[test]
    fn primary_key_may_be_given_on_create_but_not_changed() {
        let mut record = new_record(&posts());
        apply_body(
            &posts(),
            &mut record,
            &body(json!({"id": 123456789012345u64})),
            &CREATE,
        )
        .unwrap();
        assert_eq!(record["id"], json!("123456789012345"));

        let pk_change = json!({"code": "validation_pk_change", "message": "The record primary key cannot be changed."});
        for id in [json!("zzzzzzzzzzzzzzz"), json!(""), json!(null)] {
            let (record, result) = update(json!({"id": id, "title": "kept going"}));
            let errors = result.expect_err("pk change");
            assert_eq!(
                serde_json::to_value(&errors).unwrap(),
                json!({"id": pk_change}),
                "{id}"
            );
            assert_eq!(record["id"], json!(ID));
            // The rest of the body is still applied, so validation errors can be reported with it.
            assert_eq!(record["title"], json!("kept going"));
        }
        let (_, result) = update(json!({"id": ID}));
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn file_fields_keep_or_drop_existing_names_only() {
        let (record, result) = update(json!({"docs": ["two_def.txt"]}));
        assert_eq!(result, Ok(()));
        assert_eq!(record["docs"], json!(["two_def.txt"]));
        let (record, _) = update(json!({"docs-": "one_abc.txt", "cover": null}));
        assert_eq!(record["docs"], json!(["two_def.txt"]));
        assert_eq!(record["cover"], json!(""));
        let (record, _) = update(json!({"+docs": "two_def.txt"}));
        assert_eq!(record["docs"], json!(["two_def.txt", "one_abc.txt"]));

        let (record, result) =
            update(json!({"docs": ["one_abc.txt", "new.png"], "cover+": ["x.png", "y.png"]}));
        let errors = serde_json::to_value(result.expect_err("new names")).unwrap();
        assert_eq!(
            errors,
            json!({
                "docs": {"code": "validation_invalid_file", "message": "Invalid new files: [new.png].", "params": {"invalidFiles": ["new.png"]}},
                "cover": {"code": "validation_invalid_file", "message": "Invalid new files: [y.png].", "params": {"invalidFiles": ["y.png"]}}
            })
        );
        assert_eq!(record["docs"], json!(["one_abc.txt"]));
        assert_eq!(record["cover"], json!(""));
    }

    #[test]
    fn file_names_on_create_are_all_new() {
        let mut record = new_record(&posts());
        let result = apply_body(
            &posts(),
            &mut record,
            &body(json!({"cover": "x.png"})),
            &CREATE,
        );
        assert_eq!(result.unwrap_err().0.keys().collect::<Vec<_>>(), ["cover"]);
        assert_eq!(record["cover"], json!(""));
    }

    #[test]
    fn validate_record_collects_errors_by_field_name() {
        let mut record = new_record(&posts());
        record.insert("tags".into(), json!(["z"]));
        record.insert("n".into(), json!("NaN"));
        let errors = validate_record(&posts(), &record).expect_err("invalid");
        assert_eq!(
            serde_json::to_value(errors).unwrap(),
            json!({
                "id": {"code": "validation_required", "message": "Cannot be blank."},
                "title": {"code": "validation_required", "message": "Cannot be blank."},
                "tags": {"code": "validation_invalid_value", "message": "Invalid value z.", "params": {"value": "z"}},
                "n": {"code": "validation_not_a_number", "message": "The submitted number is not properly formatted."}
            })
        );
        assert_eq!(validate_record(&posts(), &stored_post()), Ok(()));
    }

    #[test]
    fn validate_record_skips_stored_password_hashes() {
        let collection = users();
        let mut record = new_record(&collection);
        record.insert("id".into(), json!(ID));
        record.insert("tokenKey".into(), json!("k".repeat(40)));
        record.insert("email".into(), json!("a@b.com"));
        record.insert(
            "password".into(),
            json!("$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"),
        );
        assert_eq!(validate_record(&collection, &record), Ok(()));
        record.insert("password".into(), json!("short"));
        let errors = validate_record(&collection, &record).expect_err("short password");
        assert_eq!(
            serde_json::to_value(errors).unwrap(),
            json!({"password": {"code": "validation_min_text_constraint", "message": "Must be at least 8 character(s)."}})
        );
    }

    #[test]
    fn api_json_starts_with_the_collection_and_hides_what_pocketbase_hides() {
        let mut record = stored_post();
        record.insert("secret".into(), json!("s"));
        record.insert(
            "pin".into(),
            json!("$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"),
        );
        record.remove("updated");
        let out = to_api_json(&posts(), &record, false);
        let keys: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(&keys[..3], ["collectionId", "collectionName", "id"]);
        assert_eq!(out["collectionId"], json!("pbc_1125843985"));
        assert_eq!(out["collectionName"], json!("posts"));
        assert!(!out.contains_key("secret"));
        assert_eq!(out["pin"], json!(""));
        assert_eq!(out["updated"], json!(""));
        assert_eq!(to_api_json(&posts(), &record, true)["secret"], json!("s"));
    }

    #[test]
    fn api_json_never_shows_auth_password_or_token_key() {
        let collection = users();
        let mut record = new_record(&collection);
        record.insert(
            "password".into(),
            json!("$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"),
        );
        record.insert("tokenKey".into(), json!("k".repeat(40)));
        record.insert("email".into(), json!("a@b.com"));
        for superuser in [false, true] {
            let out = to_api_json(&collection, &record, superuser);
            assert!(!out.contains_key("password"));
            assert!(!out.contains_key("tokenKey"));
            assert_eq!(out["email"], json!("a@b.com"));
        }
    }
}
