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

pub mod bindings;
mod cache;
mod error;
mod exports;
mod limits;
mod snapshot;
mod state;
mod stdio;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Instance, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

use bindings::{Answer, Description, Effect, Event, Query, RuleError, RulePlugin};
use error::HostAbort;
pub use error::{FailureCause, LoadError, PluginFailure, RuleErrorView};
use exports::{DescribeFn, Exports, OnEventFn, OnQueryFn};
pub use limits::{Limits, MAX_MEMORY_BYTES};
pub use state::{BrandData, CallEnv, MAX_IDS_PER_HOST_CALL, PluginLog};
use state::{CallState, Limiter, Wasi};

/// Imports a plugin may have: our host interface and the WASI interfaces Rust's std links
/// against. Everything else (sockets, HTTP, …) is refused at install time. An entry ending in
/// `@` admits any version of that interface; any other entry must match exactly.
const ALLOWED_IMPORTS: &[&str] = &[
    "rulebox:plugin/host@0.1.0",
    "rulebox:plugin/types@0.1.0",
    "wasi:cli/environment@",
    "wasi:cli/exit@",
    "wasi:cli/stdin@",
    "wasi:cli/stdout@",
    "wasi:cli/stderr@",
    "wasi:cli/terminal-input@",
    "wasi:cli/terminal-output@",
    "wasi:cli/terminal-stdin@",
    "wasi:cli/terminal-stdout@",
    "wasi:cli/terminal-stderr@",
    "wasi:io/error@",
    "wasi:io/poll@",
    "wasi:io/streams@",
    "wasi:clocks/wall-clock@",
    "wasi:clocks/monotonic-clock@",
    "wasi:filesystem/types@",
    "wasi:filesystem/preopens@",
    "wasi:random/random@",
    "wasi:random/insecure@",
    "wasi:random/insecure-seed@",
];

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
            // half of a call's time before (docs/benchmarks.md).
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

    /// Compiles (or loads from the cache), validates and describes a plugin.
    ///
    /// Refuses core modules, components with imports outside the rulebox world, components
    /// that do not export `rulebox:plugin/rule`, and plugins whose `describe` fails.
    pub fn load(&self, wasm: &[u8], limits: Limits) -> Result<Plugin, LoadError> {
        limits.validate().map_err(LoadError::Limits)?;
        let digest = check_bytes(wasm)?;
        let component = self.compile(wasm, &digest)?;
        self.load_component(component, digest, limits)
    }

    /// Loads a plugin as [`Sandbox::load`] does, but from the snapshot its `init` leaves
    /// for `config` (see `init` in `wit/world.wit`): every call starts from it, so what a
    /// rule derives from its configuration alone is computed once per deployment instead of
    /// once per call. Such a plugin may be called only with `config`. The snapshot is kept
    /// in the compiled-plugin cache, so a restart neither runs `init` nor compiles again.
    ///
    /// A plugin whose `init` fails, or that exports none, is loaded as [`Sandbox::load`]
    /// loads it, and runs every call from its own initial state, with any configuration;
    /// [`Plugin::init`] says which happened.
    pub fn load_configured(
        &self,
        wasm: &[u8],
        limits: Limits,
        config: &str,
    ) -> Result<Plugin, LoadError> {
        limits.validate().map_err(LoadError::Limits)?;
        let digest = check_bytes(wasm)?;
        let reason = match snapshot::prepare(self, wasm, &digest, limits, config) {
            Ok(Some(component)) => {
                let mut plugin = self.load_component(component, digest, limits)?;
                plugin.configured = Some(Arc::from(config));
                plugin.init = InitOutcome::Snapshot;
                return Ok(plugin);
            }
            Ok(None) => None,
            Err(LoadError::Init(reason)) => Some(reason),
            Err(other) => Some(other.to_string()),
        };
        let component = self.compile(wasm, &digest)?;
        let mut plugin = self.load_component(component, digest, limits)?;
        if let Some(reason) = reason {
            tracing::warn!(
                plugin = %plugin.description.name,
                version = %plugin.description.version,
                %reason,
                "the plugin's init was declined: its calls parse their configuration themselves"
            );
            plugin.init = InitOutcome::Declined(reason);
        }
        Ok(plugin)
    }

    /// Validates, pre-instantiates and describes a compiled plugin.
    fn load_component(
        &self,
        component: Arc<Component>,
        digest: String,
        limits: Limits,
    ) -> Result<Plugin, LoadError> {
        if let Some(name) = imports(&self.engine, &component)
            .into_iter()
            .find(|name| !import_allowed(name))
        {
            return Err(LoadError::ForbiddenImport(name));
        }
        let pre = self.instantiate_pre(&component)?;
        let exports = Exports::find(&component)?;

        let mut plugin = Plugin {
            description: Description {
                name: "(unnamed)".into(),
                version: "(unknown)".into(),
                summary: String::new(),
                events: Vec::new(),
                queries: Vec::new(),
                reads: Vec::new(),
            },
            digest,
            limits,
            init: InitOutcome::NotRun,
            pre,
            _compiled: component,
            exports,
            configured: None,
        };
        let env = CallEnv {
            member: bindings::MemberView::blank(""),
            at: 0,
            config: Arc::from("{}"),
            seed: 0,
            data: Arc::new(NoData),
        };
        let described = self
            .call(
                &plugin,
                env,
                &|| "describe".to_owned(),
                |exports, instance, s| {
                    // SAFETY: `call` checked the types of the exports in this instance.
                    let describe: DescribeFn =
                        unsafe { Exports::get(&exports.describe, instance, s)? };
                    Ok(Ok(describe.call(s, ())?.0))
                },
            )
            .map_err(|f| LoadError::Describe(Box::new(f)))?;
        plugin.description = described.output;
        plugin.exports.checked = true;
        Ok(plugin)
    }

    /// Resolves a component's imports against the linker, once.
    fn instantiate_pre(&self, component: &Component) -> Result<InstancePre<CallState>, LoadError> {
        self.linker
            .instantiate_pre(component)
            .map_err(|e| LoadError::WrongWorld(format!("{e:#}")))
    }

    /// The names of the interfaces a component imports, e.g. `rulebox:plugin/host@0.1.0`.
    pub fn imports(&self, wasm: &[u8]) -> Result<Vec<String>, LoadError> {
        let component = self.compile(wasm, &check_bytes(wasm)?)?;
        Ok(imports(&self.engine, &component))
    }

    /// Compiles the component `wasm`, whose digest ([`check_bytes`]) is `digest`, through
    /// the caches.
    fn compile(&self, wasm: &[u8], digest: &str) -> Result<Arc<Component>, LoadError> {
        self.get_or_compile(digest, || {
            Component::new(&self.engine, wasm)
                .map_err(|e| LoadError::NotAComponent(format!("{e:#}")))
        })
    }

    /// The compiled component under the artefact `key`: the copy already in use, else from
    /// the disk cache, else built with `build` (see `cache::Resident`).
    fn get_or_compile(
        &self,
        key: &str,
        build: impl FnOnce() -> Result<Component, LoadError>,
    ) -> Result<Arc<Component>, LoadError> {
        self.resident
            .get_or_compile(&self.engine, self.config.cache_dir.as_deref(), key, build)
    }

    /// How many compiled components this host holds: plugins loaded from the same
    /// artefact (the same bytes, and for a snapshot the same configuration and limits)
    /// share one.
    pub fn resident_components(&self) -> usize {
        self.resident.count()
    }

    /// How many components this host has compiled, rather than found in memory or in the
    /// compiled-plugin cache: a plugin as built, instrumented to run its `init`, or a
    /// snapshot.
    pub fn compiles(&self) -> usize {
        self.resident.compiles()
    }

    /// Runs the plugin's `on-event` for `event`.
    pub fn on_event(
        &self,
        plugin: &Plugin,
        env: CallEnv,
        event: &Event,
    ) -> Result<CallReport<Vec<Effect>>, PluginFailure> {
        // Formatted only for a failure.
        let subject = || format!("event {}", event.id);
        let report = self.call(plugin, env, &subject, |exports, instance, s| {
            // SAFETY: a loaded plugin's exports have been checked (see `Exports`).
            let on_event: OnEventFn<'_> = unsafe { Exports::get(&exports.on_event, instance, s)? };
            Ok(on_event.call(s, (event,))?.0)
        })?;
        let limits = &plugin.limits;
        let count = report.output.len() as u64;
        let bytes: u64 = report.output.iter().map(effect_weight).sum();
        check_output(
            plugin,
            &subject,
            count,
            limits.max_effects.into(),
            "effects",
            "max_effects",
        )?;
        check_output(
            plugin,
            &subject,
            bytes,
            limits.output_bytes,
            "bytes",
            "output_bytes",
        )?;
        Ok(report)
    }

    /// Runs the plugin's `on-query` for `query`.
    pub fn on_query(
        &self,
        plugin: &Plugin,
        env: CallEnv,
        query: &Query,
    ) -> Result<CallReport<Answer>, PluginFailure> {
        let subject = || format!("query {:?}", query_kind_name(query));
        let report = self.call(plugin, env, &subject, |exports, instance, s| {
            // SAFETY: a loaded plugin's exports have been checked (see `Exports`).
            let on_query: OnQueryFn<'_> = unsafe { Exports::get(&exports.on_query, instance, s)? };
            Ok(on_query.call(s, (query,))?.0)
        })?;
        let bytes = json_len(&report.output);
        check_output(
            plugin,
            &subject,
            bytes,
            plugin.limits.output_bytes,
            "bytes",
            "output_bytes",
        )?;
        Ok(report)
    }

    /// One bounded call in a fresh instance.
    fn call<T>(
        &self,
        plugin: &Plugin,
        env: CallEnv,
        subject: &dyn Fn() -> String,
        f: impl FnOnce(
            &Exports,
            &Instance,
            &mut Store<CallState>,
        ) -> wasmtime::Result<Result<T, RuleError>>,
    ) -> Result<CallReport<T>, PluginFailure> {
        let started = Instant::now();
        let limits = plugin.limits;
        let (pre, exports) = (&plugin.pre, &plugin.exports);
        let fail = |store: Option<&Store<CallState>>, cause: FailureCause| PluginFailure {
            plugin: plugin.description.name.clone(),
            version: plugin.description.version.clone(),
            subject: subject(),
            cause,
            stderr: store.map_or_else(String::new, |s| tail(&s.data().wasi.stderr_text(), 2048)),
        };
        if plugin
            .configured
            .as_ref()
            .is_some_and(|configured| **configured != *env.config)
        {
            // Its snapshot holds what `init` derived from another configuration.
            let message = "the plugin was prepared for its deployed configuration and called \
                           with another; load it with this one (Sandbox::load_configured)";
            return Err(fail(
                None,
                FailureCause::Instantiation {
                    message: message.into(),
                },
            ));
        }
        let mut store = self.store(limits, env, false);

        let instantiated = pre.instantiate(&mut store).and_then(|instance| {
            if !exports.checked {
                exports.check(&instance, &mut store)?;
            }
            Ok(instance)
        });
        let instance = match instantiated {
            Ok(instance) => instance,
            Err(e) => {
                let cause = classify(&e, store.data(), &limits).unwrap_or_else(|| {
                    FailureCause::Instantiation {
                        message: format!("{e:#}"),
                    }
                });
                return Err(fail(Some(&store), cause));
            }
        };
        let result = f(exports, &instance, &mut store);
        let output = match result {
            Ok(Ok(output)) => output,
            Ok(Err(rule_error)) => {
                return Err(fail(
                    Some(&store),
                    FailureCause::Rule(RuleErrorView::from(&rule_error)),
                ));
            }
            Err(e) => {
                let cause =
                    classify(&e, store.data(), &limits).unwrap_or_else(|| FailureCause::Trap {
                        message: format!("{e:#}"),
                    });
                return Err(fail(Some(&store), cause));
            }
        };
        let fuel_used = limits.fuel - store.get_fuel().unwrap_or(0);
        let state = store.into_data();
        Ok(CallReport {
            output,
            fuel_used,
            peak_memory: state.limiter.peak_memory,
            elapsed_us: started.elapsed().as_micros() as u64,
            logs: state.logs,
            stdout: state.wasi.stdout_text(),
            stderr: state.wasi.stderr_text(),
        })
    }

    /// A store for one bounded call (or one `init`, which may call only `config`).
    fn store(&self, limits: Limits, env: CallEnv, init_only: bool) -> Store<CallState> {
        let state = CallState {
            wasi: Wasi::new(env.at, env.seed, limits.stdio_bytes as usize),
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_limit: limits.memory_bytes,
                table_limit: limits.table_elements,
                peak_memory: 0,
                memory_denied: false,
                table_denied: false,
            },
            env,
            logs: Vec::new(),
            logs_dropped: 0,
            host_calls: 0,
            limits,
            init_only,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(limits.fuel).expect("fuel is enabled");
        store.set_hostcall_fuel(usize::try_from(transfer_limit(&limits)).unwrap_or(usize::MAX));
        self.arm_deadline(&mut store, &limits);
        store.epoch_deadline_trap();
        store
    }

    /// Sets the store's deadline to the plugin's, from now.
    fn arm_deadline(&self, store: &mut Store<CallState>, limits: &Limits) {
        let tick_ms = self.config.epoch_tick.as_millis().max(1) as u64;
        store.set_epoch_deadline(limits.deadline_ms.div_ceil(tick_ms) + 1);
    }
}

/// Checks the bytes are a component (not a core module, not something else) and returns
/// their blake3 digest.
fn check_bytes(wasm: &[u8]) -> Result<String, LoadError> {
    match wasm.get(4..8) {
        Some([0x0d, 0x00, 0x01, 0x00]) if wasm.starts_with(b"\0asm") => {}
        Some([0x01, 0x00, 0x00, 0x00]) if wasm.starts_with(b"\0asm") => {
            return Err(LoadError::NotAComponent(
                "this is a core wasm module".into(),
            ));
        }
        _ => {
            return Err(LoadError::NotAComponent(
                "the bytes are not WebAssembly".into(),
            ));
        }
    }
    Ok(blake3::hash(wasm).to_hex().to_string())
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// Whether a plugin may import the interface `name` (see [`ALLOWED_IMPORTS`]).
fn import_allowed(name: &str) -> bool {
    ALLOWED_IMPORTS
        .iter()
        .any(|allowed| match allowed.strip_suffix('@') {
            Some(interface) => name
                .strip_prefix(interface)
                .and_then(|rest| rest.strip_prefix('@'))
                .is_some_and(|version| !version.is_empty()),
            None => name == *allowed,
        })
}

fn imports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// What wasmtime says when a transfer exceeds the hostcall fuel ([`transfer_limit`]).
const TRANSFER_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// Turns a wasmtime error into the limit or fault it really was.
fn classify(error: &wasmtime::Error, state: &CallState, limits: &Limits) -> Option<FailureCause> {
    match error.downcast_ref::<HostAbort>() {
        Some(HostAbort::TooManyHostCalls) => {
            return Some(FailureCause::TooManyHostCalls {
                limit: limits.host_calls,
            });
        }
        Some(abort @ HostAbort::NotDuringInit { .. }) => {
            return Some(FailureCause::Trap {
                message: abort.to_string(),
            });
        }
        Some(HostAbort::TooManyIds {
            function,
            actual,
            limit,
        }) => {
            return Some(FailureCause::HostCallTooLarge {
                function: (*function).to_owned(),
                actual: *actual as u64,
                limit: *limit as u64,
            });
        }
        None => {}
    }
    // wasmtime's error for a transfer over the hostcall fuel is private: recognised by its
    // message (a test of the hostile suite pins it, so an upgrade that rewords it is caught).
    if error
        .chain()
        .any(|e| e.to_string().contains(TRANSFER_EXHAUSTED))
    {
        return Some(FailureCause::TransferTooLarge {
            limit_bytes: transfer_limit(limits),
        });
    }
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return Some(FailureCause::Trap {
            message: format!(
                "called exit({}); a rule returns its effects or a rule error, it does not exit",
                exit.0
            ),
        });
    }
    if state.limiter.memory_denied {
        return Some(FailureCause::MemoryLimit {
            limit_bytes: limits.memory_bytes,
        });
    }
    if state.limiter.table_denied {
        return Some(FailureCause::TableLimit {
            limit_elements: limits.table_elements,
        });
    }
    match error.downcast_ref::<Trap>()? {
        Trap::OutOfFuel => Some(FailureCause::FuelExhausted {
            budget: limits.fuel,
        }),
        Trap::Interrupt => Some(FailureCause::Deadline {
            deadline_ms: limits.deadline_ms,
        }),
        Trap::StackOverflow => Some(FailureCause::StackOverflow),
        trap => Some(FailureCause::Trap {
            message: trap.to_string(),
        }),
    }
}

fn check_output(
    plugin: &Plugin,
    subject: &dyn Fn() -> String,
    actual: u64,
    limit: u64,
    unit: &str,
    setting: &str,
) -> Result<(), PluginFailure> {
    if actual <= limit {
        return Ok(());
    }
    Err(PluginFailure {
        plugin: plugin.description.name.clone(),
        version: plugin.description.version.clone(),
        subject: subject(),
        cause: FailureCause::OutputTooLarge {
            actual,
            limit,
            unit: unit.to_owned(),
            setting: setting.to_owned(),
        },
        stderr: String::new(),
    })
}

/// The length of `value` as JSON, counted without building the document.
fn json_len(value: &impl serde::Serialize) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len() as u64;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_or(u64::MAX, |()| count.0)
}

/// Approximate size of an effect: its strings plus a fixed cost.
fn effect_weight(effect: &Effect) -> u64 {
    let strings: usize = match effect {
        Effect::AwardPoints(a) => a.reason.len(),
        Effect::DeductPoints(d) => d.reason.len(),
        Effect::SetTier(t) => t.tier.len() + t.reason.len(),
        Effect::IssueCoupon(c) => c.template_id.len(),
        Effect::AddTag(t) | Effect::RemoveTag(t) => t.len(),
        Effect::SetAttribute(a) => a.key.len() + a.value.len(),
        Effect::Notify(n) => {
            n.channel.len()
                + n.template.len()
                + n.data
                    .iter()
                    .map(|a| a.key.len() + a.value.len())
                    .sum::<usize>()
        }
    };
    strings as u64 + 32
}

fn query_kind_name(query: &Query) -> &'static str {
    match query.kind {
        bindings::QueryKind::CouponEligibility(_) => "coupon-eligibility",
        bindings::QueryKind::Recommendation(_) => "recommendation",
    }
}

fn tail(text: &str, max: usize) -> String {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
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
