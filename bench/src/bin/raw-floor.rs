//! The raw floor (scenario 8): the least a server can do to answer the harness's view and
//! create requests over HTTP with SQLite. axum, one writer thread with group commit, reader
//! threads, the same pragmas as Keelbase, and nothing else: no auth, no rules, no
//! validation. Keelbase's throughput as a fraction of this one's shows how much of the
//! machine the application layer costs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread;

use anyhow::{Context, Result};
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use crossbeam_channel::{Receiver, Sender};
use kb_bench::dataset::{self, Message};
use rand::RngExt;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;
use tokio::sync::oneshot;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    http: SocketAddr,
    /// Directory for `data.db`.
    #[arg(long)]
    dir: PathBuf,
    /// Messages of the shared data set to insert at startup, so views find the same ids.
    #[arg(long, default_value_t = 0)]
    seed: usize,
    #[arg(long, default_value_t = 2)]
    readers: usize,
}

/// Keelbase's (and PocketBase's) connection pragmas, so durability is the same.
const PRAGMAS: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    PRAGMA foreign_keys = ON;
    PRAGMA temp_store = MEMORY;
    PRAGMA cache_size = -32000;
    PRAGMA busy_timeout = 10000;
";

/// Most inserts merged into one transaction, as Keelbase's executor does.
const MAX_BATCH: usize = 256;

struct ReadJob {
    id: String,
    reply: oneshot::Sender<rusqlite::Result<Option<Message>>>,
}

struct WriteJob {
    message: Message,
    reply: oneshot::Sender<Result<(), String>>,
}

#[derive(Clone)]
struct Db {
    reads: Sender<ReadJob>,
    writes: Sender<WriteJob>,
}

#[derive(Deserialize)]
struct NewMessage {
    room: String,
    author: String,
    text: String,
    seq: i64,
    tag: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir)?;
    let db_path = args.dir.join("data.db");
    let writer = open(&db_path)?;
    create_and_seed(&writer, args.seed)?;

    let (writes, write_jobs) = crossbeam_channel::unbounded();
    thread::spawn(move || run_writer(writer, write_jobs));
    let (reads, read_jobs) = crossbeam_channel::unbounded();
    for _ in 0..args.readers.max(1) {
        let conn = open(&db_path)?;
        let jobs = read_jobs.clone();
        thread::spawn(move || run_reader(conn, jobs));
    }

    let app = Router::new()
        .route("/api/health", get(|| async { "ok" }))
        .route("/api/collections/messages/records", post(create))
        .route("/api/collections/messages/records/{id}", get(view))
        .with_state(Db { reads, writes });
    tokio::runtime::Runtime::new()?.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.http).await?;
        axum::serve(listener, app).await?;
        Ok(())
    })
}

fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.execute_batch(PRAGMAS)?;
    Ok(conn)
}

fn create_and_seed(conn: &Connection, seed: usize) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS messages (
             id TEXT PRIMARY KEY NOT NULL, room TEXT NOT NULL, author TEXT NOT NULL,
             text TEXT NOT NULL, seq INTEGER NOT NULL, tag TEXT NOT NULL);
         CREATE INDEX IF NOT EXISTS idx_messages_room_seq ON messages (room, seq);",
    )?;
    let tx = conn.unchecked_transaction()?;
    for index in 0..seed {
        insert(&tx, &dataset::seed_message(index))?;
    }
    tx.commit()?;
    Ok(())
}

fn insert(conn: &Connection, message: &Message) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO messages (id, room, author, text, seq, tag) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        message.id,
        message.room,
        message.author,
        message.text,
        message.seq,
        message.tag
    ])?;
    Ok(())
}

/// Group commit: take every queued insert (up to `MAX_BATCH`) into one transaction, each
/// under its own savepoint so one failure does not undo the others, and answer only after
/// the commit.
fn run_writer(mut conn: Connection, jobs: Receiver<WriteJob>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter().take(MAX_BATCH - 1));
        let outcome = (|| -> rusqlite::Result<Vec<Result<(), String>>> {
            let tx = conn.transaction()?;
            let results = batch
                .iter()
                .map(|job| savepoint_insert(&tx, &job.message).map_err(|err| err.to_string()))
                .collect();
            tx.commit()?;
            Ok(results)
        })();
        match outcome {
            Ok(results) => {
                for (job, result) in batch.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(err) => {
                for job in batch {
                    let _ = job.reply.send(Err(err.to_string()));
                }
            }
        }
    }
}

fn savepoint_insert(conn: &Connection, message: &Message) -> rusqlite::Result<()> {
    conn.execute_batch("SAVEPOINT job")?;
    match insert(conn, message) {
        Ok(()) => conn.execute_batch("RELEASE job"),
        Err(err) => {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(err)
        }
    }
}

fn run_reader(conn: Connection, jobs: Receiver<ReadJob>) {
    for job in jobs {
        let found = conn
            .prepare_cached("SELECT id, room, author, text, seq, tag FROM messages WHERE id = ?1")
            .and_then(|mut statement| {
                statement
                    .query_row([&job.id], |row| {
                        Ok(Message {
                            id: row.get(0)?,
                            room: row.get(1)?,
                            author: row.get(2)?,
                            text: row.get(3)?,
                            seq: row.get(4)?,
                            tag: row.get(5)?,
                        })
                    })
                    .optional()
            });
        let _ = job.reply.send(found);
    }
}

async fn view(State(db): State<Db>, UrlPath(id): UrlPath<String>) -> Response {
    let (reply, answer) = oneshot::channel();
    if db.reads.send(ReadJob { id, reply }).is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match answer.await {
        Ok(Ok(Some(message))) => Json(message).into_response(),
        Ok(Ok(None)) => StatusCode::NOT_FOUND.into_response(),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn create(State(db): State<Db>, Json(new): Json<NewMessage>) -> Response {
    let message = Message {
        id: random_id(),
        room: new.room,
        author: new.author,
        text: new.text,
        seq: new.seq,
        tag: new.tag,
    };
    let (reply, answer) = oneshot::channel();
    let job = WriteJob {
        message: message.clone(),
        reply,
    };
    if db.writes.send(job).is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match answer.await {
        Ok(Ok(())) => Json(message).into_response(),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// 15 characters of `[a-z0-9]`, like PocketBase's ids.
fn random_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..15)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}
