//! The storage boundary. The application talks to storage only through [`Store`], which runs
//! synchronous jobs against a [`Reader`] or [`Writer`]: logical operations on records and
//! collections, never SQL. Each backend (one module per SQL dialect) implements those traits
//! and renders SQL through the shared [`sql`] module and its own [`dialect::Dialect`].
//!
//! Jobs are synchronous closures so a backend can run a whole write (rule check, validation
//! queries, insert, cascade) inside one transaction without holding it across an `.await`;
//! SQLite runs them on its writer thread with group commit, PostgreSQL on a blocking thread
//! holding one pooled connection.

pub mod changes;
pub mod copy;
pub mod counters;
pub mod definition;
pub mod dialect;
pub mod logs;
pub mod postgres;
pub mod sql;
pub mod sqlite;
pub mod values;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use kb_core::settings::Settings;
use kb_core::{Collection, Field};
use kb_query::FilterPlan;
use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value};

pub use changes::{AfterCommit, Change, ChangeKind, ChangeObserver};
pub use counters::{Counters, MemoryCounters};
pub use logs::{HourlyCount, LogEntry, LogPage, LogQuery, LogStore};
pub use sql::SortSpec;
pub use values::{RequestInfo, SqlValue};

/// Tables every backend keeps for itself (collection definitions, settings); no collection
/// may take these names.
/// (`json_each` and `json_tree` would hide SQLite's table-valued functions of that name.)
pub const RESERVED_TABLES: &[&str] = &["_collections", "_params", "json_each", "json_tree"];

/// A record as storage hands it over: field name → canonical JSON value.
pub type Row = Map<String, Value>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A unique index rejected the write; the columns are the indexed ones.
    #[error("unique constraint failed on {columns:?}")]
    Unique { columns: Vec<String> },
    /// Creating the named index failed (e.g. existing rows violate a new unique index);
    /// the message is the database's.
    #[error("failed to create index {name}: {message}")]
    Index { name: String, message: String },
    /// A statement that depends on client input (a view query) is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// Anything else the database reported. Logged, never shown to clients.
    #[error("database error: {0}")]
    Database(String),
    #[error("the database is closed")]
    Closed,
    /// The backend cannot do this (e.g. a file snapshot of a PostgreSQL database).
    #[error("{0}")]
    Unsupported(&'static str),
}

/// A page of a list query.
pub struct ListQuery<'a> {
    pub collection: &'a Collection,
    /// All of these must hold (the list rule and the client's filter).
    pub conditions: Vec<&'a FilterPlan>,
    pub sort: Vec<SortSpec<'a>>,
    pub limit: Option<u64>,
    pub offset: u64,
}

/// A column of a view query, as the database describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewColumn {
    pub name: String,
    /// The collection table and column the value comes straight from, if it does.
    pub origin: Option<(String, String)>,
    /// The select-list expression is an aggregate count.
    pub is_count: bool,
}

/// Read operations, run inside one read snapshot.
pub trait Reader {
    fn list(
        &mut self,
        query: &ListQuery<'_>,
        request: &RequestInfo,
    ) -> Result<Vec<Row>, StoreError>;
    /// How many records satisfy `conditions`, counting only those among `among` if given
    /// (an existence check that reads no columns).
    fn count(
        &mut self,
        collection: &Collection,
        among: Option<&[String]>,
        conditions: &[&FilterPlan],
        request: &RequestInfo,
    ) -> Result<u64, StoreError>;
    /// One record by id, if it exists and satisfies `conditions`.
    fn get(
        &mut self,
        collection: &Collection,
        id: &str,
        conditions: &[&FilterPlan],
        request: &RequestInfo,
    ) -> Result<Option<Row>, StoreError>;
    /// The records among `ids` that exist and satisfy `conditions` (any order).
    fn get_many(
        &mut self,
        collection: &Collection,
        ids: &[String],
        conditions: &[&FilterPlan],
        request: &RequestInfo,
    ) -> Result<Vec<Row>, StoreError>;
    /// Records of `collection` whose relation `field` holds `id` and that satisfy
    /// `conditions`, at most `limit` of them.
    fn referencing(
        &mut self,
        collection: &Collection,
        field: &Field,
        id: &str,
        conditions: &[&FilterPlan],
        request: &RequestInfo,
        limit: Option<u64>,
    ) -> Result<Vec<Row>, StoreError>;
    /// Whether a record with `record`'s values satisfies `conditions`, whether or not it is
    /// stored (it may be a record another node deleted).
    fn satisfies(
        &mut self,
        collection: &Collection,
        record: &Row,
        conditions: &[&FilterPlan],
        request: &RequestInfo,
    ) -> Result<bool, StoreError>;
    fn load_collections(&mut self) -> Result<Vec<Collection>, StoreError>;
    fn load_settings(&mut self) -> Result<Option<Settings>, StoreError>;
    /// Check a view query without running it: one read-only SELECT; describes its columns.
    fn describe_view_query(&mut self, query: &str) -> Result<Vec<ViewColumn>, StoreError>;
}

/// Write operations, run inside one transaction with the reads above.
pub trait Writer: Reader {
    fn insert(&mut self, collection: &Collection, record: &Row) -> Result<(), StoreError>;
    /// Overwrite the stored fields of record `id` with `record`'s values.
    fn update(&mut self, collection: &Collection, id: &str, record: &Row)
    -> Result<(), StoreError>;
    fn delete(&mut self, collection: &Collection, id: &str) -> Result<bool, StoreError>;
    /// Store a collection definition and create or migrate its table (or view) to match,
    /// keeping the data of fields that stay.
    fn save_collection(
        &mut self,
        new: &Collection,
        old: Option<&Collection>,
    ) -> Result<(), StoreError>;
    fn delete_collection(&mut self, collection: &Collection) -> Result<(), StoreError>;
    fn truncate(&mut self, collection: &Collection) -> Result<(), StoreError>;
    fn save_settings(&mut self, settings: &Settings) -> Result<(), StoreError>;
    /// Wait until no other node is changing collection definitions, and keep them from it
    /// until this transaction ends (one writer per database has nothing to wait for).
    fn lock_schema(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

pub type ReadJob = Box<dyn FnOnce(&mut dyn Reader) + Send>;
/// What a write job decided.
pub enum Outcome {
    /// Undo the job's changes.
    Rollback,
    /// Keep them; once committed, run the hook (in commit order).
    Commit(Option<AfterCommit>),
}
pub type WriteJob = Box<dyn FnOnce(&mut dyn Writer) -> Outcome + Send>;
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a storage backend provides.
pub trait Backend: Send + Sync + 'static {
    fn run_read(&self, job: ReadJob) -> BoxFuture<'static, Result<(), StoreError>>;
    /// Runs the job in a transaction; resolves after the commit is durable.
    fn run_write(&self, job: WriteJob) -> BoxFuture<'static, Result<(), StoreError>>;
    /// Finish queued work and release the database.
    fn close(&self) -> BoxFuture<'static, ()>;
    /// Write a consistent copy of the whole database to the new file `path` (for backups),
    /// while reads and writes go on.
    fn snapshot_into(&self, _path: PathBuf) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Unsupported(SNAPSHOT_UNSUPPORTED)) })
    }
    /// Counters every node on this database shares; `None` keeps them in this process.
    fn shared_counters(&self) -> Option<Arc<dyn Counters>> {
        None
    }
    /// What other nodes on this database commit, in commit order, for this node to act on
    /// (realtime, caches). Handed out once; `None` for a database no other node shares.
    fn remote_changes(&self) -> Option<RemoteChanges> {
        None
    }
    /// Send `message` to every other node on this database (they hear it as
    /// [`RemoteChange::Message`]); `None` when no other node can exist.
    fn publish(&self, _message: Value) -> Option<BoxFuture<'static, Result<(), StoreError>>> {
        None
    }
}

/// A change another node committed.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteChange {
    /// A record was created, updated or deleted; `record` as the change left it (as it was,
    /// for a delete).
    Record {
        kind: ChangeKind,
        collection_id: String,
        record: Row,
    },
    /// Collection definitions changed.
    Schema,
    /// The settings changed.
    Settings,
    /// A message the application sent to the other nodes ([`Store::publish`]).
    Message(Value),
}

pub type RemoteChanges = tokio::sync::mpsc::UnboundedReceiver<RemoteChange>;

/// The application's handle to storage.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    counters: Arc<dyn Counters>,
    /// Who is told about committed changes, in the order they asked.
    observers: Arc<RwLock<Observers>>,
}

/// A snapshot of the observers, cheap to take for each write.
type Observers = Arc<[Arc<dyn ChangeObserver>]>;

impl Store {
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        let counters = backend
            .shared_counters()
            .unwrap_or_else(|| Arc::new(MemoryCounters::default()));
        Store {
            backend,
            counters,
            observers: Arc::new(RwLock::new(Arc::new([]))),
        }
    }

    /// What other nodes on this database commit (see [`Backend::remote_changes`]).
    pub fn remote_changes(&self) -> Option<RemoteChanges> {
        self.backend.remote_changes()
    }

    /// Send `message` to the other nodes on this database; `None` when there can be none.
    pub fn publish(&self, message: Value) -> Option<BoxFuture<'static, Result<(), StoreError>>> {
        self.backend.publish(message)
    }

    /// The fixed-window counters of this store's nodes.
    pub fn counters(&self) -> &dyn Counters {
        &*self.counters
    }

    /// From now on, record changes of the collections `observer` watches and report them
    /// to it after commit (besides the observers already there).
    pub fn observe(&self, observer: Arc<dyn ChangeObserver>) {
        let mut observers = self.observers.write();
        let mut list = observers.to_vec();
        list.push(observer);
        *observers = list.into();
    }

    /// Run `f` on a reader and return its result.
    pub async fn read<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut dyn Reader) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let slot = Arc::new(Mutex::new(None));
        let out = slot.clone();
        self.backend
            .run_read(Box::new(move |reader| {
                *out.lock() = Some(f(reader));
            }))
            .await?;
        let result = slot.lock().take();
        result.unwrap_or_else(|| Err(StoreError::Closed.into()))
    }

    /// Run `f` in a write transaction: committed if it returns `Ok` (and only then is the
    /// result returned), rolled back if it returns `Err`.
    pub async fn write<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut dyn Writer) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let slot = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let observers = self.observers.read().clone();
        self.backend
            .run_write(Box::new(move |writer| {
                let (result, after_commit) = if observers.is_empty() {
                    (f(writer), None)
                } else {
                    let mut recording = changes::Recording::new(writer, &observers);
                    let result = f(&mut recording);
                    (result, recording.into_after_commit())
                };
                let outcome = if result.is_ok() {
                    Outcome::Commit(after_commit)
                } else {
                    Outcome::Rollback
                };
                *out.lock() = Some(result);
                outcome
            }))
            .await?;
        let result = slot.lock().take();
        result.unwrap_or_else(|| Err(StoreError::Closed.into()))
    }

    pub async fn close(&self) {
        self.backend.close().await
    }

    /// See [`Backend::snapshot_into`].
    pub async fn snapshot_into(&self, path: PathBuf) -> Result<(), StoreError> {
        self.backend.snapshot_into(path).await
    }
}

/// Why a backend without file snapshots cannot make one.
pub const SNAPSHOT_UNSUPPORTED: &str = "this database cannot be copied into a file: back it up with its own tools \
     (pg_dump for PostgreSQL)";
