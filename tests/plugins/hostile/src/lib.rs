//! A plugin that misbehaves in the way its configuration's `mode` says, so that tests can
//! prove the host contains it. Mode `"ok"` behaves: it awards one point.

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};

use rulebox_sdk::GeoPoint;
use rulebox_sdk::prelude::*;

/// The plugin's configuration: the mode, and what some modes work on.
#[derive(serde::Deserialize)]
pub struct Config {
    pub mode: String,
    /// `exponential`: the argument of the naive Fibonacci it computes.
    #[serde(default)]
    pub n: Option<u32>,
    /// `spy`: where to look for stores.
    #[serde(default)]
    pub near: Option<GeoPoint>,
    /// `spy`: whose stock to read.
    #[serde(default)]
    pub store: Option<String>,
    /// `spy`: which products to read.
    #[serde(default)]
    pub products: Vec<String>,
    /// What `init` does: nothing when unset; `count-from` (set the counter that mode
    /// `count` reads to 41), `member`, `print`, `loop` or `fail`.
    #[serde(default)]
    pub init: Option<String>,
}

/// Set by `init` (mode `count-from`), raised by every `count` call: a snapshot taken after
/// `init` makes every call see 41, never what an earlier call left.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The rule.
pub struct Hostile;

#[allow(unconditional_recursion)] // on purpose: it must overflow the stack
fn recurse(depth: u64) -> u64 {
    // black_box keeps the compiler from turning the recursion into a loop.
    black_box(recurse(black_box(depth + 1))) + 1
}

/// The wasm `unreachable` instruction: a trap with no panic machinery before it.
#[cfg(target_arch = "wasm32")]
fn unreachable_instruction() -> ! {
    core::arch::wasm32::unreachable()
}

/// Natively (clippy and native builds of the workspace) the nearest thing: an abort.
#[cfg(not(target_arch = "wasm32"))]
fn unreachable_instruction() -> ! {
    std::process::abort()
}

/// Exponential work: a small program that is cheap to write and dear to run.
fn fib(n: u32) -> u64 {
    if n < 2 {
        return u64::from(n);
    }
    black_box(fib(n - 1)) + black_box(fib(n - 2))
}

/// A string that grows until memory runs out: an argument whose computation never ends.
fn endless_id() -> String {
    let mut id = String::new();
    loop {
        id.push_str(black_box("0123456789abcdef"));
    }
}

/// What the plugin could reach of its surroundings: the clock, the environment, the
/// filesystem and stdin. Each attempt is reported as what it got.
fn ambient() -> serde_json::Value {
    use std::io::Read;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(-1, |d| d.as_millis() as i64);
    let outcome = |r: std::io::Result<String>| match r {
        Ok(what) => format!("ok: {what}"),
        Err(e) => format!("error: {e}"),
    };
    let mut stdin = Vec::new();
    serde_json::json!({
        "now_ms": now_ms,
        "env": std::env::vars().map(|(k, _)| k).collect::<Vec<_>>(),
        "args": std::env::args().skip(1).collect::<Vec<_>>(),
        "read_passwd": outcome(std::fs::read_to_string("/etc/passwd").map(|t| format!("{} bytes", t.len()))),
        "list_root": outcome(std::fs::read_dir("/").map(|d| format!("{} entries", d.count()))),
        "list_cwd": outcome(std::fs::read_dir(".").map(|d| format!("{} entries", d.count()))),
        "create_file": outcome(std::fs::write("/tmp/rulebox-hostile", b"x").map(|()| "written".into())),
        "stdin": outcome(std::io::stdin().read_to_end(&mut stdin).map(|n| format!("{n} bytes"))),
    })
}

impl Rule for Hostile {
    /// Read by each handler itself: misbehaving is the point, including on configuration.
    type Config = ();

    fn describe() -> Description {
        Description::new("hostile", "0.1.0", "Misbehaves on purpose.")
            .handles(EventType::Purchase)
            .handles(EventType::SignUp)
            .handles(EventType::CheckIn)
            // So that the spy mode sees tags and attributes, if the host handed them over.
            .reads(MemberField::Tags)
            .reads(MemberField::Attributes)
    }

    fn init(ctx: &Context) -> Result<(), RuleError> {
        let config: Config = ctx.config()?;
        match config.init.as_deref() {
            None => {}
            Some("count-from") => COUNTER.store(41, Ordering::Relaxed),
            Some("member") => drop(black_box(ctx.member().points)),
            Some("print") => println!("hostile init prints"),
            Some("loop") => loop {
                black_box(0);
            },
            Some("fail") => return Err(RuleError::invalid_config("hostile init refuses")),
            Some(other) => return Err(RuleError::invalid_config(format!("unknown init {other}"))),
        }
        Ok(())
    }

    fn on_event(ctx: &Context, _: &(), event: &Event) -> Result<Vec<Effect>, RuleError> {
        let config: Config = ctx.config()?;
        // "from-event": the purchase's order id names the mode, so one installed version
        // can misbehave in every way.
        let mode = match (&event.kind, config.mode.as_str()) {
            (EventKind::Purchase(p), "from-event") => {
                p.order_id.split(':').next().unwrap_or_default().to_owned()
            }
            _ => config.mode,
        };
        match mode.as_str() {
            "ok" => Ok(vec![Effect::award(1, "well-behaved")]),
            "count" => {
                let seen = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
                Ok(vec![Effect::award(i64::from(seen), "count")])
            }
            "loop" => {
                let mut n = 0u64;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(Vec::<u8>::with_capacity(1 << 20)));
                }
            }
            "huge-alloc" => {
                let big = black_box(vec![7u8; 1 << 30]);
                Ok(vec![Effect::award(big.len() as i64, "never")])
            }
            "recurse" => Ok(vec![Effect::award(recurse(0) as i64, "never")]),
            "huge-output" => Ok((0..20_000).map(|i| Effect::tag(format!("t{i}"))).collect()),
            "huge-string" => Ok(vec![Effect::tag("x".repeat(8 << 20))]),
            "panic" => panic!("hostile plugin panics on purpose"),
            // A core wasm trap, not a Rust panic: nothing is printed first.
            "unreachable" => unreachable_instruction(),
            "abort" => std::process::abort(),
            "exit" => std::process::exit(0),
            // Exponential work; with a large fuel budget it finishes, given the time.
            "exponential" => {
                let value = fib(config.n.unwrap_or(32));
                Ok(vec![Effect::award((value % 1000) as i64 + 1, "fibonacci")])
            }
            // The argument of a host call never finishes being computed.
            "arg-grow" => Ok(vec![Effect::award(
                ctx.stock(&endless_id(), &[]).len() as i64,
                "never",
            )]),
            // A 10 MB store id, again and again.
            "huge-arg" => {
                let id = black_box("s".repeat(10 << 20));
                let mut total = 0;
                loop {
                    total += black_box(ctx.stock(&id, &[])).len();
                    if total == usize::MAX {
                        return Ok(Vec::new());
                    }
                }
            }
            // 200,000 product ids per call, again and again.
            "id-flood" => {
                let ids: Vec<String> = (0..200_000).map(|i| format!("p-{i}")).collect();
                let mut total = 0;
                loop {
                    total += black_box(ctx.products(&ids)).len();
                    if total == usize::MAX {
                        return Ok(Vec::new());
                    }
                }
            }
            // 400,000 empty product ids in one call: 10 MB for the host to copy.
            "empty-ids" => {
                let ids = vec![String::new(); 400_000];
                Ok(vec![Effect::award(
                    ctx.products(&ids).len() as i64 + 1,
                    "never",
                )])
            }
            // 2,000 product ids in one call: small in bytes, but many reads for the host.
            "many-ids" => {
                let ids: Vec<String> = (0..2_000).map(|i| format!("p-{i}")).collect();
                Ok(vec![Effect::award(
                    ctx.products(&ids).len() as i64 + 1,
                    "never",
                )])
            }
            // Reports what the host imports answer for another brand's ids and places.
            "spy" => {
                let member = ctx.member();
                let near = config
                    .near
                    .map(|at| ctx.stores_near(at, 50_000, 200))
                    .unwrap_or_default();
                let stock = config
                    .store
                    .as_deref()
                    .map(|store| ctx.stock(store, &[]))
                    .unwrap_or_default();
                let seen = serde_json::json!({
                    "member": {"id": member.id, "points": member.points, "tier": member.tier, "tags": member.tags, "attributes": member.attributes.iter().map(|a| (&a.key, &a.value)).collect::<Vec<_>>()},
                    "stores_near": near.iter().map(|s| &s.id).collect::<Vec<_>>(),
                    "stock": stock.iter().map(|s| (&s.product_id, s.quantity)).collect::<Vec<_>>(),
                    "stock_of_asked": ctx.stock(config.store.as_deref().unwrap_or(""), &config.products)
                        .iter().map(|s| (s.product_id.clone(), s.quantity)).collect::<Vec<_>>(),
                    "products": ctx.products(&config.products).iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
                    "catalog": ctx.catalog().iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
                });
                Ok(vec![Effect::attribute("spy", seen.to_string())])
            }
            "ambient" => Ok(vec![Effect::attribute("ambient", ambient().to_string())]),
            "host-spam" => {
                let mut total = 0;
                for _ in 0..10_000_000 {
                    total += black_box(ctx.catalog()).len();
                }
                Ok(vec![Effect::award(total as i64, "never")])
            }
            "stdout" => {
                for i in 0..100_000 {
                    println!("hostile line {i}");
                }
                Ok(vec![Effect::award(1, "printed")])
            }
            "bad-effect" => Ok(vec![Effect::award(-50, "negative award")]),
            "rule-error" => Err(RuleError::internal("hostile plugin refuses")),
            "mirror" => Ok(vec![Effect::tag(format!(
                "hostile-saw-{}",
                ctx.member().points
            ))]),
            other => Err(RuleError::invalid_config(format!("unknown mode {other}"))),
        }
    }
}

export_rule!(Hostile);
