use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Per-connection setup run on every connection the executor opens, writer and readers alike,
/// e.g. to register SQL functions with `Connection::create_scalar_function`.
pub type OnConnect = Arc<dyn Fn(&rusqlite::Connection) -> rusqlite::Result<()> + Send + Sync>;

/// How [`Executor::open`](crate::Executor::open) sets up its threads and connections.
///
/// Build it with struct update syntax: `ExecutorOptions { readers: 4, ..Default::default() }`.
#[derive(Clone)]
pub struct ExecutorOptions {
    /// Number of reader threads, each with its own read-only connection. Reads run in
    /// parallel up to this number. Defaults to the number of available CPUs; 0 counts as 1.
    pub readers: usize,
    /// Most write jobs merged into one transaction (group commit). A larger batch spreads
    /// one commit over more writes; a smaller one bounds how long a single transaction
    /// holds the write lock. Defaults to 256; 0 counts as 1.
    pub max_batch: usize,
    /// How long a connection waits for a lock held by another process before giving up with
    /// `SQLITE_BUSY`. Defaults to 10 s, as PocketBase does.
    pub busy_timeout: Duration,
    /// Capacity of rusqlite's per-connection prepared statement cache (`prepare_cached`).
    /// rusqlite's default of 16 is far below the number of distinct statements a running
    /// server issues, so it defaults to 256.
    pub statement_cache_capacity: usize,
    /// Run on every new connection, after the pragmas and before a reader is made
    /// `query_only`. An error fails [`Executor::open`](crate::Executor::open). It must not
    /// install an authorizer: the writer's guard (see `Executor::write`) replaces it.
    pub on_connect: Option<OnConnect>,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        ExecutorOptions {
            readers: thread::available_parallelism().map_or(1, NonZeroUsize::get),
            max_batch: 256,
            busy_timeout: Duration::from_secs(10),
            statement_cache_capacity: 256,
            on_connect: None,
        }
    }
}

impl fmt::Debug for ExecutorOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutorOptions")
            .field("readers", &self.readers)
            .field("max_batch", &self.max_batch)
            .field("busy_timeout", &self.busy_timeout)
            .field("statement_cache_capacity", &self.statement_cache_capacity)
            .field("on_connect", &self.on_connect.as_ref().map(|_| "Fn"))
            .finish()
    }
}
