//! Native tests through the SDK's fake host.

use rulebox_sdk::testing::{FakeHost, Fixture, event, line, member, purchase, sign_up};
use rulebox_sdk::time::{DAY_MS, HOUR_MS};
use rulebox_sdk::{Award, LineItem, MemberView, Referral, Review, Visit};
use serde_json::{Value, json};

use super::*;

/// Saturday 2026-03-14 00:00:00.000 in China Standard Time (UTC+8).
const SAT: Timestamp = 1_773_417_600_000;
/// Sunday 2026-03-15 09:30 CST.
const SUN_0930: Timestamp = 1_773_538_200_000;

fn run_as(
    member: MemberView,
    config: Value,
    at: Timestamp,
    kind: EventKind,
) -> Result<Vec<Effect>, RuleError> {
    FakeHost::new(member)
        .with_config(config)
        .on_event::<PointsAccrual>(&event("e-1", "m-1", at, kind))
}

/// A member who has bought before (this purchase is their second order).
fn regular() -> MemberView {
    member("m-1").with_activity(5_000, 2, 50)
}

fn run(config: Value, at: Timestamp, kind: EventKind) -> Result<Vec<Effect>, RuleError> {
    run_as(regular(), config, at, kind)
}

/// Order o-1 of `lines`, of which `paid` was paid.
fn order(paid: Money, lines: Vec<LineItem>) -> EventKind {
    let mut kind = purchase("o-1", "s-1", lines);
    if let EventKind::Purchase(p) = &mut kind {
        p.paid = paid;
    }
    kind
}

/// One line of plain tea, paid in full.
fn simple(paid: Money) -> EventKind {
    order(paid, vec![line("p-1", "tea", 1, paid)])
}

fn amounts(effects: &[Effect]) -> Vec<Points> {
    effects.iter().map(Effect::points_delta).collect()
}

fn award(effect: &Effect) -> &Award {
    match effect {
        Effect::AwardPoints(award) => award,
        other => panic!("not an award: {other:?}"),
    }
}

fn points(config: Value, at: Timestamp, kind: EventKind) -> Vec<Points> {
    amounts(&run(config, at, kind).unwrap())
}

fn config_error(config: Value) -> String {
    match run(config, SUN_0930, simple(1000)) {
        Err(RuleError::InvalidConfig(message)) => message,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

fn review(has_photo: bool) -> EventKind {
    EventKind::ReviewPosted(Review {
        review_id: "r-1".into(),
        product_id: Some("p-1".into()),
        rating: 5,
        has_photo,
    })
}

fn referral(level: u8) -> EventKind {
    EventKind::ReferralAccepted(Referral {
        invitee_id: "m-9".into(),
        level,
    })
}

fn check_in() -> EventKind {
    EventKind::CheckIn(Visit {
        location: None,
        store_id: Some("s-1".into()),
    })
}

// ----- description ----------------------------------------------------------------------

#[test]
fn describe_declares_events_and_activity() {
    let d = PointsAccrual::describe();
    assert_eq!(d.name, "points-accrual");
    assert_eq!(d.version, env!("CARGO_PKG_VERSION"));
    for kind in [
        EventType::Purchase,
        EventType::SignUp,
        EventType::CheckIn,
        EventType::ReviewPosted,
        EventType::ReferralAccepted,
    ] {
        assert!(d.events.contains(&kind), "{kind:?}");
    }
    assert_eq!(d.events.len(), 5);
    assert_eq!(d.reads, vec![MemberField::Activity]);
    assert!(d.queries.is_empty());
}

#[test]
fn undeclared_events_are_refused() {
    let refund = EventKind::Refund(rulebox_sdk::Refund {
        order_id: "o-1".into(),
        lines: Vec::new(),
        refunded: 100,
    });
    assert!(matches!(
        run(json!({}), SUN_0930, refund),
        Err(RuleError::Unsupported(_))
    ));
}

// ----- rate and rounding ------------------------------------------------------------------

#[test]
fn default_rate_is_one_point_per_yuan_rounded_down() {
    let effects = run(json!({}), SUN_0930, simple(1999)).unwrap();
    assert_eq!(effects, vec![Effect::award(19, "purchase o-1: 1pt/¥1")]);
    // Less than a yuan earns nothing, and nothing is no effect at all.
    assert!(run(json!({}), SUN_0930, simple(99)).unwrap().is_empty());
}

#[test]
fn rounding_modes() {
    let up = json!({"rounding": "up"});
    assert_eq!(points(up.clone(), SUN_0930, simple(1901)), vec![20]);
    assert_eq!(points(up, SUN_0930, simple(1900)), vec![19]);
    let nearest = json!({"rounding": "nearest"});
    assert_eq!(points(nearest.clone(), SUN_0930, simple(1950)), vec![20]);
    assert_eq!(points(nearest, SUN_0930, simple(1949)), vec![19]);
    let custom = json!({"rate": {"points": 3, "per": 1000}, "currency_symbol": "$"});
    let effects = run(custom, SUN_0930, simple(2999)).unwrap();
    assert_eq!(effects, vec![Effect::award(8, "purchase o-1: 3pt/$10")]);
}

#[test]
fn rounds_once_at_the_end_not_per_line() {
    let lines = vec![
        line("p-1", "tea", 1, 199),
        line("p-2", "tea", 1, 199),
        line("p-3", "tea", 1, 199),
    ];
    // Per line: 1 + 1 + 1 = 3. Once: 5.97 → 5.
    assert_eq!(
        points(json!({}), SUN_0930, order(597, lines.clone())),
        vec![5]
    );
    // 5.97 × 1.5 = 8.955 → 8 (rounding the base first would give 5 × 1.5 = 7).
    let gold = json!({"tier_multipliers": {"base": 150}});
    assert_eq!(points(gold, SUN_0930, order(597, lines)), vec![8]);
}

// ----- multipliers ------------------------------------------------------------------------

#[test]
fn tier_multiplier_applies_to_the_members_tier_only() {
    let config = json!({"tier_multipliers": {"gold": 150, "silver": 120}});
    let gold = run_as(
        regular().with_tier("gold"),
        config.clone(),
        SUN_0930,
        simple(3300),
    );
    assert_eq!(
        gold.unwrap(),
        vec![Effect::award(49, "purchase o-1: 1pt/¥1 ×1.5 gold")]
    );
    let green = run_as(regular().with_tier("green"), config, SUN_0930, simple(3300));
    assert_eq!(
        green.unwrap(),
        vec![Effect::award(33, "purchase o-1: 1pt/¥1")]
    );
}

#[test]
fn product_multiplier_overrides_category_multiplier() {
    let lines = vec![
        line("p-1", "seasonal", 1, 1000),
        line("p-9", "seasonal", 1, 1000),
        line("p-2", "tea", 2, 500),
    ];
    let config =
        json!({"category_multipliers": {"seasonal": 200}, "product_multipliers": {"p-9": 300}});
    let effects = run(config, SUN_0930, order(3000, lines.clone())).unwrap();
    // 10 × 2 + 10 × 3 + 10 × 1
    assert_eq!(
        effects,
        vec![Effect::award(
            60,
            "purchase o-1: 1pt/¥1 (seasonal ×2, p-9 ×3)"
        )]
    );
    // A product at 100% is not doubled by its category.
    let config =
        json!({"category_multipliers": {"seasonal": 200}, "product_multipliers": {"p-9": 100}});
    let effects = run(config, SUN_0930, order(3000, lines)).unwrap();
    assert_eq!(
        effects,
        vec![Effect::award(40, "purchase o-1: 1pt/¥1 (seasonal ×2)")]
    );
}

#[test]
fn discounts_are_spread_over_lines_by_value() {
    let config = json!({"category_multipliers": {"seasonal": 200}});
    // Half off: each line earns on half its value. 5 × 2 + 5 = 15 (not 10 × 2 + 0).
    let lines = vec![
        line("p-1", "seasonal", 1, 1000),
        line("p-2", "tea", 1, 1000),
    ];
    assert_eq!(
        points(config.clone(), SUN_0930, order(1000, lines)),
        vec![15]
    );
    // Uneven lines: shares are 150 and 350 → 3 + 3.5 = 6.5.
    let lines = vec![line("p-1", "seasonal", 3, 100), line("p-2", "tea", 7, 100)];
    assert_eq!(
        points(config.clone(), SUN_0930, order(500, lines.clone())),
        vec![6]
    );
    let nearest = json!({"category_multipliers": {"seasonal": 200}, "rounding": "nearest"});
    assert_eq!(points(nearest, SUN_0930, order(500, lines)), vec![7]);
}

#[test]
fn orders_without_line_value_earn_on_paid() {
    assert_eq!(
        points(json!({}), SUN_0930, order(1000, Vec::new())),
        vec![10]
    );
    let free = vec![line("p-1", "seasonal", 1, 0)];
    let config = json!({"category_multipliers": {"seasonal": 200}});
    let effects = run(config, SUN_0930, order(500, free)).unwrap();
    assert_eq!(effects, vec![Effect::award(5, "purchase o-1: 1pt/¥1")]);
}

// ----- campaigns --------------------------------------------------------------------------

fn campaign(extra: Value) -> Value {
    let mut c = json!({"name": "double", "from": SAT + 10 * HOUR_MS, "until": SAT + 34 * HOUR_MS, "multiplier": 200});
    if let (Value::Object(c), Value::Object(extra)) = (&mut c, extra) {
        c.extend(extra);
    }
    json!({ "campaigns": [c] })
}

#[test]
fn campaign_window_is_inclusive_from_exclusive_until() {
    let config = campaign(json!({}));
    let (from, until) = (SAT + 10 * HOUR_MS, SAT + 34 * HOUR_MS);
    assert_eq!(points(config.clone(), from - 1, simple(1000)), vec![10]);
    assert_eq!(points(config.clone(), from, simple(1000)), vec![20]);
    assert_eq!(points(config.clone(), until - 1, simple(1000)), vec![20]);
    assert_eq!(points(config.clone(), until, simple(1000)), vec![10]);
    let effects = run(config, from, simple(1000)).unwrap();
    assert_eq!(award(&effects[0]).reason, "purchase o-1: 1pt/¥1 ×2 double");
}

#[test]
fn campaign_weekdays_are_local() {
    let config = json!({"campaigns": [{"name": "weekend", "from": SAT - 7 * DAY_MS, "until": SAT + 7 * DAY_MS,
        "weekdays": ["Sat", "sunday"], "multiplier": 200}]});
    // Friday 23:59:59.999 CST, Saturday 00:00 CST (still Friday in UTC).
    assert_eq!(points(config.clone(), SAT - 1, simple(1000)), vec![10]);
    assert_eq!(points(config.clone(), SAT, simple(1000)), vec![20]);
    // Sunday 23:59:59.999 CST, Monday 00:00 CST.
    assert_eq!(
        points(config.clone(), SAT + 2 * DAY_MS - 1, simple(1000)),
        vec![20]
    );
    assert_eq!(
        points(config.clone(), SAT + 2 * DAY_MS, simple(1000)),
        vec![10]
    );
    // A brand on UTC: Saturday 00:00 CST is Friday 16:00 there.
    let mut utc = config;
    utc["utc_offset_minutes"] = json!(0);
    assert_eq!(points(utc.clone(), SAT, simple(1000)), vec![10]);
    assert_eq!(points(utc, SAT + 8 * HOUR_MS, simple(1000)), vec![20]);
}

#[test]
fn campaign_hours_are_local_and_until_is_exclusive() {
    let config = json!({"campaigns": [{"name": "afternoon-tea", "from": SAT, "until": SAT + DAY_MS,
        "hours": {"from": 14, "until": 17}, "multiplier": 200}]});
    assert_eq!(
        points(config.clone(), SAT + 14 * HOUR_MS - 1, simple(1000)),
        vec![10]
    );
    assert_eq!(
        points(config.clone(), SAT + 14 * HOUR_MS, simple(1000)),
        vec![20]
    );
    assert_eq!(
        points(config.clone(), SAT + 17 * HOUR_MS - 1, simple(1000)),
        vec![20]
    );
    assert_eq!(points(config, SAT + 17 * HOUR_MS, simple(1000)), vec![10]);
    // 0..24 is the whole local day.
    let all_day = json!({"campaigns": [{"name": "all-day", "from": SAT, "until": SAT + DAY_MS,
        "hours": {"from": 0, "until": 24}, "multiplier": 200}]});
    assert_eq!(points(all_day.clone(), SAT, simple(1000)), vec![20]);
    assert_eq!(points(all_day, SAT + DAY_MS - 1, simple(1000)), vec![20]);
}

#[test]
fn highest_campaign_multiplier_wins_ties_go_to_the_first() {
    let config = json!({"campaigns": [
        {"name": "a", "from": SAT, "until": SAT + DAY_MS, "multiplier": 150},
        {"name": "b", "from": SAT, "until": SAT + DAY_MS, "multiplier": 300},
        {"name": "c", "from": SAT, "until": SAT + DAY_MS, "multiplier": 300},
        {"name": "later", "from": SAT + DAY_MS, "until": SAT + 2 * DAY_MS, "multiplier": 1000},
    ]});
    let effects = run(config, SAT + HOUR_MS, simple(1000)).unwrap();
    assert_eq!(
        effects,
        vec![Effect::award(30, "purchase o-1: 1pt/¥1 ×3 b")]
    );
}

#[test]
fn the_reason_names_everything_that_applied() {
    let config = json!({
        "tier_multipliers": {"gold": 150},
        "category_multipliers": {"seasonal": 200},
        "campaigns": [{"name": "double-points-weekend", "from": SAT, "until": SAT + 2 * DAY_MS,
                       "weekdays": ["Sat", "Sun"], "multiplier": 200}]
    });
    let lines = vec![
        line("p-1", "seasonal", 1, 1000),
        line("p-2", "tea", 1, 1000),
    ];
    let effects = run_as(
        regular().with_tier("gold"),
        config,
        SUN_0930,
        order(2000, lines),
    );
    // (10 × 2 + 10) × 1.5 × 2
    assert_eq!(
        effects.unwrap(),
        vec![Effect::award(
            90,
            "purchase o-1: 1pt/¥1 ×1.5 gold ×2 double-points-weekend (seasonal ×2)"
        )]
    );
}

// ----- first purchase, cap, expiry --------------------------------------------------------

#[test]
fn first_purchase_bonus_only_on_the_first_order() {
    let config = json!({"first_purchase_bonus": 200});
    let first = member("m-1").with_activity(1000, 1, 0);
    let effects = run_as(first.clone(), config.clone(), SUN_0930, simple(1000)).unwrap();
    assert_eq!(
        effects,
        vec![
            Effect::award(10, "purchase o-1: 1pt/¥1"),
            Effect::award(200, "first purchase bonus (order o-1)"),
        ]
    );
    assert_eq!(points(config, SUN_0930, simple(1000)), vec![10]);
    // No bonus configured: no bonus effect.
    let effects = run_as(first, json!({}), SUN_0930, simple(1000)).unwrap();
    assert_eq!(amounts(&effects), vec![10]);
}

#[test]
fn daily_cap_partly_reached_awards_what_fits() {
    let config = json!({"daily_cap": 500, "first_purchase_bonus": 100});
    let capped = member("m-1")
        .with_activity(3000, 1, 480)
        .with_today(3000, 1, 480);
    let effects = run_as(capped, config.clone(), SUN_0930, simple(3000)).unwrap();
    assert_eq!(
        effects,
        vec![Effect::award(
            20,
            "purchase o-1: 1pt/¥1; 20 of 30 points, daily cap 500 reached"
        )]
    );
    // The base fits whole; the bonus is shortened.
    let first = member("m-1")
        .with_activity(3000, 1, 450)
        .with_today(3000, 1, 450);
    let effects = run_as(first, config, SUN_0930, simple(3000)).unwrap();
    assert_eq!(
        effects,
        vec![
            Effect::award(30, "purchase o-1: 1pt/¥1"),
            Effect::award(
                20,
                "first purchase bonus (order o-1); 20 of 100 points, daily cap 500 reached"
            ),
        ]
    );
}

#[test]
fn daily_cap_fully_reached_awards_nothing() {
    let config = json!({"daily_cap": 500, "check_in_points": 10});
    for earned in [500, 650] {
        let member = regular().with_today(0, 0, earned);
        let effects = run_as(member.clone(), config.clone(), SUN_0930, simple(3000));
        assert_eq!(effects.unwrap(), vec![]);
        assert_eq!(
            run_as(member, config.clone(), SUN_0930, check_in()).unwrap(),
            vec![]
        );
    }
    // One point of room left.
    let member = regular().with_today(0, 0, 499);
    let effects = run_as(member, config, SUN_0930, check_in()).unwrap();
    assert_eq!(amounts(&effects), vec![1]);
}

#[test]
fn points_expire_at_the_end_of_the_nth_month() {
    let config = json!({"expiry_months": 12, "first_purchase_bonus": 5});
    let first = member("m-1").with_activity(1000, 1, 0);
    let effects = run_as(first, config, SUN_0930, simple(1000)).unwrap();
    assert_eq!(effects.len(), 2);
    for effect in &effects {
        let expires = award(effect).expires_at.expect("expiring");
        let l = rulebox_sdk::time::local(expires, 480).unwrap();
        assert_eq!(
            (l.date.year, l.date.month, l.date.day, l.hour, l.minute),
            (2027, 3, 31, 23, 59)
        );
        assert_eq!(
            rulebox_sdk::time::local(expires + 1, 480).unwrap().date.day,
            1
        );
        assert_eq!(expires, 1_806_508_799_999); // 2027-03-31T15:59:59.999Z
    }
    // Expiry follows the brand's time zone: 2026-03-31 20:00 UTC is April 1st in Shanghai.
    let late_march = 1_774_987_200_000;
    let effects = run(json!({"expiry_months": 1}), late_march, simple(1000)).unwrap();
    let l = rulebox_sdk::time::local(award(&effects[0]).expires_at.unwrap(), 480).unwrap();
    assert_eq!((l.date.year, l.date.month, l.date.day), (2026, 5, 31));
    // Without expiry_months points never expire.
    let effects = run(json!({}), SUN_0930, simple(1000)).unwrap();
    assert_eq!(award(&effects[0]).expires_at, None);
}

// ----- other events -----------------------------------------------------------------------

#[test]
fn non_purchase_events_earn_their_points() {
    let config = json!({
        "sign_up_points": 50, "check_in_points": 5, "review_points": 10,
        "review_photo_bonus": 15, "referral_points": [100, 30, 10]
    });
    let run = |kind| run(config.clone(), SUN_0930, kind).unwrap();
    assert_eq!(
        run(sign_up("app")),
        vec![Effect::award(50, "sign-up bonus (app)")]
    );
    assert_eq!(
        run(check_in()),
        vec![Effect::award(5, "check-in at store s-1")]
    );
    let anywhere = EventKind::CheckIn(Visit {
        location: None,
        store_id: None,
    });
    assert_eq!(run(anywhere), vec![Effect::award(5, "check-in")]);
    assert_eq!(run(review(false)), vec![Effect::award(10, "review r-1")]);
    assert_eq!(
        run(review(true)),
        vec![Effect::award(25, "review r-1 with photos")]
    );
    for (level, points) in [(1, 100), (2, 30), (3, 10)] {
        assert_eq!(
            run(referral(level)),
            vec![Effect::award(
                points,
                format!("referral of m-9 (level {level})")
            )]
        );
    }
}

#[test]
fn zero_point_configurations_give_no_effects() {
    let defaults = json!({});
    for kind in [
        sign_up("app"),
        check_in(),
        review(false),
        review(true),
        referral(1),
        referral(3),
    ] {
        assert_eq!(run(defaults.clone(), SUN_0930, kind).unwrap(), vec![]);
    }
    for config in [
        json!({"rate": {"points": 0, "per": 100}}),
        json!({"tier_multipliers": {"base": 0}}),
        json!({"category_multipliers": {"tea": 0}}),
        json!({"campaigns": [{"name": "off", "from": SAT, "until": SAT + 2 * DAY_MS, "multiplier": 0}]}),
    ] {
        assert_eq!(run(config, SUN_0930, simple(1000)).unwrap(), vec![],);
    }
    assert_eq!(run(json!({}), SUN_0930, simple(0)).unwrap(), vec![]);
    // Only the photo bonus: reviews without photos earn nothing.
    let photo_only = json!({"review_photo_bonus": 5, "referral_points": [0, 20, 0]});
    assert_eq!(
        run(photo_only.clone(), SUN_0930, review(false)).unwrap(),
        vec![]
    );
    assert_eq!(points(photo_only.clone(), SUN_0930, review(true)), vec![5]);
    assert_eq!(
        run(photo_only.clone(), SUN_0930, referral(1)).unwrap(),
        vec![]
    );
    assert_eq!(points(photo_only, SUN_0930, referral(2)), vec![20]);
}

// ----- errors -----------------------------------------------------------------------------

#[test]
fn invalid_configuration_names_the_field() {
    let window = |extra: Value| campaign(extra);
    let cases = [
        (json!({"rate": {"points": -1, "per": 100}}), "rate.points"),
        (json!({"rate": {"points": 1, "per": 0}}), "rate.per"),
        (json!({"rate": {"points": 1, "per": -100}}), "rate.per"),
        (
            json!({"tier_multipliers": {"gold": -150}}),
            "tier_multipliers.gold",
        ),
        (
            json!({"category_multipliers": {"seasonal": -1}}),
            "category_multipliers.seasonal",
        ),
        (
            json!({"product_multipliers": {"p-9": -1}}),
            "product_multipliers.p-9",
        ),
        (json!({"first_purchase_bonus": -1}), "first_purchase_bonus"),
        (json!({"sign_up_points": -1}), "sign_up_points"),
        (json!({"check_in_points": -1}), "check_in_points"),
        (json!({"review_points": -1}), "review_points"),
        (json!({"review_photo_bonus": -1}), "review_photo_bonus"),
        (
            json!({"referral_points": [10, -1, 0]}),
            "referral_points[1]",
        ),
        (json!({"daily_cap": -1}), "daily_cap"),
        (json!({"expiry_months": 0}), "expiry_months"),
        (json!({"expiry_months": 5000}), "expiry_months"),
        (json!({"utc_offset_minutes": 1440}), "utc_offset_minutes"),
        (
            window(json!({"weekdays": ["Sat", "Satur"]})),
            "weekdays: \"Satur\"",
        ),
        (window(json!({"hours": {"from": 0, "until": 25}})), "hours"),
        (window(json!({"hours": {"from": -1, "until": 5}})), "hours"),
        (window(json!({"hours": {"from": 17, "until": 17}})), "hours"),
        (window(json!({"hours": {"from": 22, "until": 2}})), "hours"),
        (
            window(json!({"from": SAT, "until": SAT})),
            "campaigns[0] (\"double\").from",
        ),
        (window(json!({"until": SAT})), "until"),
        (
            window(json!({"multiplier": -200})),
            "campaigns[0] (\"double\").multiplier",
        ),
        (window(json!({"name": " "})), "campaigns[0].name"),
        // Unknown and mistyped keys are refused, not ignored.
        (json!({"rat": {"points": 1, "per": 100}}), "rat"),
        (
            json!({"rate": {"points": 1, "per": 100, "pionts": 2}}),
            "pionts",
        ),
        (json!({"rate": {"points": 1}}), "per"),
        (window(json!({"weekday": ["Sat"]})), "weekday"),
        (json!({"rounding": "half-even"}), "half-even"),
    ];
    for (config, field) in cases {
        let message = config_error(config.clone());
        assert!(
            message.contains(field),
            "{config}: {message:?} does not name {field:?}"
        );
    }
    // A bad campaign fails every event, not only purchases, so it is noticed at once.
    let bad = window(json!({"weekdays": ["Caturday"]}));
    assert!(matches!(
        run(bad, SUN_0930, sign_up("app")),
        Err(RuleError::InvalidConfig(_))
    ));
}

#[test]
fn impossible_events_are_invalid_input() {
    let invalid = |kind| {
        matches!(
            run(json!({"referral_points": [1, 1, 1]}), SUN_0930, kind),
            Err(RuleError::InvalidInput(_))
        )
    };
    assert!(invalid(order(-100, vec![line("p-1", "tea", 1, 100)])));
    assert!(invalid(order(100, vec![line("p-1", "tea", 1, -100)])));
    assert!(invalid(order(
        100,
        vec![line("p-1", "tea", u32::MAX, i64::MAX / 2)]
    )));
    assert!(invalid(referral(0)));
    assert!(invalid(referral(4)));
}

#[test]
fn overflow_is_an_error_not_a_wrap() {
    let huge =
        json!({"rate": {"points": i64::MAX, "per": 1}, "tier_multipliers": {"base": i64::MAX}});
    let lines = vec![line("p-1", "tea", 1, i64::MAX)];
    assert!(matches!(
        run(huge, SUN_0930, order(i64::MAX, lines)),
        Err(RuleError::Internal(_))
    ));
    // Fits in i128 but not in the i64 points type.
    let big = json!({"rate": {"points": i64::MAX, "per": 1}});
    assert!(run(big, SUN_0930, simple(1000)).is_err());
    let photo = json!({"review_points": i64::MAX, "review_photo_bonus": 1});
    assert!(run(photo, SUN_0930, review(true)).is_err());
}

#[test]
fn long_reasons_are_shortened_for_the_host() {
    let products: serde_json::Map<String, Value> = (0..200)
        .map(|i| (format!("product-{i}"), json!(200)))
        .collect();
    let lines: Vec<LineItem> = (0..200)
        .map(|i| line(&format!("product-{i}"), "tea", 1, 100))
        .collect();
    let config = json!({ "product_multipliers": products });
    let effects = run(config, SUN_0930, order(20_000, lines.clone())).unwrap();
    let reason = &award(&effects[0]).reason;
    assert_eq!(award(&effects[0]).amount, 400);
    assert!(
        reason.len() <= rulebox_sdk::limits::MAX_TEXT_BYTES,
        "{}",
        reason.len()
    );
    assert!(reason.ends_with('…'));
    // The daily-cap note survives the shortening.
    let capped = regular().with_today(0, 0, 100);
    let config = json!({ "product_multipliers": products, "daily_cap": 300 });
    let effects = run_as(capped, config, SUN_0930, order(20_000, lines)).unwrap();
    let reason = &award(&effects[0]).reason;
    assert!(
        reason.len() <= rulebox_sdk::limits::MAX_TEXT_BYTES,
        "{}",
        reason.len()
    );
    assert!(
        reason.ends_with("…; 200 of 400 points, daily cap 300 reached"),
        "{reason}"
    );
}

#[test]
fn daily_cap_keeps_order_and_drops_zeros() {
    let awards = vec![
        (0, "zero".to_owned()),
        (7, "a".to_owned()),
        (7, "b".to_owned()),
    ];
    assert_eq!(
        apply_daily_cap(10, 0, awards),
        vec![
            (7, "a".to_owned()),
            (3, "b; 3 of 7 points, daily cap 10 reached".to_owned())
        ]
    );
}

#[test]
fn fixtures_pass_natively() {
    Fixture::check::<PointsAccrual>(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cases.json"));
}

#[test]
fn readme_example_manifest_is_valid() {
    let readme = include_str!("../README.md");
    let start = readme
        .find("<!-- example manifest -->\n```json\n")
        .expect("marker")
        + 34;
    let end = start + readme[start..].find("```").expect("end of block");
    let manifest: Value = serde_json::from_str(&readme[start..end]).expect("JSON");
    let d = PointsAccrual::describe();
    assert_eq!(manifest["name"], json!(d.name));
    assert_eq!(manifest["version"], json!(d.version));
    assert_eq!(manifest["events"], serde_json::to_value(&d.events).unwrap());
    let config = manifest["config"].clone();
    let parsed: Config = serde_json::from_value(config.clone()).expect("config parses");
    parsed.validate().expect("config is valid");
    // The worked example in the README.
    let lines = vec![
        line("p-7", "seasonal", 1, 2800),
        line("p-1", "fruit-tea", 1, 1900),
    ];
    let gold = regular().with_tier("gold");
    let effects = run_as(gold, config, SUN_0930, order(4200, lines)).unwrap();
    assert_eq!(amounts(&effects), vec![201]);
}
