//! A store for tests that need storage to wait at a moment they choose.

// Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rulebox_host::store::{Batch, Committed, Entries, KvStore, MemoryKv, StorageError};

/// A `MemoryKv` whose flushes, or reads of keys under a prefix, wait at a gate until the
/// test opens it, counting who waits.
pub struct GatedKv {
    inner: MemoryKv,
    gated: Gated,
    gate: Mutex<Gate>,
    changed: Condvar,
}

enum Gated {
    Flushes,
    Reads(Vec<u8>),
}

#[derive(Default)]
struct Gate {
    open: bool,
    /// Operations waiting for the gate to open.
    waiting: usize,
}

impl GatedKv {
    /// Flushes wait at the gate (open to begin with).
    pub fn flushes() -> Self {
        Self::new(Gated::Flushes)
    }

    /// Reads of keys starting with `prefix` wait at the gate (open to begin with).
    pub fn reads(prefix: &[u8]) -> Self {
        Self::new(Gated::Reads(prefix.to_vec()))
    }

    fn new(gated: Gated) -> Self {
        GatedKv {
            inner: MemoryKv::new(),
            gated,
            gate: Mutex::new(Gate {
                open: true,
                waiting: 0,
            }),
            changed: Condvar::new(),
        }
    }

    /// Waits until `n` operations are waiting at the gate, or `timeout`; returns how many are.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut gate = self.gate.lock().unwrap();
        while gate.waiting < n && Instant::now() < deadline {
            gate = self
                .changed
                .wait_timeout(gate, Duration::from_millis(50))
                .unwrap()
                .0;
        }
        gate.waiting
    }

    pub fn open(&self) {
        self.gate.lock().unwrap().open = true;
        self.changed.notify_all();
    }

    pub fn close(&self) {
        *self.gate.lock().unwrap() = Gate::default();
    }

    fn pass(&self) {
        let mut gate = self.gate.lock().unwrap();
        if !gate.open {
            gate.waiting += 1;
            self.changed.notify_all();
            while !gate.open {
                gate = self.changed.wait(gate).unwrap();
            }
        }
    }
}

impl KvStore for GatedKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Gated::Reads(prefix) = &self.gated
            && key.starts_with(prefix)
        {
            self.pass();
        }
        self.inner.get(key)
    }
    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Entries, StorageError> {
        self.inner.scan(prefix, after, limit)
    }
    fn commit(&self, batch: &Batch) -> Result<Committed, StorageError> {
        self.inner.commit(batch)
    }
    fn flush(&self) -> Result<(), StorageError> {
        if let Gated::Flushes = self.gated {
            self.pass();
        }
        Ok(())
    }
}
