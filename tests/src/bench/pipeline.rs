//! Experiment 2: the event pipeline in process. A stream of demo-brand events (purchases,
//! check-ins, sign-ups, refunds of earlier purchases) for the generated Leaf & Cup members,
//! through `Rulebox::open` on a temporary directory (durable sled, group commit), from N
//! client threads; once with the rules in the sandbox (production) and once with the same
//! rules compiled natively in their place ([`super::native::NativeRules`]). Everything
//! else — checks, locks, host bookkeeping, effect application, the atomic batch and the
//! group-commit flush — is the same code.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rulebox_cli::demo::data::{self, BRAND, DEMO_EPOCH};
use rulebox_engine::Rulebox;
use rulebox_engine::registry::Manifest;
use rulebox_sandbox::SandboxConfig;
use rulebox_store::MemoryKv;
use rulebox_world::{Event, EventKind, LineItem, Product, Purchase, Refund, SignUp, Visit};

use super::native::NativeRules;
use super::{Opts, Row, percentiles};

/// Seed of the generated data and streams.
pub const SEED: u64 = 7;

/// Where a host keeps its data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Storage {
    /// sled on disk with group commit: production.
    Durable,
    /// `MemoryKv`: no disk, no fsync. Shows the CPU cost alone.
    Memory,
}

/// Opens a host on `dir` (reusing the compiled plugins in `compiled`, if given), runs the
/// rules natively if `native`, and loads the demo brand with `members` members and the
/// demo plugins named in `plugins` (all four when `None`).
pub fn open_demo(
    dir: &Path,
    compiled: Option<&Path>,
    members: usize,
    plugins: Option<&[&str]>,
    native: Option<Arc<NativeRules>>,
    storage: Storage,
) -> anyhow::Result<Rulebox> {
    if let Some(compiled) = compiled {
        copy_dir(compiled, &dir.join("compiled"))?;
    }
    let mut rb = match storage {
        Storage::Durable => Rulebox::open(dir)?,
        Storage::Memory => Rulebox::with_storage(
            Arc::new(MemoryKv::new()),
            SandboxConfig {
                cache_dir: Some(dir.join("compiled")),
                ..SandboxConfig::default()
            },
        )?,
    };
    if let Some(native) = native {
        rb.set_event_runner(native);
    }
    let demo = data::generate(SEED, members);
    rb.put_brand(&demo.brand)?;
    rb.put_stores(BRAND, &demo.stores)?;
    rb.put_products(BRAND, &demo.products)?;
    rb.put_stock(BRAND, &demo.stock)?;
    rb.put_members(BRAND, demo.members)?;
    install(&rb, BRAND, plugins)?;
    Ok(rb)
}

/// Installs and activates the demo manifests (those named in `only`) for `brand`.
pub fn install(rb: &Rulebox, brand: &str, only: Option<&[&str]>) -> anyhow::Result<()> {
    install_adjusted(rb, brand, only, |_| {})
}

/// Installs and activates the demo manifests as [`install`] does, each changed by `adjust`
/// first.
pub fn install_adjusted(
    rb: &Rulebox,
    brand: &str,
    only: Option<&[&str]>,
    adjust: impl Fn(&mut Manifest),
) -> anyhow::Result<()> {
    let manifests: Vec<Manifest> = serde_json::from_str(rulebox_cli::demo::MANIFESTS)?;
    for mut manifest in manifests {
        if only.is_some_and(|only| !only.contains(&manifest.name.as_str())) {
            continue;
        }
        manifest.brand = brand.to_owned();
        adjust(&mut manifest);
        let wasm = rulebox_cli::examples::example(&manifest.name)
            .ok_or_else(|| anyhow::anyhow!("{} is not built in", manifest.name))?;
        let (name, version) = (manifest.name.clone(), manifest.version.clone());
        rb.registry().install(manifest, wasm)?;
        rb.registry().activate(brand, &name, &version)?;
    }
    Ok(())
}

/// Copies the files of `from` into `to` (the compile cache: flat).
pub fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

/// `count` events for members `m-00001…` of the demo brand, split over `clients` streams.
/// Client `c` only sends events of members `n` with `n % clients == c`, so a member's
/// refund always follows its purchase in the same stream. Mix: 65% purchases of 1–3 menu
/// items, 15% store check-ins, 10% refunds of a line of an earlier purchase, 10% sign-ups
/// of new members. Ids carry `tag`, so streams with different tags never collide.
pub fn stream(members: usize, count: usize, clients: usize, tag: &str) -> Vec<Vec<Event>> {
    let demo = data::generate(SEED, 0);
    let products: Vec<Product> = demo.products;
    let stores: Vec<String> = demo.stores.into_iter().map(|s| s.id).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ 0x5eed);
    // A weekday afternoon in the happy-hour window, then one event per second.
    let start = DEMO_EPOCH + 16 * 86_400_000 + 6 * 3_600_000;
    let mut out: Vec<Vec<Event>> = vec![Vec::new(); clients];
    let mut bought: Vec<Vec<(String, String, LineItem)>> = vec![Vec::new(); clients];
    for i in 0..count {
        let c = i % clients;
        let member = loop {
            let n = rng.random_range(1..=members.max(1));
            if n % clients == c || members < clients {
                break format!("m-{n:05}");
            }
        };
        let roll = rng.random_range(0..100);
        // Who the event is for (a new member, a refund's buyer, or the member drawn) and what.
        let (member_id, kind) = if roll < 10 {
            let sign_up = EventKind::SignUp(SignUp {
                channel: "app".into(),
                inviter: None,
                staff_id: None,
            });
            (format!("n-{tag}-{i}"), sign_up)
        } else if roll < 25 {
            let check_in = EventKind::CheckIn(Visit {
                location: None,
                store_id: Some(stores[rng.random_range(0..stores.len())].clone()),
            });
            (member, check_in)
        } else if roll < 35
            && let Some(k) = (!bought[c].is_empty()).then(|| rng.random_range(0..bought[c].len()))
        {
            let (owner, order_id, line) = bought[c].swap_remove(k);
            let refund = EventKind::Refund(Refund {
                order_id,
                refunded: line.unit_price,
                lines: vec![LineItem {
                    quantity: 1,
                    ..line
                }],
            });
            (owner, refund)
        } else {
            let lines: Vec<LineItem> = (0..rng.random_range(1..=3))
                .map(|_| {
                    let p = &products[rng.random_range(0..products.len())];
                    LineItem {
                        product_id: p.id.clone(),
                        category: p.category.clone(),
                        quantity: rng.random_range(1..=2),
                        unit_price: p.price,
                    }
                })
                .collect();
            let total: i64 = lines
                .iter()
                .map(|l| i64::from(l.quantity) * l.unit_price)
                .sum();
            let order_id = format!("o-{tag}-{i}");
            bought[c].push((member.clone(), order_id.clone(), lines[0].clone()));
            let purchase = EventKind::Purchase(Purchase {
                order_id,
                store_id: stores[rng.random_range(0..stores.len())].clone(),
                lines,
                total,
                paid: total,
                coupons_used: Vec::new(),
            });
            (member, purchase)
        };
        out[c].push(Event {
            id: format!("{tag}-{i}"),
            brand: BRAND.into(),
            member_id,
            occurred_at: start + i as i64 * 1000,
            kind,
        });
    }
    out
}

/// What running a stream measured.
pub struct Run {
    pub events: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    pub errors: usize,
    /// Plugin calls made (from the outcomes).
    pub calls: usize,
    pub first_error: Option<String>,
}

impl Run {
    pub fn per_s(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
}

/// How the clients send: how many threads, and how many events each hands the host at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Client threads, each with its own stream.
    pub clients: usize,
    /// Events per call: 1 sends each with `Rulebox::ingest` (one flush each, shared with
    /// whoever else is waiting: group commit); more sends them with `Rulebox::ingest_all`
    /// (one flush per batch), as the HTTP `events:batch` route does.
    pub batch: usize,
}

impl Load {
    /// `clients` threads sending one event at a time.
    pub fn single(clients: usize) -> Self {
        Load { clients, batch: 1 }
    }

    fn label(&self) -> String {
        match self.batch {
            1 => format!("{} threads", self.clients),
            n => format!("{} threads, batches of {n}", self.clients),
        }
    }
}

/// Ingests each stream from its own thread, all at once, `batch` events per call. An
/// event's latency is that of the call that carried it.
pub fn run_streams(rb: &Rulebox, streams: Vec<Vec<Event>>, batch: usize) -> Run {
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, usize, usize, Option<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = streams
            .into_iter()
            .map(|events| {
                s.spawn(move || {
                    let (mut lat, mut errors, mut calls, mut first) =
                        (Vec::with_capacity(events.len()), 0, 0, None);
                    let mut events = events.into_iter().peekable();
                    while events.peek().is_some() {
                        let chunk: Vec<Event> = events.by_ref().take(batch.max(1)).collect();
                        let t = Instant::now();
                        let results = if chunk.len() == 1 {
                            let event = chunk.into_iter().next().expect("one event");
                            vec![rb.ingest(event)]
                        } else {
                            rb.ingest_all(chunk)
                        };
                        let took = t.elapsed();
                        for result in results {
                            lat.push(took);
                            match result {
                                Ok(outcome) => calls += outcome.calls.len(),
                                Err(e) => {
                                    errors += 1;
                                    first.get_or_insert_with(|| e.to_string());
                                }
                            }
                        }
                    }
                    (lat, errors, calls, first)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    let elapsed = started.elapsed();
    let mut run = Run {
        events: 0,
        elapsed,
        latencies: Vec::new(),
        errors: 0,
        calls: 0,
        first_error: None,
    };
    for (lat, errors, calls, first) in results {
        run.events += lat.len();
        run.latencies.extend(lat);
        run.errors += errors;
        run.calls += calls;
        if run.first_error.is_none() {
            run.first_error = first;
        }
    }
    run
}

/// One configuration: a fresh host, a warm-up stream, then the measured stream.
pub fn measure(
    compiled: Option<&Path>,
    members: usize,
    plugins: Option<&[&str]>,
    native: Option<Arc<NativeRules>>,
    storage: Storage,
    load: Load,
    events: usize,
) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let rb = open_demo(dir.path(), compiled, members, plugins, native, storage)?;
    Ok(measure_on(&rb, members, load, events))
}

/// A warm-up stream, then the measured stream, on a host already set up.
pub fn measure_on(rb: &Rulebox, members: usize, load: Load, events: usize) -> Run {
    run_streams(rb, stream(members, events.min(500), 1, "warm"), load.batch);
    run_streams(rb, stream(members, events, load.clients, "run"), load.batch)
}

/// A row from a run.
pub fn row(experiment: &'static str, case: String, variant: &str, run: &mut Run) -> Row {
    let (p50, p99) = percentiles(&mut run.latencies);
    let mut note = format!(
        "{:.2} plugin calls/event; {} errors",
        run.calls as f64 / run.events.max(1) as f64,
        run.errors
    );
    if let Some(e) = &run.first_error {
        note.push_str(&format!(" (first: {e})"));
    }
    Row {
        experiment,
        case,
        variant: variant.into(),
        samples: run.events,
        median_us: Some(p50),
        p99_us: Some(p99),
        per_s: Some(run.per_s()),
        ratio: None,
        note,
    }
}

/// Compiles the demo plugins once into a cache directory that later hosts copy, so no
/// configuration pays for compiling.
pub fn compiled_cache() -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    {
        let data = dir.path().join("host");
        let rb = Rulebox::open(&data)?;
        let demo = data::generate(SEED, 0);
        rb.put_brand(&demo.brand)?;
        install(&rb, BRAND, None)?;
    }
    let cache = tempfile::tempdir()?;
    copy_dir(&dir.path().join("host").join("compiled"), cache.path())?;
    Ok(cache)
}

/// Runs experiment 2.
pub fn run(opts: Opts, compiled: &Path) -> anyhow::Result<Vec<Row>> {
    let members = opts.pick(10_000, 300);
    let events = opts.pick(10_000, 200);
    let mut rows = Vec::new();
    let configs = [
        (Storage::Durable, "durable sled"),
        (Storage::Memory, "in-memory store"),
    ];
    for (storage, label) in configs {
        let mut loads: Vec<Load> = opts
            .pick(vec![1, 2, 4, 8], vec![1, 2])
            .into_iter()
            .map(Load::single)
            .collect();
        if storage == Storage::Durable {
            // Group commit by batch: what `events:batch` does for one request.
            loads.extend(
                opts.pick(vec![1, 2, 4], vec![2])
                    .into_iter()
                    .map(|clients| Load {
                        clients,
                        batch: 250,
                    }),
            );
        }
        for load in loads {
            let native = Arc::new(NativeRules::default());
            let mut nat = measure(
                Some(compiled),
                members,
                None,
                Some(native.clone()),
                storage,
                load,
                events,
            )?;
            let mut sbx = measure(Some(compiled), members, None, None, storage, load, events)?;
            let case = format!("{label}, {members} members, {}", load.label());
            let ratio = sbx.per_s() / nat.per_s();
            let (calls, converting) = native.conversion();
            let mut native_row = row("pipeline", case.clone(), "native rules", &mut nat);
            native_row.ratio = Some(1.0);
            native_row.note.push_str(&format!(
                "; of which host↔SDK JSON crossing {:.1} µs per call ({calls} calls incl. warm-up)",
                converting.as_secs_f64() * 1e6 / calls.max(1) as f64
            ));
            let mut sandbox_row = row("pipeline", case, "sandboxed (production)", &mut sbx);
            sandbox_row.ratio = Some(ratio);
            sandbox_row
                .note
                .push_str("; ratio = events/s ÷ native events/s");
            rows.push(native_row);
            rows.push(sandbox_row);
        }
    }
    Ok(rows)
}
