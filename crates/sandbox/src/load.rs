//! Loading a plugin: the bytes checked, the imports allowed, the component compiled once
//! (or read from the compiled-plugin cache), its exports found and described, and, for a
//! configured plugin, its `init` snapshot prepared.

use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::{Component, InstancePre};

use crate::bindings::{self, Description};
use crate::exports::{DescribeFn, Exports};
use crate::state::CallState;
use crate::{CallEnv, InitOutcome, Limits, LoadError, NoData, Plugin, Sandbox, snapshot};

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

impl Sandbox {
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
    pub(crate) fn instantiate_pre(
        &self,
        component: &Component,
    ) -> Result<InstancePre<CallState>, LoadError> {
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
    pub(crate) fn get_or_compile(
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
