//! Typed access to rulebox's data over any [`KvStore`].

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::keys::{self, key, prefix};
use super::model::{Brand, DeadLetter, LedgerEntry, Member, OrderPoints, Stock, Store};
use super::{Batch, Committed, KvStore, StorageError, StoreStats};
use rulebox_world::Product;

/// Most rows any single read returns (stores, products, stock of a store).
const SCAN_CAP: usize = 100_000;

/// rulebox's tables over a key-value backend.
#[derive(Clone)]
pub struct Db {
    kv: Arc<dyn KvStore>,
}

impl Batch {
    /// Adds a put of `value` as JSON.
    pub fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        let bytes = serde_json::to_vec(value).expect("rulebox records always serialise");
        self.puts.push((key, bytes));
    }
}

impl Db {
    pub fn new(kv: Arc<dyn KvStore>) -> Self {
        Db { kv }
    }

    /// The backend's counts and durations, if it keeps them ([`KvStore::stats`]).
    pub fn stats(&self) -> Option<StoreStats> {
        self.kv.stats()
    }

    /// Applies a batch atomically.
    pub fn commit(&self, batch: &Batch) -> Result<Committed, StorageError> {
        self.kv.commit(batch)
    }

    /// Applies batches together where the backend can (see [`KvStore::commit_all`]).
    pub fn commit_all(&self, batches: &[Batch]) -> Result<Vec<Committed>, StorageError> {
        self.kv.commit_all(batches)
    }

    /// Makes earlier commits durable (group commit).
    pub fn flush(&self) -> Result<(), StorageError> {
        self.kv.flush()
    }

    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        self.kv
            .get(key)?
            .map(|bytes| decode(key, &bytes))
            .transpose()
    }

    fn scan<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<T>, StorageError> {
        self.kv
            .scan(prefix, after, limit)?
            .iter()
            .map(|(k, v)| decode(k, v))
            .collect()
    }

    /// Every entry under `prefix` with its key, in key order (small tables only: API keys,
    /// dead letters).
    pub fn scan_all<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, T)>, StorageError> {
        let mut entries = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self.kv.scan(prefix, after.as_deref(), 1000)?;
            let Some((last, _)) = page.last() else {
                return Ok(entries);
            };
            after = Some(last.clone());
            for (k, v) in page {
                let value = decode(&k, &v)?;
                entries.push((k, value));
            }
        }
    }

    // ----- keys ---------------------------------------------------------------------------

    pub fn brand_key(id: &str) -> Vec<u8> {
        keys::brand(id)
    }
    pub fn member_key(brand: &str, id: &str) -> Vec<u8> {
        key(brand, "member", &[id])
    }
    pub fn ledger_key(brand: &str, member: &str, seq: u64) -> Vec<u8> {
        key(brand, "ledger", &[member, &keys::seq(seq)])
    }
    pub fn order_key(brand: &str, member: &str, order: &str) -> Vec<u8> {
        key(brand, "order", &[member, order])
    }
    /// Which member an order id belongs to (order ids are unique per brand).
    pub fn order_owner_key(brand: &str, order: &str) -> Vec<u8> {
        key(brand, "order-owner", &[order])
    }
    pub fn event_key(brand: &str, id: &str) -> Vec<u8> {
        key(brand, "event", &[id])
    }
    pub fn dead_letter_key(brand: &str, id: &str) -> Vec<u8> {
        key(brand, "dead", &[id])
    }
    pub fn store_key(brand: &str, id: &str) -> Vec<u8> {
        key(brand, "store", &[id])
    }
    pub fn product_key(brand: &str, id: &str) -> Vec<u8> {
        key(brand, "product", &[id])
    }
    pub fn stock_key(brand: &str, store: &str, product: &str) -> Vec<u8> {
        key(brand, "stock", &[store, product])
    }
    /// Plugin registry keys: `(brand, table, parts)`.
    pub fn registry_key(brand: &str, table: &str, parts: &[&str]) -> Vec<u8> {
        key(brand, table, parts)
    }
    /// A plugin component's bytes, stored once under their blake3 `digest` for every brand
    /// that installs them (platform-level, outside every brand's range). A brand reaches
    /// them only through its own version records, which name the digest the host computed.
    pub fn component_key(digest: &str) -> Vec<u8> {
        key("", "component", &[digest])
    }

    // ----- reads --------------------------------------------------------------------------

    pub fn brand(&self, id: &str) -> Result<Option<Brand>, StorageError> {
        self.get(&keys::brand(id))
    }
    pub fn brands(&self) -> Result<Vec<Brand>, StorageError> {
        self.scan(keys::BRANDS_PREFIX, None, SCAN_CAP)
    }
    pub fn member(&self, brand: &str, id: &str) -> Result<Option<Member>, StorageError> {
        self.get(&Self::member_key(brand, id))
    }
    /// Members of a brand in id order, `limit` at a time after `after`.
    pub fn members(
        &self,
        brand: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Member>, StorageError> {
        let after = after.map(|a| Self::member_key(brand, a));
        self.scan(&prefix(brand, "member", &[]), after.as_deref(), limit)
    }
    /// A member's ledger in order, `limit` entries after sequence `after`.
    pub fn ledger(
        &self,
        brand: &str,
        member: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StorageError> {
        let after = after.map(|seq| Self::ledger_key(brand, member, seq));
        self.scan(&prefix(brand, "ledger", &[member]), after.as_deref(), limit)
    }
    pub fn order(
        &self,
        brand: &str,
        member: &str,
        order: &str,
    ) -> Result<Option<OrderPoints>, StorageError> {
        self.get(&Self::order_key(brand, member, order))
    }
    pub fn dead_letters(&self, brand: &str) -> Result<Vec<DeadLetter>, StorageError> {
        self.scan(&prefix(brand, "dead", &[]), None, SCAN_CAP)
    }
    /// The keys of every dead letter of a brand, however many.
    pub fn dead_letter_keys(&self, brand: &str) -> Result<Vec<Vec<u8>>, StorageError> {
        let letters = self.scan_all::<serde::de::IgnoredAny>(&prefix(brand, "dead", &[]))?;
        Ok(letters.into_iter().map(|(key, _)| key).collect())
    }
    pub fn stores(&self, brand: &str) -> Result<Vec<Store>, StorageError> {
        self.scan(&prefix(brand, "store", &[]), None, SCAN_CAP)
    }
    pub fn products(&self, brand: &str) -> Result<Vec<Product>, StorageError> {
        self.scan(&prefix(brand, "product", &[]), None, SCAN_CAP)
    }
    pub fn stock(&self, brand: &str, store: &str) -> Result<Vec<Stock>, StorageError> {
        self.scan(&prefix(brand, "stock", &[store]), None, SCAN_CAP)
    }
    /// Stock of every store of a brand, by store then product, at most `limit` rows.
    pub fn brand_stock(&self, brand: &str, limit: usize) -> Result<Vec<Stock>, StorageError> {
        self.scan(&prefix(brand, "stock", &[]), None, limit)
    }
    /// Raw scan of registry records.
    pub fn scan_registry<T: DeserializeOwned>(
        &self,
        brand: &str,
        table: &str,
        parts: &[&str],
    ) -> Result<Vec<T>, StorageError> {
        self.scan(&prefix(brand, table, parts), None, SCAN_CAP)
    }
    /// Raw bytes (plugin components).
    pub fn get_bytes(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.kv.get(key)
    }
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt {
        key: String::from_utf8_lossy(key).replace('\0', "/"),
        message: e.to_string(),
    })
}
