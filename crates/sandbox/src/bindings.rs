//! Host-side bindings generated from `wit/` by wasmtime: the `host` functions plugins call
//! and the `rule` exports. The types plugins exchange with the host are `rulebox-world`'s
//! (generated from the same WIT, with wasmtime's derives behind its `wasmtime` feature),
//! mapped in with `with`, so a value crosses into a plugin without being converted.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "rulebox:plugin/rule-plugin@0.1.0",
    // Host imports may trap: that is how the host stops a plugin that abuses them.
    imports: { default: trappable },
    with: { "rulebox:plugin/types": types },
});

pub use rulebox::plugin::host::LogLevel;
pub use rulebox_world::types::*;
pub use rulebox_world::{Description, MemberField, RuleError};

/// The `types` interface for wasmtime's bindings: `rulebox-world`'s types, and the host
/// side wasmtime's generated linker code expects of an imported interface (as `bindgen!`
/// writes it for one without functions: nothing to implement, nothing to link).
pub mod types {
    pub use rulebox_world::types::*;

    use wasmtime::component::{HasData, Linker};

    /// The host side of `types`, implemented by the call state: no functions.
    pub trait Host {}
    impl<H: Host + ?Sized> Host for &mut H {}

    /// The part of the host side that needs the store: nothing.
    pub trait HostWithStore<T>: HasData {}
    impl<H: ?Sized + HasData, T> HostWithStore<T> for H {}

    /// Links `types`: nothing to add.
    pub fn add_to_linker<T, D>(
        _linker: &mut Linker<T>,
        _host_getter: fn(&mut T) -> D::Data<'_>,
    ) -> wasmtime::Result<()>
    where
        D: HostWithStore<T>,
        for<'a> D::Data<'a>: Host,
        T: 'static,
    {
        Ok(())
    }
}
