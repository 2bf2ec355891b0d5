//! SQLite DDL: the system tables, one table (or view) per collection, its indexes, and the
//! in-place migration of a table when its collection changes.

use kb_core::field::StorageClass;
use kb_core::index::IndexDef;
use kb_core::{Collection, Field};
use rusqlite::Connection;

use super::{Sqlite, describe_error, map_err};
use crate::StoreError;
use crate::dialect::Dialect;

pub fn bootstrap(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        r#"
        CREATE TABLE IF NOT EXISTS "_collections" (
            "id"         TEXT PRIMARY KEY NOT NULL,
            "system"     BOOLEAN DEFAULT FALSE NOT NULL,
            "type"       TEXT DEFAULT 'base' NOT NULL,
            "name"       TEXT UNIQUE NOT NULL COLLATE NOCASE,
            "fields"     JSON DEFAULT '[]' NOT NULL,
            "indexes"    JSON DEFAULT '[]' NOT NULL,
            "listRule"   TEXT DEFAULT NULL,
            "viewRule"   TEXT DEFAULT NULL,
            "createRule" TEXT DEFAULT NULL,
            "updateRule" TEXT DEFAULT NULL,
            "deleteRule" TEXT DEFAULT NULL,
            "options"    JSON DEFAULT '{}' NOT NULL,
            "created"    TEXT DEFAULT '' NOT NULL,
            "updated"    TEXT DEFAULT '' NOT NULL
        );
        CREATE TABLE IF NOT EXISTS "_params" (
            "id"      TEXT PRIMARY KEY NOT NULL,
            "value"   JSON DEFAULT NULL,
            "created" TEXT DEFAULT '' NOT NULL,
            "updated" TEXT DEFAULT '' NOT NULL
        );
        "#,
    )
    .map_err(map_err)
}

fn quoted(name: &str) -> String {
    let mut out = String::new();
    Sqlite.quote(name, &mut out);
    out
}

/// The column definition of a field. Types and defaults match PocketBase's, so an existing
/// PocketBase database reads the same and `sqlite3` users see familiar tables.
fn column_def(field: &Field) -> String {
    let name = quoted(&field.name);
    if field.name == "id" {
        return format!(
            "{name} TEXT PRIMARY KEY DEFAULT ('r'||lower(hex(randomblob(7)))) NOT NULL"
        );
    }
    let ty = match field.kind.storage_class() {
        StorageClass::Text => "TEXT DEFAULT '' NOT NULL",
        StorageClass::Number => "NUMERIC DEFAULT 0 NOT NULL",
        StorageClass::Bool => "BOOLEAN DEFAULT FALSE NOT NULL",
        StorageClass::JsonArray => "JSON DEFAULT '[]' NOT NULL",
        StorageClass::Json => "JSON DEFAULT NULL",
        StorageClass::GeoPoint => "JSON DEFAULT '{\"lon\":0,\"lat\":0}' NOT NULL",
    };
    format!("{name} {ty}")
}

fn execute(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.execute(sql, []).map(|_| ()).map_err(map_err)
}

pub fn create_table(conn: &Connection, collection: &Collection) -> Result<(), StoreError> {
    let columns: Vec<String> = collection.fields.iter().map(column_def).collect();
    execute(
        conn,
        &format!(
            "CREATE TABLE {} ({})",
            quoted(&collection.name),
            columns.join(", ")
        ),
    )?;
    create_indexes(conn, collection)
}

/// Index DDL rendered from the parsed definition, never from the client's text.
fn index_sql(collection: &Collection, index: &IndexDef) -> String {
    let mut sql = String::from("CREATE ");
    if index.unique {
        sql.push_str("UNIQUE ");
    }
    sql.push_str("INDEX ");
    sql.push_str(&quoted(&index.name));
    sql.push_str(" ON ");
    sql.push_str(&quoted(&collection.name));
    sql.push_str(" (");
    for (i, column) in index.columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&quoted(&column.name));
        if let Some(collation) = column.collation {
            sql.push_str(" COLLATE ");
            sql.push_str(collation.keyword());
        }
        if column.descending {
            sql.push_str(" DESC");
        }
    }
    sql.push(')');
    if let Some(condition) = &index.where_clause {
        sql.push_str(" WHERE ");
        condition.write(&mut sql, |column, out| Sqlite.quote(column, out));
    }
    sql
}

fn parsed_indexes(collection: &Collection) -> Result<Vec<IndexDef>, StoreError> {
    collection
        .indexes
        .iter()
        .map(|text| {
            IndexDef::parse(text).map_err(|e| StoreError::Invalid(format!("invalid index: {e}")))
        })
        .collect()
}

fn create_indexes(conn: &Connection, collection: &Collection) -> Result<(), StoreError> {
    for index in parsed_indexes(collection)? {
        conn.execute(&index_sql(collection, &index), [])
            .map_err(|e| StoreError::Index {
                name: index.name.clone(),
                message: describe_error(&e),
            })?;
    }
    Ok(())
}

fn drop_indexes(conn: &Connection, collection: &Collection) -> Result<(), StoreError> {
    for index in parsed_indexes(collection)? {
        execute(
            conn,
            &format!("DROP INDEX IF EXISTS {}", quoted(&index.name)),
        )?;
    }
    Ok(())
}

fn create_view(conn: &Connection, collection: &Collection) -> Result<(), StoreError> {
    let query = collection.view_query().unwrap_or_default();
    let query = query.trim().trim_end_matches(';');
    // The query was checked by `describe_view_query` (one read-only SELECT) before it got
    // here; a view is the one place a superuser's SQL is stored, by design.
    execute(
        conn,
        &format!("CREATE VIEW {} AS {}", quoted(&collection.name), query),
    )
}

pub fn drop_relation(conn: &Connection, collection: &Collection) -> Result<(), StoreError> {
    let kind = if collection.is_view() {
        "VIEW"
    } else {
        "TABLE"
    };
    execute(
        conn,
        &format!("DROP {kind} IF EXISTS {}", quoted(&collection.name)),
    )
}

/// Make the database match `new`, starting from `old` (or from nothing). Runs inside the
/// caller's transaction, so a failure leaves the previous table and data untouched.
pub fn apply_collection(
    conn: &Connection,
    new: &Collection,
    old: Option<&Collection>,
) -> Result<(), StoreError> {
    if new.is_view() {
        if let Some(old) = old {
            drop_relation(conn, old)?;
        }
        return create_view(conn, new);
    }
    let Some(old) = old else {
        return create_table(conn, new);
    };
    drop_indexes(conn, old)?;
    if old.name != new.name {
        execute(
            conn,
            &format!(
                "ALTER TABLE {} RENAME TO {}",
                quoted(&old.name),
                quoted(&new.name)
            ),
        )?;
    }
    let table = quoted(&new.name);
    for old_field in &old.fields {
        if !new.fields.iter().any(|f| f.id == old_field.id) {
            execute(
                conn,
                &format!(
                    "ALTER TABLE {table} DROP COLUMN {}",
                    quoted(&old_field.name)
                ),
            )?;
        }
    }
    // Renames go through temporary names first, so swapping two names cannot collide.
    let renamed: Vec<(&Field, &Field)> = new
        .fields
        .iter()
        .filter_map(|f| old.fields.iter().find(|o| o.id == f.id).map(|o| (o, f)))
        .filter(|(o, f)| o.name != f.name)
        .collect();
    for (o, f) in &renamed {
        execute(
            conn,
            &format!(
                "ALTER TABLE {table} RENAME COLUMN {} TO {}",
                quoted(&o.name),
                quoted(&format!("_kb_tmp_{}", f.id))
            ),
        )?;
    }
    for (_, f) in &renamed {
        execute(
            conn,
            &format!(
                "ALTER TABLE {table} RENAME COLUMN {} TO {}",
                quoted(&format!("_kb_tmp_{}", f.id)),
                quoted(&f.name)
            ),
        )?;
    }
    for field in &new.fields {
        match old.fields.iter().find(|o| o.id == field.id) {
            None => execute(
                conn,
                &format!("ALTER TABLE {table} ADD COLUMN {}", column_def(field)),
            )?,
            Some(old_field) => convert_values(conn, &table, old_field, field)?,
        }
    }
    create_indexes(conn, new)
}

/// Convert stored values when a select/relation/file field switches between one and many
/// values (the only storage change an existing field can go through).
fn convert_values(
    conn: &Connection,
    table: &str,
    old: &Field,
    new: &Field,
) -> Result<(), StoreError> {
    let column = quoted(&new.name);
    match (old.kind.storage_class(), new.kind.storage_class()) {
        (StorageClass::Text, StorageClass::JsonArray) => execute(
            conn,
            &format!(
                "UPDATE {table} SET {column} = CASE WHEN {column} = '' THEN '[]' ELSE json_array({column}) END"
            ),
        ),
        (StorageClass::JsonArray, StorageClass::Text) => execute(
            conn,
            &format!(
                "UPDATE {table} SET {column} = CASE WHEN json_valid({column}) AND json_type({column}) = 'array' \
                 THEN COALESCE(json_extract({column}, '$[#-1]'), '') ELSE {column} END"
            ),
        ),
        _ => Ok(()),
    }
}

/// The stored form of a collection: the API JSON split into the columns of `_collections`.
pub fn save_definition(conn: &Connection, collection: &Collection) -> Result<(), StoreError> {
    let mut json =
        serde_json::to_value(collection).map_err(|e| StoreError::Database(e.to_string()))?;
    let obj = json
        .as_object_mut()
        .ok_or_else(|| StoreError::Database("collection is not an object".into()))?;
    let mut take = |key: &str| obj.remove(key).unwrap_or(serde_json::Value::Null);
    let fields = take("fields").to_string();
    let indexes = take("indexes").to_string();
    let rules: Vec<Option<String>> = [
        "listRule",
        "viewRule",
        "createRule",
        "updateRule",
        "deleteRule",
    ]
    .iter()
    .map(|k| take(k).as_str().map(str::to_owned))
    .collect();
    for key in ["id", "name", "type", "system", "created", "updated"] {
        obj.remove(key);
    }
    let options = json.to_string();
    conn.prepare_cached(
        r#"INSERT INTO "_collections" ("id","system","type","name","fields","indexes","listRule","viewRule",
             "createRule","updateRule","deleteRule","options","created","updated")
           VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)
           ON CONFLICT ("id") DO UPDATE SET "system"=excluded."system", "type"=excluded."type",
             "name"=excluded."name", "fields"=excluded."fields", "indexes"=excluded."indexes",
             "listRule"=excluded."listRule", "viewRule"=excluded."viewRule", "createRule"=excluded."createRule",
             "updateRule"=excluded."updateRule", "deleteRule"=excluded."deleteRule", "options"=excluded."options",
             "updated"=excluded."updated""#,
    )
    .and_then(|mut stmt| {
        stmt.execute(rusqlite::params![
            collection.id,
            collection.system,
            collection.kind.type_name(),
            collection.name,
            fields,
            indexes,
            rules[0],
            rules[1],
            rules[2],
            rules[3],
            rules[4],
            options,
            collection.created,
            collection.updated,
        ])
    })
    .map(|_| ())
    .map_err(map_err)
}

pub fn load_definitions(conn: &Connection) -> Result<Vec<Collection>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            r#"SELECT "id","system","type","name","fields","indexes","listRule","viewRule","createRule",
                      "updateRule","deleteRule","options","created","updated"
               FROM "_collections" ORDER BY "created", "rowid""#,
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map([], |row| {
            let mut obj: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&row.get::<_, String>(11)?).unwrap_or_default();
            obj.insert("id".into(), row.get::<_, String>(0)?.into());
            obj.insert("system".into(), row.get::<_, bool>(1)?.into());
            obj.insert("type".into(), row.get::<_, String>(2)?.into());
            obj.insert("name".into(), row.get::<_, String>(3)?.into());
            obj.insert(
                "fields".into(),
                serde_json::from_str(&row.get::<_, String>(4)?).unwrap_or_default(),
            );
            obj.insert(
                "indexes".into(),
                serde_json::from_str(&row.get::<_, String>(5)?).unwrap_or_default(),
            );
            for (i, key) in [
                "listRule",
                "viewRule",
                "createRule",
                "updateRule",
                "deleteRule",
            ]
            .iter()
            .enumerate()
            {
                obj.insert((*key).into(), row.get::<_, Option<String>>(6 + i)?.into());
            }
            obj.insert("created".into(), row.get::<_, String>(12)?.into());
            obj.insert("updated".into(), row.get::<_, String>(13)?.into());
            Ok(serde_json::Value::Object(obj))
        })
        .map_err(map_err)?;
    let mut collections = Vec::new();
    for row in rows {
        let value = row.map_err(map_err)?;
        let collection: Collection = serde_json::from_value(value)
            .map_err(|e| StoreError::Database(format!("corrupt collection definition: {e}")))?;
        collections.push(collection);
    }
    Ok(collections)
}
