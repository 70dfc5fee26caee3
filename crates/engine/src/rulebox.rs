//! The [`Rulebox`] facade: one value holding storage, sandbox, registry and pipeline, and how
//! it is opened. What it does is in the modules named after it: [`pipeline`](crate::pipeline)
//! (events), `records` (brands, members, catalogs), `query` and `sweep`.

use std::path::Path;
use std::sync::Arc;

use rulebox_sandbox::{CallEnv, CallReport, PluginFailure, Sandbox, SandboxConfig};
use rulebox_store::{Catalogs, Db, KvStore, MemoryKv, SledKv};
use rulebox_world::{Effect, Event};

use crate::pipeline::{MemberLocks, PluginStats, memo};
use crate::registry::{ActivePlugin, Registry};

/// The rulebox platform in one value: storage, sandbox, plugin registry and pipeline.
pub struct Rulebox {
    pub(crate) db: Db,
    pub(crate) sandbox: Arc<Sandbox>,
    pub(crate) registry: Registry,
    pub(crate) locks: MemberLocks,
    pub(crate) stats: PluginStats,
    /// Brands' stores, stock and catalog as plugins read them, held in memory.
    pub(crate) catalogs: Catalogs,
    /// Brand records, held in memory.
    pub(crate) brands: memo::Brands,
    /// Which events may have a dead letter to delete when they are applied.
    pub(crate) dead_letters: memo::DeadLetters,
    /// Runs chain members in place of the sandbox when set (benchmarks only).
    pub(crate) runner: Option<Arc<dyn EventRunner>>,
}

/// Runs one chain member's `on-event` in place of the sandbox. Production never sets one;
/// the benchmark suite does, to run the same pipeline with the rules compiled natively
/// ([`Rulebox::set_event_runner`]).
pub trait EventRunner: Send + Sync {
    /// What `Sandbox::on_event` would answer for `plugin` on `event`.
    fn on_event(
        &self,
        plugin: &ActivePlugin,
        env: CallEnv,
        event: &Event,
    ) -> Result<CallReport<Vec<Effect>>, PluginFailure>;
}

impl Rulebox {
    /// Opens (or creates) a host whose data lives in `data_dir`: the sled database in
    /// `data_dir/db` and compiled plugins in `data_dir/compiled`.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Self::open_with_cache(data_dir, rulebox_store::CACHE_BYTES)
    }

    /// [`Rulebox::open`] with a storage page cache of `cache_bytes` (see
    /// [`SledKv::open_with_cache`]).
    pub fn open_with_cache(data_dir: &Path, cache_bytes: u64) -> anyhow::Result<Self> {
        let kv = Arc::new(SledKv::open_with_cache(&data_dir.join("db"), cache_bytes)?);
        let sandbox = SandboxConfig {
            cache_dir: Some(data_dir.join("compiled")),
            ..SandboxConfig::default()
        };
        Self::with_storage(kv, sandbox)
    }

    /// A host that keeps everything in memory (tests, tools).
    pub fn in_memory() -> anyhow::Result<Self> {
        Self::with_storage(Arc::new(MemoryKv::new()), SandboxConfig::default())
    }

    /// A host over any storage backend.
    pub fn with_storage(kv: Arc<dyn KvStore>, sandbox: SandboxConfig) -> anyhow::Result<Self> {
        let db = Db::new(kv);
        let sandbox = Arc::new(Sandbox::new(sandbox)?);
        let registry = Registry::open(db.clone(), sandbox.clone())?;
        let dead_letters = memo::DeadLetters::load(&db, &db.brands()?)?;
        Ok(Rulebox {
            db,
            sandbox,
            registry,
            locks: MemberLocks::new(),
            stats: PluginStats::default(),
            catalogs: Catalogs::default(),
            brands: memo::Brands::default(),
            dead_letters,
            runner: None,
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
    pub fn registry(&self) -> &Registry {
        &self.registry
    }
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Runs every chain member's `on-event` with `runner` instead of the sandbox. For
    /// benchmarks comparing the pipeline with native rules; never set in production.
    pub fn set_event_runner(&mut self, runner: Arc<dyn EventRunner>) {
        self.runner = Some(runner);
    }
}
