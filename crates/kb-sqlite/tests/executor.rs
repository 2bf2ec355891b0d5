//! The executor against real SQLite files in a temporary directory.

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use kb_sqlite::{Executor, ExecutorError, ExecutorOptions};
use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use tempfile::TempDir;

type Answer<R, E> = Result<Result<R, E>, ExecutorError>;

/// A fresh database with an empty table `t (id INTEGER PRIMARY KEY, v TEXT)`.
async fn setup(options: ExecutorOptions) -> (TempDir, Executor) {
    let dir = tempfile::tempdir().unwrap();
    let exec = Executor::open(&dir.path().join("data.db"), options).unwrap();
    exec.write(|conn| conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        .await
        .unwrap()
        .unwrap();
    (dir, exec)
}

fn insert(conn: &Connection, v: &str) -> rusqlite::Result<i64> {
    conn.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
    Ok(conn.last_insert_rowid())
}

async fn values(exec: &Executor) -> Vec<String> {
    exec.read(|conn| {
        let mut stmt = conn.prepare("SELECT v FROM t ORDER BY id")?;
        stmt.query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()
    })
    .await
    .unwrap()
    .unwrap()
}

/// Occupies the writer thread with a job that first runs `before` and then blocks until the
/// returned sender is used or dropped. Jobs submitted meanwhile queue up and then run as one
/// batch, which makes batching deterministic without sleeping.
async fn occupy_writer<B>(
    exec: &Executor,
    before: B,
) -> (
    mpsc::Sender<()>,
    impl Future<Output = Answer<(), Infallible>> + use<B>,
)
where
    B: FnOnce(&mut Connection) + Send + 'static,
{
    let (started_tx, started) = tokio::sync::oneshot::channel();
    let (release, released) = mpsc::channel::<()>();
    let done = exec.write(move |conn| {
        before(conn);
        started_tx.send(()).unwrap();
        // Err means the sender was dropped, which releases just the same.
        let _ = released.recv();
        Ok::<_, Infallible>(())
    });
    started.await.unwrap();
    (release, done)
}

/// Counts the commits on the writer connection from now on.
fn count_commits(conn: &mut Connection) -> Arc<AtomicUsize> {
    let commits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&commits);
    conn.commit_hook(Some(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        false
    }))
    .unwrap();
    commits
}

#[test]
fn executor_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Executor>();
}

#[tokio::test]
async fn reads_see_committed_writes() {
    let (_dir, exec) = setup(ExecutorOptions::default()).await;
    let id = exec.write(|conn| insert(conn, "a")).await.unwrap().unwrap();
    assert_eq!(id, 1);
    assert_eq!(values(&exec).await, ["a"]);
}

#[tokio::test]
async fn connections_get_the_pragmas_and_readers_cannot_write() {
    let (_dir, exec) = setup(ExecutorOptions::default()).await;
    let pragmas = |conn: &Connection| -> rusqlite::Result<(String, i64, i64, i64)> {
        Ok((
            conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
            conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?,
            conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?,
            conn.query_row("PRAGMA query_only", [], |r| r.get(0))?,
        ))
    };
    let on_writer = exec
        .write(move |conn| pragmas(conn))
        .await
        .unwrap()
        .unwrap();
    let on_reader = exec.read(pragmas).await.unwrap().unwrap();
    assert_eq!(on_writer, ("wal".to_owned(), 1, 10_000, 0));
    assert_eq!(on_reader, ("wal".to_owned(), 1, 10_000, 1));

    let write_on_reader = exec.read(|conn| insert(conn, "x")).await.unwrap();
    assert!(write_on_reader.is_err());
    assert!(values(&exec).await.is_empty());
}

#[tokio::test]
async fn a_memory_database_is_refused() {
    let result = Executor::open(Path::new(":memory:"), ExecutorOptions::default());
    assert!(matches!(result, Err(ExecutorError::NotWal(mode)) if mode == "memory"));
}

#[tokio::test]
async fn on_connect_runs_on_every_connection() {
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    let options = ExecutorOptions {
        readers: 3,
        on_connect: Some(Arc::new(move |conn: &Connection| {
            counter.fetch_add(1, Ordering::SeqCst);
            conn.create_scalar_function("kb_answer", 0, FunctionFlags::SQLITE_DETERMINISTIC, |_| {
                Ok(42)
            })
        })),
        ..ExecutorOptions::default()
    };
    let (_dir, exec) = setup(options).await;
    assert_eq!(connections.load(Ordering::SeqCst), 1 + 3);
    let query = |conn: &Connection| conn.query_row("SELECT kb_answer()", [], |r| r.get(0));
    let written: i64 = exec.write(move |conn| query(conn)).await.unwrap().unwrap();
    assert_eq!(written, 42);
    // Queue more reads than readers so that every reader answers some of them.
    let reads: Vec<_> = (0..30).map(|_| exec.read(query)).collect();
    for read in reads {
        assert_eq!(read.await.unwrap().unwrap(), 42_i64);
    }
}

#[tokio::test]
async fn a_failing_job_rolls_back_alone_and_its_batch_neighbours_commit() {
    let (_dir, exec) = setup(ExecutorOptions::default()).await;
    let (release, first) = occupy_writer(&exec, |_| {}).await;
    let commits = exec.write(|conn| Ok::<_, Infallible>(count_commits(conn)));
    let jobs: Vec<_> = (0..100)
        .map(|i| {
            exec.write(move |conn| {
                insert(conn, &format!("row {i}")).map_err(|e| e.to_string())?;
                if i % 3 == 0 {
                    return Err(format!("job {i} fails after writing"));
                }
                Ok(i)
            })
        })
        .collect();
    drop(release);
    first.await.unwrap().unwrap();
    let commits = commits.await.unwrap().unwrap();

    for (i, job) in (0..100).zip(jobs) {
        match job.await.unwrap() {
            Ok(value) => assert_eq!(value, i),
            Err(message) => {
                assert_eq!(i % 3, 0);
                assert_eq!(message, format!("job {i} fails after writing"));
            }
        }
    }
    let expected: Vec<String> = (0..100)
        .filter(|i| i % 3 != 0)
        .map(|i| format!("row {i}"))
        .collect();
    assert_eq!(values(&exec).await, expected);
    // All 101 queued jobs (the commit counter and the 100 inserts) shared one transaction.
    assert_eq!(commits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn batches_are_capped_at_max_batch() {
    let options = ExecutorOptions {
        max_batch: 10,
        ..ExecutorOptions::default()
    };
    let (_dir, exec) = setup(options).await;
    let (release, first) = occupy_writer(&exec, |_| {}).await;
    let commits = exec.write(|conn| Ok::<_, Infallible>(count_commits(conn)));
    let jobs: Vec<_> = (0..49)
        .map(|i| exec.write(move |conn| insert(conn, &i.to_string())))
        .collect();
    drop(release);
    first.await.unwrap().unwrap();
    for job in jobs {
        job.await.unwrap().unwrap();
    }
    // 1 + 49 jobs in batches of 10.
    assert_eq!(commits.await.unwrap().unwrap().load(Ordering::SeqCst), 5);
    assert_eq!(values(&exec).await.len(), 49);
}

#[tokio::test]
async fn a_panicking_job_is_isolated() {
    let (_dir, exec) = setup(ExecutorOptions {
        readers: 1,
        ..ExecutorOptions::default()
    })
    .await;
    let (release, first) = occupy_writer(&exec, |_| {}).await;
    let before = exec.write(|conn| insert(conn, "before"));
    let panics = exec.write(|conn| -> rusqlite::Result<()> {
        insert(conn, "panicked")?;
        panic!("job blew up");
    });
    let after = exec.write(|conn| insert(conn, "after"));
    drop(release);
    first.await.unwrap().unwrap();

    before.await.unwrap().unwrap();
    assert!(matches!(panics.await, Err(ExecutorError::JobPanicked)));
    after.await.unwrap().unwrap();
    assert_eq!(values(&exec).await, ["before", "after"]);

    // The only reader survives a panicking read job too.
    let read = exec.read(|_| -> i64 { panic!("read blew up") }).await;
    assert!(matches!(read, Err(ExecutorError::JobPanicked)));
    assert_eq!(values(&exec).await, ["before", "after"]);
    exec.write(|conn| insert(conn, "later"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(values(&exec).await, ["before", "after", "later"]);
}

#[tokio::test]
async fn a_job_cannot_end_the_group_transaction_but_may_nest_savepoints() {
    let (_dir, exec) = setup(ExecutorOptions::default()).await;
    let (release, first) = occupy_writer(&exec, |_| {}).await;
    let before = exec.write(|conn| insert(conn, "before"));
    let commits = exec.write(|conn| {
        insert(conn, "commits")?;
        conn.execute_batch("COMMIT")
    });
    let rolls_back = exec.write(|conn| {
        insert(conn, "rolls back")?;
        conn.execute_batch("ROLLBACK")
    });
    let opens_transaction = exec.write(|conn| conn.transaction().map(drop));
    let touches_executor_savepoint = exec.write(|conn| {
        insert(conn, "releases")?;
        conn.execute_batch("RELEASE kb_sqlite_job")
    });
    let nests = exec.write(|conn| {
        insert(conn, "outer")?;
        {
            // Dropped without commit: rolled back.
            let inner = conn.savepoint()?;
            insert(&inner, "inner, rolled back")?;
        }
        let inner = conn.savepoint()?;
        insert(&inner, "inner, kept")?;
        inner.commit()
    });
    let after = exec.write(|conn| insert(conn, "after"));
    drop(release);
    first.await.unwrap().unwrap();

    assert_not_authorized(commits.await);
    assert_not_authorized(rolls_back.await);
    assert_not_authorized(opens_transaction.await);
    assert_not_authorized(touches_executor_savepoint.await);
    before.await.unwrap().unwrap();
    nests.await.unwrap().unwrap();
    after.await.unwrap().unwrap();
    assert_eq!(
        values(&exec).await,
        ["before", "outer", "inner, kept", "after"]
    );
}

fn assert_not_authorized<R: std::fmt::Debug>(answer: Answer<R, rusqlite::Error>) {
    let err = answer.unwrap().unwrap_err();
    assert!(err.to_string().contains("not authorized"), "{err}");
}

#[tokio::test]
async fn a_failed_commit_fails_the_whole_batch() {
    let (_dir, exec) = setup(ExecutorOptions::default()).await;
    exec.write(|conn| {
        conn.execute_batch(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (parent INTEGER REFERENCES parent (id)
                                 DEFERRABLE INITIALLY DEFERRED)",
        )
    })
    .await
    .unwrap()
    .unwrap();

    let (release, first) = occupy_writer(&exec, |_| {}).await;
    let good = exec.write(|conn| insert(conn, "good"));
    let fails_alone = exec.write(|conn| {
        insert(conn, "fails alone").map_err(|e| e.to_string())?;
        Err::<(), _>("own error".to_owned())
    });
    // Deferred, so only COMMIT notices the missing parent.
    let orphan = exec.write(|conn| conn.execute("INSERT INTO child VALUES (7)", []));
    drop(release);
    first.await.unwrap().unwrap();

    assert!(matches!(good.await, Err(ExecutorError::Commit(_))));
    assert_eq!(fails_alone.await.unwrap().unwrap_err(), "own error");
    match orphan.await {
        Err(ExecutorError::Commit(cause)) => {
            assert!(cause.to_string().contains("FOREIGN KEY"), "{cause}")
        }
        other => panic!("expected a commit error, got {other:?}"),
    }
    assert!(values(&exec).await.is_empty());

    // The writer recovered: the transaction was rolled back and the next batch commits.
    exec.write(|conn| insert(conn, "next"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(values(&exec).await, ["next"]);
}

#[tokio::test]
async fn a_batch_that_cannot_begin_fails_every_job_and_the_writer_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.db");
    let options = ExecutorOptions {
        busy_timeout: Duration::from_millis(20),
        ..ExecutorOptions::default()
    };
    let exec = Executor::open(&path, options).unwrap();
    exec.write(|conn| conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        .await
        .unwrap()
        .unwrap();

    // Another process (here: another connection) holds the write lock for longer than
    // the busy timeout, so BEGIN IMMEDIATE fails and no job runs.
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..5)
        .map(|i| {
            let ran = Arc::clone(&ran);
            exec.write(move |conn| {
                ran.fetch_add(1, Ordering::SeqCst);
                insert(conn, &i.to_string())
            })
        })
        .collect();
    for job in jobs {
        match job.await {
            Err(ExecutorError::Commit(cause)) => {
                assert_eq!(
                    cause.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy)
                )
            }
            other => panic!("expected a commit error, got {other:?}"),
        }
    }

    assert_eq!(ran.load(Ordering::SeqCst), 0);

    other.execute_batch("ROLLBACK").unwrap();
    exec.write(|conn| insert(conn, "after"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(values(&exec).await, ["after"]);
}

#[tokio::test]
async fn readers_run_while_a_write_transaction_is_open() {
    let (_dir, exec) = setup(ExecutorOptions {
        readers: 2,
        ..ExecutorOptions::default()
    })
    .await;
    let (release, write) = occupy_writer(&exec, |conn| {
        insert(conn, "uncommitted").unwrap();
    })
    .await;

    // The writer is inside its transaction, with a row written but not committed.
    let reads: Vec<_> = (0..4)
        .map(|_| {
            exec.read(|conn| conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)))
        })
        .collect();
    for read in reads {
        assert_eq!(read.await.unwrap().unwrap(), 0_i64);
    }

    release.send(()).unwrap();
    write.await.unwrap().unwrap();
    assert_eq!(values(&exec).await, ["uncommitted"]);
}

#[tokio::test]
async fn a_reader_does_not_keep_a_snapshot_between_jobs() {
    let (_dir, exec) = setup(ExecutorOptions {
        readers: 1,
        ..ExecutorOptions::default()
    })
    .await;
    let count = |conn: &Connection| -> rusqlite::Result<i64> {
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
    };
    // Leaves a read transaction (and its snapshot) open.
    let seen = exec
        .read(move |conn| {
            conn.execute_batch("BEGIN")?;
            count(conn)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen, 0);
    exec.write(|conn| insert(conn, "a")).await.unwrap().unwrap();
    let (seen, autocommit) = exec
        .read(move |conn| Ok::<_, rusqlite::Error>((count(conn)?, conn.is_autocommit())))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((seen, autocommit), (1, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_commit_hooks_run_in_commit_order_before_the_answer() {
    let (_dir, exec) = setup(ExecutorOptions::default()).await;
    let exec = Arc::new(exec);
    let published = Arc::new(Mutex::new(Vec::new()));

    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let exec = Arc::clone(&exec);
            let published = Arc::clone(&published);
            tokio::spawn(async move {
                let id = exec
                    .write_then(move |conn| {
                        let id = insert(conn, &i.to_string())?;
                        let publish = move || published.lock().unwrap().push(id);
                        Ok::<_, rusqlite::Error>((id, publish))
                    })
                    .await
                    .unwrap()
                    .unwrap();
                (id, exec)
            })
        })
        .collect();
    for task in tasks {
        let (id, _exec) = task.await.unwrap();
        assert!(published.lock().unwrap().contains(&id));
    }

    // Row ids grow in commit order, so the hooks saw the commits in order.
    let published = published.lock().unwrap().clone();
    assert_eq!(published, (1..=500).collect::<Vec<i64>>());
}

#[tokio::test]
async fn hooks_of_failed_jobs_never_run_and_a_panicking_hook_keeps_the_write() {
    let (_dir, exec) = setup(ExecutorOptions::default()).await;
    let ran = Arc::new(AtomicUsize::new(0));

    let counter = Arc::clone(&ran);
    let failed = exec
        .write_then(move |conn| {
            insert(conn, "failed")?;
            conn.execute("INSERT INTO no_such_table VALUES (1)", [])?;
            Ok::<_, rusqlite::Error>(((), move || {
                counter.fetch_add(1, Ordering::SeqCst);
            }))
        })
        .await
        .unwrap();
    assert!(failed.is_err());

    let panicking = exec
        .write_then(|conn| {
            insert(conn, "kept")?;
            Ok::<_, rusqlite::Error>(("value", || panic!("hook blew up")))
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(panicking, "value");

    let counter = Arc::clone(&ran);
    exec.write_then(move |conn| {
        insert(conn, "later")?;
        Ok::<_, rusqlite::Error>(((), move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }))
    })
    .await
    .unwrap()
    .unwrap();

    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(values(&exec).await, ["kept", "later"]);
}

#[tokio::test]
async fn close_drains_queued_jobs() {
    let (dir, exec) = setup(ExecutorOptions::default()).await;
    let (release, first) = occupy_writer(&exec, |_| {}).await;
    let writes: Vec<_> = (0..100)
        .map(|i| exec.write(move |conn| insert(conn, &i.to_string())))
        .collect();
    let reads: Vec<_> = (0..10)
        .map(|_| exec.read(|conn| conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))))
        .collect();

    // Nothing can be submitted after this; the 100 writes are still queued.
    let closed = exec.close();
    release.send(()).unwrap();
    closed.await;

    first.await.unwrap().unwrap();
    for write in writes {
        write.await.unwrap().unwrap();
    }
    for read in reads {
        assert_eq!(read.await.unwrap().unwrap(), 1);
    }
    let conn = Connection::open(dir.path().join("data.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 100);
}

#[tokio::test]
async fn dropping_the_executor_drains_queued_jobs() {
    let (_dir, exec) = setup(ExecutorOptions::default()).await;
    let writes: Vec<_> = (0..50)
        .map(|i| exec.write(move |conn| insert(conn, &i.to_string())))
        .collect();
    drop(exec);
    for write in writes {
        write.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_inserts_all_commit() {
    let (_dir, exec) = setup(ExecutorOptions::default()).await;
    let exec = Arc::new(exec);
    let tasks: Vec<_> = (0..2_000)
        .map(|i| {
            let exec = Arc::clone(&exec);
            tokio::spawn(async move {
                exec.write(move |conn| {
                    conn.prepare_cached("INSERT INTO t (v) VALUES (?1)")?
                        .execute([i.to_string()])
                })
                .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().unwrap(), 1);
    }
    let (rows, distinct): (i64, i64) = exec
        .read(|conn| {
            conn.query_row("SELECT count(*), count(DISTINCT v) FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!((rows, distinct), (2_000, 2_000));
}

#[tokio::test]
async fn data_survives_reopening() {
    let (dir, exec) = setup(ExecutorOptions::default()).await;
    exec.write(|conn| insert(conn, "kept"))
        .await
        .unwrap()
        .unwrap();
    exec.close().await;

    let exec = Executor::open(&dir.path().join("data.db"), ExecutorOptions::default()).unwrap();
    assert_eq!(values(&exec).await, ["kept"]);
}
