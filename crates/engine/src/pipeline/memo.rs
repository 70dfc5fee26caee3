//! Stored facts the pipeline keeps in memory, so that an event does not read them again:
//! brand records, and which events may have a dead letter.
//!
//! Each saves sled work on every event (docs/benchmarks/runs/11.md): a brand record was
//! read and decoded per event, and every committed event deleted its possible dead letter
//! inside the transaction, which cost sled a read and a tree walk even though there almost
//! never is one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use rulebox_store::model::Brand;
use rulebox_store::{Batch, Db, StorageError};

/// Brand records, read once. A brand is written only through [`Brands::put`], which
/// updates the copy here under the same lock, so no reader keeps an older one.
#[derive(Default)]
pub(crate) struct Brands {
    loaded: RwLock<HashMap<String, Arc<Brand>>>,
}

impl Brands {
    /// The brand `id`, from memory or read now; `None` if there is no such brand (not
    /// remembered: it may be created at any time).
    pub fn get(&self, db: &Db, id: &str) -> Result<Option<Arc<Brand>>, StorageError> {
        if let Some(brand) = self
            .loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
        {
            return Ok(Some(brand.clone()));
        }
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        if let Some(brand) = loaded.get(id) {
            return Ok(Some(brand.clone()));
        }
        let Some(brand) = db.brand(id)? else {
            return Ok(None);
        };
        let brand = Arc::new(brand);
        loaded.insert(id.to_owned(), brand.clone());
        Ok(Some(brand))
    }

    /// Writes `brand` with `write`, then keeps it, both under the lock readers take.
    pub fn put(
        &self,
        brand: &Brand,
        write: impl FnOnce() -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        loaded.remove(&brand.id);
        write()?;
        loaded.insert(brand.id.clone(), Arc::new(brand.clone()));
        Ok(())
    }
}

/// The keys of the dead letters that may exist: every dead letter on disk (found at open,
/// added when one is written). A key stays until the next open even once its letter is
/// deleted, which costs only a delete of nothing; a letter missing from it would outlive
/// the event it stands for, so nothing is ever left out.
#[derive(Default)]
pub(crate) struct DeadLetters {
    keys: Mutex<HashSet<Vec<u8>>>,
}

impl DeadLetters {
    /// Every dead letter of `brands` in `db`.
    pub fn load(db: &Db, brands: &[Brand]) -> Result<Self, StorageError> {
        let mut keys = HashSet::new();
        for brand in brands {
            keys.extend(db.dead_letter_keys(&brand.id)?);
        }
        Ok(DeadLetters {
            keys: Mutex::new(keys),
        })
    }

    /// Notes a dead letter about to be written under `key`.
    pub fn add(&self, key: &[u8]) {
        self.lock().insert(key.to_vec());
    }

    /// Adds to `batch` the delete of the dead letter under `key`, if there may be one.
    pub fn clear(&self, batch: &mut Batch, key: Vec<u8>) {
        if self.lock().contains(&key) {
            batch.deletes.push(key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Vec<u8>>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}
