//! Helpers shared by the end-to-end tests.

#![allow(clippy::result_large_err)]

use std::path::PathBuf;

pub mod bench;

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
pub fn sandbox() -> rulebox_sandbox::Sandbox {
    rulebox_sandbox::Sandbox::new(Default::default()).expect("sandbox starts")
}

/// Calls `plugin` on a purchase event of member `m-1` with configuration `config`.
pub fn call_purchase(
    sandbox: &rulebox_sandbox::Sandbox,
    plugin: &rulebox_sandbox::Plugin,
    config: serde_json::Value,
) -> Result<rulebox_sandbox::CallReport<Vec<rulebox_world::Effect>>, rulebox_sandbox::PluginFailure>
{
    use rulebox_sdk::testing::{event, line, purchase};
    let sdk_event = event(
        "e-1",
        "m-1",
        1_773_538_200_000,
        purchase("o-1", "s-1", vec![line("p-1", "tea", 2, 1800)]),
    );
    let event = rulebox_world::convert(&sdk_event).unwrap();
    let member = rulebox_world::convert(&rulebox_sdk::testing::member("m-1")).unwrap();
    let env = rulebox_sandbox::CallEnv {
        member,
        at: 1_773_538_200_000,
        config: config.to_string().into(),
        seed: 7,
        data: std::sync::Arc::new(rulebox_sandbox::NoData),
    };
    sandbox.on_event(plugin, env, &event)
}
