//! The writer thread: owns the only read-write connection and runs write jobs in batches,
//! one transaction per batch and one savepoint per job (group commit).

use std::any::Any;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use crossbeam_channel::Receiver;
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::ExecutorError;
use crate::connection::{self, JOB_SAVEPOINT, TxnGuard};

/// A queued write job, type-erased so that one channel carries jobs of every result type.
pub(crate) trait WriteJob: Send {
    /// Runs the job inside its savepoint and says whether to keep its changes.
    fn run(self: Box<Self>, conn: &mut Connection) -> Ran;
    /// Answers a job that never ran because its batch failed before reaching it.
    fn abandon(self: Box<Self>, cause: &Arc<rusqlite::Error>);
}

/// What the batch learns from running a job: keep or discard its savepoint, and how to answer
/// it once the batch has committed (`Ok`) or been rolled back (`Err`).
pub(crate) struct Ran {
    keep: bool,
    settle: Settle,
}

type Settle = Box<dyn FnOnce(Result<(), &Arc<rusqlite::Error>>) + Send>;

/// The job behind [`Executor::write_then`](crate::Executor::write_then): a closure that
/// returns a value and an after-commit hook, and the channel to answer it on.
pub(crate) struct Job<F, R, E, H> {
    f: F,
    reply: oneshot::Sender<Result<Result<R, E>, ExecutorError>>,
    hook: PhantomData<fn() -> H>,
}

impl<F, R, E, H> Job<F, R, E, H> {
    pub(crate) fn new(f: F, reply: oneshot::Sender<Result<Result<R, E>, ExecutorError>>) -> Self {
        Job {
            f,
            reply,
            hook: PhantomData,
        }
    }
}

impl<F, R, E, H> WriteJob for Job<F, R, E, H>
where
    F: FnOnce(&mut Connection) -> Result<(R, H), E> + Send,
    R: Send + 'static,
    E: Send + 'static,
    H: FnOnce() + Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut Connection) -> Ran {
        let Job { f, reply, .. } = *self;
        // Sending may fail only because the caller stopped waiting; the write stands anyway.
        match panic::catch_unwind(AssertUnwindSafe(|| f(conn))) {
            Ok(Ok((value, hook))) => Ran {
                keep: true,
                settle: Box::new(move |batch| {
                    let answer = match batch {
                        Ok(()) => {
                            run_hook(hook);
                            Ok(Ok(value))
                        }
                        Err(cause) => Err(ExecutorError::Commit(Arc::clone(cause))),
                    };
                    let _ = reply.send(answer);
                }),
            },
            // A failed job wrote nothing whatever happens to its batch, so its own error is
            // the whole truth even if the batch later fails to commit.
            Ok(Err(err)) => Ran {
                keep: false,
                settle: Box::new(move |_| {
                    let _ = reply.send(Ok(Err(err)));
                }),
            },
            Err(payload) => {
                tracing::error!(
                    panic = panic_message(&*payload),
                    "a write job panicked; its changes are rolled back"
                );
                Ran {
                    keep: false,
                    settle: Box::new(move |_| {
                        let _ = reply.send(Err(ExecutorError::JobPanicked));
                    }),
                }
            }
        }
    }

    fn abandon(self: Box<Self>, cause: &Arc<rusqlite::Error>) {
        let _ = self
            .reply
            .send(Err(ExecutorError::Commit(Arc::clone(cause))));
    }
}

/// Runs an after-commit hook. The write is already durable, so a panicking hook is logged
/// and the job is still answered with its value.
fn run_hook(hook: impl FnOnce()) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(hook)) {
        tracing::error!(
            panic = panic_message(&*payload),
            "an after-commit hook panicked; the write itself is committed"
        );
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "(panic payload is not a string)"
    }
}

pub(crate) fn run(
    mut conn: Connection,
    guard: TxnGuard,
    jobs: Receiver<Box<dyn WriteJob>>,
    max_batch: usize,
) {
    // Block for the first job, then take whatever else is already queued without waiting:
    // under load batches grow by themselves, and a lone write is never delayed. The loop ends
    // when every sender is gone and the queue is empty, so queued writes still run.
    while let Ok(first) = jobs.recv() {
        let mut batch = VecDeque::from([first]);
        batch.extend(jobs.try_iter().take(max_batch - 1));
        run_batch(&mut conn, &guard, batch);
    }
    connection::close(conn);
}

fn run_batch(conn: &mut Connection, guard: &TxnGuard, mut queue: VecDeque<Box<dyn WriteJob>>) {
    let mut ran = Vec::with_capacity(queue.len());
    let outcome =
        run_jobs(conn, guard, &mut queue, &mut ran).and_then(|()| guard.execute(conn, "COMMIT"));
    match outcome {
        // Answer only now: an acknowledged write is committed, and hooks run in commit order.
        Ok(()) => {
            tracing::trace!(jobs = ran.len(), "write batch committed");
            for job in ran {
                (job.settle)(Ok(()));
            }
        }
        Err(err) => {
            tracing::warn!(
                error = %err,
                jobs = ran.len() + queue.len(),
                "write batch failed and is rolled back"
            );
            // A failed COMMIT may leave the transaction open (SQLITE_BUSY, deferred foreign
            // keys); a failed BEGIN leaves none.
            if !conn.is_autocommit()
                && let Err(err) = guard.execute(conn, "ROLLBACK")
            {
                tracing::error!(error = %err, "rolling back a failed write batch failed");
            }
            let cause = Arc::new(err);
            for job in ran {
                (job.settle)(Err(&cause));
            }
            for job in queue {
                job.abandon(&cause);
            }
        }
    }
}

/// Opens the batch transaction and runs each job in its own savepoint. Any error here is the
/// executor's own statement failing, which dooms the batch; jobs not yet run stay in `queue`.
fn run_jobs(
    conn: &mut Connection,
    guard: &TxnGuard,
    queue: &mut VecDeque<Box<dyn WriteJob>>,
    ran: &mut Vec<Ran>,
) -> rusqlite::Result<()> {
    // IMMEDIATE takes the write lock up front, so a job never fails half-way with
    // SQLITE_BUSY when its first write has to upgrade a read transaction.
    guard.execute(conn, "BEGIN IMMEDIATE")?;
    let savepoint = format!("SAVEPOINT {JOB_SAVEPOINT}");
    let release = format!("RELEASE {JOB_SAVEPOINT}");
    let discard = format!("ROLLBACK TO {JOB_SAVEPOINT}; RELEASE {JOB_SAVEPOINT}");
    while let Some(job) = queue.pop_front() {
        if let Err(err) = guard.execute(conn, &savepoint) {
            queue.push_front(job);
            return Err(err);
        }
        let outcome = job.run(conn);
        let end = if outcome.keep { &release } else { &discard };
        ran.push(outcome);
        guard.execute(conn, end)?;
    }
    Ok(())
}
