//! What other nodes on the same database commit, acted on here: their collection and
//! settings changes replace this node's cached ones at once, and their record changes reach
//! this node's realtime clients, in the order the database committed them.

use std::sync::Arc;

use kb_store::RemoteChange;

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
        } => deliver_remote(app, kind, &collection_id, record).await?,
    }
    Ok(())
}
