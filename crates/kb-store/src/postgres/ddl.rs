//! PostgreSQL DDL: the system tables and SQL helper functions, one table (or view) per
//! collection with native column types, its indexes, and the in-place migration of a table
//! when its collection changes. Every statement runs inside the job's transaction, so a
//! failed migration leaves the previous table and data untouched.

use kb_core::field::StorageClass;
use kb_core::{Collection, Field};

use super::dialect::{Postgres, ROWID_COLUMN};
use super::{PgConn, db_message};
use crate::definition::StoredCollection;
use crate::dialect::Dialect;
use crate::{StoreError, sql};

/// System tables and the functions the dialect renders. Idempotent.
pub const BOOTSTRAP: &str = r#"
CREATE TABLE IF NOT EXISTS "_collections" (
    "id"         text PRIMARY KEY NOT NULL,
    "system"     boolean DEFAULT FALSE NOT NULL,
    "type"       text DEFAULT 'base' NOT NULL,
    "name"       text NOT NULL,
    "fields"     text DEFAULT '[]' NOT NULL,
    "indexes"    text DEFAULT '[]' NOT NULL,
    "listRule"   text DEFAULT NULL,
    "viewRule"   text DEFAULT NULL,
    "createRule" text DEFAULT NULL,
    "updateRule" text DEFAULT NULL,
    "deleteRule" text DEFAULT NULL,
    "options"    text DEFAULT '{}' NOT NULL,
    "created"    text DEFAULT '' NOT NULL,
    "updated"    text DEFAULT '' NOT NULL,
    "_kb_rowid"  bigint GENERATED ALWAYS AS IDENTITY
);
CREATE UNIQUE INDEX IF NOT EXISTS "_collections_name_idx" ON "_collections" (lower("name"));
CREATE TABLE IF NOT EXISTS "_params" (
    "id"      text PRIMARY KEY NOT NULL,
    "value"   text DEFAULT NULL,
    "created" text DEFAULT '' NOT NULL,
    "updated" text DEFAULT '' NOT NULL
);

-- A value as a JSON array whatever it holds (SQLite's reading of multi-value columns): NULL
-- and '' are empty, an array stays, other JSON and plain text become one element.
CREATE OR REPLACE FUNCTION kb_json_array(value jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN value IS NULL OR value = '""'::jsonb THEN '[]'::jsonb
        WHEN jsonb_typeof(value) = 'array' THEN value
        ELSE jsonb_build_array(value)
    END
$$;
CREATE OR REPLACE FUNCTION kb_json_array(value text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF value IS NULL OR value = '' THEN
        RETURN '[]'::jsonb;
    END IF;
    RETURN kb_json_array(value::jsonb);
EXCEPTION WHEN invalid_text_representation THEN
    RETURN jsonb_build_array(value);
END
$$;

-- A value as JSON, NULL for text that is not JSON (it has no inside to extract from).
CREATE OR REPLACE FUNCTION kb_json(value jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT value $$;
CREATE OR REPLACE FUNCTION kb_json(value text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN value::jsonb;
EXCEPTION WHEN invalid_text_representation THEN
    RETURN NULL;
END
$$;

-- A scalar as an ordering key for comparisons with JSON values: numbers (and numeric text,
-- as extracted from JSON) order as numbers, other text as strings.
CREATE OR REPLACE FUNCTION kb_json_order(value text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN value ~ '^\s*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$' THEN to_jsonb(value::numeric)
        ELSE to_jsonb(value)
    END
$$;
CREATE OR REPLACE FUNCTION kb_json_order(value double precision) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT to_jsonb(value) $$;
CREATE OR REPLACE FUNCTION kb_json_order(value boolean) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT to_jsonb(value::int) $$;
CREATE OR REPLACE FUNCTION kb_json_order(value jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT value $$;

-- Haversine distance in km between two (lon, lat) points.
CREATE OR REPLACE FUNCTION kb_geo_distance(
    lon_a double precision, lat_a double precision, lon_b double precision, lat_b double precision
) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 2 * 6371 * asin(sqrt(
        power(sin(radians(lat_b - lat_a) / 2), 2)
        + cos(radians(lat_a)) * cos(radians(lat_b)) * power(sin(radians(lon_b - lon_a) / 2), 2)
    ))
$$;

-- SQLite's strftime(format, time) over PocketBase's datetime text; NULL for what SQLite
-- would not format (bad time, unknown directive, modifiers).
CREATE OR REPLACE FUNCTION kb_strftime(pattern text, moment text, VARIADIC modifiers text[] DEFAULT '{}')
RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    stamp timestamp;
    result text := '';
    piece text;
    i int := 1;
BEGIN
    IF pattern IS NULL OR moment IS NULL OR cardinality(modifiers) > 0 THEN
        RETURN NULL;
    END IF;
    BEGIN
        stamp := moment::timestamptz AT TIME ZONE 'UTC';
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END;
    WHILE i <= length(pattern) LOOP
        piece := substr(pattern, i, 1);
        IF piece = '%' THEN
            i := i + 1;
            piece := CASE substr(pattern, i, 1)
                WHEN 'Y' THEN to_char(stamp, 'YYYY')
                WHEN 'm' THEN to_char(stamp, 'MM')
                WHEN 'd' THEN to_char(stamp, 'DD')
                WHEN 'H' THEN to_char(stamp, 'HH24')
                WHEN 'M' THEN to_char(stamp, 'MI')
                WHEN 'S' THEN to_char(stamp, 'SS')
                WHEN 'f' THEN to_char(stamp, 'SS.MS')
                WHEN 'j' THEN to_char(stamp, 'DDD')
                WHEN 'w' THEN extract(dow FROM stamp)::int::text
                WHEN 's' THEN floor(extract(epoch FROM stamp))::bigint::text
                WHEN '%' THEN '%'
            END;
            IF piece IS NULL THEN
                RETURN NULL;
            END IF;
        END IF;
        result := result || piece;
        i := i + 1;
    END LOOP;
    RETURN result;
END
$$;
"#;

fn quoted(name: &str) -> String {
    let mut out = String::new();
    Postgres.quote(name, &mut out);
    out
}

/// The column definition of a field: native types, with the same zero values and text
/// ordering as SQLite's.
fn column_def(field: &Field) -> String {
    let name = quoted(&field.name);
    if field.name == "id" {
        return format!(
            "{name} text COLLATE \"C\" PRIMARY KEY DEFAULT ('r' || substr(md5(random()::text), 1, 14)) NOT NULL"
        );
    }
    format!("{name} {}", column_type(field.kind.storage_class()))
}

fn column_type(class: StorageClass) -> &'static str {
    match class {
        // Byte order, as SQLite's BINARY collation sorts, whatever the server's locale.
        StorageClass::Text => "text COLLATE \"C\" DEFAULT '' NOT NULL",
        StorageClass::Number => "double precision DEFAULT 0 NOT NULL",
        StorageClass::Bool => "boolean DEFAULT FALSE NOT NULL",
        StorageClass::JsonArray => "jsonb DEFAULT '[]' NOT NULL",
        // Text, not jsonb: a JSON field gives back exactly what was stored (jsonb would
        // reorder object keys and drop duplicates); filters parse it as they read it.
        StorageClass::Json => "text DEFAULT NULL",
        StorageClass::GeoPoint => "jsonb DEFAULT '{\"lon\":0,\"lat\":0}' NOT NULL",
    }
}

fn create_table(conn: &mut PgConn<'_>, collection: &Collection) -> Result<(), StoreError> {
    let mut columns: Vec<String> = collection.fields.iter().map(column_def).collect();
    columns.push(format!(
        "{} bigint GENERATED ALWAYS AS IDENTITY",
        quoted(ROWID_COLUMN)
    ));
    conn.execute_ddl(&format!(
        "CREATE TABLE {} ({})",
        quoted(&collection.name),
        columns.join(", ")
    ))?;
    create_indexes(conn, collection)
}

fn create_indexes(conn: &mut PgConn<'_>, collection: &Collection) -> Result<(), StoreError> {
    for index in sql::parsed_indexes(collection)? {
        conn.execute_raw(&sql::create_index(&Postgres, collection, &index))
            .map_err(|error| StoreError::Index {
                name: index.name.clone(),
                message: db_message(&error),
            })?;
    }
    Ok(())
}

fn drop_indexes(conn: &mut PgConn<'_>, collection: &Collection) -> Result<(), StoreError> {
    for index in sql::parsed_indexes(collection)? {
        conn.execute_ddl(&format!("DROP INDEX IF EXISTS {}", quoted(&index.name)))?;
    }
    Ok(())
}

fn create_view(conn: &mut PgConn<'_>, collection: &Collection) -> Result<(), StoreError> {
    let query = collection.view_query().unwrap_or_default();
    let query = query.trim().trim_end_matches(';');
    // Checked by `describe_view_query` first; sent through the extended protocol, which
    // accepts exactly one statement.
    conn.execute_ddl(&format!(
        "CREATE VIEW {} AS {}",
        quoted(&collection.name),
        query
    ))
}

pub fn drop_relation(conn: &mut PgConn<'_>, collection: &Collection) -> Result<(), StoreError> {
    let kind = if collection.is_view() {
        "VIEW"
    } else {
        "TABLE"
    };
    conn.execute_ddl(&format!(
        "DROP {kind} IF EXISTS {}",
        quoted(&collection.name)
    ))
}

/// Make the database match `new`, starting from `old` (or from nothing).
pub fn apply_collection(
    conn: &mut PgConn<'_>,
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
        conn.execute_ddl(&format!(
            "ALTER TABLE {} RENAME TO {}",
            quoted(&old.name),
            quoted(&new.name)
        ))?;
    }
    let table = quoted(&new.name);
    for old_field in &old.fields {
        if !new.fields.iter().any(|f| f.id == old_field.id) {
            conn.execute_ddl(&format!(
                "ALTER TABLE {table} DROP COLUMN {}",
                quoted(&old_field.name)
            ))?;
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
        conn.execute_ddl(&format!(
            "ALTER TABLE {table} RENAME COLUMN {} TO {}",
            quoted(&o.name),
            quoted(&format!("_kb_tmp_{}", f.id))
        ))?;
    }
    for (_, f) in &renamed {
        conn.execute_ddl(&format!(
            "ALTER TABLE {table} RENAME COLUMN {} TO {}",
            quoted(&format!("_kb_tmp_{}", f.id)),
            quoted(&f.name)
        ))?;
    }
    for field in &new.fields {
        match old.fields.iter().find(|o| o.id == field.id) {
            None => conn.execute_ddl(&format!(
                "ALTER TABLE {table} ADD COLUMN {}",
                column_def(field)
            ))?,
            Some(old_field) => convert_values(conn, &table, old_field, field)?,
        }
    }
    create_indexes(conn, new)
}

/// Convert the column when a select/relation/file field switches between one and many
/// values (the only storage change an existing field can go through).
fn convert_values(
    conn: &mut PgConn<'_>,
    table: &str,
    old: &Field,
    new: &Field,
) -> Result<(), StoreError> {
    let column = quoted(&new.name);
    let (class, using) = match (old.kind.storage_class(), new.kind.storage_class()) {
        (StorageClass::Text, StorageClass::JsonArray) => (
            StorageClass::JsonArray,
            format!(
                "CASE WHEN {column} = '' THEN '[]'::jsonb ELSE jsonb_build_array({column}) END"
            ),
        ),
        (StorageClass::JsonArray, StorageClass::Text) => (
            StorageClass::Text,
            format!("COALESCE(kb_json_array({column}) ->> -1, '')"),
        ),
        _ => return Ok(()),
    };
    let (ty, default) = column_type(class)
        .split_once(" DEFAULT ")
        .unwrap_or((column_type(class), ""));
    let default = default.trim_end_matches(" NOT NULL");
    conn.execute_ddl(&format!(
        "ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT, \
         ALTER COLUMN {column} TYPE {ty} USING {using}, \
         ALTER COLUMN {column} SET DEFAULT {default}"
    ))
}

pub fn save_definition(conn: &mut PgConn<'_>, collection: &Collection) -> Result<(), StoreError> {
    let stored = StoredCollection::from_collection(collection)?;
    let [list, view, create, update, delete] = &stored.rules;
    conn.execute_typed(
        r#"INSERT INTO "_collections" ("id","system","type","name","fields","indexes","listRule","viewRule",
             "createRule","updateRule","deleteRule","options","created","updated")
           VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)
           ON CONFLICT ("id") DO UPDATE SET "system"=excluded."system", "type"=excluded."type",
             "name"=excluded."name", "fields"=excluded."fields", "indexes"=excluded."indexes",
             "listRule"=excluded."listRule", "viewRule"=excluded."viewRule", "createRule"=excluded."createRule",
             "updateRule"=excluded."updateRule", "deleteRule"=excluded."deleteRule", "options"=excluded."options",
             "updated"=excluded."updated""#,
        &[
            &stored.id,
            &stored.system,
            &stored.kind,
            &stored.name,
            &stored.fields,
            &stored.indexes,
            list,
            view,
            create,
            update,
            delete,
            &stored.options,
            &stored.created,
            &stored.updated,
        ],
    )
    .map(|_| ())
}

pub fn load_definitions(conn: &mut PgConn<'_>) -> Result<Vec<Collection>, StoreError> {
    let rows = conn.query_typed(
        r#"SELECT "id","system","type","name","fields","indexes","listRule","viewRule","createRule",
                  "updateRule","deleteRule","options","created","updated"
           FROM "_collections" ORDER BY "created", "_kb_rowid""#,
        &[],
    )?;
    rows.iter()
        .map(|row| {
            let stored = StoredCollection {
                id: row.try_get(0)?,
                system: row.try_get(1)?,
                kind: row.try_get(2)?,
                name: row.try_get(3)?,
                fields: row.try_get(4)?,
                indexes: row.try_get(5)?,
                rules: [
                    row.try_get(6)?,
                    row.try_get(7)?,
                    row.try_get(8)?,
                    row.try_get(9)?,
                    row.try_get(10)?,
                ],
                options: row.try_get(11)?,
                created: row.try_get(12)?,
                updated: row.try_get(13)?,
            };
            Ok::<_, tokio_postgres::Error>(stored)
        })
        .map(|stored| {
            stored
                .map_err(|e| StoreError::Database(db_message(&e)))
                .and_then(StoredCollection::into_collection)
        })
        .collect()
}
