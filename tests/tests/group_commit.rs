//! Group commit (`Rulebox::ingest_all` staging several events in one storage transaction)
//! must be indistinguishable from ingesting the events one at a time: same answers, same
//! stored state, whatever the batch mixes (repeated members, order ids and event ids,
//! referral chains, refusals), and no deadlock when batches from several threads share
//! members.

mod common;

use anyhow::Result;
use proptest::prelude::*;
use rulebox_cli::demo::data::{self, BRAND, DEMO_EPOCH};
use rulebox_engine::Rulebox;
use rulebox_engine::pipeline::{EventOutcome, PipelineError};
use rulebox_world::{Event, EventKind, LineItem, Purchase, Referral, Refund, SignUp, Visit};

const SEED: u64 = 7;
/// Demo members `m-00001…m-00006`, plus up to three signing up in the stream.
const MEMBERS: usize = 6;

fn demo_host() -> Result<Rulebox> {
    let rb = Rulebox::in_memory()?;
    rulebox_cli::demo::load(&rb, SEED, MEMBERS)?;
    Ok(rb)
}

/// One step of a generated stream, over a small alphabet so members, orders and event ids
/// repeat often.
#[derive(Debug, Clone)]
enum Step {
    SignUp {
        member: u8,
        inviter: Option<u8>,
    },
    Purchase {
        member: u8,
        order: u8,
        product: u8,
    },
    Refund {
        member: u8,
        order: u8,
        product: u8,
    },
    CheckIn {
        member: u8,
    },
    Referral {
        inviter: u8,
        invitee: u8,
    },
    /// The event at this index again (its id), possibly for another member.
    Repeat {
        index: u8,
        member: u8,
    },
}

/// Existing members 1–6, new ones 7–9, and 10, who never exists.
fn member_id(n: u8) -> String {
    match n {
        1..=6 => format!("m-{n:05}"),
        7..=9 => format!("new-{n}"),
        _ => "nobody".into(),
    }
}

fn step() -> impl Strategy<Value = Step> {
    let member = 1u8..=10;
    prop_oneof![
        1 => (7u8..=9, proptest::option::of(1u8..=9))
            .prop_map(|(member, inviter)| Step::SignUp { member, inviter }),
        4 => (member.clone(), 0u8..6, 0u8..4)
            .prop_map(|(member, order, product)| Step::Purchase { member, order, product }),
        2 => (member.clone(), 0u8..6, 0u8..4)
            .prop_map(|(member, order, product)| Step::Refund { member, order, product }),
        1 => member.clone().prop_map(|member| Step::CheckIn { member }),
        1 => (1u8..=9, 1u8..=9).prop_map(|(inviter, invitee)| Step::Referral { inviter, invitee }),
        1 => (any::<u8>(), member).prop_map(|(index, member)| Step::Repeat { index, member }),
    ]
}

fn events(steps: &[Step]) -> Vec<Event> {
    let products = data::generate(SEED, 0).products;
    let line = |product: u8| {
        let p = &products[usize::from(product) % products.len()];
        LineItem {
            product_id: p.id.clone(),
            category: p.category.clone(),
            quantity: 1,
            unit_price: p.price,
        }
    };
    // A weekday afternoon, one event a minute.
    let start = DEMO_EPOCH + 16 * 86_400_000 + 6 * 3_600_000;
    let mut out: Vec<Event> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let (id, member, kind) = match step.clone() {
            Step::Repeat { index, member } if !out.is_empty() => {
                let earlier = out[usize::from(index) % out.len()].clone();
                (earlier.id, member_id(member), earlier.kind)
            }
            Step::Repeat { member, .. } | Step::CheckIn { member } => (
                format!("e-{i}"),
                member_id(member),
                EventKind::CheckIn(Visit {
                    location: None,
                    store_id: None,
                }),
            ),
            Step::SignUp { member, inviter } => (
                format!("e-{i}"),
                member_id(member),
                EventKind::SignUp(SignUp {
                    channel: "app".into(),
                    inviter: inviter.map(member_id),
                    staff_id: None,
                }),
            ),
            Step::Purchase {
                member,
                order,
                product,
            } => {
                let line = line(product);
                let total = line.unit_price;
                (
                    format!("e-{i}"),
                    member_id(member),
                    EventKind::Purchase(Purchase {
                        order_id: format!("o-{order}"),
                        store_id: "s-001".into(),
                        lines: vec![line],
                        total,
                        paid: total,
                        coupons_used: Vec::new(),
                    }),
                )
            }
            Step::Refund {
                member,
                order,
                product,
            } => {
                let line = line(product);
                (
                    format!("e-{i}"),
                    member_id(member),
                    EventKind::Refund(Refund {
                        order_id: format!("o-{order}"),
                        refunded: line.unit_price,
                        lines: vec![line],
                    }),
                )
            }
            Step::Referral { inviter, invitee } => (
                format!("e-{i}"),
                member_id(inviter),
                EventKind::ReferralAccepted(Referral {
                    invitee_id: member_id(invitee),
                    level: 1,
                }),
            ),
        };
        out.push(Event {
            id,
            brand: BRAND.into(),
            member_id: member,
            occurred_at: start + i as i64 * 60_000,
            kind,
        });
    }
    out
}

/// An answer with the timings (which differ from run to run) zeroed.
fn comparable(result: Result<EventOutcome, PipelineError>) -> Result<String, String> {
    result
        .map(|mut outcome| {
            for call in &mut outcome.calls {
                call.elapsed_us = 0;
            }
            serde_json::to_string(&outcome).unwrap()
        })
        .map_err(|e| e.to_string())
}

/// Every member record and ledger of the demo brand, as JSON.
fn state(rb: &Rulebox) -> Vec<String> {
    let members = rb.db().members(BRAND, None, 1000).unwrap();
    members
        .iter()
        .flat_map(|m| {
            let ledger = rb.ledger(BRAND, &m.id, None, 10_000).unwrap();
            [
                serde_json::to_string(m).unwrap(),
                serde_json::to_string(&ledger).unwrap(),
            ]
        })
        .collect()
}

proptest! {
    #![proptest_config(common::proptest_config(24, "proptest-regressions/group_commit.txt"))]

    #[test]
    fn batches_answer_and_store_exactly_what_one_event_at_a_time_does(
        steps in proptest::collection::vec(step(), 1..60),
        cuts in proptest::collection::vec(1usize..25, 1..8),
    ) {
        let events = events(&steps);
        let (single, grouped) = (demo_host().unwrap(), demo_host().unwrap());
        let expected: Vec<_> = events
            .iter()
            .map(|e| comparable(single.ingest(e.clone())))
            .collect();

        let mut got = Vec::new();
        let mut rest = events.as_slice();
        for &size in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (batch, tail) = rest.split_at(size.min(rest.len()));
            got.extend(grouped.ingest_all(batch.to_vec()).into_iter().map(comparable));
            rest = tail;
        }
        for (i, (want, got)) in expected.iter().zip(&got).enumerate() {
            prop_assert_eq!(want, got, "event #{} ({})", i, events[i].id);
        }
        prop_assert_eq!(state(&single), state(&grouped));
    }
}

/// Batches from four threads over the same members: no deadlock (the test finishes), every
/// event applied once, every balance the sum of its ledger.
#[test]
fn concurrent_batches_over_shared_members_apply_every_event_once() -> Result<()> {
    let rb = demo_host()?;
    let products = data::generate(SEED, 0).products;
    let threads = 4;
    let per_thread = 200;
    let orders_before: Vec<u32> = (1..=MEMBERS as u8)
        .map(|n| Ok(rb.member(BRAND, &member_id(n))?.lifetime.orders))
        .collect::<Result<_>>()?;
    let results: Vec<Vec<Result<EventOutcome, PipelineError>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (rb, products) = (&rb, &products);
                s.spawn(move || {
                    let batch: Vec<Event> = (0..per_thread)
                        .map(|i| {
                            let p = &products[i % products.len()];
                            let line = LineItem {
                                product_id: p.id.clone(),
                                category: p.category.clone(),
                                quantity: 1,
                                unit_price: p.price,
                            };
                            Event {
                                id: format!("t{t}-{i}"),
                                brand: BRAND.into(),
                                // Every thread walks the members in another order.
                                member_id: member_id(((i * (t + 1)) % MEMBERS + 1) as u8),
                                occurred_at: DEMO_EPOCH + 16 * 86_400_000 + i as i64 * 1000,
                                kind: EventKind::Purchase(Purchase {
                                    order_id: format!("o-t{t}-{i}"),
                                    store_id: "s-001".into(),
                                    total: line.unit_price,
                                    paid: line.unit_price,
                                    lines: vec![line],
                                    coupons_used: Vec::new(),
                                }),
                            }
                        })
                        .collect();
                    batch
                        .chunks(50)
                        .flat_map(|chunk| rb.ingest_all(chunk.to_vec()))
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let mut awarded = std::collections::BTreeMap::<String, i64>::new();
    for result in results.into_iter().flatten() {
        let outcome = result?;
        assert!(!outcome.duplicate, "{}", outcome.event_id);
        for entry in outcome.ledger {
            *awarded.entry(entry.member_id).or_default() += entry.entry.amount;
        }
    }
    assert!(!awarded.is_empty(), "the purchases earned points");
    for n in 1..=MEMBERS as u8 {
        let id = member_id(n);
        let member = rb.member(BRAND, &id)?;
        let ledger = rb.ledger(BRAND, &id, None, 10_000)?;
        let sum: i64 = ledger.iter().map(|e| e.amount).sum();
        assert_eq!(member.points, sum, "{id}: balance = ledger sum");
        let opening: i64 = ledger
            .iter()
            .filter(|e| e.event_id == "import")
            .map(|e| e.amount)
            .sum();
        assert_eq!(
            member.points - opening,
            awarded.get(&id).copied().unwrap_or(0),
            "{id}: every award of the outcomes is in the ledger, once"
        );
        let sent = (0..threads)
            .flat_map(|t| (0..per_thread).map(move |i| (i * (t + 1)) % MEMBERS + 1))
            .filter(|&m| m == usize::from(n))
            .count();
        assert_eq!(
            member.lifetime.orders - orders_before[usize::from(n) - 1],
            sent as u32,
            "{id}: every purchase counted once"
        );
    }
    Ok(())
}
