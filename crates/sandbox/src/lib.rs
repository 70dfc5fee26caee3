//! The sandbox: compiles plugins once, validates them, and runs every call in a fresh,
//! bounded instance.
//!
//! **Fresh instance per call, by design.** Each call gets a new `Store` and a new instance
//! from a pre-instantiated component (`InstancePre`) backed by wasmtime's pooling allocator,
//! so instantiation is a copy-on-write remap of prepared memory: microseconds. Nothing a
//! plugin writes to its memory survives the call, so no member's data can leak into
//! another's call, and a plugin that corrupts its own state only spoils one call.
//!
//! Every call is bounded by fuel (deterministic), an epoch deadline (wall clock), memory and
//! table caps, a host-call quota and an output cap; a breach becomes a typed
//! [`PluginFailure`]. WASI is linked but empty: no directories, environment, sockets or
//! stdin; stdout and stderr are captured and capped; clocks read the event time and random
//! numbers come from the call's seed, so a call is deterministic.

// A `PluginFailure` (≈160 bytes) is returned by value on the failure path only; boxing it
// would add an allocation and indirection to every caller for no measurable gain.
#![allow(clippy::result_large_err)]

pub mod bindings;
mod cache;
mod call;
mod error;
mod exports;
mod limits;
mod load;
mod snapshot;
mod state;
mod stdio;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

use bindings::{Description, RulePlugin};
pub use error::LoadError;
use exports::Exports;
pub use limits::{Limits, MAX_MEMORY_BYTES};
pub use rulebox_world::{BrandData, FailureCause, PluginFailure, RuleErrorView};
pub use snapshot::exports_init;
use state::CallState;
pub use state::{CallEnv, MAX_IDS_PER_HOST_CALL, PluginLog};

/// The least the host copies from a plugin in one transfer (the arguments of one host call,
/// or the result of the call), whatever its limits: see [`transfer_limit`].
pub const MIN_TRANSFER_BYTES: u64 = 4 << 20;

/// The most bytes the host copies from a plugin in one transfer: the arguments of one host
/// call, or the effects or answer the call returns (wasmtime's "hostcall fuel", counted in
/// the host's representation: string bytes plus a few words per list item). Without it a
/// plugin could make the host allocate far more than its own memory (a list of a million
/// empty strings costs the plugin 8 MB and the host 24 MB). It is set from the plugin's
/// output limits so that any result within them always fits.
pub fn transfer_limit(limits: &Limits) -> u64 {
    MIN_TRANSFER_BYTES.max(
        limits
            .output_bytes
            .saturating_mul(2)
            .saturating_add(u64::from(limits.max_effects) * 1024),
    )
}

/// Bytes of an instance's memory reset in place rather than given back to the kernel when
/// the instance ends: the stack, data and heap a rule call typically touches.
const KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// Slots given back to the kernel together (one `madvise` round, one TLB shootdown).
const DECOMMIT_BATCH: usize = 32;

/// Host-wide sandbox settings.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where compiled plugins are kept between restarts; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// Instances the pool holds: the most plugin calls that can run at once.
    pub max_instances: u32,
    /// Wasm stack per call, in bytes. Engine-wide: wasmtime cannot vary it per plugin.
    pub stack_bytes: usize,
    /// How often the deadline clock ticks.
    pub epoch_tick: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            cache_dir: None,
            max_instances: 128,
            stack_bytes: 512 << 10,
            epoch_tick: Duration::from_millis(2),
        }
    }
}

/// A loaded plugin: compiled, validated, pre-instantiated, and described.
pub struct Plugin {
    /// What the plugin says it is.
    pub description: Description,
    /// blake3 of the component bytes.
    pub digest: String,
    /// The bounds of every call.
    pub limits: Limits,
    /// What became of the plugin's `init` for the configuration it was loaded with.
    pub init: InitOutcome,
    /// Of the plugin as built, or of its snapshot.
    pre: InstancePre<CallState>,
    /// The compiled component `pre` instantiates, shared with every plugin loaded from the
    /// same artefact (see `cache::Resident`); held so the sharing lasts while this plugin
    /// does.
    _compiled: Arc<Component>,
    exports: Exports,
    /// The configuration of the snapshot in `pre`: the only one the plugin may be called
    /// with. (The plugin as built is dropped once it has a snapshot: keeping both would
    /// double the compiled code a host holds.)
    configured: Option<Arc<str>>,
}

/// What became of a plugin's `init` (see `init` in `wit/world.wit`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum InitOutcome {
    /// Not run: the plugin was loaded without its configuration, or exports no `init`.
    NotRun,
    /// `init` ran; every call starts from the memory it left.
    Snapshot,
    /// `init` failed or broke its rules; every call starts from the plugin's own initial
    /// state, as without `init`. Says why.
    Declined(String),
}

/// Measurements of one successful call.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CallReport<T> {
    /// What the plugin returned.
    pub output: T,
    /// Fuel (≈ wasm instructions) used, instantiation included.
    pub fuel_used: u64,
    /// Largest linear memory the instance reached, in bytes.
    pub peak_memory: u64,
    /// Wall time of instantiation plus the call.
    pub elapsed_us: u64,
    /// Lines the plugin logged.
    pub logs: Vec<PluginLog>,
    /// Captured stdout and stderr (capped).
    pub stdout: String,
    pub stderr: String,
}

/// The process-wide plugin runtime: one engine, one linker, an epoch ticker.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<CallState>,
    config: SandboxConfig,
    resident: cache::Resident,
    ticker_stop: Arc<AtomicBool>,
}

impl Sandbox {
    /// Creates the engine (pooling allocator, fuel, epochs) and the linker.
    pub fn new(config: SandboxConfig) -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances * 4)
            .total_memories(config.max_instances * 2)
            .total_tables(config.max_instances * 4)
            .total_stacks(config.max_instances)
            .max_memory_size(MAX_MEMORY_BYTES as usize)
            .table_elements(Limits::ceiling().table_elements as usize)
            .max_component_instance_size(1 << 20)
            .max_core_instances_per_component(20)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            // A fresh instance per call: give the slot back by resetting the pages the
            // call touched (found with PAGEMAP_SCAN where the kernel has it, else the
            // lowest KEEP_RESIDENT bytes) instead of `madvise`, which made the next call
            // fault every page back in and interrupted every core (TLB shootdown): about
            // half of a call's time before (docs/benchmarks/runs/06.md).
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES / 16)
            .pagemap_scan(wasmtime::Enabled::Auto)
            .decommit_batch_size(DECOMMIT_BATCH);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(config.stack_bytes)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        RulePlugin::add_to_linker::<CallState, wasmtime::component::HasSelf<CallState>>(
            &mut linker,
            |state| state,
        )?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (weak, stop, tick) = (engine.weak(), ticker_stop.clone(), config.epoch_tick);
        std::thread::Builder::new()
            .name("rulebox-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => return,
                    }
                }
            })?;

        Ok(Sandbox {
            engine,
            linker,
            config,
            resident: cache::Resident::default(),
            ticker_stop,
        })
    }

    /// The wasmtime engine (shared by every plugin).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// Brand data that has nothing: no stores, stock or products.
pub struct NoData;

impl BrandData for NoData {
    fn stores_near(
        &self,
        _: bindings::GeoPoint,
        _: u32,
        _: u32,
        _: bindings::Timestamp,
    ) -> Vec<bindings::StoreInfo> {
        Vec::new()
    }
    fn stock(&self, _: &str, _: &[String]) -> Vec<bindings::StockLevel> {
        Vec::new()
    }
    fn products(&self, _: &[String]) -> Vec<bindings::Product> {
        Vec::new()
    }
}

/// WASI clocks that always read the event time: a plugin calling `SystemTime::now()` gets
/// the event time, deterministically.
struct FixedClock(bindings::Timestamp);

impl HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        Duration::from_millis(self.0.max(0) as u64)
    }
}

impl HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }
    fn now(&self) -> u64 {
        (self.0.max(0) as u64).saturating_mul(1_000_000)
    }
}
