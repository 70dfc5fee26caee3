//! Compiled plugins: kept on disk, keyed by the component's hash (for a snapshot, the hash of
//! the plugin and its configuration) and the engine's compatibility hash, so a restart (or a
//! second host on the same disk) does not recompile; and held in memory once per artefact,
//! so every plugin loaded from the same artefact shares its code.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::error::LoadError;

/// The compiled components in use, by artefact key.
///
/// Brands that deploy the same plugin with the same configuration (a platform's stock
/// rules, or one brand's plugin across restarts of its chain) load the same artefact. Each
/// load used to map its own copy of the compiled code and of the memory image: 200 brands
/// with the 4 demo plugins held 800 copies of 4 artefacts, about 630 MiB of a 1,050 MiB host
/// (docs/benchmarks/runs/10.md). Entries are weak: an artefact no plugin uses any more is
/// released, and loaded again from disk when it is next needed.
#[derive(Default)]
pub(crate) struct Resident {
    components: Mutex<HashMap<String, Weak<Component>>>,
    /// Why the artefact under a key will not be built: builds not worth trying again in
    /// this process (an `init` that refused its deployment).
    declined: Mutex<HashMap<String, String>>,
    /// Components built, rather than found in memory or in the cache.
    compiles: AtomicUsize,
}

impl Resident {
    /// The component under `key`: the one in use if there is one, else loaded from the disk
    /// cache in `dir` or built with `build` (see [`compile`]).
    pub fn get_or_compile(
        &self,
        engine: &Engine,
        dir: Option<&Path>,
        key: &str,
        build: impl FnOnce() -> Result<Component, LoadError>,
    ) -> Result<Arc<Component>, LoadError> {
        if let Some(component) = self.get(key) {
            return Ok(component);
        }
        // Not under the lock: a compile takes a second, and other plugins may be loading.
        let counted = || {
            self.compiles.fetch_add(1, Ordering::Relaxed);
            build()
        };
        let component = Arc::new(compile(engine, dir, key, counted)?);
        let mut components = self.lock();
        components.retain(|_, entry| entry.strong_count() > 0);
        // Another load of the same artefact may have finished first: share its copy.
        if let Some(existing) = components.get(key).and_then(Weak::upgrade) {
            return Ok(existing);
        }
        components.insert(key.to_owned(), Arc::downgrade(&component));
        Ok(component)
    }

    /// How many compiled components are in use.
    pub fn count(&self) -> usize {
        self.lock()
            .values()
            .filter(|entry| entry.strong_count() > 0)
            .count()
    }

    /// How many components were built, rather than found in memory or in the cache.
    pub fn compiles(&self) -> usize {
        self.compiles.load(Ordering::Relaxed)
    }

    /// Why the build of `key` was declined, if it was.
    pub fn declined(&self, key: &str) -> Option<String> {
        let declined = self.declined.lock().unwrap_or_else(|e| e.into_inner());
        declined.get(key).cloned()
    }

    /// Remembers that the build of `key` was declined, and why.
    pub fn decline(&self, key: &str, reason: &str) {
        let mut declined = self.declined.lock().unwrap_or_else(|e| e.into_inner());
        declined.insert(key.to_owned(), reason.to_owned());
    }

    fn get(&self, key: &str) -> Option<Arc<Component>> {
        self.lock().get(key).and_then(Weak::upgrade)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Weak<Component>>> {
        self.components.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Builds the component with `build`, or loads the artefact `build` built earlier under
/// the same `key` for this engine.
fn compile(
    engine: &Engine,
    dir: Option<&Path>,
    key: &str,
    build: impl FnOnce() -> Result<Component, LoadError>,
) -> Result<Component, LoadError> {
    let Some(dir) = dir else { return build() };

    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let path = dir.join(format!("{key}-{:016x}.cwasm", hasher.finish()));
    let cache_error = |e: std::io::Error| LoadError::Cache {
        path: path.display().to_string(),
        message: e.to_string(),
    };

    if path.is_file() {
        match map(engine, &path) {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unusable compiled plugin")
            }
        }
    }
    let component = build()?;
    let bytes = component
        .serialize()
        .map_err(|e| LoadError::NotAComponent(format!("{e:#}")))?;
    std::fs::create_dir_all(dir).map_err(cache_error)?;
    // Write then rename, so a crash never leaves a truncated artefact under the real name.
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, bytes).map_err(cache_error)?;
    std::fs::rename(&partial, &path).map_err(cache_error)?;
    // Run from the file just written, as after a restart, rather than from the compiler's
    // output: that is anonymous memory (about a MiB per plugin, for as long as the plugin
    // is deployed), where the file's pages are clean page cache the kernel can drop and read
    // back, shared with the next host to open this directory (docs/benchmarks/runs/12.md).
    match map(engine, &path) {
        Ok(mapped) => Ok(mapped),
        Err(e) => {
            // E.g. a cache directory on a `noexec` mount: run from memory, as without one.
            tracing::warn!(path = %path.display(), error = %e, "cannot run the compiled plugin from the cache; running it from memory");
            Ok(component)
        }
    }
}

/// Maps the compiled artefact at `path` (written by [`compile`]).
fn map(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written by `Component::serialize` of an engine with the same
    // compatibility hash (it is in the name), in a directory only this host writes to.
    unsafe { Component::deserialize_file(engine, path) }
}
