//! One plugin call, native (the SDK's native path) vs sandboxed (a fresh instance per call,
//! which is also what production does), on the inputs of each example rule's fixture
//! cases. One iteration calls every case of the rule once. The full suite, with the
//! pipeline, HTTP and scale experiments, is `cargo run --release -p rulebox-tests --bin
//! rulebox-bench`.
//!
//! ```sh
//! cargo bench -p rulebox-tests --bench plugin_call
//! ```

use criterion::{Criterion, criterion_group, criterion_main};
use rulebox_sandbox::{Limits, Sandbox, SandboxConfig};
use rulebox_sdk::Rule;
use rulebox_tests::bench::calls::{fixtures, prepare, run_native, run_sandboxed};

fn rule<R: Rule>(c: &mut Criterion, sandbox: &Sandbox, name: &str) {
    let plugin = sandbox
        .load(&rulebox_tests::plugin_wasm(name), Limits::default())
        .expect("the example plugin loads");
    let cases: Vec<_> = fixtures(name)
        .expect("fixtures load")
        .iter()
        .filter_map(|case| prepare(&plugin, case).expect("case prepares"))
        .collect();
    let mut group = c.benchmark_group(name);
    group.bench_function("native", |b| {
        b.iter(|| cases.iter().for_each(run_native::<R>))
    });
    group.bench_function("sandboxed", |b| {
        b.iter(|| {
            cases
                .iter()
                .for_each(|p| run_sandboxed(sandbox, &plugin, p))
        })
    });
    group.finish();
}

fn plugin_call(c: &mut Criterion) {
    let sandbox = Sandbox::new(SandboxConfig::default()).expect("sandbox starts");
    rule::<points_accrual::PointsAccrual>(c, &sandbox, "points-accrual");
    rule::<tier_upgrade::TierUpgrade>(c, &sandbox, "tier-upgrade");
    rule::<coupon_eligibility::CouponEligibility>(c, &sandbox, "coupon-eligibility");
    rule::<recommend_nearby::RecommendNearby>(c, &sandbox, "recommend-nearby");
}

criterion_group!(benches, plugin_call);
criterion_main!(benches);
