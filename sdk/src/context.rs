//! What a rule can read during one call, and the seam that lets tests swap the platform out.

use std::cell::OnceCell;

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
}

impl<'h> Context<'h> {
    /// A context over any [`Host`]; tests get one from
    /// [`FakeHost`](crate::testing::FakeHost) instead.
    pub fn new(host: &'h dyn Host) -> Self {
        Context {
            host,
            member: OnceCell::new(),
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
        let raw = self.host.config();
        let raw = if raw.trim().is_empty() { "{}" } else { &raw };
        serde_json::from_str(raw).map_err(|e| {
            RuleError::InvalidConfig(format!(
                "plugin configuration does not match what the rule expects: {e}"
            ))
        })
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
