//! The pipeline holds a member's lock while it evaluates and commits an event, not while it
//! waits for the flush that makes the event durable: the next event of the same member runs
//! during that flush, and a member's burst of events shares flushes instead of waiting for
//! one each.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rulebox_host::Rulebox;
use rulebox_host::demo::data::{self, BRAND, DEMO_EPOCH};
use rulebox_host::sandbox::SandboxConfig;
use rulebox_host::sandbox::bindings::{Event, EventKind, Visit};
use rulebox_host::store::{Batch, Committed, Entries, KvStore, MemoryKv, StorageError};

/// A store whose flushes wait until the test opens the gate, counting who waits.
#[derive(Default)]
struct GatedFlush {
    inner: MemoryKv,
    gate: Mutex<Gate>,
    changed: Condvar,
}

#[derive(Default)]
struct Gate {
    open: bool,
    /// Flushes waiting for the gate to open.
    waiting: usize,
}

impl GatedFlush {
    /// Waits until `n` flushes are waiting, or `timeout`; returns how many are.
    fn wait_for_flushes(&self, n: usize, timeout: Duration) -> usize {
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

    fn open(&self) {
        self.gate.lock().unwrap().open = true;
        self.changed.notify_all();
    }

    fn close(&self) {
        *self.gate.lock().unwrap() = Gate::default();
    }
}

impl KvStore for GatedFlush {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
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
        let mut gate = self.gate.lock().unwrap();
        if !gate.open {
            gate.waiting += 1;
            self.changed.notify_all();
            while !gate.open {
                gate = self.changed.wait(gate).unwrap();
            }
        }
        Ok(())
    }
}

fn check_in(id: &str, member: &str) -> Event {
    Event {
        id: id.into(),
        brand: BRAND.into(),
        member_id: member.into(),
        occurred_at: DEMO_EPOCH + 86_400_000,
        kind: EventKind::CheckIn(Visit {
            location: None,
            store_id: None,
        }),
    }
}

#[test]
fn the_next_event_of_a_member_runs_while_the_last_one_waits_for_its_flush() -> anyhow::Result<()> {
    let kv = Arc::new(GatedFlush::default());
    kv.open(); // setting up flushes too
    let rb = Rulebox::with_storage(kv.clone(), SandboxConfig::default())?;
    let demo = data::generate(7, 3);
    rb.put_brand(&demo.brand)?;
    rb.put_members(BRAND, demo.members)?;
    let member = "m-00001";
    rb.member(BRAND, member)?;
    kv.close();

    std::thread::scope(|s| -> anyhow::Result<()> {
        let first = s.spawn(|| rb.ingest(check_in("e-1", member)));
        assert_eq!(kv.wait_for_flushes(1, Duration::from_secs(20)), 1);
        let second = s.spawn(|| rb.ingest(check_in("e-2", member)));
        // Holding the member's lock through the flush would keep the second event out.
        let waiting = kv.wait_for_flushes(2, Duration::from_secs(20));
        kv.open();
        let (first, second) = (first.join().unwrap()?, second.join().unwrap()?);
        assert_eq!(
            waiting, 2,
            "the second event waited for the first one's flush"
        );
        assert!(!first.duplicate && !second.duplicate);
        Ok(())
    })?;
    assert!(rb.ingest(check_in("e-2", member))?.duplicate);
    Ok(())
}
