//! `rulebox`: the platform's command line.

mod client;
mod import;
mod local;
mod remote;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use client::{Client, Remote};

/// mimalloc instead of glibc's allocator: the pipeline allocates many small short-lived
/// values per event (records, JSON, effects), and mimalloc cut the time per durable event by
/// 10-34% for about a tenth more resident memory (docs/benchmarks/runs/09.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// rulebox runs brands' loyalty rules (points, tiers, coupons, recommendations) as
/// sandboxed WebAssembly plugins and applies what they decide exactly once.
#[derive(Parser)]
#[command(name = "rulebox", version, about, long_about = None)]
///
/// Local commands (test, inspect, demo, serve, brand, key) work on files and a data
/// directory. The others talk to a running server: give them --server, --key and --brand,
/// or set RULEBOX_SERVER, RULEBOX_KEY and RULEBOX_BRAND once.
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
        /// header_timeout_secs, max_connections, json_body_limit, plugin_body_limit,
        /// cache_mib (docs/api.md).
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
    /// runs, use /v1/brands/{brand}/keys with an admin key).
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Deploy, list, activate, roll back and disable plugins, and read their statistics.
    Plugin {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: remote::PluginCommand,
    },
    /// Send events to the server.
    Event {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: remote::EventCommand,
    },
    /// Read members.
    Member {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: MemberCommand,
    },
    /// Ask the brand's rules: which coupons fit a cart, what to recommend here and now.
    Query {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: remote::QueryCommand,
    },
    /// Import members, stores, products or stock from JSON (array or lines) or CSV, in
    /// bulk, with a progress bar. Imports are upserts: a failed one can be fixed and re-run.
    ///
    /// Example: rulebox import members members.csv
    Import {
        #[command(flatten)]
        remote: Remote,
        /// What the file holds.
        kind: import::Kind,
        /// The file (- for stdin).
        file: PathBuf,
        /// The file's format [default: csv for *.csv, else json].
        #[arg(long)]
        format: Option<import::Format>,
    },
    /// Re-run a file of events (JSON array or lines) against an installed plugin version
    /// before activating it, and report per event how its effects differ from the stored
    /// outcome: same, changed (the new version decides differently), drift (the member's
    /// state moved on, not the version), not-handled, or failed. Commits nothing; exits 1 if
    /// the version failed on any event.
    ///
    /// Example: rulebox replay events.jsonl --plugin points-accrual --version 1.1.0
    Replay {
        #[command(flatten)]
        remote: Remote,
        /// The events (- for stdin).
        file: PathBuf,
        #[arg(long)]
        plugin: String,
        #[arg(long)]
        version: String,
        /// Print the full report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum MemberCommand {
    /// A member's record, optionally with the newest entries of their points ledger.
    ///
    /// Example: rulebox member show m-000042 --ledger 10
    Show {
        id: String,
        /// How many of the newest ledger entries to add.
        #[arg(long, default_value_t = 0)]
        ledger: usize,
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
    /// List the keys of a brand (or the admin keys): id, scopes, label, creation time.
    #[command(
        mut_arg("brand", |a| a.help("The brand whose keys to list")),
        mut_arg("admin", |a| a.help("List the platform admin keys instead")),
    )]
    List {
        #[command(flatten)]
        owner: KeyOwner,
    },
    /// Revoke a key by its id (from `key list`); it stops working at once.
    #[command(
        mut_arg("brand", |a| a.help("The brand the key belongs to")),
        mut_arg("admin", |a| a.help("The key is a platform admin key")),
    )]
    Revoke {
        /// The key id (12 hex digits).
        id: String,
        #[command(flatten)]
        owner: KeyOwner,
    },
}

/// Whose keys a `key` command works on (a brand's or the admin keys) and where they are
/// stored. Each command words the help of --brand and --admin for itself.
#[derive(clap::Args)]
struct KeyOwner {
    #[arg(long, required_unless_present = "admin", conflicts_with = "admin")]
    brand: Option<String>,
    #[arg(long)]
    admin: bool,
    /// The data directory [default: RULEBOX_DATA_DIR, else rulebox-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
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
        } => local::test(plugin, fixtures, limits),
        Command::Inspect { plugin } => local::inspect(plugin),
        Command::Demo {
            data_dir,
            members,
            seed,
        } => local::demo(data_dir, members, seed),
        Command::Serve {
            config,
            data_dir,
            listen,
        } => local::serve(config, data_dir, listen),
        Command::Brand {
            command:
                BrandCommand::Create {
                    id,
                    name,
                    utc_offset_minutes,
                    window_days,
                    data_dir,
                },
        } => local::brand_create(id, name, utc_offset_minutes, window_days, data_dir),
        Command::Key {
            command:
                KeyCommand::Create {
                    brand,
                    scopes,
                    admin,
                    label,
                    data_dir,
                },
        } => local::create_key(brand, &scopes, admin, &label, data_dir),
        Command::Key {
            command: KeyCommand::List { owner },
        } => local::list_keys(owner.brand, owner.data_dir),
        Command::Key {
            command: KeyCommand::Revoke { id, owner },
        } => local::revoke_key(&id, owner.brand, owner.data_dir),
        Command::Plugin { remote, command } => remote::plugin(&Client::new(&remote)?, command),
        Command::Event { remote, command } => remote::event(&Client::new(&remote)?, command),
        Command::Member {
            remote,
            command: MemberCommand::Show { id, ledger },
        } => remote::member_show(&Client::new(&remote)?, &id, ledger),
        Command::Query { remote, command } => remote::query(&Client::new(&remote)?, command),
        Command::Import {
            remote,
            kind,
            file,
            format,
        } => import::run(&Client::new(&remote)?, kind, &file, format),
        Command::Replay {
            remote,
            file,
            plugin,
            version,
            json,
        } => remote::replay(&Client::new(&remote)?, &file, &plugin, &version, json),
    }
}
