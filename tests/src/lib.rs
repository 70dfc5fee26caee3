//! Helpers shared by the end-to-end tests.

use std::path::PathBuf;

/// The compiled component of the plugin crate `name` (built by this crate's build script).
pub fn plugin_path(name: &str) -> PathBuf {
    PathBuf::from(env!("RULEBOX_PLUGINS_DIR")).join(format!("{}.wasm", name.replace('-', "_")))
}

/// The bytes of the compiled plugin `name`.
pub fn plugin_wasm(name: &str) -> Vec<u8> {
    let path = plugin_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A sandbox with default settings (no compile cache).
pub fn sandbox() -> rulebox_host::sandbox::Sandbox {
    rulebox_host::sandbox::Sandbox::new(Default::default()).expect("sandbox starts")
}
