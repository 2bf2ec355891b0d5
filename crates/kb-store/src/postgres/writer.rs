//! The writer task: runs queued write jobs in batches, one transaction per batch and one
//! savepoint per job (group commit, as the SQLite executor does), so concurrent writes share
//! one `COMMIT` and its WAL flush instead of waiting for a turn each.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use deadpool_postgres::Pool;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{PgConn, cluster, connection};
use crate::{AfterCommit, Outcome, StoreError, WriteJob};

/// The most jobs one transaction takes: a batch's jobs wait for its `COMMIT`, so it must
/// not grow without bound under load.
const MAX_BATCH: usize = 256;

const JOB_SAVEPOINT: &str = "SAVEPOINT kb_write_job";
const KEEP_JOB: &str = "RELEASE SAVEPOINT kb_write_job";
/// Released after the rollback too, so savepoints do not pile up over a batch.
const DISCARD_JOB: &str = "ROLLBACK TO SAVEPOINT kb_write_job; RELEASE SAVEPOINT kb_write_job";

/// A job's answer: its result, or the panic to re-raise in its caller.
type Answer = std::thread::Result<Result<(), StoreError>>;

/// A job waiting for the writer, and where its caller waits for the answer.
struct QueuedWrite {
    job: WriteJob,
    reply: oneshot::Sender<Answer>,
}

/// The queue of write jobs and the task that runs them.
pub(super) struct WriteQueue {
    jobs: mpsc::UnboundedSender<QueuedWrite>,
    writer: JoinHandle<()>,
}

impl WriteQueue {
    /// Start the writer on connections from `pool`, announcing changes as `node`.
    pub(super) fn start(pool: Pool, node: String) -> WriteQueue {
        let (jobs, queue) = mpsc::unbounded_channel();
        WriteQueue {
            jobs,
            writer: tokio::spawn(run(pool, node, queue)),
        }
    }

    /// Queue `job`; the future resolves once the job's batch has committed (or the job
    /// rolled back), after its after-commit hook ran.
    pub(super) fn submit(
        &self,
        job: WriteJob,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let queued = self.jobs.send(QueuedWrite { job, reply });
        async move {
            queued.map_err(|_| StoreError::Closed)?;
            match answer.await {
                Ok(Ok(result)) => result,
                Ok(Err(panic)) => resume_unwind(panic),
                // The writer was dropped with the job (the runtime is shutting down).
                Err(_) => Err(StoreError::Closed),
            }
        }
    }

    /// Refuse new jobs and wait until the writer has run the queued ones.
    pub(super) async fn close(self) {
        drop(self.jobs);
        if let Err(error) = self.writer.await {
            tracing::error!(%error, "the PostgreSQL writer task failed");
        }
    }
}

async fn run(pool: Pool, node: String, mut queue: mpsc::UnboundedReceiver<QueuedWrite>) {
    let mut taken = Vec::with_capacity(MAX_BATCH);
    // Wait for the first job, then take whatever else is already queued without waiting:
    // under load batches grow by themselves, and a lone write is never delayed. The loop
    // ends when the sender is gone and the queue is empty, so queued writes still run.
    while queue.recv_many(&mut taken, MAX_BATCH).await > 0 {
        let batch: VecDeque<QueuedWrite> = taken.drain(..).collect();
        let client = match connection(&pool).await {
            Ok(client) => client,
            Err(error) => {
                refuse(batch, &error);
                continue;
            }
        };
        let (pool, node, handle) = (pool.clone(), node.clone(), Handle::current());
        // Awaited before the next batch starts: hooks run in commit order.
        let ran = tokio::task::spawn_blocking(move || {
            run_batch(&pool, &mut PgConn::new(&client, handle, &node), batch);
        })
        .await;
        if let Err(error) = ran {
            // Jobs and hooks run under `catch_unwind`: this is the writer's own fault, and
            // the callers of the batch's unanswered jobs see `StoreError::Closed`.
            tracing::error!(%error, "a PostgreSQL write batch failed");
        }
    }
}

/// Answer every job of `batch` with `error`.
fn refuse(batch: impl IntoIterator<Item = QueuedWrite>, error: &StoreError) {
    for write in batch {
        // Sending fails only if the caller stopped waiting.
        let _ = write.reply.send(Ok(Err(error.clone())));
    }
}

/// Run the jobs of `queue` in one transaction on `conn` (from `pool`), then answer each.
fn run_batch(pool: &Pool, conn: &mut PgConn<'_>, mut queue: VecDeque<QueuedWrite>) {
    let mut ran = Vec::with_capacity(queue.len());
    let outcome = run_jobs(conn, &mut queue, &mut ran);
    if let Err(error) = &outcome {
        let jobs = ran.len() + queue.len();
        tracing::warn!(%error, jobs, "write batch failed and is rolled back");
        // A failed `COMMIT` has ended the transaction already (then this only warns).
        if let Err(error) = conn.batch("ROLLBACK") {
            tracing::error!(%error, "rolling back a failed write batch failed");
        }
    }
    if conn.schema_changed {
        // Cached statements may name columns whose type changed: prepare anew, before any
        // caller hears of the change.
        pool.manager().statement_caches.clear();
    }
    // Answer only now: an acknowledged write is durable, and hooks run in commit order.
    for job in ran {
        job.settle(&outcome);
    }
    if let Err(error) = &outcome {
        refuse(queue, error);
    }
}

/// Opens the batch's transaction, runs each job in its own savepoint, announces what the
/// kept jobs changed and commits. An error here is the batch's own statement failing, which
/// dooms the batch; jobs not yet run stay in `queue`.
fn run_jobs(
    conn: &mut PgConn<'_>,
    queue: &mut VecDeque<QueuedWrite>,
    ran: &mut Vec<Ran>,
) -> Result<(), StoreError> {
    conn.batch("BEGIN")?;
    while let Some(write) = queue.pop_front() {
        if let Err(error) = conn.batch(JOB_SAVEPOINT) {
            queue.push_front(write);
            return Err(error);
        }
        let settled = run_job(conn, write.job);
        let end = match settled {
            Settled::Kept(_) => KEEP_JOB,
            Settled::Discarded(_) => DISCARD_JOB,
        };
        ran.push(Ran {
            reply: write.reply,
            settled,
        });
        conn.batch(end)?;
    }
    // Sent with `pg_notify` inside the transaction: PostgreSQL delivers it only on commit.
    let announced = std::mem::take(&mut conn.announced);
    cluster::announce(conn, conn.node, announced)?;
    conn.batch("COMMIT")
}

/// Run `job` inside the savepoint just taken. A job whose changes are not kept loses its
/// announcements and the failure flag (rolling back to the savepoint revives the
/// transaction PostgreSQL aborted).
fn run_job(conn: &mut PgConn<'_>, job: WriteJob) -> Settled {
    let announced = conn.announced.len();
    let settled = match catch_unwind(AssertUnwindSafe(|| job(conn))) {
        Ok(Outcome::Commit(hook)) if !conn.failed.get() => return Settled::Kept(hook),
        // The job went on after a failed statement; PostgreSQL discarded what it did.
        Ok(Outcome::Commit(_)) => Settled::Discarded(Ok(Err(StoreError::Database(
            "a statement failed inside the write; nothing was committed".into(),
        )))),
        // A job that asked for a rollback has its own error in its result slot.
        Ok(Outcome::Rollback) => Settled::Discarded(Ok(Ok(()))),
        Err(panic) => Settled::Discarded(Err(panic)),
    };
    conn.failed.set(false);
    conn.announced.truncate(announced);
    if conn.schema_changed {
        // Statements this connection cached after the job's DDL may describe a schema the
        // rollback has undone.
        conn.client.statement_cache.clear();
    }
    settled
}

/// A job that ran in the batch, waiting for the batch to end to be answered.
struct Ran {
    reply: oneshot::Sender<Answer>,
    settled: Settled,
}

enum Settled {
    /// Its savepoint was released: it stands or falls with the batch, and once the batch
    /// has committed its hook runs.
    Kept(Option<AfterCommit>),
    /// Rolled back to its savepoint: it wrote nothing, so this answer holds whatever
    /// becomes of the batch.
    Discarded(Answer),
}

impl Ran {
    fn settle(self, batch: &Result<(), StoreError>) {
        let answer = match (self.settled, batch) {
            (Settled::Discarded(answer), _) => answer,
            (Settled::Kept(_), Err(error)) => Ok(Err(error.clone())),
            // The write is committed; a panicking hook goes on in the job's caller.
            (Settled::Kept(hook), Ok(())) => catch_unwind(AssertUnwindSafe(|| {
                if let Some(hook) = hook {
                    hook();
                }
                Ok(())
            })),
        };
        // Sending fails only if the caller stopped waiting; the write's fate is settled.
        let _ = self.reply.send(answer);
    }
}
