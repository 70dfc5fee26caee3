//! A plugin's `init` runs once per (plugin, configuration) and every call starts from the
//! snapshot it leaves: same answers as without it, less work per call, still a fresh
//! instance per call, and a plugin whose `init` misbehaves still runs, without the snapshot.

use rulebox_cli::fixtures::run_case;
use rulebox_sandbox::{FailureCause, InitOutcome, Limits, Plugin, Sandbox, SandboxConfig};
use rulebox_tests::bench::calls::{demo_config, fixtures};
use rulebox_tests::{call_purchase, plugin_wasm, sandbox};
use serde_json::{Value, json};

fn hostile(sandbox: &Sandbox, config: &Value) -> Plugin {
    sandbox
        .load_configured(
            &plugin_wasm("hostile"),
            Limits::default(),
            &config.to_string(),
        )
        .unwrap()
}

/// The points of the single award a call returned.
fn awarded(sandbox: &Sandbox, plugin: &Plugin, config: &Value) -> i64 {
    let report = call_purchase(sandbox, plugin, config.clone()).unwrap();
    assert_eq!(report.output.len(), 1, "{:?}", report.output);
    report.output[0].points_delta()
}

#[test]
fn every_example_rule_answers_from_its_snapshot_as_without_it_for_less_fuel() {
    let sandbox = sandbox();
    for rule in [
        "points-accrual",
        "tier-upgrade",
        "coupon-eligibility",
        "recommend-nearby",
    ] {
        let config = demo_config(rule).unwrap();
        let wasm = plugin_wasm(rule);
        let plain = sandbox.load(&wasm, Limits::default()).unwrap();
        let prepared = sandbox
            .load_configured(&wasm, Limits::default(), &config.to_string())
            .unwrap();
        assert_eq!(plain.init, InitOutcome::NotRun, "{rule}");
        assert_eq!(prepared.init, InitOutcome::Snapshot, "{rule}");

        let (mut plain_fuel, mut prepared_fuel) = (0, 0);
        for mut case in fixtures(rule).unwrap() {
            case.config = config.clone();
            let a = run_case(&sandbox, &plain, &case).unwrap();
            let b = run_case(&sandbox, &prepared, &case).unwrap();
            // Passing or failing against the fixture's own expectation (written for its own
            // configuration), both paths must agree, and so must what they returned.
            assert_eq!(
                (a.passed, &a.diff),
                (b.passed, &b.diff),
                "{rule}: {}",
                case.name
            );
            plain_fuel += a.fuel_used;
            prepared_fuel += b.fuel_used;
        }
        assert!(
            prepared_fuel * 10 < plain_fuel * 9,
            "{rule}: {prepared_fuel} fuel from the snapshot, {plain_fuel} without"
        );
    }
}

#[test]
fn every_call_starts_from_the_snapshot_not_from_the_call_before() {
    let sandbox = sandbox();
    let config = json!({ "mode": "count", "init": "count-from" });
    let plugin = hostile(&sandbox, &config);
    assert_eq!(plugin.init, InitOutcome::Snapshot);
    // init set the counter to 41; each call raises it once, in its own fresh instance.
    for _ in 0..3 {
        assert_eq!(awarded(&sandbox, &plugin, &config), 42);
    }
    // Without the snapshot the counter starts from the plugin's own initial state.
    let plain = sandbox
        .load(&plugin_wasm("hostile"), Limits::default())
        .unwrap();
    assert_eq!(awarded(&sandbox, &plain, &config), 1);
}

#[test]
fn a_plugin_prepared_for_one_configuration_refuses_another() {
    let sandbox = sandbox();
    let plugin = hostile(&sandbox, &json!({ "mode": "count", "init": "count-from" }));
    assert_eq!(plugin.init, InitOutcome::Snapshot);
    let failure = call_purchase(&sandbox, &plugin, json!({ "mode": "count" })).unwrap_err();
    assert!(
        matches!(&failure.cause, FailureCause::Instantiation { message }
            if message.contains("prepared for its deployed configuration")),
        "{:?}",
        failure.cause
    );
}

#[test]
fn an_init_that_breaks_its_rules_is_declined_and_the_plugin_still_serves() {
    let sandbox = sandbox();
    for (init, reason) in [
        (
            "member",
            "init called host function member, but may call only config",
        ),
        ("print", "init used WASI"),
        ("loop", "init stopped"),
        (
            "fail",
            "init failed: invalid configuration: hostile init refuses",
        ),
    ] {
        let config = json!({ "mode": "ok", "init": init });
        let plugin = hostile(&sandbox, &config);
        match &plugin.init {
            InitOutcome::Declined(why) => assert!(why.contains(reason), "{init}: {why}"),
            other => panic!("{init}: init was not declined: {other:?}"),
        }
        assert_eq!(awarded(&sandbox, &plugin, &config), 1, "{init}");
    }
}

#[test]
fn an_invalid_configuration_is_still_reported_by_every_call() {
    let sandbox = sandbox();
    let config = json!({ "rate": "ten" });
    let plugin = sandbox
        .load_configured(
            &plugin_wasm("points-accrual"),
            Limits::default(),
            &config.to_string(),
        )
        .unwrap();
    assert!(
        matches!(&plugin.init, InitOutcome::Declined(why) if why.contains("invalid configuration")),
        "{:?}",
        plugin.init
    );
    let failure = call_purchase(&sandbox, &plugin, config).unwrap_err();
    assert!(
        matches!(&failure.cause, FailureCause::Rule(e) if e.message.contains("does not match")),
        "{:?}",
        failure.cause
    );
}

#[test]
fn snapshots_are_kept_in_the_compiled_plugin_cache_per_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Sandbox::new(SandboxConfig {
            cache_dir: Some(dir.path().to_owned()),
            ..SandboxConfig::default()
        })
        .unwrap()
    };
    let artefacts = || std::fs::read_dir(dir.path()).unwrap().count();
    let wasm = plugin_wasm("hostile");
    let load = |sandbox: &Sandbox, config: &Value| {
        let plugin = sandbox
            .load_configured(&wasm, Limits::default(), &config.to_string())
            .unwrap();
        assert_eq!(plugin.init, InitOutcome::Snapshot);
        awarded(sandbox, &plugin, config)
    };
    let a = json!({ "mode": "count", "init": "count-from" });
    let b = json!({ "mode": "ok", "init": "count-from" });

    let first = open();
    assert_eq!(load(&first, &a), 42);
    assert_eq!(
        first.compiles(),
        2,
        "instrumented to run init, then the snapshot"
    );
    assert_eq!(
        artefacts(),
        2,
        "both cached; the plugin as built is never compiled"
    );
    // A restart finds the snapshot, and answers the same.
    let restarted = open();
    assert_eq!(load(&restarted, &a), 42);
    assert_eq!(restarted.compiles(), 0);
    // Another configuration is another snapshot; the instrumented plugin is the same for
    // every configuration, so it comes from the cache: one compile, not two.
    let again = open();
    assert_eq!(load(&again, &b), 1);
    assert_eq!(again.compiles(), 1);
    assert_eq!(artefacts(), 3);
}

#[test]
fn plugins_loaded_from_the_same_artefact_share_one_compiled_copy() {
    let sandbox = sandbox();
    let counted = json!({ "mode": "count", "init": "count-from" });
    let uncounted = json!({ "mode": "count" });

    // Two brands deploying the same plugin with the same configuration.
    let first = hostile(&sandbox, &counted);
    let second = hostile(&sandbox, &counted);
    assert_eq!(sandbox.resident_components(), 1);
    // Another configuration is another snapshot, with its own compiled copy.
    let other = hostile(&sandbox, &uncounted);
    assert_eq!(sandbox.resident_components(), 2);

    // Each answers from its own snapshot.
    assert_eq!(awarded(&sandbox, &first, &counted), 42);
    assert_eq!(awarded(&sandbox, &second, &counted), 42);
    assert_eq!(awarded(&sandbox, &other, &uncounted), 1);

    // A copy is released with the last plugin using it.
    drop(first);
    assert_eq!(sandbox.resident_components(), 2);
    drop(second);
    assert_eq!(sandbox.resident_components(), 1);
    drop(other);
    assert_eq!(sandbox.resident_components(), 0);
}

#[test]
fn init_is_read_off_the_export_section() {
    let plugin = plugin_wasm("points_accrual");
    assert!(
        rulebox_sandbox::exports_init(&plugin),
        "an SDK plugin exports init"
    );
    // The smallest component: a header and no exports.
    assert!(!rulebox_sandbox::exports_init(b"\0asm\x0d\x00\x01\x00"));
}
