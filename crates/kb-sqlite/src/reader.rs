//! The reader threads: each owns one `query_only` connection and takes jobs from the one
//! channel all readers share, so a read goes to whichever reader is free.

use crossbeam_channel::Receiver;
use rusqlite::Connection;

use crate::connection;

/// A read job with its reply already bound in; it catches its own panics.
pub(crate) type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

pub(crate) fn run(conn: Connection, jobs: Receiver<ReadJob>) {
    // Ends when every sender is gone and the queue is empty, so queued reads still run.
    for job in jobs.iter() {
        job(&conn);
        // A job that left a read transaction open (a raw `BEGIN`, or a panic half-way) would
        // pin its snapshot until this reader's next job, and a pinned snapshot stops WAL
        // checkpoints from recycling the log. End it here instead.
        if !conn.is_autocommit()
            && let Err(err) = conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(error = %err, "could not end a read transaction left open by a job");
        }
    }
    connection::close(conn);
}
