//! Several nodes on one database. Each write transaction announces what it changed with
//! `NOTIFY` just before its `COMMIT`: PostgreSQL delivers notifications only for committed
//! transactions and in commit order, so every other node hears of each change once, in
//! order, never of a rolled-back one. An announcement too big for `NOTIFY` (8000 bytes)
//! goes into `_kb_announcements` in the same transaction and the notification carries its
//! row id. Each node listens on a dedicated connection and hands what it hears to the
//! application as [`RemoteChange`]s.
//!
//! Fixed-window counters (rate limits, OTP attempts) live in `_kb_counters`, so a limit holds
//! whichever node a client talks to, and every node keeps a heartbeat row in `_kb_nodes`, so
//! a node can tell whether it is alone.

use std::time::Duration;

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::UnboundedSender;
use tokio_postgres::config::SslMode;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{PgConn, connection, map_err};
use crate::counters::Counters;
use crate::{BoxFuture, ChangeKind, RemoteChange, Row, StoreError};

/// The notification channel every node listens on.
const CHANNEL: &str = "keelbase_changes";
/// Larger announcements travel through `_kb_announcements` (NOTIFY's limit is 8000 bytes).
const MAX_NOTIFY_BYTES: usize = 7000;
/// How often a node says it is alive; one silent for three beats is gone.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// How long announcements that went through the table are kept for late readers.
const ANNOUNCEMENT_TTL_SECS: i64 = 600;

/// Tables of the cluster machinery, created with the system tables. Idempotent.
pub(crate) const BOOTSTRAP: &str = r#"
CREATE TABLE IF NOT EXISTS "_kb_announcements" (
    "id"      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "payload" text NOT NULL,
    "created" timestamptz DEFAULT now() NOT NULL
);
CREATE UNLOGGED TABLE IF NOT EXISTS "_kb_counters" (
    "key"        text PRIMARY KEY,
    "window_end" timestamptz NOT NULL,
    "hits"       bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS "_kb_nodes" (
    "id"      text PRIMARY KEY,
    "started" timestamptz DEFAULT now() NOT NULL,
    "seen"    timestamptz DEFAULT now() NOT NULL
);
"#;

/// One change as it travels between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub(crate) enum Announced {
    Record {
        action: String,
        collection: String,
        record: Row,
    },
    Schema,
    Settings,
    Message {
        message: serde_json::Value,
    },
}

impl Announced {
    pub(crate) fn record(kind: ChangeKind, collection: &str, record: &Row) -> Self {
        Announced::Record {
            action: kind.action().to_owned(),
            collection: collection.to_owned(),
            record: record.clone(),
        }
    }

    fn into_remote(self) -> Option<RemoteChange> {
        Some(match self {
            Announced::Record {
                action,
                collection,
                record,
            } => RemoteChange::Record {
                kind: match action.as_str() {
                    "create" => ChangeKind::Create,
                    "update" => ChangeKind::Update,
                    "delete" => ChangeKind::Delete,
                    _ => return None,
                },
                collection_id: collection,
                record,
            },
            Announced::Schema => RemoteChange::Schema,
            Announced::Settings => RemoteChange::Settings,
            Announced::Message { message } => RemoteChange::Message(message),
        })
    }
}

/// What one transaction announces, or where to read it.
#[derive(Debug, Serialize, Deserialize)]
struct Announcement {
    node: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    changes: Vec<Announced>,
    /// The `_kb_announcements` row holding the changes, when they were too big.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stored: Option<i64>,
}

/// Announce `changes` inside the transaction about to commit.
pub(crate) fn announce(
    conn: &PgConn<'_>,
    node: &str,
    changes: Vec<Announced>,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let encode = |a: &Announcement| {
        serde_json::to_string(a).map_err(|e| StoreError::Database(e.to_string()))
    };
    let mut announcement = Announcement {
        node: node.to_owned(),
        changes,
        stored: None,
    };
    let mut payload = encode(&announcement)?;
    if payload.len() > MAX_NOTIFY_BYTES {
        let rows = conn.query_typed(
            r#"INSERT INTO "_kb_announcements" ("payload") VALUES ($1) RETURNING "id""#,
            &[&payload],
        )?;
        let id: i64 = rows
            .first()
            .ok_or_else(|| StoreError::Database("no announcement id".into()))?
            .try_get(0)
            .map_err(map_err)?;
        announcement.changes = Vec::new();
        announcement.stored = Some(id);
        payload = encode(&announcement)?;
    }
    conn.execute_typed("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
        .map(drop)
}

/// Send an application message to the other nodes, outside any transaction.
pub(crate) async fn publish(
    pool: &Pool,
    node: &str,
    message: serde_json::Value,
) -> Result<(), StoreError> {
    let announcement = Announcement {
        node: node.to_owned(),
        changes: vec![Announced::Message { message }],
        stored: None,
    };
    let payload =
        serde_json::to_string(&announcement).map_err(|e| StoreError::Database(e.to_string()))?;
    if payload.len() > MAX_NOTIFY_BYTES {
        return Err(StoreError::Invalid(
            "the message is too big for other nodes".into(),
        ));
    }
    let client = connection(pool).await?;
    client
        .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
        .await
        .map_err(map_err)
        .map(drop)
}

/// Listen for the other nodes' announcements until `changes` is closed, reconnecting when
/// the connection drops (after which caches are reloaded: changes may have been missed).
pub(crate) async fn listen(
    config: tokio_postgres::Config,
    pool: Pool,
    node: String,
    changes: UnboundedSender<RemoteChange>,
) {
    loop {
        if let Err(error) = listen_once(&config, &pool, &node, &changes).await {
            tracing::warn!(%error, "lost the connection that hears other nodes; reconnecting");
        }
        if changes.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        pool.manager().statement_caches.clear();
        for change in [RemoteChange::Schema, RemoteChange::Settings] {
            if changes.send(change).is_err() {
                return;
            }
        }
    }
}

async fn listen_once(
    config: &tokio_postgres::Config,
    pool: &Pool,
    node: &str,
    changes: &UnboundedSender<RemoteChange>,
) -> Result<(), StoreError> {
    if config.get_ssl_mode() == SslMode::Require {
        let (client, connection) = config
            .connect(super::tls_connector()?)
            .await
            .map_err(map_err)?;
        hear(client, connection, pool, node, changes).await
    } else {
        let (client, connection) = config.connect(NoTls).await.map_err(map_err)?;
        hear(client, connection, pool, node, changes).await
    }
}

/// Pass on what the listening connection hears until it or `changes` closes.
async fn hear<S, T>(
    client: tokio_postgres::Client,
    mut connection: tokio_postgres::Connection<S, T>,
    pool: &Pool,
    node: &str,
    changes: &UnboundedSender<RemoteChange>,
) -> Result<(), StoreError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (heard, mut payloads) = tokio::sync::mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if heard.send(n.payload().to_owned()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "the listening connection failed");
                    return;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(map_err)?;
    while let Some(payload) = payloads.recv().await {
        let Ok(announcement) = serde_json::from_str::<Announcement>(&payload) else {
            tracing::warn!("an announcement that is not one was ignored");
            continue;
        };
        if announcement.node == node {
            continue;
        }
        let announced = match announcement.stored {
            Some(id) => stored_announcement(pool, id).await?,
            None => announcement.changes,
        };
        for change in announced.into_iter().filter_map(Announced::into_remote) {
            if matches!(change, RemoteChange::Schema) {
                // Tables changed under statements prepared on this node's connections.
                pool.manager().statement_caches.clear();
            }
            if changes.send(change).is_err() {
                driver.abort();
                return Ok(());
            }
        }
    }
    driver.abort();
    Err(StoreError::Database(
        "the listening connection closed".into(),
    ))
}

async fn stored_announcement(pool: &Pool, id: i64) -> Result<Vec<Announced>, StoreError> {
    let client = connection(pool).await?;
    let row = client
        .query_opt(
            r#"SELECT "payload" FROM "_kb_announcements" WHERE "id" = $1"#,
            &[&id],
        )
        .await
        .map_err(map_err)?;
    let Some(row) = row else {
        return Ok(Vec::new());
    };
    let payload: String = row.try_get(0).map_err(map_err)?;
    serde_json::from_str::<Announcement>(&payload)
        .map(|a| a.changes)
        .map_err(|e| StoreError::Database(format!("corrupt announcement: {e}")))
}

/// Fixed-window counters every node shares.
pub(crate) struct SharedCounters {
    pub(crate) pool: Pool,
}

impl Counters for SharedCounters {
    fn hit<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
        limit: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let client = connection(&self.pool).await?;
            let millis = window.as_millis().min(i64::MAX as u128) as f64;
            let statement = client
                .prepare_cached(
                    r#"INSERT INTO "_kb_counters" AS c ("key", "window_end", "hits")
                       VALUES ($1, now() + $2 * interval '1 millisecond', 1)
                       ON CONFLICT ("key") DO UPDATE SET
                         "hits" = CASE WHEN c."window_end" <= now() THEN 1 ELSE c."hits" + 1 END,
                         "window_end" = CASE WHEN c."window_end" <= now()
                                        THEN excluded."window_end" ELSE c."window_end" END
                       RETURNING "hits""#,
                )
                .await
                .map_err(map_err)?;
            let row = client
                .query_one(&statement, &[&key, &millis])
                .await
                .map_err(map_err)?;
            let hits: i64 = row.try_get(0).map_err(map_err)?;
            Ok(hits.max(0) as u64 <= limit)
        })
    }

    fn forget<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let client = connection(&self.pool).await?;
            client
                .execute(
                    r#"DELETE FROM "_kb_counters" WHERE starts_with("key", $1)"#,
                    &[&prefix],
                )
                .await
                .map_err(map_err)
                .map(drop)
        })
    }
}

/// After the first [`beat`], say this node is alive every beat.
pub(crate) async fn heartbeat(pool: Pool, node: String) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        if pool.is_closed() {
            return;
        }
        if let Err(error) = beat(&pool, &node).await {
            tracing::warn!(%error, "the node heartbeat failed");
        }
    }
}

/// Say this node is alive, and sweep what nobody needs any more: ended counter windows,
/// old announcements, nodes long gone.
pub(crate) async fn beat(pool: &Pool, node: &str) -> Result<(), StoreError> {
    let client = connection(pool).await?;
    client
        .execute(
            r#"INSERT INTO "_kb_nodes" ("id") VALUES ($1)
               ON CONFLICT ("id") DO UPDATE SET "seen" = now()"#,
            &[&node],
        )
        .await
        .map_err(map_err)?;
    client
        .batch_execute(&format!(
            r#"DELETE FROM "_kb_counters" WHERE "window_end" < now() - interval '1 minute';
               DELETE FROM "_kb_announcements" WHERE "created" < now() - interval '{ANNOUNCEMENT_TTL_SECS} seconds';
               DELETE FROM "_kb_nodes" WHERE "seen" < now() - interval '1 day';"#
        ))
        .await
        .map_err(map_err)
}

/// How many other nodes said they were alive within the last three beats.
pub(crate) async fn other_live_nodes(pool: &Pool, node: &str) -> Result<u64, StoreError> {
    let client = connection(pool).await?;
    let row = client
        .query_one(
            r#"SELECT count(*) FROM "_kb_nodes"
               WHERE "id" <> $1 AND "seen" > now() - $2 * interval '1 second'"#,
            &[&node, &((HEARTBEAT.as_secs() * 3) as f64)],
        )
        .await
        .map_err(map_err)?;
    Ok(row.try_get::<_, i64>(0).map_err(map_err)?.max(0) as u64)
}

/// Leave the cluster (a clean shutdown).
pub(crate) async fn leave(pool: &Pool, node: &str) {
    if let Ok(client) = connection(pool).await {
        let _gone = client
            .execute(r#"DELETE FROM "_kb_nodes" WHERE "id" = $1"#, &[&node])
            .await;
    }
}
