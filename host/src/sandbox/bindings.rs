//! Host-side bindings generated from `wit/` by wasmtime. The types here are the host's
//! domain types too: events, effects, member views and answers are stored and served as is.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "rulebox:plugin/rule-plugin@0.1.0",
    // Host imports may trap: that is how the host stops a plugin that abuses them.
    imports: { default: trappable },
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema],
});

pub use exports::rulebox::plugin::rule::{Description, MemberField, RuleError};
pub use rulebox::plugin::host::LogLevel;
pub use rulebox::plugin::types::*;

rulebox_sdk::__shared_impls!(self::MemberField, self::rulebox::plugin::types);
