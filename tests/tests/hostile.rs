//! The hostile-plugin suite (issue 7, item 1): real components that misbehave in every way
//! we could think of, run by the real host. For each: the exact typed error, the host still
//! serving right after, nothing of the event committed (a dead letter only under `abort`),
//! and no reach into another brand's data or latency.
//!
//! `sandbox_limits.rs` covers the sandbox alone (one test per limit, including work within
//! the fuel budget but past the deadline, `work_within_fuel_but_past_the_deadline_is_interrupted`);
//! `contract.rs` the import and export contract. This file goes through the pipeline and the
//! registry, with the store's whole content compared before and after.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, LazyLock};
use std::time::{Duration, Instant};

use common::{aborted, flat_manifest, proptest_config};
use proptest::prelude::*;
use rulebox_engine::Rulebox;
use rulebox_engine::pipeline::EventOutcome;
use rulebox_engine::registry::{FailurePolicy, Manifest, RegistryError};
use rulebox_sandbox::{
    FailureCause, Limits, LoadError, MAX_IDS_PER_HOST_CALL, MIN_TRANSFER_BYTES, PluginFailure,
    RuleErrorView, Sandbox, SandboxConfig,
};
use rulebox_store::model::{Brand, MemberProfile, Stock, Store};
use rulebox_store::{Db, KvStore, MemoryKv};
use rulebox_tests::{call_purchase, plugin_wasm, sandbox};
use rulebox_world::{Effect, Event, EventType, GeoPoint, Product, QueryType};
use serde_json::{Value, json};

/// 2026-03-15 09:30 in UTC+8.
const T0: i64 = 1_773_538_200_000;
/// What wasmtime reports for a wasm `unreachable` instruction (how Rust panics end, too).
const UNREACHABLE: &str = "wasm trap: wasm `unreachable` instruction executed";

// ----- a host with brands, members and plugins, whose whole store can be compared ---------

/// A host over an in-memory store the test can read directly.
struct World {
    rb: Arc<Rulebox>,
    kv: Arc<MemoryKv>,
}

impl World {
    fn new() -> World {
        let kv = Arc::new(MemoryKv::new());
        let rb = Rulebox::with_storage(kv.clone(), SandboxConfig::default()).unwrap();
        World {
            rb: Arc::new(rb),
            kv,
        }
    }

    /// Creates `brand` with member `m-1` (100 opening points, tier and tag named after the
    /// brand, so another brand's view of it would show).
    fn brand(&self, brand: &str) {
        self.rb
            .put_brand(&Brand {
                id: brand.into(),
                ..Default::default()
            })
            .unwrap();
        self.rb
            .put_member(
                brand,
                MemberProfile {
                    id: "m-1".into(),
                    tier: Some(format!("{brand}-tier")),
                    tags: vec![format!("{brand}-only")],
                    opening_points: 100,
                    ..Default::default()
                },
            )
            .unwrap();
    }

    /// Installs and activates `manifest` with the component of crate `crate_name`.
    fn deploy(&self, crate_name: &str, manifest: Manifest) {
        let (brand, name, version) = (
            manifest.brand.clone(),
            manifest.name.clone(),
            manifest.version.clone(),
        );
        self.rb
            .registry()
            .install(manifest, &plugin_wasm(crate_name))
            .unwrap();
        self.rb
            .registry()
            .activate(&brand, &name, &version)
            .unwrap();
    }

    /// Every key and value in the store.
    fn dump(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.kv
            .scan(b"", None, usize::MAX)
            .unwrap()
            .into_iter()
            .collect()
    }

    fn points(&self, brand: &str) -> i64 {
        self.rb.member(brand, "m-1").unwrap().points
    }
}

/// The keys whose value differs between two dumps, readable (`\0` as `/`).
fn changed(before: &BTreeMap<Vec<u8>, Vec<u8>>, after: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<String> {
    let keys: std::collections::BTreeSet<&Vec<u8>> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| readable(k))
        .collect()
}

fn readable(key: &[u8]) -> String {
    String::from_utf8_lossy(key).replace('\0', "/")
}

fn hostile_manifest(
    brand: &str,
    config: Value,
    on_failure: FailurePolicy,
    limits: Limits,
) -> Manifest {
    Manifest {
        brand: brand.into(),
        name: "hostile".into(),
        version: "0.1.0".into(),
        events: vec![EventType::Purchase, EventType::SignUp, EventType::CheckIn],
        queries: Vec::new(),
        order: 1,
        on_failure,
        limits,
        config,
    }
}

/// A purchase of ¥28 by `m-1` (flat-points awards 28 points for it).
fn purchase(brand: &str, id: &str, order_id: &str) -> Event {
    serde_json::from_value(json!({
        "id": id, "brand": brand, "member_id": "m-1", "occurred_at": T0,
        "kind": {"Purchase": {
            "order_id": order_id, "store_id": "s-1",
            "lines": [{"product_id": "p-1", "category": "tea", "quantity": 1, "unit_price": 2800}],
            "total": 2800, "paid": 2800, "coupons_used": []
        }}
    }))
    .unwrap()
}

fn check_in(brand: &str, id: &str) -> Event {
    serde_json::from_value(json!({
        "id": id, "brand": brand, "member_id": "m-1", "occurred_at": T0,
        "kind": {"CheckIn": {"location": null, "store_id": null}}
    }))
    .unwrap()
}

// ----- every misbehaviour, through the pipeline ---------------------------------------------

/// A mode of the hostile plugin, the exact cause it must fail with, and what its stderr
/// must be (`None`: not checked; `Some("")`: empty).
struct Case {
    mode: &'static str,
    cause: FailureCause,
    stderr: Option<&'static str>,
}

/// The limits of the hostile plugin in the table below: the defaults, but fuel enough to
/// build 20,000 effects and a deadline far beyond what that fuel lasts, so that every run
/// meets the same limit first.
fn table_limits() -> Limits {
    Limits {
        fuel: 200_000_000,
        deadline_ms: 5_000,
        ..Limits::default()
    }
}

fn cases() -> Vec<Case> {
    let d = table_limits();
    let case = |mode, cause| Case {
        mode,
        cause,
        stderr: None,
    };
    let trap = |message: &str| FailureCause::Trap {
        message: message.into(),
    };
    let transfer = FailureCause::TransferTooLarge {
        limit_bytes: MIN_TRANSFER_BYTES,
    };
    vec![
        case("loop", FailureCause::FuelExhausted { budget: d.fuel }),
        case(
            "exponential",
            FailureCause::FuelExhausted { budget: d.fuel },
        ),
        case(
            "grow",
            FailureCause::MemoryLimit {
                limit_bytes: d.memory_bytes,
            },
        ),
        case(
            "huge-alloc",
            FailureCause::MemoryLimit {
                limit_bytes: d.memory_bytes,
            },
        ),
        case("recurse", FailureCause::StackOverflow),
        case(
            "huge-output",
            FailureCause::OutputTooLarge {
                actual: 20_000,
                limit: d.max_effects.into(),
                unit: "effects".into(),
                setting: "max_effects".into(),
            },
        ),
        case("huge-string", transfer.clone()),
        Case {
            mode: "panic",
            cause: trap(UNREACHABLE),
            stderr: Some("hostile plugin panics on purpose"),
        },
        // A bare wasm trap: the same trap as the end of a panic, but nothing printed.
        Case {
            mode: "unreachable",
            cause: trap(UNREACHABLE),
            stderr: Some(""),
        },
        Case {
            mode: "abort",
            cause: trap(UNREACHABLE),
            stderr: Some(""),
        },
        case(
            "exit",
            trap("called exit(0); a rule returns its effects or a rule error, it does not exit"),
        ),
        case(
            "host-spam",
            FailureCause::TooManyHostCalls {
                limit: d.host_calls,
            },
        ),
        // The argument of a host call is computed forever (an ever longer store id).
        case(
            "arg-grow",
            FailureCause::MemoryLimit {
                limit_bytes: d.memory_bytes,
            },
        ),
        // A 10 MB store id, in a loop.
        case("huge-arg", transfer.clone()),
        // 200,000 product ids per call, in a loop.
        case("id-flood", transfer.clone()),
        // 400,000 empty ids: small for the plugin, large for the host to copy.
        case("empty-ids", transfer),
        // 2,000 short ids: few bytes, but 2,000 reads.
        case(
            "many-ids",
            FailureCause::HostCallTooLarge {
                function: "products".into(),
                actual: 2_000,
                limit: MAX_IDS_PER_HOST_CALL as u64,
            },
        ),
        case(
            "bad-effect",
            FailureCause::InvalidEffect {
                message: "award of -50 points: amounts must be between 1 and 1000000000000".into(),
            },
        ),
        case(
            "rule-error",
            FailureCause::Rule(RuleErrorView {
                code: "internal".into(),
                message: "hostile plugin refuses".into(),
            }),
        ),
    ]
}

/// One installed hostile version reads its mode from the purchase's order id
/// (`<mode>:<n>`), after flat-points in the chain. Under `abort` each failing event leaves
/// exactly one new key, its dead letter, and flat-points' award (computed before the
/// failure) is not committed; under `skip` the event commits without the hostile plugin's
/// effects and with the failure in its outcome. Right after each failure a well-behaved
/// event is served.
#[test]
fn every_misbehaviour_fails_with_its_exact_error_commits_nothing_and_the_host_keeps_serving() {
    let w = World::new();
    for (brand, policy) in [
        ("tea", FailurePolicy::Abort),
        ("tea-skip", FailurePolicy::Skip),
    ] {
        w.brand(brand);
        w.deploy("flat-points-v1", flat_manifest(brand, "1.0.0"));
        w.deploy(
            "hostile",
            hostile_manifest(
                brand,
                // fib(40) needs billions of instructions: past any fuel budget.
                json!({ "mode": "from-event", "n": 40 }),
                policy,
                table_limits(),
            ),
        );
    }

    for case in cases() {
        let mode = case.mode;
        let event_id = format!("e-{mode}");
        let check = |failure: &PluginFailure| {
            assert_eq!(
                (
                    failure.plugin.as_str(),
                    failure.version.as_str(),
                    failure.subject.as_str()
                ),
                ("hostile", "0.1.0", format!("event {event_id}").as_str()),
                "{mode}"
            );
            assert_eq!(failure.cause, case.cause, "{mode}: {failure}");
            match case.stderr {
                Some("") => assert_eq!(failure.stderr, "", "{mode}"),
                Some(text) => assert!(failure.stderr.contains(text), "{mode}: {}", failure.stderr),
                None => {}
            }
        };

        // abort: nothing but the dead letter.
        let (before, points) = (w.dump(), w.points("tea"));
        let started = Instant::now();
        let failure = aborted(
            w.rb.ingest(purchase("tea", &event_id, &format!("{mode}:1"))),
            &event_id,
        );
        let took = started.elapsed();
        check(&failure);
        assert!(
            took < Duration::from_secs(3),
            "{mode}: the host spent {took:?} on one call"
        );
        assert_eq!(
            changed(&before, &w.dump()),
            [readable(&Db::dead_letter_key("tea", &event_id))],
            "{mode}: an aborted event writes its dead letter and nothing else"
        );
        let letter =
            w.rb.dead_letters("tea")
                .unwrap()
                .into_iter()
                .find(|d| d.event.id == event_id)
                .unwrap();
        assert_eq!((letter.failure, letter.attempts), (failure, 1), "{mode}");
        assert_eq!(w.points("tea"), points, "{mode}");
        // The same host serves a well-behaved event right after: 28 + 1 points.
        let ok =
            w.rb.ingest(purchase(
                "tea",
                &format!("ok-{mode}"),
                &format!("ok:{mode}"),
            ))
            .unwrap();
        assert!(ok.failures.is_empty(), "{mode}: {:?}", ok.failures);
        assert_eq!(w.points("tea"), points + 29, "{mode}");

        // skip: the event commits without the hostile plugin, and no dead letter.
        let (before, points) = (w.dump(), w.points("tea-skip"));
        let outcome =
            w.rb.ingest(purchase("tea-skip", &event_id, &format!("{mode}:1")))
                .unwrap();
        assert_eq!(outcome.failures.len(), 1, "{mode}");
        check(&outcome.failures[0]);
        assert_eq!(
            outcome
                .effects
                .iter()
                .map(|e| (e.plugin.as_str(), e.effect.clone()))
                .collect::<Vec<_>>(),
            [("flat-points", award(28, "v1.0.0"))],
            "{mode}: only flat-points' effects apply"
        );
        assert_eq!(w.points("tea-skip"), points + 28, "{mode}");
        let changed = changed(&before, &w.dump());
        assert!(
            changed.contains(&readable(&Db::event_key("tea-skip", &event_id)))
                && !changed.iter().any(|k| k.contains("/dead/")),
            "{mode}: {changed:?}"
        );
    }
    assert!(w.rb.dead_letters("tea-skip").unwrap().is_empty());
}

fn award(amount: i64, reason: &str) -> Effect {
    serde_json::from_value(
        json!({ "AwardPoints": { "amount": amount, "reason": reason, "expires_at": null } }),
    )
    .unwrap()
}

/// Exponential work (naive Fibonacci) that fits in the fuel budget but not in the
/// deadline: with time it finishes, within its deadline it is interrupted — at the deadline,
/// not at the end of its budget — and nothing is committed. (The same for a plain loop in
/// `sandbox_limits.rs`.)
#[test]
fn exponential_work_within_the_fuel_budget_is_stopped_at_the_deadline() {
    let sandbox = sandbox();
    let generous = Limits {
        fuel: Limits::ceiling().fuel,
        deadline_ms: 5_000,
        ..Limits::default()
    };
    let plugin = sandbox.load(&plugin_wasm("hostile"), generous).unwrap();
    let done = call_purchase(&sandbox, &plugin, json!({ "mode": "exponential", "n": 36 })).unwrap();
    assert!(
        done.fuel_used > 5 * Limits::default().fuel && done.fuel_used < Limits::ceiling().fuel,
        "fib(36) is heavy but within the budget: {} fuel",
        done.fuel_used
    );
    eprintln!(
        "fib(36): {} fuel, {} ms unbounded",
        done.fuel_used,
        done.elapsed_us / 1000
    );

    let w = World::new();
    w.brand("slow");
    w.deploy("flat-points-v1", flat_manifest("slow", "1.0.0"));
    let tight = Limits {
        deadline_ms: 20,
        ..generous
    };
    w.deploy(
        "hostile",
        hostile_manifest(
            "slow",
            json!({ "mode": "from-event", "n": 36 }),
            FailurePolicy::Abort,
            tight,
        ),
    );
    for mode in ["exponential", "loop"] {
        let before = w.dump();
        let started = Instant::now();
        let failure = aborted(
            w.rb.ingest(purchase("slow", &format!("e-{mode}"), &format!("{mode}:1"))),
            &format!("e-{mode}"),
        );
        let took = started.elapsed();
        assert_eq!(
            failure.cause,
            FailureCause::Deadline { deadline_ms: 20 },
            "{mode}"
        );
        assert!(
            took < Duration::from_millis(done.elapsed_us / 1000).max(Duration::from_millis(500)),
            "{mode}: interrupted after {took:?}"
        );
        assert_eq!(
            changed(&before, &w.dump()),
            [readable(&Db::dead_letter_key("slow", &format!("e-{mode}")))]
        );
    }
    let ok = w.rb.ingest(purchase("slow", "e-ok", "ok:1")).unwrap();
    assert_eq!(ok.effects.len(), 2);
}

// ----- another brand's data -----------------------------------------------------------------

fn store(id: &str, lat: f64, lon: f64) -> Store {
    Store {
        id: id.into(),
        name: id.into(),
        city: "somewhere".into(),
        location: GeoPoint { lat, lon },
        opens_at_minute: 0,
        closes_at_minute: 24 * 60 - 1,
    }
}

fn product(id: &str) -> Product {
    serde_json::from_value(json!({
        "id": id, "name": id, "category": "drinks", "price": 100, "sales_rank": 1, "day_parts": []
    }))
    .unwrap()
}

/// Two brands in one host, with distinct data under colliding ids (both have member `m-1`
/// and store `s-1`). The plugin of brand A asks the host imports about B's member id, B's
/// stores' location, B's store ids and B's product ids: it sees only A's data, and B's data
/// is untouched.
#[test]
fn a_plugin_cannot_read_another_brands_members_stores_stock_or_products() {
    let w = World::new();
    w.brand("tea");
    w.brand("coffee");
    // Tea: Shanghai. Coffee: Shenzhen, 1,200 km away, and a store s-1 of its own.
    w.rb.put_stores("tea", &[store("s-1", 31.2335, 121.4747)])
        .unwrap();
    w.rb.put_products("tea", &[product("p-tea")]).unwrap();
    w.rb.put_stock(
        "tea",
        &[Stock {
            store_id: "s-1".into(),
            product_id: "p-tea".into(),
            quantity: 5,
        }],
    )
    .unwrap();
    w.rb.put_stores(
        "coffee",
        &[
            store("s-1", 22.5431, 114.0579),
            store("c-sz", 22.5400, 114.0500),
        ],
    )
    .unwrap();
    w.rb.put_products("coffee", &[product("p-coffee"), product("p-bean")])
        .unwrap();
    w.rb.put_stock(
        "coffee",
        &[
            Stock {
                store_id: "s-1".into(),
                product_id: "p-coffee".into(),
                quantity: 77,
            },
            Stock {
                store_id: "c-sz".into(),
                product_id: "p-bean".into(),
                quantity: 9,
            },
        ],
    )
    .unwrap();
    w.rb.put_member(
        "coffee",
        MemberProfile {
            id: "m-1".into(),
            tier: Some("coffee-tier".into()),
            tags: vec!["coffee-only".into(), "coffee-secret".into()],
            attributes: [("secret".to_owned(), "coffee".to_owned())].into(),
            ..Default::default()
        },
    )
    .unwrap();
    let coffee_before: BTreeMap<_, _> = w
        .dump()
        .into_iter()
        .filter(|(k, _)| k.starts_with(b"coffee\0"))
        .collect();

    for (store_asked, expected_stock, expected_asked) in [
        // Coffee's own store id: tea has no such store.
        ("c-sz", json!([]), json!([])),
        // An id both brands use: tea's store, tea's stock.
        (
            "s-1",
            json!([["p-tea", 5]]),
            json!([["p-coffee", 0], ["p-bean", 0]]),
        ),
    ] {
        let config = json!({
            "mode": "spy",
            "near": { "lat": 22.5431, "lon": 114.0579 },
            "store": store_asked,
            "products": ["p-coffee", "p-bean"],
        });
        let brand = format!("tea-{store_asked}");
        copy_brand(&w, "tea", &brand);
        w.deploy(
            "hostile",
            hostile_manifest(&brand, config, FailurePolicy::Abort, Limits::default()),
        );
        let outcome = w.rb.ingest(check_in(&brand, "e-spy")).unwrap();
        let seen = spy_report(&outcome);
        assert_eq!(
            seen,
            json!({
                "member": { "id": "m-1", "points": 100, "tier": format!("{brand}-tier"), "tags": [format!("{brand}-only")], "attributes": [] },
                "stores_near": [],
                "stock": expected_stock,
                "stock_of_asked": expected_asked,
                "products": [],
                "catalog": ["p-tea"],
            }),
            "asking about {store_asked}"
        );
    }
    let coffee_after: BTreeMap<_, _> = w
        .dump()
        .into_iter()
        .filter(|(k, _)| k.starts_with(b"coffee\0"))
        .collect();
    assert_eq!(coffee_before, coffee_after, "nothing of coffee changed");
}

/// Gives `to` the member, stores, products and stock of `from` (each spy configuration is a
/// manifest of its own, so each runs in a brand of its own with the same data).
fn copy_brand(w: &World, from: &str, to: &str) {
    w.brand(to);
    w.rb.put_stores(to, &w.rb.db().stores(from).unwrap())
        .unwrap();
    w.rb.put_products(to, &w.rb.db().products(from).unwrap())
        .unwrap();
    let stock: Vec<Stock> =
        w.rb.db()
            .stores(from)
            .unwrap()
            .iter()
            .flat_map(|s| w.rb.db().stock(from, &s.id).unwrap())
            .collect();
    w.rb.put_stock(to, &stock).unwrap();
}

/// The JSON the spy put in its `spy` attribute.
fn spy_report(outcome: &EventOutcome) -> Value {
    let attribute = outcome
        .effects
        .iter()
        .find_map(|e| match &e.effect {
            Effect::SetAttribute(a) if a.key == "spy" => Some(a.value.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no spy report in {outcome:?}"));
    serde_json::from_str(&attribute).unwrap()
}

/// What a plugin reaches of the machine: the clock reads the event time, and there is no
/// environment, no argument, no file to read or list or write, and an empty stdin. (Rust's
/// std imports wasi:filesystem, so the import is allowed; it opens nothing.)
#[test]
fn the_filesystem_environment_clock_and_stdin_reach_nothing() {
    let sandbox = sandbox();
    let plugin = sandbox
        .load(&plugin_wasm("hostile"), Limits::default())
        .unwrap();
    let imports = sandbox.imports(&plugin_wasm("hostile")).unwrap();
    assert!(
        imports.iter().any(|i| i.starts_with("wasi:filesystem/")),
        "{imports:?}"
    );
    let report = call_purchase(&sandbox, &plugin, json!({ "mode": "ambient" })).unwrap();
    let Effect::SetAttribute(attribute) = &report.output[0] else {
        panic!("{:?}", report.output)
    };
    let seen: Value = serde_json::from_str(&attribute.value).unwrap();
    assert_eq!(seen["now_ms"], T0, "the wall clock reads the event time");
    assert_eq!(seen["env"], json!([]));
    assert_eq!(seen["args"], json!([]));
    for attempt in ["read_passwd", "list_root", "list_cwd", "create_file"] {
        assert!(
            seen[attempt].as_str().unwrap().starts_with("error: "),
            "{attempt}: {}",
            seen[attempt]
        );
    }
    assert_eq!(seen["stdin"], "ok: 0 bytes");
}

// ----- components outside the world, and bytes that are no component -------------------------

/// A component whose only content is one import.
fn importing(name: &str, item: &str) -> Vec<u8> {
    wat::parse_str(format!("(component (import \"{name}\" {item}))")).unwrap()
}

/// Components importing what no plugin may — sockets, HTTP, made-up interfaces, a look-alike
/// of the rulebox interface, a bare function — are refused naming the import, and the
/// registry installs nothing. Interfaces Rust's std needs (filesystem, clocks) pass the
/// import check and fail only for not being a rulebox plugin.
#[test]
fn components_importing_outside_the_world_are_refused_naming_the_import() {
    let w = World::new();
    w.brand("tea");
    let forbidden = [
        ("wasi:sockets/tcp@0.2.0", "(instance)"),
        ("wasi:sockets/udp@0.2.0", "(instance)"),
        ("wasi:sockets/ip-name-lookup@0.2.0", "(instance)"),
        ("wasi:http/outgoing-handler@0.2.0", "(instance)"),
        ("wasi:filesystem/made-up@0.2.0", "(instance)"),
        ("evil:exfil/upload@1.0.0", "(instance)"),
        ("rulebox:plugin/host@0.1.0-evil", "(instance)"),
        ("rulebox:plugin/host@9.9.9", "(instance)"),
        ("wasi:clocks/wall-clock", "(instance)"),
        ("steal-keys", "(func)"),
    ];
    for (name, item) in forbidden {
        let wasm = importing(name, item);
        let err =
            w.rb.sandbox()
                .load(&wasm, Limits::default())
                .err()
                .unwrap_or_else(|| panic!("{name} was accepted"));
        assert!(
            matches!(&err, LoadError::ForbiddenImport(n) if n == name),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(name), "{err}");
        let err =
            w.rb.registry()
                .install(
                    hostile_manifest("tea", json!({}), FailurePolicy::Abort, Limits::default()),
                    &wasm,
                )
                .unwrap_err();
        assert!(
            matches!(&err, RegistryError::InvalidPlugin(LoadError::ForbiddenImport(n)) if n == name),
            "{name}: {err}"
        );
    }
    for name in [
        "wasi:filesystem/preopens@0.2.0",
        "wasi:clocks/wall-clock@0.2.0",
    ] {
        let err =
            w.rb.sandbox()
                .load(&importing(name, "(instance)"), Limits::default())
                .err()
                .unwrap();
        assert!(
            matches!(&err, LoadError::WrongWorld(m) if m.contains("rulebox:plugin/rule")),
            "{name}: {err}"
        );
    }
    assert_nothing_installed(&w, "tea");
}

fn assert_nothing_installed(w: &World, brand: &str) {
    let (versions, activations) = w.rb.registry().list(brand).unwrap();
    assert!(versions.is_empty() && activations.is_empty());
    let registry_keys: Vec<String> = w
        .dump()
        .keys()
        .map(|k| readable(k))
        .filter(|k| {
            k.starts_with(&format!("{brand}/"))
                && (k.contains("/plugin/") || k.contains("/wasm/") || k.contains("/active/"))
        })
        .collect();
    assert!(registry_keys.is_empty(), "{registry_keys:?}");
}

/// A tiny deterministic generator (xorshift64*), so the "random" bytes are the same on
/// every run.
struct Bytes(u64);

impl Bytes {
    fn take(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }
}

/// The first 8 bytes of every component (magic, then version 0x0d and layer 1).
const COMPONENT_HEADER: &[u8] = b"\0asm\x0d\0\x01\0";

/// Core modules, empty files, random bytes of several lengths (with and without a
/// component header) and truncations of a real plugin: each a `NotAComponent` that says
/// what to build instead.
#[test]
fn core_modules_truncations_and_random_bytes_are_clear_load_errors() {
    let sandbox = sandbox();
    let not_a_component = |wasm: &[u8], what: &str| -> String {
        match sandbox.load(wasm, Limits::default()) {
            Err(err @ LoadError::NotAComponent(_)) => {
                assert!(err.to_string().contains("wasm32-wasip2"), "{what}: {err}");
                let LoadError::NotAComponent(detail) = err else {
                    unreachable!()
                };
                detail
            }
            Err(other) => panic!("{what}: {other}"),
            Ok(_) => panic!("{what} was accepted"),
        }
    };
    let core = wat::parse_str("(module (func (export \"on-event\")) (memory 1))").unwrap();
    assert_eq!(
        not_a_component(&core, "a core module"),
        "this is a core wasm module"
    );
    assert_eq!(
        not_a_component(b"\0asm\x01\0\0\0", "an empty core module"),
        "this is a core wasm module"
    );
    assert_eq!(
        not_a_component(b"", "an empty file"),
        "the bytes are not WebAssembly"
    );

    let mut random = Bytes(0x5eed_1234_abcd_0001);
    for len in [1, 7, 8, 9, 64, 4096, 1 << 20] {
        let bytes = random.take(len);
        assert_eq!(
            not_a_component(&bytes, &format!("{len} random bytes")),
            "the bytes are not WebAssembly"
        );
        let mut headed = COMPONENT_HEADER.to_vec();
        headed.extend(&bytes);
        let detail = not_a_component(&headed, &format!("a header and {len} random bytes"));
        assert!(!detail.is_empty());
    }
    let real = plugin_wasm("flat-points-v1");
    for cut in [4, 7, 9, 100, real.len() / 2, real.len() - 1] {
        not_a_component(&real[..cut], &format!("the first {cut} bytes of a plugin"));
    }
    // The header alone is an empty component: a component, but not a rule plugin.
    let err = sandbox.load(&real[..8], Limits::default()).err().unwrap();
    assert!(
        matches!(&err, LoadError::WrongWorld(m) if m == "no exported instance named `rulebox:plugin/rule@0.1.0`"),
        "{err}"
    );
}

/// One sandbox for the property tests below (a sandbox is an engine, a pool and a thread).
static SANDBOX: LazyLock<Sandbox> = LazyLock::new(sandbox);
static FLAT_POINTS: LazyLock<Vec<u8>> = LazyLock::new(|| plugin_wasm("flat-points-v1"));

/// Where proptest keeps the inputs that failed.
const REGRESSIONS: &str = "proptest-regressions/hostile.txt";

proptest! {
    #![proptest_config(proptest_config(256, REGRESSIONS))]

    /// Any bytes, with or without a component header: an error, never a panic.
    #[test]
    fn loading_arbitrary_bytes_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        header in any::<bool>(),
    ) {
        let mut wasm = if header { COMPONENT_HEADER.to_vec() } else { Vec::new() };
        wasm.extend(bytes);
        let result = SANDBOX.load(&wasm, Limits::default());
        prop_assert!(result.is_err(), "random bytes loaded as a plugin");
        prop_assert!(!result.err().unwrap().to_string().is_empty());
    }
}

proptest! {
    #![proptest_config(proptest_config(48, REGRESSIONS))]

    /// A real plugin cut short or with a few bits flipped loads or is refused, and if it
    /// loads, a call returns a result or a typed failure: never a panic of the host.
    #[test]
    fn damaged_plugins_load_or_fail_cleanly(
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..8), 1..4),
        cut in proptest::option::of(any::<proptest::sample::Index>()),
    ) {
        let mut wasm = FLAT_POINTS.clone();
        for (index, bit) in flips {
            let i = index.index(wasm.len());
            wasm[i] ^= 1 << bit;
        }
        if let Some(cut) = cut {
            wasm.truncate(cut.index(wasm.len()));
        }
        match SANDBOX.load(&wasm, Limits::default()) {
            Ok(plugin) => {
                let _ = call_purchase(&SANDBOX, &plugin, json!({}));
            }
            Err(err) => prop_assert!(!err.to_string().is_empty()),
        }
    }
}

// ----- manifests that disagree with the plugin ------------------------------------------

/// Each field a manifest may get wrong is named, with both values; nothing is installed.
#[test]
fn a_manifest_that_disagrees_with_the_plugin_names_the_field_and_installs_nothing() {
    let w = World::new();
    w.brand("tea");
    let right = hostile_manifest("tea", json!({}), FailurePolicy::Abort, Limits::default());
    let plugin_events = right.events.clone();
    let wrong_events = vec![EventType::Purchase];
    let wrong_queries = vec![QueryType::Recommendation];
    let cases = [
        (
            Manifest {
                name: "spy".into(),
                ..right.clone()
            },
            r#"name is "hostile" in the plugin but "spy" in the manifest"#.to_owned(),
        ),
        (
            Manifest {
                version: "0.2.0".into(),
                ..right.clone()
            },
            r#"version is "0.1.0" in the plugin but "0.2.0" in the manifest"#.to_owned(),
        ),
        (
            Manifest {
                events: wrong_events.clone(),
                ..right.clone()
            },
            format!(
                "events are {plugin_events:?} in the plugin but {wrong_events:?} in the manifest"
            ),
        ),
        (
            Manifest {
                queries: wrong_queries.clone(),
                ..right.clone()
            },
            format!("queries are [] in the plugin but {wrong_queries:?} in the manifest"),
        ),
    ];
    let mut all = Vec::new();
    for (manifest, expected) in cases {
        let err =
            w.rb.registry()
                .install(manifest, &plugin_wasm("hostile"))
                .unwrap_err();
        assert!(
            matches!(&err, RegistryError::ManifestMismatch(m) if *m == expected),
            "{err}"
        );
        assert!(err.to_string().contains("Make the manifest match"), "{err}");
        all.push(expected);
    }
    let everything_wrong = Manifest {
        name: "spy".into(),
        version: "0.2.0".into(),
        events: wrong_events,
        queries: wrong_queries,
        ..right.clone()
    };
    let err =
        w.rb.registry()
            .install(everything_wrong, &plugin_wasm("hostile"))
            .unwrap_err();
    assert!(
        matches!(&err, RegistryError::ManifestMismatch(m) if *m == all.join("; ")),
        "{err}"
    );
    assert_nothing_installed(&w, "tea");
    // The right manifest installs.
    w.rb.registry()
        .install(right, &plugin_wasm("hostile"))
        .unwrap();
}

// ----- isolation of latency -----------------------------------------------------------------

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Ingests `n` purchases for brand `calm` and returns their latencies, sorted.
fn calm_latencies(rb: &Rulebox, phase: &str, n: usize) -> Vec<Duration> {
    let mut latencies: Vec<Duration> = (0..n)
        .map(|i| {
            let event = purchase("calm", &format!("{phase}-{i}"), &format!("{phase}-o-{i}"));
            let started = Instant::now();
            let outcome = rb.ingest(event).unwrap();
            let took = started.elapsed();
            assert_eq!(outcome.effects.len(), 1);
            took
        })
        .collect();
    latencies.sort();
    latencies
}

/// While brand `evil`'s plugin burns its whole deadline on every call from three threads
/// (on a two-core machine), brand `calm`'s events keep being served. Its p50 and p99 are
/// measured with and without the attack and printed; the assertion is deliberately
/// generous (p99 under attack below evil's deadline plus 450 ms), so that only a real loss
/// of isolation — calm waiting for evil's calls — fails it.
#[test]
fn another_brands_latency_holds_while_a_plugin_burns_its_deadline_on_every_call() {
    const ATTACKERS: usize = 3;
    const SAMPLES: usize = 1_000;
    let deadline_ms = 50;
    let w = World::new();
    w.brand("calm");
    w.deploy("flat-points-v1", flat_manifest("calm", "1.0.0"));
    w.brand("evil");
    w.deploy(
        "hostile",
        hostile_manifest(
            "evil",
            json!({ "mode": "loop" }),
            FailurePolicy::Abort,
            Limits {
                fuel: Limits::ceiling().fuel,
                deadline_ms,
                ..Limits::default()
            },
        ),
    );
    // Warm up, then measure calm alone.
    calm_latencies(&w.rb, "warm", 20);
    let alone = calm_latencies(&w.rb, "alone", SAMPLES);

    let stop = Arc::new(AtomicBool::new(false));
    let attacks = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Barrier::new(ATTACKERS + 1));
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|t| {
            let (rb, stop, attacks, started) =
                (w.rb.clone(), stop.clone(), attacks.clone(), started.clone());
            std::thread::spawn(move || {
                started.wait();
                let mut shortest = Duration::MAX;
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("evil-{t}-{i}");
                    let began = Instant::now();
                    let failure = aborted(rb.ingest(purchase("evil", &id, &id)), &id);
                    shortest = shortest.min(began.elapsed());
                    assert_eq!(failure.cause, FailureCause::Deadline { deadline_ms });
                    attacks.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                shortest
            })
        })
        .collect();
    started.wait();
    let attacked = calm_latencies(&w.rb, "attacked", SAMPLES);
    stop.store(true, Ordering::Relaxed);
    let shortest_attack = attackers
        .into_iter()
        .map(|a| a.join().unwrap())
        .min()
        .unwrap();
    let attacks = attacks.load(Ordering::Relaxed);

    let (p50, p99) = (percentile(&alone, 50.0), percentile(&alone, 99.0));
    let (a50, a99) = (percentile(&attacked, 50.0), percentile(&attacked, 99.0));
    eprintln!(
        "brand calm, {SAMPLES} purchases each: alone p50 {p50:?} p99 {p99:?}; \
         while {ATTACKERS} threads ran {attacks} calls of evil burning {deadline_ms} ms each: \
         p50 {a50:?} p99 {a99:?}"
    );
    assert!(attacks >= ATTACKERS, "the attack ran ({attacks} calls)");
    assert!(
        shortest_attack >= Duration::from_millis(deadline_ms),
        "each attack burned its whole deadline ({shortest_attack:?})"
    );
    assert!(
        a99 < Duration::from_millis(deadline_ms + 450),
        "calm's p99 under attack was {a99:?}"
    );
    // evil's failures are all in its own dead-letter list, none in calm's.
    assert!(w.rb.dead_letters("calm").unwrap().is_empty());
    assert_eq!(w.rb.dead_letters("evil").unwrap().len(), attacks);
}
