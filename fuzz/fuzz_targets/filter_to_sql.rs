//! From client text to SQLite: a `filter` and a `sort` string are parsed, resolved against a
//! fixed schema for every collection (with the options kb-app uses for guests and signed-in
//! users, who only reach related records their list rules show, for API rules and
//! superusers, and the plain defaults of the collections listing), rendered
//! by `kb_store::sql` for the SQLite dialect, bound with `kb_store::values::param_value` and
//! run on an in-memory database built like the backend's tables (same column types, a few
//! rows with edge values). Every statement a client can cause must be accepted by SQLite:
//! a prepare, bind or step error is a 500 in the server, so it fails the run (panic with
//! the SQL, the input and the error), except the data-dependent errors listed in
//! [`ACCEPTABLE`]. Panics anywhere in resolve/render/bind are found as well.
//!
//! Input: `<filter> NUL <sort>` (bytes converted lossily; no NUL means no sort), or a
//! first byte 0xFF followed by choices from which `generate` builds a valid filter and sort
//! over the fixture's schema (most random text never gets past the parser).

#![no_main]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use kb_core::{Collection, Schema};
use kb_filter::{parse_filter, parse_sort};
use kb_query::{FilterPlan, ResolveOptions, SortKey, resolve_filter, resolve_sort_key};
use kb_store::SortSpec;
use kb_store::sql::{self, Param, Statement};
use kb_store::sqlite::Sqlite;
use kb_store::values::{self, Clock, RequestInfo, SqlValue};
use libfuzzer_sys::fuzz_target;
use rusqlite::Connection;
use rusqlite::types::{Value as DbValue, ValueRef};
use serde_json::{Value, json};

/// SQLite errors that depend on stored data or on request values, not on the statement's
/// shape; see fuzz/README.md for why each one is acceptable.
const ACCEPTABLE: &[&str] = &[
    // `a ~ b` between two fields (or a field and a request value) builds the LIKE pattern
    // at run time; SQLite refuses patterns over SQLITE_LIMIT_LIKE_PATTERN_LENGTH (50 000
    // bytes). Only the stored value (or the sent value) decides; PocketBase renders the
    // same `LIKE ('%' || b || '%')` and fails the same way.
    "LIKE or GLOB pattern too complex",
];

/// Abort a statement after this many progress callbacks (each is 1000 VM steps): queries
/// whose joins multiply out are a denial-of-service topic of their own, reported (not
/// failed) by this target, see README. `KB_FUZZ_SLOW=panic` makes them crashes instead.
const STEP_BUDGET: u32 = 2_000;

/// Progress callbacks of the running statement (reset before each one).
static STEPS: AtomicU32 = AtomicU32::new(0);
/// Inputs seen, inputs that resolved for some collection, statements run
/// (printed every 2^16 inputs with `KB_FUZZ_STATS=1`).
static STATS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

struct Fixture {
    schema: Schema,
    /// The virtual collection `GET /api/collections` filters through (kb-app's
    /// `listing_collection`, which is private there).
    listing: Collection,
    conn: Mutex<Connection>,
    requests: Vec<RequestInfo>,
    clock: Clock,
}

fn collection(value: Value) -> Collection {
    serde_json::from_value(value).expect("a valid collection")
}

fn schema() -> Schema {
    let id = json!({"name": "id", "type": "text", "primaryKey": true, "system": true});
    let created = json!({"name": "created", "type": "autodate", "onCreate": true});
    let updated =
        json!({"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true});
    let users = collection(json!({
        "id": "pbc_users00001", "name": "users", "type": "auth",
        "listRule": "id = @request.auth.id || verified = true || friends.age >= 18",
        "fields": [
            id,
            {"name": "password", "type": "password", "hidden": true, "system": true},
            {"name": "tokenKey", "type": "text", "hidden": true, "system": true},
            {"name": "email", "type": "email", "system": true},
            {"name": "emailVisibility", "type": "bool", "system": true},
            {"name": "verified", "type": "bool", "system": true},
            {"name": "name", "type": "text"},
            {"name": "age", "type": "number"},
            {"name": "role", "type": "select", "values": ["admin", "member"], "maxSelect": 1},
            {"name": "avatar", "type": "file", "maxSelect": 1},
            {"name": "team", "type": "relation", "collectionId": "pbc_teams00001", "maxSelect": 1},
            {"name": "friends", "type": "relation", "collectionId": "pbc_users00001", "maxSelect": 10},
            {"name": "manager", "type": "relation", "collectionId": "pbc_users00001", "maxSelect": 1},
            {"name": "secret", "type": "text", "hidden": true},
            {"name": "settings", "type": "json"},
            created, updated
        ]
    }));
    let teams = collection(json!({
        "id": "pbc_teams00001", "name": "teams", "type": "base",
        "listRule": "members:each ?= @request.auth.id || owner.verified = true",
        "fields": [
            id,
            {"name": "name", "type": "text"},
            {"name": "members", "type": "relation", "collectionId": "pbc_users00001", "maxSelect": 99},
            {"name": "owner", "type": "relation", "collectionId": "pbc_users00001", "maxSelect": 1},
            {"name": "settings", "type": "json"},
            // Names that are SQL keywords or json_each's own column names.
            {"name": "order", "type": "number"},
            {"name": "group", "type": "text"},
            {"name": "value", "type": "text"},
            {"name": "key", "type": "text"},
            {"name": "rowid", "type": "text"},
            created
        ]
    }));
    let posts = collection(json!({
        "id": "pbc_posts00001", "name": "posts", "type": "base",
        "listRule": "published = true || author = @request.auth.id || author.team.members.id ?= @request.auth.id",
        "fields": [
            id,
            {"name": "title", "type": "text"},
            {"name": "views", "type": "number"},
            {"name": "published", "type": "bool"},
            {"name": "tags", "type": "select", "values": ["a", "b", "c", "d"], "maxSelect": 4},
            {"name": "status", "type": "select", "values": ["draft", "live"], "maxSelect": 1},
            {"name": "author", "type": "relation", "collectionId": "pbc_users00001", "maxSelect": 1},
            {"name": "editors", "type": "relation", "collectionId": "pbc_users00001", "maxSelect": 5},
            {"name": "team", "type": "relation", "collectionId": "pbc_teams00001", "maxSelect": 1},
            {"name": "parent", "type": "relation", "collectionId": "pbc_posts00001", "maxSelect": 1},
            {"name": "related", "type": "relation", "collectionId": "pbc_posts00001", "maxSelect": 9},
            {"name": "meta", "type": "json"},
            {"name": "loc", "type": "geoPoint"},
            {"name": "body", "type": "editor"},
            {"name": "publishAt", "type": "date"},
            {"name": "files", "type": "file", "maxSelect": 3},
            {"name": "website", "type": "url"},
            {"name": "contact", "type": "email"},
            {"name": "note", "type": "text", "hidden": true},
            created, updated
        ]
    }));
    let comments = collection(json!({
        "id": "pbc_comments01", "name": "comments", "type": "base",
        "listRule": "post.published = true && @request.auth.id != \"\" && replies.score >= 0",
        "fields": [
            id,
            {"name": "text", "type": "text"},
            {"name": "post", "type": "relation", "collectionId": "pbc_posts00001", "maxSelect": 1},
            {"name": "user", "type": "relation", "collectionId": "pbc_users00001", "maxSelect": 1},
            {"name": "replies", "type": "relation", "collectionId": "pbc_comments01", "maxSelect": 50},
            {"name": "score", "type": "number"},
            created
        ]
    }));
    // A back-relation through a unique single relation is single-valued; no list rule
    // (superusers only), so non-superusers cannot filter through it.
    let profiles = collection(json!({
        "id": "pbc_profiles01", "name": "profiles", "type": "base",
        "indexes": ["CREATE UNIQUE INDEX idx_profiles_user ON profiles (user)"],
        "fields": [
            id,
            {"name": "user", "type": "relation", "collectionId": "pbc_users00001", "maxSelect": 1},
            {"name": "bio", "type": "text"},
            {"name": "data", "type": "json"},
            {"name": "home", "type": "geoPoint"}
        ]
    }));
    // Mixed-case name: collection names match case-insensitively.
    let mixed = collection(json!({
        "id": "pbc_mixed00001", "name": "MixedCase", "type": "base",
        // A stored rule that no longer compiles: relation paths into it reach nothing.
        "listRule": "nosuchfield = 1",
        "fields": [
            id,
            {"name": "Title", "type": "text"},
            {"name": "post", "type": "relation", "collectionId": "pbc_posts00001", "maxSelect": 1},
            {"name": "posts", "type": "relation", "collectionId": "pbc_posts00001", "maxSelect": 3}
        ]
    }));
    // A view, with the fields kb-app's `view_field` infers: a column straight from a
    // table keeps that field (`name`, `pals`, `team`, `settings`), any other expression
    // becomes a `json` field whatever it holds.
    let stats = collection(json!({
        "id": "pbc_stats00001", "name": "stats", "type": "view", "listRule": "",
        "viewQuery": "SELECT u.id, u.name, u.name || '!' AS shout, '' AS blank, 42 AS answer, \
                      u.friends AS pals, u.team AS team, u.settings AS settings, \
                      (SELECT count(*) FROM posts p WHERE p.author = u.id) AS nposts FROM users u",
        "fields": [
            {"name": "id", "type": "text", "primaryKey": true, "system": true},
            {"name": "name", "type": "text"},
            {"name": "shout", "type": "json", "maxSize": 1},
            {"name": "blank", "type": "json", "maxSize": 1},
            {"name": "answer", "type": "json", "maxSize": 1},
            {"name": "pals", "type": "relation", "collectionId": "pbc_users00001", "maxSelect": 10},
            {"name": "team", "type": "relation", "collectionId": "pbc_teams00001", "maxSelect": 1},
            {"name": "settings", "type": "json"},
            {"name": "nposts", "type": "json", "maxSize": 1}
        ]
    }));
    Schema::new(
        vec![users, teams, posts, comments, profiles, mixed, stats],
        1,
    )
}

fn listing_collection() -> Collection {
    collection(json!({
        "id": "_collections", "name": "_collections", "type": "base", "system": true,
        "fields": [
            {"name": "id", "type": "text"}, {"name": "name", "type": "text"},
            {"name": "type", "type": "text"}, {"name": "system", "type": "bool"},
            {"name": "created", "type": "text"}, {"name": "updated", "type": "text"}
        ]
    }))
}

/// Rows per collection; missing fields get the column default.
fn rows() -> Vec<(&'static str, Vec<Value>)> {
    let long = "Lorem ipsum %_\\ ".repeat(4000); // 64 000 bytes: past the LIKE pattern limit
    vec![
        (
            "teams",
            vec![
                json!({"id": "t1", "name": "Core", "members": ["u1", "u2"], "owner": "u1",
                   "settings": {"open": true, "tags": ["x", "y"], "n": 3}, "order": 1,
                   "group": "g", "value": "v", "key": "k", "rowid": "r"}),
                json!({"id": "t2", "name": "", "members": [], "owner": "", "settings": null}),
                json!({"id": "t3", "name": "Ghost", "members": ["missing00000001", "u3"],
                   "settings": [1, "two", null], "order": -2.5}),
            ],
        ),
        (
            "users",
            vec![
                json!({"id": "u1", "password": "$2a$10$hash", "tokenKey": "tk1", "email": "ann@example.com",
                   "emailVisibility": true, "verified": true, "name": "Ann", "age": 30,
                   "role": "admin", "avatar": "a.png", "team": "t1", "friends": ["u2", "u3"],
                   "manager": "u2", "secret": "s1", "settings": {"theme": "dark", "k": [1, 2]},
                   "created": "2024-01-01 00:00:00.000Z", "updated": "2024-01-02 00:00:00.000Z"}),
                json!({"id": "u2", "email": "bob@example.com", "name": "O'Hara \"the\" \\bob %_",
                   "age": -1.5, "role": "member", "team": "t3", "friends": ["u1"],
                   "manager": "u2", "settings": "just a string",
                   "created": "2025-06-01 12:00:00.000Z"}),
                json!({"id": "u3", "name": "", "age": 0, "friends": [], "manager": "",
                   "settings": null, "team": "missing00000001"}),
            ],
        ),
        (
            "posts",
            vec![
                json!({"id": "p1", "title": "Hello world", "views": 10, "published": true,
                   "tags": ["a", "b"], "status": "live", "author": "u1", "editors": ["u2", "u3"],
                   "team": "t1", "parent": "", "related": ["p2", "p3"],
                   "meta": {"k": [1, 2], "s": "x", "deep": {"a": {"b": [{"c": 1}]}}, "0": "zero"},
                   "loc": {"lon": 23.32, "lat": 42.69}, "body": "<p>Hello <b>bold</b></p>",
                   "publishAt": "2024-01-02 10:00:00.000Z", "files": ["f1.png", "f2.txt"],
                   "website": "https://example.com", "contact": "a@b.c", "note": "n1",
                   "created": "2024-01-01 00:00:00.000Z", "updated": "2024-01-01 00:00:00.000Z"}),
                json!({"id": "p2", "title": "100% pure_ \\ 'quoted' \"dq\" é日本🎉", "views": -3.25,
                   "published": false, "tags": ["c"], "status": "draft", "author": "u2",
                   "editors": ["u1"], "parent": "p1", "related": ["p1", "p2"],
                   "meta": [1, {"s": "y"}, [2, 3]], "loc": {"lon": -180, "lat": 90},
                   "body": "plain", "publishAt": "2025-06-01 00:00:00.000Z",
                   "created": "2025-06-01 00:00:00.000Z"}),
                json!({"id": "p3", "title": "", "views": 0, "published": true, "tags": [], "status": "",
                   "author": "", "editors": [], "parent": "p2", "related": [],
                   "meta": null, "body": "", "publishAt": ""}),
                json!({"id": "p4", "title": "Zed", "views": 1e300, "tags": ["a", "c", "d"],
                   "author": "missing00000001", "editors": ["u1", "missing00000001"],
                   "parent": "p4", "meta": "a json string", "loc": {"lon": 0, "lat": 0},
                   "body": long}),
                json!({"id": "p5", "title": "n", "views": 9007199254740993u64, "meta": 42.5,
                   "tags": ["b"], "team": "t2", "related": ["p5"]}),
            ],
        ),
        (
            "comments",
            vec![
                json!({"id": "c1", "text": "first", "post": "p1", "user": "u2", "replies": ["c2"], "score": 1}),
                json!({"id": "c2", "text": "second", "post": "p1", "user": "u3", "replies": [], "score": 2.5}),
                json!({"id": "c3", "text": "third", "post": "p2", "user": "u1", "replies": ["c1", "c2", "c3"]}),
                json!({"id": "c4", "text": "orphan", "post": "", "user": "u1"}),
            ],
        ),
        (
            "profiles",
            vec![
                json!({"id": "pr1", "user": "u1", "bio": "hi", "data": {"a": 1}, "home": {"lon": 1.5, "lat": 2.5}}),
                json!({"id": "pr2", "user": "u2", "bio": "", "data": null}),
            ],
        ),
        (
            "MixedCase",
            vec![
                json!({"id": "m1", "Title": "M", "post": "p1", "posts": ["p1", "p2"]}),
                json!({"id": "m2", "Title": "", "post": "", "posts": []}),
            ],
        ),
    ]
}

/// The column definition the backend gives a field (`sqlite/ddl.rs`, `column_def`, private).
fn column_def(field: &kb_core::Field) -> String {
    use kb_core::field::StorageClass;
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

fn quoted(name: &str) -> String {
    let mut out = String::new();
    kb_store::dialect::Dialect::quote(&Sqlite, name, &mut out);
    out
}

fn to_db(value: SqlValue) -> DbValue {
    match value {
        SqlValue::Null => DbValue::Null,
        SqlValue::Integer(i) => DbValue::Integer(i),
        SqlValue::Real(r) => DbValue::Real(r),
        SqlValue::Text(t) => DbValue::Text(t),
    }
}

/// `kb_geo_distance`, registered as `kb_store::sqlite`'s private `register_functions` does.
fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "kb_geo_distance",
        4,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let mut v = [0f64; 4];
            for (i, slot) in v.iter_mut().enumerate() {
                match ctx.get::<Option<f64>>(i) {
                    Ok(Some(x)) => *slot = x,
                    _ => return Ok(None),
                }
            }
            let (phi_a, phi_b) = (v[1].to_radians(), v[3].to_radians());
            let d_phi = (v[3] - v[1]).to_radians();
            let d_lambda = (v[2] - v[0]).to_radians();
            let h = (d_phi / 2.0).sin().powi(2)
                + phi_a.cos() * phi_b.cos() * (d_lambda / 2.0).sin().powi(2);
            Ok(Some(2.0 * 6371.0 * h.sqrt().asin()))
        },
    )
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let schema = schema();
        let listing = listing_collection();
        let conn = Connection::open_in_memory().expect("in-memory database");
        // The backend's connection settings (kb-sqlite `PRAGMAS`) and functions.
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
             PRAGMA temp_store = MEMORY; PRAGMA cache_size = -32000;",
        )
        .unwrap();
        register_functions(&conn).unwrap();
        conn.execute_batch(
            r#"CREATE TABLE "_collections" (
                "id" TEXT PRIMARY KEY NOT NULL, "system" BOOLEAN DEFAULT FALSE NOT NULL,
                "type" TEXT DEFAULT 'base' NOT NULL, "name" TEXT UNIQUE NOT NULL COLLATE NOCASE,
                "fields" JSON DEFAULT '[]' NOT NULL, "indexes" JSON DEFAULT '[]' NOT NULL,
                "listRule" TEXT DEFAULT NULL, "viewRule" TEXT DEFAULT NULL,
                "createRule" TEXT DEFAULT NULL, "updateRule" TEXT DEFAULT NULL,
                "deleteRule" TEXT DEFAULT NULL, "options" JSON DEFAULT '{}' NOT NULL,
                "created" TEXT DEFAULT '' NOT NULL, "updated" TEXT DEFAULT '' NOT NULL)"#,
        )
        .unwrap();
        for c in schema.iter().filter(|c| !c.is_view()) {
            let columns: Vec<String> = c.fields.iter().map(column_def).collect();
            conn.execute(&format!("CREATE TABLE {} ({})", quoted(&c.name), columns.join(", ")), [])
                .unwrap();
            conn.execute(
                r#"INSERT INTO "_collections" ("id","type","name","fields","created","updated")
                   VALUES (?1, ?2, ?3, ?4, '2024-01-01 00:00:00.000Z', '')"#,
                rusqlite::params![
                    c.id,
                    c.kind.type_name(),
                    c.name,
                    serde_json::to_string(&c.fields).unwrap()
                ],
            )
            .unwrap();
        }
        conn.execute(
            r#"CREATE UNIQUE INDEX "idx_profiles_user" ON "profiles" ("user")"#,
            [],
        )
        .unwrap();
        for c in schema.iter().filter(|c| c.is_view()) {
            let query = c.view_query().unwrap();
            conn.execute(&format!("CREATE VIEW {} AS {query}", quoted(&c.name)), [])
                .unwrap();
        }
        for (name, records) in rows() {
            let c = schema.by_name(name).unwrap();
            for record in records {
                let record = record.as_object().unwrap();
                let columns: Vec<(&str, SqlValue)> = c
                    .fields
                    .iter()
                    .filter_map(|f| {
                        record
                            .get(&f.name)
                            .map(|v| (f.name.as_str(), values::encode(f, v)))
                    })
                    .collect();
                let statement = sql::insert_record(&Sqlite, &c.name, &columns);
                let mut stmt = conn.prepare(&statement.sql).unwrap();
                for (i, param) in statement.params.into_iter().enumerate() {
                    let Param::Bound(v) = param else { unreachable!() };
                    stmt.raw_bind_parameter(i + 1, to_db(v)).unwrap();
                }
                stmt.raw_execute().unwrap();
            }
        }
        // Values only a foreign writer leaves (a hand-edited or imported database): not
        // JSON where the backend always writes JSON. Off by default, see README.
        if std::env::var_os("KB_FUZZ_FOREIGN").is_some() {
            conn.execute_batch(
                r#"INSERT INTO "posts" ("id","title","tags","editors","related","files","meta","loc")
                   VALUES ('f1','foreign','a','u1','p1,p2','x.png','{bad','');
                   INSERT INTO "users" ("id","friends","settings") VALUES ('f2','[u1','not json');
                   INSERT INTO "teams" ("id","members","settings") VALUES ('f3','','[1,');"#,
            )
            .unwrap();
        }
        // Readers are `query_only` in the backend.
        conn.pragma_update(None, "query_only", "ON").unwrap();
        conn.progress_handler(
            1000,
            Some(|| STEPS.fetch_add(1, Ordering::Relaxed) + 1 >= STEP_BUDGET),
        )
        .unwrap();

        let users = schema.by_name("users").unwrap();
        let mut auth = Value::Object(Default::default());
        for (name, records) in rows() {
            if name == "users" {
                auth = records[0].clone();
            }
        }
        auth["collectionId"] = users.id.clone().into();
        auth["collectionName"] = users.name.clone().into();
        let full = RequestInfo(json!({
            "auth": auth,
            "body": {
                "title": "new title", "views": 12, "published": true, "tags": ["a", "d"],
                "status": "live", "author": "u2", "editors": ["u1", "u3"], "team": "t1",
                "parent": "p1", "related": [], "meta": {"k": [5], "s": "z"},
                "loc": {"lon": 10, "lat": 20}, "body": "%_\\", "publishAt": "",
                "note": null, "name": "x", "members": ["u1"], "owner": "", "post": "p9",
                "user": "u1", "replies": "c1", "text": 5, "Title": {"o": 1}, "files": [[1], {"a": 2}]
            },
            "query": {"page": "1", "q": "it's 100%", "filter": "title ~ 'x'"},
            "headers": {"x_token": "abc", "content_type": "application/json", "accept": ""},
            "method": "PATCH",
            "context": "default"
        }));
        Fixture {
            schema,
            listing,
            conn: Mutex::new(conn),
            requests: vec![full, RequestInfo::default()],
            clock: Clock(jiff::Timestamp::from_second(1_767_225_599).unwrap()),
        }
    })
}

/// Findings already written up, to skip while hunting for new ones:
/// `KB_FUZZ_KNOWN="at most 64 tables in a join|..."` (substrings of the error message).
fn known() -> &'static [String] {
    static KNOWN: OnceLock<Vec<String>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        std::env::var("KB_FUZZ_KNOWN")
            .map(|v| {
                v.split('|')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    })
}

fn acceptable(message: &str) -> bool {
    let ok = ACCEPTABLE.iter().any(|a| message.contains(a))
        || known().iter().any(|k| message.contains(k.as_str()));
    if ok && std::env::var_os("KB_FUZZ_VERBOSE").is_some() {
        eprintln!("acceptable error: {message}");
    }
    ok
}

/// No client text may reach the SQL: the only quotes are the renderer's own constants.
fn check_no_literals(sql: &str, input: &str) {
    let stripped = ["'%'", "'[]'", "'array'", "''", "'\\'"]
        .iter()
        .fold(sql.to_owned(), |text, constant| text.replace(constant, ""));
    assert!(
        !stripped.contains('\''),
        "a string literal in the SQL\nSQL: {sql}\ninput: {input:?}"
    );
}

/// Runs one statement; false if it was stopped for running too long.
fn run(
    conn: &Connection,
    statement: &Statement,
    request: &RequestInfo,
    clock: Clock,
    input: &str,
) -> bool {
    check_no_literals(&statement.sql, input);
    let fail = |stage: &str, error: &dyn std::fmt::Display| -> ! {
        panic!(
            "SQLite rejected a rendered statement at {stage}: {error}\nSQL: {}\nparams: {:?}\ninput: {input:?}",
            statement.sql, statement.params
        )
    };
    STEPS.store(0, Ordering::Relaxed);
    STATS[2].fetch_add(1, Ordering::Relaxed);
    if std::env::var_os("KB_FUZZ_SQL").is_some() {
        eprintln!("SQL: {}\nparams: {:?}", statement.sql, statement.params);
    }
    let mut stmt = match conn.prepare(&statement.sql) {
        Ok(stmt) => stmt,
        Err(e) if acceptable(&e.to_string()) => return true,
        Err(e) => fail("prepare", &e),
    };
    assert_eq!(
        stmt.parameter_count(),
        statement.params.len(),
        "placeholders and parameters differ\nSQL: {}\ninput: {input:?}",
        statement.sql
    );
    for (i, param) in statement.params.iter().enumerate() {
        let value = match param {
            Param::Bound(v) => v.clone(),
            Param::Source(source) => values::param_value(source, request, clock),
        };
        if let Err(e) = stmt.raw_bind_parameter(i + 1, to_db(value)) {
            fail("bind", &e);
        }
    }
    let columns = stmt.column_count();
    let mut rows = stmt.raw_query();
    loop {
        match rows.next() {
            Ok(Some(row)) => {
                for i in 0..columns {
                    let _: ValueRef<'_> = row.get_ref(i).expect("a column in range");
                }
            }
            Ok(None) => break,
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::OperationInterrupted =>
            {
                // Over the step budget, see STEP_BUDGET.
                if std::env::var("KB_FUZZ_SLOW").is_ok_and(|v| v == "panic") {
                    panic!("slow statement\nSQL: {}\ninput: {input:?}", statement.sql);
                }
                if std::env::var_os("KB_FUZZ_VERBOSE").is_some() {
                    eprintln!("interrupted (step budget): {}", statement.sql);
                }
                return false;
            }
            Err(e) if acceptable(&e.to_string()) => break,
            Err(e) => fail("step", &e),
        }
    }
    true
}

/// Bytes as a stream of choices, for the generated mode (0 once exhausted).
struct Choices<'a> {
    bytes: &'a [u8],
    /// Index of the collection most paths start from (filters are meant for one).
    home: usize,
}

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((b, rest)) => {
                self.bytes = rest;
                *b
            }
            None => 0,
        }
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    fn pick<'s>(&mut self, items: &[&'s str]) -> &'s str {
        items[self.below(items.len())]
    }

    fn done(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The home collection mostly, sometimes any other.
    fn start<'s>(&mut self, schema: &'s Schema) -> &'s Collection {
        let all: Vec<&Collection> = schema.iter().map(|c| &**c).collect();
        if self.below(5) == 0 {
            all[self.below(all.len())]
        } else {
            all[self.home % all.len()]
        }
    }
}

const OPS: &[&str] = &[
    "=", "!=", ">", ">=", "<", "<=", "~", "!~", "?=", "?!=", "?>", "?>=", "?<", "?<=", "?~", "?!~",
];
const TEXTS: &[&str] = &[
    "\"\"",
    "\"x\"",
    "'%'",
    "\"_\"",
    "\"a%\"",
    "\"%\\\\\"",
    "\"\\\\\"",
    "\"it's\"",
    "'\"q\"'",
    "\"u1\"",
    "\"p1\"",
    "\"Ann\"",
    "\"2024-01-01 00:00:00.000Z\"",
    "\"é日本🎉\"",
    "\"[1,2]\"",
    "\"{}\"",
    "\"%_%\"",
    "\"1e999\"",
];
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "10.50",
    "-14",
    "9007199254740993",
    "18446744073709551616",
    "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999.5",
];
const MACROS: &[&str] = &[
    "@now",
    "@yesterday",
    "@tomorrow",
    "@todayStart",
    "@todayEnd",
    "@monthStart",
    "@monthEnd",
    "@yearStart",
    "@yearEnd",
    "@second",
    "@minute",
    "@hour",
    "@day",
    "@month",
    "@weekday",
    "@year",
    "null",
    "true",
    "false",
    "NULL",
    "True",
];
const MODIFIERS: &[&str] = &[
    "", "", "", "", "", "", ":lower", ":each", ":length", ":isset", ":changed", ":nope",
];
const JSON_KEYS: &[&str] = &[
    "k", "s", "0", "1", "deep", "a", "b", "c", "lat", "lon", "theme", "99", "x",
];
const REQUEST_KEYS: &[&str] = &["q", "page", "x_token", "accept", "missing", "filter"];

/// A random field path from `collection`, following relations and back-relations.
fn gen_path<'s>(
    c: &mut Choices<'_>,
    schema: &'s Schema,
    mut collection: &'s Collection,
    out: &mut String,
) {
    for hop in 0..9 {
        if hop > 0 {
            out.push('.');
        }
        // Back-relation: a relation of any collection that points here (random case).
        if c.below(6) == 0 {
            let sources: Vec<(&Collection, &kb_core::Field)> = schema
                .iter()
                .flat_map(|s| s.relations_to(&collection.id).map(move |f| (&**s, f)))
                .collect();
            if !sources.is_empty() {
                let (source, field) = sources[c.below(sources.len())];
                for ch in source.name.chars() {
                    out.push(if c.below(8) == 0 {
                        ch.to_ascii_uppercase()
                    } else {
                        ch
                    });
                }
                out.push_str("_via_");
                out.push_str(&field.name);
                collection = source;
                if c.below(3) == 0 {
                    return;
                }
                continue;
            }
        }
        let field = &collection.fields[c.below(collection.fields.len())];
        out.push_str(&field.name);
        match &field.kind {
            kb_core::field::FieldKind::Relation(r) if c.below(3) != 0 => {
                if let Some(target) = schema.by_id(&r.collection_id) {
                    collection = target;
                    continue;
                }
            }
            kb_core::field::FieldKind::Json(_) | kb_core::field::FieldKind::GeoPoint(_) => {
                for _ in 0..c.below(4) {
                    out.push('.');
                    out.push_str(c.pick(JSON_KEYS));
                }
            }
            _ => {}
        }
        out.push_str(c.pick(MODIFIERS));
        return;
    }
}

fn gen_operand(c: &mut Choices<'_>, schema: &Schema, depth: usize, out: &mut String) {
    match c.below(12) {
        0 => out.push_str(c.pick(TEXTS)),
        1 => out.push_str(c.pick(NUMBERS)),
        2 => out.push_str(c.pick(MACROS)),
        3 => {
            out.push_str("@request.");
            match c.below(6) {
                0 => {
                    out.push_str("auth.");
                    gen_path(c, schema, schema.by_name("users").unwrap(), out);
                }
                1 => {
                    out.push_str("body.");
                    let target = c.start(schema);
                    gen_path(c, schema, target, out);
                }
                2 => {
                    out.push_str(c.pick(&["query.", "headers."]));
                    out.push_str(c.pick(REQUEST_KEYS));
                    out.push_str(c.pick(MODIFIERS));
                }
                3 => {
                    out.push_str(c.pick(&["method", "context"]));
                    out.push_str(c.pick(MODIFIERS));
                }
                _ => {
                    out.push_str(c.pick(&[
                        "auth.id",
                        "auth.collectionId",
                        "auth.email",
                        "auth.verified",
                    ]));
                    out.push_str(c.pick(MODIFIERS));
                }
            }
        }
        4 => {
            let all: Vec<&Collection> = schema.iter().map(|c| &**c).collect();
            let target = all[c.below(all.len())];
            out.push_str("@collection.");
            out.push_str(&target.name);
            if c.below(2) == 0 {
                out.push_str(":a");
                out.push(char::from(b'0' + c.below(10) as u8));
            }
            out.push('.');
            gen_path(c, schema, target, out);
        }
        5 if depth < 3 => {
            let (name, args) = if c.below(2) == 0 {
                ("geoDistance(", 4)
            } else {
                out.push_str("strftime(");
                out.push_str(c.pick(&[
                    "'%Y'",
                    "'%s'",
                    "\"%Y-%m-%d %H\"",
                    "'%%'",
                    "''",
                    "'%J %f %w'",
                ]));
                ("", c.below(10))
            };
            out.push_str(name);
            for i in 0..args {
                if i > 0 || name.is_empty() {
                    out.push_str(", ");
                }
                gen_operand(c, schema, depth + 1, out);
            }
            out.push(')');
        }
        _ => {
            let target = c.start(schema);
            gen_path(c, schema, target, out);
        }
    }
}

fn gen_expr(c: &mut Choices<'_>, schema: &Schema, depth: usize, out: &mut String) {
    match c.below(8) {
        0 if depth < 6 => {
            out.push('(');
            gen_expr(c, schema, depth + 1, out);
            out.push(')');
        }
        1 | 2 if depth < 40 && !c.done() => {
            gen_expr(c, schema, depth + 1, out);
            out.push_str(c.pick(&[" && ", " || "]));
            gen_expr(c, schema, depth + 1, out);
        }
        _ => {
            gen_operand(c, schema, 0, out);
            out.push(' ');
            out.push_str(c.pick(OPS));
            out.push(' ');
            gen_operand(c, schema, 0, out);
        }
    }
}

/// Generated mode: a syntactically valid filter and sort over the fixture's schema, so most
/// inputs reach resolution and SQL instead of stopping in the parser.
fn generate(data: &[u8], schema: &Schema) -> (String, String) {
    let mut c = Choices {
        bytes: data,
        home: 0,
    };
    c.home = c.below(schema.len());
    let mut filter = String::new();
    gen_expr(&mut c, schema, 0, &mut filter);
    let mut sort = String::new();
    for i in 0..c.below(4) {
        if i > 0 {
            sort.push(',');
        }
        sort.push_str(c.pick(&["", "-", "+"]));
        match c.below(6) {
            0 => sort.push_str(c.pick(&["@random", "@rowid", "null", "@now", "@request.auth.id"])),
            _ => {
                let target = c.start(schema);
                gen_path(&mut c, schema, target, &mut sort);
            }
        }
    }
    (filter, sort)
}

fuzz_target!(|data: &[u8]| {
    let seen = STATS[0].fetch_add(1, Ordering::Relaxed) + 1;
    if seen.is_multiple_of(65536) && std::env::var_os("KB_FUZZ_STATS").is_some() {
        eprintln!(
            "filter_to_sql: {seen} inputs, {} resolved, {} statements run",
            STATS[1].load(Ordering::Relaxed),
            STATS[2].load(Ordering::Relaxed)
        );
    }
    let (filter_src, sort_src) = match data.split_first() {
        // Generated mode (see `generate`).
        Some((0xff, rest)) => generate(rest, &fixture().schema),
        _ => {
            let (filter_bytes, sort_bytes) = match data.iter().position(|&b| b == 0) {
                Some(at) => (&data[..at], &data[at + 1..]),
                None => (data, &[][..]),
            };
            (
                String::from_utf8_lossy(filter_bytes).into_owned(),
                String::from_utf8_lossy(sort_bytes).into_owned(),
            )
        }
    };
    if std::env::var_os("KB_FUZZ_PRINT").is_some() {
        eprintln!("filter: {filter_src:?}\nsort: {sort_src:?}");
    }
    let expr = parse_filter(&filter_src).ok().flatten();
    let sort_items = parse_sort(&sort_src).unwrap_or_default();
    if expr.is_none() && sort_items.is_empty() {
        return;
    }
    let input = format!("{filter_src}\0{sort_src}");

    let fx = fixture();
    let conn = fx.conn.lock().unwrap_or_else(|p| p.into_inner());
    let users = fx.schema.by_name("users").unwrap();
    // What kb-app resolves with (records.rs `client_options`, app.rs `compile_rule`,
    // collections.rs `list_collections`).
    let guest = ResolveOptions {
        respect_list_rules: true,
        ..ResolveOptions::default()
    };
    let user = ResolveOptions {
        auth_collection: Some(users),
        respect_list_rules: true,
        ..ResolveOptions::default()
    };
    let rule = ResolveOptions {
        allow_hidden: true,
        allow_request: true,
        auth_collection: Some(users),
        respect_list_rules: false,
    };
    // A superuser, or a rule without an auth collection (how rules are validated).
    let superuser = ResolveOptions {
        allow_hidden: true,
        allow_request: true,
        auth_collection: None,
        respect_list_rules: false,
    };
    let plain = ResolveOptions::default();

    let mut targets: Vec<(&Collection, &ResolveOptions<'_>)> = Vec::new();
    for c in fx.schema.iter() {
        targets.push((c, &guest));
        targets.push((c, &user));
        targets.push((c, &rule));
        targets.push((c, &superuser));
        targets.push((c, &plain));
    }
    targets.push((&fx.listing, &plain));

    let mut resolved_any = false;
    for (collection, options) in targets {
        let plan: Option<FilterPlan> = expr
            .as_ref()
            .and_then(|e| resolve_filter(e, &fx.schema, collection, options).ok());
        // Any subset of the entries is a sort some client can send, so keep those that
        // resolve rather than dropping the whole list.
        let keys: Vec<(SortKey, bool)> = sort_items
            .iter()
            .filter_map(|item| {
                resolve_sort_key(&item.field, &fx.schema, collection, options)
                    .ok()
                    // kb-app refuses `@rowid` on a view (records.rs `sort_keys`).
                    .filter(|k| !(collection.is_view() && matches!(k, SortKey::RowId)))
                    .map(|k| (k, item.descending))
            })
            .collect();
        if plan.is_none() && keys.is_empty() {
            continue;
        }
        if !resolved_any {
            resolved_any = true;
            STATS[1].fetch_add(1, Ordering::Relaxed);
        }
        let specs: Vec<SortSpec<'_>> = keys
            .iter()
            .map(|(key, descending)| SortSpec {
                key,
                descending: *descending,
            })
            .collect();
        // A non-superuser's list also carries the collection's list rule, compiled as
        // kb-app does (`compile_rule`: rule options with the requester's auth collection).
        let list_rule: Option<FilterPlan> = if options.respect_list_rules {
            collection
                .rules
                .list_rule
                .as_deref()
                .and_then(|text| parse_filter(text).ok().flatten())
                .and_then(|e| {
                    let rule_options = ResolveOptions {
                        allow_hidden: true,
                        allow_request: true,
                        auth_collection: options.auth_collection,
                        respect_list_rules: false,
                    };
                    resolve_filter(&e, &fx.schema, collection, &rule_options).ok()
                })
        } else {
            None
        };
        let conditions: Vec<&FilterPlan> = list_rule.iter().chain(plan.iter()).collect();
        let mut statements = vec![
            sql::select_records(&Sqlite, collection, &conditions, &specs, Some(30), 0),
            sql::count_records(&Sqlite, collection, &conditions),
        ];
        if options.allow_request
            && let Some(plan) = &plan
        {
            // A rule and a client filter on the same statement; the rule-guarded reads.
            let both = [plan, plan];
            statements.push(sql::select_records(
                &Sqlite,
                collection,
                &both,
                &specs,
                Some(1),
                1,
            ));
            statements.push(sql::select_record(&Sqlite, collection, "p1", &[plan]));
            statements.push(sql::select_records_by_ids(
                &Sqlite,
                collection,
                &["u1".into(), "p2".into(), "nope".into()],
                &[plan],
            ));
            if let Some(field) = collection.fields.iter().find(|f| f.relation().is_some()) {
                statements.push(sql::select_referencing(
                    &Sqlite,
                    collection,
                    field,
                    "u1",
                    &[plan],
                    Some(10),
                ));
            }
        }
        // A statement stopped for its run time says the same of its siblings: skip them.
        let finished = statements.iter().all(|statement| {
            fx.requests
                .iter()
                .all(|request| run(&conn, statement, request, fx.clock, &input))
        });
        if !finished {
            continue;
        }
        // Decoding what the select returns must not panic either.
        let statement = &statements[0];
        STEPS.store(0, Ordering::Relaxed);
        if let Ok(mut stmt) = conn.prepare(&statement.sql) {
            for (i, param) in statement.params.iter().enumerate() {
                let value = match param {
                    Param::Bound(v) => v.clone(),
                    Param::Source(source) => values::param_value(source, &fx.requests[0], fx.clock),
                };
                let _ = stmt.raw_bind_parameter(i + 1, to_db(value));
            }
            let mut rows = stmt.raw_query();
            while let Ok(Some(row)) = rows.next() {
                for (i, field) in collection.fields.iter().enumerate() {
                    let raw = match row.get_ref(i).unwrap() {
                        ValueRef::Null => SqlValue::Null,
                        ValueRef::Integer(n) => SqlValue::Integer(n),
                        ValueRef::Real(r) => SqlValue::Real(r),
                        ValueRef::Text(t) | ValueRef::Blob(t) => {
                            SqlValue::Text(String::from_utf8_lossy(t).into_owned())
                        }
                    };
                    let _ = values::decode(field, raw);
                }
            }
        }
    }
});
