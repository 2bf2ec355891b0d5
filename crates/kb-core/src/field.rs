//! Field definitions of a collection: every PocketBase field type with its options, in the
//! exact JSON shape of the API (a flat object with a `type` tag).

use serde::{Deserialize, Serialize};

use crate::id::crc32_of;

/// One column of a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub system: bool,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub presentable: bool,
    #[serde(flatten)]
    pub kind: FieldKind,
}

/// The field type and its type-specific options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FieldKind {
    Text(TextOptions),
    Editor(EditorOptions),
    Number(NumberOptions),
    Bool(BoolOptions),
    Email(DomainOptions),
    Url(DomainOptions),
    Date(DateOptions),
    Autodate(AutodateOptions),
    Select(SelectOptions),
    File(FileOptions),
    Relation(RelationOptions),
    Json(JsonOptions),
    Password(PasswordOptions),
    GeoPoint(GeoPointOptions),
}

/// Every field type name the API knows, in the order the dashboard lists them.
pub const FIELD_TYPES: &[&str] = &[
    "text", "editor", "number", "bool", "email", "url", "date", "autodate", "select", "file",
    "relation", "json", "password", "geoPoint",
];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TextOptions {
    pub min: u64,
    pub max: u64,
    pub pattern: String,
    pub autogenerate_pattern: String,
    pub primary_key: bool,
    pub required: bool,
    pub help: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EditorOptions {
    pub max_size: u64,
    #[serde(rename = "convertURLs")]
    pub convert_urls: bool,
    pub required: bool,
    pub help: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NumberOptions {
    #[serde(serialize_with = "crate::number::serialize_option")]
    pub min: Option<f64>,
    #[serde(serialize_with = "crate::number::serialize_option")]
    pub max: Option<f64>,
    pub only_int: bool,
    pub required: bool,
    pub help: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BoolOptions {
    pub required: bool,
    pub help: String,
}

/// Options of `email` and `url` fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DomainOptions {
    pub except_domains: Vec<String>,
    pub only_domains: Vec<String>,
    pub required: bool,
    pub help: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DateOptions {
    pub min: String,
    pub max: String,
    pub required: bool,
    pub help: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AutodateOptions {
    pub on_create: bool,
    pub on_update: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SelectOptions {
    pub values: Vec<String>,
    pub max_select: u64,
    pub required: bool,
    pub help: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FileOptions {
    pub max_select: u64,
    pub max_size: u64,
    pub mime_types: Vec<String>,
    pub thumbs: Vec<String>,
    pub protected: bool,
    pub required: bool,
    pub help: String,
}

impl FileOptions {
    /// The largest file one upload may be, in bytes (`maxSize`, or 5 MiB when it is 0).
    pub fn max_file_size(&self) -> u64 {
        match self.max_size {
            0 => crate::value::DEFAULT_FILE_MAX_SIZE,
            size => size,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RelationOptions {
    pub collection_id: String,
    pub cascade_delete: bool,
    pub min_select: u64,
    pub max_select: u64,
    pub required: bool,
    pub help: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JsonOptions {
    pub max_size: u64,
    pub required: bool,
    pub help: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PasswordOptions {
    pub min: u64,
    pub max: u64,
    pub pattern: String,
    pub cost: u32,
    pub required: bool,
    pub help: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GeoPointOptions {
    pub required: bool,
    pub help: String,
}

/// How a field's value is stored, independent of the SQL dialect: the storage layer maps each
/// class to a column type (`TEXT`, `NUMERIC`, `BOOLEAN`, `JSON` in SQLite; native types in
/// PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageClass {
    /// A string, `''` when empty.
    Text,
    /// A float; integers are exact up to 2^53.
    Number,
    Bool,
    /// JSON text of an array of strings (multiple select/file/relation), `'[]'` when empty.
    JsonArray,
    /// Any JSON value or SQL NULL (`json` fields).
    Json,
    /// JSON object `{"lon":…,"lat":…}`.
    GeoPoint,
}

impl FieldKind {
    /// The API name of the type (`text`, `geoPoint`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldKind::Text(_) => "text",
            FieldKind::Editor(_) => "editor",
            FieldKind::Number(_) => "number",
            FieldKind::Bool(_) => "bool",
            FieldKind::Email(_) => "email",
            FieldKind::Url(_) => "url",
            FieldKind::Date(_) => "date",
            FieldKind::Autodate(_) => "autodate",
            FieldKind::Select(_) => "select",
            FieldKind::File(_) => "file",
            FieldKind::Relation(_) => "relation",
            FieldKind::Json(_) => "json",
            FieldKind::Password(_) => "password",
            FieldKind::GeoPoint(_) => "geoPoint",
        }
    }

    /// `maxSelect` of select, file and relation fields; `None` for single-valued types.
    pub fn max_select(&self) -> Option<u64> {
        match self {
            FieldKind::Select(o) => Some(o.max_select),
            FieldKind::File(o) => Some(o.max_select),
            FieldKind::Relation(o) => Some(o.max_select),
            _ => None,
        }
    }

    /// True for select/file/relation fields holding an array (`maxSelect > 1`).
    pub fn is_multiple(&self) -> bool {
        self.max_select().is_some_and(|max| max > 1)
    }

    pub fn storage_class(&self) -> StorageClass {
        match self {
            FieldKind::Number(_) => StorageClass::Number,
            FieldKind::Bool(_) => StorageClass::Bool,
            FieldKind::Json(_) => StorageClass::Json,
            FieldKind::GeoPoint(_) => StorageClass::GeoPoint,
            kind if kind.is_multiple() => StorageClass::JsonArray,
            _ => StorageClass::Text,
        }
    }

    /// The `required` option, for the types that have one.
    pub fn required(&self) -> bool {
        match self {
            FieldKind::Text(o) => o.required,
            FieldKind::Editor(o) => o.required,
            FieldKind::Number(o) => o.required,
            FieldKind::Bool(o) => o.required,
            FieldKind::Email(o) | FieldKind::Url(o) => o.required,
            FieldKind::Date(o) => o.required,
            FieldKind::Autodate(_) => false,
            FieldKind::Select(o) => o.required,
            FieldKind::File(o) => o.required,
            FieldKind::Relation(o) => o.required,
            FieldKind::Json(o) => o.required,
            FieldKind::Password(o) => o.required,
            FieldKind::GeoPoint(o) => o.required,
        }
    }
}

impl Field {
    pub fn new(name: &str, kind: FieldKind) -> Self {
        let mut field = Field {
            id: String::new(),
            name: name.to_owned(),
            system: false,
            hidden: false,
            presentable: false,
            kind,
        };
        field.id = field.default_id();
        field
    }

    pub fn system(mut self) -> Self {
        self.system = true;
        self
    }

    pub fn hidden(mut self) -> Self {
        self.hidden = true;
        self
    }

    /// The id PocketBase gives a field when none is supplied: type name + crc32 of the name.
    pub fn default_id(&self) -> String {
        format!("{}{}", self.kind.type_name(), crc32_of(&self.name))
    }

    /// The relation target collection id, for relation fields.
    pub fn relation(&self) -> Option<&RelationOptions> {
        match &self.kind {
            FieldKind::Relation(o) => Some(o),
            _ => None,
        }
    }

    pub fn is_primary_key(&self) -> bool {
        matches!(&self.kind, FieldKind::Text(o) if o.primary_key)
    }
}

/// The `id` field every base and auth collection starts with.
pub fn id_field() -> Field {
    Field::new(
        "id",
        FieldKind::Text(TextOptions {
            min: 15,
            max: 15,
            pattern: "^[a-z0-9]+$".into(),
            autogenerate_pattern: "[a-z0-9]{15}".into(),
            primary_key: true,
            required: true,
            help: String::new(),
        }),
    )
    .system()
}

/// The `created` / `updated` autodate fields.
pub fn autodate_field(name: &str, on_update: bool) -> Field {
    Field::new(
        name,
        FieldKind::Autodate(AutodateOptions {
            on_create: true,
            on_update,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_json_is_flat_with_a_type_tag() {
        let field: Field = serde_json::from_value(json!({
            "name": "views", "type": "number", "min": 1, "onlyInt": true
        }))
        .unwrap();
        assert_eq!(field.name, "views");
        let FieldKind::Number(opts) = &field.kind else {
            panic!("not a number field")
        };
        assert_eq!(opts.min, Some(1.0));
        assert!(opts.only_int);
        let back = serde_json::to_value(&field).unwrap();
        assert_eq!(back["type"], "number");
        assert_eq!(back["max"], serde_json::Value::Null);
        assert_eq!(back["onlyInt"], true);
    }

    #[test]
    fn default_ids_follow_pocketbase() {
        assert_eq!(id_field().id, "text3208210256");
        assert_eq!(autodate_field("created", false).id, "autodate2990389176");
        assert_eq!(autodate_field("updated", true).id, "autodate3332085495");
    }

    #[test]
    fn geo_point_type_name_round_trips() {
        let field: Field =
            serde_json::from_value(json!({"name": "loc", "type": "geoPoint"})).unwrap();
        assert_eq!(field.kind.type_name(), "geoPoint");
        assert_eq!(field.kind.storage_class(), StorageClass::GeoPoint);
    }

    #[test]
    fn multiple_selects_store_json_arrays() {
        let single = FieldKind::Select(SelectOptions {
            max_select: 1,
            ..Default::default()
        });
        let multi = FieldKind::Select(SelectOptions {
            max_select: 3,
            ..Default::default()
        });
        assert_eq!(single.storage_class(), StorageClass::Text);
        assert_eq!(multi.storage_class(), StorageClass::JsonArray);
    }
}
