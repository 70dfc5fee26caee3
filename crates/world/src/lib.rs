//! # rulebox-world
//!
//! The contract `rulebox:plugin@0.1.0` (`wit/`) on the host's side, with no runtime in it:
//!
//! - the types of the WIT's `types` and `rule` interfaces — events, member views, effects,
//!   queries, answers, a plugin's description — generated from `wit/` by this crate's build
//!   script, so they can never disagree with it. They are the host's domain types too:
//!   events, effects and views are stored and served as they are. With the `wasmtime`
//!   feature (the sandbox's) they also cross into plugins as they are;
//! - the checks every event and id passes before anything runs ([`validate`]);
//! - what a plugin may read of its brand besides the member ([`BrandData`]);
//! - what a plugin call may fail with ([`PluginFailure`]).
//!
//! Storage, the engine and the API depend on this crate and never on the sandbox.

include!(concat!(env!("OUT_DIR"), "/wit.rs"));

mod data;
mod failure;
pub mod validate;

pub use data::BrandData;
pub use failure::{FailureCause, PluginFailure, RuleErrorView};
pub use rule::{Description, MemberField, RuleError};
pub use types::*;

rulebox_sdk::__shared_impls!(crate::rule::MemberField, crate::types);

/// Converts between the SDK's types and the host's (both generated from the same WIT, so
/// their JSON forms agree). For tools and fixtures, not for the hot path.
pub fn convert<A: serde::Serialize, B: serde::de::DeserializeOwned>(
    value: &A,
) -> serde_json::Result<B> {
    serde_json::from_value(serde_json::to_value(value)?)
}
