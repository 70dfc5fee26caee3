//! # rulebox (the command line)
//!
//! What the `rulebox` binary is made of besides its commands: the example plugins built
//! from `plugins/` and embedded by this crate's build script ([`examples`]), the demo brand
//! ([`demo`]) and the fixture runner behind `rulebox test` ([`fixtures`]). Only this crate
//! runs the nested plugin build: embedders depend on `rulebox-engine` or `rulebox-api`.

// A `PluginFailure` (≈160 bytes) is returned by value on the failure path only.
#![allow(clippy::result_large_err)]

pub mod demo;
pub mod examples;
pub mod fixtures;
