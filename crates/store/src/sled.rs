//! The sled backend, with group commit.
//!
//! sled makes a transaction durable only when the log is flushed. Flushing after every
//! event would cap throughput at the disk's sync rate, so `flush` joins a group: one
//! background thread flushes for every caller waiting at that moment, and each caller
//! returns once a flush that started after its commit has finished. An event is
//! acknowledged only after that. Commits are grouped too: concurrent callers' batches
//! share one sled transaction ([`Combiner`]).
//!
//! The sled caveat: sled 0.34 is beta software whose on-disk format may change between
//! versions, and its crash recovery, while tested upstream, is not as proven as SQLite's.
//! The host keeps every invariant checkable (the ledger sums to the balance) so recovery
//! can be verified, and `docs/architecture.md` says how to back up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::combine::Combiner;
use super::stats::Timings;
use super::watchdog::{self, STALL_LIMIT, Watchdog};
use super::{Batch, Committed, Entries, KvStore, StorageError, StoreStats};

type Waiter = mpsc::Sender<Result<(), StorageError>>;

/// sled's page cache unless configured otherwise (`cache_mib` of `rulebox serve`). sled's
/// own default (1 GiB) lets a busy host's memory climb for a long time before levelling
/// off; 128 MiB keeps the working set of members and recent outcomes hot. Beyond it,
/// sled's memory follows the data kept (docs/reliability.md, Soak).
pub const CACHE_BYTES: u64 = 128 << 20;

/// How long opening waits for the database's file lock to be released.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// A sled database with one tree for all rulebox data.
pub struct SledKv {
    db: sled::Db,
    tree: sled::Tree,
    flushes: Mutex<Option<mpsc::Sender<Waiter>>>,
    flusher: Option<thread::JoinHandle<()>>,
    /// Runs concurrent commits in shared transactions.
    combiner: Combiner,
    /// What `stats` reports; the flush thread records its part.
    commits: AtomicU64,
    transaction_times: Timings,
    flushed: Arc<Flushed>,
    /// Aborts the process if sled stops making progress (see [`watchdog`]).
    watchdog: Watchdog,
}

/// The flush thread's record: each flush's duration and the callers it served.
#[derive(Default)]
struct Flushed {
    times: Timings,
    waiters: AtomicU64,
}

fn io(e: impl std::fmt::Display) -> StorageError {
    StorageError::Io(e.to_string())
}

impl SledKv {
    /// Opens (creating if needed) the database in `path` with a page cache of
    /// [`CACHE_BYTES`].
    pub fn open(path: &std::path::Path) -> Result<Self, StorageError> {
        Self::open_with_cache(path, CACHE_BYTES)
    }

    /// [`SledKv::open`] with a page cache of `cache_bytes`: what sled keeps of the data in
    /// memory, the largest part of a host's memory once it has run for a while.
    pub fn open_with_cache(path: &std::path::Path, cache_bytes: u64) -> Result<Self, StorageError> {
        let config = sled::Config::new()
            .path(path)
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(cache_bytes);
        // sled's I/O threads may still hold the file lock for a moment after a host in this
        // process (or one that just stopped) dropped its database: wait for it briefly
        // rather than refuse a reopen that would succeed a few milliseconds later.
        let started = Instant::now();
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        && started.elapsed() < LOCK_WAIT =>
                {
                    thread::sleep(Duration::from_millis(10));
                }
                result => break result,
            }
        }
        .map_err(|e| {
            StorageError::Io(format!(
                "cannot open the database at {}: {e} (is another rulebox using this data directory?)",
                path.display()
            ))
        })?;
        let tree = db.open_tree("rulebox").map_err(io)?;
        let (tx, rx) = mpsc::channel::<Waiter>();
        let flushed = Arc::new(Flushed::default());
        let (flusher, record) = (db.clone(), flushed.clone());
        let flusher = thread::Builder::new()
            .name("rulebox-flush".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // Everyone already waiting shares this flush.
                    let mut group = vec![first];
                    group.extend(rx.try_iter());
                    let started = Instant::now();
                    let result = flusher.flush().map(|_| ()).map_err(io);
                    record.times.record(started.elapsed());
                    record
                        .waiters
                        .fetch_add(group.len() as u64, Ordering::Relaxed);
                    for waiter in group {
                        let _ = waiter.send(result.clone());
                    }
                }
            })
            .map_err(io)?;
        let watchdog = Watchdog::start("rulebox-watchdog", STALL_LIMIT, watchdog::abort_process())
            .map_err(io)?;
        Ok(SledKv {
            db,
            tree,
            flushes: Mutex::new(Some(tx)),
            flusher: Some(flusher),
            combiner: Combiner::default(),
            commits: AtomicU64::new(0),
            transaction_times: Timings::default(),
            flushed,
            watchdog,
        })
    }

    /// Bytes the database occupies on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// How many sled transactions have committed events (each covers every commit that
    /// was waiting when it started).
    pub fn transactions(&self) -> u64 {
        self.combiner.transactions()
    }

    /// Applies the batches in one sled transaction, as [`KvStore::commit_all`] says.
    fn transaction(&self, batches: &[&Batch]) -> Result<Vec<Committed>, StorageError> {
        let _op = self.watchdog.enter();
        let started = Instant::now();
        let result = self.tree.transaction(|tx| {
            let mut results = Vec::with_capacity(batches.len());
            for batch in batches {
                if let Some(guard) = &batch.guard
                    && let Some(existing) = tx.get(guard)?
                {
                    results.push(Committed::GuardExists(existing.to_vec()));
                    continue;
                }
                for key in &batch.deletes {
                    tx.remove(key.as_slice())?;
                }
                for (key, value) in &batch.puts {
                    tx.insert(key.as_slice(), value.as_slice())?;
                }
                results.push(Committed::Applied);
            }
            Ok::<_, ConflictableTransactionError<()>>(results)
        });
        self.transaction_times.record(started.elapsed());
        match result {
            Ok(results) => Ok(results),
            Err(TransactionError::Storage(e)) => Err(io(e)),
            Err(TransactionError::Abort(())) => Err(StorageError::Io("transaction aborted".into())),
        }
    }
}

impl KvStore for SledKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let _op = self.watchdog.enter();
        Ok(self.tree.get(key).map_err(io)?.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Entries, StorageError> {
        let _op = self.watchdog.enter();
        let iter = match after {
            Some(after) => self
                .tree
                .range::<&[u8], _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded)),
            None => self.tree.range::<&[u8], _>(prefix..),
        };
        let mut out = Vec::new();
        for entry in iter {
            let (k, v) = entry.map_err(io)?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn commit(&self, batch: &Batch) -> Result<Committed, StorageError> {
        let mut results = self.commit_all(std::slice::from_ref(batch))?;
        Ok(results.pop().expect("one result per batch"))
    }

    /// One sled transaction for all the batches, shared with the commits of other threads
    /// that arrive meanwhile ([`Combiner`]): each transaction rolls sled's log buffer to disk
    /// when it starts (one write and one `sync_file_range` each), so a group of events shares
    /// that cost (docs/benchmarks/runs/08.md and 13.md).
    fn commit_all(&self, batches: &[Batch]) -> Result<Vec<Committed>, StorageError> {
        let results = self
            .combiner
            .commit(batches, |batches| self.transaction(batches))?;
        self.commits
            .fetch_add(batches.len() as u64, Ordering::Relaxed);
        Ok(results)
    }

    fn flush(&self) -> Result<(), StorageError> {
        let _op = self.watchdog.enter();
        let (tx, rx) = mpsc::channel();
        let stopped = || StorageError::Io("the flush thread has stopped".into());
        self.flushes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .ok_or_else(stopped)?
            .send(tx)
            .map_err(|_| stopped())?;
        rx.recv().map_err(|_| stopped())?
    }

    fn stats(&self) -> Option<StoreStats> {
        Some(StoreStats {
            commits: self.commits.load(Ordering::Relaxed),
            transactions: self.transaction_times.snapshot(),
            flushes: self.flushed.times.snapshot(),
            flush_waiters: self.flushed.waiters.load(Ordering::Relaxed),
        })
    }
}

impl Drop for SledKv {
    /// Stops the flush thread (so the database lock is released when this returns) after a
    /// last flush.
    fn drop(&mut self) {
        self.flushes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        if let Err(e) = self.db.flush() {
            tracing::error!(error = %e, "final flush failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    fn key(id: &str) -> Vec<u8> {
        format!("b\0event\0{id}").into_bytes()
    }

    fn batch(id: &str) -> Batch {
        Batch {
            guard: Some(key(id)),
            puts: vec![(key(id), id.as_bytes().to_vec())],
            deletes: Vec::new(),
        }
    }

    #[test]
    fn concurrent_commits_share_transactions_and_each_keeps_its_guard() {
        let dir = tempfile::tempdir().unwrap();
        let kv = SledKv::open(dir.path()).unwrap();
        let (threads, each) = (8, 20);
        let start = Barrier::new(threads);
        let results: Vec<Vec<Committed>> = thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (kv, start) = (&kv, &start);
                    s.spawn(move || {
                        start.wait();
                        // Every thread also sends the same event once: one copy may apply.
                        (0..each)
                            .map(|i| format!("e-{t}-{i}"))
                            .chain(["e-same".to_owned()])
                            .map(|id| kv.commit(&batch(&id)).unwrap())
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let same: Vec<&Committed> = results.iter().map(|r| &r[each]).collect();
        let applied = same.iter().filter(|c| ***c == Committed::Applied).count();
        assert_eq!(applied, 1, "{same:?}");
        for c in same.iter().filter(|c| ***c != Committed::Applied) {
            assert_eq!(**c, Committed::GuardExists(b"e-same".to_vec()));
        }
        for (t, results) in results.iter().enumerate() {
            assert!(results[..each].iter().all(|c| *c == Committed::Applied));
            for i in 0..each {
                let id = format!("e-{t}-{i}");
                assert_eq!(kv.get(&key(&id)).unwrap(), Some(id.into_bytes()));
            }
        }
        let commits = (threads * (each + 1)) as u64;
        let transactions = kv.transactions();
        assert!(
            (1..=commits).contains(&transactions),
            "{transactions} transactions for {commits} commits: commits must go through the combiner"
        );
        let stats = kv.stats().unwrap();
        assert_eq!(stats.commits, commits);
        assert_eq!(stats.transactions.count, transactions, "each one timed");
        assert!(stats.transactions.sum_seconds > 0.0);
    }

    #[test]
    fn flushes_are_timed_with_the_callers_they_served() {
        let dir = tempfile::tempdir().unwrap();
        let kv = SledKv::open(dir.path()).unwrap();
        kv.commit(&batch("e-1")).unwrap();
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| kv.flush().unwrap());
            }
        });
        let stats = kv.stats().unwrap();
        assert_eq!(stats.flush_waiters, 4);
        assert!((1..=4).contains(&stats.flushes.count), "{stats:?}");
        assert_eq!(
            stats.flushes.cumulative.last().copied(),
            Some(stats.flushes.count),
            "no flush of an idle test database takes over 5 s"
        );
    }
}
