//! Storage of request (and other) logs, apart from the data: PocketBase keeps them in its
//! auxiliary database so that writing a log never waits for, or holds up, a data write.
//!
//! The application filters and sorts logs with the records' query language: it resolves
//! filters and sorts against [`log_collection`], a collection that exists only for that
//! purpose, and hands the plans over here. Each backend renders them for its own dialect.

use kb_core::field::{FieldKind, JsonOptions, NumberOptions, TextOptions};
use kb_core::{Collection, CollectionKind, Field};
use kb_query::{FilterPlan, SortKey};

use crate::{BoxFuture, Row, StoreError};

/// The name of the logs table (and of the pseudo-collection filters resolve against).
pub const LOGS_TABLE: &str = "_logs";

/// The shape of a stored log as a collection, so filters (`level >= 4`, `data.status = 404`)
/// and sorts resolve exactly as they do for records: `data` is a JSON field, so any
/// `data.<path>` is reachable.
pub fn log_collection() -> Collection {
    let text = |name: &str| Field::new(name, FieldKind::Text(TextOptions::default()));
    Collection {
        id: LOGS_TABLE.into(),
        name: LOGS_TABLE.into(),
        rules: Default::default(),
        kind: CollectionKind::Base,
        fields: vec![
            text("id"),
            text("created"),
            Field::new("level", FieldKind::Number(NumberOptions::default())),
            text("message"),
            Field::new("data", FieldKind::Json(JsonOptions::default())),
        ],
        indexes: Vec::new(),
        created: String::new(),
        updated: String::new(),
        system: true,
    }
}

/// One log to store.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub id: String,
    /// `YYYY-MM-DD HH:MM:SS.mmmZ`, as every stored datetime.
    pub created: String,
    /// -4 debug, 0 info, 4 warn, 8 error.
    pub level: i64,
    pub message: String,
    /// A JSON object, as text (the request path serialises it once, to measure it).
    pub data: String,
}

/// A page of logs.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// All of these must hold.
    pub conditions: Vec<FilterPlan>,
    /// Sort keys resolved against [`log_collection`], each with `descending`.
    pub sort: Vec<(SortKey, bool)>,
    pub limit: u64,
    pub offset: u64,
    /// Also count every matching log (in the same snapshot as the page).
    pub with_total: bool,
}

/// A page of logs (rows keyed by the fields of [`log_collection`]) and, when asked for,
/// the number of all matching logs.
#[derive(Debug, Clone, Default)]
pub struct LogPage {
    pub rows: Vec<Row>,
    pub total: Option<u64>,
}

/// The number of matching logs created within one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourlyCount {
    /// The start of the hour: `YYYY-MM-DD HH:00:00.000Z`.
    pub date: String,
    pub total: u64,
}

/// Where logs live. Methods are asynchronous and own their arguments, so a backend may run
/// them on its own threads (SQLite) or a connection pool (PostgreSQL).
pub trait LogStore: Send + Sync + 'static {
    /// Store all of `entries` in one transaction.
    fn insert_batch(&self, entries: Vec<LogEntry>) -> BoxFuture<'static, Result<(), StoreError>>;
    fn list(&self, query: LogQuery) -> BoxFuture<'static, Result<LogPage, StoreError>>;
    fn count(&self, conditions: Vec<FilterPlan>) -> BoxFuture<'static, Result<u64, StoreError>>;
    fn get(&self, id: String) -> BoxFuture<'static, Result<Option<Row>, StoreError>>;
    /// Matching logs per hour of `created`, oldest hour first; hours without logs are left
    /// out.
    fn stats(
        &self,
        conditions: Vec<FilterPlan>,
    ) -> BoxFuture<'static, Result<Vec<HourlyCount>, StoreError>>;
    /// Delete every log; returns how many there were.
    fn delete_all(&self) -> BoxFuture<'static, Result<u64, StoreError>>;
    /// Delete the logs created before `created_before` (a stored datetime); returns how many.
    fn delete_older_than(
        &self,
        created_before: String,
    ) -> BoxFuture<'static, Result<u64, StoreError>>;
    /// Finish queued work and release the database.
    fn close(&self) -> BoxFuture<'static, ()>;
    /// See [`crate::Backend::snapshot_into`].
    fn snapshot_into(
        &self,
        _path: std::path::PathBuf,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Unsupported(crate::SNAPSHOT_UNSUPPORTED)) })
    }
}
