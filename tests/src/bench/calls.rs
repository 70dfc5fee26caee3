//! Experiment 1: one plugin call, per example rule, on the inputs of its fixture cases
//! (`plugins/<rule>/fixtures/cases.json`): natively through the SDK's native path
//! (`FakeHost::on_event` / `on_query`) and sandboxed with a fresh instance per call
//! (`Sandbox::on_event` / `on_query` with the `CallEnv` that `rulebox test` builds). Then the
//! same cases again with the configuration the demo brand deploys the rule with in place of
//! each case's, sandboxed both ways: a fresh instance of the plugin as built, which parses
//! and checks its configuration in every call, and a fresh instance of the snapshot its
//! `init` left for that configuration, which is how production calls it (c).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rulebox_sandbox::{CallEnv, CallReport, InitOutcome, Limits, Plugin, Sandbox, SandboxConfig};
use rulebox_sdk::Rule;
use rulebox_sdk::testing::{FakeHost, Fixture, Input};
use rulebox_store::Catalog;
use rulebox_world::convert;
use rulebox_world::{Event, MemberView, Query};
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
        data: Arc::new(rulebox_cli::fixtures::catalog(case)?),
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
    let manifests: Vec<serde_json::Value> = serde_json::from_str(rulebox_cli::demo::MANIFESTS)?;
    manifests
        .into_iter()
        .find(|m| m["name"] == rule)
        .map(|m| m["config"].clone())
        .ok_or_else(|| anyhow::anyhow!("the demo brand deploys no {rule}"))
}

/// Measures `rule` on its fixture cases, each with its own configuration, or with `config`
/// in place of every case's. Sandboxed, each call is a fresh instance of the plugin as
/// built; with `config`, also of the snapshot its `init` left for that configuration (what
/// production runs: one deployment, one configuration).
fn measure<R: Rule>(
    sandbox: &Sandbox,
    rule: &str,
    config: Option<&serde_json::Value>,
    opts: Opts,
) -> anyhow::Result<Vec<Row>> {
    let wasm = crate::plugin_wasm(rule);
    let refused = |e| anyhow::anyhow!("{rule}: {e}");
    let mut variants = vec![(
        "sandboxed fresh instance, no snapshot",
        sandbox.load(&wasm, Limits::default()).map_err(refused)?,
    )];
    if let Some(config) = config {
        let plugin = sandbox
            .load_configured(&wasm, Limits::default(), &config.to_string())
            .map_err(refused)?;
        anyhow::ensure!(
            plugin.init == InitOutcome::Snapshot,
            "{rule}: no snapshot: {:?}",
            plugin.init
        );
        variants.push((
            "sandboxed fresh instance of init's snapshot = production",
            plugin,
        ));
    }
    let mut cases = Vec::new();
    for mut case in fixtures(rule)? {
        if let Some(config) = config {
            case.config = config.clone();
        }
        if let Some(p) = prepare(&variants[0].1, &case)? {
            cases.push(p);
        }
    }
    // Same output on every path, or the comparison is void.
    let mut mismatches = 0;
    for p in &cases {
        let native = native::<R>(p);
        for (_, plugin) in &variants {
            if sandboxed(sandbox, plugin, p).1 != native {
                mismatches += 1;
            }
        }
    }
    let rounds = opts.pick(2000, 20);
    let mut nat = Vec::new();
    let mut sbx = vec![(Vec::new(), Vec::new()); variants.len()];
    // Warm-up, then every path interleaved call by call, so all see the same machine.
    for round in 0..opts.pick(50, 2) + rounds {
        let warm_up = round < opts.pick(50, 2);
        for p in &cases {
            let d = elapsed(|| run_native::<R>(p));
            if !warm_up {
                nat.push(d);
            }
            for ((_, plugin), (times, fuel)) in variants.iter().zip(&mut sbx) {
                let (d, _, f) = sandboxed(sandbox, plugin, p);
                if !warm_up {
                    times.push(d);
                    fuel.push(f);
                }
            }
        }
    }
    let (n50, n99) = percentiles(&mut nat);
    let case = match config {
        None => format!("{rule} ({} cases)", cases.len()),
        Some(_) => format!("{rule} ({} cases, demo brand's configuration)", cases.len()),
    };
    let mut rows = vec![Row {
        experiment: "call",
        case: case.clone(),
        variant: "native (FakeHost)".into(),
        samples: nat.len(),
        median_us: Some(n50),
        p99_us: Some(n99),
        per_s: Some(1e6 / n50),
        ratio: Some(1.0),
        note: format!("outputs differing from a sandboxed path: {mismatches}"),
    }];
    for ((variant, _), (mut times, mut fuel)) in variants.into_iter().zip(sbx) {
        fuel.sort_unstable();
        let (s50, s99) = percentiles(&mut times);
        rows.push(Row {
            experiment: "call",
            case: case.clone(),
            variant: variant.into(),
            samples: times.len(),
            median_us: Some(s50),
            p99_us: Some(s99),
            per_s: Some(1e6 / s50),
            ratio: Some(s50 / n50),
            note: format!(
                "ratio = median / native median; fuel median {}",
                fuel.get(fuel.len() / 2).copied().unwrap_or(0)
            ),
        });
    }
    Ok(rows)
}

/// How one example rule is measured: its crate name and [`measure`] for its `Rule` type.
type Measure = (
    &'static str,
    fn(&Sandbox, &str, Option<&serde_json::Value>, Opts) -> anyhow::Result<Vec<Row>>,
);

/// Runs experiment 1 for the four example rules: on their fixtures, then with the demo
/// brand's configuration.
pub fn run(opts: Opts) -> anyhow::Result<Vec<Row>> {
    let sandbox = Sandbox::new(SandboxConfig::default())?;
    let [points, tiers, coupons, nearby] = RULES;
    let rules: [Measure; 4] = [
        (points, measure::<points_accrual::PointsAccrual>),
        (tiers, measure::<tier_upgrade::TierUpgrade>),
        (coupons, measure::<coupon_eligibility::CouponEligibility>),
        (nearby, measure::<recommend_nearby::RecommendNearby>),
    ];
    let mut rows = Vec::new();
    for demo in [false, true] {
        for (rule, measure) in rules {
            let config = demo.then(|| demo_config(rule)).transpose()?;
            rows.extend(measure(&sandbox, rule, config.as_ref(), opts)?);
        }
    }
    Ok(rows)
}
