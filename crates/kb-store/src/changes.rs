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
    /// What the observer prepared inside the transaction (for a delete: while the row
    /// still existed), to run after the commit.
    pub prepared: Option<AfterCommit>,
}

/// Who wants to know about committed changes (the realtime hub, file cleanup). Each
/// observer gets only the changes it watches, with the work it prepared for each.
pub trait ChangeObserver: Send + Sync + 'static {
    /// Whether changes of `collection` matter right now; nothing is recorded otherwise.
    fn watches(&self, collection: &Collection) -> bool;
    /// Whether changes of this kind matter (e.g. only deletes); all do by default.
    fn wants(&self, _kind: ChangeKind) -> bool {
        true
    }
    /// Called inside the transaction: right after a create or update, and before a delete
    /// while the row still exists. What the observer prepares sees the record as this write
    /// left it, even if a later write changes or deletes it; it runs after the commit.
    fn prepare(
        &self,
        _reader: &mut dyn Reader,
        _kind: ChangeKind,
        _collection: &Collection,
        _row: &Row,
    ) -> Option<AfterCommit> {
        None
    }
    /// Called after the commit, in commit order, on the thread that committed: hand the
    /// work off, don't do it here.
    fn committed(&self, changes: Vec<Change>);
}

/// A [`Writer`] that records the changes made through it, for each observer apart.
pub(crate) struct Recording<'w> {
    pub(crate) inner: &'w mut dyn Writer,
    pub(crate) observers: &'w [Arc<dyn ChangeObserver>],
    /// One list per observer, in the observers' order.
    pub(crate) changes: Vec<Vec<Change>>,
}

impl<'w> Recording<'w> {
    pub(crate) fn new(inner: &'w mut dyn Writer, observers: &'w [Arc<dyn ChangeObserver>]) -> Self {
        Recording {
            inner,
            observers,
            changes: observers.iter().map(|_| Vec::new()).collect(),
        }
    }

    /// The observers interested in a change of this kind to `collection`.
    fn interested(&self, kind: ChangeKind, collection: &Collection) -> Vec<usize> {
        (0..self.observers.len())
            .filter(|&i| self.observers[i].wants(kind) && self.observers[i].watches(collection))
            .collect()
    }

    fn record(&mut self, kind: ChangeKind, collection: &Collection, record: &Row) {
        for i in self.interested(kind, collection) {
            let prepared = self.observers[i].prepare(&mut *self.inner, kind, collection, record);
            self.changes[i].push(Change {
                kind,
                collection_id: collection.id.clone(),
                record: record.clone(),
                prepared,
            });
        }
    }

    /// The observers' after-commit calls, if anything was recorded.
    pub(crate) fn into_after_commit(self) -> Option<AfterCommit> {
        let batches: Vec<(Arc<dyn ChangeObserver>, Vec<Change>)> = self
            .observers
            .iter()
            .cloned()
            .zip(self.changes)
            .filter(|(_, changes)| !changes.is_empty())
            .collect();
        if batches.is_empty() {
            return None;
        }
        Some(Box::new(move || {
            for (observer, changes) in batches {
                observer.committed(changes);
            }
        }))
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
        among: Option<&[String]>,
        conditions: &[&FilterPlan],
        request: &RequestInfo,
    ) -> Result<u64, StoreError> {
        self.inner.count(collection, among, conditions, request)
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

    fn satisfies(
        &mut self,
        collection: &Collection,
        record: &Row,
        conditions: &[&FilterPlan],
        request: &RequestInfo,
    ) -> Result<bool, StoreError> {
        self.inner
            .satisfies(collection, record, conditions, request)
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
    fn lock_schema(&mut self) -> Result<(), StoreError> {
        self.inner.lock_schema()
    }

    fn insert(&mut self, collection: &Collection, record: &Row) -> Result<(), StoreError> {
        self.inner.insert(collection, record)?;
        self.record(ChangeKind::Create, collection, record);
        Ok(())
    }

    fn update(
        &mut self,
        collection: &Collection,
        id: &str,
        record: &Row,
    ) -> Result<(), StoreError> {
        self.inner.update(collection, id, record)?;
        self.record(ChangeKind::Update, collection, record);
        Ok(())
    }

    fn delete(&mut self, collection: &Collection, id: &str) -> Result<bool, StoreError> {
        let interested = self.interested(ChangeKind::Delete, collection);
        if interested.is_empty() {
            return self.inner.delete(collection, id);
        }
        let Some(row) = self
            .inner
            .get(collection, id, &[], &RequestInfo::default())?
        else {
            return self.inner.delete(collection, id);
        };
        let prepared: Vec<Option<AfterCommit>> = interested
            .iter()
            .map(|&i| {
                self.observers[i].prepare(&mut *self.inner, ChangeKind::Delete, collection, &row)
            })
            .collect();
        let deleted = self.inner.delete(collection, id)?;
        if deleted {
            for (i, prepared) in interested.into_iter().zip(prepared) {
                self.changes[i].push(Change {
                    kind: ChangeKind::Delete,
                    collection_id: collection.id.clone(),
                    record: row.clone(),
                    prepared,
                });
            }
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
