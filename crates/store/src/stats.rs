//! What a backend has done since it opened, for `/metrics`: how many commits shared how many
//! transactions, how many callers each flush made durable, and how long both took. Under
//! load these say whether storage is what requests wait for (docs/benchmarks/runs/14.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the duration buckets, in seconds: from a quiet fsync (a few hundred
/// microseconds) to a stall that queues requests for seconds.
pub const BUCKETS: [f64; 12] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
];

/// A histogram of durations, recorded without a lock.
#[derive(Debug, Default)]
pub struct Timings {
    /// Observations per bucket (not cumulative); the last one is above every bound.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A copy of [`Timings`] at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimingsSnapshot {
    /// Cumulative counts: `cumulative[i]` observations took at most `BUCKETS[i]` seconds.
    pub cumulative: Vec<u64>,
    /// All observations.
    pub count: u64,
    /// Their total, in seconds.
    pub sum_seconds: f64,
}

impl Timings {
    /// Records one observation.
    pub fn record(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn snapshot(&self) -> TimingsSnapshot {
        let mut running = 0;
        let mut cumulative = Vec::with_capacity(BUCKETS.len());
        for bucket in &self.buckets[..BUCKETS.len()] {
            running += bucket.load(Ordering::Relaxed);
            cumulative.push(running);
        }
        TimingsSnapshot {
            cumulative,
            count: running + self.buckets[BUCKETS.len()].load(Ordering::Relaxed),
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

impl TimingsSnapshot {
    /// What was observed after `earlier` (a snapshot of the same timings).
    pub fn since(&self, earlier: &TimingsSnapshot) -> TimingsSnapshot {
        TimingsSnapshot {
            cumulative: self
                .cumulative
                .iter()
                // A default (empty) snapshot counts as zero everywhere.
                .zip(earlier.cumulative.iter().chain(std::iter::repeat(&0)))
                .map(|(now, then)| now - then)
                .collect(),
            count: self.count - earlier.count,
            sum_seconds: self.sum_seconds - earlier.sum_seconds,
        }
    }

    /// The smallest bucket bound (seconds) that holds at least `quantile` of the
    /// observations; `None` when there are none, or when those are above every bound.
    pub fn bound(&self, quantile: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let needed = (quantile * self.count as f64).ceil() as u64;
        BUCKETS
            .iter()
            .zip(&self.cumulative)
            .find(|(_, count)| **count >= needed)
            .map(|(bound, _)| *bound)
    }
}

/// What a backend reports ([`super::KvStore::stats`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    /// Batches committed: one per event, plus every other write.
    pub commits: u64,
    /// Storage transactions those batches shared ([`super::SledKv`] commits concurrent
    /// callers' batches together), with their durations.
    pub transactions: TimingsSnapshot,
    /// Flushes, with their durations.
    pub flushes: TimingsSnapshot,
    /// Callers those flushes made durable (each flush serves everyone waiting).
    pub flush_waiters: u64,
}

impl StoreStats {
    /// What the backend did after `earlier` (its own earlier report).
    pub fn since(&self, earlier: &StoreStats) -> StoreStats {
        StoreStats {
            commits: self.commits - earlier.commits,
            transactions: self.transactions.since(&earlier.transactions),
            flushes: self.flushes.since(&earlier.flushes),
            flush_waiters: self.flush_waiters - earlier.flush_waiters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them_and_counts_are_cumulative() {
        let timings = Timings::default();
        for micros in [100, 250, 300, 40_000, 7_000_000] {
            timings.record(Duration::from_micros(micros));
        }
        let snapshot = timings.snapshot();
        assert_eq!(snapshot.count, 5);
        // ≤ 0.25 ms: 100 and 250 µs; ≤ 0.5 ms: and 300 µs; ≤ 50 ms: and 40 ms; 7 s is above all.
        assert_eq!(snapshot.cumulative[0], 2);
        assert_eq!(snapshot.cumulative[1], 3);
        assert_eq!(snapshot.cumulative[7], 4);
        assert_eq!(snapshot.cumulative[BUCKETS.len() - 1], 4);
        assert!((snapshot.sum_seconds - 7.040_65).abs() < 1e-9);
        assert_eq!(snapshot.bound(0.4), Some(0.000_25));
        assert_eq!(snapshot.bound(0.8), Some(0.05));
        assert_eq!(snapshot.bound(1.0), None, "7 s is above every bound");
    }

    #[test]
    fn a_snapshot_since_an_earlier_one_holds_only_what_came_after() {
        let timings = Timings::default();
        timings.record(Duration::from_millis(30));
        let earlier = timings.snapshot();
        timings.record(Duration::from_micros(200));
        timings.record(Duration::from_micros(400));
        let since = timings.snapshot().since(&earlier);
        assert_eq!(since.count, 2);
        assert_eq!(since.cumulative[BUCKETS.len() - 1], 2);
        assert_eq!(since.bound(0.99), Some(0.000_5));
        assert!((since.sum_seconds - 0.000_6).abs() < 1e-9);
        assert_eq!(TimingsSnapshot::default().bound(0.5), None);
    }
}
