//! The SQLite executor everything in Keelbase's SQLite storage runs on: one writer thread with
//! group commit and N reader threads, each owning its own `rusqlite::Connection`.
//!
//! Why this shape (STACK.md §2.2):
//!
//! * SQLite allows one writer at a time, so a pool of writing connections only fights over
//!   the lock. One writer thread takes every write instead.
//! * That writer merges the writes already queued into one transaction (**group commit**),
//!   each in its own savepoint, so many writes share one WAL commit yet each one fails alone.
//! * In WAL mode readers never block the writer nor wait for it, so reads run on a set of
//!   `query_only` connections in parallel, taking jobs from one shared queue.
//! * Each thread owns its connection, so nothing needs a lock around a connection or `unsafe`.
//!
//! Jobs are synchronous closures. A write transaction therefore never spans an `.await`, and
//! async code just awaits the answer.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kb_sqlite::{Executor, ExecutorOptions};
//!
//! let db = Executor::open("data.db".as_ref(), ExecutorOptions::default())?;
//! db.write(|conn| conn.execute("CREATE TABLE IF NOT EXISTS t (x)", []))
//!     .await??;
//! db.write(|conn| conn.execute("INSERT INTO t VALUES (1)", []))
//!     .await??;
//! let n: i64 = db
//!     .read(|conn| conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0)))
//!     .await??;
//! assert_eq!(n, 1);
//! db.close().await;
//! # Ok(())
//! # }
//! ```

mod connection;
mod error;
mod options;
mod reader;
mod writer;

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::thread::{self, JoinHandle};

use crossbeam_channel::Sender;
use rusqlite::Connection;
use tokio::sync::oneshot;

pub use error::ExecutorError;
pub use options::{ExecutorOptions, OnConnect};

use reader::ReadJob;
use writer::{Job, WriteJob};

/// Handle to the writer and reader threads of one SQLite database file.
///
/// `Send + Sync`: share it behind an `Arc`. [`read`](Self::read) and [`write`](Self::write)
/// queue the job when called, not when first polled, and their futures do not borrow the
/// executor, so they can be spawned or awaited later. Dropping such a future does not cancel
/// a queued job; it only discards the answer.
///
/// Dropping the executor (or [`close`](Self::close)) stops taking jobs, lets every queued job
/// finish, and closes the connections (the last one to close checkpoints the WAL). Dropping
/// blocks the current thread until then; `close().await` waits without blocking.
pub struct Executor {
    // Field order matters: the senders must drop before `workers`, whose `Drop` joins the
    // threads, and the threads only exit once the senders are gone.
    writer: Sender<Box<dyn WriteJob>>,
    readers: Sender<ReadJob>,
    workers: Workers,
}

impl Executor {
    /// Opens (creating it if missing) the database at `path` and starts the writer thread and
    /// `options.readers` reader threads.
    ///
    /// Every connection gets PocketBase's pragmas (`busy_timeout`, `journal_size_limit`,
    /// `synchronous=NORMAL`, `foreign_keys=ON`, `temp_store=MEMORY`) with smaller page
    /// caches (8 MB for the writer, 16 MB per reader), the larger statement cache and
    /// `options.on_connect`; readers are also `query_only`.
    /// The database is switched to WAL, so `path` must be a file, not `:memory:`.
    pub fn open(path: &Path, options: ExecutorOptions) -> Result<Executor, ExecutorError> {
        let (writer_conn, guard) = connection::open_writer(path, &options)?;
        let reader_conns = (0..options.readers.max(1))
            .map(|_| connection::open_reader(path, &options))
            .collect::<Result<Vec<_>, _>>()?;
        let max_batch = options.max_batch.max(1);

        // Declared before the channels so that, if a spawn fails, the senders drop first and
        // the threads already started can exit before `workers` joins them.
        let mut workers = Workers(Vec::with_capacity(reader_conns.len() + 1));
        let (writer, write_jobs) = crossbeam_channel::unbounded();
        let (readers, read_jobs) = crossbeam_channel::unbounded();
        workers.spawn("kb-sqlite-writer".to_owned(), move || {
            writer::run(writer_conn, guard, write_jobs, max_batch);
        })?;
        for (i, conn) in reader_conns.into_iter().enumerate() {
            let jobs = read_jobs.clone();
            workers.spawn(format!("kb-sqlite-reader-{i}"), move || {
                reader::run(conn, jobs);
            })?;
        }
        Ok(Executor {
            writer,
            readers,
            workers,
        })
    }

    /// Runs `f` on whichever reader connection is free and returns what it returned.
    ///
    /// The connection is `query_only`: writes fail. It sees everything committed before the
    /// job started. For several queries that must see one snapshot (a page of records and
    /// their total count), wrap them in `conn.unchecked_transaction()`; a read transaction
    /// a job leaves open is rolled back after it.
    pub fn read<R, F>(
        &self,
        f: F,
    ) -> impl Future<Output = Result<R, ExecutorError>> + Send + use<R, F>
    where
        F: FnOnce(&Connection) -> R + Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let result = panic::catch_unwind(AssertUnwindSafe(|| f(conn))).map_err(|payload| {
                tracing::error!(
                    panic = writer::panic_message(&*payload),
                    "a read job panicked"
                );
                ExecutorError::JobPanicked
            });
            // Fails only if the caller stopped waiting.
            let _ = reply.send(result);
        });
        let queued = self.readers.send(job).is_ok();
        async move {
            if !queued {
                return Err(ExecutorError::Closed);
            }
            answer.await.unwrap_or(Err(ExecutorError::Closed))
        }
    }

    /// Runs `f` on the writer connection inside the current batch transaction and answers
    /// once that transaction has committed.
    ///
    /// * `Ok(Ok(r))`: the job succeeded and its changes are committed (durable across a
    ///   process crash).
    /// * `Ok(Err(e))`: the job returned `e`; everything it did was rolled back, and its batch
    ///   neighbours are unaffected.
    /// * `Err(Commit(_))`: the batch could not begin or commit; nothing was written.
    /// * `Err(JobPanicked)`: the job panicked; its changes were rolled back.
    ///
    /// The job runs inside a savepoint within a shared transaction, so:
    /// * it may use savepoints of its own (`conn.savepoint()`), but `BEGIN`, `COMMIT`,
    ///   `ROLLBACK` and `conn.transaction()` are refused with a "not authorized" error: they
    ///   would end the transaction its neighbours are in;
    /// * what cannot run in a transaction (`VACUUM`, `PRAGMA journal_mode`,
    ///   `PRAGMA foreign_keys`) fails or does nothing;
    /// * deferred foreign key constraints are only checked at `COMMIT`, so violating one fails
    ///   the whole batch with `Commit`.
    ///
    /// Keep jobs short: the next batch waits for this one.
    pub fn write<R, E, F>(
        &self,
        f: F,
    ) -> impl Future<Output = Result<Result<R, E>, ExecutorError>> + Send + use<R, E, F>
    where
        F: FnOnce(&mut Connection) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        self.write_then(move |conn: &mut Connection| f(conn).map(|value| (value, || {})))
    }

    /// Like [`write`](Self::write), but a successful job also returns an after-commit hook.
    ///
    /// The writer thread calls the hooks of a batch after its `COMMIT`, in commit order, each
    /// just before answering its job. So whatever a hook publishes (realtime events) comes
    /// out in the order the writes hit the database, and never for a write that was rolled
    /// back. A hook runs on the writer thread and delays every write behind it: hand work
    /// off (a channel send), don't do it there. A panicking hook is logged; the job is still
    /// answered `Ok`, since its write is committed.
    pub fn write_then<R, E, H, F>(
        &self,
        f: F,
    ) -> impl Future<Output = Result<Result<R, E>, ExecutorError>> + Send + use<R, E, H, F>
    where
        F: FnOnce(&mut Connection) -> Result<(R, H), E> + Send + 'static,
        H: FnOnce() + Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let queued = self.writer.send(Box::new(Job::new(f, reply))).is_ok();
        async move {
            if !queued {
                return Err(ExecutorError::Closed);
            }
            answer.await.unwrap_or(Err(ExecutorError::Closed))
        }
    }

    /// Stops taking jobs at once, then waits, without blocking a thread, until every queued
    /// job has been answered and every connection closed.
    pub fn close(self) -> impl Future<Output = ()> + Send {
        let Executor {
            writer,
            readers,
            workers,
        } = self;
        drop(writer);
        drop(readers);
        workers.exited()
    }
}

/// The executor's threads. Dropping joins them, which is what makes dropping the executor
/// wait for queued jobs.
struct Workers(Vec<Worker>);

struct Worker {
    thread: JoinHandle<()>,
    /// Never sent on: its sender drops when the thread's body returns (or unwinds), after the
    /// connection is closed, which wakes `close().await`.
    exited: oneshot::Receiver<()>,
}

impl Workers {
    fn spawn(
        &mut self,
        name: String,
        body: impl FnOnce() + Send + 'static,
    ) -> Result<(), ExecutorError> {
        let (exit_signal, exited) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name(name)
            .spawn(move || {
                let _exit_signal = exit_signal;
                body();
            })
            .map_err(ExecutorError::Spawn)?;
        self.0.push(Worker { thread, exited });
        Ok(())
    }

    async fn exited(mut self) {
        for worker in &mut self.0 {
            // An error is the expected outcome: the sender was dropped.
            let _ = (&mut worker.exited).await;
        }
        // Dropping `self` now joins threads that have already finished.
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for worker in self.0.drain(..) {
            // A job or hook that owned the last handle to the executor drops it on an executor
            // thread, which must not wait for itself.
            if worker.thread.thread().id() == thread::current().id() {
                continue;
            }
            if worker.thread.join().is_err() {
                tracing::error!("an SQLite executor thread panicked");
            }
        }
    }
}
