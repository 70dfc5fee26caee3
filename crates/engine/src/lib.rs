//! # rulebox-engine
//!
//! The rulebox platform as a library, without a server: [`Rulebox`] holds the store, the
//! sandbox and the plugin [`registry`], and its [`pipeline`] turns member events into
//! effects applied exactly once. Brands, members and catalogs are written through it
//! (`records`), plugins answer queries through it (`query`), and scheduled ticks reach
//! every member through it (`sweep`). API keys ([`auth`]) live in the same store.
//!
//! `examples/embed.rs` at the repository's root shows an embedding in about sixty lines.

// A `PluginFailure` (≈160 bytes) is returned by value on the failure path only; boxing it
// would add an allocation and indirection to every caller for no measurable gain.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod pipeline;
mod query;
mod records;
pub mod registry;
mod rulebox;
mod sweep;

pub use pipeline::{EventOutcome, PipelineError, QueryOutcome};
pub use rulebox::{EventRunner, Rulebox};
pub use sweep::SweepReport;
