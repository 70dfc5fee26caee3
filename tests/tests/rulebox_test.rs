//! `rulebox test`: fixture cases run against the compiled plugin in the real sandbox.

use rulebox_cli::fixtures::run_case;
use rulebox_sandbox::Limits;
use rulebox_sdk::testing::Fixture;
use rulebox_tests::{plugin_wasm, sandbox};

fn cases(path: &str) -> Vec<Fixture> {
    Fixture::load(format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn example_fixtures_pass_against_the_component() {
    let sandbox = sandbox();
    let plugin = sandbox
        .load(&plugin_wasm("welcome-bonus"), Limits::default())
        .unwrap();
    let cases = cases("plugins/welcome-bonus/fixtures/cases.json");
    assert_eq!(cases.len(), 3);
    for case in &cases {
        let result = run_case(&sandbox, &plugin, case).unwrap();
        assert!(
            result.passed,
            "{}: {}",
            case.name,
            result.diff.unwrap_or_default()
        );
    }
}

#[test]
fn a_wrong_expectation_fails_with_a_readable_diff() {
    let sandbox = sandbox();
    let plugin = sandbox
        .load(&plugin_wasm("welcome-bonus"), Limits::default())
        .unwrap();
    let case = &cases("tests/fixtures/wrong-expectation.json")[0];
    let result = run_case(&sandbox, &plugin, case).unwrap();
    assert!(!result.passed);
    let diff = result.diff.unwrap();
    assert!(diff.contains("-        \"amount\": 101,"), "{diff}");
    assert!(diff.contains("+        \"amount\": 100,"), "{diff}");
}

#[test]
fn fuel_is_reported_and_reproducible() {
    let sandbox = sandbox();
    let plugin = sandbox
        .load(&plugin_wasm("welcome-bonus"), Limits::default())
        .unwrap();
    let case = &cases("plugins/welcome-bonus/fixtures/cases.json")[0];
    let first = run_case(&sandbox, &plugin, case).unwrap();
    let second = run_case(&sandbox, &plugin, case).unwrap();
    assert!(first.fuel_used > 0);
    assert_eq!(first.fuel_used, second.fuel_used);
    assert!(first.peak_memory > 0);
}
