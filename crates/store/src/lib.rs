//! Storage: a small key-value trait with atomic guarded batches, a sled implementation, an
//! in-memory one for tests, and the typed layout of rulebox's data on top ([`Db`]).
//!
//! Backends only store bytes; key layout, serialisation and every invariant live in [`Db`]
//! and the pipeline, so another embedded engine means implementing four methods.

mod catalog;
mod combine;
mod db;
mod keys;
mod memory;
pub mod model;
mod sled;
pub mod stats;
pub mod watchdog;

pub use self::sled::{CACHE_BYTES, SledKv};
pub use catalog::{Catalog, Catalogs, DbCatalog, MAX_CACHED_STOCK_ROWS};
pub use db::Db;
pub use memory::MemoryKv;
pub use stats::StoreStats;

/// A failure of the storage backend.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    #[error(
        "storage I/O failed: {0}. Check the disk (space, permissions) and retry; nothing was committed"
    )]
    Io(String),
    #[error("stored data is corrupt at key {key}: {message}. Restore from a backup")]
    Corrupt { key: String, message: String },
}

/// Key-value pairs, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Writes applied all together or not at all.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    /// If set, the batch applies only if this key is absent (the idempotency key).
    pub guard: Option<Vec<u8>>,
    pub puts: Vec<(Vec<u8>, Vec<u8>)>,
    pub deletes: Vec<Vec<u8>>,
}

/// What [`KvStore::commit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// Every write was applied.
    Applied,
    /// The guard key existed (with this value); nothing was written.
    GuardExists(Vec<u8>),
}

/// An ordered key-value store with atomic batches. Implementations must make `commit`
/// atomic and isolated (all writes or none, the guard checked inside the same transaction),
/// and `flush` durable (every commit that returned before `flush` was called survives a
/// crash once `flush` returns). Commits become durable in the order they returned: a crash
/// may lose the latest ones, never an earlier one while keeping a later one (sled recovers
/// a prefix of its log). The pipeline relies on it: an event may read a change committed
/// but not yet flushed, and is acknowledged only after its own flush.
pub trait KvStore: Send + Sync + 'static {
    /// The value under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// Up to `limit` entries whose keys start with `prefix`, in key order, starting after
    /// `after` if given.
    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Entries, StorageError>;
    /// Applies `batch` atomically.
    fn commit(&self, batch: &Batch) -> Result<Committed, StorageError>;
    /// Applies each batch as [`KvStore::commit`] would, in order (a batch whose guard a
    /// batch before it wrote is skipped). Backends where a transaction has a fixed cost
    /// apply them all in one (sled's costs a disk write); the default commits them one by
    /// one. On an error, any of the batches may have been applied: each on its own is
    /// still all-or-nothing, and guarded by its idempotency key.
    fn commit_all(&self, batches: &[Batch]) -> Result<Vec<Committed>, StorageError> {
        batches.iter().map(|batch| self.commit(batch)).collect()
    }
    /// Makes every earlier commit durable.
    fn flush(&self) -> Result<(), StorageError>;
    /// Counts and durations of what the backend has done since it opened, if it keeps them
    /// (shown on `/metrics`).
    fn stats(&self) -> Option<StoreStats> {
        None
    }
}
