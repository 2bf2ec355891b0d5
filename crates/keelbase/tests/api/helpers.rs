//! The test kit: a real Keelbase server on a free port with a fresh data directory, a
//! logged-in superuser, and one typed helper per endpoint.
//!
//! Every test gets its own `TestApp` (its own temp dir, its own SQLite or PostgreSQL
//! database), so tests never share state and can run in parallel.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use keelbase::{Config, Server};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SU_EMAIL: &str = "admin@example.com";
pub const SU_PASSWORD: &str = "adminpass123456";
pub const SUPERUSERS_ID: &str = "pbc_3142635823";

pub const BAD_REQUEST: &str = "Something went wrong while processing your request.";
pub const NOT_FOUND: &str = "The requested resource wasn't found.";
pub const NEEDS_AUTH: &str = "The request requires valid record authorization token.";
pub const SUPERUSERS_ONLY: &str = "Only superusers can perform this action.";

/// A full HTTP answer, for tests that look at headers or the raw text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// The body parsed as JSON (`Value::Null` when empty or not JSON).
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    pub fn pair(self) -> (u16, Value) {
        (self.status, self.body)
    }
}

/// An HTTP client bound to one server and one identity (a token, or none for a guest).
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("build the HTTP client")
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Client {
        Client {
            http: http_client(),
            base: base.to_owned(),
            token,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with this client's `Authorization` header (the bare JWT, as the SDK sends).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.http.request(method, self.url(path));
        match &self.token {
            Some(token) => builder.header("Authorization", token),
            None => builder,
        }
    }

    pub async fn send(&self, builder: RequestBuilder) -> Resp {
        let resp = self.send_unchecked(builder).await;
        assert!(
            resp.status < 500,
            "the server answered {} (never expected from these tests): {}",
            resp.status,
            resp.text
        );
        resp
    }

    /// `send` without the "never a 5xx" assertion, for tests that collect several outcomes.
    pub async fn send_unchecked(&self, builder: RequestBuilder) -> Resp {
        let response = builder.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("read the response body");
        let body = serde_json::from_str(&text)
            .map(normalize_numbers)
            .unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            body,
        }
    }

    pub async fn raw(&self, method: Method, path: &str) -> Resp {
        self.send(self.request(method, path)).await
    }

    /// A request with a raw body and content type.
    pub async fn raw_body(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Resp {
        self.send(
            self.request(method, path)
                .header("Content-Type", content_type)
                .body(body),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.raw(Method::GET, path).await.pair()
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.raw(Method::DELETE, path).await.pair()
    }

    pub async fn json(&self, method: Method, path: &str, body: &Value) -> (u16, Value) {
        self.raw_body(method, path, "application/json", body.to_string())
            .await
            .pair()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.json(Method::POST, path, body).await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.json(Method::PATCH, path, body).await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.json(Method::PUT, path, body).await
    }

    // ---- records ----

    pub async fn list(&self, collection: &str, query: &[(&str, &str)]) -> (u16, Value) {
        self.get(&format!(
            "/api/collections/{}/records{}",
            enc(collection),
            qs(query)
        ))
        .await
    }

    /// List and expect 200.
    pub async fn list_ok(&self, collection: &str, query: &[(&str, &str)]) -> Value {
        let (status, body) = self.list(collection, query).await;
        assert_eq!(status, 200, "list {collection} {query:?}: {body}");
        body
    }

    pub async fn view(&self, collection: &str, id: &str, query: &[(&str, &str)]) -> (u16, Value) {
        self.get(&format!(
            "/api/collections/{}/records/{}{}",
            enc(collection),
            enc(id),
            qs(query)
        ))
        .await
    }

    pub async fn view_ok(&self, collection: &str, id: &str, query: &[(&str, &str)]) -> Value {
        let (status, body) = self.view(collection, id, query).await;
        assert_eq!(status, 200, "view {collection}/{id} {query:?}: {body}");
        body
    }

    pub async fn try_create(&self, collection: &str, body: &Value) -> (u16, Value) {
        self.post_json(
            &format!("/api/collections/{}/records", enc(collection)),
            body,
        )
        .await
    }

    pub async fn try_create_q(
        &self,
        collection: &str,
        query: &[(&str, &str)],
        body: &Value,
    ) -> (u16, Value) {
        self.post_json(
            &format!("/api/collections/{}/records{}", enc(collection), qs(query)),
            body,
        )
        .await
    }

    /// Create a record and expect 200.
    pub async fn create_record(&self, collection: &str, body: &Value) -> Value {
        let (status, created) = self.try_create(collection, body).await;
        assert_eq!(status, 200, "create in {collection} with {body}: {created}");
        created
    }

    pub async fn try_update(&self, collection: &str, id: &str, body: &Value) -> (u16, Value) {
        self.patch_json(
            &format!("/api/collections/{}/records/{}", enc(collection), enc(id)),
            body,
        )
        .await
    }

    pub async fn try_update_q(
        &self,
        collection: &str,
        id: &str,
        query: &[(&str, &str)],
        body: &Value,
    ) -> (u16, Value) {
        self.patch_json(
            &format!(
                "/api/collections/{}/records/{}{}",
                enc(collection),
                enc(id),
                qs(query)
            ),
            body,
        )
        .await
    }

    pub async fn update_record(&self, collection: &str, id: &str, body: &Value) -> Value {
        let (status, updated) = self.try_update(collection, id, body).await;
        assert_eq!(
            status, 200,
            "update {collection}/{id} with {body}: {updated}"
        );
        updated
    }

    pub async fn delete_record(&self, collection: &str, id: &str) -> Resp {
        self.raw(
            Method::DELETE,
            &format!("/api/collections/{}/records/{}", enc(collection), enc(id)),
        )
        .await
    }

    /// Total number of records of a collection (as seen by this client).
    pub async fn count(&self, collection: &str) -> i64 {
        let list = self.list_ok(collection, &[("perPage", "1")]).await;
        list["totalItems"].as_i64().expect("totalItems")
    }

    /// Ids of the records matching `filter`, in insertion (`@rowid`) order.
    pub async fn ids_where(&self, collection: &str, filter: &str) -> Vec<String> {
        let list = self
            .list_ok(
                collection,
                &[("filter", filter), ("sort", "@rowid"), ("perPage", "1000")],
            )
            .await;
        item_ids(&list)
    }

    // ---- collections ----

    pub async fn try_create_collection(&self, body: &Value) -> (u16, Value) {
        self.post_json("/api/collections", body).await
    }

    /// Create a collection and expect 200.
    pub async fn create_collection(&self, body: &Value) -> Value {
        let (status, created) = self.try_create_collection(body).await;
        assert_eq!(status, 200, "create collection {body}: {created}");
        created
    }

    pub async fn collection(&self, id_or_name: &str) -> (u16, Value) {
        self.get(&format!("/api/collections/{}", enc(id_or_name)))
            .await
    }

    pub async fn collection_ok(&self, id_or_name: &str) -> Value {
        let (status, body) = self.collection(id_or_name).await;
        assert_eq!(status, 200, "view collection {id_or_name}: {body}");
        body
    }

    pub async fn try_update_collection(&self, id_or_name: &str, body: &Value) -> (u16, Value) {
        self.patch_json(&format!("/api/collections/{}", enc(id_or_name)), body)
            .await
    }

    pub async fn update_collection(&self, id_or_name: &str, body: &Value) -> Value {
        let (status, updated) = self.try_update_collection(id_or_name, body).await;
        assert_eq!(
            status, 200,
            "update collection {id_or_name} with {body}: {updated}"
        );
        updated
    }

    pub async fn delete_collection(&self, id_or_name: &str) -> Resp {
        self.raw(
            Method::DELETE,
            &format!("/api/collections/{}", enc(id_or_name)),
        )
        .await
    }

    pub async fn truncate(&self, id_or_name: &str) -> Resp {
        self.raw(
            Method::DELETE,
            &format!("/api/collections/{}/truncate", enc(id_or_name)),
        )
        .await
    }

    pub async fn import(&self, body: &Value) -> Resp {
        self.raw_body(
            Method::PUT,
            "/api/collections/import",
            "application/json",
            body.to_string(),
        )
        .await
    }

    // ---- auth ----

    pub async fn auth_with_password(
        &self,
        collection: &str,
        identity: &str,
        password: &str,
    ) -> (u16, Value) {
        self.post_json(
            &format!("/api/collections/{}/auth-with-password", enc(collection)),
            &json!({"identity": identity, "password": password}),
        )
        .await
    }
}

/// A running server with its own data directory and a logged-in superuser. Derefs to the
/// superuser's `Client`; `guest()` gives an anonymous one.
pub struct TestApp {
    pub addr: SocketAddr,
    pub su: Client,
    pub su_id: String,
    pub app: Arc<kb_app::App>,
    dir: Option<DataDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<keelbase::Stopped>>>,
}

impl std::ops::Deref for TestApp {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.su
    }
}

impl TestApp {
    /// A fresh server: new temp dir, port 0, a superuser created through the library and
    /// logged in over HTTP.
    pub async fn spawn() -> TestApp {
        let dir = tempfile::Builder::new()
            .prefix("keelbase-api-")
            .tempdir()
            .expect("create a temp dir");
        TestApp::spawn_in(dir).await
    }

    /// Start a server on an existing data directory (a restart when it was used before; the
    /// superuser is only created when missing, so earlier tokens stay valid).
    pub async fn spawn_in(dir: impl Into<DataDir>) -> TestApp {
        let dir = dir.into();
        let server = Server::build(Config {
            http: "127.0.0.1:0".parse().expect("address"),
            data_dir: dir.path().to_owned(),
            database_url: test_database_url(dir.path()).await,
        })
        .await
        .expect("build the server");
        let addr = server.local_addr();
        let app = server.app();
        if !app.has_superusers().await.expect("look up superusers") {
            app.upsert_superuser(SU_EMAIL, SU_PASSWORD)
                .await
                .expect("create the superuser");
        }
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        let base = format!("http://{addr}");
        let guest = Client::new(&base, None);
        let (status, auth) = guest
            .auth_with_password("_superusers", SU_EMAIL, SU_PASSWORD)
            .await;
        assert_eq!(status, 200, "superuser login: {auth}");
        let token = auth["token"].as_str().expect("token").to_owned();
        let su_id = auth["record"]["id"].as_str().expect("record id").to_owned();
        TestApp {
            addr,
            su: Client::new(&base, Some(token)),
            su_id,
            app,
            dir: Some(dir),
            shutdown: Some(tx),
            server: Some(handle),
        }
    }

    pub fn base(&self) -> &str {
        &self.su.base
    }

    pub fn token(&self) -> &str {
        self.su.token.as_deref().expect("superuser token")
    }

    pub fn guest(&self) -> Client {
        Client::new(&self.su.base, None)
    }

    pub fn with_token(&self, token: &str) -> Client {
        Client::new(&self.su.base, Some(token.to_owned()))
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.as_ref().expect("the data directory").path()
    }

    /// The database this app runs on; tests whose expectations differ between the two
    /// (wording, limits, native types) branch on this alone.
    pub fn backend(&self) -> Backend {
        match pg_database_name(self.data_dir()) {
            Some(_) => Backend::Postgres,
            None => Backend::Sqlite,
        }
    }

    /// The live database, for the introspection helpers below: the SQLite file or the
    /// test's PostgreSQL database.
    pub fn db(&self) -> TestDb {
        TestDb::open(self.data_dir())
    }

    /// Graceful shutdown: stop accepting, finish in-flight requests, close the database.
    /// Returns the data directory so a new server can be started on it.
    pub async fn stop(mut self) -> DataDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.server.take() {
            handle
                .await
                .expect("the server task does not panic")
                .expect("the server stops cleanly");
        }
        self.dir.take().expect("the data directory")
    }

    /// Stop and start again on the same data directory.
    pub async fn restart(self) -> TestApp {
        let dir = self.stop().await;
        TestApp::spawn_in(dir).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A test app's data directory and, on PostgreSQL, its database: both go when this is
/// dropped (a stopped app hands it on, for a restart or a look at what it left behind).
pub struct DataDir {
    dir: TempDir,
}

impl DataDir {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl From<TempDir> for DataDir {
    fn from(dir: TempDir) -> Self {
        DataDir { dir }
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if let Some(name) = pg_database_name(self.path()) {
            drop_pg_database(name);
        }
    }
}

// ---- PostgreSQL (KEELBASE_TEST_DB=postgres) ----

/// The file in a test's data directory naming its PostgreSQL database.
const PG_DATABASE_MARKER: &str = "pg-database";

pub fn pg_server_url() -> String {
    std::env::var("KEELBASE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn pg_database_name(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join(PG_DATABASE_MARKER)).ok()
}

/// Where a test server keeps its records: `None` (SQLite in the data directory) unless
/// `KEELBASE_TEST_DB=postgres`, then a fresh database of its own on the local server,
/// created on first start and kept across restarts of the same data directory.
async fn test_database_url(dir: &Path) -> Option<String> {
    if std::env::var("KEELBASE_TEST_DB").ok()? != "postgres" {
        return None;
    }
    let name = match pg_database_name(dir) {
        Some(name) => name,
        None => {
            let name = format!("kb_test_{}", database_suffix(dir));
            kb_store::postgres::create_database(&format!("{}/test", pg_server_url()), &name)
                .await
                .expect("create the test database");
            std::fs::write(dir.join(PG_DATABASE_MARKER), &name).expect("write the marker");
            name
        }
    };
    Some(format!("{}/{name}", pg_server_url()))
}

/// A database-name-safe suffix unique to this data directory.
fn database_suffix(dir: &Path) -> String {
    let unique: String = dir
        .file_name()
        .map(|name| name.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("{unique}_{}", std::process::id())
}

/// Drop a test database from a runtime of its own (`Drop` cannot await), ending the
/// server's connections that may still be open.
pub fn drop_pg_database(name: String) {
    let dropped = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| {
                rt.block_on(kb_store::postgres::drop_database(
                    &format!("{}/test", pg_server_url()),
                    &name,
                ))
            })
    })
    .join();
    if !matches!(dropped, Ok(Ok(Ok(())))) {
        eprintln!("could not drop a test database");
    }
}

pub fn open_db_read_only(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open data.db")
}

// ---- The test database (SQLite or PostgreSQL) ----

/// Which database a test server keeps its records in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What a field's column holds, for checks of the native type each backend declares it with.
#[derive(Clone, Copy, Debug)]
pub enum ColumnKind {
    Text,
    Number,
    Bool,
    /// Multi-value and geo fields.
    Json,
    /// A json field's value, kept exactly as written (text on PostgreSQL).
    Document,
}

impl ColumnKind {
    /// SQLite's declared type, or the PostgreSQL type of the column.
    pub fn native_type(self, backend: Backend) -> &'static str {
        match (backend, self) {
            (Backend::Sqlite, ColumnKind::Text) => "TEXT",
            (Backend::Sqlite, ColumnKind::Number) => "NUMERIC",
            (Backend::Sqlite, ColumnKind::Bool) => "BOOLEAN",
            (Backend::Sqlite, ColumnKind::Json | ColumnKind::Document) => "JSON",
            (Backend::Postgres, ColumnKind::Text | ColumnKind::Document) => "text",
            (Backend::Postgres, ColumnKind::Number) => "double precision",
            (Backend::Postgres, ColumnKind::Bool) => "boolean",
            (Backend::Postgres, ColumnKind::Json) => "jsonb",
        }
    }
}

/// The database a test app keeps its records in. Checks reach it with SQL both backends
/// read alike: double-quoted identifiers, `$1`-style placeholders, every value as text.
pub enum TestDb {
    /// Read-write, so tests can plant data; WAL lets it work alongside the server.
    Sqlite(rusqlite::Connection),
    /// The URL of the test's PostgreSQL database.
    Postgres(String),
}

/// Rows of a query, each value in the backend's text form (`None` for NULL).
pub type TextRows = Vec<Vec<Option<String>>>;

/// `$1`, `$2`, …: the placeholders of the SQL the checks write.
static PLACEHOLDER: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"\$(\d+)").expect("the placeholder pattern"));

impl TestDb {
    /// The database of the (running or stopped) test app with data directory `dir`.
    pub fn open(dir: &Path) -> TestDb {
        let Some(name) = pg_database_name(dir) else {
            let db = rusqlite::Connection::open_with_flags(
                dir.join("data.db"),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
            )
            .expect("open data.db");
            // A write waits for the server's transaction instead of failing at once.
            db.busy_timeout(std::time::Duration::from_secs(5))
                .expect("set the busy timeout");
            return TestDb::Sqlite(db);
        };
        TestDb::Postgres(format!("{}/{name}", pg_server_url()))
    }

    /// The hidden column that numbers a collection's rows in insertion order (`@rowid`).
    pub fn rowid_column(&self) -> &'static str {
        match self {
            TestDb::Sqlite(_) => "rowid",
            TestDb::Postgres(_) => kb_store::postgres::ROWID_COLUMN,
        }
    }

    /// The rows of `sql`, every value as text.
    pub fn rows(&self, sql: &str, params: &[&str]) -> TextRows {
        match self {
            TestDb::Sqlite(db) => sqlite_rows(db, sql, params),
            TestDb::Postgres(url) => pg_query(url, sql, params).0,
        }
    }

    /// The first column of each row of `sql`, as text; a NULL fails the test.
    pub fn column(&self, sql: &str, params: &[&str]) -> Vec<String> {
        self.rows(sql, params)
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .next()
                    .flatten()
                    .unwrap_or_else(|| panic!("a value in the first column of {sql}"))
            })
            .collect()
    }

    /// The one value of a query that answers one row.
    pub fn value(&self, sql: &str, params: &[&str]) -> String {
        match <[String; 1]>::try_from(self.column(sql, params)) {
            Ok([value]) => value,
            Err(values) => panic!("one row from {sql}, got {values:?}"),
        }
    }

    /// Run a statement that changes data behind the server's back; returns the rows changed.
    pub fn execute(&self, sql: &str, params: &[&str]) -> u64 {
        match self {
            TestDb::Sqlite(db) => {
                let sql = PLACEHOLDER.replace_all(sql, "?$1");
                let changed = db
                    .execute(&sql, rusqlite::params_from_iter(params))
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                changed as u64
            }
            TestDb::Postgres(url) => pg_query(url, sql, params).1,
        }
    }

    /// What the database's own consistency check finds wrong (nothing when sound): SQLite's
    /// `PRAGMA integrity_check`, on PostgreSQL `amcheck` over every table and B-tree index
    /// (an index that disagrees with its table fails the check outright).
    pub fn integrity_problems(&self) -> Vec<String> {
        match self {
            TestDb::Sqlite(_) => self
                .column("PRAGMA integrity_check", &[])
                .into_iter()
                .filter(|line| line != "ok")
                .collect(),
            TestDb::Postgres(_) => {
                self.execute(
                    "CREATE EXTENSION IF NOT EXISTS amcheck; \
                     SELECT bt_index_check(c.oid, true) FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     JOIN pg_am a ON a.oid = c.relam \
                     WHERE n.nspname = 'public' AND c.relkind = 'i' AND a.amname = 'btree'",
                    &[],
                );
                self.column(
                    "SELECT c.relname || ': ' || v.msg FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace, LATERAL verify_heapam(c.oid) v \
                     WHERE n.nspname = 'public' AND c.relkind = 'r'",
                    &[],
                )
            }
        }
    }
}

fn sqlite_rows(db: &rusqlite::Connection, sql: &str, params: &[&str]) -> TextRows {
    use rusqlite::types::ValueRef;
    let sql = PLACEHOLDER.replace_all(sql, "?$1");
    let mut statement = db.prepare(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let width = statement.column_count();
    statement
        .query_map(rusqlite::params_from_iter(params), |row| {
            (0..width)
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        ValueRef::Null => None,
                        ValueRef::Integer(n) => Some(n.to_string()),
                        ValueRef::Real(x) => Some(x.to_string()),
                        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
                            Some(String::from_utf8_lossy(bytes).into_owned())
                        }
                    })
                })
                .collect()
        })
        .and_then(Iterator::collect)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The rows of `sql` on a test's PostgreSQL database and the rows its last statement
/// changed. Sent through the simple protocol, which answers every type as text, with each
/// `$n` inlined as a string literal, which PostgreSQL types from where it stands (a jsonb
/// column takes it as JSON), as it would a bound parameter. Runs on a runtime of its own so
/// the synchronous helpers can be called anywhere.
fn pg_query(url: &str, sql: &str, params: &[&str]) -> (TextRows, u64) {
    use kb_store::postgres::tokio_postgres::{self, SimpleQueryMessage};
    let sql = PLACEHOLDER
        .replace_all(sql, |found: &regex::Captures<'_>| {
            let index: usize = found[1].parse().expect("a placeholder number");
            let value = params
                .get(index - 1)
                .unwrap_or_else(|| panic!("no parameter ${index} for {sql}"));
            format!("'{}'", value.replace('\'', "''"))
        })
        .into_owned();
    let url = url.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect to the test database");
            tokio::spawn(connection);
            let messages = client
                .simple_query(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            let (mut rows, mut changed) = (Vec::new(), 0);
            for message in messages {
                match message {
                    SimpleQueryMessage::Row(row) => {
                        rows.push(
                            (0..row.len())
                                .map(|i| row.get(i).map(str::to_owned))
                                .collect(),
                        );
                    }
                    SimpleQueryMessage::CommandComplete(count) => changed = count,
                    _ => {}
                }
            }
            (rows, changed)
        })
    })
    .join()
    .expect("the query thread")
}

/// What the introspection helpers need from a database.
pub trait Introspect {
    /// `(name, declared type, pk)` of each column of a table, in order.
    fn table_columns(&self, table: &str) -> Vec<(String, String, bool)>;
    /// The `type` of a schema object (`table`, `view`, `index`), if it exists.
    fn schema_object(&self, name: &str) -> Option<String>;
    /// Names of the indexes on a table (excluding the primary key's), sorted.
    fn index_names(&self, table: &str) -> Vec<String>;
    fn row_count(&self, table: &str) -> i64;
}

fn quote_table(table: &str) -> String {
    format!("\"{}\"", table.replace('"', "\"\""))
}

impl Introspect for rusqlite::Connection {
    fn table_columns(&self, table: &str) -> Vec<(String, String, bool)> {
        let mut stmt = self
            .prepare("SELECT name, type, pk FROM pragma_table_info(?1) ORDER BY cid")
            .expect("prepare table_info");
        stmt.query_map([table], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)? > 0,
            ))
        })
        .expect("query table_info")
        .map(|r| r.expect("row"))
        .collect()
    }

    fn schema_object(&self, name: &str) -> Option<String> {
        self.query_row(
            "SELECT type FROM sqlite_master WHERE name = ?1",
            [name],
            |row| row.get(0),
        )
        .ok()
    }

    fn index_names(&self, table: &str) -> Vec<String> {
        let mut stmt = self
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 \
                 AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
            )
            .expect("prepare");
        stmt.query_map([table], |row| row.get::<_, String>(0))
            .expect("query")
            .map(|r| r.expect("row"))
            .collect()
    }

    fn row_count(&self, table: &str) -> i64 {
        self.query_row(
            &format!("SELECT count(*) FROM {}", quote_table(table)),
            [],
            |row| row.get(0),
        )
        .expect("count rows")
    }
}

impl Introspect for TestDb {
    fn table_columns(&self, table: &str) -> Vec<(String, String, bool)> {
        let url = match self {
            TestDb::Sqlite(db) => return db.table_columns(table),
            TestDb::Postgres(url) => url,
        };
        let sql = "SELECT c.column_name::text, c.data_type::text, \
                   (EXISTS (SELECT 1 FROM information_schema.key_column_usage k \
                    JOIN information_schema.table_constraints t ON t.constraint_name = k.constraint_name \
                    WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_name = c.table_name \
                    AND k.column_name = c.column_name))::text \
                   FROM information_schema.columns c \
                   WHERE c.table_schema = 'public' AND c.table_name = $1 AND c.column_name != $2 \
                   ORDER BY c.ordinal_position";
        pg_query(url, sql, &[table, kb_store::postgres::ROWID_COLUMN])
            .0
            .into_iter()
            .map(|row| {
                let text = |i: usize| row[i].clone().unwrap_or_default();
                (text(0), text(1), text(2) == "true")
            })
            .collect()
    }

    fn schema_object(&self, name: &str) -> Option<String> {
        let url = match self {
            TestDb::Sqlite(db) => return db.schema_object(name),
            TestDb::Postgres(url) => url,
        };
        let sql = "SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' \
                   WHEN 'i' THEN 'index' ELSE c.relkind::text END \
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                   WHERE n.nspname = 'public' AND c.relname = $1";
        pg_query(url, sql, &[name]).0.into_iter().next()?.remove(0)
    }

    fn index_names(&self, table: &str) -> Vec<String> {
        let url = match self {
            TestDb::Sqlite(db) => return db.index_names(table),
            TestDb::Postgres(url) => url,
        };
        let sql = "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' \
                   AND tablename = $1 AND indexname NOT LIKE '%\\_pkey' ORDER BY indexname";
        pg_query(url, sql, &[table])
            .0
            .into_iter()
            .filter_map(|mut row| row.remove(0))
            .collect()
    }

    fn row_count(&self, table: &str) -> i64 {
        let url = match self {
            TestDb::Sqlite(db) => return db.row_count(table),
            TestDb::Postgres(url) => url,
        };
        let sql = format!("SELECT count(*) FROM {}", quote_table(table));
        pg_query(url, &sql, &[])
            .0
            .first()
            .and_then(|row| row[0].as_deref())
            .and_then(|n| n.parse().ok())
            .expect("count rows")
    }
}

pub fn table_columns(db: &impl Introspect, table: &str) -> Vec<(String, String, bool)> {
    db.table_columns(table)
}

pub fn column_names(db: &impl Introspect, table: &str) -> Vec<String> {
    table_columns(db, table)
        .into_iter()
        .map(|(name, _, _)| name)
        .collect()
}

pub fn schema_object(db: &impl Introspect, name: &str) -> Option<String> {
    db.schema_object(name)
}

pub fn table_exists(db: &impl Introspect, name: &str) -> bool {
    schema_object(db, name).as_deref() == Some("table")
}

pub fn index_names(db: &impl Introspect, table: &str) -> Vec<String> {
    db.index_names(table)
}

pub fn row_count(db: &impl Introspect, table: &str) -> i64 {
    db.row_count(table)
}

// ---- JSON helpers ----

/// JSON numbers compare by value: `1.0` on the wire is the number 1, as for every JSON
/// client. Integral floats become integers so `json!(1)` matches either spelling.
pub fn normalize_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(normalize_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, normalize_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The exact error envelope with empty `data`.
pub fn plain_error(status: u16, message: &str) -> Value {
    json!({"data": {}, "message": message, "status": status})
}

/// Assert status, message, and that `data` is an object; returns `data`.
#[track_caller]
pub fn assert_error(resp: &(u16, Value), status: u16, message: &str) -> Value {
    let (got, body) = resp;
    assert_eq!(*got, status, "status; body: {body}");
    assert_eq!(body["status"], json!(status), "status in body: {body}");
    assert_eq!(body["message"], json!(message), "message in body: {body}");
    assert!(body["data"].is_object(), "data is an object: {body}");
    let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
    let mut keys = keys;
    keys.sort();
    assert_eq!(
        keys,
        ["data", "message", "status"],
        "error envelope keys: {body}"
    );
    body["data"].clone()
}

/// Assert the exact `{"data":{},"message":…,"status":…}` body.
#[track_caller]
pub fn assert_plain_error(resp: &(u16, Value), status: u16, message: &str) {
    assert_eq!(resp.0, status, "status; body: {}", resp.1);
    assert_eq!(resp.1, plain_error(status, message));
}

/// `{field: {code, message}}` → `{field: code}` (one level).
pub fn codes(data: &Value) -> BTreeMap<String, String> {
    data.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let code = v
                        .get("code")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string());
                    (k.clone(), code)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A `BTreeMap` from literal pairs, to compare with `codes(...)`.
pub fn code_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub fn item_ids(list: &Value) -> Vec<String> {
    items(list)
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

pub fn items(list: &Value) -> &Vec<Value> {
    list["items"].as_array().expect("items array")
}

/// One key of every item, as JSON values.
pub fn pluck(list: &Value, key: &str) -> Vec<Value> {
    items(list).iter().map(|r| r[key].clone()).collect()
}

pub fn sorted_keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

pub fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}

/// The field definition named `name` in a collection model.
#[track_caller]
pub fn field<'a>(collection: &'a Value, name: &str) -> &'a Value {
    collection["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("field {name} in {collection}"))
}

pub fn field_names(collection: &Value) -> Vec<String> {
    collection["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["name"].as_str().expect("name").to_owned())
        .collect()
}

/// `pbc_` + crc32(type + name).
pub fn collection_id(kind: &str, name: &str) -> String {
    format!(
        "pbc_{}",
        crc32fast::hash(format!("{kind}{name}").as_bytes())
    )
}

/// type + crc32(name).
pub fn field_id(kind: &str, name: &str) -> String {
    format!("{kind}{}", crc32fast::hash(name.as_bytes()))
}

/// `YYYY-MM-DD HH:MM:SS.mmmZ`
pub fn is_datetime(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// 15 characters of `[a-z0-9]`.
pub fn is_record_id(value: &str) -> bool {
    value.len() == 15
        && value
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

// ---- URLs ----

pub fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `?k=v&…` (empty when there are no pairs).
pub fn qs(query: &[(&str, &str)]) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in query {
        s.append_pair(k, v);
    }
    format!("?{}", s.finish())
}

// ---- JWT ----

/// Decode the payload (second part) of a JWT.
pub fn jwt_payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT has 3 parts");
    let bytes = base64url_decode(part);
    serde_json::from_slice(&bytes).expect("the payload is JSON")
}

pub fn jwt_header(token: &str) -> Value {
    let part = token.split('.').next().expect("a JWT has 3 parts");
    serde_json::from_slice(&base64url_decode(part)).expect("the header is JSON")
}

pub fn base64url_decode(text: &str) -> Vec<u8> {
    fn value(c: u8) -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => panic!("not base64url: {c}"),
        }
    }
    let data: Vec<u8> = text.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    for chunk in data.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

pub fn base64url_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut acc = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            acc |= u32::from(*b) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((acc >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

// ---- fixtures ----

/// The "blog" fixture used by the filter/sort/expand/fields tests:
///
/// ```text
/// authors: ann(30, nick O'Hara "the" \ann), bob(40), cid(25)
/// posts:   p1 "Hello world" views 10  published tags [a,b]   live  author ann editors [bob,cid]
///          p2 "100% pure"   views 20            tags [c]     draft author bob editors [ann]
///          p3 "under_score" views 0   published tags []      ""    author ann editors []
///          p4 "Zed"         views 5.5           tags [a,c,d] live  author ""  editors [ann,bob]
/// comments: c1 first->p1 by bob, c2 second->p1 by cid, c3 third->p2 by ann, c4 orphan by ann
/// ```
pub struct Blog {
    pub posts: Value,
    pub ann: Value,
    pub bob: Value,
    pub cid: Value,
    pub p: [Value; 4],
    pub c: [Value; 4],
    names: BTreeMap<String, String>,
}

impl Blog {
    pub async fn create(app: &TestApp) -> Blog {
        let authors = app
            .create_collection(&json!({
                "name": "authors", "type": "base", "listRule": "", "viewRule": "",
                "fields": [
                    {"name": "name", "type": "text"},
                    {"name": "age", "type": "number"},
                    {"name": "nick", "type": "text"},
                ],
            }))
            .await;
        let posts = app
            .create_collection(&json!({
                "name": "posts", "type": "base", "listRule": "", "viewRule": "",
                "fields": [
                    {"name": "title", "type": "text"},
                    {"name": "views", "type": "number"},
                    {"name": "published", "type": "bool"},
                    {"name": "tags", "type": "select", "values": ["a", "b", "c", "d"], "maxSelect": 4},
                    {"name": "status", "type": "select", "values": ["draft", "live"], "maxSelect": 1},
                    {"name": "author", "type": "relation", "collectionId": authors["id"], "maxSelect": 1},
                    {"name": "editors", "type": "relation", "collectionId": authors["id"], "maxSelect": 5},
                    {"name": "meta", "type": "json"},
                    {"name": "body", "type": "editor"},
                    {"name": "publishAt", "type": "date"},
                    {"name": "created", "type": "autodate", "onCreate": true},
                    {"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true},
                ],
            }))
            .await;
        app.create_collection(&json!({
            "name": "comments", "type": "base", "listRule": "", "viewRule": "",
            "fields": [
                {"name": "text", "type": "text"},
                {"name": "post", "type": "relation", "collectionId": posts["id"], "maxSelect": 1},
                {"name": "user", "type": "relation", "collectionId": authors["id"], "maxSelect": 1},
            ],
        }))
        .await;
        let ann = app
            .create_record(
                "authors",
                &json!({"name": "Ann", "age": 30, "nick": "O'Hara \"the\" \\ann"}),
            )
            .await;
        let bob = app
            .create_record("authors", &json!({"name": "Bob", "age": 40, "nick": ""}))
            .await;
        let cid = app
            .create_record("authors", &json!({"name": "cid", "age": 25}))
            .await;
        let p1 = app
            .create_record(
                "posts",
                &json!({
                    "title": "Hello world", "views": 10, "published": true, "tags": ["a", "b"],
                    "status": "live", "author": ann["id"], "editors": [bob["id"], cid["id"]],
                    "meta": {"k": [1, 2], "s": "x"},
                    "body": "<p>Hello <b>bold</b> world, this is a longer body</p>",
                    "publishAt": "2024-01-02 10:00:00.000Z",
                }),
            )
            .await;
        let p2 = app
            .create_record(
                "posts",
                &json!({
                    "title": "100% pure", "views": 20, "published": false, "tags": ["c"],
                    "status": "draft", "author": bob["id"], "editors": [ann["id"]],
                    "meta": {"k": [3], "s": "y"}, "body": "plain",
                    "publishAt": "2025-06-01 00:00:00.000Z",
                }),
            )
            .await;
        let p3 = app
            .create_record(
                "posts",
                &json!({
                    "title": "under_score", "views": 0, "published": true, "tags": [],
                    "status": "", "author": ann["id"], "editors": [], "meta": null, "body": "",
                }),
            )
            .await;
        let p4 = app
            .create_record(
                "posts",
                &json!({
                    "title": "Zed", "views": 5.5, "published": false, "tags": ["a", "c", "d"],
                    "status": "live", "author": "", "editors": [ann["id"], bob["id"]],
                    "meta": {"s": "x"},
                }),
            )
            .await;
        let c1 = app
            .create_record(
                "comments",
                &json!({"text": "first", "post": p1["id"], "user": bob["id"]}),
            )
            .await;
        let c2 = app
            .create_record(
                "comments",
                &json!({"text": "second", "post": p1["id"], "user": cid["id"]}),
            )
            .await;
        let c3 = app
            .create_record(
                "comments",
                &json!({"text": "third", "post": p2["id"], "user": ann["id"]}),
            )
            .await;
        let c4 = app
            .create_record(
                "comments",
                &json!({"text": "orphan", "post": "", "user": ann["id"]}),
            )
            .await;
        let mut names = BTreeMap::new();
        for (name, record) in [
            ("ann", &ann),
            ("bob", &bob),
            ("cid", &cid),
            ("p1", &p1),
            ("p2", &p2),
            ("p3", &p3),
            ("p4", &p4),
            ("c1", &c1),
            ("c2", &c2),
            ("c3", &c3),
            ("c4", &c4),
        ] {
            names.insert(id_of(record), name.to_owned());
        }
        Blog {
            posts,
            ann,
            bob,
            cid,
            p: [p1, p2, p3, p4],
            c: [c1, c2, c3, c4],
            names,
        }
    }

    /// Fixture names (`p1`, `ann`, …) of a list's items, comma-joined, in list order.
    pub fn names(&self, list: &Value) -> String {
        items(list)
            .iter()
            .map(|r| {
                self.names
                    .get(r["id"].as_str().expect("id"))
                    .cloned()
                    .unwrap_or_else(|| "?".into())
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The posts matching `filter` (as the given client), by fixture name, in rowid order.
    pub async fn matching(&self, client: &Client, collection: &str, filter: &str) -> String {
        let (status, list) = client
            .list(
                collection,
                &[("filter", filter), ("sort", "@rowid"), ("perPage", "100")],
            )
            .await;
        assert_eq!(status, 200, "filter {filter:?}: {list}");
        self.names(&list)
    }
}
