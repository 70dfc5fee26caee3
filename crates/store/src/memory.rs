//! An in-memory [`KvStore`] for tests and dry runs of tools. Not durable.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

use super::{Batch, Committed, Entries, KvStore, StorageError};

/// A `BTreeMap` behind a lock.
#[derive(Default)]
pub struct MemoryKv {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryKv {
    pub fn new() -> Self {
        Self::default()
    }
}

impl KvStore for MemoryKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned())
    }

    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Entries, StorageError> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let start = match after {
            Some(after) => Bound::Excluded(after.to_vec()),
            None => Bound::Included(prefix.to_vec()),
        };
        Ok(map
            .range((start, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn commit(&self, batch: &Batch) -> Result<Committed, StorageError> {
        Ok(apply(
            &mut self.map.write().unwrap_or_else(|e| e.into_inner()),
            batch,
        ))
    }

    fn commit_all(&self, batches: &[Batch]) -> Result<Vec<Committed>, StorageError> {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        Ok(batches.iter().map(|batch| apply(&mut map, batch)).collect())
    }

    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// Applies `batch` to `map` unless its guard key is there.
fn apply(map: &mut BTreeMap<Vec<u8>, Vec<u8>>, batch: &Batch) -> Committed {
    if let Some(existing) = batch.guard.as_ref().and_then(|g| map.get(g)) {
        return Committed::GuardExists(existing.clone());
    }
    for key in &batch.deletes {
        map.remove(key);
    }
    for (key, value) in &batch.puts {
        map.insert(key.clone(), value.clone());
    }
    Committed::Applied
}
