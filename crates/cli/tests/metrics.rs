//! `/metrics` shows what durable storage did: commits, the transactions they shared and the
//! flushes that made them durable, with durations, so an operator can tell whether requests
//! wait for storage.

mod common;

use std::time::Duration;

use rulebox_cli::demo::data::{self, BRAND, DEMO_EPOCH};
use rulebox_engine::Rulebox;
use rulebox_world::{Event, EventKind, Visit};

/// The value of the sample `name` (with its labels) in a Prometheus text exposition.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_count_and_time_the_durable_stores_commits_and_flushes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let rb = Rulebox::open(dir.path())?;
    let demo = data::generate(7, 3);
    rb.put_brand(&demo.brand)?;
    rb.put_members(BRAND, demo.members)?;
    let events = 5;
    for i in 0..events {
        rb.ingest(Event {
            id: format!("e-{i}"),
            brand: BRAND.into(),
            member_id: "m-00001".into(),
            occurred_at: DEMO_EPOCH + 86_400_000,
            kind: EventKind::CheckIn(Visit {
                location: None,
                store_id: None,
            }),
        })?;
    }
    let (_server, addr) = common::serve(rb, 1)?;
    let (status, metrics) = common::get(addr, "/metrics", None, Duration::from_secs(10))?;
    assert_eq!(status, "HTTP/1.1 200 OK");

    let value =
        |name: &str| sample(&metrics, name).unwrap_or_else(|| panic!("no {name}:\n{metrics}"));
    // Set-up wrote too; every event is one more commit, and was flushed before its answer.
    assert!(value("rulebox_storage_commits_total") >= f64::from(events));
    assert!(value("rulebox_storage_flush_waiters_total") >= f64::from(events));
    for histogram in [
        "rulebox_storage_transaction_seconds",
        "rulebox_storage_flush_seconds",
    ] {
        let count = value(&format!("{histogram}_count"));
        assert!(count >= 1.0, "{histogram}");
        assert_eq!(value(&format!("{histogram}_bucket{{le=\"+Inf\"}}")), count);
        assert!(value(&format!("{histogram}_bucket{{le=\"0.00025\"}}")) <= count);
        assert!(value(&format!("{histogram}_sum")) > 0.0, "{histogram}");
    }
    assert!(
        value("rulebox_storage_transaction_seconds_count")
            <= value("rulebox_storage_commits_total")
    );
    Ok(())
}

#[test]
fn a_store_that_keeps_no_counts_shows_none() -> anyhow::Result<()> {
    let (_server, addr) = common::serve(Rulebox::in_memory()?, 1)?;
    let (status, metrics) = common::get(addr, "/metrics", None, Duration::from_secs(10))?;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(metrics.contains("rulebox_events_total"), "{metrics}");
    assert!(!metrics.contains("rulebox_storage_"), "{metrics}");
    Ok(())
}
