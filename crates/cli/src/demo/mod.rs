//! The demo brand: generated data, the four example rules configured for a tea chain
//! (`manifests.json`), and a scripted member journey that shows each rule at work.

pub mod data;
mod print;

pub use print::print;

use anyhow::Context as _;
use rulebox_sdk::time::at_local;

use crate::examples::example;
use data::{BRAND, DemoData};
use rulebox_engine::Rulebox;
use rulebox_engine::pipeline::{EventOutcome, QueryOutcome};
use rulebox_engine::registry::Manifest;
use rulebox_world::{
    Cart, Event, EventKind, GeoPoint, LineItem, Place, Purchase, Query, QueryKind, Referral,
    Refund, SignUp, Tick,
};

/// The demo's plugin manifests: which plugins, in which order, configured how.
pub const MANIFESTS: &str = include_str!("manifests.json");

/// The member whose journey the demo plays.
pub const MEMBER: &str = "m-journey";
/// A friend they invite.
pub const FRIEND: &str = "m-friend";
/// Where the member is: People's Square, Shanghai.
pub const HOME: GeoPoint = GeoPoint {
    lat: 31.2335,
    lon: 121.4747,
};

/// Loads the demo brand: data generated from `seed` with `members` members, and the four
/// rules installed and activated.
pub fn load(rb: &Rulebox, seed: u64, members: usize) -> anyhow::Result<()> {
    let DemoData {
        brand,
        stores,
        products,
        stock,
        members,
    } = data::generate(seed, members);
    rb.put_brand(&brand)?;
    rb.put_stores(BRAND, &stores)?;
    rb.put_products(BRAND, &products)?;
    rb.put_stock(BRAND, &stock)?;
    rb.put_members(BRAND, members)?;
    let manifests: Vec<Manifest> =
        serde_json::from_str(MANIFESTS).context("demo manifests.json")?;
    for manifest in manifests {
        let wasm = example(&manifest.name)
            .with_context(|| format!("example plugin {} is not built in", manifest.name))?;
        let (name, version) = (manifest.name.clone(), manifest.version.clone());
        rb.registry().install(manifest, wasm)?;
        rb.registry().activate(BRAND, &name, &version)?;
    }
    Ok(())
}

/// What happened at one step of the journey.
#[derive(Debug, Clone, serde::Serialize)]
pub enum Outcome {
    Event(EventOutcome),
    Query(QueryOutcome),
    /// A sweep of scheduled ticks: the outcome for the journey's member.
    Sweep(EventOutcome),
}

/// One step of the journey.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    /// What the step is, in words.
    pub title: String,
    pub outcome: Outcome,
}

/// The brand's local time (UTC+8).
fn cst(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> i64 {
    at_local(year, month, day, hour, minute, 480).expect("journey times are valid")
}

fn line(product: &str, category: &str, quantity: u32, unit_price: i64) -> LineItem {
    LineItem {
        product_id: product.into(),
        category: category.into(),
        quantity,
        unit_price,
    }
}

fn event(id: &str, member: &str, at: i64, kind: EventKind) -> Event {
    Event {
        id: id.into(),
        brand: BRAND.into(),
        member_id: member.into(),
        occurred_at: at,
        kind,
    }
}

fn purchase(
    order: &str,
    store: &str,
    lines: Vec<LineItem>,
    coupons_used: Vec<String>,
) -> EventKind {
    let total = lines.iter().filter_map(LineItem::amount).sum();
    EventKind::Purchase(Purchase {
        order_id: order.into(),
        store_id: store.into(),
        lines,
        total,
        paid: total,
        coupons_used,
    })
}

/// Plays the scripted journey of one member through every rule. Deterministic: the same
/// demo data gives the same steps, ledger and final state.
pub fn journey(rb: &Rulebox) -> anyhow::Result<Vec<Step>> {
    let mut steps = Vec::new();

    let sign_up = EventKind::SignUp(SignUp {
        channel: "store-qr".into(),
        inviter: None,
        staff_id: Some("staff-017".into()),
    });
    let title = "Mon 2 Mar 09:00 — Ming signs up by scanning the QR code at People's Square";
    steps.push(ingest_step(
        rb,
        title,
        event("j-01", MEMBER, cst(2026, 3, 2, 9, 0), sign_up),
    )?);

    let title = "Tue 3 Mar 12:10 — first order: 2 × Very Grape (¥56)";
    let order = purchase(
        "o-1001",
        "sh-001",
        vec![line("p-05", "fruit-tea", 2, 2800)],
        vec![],
    );
    steps.push(ingest_step(
        rb,
        title,
        event("j-02", MEMBER, cst(2026, 3, 3, 12, 10), order),
    )?);

    let title = "Wed 4 Mar 15:30 — happy hour (2× points): 2 × Grape Cheezo + an egg tart (¥67)";
    let order = purchase(
        "o-1002",
        "sh-001",
        vec![
            line("p-01", "cheese-tea", 2, 2900),
            line("p-27", "bakery", 1, 900),
        ],
        vec![],
    );
    steps.push(ingest_step(
        rb,
        title,
        event("j-03", MEMBER, cst(2026, 3, 4, 15, 30), order),
    )?);

    let title = "Fri 6 Mar 19:00 — team order: 10 × Brown Sugar Boba (¥220) — qualifies for gold";
    let order = purchase(
        "o-1003",
        "sh-001",
        vec![line("p-12", "milk-tea", 10, 2200)],
        vec![],
    );
    steps.push(ingest_step(
        rb,
        title,
        event("j-04", MEMBER, cst(2026, 3, 6, 19, 0), order),
    )?);

    let title = "Mon 9 Mar 12:00 — as gold (1.5× points): 2 × Very Mango (¥56)";
    let order = purchase(
        "o-1004",
        "sh-002",
        vec![line("p-06", "fruit-tea", 2, 2800)],
        vec![],
    );
    steps.push(ingest_step(
        rb,
        title,
        event("j-05", MEMBER, cst(2026, 3, 9, 12, 0), order),
    )?);

    let title =
        "Tue 10 Mar 15:00 — which coupons fit 2 × Very Grape + a Grape Cheezo at People's Square?";
    let cart = Cart {
        store_id: "sh-001".into(),
        lines: vec![
            line("p-05", "fruit-tea", 2, 2800),
            line("p-01", "cheese-tea", 1, 2900),
        ],
    };
    let query = Query {
        brand: BRAND.into(),
        member_id: MEMBER.into(),
        at: cst(2026, 3, 10, 15, 0),
        kind: QueryKind::CouponEligibility(cart),
    };
    steps.push(step(title, Outcome::Query(rb.query(query)?)));

    for (hour, when) in [(8, "08:00"), (15, "15:00")] {
        let title =
            format!("Wed 11 Mar {when} — what should Ming be offered near People's Square?");
        let place = Place {
            location: HOME,
            limit: 3,
        };
        let query = Query {
            brand: BRAND.into(),
            member_id: MEMBER.into(),
            at: cst(2026, 3, 11, hour, 0),
            kind: QueryKind::Recommendation(place),
        };
        steps.push(step(&title, Outcome::Query(rb.query(query)?)));
    }

    let title = "Thu 12 Mar 10:00 — Ming's friend signs up with Ming's invitation";
    let sign_up = EventKind::SignUp(SignUp {
        channel: "referral".into(),
        inviter: Some(MEMBER.into()),
        staff_id: None,
    });
    steps.push(ingest_step(
        rb,
        title,
        event("j-06", FRIEND, cst(2026, 3, 12, 10, 0), sign_up),
    )?);

    let title = "Thu 12 Mar 10:05 — the referral is accepted: Ming earns the referral reward";
    let referral = EventKind::ReferralAccepted(Referral {
        invitee_id: FRIEND.into(),
        level: 1,
    });
    steps.push(ingest_step(
        rb,
        title,
        event("j-07", MEMBER, cst(2026, 3, 12, 10, 5), referral),
    )?);

    let title = "Fri 13 Mar 11:00 — 5 of the 10 boba from the team order are refunded";
    let refund = EventKind::Refund(Refund {
        order_id: "o-1003".into(),
        lines: vec![line("p-12", "milk-tea", 5, 2200)],
        refunded: 11000,
    });
    steps.push(ingest_step(
        rb,
        title,
        event("j-08", MEMBER, cst(2026, 3, 13, 11, 0), refund),
    )?);

    let at = cst(2027, 3, 10, 0, 0);
    let title =
        "10 Mar 2027 — the qualification period ends: no purchases in the last year, one tier down";
    steps.push(step(
        title,
        Outcome::Sweep(sweep_for(rb, "period-end", at, MEMBER)?),
    ));

    let at = cst(2027, 4, 1, 0, 0);
    let title = "1 Apr 2027 — the daily sweep: points earned in March 2026 expire at the end of the 12th month";
    steps.push(step(
        title,
        Outcome::Sweep(sweep_for(rb, "daily", at, MEMBER)?),
    ));
    Ok(steps)
}

fn step(title: &str, outcome: Outcome) -> Step {
    Step {
        title: title.into(),
        outcome,
    }
}

/// Applies one event of the journey as a step.
fn ingest_step(rb: &Rulebox, title: &str, event: Event) -> anyhow::Result<Step> {
    let outcome = rb.ingest(event).with_context(|| title.to_owned())?;
    Ok(step(title, Outcome::Event(outcome)))
}

/// A scheduled tick for one member (a brand-wide sweep sends the same event to everyone;
/// the journey sends it to its member only, to stay quick with 10,000 members).
fn sweep_for(rb: &Rulebox, schedule: &str, at: i64, member: &str) -> anyhow::Result<EventOutcome> {
    let id = format!("tick:{schedule}:{at}:{member}");
    let tick = EventKind::ScheduledTick(Tick {
        schedule: schedule.into(),
    });
    Ok(rb.ingest(event(&id, member, at, tick))?)
}
