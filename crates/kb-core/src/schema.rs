//! A consistent snapshot of every collection, as requests see it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::collection::Collection;

/// All collections at one version. Cheap to share (`Arc`) and never mutated: a schema change
/// builds a new snapshot and swaps it in, so a request sees one consistent schema throughout.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    collections: Vec<Arc<Collection>>,
    by_id: HashMap<String, usize>,
    by_lower_name: HashMap<String, usize>,
    /// Incremented on every change, so caches keyed by it (compiled rules) expire.
    pub version: u64,
}

impl Schema {
    pub fn new(collections: Vec<Collection>, version: u64) -> Self {
        let collections: Vec<Arc<Collection>> = collections.into_iter().map(Arc::new).collect();
        let by_id = collections
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        let by_lower_name = collections
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.to_lowercase(), i))
            .collect();
        Schema {
            collections,
            by_id,
            by_lower_name,
            version,
        }
    }

    /// Find by id, or else by name (case-insensitive), the way `{collectionIdOrName}` works.
    pub fn get(&self, id_or_name: &str) -> Option<&Arc<Collection>> {
        self.by_id(id_or_name).or_else(|| self.by_name(id_or_name))
    }

    pub fn by_id(&self, id: &str) -> Option<&Arc<Collection>> {
        self.by_id.get(id).map(|&i| &self.collections[i])
    }

    pub fn by_name(&self, name: &str) -> Option<&Arc<Collection>> {
        self.by_lower_name
            .get(&name.to_lowercase())
            .map(|&i| &self.collections[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Collection>> {
        self.collections.iter()
    }

    pub fn len(&self) -> usize {
        self.collections.len()
    }

    pub fn is_empty(&self) -> bool {
        self.collections.is_empty()
    }
}
