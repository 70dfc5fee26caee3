//! Commands that drive a running server over its HTTP API: plugins, events, members,
//! queries and replays.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Client, json_items, now_ms, parse_time, print_json, read_input};
use rulebox_sandbox::{Limits, Sandbox, SandboxConfig};

/// Most events per request (the server's batch limit).
const BATCH: usize = rulebox_api::MAX_BATCH;

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Upload a plugin version, optionally activating it at once.
    ///
    /// The manifest may leave out brand, name, version, events and queries: they are taken
    /// from --brand and from what the plugin says of itself.
    ///
    /// Example: rulebox plugin deploy target/wasm32-wasip2/plugin/points_accrual.wasm --manifest points.json --activate
    Deploy {
        /// The plugin component (.wasm built for wasm32-wasip2).
        wasm: PathBuf,
        /// The manifest (JSON): order, on_failure, limits, config… [default: all defaults]
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Make this version the active one once it is installed.
        #[arg(long)]
        activate: bool,
    },
    /// List the brand's plugins: active version, rollback history, installed versions.
    List,
    /// Make an installed version the active one (events in flight finish on the old one).
    Activate { name: String, version: String },
    /// Re-activate the version that was active before the current one.
    Rollback { name: String },
    /// Stop running a plugin; its versions stay installed.
    Disable { name: String },
    /// Calls, failures by cause, fuel and time percentiles per version, since the server
    /// started.
    Stats { name: String },
}

/// `rulebox plugin …`.
pub fn plugin(client: &Client, command: PluginCommand) -> anyhow::Result<ExitCode> {
    let answer = match command {
        PluginCommand::Deploy {
            wasm,
            manifest,
            activate,
        } => {
            let bytes =
                std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
            let manifest = complete_manifest(client, &bytes, manifest.as_deref())?;
            let body = json!({
                "manifest": manifest,
                "wasm_base64": base64::engine::general_purpose::STANDARD.encode(&bytes),
                "activate": activate,
            });
            let answer = client.call(Method::POST, &client.brand_path("plugins"), &body)?;
            let version = &answer["version"]["manifest"];
            eprintln!(
                "installed {}@{}{}",
                version["name"].as_str().unwrap_or("?"),
                version["version"].as_str().unwrap_or("?"),
                if activate { " and activated it" } else { "" }
            );
            answer
        }
        PluginCommand::List => {
            let answer = client.get(&client.brand_path("plugins"))?;
            println!(
                "{:<24} {:<10} {:<20} installed",
                "plugin", "active", "history"
            );
            for item in answer["items"].as_array().into_iter().flatten() {
                let versions: Vec<&str> = item["versions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v["manifest"]["version"].as_str())
                    .collect();
                let history: Vec<&str> = item["history"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                println!(
                    "{:<24} {:<10} {:<20} {}",
                    item["name"].as_str().unwrap_or("?"),
                    item["active"].as_str().unwrap_or("-"),
                    history.join(","),
                    versions.join(",")
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        PluginCommand::Activate { name, version } => client.call(
            Method::POST,
            &client.brand_path(&format!("plugins/{name}/versions/{version}:activate")),
            &json!({}),
        )?,
        PluginCommand::Rollback { name } => client.call(
            Method::POST,
            &client.brand_path(&format!("plugins/{name}:rollback")),
            &json!({}),
        )?,
        PluginCommand::Disable { name } => client.call(
            Method::POST,
            &client.brand_path(&format!("plugins/{name}:disable")),
            &json!({}),
        )?,
        PluginCommand::Stats { name } => {
            client.get(&client.brand_path(&format!("plugins/{name}/stats")))?
        }
    };
    print_json(&answer)?;
    Ok(ExitCode::SUCCESS)
}

/// The manifest file (or `{}`), with what it leaves out filled in from the brand and the
/// plugin's own description, so the common case needs no manifest at all.
fn complete_manifest(client: &Client, wasm: &[u8], path: Option<&Path>) -> anyhow::Result<Value> {
    let mut manifest: Value = match path {
        Some(path) => serde_json::from_str(&read_input(path)?)
            .with_context(|| format!("{} is not a JSON manifest", path.display()))?,
        None => json!({}),
    };
    let Some(fields) = manifest.as_object_mut() else {
        anyhow::bail!("the manifest must be a JSON object");
    };
    fields
        .entry("brand")
        .or_insert_with(|| client.brand.clone().into());
    if ["name", "version", "events", "queries"]
        .iter()
        .any(|k| !fields.contains_key(*k))
    {
        let sandbox = Sandbox::new(SandboxConfig::default())?;
        let plugin = sandbox
            .load(wasm, Limits::default())
            .context("the plugin was refused; `rulebox inspect` tells more")?;
        let d = &plugin.description;
        fields
            .entry("name")
            .or_insert_with(|| d.name.clone().into());
        fields
            .entry("version")
            .or_insert_with(|| d.version.clone().into());
        fields
            .entry("events")
            .or_insert(serde_json::to_value(&d.events)?);
        fields
            .entry("queries")
            .or_insert(serde_json::to_value(&d.queries)?);
    }
    Ok(manifest)
}

#[derive(Subcommand)]
pub enum EventCommand {
    /// Send events: a file (or - for stdin) holding one JSON event, a JSON array, or JSON
    /// lines. Several go in batches of 1000. Prints one line per event; exits 1 if any was
    /// refused or aborted.
    ///
    /// Example: echo '{"id":"e-1","brand":"leaf-and-cup","member_id":"m-1","occurred_at":1764028800000,"kind":{"CheckIn":{"location":null,"store_id":"sh-001"}}}' | rulebox event send -
    Send {
        file: PathBuf,
        /// Evaluate without committing anything (one event at a time).
        #[arg(long)]
        dry_run: bool,
        /// Print the full outcomes as JSON instead of one line per event.
        #[arg(long)]
        json: bool,
    },
}

/// `rulebox event send`.
pub fn event(client: &Client, command: EventCommand) -> anyhow::Result<ExitCode> {
    let EventCommand::Send {
        file,
        dry_run,
        json,
    } = command;
    let events = json_items(&read_input(&file)?, "event")?;
    let mut items = Vec::new();
    if dry_run {
        for event in &events {
            let outcome = client.call(Method::POST, &client.brand_path("events:dry-run"), event)?;
            items.push(json!({ "status": 200, "outcome": outcome }));
        }
    } else {
        for chunk in events.chunks(BATCH) {
            let answer = client.call(Method::POST, &client.brand_path("events:batch"), chunk)?;
            items.extend(answer["items"].as_array().cloned().unwrap_or_default());
        }
    }
    let failed = items
        .iter()
        .filter(|i| i["status"].as_u64().is_none_or(|s| s >= 300))
        .count();
    if json {
        print_json(&items)?;
    } else {
        for (event, item) in events.iter().zip(&items) {
            println!("{}", event_line(event, item));
        }
        eprintln!(
            "{} events: {} done, {failed} refused",
            items.len(),
            items.len() - failed
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `<id>: applied, m-1 +110 → 1,234 points (gold)` and the like.
fn event_line(event: &Value, item: &Value) -> String {
    let id = event["id"].as_str().unwrap_or("?");
    let outcome = &item["outcome"];
    if outcome.is_null() {
        return format!(
            "{id}: refused ({}): {}",
            item["error"]["code"].as_str().unwrap_or("?"),
            item["error"]["message"].as_str().unwrap_or("?")
        );
    }
    let state = if outcome["dry_run"] == true {
        "dry run"
    } else if outcome["duplicate"] == true {
        "duplicate (stored outcome)"
    } else {
        "applied"
    };
    let mut line = format!("{id}: {state}");
    for member in outcome["members"].as_array().into_iter().flatten() {
        let member_id = member["id"].as_str().unwrap_or("?");
        let delta: i64 = outcome["ledger"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["member_id"] == member["id"])
            .filter_map(|e| e["amount"].as_i64())
            .sum();
        line += &format!(
            ", {member_id} {delta:+} → {} points ({})",
            member["points"],
            member["tier"].as_str().unwrap_or("?")
        );
    }
    let effects = outcome["effects"].as_array().map_or(0, Vec::len);
    let failures = outcome["failures"].as_array().map_or(0, Vec::len);
    line += &format!(", {effects} effects");
    if failures > 0 {
        line += &format!(", {failures} plugins failed and were skipped");
    }
    line
}

/// `rulebox member show`.
pub fn member_show(client: &Client, id: &str, ledger: usize) -> anyhow::Result<ExitCode> {
    let mut member = client.get(&client.brand_path(&format!("members/{id}")))?;
    if ledger > 0 {
        // The newest entries: page through (pages are oldest first) and keep the tail.
        let mut entries: Vec<Value> = Vec::new();
        let mut after: Option<u64> = None;
        loop {
            let query = after.map_or(String::new(), |a| format!("&after={a}"));
            let page = client
                .get(&client.brand_path(&format!("members/{id}/ledger?limit=1000{query}")))?;
            entries.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_after"].as_u64() {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let skip = entries.len().saturating_sub(ledger);
        member["ledger"] = Value::Array(entries.split_off(skip));
    }
    print_json(&member)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum QueryCommand {
    /// Which coupons fit a cart, with each plugin's reasons.
    ///
    /// Example: rulebox query coupons --member m-1 --cart '{"store_id":"sh-001","lines":[{"product_id":"p-01","category":"fruit-tea","quantity":2,"unit_price":2800}]}'
    Coupons {
        #[arg(long)]
        member: String,
        /// The cart as JSON (`{"store_id", "lines": [LineItem]}`) or a file holding it.
        #[arg(long)]
        cart: String,
        /// When (RFC 3339 or ms since the epoch) [default: now].
        #[arg(long, value_parser = parse_time)]
        at: Option<i64>,
    },
    /// What to offer a member at a place and time.
    ///
    /// Example: rulebox query recommend --member m-1 --lat 31.2304 --lon 121.4737 --at 2026-11-25T08:00:00+08:00
    Recommend {
        #[arg(long)]
        member: String,
        #[arg(long, allow_hyphen_values = true)]
        lat: f64,
        #[arg(long, allow_hyphen_values = true)]
        lon: f64,
        /// How many recommendations at most.
        #[arg(long, default_value_t = 3)]
        limit: u32,
        /// When (RFC 3339 or ms since the epoch) [default: now].
        #[arg(long, value_parser = parse_time)]
        at: Option<i64>,
    },
}

/// `rulebox query …`.
pub fn query(client: &Client, command: QueryCommand) -> anyhow::Result<ExitCode> {
    let answer = match command {
        QueryCommand::Coupons { member, cart, at } => {
            let text = if cart.trim_start().starts_with('{') {
                cart
            } else {
                read_input(Path::new(&cart))?
            };
            let cart: Value = serde_json::from_str(&text).context("--cart is not JSON")?;
            client.call(
                Method::POST,
                &client.brand_path("queries/coupons"),
                &json!({ "member_id": member, "at": at.unwrap_or_else(now_ms), "cart": cart }),
            )?
        }
        QueryCommand::Recommend {
            member,
            lat,
            lon,
            limit,
            at,
        } => client.call(
            Method::POST,
            &client.brand_path("queries/recommendations"),
            &json!({
                "member_id": member,
                "at": at.unwrap_or_else(now_ms),
                "place": { "location": { "lat": lat, "lon": lon }, "limit": limit },
            }),
        )?,
    };
    print_json(&answer)?;
    Ok(ExitCode::SUCCESS)
}

/// `rulebox replay`: every event of the file against an installed, not yet active version,
/// compared with the stored outcome. Exits 1 when the candidate failed on any event.
pub fn replay(
    client: &Client,
    file: &Path,
    plugin: &str,
    version: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let events = json_items(&read_input(file)?, "event")?;
    let path = client.brand_path(&format!("plugins/{plugin}/versions/{version}:replay"));
    let mut items = Vec::new();
    let mut active = Value::Null;
    for chunk in events.chunks(BATCH) {
        let report = client.call(Method::POST, &path, &json!({ "events": chunk }))?;
        active = report["active_version"].clone();
        items.extend(report["items"].as_array().cloned().unwrap_or_default());
    }
    if json {
        print_json(
            &json!({ "plugin": plugin, "version": version, "active_version": active, "items": items }),
        )?;
    }
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for item in &items {
        let status = item["status"].as_str().unwrap_or("?").to_owned();
        if !json && status != "same" && status != "not-handled" {
            println!(
                "{:<10} {}",
                status,
                item["event_id"].as_str().unwrap_or("?")
            );
            for side in ["stored", "active", "candidate"] {
                if !item[side].is_null() {
                    println!("  {side:<9} {}", item[side]);
                }
            }
            if let Some(error) = item["error"].as_str() {
                println!("  error     {error}");
            }
        }
        *counts.entry(status).or_default() += 1;
    }
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    eprintln!(
        "{plugin}@{version} (active: {}) on {} events: {}",
        active.as_str().unwrap_or("none"),
        items.len(),
        summary.join(", ")
    );
    Ok(if counts.contains_key("failed") {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
