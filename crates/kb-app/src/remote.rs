//! What other nodes on the same database commit, acted on here: their collection and
//! settings changes replace this node's cached ones at once, and their record changes reach
//! this node's realtime clients, in the order the database committed them. Nodes also pass
//! an OAuth2 redirect to the node that holds the browser's realtime stream.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use kb_store::{ChangeKind, RemoteChange};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::record_events::deliver_remote;

/// Start following the other nodes, if the store has any.
pub(crate) fn follow(app: &Arc<App>) {
    let Some(mut changes) = app.store.remote_changes() else {
        return;
    };
    let app = Arc::downgrade(app);
    tokio::spawn(async move {
        while let Some(change) = changes.recv().await {
            let Some(app) = app.upgrade() else { return };
            if let Err(error) = apply(&app, change).await {
                tracing::warn!(%error, "could not apply a change another node made");
            }
        }
    });
}

async fn apply(app: &Arc<App>, change: RemoteChange) -> AppResult<()> {
    match change {
        RemoteChange::Schema => {
            // In turn with this node's own schema changes.
            let _turn = app.schema_change.lock().await;
            let collections = app
                .store
                .read(|r| Ok::<_, AppError>(r.load_collections()?))
                .await?;
            app.replace_schema(collections);
            // Sent after a reconnect too, when record changes may have been missed.
            app.auth_cache.clear();
        }
        RemoteChange::Settings => {
            let settings = app
                .store
                .read(|r| Ok::<_, AppError>(r.load_settings()?))
                .await?;
            app.replace_settings(settings.unwrap_or_default());
        }
        RemoteChange::Record {
            kind,
            collection_id,
            record,
        } => {
            if kind != ChangeKind::Create {
                let id = record.get("id").and_then(Value::as_str).unwrap_or_default();
                app.auth_cache.invalidate(&collection_id, id);
            }
            deliver_remote(app, kind, &collection_id, record).await?
        }
        RemoteChange::Message(message) => on_message(app, &message).await?,
    }
    Ok(())
}

/// How long a node waits for another to say it delivered an OAuth2 redirect.
const DELIVERY_WAIT: Duration = Duration::from_secs(2);

/// Outstanding OAuth2 redirects passed to other nodes, by reply id.
pub(crate) type Deliveries =
    parking_lot::Mutex<std::collections::HashMap<String, oneshot::Sender<bool>>>;

impl App {
    /// `/api/oauth2-redirect`: pass the provider's answer to the realtime client named by
    /// `state`, on this node or, when it is not here, on whichever node holds its stream.
    /// Whether it was delivered with a code and no error.
    pub async fn oauth2_redirect(&self, ip: IpAddr, state: &str, code: &str, error: &str) -> bool {
        if state.is_empty() || self.realtime.client(state).is_some() {
            return self.realtime.oauth2_redirect(&ip, state, code, error);
        }
        let reply = kb_core::id::new_record_id();
        let message = json!({"oauth2Redirect": {
            "ip": ip.to_string(), "state": state, "code": code, "error": error, "reply": reply,
        }});
        let Some(publish) = self.store.publish(message) else {
            return false;
        };
        let (done, delivered) = oneshot::channel();
        self.deliveries.lock().insert(reply.clone(), done);
        let delivered = match publish.await {
            Ok(()) => matches!(
                tokio::time::timeout(DELIVERY_WAIT, delivered).await,
                Ok(Ok(true))
            ),
            Err(error) => {
                tracing::warn!(%error, "could not pass an OAuth2 redirect to the other nodes");
                false
            }
        };
        self.deliveries.lock().remove(&reply);
        delivered
    }
}

/// A message from another node: an OAuth2 redirect for a client that may be here, or the
/// answer to one this node passed on.
async fn on_message(app: &Arc<App>, message: &Value) -> AppResult<()> {
    let text = |value: &Value, key: &str| value[key].as_str().unwrap_or_default().to_owned();
    if let Some(redirect) = message.get("oauth2Redirect") {
        let state = text(redirect, "state");
        let Ok(ip) = text(redirect, "ip").parse::<IpAddr>() else {
            return Ok(());
        };
        if app.realtime.client(&state).is_none() {
            return Ok(());
        }
        let delivered = app.realtime.oauth2_redirect(
            &ip,
            &state,
            &text(redirect, "code"),
            &text(redirect, "error"),
        );
        let answer =
            json!({"oauth2Delivered": {"reply": text(redirect, "reply"), "ok": delivered}});
        if let Some(publish) = app.store.publish(answer) {
            publish.await?;
        }
    } else if let Some(answer) = message.get("oauth2Delivered") {
        let waiting = app.deliveries.lock().remove(&text(answer, "reply"));
        if let Some(done) = waiting {
            // The requester may have stopped waiting.
            let _ = done.send(answer["ok"].as_bool() == Some(true));
        }
    }
    Ok(())
}
