//! Native tests through `rulebox_sdk::testing`.

use rulebox_sdk::testing::{FakeHost, Fixture, line, member};
use rulebox_sdk::time::{DAY_MS, HOUR_MS};
use rulebox_sdk::{
    Cart, CouponAnswer, CouponVerdict, GeoPoint, LineItem, MemberView, Place, QueryKind,
};
use serde_json::{Value, json};

use super::*;

/// 2026-03-15 09:30 in Shanghai (UTC+8), a Sunday.
const T: Timestamp = 1_773_538_200_000;
const MINUTE_MS: Timestamp = 60_000;
/// Far in the future: coupons valid "forever".
const FAR: Timestamp = 1_900_000_000_000;

fn tea(quantity: u32, unit_price: Money) -> LineItem {
    line("p-mango", "fruit-tea", quantity, unit_price)
}

fn cookie(unit_price: Money) -> LineItem {
    line("p-cookie", "bakery", 1, unit_price)
}

fn query_at(at: Timestamp, store: &str, lines: Vec<LineItem>) -> Query {
    Query {
        brand: "demo-tea".into(),
        member_id: "m-1".into(),
        at,
        kind: QueryKind::CouponEligibility(Cart {
            store_id: store.into(),
            lines,
        }),
    }
}

fn ask_at(
    m: MemberView,
    config: Value,
    at: Timestamp,
    store: &str,
    lines: Vec<LineItem>,
) -> Result<CouponAnswer, RuleError> {
    match FakeHost::new(m)
        .with_config(config)
        .on_query::<CouponEligibility>(&query_at(at, store, lines))?
    {
        Answer::CouponEligibility(a) => Ok(a),
        other => panic!("unexpected answer {other:?}"),
    }
}

/// Asks at [`T`] in store s-1.
fn ask(m: MemberView, config: Value, lines: Vec<LineItem>) -> CouponAnswer {
    ask_at(m, config, T, "s-1", lines).unwrap()
}

fn templates(list: Value) -> Value {
    json!({ "templates": list })
}

/// A template with `extra` keys merged in.
fn tpl(id: &str, discount: Value, extra: Value) -> Value {
    let mut t = json!({ "id": id, "discount": discount });
    if let (Value::Object(t), Value::Object(extra)) = (&mut t, extra) {
        t.extend(extra);
    }
    t
}

fn off(amount: Money) -> Value {
    json!({ "amount_off": amount })
}

/// A member holding one coupon `c-1` of `template`, valid forever, unused.
fn holding(template: &str) -> MemberView {
    member("m-1").with_coupon("c-1", template, 0, FAR, 0)
}

fn only(answer: &CouponAnswer) -> &CouponVerdict {
    assert_eq!(answer.verdicts.len(), 1, "{answer:?}");
    &answer.verdicts[0]
}

fn verdict<'a>(answer: &'a CouponAnswer, coupon_id: &str) -> &'a CouponVerdict {
    answer
        .verdicts
        .iter()
        .find(|v| v.coupon_id == coupon_id)
        .unwrap_or_else(|| panic!("no verdict for {coupon_id} in {answer:?}"))
}

fn assert_ineligible(v: &CouponVerdict, reason: &str) {
    assert!(!v.eligible, "{v:?}");
    assert_eq!(v.reason, reason);
    assert_eq!(v.discount, 0);
}

fn config_error(config: Value) -> String {
    match ask_at(holding("x"), config, T, "s-1", vec![tea(1, 1800)]) {
        Err(RuleError::InvalidConfig(message)) => message,
        other => panic!("expected an invalid-config error, got {other:?}"),
    }
}

// ----- description ----------------------------------------------------------------------

#[test]
fn describe_answers_coupon_queries_and_reads_what_it_needs() {
    let d = CouponEligibility::describe();
    assert_eq!(d.name, "coupon-eligibility");
    assert_eq!(d.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(d.queries, vec![QueryType::CouponEligibility]);
    assert!(d.events.is_empty());
    for field in [
        MemberField::Coupons,
        MemberField::Tags,
        MemberField::BirthDate,
        MemberField::Activity,
    ] {
        assert!(d.reads.contains(&field), "{field:?}");
    }
    assert_eq!(d.reads.len(), 4);
}

#[test]
fn other_queries_are_unsupported() {
    let host = FakeHost::new(member("m-1"));
    let q = Query {
        kind: QueryKind::Recommendation(Place {
            location: GeoPoint { lat: 0.0, lon: 0.0 },
            limit: 3,
        }),
        ..query_at(T, "s-1", vec![])
    };
    assert!(matches!(
        CouponEligibility::run_query(&host.context(), &q),
        Err(RuleError::Unsupported(_))
    ));
}

// ----- minimum spend and scope -----------------------------------------------------------

#[test]
fn min_spend_exactly_met_is_eligible() {
    let config = templates(json!([tpl("new-5", off(500), json!({"min_spend": 3000}))]));
    let a = ask(holding("new-5"), config, vec![tea(1, 1800), tea(1, 1200)]);
    let v = only(&a);
    assert!(v.eligible, "{v:?}");
    assert_eq!(v.discount, 500);
    assert_eq!(v.reason, "saves ¥5.00 on this order");
    assert_eq!(a.best_combination, vec!["c-1"]);
    assert_eq!(a.best_discount, 500);
}

#[test]
fn min_spend_one_fen_short_says_how_much_more() {
    let config = templates(json!([tpl("new-5", off(500), json!({"min_spend": 3000}))]));
    let a = ask(holding("new-5"), config, vec![tea(1, 2999)]);
    assert_ineligible(only(&a), "spend ¥0.01 more to use this");
    assert!(a.best_combination.is_empty());
    assert_eq!(a.best_discount, 0);
}

#[test]
fn category_scope_counts_only_its_lines() {
    let config = templates(json!([tpl(
        "tea-5",
        off(500),
        json!({"min_spend": 3000, "categories": ["fruit-tea"]})
    )]));
    // ¥18 of fruit tea and ¥100 of cookies: the cookies do not count toward the minimum.
    let a = ask(
        holding("tea-5"),
        config.clone(),
        vec![tea(1, 1800), cookie(10000)],
    );
    assert_ineligible(only(&a), "spend ¥12.00 more on fruit tea to use this");
    // No fruit tea at all and no minimum: ask for some.
    let no_min = templates(json!([tpl(
        "tea-5",
        off(500),
        json!({"categories": ["fruit-tea", "milk-tea"]})
    )]));
    let a = ask(holding("tea-5"), no_min, vec![cookie(10000)]);
    assert_ineligible(
        only(&a),
        "add fruit tea or milk tea to your cart to use this",
    );
    // Enough fruit tea.
    let a = ask(holding("tea-5"), config, vec![tea(2, 1500), cookie(10000)]);
    assert_eq!(only(&a).discount, 500);
}

#[test]
fn product_scope_adds_to_category_scope_and_caps_the_discount() {
    let config = templates(json!([tpl(
        "big",
        off(5000),
        json!({"categories": ["fruit-tea"], "products": ["p-cookie"]})
    )]));
    // Covered: ¥18 tea + ¥6 cookie = ¥24; the ¥50 coupon takes off at most that.
    let lines = vec![tea(1, 1800), cookie(600), line("p-cake", "bakery", 1, 3000)];
    let a = ask(holding("big"), config, lines);
    assert_eq!(only(&a).discount, 2400);
    assert_eq!(a.best_discount, 2400);
}

// ----- who -------------------------------------------------------------------------------

#[test]
fn tier_is_required_when_listed() {
    let config = templates(json!([tpl("gold-5", off(500), json!({"tiers": ["gold"]}))]));
    let a = ask(holding("gold-5"), config.clone(), vec![tea(1, 1800)]);
    assert_ineligible(only(&a), "only for gold members");
    let a = ask(
        holding("gold-5").with_tier("gold"),
        config,
        vec![tea(1, 1800)],
    );
    assert!(only(&a).eligible);

    let two = templates(json!([tpl(
        "vip",
        off(500),
        json!({"tiers": ["gold", "platinum", "diamond"]})
    )]));
    let a = ask(holding("vip"), two, vec![tea(1, 1800)]);
    assert_ineligible(only(&a), "only for gold, platinum or diamond members");
}

#[test]
fn tags_limit_to_selected_members() {
    let config = templates(json!([tpl(
        "vip",
        off(500),
        json!({"tags": ["high-value"]})
    )]));
    let a = ask(holding("vip"), config.clone(), vec![tea(1, 1800)]);
    assert_ineligible(only(&a), "only for selected members");
    let a = ask(
        holding("vip").with_tags(["tea-lover", "high-value"]),
        config,
        vec![tea(1, 1800)],
    );
    assert!(only(&a).eligible);
}

#[test]
fn new_member_only_means_no_orders_yet() {
    let config = templates(json!([tpl(
        "new-5",
        off(500),
        json!({"new_member_only": true})
    )]));
    let a = ask(holding("new-5"), config.clone(), vec![tea(1, 1800)]);
    assert!(only(&a).eligible);
    let a = ask(
        holding("new-5").with_activity(1800, 1, 18),
        config,
        vec![tea(1, 1800)],
    );
    assert_ineligible(only(&a), "only for new members");
}

#[test]
fn birthday_month_is_judged_in_local_time() {
    let config = templates(json!([tpl(
        "bday",
        json!({"percent_off": 100, "max_discount": 2500}),
        json!({"birthday_month_only": true})
    )]));
    let march = holding("bday").with_birth_date(1995, 3, 28);
    let a = ask(march.clone(), config.clone(), vec![tea(1, 1800)]);
    assert_eq!(only(&a).discount, 1800);

    let april = holding("bday").with_birth_date(1995, 4, 2);
    let a = ask(april, config.clone(), vec![tea(1, 1800)]);
    assert_ineligible(only(&a), "only in your birthday month");

    let a = ask(holding("bday"), config.clone(), vec![tea(1, 1800)]);
    assert_ineligible(
        only(&a),
        "only in your birthday month; add your birth date to your profile",
    );

    // 2026-03-01 00:30 in Shanghai is still February in UTC.
    let first_of_march = T - 14 * DAY_MS - 9 * HOUR_MS;
    let a = ask_at(
        march.clone(),
        config.clone(),
        first_of_march,
        "s-1",
        vec![tea(1, 1800)],
    )
    .unwrap();
    assert!(only(&a).eligible);
    let mut utc = config;
    utc["utc_offset_minutes"] = json!(0);
    let a = ask_at(march, utc, first_of_march, "s-1", vec![tea(1, 1800)]).unwrap();
    assert_ineligible(only(&a), "only in your birthday month");
}

// ----- where and when ----------------------------------------------------------------------

#[test]
fn store_scope() {
    let config = templates(json!([tpl(
        "sz",
        off(500),
        json!({"stores": ["s-1", "s-2"]})
    )]));
    let a = ask_at(holding("sz"), config.clone(), T, "s-2", vec![tea(1, 1800)]).unwrap();
    assert!(only(&a).eligible);
    let a = ask_at(holding("sz"), config, T, "s-9", vec![tea(1, 1800)]).unwrap();
    assert_ineligible(only(&a), "not valid at this store");
}

#[test]
fn valid_hours_include_from_and_exclude_until() {
    let config = templates(json!([tpl(
        "tea-time",
        off(500),
        json!({"valid_hours": {"from": 14, "until": 17}})
    )]));
    let at_14 = T + 4 * HOUR_MS + 30 * MINUTE_MS; // 14:00 local
    let at_17 = T + 7 * HOUR_MS + 30 * MINUTE_MS; // 17:00 local
    for (at, ok) in [
        (at_14 - MINUTE_MS, false), // 13:59
        (at_14 - 1, false),         // 13:59:59.999
        (at_14, true),
        (at_17 - MINUTE_MS, true), // 16:59
        (at_17 - 1, true),         // 16:59:59.999
        (at_17, false),
    ] {
        let a = ask_at(
            holding("tea-time"),
            config.clone(),
            at,
            "s-1",
            vec![tea(1, 1800)],
        )
        .unwrap();
        let v = only(&a);
        assert_eq!(v.eligible, ok, "at {at}: {v:?}");
        if !ok {
            assert_eq!(v.reason, "valid 14:00–17:00");
        }
    }
}

#[test]
fn valid_hours_may_span_midnight() {
    let config = templates(json!([tpl(
        "late",
        off(300),
        json!({"valid_hours": {"from": 22, "until": 2}})
    )]));
    let midnight = T - 9 * HOUR_MS - 30 * MINUTE_MS + DAY_MS; // 2026-03-16 00:00 local
    for (at, ok) in [
        (midnight - 2 * HOUR_MS - 1, false), // 21:59:59.999
        (midnight - 2 * HOUR_MS, true),      // 22:00
        (midnight + HOUR_MS, true),          // 01:00
        (midnight + 2 * HOUR_MS, false),     // 02:00
    ] {
        let a = ask_at(
            holding("late"),
            config.clone(),
            at,
            "s-1",
            vec![tea(1, 1800)],
        )
        .unwrap();
        assert_eq!(only(&a).eligible, ok, "at {at}");
    }
    let a = ask(holding("late"), config, vec![tea(1, 1800)]);
    assert_ineligible(only(&a), "valid 22:00–02:00");
}

#[test]
fn weekdays_are_local() {
    let weekend = templates(json!([tpl(
        "wknd",
        off(500),
        json!({"valid_weekdays": ["sun", "Saturday"]})
    )]));
    // T is a Sunday in Shanghai.
    let a = ask(holding("wknd"), weekend.clone(), vec![tea(1, 1800)]);
    assert!(only(&a).eligible);
    let monday = T + DAY_MS;
    let a = ask_at(holding("wknd"), weekend, monday, "s-1", vec![tea(1, 1800)]).unwrap();
    assert_ineligible(only(&a), "only valid on Sat, Sun");
    // At 09:30 Sunday in Shanghai it is still Saturday in Los Angeles (UTC-8 → 17:30 Sat).
    let sat_only = json!({
        "utc_offset_minutes": -480,
        "templates": [tpl("sat", off(500), json!({"valid_weekdays": ["sat"]}))]
    });
    let a = ask(holding("sat"), sat_only, vec![tea(1, 1800)]);
    assert!(only(&a).eligible);
}

// ----- held coupons ------------------------------------------------------------------------

#[test]
fn per_member_use_limit_compares_uses() {
    let config = templates(json!([tpl(
        "once",
        off(500),
        json!({"max_uses_per_member": 1})
    )]));
    let unused = member("m-1").with_coupon("c-1", "once", 0, FAR, 0);
    let a = ask(unused, config.clone(), vec![tea(1, 1800)]);
    assert!(only(&a).eligible);
    let used = member("m-1").with_coupon("c-1", "once", 0, FAR, 1);
    let a = ask(used, config, vec![tea(1, 1800)]);
    assert_ineligible(only(&a), "already used 1 of 1 times");
    // 0 = unlimited.
    let unlimited = templates(json!([tpl("any", off(500), json!({}))]));
    let a = ask(
        member("m-1").with_coupon("c-1", "any", 0, FAR, 99),
        unlimited,
        vec![tea(1, 1800)],
    );
    assert!(only(&a).eligible);
}

#[test]
fn validity_window_is_inclusive_at_both_ends() {
    let config = templates(json!([tpl("new-5", off(500), json!({}))]));
    for (from, until, ok, reason) in [
        (T, T, true, ""),
        (T - DAY_MS, T - 1, false, "expired"),
        (
            T + 1,
            FAR,
            false,
            "not valid yet: usable from 2026-03-15 09:30",
        ),
        (
            T + DAY_MS,
            FAR,
            false,
            "not valid yet: usable from 2026-03-16 09:30",
        ),
    ] {
        let m = member("m-1").with_coupon("c-1", "new-5", from, until, 0);
        let a = ask(m, config.clone(), vec![tea(1, 1800)]);
        let v = only(&a);
        assert_eq!(v.eligible, ok, "{v:?}");
        if !ok {
            assert_ineligible(v, reason);
        }
    }
}

#[test]
fn held_coupon_of_unknown_template_is_ineligible() {
    let config = templates(json!([tpl("new-5", off(500), json!({}))]));
    let m = member("m-1")
        .with_coupon("c-2", "retired", 0, FAR, 0)
        .with_coupon("c-1", "new-5", 0, FAR, 0);
    let a = ask(m, config, vec![tea(1, 1800)]);
    // Sorted by coupon id.
    assert_eq!(a.verdicts[0].coupon_id, "c-1");
    assert_ineligible(&a.verdicts[1], "unknown coupon template");
    assert_eq!(a.verdicts[1].template_id, "retired");
    assert_eq!(a.best_combination, vec!["c-1"]);
}

#[test]
fn claimable_templates_appear_unheld_only_when_not_held() {
    let config = templates(json!([
        tpl(
            "new-5",
            off(500),
            json!({"claimable": true, "stackable": true})
        ),
        tpl(
            "gold-3",
            off(300),
            json!({"claimable": true, "tiers": ["gold"]})
        ),
        tpl("private", off(900), json!({})),
        tpl(
            "held-claimable",
            off(100),
            json!({"claimable": true, "stackable": true})
        ),
    ]));
    let m = member("m-1").with_coupon("h-9", "held-claimable", 0, FAR, 0);
    let a = ask(m, config, vec![tea(1, 1800)]);
    let summary: Vec<(&str, &str, bool, bool)> = a
        .verdicts
        .iter()
        .map(|v| {
            (
                v.coupon_id.as_str(),
                v.template_id.as_str(),
                v.held,
                v.eligible,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("h-9", "held-claimable", true, true),
            ("new-5", "new-5", false, true),
            ("gold-3", "gold-3", false, false),
        ]
    );
    assert_eq!(
        verdict(&a, "new-5").reason,
        "claim it to save ¥5.00 on this order"
    );
    assert_eq!(verdict(&a, "gold-3").reason, "only for gold members");
    assert_eq!(a.best_combination, vec!["h-9", "new-5"]);
    assert_eq!(a.best_discount, 600);
}

// ----- discounts -----------------------------------------------------------------------------

#[test]
fn percent_discounts_round_as_configured_and_respect_the_cap() {
    let pct = |extra: Value, discount: Value| {
        let mut config = templates(json!([tpl("p", discount, json!({}))]));
        if let (Value::Object(c), Value::Object(e)) = (&mut config, extra) {
            c.extend(e);
        }
        only(&ask(holding("p"), config, vec![tea(1, 1999)])).discount
    };
    // 20% of ¥19.99 is 399.8 fen.
    assert_eq!(pct(json!({}), json!({"percent_off": 20})), 399);
    assert_eq!(
        pct(
            json!({"percent_rounding": "nearest"}),
            json!({"percent_off": 20})
        ),
        400
    );
    assert_eq!(
        pct(
            json!({"percent_rounding": "up"}),
            json!({"percent_off": 20})
        ),
        400
    );
    assert_eq!(
        pct(json!({}), json!({"percent_off": 20, "max_discount": 300})),
        300
    );
    assert_eq!(
        pct(json!({}), json!({"percent_off": 20, "max_discount": 399})),
        399
    );
    assert_eq!(
        pct(
            json!({"percent_rounding": "up"}),
            json!({"percent_off": 100})
        ),
        1999
    );
}

#[test]
fn percent_applies_to_the_scoped_lines_only() {
    let config = templates(json!([tpl(
        "tea-20",
        json!({"percent_off": 20}),
        json!({"categories": ["fruit-tea"]})
    )]));
    let a = ask(holding("tea-20"), config, vec![tea(2, 1800), cookie(10000)]);
    assert_eq!(only(&a).discount, 720);
}

#[test]
fn huge_prices_do_not_overflow() {
    let config = templates(json!([tpl("p", json!({"percent_off": 99}), json!({}))]));
    let a = ask(holding("p"), config, vec![tea(1, i64::MAX / 2)]);
    assert_eq!(
        only(&a).discount,
        (i128::from(i64::MAX / 2) * 99 / 100) as i64
    );
    let overflow = ask_at(
        holding("p"),
        templates(json!([])),
        T,
        "s-1",
        vec![tea(3, i64::MAX / 2)],
    );
    assert!(matches!(overflow, Err(RuleError::InvalidInput(_))));
    let negative = ask_at(
        holding("p"),
        templates(json!([])),
        T,
        "s-1",
        vec![tea(1, -1)],
    );
    assert!(matches!(negative, Err(RuleError::InvalidInput(m)) if m.contains("negative")));
}

// ----- best combination ---------------------------------------------------------------------

#[test]
fn a_bigger_exclusive_coupon_beats_a_stack() {
    let config = templates(json!([
        tpl("big", off(1000), json!({})),
        tpl("s-a", off(400), json!({"stackable": true})),
        tpl("s-b", off(500), json!({"stackable": true})),
    ]));
    let m = member("m-1")
        .with_coupon("c-big", "big", 0, FAR, 0)
        .with_coupon("c-a", "s-a", 0, FAR, 0)
        .with_coupon("c-b", "s-b", 0, FAR, 0);
    let a = ask(m.clone(), config.clone(), vec![tea(2, 1800)]);
    assert_eq!(a.best_combination, vec!["c-big"]);
    assert_eq!(a.best_discount, 1000);

    // A bigger stack beats the exclusive coupon; exclusive coupons never join a stack.
    let mut bigger = config;
    bigger["templates"][1]["discount"] = off(600);
    let a = ask(m, bigger, vec![tea(2, 1800)]);
    assert_eq!(a.best_combination, vec!["c-a", "c-b"]);
    assert_eq!(a.best_discount, 1100);
}

#[test]
fn ties_go_to_fewer_coupons_then_smaller_ids() {
    // Exclusive ¥10 alone vs ¥6 + ¥4 stacked: fewer coupons wins.
    let config = templates(json!([
        tpl("x", off(1000), json!({})),
        tpl("s-a", off(600), json!({"stackable": true})),
        tpl("s-b", off(400), json!({"stackable": true})),
    ]));
    let m = member("m-1")
        .with_coupon("a-stack-6", "s-a", 0, FAR, 0)
        .with_coupon("b-stack-4", "s-b", 0, FAR, 0)
        .with_coupon("z-excl-10", "x", 0, FAR, 0);
    let a = ask(m, config, vec![tea(2, 1800)]);
    assert_eq!(a.best_combination, vec!["z-excl-10"]);
    assert_eq!(a.best_discount, 1000);

    // Two exclusive coupons worth the same: the smaller id.
    let config = templates(json!([
        tpl("x", off(500), json!({})),
        tpl("y", off(500), json!({})),
    ]));
    let m = member("m-1")
        .with_coupon("c-2", "x", 0, FAR, 0)
        .with_coupon("c-1", "y", 0, FAR, 0);
    let a = ask(m, config, vec![tea(2, 1800)]);
    assert_eq!(a.best_combination, vec!["c-1"]);

    // A ¥10 cart: {6, 4} and {6, 4'} both reach the cap with two coupons; {6, 4, 4'} also
    // reaches it with three. The smaller sorted ids win among the pairs.
    let config = templates(json!([
        tpl("six", off(600), json!({"stackable": true})),
        tpl("four", off(400), json!({"stackable": true})),
        tpl("four-too", off(400), json!({"stackable": true})),
    ]));
    let m = member("m-1")
        .with_coupon("m-six", "six", 0, FAR, 0)
        .with_coupon("z-four", "four", 0, FAR, 0)
        .with_coupon("b-four", "four-too", 0, FAR, 0);
    let a = ask(m, config, vec![tea(1, 1000)]);
    assert_eq!(a.best_combination, vec!["b-four", "m-six"]);
    assert_eq!(a.best_discount, 1000);
}

#[test]
fn one_coupon_per_template_in_a_stack() {
    let config = templates(json!([tpl("s", off(500), json!({"stackable": true}))]));
    let m = member("m-1")
        .with_coupon("c-2", "s", 0, FAR, 0)
        .with_coupon("c-1", "s", 0, FAR, 0);
    let a = ask(m, config, vec![tea(2, 1800)]);
    assert!(a.verdicts.iter().all(|v| v.eligible && v.discount == 500));
    assert_eq!(a.best_combination, vec!["c-1"]);
    assert_eq!(a.best_discount, 500);
}

#[test]
fn a_stack_never_takes_more_than_the_lines_it_covers() {
    // Two ¥30 fruit-tea coupons on ¥36 of fruit tea and ¥100 of cookies: ¥36, not ¥60.
    let config = templates(json!([
        tpl(
            "t1",
            off(3000),
            json!({"stackable": true, "categories": ["fruit-tea"]})
        ),
        tpl(
            "t2",
            off(3000),
            json!({"stackable": true, "categories": ["fruit-tea"]})
        ),
    ]));
    let m = member("m-1")
        .with_coupon("c-1", "t1", 0, FAR, 0)
        .with_coupon("c-2", "t2", 0, FAR, 0);
    let a = ask(m.clone(), config.clone(), vec![tea(2, 1800), cookie(10000)]);
    assert_eq!(a.best_discount, 3600);
    assert_eq!(a.best_combination, vec!["c-1", "c-2"]);
    // With a whole-cart coupon in the stack, the cap is the cart value.
    let mut whole = config;
    whole["templates"][1] = tpl("t2", off(20000), json!({"stackable": true}));
    let a = ask(m, whole, vec![tea(2, 1800), cookie(10000)]);
    assert_eq!(verdict(&a, "c-2").discount, 13600);
    assert_eq!(a.best_combination, vec!["c-2"]);
    assert_eq!(a.best_discount, 13600);
}

#[test]
fn the_search_considers_the_twelve_most_valuable_stackable_coupons() {
    // 14 stackable coupons of 100..=1400 fen on a big cart: the best stack is the 12 largest.
    let list: Vec<Value> = (1..=14)
        .map(|i| {
            tpl(
                &format!("t{i:02}"),
                off(i * 100),
                json!({"stackable": true}),
            )
        })
        .collect();
    let mut m = member("m-1");
    for i in 1..=14 {
        m = m.with_coupon(&format!("c{i:02}"), &format!("t{i:02}"), 0, FAR, 0);
    }
    let a = ask(m, templates(Value::Array(list)), vec![tea(10, 10000)]);
    assert_eq!(a.verdicts.len(), 14);
    let expected: Vec<String> = (3..=14).map(|i| format!("c{i:02}")).collect();
    assert_eq!(a.best_combination, expected);
    assert_eq!(a.best_discount, (3..=14).sum::<i64>() * 100);
}

#[test]
fn output_is_deterministic_whatever_the_order_held() {
    let config = templates(json!([
        tpl("a", off(100), json!({"stackable": true})),
        tpl("b", off(200), json!({"stackable": true})),
    ]));
    let one = member("m-1")
        .with_coupon("c-2", "b", 0, FAR, 0)
        .with_coupon("c-1", "a", 0, FAR, 0);
    let two = member("m-1")
        .with_coupon("c-1", "a", 0, FAR, 0)
        .with_coupon("c-2", "b", 0, FAR, 0);
    let a = ask(one, config.clone(), vec![tea(1, 1800)]);
    assert_eq!(a, ask(two, config, vec![tea(1, 1800)]));
    assert_eq!(a.verdicts[0].coupon_id, "c-1");
}

// ----- empty cart and bad input --------------------------------------------------------------

#[test]
fn empty_cart_makes_every_coupon_ineligible() {
    let config = templates(json!([
        tpl("new-5", off(500), json!({"claimable": true})),
        tpl("gold", off(500), json!({})),
    ]));
    let m = member("m-1")
        .with_coupon("c-1", "gold", 0, FAR, 0)
        .with_coupon("c-2", "retired", 0, FAR, 0)
        .with_coupon("c-3", "gold", 0, T - 1, 0);
    for lines in [vec![], vec![tea(0, 1800)]] {
        let a = ask(m.clone(), config.clone(), lines);
        assert_eq!(a.verdicts.len(), 4);
        for v in &a.verdicts {
            assert_ineligible(v, "cart is empty");
        }
        assert!(a.best_combination.is_empty());
        assert_eq!(a.best_discount, 0);
    }
}

#[test]
fn no_config_means_no_templates() {
    let a = ask(holding("new-5"), json!({}), vec![tea(1, 1800)]);
    assert_ineligible(only(&a), "unknown coupon template");
    let a = ask(member("m-1"), json!({}), vec![tea(1, 1800)]);
    assert!(a.verdicts.is_empty());
}

#[test]
fn invalid_config_names_the_field() {
    let one = |t: Value| templates(json!([t]));
    for (config, needle) in [
        (
            one(tpl("p", json!({"percent_off": 0}), json!({}))),
            "templates[0] (\"p\").discount.percent_off must be between 1 and 100",
        ),
        (
            one(tpl("p", json!({"percent_off": 101}), json!({}))),
            "discount.percent_off",
        ),
        (
            one(tpl(
                "p",
                json!({"percent_off": 10, "max_discount": -1}),
                json!({}),
            )),
            "discount.max_discount",
        ),
        (one(tpl("a", off(-500), json!({}))), "discount.amount_off"),
        (one(tpl("a", off(0), json!({}))), "discount.amount_off"),
        (
            one(tpl(
                "a",
                json!({"amount_off": 5, "percent_off": 5}),
                json!({}),
            )),
            "exactly one of amount_off or percent_off",
        ),
        (
            one(tpl("a", json!({}), json!({}))),
            "exactly one of amount_off or percent_off",
        ),
        (
            one(tpl(
                "a",
                json!({"amount_off": 5, "max_discount": 5}),
                json!({}),
            )),
            "discount.max_discount only applies to percent_off",
        ),
        (
            one(tpl("a", off(5), json!({"min_spend": -1}))),
            "min_spend must not be negative",
        ),
        (
            one(tpl("a", off(5), json!({"max_uses_per_member": -1}))),
            "max_uses_per_member",
        ),
        (
            templates(json!([
                tpl("a", off(5), json!({})),
                tpl("a", off(6), json!({}))
            ])),
            "templates[1].id \"a\" is a duplicate",
        ),
        (one(tpl("", off(5), json!({}))), "templates[0].id is empty"),
        (
            one(tpl(
                "h",
                off(5),
                json!({"valid_hours": {"from": 24, "until": 2}}),
            )),
            "valid_hours.from",
        ),
        (
            one(tpl(
                "h",
                off(5),
                json!({"valid_hours": {"from": 10, "until": 25}}),
            )),
            "valid_hours.until",
        ),
        (
            one(tpl(
                "h",
                off(5),
                json!({"valid_hours": {"from": 14, "until": 14}}),
            )),
            "valid_hours is an empty or whole-day window",
        ),
        (
            one(tpl(
                "h",
                off(5),
                json!({"valid_hours": {"from": 0, "until": 24}}),
            )),
            "valid_hours is an empty or whole-day window",
        ),
        (
            one(tpl(
                "w",
                off(5),
                json!({"valid_weekdays": ["sun", "funday"]}),
            )),
            "valid_weekdays[1] is \"funday\", not a weekday",
        ),
        (
            one(tpl("u", off(5), json!({"stackabel": true}))),
            "stackabel",
        ),
        (json!({"templtes": []}), "templtes"),
        (json!({"utc_offset_minutes": 1440}), "utc_offset_minutes"),
    ] {
        let message = config_error(config.clone());
        assert!(
            message.contains(needle),
            "{config}: {message:?} does not mention {needle:?}"
        );
    }
}

#[test]
fn invalid_config_is_reported_even_for_an_empty_cart() {
    let config = templates(json!([tpl("p", json!({"percent_off": 150}), json!({}))]));
    assert!(matches!(
        ask_at(holding("p"), config, T, "s-1", vec![]),
        Err(RuleError::InvalidConfig(m)) if m.contains("percent_off")
    ));
}

// ----- fixtures ------------------------------------------------------------------------------

#[test]
fn fixtures_pass_natively() {
    Fixture::check::<CouponEligibility>(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/cases.json"
    ));
}
