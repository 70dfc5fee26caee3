//! # rulebox-host
//!
//! The rulebox platform as a library: the [`sandbox`] that runs brands' rule plugins, the
//! [`store`] that keeps members, catalogs and points ledgers in sled, the [`pipeline`] that
//! turns events into effects applied exactly once, the plugin [`registry`], and the HTTP
//! [`api`] with its API keys ([`auth`]).

// A `PluginFailure` (≈160 bytes) is returned by value on the failure path only; boxing it
// would add an allocation and indirection to every caller for no measurable gain.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod auth;
pub mod demo;
pub mod examples;
pub mod fixtures;
pub mod pipeline;
pub mod registry;
pub mod sandbox;
pub mod store;
pub mod validate;

pub use pipeline::Rulebox;

/// Converts between the SDK's types and the host's (both generated from the same WIT, so
/// their JSON forms agree). For tools and fixtures, not for the hot path.
pub fn convert<A: serde::Serialize, B: serde::de::DeserializeOwned>(
    value: &A,
) -> anyhow::Result<B> {
    Ok(serde_json::from_value(serde_json::to_value(value)?)?)
}
