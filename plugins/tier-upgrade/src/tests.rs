//! Native tests through `rulebox_sdk::testing`.

use super::*;
use rulebox_sdk::testing::{FakeHost, Fixture, event, line, member, purchase, sign_up, tick};
use rulebox_sdk::{MemberView, RuleError};
use serde_json::{Value, json};

/// 2026-03-15 09:30 in Shanghai (01:30 UTC).
const T: Timestamp = 1_773_538_200_000;

fn buy() -> EventKind {
    purchase("o-1", "s-1", vec![line("p-1", "fruit-tea", 2, 1_900)])
}

fn run_with(config: Value, m: MemberView, kind: EventKind) -> Result<Vec<Effect>, RuleError> {
    FakeHost::new(m)
        .with_config(config)
        .on_event::<TierUpgrade>(&event("e-1", "m", T, kind))
}

fn run(m: MemberView, kind: EventKind) -> Result<Vec<Effect>, RuleError> {
    run_with(json!({}), m, kind)
}

/// A member on `tier` carrying its default tag, with the given window figures.
fn on_tier(tier: &str, spend: Money, points: Points) -> MemberView {
    let tag = format!("tier-{tier}");
    member("m")
        .with_tier(tier)
        .with_tags([tag.as_str()])
        .with_window(spend, 3, points)
}

/// The tier a list of effects moves the member to, if any.
fn new_tier(effects: &[Effect]) -> Option<&str> {
    effects.iter().find_map(|e| match e {
        Effect::SetTier(change) => Some(change.tier.as_str()),
        _ => None,
    })
}

fn config_error(config: Value) -> String {
    match run_with(config, on_tier("green", 0, 0), buy()) {
        Err(RuleError::InvalidConfig(message)) => message,
        other => panic!("expected an invalid-config error, got {other:?}"),
    }
}

// ----- describe ----------------------------------------------------------------------------

#[test]
fn describe_declares_events_and_member_fields() {
    let d = TierUpgrade::describe();
    assert_eq!(d.name, "tier-upgrade");
    assert_eq!(d.version, env!("CARGO_PKG_VERSION"));
    for kind in [
        EventType::Purchase,
        EventType::ScheduledTick,
        EventType::SignUp,
    ] {
        assert!(d.events.contains(&kind), "{kind:?}");
    }
    // The fake host does not hide undeclared fields, so check the declarations directly.
    for field in [
        MemberField::Activity,
        MemberField::PaidPlan,
        MemberField::Tags,
    ] {
        assert!(d.reads.contains(&field), "{field:?}");
    }
    assert!(d.queries.is_empty());
}

#[test]
fn undeclared_events_are_refused() {
    assert!(matches!(
        run(on_tier("green", 0, 0), EventKind::Birthday),
        Err(RuleError::Unsupported(_))
    ));
}

// ----- upgrades on purchase ------------------------------------------------------------------

#[test]
fn spend_exactly_at_the_threshold_upgrades_with_all_effects() {
    let effects = run(on_tier("green", 50_000, 120), buy()).unwrap();
    assert_eq!(
        effects,
        vec![
            Effect::set_tier(
                "gold",
                "qualified for gold on 2026-03-15: spend 50000, points 120 in the last 365 days"
            ),
            Effect::untag("tier-green"),
            Effect::tag("tier-gold"),
            Effect::notify("push", "tier-upgraded", &[("tier", "gold")]),
        ]
    );
}

#[test]
fn one_below_the_thresholds_does_not_upgrade() {
    assert_eq!(run(on_tier("green", 49_999, 499), buy()).unwrap(), vec![]);
}

#[test]
fn points_exactly_at_the_threshold_upgrade() {
    let effects = run(on_tier("green", 0, 500), buy()).unwrap();
    assert_eq!(new_tier(&effects), Some("gold"));
    assert_eq!(run(on_tier("green", 0, 499), buy()).unwrap(), vec![]);
}

#[test]
fn spend_only_ignores_points() {
    let config = json!({
        "qualify_by": "spend",
        "tiers": [{"name": "green"}, {"name": "gold", "min_spend": 50000}]
    });
    let rich_in_points = on_tier("green", 49_999, 1_000_000);
    assert_eq!(
        run_with(config.clone(), rich_in_points, buy()).unwrap(),
        vec![]
    );
    let effects = run_with(config, on_tier("green", 50_000, 0), buy()).unwrap();
    assert_eq!(new_tier(&effects), Some("gold"));
}

#[test]
fn points_only_ignores_spend() {
    let config = json!({
        "qualify_by": "points",
        "tiers": [{"name": "green"}, {"name": "gold", "min_points": 500}]
    });
    let big_spender = on_tier("green", 10_000_000, 499);
    assert_eq!(
        run_with(config.clone(), big_spender, buy()).unwrap(),
        vec![]
    );
    let effects = run_with(config, on_tier("green", 0, 500), buy()).unwrap();
    assert_eq!(new_tier(&effects), Some("gold"));
}

#[test]
fn either_measure_qualifies_by_default() {
    let by_spend = run(on_tier("green", 50_000, 0), buy()).unwrap();
    let by_points = run(on_tier("green", 0, 500), buy()).unwrap();
    assert_eq!(new_tier(&by_spend), Some("gold"));
    assert_eq!(new_tier(&by_points), Some("gold"));
}

#[test]
fn skipping_a_level_reaches_the_highest_tier_with_only_its_coupon() {
    let config = json!({"tiers": [
        {"name": "green"},
        {"name": "gold", "min_spend": 50000, "min_points": 500, "welcome_coupon": "gold-gift"},
        {"name": "black", "min_spend": 200000, "min_points": 2000,
         "welcome_coupon": "black-gift", "coupon_valid_days": 7}
    ]});
    let effects = run_with(config, on_tier("green", 200_000, 0), buy()).unwrap();
    assert_eq!(
        effects,
        vec![
            Effect::set_tier(
                "black",
                "qualified for black on 2026-03-15: spend 200000, points 0 in the last 365 days"
            ),
            Effect::coupon("black-gift", T, T + 7 * DAY_MS),
            Effect::untag("tier-green"),
            Effect::tag("tier-black"),
            Effect::notify("push", "tier-upgraded", &[("tier", "black")]),
        ]
    );
}

#[test]
fn welcome_coupon_is_valid_30_days_by_default() {
    let config = json!({"tiers": [
        {"name": "green"},
        {"name": "gold", "min_spend": 100, "min_points": 1, "welcome_coupon": "gold-gift"}
    ]});
    let effects = run_with(config, on_tier("green", 100, 0), buy()).unwrap();
    assert_eq!(effects[1], Effect::coupon("gold-gift", T, T + 30 * DAY_MS));
}

#[test]
fn no_upgrade_at_the_top_or_when_already_there() {
    assert_eq!(
        run(on_tier("black", 99_000_000, 99_000), buy()).unwrap(),
        vec![]
    );
    assert_eq!(run(on_tier("gold", 60_000, 0), buy()).unwrap(), vec![]);
}

#[test]
fn a_purchase_never_downgrades() {
    assert_eq!(run(on_tier("black", 0, 0), buy()).unwrap(), vec![]);
}

#[test]
fn a_member_off_the_ladder_counts_as_entry() {
    // "base" is not on the ladder: no qualification, no change on a purchase...
    assert_eq!(
        run(member("m").with_window(49_999, 1, 0), buy()).unwrap(),
        vec![]
    );
    // ...but enough spend upgrades them as if from green.
    let effects = run(member("m").with_window(50_000, 1, 0), buy()).unwrap();
    assert_eq!(new_tier(&effects), Some("gold"));
    assert!(effects.contains(&Effect::untag("tier-green")));
    // ...and a period end leaves them alone.
    assert_eq!(
        run(member("m").with_window(0, 0, 0), tick("period-end")).unwrap(),
        vec![]
    );
}

#[test]
fn stale_ladder_tags_are_removed_and_other_tags_kept() {
    let m = member("m")
        .with_tier("gold")
        .with_tags(["tier-green", "tier-gold", "tea-lover"])
        .with_window(200_000, 9, 0);
    let effects = run(m, buy()).unwrap();
    assert_eq!(
        effects[1..3],
        [Effect::untag("tier-gold"), Effect::untag("tier-green")]
    );
    assert_eq!(effects[3], Effect::tag("tier-black"));
    assert!(!effects.contains(&Effect::untag("tea-lover")));
}

#[test]
fn custom_and_empty_tags() {
    let config = json!({"tiers": [
        {"name": "green", "tag": ""},
        {"name": "gold", "min_spend": 50000, "min_points": 500, "tag": "vip"}
    ]});
    let effects = run_with(
        config,
        member("m").with_tier("green").with_window(50_000, 1, 0),
        buy(),
    )
    .unwrap();
    assert_eq!(effects[1], Effect::tag("vip"));
    assert_eq!(effects.len(), 3, "no tag to remove for green: {effects:?}");
}

#[test]
fn reasons_use_the_brands_local_date() {
    // 2026-03-14 17:00 UTC is already 2026-03-15 01:00 in Shanghai.
    let at = 1_773_507_600_000;
    let date_of = |config: Value| {
        let effects = FakeHost::new(on_tier("green", 50_000, 0))
            .with_config(config)
            .on_event::<TierUpgrade>(&event("e-1", "m", at, buy()))
            .unwrap();
        match &effects[0] {
            Effect::SetTier(change) => change.reason.clone(),
            other => panic!("{other:?}"),
        }
    };
    assert!(date_of(json!({})).contains("on 2026-03-15"));
    assert!(date_of(json!({"utc_offset_minutes": 0})).contains("on 2026-03-14"));
}

// ----- downgrades at period end ------------------------------------------------------------

#[test]
fn period_end_downgrades_one_step_even_when_qualifying_for_nothing() {
    let effects = run(on_tier("black", 0, 0), tick("period-end")).unwrap();
    assert_eq!(
        effects,
        vec![
            Effect::set_tier(
                "gold",
                "black not kept at period-end on 2026-03-15: spend 0, points 0 in the last 365 days"
            ),
            Effect::untag("tier-black"),
            Effect::tag("tier-gold"),
        ]
    );
}

#[test]
fn period_end_keeps_a_member_exactly_at_the_threshold() {
    assert_eq!(
        run(on_tier("gold", 50_000, 0), tick("period-end")).unwrap(),
        vec![]
    );
    assert_eq!(
        run(on_tier("gold", 0, 500), tick("period-end")).unwrap(),
        vec![]
    );
    let effects = run(on_tier("gold", 49_999, 499), tick("period-end")).unwrap();
    assert_eq!(new_tier(&effects), Some("green"));
}

#[test]
fn period_end_never_upgrades_and_leaves_the_entry_tier_alone() {
    assert_eq!(
        run(on_tier("green", 0, 0), tick("period-end")).unwrap(),
        vec![]
    );
    assert_eq!(
        run(on_tier("green", 900_000, 0), tick("period-end")).unwrap(),
        vec![]
    );
}

#[test]
fn a_live_paid_plan_floor_stops_the_downgrade() {
    let host = FakeHost::new(on_tier("gold", 0, 0).with_paid_plan("plus", "gold", T + 1));
    let effects = host
        .on_event::<TierUpgrade>(&event("e-1", "m", T, tick("period-end")))
        .unwrap();
    assert_eq!(effects, vec![]);
    assert_eq!(host.logs()[0].message, "tier kept by paid plan floor");
}

#[test]
fn a_paid_plan_floor_below_the_tier_allows_one_step_down_to_it() {
    let m = on_tier("black", 0, 0).with_paid_plan("plus", "gold", T + DAY_MS);
    let effects = run(m, tick("period-end")).unwrap();
    assert_eq!(new_tier(&effects), Some("gold"));
}

#[test]
fn an_expired_paid_plan_floor_is_ignored() {
    // expires_at == occurred_at: the plan has ended.
    let m = on_tier("gold", 0, 0).with_paid_plan("plus", "gold", T);
    let effects = run(m, tick("period-end")).unwrap();
    assert_eq!(new_tier(&effects), Some("green"));
}

#[test]
fn a_live_floor_off_the_ladder_is_an_input_error_only_when_it_matters() {
    let m = on_tier("gold", 0, 0).with_paid_plan("plus", "platinum", T + DAY_MS);
    assert!(matches!(
        run(m, tick("period-end")),
        Err(RuleError::InvalidInput(message)) if message.contains("platinum")
    ));
    let still_qualifies = on_tier("gold", 50_000, 0).with_paid_plan("plus", "platinum", T + 1);
    assert_eq!(run(still_qualifies, tick("period-end")).unwrap(), vec![]);
}

#[test]
fn ticks_of_other_schedules_are_ignored() {
    assert_eq!(run(on_tier("black", 0, 0), tick("daily")).unwrap(), vec![]);
    let config = json!({"downgrade_schedule": "year-end"});
    assert_eq!(
        run_with(config.clone(), on_tier("black", 0, 0), tick("period-end")).unwrap(),
        vec![]
    );
    let effects = run_with(config, on_tier("black", 0, 0), tick("year-end")).unwrap();
    assert_eq!(new_tier(&effects), Some("gold"));
}

// ----- sign-up ------------------------------------------------------------------------------

#[test]
fn sign_up_puts_a_new_member_on_the_entry_tier() {
    assert_eq!(
        run(member("m"), sign_up("app")).unwrap(),
        vec![
            Effect::set_tier("green", "new member starts on green"),
            Effect::tag("tier-green"),
        ]
    );
}

#[test]
fn sign_up_keeps_a_ladder_tier_and_only_adds_a_missing_tag() {
    assert_eq!(
        run(member("m").with_tier("gold"), sign_up("app")).unwrap(),
        vec![Effect::tag("tier-gold")]
    );
    assert_eq!(run(on_tier("gold", 0, 0), sign_up("app")).unwrap(), vec![]);
}

// ----- configuration --------------------------------------------------------------------------

#[test]
fn invalid_configurations_are_named() {
    let cases = [
        (json!({"tiers": []}), "tiers is empty"),
        (
            json!({"tiers": [{"name": "green"}, {"name": "green", "min_spend": 1, "min_points": 1}]}),
            "\"green\" appears more than once",
        ),
        (
            json!({"tiers": [{"name": "green"}, {"name": "gold", "min_spend": 0, "min_points": 500}]}),
            "gold's min_spend 0 is not above green's 0",
        ),
        (
            json!({"tiers": [
                {"name": "green"},
                {"name": "gold", "min_spend": 50000, "min_points": 500},
                {"name": "black", "min_spend": 200000, "min_points": 500}
            ]}),
            "black's min_points 500 is not above gold's 500",
        ),
        (json!({"qualify_by": "visits"}), "qualify_by must be"),
        (json!({"tiers": [{"min_spend": 5}]}), "tier 1 needs a name"),
        (
            json!({"tiers": [{"name": "green", "min_spend": -1}]}),
            "must not be negative",
        ),
        (
            json!({"tiers": [{"name": "a"}, {"name": "b", "min_spend": 1, "min_points": 1, "tag": "tier-a"}]}),
            "share the tag",
        ),
        (
            json!({"tiers": [{"name": "a", "welcome_coupon": "x", "coupon_valid_days": 0}]}),
            "coupon_valid_days",
        ),
        (json!({"downgrade_schedule": ""}), "downgrade_schedule"),
        (json!({"utc_offset_minutes": 100000}), "UTC offset"),
        (json!({"tiers": [{"name": "a", "min_spnd": 1}]}), "min_spnd"),
        (json!({"ladder": []}), "ladder"),
    ];
    for (config, expected) in cases {
        let message = config_error(config.clone());
        assert!(
            message.contains(expected),
            "{config}: {message:?} does not mention {expected:?}"
        );
    }
}

#[test]
fn only_the_counted_thresholds_must_increase() {
    // Spend-only ladders may leave min_points at 0 everywhere.
    let config = json!({
        "qualify_by": "spend",
        "tiers": [{"name": "green"}, {"name": "gold", "min_spend": 1}]
    });
    assert!(run_with(config, on_tier("green", 0, 0), buy()).is_ok());
}

#[test]
fn the_default_ladder_is_green_gold_black() {
    let ladder = Ladder::new(Config::default()).unwrap();
    assert_eq!(ladder.to_string(), "green < gold < black");
    assert_eq!(ladder.config().qualify_by, QualifyBy::Either);
    assert_eq!(ladder.config().downgrade_schedule, "period-end");
    assert_eq!(ladder.config().utc_offset_minutes, 480);
}

// ----- fixtures -----------------------------------------------------------------------------

#[test]
fn fixtures_pass_natively() {
    Fixture::check::<TierUpgrade>(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cases.json"));
}
