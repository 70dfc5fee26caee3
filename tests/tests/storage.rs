//! Durability, what the host keeps in memory of stored data, the compile cache, and storage
//! faults.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rulebox_engine::Rulebox;
use rulebox_engine::pipeline::PipelineError;
use rulebox_engine::registry::Manifest;
use rulebox_sandbox::{Limits, Sandbox, SandboxConfig};
use rulebox_sdk::testing::{event, sign_up};
use rulebox_store::model::Brand;
use rulebox_store::{Batch, Committed, Entries, KvStore, MemoryKv, StorageError};
use rulebox_tests::plugin_wasm;
use rulebox_world::{Event, EventType};

fn welcome_manifest() -> Manifest {
    serde_json::from_value(serde_json::json!({
        "brand": "tea", "name": "welcome-bonus", "version": "0.1.0", "events": ["SignUp"]
    }))
    .unwrap()
}

fn setup(rb: &Rulebox) {
    brand_with_welcome(rb, "tea", &plugin_wasm("welcome-bonus"));
}

fn signup(id: &str, member: &str) -> Event {
    let mut e: Event =
        rulebox_world::convert(&event(id, member, 1_773_538_200_000, sign_up("app"))).unwrap();
    e.brand = "tea".into();
    e
}

#[test]
fn acknowledged_events_and_plugins_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let rb = Rulebox::open(dir.path()).unwrap();
        setup(&rb);
        rb.ingest(signup("e-1", "m-1")).unwrap();
    }
    let rb = Rulebox::open(dir.path()).unwrap();
    let member = rb.member("tea", "m-1").unwrap();
    assert_eq!(member.points, 100);
    let ledger = rb.ledger("tea", "m-1", None, 100).unwrap();
    assert_eq!(ledger.iter().map(|e| e.amount).sum::<i64>(), member.points);
    // The event is remembered: a repeat changes nothing.
    assert!(rb.ingest(signup("e-1", "m-1")).unwrap().duplicate);
    // The active plugin came back with the registry.
    let outcome = rb.ingest(signup("e-2", "m-2")).unwrap();
    assert_eq!(outcome.effects[0].plugin, "welcome-bonus");
    assert_eq!(rb.member("tea", "m-2").unwrap().points, 100);
    assert_eq!(
        rb.registry().snapshot("tea").plugins[0].manifest.events,
        vec![EventType::SignUp]
    );
}

#[test]
fn a_dead_letter_found_at_a_restart_is_cleared_when_its_event_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    {
        let rb = Rulebox::open(dir.path()).unwrap();
        setup(&rb);
        let failing: Manifest = serde_json::from_value(serde_json::json!({
            "brand": "tea", "name": "hostile", "version": "0.1.0", "order": 1,
            "events": ["Purchase", "SignUp", "CheckIn"], "on_failure": "abort",
            "config": { "mode": "rule-error" }
        }))
        .unwrap();
        rb.registry()
            .install(failing, &plugin_wasm("hostile"))
            .unwrap();
        rb.registry().activate("tea", "hostile", "0.1.0").unwrap();
        let aborted = rb.ingest(signup("e-1", "m-1"));
        assert!(
            matches!(aborted, Err(PipelineError::Aborted { .. })),
            "{aborted:?}"
        );
        assert_eq!(rb.dead_letters("tea").unwrap().len(), 1);
    }
    let rb = Rulebox::open(dir.path()).unwrap();
    rb.registry().disable("tea", "hostile").unwrap();
    // Sent again rather than replayed from the list: applied, and its letter goes with it.
    let outcome = rb.ingest(signup("e-1", "m-1")).unwrap();
    assert!(!outcome.duplicate);
    assert_eq!(rb.member("tea", "m-1").unwrap().points, 100);
    assert!(
        rb.dead_letters("tea").unwrap().is_empty(),
        "the applied event is still listed as a dead letter"
    );
}

#[test]
fn a_changed_brand_applies_from_the_next_event() {
    let rb = Rulebox::in_memory().unwrap();
    setup(&rb);
    let east = rb.ingest(signup("e-1", "m-1")).unwrap();
    rb.put_brand(&Brand {
        id: "tea".into(),
        utc_offset_minutes: -480,
        ..Brand::default()
    })
    .unwrap();
    let west = rb.ingest(signup("e-2", "m-2")).unwrap();
    assert!(!east.duplicate && !west.duplicate);

    // The same instant falls on different local days in the two time zones.
    let at = signup("e-0", "m-0").occurred_at;
    let day = |member: &str| {
        let days = rb.member("tea", member).unwrap().days;
        assert_eq!(days.len(), 1, "{days:?}");
        *days.keys().next().unwrap()
    };
    assert_eq!(day("m-1"), rulebox_sdk::time::local_day_number(at, 480));
    assert_eq!(day("m-2"), rulebox_sdk::time::local_day_number(at, -480));
    assert_ne!(day("m-1"), day("m-2"));
}

#[test]
fn compiled_plugins_are_reused_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let config = cached_in(dir.path());
    let cached = |sandbox: &Sandbox, wasm: &[u8]| {
        sandbox.load(wasm, Limits::default()).unwrap();
        artefact(dir.path(), wasm)
    };
    let welcome = plugin_wasm("welcome-bonus");
    let template = plugin_wasm("template");
    let first = Sandbox::new(config.clone()).unwrap();
    let welcome_artefact = cached(&first, &welcome);
    let template_artefact = cached(&first, &template);
    drop(first);

    // Put the template's compiled code under the welcome bonus's name: a restarted host
    // that really loads from the cache (instead of recompiling) now runs the template.
    // (Replaced by rename, as the host writes them: artefacts are memory-mapped, and
    // truncating a mapped file in place would crash any process using it.)
    replace(
        &welcome_artefact,
        &std::fs::read(&template_artefact).unwrap(),
    );
    let restarted = Sandbox::new(config).unwrap();
    let loaded = restarted.load(&welcome, Limits::default()).unwrap();
    assert_eq!(loaded.description.name, "template");
    // (While a plugin loaded from it lives, its artefact is shared from memory.)
    drop(loaded);

    // A damaged artefact is discarded and rebuilt.
    replace(&welcome_artefact, b"not a compiled component");
    let loaded = restarted.load(&welcome, Limits::default()).unwrap();
    assert_eq!(loaded.description.name, "welcome-bonus");
}

/// Sandbox settings with the compiled-plugin cache in `dir`.
fn cached_in(dir: &Path) -> SandboxConfig {
    SandboxConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..SandboxConfig::default()
    }
}

/// The blake3 digest of `wasm`, as the host names components.
fn digest(wasm: &[u8]) -> String {
    blake3::hash(wasm).to_hex().to_string()
}

/// The compiled artefact of the component `wasm` in the cache `dir`.
fn artefact(dir: &Path, wasm: &[u8]) -> PathBuf {
    let digest = digest(wasm);
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&digest)
        })
        .expect("a compiled artefact named after the component's hash")
}

fn replace(path: &Path, bytes: &[u8]) {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).unwrap();
    std::fs::rename(&partial, path).unwrap();
}

/// A plugin compiled just now runs from the artefact written to the cache, as after a
/// restart: its code is the kernel's page cache of that file, not the process's own memory.
#[cfg(target_os = "linux")]
#[test]
fn a_freshly_compiled_plugin_runs_from_its_cached_artefact() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::new(cached_in(dir.path())).unwrap();
    let wasm = plugin_wasm("welcome-bonus");
    let plugin = sandbox.load(&wasm, Limits::default()).unwrap();
    assert_eq!(plugin.description.name, "welcome-bonus");
    let artefact = artefact(dir.path(), &wasm);
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let artefact = artefact.to_string_lossy();
    assert!(
        maps.lines().any(|l| l.ends_with(&*artefact)),
        "{artefact} is not mapped"
    );
}

/// A brand named `id`, with the welcome bonus installed from `wasm` and active.
fn brand_with_welcome(rb: &Rulebox, id: &str, wasm: &[u8]) {
    rb.put_brand(&Brand {
        id: id.into(),
        ..Brand::default()
    })
    .unwrap();
    let mut manifest = welcome_manifest();
    manifest.brand = id.into();
    rb.registry().install(manifest, wasm).unwrap();
    rb.registry()
        .activate(id, "welcome-bonus", "0.1.0")
        .unwrap();
}

/// The stored values equal to `wasm`, by key.
fn stored_copies(kv: &MemoryKv, wasm: &[u8]) -> Vec<String> {
    kv.scan(b"", None, usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|(_, value)| value == wasm)
        .map(|(key, _)| String::from_utf8_lossy(&key).replace('\0', "/"))
        .collect()
}

/// Signs member `m-1` up at `brand` with event `id`: the points the member has after it.
fn welcome_points(rb: &Rulebox, brand: &str, id: &str) -> i64 {
    let mut e = signup(id, "m-1");
    e.brand = brand.into();
    rb.ingest(e).unwrap();
    rb.member(brand, "m-1").unwrap().points
}

#[test]
fn brands_that_install_the_same_plugin_share_one_stored_copy() {
    let kv = Arc::new(MemoryKv::new());
    let wasm = plugin_wasm("welcome-bonus");
    {
        let rb = Rulebox::with_storage(kv.clone(), SandboxConfig::default()).unwrap();
        for brand in ["tea", "coffee", "juice"] {
            brand_with_welcome(&rb, brand, &wasm);
        }
    }
    let digest = digest(&wasm);
    assert_eq!(stored_copies(&kv, &wasm), [format!("/component/{digest}")]);

    // Every brand's plugin loads from it after a restart.
    let rb = Rulebox::with_storage(kv.clone(), SandboxConfig::default()).unwrap();
    for brand in ["tea", "coffee", "juice"] {
        assert_eq!(welcome_points(&rb, brand, "e-1"), 100, "{brand}");
    }
}

#[test]
fn a_component_stored_in_the_earlier_per_brand_layout_still_loads() {
    let kv = Arc::new(MemoryKv::new());
    let wasm = plugin_wasm("welcome-bonus");
    let digest = digest(&wasm);
    let rb = Rulebox::with_storage(kv.clone(), SandboxConfig::default()).unwrap();
    brand_with_welcome(&rb, "tea", &wasm);
    drop(rb);
    // Move the component where hosts before the shared layout kept it.
    let mut batch = Batch::default();
    batch
        .deletes
        .push(format!("\0component\0{digest}").into_bytes());
    batch
        .puts
        .push((format!("tea\0wasm\0{digest}").into_bytes(), wasm.clone()));
    kv.commit(&batch).unwrap();
    assert_eq!(stored_copies(&kv, &wasm), [format!("tea/wasm/{digest}")]);

    let rb = Rulebox::with_storage(kv.clone(), SandboxConfig::default()).unwrap();
    assert_eq!(welcome_points(&rb, "tea", "e-1"), 100);
}

#[test]
fn installing_a_version_again_restores_its_lost_component() {
    let kv = Arc::new(MemoryKv::new());
    let wasm = plugin_wasm("welcome-bonus");
    let digest = digest(&wasm);
    let mut lose_it = Batch::default();
    lose_it
        .deletes
        .push(format!("\0component\0{digest}").into_bytes());

    let rb = Rulebox::with_storage(kv.clone(), SandboxConfig::default()).unwrap();
    brand_with_welcome(&rb, "tea", &wasm);
    kv.commit(&lose_it).unwrap();
    assert!(stored_copies(&kv, &wasm).is_empty());
    rb.registry().install(welcome_manifest(), &wasm).unwrap();
    assert_eq!(stored_copies(&kv, &wasm), [format!("/component/{digest}")]);
    drop(rb);
    let rb = Rulebox::with_storage(kv.clone(), SandboxConfig::default()).unwrap();
    assert_eq!(welcome_points(&rb, "tea", "e-1"), 100);
    drop(rb);

    // Lost again, the host will not open with that plugin active, and says what is missing.
    kv.commit(&lose_it).unwrap();
    let error = Rulebox::with_storage(kv, SandboxConfig::default())
        .err()
        .expect("a host opened without its active plugin's component")
        .to_string();
    assert!(error.contains(&format!("component/{digest}")), "{error}");
    assert!(error.contains("installing that version again"), "{error}");
}

/// A backend whose commits or flushes fail on demand (a full disk, an I/O error), and
/// which counts its transactions and flushes.
struct FaultyKv {
    inner: MemoryKv,
    failing: AtomicBool,
    failing_flush: AtomicBool,
    transactions: AtomicUsize,
    flushes: AtomicUsize,
}

impl FaultyKv {
    fn new() -> Self {
        FaultyKv {
            inner: MemoryKv::new(),
            failing: AtomicBool::new(false),
            failing_flush: AtomicBool::new(false),
            transactions: Default::default(),
            flushes: Default::default(),
        }
    }
}

impl KvStore for FaultyKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key)
    }
    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Entries, StorageError> {
        self.inner.scan(prefix, after, limit)
    }
    fn commit(&self, batch: &Batch) -> Result<Committed, StorageError> {
        self.commit_all(std::slice::from_ref(batch))
            .map(|mut results| results.remove(0))
    }
    fn commit_all(&self, batches: &[Batch]) -> Result<Vec<Committed>, StorageError> {
        self.transactions.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(StorageError::Io(
                "No space left on device (injected)".into(),
            ));
        }
        self.inner.commit_all(batches)
    }
    fn flush(&self) -> Result<(), StorageError> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        if self.failing_flush.load(Ordering::SeqCst) {
            return Err(StorageError::Io("fsync failed (injected)".into()));
        }
        self.inner.flush()
    }
}

#[test]
fn a_storage_fault_loses_nothing_and_the_event_can_be_retried() {
    let kv = Arc::new(FaultyKv::new());
    let rb = Rulebox::with_storage(kv.clone(), SandboxConfig::default()).unwrap();
    setup(&rb);

    kv.failing.store(true, Ordering::SeqCst);
    let error = rb.ingest(signup("e-1", "m-1")).unwrap_err();
    assert!(matches!(error, PipelineError::Storage(_)), "{error}");
    assert!(error.to_string().contains("No space left"), "{error}");
    assert!(rb.member("tea", "m-1").is_err(), "nothing may be committed");

    kv.failing.store(false, Ordering::SeqCst);
    let outcome = rb.ingest(signup("e-1", "m-1")).unwrap();
    assert!(
        !outcome.duplicate,
        "the failed attempt must not count as applied"
    );
    assert_eq!(rb.member("tea", "m-1").unwrap().points, 100);
}

#[test]
fn a_batch_shares_one_flush_and_is_acknowledged_only_after_it() {
    let kv = Arc::new(FaultyKv::new());
    let rb = Rulebox::with_storage(kv.clone(), SandboxConfig::default()).unwrap();
    setup(&rb);
    let events = |from: usize| {
        (from..from + 50)
            .map(|i| signup(&format!("e-{i}"), &format!("m-{i}")))
            .collect::<Vec<_>>()
    };

    let before = kv.flushes.load(Ordering::SeqCst);
    let results = rb.ingest_all(events(0));
    assert_eq!(
        kv.flushes.load(Ordering::SeqCst) - before,
        1,
        "one flush for the batch"
    );
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|o| !o.duplicate))
    );
    assert_eq!(rb.member("tea", "m-49").unwrap().points, 100);

    // A failed flush fails every event of the batch: none is acknowledged.
    kv.failing_flush.store(true, Ordering::SeqCst);
    let results = rb.ingest_all(events(50));
    assert!(
        results.iter().all(
            |r| matches!(r, Err(PipelineError::Storage(e)) if e.to_string().contains("fsync"))
        ),
        "{results:?}"
    );
    // Retrying is safe: each event is applied once, whether or not it had been.
    kv.failing_flush.store(false, Ordering::SeqCst);
    let retried = rb.ingest_all(events(50));
    assert!(retried.iter().all(Result::is_ok));
    assert_eq!(rb.member("tea", "m-99").unwrap().points, 100);
    assert_eq!(
        rb.ledger("tea", "m-99", None, 100).unwrap().len(),
        1,
        "applied once, not twice"
    );
}

#[test]
fn a_batch_commits_in_one_transaction_and_a_failed_commit_applies_none_of_it() {
    let kv = Arc::new(FaultyKv::new());
    let rb = Rulebox::with_storage(kv.clone(), SandboxConfig::default()).unwrap();
    setup(&rb);
    let events: Vec<Event> = (0..50)
        .map(|i| signup(&format!("e-{i}"), &format!("m-{i}")))
        .collect();

    kv.failing.store(true, Ordering::SeqCst);
    let results = rb.ingest_all(events.clone());
    assert!(
        results.iter().all(
            |r| matches!(r, Err(PipelineError::Storage(e)) if e.to_string().contains("No space"))
        ),
        "{results:?}"
    );
    assert!(rb.member("tea", "m-0").is_err(), "nothing may be committed");

    kv.failing.store(false, Ordering::SeqCst);
    let before = kv.transactions.load(Ordering::SeqCst);
    let results = rb.ingest_all(events);
    assert_eq!(
        kv.transactions.load(Ordering::SeqCst) - before,
        1,
        "50 events of distinct members: one transaction"
    );
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|o| !o.duplicate))
    );
    for i in [0, 49] {
        assert_eq!(rb.member("tea", &format!("m-{i}")).unwrap().points, 100);
    }
}
