//! What a rule can read during one call, and the seam that lets tests swap the platform out.

use std::any::{Any, TypeId};
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

use serde::de::DeserializeOwned;

use crate::bindings::rulebox::plugin::host as wit_host;
use crate::{Attribute, GeoPoint, LogLevel, MemberView, Product, RuleError, StockLevel, StoreInfo};

/// The platform as a rule sees it: the functions of the WIT `host` interface.
///
/// Inside a plugin the SDK implements this with the real imports; in native tests
/// [`testing::FakeHost`](crate::testing::FakeHost) implements it from builders or fixtures.
/// Rules use it through [`Context`], not directly.
pub trait Host {
    /// The member the call is about.
    fn member(&self) -> MemberView;
    /// The brand's stores within `radius_m` of `at`, nearest first, at most `limit`.
    fn stores_near(&self, at: GeoPoint, radius_m: u32, limit: u32) -> Vec<StoreInfo>;
    /// Units on hand at a store, for the given products (all stocked products if empty).
    fn stock(&self, store_id: &str, product_ids: &[String]) -> Vec<StockLevel>;
    /// Catalog entries for `ids`, in that order (the whole catalog if empty).
    fn products(&self, ids: &[String]) -> Vec<Product>;
    /// The plugin's configuration as a JSON document.
    fn config(&self) -> String;
    /// The call's deterministic seed.
    fn seed(&self) -> u64;
    /// Writes a log line.
    fn log(&self, level: LogLevel, message: &str, fields: &[Attribute]);
}

/// The real host, reached through the component's imports.
struct WasmHost;

impl Host for WasmHost {
    fn member(&self) -> MemberView {
        wit_host::member()
    }
    fn stores_near(&self, at: GeoPoint, radius_m: u32, limit: u32) -> Vec<StoreInfo> {
        wit_host::stores_near(at, radius_m, limit)
    }
    fn stock(&self, store_id: &str, product_ids: &[String]) -> Vec<StockLevel> {
        wit_host::stock(store_id, product_ids)
    }
    fn products(&self, ids: &[String]) -> Vec<Product> {
        wit_host::products(ids)
    }
    fn config(&self) -> String {
        wit_host::config()
    }
    fn seed(&self) -> u64 {
        wit_host::seed()
    }
    fn log(&self, level: LogLevel, message: &str, fields: &[Attribute]) {
        wit_host::log(level, message, fields)
    }
}

/// Read-only access to the platform during one event or query: the member, stores, stock,
/// the catalog, the rule's configuration, a deterministic seed and logging. Everything is
/// scoped to the brand and member of the call.
pub struct Context<'h> {
    host: &'h dyn Host,
    member: OnceCell<MemberView>,
    config: OnceCell<String>,
}

impl<'h> Context<'h> {
    /// A context over any [`Host`]; tests get one from
    /// [`FakeHost`](crate::testing::FakeHost) instead.
    pub fn new(host: &'h dyn Host) -> Self {
        Context {
            host,
            member: OnceCell::new(),
            config: OnceCell::new(),
        }
    }

    #[doc(hidden)]
    pub fn wasm() -> Context<'static> {
        Context::new(&WasmHost)
    }

    /// The member the call is about, fetched from the host once per call.
    pub fn member(&self) -> &MemberView {
        self.member.get_or_init(|| self.host.member())
    }

    /// The brand's stores within `radius_m` metres of `at`, nearest first, at most `limit`.
    pub fn stores_near(&self, at: GeoPoint, radius_m: u32, limit: u32) -> Vec<StoreInfo> {
        self.host.stores_near(at, radius_m, limit)
    }

    /// Units on hand at `store_id` for `product_ids` (every stocked product if empty).
    pub fn stock(&self, store_id: &str, product_ids: &[String]) -> Vec<StockLevel> {
        self.host.stock(store_id, product_ids)
    }

    /// Catalog entries for `ids` in the order asked; unknown ids are left out. An empty
    /// slice returns the whole catalog.
    pub fn products(&self, ids: &[String]) -> Vec<Product> {
        self.host.products(ids)
    }

    /// The whole catalog.
    pub fn catalog(&self) -> Vec<Product> {
        self.host.products(&[])
    }

    /// The rule's configuration, parsed into `T`. An unset configuration reads as `{}`, so
    /// put `#[serde(default)]` on `T` to give every parameter a default.
    ///
    /// A configuration that does not parse is a [`RuleError::InvalidConfig`] naming the
    /// problem, which the brand sees in the event outcome.
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, RuleError> {
        let raw = self.raw_config();
        let raw = if raw.trim().is_empty() { "{}" } else { raw };
        serde_json::from_str(raw).map_err(|e| {
            RuleError::InvalidConfig(format!(
                "plugin configuration does not match what the rule expects: {e}"
            ))
        })
    }

    /// `build(self)`, computed once per configuration and shared by every later call: use it
    /// for what a rule derives from its configuration alone (the parsed and checked
    /// configuration, lookup tables), and call it in [`Rule::init`](crate::Rule::init) too, so
    /// the platform computes it once per deployment instead of once per call. A rule's
    /// [`Rule::Config`](crate::Rule::Config) is prepared this way already.
    ///
    /// The value is kept per type `T` with the configuration text it was built from, and
    /// rebuilt when the configuration differs (as between native tests with different
    /// configurations). An `Err` is returned as is and not kept.
    pub fn prepared<T: 'static>(
        &self,
        build: impl FnOnce(&Context) -> Result<T, RuleError>,
    ) -> Result<Rc<T>, RuleError> {
        let raw = self.raw_config();
        let kept = PREPARED.with_borrow(|kept| {
            kept.iter()
                .find(|p| p.ty == TypeId::of::<T>() && p.config == raw)
                .map(|p| p.value.clone())
        });
        if let Some(value) = kept.and_then(|value| value.downcast::<T>().ok()) {
            return Ok(value);
        }
        let value = Rc::new(build(self)?);
        PREPARED.with_borrow_mut(|kept| {
            kept.retain(|p| p.ty != TypeId::of::<T>());
            kept.push(Prepared {
                ty: TypeId::of::<T>(),
                config: raw.to_owned(),
                value: value.clone(),
            });
        });
        Ok(value)
    }

    /// The configuration's text, fetched from the host once per call.
    fn raw_config(&self) -> &str {
        self.config.get_or_init(|| self.host.config())
    }

    /// A deterministic seed for this call: the same event always gets the same seed.
    pub fn seed(&self) -> u64 {
        self.host.seed()
    }

    /// Writes a structured log line, e.g. `ctx.log(LogLevel::Info, "capped", &[("cap", "500")])`.
    pub fn log(&self, level: LogLevel, message: &str, fields: &[(&str, &str)]) {
        let fields: Vec<Attribute> = fields
            .iter()
            .map(|(key, value)| Attribute {
                key: (*key).to_owned(),
                value: (*value).to_owned(),
            })
            .collect();
        self.host.log(level, message, &fields);
    }
}

/// One value kept by [`Context::prepared`].
struct Prepared {
    ty: TypeId,
    config: String,
    value: Rc<dyn Any>,
}

thread_local! {
    // Per thread, not global: native tests run on many threads, each with its own fake host.
    // In a plugin there is one thread, and this lives in the memory the host snapshots
    // after `init`.
    static PREPARED: RefCell<Vec<Prepared>> = const { RefCell::new(Vec::new()) };
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A host with a configuration and nothing else (a blank member, no stores, stock or
    /// catalog), which counts how often it is asked for the configuration.
    struct ConfigOnly {
        config: &'static str,
        asked: Cell<u32>,
    }

    impl Host for ConfigOnly {
        fn member(&self) -> MemberView {
            MemberView::blank("m-1")
        }
        fn stores_near(&self, _: GeoPoint, _: u32, _: u32) -> Vec<StoreInfo> {
            Vec::new()
        }
        fn stock(&self, _: &str, _: &[String]) -> Vec<StockLevel> {
            Vec::new()
        }
        fn products(&self, _: &[String]) -> Vec<Product> {
            Vec::new()
        }
        fn config(&self) -> String {
            self.asked.set(self.asked.get() + 1);
            self.config.to_owned()
        }
        fn seed(&self) -> u64 {
            0
        }
        fn log(&self, _: LogLevel, _: &str, _: &[Attribute]) {}
    }

    fn host(config: &'static str) -> ConfigOnly {
        ConfigOnly {
            config,
            asked: Cell::new(0),
        }
    }

    /// A distinct type per test: the memo is per thread and type, and tests share threads.
    fn count_builds<T: 'static>(
        ctx: &Context,
        builds: &Cell<u32>,
        value: impl FnOnce(u64) -> T,
    ) -> Result<Rc<T>, RuleError> {
        ctx.prepared(|ctx| {
            builds.set(builds.get() + 1);
            let config: serde_json::Value = ctx.config()?;
            Ok(value(config["n"].as_u64().unwrap_or_default()))
        })
    }

    #[test]
    fn prepared_builds_once_per_configuration_and_asks_the_host_once_per_call() {
        struct N(u64);
        let builds = Cell::new(0);
        let (a, b) = (host(r#"{"n": 1}"#), host(r#"{"n": 2}"#));
        for _ in 0..3 {
            let value = count_builds(&Context::new(&a), &builds, N).unwrap();
            assert_eq!(value.0, 1);
        }
        assert_eq!(builds.get(), 1);
        // One host call per call (context), shared by `prepared` and `config`.
        assert_eq!(a.asked.get(), 3);
        // Another configuration is built anew, and replaces the first.
        assert_eq!(count_builds(&Context::new(&b), &builds, N).unwrap().0, 2);
        assert_eq!(count_builds(&Context::new(&a), &builds, N).unwrap().0, 1);
        assert_eq!(builds.get(), 3);
    }

    #[test]
    fn prepared_keeps_no_error() {
        struct Fails;
        let ctx_host = host("{}");
        let ctx = Context::new(&ctx_host);
        let tries = Cell::new(0);
        for _ in 0..2 {
            let result: Result<Rc<Fails>, RuleError> = ctx.prepared(|_| {
                tries.set(tries.get() + 1);
                Err(RuleError::invalid_config("no"))
            });
            assert!(matches!(result, Err(RuleError::InvalidConfig(_))));
        }
        assert_eq!(tries.get(), 2);
    }
}
