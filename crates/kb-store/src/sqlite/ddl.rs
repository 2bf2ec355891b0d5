//! SQLite DDL: the system tables, one table (or view) per collection, its indexes, and the
//! in-place migration of a table when its collection changes.

use kb_core::field::StorageClass;
use kb_core::{Collection, Field};
use rusqlite::Connection;

use super::{Sqlite, describe_error, map_err};
use crate::definition::StoredCollection;
use crate::dialect::Dialect;
use crate::{StoreError, sql};

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

fn create_indexes(conn: &Connection, collection: &Collection) -> Result<(), StoreError> {
    for index in sql::parsed_indexes(collection)? {
        conn.execute(&sql::create_index(&Sqlite, collection, &index), [])
            .map_err(|e| StoreError::Index {
                name: index.name.clone(),
                message: describe_error(&e),
            })?;
    }
    Ok(())
}

fn drop_indexes(conn: &Connection, collection: &Collection) -> Result<(), StoreError> {
    for index in sql::parsed_indexes(collection)? {
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

/// Store a collection definition in `_collections` (insert or replace).
pub fn save_definition(conn: &Connection, collection: &Collection) -> Result<(), StoreError> {
    let stored = StoredCollection::from_collection(collection)?;
    let [list, view, create, update, delete] = &stored.rules;
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
            stored.id,
            stored.system,
            stored.kind,
            stored.name,
            stored.fields,
            stored.indexes,
            list,
            view,
            create,
            update,
            delete,
            stored.options,
            stored.created,
            stored.updated,
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
            Ok(StoredCollection {
                id: row.get(0)?,
                system: row.get(1)?,
                kind: row.get(2)?,
                name: row.get(3)?,
                fields: row.get(4)?,
                indexes: row.get(5)?,
                rules: [
                    row.get(6)?,
                    row.get(7)?,
                    row.get(8)?,
                    row.get(9)?,
                    row.get(10)?,
                ],
                options: row.get(11)?,
                created: row.get(12)?,
                updated: row.get(13)?,
            })
        })
        .map_err(map_err)?;
    let mut collections = Vec::new();
    for row in rows {
        collections.push(row.map_err(map_err)?.into_collection()?);
    }
    Ok(collections)
}
