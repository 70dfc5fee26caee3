//! Money and points arithmetic never wraps or panics on large valid input: long streams of
//! purchases and refunds for one member, with amounts up to `i64::MAX`, through the real
//! pipeline and a real plugin. Every event is applied or refused with a client error
//! (never one the API would answer 5xx), the member's totals equal what was accepted
//! (computed without overflow), and the ledger sums to the balance.

mod common;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use rulebox_engine::Rulebox;
use rulebox_engine::pipeline::PipelineError;
use rulebox_store::model::MemberProfile;
use rulebox_tests::plugin_wasm;
use rulebox_world::{Event, EventKind, LineItem, Purchase, Refund};

use common::{flat_manifest, memory_host};

const BRAND: &str = "big-spender";

/// One host for every case (each case has a member of its own), so the plugin compiles once.
fn host() -> &'static Rulebox {
    static HOST: OnceLock<Rulebox> = OnceLock::new();
    HOST.get_or_init(|| {
        let rb = memory_host(BRAND).unwrap();
        // Two points per yuan paid: large purchases ask for awards over the host's bound.
        rb.registry()
            .install(
                flat_manifest(BRAND, "2.0.0"),
                &plugin_wasm("flat_points_v2"),
            )
            .unwrap();
        rb.registry()
            .activate(BRAND, "flat-points", "2.0.0")
            .unwrap();
        rb
    })
}

#[derive(Debug, Clone)]
enum Step {
    Purchase {
        paid: i64,
    },
    /// A refund of the `order`-th purchase sent so far (modulo their count).
    Refund {
        order: usize,
        refunded: i64,
    },
}

/// Small amounts, amounts near the edge and the edge itself.
fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => 0..100_000i64,
        2 => (i64::MAX / 4)..=i64::MAX,
        1 => Just(i64::MAX),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => amount().prop_map(|paid| Step::Purchase { paid }),
        1 => (any::<usize>(), amount()).prop_map(|(order, refunded)| Step::Refund { order, refunded }),
    ]
}

fn event(member: &str, n: usize, kind: EventKind) -> Event {
    Event {
        id: format!("{member}-e{n}"),
        brand: BRAND.into(),
        member_id: member.into(),
        occurred_at: 1_767_225_600_000 + n as i64 * 60_000,
        kind,
    }
}

fn line(value: i64) -> LineItem {
    LineItem {
        product_id: "p-1".into(),
        category: "tea".into(),
        quantity: 1,
        unit_price: value,
    }
}

/// The status the API would answer for `error`.
fn status(error: PipelineError) -> u16 {
    rulebox_api::error::ApiError::from(error).status.as_u16()
}

proptest! {
    #![proptest_config(common::proptest_config(24, "proptest-regressions/overflow.txt"))]

    #[test]
    fn large_amounts_never_wrap_a_total_nor_fail_as_a_server_error(
        steps in proptest::collection::vec(step(), 1..40)
    ) {
        static MEMBERS: AtomicUsize = AtomicUsize::new(0);
        let member = format!("m-{}", MEMBERS.fetch_add(1, Ordering::Relaxed));
        let rb = host();
        rb.put_member(BRAND, MemberProfile { id: member.clone(), ..Default::default() }).unwrap();

        // What the member's totals must be, computed where nothing can overflow.
        let (mut spend, mut orders) = (0i128, 0i128);
        let mut sent: Vec<(String, i64)> = Vec::new();
        for (n, step) in steps.into_iter().enumerate() {
            let (kind, paid) = match step {
                Step::Purchase { paid } => {
                    let order = format!("{member}-o{n}");
                    sent.push((order.clone(), paid));
                    let purchase = Purchase {
                        order_id: order,
                        store_id: "s-1".into(),
                        lines: vec![line(paid)],
                        total: paid,
                        paid,
                        coupons_used: Vec::new(),
                    };
                    (EventKind::Purchase(purchase), i128::from(paid))
                }
                Step::Refund { order, refunded } => {
                    let Some((order_id, value)) = sent.get(order % sent.len().max(1)).cloned() else {
                        continue;
                    };
                    let refund = Refund {
                        order_id,
                        lines: vec![line(value)],
                        refunded,
                    };
                    (EventKind::Refund(refund), -i128::from(refunded))
                }
            };
            let purchase = matches!(kind, EventKind::Purchase(_));
            match rb.ingest(event(&member, n, kind)) {
                Ok(_) => {
                    spend += paid;
                    orders += i128::from(purchase);
                }
                Err(error) => {
                    let text = error.to_string();
                    let status = status(error);
                    prop_assert!((400..500).contains(&status), "{status}: {text}");
                }
            }
        }

        let stored = rb.member(BRAND, &member).unwrap();
        prop_assert_eq!(i128::from(stored.lifetime.spend), spend);
        prop_assert_eq!(i128::from(stored.lifetime.orders), orders);
        let ledger = rb.ledger(BRAND, &member, None, 10_000).unwrap();
        let sum: i128 = ledger.iter().map(|entry| i128::from(entry.amount)).sum();
        prop_assert_eq!(sum, i128::from(stored.points));
        let lots: i128 = stored.lots.iter().map(|lot| i128::from(lot.remaining)).sum();
        prop_assert_eq!(lots, i128::from(stored.points.max(0)));
    }
}

/// The purchase the audit found: after one of `i64::MAX`, any further spend is refused with
/// a client error naming the total, and nothing of it is kept.
#[test]
fn a_purchase_past_the_lifetime_spend_is_refused_naming_it_and_changes_nothing() {
    let rb = host();
    let member = "m-edge";
    rb.put_member(
        BRAND,
        MemberProfile {
            id: member.into(),
            ..Default::default()
        },
    )
    .unwrap();
    let purchase = |n: usize, paid: i64| {
        event(
            member,
            n,
            EventKind::Purchase(Purchase {
                order_id: format!("edge-{n}"),
                store_id: "s-1".into(),
                lines: vec![line(paid)],
                total: paid,
                paid,
                coupons_used: Vec::new(),
            }),
        )
    };
    // No points: an award this size is over the host's bound, so the plugin's effect is
    // refused; the chain aborts and the purchase with it.
    let big = rb.ingest(purchase(1, i64::MAX));
    assert_eq!(status(big.unwrap_err()), 422);
    // Small enough to earn points within the bound, and the spend is kept.
    rb.ingest(purchase(2, 100)).unwrap();
    let before = rb.member(BRAND, member).unwrap();
    assert_eq!(before.lifetime.spend, 100);

    let error = rb.ingest(purchase(3, i64::MAX - 99)).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("lifetime spend"), "{text}");
    assert!((400..500).contains(&status(error)), "{text}");
    assert_eq!(rb.member(BRAND, member).unwrap(), before);
}
