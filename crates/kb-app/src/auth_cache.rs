//! Tokens already verified, with the auth record they stand for, so most requests
//! authenticate without a database read or a signature check.
//!
//! An entry is dropped the moment its record is updated or deleted: by an observer that runs
//! on the committing thread before any write is acknowledged (so a client that changed its
//! password and got the answer never again passes with an old token on this node), and, for
//! changes another node committed, when that node's announcement arrives. Entries also
//! belong to one schema version, and an entry read while its record was being changed is
//! never stored (a generation count tells). A record another process changed in the
//! database file (`keelbase superuser upsert` while the server runs) is read again after at
//! most [`FRESH_FOR`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kb_core::Collection;
use kb_store::{Change, ChangeKind, ChangeObserver};
use parking_lot::Mutex;
use serde_json::Value;

use crate::app::{App, Requester};

/// Records kept at most; past that the cache starts over (an LRU would cost more per hit
/// than refilling costs once).
const MAX_RECORDS: usize = 10_000;
/// Tokens kept per record (one per signed-in device, roughly).
const MAX_TOKENS_PER_RECORD: usize = 32;

/// How long a record read stays usable without another read: no process but this one sees
/// writes made behind its back.
const FRESH_FOR: Duration = Duration::from_secs(2);

/// `(collection id, record id)`.
type RecordKey = (String, String);

#[derive(Default)]
pub(crate) struct AuthCache {
    records: Mutex<HashMap<RecordKey, Entry>>,
    /// Bumped by every invalidation: a record read before a bump may be stale.
    generation: AtomicU64,
}

struct Entry {
    read_at: Instant,
    schema_version: u64,
    requester: Requester,
    /// Tokens whose signature was checked against this record's token key.
    tokens: HashSet<Box<str>>,
}

impl Entry {
    /// Read under `schema_version`, and recently enough to be used.
    fn is_current(&self, schema_version: u64) -> bool {
        self.schema_version == schema_version && self.read_at.elapsed() < FRESH_FOR
    }
}

impl AuthCache {
    /// The requester `token` (already known to name this record) stands for, if it was
    /// verified before under this schema version. The caller checks the expiry.
    pub(crate) fn get(
        &self,
        key: &RecordKey,
        schema_version: u64,
        token: &str,
    ) -> Option<Requester> {
        let records = self.records.lock();
        let entry = records.get(key)?;
        (entry.is_current(schema_version) && entry.tokens.contains(token))
            .then(|| entry.requester.clone())
    }

    /// Where a lookup that missed starts: remember this and pass it to [`AuthCache::insert`].
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remember that `token` was verified against `requester`'s record, read at `read_at`
    /// after `generation`; ignored if anything was invalidated since.
    pub(crate) fn insert(
        &self,
        key: RecordKey,
        schema_version: u64,
        generation: u64,
        read_at: Instant,
        token: &str,
        requester: &Requester,
    ) {
        let mut records = self.records.lock();
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if records.len() >= MAX_RECORDS && !records.contains_key(&key) {
            records.clear();
        }
        let fresh = || Entry {
            read_at,
            schema_version,
            requester: requester.clone(),
            tokens: HashSet::new(),
        };
        let entry = records.entry(key).or_insert_with(fresh);
        // A fresh entry of this schema version holds the same record (any change since
        // would have removed it), so the token joins it; anything else starts over.
        if !entry.is_current(schema_version) {
            *entry = fresh();
        }
        if entry.tokens.len() >= MAX_TOKENS_PER_RECORD {
            entry.tokens.clear();
        }
        entry.tokens.insert(token.into());
    }

    /// Forget a record (it changed or is gone).
    pub(crate) fn invalidate(&self, collection_id: &str, record_id: &str) {
        let mut records = self.records.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        records.remove(&(collection_id.to_owned(), record_id.to_owned()));
    }

    /// Forget everything (changes may have been missed).
    pub(crate) fn clear(&self) {
        let mut records = self.records.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        records.clear();
    }
}

/// Invalidates on the committing thread, before the write is acknowledged.
struct Invalidation(Arc<AuthCache>);

impl ChangeObserver for Invalidation {
    fn watches(&self, collection: &Collection) -> bool {
        collection.is_auth()
    }

    fn wants(&self, kind: ChangeKind) -> bool {
        matches!(kind, ChangeKind::Update | ChangeKind::Delete)
    }

    fn committed(&self, changes: Vec<Change>) {
        for change in changes {
            let id = change
                .record
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            self.0.invalidate(&change.collection_id, id);
        }
    }
}

impl AuthCache {
    /// Follow the changes `app`'s store commits.
    pub(crate) fn start(app: &App) {
        app.store
            .observe(Arc::new(Invalidation(app.auth_cache.clone())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> RecordKey {
        ("pbc_users".to_owned(), id.to_owned())
    }

    fn requester(id: &str) -> Requester {
        let collection = Arc::new(
            serde_json::from_value::<Collection>(
                serde_json::json!({"id": "pbc_users", "name": "users", "type": "auth"}),
            )
            .unwrap(),
        );
        let record = serde_json::json!({"id": id, "tokenKey": "k"});
        Requester::auth(collection, record.as_object().unwrap().clone())
    }

    fn cached_id(cache: &AuthCache, id: &str, version: u64, token: &str) -> Option<String> {
        match cache.get(&key(id), version, token)? {
            Requester::Auth { record, .. } => record["id"].as_str().map(str::to_owned),
            Requester::Guest => None,
        }
    }

    /// Note `token` as verified for record u1 (schema version 1), read just now.
    fn verified_now(cache: &AuthCache, generation: u64, token: &str) {
        let now = Instant::now();
        cache.insert(key("u1"), 1, generation, now, token, &requester("u1"));
    }

    #[test]
    fn verified_tokens_are_found_until_their_record_changes() {
        let cache = AuthCache::default();
        let generation = cache.generation();
        verified_now(&cache, generation, "t1");
        verified_now(&cache, generation, "t2");
        assert_eq!(cached_id(&cache, "u1", 1, "t1").as_deref(), Some("u1"));
        assert_eq!(cached_id(&cache, "u1", 1, "t2").as_deref(), Some("u1"));
        // another token, another schema version: not verified here
        assert_eq!(cached_id(&cache, "u1", 1, "t3"), None);
        assert_eq!(cached_id(&cache, "u1", 2, "t1"), None);

        cache.invalidate("pbc_users", "u1");
        assert_eq!(cached_id(&cache, "u1", 1, "t1"), None);
    }

    #[test]
    fn a_record_read_before_an_invalidation_is_not_kept() {
        let cache = AuthCache::default();
        let generation = cache.generation();
        // the record changes while the request reads it
        cache.invalidate("pbc_users", "u1");
        verified_now(&cache, generation, "t1");
        assert_eq!(cached_id(&cache, "u1", 1, "t1"), None);

        cache.clear();
        let generation = cache.generation();
        verified_now(&cache, generation, "t1");
        assert_eq!(cached_id(&cache, "u1", 1, "t1").as_deref(), Some("u1"));
        cache.clear();
        assert_eq!(cached_id(&cache, "u1", 1, "t1"), None);
    }

    #[test]
    fn reads_older_than_the_freshness_limit_are_not_used() {
        let cache = AuthCache::default();
        let long_ago = Instant::now() - FRESH_FOR - Duration::from_millis(1);
        cache.insert(
            key("u1"),
            1,
            cache.generation(),
            long_ago,
            "t1",
            &requester("u1"),
        );
        assert_eq!(cached_id(&cache, "u1", 1, "t1"), None);
        // a fresh read replaces the stale entry
        cache.insert(
            key("u1"),
            1,
            cache.generation(),
            Instant::now(),
            "t1",
            &requester("u1"),
        );
        assert_eq!(cached_id(&cache, "u1", 1, "t1").as_deref(), Some("u1"));
    }
}
