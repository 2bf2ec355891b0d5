//! Realtime record events: every committed create, update and delete is offered to the
//! realtime clients subscribed to its collection (`posts`, `posts/*`) or to the record
//! (`posts/<id>`). Each subscription gets the event only if its client may see the record
//! (list rule for collection topics, view rule for record topics, with the client's auth),
//! and its `filter` option holds; `expand` and `fields` options shape the record per client.
//!
//! Storage hands every change to the observer inside its transaction ([`kb_store::ChangeObserver`]):
//! the messages are built there, against the record as that write left it, and sent after
//! the commit, in commit order, by one background task; a rolled-back write sends nothing.
//! Changes other nodes commit arrive with the record's values ([`deliver_remote`]) and are
//! checked against those values the same way.

use std::sync::{Arc, Weak};

use kb_core::Collection;
use kb_store::{AfterCommit, Change, ChangeKind, ChangeObserver, Reader, Row, StoreError};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::app::{Access, App, Requester, RuleKind};
use crate::realtime::{Client, Message, SubscriptionOptions};
use crate::records::Presenter;

/// The storage observer: records changes while anyone is connected and queues them.
pub(crate) struct RecordEvents {
    app: Weak<App>,
    queue: mpsc::UnboundedSender<Change>,
}

impl RecordEvents {
    /// Observe `app`'s store and start the task that delivers the events.
    pub(crate) fn start(app: &Arc<App>) {
        let (queue, changes) = mpsc::unbounded_channel();
        app.store.observe(Arc::new(RecordEvents {
            app: Arc::downgrade(app),
            queue,
        }));
        tokio::spawn(deliver(Arc::downgrade(app), changes));
    }
}

impl ChangeObserver for RecordEvents {
    fn watches(&self, collection: &Collection) -> bool {
        !collection.is_view()
            && self.app.upgrade().is_some_and(|app| {
                // Clients bound to a record of an auth collection follow its changes too.
                app.realtime
                    .has_subscribers(&[collection.name.as_str(), collection.id.as_str()])
                    || (collection.is_auth() && app.realtime.client_count() > 0)
            })
    }

    /// The messages of one change, built inside its transaction (so they show the record as
    /// this write left it, checked against the rules as of this write) and sent after the
    /// commit.
    fn prepare(
        &self,
        reader: &mut dyn Reader,
        kind: ChangeKind,
        collection: &Collection,
        row: &Row,
    ) -> Option<AfterCommit> {
        let app = self.app.upgrade()?;
        let messages = match messages_for(&app, reader, collection, &Image::Stored(row), kind) {
            Ok(messages) => messages,
            Err(error) => {
                tracing::warn!(%error, "could not prepare realtime events");
                return None;
            }
        };
        if messages.is_empty() {
            return None;
        }
        let realtime = app.realtime.clone();
        Some(Box::new(move || {
            for (client, message) in messages {
                realtime.send(&client, message);
            }
        }))
    }

    fn committed(&self, changes: Vec<Change>) {
        for change in changes {
            // The receiver only goes away with the application.
            let _ = self.queue.send(change);
        }
    }
}

/// Send the prepared messages of committed changes, in commit order, and keep the auth
/// bound to streams in step with the records it names.
async fn deliver(app: Weak<App>, mut changes: mpsc::UnboundedReceiver<Change>) {
    while let Some(change) = changes.recv().await {
        let Some(app) = app.upgrade() else { return };
        if let Some(send) = change.prepared {
            send();
        }
        follow_auth(&app, &change.collection_id, change.kind, &change.record);
    }
}

/// Keep the auth bound to streams in step with a change of an auth record.
fn follow_auth(app: &App, collection_id: &str, kind: ChangeKind, record: &Row) {
    let Some(collection) = app.schema().by_id(collection_id).cloned() else {
        return;
    };
    if !collection.is_auth() {
        return;
    }
    match kind {
        ChangeKind::Delete => {
            let id = record.get("id").and_then(Value::as_str).unwrap_or_default();
            app.realtime.drop_auth(&collection.id, id);
        }
        ChangeKind::Update => app.realtime.auth_record_updated(&collection, record),
        ChangeKind::Create => {}
    }
}

/// Send the events of a record change another node committed to this node's clients:
/// each subscription is checked against the record's values as that change left them.
pub(crate) async fn deliver_remote(
    app: &Arc<App>,
    kind: ChangeKind,
    collection_id: &str,
    record: Row,
) -> Result<(), crate::error::AppError> {
    let Some(collection) = app.schema().by_id(collection_id).cloned() else {
        return Ok(());
    };
    let watched = !collection.is_view()
        && app
            .realtime
            .has_subscribers(&[collection.name.as_str(), collection.id.as_str()]);
    if watched {
        let (app_for_job, collection, image) = (app.clone(), collection.clone(), record.clone());
        let messages = app
            .store
            .read(move |reader| {
                messages_for(
                    &app_for_job,
                    reader,
                    &collection,
                    &Image::Detached(&image),
                    kind,
                )
            })
            .await?;
        for (client, message) in messages {
            app.realtime.send(&client, message);
        }
    }
    follow_auth(app, collection_id, kind, &record);
    Ok(())
}

/// Where a change's record is read from when a subscription is checked.
enum Image<'r> {
    /// As stored: inside the change's own transaction.
    Stored(&'r Row),
    /// These values, stored or not (a change another node committed).
    Detached(&'r Row),
}

impl Image<'_> {
    fn row(&self) -> &Row {
        match self {
            Image::Stored(row) | Image::Detached(row) => row,
        }
    }
}

/// The message each subscription allowed to see the record gets.
fn messages_for(
    app: &App,
    reader: &mut dyn Reader,
    collection: &Collection,
    image: &Image<'_>,
    kind: ChangeKind,
) -> Result<Vec<(Arc<Client>, Message)>, StoreError> {
    let id = image
        .row()
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Record topics are checked with the view rule, collection topics with the list rule
    // (`posts` is the older spelling of `posts/*`).
    let prefixes = [
        (format!("{}/{id}?", collection.name), RuleKind::View),
        (format!("{}/{id}?", collection.id), RuleKind::View),
        (format!("{}/*?", collection.name), RuleKind::List),
        (format!("{}/*?", collection.id), RuleKind::List),
        (format!("{}?", collection.name), RuleKind::List),
        (format!("{}?", collection.id), RuleKind::List),
    ];
    let mut out = Vec::new();
    for client in app
        .realtime
        .subscribers(&[collection.name.as_str(), collection.id.as_str()])
    {
        for (prefix, rule) in &prefixes {
            for (topic, options) in client.subscriptions(prefix) {
                let requester = client.auth();
                if let Some(record) =
                    present_for(app, reader, collection, image, &requester, *rule, &options)?
                {
                    let data = json!({"action": kind.action(), "record": record});
                    out.push((client.clone(), Message::json(topic, &data)));
                }
            }
        }
    }
    Ok(out)
}

/// The record as `requester` may see it through one subscription, or `None` when the rule
/// or the subscription's filter hides it.
fn present_for(
    app: &App,
    reader: &mut dyn Reader,
    collection: &Collection,
    image: &Image<'_>,
    requester: &Requester,
    rule: RuleKind,
    options: &SubscriptionOptions,
) -> Result<Option<Value>, StoreError> {
    let access = app.access(requester, collection, rule);
    let mut plans = Vec::new();
    match &access {
        Access::SuperusersOnly => return Ok(None),
        Access::Rule(plan) => plans.push(plan.clone()),
        Access::All => {}
    }
    let schema = app.schema();
    // A filter the client may not use hides everything, as an unmet rule does.
    match app.client_filter(&schema, requester, collection, options.filter()) {
        Ok(Some(filter)) => plans.push(Arc::new(filter)),
        Ok(None) => {}
        Err(_) => return Ok(None),
    }
    let meta = options.meta();
    let request = app.request_info(requester, &meta, None, "realtime");
    let conditions: Vec<_> = plans.iter().map(Arc::as_ref).collect();
    let row = match image {
        Image::Stored(row) => {
            let id = row.get("id").and_then(Value::as_str).unwrap_or_default();
            reader.get(collection, id, &conditions, &request)?
        }
        Image::Detached(row) => reader
            .satisfies(collection, row, &conditions, &request)?
            .then(|| (*row).clone()),
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let expand = app.expand_plan(&schema, requester, collection, options.expand());
    let expand_request = app.request_info(requester, &meta, None, "expand");
    let presenter =
        Presenter::new(requester).managing(app.access(requester, collection, RuleKind::Manage));
    let Some(mut record) = presenter
        .present(reader, collection, vec![row], &expand, &expand_request)?
        .pop()
    else {
        return Ok(None);
    };
    if !options.fields().is_empty()
        && let Ok(picker) = kb_filter::parse_fields(options.fields())
    {
        picker.apply(&mut record);
    }
    Ok(Some(record))
}
