//! Replaying events against a candidate plugin version before activating it, and the
//! per-plugin statistics: real plugins (flat-points 1.0.0 and 2.0.0, which award 1 and 2
//! points per yuan; the hostile plugin), real host, in memory; and both routes over HTTP.

mod common;

use std::collections::BTreeMap;

use anyhow::Result;
use common::{FLAT_V1, FLAT_V2, Server, flat_manifest, host_event, memory_host};
use reqwest::Method;
use rulebox_engine::Rulebox;
use rulebox_engine::pipeline::{
    EventOutcome, PipelineError, ReplayItem, ReplayReport, ReplayStatus, ReplaySummary,
};
use rulebox_engine::registry::{FailurePolicy, Manifest, RegistryError};
use rulebox_sdk::testing::{line, purchase};
use rulebox_sdk::{EventKind, Visit};
use rulebox_store::model::MemberProfile;
use rulebox_tests::plugin_wasm;
use rulebox_world::{Effect, Event, EventType};
use serde_json::{Value, json};

const BRAND: &str = "tea";
/// 2026-03-15 09:30 in the brand's time zone (UTC+8).
const T0: i64 = 1_773_538_200_000;

// ----- set-up -------------------------------------------------------------------------------

/// The hostile plugin taking its mode from each purchase's order id (`<mode>:<n>`).
fn hostile(order: i32, on_failure: FailurePolicy) -> Manifest {
    Manifest {
        order,
        on_failure,
        ..common::manifest(
            BRAND,
            "hostile",
            "0.1.0",
            &[EventType::Purchase, EventType::SignUp, EventType::CheckIn],
            json!({ "mode": "from-event" }),
        )
    }
}

fn install(rb: &Rulebox, crate_name: &str, manifest: Manifest, activate: bool) -> Result<()> {
    let (name, version) = (manifest.name.clone(), manifest.version.clone());
    rb.registry().install(manifest, &plugin_wasm(crate_name))?;
    if activate {
        rb.registry().activate(BRAND, &name, &version)?;
    }
    Ok(())
}

/// An in-memory host with brand "tea", member "m-1" and flat-points 1.0.0 active.
fn host_with_v1() -> Result<Rulebox> {
    let rb = memory_host(BRAND)?;
    rb.put_member(
        BRAND,
        MemberProfile {
            id: "m-1".into(),
            ..Default::default()
        },
    )?;
    install(&rb, "flat-points-v1", flat_manifest(BRAND, "1.0.0"), true)?;
    Ok(rb)
}

/// A purchase of one line worth `paid` minor units.
fn purchase_event(id: &str, order: &str, paid: i64) -> Event {
    host_event(
        BRAND,
        id,
        "m-1",
        T0,
        purchase(order, "s-1", vec![line("p-1", "tea", 1, paid)]),
    )
}

fn check_in_event(id: &str) -> Event {
    host_event(
        BRAND,
        id,
        "m-1",
        T0,
        EventKind::CheckIn(Visit {
            location: None,
            store_id: Some("s-1".into()),
        }),
    )
}

/// The host's form of an SDK effect.
fn effect(sdk: rulebox_sdk::Effect) -> Effect {
    rulebox_world::convert(&sdk).unwrap()
}

fn award(amount: i64, reason: &str) -> Vec<Effect> {
    vec![effect(rulebox_sdk::Effect::award(amount, reason))]
}

fn tag(tag: &str) -> Vec<Effect> {
    vec![effect(rulebox_sdk::Effect::tag(tag))]
}

/// What of a member and the registry a replay must leave alone.
fn state(rb: &Rulebox) -> (i64, Value, Option<String>, usize) {
    let member = rb.member(BRAND, "m-1").unwrap();
    let ledger = serde_json::to_value(rb.ledger(BRAND, "m-1", None, usize::MAX).unwrap()).unwrap();
    let active = rb
        .registry()
        .snapshot(BRAND)
        .get("flat-points")
        .map(|p| p.manifest.version.clone());
    (member.points, ledger, active, member.tags.len())
}

fn item<'a>(report: &'a ReplayReport, event_id: &str) -> &'a ReplayItem {
    report
        .items
        .iter()
        .find(|i| i.event_id == event_id)
        .unwrap_or_else(|| panic!("no item for {event_id} in {report:#?}"))
}

// ----- replay -------------------------------------------------------------------------------

#[test]
fn a_candidate_version_is_compared_with_the_stored_outcome_and_the_active_version() -> Result<()> {
    let rb = host_with_v1()?;
    rb.ingest(purchase_event("e-1", "o-1", 2500))?;
    rb.ingest(purchase_event("e-2", "o-2", 1000))?;
    install(&rb, "flat-points-v2", flat_manifest(BRAND, "2.0.0"), false)?;
    let before = state(&rb);
    assert_eq!(before.0, 35, "v1 awarded 1 point per yuan");

    let events = vec![
        purchase_event("e-1", "o-1", 2500),
        purchase_event("e-2", "o-2", 1000),
        // Never ingested: compared with what the active version decides now.
        purchase_event("e-new", "o-new", 700),
        // flat-points does not handle birthdays.
        host_event(BRAND, "e-birthday", "m-1", T0, EventKind::Birthday),
    ];
    let report = rb.replay_candidate(BRAND, "flat-points", "2.0.0", events.clone())?;
    assert_eq!(
        (
            report.plugin.as_str(),
            report.version.as_str(),
            report.active_version.as_deref()
        ),
        ("flat-points", "2.0.0", Some("1.0.0"))
    );
    assert_eq!(
        report.items.iter().map(|i| &i.event_id).collect::<Vec<_>>(),
        ["e-1", "e-2", "e-new", "e-birthday"],
        "one item per event, in order"
    );
    assert_eq!(
        item(&report, "e-1"),
        &ReplayItem {
            event_id: "e-1".into(),
            status: ReplayStatus::Changed,
            stored: Some(award(25, "v1.0.0")),
            active: Some(award(25, "v1.0.0")),
            candidate: Some(award(50, "v2.0.0")),
            error: None,
            active_error: None,
        }
    );
    let e2 = item(&report, "e-2");
    assert_eq!(e2.status, ReplayStatus::Changed);
    assert_eq!(
        (&e2.stored, &e2.candidate),
        (&Some(award(10, "v1.0.0")), &Some(award(20, "v2.0.0")))
    );
    let fresh = item(&report, "e-new");
    assert_eq!(
        (fresh.status, &fresh.stored, &fresh.active, &fresh.candidate),
        (
            ReplayStatus::Changed,
            &None,
            &Some(award(7, "v1.0.0")),
            &Some(award(14, "v2.0.0"))
        )
    );
    let birthday = item(&report, "e-birthday");
    assert_eq!(
        (
            birthday.status,
            &birthday.stored,
            &birthday.active,
            &birthday.candidate
        ),
        (ReplayStatus::NotHandled, &None, &None, &None)
    );
    assert_eq!(
        report.summary,
        ReplaySummary {
            changed: 3,
            not_handled: 1,
            ..Default::default()
        }
    );

    // Replaying the active version itself: what was stored, or what is decided now.
    let same = rb.replay_candidate(BRAND, "flat-points", "1.0.0", events)?;
    assert_eq!(
        same.items.iter().map(|i| i.status).collect::<Vec<_>>(),
        [
            ReplayStatus::Same,
            ReplayStatus::Same,
            ReplayStatus::Same,
            ReplayStatus::NotHandled
        ]
    );
    assert_eq!(item(&same, "e-1").candidate, Some(award(25, "v1.0.0")));
    assert_eq!(item(&same, "e-new").candidate, Some(award(7, "v1.0.0")));

    // Nothing was committed, nothing activated: the balance, the ledger, the tags and the
    // active version are as before, and the never-ingested event is still new.
    assert_eq!(state(&rb), before);
    assert_eq!(
        rb.registry().list(BRAND)?.1[0].active.as_deref(),
        Some("1.0.0")
    );
    let ingested = rb.ingest(purchase_event("e-new", "o-new", 700))?;
    assert!(
        !ingested.duplicate,
        "the replay stored no outcome for e-new"
    );
    assert_eq!(ingested.effects[0].effect, award(7, "v1.0.0")[0]);
    assert_eq!(rb.member(BRAND, "m-1")?.points, 42);
    Ok(())
}

#[test]
fn a_decision_that_moved_with_the_members_state_is_drift_not_a_change() -> Result<()> {
    let rb = host_with_v1()?;
    // flat-points tags a check-in with the balance it sees: 0 then, 25 once e-buy is in.
    let stored = rb.ingest(check_in_event("e-visit"))?;
    assert_eq!(stored.effects[0].effect, tag("saw-0")[0]);
    rb.ingest(purchase_event("e-buy", "o-1", 2500))?;
    install(&rb, "flat-points-v2", flat_manifest(BRAND, "2.0.0"), false)?;

    for version in ["1.0.0", "2.0.0"] {
        let report = rb.replay_candidate(
            BRAND,
            "flat-points",
            version,
            vec![check_in_event("e-visit")],
        )?;
        let visit = &report.items[0];
        assert_eq!(
            (visit.status, &visit.stored, &visit.active, &visit.candidate),
            (
                ReplayStatus::Drift,
                &Some(tag("saw-0")),
                &Some(tag("saw-25")),
                &Some(tag("saw-25"))
            ),
            "{version}"
        );
        assert_eq!(report.summary.drift, 1);
    }
    Ok(())
}

#[test]
fn a_failing_candidate_and_events_that_cannot_be_evaluated_fail_alone() -> Result<()> {
    let rb = host_with_v1()?;
    // hostile is installed, never activated: the candidate joins the chain after flat-points.
    install(&rb, "hostile", hostile(1, FailurePolicy::Abort), false)?;
    rb.ingest(purchase_event("e-ok", "ok:1", 1000))?;
    let mut coffee = purchase_event("e-coffee", "ok:2", 1000);
    coffee.brand = "coffee".into();
    let mut ghost = purchase_event("e-ghost", "ok:3", 1000);
    ghost.member_id = "ghost".into();

    let report = rb.replay_candidate(
        BRAND,
        "hostile",
        "0.1.0",
        vec![
            purchase_event("e-ok", "ok:1", 1000),
            purchase_event("e-refuses", "rule-error:1", 1000),
            coffee,
            ghost,
            host_event(BRAND, "e-birthday", "m-1", T0, EventKind::Birthday),
        ],
    )?;
    assert_eq!(report.active_version, None);
    // Stored with no hostile effect (it was not active), none active now: a change.
    let ok = item(&report, "e-ok");
    assert_eq!(
        (ok.status, &ok.stored, &ok.active, &ok.candidate),
        (
            ReplayStatus::Changed,
            &Some(vec![]),
            &None,
            &Some(award(1, "well-behaved"))
        )
    );
    let refuses = item(&report, "e-refuses");
    assert_eq!(
        (refuses.status, &refuses.candidate),
        (ReplayStatus::Failed, &None)
    );
    let error = refuses.error.as_deref().unwrap();
    assert!(
        error.contains("hostile@0.1.0") && error.contains("hostile plugin refuses"),
        "{error}"
    );
    assert!(
        !error.contains("dead-letter"),
        "a replay dead-letters nothing: {error}"
    );
    let coffee = item(&report, "e-coffee");
    assert_eq!(coffee.status, ReplayStatus::Failed);
    assert!(
        coffee.error.as_deref().unwrap().contains("\"coffee\""),
        "{coffee:?}"
    );
    let ghost = item(&report, "e-ghost");
    assert_eq!(ghost.status, ReplayStatus::Failed);
    assert!(
        ghost
            .error
            .as_deref()
            .unwrap()
            .contains("unknown member ghost"),
        "{ghost:?}"
    );
    assert_eq!(item(&report, "e-birthday").status, ReplayStatus::NotHandled);
    assert_eq!(
        report.summary,
        ReplaySummary {
            changed: 1,
            failed: 3,
            not_handled: 1,
            ..Default::default()
        }
    );
    assert!(
        rb.dead_letters(BRAND)?.is_empty(),
        "a failure in a replay is no dead letter"
    );
    assert_eq!(rb.member(BRAND, "m-1")?.points, 10);

    // A version that is not installed fails the whole replay, saying what to do.
    let missing = rb
        .replay_candidate(BRAND, "flat-points", "9.9.9", vec![])
        .unwrap_err();
    assert!(
        matches!(
            &missing,
            PipelineError::Registry(RegistryError::UnknownVersion { version, .. }) if version == "9.9.9"
        ),
        "{missing:?}"
    );
    assert!(
        missing.to_string().contains("install it first"),
        "{missing}"
    );
    assert!(matches!(
        rb.replay_candidate("coffee", "flat-points", "1.0.0", vec![]),
        Err(PipelineError::UnknownBrand(_))
    ));
    Ok(())
}

// ----- statistics ---------------------------------------------------------------------------

/// Fuel and time of every successful call of `plugin` in `outcomes`.
fn costs(outcomes: &[EventOutcome], plugin: &str) -> (Vec<u64>, Vec<u64>) {
    outcomes
        .iter()
        .flat_map(|o| &o.calls)
        .filter(|c| c.plugin == plugin)
        .map(|c| (c.fuel_used, c.elapsed_us))
        .unzip()
}

#[test]
fn plugin_stats_count_every_call_failures_by_cause_and_observed_percentiles() -> Result<()> {
    let rb = host_with_v1()?;
    // hostile after flat-points, skipped on failure, so every event still applies.
    install(&rb, "hostile", hostile(1, FailurePolicy::Skip), true)?;
    let modes = [
        "ok",
        "ok",
        "rule-error",
        "ok",
        "bad-effect",
        "ok",
        "panic",
        "ok",
        "loop",
        "ok",
        "ok",
        "rule-error",
    ];
    let mut outcomes = Vec::new();
    for (n, mode) in modes.iter().enumerate() {
        // Different amounts, so the calls are not all alike.
        let paid = 1000 + 731 * n as i64;
        outcomes.push(rb.ingest(purchase_event(
            &format!("e-{n}"),
            &format!("{mode}:{n}"),
            paid,
        ))?);
    }
    let calls = modes.len() as u64;

    let points = rb.plugin_stats(BRAND, "flat-points");
    assert_eq!(
        (points.plugin.as_str(), points.active_version.as_deref()),
        ("flat-points", Some("1.0.0"))
    );
    assert_eq!(points.versions.len(), 1);
    let v1 = &points.versions[0];
    assert_eq!(
        (v1.version.as_str(), v1.calls, v1.samples),
        ("1.0.0", calls, calls as usize)
    );
    assert!(v1.failures.is_empty(), "{:?}", v1.failures);
    let (fuel, elapsed) = costs(&outcomes, "flat-points");
    assert_eq!(fuel.len() as u64, calls);
    check_percentiles("flat-points fuel", v1.fuel.unwrap(), &fuel);
    check_percentiles("flat-points time", v1.elapsed_us.unwrap(), &elapsed);

    let hostile = rb.plugin_stats(BRAND, "hostile");
    let h = &hostile.versions[0];
    let failed: usize = outcomes.iter().map(|o| o.failures.len()).sum();
    assert_eq!(failed, 5);
    assert_eq!(h.calls, calls, "failed calls count as calls");
    assert_eq!(
        h.failures,
        BTreeMap::from([
            ("fuel-exhausted".to_owned(), 1),
            ("invalid-effect".to_owned(), 1),
            ("rule".to_owned(), 2),
            ("trap".to_owned(), 1),
        ])
    );
    let (fuel, elapsed) = costs(&outcomes, "hostile");
    assert_eq!(h.samples, 7, "only successful calls are samples");
    assert_eq!(fuel.len(), 7);
    check_percentiles("hostile fuel", h.fuel.unwrap(), &fuel);
    check_percentiles("hostile time", h.elapsed_us.unwrap(), &elapsed);

    // A repeat is answered from the stored outcome: no call. A dry run calls each plugin.
    rb.ingest(purchase_event("e-0", "ok:0", 1000))?;
    assert_eq!(
        rb.plugin_stats(BRAND, "flat-points").versions[0].calls,
        calls
    );
    rb.dry_run(purchase_event("e-dry", "ok:dry", 1000))?;
    assert_eq!(
        rb.plugin_stats(BRAND, "flat-points").versions[0].calls,
        calls + 1
    );
    assert_eq!(
        rb.plugin_stats(BRAND, "hostile").versions[0].calls,
        calls + 1
    );

    // A replay counts under the version it ran: the candidate's cost, before activation.
    install(&rb, "flat-points-v2", flat_manifest(BRAND, "2.0.0"), false)?;
    rb.replay_candidate(
        BRAND,
        "flat-points",
        "2.0.0",
        vec![purchase_event("e-1", "ok:1", 1731)],
    )?;
    let after = rb.plugin_stats(BRAND, "flat-points");
    let calls_of = |version: &str| {
        after
            .versions
            .iter()
            .find(|v| v.version == version)
            .map(|v| v.calls)
    };
    assert_eq!(
        calls_of("1.0.0"),
        Some(calls + 2),
        "the active chain ran once"
    );
    assert_eq!(calls_of("2.0.0"), Some(1));
    assert!(rb.plugin_stats(BRAND, "nothing").versions.is_empty());
    Ok(())
}

/// Percentiles are values observed, in order, and the max is the largest observed.
fn check_percentiles(what: &str, p: rulebox_engine::pipeline::Percentiles, observed: &[u64]) {
    let (min, max) = (
        *observed.iter().min().unwrap(),
        *observed.iter().max().unwrap(),
    );
    for value in [p.p50, p.p90, p.p99, p.max] {
        assert!(
            (min..=max).contains(&value),
            "{what}: {p:?} outside [{min}, {max}]"
        );
        assert!(observed.contains(&value), "{what}: {value} never observed");
    }
    assert!(
        p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= p.max,
        "{what}: {p:?}"
    );
    assert_eq!(p.max, max, "{what}");
}

// ----- over HTTP ----------------------------------------------------------------------------

fn purchase_json(id: &str, order: &str, paid: i64) -> Value {
    serde_json::to_value(purchase_event(id, order, paid)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_and_stats_over_http() {
    let s = Server::start().await;
    s.brand("tea").await;
    s.brand("coffee").await;
    let key = s.key("tea", &["events", "members", "plugins"]).await;
    let coffee = s.key("coffee", &["events", "members", "plugins"]).await;
    let no_plugins = s.key("tea", &["events", "members"]).await;

    s.ok(
        Method::PUT,
        "/v1/brands/tea/members/m-1",
        &key,
        Some(json!({})),
        200,
    )
    .await;
    s.deploy(BRAND, &key, &FLAT_V1, true).await;
    s.ok(
        Method::POST,
        "/v1/brands/tea/events",
        &key,
        Some(purchase_json("e-1", "o-1", 2500)),
        201,
    )
    .await;
    s.deploy(BRAND, &key, &FLAT_V2, false).await;

    let replay = "/v1/brands/tea/plugins/flat-points/versions/2.0.0:replay";
    let body =
        json!({ "events": [purchase_json("e-1", "o-1", 2500), purchase_json("e-2", "o-2", 900)] });
    let report = s
        .ok(Method::POST, replay, &key, Some(body.clone()), 200)
        .await;
    let v1_25 =
        json!([{ "AwardPoints": { "amount": 25, "reason": "v1.0.0", "expires_at": null } }]);
    assert_eq!(
        report,
        json!({
            "brand": "tea",
            "plugin": "flat-points",
            "version": "2.0.0",
            "active_version": "1.0.0",
            "summary": { "same": 0, "changed": 2, "drift": 0, "not-handled": 0, "failed": 0 },
            "items": [
                { "event_id": "e-1", "status": "changed", "stored": v1_25, "active": v1_25,
                  "candidate": [{ "AwardPoints": { "amount": 50, "reason": "v2.0.0", "expires_at": null } }],
                  "error": null, "active_error": null },
                { "event_id": "e-2", "status": "changed", "stored": null,
                  "active": [{ "AwardPoints": { "amount": 9, "reason": "v1.0.0", "expires_at": null } }],
                  "candidate": [{ "AwardPoints": { "amount": 18, "reason": "v2.0.0", "expires_at": null } }],
                  "error": null, "active_error": null },
            ],
        })
    );
    // Nothing committed: still 25 points, v1 still active.
    let member = s
        .ok(Method::GET, "/v1/brands/tea/members/m-1", &key, None, 200)
        .await;
    assert_eq!(member["points"], 25);
    let plugins = s
        .ok(Method::GET, "/v1/brands/tea/plugins", &key, None, 200)
        .await;
    assert_eq!(plugins["items"][0]["active"], "1.0.0");

    // Statistics: v1 ran for the ingest and twice for the replay's active chain; v2 twice.
    let stats_path = "/v1/brands/tea/plugins/flat-points/stats";
    let stats = s.ok(Method::GET, stats_path, &key, None, 200).await;
    assert_eq!(
        (&stats["plugin"], &stats["active_version"], &stats["window"]),
        (&json!("flat-points"), &json!("1.0.0"), &json!(4096))
    );
    assert!(stats["since_ms"].as_i64().unwrap() > 0, "{stats}");
    let versions = stats["versions"].as_array().unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|v| (v["version"].as_str().unwrap(), v["calls"].as_u64().unwrap()))
            .collect::<Vec<_>>(),
        [("1.0.0", 3), ("2.0.0", 2)],
        "{stats}"
    );
    let v1 = &versions[0];
    assert_eq!((&v1["samples"], &v1["failures"]), (&json!(3), &json!({})));
    for field in ["fuel", "elapsed_us"] {
        let p = &v1[field];
        let max = p["max"].as_u64().unwrap();
        assert!(p["p50"].as_u64().unwrap() <= max && max > 0, "{field}: {p}");
    }

    // Refusals: unknown plugin or version, too many events, bad body, unknown action,
    // another brand's key, a key without scope plugins.
    s.refused(
        Method::GET,
        "/v1/brands/tea/plugins/nothing/stats",
        &key,
        None,
        404,
        "unknown-plugin",
    )
    .await;
    s.refused(
        Method::POST,
        "/v1/brands/tea/plugins/flat-points/versions/9.9.9:replay",
        &key,
        Some(json!({ "events": [] })),
        404,
        "unknown-plugin-version",
    )
    .await;
    let many: Vec<Value> = (0..1001)
        .map(|i| purchase_json(&format!("e-{i}"), &format!("o-{i}"), 100))
        .collect();
    s.refused(
        Method::POST,
        replay,
        &key,
        Some(json!({ "events": many })),
        400,
        "batch-too-large",
    )
    .await;
    s.refused(
        Method::POST,
        replay,
        &key,
        Some(json!({ "event": [] })),
        400,
        "invalid-body",
    )
    .await;
    s.refused(
        Method::POST,
        "/v1/brands/tea/plugins/flat-points/versions/2.0.0:frobnicate",
        &key,
        Some(json!({})),
        404,
        "no-such-route",
    )
    .await;
    for (method, path, body) in [
        (Method::POST, replay, Some(body.clone())),
        (Method::GET, stats_path, None),
    ] {
        s.refused(
            method.clone(),
            path,
            &coffee,
            body.clone(),
            404,
            "not-found",
        )
        .await;
        s.refused(method, path, &no_plugins, body, 403, "forbidden")
            .await;
    }

    // The same route still activates (no body needed), and then v2 replays as "same".
    s.ok(
        Method::POST,
        "/v1/brands/tea/plugins/flat-points/versions/2.0.0:activate",
        &key,
        None,
        200,
    )
    .await;
    let report = s
        .ok(
            Method::POST,
            replay,
            &key,
            Some(json!({ "events": [purchase_json("e-3", "o-3", 500)] })),
            200,
        )
        .await;
    assert_eq!(
        (&report["active_version"], &report["items"][0]["status"]),
        (&json!("2.0.0"), &json!("same"))
    );
    s.stop().await;
}
