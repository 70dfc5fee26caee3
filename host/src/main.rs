//! `rulebox`: the platform's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rulebox_host::api::config::ServeConfig;
use rulebox_host::fixtures::run_case;
use rulebox_host::sandbox::{Limits, Sandbox, SandboxConfig};
use rulebox_sdk::testing::Fixture;

/// rulebox runs brands' loyalty rules (points, tiers, coupons, recommendations) as
/// sandboxed WebAssembly plugins and applies what they decide exactly once.
#[derive(Parser)]
#[command(name = "rulebox", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a compiled plugin against JSON fixture cases in the real sandbox, without a
    /// server or database. Prints a pass/fail table with fuel, peak memory and time per
    /// case, and a diff for each failure; exits non-zero if any case fails.
    ///
    /// Example: rulebox test target/wasm32-wasip2/release/welcome_bonus.wasm plugins/welcome-bonus/fixtures/*.json
    Test {
        /// The plugin component (.wasm built for wasm32-wasip2).
        plugin: PathBuf,
        /// Fixture files: each a JSON case or a JSON array of cases (format:
        /// rulebox_sdk::testing::Fixture).
        #[arg(required = true)]
        fixtures: Vec<PathBuf>,
        /// Resource limits as JSON, e.g. '{"fuel": 5000000}' (defaults otherwise).
        #[arg(long, value_name = "JSON")]
        limits: Option<String>,
    },
    /// Load the demo brand (a tea chain: 50 stores in Shanghai and Shenzhen, 40 products,
    /// stock, 10,000 members, the four example rules) into an embedded database and play a
    /// member's journey through every rule.
    Demo {
        /// Where the demo's database goes; replaced if it holds an earlier demo.
        #[arg(long, default_value = "rulebox-demo-data")]
        data_dir: PathBuf,
        /// Members to generate.
        #[arg(long, default_value_t = 10_000)]
        members: usize,
        /// Seed of the data generator (same seed, same data).
        #[arg(long, default_value_t = 2026)]
        seed: u64,
    },
    /// Show what a plugin says of itself and what it imports, and whether rulebox would
    /// accept it.
    Inspect {
        /// The plugin component (.wasm).
        plugin: PathBuf,
    },
    /// Serve the HTTP/JSON API (see docs/api.md) until SIGINT or SIGTERM, then finish the
    /// requests in flight. Settings: defaults, then --config, then RULEBOX_LISTEN,
    /// RULEBOX_DATA_DIR, RULEBOX_ADMIN_KEY…, then these flags.
    ///
    /// Example: RULEBOX_ADMIN_KEY=… rulebox serve --data-dir ./data --listen 127.0.0.1:8080
    Serve {
        /// A TOML file with listen, data_dir, admin_key, request_timeout_secs,
        /// json_body_limit, plugin_body_limit.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Where the database lives [default: rulebox-data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Manage brands directly in a data directory (with the server stopped; while it runs,
    /// use POST /v1/brands).
    Brand {
        #[command(subcommand)]
        command: BrandCommand,
    },
    /// Manage API keys directly in a data directory (with the server stopped; while it
    /// runs, use POST /v1/brands/{brand}/keys).
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Subcommand)]
enum BrandCommand {
    /// Create a brand (or update its settings).
    ///
    /// Example: rulebox brand create leaf-and-cup --name "Leaf & Cup" --data-dir ./data
    Create {
        /// The brand id: lower-case letters, digits and '-'.
        id: String,
        /// Display name [default: the id].
        #[arg(long)]
        name: Option<String>,
        /// The brand's time zone as minutes east of UTC.
        #[arg(long, default_value_t = 480, allow_hyphen_values = true)]
        utc_offset_minutes: i32,
        /// Length of the rolling activity window in days.
        #[arg(long, default_value_t = 365)]
        window_days: u32,
        /// The data directory [default: RULEBOX_DATA_DIR, else rulebox-data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an API key and print it once (only its hash is stored).
    ///
    /// Examples: rulebox key create --brand leaf-and-cup --scopes events,members --data-dir ./data
    ///           rulebox key create --admin --data-dir ./data
    Create {
        /// The brand the key acts for.
        #[arg(long, required_unless_present = "admin", conflicts_with = "admin")]
        brand: Option<String>,
        /// Comma-separated scopes of a brand key: events, plugins, members.
        #[arg(long, default_value = "events")]
        scopes: String,
        /// Create a platform admin key (manages brands and keys) instead.
        #[arg(long)]
        admin: bool,
        /// A label to tell keys apart.
        #[arg(long, default_value = "")]
        label: String,
        /// The data directory [default: RULEBOX_DATA_DIR, else rulebox-data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs each request at info; the tools only warnings.
    let default_level = if matches!(cli.command, Command::Serve { .. }) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RULEBOX_LOG")
                .unwrap_or_else(|_| default_level.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Test {
            plugin,
            fixtures,
            limits,
        } => test(plugin, fixtures, limits),
        Command::Inspect { plugin } => inspect(plugin),
        Command::Demo {
            data_dir,
            members,
            seed,
        } => demo(data_dir, members, seed),
        Command::Serve {
            config,
            data_dir,
            listen,
        } => serve(config, data_dir, listen),
        Command::Brand {
            command:
                BrandCommand::Create {
                    id,
                    name,
                    utc_offset_minutes,
                    window_days,
                    data_dir,
                },
        } => {
            let rb = rulebox_host::Rulebox::open(&resolve_data_dir(data_dir)?)?;
            let brand = rulebox_host::store::model::Brand {
                name: name.unwrap_or_else(|| id.clone()),
                id,
                window_days,
                utc_offset_minutes,
            };
            rb.put_brand(&brand)?;
            println!("brand {} saved", brand.id);
            Ok(ExitCode::SUCCESS)
        }
        Command::Key {
            command:
                KeyCommand::Create {
                    brand,
                    scopes,
                    admin,
                    label,
                    data_dir,
                },
        } => create_key(brand, &scopes, admin, &label, data_dir),
    }
}

/// `--data-dir`, else RULEBOX_DATA_DIR, else the default.
fn resolve_data_dir(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match flag {
        Some(dir) => Ok(dir),
        None => Ok(ServeConfig::load(None, |k| std::env::var(k).ok())?.data_dir),
    }
}

fn create_key(
    brand: Option<String>,
    scopes: &str,
    admin: bool,
    label: &str,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    use rulebox_host::auth;
    let dir = resolve_data_dir(data_dir)?;
    let kv = rulebox_host::store::SledKv::open(&dir.join("db"))
        .with_context(|| format!("cannot open the database in {} (is the server running? then use POST /v1/brands/{{brand}}/keys)", dir.display()))?;
    let db = rulebox_host::store::Db::new(std::sync::Arc::new(kv));
    let scopes = if admin {
        vec![auth::Scope::Admin]
    } else {
        auth::parse_scopes(scopes)?
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let new = auth::create_key(&db, brand.as_deref(), &scopes, label, now)?;
    let scopes: Vec<&str> = new.record.scopes.iter().map(|s| s.as_str()).collect();
    eprintln!(
        "created key {} ({}; scopes {}). It is shown only now: store it safely.",
        new.record.id,
        new.record.brand.as_deref().unwrap_or("platform admin"),
        scopes.join(",")
    );
    println!("{}", new.key);
    Ok(ExitCode::SUCCESS)
}

fn serve(
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<ExitCode> {
    use rulebox_host::api;
    let mut config = ServeConfig::load(config.as_deref(), |k| std::env::var(k).ok())?;
    if let Some(dir) = data_dir {
        config.data_dir = dir;
    }
    if let Some(addr) = listen {
        config.listen = addr;
    }
    let admin_key = config
        .admin_key
        .as_deref()
        .map(rulebox_host::auth::AdminKey::new)
        .transpose()?;
    tracing::info!(?config, "starting rulebox serve");
    let rulebox = std::sync::Arc::new(
        rulebox_host::Rulebox::open(&config.data_dir)
            .with_context(|| format!("cannot open data directory {}", config.data_dir.display()))?,
    );
    let state = api::AppState::new(rulebox, admin_key, config.options());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        api::serve(listener, state, api::shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

fn read_plugin(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read plugin {}", path.display()))
}

fn test(
    plugin: PathBuf,
    fixtures: Vec<PathBuf>,
    limits: Option<String>,
) -> anyhow::Result<ExitCode> {
    let limits: Limits = match limits {
        Some(json) => serde_json::from_str(&json).context("--limits is not valid limits JSON")?,
        None => Limits::default(),
    };
    let sandbox = Sandbox::new(SandboxConfig::default())?;
    let loaded = sandbox
        .load(&read_plugin(&plugin)?, limits)
        .with_context(|| format!("cannot load {}", plugin.display()))?;
    println!(
        "{} {} — {}",
        loaded.description.name, loaded.description.version, loaded.description.summary
    );
    println!(
        "{:<6} {:>12} {:>10} {:>9}  case",
        "result", "fuel", "memory", "time"
    );
    let (mut passed, mut failed) = (0, Vec::new());
    for file in &fixtures {
        let cases = Fixture::load(file).map_err(|e| anyhow::anyhow!("{e}"))?;
        for case in &cases {
            let result = run_case(&sandbox, &loaded, case)?;
            println!(
                "{:<6} {:>12} {:>9}K {:>7}µs  {}",
                if result.passed { "pass" } else { "FAIL" },
                result.fuel_used,
                result.peak_memory / 1024,
                result.elapsed_us,
                result.name
            );
            if result.passed {
                passed += 1;
            } else {
                failed.push(result);
            }
        }
    }
    for result in &failed {
        println!(
            "\n--- {} ---\n{}",
            result.name,
            result.diff.as_deref().unwrap_or_default()
        );
    }
    println!("\n{passed} passed, {} failed", failed.len());
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn inspect(plugin: PathBuf) -> anyhow::Result<ExitCode> {
    let sandbox = Sandbox::new(SandboxConfig::default())?;
    let wasm = read_plugin(&plugin)?;
    println!("imports:");
    for name in sandbox.imports(&wasm)? {
        println!("  {name}");
    }
    let loaded = sandbox.load(&wasm, Limits::default())?;
    let d = &loaded.description;
    println!(
        "name:    {}\nversion: {}\nsummary: {}",
        d.name, d.version, d.summary
    );
    println!(
        "events:  {:?}\nqueries: {:?}\nreads:   {:?}",
        d.events, d.queries, d.reads
    );
    println!("digest:  {}", loaded.digest);
    println!("accepted: yes");
    Ok(ExitCode::SUCCESS)
}

fn demo(data_dir: PathBuf, members: usize, seed: u64) -> anyhow::Result<ExitCode> {
    use rulebox_host::demo;
    if data_dir.exists() {
        anyhow::ensure!(
            data_dir.join("db").is_dir(),
            "{} exists and is not a rulebox data directory; choose another --data-dir",
            data_dir.display()
        );
        std::fs::remove_dir_all(&data_dir)
            .with_context(|| format!("cannot clear {}", data_dir.display()))?;
    }
    let started = std::time::Instant::now();
    let rb = rulebox_host::Rulebox::open(&data_dir)?;
    demo::load(&rb, seed, members)?;
    println!(
        "Loaded brand {} into {}: 50 stores, 40 products, {members} members, 4 rules ({:.1} s).",
        demo::data::BRAND,
        data_dir.display(),
        started.elapsed().as_secs_f64()
    );
    let steps = demo::journey(&rb)?;
    let mut names = std::collections::HashMap::new();
    for product in rb.db().products(demo::data::BRAND)? {
        names.insert(product.id, product.name);
    }
    for store in rb.db().stores(demo::data::BRAND)? {
        names.insert(store.id, store.name);
    }
    demo::print(&mut std::io::stdout().lock(), &steps, &names)?;
    let ledger = rb.ledger(demo::data::BRAND, demo::MEMBER, None, 1000)?;
    println!(
        "\n{} ledger entries for {}; balance {}.",
        ledger.len(),
        demo::MEMBER,
        rb.member(demo::data::BRAND, demo::MEMBER)?.points
    );
    Ok(ExitCode::SUCCESS)
}
