//! Request logs, as PocketBase keeps them: one log per API request, written after the
//! response by a background writer in batches (a request never waits for its log), kept in
//! a store apart from the data, listed and filtered by superusers with the records' query
//! language, and deleted after `settings.logs.maxDays`.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kb_store::logs::log_collection;
use kb_store::{LogEntry, LogQuery, LogStore, Row};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::records::{ListParams, Page, listing_filter, listing_query};

/// Logs waiting for the writer. Past this a log is dropped (and counted): a burst must
/// never make requests wait for the logs database.
pub const QUEUE_CAPACITY: usize = 10_000;
/// Most logs written in one transaction.
const BATCH_SIZE: usize = 200;
/// How long a log may wait for more to join its batch. PocketBase waits up to 3 s; a
/// shorter wait costs little with batches this size and shows logs sooner.
const BATCH_WAIT: Duration = Duration::from_millis(200);
/// How often old logs are deleted (PocketBase's `__pbLogsCleanup__` runs every 6 hours).
const CLEANUP_EVERY: Duration = Duration::from_secs(6 * 60 * 60);
/// `logs.maxDataSize` when it is 0 (the dashboard says "~16KB").
const DEFAULT_MAX_DATA_SIZE: usize = 16 << 10;

pub const LEVEL_INFO: i64 = 0;
pub const LEVEL_ERROR: i64 = 8;

const STATS_FILTER_ERROR: &str = "Invalid filter format.";

/// What the HTTP layer saw of one request, for its log.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    pub method: String,
    /// Path and query, as received (still percent-encoded).
    pub url: String,
    pub status: u16,
    /// Time until the response was produced, in milliseconds.
    pub exec_time_ms: f64,
    pub referer: String,
    pub user_agent: String,
    /// The peer's address.
    pub remote_ip: String,
    /// The user's address (the peer's, or what a trusted proxy reports).
    pub user_ip: String,
    /// The requester's auth collection name and record id, if the token was valid.
    pub auth: Option<(String, String)>,
    /// An error response: its message and what else is known about it.
    pub error: Option<RequestError>,
}

#[derive(Debug, Clone, Default)]
pub struct RequestError {
    pub message: String,
    /// `null`, a text, or an object of per-field reasons.
    pub details: Value,
}

/// The logs of one application: disabled until [`Logs::attach`] gives them a store (the
/// admin commands open the application without one).
#[derive(Default)]
pub struct Logs {
    state: OnceLock<State>,
}

struct State {
    store: Arc<dyn LogStore>,
    queue: mpsc::Sender<LogEntry>,
    dropped: AtomicU64,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Tells the writer to write what is queued and end.
    stop: Arc<Notify>,
}

impl Logs {
    /// Start writing logs to `store` (in a background task) and deleting old ones. Must run
    /// inside a Tokio runtime. A second call is ignored.
    pub fn attach(&self, app: &Arc<App>, store: Arc<dyn LogStore>) {
        let (queue, received) = mpsc::channel(QUEUE_CAPACITY);
        let state = State {
            store: store.clone(),
            queue,
            dropped: AtomicU64::new(0),
            tasks: Mutex::new(Vec::new()),
            stop: Arc::new(Notify::new()),
        };
        if self.state.set(state).is_err() {
            return;
        }
        let stop = self.state.get().map(|s| s.stop.clone()).unwrap_or_default();
        let writer = tokio::spawn(write_batches(store, received, stop));
        // The cleanup holds only a weak handle, so it never keeps a closed app alive.
        let cleanup = tokio::spawn(clean_up(Arc::downgrade(app)));
        if let Some(state) = self.state.get() {
            state.tasks.lock().extend([writer, cleanup]);
        }
    }

    pub(crate) fn store(&self) -> AppResult<&Arc<dyn LogStore>> {
        self.state
            .get()
            .map(|s| &s.store)
            .ok_or_else(|| AppError::Internal("the logs store is not open".into()))
    }

    /// Queue a log without waiting; a full queue drops it.
    fn push(&self, entry: LogEntry) {
        let Some(state) = self.state.get() else {
            return;
        };
        if state.queue.try_send(entry).is_err() {
            let dropped = state.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Once per power of two, so a long burst does not flood the process log.
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "the request log queue is full; logs were dropped");
            }
        }
    }

    /// Logs dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.state
            .get()
            .map_or(0, |s| s.dropped.load(Ordering::Relaxed))
    }

    /// Write what is queued, stop the background tasks and close the store.
    pub async fn close(&self) {
        let Some(state) = self.state.get() else {
            return;
        };
        let tasks: Vec<_> = state.tasks.lock().drain(..).collect();
        let mut tasks = tasks.into_iter();
        let (writer, cleanup) = (tasks.next(), tasks.next());
        // The cleanup is only ever waiting for its next turn (or deleting, which is safe to
        // cut short: it is one statement).
        if let Some(cleanup) = cleanup {
            cleanup.abort();
        }
        // The writer takes no new logs now, writes the queued ones and ends.
        state.stop.notify_one();
        if let Some(writer) = writer {
            let _ = writer.await;
        }
        state.store.close().await;
    }
}

/// The background writer: batches of up to `BATCH_SIZE`, each written at most
/// `BATCH_WAIT` after its first log arrived.
/// Once stopped, it takes no new logs, writes those already queued and ends.
async fn write_batches(
    store: Arc<dyn LogStore>,
    mut received: mpsc::Receiver<LogEntry>,
    stop: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(BATCH_SIZE);
    let mut stopping = false;
    loop {
        let next = if stopping {
            received.recv().await
        } else {
            tokio::select! {
                entry = received.recv() => entry,
                () = stop.notified() => {
                    stopping = true;
                    received.close();
                    continue;
                }
            }
        };
        let Some(first) = next else {
            break;
        };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + BATCH_WAIT;
        while batch.len() < BATCH_SIZE {
            match tokio::time::timeout_at(deadline, received.recv()).await {
                Ok(Some(entry)) => batch.push(entry),
                Ok(None) | Err(_) => break,
            }
        }
        let entries = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_SIZE));
        let count = entries.len();
        if let Err(error) = store.insert_batch(entries).await {
            tracing::warn!(%error, count, "could not write request logs");
        }
    }
}

async fn clean_up(app: std::sync::Weak<App>) {
    let mut every = tokio::time::interval(CLEANUP_EVERY);
    loop {
        every.tick().await;
        let Some(app) = app.upgrade() else {
            return;
        };
        if let Err(error) = app.delete_old_logs().await {
            tracing::warn!(%error, "could not delete old logs");
        }
    }
}

/// `text` cut to at most `max` bytes (on a character boundary), marked with `...` when cut.
fn cut(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}...", &text[..end]))
}

/// The `data` of a request log, its keys in PocketBase's order. Serialised straight to
/// text; [`limit_data_size`] takes over only when that text is too long.
#[derive(Serialize)]
struct RequestLogData<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "execTime")]
    exec_time: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a Value>,
    url: &'a str,
    method: &'a str,
    status: u16,
    referer: &'a str,
    #[serde(rename = "userAgent")]
    user_agent: &'a str,
    auth: &'a str,
    #[serde(rename = "authId", skip_serializing_if = "Option::is_none")]
    auth_id: Option<&'a str>,
    #[serde(rename = "userIP", skip_serializing_if = "Option::is_none")]
    user_ip: Option<&'a str>,
    #[serde(rename = "remoteIP", skip_serializing_if = "Option::is_none")]
    remote_ip: Option<&'a str>,
}

/// `%XX` escapes decoded (a `+` stays a `+`), or the text as it is when an escape is broken
/// or the result is not UTF-8.
fn path_unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                None => return text.to_owned(),
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

/// `data` as JSON text within `max` bytes on a best-effort basis, as PocketBase does: keys
/// in order while they fit, the first one that does not becomes `null` and the rest go;
/// a truncated object says so with `__pb_truncated__`.
fn limit_data_size(data: Map<String, Value>, max: usize) -> String {
    let text = |map: &Map<String, Value>| serde_json::to_string(map).unwrap_or_default();
    let whole = text(&data);
    if whole.len() <= max {
        return whole;
    }
    let mut keys: Vec<String> = data.keys().cloned().collect();
    keys.sort();
    let mut data = data;
    let mut kept = Map::new();
    for key in keys {
        let value = data.remove(&key).unwrap_or(Value::Null);
        kept.insert(key.clone(), value);
        if text(&kept).len() > max {
            kept.insert(key, Value::Null);
            break;
        }
    }
    kept.insert("__pb_truncated__".into(), Value::Bool(true));
    text(&kept)
}

fn log_json(row: &Row) -> Value {
    let get = |key: &str| row.get(key).cloned().unwrap_or(Value::Null);
    json!({
        "id": get("id"),
        "created": get("created"),
        "level": get("level"),
        "message": get("message"),
        "data": match get("data") {
            data @ Value::Object(_) => data,
            _ => json!({}),
        },
    })
}

impl App {
    /// Log one API request, as the settings ask (`maxDays` 0 turns request logs off,
    /// `minLevel`, `logIP`, `logAuthId`, `maxDataSize`). Never waits.
    pub fn log_request(&self, request: RequestLog) {
        let settings = self.settings();
        let options = &settings.logs;
        let level = if request.error.is_some() {
            LEVEL_ERROR
        } else {
            LEVEL_INFO
        };
        if options.max_days == 0 || level < options.min_level {
            return;
        }
        let method = if request.method.bytes().any(|b| b.is_ascii_lowercase()) {
            Cow::Owned(request.method.to_ascii_uppercase())
        } else {
            Cow::Borrowed(request.method.as_str())
        };
        let method = cut(&method, 50);
        let url = cut(&request.url, 3000);
        let data = RequestLogData {
            kind: "request",
            exec_time: kb_core::number::to_json(request.exec_time_ms),
            error: request.error.as_ref().map(|e| e.message.as_str()),
            details: request.error.as_ref().map(|e| &e.details),
            url: &url,
            method: &method,
            status: request.status,
            referer: &cut(&request.referer, 2000),
            user_agent: &cut(&request.user_agent, 2000),
            auth: request
                .auth
                .as_ref()
                .map_or("", |(collection, _)| collection),
            auth_id: request
                .auth
                .as_ref()
                .filter(|_| options.log_auth_id)
                .map(|(_, id)| id.as_str()),
            user_ip: options.log_ip.then_some(request.user_ip.as_str()),
            remote_ip: options.log_ip.then_some(request.remote_ip.as_str()),
        };
        let max = match usize::try_from(options.max_data_size) {
            Ok(0) | Err(_) => DEFAULT_MAX_DATA_SIZE,
            Ok(n) => n,
        };
        let mut text = serde_json::to_string(&data).unwrap_or_default();
        if text.len() > max
            && let Ok(Value::Object(map)) = serde_json::to_value(&data)
        {
            text = limit_data_size(map, max);
        }
        let now = jiff::Timestamp::now();
        self.logs.push(LogEntry {
            id: kb_core::id::time_ordered_id(u64::try_from(now.as_millisecond()).unwrap_or(0)),
            created: kb_core::datetime::format(now),
            level,
            message: format!("{method} {}", path_unescape(&url)),
            data: text,
        });
    }

    /// `GET /api/logs`: a page of logs, filtered and sorted like records.
    pub async fn list_logs(&self, params: ListParams) -> AppResult<Page> {
        let schema = self.schema();
        let (filter, sort) = listing_query(&schema, &log_collection(), &params)?;
        let (page, per_page) = params.page_and_size();
        let result = self
            .logs
            .store()?
            .list(LogQuery {
                conditions: filter.into_iter().collect(),
                sort,
                limit: per_page,
                offset: (page - 1).saturating_mul(per_page),
                with_total: !params.skip_total,
            })
            .await?;
        let total = result
            .total
            .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        Ok(Page {
            page,
            per_page,
            total_items: total,
            total_pages: if total < 0 {
                -1
            } else {
                (total + per_page as i64 - 1) / per_page as i64
            },
            items: result.rows.iter().map(log_json).collect(),
        })
    }

    /// `GET /api/logs/stats`: matching logs per hour.
    pub async fn log_stats(&self, filter: &str) -> AppResult<Value> {
        let filter = listing_filter(
            &self.schema(),
            &log_collection(),
            filter,
            STATS_FILTER_ERROR,
        )?;
        let buckets = self
            .logs
            .store()?
            .stats(filter.into_iter().collect())
            .await?;
        Ok(Value::Array(
            buckets
                .into_iter()
                .map(|b| json!({"date": b.date, "total": b.total}))
                .collect(),
        ))
    }

    /// `GET /api/logs/{id}`.
    pub async fn view_log(&self, id: &str) -> AppResult<Value> {
        self.logs
            .store()?
            .get(id.to_owned())
            .await?
            .map(|row| log_json(&row))
            .ok_or_else(AppError::not_found)
    }

    /// `DELETE /api/logs`: every stored log (logs still queued are written afterwards).
    pub async fn delete_logs(&self) -> AppResult<()> {
        self.logs.store()?.delete_all().await?;
        Ok(())
    }

    /// Delete the logs older than `settings.logs.maxDays` days (all of them when it is 0,
    /// as PocketBase's cleanup does).
    pub async fn delete_old_logs(&self) -> AppResult<u64> {
        let days = self.settings().logs.max_days.max(0);
        let before = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_hours(days.saturating_mul(24)))
            .unwrap_or(jiff::Timestamp::MIN);
        let deleted = self
            .logs
            .store()?
            .delete_older_than(kb_core::datetime::format(before))
            .await?;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_marks_what_it_cuts() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "abc...");
        assert_eq!(cut("aé", 2), "a...");
    }

    #[test]
    fn path_unescape_keeps_plus_and_broken_escapes() {
        assert_eq!(path_unescape("/a?f=x+%22y%22"), "/a?f=x+\"y\"");
        assert_eq!(path_unescape("/a%zz"), "/a%zz");
        assert_eq!(path_unescape("/a%ff"), "/a%ff");
    }

    #[test]
    fn oversized_data_keeps_leading_keys_and_says_so() {
        let mut data = Map::new();
        data.insert("auth".into(), "".into());
        data.insert("method".into(), "GET".into());
        data.insert("referer".into(), "x".repeat(100).into());
        data.insert("status".into(), 200.into());
        let out: Value = serde_json::from_str(&limit_data_size(data.clone(), 60)).unwrap();
        assert_eq!(
            out,
            json!({"auth": "", "method": "GET", "referer": null, "__pb_truncated__": true})
        );
        let whole: Value = serde_json::from_str(&limit_data_size(data.clone(), 1000)).unwrap();
        assert_eq!(whole, Value::Object(data));
    }
}
