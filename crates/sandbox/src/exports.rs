//! Where a plugin's `rulebox:plugin/rule` functions are, and their types, checked once.

use wasmtime::Store;
use wasmtime::component::{Component, ComponentExportIndex, Instance, TypedFunc};

use super::bindings::{Answer, Description, Effect, Event, Query, RuleError};
use super::error::LoadError;
use super::state::CallState;

/// Where the plugin's `rulebox:plugin/rule` functions are, found once at load.
///
/// Their types are checked once too, in the load's `describe` call (`checked`), instead of
/// in every instance: a component's export types are the same in all its instances, and
/// checking them (what wasmtime's generated `instantiate` does) cost as much as a tenth of
/// a call. A plugin whose check fails is not loaded, so every `Plugin` that calls
/// `on-event` or `on-query` has been checked.
pub(crate) struct Exports {
    pub describe: ComponentExportIndex,
    pub on_event: ComponentExportIndex,
    pub on_query: ComponentExportIndex,
    pub checked: bool,
}

pub(crate) type DescribeFn = TypedFunc<(), (Description,)>;
pub(crate) type OnEventFn<'a> = TypedFunc<(&'a Event,), (Result<Vec<Effect>, RuleError>,)>;
pub(crate) type OnQueryFn<'a> = TypedFunc<(&'a Query,), (Result<Answer, RuleError>,)>;

impl Exports {
    pub fn find(component: &Component) -> Result<Exports, LoadError> {
        const RULE: &str = "rulebox:plugin/rule@0.1.0";
        let missing = |name: &str| LoadError::WrongWorld(format!("no export `{name}` in `{RULE}`"));
        let rule = component
            .get_export_index(None, RULE)
            .ok_or_else(|| LoadError::WrongWorld(format!("no exported instance named `{RULE}`")))?;
        let find = |name: &str| {
            component
                .get_export_index(Some(&rule), name)
                .ok_or_else(|| missing(name))
        };
        Ok(Exports {
            describe: find("describe")?,
            on_event: find("on-event")?,
            on_query: find("on-query")?,
            checked: false,
        })
    }

    /// Checks the types of the three functions in `instance`.
    pub fn check(&self, instance: &Instance, store: &mut Store<CallState>) -> wasmtime::Result<()> {
        use wasmtime::error::Context as _;
        instance
            .get_typed_func::<(), (Description,)>(&mut *store, &self.describe)
            .context("type-checking export func `describe`")?;
        instance
            .get_typed_func::<(&Event,), (Result<Vec<Effect>, RuleError>,)>(
                &mut *store,
                &self.on_event,
            )
            .context("type-checking export func `on-event`")?;
        instance
            .get_typed_func::<(&Query,), (Result<Answer, RuleError>,)>(&mut *store, &self.on_query)
            .context("type-checking export func `on-query`")?;
        Ok(())
    }

    /// The function at `index` in `instance`, as a `TypedFunc<P, R>`, without checking its
    /// type again.
    ///
    /// # Safety
    /// `index` must be one of the plugin's [`Exports`], `P` and `R` the types
    /// [`Exports::check`] checks for it, and the check must have passed for this plugin
    /// (`checked`) or in this very instance.
    pub unsafe fn get<P, R>(
        index: &ComponentExportIndex,
        instance: &Instance,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<TypedFunc<P, R>>
    where
        P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower,
        R: wasmtime::component::ComponentNamedList + wasmtime::component::Lift,
    {
        let func = instance
            .get_func(&mut *store, index)
            .ok_or_else(|| wasmtime::format_err!("failed to find function export"))?;
        // SAFETY: the caller's contract: the type was checked for this component.
        Ok(unsafe { TypedFunc::new_unchecked(func) })
    }
}
