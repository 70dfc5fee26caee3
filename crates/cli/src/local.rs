//! Commands that work on local files: a plugin, fixtures, or a data directory (with the
//! server stopped: the database is locked while `rulebox serve` runs).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use rulebox_api::config::ServeConfig;
use rulebox_cli::fixtures::run_case;
use rulebox_sandbox::{InitOutcome, Limits, Plugin, Sandbox, SandboxConfig};
use rulebox_sdk::testing::Fixture;

/// `rulebox brand create`.
pub fn brand_create(
    id: String,
    name: Option<String>,
    utc_offset_minutes: i32,
    window_days: u32,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let rb = rulebox_engine::Rulebox::open(&resolve_data_dir(data_dir)?)?;
    let brand = rulebox_store::model::Brand {
        name: name.unwrap_or_else(|| id.clone()),
        id,
        window_days,
        utc_offset_minutes,
    };
    rb.put_brand(&brand)?;
    println!("brand {} saved", brand.id);
    Ok(ExitCode::SUCCESS)
}

/// `--data-dir`, else RULEBOX_DATA_DIR, else the default.
pub fn resolve_data_dir(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match flag {
        Some(dir) => Ok(dir),
        None => Ok(ServeConfig::load(None, |k| std::env::var(k).ok())?.data_dir),
    }
}

/// The database of a data directory, for the key commands (which need no plugins loaded).
fn open_db(data_dir: Option<PathBuf>) -> anyhow::Result<rulebox_store::Db> {
    let dir = resolve_data_dir(data_dir)?;
    let kv = rulebox_store::SledKv::open(&dir.join("db")).with_context(|| {
        format!(
            "cannot open the database in {} (is the server running? then use /v1/brands/{{brand}}/keys with an admin key)",
            dir.display()
        )
    })?;
    Ok(rulebox_store::Db::new(std::sync::Arc::new(kv)))
}

/// `rulebox key list`.
pub fn list_keys(brand: Option<String>, data_dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let db = open_db(data_dir)?;
    println!("{:<14} {:<24} {:<24} label", "id", "scopes", "created");
    for key in rulebox_engine::auth::list_keys(&db, brand.as_deref())? {
        let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
        let created = jiff::Timestamp::from_millisecond(key.created_at).map_or_else(
            |_| key.created_at.to_string(),
            |t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
        );
        println!(
            "{:<14} {:<24} {:<24} {}",
            key.id,
            scopes.join(","),
            created,
            key.label
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `rulebox key revoke`.
pub fn revoke_key(
    id: &str,
    brand: Option<String>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let db = open_db(data_dir)?;
    let owner = brand.as_deref().unwrap_or("the platform (admin)");
    anyhow::ensure!(
        rulebox_engine::auth::revoke_key(&db, brand.as_deref(), id)?,
        "{owner} has no key {id}; `rulebox key list` shows the key ids"
    );
    eprintln!("revoked key {id} of {owner}");
    Ok(ExitCode::SUCCESS)
}

pub fn create_key(
    brand: Option<String>,
    scopes: &str,
    admin: bool,
    label: &str,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    use rulebox_engine::auth;
    let db = open_db(data_dir)?;
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

pub fn serve(
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<ExitCode> {
    use rulebox_api as api;
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
        .map(rulebox_engine::auth::AdminKey::new)
        .transpose()?;
    tracing::info!(?config, "starting rulebox serve");
    let rulebox = std::sync::Arc::new(
        rulebox_engine::Rulebox::open_with_cache(&config.data_dir, config.cache_bytes())
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

pub fn test(
    plugin: PathBuf,
    fixtures: Vec<PathBuf>,
    limits: Option<String>,
) -> anyhow::Result<ExitCode> {
    let limits: Limits = match limits {
        Some(json) => serde_json::from_str(&json).context("--limits is not valid limits JSON")?,
        None => Limits::default(),
    };
    let sandbox = Sandbox::new(SandboxConfig::default())?;
    let wasm = read_plugin(&plugin)?;
    let loaded = sandbox
        .load(&wasm, limits)
        .with_context(|| format!("cannot load {}", plugin.display()))?;
    // Each case runs as the platform would run it: from the snapshot the plugin's init
    // leaves for the case's configuration, one per distinct configuration.
    let mut configured: HashMap<String, Plugin> = HashMap::new();
    let mut declined = Vec::new();
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
            let config = case.config.to_string();
            if !configured.contains_key(&config) {
                let plugin = sandbox.load_configured(&wasm, limits, &config)?;
                if let InitOutcome::Declined(reason) = &plugin.init {
                    declined.push((case.name.clone(), reason.clone()));
                }
                configured.insert(config.clone(), plugin);
            }
            let result = run_case(&sandbox, &configured[&config], case)?;
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
    for (case, reason) in &declined {
        println!(
            "\nnote: init was declined for the configuration of case '{case}', whose calls \
             therefore ran without a snapshot: {reason}"
        );
    }
    println!("\n{passed} passed, {} failed", failed.len());
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn inspect(plugin: PathBuf) -> anyhow::Result<ExitCode> {
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

pub fn demo(data_dir: PathBuf, members: usize, seed: u64) -> anyhow::Result<ExitCode> {
    use rulebox_cli::demo;
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
    let rb = rulebox_engine::Rulebox::open(&data_dir)?;
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
