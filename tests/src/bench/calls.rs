//! Experiment 1: one plugin call, per example rule, on the inputs of its fixture cases
//! (`plugins/<rule>/fixtures/cases.json`): natively through the SDK's native path
//! (`FakeHost::on_event` / `on_query`) and sandboxed with a fresh instance per call
//! (`Sandbox::on_event` / `on_query` with the `CallEnv` that `rulebox test` builds). The
//! production pipeline calls the sandbox exactly this way, so (b) is also (c). Then the same
//! cases again with the configuration the demo brand deploys the rule with in place of each
//! case's: a fresh instance parses and validates its configuration on every call, and a
//! brand's is larger than a fixture's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rulebox_host::convert;
use rulebox_host::sandbox::bindings::{Event, MemberView, Query};
use rulebox_host::sandbox::{CallEnv, CallReport, Limits, Plugin, Sandbox, SandboxConfig};
use rulebox_host::store::Catalog;
use rulebox_sdk::Rule;
use rulebox_sdk::testing::{FakeHost, Fixture, Input};
use serde::Serialize;

use super::{Opts, Row, elapsed, percentiles};

/// The example rules, by crate name.
pub const RULES: [&str; 4] = [
    "points-accrual",
    "tier-upgrade",
    "coupon-eligibility",
    "recommend-nearby",
];

/// The fixture cases of an example rule.
pub fn fixtures(rule: &str) -> anyhow::Result<Vec<Fixture>> {
    let path = format!(
        "{}/../plugins/{rule}/fixtures/cases.json",
        env!("CARGO_MANIFEST_DIR")
    );
    Ok(Fixture::load(path)?)
}

/// One case prepared for both paths.
pub struct Prepared {
    fake: FakeHost,
    input: Input,
    /// Host-side input and environment parts for the sandbox.
    event: Option<Event>,
    query: Option<Query>,
    member: MemberView,
    at: i64,
    config: Arc<str>,
    seed: u64,
    data: Arc<Catalog>,
}

impl Prepared {
    fn env(&self) -> CallEnv {
        CallEnv {
            member: self.member.clone(),
            at: self.at,
            config: self.config.clone(),
            seed: self.seed,
            data: self.data.clone(),
        }
    }
}

/// Prepares `case` for both paths, or `None` if `plugin` does not declare its kind (the
/// platform would not send it).
pub fn prepare(plugin: &Plugin, case: &Fixture) -> anyhow::Result<Option<Prepared>> {
    let fake = case.host()?;
    let member = convert::<_, MemberView>(fake.member())?.only(&plugin.description.reads);
    let (event, query, at) = match &case.input {
        Input::Event(e) => {
            let e: Event = convert(e)?;
            if !plugin.description.events.contains(&e.kind.event_type()) {
                return Ok(None);
            }
            let at = e.occurred_at;
            (Some(e), None, at)
        }
        Input::Query(q) => {
            let q: Query = convert(q)?;
            if !plugin.description.queries.contains(&q.kind.query_type()) {
                return Ok(None);
            }
            let at = q.at;
            (None, Some(q), at)
        }
    };
    Ok(Some(Prepared {
        fake,
        input: case.input.clone(),
        event,
        query,
        member,
        at,
        config: Arc::from(case.config.to_string()),
        seed: case.seed,
        data: Arc::new(rulebox_host::fixtures::catalog(case)?),
    }))
}

/// The JSON of a native outcome: the effects or answer, or `null` for an error.
fn native<R: Rule>(p: &Prepared) -> serde_json::Value {
    let value = match &p.input {
        Input::Event(e) => p.fake.on_event::<R>(e).map(serde_json::to_value),
        Input::Query(q) => p.fake.on_query::<R>(q).map(serde_json::to_value),
    };
    match value {
        Ok(Ok(v)) => v,
        _ => serde_json::Value::Null,
    }
}

/// One native call through the SDK's native path; its output is only dropped.
pub fn run_native<R: Rule>(p: &Prepared) {
    match &p.input {
        Input::Event(e) => drop(std::hint::black_box(p.fake.on_event::<R>(e))),
        Input::Query(q) => drop(std::hint::black_box(p.fake.on_query::<R>(q))),
    }
}

/// One sandboxed call in a fresh instance; its output is only dropped.
pub fn run_sandboxed(sandbox: &Sandbox, plugin: &Plugin, p: &Prepared) {
    match (&p.event, &p.query) {
        (Some(e), _) => drop(std::hint::black_box(sandbox.on_event(plugin, p.env(), e))),
        (_, Some(q)) => drop(std::hint::black_box(sandbox.on_query(plugin, p.env(), q))),
        _ => unreachable!("a case has an event or a query"),
    }
}

/// One sandboxed call: its duration, output JSON (`null` for a failure) and fuel.
fn sandboxed(
    sandbox: &Sandbox,
    plugin: &Plugin,
    p: &Prepared,
) -> (Duration, serde_json::Value, u64) {
    match (&p.event, &p.query) {
        (Some(e), _) => timed(|| sandbox.on_event(plugin, p.env(), e)),
        (_, Some(q)) => timed(|| sandbox.on_query(plugin, p.env(), q)),
        _ => unreachable!("a case has an event or a query"),
    }
}

/// Times `call`, then reads its report with the clock stopped: the duration, the output as
/// JSON and the fuel used (`null` and 0 for a failure).
fn timed<T: Serialize, E>(
    call: impl FnOnce() -> Result<CallReport<T>, E>,
) -> (Duration, serde_json::Value, u64) {
    let started = Instant::now();
    let result = call();
    let elapsed = started.elapsed();
    match result {
        Ok(r) => (
            elapsed,
            serde_json::to_value(&r.output).unwrap_or_default(),
            r.fuel_used,
        ),
        Err(_) => (elapsed, serde_json::Value::Null, 0),
    }
}

/// The configuration the demo brand deploys `rule` with (`host/src/demo/manifests.json`).
pub fn demo_config(rule: &str) -> anyhow::Result<serde_json::Value> {
    let manifests: Vec<serde_json::Value> = serde_json::from_str(rulebox_host::demo::MANIFESTS)?;
    manifests
        .into_iter()
        .find(|m| m["name"] == rule)
        .map(|m| m["config"].clone())
        .ok_or_else(|| anyhow::anyhow!("the demo brand deploys no {rule}"))
}

/// Measures `rule` on its fixture cases, each with its own configuration, or with `config`
/// in place of every case's: the fixtures' configurations are small, while a brand's real
/// one is parsed and validated on every call too.
fn measure<R: Rule>(
    sandbox: &Sandbox,
    rule: &str,
    config: Option<&serde_json::Value>,
    opts: Opts,
) -> anyhow::Result<Vec<Row>> {
    let plugin = sandbox
        .load(&crate::plugin_wasm(rule), Limits::default())
        .map_err(|e| anyhow::anyhow!("{rule}: {e}"))?;
    let mut cases = Vec::new();
    for mut case in fixtures(rule)? {
        if let Some(config) = config {
            case.config = config.clone();
        }
        if let Some(p) = prepare(&plugin, &case)? {
            cases.push(p);
        }
    }
    // Same output on both paths, or the comparison is void.
    let mut mismatches = 0;
    for p in &cases {
        let (_, wasm, _) = sandboxed(sandbox, &plugin, p);
        if native::<R>(p) != wasm {
            mismatches += 1;
        }
    }
    let rounds = opts.pick(2000, 20);
    let (mut nat, mut sbx, mut fuel) = (Vec::new(), Vec::new(), Vec::new());
    // Warm-up, then both paths interleaved call by call, so both see the same machine.
    for _ in 0..opts.pick(50, 2) {
        for p in &cases {
            elapsed(|| run_native::<R>(p));
            sandboxed(sandbox, &plugin, p);
        }
    }
    for _ in 0..rounds {
        for p in &cases {
            nat.push(elapsed(|| run_native::<R>(p)));
            let (d, _, f) = sandboxed(sandbox, &plugin, p);
            sbx.push(d);
            fuel.push(f);
        }
    }
    fuel.sort_unstable();
    let (n50, n99) = percentiles(&mut nat);
    let (s50, s99) = percentiles(&mut sbx);
    let case = match config {
        None => format!("{rule} ({} cases)", cases.len()),
        Some(_) => format!("{rule} ({} cases, demo brand's configuration)", cases.len()),
    };
    Ok(vec![
        Row {
            experiment: "call",
            case: case.clone(),
            variant: "native (FakeHost)".into(),
            samples: nat.len(),
            median_us: Some(n50),
            p99_us: Some(n99),
            per_s: Some(1e6 / n50),
            ratio: Some(1.0),
            note: format!("outputs differing from sandbox: {mismatches}"),
        },
        Row {
            experiment: "call",
            case,
            variant: "sandboxed fresh instance = production".into(),
            samples: sbx.len(),
            median_us: Some(s50),
            p99_us: Some(s99),
            per_s: Some(1e6 / s50),
            ratio: Some(s50 / n50),
            note: format!(
                "ratio = median / native median; fuel median {}",
                fuel.get(fuel.len() / 2).copied().unwrap_or(0)
            ),
        },
    ])
}

/// Runs experiment 1 for the four example rules: on their fixtures, then with the demo
/// brand's configuration.
pub fn run(opts: Opts) -> anyhow::Result<Vec<Row>> {
    let sandbox = Sandbox::new(SandboxConfig::default())?;
    let mut rows = Vec::new();
    for demo in [false, true] {
        let config = |rule: &str| demo.then(|| demo_config(rule)).transpose();
        let [points, tiers, coupons, nearby] = RULES;
        rows.extend(measure::<points_accrual::PointsAccrual>(
            &sandbox,
            points,
            config(points)?.as_ref(),
            opts,
        )?);
        rows.extend(measure::<tier_upgrade::TierUpgrade>(
            &sandbox,
            tiers,
            config(tiers)?.as_ref(),
            opts,
        )?);
        rows.extend(measure::<coupon_eligibility::CouponEligibility>(
            &sandbox,
            coupons,
            config(coupons)?.as_ref(),
            opts,
        )?);
        rows.extend(measure::<recommend_nearby::RecommendNearby>(
            &sandbox,
            nearby,
            config(nearby)?.as_ref(),
            opts,
        )?);
    }
    Ok(rows)
}
