//! `rulebox`: the platform's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
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
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RULEBOX_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
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
    }
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
