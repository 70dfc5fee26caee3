//! Embeds the rulebox engine in a program of your own, without the HTTP server: a brand, one
//! rule plugin, a member's sign-up applied exactly once, and what the member has after it.
//!
//! ```sh
//! cargo build -p welcome-bonus --target wasm32-wasip2 --profile plugin --target-dir target/plugins
//! cargo run -p rulebox-engine --example embed -- target/plugins/wasm32-wasip2/plugin/welcome_bonus.wasm
//! ```
//!
//! `Rulebox::open(dir)` instead of `in_memory()` keeps the same data durably on disk.

use anyhow::Context as _;
use rulebox_engine::Rulebox;
use rulebox_engine::registry::Manifest;
use rulebox_store::model::Brand;
use rulebox_world::{Event, EventKind, EventType, SignUp};

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).context(
        "give the path of a welcome-bonus component (see the build command at the top of examples/embed.rs)",
    )?;
    let wasm = std::fs::read(&path).with_context(|| format!("cannot read {path}"))?;

    // Storage, sandbox, registry and pipeline in one value; here all in memory.
    let rulebox = Rulebox::in_memory()?;
    rulebox.put_brand(&Brand {
        id: "demo-tea".into(),
        name: "Demo Tea".into(),
        ..Brand::default()
    })?;

    // Install the rule for the brand with its configuration, and make it live.
    let manifest = Manifest {
        brand: "demo-tea".into(),
        name: "welcome-bonus".into(),
        version: "0.1.0".into(),
        events: vec![EventType::SignUp],
        queries: Vec::new(),
        order: 0,
        on_failure: Default::default(),
        limits: Default::default(),
        config: serde_json::json!({ "bonus": 200, "channel_bonus": { "store-qr": 50 } }),
    };
    rulebox.registry().install(manifest, &wasm)?;
    rulebox
        .registry()
        .activate("demo-tea", "welcome-bonus", "0.1.0")?;

    // An event is applied exactly once: sending it again answers the stored outcome.
    let sign_up = Event {
        id: "evt-1".into(),
        brand: "demo-tea".into(),
        member_id: "m-1".into(),
        occurred_at: 1_767_225_600_000, // event time, never the wall clock
        kind: EventKind::SignUp(SignUp {
            channel: "store-qr".into(),
            inviter: None,
            staff_id: None,
        }),
    };
    let first = rulebox.ingest(sign_up.clone())?;
    let again = rulebox.ingest(sign_up)?;
    for applied in &first.effects {
        println!(
            "{}@{}: {:?}",
            applied.plugin, applied.version, applied.effect
        );
    }
    println!(
        "sent twice: applied once (second answer duplicate = {})",
        again.duplicate
    );

    let member = rulebox.member("demo-tea", "m-1")?;
    let tags: Vec<&str> = member.tags.iter().map(String::as_str).collect();
    println!(
        "member {}: {} points, tags {tags:?}",
        member.id, member.points
    );
    Ok(())
}
