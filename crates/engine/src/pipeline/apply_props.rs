//! Property tests of the ledger bookkeeping: whatever sequence of awards, deductions,
//! purchases, refunds and expiries happens, the balance equals the ledger, the unspent lots
//! equal the positive balance, and only a refund reversal can take the balance below zero.

use proptest::prelude::*;

use super::apply::{Cause, Changes, apply_effect, expire_due, record_purchase, record_refund};
use rulebox_store::model::{LedgerKind, Member};
use rulebox_world::{Award, Deduction, Effect, LineItem, Purchase, Refund};

#[derive(Debug, Clone)]
enum Op {
    Award {
        amount: i64,
        expires_in_days: Option<i64>,
    },
    Deduct(i64),
    Purchase {
        value: i64,
        points: i64,
    },
    Refund {
        order: usize,
        percent: i64,
    },
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1..5_000i64, proptest::option::of(1..60i64)).prop_map(|(amount, expires_in_days)| {
            Op::Award {
                amount,
                expires_in_days,
            }
        }),
        (1..8_000i64).prop_map(Op::Deduct),
        (1..50_000i64, 1..3_000i64).prop_map(|(value, points)| Op::Purchase { value, points }),
        (0..10usize, 1..=100i64).prop_map(|(order, percent)| Op::Refund { order, percent }),
        Just(Op::Tick),
    ]
}

const DAY: i64 = 86_400_000;

proptest! {
    #[test]
    fn the_balance_always_equals_the_ledger(ops in proptest::collection::vec(op(), 1..60)) {
        let mut member = Member::new("m-1", 0);
        let mut ledger = Vec::new();
        let mut orders = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let at = (i as i64 + 1) * DAY;
            let id = format!("e-{i}");
            let order_id = format!("o-{i}");
            let mut cause = Cause { event_id: &id, at, plugin: Some(("p", "1")), order_id: None, day: at / DAY, window_days: 365 };
            let mut changes = Changes::default();
            let before = member.points;
            match op {
                Op::Award { amount, expires_in_days } => {
                    let award = Effect::AwardPoints(Award { amount: *amount, reason: "r".into(), expires_at: expires_in_days.map(|d| at + d * DAY) });
                    apply_effect(&mut member, &mut changes, &cause, &award).unwrap();
                }
                Op::Deduct(amount) => {
                    let result = apply_effect(&mut member, &mut changes, &cause, &Effect::DeductPoints(Deduction { amount: *amount, reason: "r".into() }));
                    // A deduction is refused exactly when it would go below zero.
                    prop_assert_eq!(result.is_err(), *amount > before);
                    if result.is_err() {
                        continue; // the pipeline drops a failed plugin's changes
                    }
                }
                Op::Purchase { value, points } => {
                    cause.order_id = Some(&order_id);
                    let lines = vec![LineItem { product_id: "p".into(), category: "c".into(), quantity: 1, unit_price: *value }];
                    let purchase = Purchase { order_id: order_id.clone(), store_id: "s".into(), lines, total: *value, paid: *value, coupons_used: vec![] };
                    record_purchase(&mut member, &mut changes, &cause, &purchase).unwrap();
                    let award = Effect::AwardPoints(Award { amount: *points, reason: "buy".into(), expires_at: None });
                    apply_effect(&mut member, &mut changes, &cause, &award).unwrap();
                    orders.push(changes.order.clone().unwrap());
                }
                Op::Refund { order, percent } => {
                    let Some(record) = orders.get(*order % orders.len().max(1)).cloned() else { continue };
                    let value = record.lines_value * percent / 100;
                    let refund = Refund { order_id: record.order_id.clone(), lines: vec![LineItem { product_id: "p".into(), category: "c".into(), quantity: 1, unit_price: value }], refunded: value };
                    record_refund(&mut member, &mut changes, &cause, &refund, Some(record.clone())).unwrap();
                    let updated = changes.order.clone().unwrap();
                    // Never more reversed than the order earned.
                    prop_assert!(updated.points_reversed <= updated.points_awarded);
                    let slot = orders.iter().position(|o| o.order_id == updated.order_id).unwrap();
                    orders[slot] = updated;
                }
                Op::Tick => {
                    expire_due(&mut member, &mut changes, &cause).unwrap();
                }
            }
            for entry in &changes.ledger {
                // Only a reversal takes the balance below zero; awards then pay the debt off.
                if entry.balance < 0 {
                    prop_assert!(entry.kind == LedgerKind::Reverse || entry.amount > 0, "{:?}", entry);
                }
            }
            ledger.extend(changes.ledger);
            prop_assert_eq!(member.points, ledger.iter().map(|e| e.amount).sum::<i64>());
            let lots: i64 = member.lots.iter().map(|l| l.remaining).sum();
            prop_assert_eq!(lots, member.points.max(0));
            prop_assert!(member.lots.iter().all(|l| l.remaining > 0));
        }
    }
}

/// However many awards a member earns, the lots stay few (the member record is rewritten on
/// every event), and they still sum to the balance.
#[test]
fn lots_stay_bounded_however_many_awards() {
    let mut member = Member::new("m-1", 0);
    for i in 0..1_000i64 {
        let id = format!("e-{i}");
        let cause = Cause {
            event_id: &id,
            at: (i + 1) * DAY,
            plugin: Some(("p", "1")),
            order_id: None,
            day: (i + 1),
            window_days: 365,
        };
        // Three expiry dates in turn, and awards that never expire.
        let expires_at = match i % 4 {
            3 => None,
            k => Some(10_000 * DAY + k * DAY),
        };
        let award = Effect::AwardPoints(Award {
            amount: 10,
            reason: "r".into(),
            expires_at,
        });
        apply_effect(&mut member, &mut Changes::default(), &cause, &award).unwrap();
    }
    assert_eq!(member.points, 10_000);
    assert!(member.lots.len() <= 2 * 3 + 4, "{} lots", member.lots.len());
    assert_eq!(member.lots.iter().map(|l| l.remaining).sum::<i64>(), 10_000);
    assert_eq!(
        member.lots.iter().map(|l| i64::from(l.awards)).sum::<i64>(),
        1_000
    );
}
