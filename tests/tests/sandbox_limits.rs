//! Hostile plugins are stopped with the right typed error, and the sandbox keeps serving.

use rulebox_sandbox::{FailureCause, Limits, Plugin, Sandbox};
use rulebox_tests::{call_purchase, plugin_wasm, sandbox};
use serde_json::json;

fn hostile(sandbox: &Sandbox, limits: Limits) -> Plugin {
    sandbox.load(&plugin_wasm("hostile"), limits).unwrap()
}

fn cause(sandbox: &Sandbox, plugin: &Plugin, mode: &str) -> FailureCause {
    let failure = call_purchase(sandbox, plugin, json!({ "mode": mode })).expect_err(mode);
    assert_eq!(failure.plugin, "hostile");
    assert_eq!(failure.version, "0.1.0");
    assert_eq!(failure.subject, "event e-1");
    failure.cause
}

/// After every failure the same plugin still works.
fn still_serves(sandbox: &Sandbox, plugin: &Plugin) {
    let report = call_purchase(sandbox, plugin, json!({ "mode": "ok" })).unwrap();
    assert_eq!(report.output.len(), 1);
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let sandbox = sandbox();
    let plugin = hostile(&sandbox, Limits::default());
    assert_eq!(
        cause(&sandbox, &plugin, "loop"),
        FailureCause::FuelExhausted {
            budget: Limits::default().fuel
        }
    );
    still_serves(&sandbox, &plugin);
}

#[test]
fn work_within_fuel_but_past_the_deadline_is_interrupted() {
    let sandbox = sandbox();
    let limits = Limits {
        fuel: Limits::ceiling().fuel,
        deadline_ms: 20,
        ..Limits::default()
    };
    let plugin = hostile(&sandbox, limits);
    assert_eq!(
        cause(&sandbox, &plugin, "loop"),
        FailureCause::Deadline { deadline_ms: 20 }
    );
    still_serves(&sandbox, &plugin);
}

#[test]
fn unbounded_memory_growth_hits_the_memory_cap() {
    let sandbox = sandbox();
    let plugin = hostile(&sandbox, Limits::default());
    let limit_bytes = Limits::default().memory_bytes;
    assert_eq!(
        cause(&sandbox, &plugin, "grow"),
        FailureCause::MemoryLimit { limit_bytes }
    );
    assert_eq!(
        cause(&sandbox, &plugin, "huge-alloc"),
        FailureCause::MemoryLimit { limit_bytes }
    );
    still_serves(&sandbox, &plugin);
}

#[test]
fn unbounded_recursion_overflows_the_stack() {
    let sandbox = sandbox();
    let plugin = hostile(&sandbox, Limits::default());
    assert_eq!(
        cause(&sandbox, &plugin, "recurse"),
        FailureCause::StackOverflow
    );
    still_serves(&sandbox, &plugin);
}

#[test]
fn enormous_output_is_refused() {
    let sandbox = sandbox();
    let plugin = hostile(
        &sandbox,
        Limits {
            memory_bytes: 256 << 20,
            fuel: 1_000_000_000,
            deadline_ms: 5_000,
            ..Limits::default()
        },
    );
    assert_eq!(
        cause(&sandbox, &plugin, "huge-output"),
        FailureCause::OutputTooLarge {
            actual: 20_000,
            limit: Limits::default().max_effects.into(),
            unit: "effects".into(),
            setting: "max_effects".into(),
        }
    );
    // An 8 MB string is refused before the host even copies it: it is over the most one
    // transfer from the plugin may carry.
    assert_eq!(
        cause(&sandbox, &plugin, "huge-string"),
        FailureCause::TransferTooLarge {
            limit_bytes: rulebox_sandbox::MIN_TRANSFER_BYTES
        }
    );
    still_serves(&sandbox, &plugin);
}

#[test]
fn panics_are_traps_that_carry_the_panic_message() {
    let sandbox = sandbox();
    let plugin = hostile(&sandbox, Limits::default());
    let failure = call_purchase(&sandbox, &plugin, json!({ "mode": "panic" })).unwrap_err();
    assert!(
        matches!(failure.cause, FailureCause::Trap { .. }),
        "{failure}"
    );
    assert!(
        failure.stderr.contains("hostile plugin panics on purpose"),
        "{}",
        failure.stderr
    );
}

#[test]
fn host_call_floods_are_cut_off() {
    let sandbox = sandbox();
    let plugin = hostile(
        &sandbox,
        Limits {
            fuel: Limits::ceiling().fuel,
            deadline_ms: 5_000,
            ..Limits::default()
        },
    );
    assert_eq!(
        cause(&sandbox, &plugin, "host-spam"),
        FailureCause::TooManyHostCalls {
            limit: Limits::default().host_calls
        }
    );
}

#[test]
fn chatty_plugins_are_capped_not_crashed() {
    let sandbox = sandbox();
    let plugin = hostile(
        &sandbox,
        Limits {
            fuel: 1_000_000_000,
            deadline_ms: 5_000,
            ..Limits::default()
        },
    );
    let report = call_purchase(&sandbox, &plugin, json!({ "mode": "stdout" })).unwrap();
    assert!(report.stdout.len() <= Limits::default().stdio_bytes as usize + 64);
    assert!(report.stdout.starts_with("hostile line 0\n"));
    assert!(report.stdout.contains("more bytes dropped"));
}

#[test]
fn rule_errors_and_fuel_are_reported() {
    let sandbox = sandbox();
    let plugin = hostile(&sandbox, Limits::default());
    let failure = call_purchase(&sandbox, &plugin, json!({ "mode": "rule-error" })).unwrap_err();
    assert!(
        matches!(&failure.cause, FailureCause::Rule(e) if e.code == "internal" && e.message.contains("refuses")),
        "{failure}"
    );
    let ok = call_purchase(&sandbox, &plugin, json!({ "mode": "ok" })).unwrap();
    assert!(ok.fuel_used > 0 && ok.fuel_used < Limits::default().fuel);
    // Fuel is deterministic: the same call costs the same.
    assert_eq!(
        ok.fuel_used,
        call_purchase(&sandbox, &plugin, json!({ "mode": "ok" }))
            .unwrap()
            .fuel_used
    );
}
