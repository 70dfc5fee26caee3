//! The example rules compiled natively into the pipeline: an [`EventRunner`] that calls the
//! rule function of the chain member by name, on the same member view, configuration, seed
//! and brand data the sandbox would get.
//!
//! The host's types and the SDK's are generated separately from the same WIT, so the member
//! view, the event and the effects cross over as JSON (the same conversion `rulebox test`
//! uses). That conversion is not part of the rule; [`NativeRules::conversion`] reports how
//! much of the native time it took, so it can be read off.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rulebox_engine::EventRunner;
use rulebox_engine::registry::ActivePlugin;
use rulebox_sandbox::{BrandData, CallEnv, CallReport, FailureCause, PluginFailure, RuleErrorView};
use rulebox_sdk::{Context, Host, Rule};
use rulebox_world::{self as host, Effect, Event};

/// Runs the four example rules natively.
#[derive(Default)]
pub struct NativeRules {
    conversion_ns: AtomicU64,
    calls: AtomicU64,
}

impl NativeRules {
    /// Calls so far, and the total time spent converting between host and SDK types.
    pub fn conversion(&self) -> (u64, Duration) {
        (
            self.calls.load(Ordering::Relaxed),
            Duration::from_nanos(self.conversion_ns.load(Ordering::Relaxed)),
        )
    }
}

fn cross<A: serde::Serialize, B: serde::de::DeserializeOwned>(value: &A) -> B {
    serde_json::from_slice(&serde_json::to_vec(value).expect("serialisable"))
        .expect("the host's and the SDK's types have the same JSON form")
}

/// The SDK's `Host` over a call's environment, as the sandbox's imports answer it.
struct EnvHost {
    member: rulebox_sdk::MemberView,
    config: String,
    seed: u64,
    at: i64,
    data: Arc<dyn BrandData>,
}

impl Host for EnvHost {
    fn member(&self) -> rulebox_sdk::MemberView {
        self.member.clone()
    }
    fn stores_near(
        &self,
        at: rulebox_sdk::GeoPoint,
        radius_m: u32,
        limit: u32,
    ) -> Vec<rulebox_sdk::StoreInfo> {
        let at = host::GeoPoint {
            lat: at.lat,
            lon: at.lon,
        };
        cross(&self.data.stores_near(at, radius_m, limit, self.at))
    }
    fn stock(&self, store_id: &str, product_ids: &[String]) -> Vec<rulebox_sdk::StockLevel> {
        cross(&self.data.stock(store_id, product_ids))
    }
    fn products(&self, ids: &[String]) -> Vec<rulebox_sdk::Product> {
        cross(&self.data.products(ids))
    }
    fn config(&self) -> String {
        self.config.clone()
    }
    fn seed(&self) -> u64 {
        self.seed
    }
    fn log(
        &self,
        _level: rulebox_sdk::LogLevel,
        _message: &str,
        _fields: &[rulebox_sdk::Attribute],
    ) {
    }
}

fn call<R: Rule>(
    host: &EnvHost,
    event: &rulebox_sdk::Event,
) -> Result<Vec<rulebox_sdk::Effect>, rulebox_sdk::RuleError> {
    R::run_event(&Context::new(host), event)
}

impl EventRunner for NativeRules {
    fn on_event(
        &self,
        plugin: &ActivePlugin,
        env: CallEnv,
        event: &Event,
    ) -> Result<CallReport<Vec<Effect>>, PluginFailure> {
        let started = Instant::now();
        let host = EnvHost {
            member: cross(&env.member),
            config: env.config.to_string(),
            seed: env.seed,
            at: env.at,
            data: env.data,
        };
        let sdk_event: rulebox_sdk::Event = cross(event);
        let mut converting = started.elapsed();
        let description = &plugin.plugin.description;
        let result = match description.name.as_str() {
            "points-accrual" => call::<points_accrual::PointsAccrual>(&host, &sdk_event),
            "tier-upgrade" => call::<tier_upgrade::TierUpgrade>(&host, &sdk_event),
            "coupon-eligibility" => {
                call::<coupon_eligibility::CouponEligibility>(&host, &sdk_event)
            }
            "recommend-nearby" => call::<recommend_nearby::RecommendNearby>(&host, &sdk_event),
            other => panic!("no native build of plugin {other}"),
        };
        let back = Instant::now();
        let result = match result {
            Ok(effects) => Ok(cross::<_, Vec<Effect>>(&effects)),
            Err(error) => Err(cross::<_, host::RuleError>(&error)),
        };
        converting += back.elapsed();
        self.conversion_ns
            .fetch_add(converting.as_nanos() as u64, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(output) => Ok(CallReport {
                output,
                fuel_used: 0,
                peak_memory: 0,
                elapsed_us: started.elapsed().as_micros() as u64,
                logs: Vec::new(),
                stdout: String::new(),
                stderr: String::new(),
            }),
            Err(error) => Err(PluginFailure {
                plugin: description.name.clone(),
                version: description.version.clone(),
                subject: format!("event {}", event.id),
                cause: FailureCause::Rule(RuleErrorView::from(&error)),
                stderr: String::new(),
            }),
        }
    }
}
