//! `rulebox test`: runs a compiled plugin in the real sandbox against the JSON fixture cases
//! of `rulebox_sdk::testing::Fixture` — no server, no database.

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use rulebox_sdk::testing::{FakeHost, Fixture, Input, Outcome};

use crate::convert;
use crate::sandbox::bindings::{Event, GeoPoint, Product, Query, StockLevel, StoreInfo, Timestamp};
use crate::sandbox::{BrandData, CallEnv, FailureCause, Plugin, Sandbox};

/// The result of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub name: String,
    pub passed: bool,
    pub fuel_used: u64,
    pub peak_memory: u64,
    pub elapsed_us: u64,
    /// Expected vs. actual, when the case failed.
    pub diff: Option<String>,
}

/// A fixture's stores, stock and catalog, answered by the SDK's fake host so native tests
/// and `rulebox test` see exactly the same world.
pub struct FixtureData(Mutex<FakeHost>);

impl FixtureData {
    /// The brand data a case's fake host answers (what `run_case` gives the sandbox).
    pub fn new(host: FakeHost) -> Self {
        FixtureData(Mutex::new(host))
    }

    fn with<T>(&self, f: impl FnOnce(&FakeHost) -> T) -> T {
        f(&self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl BrandData for FixtureData {
    fn stores_near(
        &self,
        at: GeoPoint,
        radius_m: u32,
        limit: u32,
        _now: Timestamp,
    ) -> Vec<StoreInfo> {
        let at = rulebox_sdk::GeoPoint {
            lat: at.lat,
            lon: at.lon,
        };
        convert(&self.with(|h| rulebox_sdk::Host::stores_near(h, at, radius_m, limit)))
            .unwrap_or_default()
    }
    fn stock(&self, store_id: &str, product_ids: &[String]) -> Vec<StockLevel> {
        convert(&self.with(|h| rulebox_sdk::Host::stock(h, store_id, product_ids)))
            .unwrap_or_default()
    }
    fn products(&self, ids: &[String]) -> Vec<Product> {
        convert(&self.with(|h| rulebox_sdk::Host::products(h, ids))).unwrap_or_default()
    }
}

/// Runs one case against `plugin`.
pub fn run_case(sandbox: &Sandbox, plugin: &Plugin, case: &Fixture) -> anyhow::Result<CaseResult> {
    let fake = case.host().map_err(|e| anyhow::anyhow!("{e}"))?;
    let member = convert::<_, crate::sandbox::bindings::MemberView>(fake.member())?
        .only(&plugin.description.reads);
    let env = |at| CallEnv {
        member,
        at,
        config: Arc::from(case.config.to_string()),
        seed: case.seed,
        data: Arc::new(FixtureData(Mutex::new(
            case.host().expect("built once already"),
        ))),
    };
    let description = &plugin.description;
    let (actual, stats) = match &case.input {
        Input::Event(event) => {
            let event: Event =
                convert(event).with_context(|| format!("case '{}': event", case.name))?;
            let kind = event.kind.event_type();
            if !description.events.contains(&kind) {
                (undeclared(&format!("{kind:?} events")), (0, 0, 0))
            } else {
                match sandbox.on_event(plugin, env(event.occurred_at), &event) {
                    Ok(r) => (
                        Outcome::Effects(convert(&r.output)?),
                        (r.fuel_used, r.peak_memory, r.elapsed_us),
                    ),
                    Err(failure) => (
                        failure_outcome(&failure.cause, &failure.to_string())?,
                        (0, 0, 0),
                    ),
                }
            }
        }
        Input::Query(query) => {
            let query: Query =
                convert(query).with_context(|| format!("case '{}': query", case.name))?;
            let kind = query.kind.query_type();
            if !description.queries.contains(&kind) {
                (undeclared(&format!("{kind:?} queries")), (0, 0, 0))
            } else {
                match sandbox.on_query(plugin, env(query.at), &query) {
                    Ok(r) => (
                        Outcome::Answer(convert(&r.output)?),
                        (r.fuel_used, r.peak_memory, r.elapsed_us),
                    ),
                    Err(failure) => (
                        failure_outcome(&failure.cause, &failure.to_string())?,
                        (0, 0, 0),
                    ),
                }
            }
        }
    };
    let passed = actual.satisfies(&case.expect);
    Ok(CaseResult {
        name: case.name.clone(),
        passed,
        fuel_used: stats.0,
        peak_memory: stats.1,
        elapsed_us: stats.2,
        diff: (!passed).then(|| actual.diff(&case.expect)),
    })
}

/// What the native fake host answers for an undeclared kind, so both runners agree.
fn undeclared(what: &str) -> Outcome {
    Outcome::Error(rulebox_sdk::RuleError::Unsupported(format!(
        "the rule does not declare {what} in describe(); the platform would not send this one"
    )))
}

/// A rule error is a comparable outcome; any other failure (trap, limits) is reported as an
/// internal error carrying the failure's text, which no expectation of a rule error matches
/// by accident.
fn failure_outcome(cause: &FailureCause, text: &str) -> anyhow::Result<Outcome> {
    let error = match cause {
        FailureCause::Rule(e) => match e.code.as_str() {
            "invalid-config" => rulebox_sdk::RuleError::InvalidConfig(e.message.clone()),
            "invalid-input" => rulebox_sdk::RuleError::InvalidInput(e.message.clone()),
            "unsupported" => rulebox_sdk::RuleError::Unsupported(e.message.clone()),
            _ => rulebox_sdk::RuleError::Internal(e.message.clone()),
        },
        _ => rulebox_sdk::RuleError::Internal(format!("sandbox: {text}")),
    };
    Ok(Outcome::Error(error))
}
