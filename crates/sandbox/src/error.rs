//! Why a plugin could not be loaded, and the host's own reasons to stop a call. What a call
//! fails with ([`PluginFailure`]) is part of the contract, in `rulebox-world`.

use rulebox_world::PluginFailure;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "not a WebAssembly component: {0}. Build the plugin with `cargo build --target wasm32-wasip2` (a core module is not enough)"
    )]
    NotAComponent(String),
    #[error(
        "the component imports {0}, which rulebox plugins may not use; plugins may import only rulebox:plugin/host and the WASI interfaces Rust's std links against"
    )]
    ForbiddenImport(String),
    #[error(
        "the component does not implement the rulebox:plugin/rule-plugin@0.1.0 world: {0}. Build it with rulebox-sdk's export_rule! macro"
    )]
    WrongWorld(String),
    #[error("the plugin's describe() failed: {0}")]
    Describe(Box<PluginFailure>),
    #[error("invalid limits: {0}")]
    Limits(String),
    #[error("cannot use the compiled-plugin cache at {path}: {message}")]
    Cache { path: String, message: String },
    /// Only in [`InitOutcome::Declined`](super::InitOutcome::Declined): a plugin whose
    /// `init` fails is loaded all the same.
    #[error("the plugin's init could not be snapshotted: {0}")]
    Init(String),
}

/// A host-side reason to stop a plugin mid-call, raised from a host function as a trap.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HostAbort {
    #[error("too many host calls")]
    TooManyHostCalls,
    #[error("init called host function {function}, but may call only config")]
    NotDuringInit { function: &'static str },
    #[error("host function {function} was asked for {actual} ids, over the limit of {limit}")]
    TooManyIds {
        function: &'static str,
        actual: usize,
        limit: usize,
    },
}
