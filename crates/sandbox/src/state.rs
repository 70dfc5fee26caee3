//! What a plugin's store holds during one call, and the host functions it may call.

use std::sync::Arc;

use super::stdio::CappedPipe;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{Deterministic, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::FixedClock;
use super::bindings::LogLevel;
use super::bindings::rulebox::plugin::{host, types};
use super::error::HostAbort;
use super::limits::Limits;
use rulebox_world::{
    Attribute, BrandData, GeoPoint, MemberView, Product, StockLevel, StoreInfo, Timestamp,
};

/// Longest log message kept; longer ones are cut.
const MAX_LOG_MESSAGE: usize = 1024;
/// Most stores `stores-near` answers, whatever the plugin asks for.
const MAX_STORES: u32 = 200;
/// Most ids one `stock` or `products` call may ask for: each is a read, and the deadline
/// cannot interrupt the host in the middle of a call, so the work of one call is bounded.
pub const MAX_IDS_PER_HOST_CALL: usize = 1_000;

/// Everything the host functions answer from during one call.
pub struct CallEnv {
    /// The member, as updated by the plugins before this one.
    pub member: MemberView,
    /// The event or query time.
    pub at: Timestamp,
    /// The plugin's configuration (JSON).
    pub config: Arc<str>,
    /// The call's deterministic seed.
    pub seed: u64,
    /// The brand's stores, stock and catalog.
    pub data: Arc<dyn BrandData>,
}

/// A log line a plugin wrote.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PluginLog {
    pub level: String,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

/// Tracks memory and table growth against the plugin's caps, and remembers a refusal so a
/// resulting trap can be reported as the limit it really was.
pub(crate) struct Limiter {
    pub memory_limit: u64,
    pub table_limit: u64,
    pub peak_memory: u64,
    pub memory_denied: bool,
    pub table_denied: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory_limit {
            self.memory_denied = true;
            return Ok(false);
        }
        self.peak_memory = self.peak_memory.max(desired as u64);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        // Growth past the memory's own maximum or the pool's: still a memory limit.
        self.memory_denied = true;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.table_limit {
            self.table_denied = true;
            return Ok(false);
        }
        Ok(true)
    }
}

/// The WASI side of one call: empty, with captured and capped stdout and stderr, clocks
/// that read the event time and random numbers from the call's seed.
///
/// Built the first time the plugin calls a WASI function. Most calls never do (a rule
/// that neither prints nor panics), and building the context and its pipes for every call
/// was about a twentieth of a call.
pub(crate) struct Wasi {
    ctx: Option<WasiCtx>,
    stdout: Option<CappedPipe>,
    stderr: Option<CappedPipe>,
    at: Timestamp,
    seed: u64,
    stdio_bytes: usize,
}

impl Wasi {
    pub fn new(at: Timestamp, seed: u64, stdio_bytes: usize) -> Self {
        Wasi {
            ctx: None,
            stdout: None,
            stderr: None,
            at,
            seed,
            stdio_bytes,
        }
    }

    /// The context, built on first use.
    fn ctx(&mut self) -> &mut WasiCtx {
        let Wasi {
            ctx,
            stdout,
            stderr,
            at,
            seed,
            stdio_bytes,
        } = self;
        ctx.get_or_insert_with(|| {
            let stdout = stdout.insert(CappedPipe::new(*stdio_bytes));
            let stderr = stderr.insert(CappedPipe::new(*stdio_bytes));
            WasiCtxBuilder::new()
                .stdout(stdout.clone())
                .stderr(stderr.clone())
                .wall_clock(FixedClock(*at))
                .monotonic_clock(FixedClock(*at))
                .secure_random(Deterministic::new(seed.to_le_bytes().to_vec()))
                .insecure_random(Deterministic::new(seed.to_be_bytes().to_vec()))
                .insecure_random_seed(u128::from(*seed))
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build()
        })
    }

    /// Whether the plugin called WASI at all.
    pub fn used(&self) -> bool {
        self.ctx.is_some()
    }

    /// What the plugin wrote to stdout (kept up to the cap).
    pub fn stdout_text(&self) -> String {
        self.stdout
            .as_ref()
            .map(CappedPipe::text)
            .unwrap_or_default()
    }

    /// What the plugin wrote to stderr (kept up to the cap).
    pub fn stderr_text(&self) -> String {
        self.stderr
            .as_ref()
            .map(CappedPipe::text)
            .unwrap_or_default()
    }
}

/// The data of one plugin call's store.
pub(crate) struct CallState {
    pub wasi: Wasi,
    pub table: ResourceTable,
    pub limiter: Limiter,
    pub env: CallEnv,
    pub logs: Vec<PluginLog>,
    pub logs_dropped: u32,
    pub host_calls: u32,
    pub limits: Limits,
    /// Set while the plugin's `init` runs, when only `config` may be called: nothing else
    /// may reach the snapshot taken after it.
    pub init_only: bool,
}

impl CallState {
    /// Counts a host call, aborting the plugin past its quota, or during `init`.
    fn host_call(&mut self, function: &'static str) -> wasmtime::Result<()> {
        if self.init_only && function != "config" {
            return Err(HostAbort::NotDuringInit { function }.into());
        }
        self.host_calls += 1;
        if self.host_calls > self.limits.host_calls {
            return Err(HostAbort::TooManyHostCalls.into());
        }
        Ok(())
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: self.wasi.ctx(),
            table: &mut self.table,
        }
    }
}

impl types::Host for CallState {}

impl host::Host for CallState {
    fn member(&mut self) -> wasmtime::Result<MemberView> {
        self.host_call("member")?;
        Ok(self.env.member.clone())
    }

    fn stores_near(
        &mut self,
        at: GeoPoint,
        radius_m: u32,
        limit: u32,
    ) -> wasmtime::Result<Vec<StoreInfo>> {
        self.host_call("stores-near")?;
        Ok(self
            .env
            .data
            .stores_near(at, radius_m, limit.min(MAX_STORES), self.env.at))
    }

    fn stock(
        &mut self,
        store_id: String,
        product_ids: Vec<String>,
    ) -> wasmtime::Result<Vec<StockLevel>> {
        self.host_call("stock")?;
        check_ids("stock", &product_ids)?;
        Ok(self.env.data.stock(&store_id, &product_ids))
    }

    fn products(&mut self, ids: Vec<String>) -> wasmtime::Result<Vec<Product>> {
        self.host_call("products")?;
        check_ids("products", &ids)?;
        Ok(self.env.data.products(&ids))
    }

    fn config(&mut self) -> wasmtime::Result<String> {
        self.host_call("config")?;
        Ok(self.env.config.to_string())
    }

    fn seed(&mut self) -> wasmtime::Result<u64> {
        self.host_call("seed")?;
        Ok(self.env.seed)
    }

    fn log(
        &mut self,
        level: LogLevel,
        message: String,
        fields: Vec<Attribute>,
    ) -> wasmtime::Result<()> {
        self.host_call("log")?;
        if self.logs.len() as u32 >= self.limits.log_lines {
            self.logs_dropped += 1;
            return Ok(());
        }
        let mut message = message;
        truncate(&mut message, MAX_LOG_MESSAGE);
        self.logs.push(PluginLog {
            level: format!("{level:?}").to_lowercase(),
            message,
            fields: fields
                .into_iter()
                .take(16)
                .map(|mut a| {
                    truncate(&mut a.key, 64);
                    truncate(&mut a.value, 256);
                    (a.key, a.value)
                })
                .collect(),
        });
        Ok(())
    }
}

/// Refuses a host call that asks for more than [`MAX_IDS_PER_HOST_CALL`] ids.
fn check_ids(function: &'static str, ids: &[String]) -> wasmtime::Result<()> {
    if ids.len() > MAX_IDS_PER_HOST_CALL {
        return Err(HostAbort::TooManyIds {
            function,
            actual: ids.len(),
            limit: MAX_IDS_PER_HOST_CALL,
        }
        .into());
    }
    Ok(())
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub(crate) fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}
