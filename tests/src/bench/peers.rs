//! Peers on the same rule (issue 6): the points-accrual rule on the inputs of its fixture
//! cases (`plugins/points-accrual/fixtures/cases.json`, as the `call` experiment), run by
//!
//! - **rulebox**, natively (`FakeHost`) and sandboxed with a fresh instance per call
//!   (production), through the `call` experiment's own functions;
//! - **GoRules zen-engine**: the rule as a JDM decision (`tests/peers/zen-points/
//!   points-accrual.json`: expression nodes, a switch and a decision table), loaded and
//!   compiled once, then evaluated per call in process, JSON in and out;
//! - **Extism**: the rule's own sources compiled as an Extism plug-in for
//!   wasm32-unknown-unknown (`tests/peers/extism-points`), called through a reused `Plugin`
//!   (one warm instance for every call: not isolated) and through a fresh `Plugin` per call
//!   (new store and instance, the counterpart of ours), the latter also with our default
//!   limits (fuel, deadline, memory).
//!
//! Every peer gets what our sandbox gets — the event, the member view, the configuration —
//! as JSON, and its answer is turned back into the rule's `Result<Vec<Effect>, RuleError>`
//! inside the timed call, as a host using it would have to. Before timing, every peer's
//! outcome is compared with the native one case by case; a different awarded amount or
//! expiry, or an error where we have none (or the reverse), fails the experiment.
//!
//! Built only with the `peers` feature of this crate (CI never builds zen-engine or
//! Extism). The Extism plug-in is built by this experiment with a nested cargo, or taken
//! from `RULEBOX_EXTISM_POINTS_WASM` when set.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use extism::{CompiledPlugin, Manifest, Plugin, PluginBuilder, Wasm};
use points_accrual::PointsAccrual;
use rulebox_sandbox::{Limits, Sandbox, SandboxConfig};
use rulebox_sdk::testing::Input;
use rulebox_sdk::{Effect, Event, MemberView, RuleError};
use serde_json::Value;
use zen_engine::model::DecisionContent;
use zen_engine::{Decision, DecisionEngine, Variable};

use super::calls::{self, Prepared};
use super::{Opts, Row, elapsed, percentiles};

/// The rule as a GoRules JDM decision.
const ZEN_DECISION: &str = include_str!("../../peers/zen-points/points-accrual.json");

/// What the rule returns, as every peer must give it back.
type Outcome = Result<Vec<Effect>, RuleError>;

/// One fixture case, prepared for every runner.
struct Case {
    /// For our own two paths (the `call` experiment's preparation).
    ours: Prepared,
    event: Event,
    member: MemberView,
    config: Value,
    /// The configuration as the host hands it to a rule: JSON text.
    config_text: String,
    seed: u64,
    /// The native outcome, the reference.
    expected: Outcome,
}

/// What the Extism plug-in reads (`tests/peers/extism-points/src/lib.rs`, `Call`).
#[derive(serde::Serialize)]
struct ExtismCall<'a> {
    member: &'a MemberView,
    config: &'a str,
    seed: u64,
    event: &'a Event,
}

/// What the zen decision reads.
#[derive(serde::Serialize)]
struct ZenCall<'a> {
    event: &'a Event,
    member: &'a MemberView,
    config: &'a Value,
}

/// The zen decision, loaded and compiled once, and a runtime to drive its async API.
struct Zen {
    decision: Decision,
    runtime: tokio::runtime::Runtime,
}

impl Zen {
    fn new() -> anyhow::Result<Zen> {
        let content: DecisionContent = serde_json::from_str(ZEN_DECISION)?;
        let mut decision = DecisionEngine::default()
            .create_decision(Arc::new(content))
            .map_err(|e| anyhow::anyhow!("zen decision: {e:?}"))?;
        decision.compile();
        decision
            .validate()
            .map_err(|e| anyhow::anyhow!("zen decision: {e}"))?;
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        Ok(Zen { decision, runtime })
    }

    /// One evaluation: JSON in, the decision, the outcome back as the rule's types.
    fn call(&self, case: &Case) -> anyhow::Result<Outcome> {
        let input = serde_json::to_value(ZenCall {
            event: &case.event,
            member: &case.member,
            config: &case.config,
        })?;
        let response = self
            .runtime
            .block_on(self.decision.evaluate(Variable::from(input)))
            .map_err(|e| anyhow::anyhow!("zen: {e}"))?;
        let mut result = serde_json::to_value(&response.result)?;
        Ok(serde_json::from_value(result["outcome"].take())?)
    }
}

/// One Extism call: JSON in, `on_event`, the outcome back as the rule's types.
fn extism_call(plugin: &mut Plugin, case: &Case) -> anyhow::Result<Outcome> {
    let input = serde_json::to_vec(&ExtismCall {
        member: &case.member,
        config: &case.config_text,
        seed: case.seed,
        event: &case.event,
    })?;
    let output: &[u8] = plugin.call("on_event", input.as_slice())?;
    Ok(serde_json::from_slice(output)?)
}

/// The Extism plug-in's bytes: `RULEBOX_EXTISM_POINTS_WASM`, or built now (a nested cargo
/// with its own target directory; quick once built).
fn extism_wasm() -> anyhow::Result<Vec<u8>> {
    if let Some(path) = std::env::var_os("RULEBOX_EXTISM_POINTS_WASM") {
        return Ok(std::fs::read(path)?);
    }
    let manifest = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/peers/extism-points/Cargo.toml"
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
        .join("peers");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--release", "--locked", "--target"])
        .args(["wasm32-unknown-unknown", "--manifest-path", manifest])
        .arg("--target-dir")
        .arg(&target);
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
    ] {
        build.env_remove(var);
    }
    let status = build.status()?;
    anyhow::ensure!(
        status.success(),
        "building {manifest} failed (rustup target add wasm32-unknown-unknown?)"
    );
    let path = target.join("wasm32-unknown-unknown/release/extism_points.wasm");
    std::fs::read(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Extism compiled once: without limits, and with our default limits.
fn extism_compile(wasm: &[u8], limited: bool) -> anyhow::Result<CompiledPlugin> {
    let mut manifest = Manifest::new([Wasm::data(wasm.to_vec())]);
    let mut builder = if limited {
        let limits = Limits::default();
        manifest = manifest
            .with_timeout(Duration::from_millis(limits.deadline_ms))
            .with_memory_max(u32::try_from(limits.memory_bytes / 65536)?);
        PluginBuilder::new(manifest).with_fuel_limit(limits.fuel)
    } else {
        PluginBuilder::new(manifest)
    };
    builder = builder.with_wasi(false).with_cache_disabled();
    builder.compile()
}

/// The awards of an outcome, for the equality that must hold: amounts and expiry, in
/// order; `None` for an error.
fn awarded(outcome: &Outcome) -> Option<Vec<(i64, Option<i64>)>> {
    let effects = outcome.as_ref().ok()?;
    Some(
        effects
            .iter()
            .map(|effect| match effect {
                Effect::AwardPoints(a) => (a.amount, a.expires_at),
                other => panic!("points-accrual returned {other:?}"),
            })
            .collect(),
    )
}

/// Checks a peer against the native outcomes: awarded points must agree (else an error);
/// returns how many outcomes are identical in full (reasons, error messages).
fn agree(
    peer: &str,
    cases: &[Case],
    mut call: impl FnMut(&Case) -> anyhow::Result<Outcome>,
) -> anyhow::Result<usize> {
    let mut identical = 0;
    for (i, case) in cases.iter().enumerate() {
        let got = call(case)?;
        anyhow::ensure!(
            awarded(&got) == awarded(&case.expected),
            "{peer}, case {i}: awarded {:?}, rulebox awards {:?}\n  peer: {got:?}\n  ours: {:?}",
            awarded(&got),
            awarded(&case.expected),
            case.expected
        );
        if got == case.expected {
            identical += 1;
        } else {
            let ours = &case.expected;
            eprintln!("peers: {peer}, case {i}: same points, other text: {got:?} / ours {ours:?}");
        }
    }
    Ok(identical)
}

/// Runs the peers experiment.
pub fn run(opts: Opts) -> anyhow::Result<Vec<Row>> {
    let rule = "points-accrual";
    let sandbox = Sandbox::new(SandboxConfig::default())?;
    let plugin = sandbox
        .load(&crate::plugin_wasm(rule), Limits::default())
        .map_err(|e| anyhow::anyhow!("{rule}: {e}"))?;
    let mut cases = Vec::new();
    for fixture in calls::fixtures(rule)? {
        let Some(ours) = calls::prepare(&plugin, &fixture)? else {
            continue;
        };
        let Input::Event(event) = &fixture.input else {
            continue;
        };
        let fake = fixture.host()?;
        let expected = fake.on_event::<PointsAccrual>(event);
        cases.push(Case {
            ours,
            member: fake.member().clone(),
            event: event.clone(),
            config: fixture.config.clone(),
            config_text: fixture.config.to_string(),
            seed: fixture.seed,
            expected,
        });
    }

    let zen = Zen::new()?;
    let wasm = extism_wasm()?;
    let compiled = extism_compile(&wasm, false)?;
    let compiled_limited = extism_compile(&wasm, true)?;
    let mut reused = Plugin::new_from_compiled(&compiled)?;
    let fresh = |compiled: &CompiledPlugin, case: &Case| {
        extism_call(&mut Plugin::new_from_compiled(compiled)?, case)
    };

    // Same answers, or the comparison is void.
    let zen_same = agree("zen-engine", &cases, |c| zen.call(c))?;
    let extism_same = agree("extism (reused)", &cases, |c| extism_call(&mut reused, c))?;
    agree("extism (fresh)", &cases, |c| fresh(&compiled, c))?;
    agree("extism (fresh, limits)", &cases, |c| {
        fresh(&compiled_limited, c)
    })?;
    let n = cases.len();

    const VARIANTS: usize = 6;
    let mut call = |variant: usize, case: &Case| match variant {
        0 => elapsed(|| calls::run_native::<PointsAccrual>(&case.ours)),
        1 => elapsed(|| calls::run_sandboxed(&sandbox, &plugin, &case.ours)),
        2 => elapsed(|| zen.call(case).expect("zen-engine call")),
        3 => elapsed(|| extism_call(&mut reused, case).expect("extism call")),
        4 => elapsed(|| fresh(&compiled, case).expect("extism call")),
        _ => elapsed(|| fresh(&compiled_limited, case).expect("extism call")),
    };
    // Runners take turns in blocks (`passes` times over every case), the order rotating
    // from round to round, so all see the same machine over time without one engine's
    // caches and allocations polluting the next call of another: call-by-call interleaving
    // (as in the `call` experiment) made our calls 4-6× slower here. The first pass of a
    // block warms it up and is not counted; so are the first rounds.
    let (warm_up, rounds, passes) = (opts.pick(5, 1), opts.pick(200, 4), opts.pick(10, 5));
    let mut samples: [Vec<Duration>; VARIANTS] = Default::default();
    for round in 0..warm_up + rounds {
        for turn in 0..VARIANTS {
            let variant = (round + turn) % VARIANTS;
            for pass in 0..=passes {
                for case in &cases {
                    let elapsed = call(variant, case);
                    if round >= warm_up && pass > 0 {
                        samples[variant].push(elapsed);
                    }
                }
            }
        }
    }
    let stats: Vec<(f64, f64)> = samples.iter_mut().map(|s| percentiles(s)).collect();
    let (native, ours) = (stats[0].0, stats[1].0);
    let case = format!("{rule} ({n} cases)");
    let variants = [
        ("rulebox native (FakeHost)", String::new()),
        (
            "rulebox sandboxed fresh instance = production",
            String::new(),
        ),
        (
            "zen-engine 2.1.6: loaded JDM decision, evaluate",
            format!(
                "JSON in/out; same awards in {n}/{n} cases, identical outcome in {zen_same}/{n}"
            ),
        ),
        (
            "Extism 1.30: reused Plugin (warm instance, not isolated)",
            format!(
                "rule's own sources; JSON in/out; identical outcome in {extism_same}/{n} cases"
            ),
        ),
        (
            "Extism 1.30: fresh Plugin per call (isolated, = ours)",
            "Plugin::new_from_compiled per call; no fuel, no deadline".to_owned(),
        ),
        (
            "Extism 1.30: fresh Plugin per call + our limits",
            "fuel 20M, 100 ms timeout, 32 MiB memory (our Limits::default)".to_owned(),
        ),
    ];
    Ok(variants
        .into_iter()
        .zip(&samples)
        .zip(&stats)
        .map(|(((variant, extra), s), &(median, p99))| Row {
            experiment: "peers",
            case: case.clone(),
            variant: variant.to_owned(),
            samples: s.len(),
            median_us: Some(median),
            p99_us: Some(p99),
            per_s: Some(1e6 / median),
            ratio: Some(median / ours),
            note: format!(
                "ratio = median / ours sandboxed median; {:.1} × native median{}{extra}",
                median / native,
                if extra.is_empty() { "" } else { "; " }
            ),
        })
        .collect())
}
