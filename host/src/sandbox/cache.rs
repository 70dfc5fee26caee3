//! Compiled plugins kept on disk, keyed by the component's hash (for a snapshot, the hash of
//! the plugin and its configuration) and the engine's compatibility hash, so a restart (or a
//! second host on the same disk) does not recompile.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use wasmtime::Engine;
use wasmtime::component::Component;

use super::error::LoadError;

/// Builds the component with `compile`, or loads the artefact `compile` built earlier under
/// the same `key` for this engine.
pub(crate) fn compile(
    engine: &Engine,
    dir: Option<&Path>,
    key: &str,
    compile: impl FnOnce() -> Result<Component, LoadError>,
) -> Result<Component, LoadError> {
    let Some(dir) = dir else { return compile() };

    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let path = dir.join(format!("{key}-{:016x}.cwasm", hasher.finish()));
    let cache_error = |e: std::io::Error| LoadError::Cache {
        path: path.display().to_string(),
        message: e.to_string(),
    };

    if path.is_file() {
        // SAFETY: the file was written by `Component::serialize` of an engine with the same
        // compatibility hash (it is in the name), in a directory only this host writes to.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unusable compiled plugin")
            }
        }
    }
    let component = compile()?;
    let bytes = component
        .serialize()
        .map_err(|e| LoadError::NotAComponent(format!("{e:#}")))?;
    std::fs::create_dir_all(dir).map_err(cache_error)?;
    // Write then rename, so a crash never leaves a truncated artefact under the real name.
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    std::fs::write(&partial, bytes).map_err(cache_error)?;
    std::fs::rename(&partial, &path).map_err(cache_error)?;
    Ok(component)
}
