//! The stored form of a collection definition, shared by every backend: the API JSON split
//! into the columns of `_collections` and put back together.

use kb_core::Collection;
use serde_json::{Map, Value};

use crate::StoreError;

/// The rule columns of `_collections`, in column order.
pub const RULES: [&str; 5] = [
    "listRule",
    "viewRule",
    "createRule",
    "updateRule",
    "deleteRule",
];

/// One row of `_collections`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCollection {
    pub id: String,
    pub system: bool,
    pub kind: String,
    pub name: String,
    /// JSON text of the field list.
    pub fields: String,
    /// JSON text of the index list.
    pub indexes: String,
    pub rules: [Option<String>; 5],
    /// JSON text of everything else (type-specific options).
    pub options: String,
    pub created: String,
    pub updated: String,
}

impl StoredCollection {
    pub fn from_collection(collection: &Collection) -> Result<Self, StoreError> {
        let mut json =
            serde_json::to_value(collection).map_err(|e| StoreError::Database(e.to_string()))?;
        let obj = json
            .as_object_mut()
            .ok_or_else(|| StoreError::Database("collection is not an object".into()))?;
        let mut take = |key: &str| obj.remove(key).unwrap_or(Value::Null);
        let fields = take("fields").to_string();
        let indexes = take("indexes").to_string();
        let rules = RULES.map(|key| take(key).as_str().map(str::to_owned));
        for key in ["id", "name", "type", "system", "created", "updated"] {
            obj.remove(key);
        }
        Ok(StoredCollection {
            id: collection.id.clone(),
            system: collection.system,
            kind: collection.kind.type_name().to_owned(),
            name: collection.name.clone(),
            fields,
            indexes,
            rules,
            options: json.to_string(),
            created: collection.created.clone(),
            updated: collection.updated.clone(),
        })
    }

    pub fn into_collection(self) -> Result<Collection, StoreError> {
        let mut obj: Map<String, Value> = serde_json::from_str(&self.options).unwrap_or_default();
        obj.insert("id".into(), self.id.into());
        obj.insert("system".into(), self.system.into());
        obj.insert("type".into(), self.kind.into());
        obj.insert("name".into(), self.name.into());
        obj.insert(
            "fields".into(),
            serde_json::from_str(&self.fields).unwrap_or_default(),
        );
        obj.insert(
            "indexes".into(),
            serde_json::from_str(&self.indexes).unwrap_or_default(),
        );
        for (key, rule) in RULES.iter().zip(self.rules) {
            obj.insert((*key).into(), rule.into());
        }
        obj.insert("created".into(), self.created.into());
        obj.insert("updated".into(), self.updated.into());
        serde_json::from_value(Value::Object(obj))
            .map_err(|e| StoreError::Database(format!("corrupt collection definition: {e}")))
    }
}
