//! Prometheus metrics (`GET /metrics`, text format 0.0.4): requests by route, method and
//! status; events by result; plugin failures by what they did to the event; storage
//! commits, transactions and flushes, with durations. No brand, member or key appears in a
//! label, so the endpoint needs no key.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::{AppState, Table, spec};
use rulebox_engine::pipeline::{EventOutcome, PipelineError};
use rulebox_store::StoreStats;
use rulebox_store::stats::{BUCKETS, TimingsSnapshot};

/// Counters of the API.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    events: Mutex<BTreeMap<&'static str, u64>>,
    plugin_failures: Mutex<BTreeMap<&'static str, u64>>,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K, by: u64) {
    *map.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default() += by;
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, route: &str, method: &str, status: u16) {
        bump(
            &self.requests,
            (route.to_owned(), method.to_owned(), status),
            1,
        );
    }

    /// Counts one processed event (not dry runs) and the plugin failures it met.
    pub fn event(&self, result: &Result<EventOutcome, PipelineError>) {
        let label = match result {
            Ok(o) if o.duplicate => "duplicate",
            Ok(_) => "applied",
            Err(PipelineError::Aborted { .. }) => "aborted",
            Err(_) => "rejected",
        };
        bump(&self.events, label, 1);
        match result {
            Ok(o) if !o.duplicate && !o.failures.is_empty() => {
                bump(&self.plugin_failures, "skipped", o.failures.len() as u64)
            }
            Err(PipelineError::Aborted { .. }) => bump(&self.plugin_failures, "aborted", 1),
            _ => {}
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP rulebox_http_requests_total HTTP requests answered, by route, method and status.\n# TYPE rulebox_http_requests_total counter\n");
        for ((route, method, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "rulebox_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP rulebox_events_total Events ingested through the API, by result (applied, duplicate, aborted, rejected).\n# TYPE rulebox_events_total counter\n");
        for (result, n) in self.events.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "rulebox_events_total{{result=\"{result}\"}} {n}");
        }
        out.push_str("# HELP rulebox_plugin_failures_total Plugin failures on ingested events, by what happened to the event (skipped, aborted).\n# TYPE rulebox_plugin_failures_total counter\n");
        for (policy, n) in self
            .plugin_failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "rulebox_plugin_failures_total{{outcome=\"{policy}\"}} {n}"
            );
        }
        out
    }
}

/// The storage backend's counters and histograms, for backends that keep them.
fn render_storage(out: &mut String, stats: &StoreStats) {
    counter(
        out,
        "rulebox_storage_commits_total",
        "Batches committed to storage: one per event, and every other write.",
        stats.commits,
    );
    histogram(
        out,
        "rulebox_storage_transaction_seconds",
        "Storage transactions by duration; concurrent commits share one.",
        &stats.transactions,
    );
    histogram(
        out,
        "rulebox_storage_flush_seconds",
        "Flushes by duration; an event is answered after one that began after its commit.",
        &stats.flushes,
    );
    counter(
        out,
        "rulebox_storage_flush_waiters_total",
        "Callers made durable by flushes; each flush serves every caller waiting for one.",
        stats.flush_waiters,
    );
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

fn histogram(out: &mut String, name: &str, help: &str, timings: &TimingsSnapshot) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (bound, count) in BUCKETS.iter().zip(&timings.cumulative) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", timings.count);
    let _ = writeln!(out, "{name}_sum {}", timings.sum_seconds);
    let _ = writeln!(out, "{name}_count {}", timings.count);
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let mut text = state.metrics.render();
            // Counters in memory: reading them never waits for storage.
            if let Some(stats) = state.rulebox.db().stats() {
                render_storage(&mut text, &stats);
            }
            text
        },
    )
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Ready when the database answers a read.
async fn ready(
    State(state): State<AppState>,
) -> Result<axum::Json<serde_json::Value>, super::error::ApiError> {
    super::blocking(&state, |rb| Ok(rb.db().brands()?)).await?;
    Ok(axum::Json(serde_json::json!({ "status": "ready" })))
}

pub(super) fn routes(table: Table) -> Table {
    table
        .add(
            &[spec(
                "GET",
                "/metrics",
                None,
                200,
                "operations",
                "Prometheus metrics (text format).",
            )],
            get(metrics),
        )
        .add(
            &[spec(
                "GET",
                "/v1/health",
                None,
                200,
                "operations",
                "Liveness: the process answers.",
            )],
            get(health),
        )
        .add(
            &[spec(
                "GET",
                "/v1/ready",
                None,
                200,
                "operations",
                "Readiness: the database answers (503 when not).",
            )],
            get(ready),
        )
}
