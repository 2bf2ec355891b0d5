//! Record changes as they commit: every insert, update and delete a write job makes through
//! the [`Writer`] is recorded (when an observer watches that collection) and handed to the
//! observer after the transaction commits, in commit order, never for a rolled-back write.
//! Realtime events are built on this, whatever code path wrote the record (API, cascade,
//! account flow).

use std::sync::Arc;

use kb_core::settings::Settings;
use kb_core::{Collection, Field};
use kb_query::FilterPlan;

use crate::{ListQuery, Reader, RequestInfo, Row, StoreError, ViewColumn, Writer};

/// Work to run once the transaction has committed.
pub type AfterCommit = Box<dyn FnOnce() + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Create,
    Update,
    Delete,
}

impl ChangeKind {
    pub fn action(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
        }
    }
}

/// One committed change of one record.
pub struct Change {
    pub kind: ChangeKind,
    pub collection_id: String,
    /// The record after the change (before it, for a delete).
    pub record: Row,
    /// For deletes: what the observer prepared while the row still existed.
    pub prepared: Option<AfterCommit>,
}

/// Who wants to know about committed changes (the realtime hub).
pub trait ChangeObserver: Send + Sync + 'static {
    /// Whether changes of `collection` matter right now; nothing is recorded otherwise.
    fn watches(&self, collection: &Collection) -> bool;
    /// Called inside the deleting transaction, while the row still exists, so access
    /// checks can still see it; the answer runs once the delete has committed.
    fn prepare_delete(
        &self,
        reader: &mut dyn Reader,
        collection: &Collection,
        row: &Row,
    ) -> Option<AfterCommit>;
    /// Called after the commit, in commit order, on the thread that committed: hand the
    /// work off, don't do it here.
    fn committed(&self, changes: Vec<Change>);
}

/// A [`Writer`] that records the changes made through it.
pub(crate) struct Recording<'w> {
    pub(crate) inner: &'w mut dyn Writer,
    pub(crate) observer: &'w dyn ChangeObserver,
    pub(crate) changes: Vec<Change>,
}

impl Recording<'_> {
    fn record(&mut self, kind: ChangeKind, collection: &Collection, record: Row) {
        self.changes.push(Change {
            kind,
            collection_id: collection.id.clone(),
            record,
            prepared: None,
        });
    }

    /// The observer's after-commit call, if anything was recorded.
    pub(crate) fn into_after_commit(
        self,
        observer: Arc<dyn ChangeObserver>,
    ) -> Option<AfterCommit> {
        if self.changes.is_empty() {
            return None;
        }
        let changes = self.changes;
        Some(Box::new(move || observer.committed(changes)))
    }
}

impl Reader for Recording<'_> {
    fn list(
        &mut self,
        query: &ListQuery<'_>,
        request: &RequestInfo,
    ) -> Result<Vec<Row>, StoreError> {
        self.inner.list(query, request)
    }

    fn count(
        &mut self,
        collection: &Collection,
        conditions: &[&FilterPlan],
        request: &RequestInfo,
    ) -> Result<u64, StoreError> {
        self.inner.count(collection, conditions, request)
    }

    fn get(
        &mut self,
        collection: &Collection,
        id: &str,
        conditions: &[&FilterPlan],
        request: &RequestInfo,
    ) -> Result<Option<Row>, StoreError> {
        self.inner.get(collection, id, conditions, request)
    }

    fn get_many(
        &mut self,
        collection: &Collection,
        ids: &[String],
        conditions: &[&FilterPlan],
        request: &RequestInfo,
    ) -> Result<Vec<Row>, StoreError> {
        self.inner.get_many(collection, ids, conditions, request)
    }

    fn referencing(
        &mut self,
        collection: &Collection,
        field: &Field,
        id: &str,
        conditions: &[&FilterPlan],
        request: &RequestInfo,
        limit: Option<u64>,
    ) -> Result<Vec<Row>, StoreError> {
        self.inner
            .referencing(collection, field, id, conditions, request, limit)
    }

    fn load_collections(&mut self) -> Result<Vec<Collection>, StoreError> {
        self.inner.load_collections()
    }

    fn load_settings(&mut self) -> Result<Option<Settings>, StoreError> {
        self.inner.load_settings()
    }

    fn describe_view_query(&mut self, query: &str) -> Result<Vec<ViewColumn>, StoreError> {
        self.inner.describe_view_query(query)
    }
}

impl Writer for Recording<'_> {
    fn insert(&mut self, collection: &Collection, record: &Row) -> Result<(), StoreError> {
        self.inner.insert(collection, record)?;
        if self.observer.watches(collection) {
            self.record(ChangeKind::Create, collection, record.clone());
        }
        Ok(())
    }

    fn update(
        &mut self,
        collection: &Collection,
        id: &str,
        record: &Row,
    ) -> Result<(), StoreError> {
        self.inner.update(collection, id, record)?;
        if self.observer.watches(collection) {
            self.record(ChangeKind::Update, collection, record.clone());
        }
        Ok(())
    }

    fn delete(&mut self, collection: &Collection, id: &str) -> Result<bool, StoreError> {
        if !self.observer.watches(collection) {
            return self.inner.delete(collection, id);
        }
        let Some(row) = self
            .inner
            .get(collection, id, &[], &RequestInfo::default())?
        else {
            return self.inner.delete(collection, id);
        };
        let prepared = self
            .observer
            .prepare_delete(&mut *self.inner, collection, &row);
        let deleted = self.inner.delete(collection, id)?;
        if deleted {
            self.changes.push(Change {
                kind: ChangeKind::Delete,
                collection_id: collection.id.clone(),
                record: row,
                prepared,
            });
        }
        Ok(deleted)
    }

    fn save_collection(
        &mut self,
        new: &Collection,
        old: Option<&Collection>,
    ) -> Result<(), StoreError> {
        self.inner.save_collection(new, old)
    }

    fn delete_collection(&mut self, collection: &Collection) -> Result<(), StoreError> {
        self.inner.delete_collection(collection)
    }

    fn truncate(&mut self, collection: &Collection) -> Result<(), StoreError> {
        self.inner.truncate(collection)
    }

    fn save_settings(&mut self, settings: &Settings) -> Result<(), StoreError> {
        self.inner.save_settings(settings)
    }
}
