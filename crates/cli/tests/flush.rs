//! The pipeline holds a member's lock while it evaluates and commits an event, not while it
//! waits for the flush that makes the event durable: the next event of the same member runs
//! during that flush, and a member's burst of events shares flushes instead of waiting for
//! one each.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::GatedKv;
use rulebox_cli::demo::data::{self, BRAND, DEMO_EPOCH};
use rulebox_engine::Rulebox;
use rulebox_sandbox::SandboxConfig;
use rulebox_world::{Event, EventKind, Visit};

fn check_in(id: &str, member: &str) -> Event {
    Event {
        id: id.into(),
        brand: BRAND.into(),
        member_id: member.into(),
        occurred_at: DEMO_EPOCH + 86_400_000,
        kind: EventKind::CheckIn(Visit {
            location: None,
            store_id: None,
        }),
    }
}

#[test]
fn the_next_event_of_a_member_runs_while_the_last_one_waits_for_its_flush() -> anyhow::Result<()> {
    let kv = Arc::new(GatedKv::flushes());
    let rb = Rulebox::with_storage(kv.clone(), SandboxConfig::default())?;
    let demo = data::generate(7, 3);
    rb.put_brand(&demo.brand)?;
    rb.put_members(BRAND, demo.members)?;
    let member = "m-00001";
    rb.member(BRAND, member)?;
    kv.close();

    std::thread::scope(|s| -> anyhow::Result<()> {
        let first = s.spawn(|| rb.ingest(check_in("e-1", member)));
        assert_eq!(kv.wait_for(1, Duration::from_secs(20)), 1);
        let second = s.spawn(|| rb.ingest(check_in("e-2", member)));
        // Holding the member's lock through the flush would keep the second event out.
        let waiting = kv.wait_for(2, Duration::from_secs(20));
        kv.open();
        let (first, second) = (first.join().unwrap()?, second.join().unwrap()?);
        assert_eq!(
            waiting, 2,
            "the second event waited for the first one's flush"
        );
        assert!(!first.duplicate && !second.duplicate);
        Ok(())
    })?;
    assert!(rb.ingest(check_in("e-2", member))?.duplicate);
    Ok(())
}
