//! Experiment 4: ingestion over HTTP against the real server (`rulebox_host::api::serve`)
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

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rulebox_host::api::{self, ApiOptions, AppState};
use rulebox_host::auth::{self, Scope};
use rulebox_host::demo::data::BRAND;
use rulebox_host::sandbox::bindings::Event;

use super::pipeline::{Storage, open_demo, stream};
use super::{Opts, Row, percentiles};

struct Server {
    base: String,
    key: String,
    stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn start(compiled: &Path, members: usize) -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_owned();
    let compiled = compiled.to_owned();
    let rb = tokio::task::spawn_blocking(move || {
        open_demo(
            &path,
            Some(&compiled),
            members,
            None,
            None,
            Storage::Durable,
        )
    })
    .await??;
    let key = auth::create_key(rb.db(), Some(BRAND), &[Scope::Events], "bench", 0)?.key;
    let state = AppState::new(Arc::new(rb), None, ApiOptions::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/v1/brands/{BRAND}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(api::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Ok(Server {
        base,
        key,
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

/// Batches of `size` sent back to back from `clients` clients; events/s overall.
async fn batches(
    server: &Server,
    client: &reqwest::Client,
    streams: Vec<Vec<Event>>,
    size: usize,
) -> anyhow::Result<(usize, usize, Duration, Vec<Duration>)> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for events in streams {
        let (client, url, key) = (
            client.clone(),
            format!("{}/events:batch", server.base),
            server.key.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (mut sent, mut failed, mut latencies) = (0, 0, Vec::new());
            for chunk in events.chunks(size) {
                let t = Instant::now();
                let answer = client.post(&url).bearer_auth(&key).json(chunk).send().await;
                latencies.push(t.elapsed());
                sent += chunk.len();
                match answer {
                    Ok(r) if r.status().is_success() => {
                        let body: serde_json::Value = r.json().await.unwrap_or_default();
                        failed += body["items"].as_array().map_or(chunk.len(), |items| {
                            items
                                .iter()
                                .filter(|i| {
                                    !(200..300).contains(&i["status"].as_u64().unwrap_or(0))
                                })
                                .count()
                        });
                    }
                    _ => failed += chunk.len(),
                }
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

/// Runs experiment 4.
pub fn run(opts: Opts, compiled: &Path) -> anyhow::Result<Vec<Row>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let members = opts.pick(10_000, 300);
        let mut rows = Vec::new();
        let client = reqwest::Client::new();

        for rate in opts.pick(vec![500.0, 1000.0, 2000.0], vec![100.0]) {
            let server = start(compiled, members).await?;
            let count = (rate * opts.pick(10.0, 1.0)) as usize;
            // Warm-up: connections, plugin instances, sled caches.
            let warm = stream(members, 200, 1, "warm").concat();
            fixed_rate(&server, &client, warm, 500.0).await?;
            let events = stream(members, count, 1, "single").concat();
            let (mut latencies, errors, elapsed) =
                fixed_rate(&server, &client, events, rate).await?;
            let (p50, p99) = percentiles(&mut latencies);
            rows.push(Row {
                experiment: "http",
                case: format!("single events, {rate} offered/s"),
                variant: "sandboxed".into(),
                samples: latencies.len(),
                median_us: Some(p50),
                p99_us: Some(p99),
                per_s: Some(latencies.len() as f64 / elapsed.as_secs_f64()),
                ratio: None,
                note: format!("{errors} non-2xx; latency from the scheduled send time"),
            });
            let _ = server.stop.send(());
        }

        for (clients, size) in opts.pick(vec![(1, 250), (4, 250)], vec![(2, 50)]) {
            let server = start(compiled, members).await?;
            let warm = stream(members, 200, 1, "warm");
            batches(&server, &client, warm, 100).await?;
            let total = opts.pick(20_000, 400);
            let streams = stream(members, total, clients, "batch");
            let (sent, failed, elapsed, mut latencies) =
                batches(&server, &client, streams, size).await?;
            let (p50, p99) = percentiles(&mut latencies);
            rows.push(Row {
                experiment: "http",
                case: format!("batches of {size}, {clients} clients back to back"),
                variant: "sandboxed".into(),
                samples: sent,
                median_us: Some(p50),
                p99_us: Some(p99),
                per_s: Some(sent as f64 / elapsed.as_secs_f64()),
                ratio: None,
                note: format!("{failed} events not 2xx; latency per batch request"),
            });
            let _ = server.stop.send(());
        }
        Ok(rows)
    })
}
