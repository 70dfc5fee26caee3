//! Per-plugin statistics: calls, failures by cause, and fuel and time percentiles, for every
//! (brand, plugin, version) the pipeline has called.
//!
//! The numbers live in memory only and count **since the host process started** (a restart
//! starts from zero; nothing is persisted or replicated). Every call the pipeline makes is
//! counted: ingested events, dry runs, replays against candidate versions and queries; a
//! repeated event answered from its stored outcome calls nothing and counts nothing.
//!
//! Percentiles are computed when read, over the fuel and wall time of the most recent
//! [`WINDOW`] successful calls of each version (a ring buffer), so they follow the current
//! behaviour of a version rather than its whole history, and memory stays bounded. A failed
//! call counts in `calls` and in `failures` under its cause code
//! ([`FailureCause::code`]) but adds no sample: a call cut short by a limit says nothing
//! about what the rule normally costs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::Rulebox;
use rulebox_sandbox::{CallReport, FailureCause, PluginFailure};

/// How many recent successful calls of each plugin version the percentiles are taken over.
pub const WINDOW: usize = 4096;

/// A fixed-capacity buffer that keeps the last `capacity` items pushed, overwriting the
/// oldest. It grows to its capacity on demand (so a version called a few times costs a few
/// bytes), after which a push never allocates.
#[derive(Debug)]
struct Ring<T> {
    items: Vec<T>,
    /// Where the next push goes once full (the oldest item).
    next: usize,
    capacity: usize,
}

impl<T: Copy> Ring<T> {
    fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "a ring needs room for at least one item");
        Ring {
            items: Vec::new(),
            next: 0,
            capacity,
        }
    }

    fn push(&mut self, item: T) {
        if self.items.len() < self.capacity {
            self.items.push(item);
        } else {
            self.items[self.next] = item;
        }
        self.next = (self.next + 1) % self.capacity;
    }

    /// The items held, in no particular order.
    fn items(&self) -> &[T] {
        &self.items
    }
}

/// The 50th, 90th and 99th percentiles and the maximum of a set of samples (nearest rank:
/// each is a value that was actually observed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl Percentiles {
    /// The percentiles of `samples` (which this sorts); `None` for no samples.
    pub fn of(samples: &mut [u64]) -> Option<Percentiles> {
        samples.sort_unstable();
        let max = *samples.last()?;
        // Nearest rank: the smallest sample with at least p% of the samples at or below it.
        let rank = |p: usize| samples[(p * samples.len()).div_ceil(100) - 1];
        Some(Percentiles {
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max,
        })
    }
}

/// What one successful call cost.
#[derive(Debug, Clone, Copy)]
struct Sample {
    fuel: u64,
    elapsed_us: u64,
}

/// The counters of one plugin version.
#[derive(Debug)]
struct Counters {
    calls: u64,
    /// By cause code; a handful of static keys, so a node is allocated once per cause.
    failures: BTreeMap<&'static str, u64>,
    samples: Ring<Sample>,
}

/// One plugin version's statistics, as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VersionStatsView {
    pub version: String,
    /// Calls since the host started, failed ones included.
    pub calls: u64,
    /// Failed calls by cause code (`fuel-exhausted`, `deadline`, `trap`, …); absent causes
    /// did not occur.
    pub failures: BTreeMap<String, u64>,
    /// How many recent successful calls the percentiles below are computed over (at most
    /// [`WINDOW`]).
    pub samples: usize,
    /// Fuel per successful call; `null` when there is no sample yet.
    pub fuel: Option<Percentiles>,
    /// Wall time per successful call (instantiation included), in microseconds; `null` when
    /// there is no sample yet.
    pub elapsed_us: Option<Percentiles>,
}

/// A plugin's statistics per version, since the host started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PluginStatsView {
    pub brand: String,
    pub plugin: String,
    /// The version active now, if any.
    pub active_version: Option<String>,
    /// When counting began (the host's start), in Unix milliseconds: the numbers cover
    /// this process only.
    pub since_ms: i64,
    /// The most samples kept per version ([`WINDOW`]).
    pub window: usize,
    /// Every version called since `since_ms`, by version string; a version never called
    /// is absent.
    pub versions: Vec<VersionStatsView>,
}

type Versions = HashMap<String, Mutex<Counters>>;

/// The statistics registry: thread-safe, in memory, keyed by brand, plugin and version.
///
/// Recording takes a shared lock on the map and the version's own short mutex, and
/// allocates only the first time a version is seen (and while its ring grows to
/// [`WINDOW`]); concurrent calls of different versions do not contend.
#[derive(Debug)]
pub struct PluginStats {
    since_ms: i64,
    window: usize,
    brands: RwLock<HashMap<String, HashMap<String, Versions>>>,
}

impl Default for PluginStats {
    fn default() -> Self {
        Self::with_window(WINDOW)
    }
}

impl PluginStats {
    /// Statistics that keep the last `window` samples per version.
    pub fn with_window(window: usize) -> Self {
        let since_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        PluginStats {
            since_ms,
            window: window.max(1),
            brands: RwLock::new(HashMap::new()),
        }
    }

    /// Counts a successful call and keeps its fuel and time as a sample.
    pub fn record_success(
        &self,
        brand: &str,
        plugin: &str,
        version: &str,
        fuel: u64,
        elapsed_us: u64,
    ) {
        self.update(brand, plugin, version, |c| {
            c.calls += 1;
            c.samples.push(Sample { fuel, elapsed_us });
        });
    }

    /// Counts a failed call under its cause code.
    pub fn record_failure(&self, brand: &str, plugin: &str, version: &str, cause: &FailureCause) {
        self.update(brand, plugin, version, |c| {
            c.calls += 1;
            *c.failures.entry(cause.code()).or_insert(0) += 1;
        });
    }

    /// Counts the result of one call (what the pipeline does after each).
    pub(crate) fn record<T>(
        &self,
        brand: &str,
        plugin: &str,
        version: &str,
        result: &Result<CallReport<T>, PluginFailure>,
    ) {
        match result {
            Ok(report) => {
                self.record_success(brand, plugin, version, report.fuel_used, report.elapsed_us)
            }
            Err(failure) => self.record_failure(brand, plugin, version, &failure.cause),
        }
    }

    fn update(&self, brand: &str, plugin: &str, version: &str, edit: impl FnOnce(&mut Counters)) {
        {
            let brands = self.brands.read().unwrap_or_else(|e| e.into_inner());
            let counters = brands
                .get(brand)
                .and_then(|plugins| plugins.get(plugin))
                .and_then(|versions| versions.get(version));
            if let Some(counters) = counters {
                edit(&mut counters.lock().unwrap_or_else(|e| e.into_inner()));
                return;
            }
        }
        // First call of this version: insert it (another thread may have just done so;
        // `entry` keeps whichever came first).
        let mut brands = self.brands.write().unwrap_or_else(|e| e.into_inner());
        let counters = brands
            .entry(brand.to_owned())
            .or_default()
            .entry(plugin.to_owned())
            .or_default()
            .entry(version.to_owned())
            .or_insert_with(|| {
                Mutex::new(Counters {
                    calls: 0,
                    failures: BTreeMap::new(),
                    samples: Ring::new(self.window),
                })
            });
        edit(counters.get_mut().unwrap_or_else(|e| e.into_inner()));
    }

    /// The statistics of every version of `plugin` of `brand` called so far, by version.
    pub fn versions(&self, brand: &str, plugin: &str) -> Vec<VersionStatsView> {
        // Copy under the locks, sort outside them: recording never waits for a sort.
        let copies: Vec<(VersionStatsView, Vec<Sample>)> = {
            let brands = self.brands.read().unwrap_or_else(|e| e.into_inner());
            let Some(versions) = brands.get(brand).and_then(|p| p.get(plugin)) else {
                return Vec::new();
            };
            versions
                .iter()
                .map(|(version, counters)| {
                    let c = counters.lock().unwrap_or_else(|e| e.into_inner());
                    let view = VersionStatsView {
                        version: version.clone(),
                        calls: c.calls,
                        failures: c
                            .failures
                            .iter()
                            .map(|(code, n)| ((*code).to_owned(), *n))
                            .collect(),
                        samples: c.samples.items().len(),
                        fuel: None,
                        elapsed_us: None,
                    };
                    (view, c.samples.items().to_vec())
                })
                .collect()
        };
        let mut views: Vec<VersionStatsView> = copies
            .into_iter()
            .map(|(mut view, samples)| {
                let mut fuel: Vec<u64> = samples.iter().map(|s| s.fuel).collect();
                let mut elapsed: Vec<u64> = samples.iter().map(|s| s.elapsed_us).collect();
                view.fuel = Percentiles::of(&mut fuel);
                view.elapsed_us = Percentiles::of(&mut elapsed);
                view
            })
            .collect();
        views.sort_by(|a, b| a.version.cmp(&b.version));
        views
    }
}

impl Rulebox {
    /// The statistics of plugin `name` of `brand` since this host started: per version
    /// called, the calls, failures by cause, and fuel and time percentiles over the last
    /// [`WINDOW`] successful calls. A plugin never called has no versions listed.
    pub fn plugin_stats(&self, brand: &str, name: &str) -> PluginStatsView {
        PluginStatsView {
            brand: brand.to_owned(),
            plugin: name.to_owned(),
            active_version: self
                .registry
                .snapshot(brand)
                .get(name)
                .map(|p| p.manifest.version.clone()),
            since_ms: self.stats.since_ms,
            window: self.stats.window,
            versions: self.stats.versions(brand, name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_values_that_were_observed() {
        let mut hundred: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(
            Percentiles::of(&mut hundred),
            Some(Percentiles {
                p50: 50,
                p90: 90,
                p99: 99,
                max: 100
            })
        );
        let mut one = vec![7];
        assert_eq!(
            Percentiles::of(&mut one),
            Some(Percentiles {
                p50: 7,
                p90: 7,
                p99: 7,
                max: 7
            })
        );
        // Ten samples: p50 is the 5th, p90 the 9th, p99 the 10th.
        let mut ten = vec![10, 1, 9, 2, 8, 3, 7, 4, 6, 5];
        assert_eq!(
            Percentiles::of(&mut ten),
            Some(Percentiles {
                p50: 5,
                p90: 9,
                p99: 10,
                max: 10
            })
        );
        // One outlier among many lifts max and (with < 100 samples) p99, not p50 or p90.
        let mut skewed = vec![3; 50];
        skewed.push(1_000);
        let p = Percentiles::of(&mut skewed).unwrap();
        assert_eq!((p.p50, p.p90, p.p99, p.max), (3, 3, 1_000, 1_000));
        assert_eq!(Percentiles::of(&mut []), None);
    }

    #[test]
    fn the_ring_keeps_only_the_last_items_once_full() {
        let mut ring = Ring::new(4);
        for i in 1..=3u64 {
            ring.push(i);
        }
        assert_eq!(ring.items(), [1, 2, 3]);
        for i in 4..=10u64 {
            ring.push(i);
        }
        let mut held = ring.items().to_vec();
        held.sort_unstable();
        assert_eq!(held, [7, 8, 9, 10]);
        assert_eq!(ring.items().len(), 4);
        assert_eq!(ring.items.capacity(), 4, "a full ring does not grow");
    }

    #[test]
    fn stats_count_calls_and_failures_per_version_and_window_the_samples() {
        let stats = PluginStats::with_window(10);
        for fuel in 1..=25u64 {
            stats.record_success("tea", "points", "1.0.0", fuel * 100, fuel);
        }
        stats.record_failure(
            "tea",
            "points",
            "1.0.0",
            &FailureCause::FuelExhausted { budget: 5 },
        );
        stats.record_failure(
            "tea",
            "points",
            "1.0.0",
            &FailureCause::FuelExhausted { budget: 5 },
        );
        stats.record_failure("tea", "points", "1.0.0", &FailureCause::StackOverflow);
        stats.record_success("tea", "points", "2.0.0", 9, 9);
        stats.record_success("coffee", "points", "1.0.0", 1, 1);

        let versions = stats.versions("tea", "points");
        assert_eq!(
            versions
                .iter()
                .map(|v| v.version.as_str())
                .collect::<Vec<_>>(),
            ["1.0.0", "2.0.0"]
        );
        let v1 = &versions[0];
        assert_eq!(v1.calls, 28);
        assert_eq!(
            v1.failures,
            BTreeMap::from([
                ("fuel-exhausted".to_owned(), 2),
                ("stack-overflow".to_owned(), 1)
            ])
        );
        // Only the last 10 successes (fuel 1600..=2500) are kept.
        assert_eq!(v1.samples, 10);
        assert_eq!(
            v1.fuel,
            Some(Percentiles {
                p50: 2000,
                p90: 2400,
                p99: 2500,
                max: 2500
            })
        );
        assert_eq!(v1.elapsed_us.unwrap().max, 25);
        assert_eq!(versions[1].calls, 1);
        assert!(versions[1].failures.is_empty());
        assert_eq!(stats.versions("coffee", "points")[0].calls, 1);
        assert!(stats.versions("tea", "other").is_empty());
    }

    #[test]
    fn a_version_that_only_failed_has_no_percentiles() {
        let stats = PluginStats::default();
        stats.record_failure(
            "tea",
            "hostile",
            "0.1.0",
            &FailureCause::Trap {
                message: "boom".into(),
            },
        );
        let view = &stats.versions("tea", "hostile")[0];
        assert_eq!((view.calls, view.samples), (1, 0));
        assert_eq!((view.fuel, view.elapsed_us), (None, None));
        let json = serde_json::to_value(view).unwrap();
        assert_eq!(json["fuel"], serde_json::Value::Null);
        assert_eq!(json["failures"]["trap"], 1);
    }

    #[test]
    fn concurrent_recording_loses_no_call() {
        let stats = PluginStats::with_window(64);
        std::thread::scope(|scope| {
            for t in 0..4 {
                let stats = &stats;
                scope.spawn(move || {
                    for i in 0..500 {
                        let version = if i % 2 == 0 { "1.0.0" } else { "2.0.0" };
                        stats.record_success("tea", "points", version, t, i);
                    }
                });
            }
        });
        let versions = stats.versions("tea", "points");
        assert_eq!(versions.iter().map(|v| v.calls).sum::<u64>(), 2000);
        assert!(versions.iter().all(|v| v.samples == 64));
    }
}
