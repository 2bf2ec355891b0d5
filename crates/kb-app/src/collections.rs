//! The collections API (superusers only): list, view, create, update, delete, truncate,
//! import, and the validation that keeps every stored collection usable.

use std::collections::HashSet;
use std::sync::Arc;

use kb_core::collection::CollectionKind;
use kb_core::field::{BoolOptions, FieldKind, JsonOptions, NumberOptions, TextOptions, id_field};
use kb_core::id::{is_word, random_string};
use kb_core::index::IndexDef;
use kb_core::{Collection, ErrorNode, Field, FieldError, Schema, ValidationErrors};
use kb_query::{ResolveOptions, resolve_filter};
use kb_store::{ListQuery, RequestInfo, SortSpec, ViewColumn};
use serde_json::{Value, json};

use crate::app::{App, Requester};
use crate::error::{AppError, AppResult, LOAD_ERROR, VALIDATION_ERROR};
use crate::records::{ListParams, Page, delete_cascading, listing_query};
use crate::system;

const RESERVED_FIELD_NAMES: &[&str] = &[
    "null",
    "true",
    "false",
    "_rowid_",
    "collectionId",
    "collectionName",
    "expand",
];
const RESERVED_AUTH_FIELD_NAMES: &[&str] = &["passwordConfirm", "oldPassword"];

/// 401 for guests, 403 for other records: the collections and settings APIs are for
/// superusers only.
pub fn require_superuser(requester: &Requester) -> AppResult<()> {
    match requester {
        Requester::Guest => Err(AppError::Unauthorized(
            "The request requires valid record authorization token.".into(),
        )),
        r if r.is_superuser() => Ok(()),
        _ => Err(AppError::Forbidden(
            "The authorized record is not allowed to perform this action.".into(),
        )),
    }
}

/// Overlay `patch` on `base`: objects merge key by key, anything else is replaced (how a
/// partial update of a collection or of the settings behaves).
pub fn merge_json(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                match base.get_mut(&key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge_json(existing, value)
                    }
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, patch) => *base = patch,
    }
}

/// The virtual collection the collection list is filtered and sorted through.
fn listing_collection() -> Collection {
    let text = |name: &str| Field::new(name, FieldKind::Text(TextOptions::default()));
    Collection {
        id: "_collections".into(),
        name: "_collections".into(),
        rules: Default::default(),
        kind: CollectionKind::Base,
        fields: vec![
            text("id"),
            text("name"),
            text("type"),
            Field::new("system", FieldKind::Bool(BoolOptions::default())),
            text("created"),
            text("updated"),
        ],
        indexes: Vec::new(),
        created: String::new(),
        updated: String::new(),
        system: true,
    }
}

fn load_error() -> AppError {
    AppError::bad_request("Failed to load the submitted data due to invalid formatting.")
}

/// The view's `id` field.
fn view_id_field() -> Field {
    let mut field = id_field();
    if let FieldKind::Text(options) = &mut field.kind {
        options.min = 0;
        options.max = 0;
        options.autogenerate_pattern = String::new();
    }
    field
}

impl App {
    pub async fn list_collections(&self, params: ListParams) -> AppResult<Page> {
        let listing = Arc::new(listing_collection());
        let schema = self.schema();
        let (filter, sort) = listing_query(&schema, &listing, &params)?;
        let (page, per_page) = params.page_and_size();
        let skip_total = params.skip_total;
        let (rows, total) = self
            .store
            .read(move |reader| {
                let conditions: Vec<&kb_query::FilterPlan> = filter.iter().collect();
                let query = ListQuery {
                    collection: &listing,
                    conditions: conditions.clone(),
                    sort: sort
                        .iter()
                        .map(|(key, descending)| SortSpec {
                            key,
                            descending: *descending,
                        })
                        .collect(),
                    limit: Some(per_page),
                    offset: (page - 1).saturating_mul(per_page),
                };
                let rows = reader.list(&query, &RequestInfo::default())?;
                let total = if skip_total {
                    -1
                } else {
                    reader.count(&listing, None, &conditions, &RequestInfo::default())? as i64
                };
                Ok::<_, AppError>((rows, total))
            })
            .await?;
        let items = rows
            .iter()
            .filter_map(|row| row.get("id").and_then(Value::as_str))
            .filter_map(|id| schema.by_id(id))
            .map(|c| c.to_api_json())
            .collect();
        Ok(Page {
            page,
            per_page,
            total_items: total,
            total_pages: if total < 0 {
                -1
            } else {
                (total + per_page as i64 - 1) / per_page as i64
            },
            items,
        })
    }

    pub fn view_collection(&self, id_or_name: &str) -> AppResult<Value> {
        self.schema()
            .get(id_or_name)
            .map(|c| c.to_api_json())
            .ok_or_else(AppError::not_found)
    }

    /// The templates the dashboard starts new collections from.
    pub fn scaffolds(&self) -> Value {
        let blank = |kind: CollectionKind, fields: Vec<Field>, indexes: Vec<String>| {
            Collection {
                id: String::new(),
                name: String::new(),
                rules: Default::default(),
                kind,
                fields,
                indexes,
                created: String::new(),
                updated: String::new(),
                system: false,
            }
            .to_api_json()
        };
        let mut auth_fields = vec![id_field()];
        auth_fields.extend(system::auth_system_fields());
        let suffix = random_string(10, b"abcdefghijklmnopqrstuvwxyz0123456789");
        json!({
            "base": blank(CollectionKind::Base, vec![id_field()], Vec::new()),
            "auth": blank(
                CollectionKind::Auth(Box::new(system::default_auth_options(432000))),
                auth_fields,
                system::auth_indexes(&suffix, ""),
            ),
            "view": blank(CollectionKind::View(Default::default()), Vec::new(), Vec::new()),
        })
    }

    /// `POST /api/collections/meta/dry-run-view {query}`: the fields a view collection with
    /// this query would have and up to ten of its records. The view is made inside a write
    /// job that is then rolled back, so nothing is kept.
    pub async fn dry_run_view(&self, body: &serde_json::Map<String, Value>) -> AppResult<Value> {
        let query = match body.get("query") {
            None | Some(Value::Null) => "",
            Some(Value::String(query)) => query.as_str(),
            Some(_) => return Err(AppError::bad_request(LOAD_ERROR)),
        };
        if query.trim().is_empty() {
            return Err(AppError::invalid(
                VALIDATION_ERROR,
                ValidationErrors::single("query", FieldError::required()),
            ));
        }
        let name = format!(
            "temp_view_{}",
            random_string(5, b"abcdefghijklmnopqrstuvwxyz0123456789")
        );
        let view = self
            .prepare(
                json!({"name": name, "type": "view", "viewQuery": query}),
                None,
                false,
            )
            .await
            .map_err(raw_view_error)?;
        let schema = self.schema();
        let mut collections: Vec<Collection> = schema.iter().map(|c| (**c).clone()).collect();
        collections.push(view.clone());
        let after = Schema::new(collections, schema.version + 1);
        validate_collection(&view, None, &after)
            .map_err(|e| raw_view_error(AppError::invalid("Failed to create collection.", e)))?;
        let temp = view.clone();
        let sampled = self
            .store
            .write(move |w| {
                w.save_collection(&temp, None)?;
                let page = ListQuery {
                    collection: &temp,
                    conditions: Vec::new(),
                    sort: Vec::new(),
                    limit: Some(10),
                    offset: 0,
                };
                let rows = w.list(&page, &RequestInfo::default())?;
                // An error rolls the job back: the view goes with it.
                Err::<(), _>(Sampled::Rows(rows))
            })
            .await;
        let rows = match sampled {
            Err(Sampled::Rows(rows)) => rows,
            Err(Sampled::Failed(error)) => {
                return Err(AppError::bad_request(format!(
                    "Invalid view query. Raw error: \n{error}."
                )));
            }
            Ok(()) => Vec::new(),
        };
        let sample: Vec<Value> = rows
            .into_iter()
            .map(|row| Value::Object(kb_core::record::to_api_json(&view, row, true)))
            .collect();
        Ok(json!({"fields": view.to_api_json()["fields"], "sample": sample}))
    }

    /// Create a collection from `body`. With `dry_run` it is only validated (fields, rules,
    /// indexes, view query) and returned as it would be saved; nothing changes.
    pub async fn create_collection(&self, body: Value, dry_run: bool) -> AppResult<Value> {
        let _guard = self.schema_change.lock().await;
        let Value::Object(_) = body else {
            return Err(AppError::bad_request(
                "Failed to load the collection type data due to invalid formatting.",
            ));
        };
        let collection = self.prepare(body, None, false).await?;
        let schema = self.schema();
        let mut collections: Vec<Collection> = schema.iter().map(|c| (**c).clone()).collect();
        collections.push(collection.clone());
        let after = Schema::new(collections.clone(), schema.version + 1);
        validate_collection(&collection, None, &after)
            .map_err(|e| AppError::invalid("Failed to create collection.", e))?;
        if dry_run {
            return Ok(collection.to_api_json());
        }
        let to_save = collection.clone();
        self.store
            .write(move |w| {
                w.save_collection(&to_save, None)
                    .map_err(|e| ddl_error(&to_save, e, "Failed to create collection."))
            })
            .await?;
        self.replace_schema(collections);
        Ok(collection.to_api_json())
    }

    /// Change collection `id_or_name` as `body` says; `dry_run` as for
    /// [`create_collection`](Self::create_collection).
    pub async fn update_collection(
        &self,
        id_or_name: &str,
        body: Value,
        dry_run: bool,
    ) -> AppResult<Value> {
        let _guard = self.schema_change.lock().await;
        let schema = self.schema();
        let old = schema
            .get(id_or_name)
            .cloned()
            .ok_or_else(AppError::not_found)?;
        let Value::Object(_) = body else {
            return Err(AppError::bad_request(
                "Failed to load the collection type data due to invalid formatting.",
            ));
        };
        let collection = self.prepare(body, Some(&old), false).await?;
        let collections: Vec<Collection> = schema
            .iter()
            .map(|c| {
                if c.id == old.id {
                    collection.clone()
                } else {
                    (**c).clone()
                }
            })
            .collect();
        let after = Schema::new(collections.clone(), schema.version + 1);
        validate_collection(&collection, Some(&old), &after)
            .map_err(|e| AppError::invalid("Failed to update collection.", e))?;
        if dry_run {
            return Ok(collection.to_api_json());
        }
        let (to_save, previous) = (collection.clone(), (*old).clone());
        self.store
            .write(move |w| {
                w.save_collection(&to_save, Some(&previous))
                    .map_err(|e| ddl_error(&to_save, e, "Failed to update collection."))
            })
            .await?;
        self.replace_schema(collections);
        Ok(collection.to_api_json())
    }

    pub async fn delete_collection(&self, id_or_name: &str) -> AppResult<()> {
        let _guard = self.schema_change.lock().await;
        let schema = self.schema();
        let target = schema
            .get(id_or_name)
            .cloned()
            .ok_or_else(AppError::not_found)?;
        if target.system {
            return Err(AppError::bad_request("Failed to delete collection."));
        }
        let referencing: Vec<&str> = schema
            .iter()
            .filter(|c| c.id != target.id && c.relations_to(&target.id).next().is_some())
            .map(|c| c.name.as_str())
            .collect();
        if !referencing.is_empty() {
            return Err(AppError::bad_request(format!(
                "Failed to delete collection probably due to existing reference in {}.",
                referencing.join(", ")
            )));
        }
        let to_delete = (*target).clone();
        self.store
            .write(move |w| w.delete_collection(&to_delete).map_err(AppError::from))
            .await?;
        self.replace_schema(
            schema
                .iter()
                .filter(|c| c.id != target.id)
                .map(|c| (**c).clone())
                .collect(),
        );
        // The table is gone with its records; their files go too (a failure only leaves
        // unreachable files behind, so it is logged, not reported).
        if let Err(error) = self.files().delete_prefix(&target.id).await {
            tracing::warn!(%error, collection = %target.name, "could not delete the files of a deleted collection");
        }
        Ok(())
    }

    pub async fn truncate_collection(&self, id_or_name: &str) -> AppResult<()> {
        let schema = self.schema();
        let target = schema
            .get(id_or_name)
            .cloned()
            .ok_or_else(AppError::not_found)?;
        if target.is_view() {
            return Err(AppError::bad_request(
                "View collections cannot be truncated since they don't store their own records.",
            ));
        }
        self.store
            .write(move |w| {
                let ids: Vec<String> = w
                    .list(
                        &ListQuery {
                            collection: &target,
                            conditions: Vec::new(),
                            sort: Vec::new(),
                            limit: None,
                            offset: 0,
                        },
                        &RequestInfo::default(),
                    )?
                    .iter()
                    .filter_map(|row| row.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect();
                for id in ids {
                    delete_cascading(w, &schema, &target, &id, 0).map_err(|_| {
                        AppError::bad_request("Failed to truncate collection (most likely due to required cascade delete record references).")
                    })?;
                }
                Ok::<_, AppError>(())
            })
            .await
    }

    pub async fn import_collections(&self, body: Value) -> AppResult<()> {
        let _guard = self.schema_change.lock().await;
        let delete_missing = body
            .get("deleteMissing")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let items = match body.get("collections") {
            Some(Value::Array(items)) if !items.is_empty() => items.clone(),
            _ => {
                return Err(AppError::invalid(
                    "An error occurred while validating the submitted data.",
                    ValidationErrors::single("collections", FieldError::required()),
                ));
            }
        };
        let schema = self.schema();
        let mut prepared: Vec<(Collection, Option<Arc<Collection>>)> = Vec::new();
        for item in items {
            if !item.is_object() {
                return Err(load_error());
            }
            let old = item
                .get("id")
                .and_then(Value::as_str)
                .and_then(|id| schema.by_id(id))
                .or_else(|| {
                    item.get("name")
                        .and_then(Value::as_str)
                        .and_then(|n| schema.by_name(n))
                })
                .cloned();
            let collection = self.prepare(item, old.as_deref(), true).await?;
            prepared.push((collection, old));
        }
        let imported: HashSet<&str> = prepared.iter().map(|(c, _)| c.id.as_str()).collect();
        let removed: Vec<Collection> = if delete_missing {
            schema
                .iter()
                .filter(|c| !c.system && !imported.contains(c.id.as_str()))
                .map(|c| (**c).clone())
                .collect()
        } else {
            Vec::new()
        };
        let mut collections: Vec<Collection> = schema
            .iter()
            .filter(|c| !removed.iter().any(|r| r.id == c.id))
            .map(|c| {
                prepared
                    .iter()
                    .find(|(p, _)| p.id == c.id)
                    .map_or_else(|| (**c).clone(), |(p, _)| p.clone())
            })
            .collect();
        for (collection, old) in &prepared {
            if old.is_none() {
                collections.push(collection.clone());
            }
        }
        let after = Schema::new(collections.clone(), schema.version + 1);
        for (collection, old) in &prepared {
            if let Err(errors) = validate_collection(collection, old.as_deref(), &after) {
                let details = serde_json::to_string_pretty(&errors).unwrap_or_default();
                return Err(import_failure(format!(
                    "Data validations failed for collection \"{}\" ({}):\n{details}.",
                    collection.name, collection.id
                )));
            }
        }
        let plan: Vec<(Collection, Option<Collection>)> = prepared
            .into_iter()
            .map(|(c, old)| (c, old.map(|o| (*o).clone())))
            .collect();
        self.store
            .write(move |w| {
                for collection in &removed {
                    w.delete_collection(collection)?;
                }
                // Tables first (views may select from them), then views.
                for (collection, old) in plan
                    .iter()
                    .filter(|(c, _)| !c.is_view())
                    .chain(plan.iter().filter(|(c, _)| c.is_view()))
                {
                    w.save_collection(collection, old.as_ref()).map_err(|e| {
                        import_failure(format!(
                            "Failed to save collection \"{}\": {e}.",
                            collection.name
                        ))
                    })?;
                }
                Ok::<_, AppError>(())
            })
            .await?;
        self.replace_schema(collections);
        Ok(())
    }

    /// Turn submitted JSON into a complete collection: merged over `old` when updating,
    /// defaults and ids filled in, system fields guaranteed, view fields inferred.
    async fn prepare(
        &self,
        body: Value,
        old: Option<&Collection>,
        importing: bool,
    ) -> AppResult<Collection> {
        let mut json = match old {
            Some(old) => {
                serde_json::to_value(old).map_err(|e| AppError::Internal(e.to_string()))?
            }
            // A new auth collection starts from the default auth options (password login
            // on, token durations and secrets, templates); the body overrides them.
            None if body.get("type").and_then(Value::as_str) == Some("auth") => {
                let mut defaults = serde_json::to_value(system::default_auth_options(432000))
                    .map_err(|e| AppError::Internal(e.to_string()))?;
                defaults["type"] = json!("auth");
                defaults
            }
            None => json!({"type": "base"}),
        };
        // A null option means "the default"; dropping them lets a field keep options of
        // another type (as when its type is being changed) without failing to load.
        let submitted_fields = body.get("fields").cloned().map(|mut fields| {
            if let Value::Array(items) = &mut fields {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    item.retain(|_, v| !v.is_null());
                }
            }
            fields
        });
        merge_json(&mut json, body);
        if let Some(fields) = submitted_fields {
            json["fields"] = fields;
        }
        let mut collection: Collection = serde_json::from_value(json).map_err(|_| load_error())?;
        if let Some(old) = old {
            collection.id = old.id.clone();
            collection.created = old.created.clone();
            match_field_ids(&mut collection, old);
            rename_index_columns(&mut collection, old);
        } else {
            if collection.id.is_empty() {
                collection.id =
                    Collection::default_id(collection.kind.type_name(), &collection.name);
            }
            collection.created = kb_core::datetime::now();
            collection.system = false;
        }
        collection.updated = kb_core::datetime::now();
        name_index_tables(&mut collection);
        for field in &mut collection.fields {
            if field.id.is_empty() {
                field.id = field.default_id();
            }
        }
        match &mut collection.kind {
            CollectionKind::View(_) => {
                collection.rules.create_rule = None;
                collection.rules.update_rule = None;
                collection.rules.delete_rule = None;
                collection.fields = self.infer_view_fields(&collection, old).await?;
            }
            CollectionKind::Base => ensure_id_field(&mut collection.fields, importing),
            CollectionKind::Auth(options) => {
                fill_token_secrets(options);
                // Tokens were issued under the old auth rule: a new rule revokes them all.
                if let Some(previous) = old.and_then(|o| o.auth_options())
                    && previous.auth_rule != options.auth_rule
                {
                    options.auth_token.secret = system::new_secret();
                }
                ensure_id_field(&mut collection.fields, importing);
                // Missing system fields come back at the end (a renamed one keeps its id and
                // is refused by validation instead).
                for system_field in system::auth_system_fields() {
                    let present = collection
                        .fields
                        .iter()
                        .any(|f| f.name == system_field.name || f.id == system_field.id);
                    if !present {
                        collection.fields.push(system_field);
                    }
                }
                // The unique indexes the identities need always exist, next to whatever
                // indexes were asked for; removing them is silently undone.
                let defaults = system::auth_indexes(&collection.id, &collection.name);
                for (field, index) in ["tokenKey", "email"].into_iter().zip(defaults) {
                    let present = collection.indexes.iter().any(|text| {
                        IndexDef::parse(text).is_ok_and(|i| {
                            i.unique && i.columns.len() == 1 && i.columns[0].name == field
                        })
                    });
                    if !present {
                        collection.indexes.push(index);
                    }
                }
            }
        }
        Ok(collection)
    }

    async fn infer_view_fields(
        &self,
        collection: &Collection,
        old: Option<&Collection>,
    ) -> AppResult<Vec<Field>> {
        let query = collection.view_query().unwrap_or_default().to_owned();
        if query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let described = self
            .store
            .read(move |r| Ok::<_, AppError>(r.describe_view_query(&query)))
            .await?;
        let columns = described.map_err(|e| {
            let message = if old.is_some() {
                "Failed to update collection."
            } else {
                "Failed to create collection."
            };
            AppError::invalid(
                message,
                ValidationErrors::single(
                    "viewQuery",
                    FieldError::new(
                        "validation_invalid_view_query",
                        format!("Invalid query - {e}."),
                    ),
                ),
            )
        })?;
        let schema = self.schema();
        Ok(columns
            .iter()
            .map(|column| view_field(&schema, column, old))
            .collect())
    }
}

/// A collection error about the view query, as PocketBase's dry run reports it: the raw
/// reason as the message (`Invalid view query. Raw error: …`). Other errors stay as they are.
fn raw_view_error(error: AppError) -> AppError {
    let AppError::BadRequest { data, .. } = &error else {
        return error;
    };
    match data.0.get("viewQuery") {
        Some(ErrorNode::Leaf(field)) => {
            let reason = field
                .message
                .trim_start_matches("Invalid query - ")
                .trim_end_matches('.');
            AppError::bad_request(format!("Invalid view query. Raw error: \n{reason}."))
        }
        _ => error,
    }
}

/// How a view's dry run ends: always in a rollback, with the sample or the failure.
enum Sampled {
    Rows(Vec<kb_store::Row>),
    Failed(kb_store::StoreError),
}

impl From<kb_store::StoreError> for Sampled {
    fn from(error: kb_store::StoreError) -> Self {
        Sampled::Failed(error)
    }
}

fn import_failure(message: String) -> AppError {
    AppError::invalid(
        "Failed to import collections.",
        ValidationErrors::single(
            "collections",
            FieldError::new("validation_collections_import_failure", message),
        ),
    )
}

/// DDL failures caused by the definition become a 400: a failing index (e.g. a unique index
/// that existing rows violate) on its position in `indexes`, anything else on `indexes`.
fn ddl_error(collection: &Collection, error: kb_store::StoreError, message: &str) -> AppError {
    match error {
        kb_store::StoreError::Index {
            name,
            message: detail,
        } => {
            let position = collection
                .indexes
                .iter()
                .position(|text| IndexDef::parse(text).is_ok_and(|i| i.name == name))
                .unwrap_or(0);
            let mut group = ValidationErrors::new();
            group.add(
                position.to_string(),
                FieldError::new(
                    "validation_invalid_index_expression",
                    format!("Failed to create index {name} - {detail}."),
                ),
            );
            let mut errors = ValidationErrors::new();
            errors.add_group("indexes", group);
            AppError::invalid(message, errors)
        }
        kb_store::StoreError::Database(detail) | kb_store::StoreError::Invalid(detail) => {
            AppError::invalid(
                message,
                ValidationErrors::single(
                    "indexes",
                    FieldError::new(
                        "validation_invalid_index_expression",
                        format!("Failed to apply the collection changes: {detail}."),
                    ),
                ),
            )
        }
        other => other.into(),
    }
}

fn view_field(schema: &Schema, column: &ViewColumn, old: Option<&Collection>) -> Field {
    if column.name == "id" {
        return view_id_field();
    }
    let source = column
        .origin
        .as_ref()
        .and_then(|(table, col)| schema.by_name(table).and_then(|c| c.field(col)).cloned());
    let mut field = match source {
        // A clone of the source field, as PocketBase makes it: kind, options and the
        // system and hidden flags stay (an autodate stays an autodate, a password stays a
        // password, and so never shows).
        Some(mut field) => {
            field.name = column.name.clone();
            field
        }
        None if column.is_count => Field::new(
            &column.name,
            FieldKind::Number(NumberOptions {
                only_int: true,
                ..Default::default()
            }),
        ),
        None => Field::new(
            &column.name,
            FieldKind::Json(JsonOptions {
                max_size: 1,
                ..Default::default()
            }),
        ),
    };
    field.id = old
        .and_then(|o| o.field(&column.name))
        .filter(|f| f.kind.type_name() == field.kind.type_name())
        .map(|f| f.id.clone())
        .unwrap_or_else(|| match &column.origin {
            Some(_) => format!(
                "_clone_{}",
                random_string(
                    4,
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                )
            ),
            None => field.default_id(),
        });
    field
}

/// Fields submitted without an id keep the id (and data) of the existing field with the
/// same name and type; a new type under an old name is a new field.
fn match_field_ids(collection: &mut Collection, old: &Collection) {
    for field in &mut collection.fields {
        if !field.id.is_empty() {
            continue;
        }
        if let Some(existing) = old
            .fields
            .iter()
            .find(|f| f.name == field.name && f.kind.type_name() == field.kind.type_name())
        {
            field.id = existing.id.clone();
        }
    }
    // The system `id` field stays even when omitted.
    if !collection.fields.iter().any(|f| f.name == "id")
        && let Some(id) = old.field("id")
    {
        collection.fields.insert(0, id.clone());
    }
}

/// Index definitions with no table name (as scaffolds have them) get the collection's.
fn name_index_tables(collection: &mut Collection) {
    for text in &mut collection.indexes {
        if let Ok(mut index) = IndexDef::parse(text)
            && index.table.is_empty()
        {
            index.table = collection.name.clone();
            *text = index.to_api_string();
        }
    }
}

/// Keep index definitions pointing at renamed columns.
fn rename_index_columns(collection: &mut Collection, old: &Collection) {
    let renames: Vec<(String, String)> = collection
        .fields
        .iter()
        .filter_map(|f| {
            let before = old.fields.iter().find(|o| o.id == f.id)?;
            (before.name != f.name).then(|| (before.name.clone(), f.name.clone()))
        })
        .collect();
    if renames.is_empty() {
        return;
    }
    for text in &mut collection.indexes {
        let Ok(mut index) = IndexDef::parse(text) else {
            continue;
        };
        let mut changed = false;
        for column in &mut index.columns {
            if let Some((_, to)) = renames.iter().find(|(from, _)| *from == column.name) {
                column.name = to.clone();
                changed = true;
            }
        }
        if changed {
            *text = index.to_api_string();
        }
    }
}

fn ensure_id_field(fields: &mut Vec<Field>, importing: bool) {
    if fields.iter().any(|f| f.name == "id") {
        return;
    }
    // An import appends the missing id field, as PocketBase does; create puts it first.
    if importing {
        fields.push(id_field());
    } else {
        fields.insert(0, id_field());
    }
}

/// Token secrets are never shown, so a submitted collection (an import, say) may lack them:
/// each missing one is generated.
fn fill_token_secrets(options: &mut kb_core::collection::AuthOptions) {
    for token in [
        &mut options.auth_token,
        &mut options.password_reset_token,
        &mut options.email_change_token,
        &mut options.verification_token,
        &mut options.file_token,
    ] {
        if token.secret.is_empty() {
            token.secret = system::new_secret();
        }
    }
}

fn rule_error(message: &str) -> FieldError {
    FieldError::new(
        "validation_invalid_rule",
        format!("Invalid rule. Raw error: {message}."),
    )
}

/// Check a collection against the schema it will live in (`after` includes it).
pub fn validate_collection(
    collection: &Collection,
    old: Option<&Collection>,
    after: &Schema,
) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let name = collection.name.as_str();
    if name.is_empty() {
        errors.add("name", FieldError::required());
    } else if !is_word(name) {
        errors.add(
            "name",
            FieldError::new("validation_match_invalid", "Must be in a valid format."),
        );
    } else if name.len() > 255 {
        errors.add("name", FieldError::length_between(1, 255));
    } else if kb_store::RESERVED_TABLES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
        || name.to_ascii_lowercase().starts_with("sqlite_")
    {
        errors.add(
            "name",
            FieldError::new(
                "validation_collection_name_invalid",
                "The name shouldn't match with an existing internal table.",
            ),
        );
    } else if name.contains("_via_") {
        errors.add(
            "name",
            FieldError::new(
                "validation_found_via",
                "The value cannot contain \"_via_\".",
            ),
        );
    } else if after
        .iter()
        .filter(|c| c.name.eq_ignore_ascii_case(name))
        .count()
        > 1
    {
        errors.add(
            "name",
            FieldError::new(
                "validation_collection_name_exists",
                "Collection name must be unique (case insensitive).",
            ),
        );
    } else if old.is_some_and(|o| o.system && o.name != collection.name) {
        errors.add(
            "name",
            FieldError::new(
                "validation_collection_system_name_change",
                "System collection name cannot be changed.",
            ),
        );
    }
    if let Some(old) = old {
        validate_system_changes(collection, old, &mut errors);
    }
    if !is_word(&collection.id) || collection.id.len() > 100 {
        errors.add(
            "id",
            FieldError::new("validation_match_invalid", "Must be in a valid format."),
        );
    } else if old.is_none()
        && !errors.contains("name")
        && after.iter().filter(|c| c.id == collection.id).count() > 1
    {
        errors.add(
            "id",
            FieldError::new("validation_not_unique", "Value must be unique."),
        );
    }
    if let Some(old) = old
        && old.kind.type_name() != collection.kind.type_name()
    {
        errors.add(
            "type",
            FieldError::new(
                "validation_collection_type_change",
                "Collection type cannot be changed.",
            ),
        );
    }
    validate_fields(collection, old, after, &mut errors);
    validate_rules(collection, after, &mut errors);
    crate::auth_options::validate(collection, old, after, &mut errors);
    if collection.is_view() && !collection.indexes.is_empty() {
        errors.add(
            "indexes",
            FieldError::new(
                "validation_indexes_not_supported",
                "View collections don't support indexes.",
            ),
        );
    } else {
        validate_indexes(collection, after, &mut errors);
    }
    if let CollectionKind::View(options) = &collection.kind {
        if options.view_query.trim().is_empty() {
            errors.add("viewQuery", FieldError::required());
        } else if collection.fields.is_empty() {
            errors.add(
                "viewQuery",
                FieldError::new(
                    "validation_invalid_view_query",
                    "Invalid query - it must be a single SELECT statement that can run.",
                ),
            );
        } else if collection.field("id").is_none() {
            errors.add(
                "fields",
                FieldError::new(
                    "validation_missing_primary_key",
                    "Missing primary key field.",
                ),
            );
            errors.add(
                "viewQuery",
                FieldError::new(
                    "validation_invalid_view_query",
                    "Invalid query - missing required id column (you can use `(ROW_NUMBER() OVER()) as id` if you don't have one).",
                ),
            );
        }
    }
    errors.into_result()
}

/// System collections keep their name, rules and flag; no collection becomes a system one;
/// auth collections keep the unique indexes their identities rely on.
fn validate_system_changes(
    collection: &Collection,
    old: &Collection,
    errors: &mut ValidationErrors,
) {
    if old.system != collection.system {
        errors.add(
            "system",
            FieldError::new(
                "validation_collection_system_flag_change",
                "System collection state cannot be changed.",
            ),
        );
    }
    if old.system {
        let (before, after) = (&old.rules, &collection.rules);
        for (key, changed) in [
            ("listRule", before.list_rule != after.list_rule),
            ("viewRule", before.view_rule != after.view_rule),
            ("createRule", before.create_rule != after.create_rule),
            ("updateRule", before.update_rule != after.update_rule),
            ("deleteRule", before.delete_rule != after.delete_rule),
        ] {
            if changed {
                errors.add(
                    key,
                    FieldError::new(
                        "validation_collection_system_rule_change",
                        "System collection API rule cannot be changed.",
                    ),
                );
            }
        }
    }
    if collection.is_auth() {
        let kept = old.fields.iter().filter(|f| f.system).all(|f| {
            collection
                .fields
                .iter()
                .any(|n| n.id == f.id && n.name == f.name)
        });
        if !kept {
            errors.add(
                "fields",
                FieldError::new(
                    "validation_system_field_change",
                    "System fields cannot be deleted or renamed.",
                ),
            );
        }
    }
}

fn validate_fields(
    collection: &Collection,
    old: Option<&Collection>,
    after: &Schema,
    errors: &mut ValidationErrors,
) {
    let mut fields_errors = ValidationErrors::new();
    let mut seen: HashSet<String> = HashSet::new();
    for (i, field) in collection.fields.iter().enumerate() {
        let key = i.to_string();
        if let Some(previous) = old.and_then(|o| o.fields.iter().find(|f| f.id == field.id))
            && previous.kind.type_name() != field.kind.type_name()
        {
            fields_errors.add(
                key,
                FieldError::new(
                    "validation_field_type_change",
                    "Field type cannot be changed.",
                ),
            );
            continue;
        }
        let mut e = ValidationErrors::new();
        let name = field.name.as_str();
        if name.is_empty() {
            e.add("name", FieldError::required());
        } else if !is_word(name) || name.len() > 100 {
            e.add(
                "name",
                FieldError::new("validation_match_invalid", "Must be in a valid format."),
            );
        } else if RESERVED_FIELD_NAMES.contains(&name) {
            e.add(
                "name",
                FieldError::new("validation_not_in_invalid", "Must not be in list."),
            );
        } else if collection.is_auth() && RESERVED_AUTH_FIELD_NAMES.contains(&name) {
            // Auth bodies use these keys for password changes.
            e.add(
                "name",
                FieldError::new(
                    "validation_reserved_field_name",
                    "The field name is reserved and cannot be used.",
                ),
            );
        } else if !seen.insert(name.to_lowercase()) {
            e.add(
                "name",
                FieldError::new(
                    "validation_duplicated_field_name",
                    format!("Duplicated or invalid field name {name}."),
                )
                .with_param("fieldName", name),
            );
        }
        if !is_word(&field.id) || field.id.len() > 100 {
            e.add(
                "id",
                FieldError::new("validation_match_invalid", "Must be in a valid format."),
            );
        }
        match &field.kind {
            FieldKind::Relation(options) => match after.by_id(&options.collection_id) {
                None => e.add(
                    "collectionId",
                    FieldError::new(
                        "validation_field_relation_missing_collection",
                        "The relation collection doesn't exist.",
                    ),
                ),
                Some(target) if target.is_view() && !collection.is_view() => e.add(
                    "collectionId",
                    FieldError::new(
                        "validation_field_relation_view",
                        "Relations to view collections are not allowed.",
                    ),
                ),
                Some(_) => {}
            },
            FieldKind::Select(options) if options.values.is_empty() => {
                e.add("values", FieldError::required())
            }
            FieldKind::Text(options) => {
                if !options.pattern.is_empty() && regex::Regex::new(&options.pattern).is_err() {
                    e.add(
                        "pattern",
                        FieldError::new(
                            "validation_invalid_regex",
                            "Invalid regular expression pattern.",
                        ),
                    );
                }
                if options.max > 0 && options.min > options.max {
                    e.add(
                        "max",
                        FieldError::new(
                            "validation_min_greater_equal_than_required",
                            format!("Must be no less than {}.", options.min),
                        ),
                    );
                }
            }
            FieldKind::Number(options) => {
                if let (Some(min), Some(max)) = (options.min, options.max)
                    && min > max
                {
                    e.add(
                        "max",
                        FieldError::new(
                            "validation_min_greater_equal_than_required",
                            format!("Must be no less than {min}."),
                        ),
                    );
                }
            }
            _ => {}
        }
        fields_errors.add_group(key, e);
    }
    if !collection.is_view() {
        match collection.field("id") {
            Some(id) if id.is_primary_key() => {}
            _ => fields_errors.add(
                "id",
                FieldError::new(
                    "validation_missing_primary_key",
                    "Missing primary key field.",
                ),
            ),
        }
    }
    errors.add_group("fields", fields_errors);
}

fn validate_rules(collection: &Collection, after: &Schema, errors: &mut ValidationErrors) {
    let rules = &collection.rules;
    let mut all = vec![
        ("listRule", rules.list_rule.as_deref()),
        ("viewRule", rules.view_rule.as_deref()),
        ("createRule", rules.create_rule.as_deref()),
        ("updateRule", rules.update_rule.as_deref()),
        ("deleteRule", rules.delete_rule.as_deref()),
    ];
    if let Some(auth) = collection.auth_options() {
        all.push(("authRule", auth.auth_rule.as_deref()));
        all.push(("manageRule", auth.manage_rule.as_deref()));
    }
    for (key, text) in all {
        if let Some(error) = text.and_then(|text| check_rule(text, collection, after)) {
            errors.add(key, error);
        }
    }
}

/// Why `text` is not a valid rule of `collection` (which `after` must contain), if it is not.
pub(crate) fn check_rule(
    text: &str,
    collection: &Collection,
    after: &Schema,
) -> Option<FieldError> {
    let options = ResolveOptions {
        allow_hidden: true,
        allow_request: true,
        auth_collection: None,
        respect_list_rules: false,
    };
    let this = after.by_id(&collection.id)?;
    match kb_filter::parse_filter(text) {
        Err(e) => Some(rule_error(&e.message)),
        Ok(None) => None,
        Ok(Some(expr)) => resolve_filter(&expr, after, this, &options)
            .err()
            .map(|e| rule_error(&e.0)),
    }
}

fn validate_indexes(collection: &Collection, after: &Schema, errors: &mut ValidationErrors) {
    let mut index_errors = ValidationErrors::new();
    let mut names = HashSet::new();
    let other_names: HashSet<String> = after
        .iter()
        .filter(|c| c.id != collection.id)
        .flat_map(|c| {
            c.indexes
                .iter()
                .filter_map(|t| IndexDef::parse(t).ok())
                .map(|i| i.name.to_lowercase())
        })
        .collect();
    for (i, text) in collection.indexes.iter().enumerate() {
        let error = match IndexDef::parse(text) {
            Err(_) => Some("Invalid CREATE INDEX expression.".to_owned()),
            Ok(index) => {
                let missing = index
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .chain(index.where_clause.iter().flat_map(|w| w.columns()))
                    .find(|name| collection.field(name).is_none());
                if let Some(column) = missing {
                    Some(format!(
                        "Failed to create index {} - SQL logic error: no such column: {column} (1).",
                        index.name
                    ))
                } else if !names.insert(index.name.to_lowercase())
                    || other_names.contains(&index.name.to_lowercase())
                {
                    Some(format!(
                        "Failed to create index {} - the index name is already in use.",
                        index.name
                    ))
                } else {
                    None
                }
            }
        };
        if let Some(message) = error {
            index_errors.add(
                i.to_string(),
                FieldError::new("validation_invalid_index_expression", message),
            );
        }
    }
    errors.add_group("indexes", index_errors);
}
