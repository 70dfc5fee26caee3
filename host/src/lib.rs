//! # rulebox-host
//!
//! The rulebox platform as a library: the [`sandbox`] that runs brands' rule plugins, the
//! [`store`] that keeps members, catalogs and points ledgers in sled, the [`pipeline`] that
//! turns events into effects applied exactly once, and the plugin [`registry`].

pub mod sandbox;
