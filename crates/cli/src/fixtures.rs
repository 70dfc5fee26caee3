//! `rulebox test`: runs a compiled plugin in the real sandbox against the JSON fixture cases
//! of `rulebox_sdk::testing::Fixture` — no server, no database.

use std::sync::Arc;

use anyhow::Context as _;
use rulebox_sdk::testing::{Fixture, Input, Outcome};

use rulebox_sandbox::{CallEnv, FailureCause, Plugin, Sandbox};
use rulebox_store::Catalog;
use rulebox_store::model::{Stock, Store};
use rulebox_world::convert;
use rulebox_world::{Event, GeoPoint, Query};

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

/// A fixture's stores, stock and catalog, served by the platform's own in-memory catalog
/// (the one live calls read), so `rulebox test` exercises the same host code. A store the
/// fixture marks open is open all day, a closed one never.
pub fn catalog(case: &Fixture) -> anyhow::Result<Catalog> {
    let stores = case
        .stores
        .iter()
        .map(|s| Store {
            id: s.id.clone(),
            name: s.name.clone(),
            city: s.city.clone(),
            location: GeoPoint {
                lat: s.location.lat,
                lon: s.location.lon,
            },
            opens_at_minute: 0,
            closes_at_minute: if s.open { 24 * 60 } else { 0 },
        })
        .collect();
    let stock = case.stock.iter().map(|s| Stock {
        store_id: s.store_id.clone(),
        product_id: s.product_id.clone(),
        quantity: s.quantity,
    });
    let products =
        convert(&case.products).with_context(|| format!("case '{}': products", case.name))?;
    Ok(Catalog::new(0, stores, products, stock))
}

/// Runs one case against `plugin`.
pub fn run_case(sandbox: &Sandbox, plugin: &Plugin, case: &Fixture) -> anyhow::Result<CaseResult> {
    let fake = case.host().map_err(|e| anyhow::anyhow!("{e}"))?;
    let member =
        convert::<_, rulebox_world::MemberView>(fake.member())?.only(&plugin.description.reads);
    let data = Arc::new(catalog(case)?);
    let env = |at| CallEnv {
        member,
        at,
        config: Arc::from(case.config.to_string()),
        seed: case.seed,
        data,
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
