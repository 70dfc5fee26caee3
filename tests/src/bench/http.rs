//! Experiment 4: ingestion over HTTP against the real server (`rulebox_api::serve`)
//! on a loopback port, in this process, driven by a small tokio load generator in this
//! process (no oha or wrk on the machine; and every request needs its own event id, which a
//! generator that builds the events itself gives for free). Client and server share the
//! machine's cores, so the figures are a floor.
//!
//! - Single events at a fixed offered rate, open loop: request `i` is sent at
//!   `start + i / rate` whatever happened to the earlier ones, and its latency is measured
//!   from that scheduled time (no coordinated omission).
//! - Batches (`events:batch`) sent back to back by `clients` concurrent clients: the peak
//!   rate.
//! - Both again on a server whose store is in memory (single events at the highest rate
//!   only): the same HTTP, rules and pipeline without the disk, so a row that misses a bar
//!   says whether storage is why.
//! - Upload to first evaluation: a plugin uploaded with `activate: true`, then an event it
//!   handles, timed from the upload's first byte to the event's answer.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rulebox_api::{self as api, ApiOptions, AppState};
use rulebox_cli::demo::data::BRAND;
use rulebox_engine::Rulebox;
use rulebox_engine::auth::{self, Scope};
use rulebox_sandbox::{Limits, Sandbox, SandboxConfig};
use rulebox_store::StoreStats;
use rulebox_world::{Event, EventKind, SignUp};

use super::pipeline::{Storage, open_demo, stream};
use super::{Opts, Row, percentiles};

struct Server {
    base: String,
    key: String,
    rulebox: Arc<Rulebox>,
    stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn start(compiled: &Path, members: usize, storage: Storage) -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_owned();
    let compiled = compiled.to_owned();
    let rb = tokio::task::spawn_blocking(move || {
        open_demo(&path, Some(&compiled), members, None, None, storage)
    })
    .await??;
    let key = auth::create_key(
        rb.db(),
        Some(BRAND),
        &[Scope::Events, Scope::Plugins],
        "bench",
        0,
    )?
    .key;
    let rulebox = Arc::new(rb);
    let state = AppState::new(rulebox.clone(), None, ApiOptions::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/v1/brands/{BRAND}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Ok(Server {
        base,
        key,
        rulebox,
        stop,
        _dir: dir,
    })
}

/// Single events at `rate` per second for `seconds`.
async fn fixed_rate(
    server: &Server,
    client: &reqwest::Client,
    events: Vec<Event>,
    rate: f64,
) -> anyhow::Result<(Vec<Duration>, usize, Duration)> {
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        let request = client
            .post(format!("{}/events", server.base))
            .bearer_auth(&server.key)
            .json(&event);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            let ok = matches!(request.send().await, Ok(r) if r.status().is_success());
            (due.elapsed(), ok)
        }));
    }
    let (mut latencies, mut errors) = (Vec::with_capacity(tasks.len()), 0);
    for task in tasks {
        let (latency, ok) = task.await?;
        latencies.push(latency);
        errors += usize::from(!ok);
    }
    Ok((latencies, errors, start.elapsed()))
}

/// What durable storage did since `before` (nothing for a store that keeps no counts):
/// how many commits shared each transaction, how many callers each flush served, and the
/// bucket bound that 99% of each stayed within.
fn storage_note(server: &Server, before: Option<StoreStats>) -> String {
    let (Some(before), Some(now)) = (before, server.rulebox.db().stats()) else {
        return String::new();
    };
    let done = now.since(&before);
    let p99 = |timings: &rulebox_store::stats::TimingsSnapshot| {
        timings
            .bound(0.99)
            .map_or("over 5 s".to_owned(), |s| format!("≤ {} ms", s * 1e3))
    };
    format!(
        "; storage: {} commits in {} transactions (99% {}), {} flushes for {} callers (99% {})",
        done.commits,
        done.transactions.count,
        p99(&done.transactions),
        done.flushes.count,
        done.flush_waiters,
        p99(&done.flushes),
    )
}

/// What a row's case says of its server's storage: nothing for production's (durable).
fn suffix(storage: Storage) -> &'static str {
    match storage {
        Storage::Durable => "",
        Storage::Memory => ", in-memory store",
    }
}

/// The part of a batch answer the load generator reads: each item's status.
#[derive(serde::Deserialize)]
struct BatchAnswer {
    items: Vec<BatchStatus>,
}

#[derive(serde::Deserialize)]
struct BatchStatus {
    status: u16,
}

/// Batches of `size` sent back to back from `clients` clients; events/s overall. Request
/// bodies are serialised before the clock starts and answers are read for their statuses
/// only, so the generator takes as little as it can of the two cores it shares with the
/// server.
async fn batches(
    server: &Server,
    client: &reqwest::Client,
    streams: Vec<Vec<Event>>,
    size: usize,
) -> anyhow::Result<(usize, usize, Duration, Vec<Duration>)> {
    let bodies: Vec<Vec<(usize, Vec<u8>)>> = streams
        .iter()
        .map(|events| {
            events
                .chunks(size)
                .map(|chunk| Ok((chunk.len(), serde_json::to_vec(chunk)?)))
                .collect::<anyhow::Result<_>>()
        })
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for requests in bodies {
        let (client, url, key) = (
            client.clone(),
            format!("{}/events:batch", server.base),
            server.key.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (mut sent, mut failed, mut latencies) = (0, 0, Vec::new());
            for (events, body) in requests {
                let t = Instant::now();
                let answer = client
                    .post(&url)
                    .bearer_auth(&key)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await;
                let answer = match answer {
                    Ok(r) if r.status().is_success() => r.bytes().await.ok(),
                    _ => None,
                };
                latencies.push(t.elapsed());
                sent += events;
                failed += answer
                    .and_then(|bytes| serde_json::from_slice::<BatchAnswer>(&bytes).ok())
                    .map_or(events, |a| {
                        a.items
                            .iter()
                            .filter(|i| !(200..300).contains(&i.status))
                            .count()
                    });
            }
            (sent, failed, latencies)
        }));
    }
    let (mut sent, mut failed, mut latencies) = (0, 0, Vec::new());
    for task in tasks {
        let (s, f, l) = task.await?;
        sent += s;
        failed += f;
        latencies.extend(l);
    }
    Ok((sent, failed, started.elapsed(), latencies))
}

/// An upload of the `welcome-bonus` example, activated, with the manifest filled in from
/// the plugin's own description (as `rulebox plugin deploy` does), and the plugin's name.
/// It is not among the demo plugins, so its bytes are not in a demo server's compile cache.
fn welcome_upload() -> anyhow::Result<(serde_json::Value, String)> {
    use base64::Engine as _;
    let wasm = rulebox_cli::examples::example("welcome-bonus")
        .ok_or_else(|| anyhow::anyhow!("welcome-bonus is not built in"))?;
    let described = Sandbox::new(SandboxConfig::default())?
        .load(wasm, Limits::default())?
        .description;
    let upload = serde_json::json!({
        "manifest": {
            "brand": BRAND,
            "name": described.name,
            "version": described.version,
            "events": described.events,
            "queries": described.queries,
        },
        "wasm_base64": base64::engine::general_purpose::STANDARD.encode(wasm),
        "activate": true,
    });
    Ok((upload, described.name))
}

/// Sends `upload`, then a sign-up that the uploaded plugin (`plugin`) handles, and checks it
/// ran. Returns the time to the upload's answer and to the event's answer.
async fn upload_then_event(
    server: &Server,
    client: &reqwest::Client,
    (upload, plugin): &(serde_json::Value, String),
    tag: &str,
) -> anyhow::Result<(Duration, Duration)> {
    let event = Event {
        id: format!("upload-{tag}"),
        brand: BRAND.into(),
        member_id: format!("n-upload-{tag}"),
        occurred_at: rulebox_cli::demo::data::DEMO_EPOCH + 86_400_000,
        kind: EventKind::SignUp(SignUp {
            channel: "app".into(),
            inviter: None,
            staff_id: None,
        }),
    };
    let started = Instant::now();
    post(server, client, "plugins", upload, "the upload").await?;
    let uploaded = started.elapsed();
    let body = post(server, client, "events", &event, "the first event").await?;
    let ran = body["calls"]
        .as_array()
        .is_some_and(|calls| calls.iter().any(|c| c["plugin"] == plugin.as_str()));
    anyhow::ensure!(
        ran,
        "the uploaded plugin did not run on the first event: {body}"
    );
    Ok((uploaded, started.elapsed()))
}

/// POSTs `body` as JSON to `path` under the brand: the answer's JSON, or an error naming
/// `what` with the server's answer.
async fn post(
    server: &Server,
    client: &reqwest::Client,
    path: &str,
    body: &impl serde::Serialize,
    what: &str,
) -> anyhow::Result<serde_json::Value> {
    let answer = client
        .post(format!("{}/{path}", server.base))
        .bearer_auth(&server.key)
        .json(body)
        .send()
        .await?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await?;
    anyhow::ensure!(status.is_success(), "{what} failed ({status}): {body}");
    Ok(body)
}

/// Runs experiment 4.
pub fn run(opts: Opts, compiled: &Path) -> anyhow::Result<Vec<Row>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let members = opts.pick(10_000, 300);
        let mut rows = Vec::new();
        let client = reqwest::Client::new();

        // Durable (production) at every rate; in memory at the highest too, which tells
        // what of a miss is storage and what is HTTP and the rules.
        let rates = opts.pick(vec![500.0, 1000.0, 2000.0], vec![100.0]);
        let top = rates[rates.len() - 1];
        let single_runs = rates
            .iter()
            .map(|rate| (Storage::Durable, *rate))
            .chain([(Storage::Memory, top)]);
        for (storage, rate) in single_runs {
            let server = start(compiled, members, storage).await?;
            let count = (rate * opts.pick(10.0, 1.0)) as usize;
            // Warm-up: connections, plugin instances, sled caches.
            let warm = stream(members, 200, 1, "warm").concat();
            fixed_rate(&server, &client, warm, 500.0).await?;
            let events = stream(members, count, 1, "single").concat();
            let storage_before = server.rulebox.db().stats();
            let (mut latencies, errors, elapsed) =
                fixed_rate(&server, &client, events, rate).await?;
            let storage_note = storage_note(&server, storage_before);
            let (p50, p99) = percentiles(&mut latencies);
            rows.push(Row {
                experiment: "http",
                case: format!("single events, {rate} offered/s{}", suffix(storage)),
                variant: "sandboxed".into(),
                samples: latencies.len(),
                median_us: Some(p50),
                p99_us: Some(p99),
                per_s: Some(latencies.len() as f64 / elapsed.as_secs_f64()),
                ratio: None,
                note: format!(
                    "{errors} non-2xx; latency from the scheduled send time{storage_note}"
                ),
            });
            let _ = server.stop.send(());
        }

        let loads = opts.pick(vec![(1, 250), (4, 250), (4, 1000)], vec![(2, 50)]);
        let batch_runs = [Storage::Durable, Storage::Memory]
            .into_iter()
            .flat_map(|storage| loads.iter().map(move |load| (storage, *load)));
        for (storage, (clients, size)) in batch_runs {
            let server = start(compiled, members, storage).await?;
            let warm = stream(members, 200, 1, "warm");
            batches(&server, &client, warm, 100).await?;
            let total = opts.pick(20_000, 400);
            let streams = stream(members, total, clients, "batch");
            let storage_before = server.rulebox.db().stats();
            let (sent, failed, elapsed, mut latencies) =
                batches(&server, &client, streams, size).await?;
            let storage_note = storage_note(&server, storage_before);
            let (p50, p99) = percentiles(&mut latencies);
            rows.push(Row {
                experiment: "http",
                case: format!(
                    "batches of {size}, {clients} clients back to back{}",
                    suffix(storage)
                ),
                variant: "sandboxed".into(),
                samples: sent,
                median_us: Some(p50),
                p99_us: Some(p99),
                per_s: Some(sent as f64 / elapsed.as_secs_f64()),
                ratio: None,
                note: format!("{failed} events not 2xx; latency per batch request{storage_note}"),
            });
            let _ = server.stop.send(());
        }
        // Upload to first evaluation, on fresh servers: the bytes are not in their compile
        // cache, so each upload compiles (the in-process scale experiment has the cache hit).
        let (mut uploads, mut totals) = (Vec::new(), Vec::new());
        let upload = welcome_upload()?;
        for tag in 0..opts.pick(3, 1) {
            let server = start(compiled, members, Storage::Durable).await?;
            let (uploaded, total) =
                upload_then_event(&server, &client, &upload, &tag.to_string()).await?;
            uploads.push(uploaded);
            totals.push(total);
            let _ = server.stop.send(());
        }
        let (u50, _) = percentiles(&mut uploads);
        let (t50, _) = percentiles(&mut totals);
        rows.push(Row {
            experiment: "http",
            case: "upload a new plugin (activate) + its first event".into(),
            variant: "sandboxed, compiles".into(),
            samples: totals.len(),
            median_us: Some(t50),
            note: format!(
                "median of fresh servers; upload answered after {:.0} ms, first event \
                 answered {:.0} ms later; max total {:.0} ms",
                u50 / 1e3,
                (t50 - u50) / 1e3,
                totals.last().map_or(0.0, |t| t.as_secs_f64() * 1e3)
            ),
            ..Row::default()
        });
        Ok(rows)
    })
}
