//! The demo brand's member journey through all four rules, end to end: every effect and
//! answer checked, and the whole journey replayed to prove it deterministic.

use rulebox_cli::demo::{self, FRIEND, MEMBER, Outcome, Step};
use rulebox_engine::Rulebox;
use rulebox_engine::pipeline::{EventOutcome, QueryOutcome};
use rulebox_store::model::LedgerKind;
use rulebox_world::{Answer, CouponAnswer, Effect, RecommendationAnswer};

const BRAND: &str = demo::data::BRAND;

fn play() -> (Rulebox, Vec<Step>) {
    let rb = Rulebox::in_memory().unwrap();
    demo::load(&rb, 2026, 300).unwrap();
    let steps = demo::journey(&rb).unwrap();
    (rb, steps)
}

fn event(step: &Step) -> &EventOutcome {
    match &step.outcome {
        Outcome::Event(e) | Outcome::Sweep(e) => e,
        Outcome::Query(_) => panic!("{} is a query", step.title),
    }
}

fn query(step: &Step) -> &QueryOutcome {
    match &step.outcome {
        Outcome::Query(q) => {
            assert!(q.failures.is_empty(), "{:?}", q.failures);
            q
        }
        _ => panic!("{} is not a query", step.title),
    }
}

/// `(plugin, effect)` of every effect, in order.
fn effects(step: &Step) -> Vec<(String, Effect)> {
    event(step)
        .effects
        .iter()
        .map(|e| (e.plugin.clone(), e.effect.clone()))
        .collect()
}

fn awards(step: &Step) -> Vec<(i64, String)> {
    effects(step)
        .into_iter()
        .filter_map(|(_, e)| match e {
            Effect::AwardPoints(a) => Some((a.amount, a.reason)),
            _ => None,
        })
        .collect()
}

fn member_points(step: &Step) -> (i64, String) {
    let state = event(step)
        .members
        .iter()
        .find(|m| m.id == MEMBER)
        .expect("the member is in the outcome");
    (state.points, state.tier.clone())
}

fn coupons(step: &Step) -> CouponAnswer {
    match &query(step).answers[..] {
        [answer] => match &answer.answer {
            Answer::CouponEligibility(c) => c.clone(),
            other => panic!("{other:?}"),
        },
        other => panic!("one answer expected: {other:?}"),
    }
}

fn recommendations(step: &Step) -> RecommendationAnswer {
    match &query(step).answers[..] {
        [answer] => match &answer.answer {
            Answer::Recommendation(r) => r.clone(),
            other => panic!("{other:?}"),
        },
        other => panic!("one answer expected: {other:?}"),
    }
}

#[test]
fn a_member_journey_through_all_four_rules() {
    let (rb, steps) = play();
    assert_eq!(steps.len(), 13);

    // Sign-up: bonus points, entry tier.
    let s = &steps[0];
    assert_eq!(awards(s), vec![(50, "sign-up bonus (store-qr)".to_owned())]);
    assert!(effects(s).contains(&(
        "tier-upgrade".into(),
        Effect::SetTier(rulebox_world::TierChange {
            tier: "green".into(),
            reason: "new member starts on green".into()
        })
    )));
    assert_eq!(member_points(s), (50, "green".into()));

    // First purchase: 1 point per yuan plus the first-purchase bonus.
    let s = &steps[1];
    assert_eq!(
        awards(s).iter().map(|a| a.0).collect::<Vec<_>>(),
        vec![56, 100]
    );
    assert!(awards(s)[1].1.contains("first purchase"));
    assert_eq!(member_points(s).0, 206);

    // Happy hour: weekday 14:00-17:00 doubles the points.
    let s = &steps[2];
    assert_eq!(awards(s).len(), 1);
    assert_eq!(awards(s)[0].0, 134);
    assert!(awards(s)[0].1.contains("happy-hour"), "{:?}", awards(s));

    // The team order's points (awarded by accrual first in the chain) carry the member over
    // the gold threshold: upgrade, welcome coupon, tag swap, notification.
    let s = &steps[3];
    let e = effects(s);
    assert_eq!(awards(s)[0].0, 220);
    assert!(matches!(&e[1], (p, Effect::SetTier(t)) if p == "tier-upgrade" && t.tier == "gold"));
    assert!(matches!(&e[2], (_, Effect::IssueCoupon(c)) if c.template_id == "gold-welcome"));
    assert!(e.contains(&(
        "tier-upgrade".into(),
        Effect::RemoveTag("tier-green".into())
    )));
    assert!(e.contains(&("tier-upgrade".into(), Effect::AddTag("tier-gold".into()))));
    assert!(
        e.iter()
            .any(|(_, e)| matches!(e, Effect::Notify(n) if n.template == "tier-upgraded"))
    );
    assert_eq!(member_points(s), (560, "gold".into()));

    // As gold: the tier multiplier (150%) applies.
    let s = &steps[4];
    assert_eq!(awards(s)[0].0, 84);
    assert!(awards(s)[0].1.contains("×1.5 gold"), "{:?}", awards(s));

    // Coupons on a cart: reasons for each, a scope rejection, and the best stack.
    let c = coupons(&steps[5]);
    let verdict = |template: &str| {
        c.verdicts
            .iter()
            .find(|v| v.template_id == template)
            .unwrap_or_else(|| panic!("{template}: {c:?}"))
    };
    assert!(verdict("gold-welcome").eligible && verdict("gold-welcome").held);
    assert_eq!(
        verdict("gold-welcome").discount,
        1000,
        "20% of ¥85, capped at ¥10"
    );
    assert!(verdict("fruit-8").eligible && !verdict("fruit-8").held);
    assert!(
        verdict("afternoon-combo").eligible,
        "15:00 is inside 14:00-17:00"
    );
    assert!(!verdict("bakery-10").eligible);
    assert!(
        verdict("bakery-10").reason.contains("bakery"),
        "{}",
        verdict("bakery-10").reason
    );
    assert!(!verdict("new-5").eligible && verdict("new-5").reason.contains("new members"));
    assert!(!verdict("birthday-drink").eligible);
    let held_id = verdict("gold-welcome").coupon_id.clone();
    let mut best = c.best_combination.clone();
    best.sort();
    let mut expected = vec!["afternoon-combo".to_owned(), "fruit-8".to_owned(), held_id];
    expected.sort();
    assert_eq!(best, expected);
    assert_eq!(c.best_discount, 1000 + 800 + 600);

    // Recommendations at 08:00 and 15:00: different products, all in stock, from the
    // nearest store that is open at that time.
    let morning = recommendations(&steps[6]);
    let afternoon = recommendations(&steps[7]);
    assert_eq!(morning.items.len(), 3);
    assert_eq!(afternoon.items.len(), 3);
    assert!(
        morning.items.iter().all(|i| i.store_id == "sh-002"),
        "{morning:?}"
    );
    assert!(
        morning.notes.iter().any(|n| n.contains("closed")),
        "{:?}",
        morning.notes
    );
    assert!(
        afternoon.items.iter().all(|i| i.store_id == "sh-015"),
        "{afternoon:?}"
    );
    let ids = |r: &RecommendationAnswer| {
        r.items
            .iter()
            .map(|i| i.product_id.clone())
            .collect::<Vec<_>>()
    };
    assert_ne!(ids(&morning), ids(&afternoon));
    for answer in [&morning, &afternoon] {
        for item in &answer.items {
            let stock = rb.db().stock(BRAND, &item.store_id).unwrap();
            let units = stock
                .iter()
                .find(|s| s.product_id == item.product_id)
                .map_or(0, |s| s.quantity);
            assert!(
                units > 0,
                "{} is out of stock at {}",
                item.product_id,
                item.store_id
            );
        }
    }
    assert!(
        morning.items[0].reason.contains("breakfast"),
        "{:?}",
        morning.items[0]
    );

    // A friend signs up with Ming's invitation; the referral rewards Ming (level 1).
    assert_eq!(event(&steps[8]).members[0].id, FRIEND);
    let s = &steps[9];
    assert_eq!(
        awards(s),
        vec![(100, format!("referral of {FRIEND} (level 1)"))]
    );
    assert_eq!(member_points(s).0, 744);

    // Refund of half the team order takes back half its 220 points.
    let s = &steps[10];
    let reversal: Vec<_> = event(s)
        .ledger
        .iter()
        .filter(|l| l.entry.kind == LedgerKind::Reverse)
        .collect();
    assert_eq!(reversal.len(), 1);
    assert_eq!(reversal[0].entry.amount, -110);
    assert_eq!(member_points(s).0, 634);

    // A year without purchases: at the period end, one tier down.
    let s = &steps[11];
    assert!(matches!(&effects(s)[..], [(_, Effect::SetTier(t)), ..] if t.tier == "green"));
    assert_eq!(member_points(s), (634, "green".into()));

    // March 2026 points expire at the end of March 2027.
    let s = &steps[12];
    assert!(
        event(s)
            .ledger
            .iter()
            .all(|l| l.entry.kind == LedgerKind::Expire)
    );
    assert_eq!(member_points(s).0, 0);

    let ledger = rb.ledger(BRAND, MEMBER, None, 1000).unwrap();
    assert_eq!(
        ledger.iter().map(|e| e.amount).sum::<i64>(),
        rb.member(BRAND, MEMBER).unwrap().points
    );
}

#[test]
fn the_journey_is_deterministic() {
    let (first, _) = play();
    let (second, _) = play();
    for member in [MEMBER, FRIEND] {
        assert_eq!(
            first.ledger(BRAND, member, None, 1000).unwrap(),
            second.ledger(BRAND, member, None, 1000).unwrap()
        );
        assert_eq!(
            first.member(BRAND, member).unwrap(),
            second.member(BRAND, member).unwrap()
        );
    }
}

/// Recommendations read the catalog the host holds in memory: a stock change is seen by the
/// very next query, and so is a store's change of opening hours.
#[test]
fn recommendations_follow_stock_and_store_changes_at_once() {
    use rulebox_store::model::Stock;
    use rulebox_world::{Place, Query, QueryKind};

    let (rb, _) = play();
    // The journey's 15:00 query: Wed 11 Mar 2026, Shanghai time.
    let at = rulebox_sdk::time::at_local(2026, 3, 11, 15, 0, 480).unwrap();
    let ask = || {
        let outcome = rb
            .query(Query {
                brand: BRAND.into(),
                member_id: MEMBER.into(),
                at,
                kind: QueryKind::Recommendation(Place {
                    location: demo::HOME,
                    limit: 3,
                }),
            })
            .unwrap();
        assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
        match &outcome.answers[0].answer {
            Answer::Recommendation(r) => r.clone(),
            other => panic!("not a recommendation: {other:?}"),
        }
    };
    // The member's history has moved on since the journey asked, the stores have not.
    let before = ask();
    assert_eq!(before.items.len(), 3);
    assert!(
        before.items.iter().all(|i| i.store_id == "sh-015"),
        "{before:?}"
    );

    // sh-015 sells out: the next query goes to another store and says why.
    let sold_out: Vec<Stock> = rb
        .db()
        .stock(BRAND, "sh-015")
        .unwrap()
        .into_iter()
        .map(|s| Stock { quantity: 0, ..s })
        .collect();
    rb.put_stock(BRAND, &sold_out).unwrap();
    let after = ask();
    assert!(
        after.items.iter().all(|i| i.store_id != "sh-015"),
        "{after:?}"
    );
    assert!(
        after.notes.iter().any(|n| n.contains("out of stock")),
        "{:?}",
        after.notes
    );

    // The store it moved to closes for the afternoon: the query moves on again.
    let next = after.items[0].store_id.clone();
    let mut store = rb
        .db()
        .stores(BRAND)
        .unwrap()
        .into_iter()
        .find(|s| s.id == next)
        .unwrap();
    (store.opens_at_minute, store.closes_at_minute) = (18 * 60, 22 * 60);
    rb.put_stores(BRAND, &[store]).unwrap();
    let closed = ask();
    assert!(
        closed.items.iter().all(|i| i.store_id != next),
        "{closed:?}"
    );
}
