use std::sync::Arc;

/// Why the executor could not open, or could not run or answer a job.
///
/// A job's own outcome is not in here: `read` hands back whatever the closure returned, and
/// `write` hands back the closure's `Result<R, E>` untouched inside the `Ok`. These variants
/// are only about the machinery around the job.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// Opening or configuring a connection failed: a bad path or permissions, a file that is
    /// not a database, or an `on_connect` callback that returned an error.
    #[error("could not open the SQLite database")]
    Sqlite(#[source] rusqlite::Error),

    /// SQLite did not switch the database to WAL, which the reader threads need to read
    /// while the writer writes. The value is the journal mode SQLite reported
    /// (`"memory"` for an in-memory database, for instance).
    #[error("SQLite refused WAL journal mode (it kept {0:?})")]
    NotWal(String),

    /// The operating system refused to start an executor thread.
    #[error("could not start an executor thread")]
    Spawn(#[source] std::io::Error),

    /// The job's batch transaction could not be begun or committed, so it was rolled back and
    /// nothing the job did was written. Every job of that batch that would have been committed
    /// gets this same error, hence the `Arc`.
    #[error("the write batch could not be committed and was rolled back")]
    Commit(#[source] Arc<rusqlite::Error>),

    /// The job panicked. Its changes were rolled back and the executor thread lives on; the
    /// panic message is logged, not returned.
    #[error("the database job panicked")]
    JobPanicked,

    /// The executor thread that should have run the job is gone, so the job did not run.
    #[error("the SQLite executor has stopped")]
    Closed,
}
