//! Builds every plugin crate (the examples in `plugins/` and the test plugins in
//! `tests/plugins/`) as a wasm32-wasip2 component, so `cargo test` always runs against
//! components built from the current sources.

include!("../crates/cli/build_plugins.rs");

fn main() {
    let dir = build_plugins(&["plugins", "tests/plugins"]);
    println!("cargo:rustc-env=RULEBOX_PLUGINS_DIR={}", dir.display());
}
