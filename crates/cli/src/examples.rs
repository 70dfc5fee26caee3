//! The example plugins of `plugins/`, compiled to components and embedded in this crate by
//! its build script (for the demo brand and for trying rulebox without building anything).

/// `(crate name, component bytes)` of every example plugin.
pub const EXAMPLES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/examples.rs"));

/// The component of the example plugin `name` (e.g. `"points-accrual"`).
pub fn example(name: &str) -> Option<&'static [u8]> {
    EXAMPLES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, wasm)| *wasm)
}
