//! Opening and configuring the connections, and the guard that keeps the writer's group
//! transaction in the executor's hands.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::Connection;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

use crate::{ExecutorError, ExecutorOptions};

/// PocketBase's connection settings (`core/db_connect.go`), minus `journal_mode` (set once by
/// the writer), `busy_timeout` (from the options) and `cache_size` (below).
/// `synchronous=NORMAL` in WAL mode keeps every commit across a process crash and may lose
/// the last ones on power loss.
const PRAGMAS: &str = "
    PRAGMA journal_size_limit = 200000000;
    PRAGMA synchronous = NORMAL;
    PRAGMA foreign_keys = ON;
    PRAGMA temp_store = MEMORY;
";

/// Page caches, smaller than PocketBase's 32 MB per connection: with a writer and a reader
/// per core, 32 MB each was most of the peak RSS under load, and pages a cache misses come
/// from the OS page cache. Readers keep 16 MB, which still holds the working set of a
/// 100,000-record full-table scan; the writer touches index tails and single rows, and 8 MB
/// costs creates nothing. Measured (issue 6, bench/run): peak RSS of a create run 135 → 90
/// MiB, full-scan CPU per list 4.2 → 3.8 ms.
const WRITER_CACHE_KIB: u32 = 8_000;
const READER_CACHE_KIB: u32 = 16_000;

/// The savepoint the writer wraps each job in. Jobs may not touch it (see [`TxnGuard`]).
pub(crate) const JOB_SAVEPOINT: &str = "kb_sqlite_job";

/// Opens the writer connection (creating the file if needed) and switches the database to WAL.
pub(crate) fn open_writer(
    path: &Path,
    options: &ExecutorOptions,
) -> Result<(Connection, TxnGuard), ExecutorError> {
    let conn = Connection::open(path).map_err(ExecutorError::Sqlite)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(ExecutorError::Sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(ExecutorError::NotWal(mode));
    }
    configure(&conn, options, WRITER_CACHE_KIB).map_err(ExecutorError::Sqlite)?;
    let guard = TxnGuard::install(&conn).map_err(ExecutorError::Sqlite)?;
    Ok((conn, guard))
}

/// Opens a reader connection. It is `query_only`, so a read job that tries to write fails
/// instead of racing the writer for the lock.
pub(crate) fn open_reader(
    path: &Path,
    options: &ExecutorOptions,
) -> Result<Connection, ExecutorError> {
    let conn = Connection::open(path).map_err(ExecutorError::Sqlite)?;
    configure(&conn, options, READER_CACHE_KIB)
        .and_then(|()| conn.pragma_update(None, "query_only", "ON"))
        .map_err(ExecutorError::Sqlite)?;
    Ok(conn)
}

fn configure(conn: &Connection, options: &ExecutorOptions, cache_kib: u32) -> rusqlite::Result<()> {
    conn.busy_timeout(options.busy_timeout)?;
    conn.execute_batch(PRAGMAS)?;
    conn.execute_batch(&format!("PRAGMA cache_size = -{cache_kib};"))?;
    conn.set_prepared_statement_cache_capacity(options.statement_cache_capacity);
    match &options.on_connect {
        Some(on_connect) => on_connect(conn),
        None => Ok(()),
    }
}

/// Closes a connection, logging instead of failing: by then nobody is left to tell.
pub(crate) fn close(conn: Connection) {
    if let Err((_conn, err)) = conn.close() {
        tracing::warn!(error = %err, "closing an SQLite connection failed");
    }
}

/// Denies jobs the statements that would end the group transaction or the executor's own
/// savepoint around them (`BEGIN`, `COMMIT`, `ROLLBACK`, `RELEASE`/`ROLLBACK TO` of
/// [`JOB_SAVEPOINT`]).
///
/// Without it, one job running `COMMIT` would silently commit its batch neighbours before
/// they were done, and `ROLLBACK` would silently discard writes that are about to be
/// acknowledged. SQLite's authorizer refuses those statements when they are prepared, so the
/// job gets an ordinary "not authorized" error and its batch is unaffected. Jobs' own
/// savepoints (`Connection::savepoint`, or `SAVEPOINT name` in SQL) stay allowed.
///
/// The executor's own control statements are let through by raising a flag around them.
/// They are prepared afresh each time (never via `prepare_cached`), so a job can never pick
/// an already-authorized `COMMIT` out of the statement cache.
pub(crate) struct TxnGuard {
    executor_turn: Arc<AtomicBool>,
}

impl TxnGuard {
    fn install(conn: &Connection) -> rusqlite::Result<TxnGuard> {
        let executor_turn = Arc::new(AtomicBool::new(false));
        let turn = Arc::clone(&executor_turn);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            let reserved = match ctx.action {
                AuthAction::Transaction { .. } => true,
                AuthAction::Savepoint { savepoint_name, .. } => {
                    savepoint_name.eq_ignore_ascii_case(JOB_SAVEPOINT)
                }
                _ => false,
            };
            // Only the writer thread touches the flag and prepares on this connection, so
            // no ordering with other memory is needed.
            if reserved && !turn.load(Ordering::Relaxed) {
                Authorization::Deny
            } else {
                Authorization::Allow
            }
        }))?;
        Ok(TxnGuard { executor_turn })
    }

    /// Runs one of the executor's own transaction-control statements.
    pub(crate) fn execute(&self, conn: &Connection, sql: &str) -> rusqlite::Result<()> {
        self.executor_turn.store(true, Ordering::Relaxed);
        let result = conn.execute_batch(sql);
        self.executor_turn.store(false, Ordering::Relaxed);
        result
    }
}
