//! The points-accrual rule (`plugins/points-accrual`, the very same Rust source files) as an
//! Extism plug-in: one export, `on_event`, taking the event and everything the rule may ask
//! the host for (member view, configuration, seed) as one JSON document, and returning the
//! rule's outcome as JSON (`{"Ok": [effects]}` or `{"Err": error}`), the same values the
//! component returns to the rulebox host.
//!
//! Extism plug-ins cannot call back into a host the way a component imports `member()` or
//! `config()` without host functions, so the host's answers travel with the input; the rule
//! only asks for the member and the configuration.
//!
//! The rule's sources are compiled in as the module [`rule`] rather than as a dependency:
//! the points-accrual crate's `export_rule!` would export the component interface and import
//! the `rulebox:plugin/host` functions, which an Extism host cannot satisfy. The
//! `rulebox_sdk` those sources see is the shim in `sdk-shim/`: the real SDK, with an
//! `export_rule!` that expands to nothing.

/// `plugins/points-accrual/src/lib.rs` and, through it, `accrual.rs` and `config.rs`.
#[path = "../../../../plugins/points-accrual/src/lib.rs"]
pub mod rule;

// What the rule's modules reach through `crate::`.
pub use rule::{MAX_REASON_BYTES, config, shorten};

use rule::PointsAccrual;

use extism_pdk::{FnResult, Json, plugin_fn};
use rulebox_sdk::{
    Attribute, Context, Effect, Event, GeoPoint, Host, LogLevel, MemberView, Product, Rule,
    RuleError, StockLevel, StoreInfo,
};

/// One call's input.
#[derive(serde::Deserialize)]
pub struct Call {
    pub member: MemberView,
    /// The brand's configuration of the rule, as JSON text (as the host hands it over).
    pub config: String,
    pub seed: u64,
    pub event: Event,
}

/// The host's answers for this call.
struct CallHost<'a>(&'a Call);

impl Host for CallHost<'_> {
    fn member(&self) -> MemberView {
        self.0.member.clone()
    }
    fn stores_near(&self, _at: GeoPoint, _radius_m: u32, _limit: u32) -> Vec<StoreInfo> {
        Vec::new()
    }
    fn stock(&self, _store_id: &str, _product_ids: &[String]) -> Vec<StockLevel> {
        Vec::new()
    }
    fn products(&self, _ids: &[String]) -> Vec<Product> {
        Vec::new()
    }
    fn config(&self) -> String {
        self.0.config.clone()
    }
    fn seed(&self) -> u64 {
        self.0.seed
    }
    fn log(&self, _level: LogLevel, _message: &str, _fields: &[Attribute]) {}
}

/// Runs the rule on one event.
#[plugin_fn]
pub fn on_event(Json(call): Json<Call>) -> FnResult<Json<Result<Vec<Effect>, RuleError>>> {
    let host = CallHost(&call);
    Ok(Json(PointsAccrual::run_event(
        &Context::new(&host),
        &call.event,
    )))
}
