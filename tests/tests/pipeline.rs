//! The event pipeline's guarantees, end to end: real plugins, real host, in-memory or sled
//! storage. Exactly-once application, atomic chains, failure policies, hot swaps, refunds,
//! expiry, referral depth, hostile plugins, dry runs, input checks and the registry.

mod common;

use std::collections::BTreeMap;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use common::{FLAT_EVENT_TYPES, aborted, host_event, memory_host};
use rulebox_engine::Rulebox;
use rulebox_engine::pipeline::{EventOutcome, PipelineError};
use rulebox_engine::registry::{FailurePolicy, Manifest, RegistryError};
use rulebox_sandbox::{FailureCause, Limits};
use rulebox_sdk::testing::{line, purchase, sign_up, tick};
use rulebox_sdk::{EventKind, LineItem, Referral, Refund, SignUp};
use rulebox_store::model::{Brand, LedgerEntry, LedgerKind, MemberProfile};
use rulebox_tests::plugin_wasm;
use rulebox_world::{Effect, Event, EventType};
use serde_json::{Value, json};

const BRAND: &str = "tea";
/// 2026-03-15 09:30 in the brand's time zone (UTC+8).
const T0: i64 = 1_773_538_200_000;
const DAY_MS: i64 = 86_400_000;

// ----- plugins ------------------------------------------------------------------------------

/// A compiled test plugin and what its `describe()` says.
struct PluginSpec {
    crate_name: &'static str,
    name: &'static str,
    version: &'static str,
    events: &'static [EventType],
}

const WELCOME: PluginSpec = PluginSpec {
    crate_name: "welcome-bonus",
    name: "welcome-bonus",
    version: "0.1.0",
    events: &[EventType::SignUp],
};
const FLAT_V1: PluginSpec = PluginSpec {
    crate_name: "flat-points-v1",
    name: "flat-points",
    version: "1.0.0",
    events: FLAT_EVENT_TYPES,
};
const FLAT_V2: PluginSpec = PluginSpec {
    crate_name: "flat-points-v2",
    name: "flat-points",
    version: "2.0.0",
    events: FLAT_EVENT_TYPES,
};
const HOSTILE: PluginSpec = PluginSpec {
    crate_name: "hostile",
    name: "hostile",
    version: "0.1.0",
    events: &[EventType::Purchase, EventType::SignUp, EventType::CheckIn],
};

/// A manifest that matches `spec`, first in the chain, aborting on failure, default limits.
fn manifest(spec: &PluginSpec, config: Value) -> Manifest {
    common::manifest(BRAND, spec.name, spec.version, spec.events, config)
}

/// The hostile plugin in `mode`, at chain position `order`, with failure policy `on_failure`.
fn hostile(mode: &str, order: i32, on_failure: FailurePolicy) -> (&'static PluginSpec, Manifest) {
    let manifest = Manifest {
        order,
        on_failure,
        ..manifest(&HOSTILE, json!({ "mode": mode }))
    };
    (&HOSTILE, manifest)
}

fn install(rb: &Rulebox, spec: &PluginSpec, manifest: Manifest) -> Result<()> {
    rb.registry()
        .install(manifest, &plugin_wasm(spec.crate_name))?;
    Ok(())
}

fn install_and_activate(rb: &Rulebox, spec: &PluginSpec, manifest: Manifest) -> Result<()> {
    let (name, version) = (manifest.name.clone(), manifest.version.clone());
    install(rb, spec, manifest)?;
    rb.registry().activate(BRAND, &name, &version)?;
    Ok(())
}

/// An in-memory host with the brand "tea" and these plugins installed and active.
fn host_with(plugins: Vec<(&PluginSpec, Manifest)>) -> Result<Rulebox> {
    let rb = memory_host(BRAND)?;
    for (spec, manifest) in plugins {
        install_and_activate(&rb, spec, manifest)?;
    }
    Ok(rb)
}

// ----- events -------------------------------------------------------------------------------

fn signup_event(id: &str, member: &str) -> Event {
    host_event(BRAND, id, member, T0, sign_up("app"))
}

fn invited_signup_event(id: &str, member: &str, inviter: &str) -> Event {
    let kind = EventKind::SignUp(SignUp {
        channel: "app".into(),
        inviter: Some(inviter.into()),
        staff_id: None,
    });
    host_event(BRAND, id, member, T0, kind)
}

/// A purchase of one line worth `paid`, paid in full.
fn purchase_event(id: &str, member: &str, order: &str, paid: i64) -> Event {
    purchase_of(id, member, order, vec![line("p-1", "tea", 1, paid)])
}

fn purchase_of(id: &str, member: &str, order: &str, lines: Vec<LineItem>) -> Event {
    host_event(
        BRAND,
        id,
        member,
        T0 + 60_000,
        purchase(order, "s-1", lines),
    )
}

fn refund_event(id: &str, member: &str, order: &str, lines: Vec<LineItem>) -> Event {
    let refunded = lines.iter().filter_map(LineItem::amount).sum();
    let kind = EventKind::Refund(Refund {
        order_id: order.into(),
        lines,
        refunded,
    });
    host_event(BRAND, id, member, T0 + DAY_MS, kind)
}

/// A referral event: `inviter` is the direct inviter of `invitee`.
fn referral_event(id: &str, inviter: &str, invitee: &str) -> Event {
    // The level is the host's to set; send a wrong one to show it is ignored.
    let kind = EventKind::ReferralAccepted(Referral {
        invitee_id: invitee.into(),
        level: 7,
    });
    host_event(BRAND, id, inviter, T0 + DAY_MS, kind)
}

// ----- reading state ------------------------------------------------------------------------

fn points(rb: &Rulebox, member: &str) -> i64 {
    rb.member(BRAND, member).unwrap().points
}

fn ledger(rb: &Rulebox, member: &str) -> Vec<LedgerEntry> {
    rb.ledger(BRAND, member, None, usize::MAX).unwrap()
}

fn ledger_sum(rb: &Rulebox, member: &str) -> i64 {
    ledger(rb, member).iter().map(|e| e.amount).sum()
}

/// The point awards of an outcome as (member, amount, reason, plugin version).
fn awards(outcome: &EventOutcome) -> Vec<(String, i64, String, String)> {
    outcome
        .effects
        .iter()
        .filter_map(|applied| match &applied.effect {
            Effect::AwardPoints(award) => Some((
                applied.member_id.clone(),
                award.amount,
                award.reason.clone(),
                applied.version.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// One award as [`awards`] lists it.
fn award(member: &str, amount: i64, reason: &str, version: &str) -> (String, i64, String, String) {
    (member.into(), amount, reason.into(), version.into())
}

// ----- exactly once -------------------------------------------------------------------------

#[test]
fn an_event_ingested_twice_is_applied_once_and_the_repeat_returns_the_stored_outcome() -> Result<()>
{
    let rb = host_with(vec![
        (&WELCOME, manifest(&WELCOME, json!({}))),
        (&FLAT_V1, manifest(&FLAT_V1, json!({}))),
    ])?;
    rb.ingest(signup_event("e-signup", "m-1"))?;
    let buy = purchase_event("e-buy", "m-1", "o-1", 1000);

    let first = rb.ingest(buy.clone())?;
    assert!(!first.duplicate);
    assert_eq!(awards(&first), [award("m-1", 10, "v1.0.0", "1.0.0")]);
    assert_eq!((points(&rb, "m-1"), ledger(&rb, "m-1").len()), (110, 2));

    let second = rb.ingest(buy)?;
    assert!(second.duplicate);
    assert_eq!(second.effects, first.effects);
    assert_eq!(second.ledger, first.ledger);
    assert_eq!(second.members, first.members);
    assert_eq!((points(&rb, "m-1"), ledger(&rb, "m-1").len()), (110, 2));

    // The same holds for a repeated sign-up: its id is known, so it is not refused as a
    // second sign-up but answered from the store.
    let again = rb.ingest(signup_event("e-signup", "m-1"))?;
    assert!(again.duplicate);
    assert_eq!(points(&rb, "m-1"), 110);
    Ok(())
}

#[test]
fn the_same_event_sent_concurrently_from_eight_threads_is_applied_exactly_once() -> Result<()> {
    let rb = host_with(vec![(&FLAT_V1, manifest(&FLAT_V1, json!({})))])?;
    rb.ingest(signup_event("e-signup", "m-1"))?;
    let buy = purchase_event("e-buy", "m-1", "o-1", 1000);

    let start = Barrier::new(8);
    let results: Vec<Result<EventOutcome, PipelineError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    rb.ingest(buy.clone())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("ingest thread panicked"))
            .collect()
    });

    let outcomes = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    assert_eq!(
        outcomes.iter().filter(|o| !o.duplicate).count(),
        1,
        "{outcomes:#?}"
    );
    for outcome in &outcomes {
        assert_eq!(outcome.effects, outcomes[0].effects);
        assert_eq!(awards(outcome), [award("m-1", 10, "v1.0.0", "1.0.0")]);
    }
    assert_eq!(points(&rb, "m-1"), 10);
    let entries = ledger(&rb, "m-1");
    assert_eq!(
        entries.iter().filter(|e| e.event_id == "e-buy").count(),
        1,
        "{entries:#?}"
    );
    assert_eq!(entries.len(), 1);
    Ok(())
}

// ----- atomic chains and failure policies ---------------------------------------------------

#[test]
fn an_aborting_plugin_commits_nothing_of_the_event_and_the_dead_letter_replays_once_fixed()
-> Result<()> {
    let rb = host_with(vec![
        (&WELCOME, manifest(&WELCOME, json!({}))),
        hostile("rule-error", 1, FailurePolicy::Abort),
    ])?;
    let signup = signup_event("e-signup", "m-1");

    let failure = aborted(rb.ingest(signup.clone()), "e-signup");
    assert_eq!(failure.plugin, "hostile");
    assert!(
        matches!(&failure.cause, FailureCause::Rule(e) if e.code == "internal"),
        "{failure}"
    );

    // welcome-bonus ran first and succeeded, yet nothing of the event was committed.
    assert!(
        matches!(
            rb.member(BRAND, "m-1"),
            Err(PipelineError::UnknownMember { .. })
        ),
        "the aborted sign-up created the member"
    );
    assert!(ledger(&rb, "m-1").is_empty());

    let letters = rb.dead_letters(BRAND)?;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].event, signup);
    assert_eq!(letters[0].failure.plugin, "hostile");
    assert_eq!(letters[0].attempts, 1);

    // Replaying while the plugin still fails aborts again and counts the attempt.
    let failure = aborted(rb.replay(BRAND, "e-signup"), "e-signup");
    assert_eq!(failure.plugin, "hostile");
    assert_eq!(rb.dead_letters(BRAND)?[0].attempts, 2);
    assert!(matches!(
        rb.member(BRAND, "m-1"),
        Err(PipelineError::UnknownMember { .. })
    ));

    rb.registry().disable(BRAND, "hostile")?;
    let outcome = rb.replay(BRAND, "e-signup")?;
    assert!(!outcome.duplicate);
    assert_eq!(
        awards(&outcome),
        [award("m-1", 100, "welcome bonus (app)", "0.1.0")]
    );
    assert_eq!(points(&rb, "m-1"), 100);
    assert!(
        rb.dead_letters(BRAND)?.is_empty(),
        "the replayed event is still a dead letter"
    );
    assert!(matches!(
        rb.replay(BRAND, "e-signup"),
        Err(PipelineError::UnknownDeadLetter { .. })
    ));
    Ok(())
}

#[test]
fn a_failing_plugin_with_skip_policy_is_recorded_and_the_rest_of_the_chain_applies() -> Result<()> {
    let rb = host_with(vec![
        (&WELCOME, manifest(&WELCOME, json!({}))),
        hostile("rule-error", 1, FailurePolicy::Skip),
    ])?;

    let outcome = rb.ingest(signup_event("e-signup", "m-1"))?;
    assert_eq!(outcome.failures.len(), 1, "{:#?}", outcome.failures);
    assert_eq!(outcome.failures[0].plugin, "hostile");
    assert!(matches!(&outcome.failures[0].cause, FailureCause::Rule(_)));
    assert!(outcome.effects.iter().all(|e| e.plugin == "welcome-bonus"));
    assert_eq!(points(&rb, "m-1"), 100);
    assert!(rb.member(BRAND, "m-1")?.tags.contains("new-member"));
    assert!(rb.dead_letters(BRAND)?.is_empty());
    Ok(())
}

#[test]
fn each_plugin_in_the_chain_sees_the_effects_of_the_plugins_before_it() -> Result<()> {
    let rb = host_with(vec![
        (&WELCOME, manifest(&WELCOME, json!({}))),
        hostile("mirror", 1, FailurePolicy::Abort),
    ])?;

    rb.ingest(signup_event("e-signup", "m-1"))?;
    let tags = rb.member(BRAND, "m-1")?.tags;
    assert!(tags.contains("hostile-saw-100"), "{tags:?}");
    assert!(!tags.contains("hostile-saw-0"), "{tags:?}");
    Ok(())
}

// ----- hot swap -----------------------------------------------------------------------------

#[test]
fn versions_swapped_while_events_flow_apply_whole_per_event_and_keep_ledgers_consistent()
-> Result<()> {
    let rb = memory_host(BRAND)?;
    install(&rb, &FLAT_V1, manifest(&FLAT_V1, json!({})))?;
    install(&rb, &FLAT_V2, manifest(&FLAT_V2, json!({})))?;
    rb.registry().activate(BRAND, "flat-points", "1.0.0")?;
    let members: Vec<String> = (0..10).map(|i| format!("m-{i}")).collect();
    for id in &members {
        rb.put_member(
            BRAND,
            MemberProfile {
                id: id.clone(),
                ..Default::default()
            },
        )?;
    }

    let swaps_done = AtomicBool::new(false);
    let results = std::thread::scope(|s| -> Result<Vec<Result<EventOutcome, PipelineError>>> {
        let ingester = s.spawn(|| {
            let mut results = Vec::new();
            // At least 200 events, and keep going until the swapping is over.
            let mut i = 0;
            while i < 200 || !swaps_done.load(Ordering::SeqCst) {
                let member = &members[i % members.len()];
                results.push(rb.ingest(purchase_event(
                    &format!("e-{i}"),
                    member,
                    &format!("o-{i}"),
                    1000,
                )));
                i += 1;
            }
            results
        });
        let swapping = (|| -> Result<()> {
            for _ in 0..6 {
                rb.registry().activate(BRAND, "flat-points", "2.0.0")?;
                std::thread::sleep(Duration::from_millis(5));
                rb.registry().rollback(BRAND, "flat-points")?;
                std::thread::sleep(Duration::from_millis(5));
            }
            rb.registry().activate(BRAND, "flat-points", "2.0.0")?;
            Ok(())
        })();
        swaps_done.store(true, Ordering::SeqCst);
        let results = ingester.join().expect("ingest thread panicked");
        swapping?;
        Ok(results)
    })?;

    assert!(results.len() >= 200);
    let mut earned: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_version: BTreeMap<String, usize> = BTreeMap::new();
    for result in results {
        let outcome = result?;
        let awards = awards(&outcome);
        assert_eq!(awards.len(), 1, "{outcome:#?}");
        let (member, amount, reason, version) = &awards[0];
        match version.as_str() {
            "1.0.0" => assert_eq!((*amount, reason.as_str()), (10, "v1.0.0"), "{outcome:#?}"),
            "2.0.0" => assert_eq!((*amount, reason.as_str()), (20, "v2.0.0"), "{outcome:#?}"),
            other => panic!("unexpected version {other}"),
        }
        assert_eq!(outcome.ledger.len(), 1);
        assert_eq!(
            outcome.ledger[0].entry.plugin_version.as_deref(),
            Some(version.as_str())
        );
        *earned.entry(member.clone()).or_default() += amount;
        *by_version.entry(version.clone()).or_default() += 1;
    }
    // Both versions really ran, or the test proved nothing about swapping.
    assert_eq!(by_version.len(), 2, "{by_version:?}");
    for id in &members {
        assert_eq!(ledger_sum(&rb, id), points(&rb, id), "member {id}");
        assert_eq!(points(&rb, id), earned[id], "member {id}");
    }
    Ok(())
}

// ----- refunds and expiry -------------------------------------------------------------------

#[test]
fn refunds_reverse_the_points_of_the_refunded_lines_and_never_more_than_was_earned() -> Result<()> {
    let rb = host_with(vec![(&FLAT_V1, manifest(&FLAT_V1, json!({})))])?;
    rb.ingest(signup_event("e-signup", "m-1"))?;
    let tea = line("p-1", "tea", 3, 1000);
    let cake = line("p-2", "cake", 1, 2000);
    let bought = rb.ingest(purchase_of(
        "e-buy",
        "m-1",
        "o-1",
        vec![tea.clone(), cake.clone()],
    ))?;
    assert_eq!(awards(&bought), [award("m-1", 50, "v1.0.0", "1.0.0")]);

    let first = rb.ingest(refund_event("e-refund-1", "m-1", "o-1", vec![cake.clone()]))?;
    assert_eq!(first.ledger.len(), 1, "{first:#?}");
    let reversal = &first.ledger[0].entry;
    assert_eq!(
        (reversal.kind, reversal.amount, reversal.balance),
        (LedgerKind::Reverse, -20, 30)
    );
    assert_eq!(reversal.order_id.as_deref(), Some("o-1"));
    assert_eq!(points(&rb, "m-1"), 30);

    let rest = rb.ingest(refund_event("e-refund-2", "m-1", "o-1", vec![tea]))?;
    assert_eq!(rest.ledger.len(), 1, "{rest:#?}");
    assert_eq!(
        (rest.ledger[0].entry.kind, rest.ledger[0].entry.amount),
        (LedgerKind::Reverse, -30)
    );
    assert_eq!(points(&rb, "m-1"), 0);

    // Refunding a line again reverses nothing: the order's 50 points are all taken back.
    let again = rb.ingest(refund_event("e-refund-3", "m-1", "o-1", vec![cake]))?;
    assert!(again.ledger.is_empty(), "{again:#?}");
    assert_eq!(points(&rb, "m-1"), 0);
    assert_eq!(ledger_sum(&rb, "m-1"), 0);
    let reversed: i64 = ledger(&rb, "m-1")
        .iter()
        .filter(|e| e.kind == LedgerKind::Reverse)
        .map(|e| e.amount)
        .sum();
    assert_eq!(reversed, -50);
    Ok(())
}

#[test]
fn expiring_points_expire_on_the_first_sweep_past_their_date_and_only_once() -> Result<()> {
    let rb = host_with(vec![(
        &WELCOME,
        manifest(&WELCOME, json!({ "expiry_months": 1 })),
    )])?;
    let joined = rb.ingest(signup_event("e-signup", "m-1"))?;
    let expires_at = match &joined.effects[0].effect {
        Effect::AwardPoints(award) => award.expires_at.expect("the welcome bonus expires"),
        other => panic!("expected an award first, got {other:?}"),
    };
    assert!(
        T0 + 5 * DAY_MS < expires_at && expires_at < T0 + 60 * DAY_MS,
        "expires at {expires_at}"
    );

    let early = rb.sweep(BRAND, "daily", T0 + 5 * DAY_MS)?;
    assert!(early.failed.is_empty(), "{:?}", early.failed);
    assert_eq!(early.outcomes.len(), 1);
    assert!(
        early.outcomes[0].ledger.is_empty(),
        "{:#?}",
        early.outcomes[0]
    );
    assert_eq!(points(&rb, "m-1"), 100);

    let late = rb.sweep(BRAND, "daily", T0 + 60 * DAY_MS)?;
    assert!(late.failed.is_empty(), "{:?}", late.failed);
    assert_eq!(late.outcomes.len(), 1);
    assert_eq!(late.outcomes[0].ledger.len(), 1, "{:#?}", late.outcomes[0]);
    let expiry = &late.outcomes[0].ledger[0].entry;
    assert_eq!(
        (expiry.kind, expiry.amount, expiry.balance),
        (LedgerKind::Expire, -100, 0)
    );
    assert_eq!(points(&rb, "m-1"), 0);
    let ledger_len = ledger(&rb, "m-1").len();

    let repeat = rb.sweep(BRAND, "daily", T0 + 60 * DAY_MS)?;
    assert!(repeat.failed.is_empty(), "{:?}", repeat.failed);
    assert_eq!(repeat.outcomes.len(), 1);
    assert!(repeat.outcomes[0].duplicate, "{:#?}", repeat.outcomes[0]);
    assert_eq!(points(&rb, "m-1"), 0);
    assert_eq!(ledger(&rb, "m-1").len(), ledger_len);
    assert_eq!(ledger_sum(&rb, "m-1"), 0);

    // A tick is an ordinary event too: the sweep's event for this member is answered as a repeat.
    let tick_event = host_event(
        BRAND,
        &format!("tick:daily:{}:m-1", T0 + 60 * DAY_MS),
        "m-1",
        T0 + 60 * DAY_MS,
        tick("daily"),
    );
    assert!(rb.ingest(tick_event)?.duplicate);
    Ok(())
}

// ----- referrals ----------------------------------------------------------------------------

#[test]
fn referral_rewards_reach_three_levels_of_inviters_and_no_further() -> Result<()> {
    let rb = host_with(vec![(&FLAT_V1, manifest(&FLAT_V1, json!({})))])?;
    rb.ingest(signup_event("e-a", "a"))?;
    for (invitee, inviter) in [("b", "a"), ("c", "b"), ("d", "c"), ("e", "d")] {
        rb.ingest(invited_signup_event(
            &format!("e-{invitee}"),
            invitee,
            inviter,
        ))?;
        assert_eq!(rb.member(BRAND, invitee)?.inviter.as_deref(), Some(inviter));
    }

    let outcome = rb.ingest(referral_event("e-ref", "d", "e"))?;
    let rewarded: Vec<(String, i64)> = awards(&outcome)
        .into_iter()
        .map(|(m, amount, ..)| (m, amount))
        .collect();
    assert_eq!(
        rewarded,
        [("d".into(), 30), ("c".into(), 20), ("b".into(), 10)]
    );
    assert_eq!(
        [
            points(&rb, "a"),
            points(&rb, "b"),
            points(&rb, "c"),
            points(&rb, "d"),
            points(&rb, "e")
        ],
        [0, 10, 20, 30, 0]
    );
    assert!(ledger(&rb, "a").is_empty(), "level 4 was rewarded");
    assert_eq!(
        outcome
            .members
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>(),
        ["d", "c", "b"]
    );
    Ok(())
}

// ----- hostile plugins ----------------------------------------------------------------------

#[test]
fn hostile_plugins_abort_their_event_with_a_typed_cause_and_the_next_event_runs_normally()
-> Result<()> {
    // Default limits but for fuel: building 20,000 tags costs the plugin more than the
    // default 20M fuel before it can return them, so it would die of fuel, not of its output.
    // 60M is enough to reach the output check (fuel is deterministic) while the endless loop
    // still exhausts it in a few milliseconds, far within the 100 ms deadline.
    let limits = Limits {
        fuel: 60_000_000,
        ..Limits::default()
    };
    let (spec, mut manifest) = hostile("from-event", 0, FailurePolicy::Abort);
    manifest.limits = limits;
    let rb = host_with(vec![(spec, manifest)])?;
    rb.put_member(
        BRAND,
        MemberProfile {
            id: "m-1".into(),
            ..Default::default()
        },
    )?;

    let cases = [
        (
            "loop",
            FailureCause::FuelExhausted {
                budget: limits.fuel,
            },
        ),
        (
            "grow",
            FailureCause::MemoryLimit {
                limit_bytes: limits.memory_bytes,
            },
        ),
        ("recurse", FailureCause::StackOverflow),
        (
            "huge-output",
            FailureCause::OutputTooLarge {
                actual: 20_000,
                limit: u64::from(limits.max_effects),
                unit: "effects".into(),
                setting: "max_effects".into(),
            },
        ),
    ];
    for (n, (mode, expected)) in cases.into_iter().enumerate() {
        let id = format!("e-{mode}");
        let failure = aborted(
            rb.ingest(purchase_event(&id, "m-1", &format!("{mode}:1"), 1000)),
            &id,
        );
        assert_eq!(failure.plugin, "hostile");
        assert_eq!(failure.cause, expected, "{mode}: {failure}");
        assert_eq!(
            points(&rb, "m-1"),
            n as i64,
            "the aborted {mode} event changed the balance"
        );

        let ok = rb.ingest(purchase_event(
            &format!("e-ok-{n}"),
            "m-1",
            &format!("ok:{n}"),
            1000,
        ))?;
        assert_eq!(
            awards(&ok),
            [award("m-1", 1, "well-behaved", "0.1.0")],
            "after {mode}"
        );
        assert_eq!(points(&rb, "m-1"), n as i64 + 1);
    }
    let dead: Vec<String> = rb
        .dead_letters(BRAND)?
        .into_iter()
        .map(|d| d.event.id)
        .collect();
    assert_eq!(dead.len(), 4, "{dead:?}");
    assert_eq!(ledger(&rb, "m-1").len(), 4);
    assert_eq!(ledger_sum(&rb, "m-1"), 4);
    Ok(())
}

// ----- dry runs -----------------------------------------------------------------------------

#[test]
fn a_dry_run_returns_what_the_commit_will_do_and_changes_nothing() -> Result<()> {
    let rb = host_with(vec![
        (&WELCOME, manifest(&WELCOME, json!({}))),
        (&FLAT_V1, manifest(&FLAT_V1, json!({}))),
    ])?;
    rb.ingest(signup_event("e-signup", "m-1"))?;
    let buy = purchase_event("e-buy", "m-1", "o-1", 2500);
    let before = (points(&rb, "m-1"), ledger(&rb, "m-1"));

    let dry = rb.dry_run(buy.clone())?;
    assert!(dry.dry_run);
    assert!(!dry.duplicate);
    assert_eq!(awards(&dry), [award("m-1", 25, "v1.0.0", "1.0.0")]);
    assert_eq!((points(&rb, "m-1"), ledger(&rb, "m-1")), before);

    let applied = rb.ingest(buy)?;
    assert!(!applied.dry_run);
    assert!(
        !applied.duplicate,
        "the dry run was stored as the event's outcome"
    );
    assert_eq!(applied.effects, dry.effects);
    assert_eq!(applied.ledger, dry.ledger);
    assert_eq!(applied.members, dry.members);
    assert_eq!(points(&rb, "m-1"), 125);

    // A dry-run sign-up does not create the member.
    let new_member = rb.dry_run(signup_event("e-signup-2", "m-2"))?;
    assert_eq!(awards(&new_member).len(), 1);
    assert!(matches!(
        rb.member(BRAND, "m-2"),
        Err(PipelineError::UnknownMember { .. })
    ));
    Ok(())
}

// ----- bad input ----------------------------------------------------------------------------

#[test]
fn invalid_events_are_refused_with_a_typed_error_and_commit_nothing() -> Result<()> {
    let rb = host_with(vec![
        (&WELCOME, manifest(&WELCOME, json!({}))),
        (&FLAT_V1, manifest(&FLAT_V1, json!({}))),
    ])?;
    rb.ingest(signup_event("e-signup", "m-1"))?;
    rb.ingest(purchase_event("e-buy", "m-1", "o-1", 1000))?;
    let before = (points(&rb, "m-1"), ledger(&rb, "m-1"));
    assert_eq!(before.0, 110);

    let ghost = purchase_event("e-ghost", "ghost", "o-g", 1000);
    let mut other_brand = purchase_event("e-coffee", "m-1", "o-c", 1000);
    other_brand.brand = "coffee".into();
    let mut overpaid = purchase_event("e-overpaid", "m-1", "o-2", 1000);
    let rulebox_world::EventKind::Purchase(p) = &mut overpaid.kind else {
        unreachable!("purchase_event builds purchases")
    };
    p.paid = p.total + 1;
    let second_signup = signup_event("e-signup-again", "m-1");
    let same_order = purchase_event("e-buy-again", "m-1", "o-1", 1000);
    // Times outside 1970..=9999 would overflow the calendar arithmetic of the rules.
    let out_of_time: Vec<_> = [-1, i64::MAX, rulebox_world::validate::MAX_TIME_MS + 1]
        .into_iter()
        .map(|at| {
            let mut event = purchase_event(&format!("e-at-{at}"), "m-1", "o-3", 1000);
            event.occurred_at = at;
            event
        })
        .collect();

    // Each is refused twice: had the first refusal stored anything under the event id, the
    // second would come back as a duplicate instead.
    for _ in 0..2 {
        let err = rb.ingest(ghost.clone()).unwrap_err();
        assert!(
            matches!(&err, PipelineError::UnknownMember { member, .. } if member == "ghost"),
            "{err:?}"
        );
        let err = rb.ingest(other_brand.clone()).unwrap_err();
        assert!(
            matches!(&err, PipelineError::UnknownBrand(b) if b == "coffee"),
            "{err:?}"
        );
        let err = rb.ingest(overpaid.clone()).unwrap_err();
        assert!(matches!(&err, PipelineError::InvalidEvent(_)), "{err:?}");
        let err = rb.ingest(second_signup.clone()).unwrap_err();
        assert!(
            matches!(&err, PipelineError::InvalidEvent(m) if m.contains("signed up")),
            "{err:?}"
        );
        let err = rb.ingest(same_order.clone()).unwrap_err();
        assert!(
            matches!(&err, PipelineError::InvalidEvent(m) if m.contains("o-1")),
            "{err:?}"
        );
        for event in &out_of_time {
            for result in [rb.ingest(event.clone()), rb.dry_run(event.clone())] {
                let err = result.unwrap_err();
                assert!(
                    matches!(&err, PipelineError::InvalidEvent(m) if m.contains("occurred_at")),
                    "{err:?}"
                );
            }
        }
    }

    // A query's time too.
    use rulebox_world::{GeoPoint, Place, Query, QueryKind};
    let err = rb
        .query(Query {
            brand: BRAND.into(),
            member_id: "m-1".into(),
            at: i64::MAX,
            kind: QueryKind::Recommendation(Place {
                location: GeoPoint { lat: 0.0, lon: 0.0 },
                limit: 3,
            }),
        })
        .unwrap_err();
    assert!(
        matches!(&err, PipelineError::InvalidEvent(m) if m.contains("at ")),
        "{err:?}"
    );

    assert_eq!((points(&rb, "m-1"), ledger(&rb, "m-1")), before);
    assert!(matches!(
        rb.member(BRAND, "ghost"),
        Err(PipelineError::UnknownMember { .. })
    ));
    assert!(rb.dead_letters(BRAND)?.is_empty());
    // Once the member exists, the refused event applies as new.
    rb.put_member(
        BRAND,
        MemberProfile {
            id: "ghost".into(),
            ..Default::default()
        },
    )?;
    let applied = rb.ingest(ghost)?;
    assert!(!applied.duplicate);
    assert_eq!(points(&rb, "ghost"), 10);

    // Order ids are unique per brand: another member cannot reuse m-1's order.
    let err = rb
        .ingest(purchase_event("e-ghost-o1", "ghost", "o-1", 1000))
        .unwrap_err();
    assert!(
        matches!(&err, PipelineError::InvalidEvent(m) if m.contains("o-1") && m.contains("m-1")),
        "{err:?}"
    );
    assert_eq!(points(&rb, "ghost"), 10);
    Ok(())
}

// ----- registry -----------------------------------------------------------------------------

#[test]
fn the_registry_refuses_mismatched_manifests_and_unknown_versions_and_survives_a_restart()
-> Result<()> {
    let rb = memory_host(BRAND)?;
    let welcome = plugin_wasm("welcome-bonus");

    let wrong_version = Manifest {
        version: "9.9.9".into(),
        ..manifest(&WELCOME, json!({}))
    };
    let err = rb.registry().install(wrong_version, &welcome).unwrap_err();
    assert!(
        matches!(&err, RegistryError::ManifestMismatch(m) if m.contains("version")),
        "{err}"
    );

    let extra_event = Manifest {
        events: vec![EventType::SignUp, EventType::Purchase],
        ..manifest(&WELCOME, json!({}))
    };
    let err = rb.registry().install(extra_event, &welcome).unwrap_err();
    assert!(
        matches!(&err, RegistryError::ManifestMismatch(m) if m.contains("events")),
        "{err}"
    );

    // The hostile component passed off as welcome-bonus (same version, its own events).
    let impostor = Manifest {
        name: "welcome-bonus".into(),
        ..manifest(&HOSTILE, json!({}))
    };
    let err = rb
        .registry()
        .install(impostor, &plugin_wasm("hostile"))
        .unwrap_err();
    assert!(
        matches!(&err, RegistryError::ManifestMismatch(m) if m.contains("name")),
        "{err}"
    );

    let (versions, activations) = rb.registry().list(BRAND)?;
    assert!(
        versions.is_empty() && activations.is_empty(),
        "{versions:?} {activations:?}"
    );

    let err = rb
        .registry()
        .activate(BRAND, "welcome-bonus", "0.1.0")
        .unwrap_err();
    assert!(matches!(err, RegistryError::UnknownVersion { .. }), "{err}");
    install(&rb, &FLAT_V1, manifest(&FLAT_V1, json!({})))?;
    let err = rb
        .registry()
        .activate(BRAND, "flat-points", "2.0.0")
        .unwrap_err();
    assert!(matches!(err, RegistryError::UnknownVersion { .. }), "{err}");

    // Installed and activated versions survive closing and reopening the database.
    let dir = tempfile::tempdir()?;
    {
        let rb = Rulebox::open(dir.path())?;
        rb.put_brand(&Brand {
            id: BRAND.into(),
            ..Default::default()
        })?;
        install_and_activate(&rb, &WELCOME, manifest(&WELCOME, json!({ "bonus": 70 })))?;
    }
    let rb = Rulebox::open(dir.path())?;
    let (versions, activations) = rb.registry().list(BRAND)?;
    assert_eq!(versions.len(), 1);
    assert_eq!(activations[0].active.as_deref(), Some("0.1.0"));
    let outcome = rb.ingest(signup_event("e-signup", "m-1"))?;
    assert_eq!(
        awards(&outcome),
        [award("m-1", 70, "welcome bonus (app)", "0.1.0")]
    );
    assert_eq!(points(&rb, "m-1"), 70);
    Ok(())
}

/// Dropping a sled-backed host must release the database lock before it returns (it once
/// did not: the flush thread kept a handle and exited later, so reopening failed with
/// "could not acquire lock"). Fifty drop-and-reopen cycles catch the race reliably.
#[test]
fn a_dropped_host_releases_its_database_so_it_can_be_reopened_at_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    {
        let rb = Rulebox::open(dir.path())?;
        rb.put_brand(&Brand {
            id: BRAND.into(),
            ..Default::default()
        })?;
        rb.put_member(
            BRAND,
            MemberProfile {
                id: "m-1".into(),
                ..Default::default()
            },
        )?;
    }
    // A restart in the same process (or a tool run right after a server stops) must find the
    // database free. Each attempt is a fresh drop and reopen.
    for attempt in 0..50 {
        let rb = Rulebox::open(dir.path()).map_err(|e| e.context(format!("reopen #{attempt}")))?;
        assert_eq!(rb.member(BRAND, "m-1")?.id, "m-1");
    }
    Ok(())
}
