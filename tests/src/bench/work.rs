//! Experiment 5, continued (`--only work`): how the cost of one event grows with the work
//! it carries — the length of the member's points ledger, and the lines of a purchase.
//! Durable host, the four demo plugins, one client sending one event at a time, so every
//! figure is the cost of one event (flush included).

use std::path::Path;
use std::time::Instant;

use rulebox_cli::demo::data::{self, BRAND, DEMO_EPOCH};
use rulebox_engine::Rulebox;
use rulebox_world::{Event, EventKind, LineItem, Product, Purchase};

use super::pipeline::{SEED, Storage, open_demo};
use super::{Opts, Row, percentiles};

/// The member whose events are measured.
const MEMBER: &str = "m-00001";

/// What purchases are made of: the demo menu and one of its stores.
struct Shop {
    products: Vec<Product>,
    store: String,
}

impl Shop {
    fn demo() -> Self {
        let demo = data::generate(SEED, 0);
        Shop {
            products: demo.products,
            store: demo.stores[0].id.clone(),
        }
    }

    /// A purchase by [`MEMBER`] of `lines` lines cycling through the menu.
    fn purchase(&self, id: &str, at_h: i64, lines: usize) -> Event {
        let products = &self.products;
        let lines: Vec<LineItem> = (0..lines)
            .map(|i| {
                let p = &products[i % products.len()];
                LineItem {
                    product_id: p.id.clone(),
                    category: p.category.clone(),
                    quantity: 1,
                    unit_price: p.price,
                }
            })
            .collect();
        let total = lines.iter().map(|l| l.unit_price).sum();
        Event {
            id: id.into(),
            brand: BRAND.into(),
            member_id: MEMBER.into(),
            // One an hour: few enough a day that the rule's daily points cap never bites,
            // so every purchase earns (and writes ledger entries).
            occurred_at: DEMO_EPOCH + at_h * 3_600_000,
            kind: EventKind::Purchase(Purchase {
                order_id: format!("o-{id}"),
                store_id: self.store.clone(),
                lines,
                total,
                paid: total,
                coupons_used: Vec::new(),
            }),
        }
    }
}

/// Times `events` one at a time; a row with µs per event and the ratio to `base`.
fn time(
    rb: &Rulebox,
    case: String,
    events: Vec<Event>,
    base: &mut Option<f64>,
) -> anyhow::Result<Row> {
    let mut latencies = Vec::with_capacity(events.len());
    let (mut calls, n) = (0, events.len());
    for event in events {
        let t = Instant::now();
        calls += rb.ingest(event)?.calls.len();
        latencies.push(t.elapsed());
    }
    let (p50, p99) = percentiles(&mut latencies);
    Ok(Row {
        experiment: "scale",
        case,
        variant: "sandboxed, 1 thread".into(),
        samples: n,
        median_us: Some(p50),
        p99_us: Some(p99),
        ratio: Some(p50 / *base.get_or_insert(p50)),
        note: format!(
            "{:.2} plugin calls/event; ratio = median ÷ first row's",
            calls as f64 / n.max(1) as f64
        ),
        ..Row::default()
    })
}

/// The demo brand with 1,000 members and the four demo plugins, on sled in `dir`.
fn durable_host(dir: &Path, compiled: &Path) -> anyhow::Result<Rulebox> {
    open_demo(dir, Some(compiled), 1_000, None, None, Storage::Durable)
}

/// Runs both: ledger length, then cart size.
pub fn run(opts: Opts, compiled: &Path) -> anyhow::Result<Vec<Row>> {
    let mut rows = ledger(opts, compiled)?;
    rows.extend(cart(opts, compiled)?);
    Ok(rows)
}

/// Cost per event against the length of the member's ledger (each purchase adds entries).
fn ledger(opts: Opts, compiled: &Path) -> anyhow::Result<Vec<Row>> {
    let (mut rows, mut base, shop) = (Vec::new(), None, Shop::demo());
    for length in opts.pick(vec![0, 1_000, 10_000, 20_000], vec![0, 100]) {
        let dir = tempfile::tempdir()?;
        let rb = durable_host(dir.path(), compiled)?;
        let mut entries = 0;
        let mut fill = 0;
        while entries < length {
            let batch: Vec<Event> = (fill..fill + 500)
                .map(|i| shop.purchase(&format!("fill-{i}"), i as i64, 1))
                .collect();
            fill += 500;
            for result in rb.ingest_all(batch) {
                result?;
            }
            let grown = count_ledger(&rb)?;
            anyhow::ensure!(grown > entries, "purchases stopped adding ledger entries");
            entries = grown;
        }
        let events = (0..opts.pick(1_000, 50))
            .map(|i| shop.purchase(&format!("run-{i}"), (fill + i) as i64, 2))
            .collect();
        let case = format!("ledger of {entries} entries");
        rows.push(time(&rb, case, events, &mut base)?);
    }
    Ok(rows)
}

/// Entries in [`MEMBER`]'s ledger.
fn count_ledger(rb: &Rulebox) -> anyhow::Result<usize> {
    let (mut count, mut after) = (0, None);
    loop {
        let page = rb.ledger(BRAND, MEMBER, after, 1_000)?;
        let Some(last) = page.last() else {
            return Ok(count);
        };
        after = Some(last.seq);
        count += page.len();
    }
}

/// Cost per event against the lines of a purchase.
fn cart(opts: Opts, compiled: &Path) -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let rb = durable_host(dir.path(), compiled)?;
    let (mut rows, mut base, shop) = (Vec::new(), None, Shop::demo());
    for lines in opts.pick(vec![1, 10, 100, 500], vec![1, 10]) {
        let events = (0..opts.pick(1_000, 50))
            .map(|i| shop.purchase(&format!("cart-{lines}-{i}"), i as i64, lines))
            .collect();
        rows.push(time(
            &rb,
            format!("purchase of {lines} lines"),
            events,
            &mut base,
        )?);
    }
    Ok(rows)
}
