//! Crash consistency: the real `rulebox serve` is killed with SIGKILL at random moments
//! (mid-request, mid-batch, mid-deploy, amid concurrent requests) while a client streams
//! events with unique ids and changes plugins, recording what the server acknowledged.
//! Concurrent requests share the server's storage transactions, and often carry events of
//! the same member, whose lock is released before the flush that acknowledges them. After each kill the server is
//! restarted on the same data directory and everything unacknowledged is sent again. At
//! the end every acknowledged event must be applied exactly once, every ledger must sum to
//! its member's balance, and the plugins must be as last acknowledged.
//!
//! `RULEBOX_CRASH_KILLS` sets the number of kills (default 50) and `RULEBOX_CRASH_SEED`
//! the seed of the schedule.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use rulebox_sandbox::{Limits, Sandbox, SandboxConfig};
use serde_json::{Value, json};

const ADMIN: &str = "crash-test-admin-key-0123456789";
const BRAND: &str = "tea";
const MEMBERS: usize = 40;

/// A small deterministic generator (xorshift64*), so a failing schedule can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the client has sent and what the server acknowledged.
#[derive(Default)]
struct Ledger {
    /// Every event created so far, by id, in creation order.
    events: BTreeMap<String, Value>,
    order: Vec<String>,
    acknowledged: BTreeSet<String>,
    /// Members whose sign-up was acknowledged (purchases are only made for them).
    members: Vec<String>,
    next_purchase: usize,
    /// The state of `tier-upgrade` last acknowledged (installed and active, or absent), and
    /// the state an unacknowledged change may have left.
    tier_upgrade: bool,
    tier_upgrade_uncertain: Option<bool>,
    /// What the client was doing when each kill cut it off.
    interrupted: BTreeMap<&'static str, usize>,
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    /// A failing assertion must not leave a server running after the test.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &Path, http: &reqwest::Client, runtime: &tokio::runtime::Runtime) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_rulebox"))
        .args(["serve", "--data-dir"])
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("RULEBOX_ADMIN_KEY", ADMIN)
        .env("RULEBOX_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rulebox serve starts");
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    runtime.block_on(async {
        loop {
            if let Ok(r) = http.get(format!("{base}/v1/ready")).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the server did not become ready within 60 s after a restart"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    Server { child, base }
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut request = http.request(method, url).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

fn manifest(sandbox: &Sandbox, wasm: &[u8], order: i32) -> Value {
    let plugin = sandbox.load(wasm, Limits::default()).unwrap();
    let d = &plugin.description;
    json!({
        "brand": BRAND, "name": d.name, "version": d.version, "order": order,
        "events": d.events, "queries": d.queries, "on_failure": "abort",
    })
}

/// One run of the client against a server until the server dies (or `budget` runs out).
async fn client(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    book: &mut Ledger,
    rng: &mut Rng,
    tier_manifest: &Value,
    budget: Duration,
) {
    let started = Instant::now();
    let events_url = format!("{base}/v1/brands/{BRAND}/events");
    while started.elapsed() < budget {
        // Unacknowledged events first, in creation order; then new ones.
        let mut pending: Vec<String> = book
            .order
            .iter()
            .filter(|id| !book.acknowledged.contains(*id))
            .take(20)
            .cloned()
            .collect();
        while pending.len() < 20 {
            pending.push(new_event(book, rng));
        }
        let op = rng.below(6);
        let result = match op {
            // Every pending event at once, each in its own request.
            2 => concurrent(http, &events_url, key, book, &pending).await,
            // A plugin change now and then: deploy or remove tier-upgrade.
            0 => change_tier_upgrade(http, base, key, book, tier_manifest).await,
            1 => {
                let id = &pending[0];
                let event = book.events[id].clone();
                match send(
                    http,
                    reqwest::Method::POST,
                    events_url.clone(),
                    key,
                    Some(&event),
                )
                .await
                {
                    Ok((201 | 200, _)) => {
                        acknowledge(book, id);
                        Ok(())
                    }
                    Ok((404, _)) => Ok(()), // a purchase whose member is not yet back
                    Ok((status, body)) => panic!("event {id} answered {status}: {body}"),
                    Err(e) => Err(e),
                }
            }
            _ => {
                let batch: Vec<Value> = pending.iter().map(|id| book.events[id].clone()).collect();
                match send(
                    http,
                    reqwest::Method::POST,
                    format!("{events_url}:batch"),
                    key,
                    Some(&Value::Array(batch)),
                )
                .await
                {
                    Ok((200, body)) => {
                        for (id, item) in pending.iter().zip(body["items"].as_array().unwrap()) {
                            match item["status"].as_u64() {
                                Some(200 | 201) => acknowledge(book, id),
                                Some(404) => {}
                                _ => panic!("event {id} in a batch answered {item}"),
                            }
                        }
                        Ok(())
                    }
                    Ok((status, body)) => panic!("a batch answered {status}: {body}"),
                    Err(e) => Err(e),
                }
            }
        };
        if result.is_err() {
            // The server is gone.
            let what = match op {
                0 => "plugin change",
                1 => "single event",
                2 => "concurrent events",
                _ => "batch",
            };
            *book.interrupted.entry(what).or_default() += 1;
            return;
        }
    }
}

/// Sends each of `ids` in a request of its own, all at once; records what was acknowledged
/// even when the server died before answering the rest.
async fn concurrent(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    book: &mut Ledger,
    ids: &[String],
) -> anyhow::Result<()> {
    let mut requests = tokio::task::JoinSet::new();
    for id in ids {
        let (http, url, key) = (http.clone(), url.to_owned(), key.to_owned());
        let (id, event) = (id.clone(), book.events[id].clone());
        requests.spawn(async move {
            let answer = send(&http, reqwest::Method::POST, url, &key, Some(&event)).await;
            (id, answer)
        });
    }
    let mut gone = None;
    while let Some(joined) = requests.join_next().await {
        let (id, answer) = joined.expect("a request task panicked");
        match answer {
            Ok((201 | 200, _)) => acknowledge(book, &id),
            Ok((404, _)) => {}
            Ok((status, body)) => panic!("event {id} answered {status}: {body}"),
            Err(e) => gone = Some(e),
        }
    }
    gone.map_or(Ok(()), Err)
}

fn acknowledge(book: &mut Ledger, id: &str) {
    if book.acknowledged.insert(id.to_owned()) && id.starts_with("su-") {
        book.members.push(id.trim_start_matches("su-").to_owned());
    }
}

/// A new event: a sign-up while members are missing, else a purchase of a signed-up member.
fn new_event(book: &mut Ledger, rng: &mut Rng) -> String {
    let signed_up = book.order.iter().filter(|id| id.starts_with("su-")).count();
    let (id, event) = if signed_up < MEMBERS && (book.members.is_empty() || rng.below(4) == 0) {
        let member = format!("m-{signed_up}");
        let id = format!("su-{member}");
        let event = json!({"id": id, "brand": BRAND, "member_id": member, "occurred_at": 1_773_538_200_000i64,
            "kind": {"SignUp": {"channel": "app", "inviter": null, "staff_id": null}}});
        (id, event)
    } else {
        let n = book.next_purchase;
        book.next_purchase += 1;
        let member = book.members[rng.below(book.members.len() as u64) as usize].clone();
        let paid = 1000 + 100 * rng.below(50) as i64;
        let id = format!("p-{n}");
        let event = json!({"id": id, "brand": BRAND, "member_id": member,
            "occurred_at": 1_773_538_200_000i64 + n as i64 * 60_000,
            "kind": {"Purchase": {"order_id": format!("o-{n}"), "store_id": "s-1",
                "lines": [{"product_id": "p-1", "category": "tea", "quantity": 1, "unit_price": paid}],
                "total": paid, "paid": paid, "coupons_used": []}}});
        (id, event)
    };
    book.events.insert(id.clone(), event);
    book.order.push(id.clone());
    id
}

/// Installs and activates tier-upgrade when absent, disables and removes it when present.
async fn change_tier_upgrade(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    book: &mut Ledger,
    manifest: &Value,
) -> anyhow::Result<()> {
    let plugins = format!("{base}/v1/brands/{BRAND}/plugins");
    let target = !book.tier_upgrade;
    book.tier_upgrade_uncertain = Some(target);
    if target {
        let body = json!({"manifest": manifest, "activate": true,
            "wasm_base64": base64::engine::general_purpose::STANDARD.encode(rulebox_cli::examples::example("tier-upgrade").unwrap())});
        let (status, body) = send(http, reqwest::Method::POST, plugins, key, Some(&body)).await?;
        assert_eq!(status, 201, "deploy: {body}");
    } else {
        let version = manifest["version"].as_str().unwrap();
        let (status, body) = send(
            http,
            reqwest::Method::POST,
            format!("{plugins}/tier-upgrade:disable"),
            key,
            Some(&json!({})),
        )
        .await?;
        // 404: a removal cut off by a kill had already finished.
        assert!(matches!(status, 200 | 404), "disable: {status} {body}");
        let (status, body) = send(
            http,
            reqwest::Method::DELETE,
            format!("{plugins}/tier-upgrade/versions/{version}"),
            key,
            None,
        )
        .await?;
        assert!(matches!(status, 204 | 404), "remove: {status} {body}");
    }
    book.tier_upgrade = target;
    book.tier_upgrade_uncertain = None;
    Ok(())
}

/// (installed, active) of tier-upgrade as the server has it.
async fn tier_upgrade_state(
    http: &reqwest::Client,
    base: &str,
    key: &str,
) -> anyhow::Result<(bool, bool)> {
    let (_, body) = send(
        http,
        reqwest::Method::GET,
        format!("{base}/v1/brands/{BRAND}/plugins"),
        key,
        None,
    )
    .await?;
    let item = body["items"]
        .as_array()
        .context("plugin list")?
        .iter()
        .find(|i| i["name"] == "tier-upgrade")
        .cloned();
    Ok(match item {
        None => (false, false),
        Some(item) => (
            item["versions"].as_array().is_some_and(|v| !v.is_empty()),
            !item["active"].is_null(),
        ),
    })
}

/// Every ledger entry of a member, following the pages.
async fn ledger(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    member: &str,
) -> anyhow::Result<Vec<Value>> {
    let mut entries = Vec::new();
    let mut after = String::new();
    loop {
        let (status, page) = send(
            http,
            reqwest::Method::GET,
            format!("{base}/v1/brands/{BRAND}/members/{member}/ledger?limit=1000{after}"),
            key,
            None,
        )
        .await?;
        if status != 200 {
            bail!("ledger of {member}: {status} {page}");
        }
        entries.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_after"].as_u64() {
            Some(next) => after = format!("&after={next}"),
            None => return Ok(entries),
        }
    }
}

#[test]
fn sigkill_at_random_moments_loses_and_repeats_nothing() {
    let kills: usize = std::env::var("RULEBOX_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("RULEBOX_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_2026);
    eprintln!("crash test: {kills} kills, seed {seed} (RULEBOX_CRASH_SEED to replay)");
    let mut rng = Rng(seed | 1);
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_rulebox"))
        .args(["brand", "create", BRAND, "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());

    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let points = rulebox_cli::examples::example("points-accrual").unwrap();
    let points_manifest = manifest(&sandbox, points, 10);
    let tier_manifest = manifest(
        &sandbox,
        rulebox_cli::examples::example("tier-upgrade").unwrap(),
        20,
    );
    drop(sandbox);

    // Set-up on a first server: a key and the points plugin.
    let server = start(dir.path(), &http, &runtime);
    let key = runtime.block_on(async {
        let (status, body) = send(
            &http,
            reqwest::Method::POST,
            format!("{}/v1/brands/{BRAND}/keys", server.base),
            ADMIN,
            Some(&json!({"scopes": ["events", "members", "plugins"]})),
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{body}");
        let key = body["key"].as_str().unwrap().to_owned();
        let upload = json!({"manifest": points_manifest, "activate": true,
            "wasm_base64": base64::engine::general_purpose::STANDARD.encode(points)});
        let (status, body) = send(
            &http,
            reqwest::Method::POST,
            format!("{}/v1/brands/{BRAND}/plugins", server.base),
            &key,
            Some(&upload),
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{body}");
        // Deploy and remove tier-upgrade once, so that its snapshot is in the compile cache:
        // a deploy that compiles (twice, in a debug build) outlasts most kill delays, and
        // the kills would then never land anywhere else.
        let mut warm_up = Ledger::default();
        for _ in 0..2 {
            change_tier_upgrade(&http, &server.base, &key, &mut warm_up, &tier_manifest)
                .await
                .unwrap();
        }
        assert!(!warm_up.tier_upgrade);
        key
    });
    let mut server = server;

    let mut book = Ledger::default();
    for kill in 0..kills {
        // Kill after a random moment: some land mid-batch, some mid-deploy.
        let delay = Duration::from_millis(20 + rng.below(400));
        let budget = delay + Duration::from_secs(5);
        let pid = server.child.id();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            // SIGKILL: no chance to flush or finish anything.
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        });
        runtime.block_on(client(
            &http,
            &server.base,
            &key,
            &mut book,
            &mut rng,
            &tier_manifest,
            budget,
        ));
        killer.join().unwrap();
        let exit = server.child.wait().unwrap();
        assert!(!exit.success(), "kill {kill}: the server was killed");
        server = start(dir.path(), &http, &runtime);
    }

    // Last run: no kill. Send everything unacknowledged until all is acknowledged.
    runtime.block_on(async {
        for _ in 0..100 {
            let pending: Vec<String> = book
                .order
                .iter()
                .filter(|id| !book.acknowledged.contains(*id))
                .cloned()
                .collect();
            if pending.is_empty() {
                break;
            }
            for id in pending {
                let (status, body) = send(
                    &http,
                    reqwest::Method::POST,
                    format!("{}/v1/brands/{BRAND}/events", server.base),
                    &key,
                    Some(&book.events[&id]),
                )
                .await
                .unwrap();
                match status {
                    200 | 201 => acknowledge(&mut book, &id),
                    404 => {}
                    _ => panic!("resending {id}: {status} {body}"),
                }
            }
        }
        assert_eq!(
            book.acknowledged.len(),
            book.order.len(),
            "every event is acknowledged in the end"
        );

        // Exactly once: each event's ledger entries appear once; ledgers sum to balances.
        let mut awarded: BTreeSet<String> = BTreeSet::new();
        for member in &book.members {
            let entries = ledger(&http, &server.base, &key, member).await.unwrap();
            let (_, record) = send(
                &http,
                reqwest::Method::GET,
                format!("{}/v1/brands/{BRAND}/members/{member}", server.base),
                &key,
                None,
            )
            .await
            .unwrap();
            let sum: i64 = entries.iter().map(|e| e["amount"].as_i64().unwrap()).sum();
            assert_eq!(sum, record["points"].as_i64().unwrap(), "ledger of {member} sums to its balance");
            let mut seen = BTreeSet::new();
            for entry in &entries {
                let identity = format!("{} {} {}", entry["event_id"], entry["plugin"], entry["reason"]);
                assert!(seen.insert(identity.clone()), "applied twice: {identity}");
                if let Some(id) = entry["event_id"].as_str() {
                    awarded.insert(id.to_owned());
                }
            }
        }
        for id in book.order.iter().filter(|id| id.starts_with("p-")) {
            assert!(awarded.contains(id), "acknowledged purchase {id} earned no points");
        }

        // Plugins as last acknowledged (or as the one unacknowledged change left them).
        let (installed, active) = tier_upgrade_state(&http, &server.base, &key).await.unwrap();
        let acknowledged_state = (book.tier_upgrade, book.tier_upgrade);
        let allowed: Vec<(bool, bool)> = match book.tier_upgrade_uncertain {
            None => vec![acknowledged_state],
            // A deploy may have stopped after install; a removal after disable.
            Some(true) => vec![acknowledged_state, (true, false), (true, true)],
            Some(false) => vec![acknowledged_state, (true, false), (false, false)],
        };
        assert!(
            allowed.contains(&(installed, active)),
            "tier-upgrade is (installed {installed}, active {active}); allowed {allowed:?}"
        );
        eprintln!(
            "crash test: {kills} kills, {} events acknowledged, {} members, tier-upgrade {:?}, cut off: {:?}",
            book.acknowledged.len(),
            book.members.len(),
            (installed, active),
            book.interrupted
        );
        if kills >= 50 {
            for what in ["batch", "plugin change", "concurrent events"] {
                assert!(
                    book.interrupted.get(what).is_some_and(|n| *n > 0),
                    "no kill landed during a {what}; change the schedule"
                );
            }
        }
    });
}
