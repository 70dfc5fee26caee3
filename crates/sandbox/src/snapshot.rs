//! Plugins as their `init` left them: one snapshot per deployed (plugin, configuration).
//!
//! A rule that parses and checks its configuration in every call spends most of a
//! configured call doing it (docs/benchmarks/runs/09.md). The world's optional `init` export
//! does that work once: the host runs it in an instrumented instance, reads the instance's
//! memories and globals back (`wasmtime-wizer`), and writes them into a new component whose
//! initial state is the initialised one, and which replaces the plugin as built. Calls are
//! then fresh instances of the new component: still nothing of one call reaches the next.
//!
//! `init` may call `host.config` and nothing else, and may not touch WASI: host resources
//! (a stdout stream, say) live in the store, not in memory, so they could not be carried
//! into the snapshot. A breach, a trap or an error from `init` declines the snapshot, and
//! the plugin then runs as if it had no `init`.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use wasmtime::Store;
use wasmtime::component::{Component, Instance, Lift, TypedFunc, WasmList};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use super::bindings::MemberView;
use super::state::CallState;
use super::{CallEnv, Limits, LoadError, NoData, Sandbox};

/// The world's export that prepares a plugin for its configuration.
pub(crate) const INIT: &str = "init";

/// Changes when the way snapshots are made does, so that older cached ones are not reused.
const FORMAT: &str = "rulebox-snapshot-1";

/// The component `wasm` (digest `digest`) as its `init` leaves it for `config` within
/// `limits`, compiled, from the compiled-plugin cache when it was built before; `None` when
/// the component exports no `init`. An `init` that refuses a deployment is not run again
/// for it while this host runs.
pub(crate) fn prepare(
    sandbox: &Sandbox,
    wasm: &[u8],
    digest: &str,
    limits: Limits,
    config: &str,
) -> Result<Option<Arc<Component>>, LoadError> {
    // Read off the bytes: finding out by instrumenting and compiling would cost a plugin
    // built without `init` (in another language, say) a compile at every load.
    if !exports_init(wasm) {
        return Ok(None);
    }
    // The limits too: `init` runs within them, and the snapshot's memory must fit them.
    let limits_text = serde_json::to_string(&limits).unwrap_or_default();
    let key = {
        let mut hasher = blake3::Hasher::new();
        for part in [FORMAT, digest, config, &limits_text] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        hasher.finalize().to_hex().to_string()
    };
    if let Some(reason) = sandbox.resident.declined(&key) {
        return Err(LoadError::Init(reason));
    }
    sandbox
        .get_or_compile(&key, || {
            let initialised = initialise(sandbox, wasm, limits, config, &key)?;
            Component::new(&sandbox.engine, &initialised)
                .map_err(|e| LoadError::Init(format!("the snapshot does not compile: {e:#}")))
        })
        .map(Some)
}

/// Whether the component `wasm` exports `init`, read from its export section. Bytes that do
/// not parse say yes, so that instrumenting them reports what is wrong.
pub fn exports_init(wasm: &[u8]) -> bool {
    use wasmparser::Payload;
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(Payload::ModuleSection { .. } | Payload::ComponentSection { .. }) => depth += 1,
            Ok(Payload::End(_)) => depth = depth.saturating_sub(1),
            Ok(Payload::ComponentExportSection(exports)) if depth == 0 => {
                for export in exports {
                    match export {
                        Ok(export) if export.name.name == INIT => return true,
                        Ok(_) => {}
                        Err(_) => return true,
                    }
                }
            }
            Ok(_) => {}
            Err(_) => return true,
        }
    }
    false
}

/// The component `wasm` with the state its `init` leaves for `config`. An `init` that
/// answers an error or uses WASI would do so again: that refusal is remembered under `key`
/// (in memory only, so a restart tries once more); other failures (a trap, a deadline
/// missed under load, no instance to spare) are not.
fn initialise(
    sandbox: &Sandbox,
    wasm: &[u8],
    limits: Limits,
    config: &str,
    key: &str,
) -> Result<Vec<u8>, LoadError> {
    let fail = |what: &str, e: wasmtime::Error| LoadError::Init(format!("{what}: {e:#}"));
    let mut wizer = Wizer::new();
    // Kept so the snapshot still implements the world (the host never calls it again).
    wizer.init_func(INIT).keep_init_func(true);
    let (cx, instrumented) = wizer
        .instrument_component(wasm)
        .map_err(|e| fail("cannot instrument the component", e))?;
    // The instrumented component is the same for every configuration of the plugin: compiled
    // once and cached like any other, so a new configuration costs one compile (its
    // snapshot's), not two (docs/benchmarks/runs/12.md).
    let instrumented_key = blake3::hash(&instrumented).to_hex().to_string();
    let component = sandbox.get_or_compile(&instrumented_key, || {
        Component::new(&sandbox.engine, &instrumented)
            .map_err(|e| fail("the instrumented component does not compile", e))
    })?;
    // The linker admits only the world's imports: anything else fails here, before any of
    // the plugin's code runs.
    let pre = sandbox.instantiate_pre(&component)?;

    let mut store = sandbox.store(limits, env(config), true);
    let instance = pre
        .instantiate(&mut store)
        .map_err(|e| fail("cannot instantiate the plugin", e))?;
    let init: TypedFunc<(), (Result<(), String>,)> = instance
        .get_typed_func(&mut store, INIT)
        .map_err(|e| fail("the init export has the wrong type", e))?;
    let (outcome,) = init
        .call(&mut store, ())
        .map_err(|e| fail("init stopped", e))?;
    let refusal = match outcome {
        Err(reason) => Some(format!("init failed: {reason}")),
        Ok(()) if store.data().wasi.used() => Some(
            "init used WASI (printing, clocks or random numbers), whose state cannot be \
             carried into a snapshot; read only the configuration in init"
                .to_owned(),
        ),
        Ok(()) => None,
    };
    if let Some(reason) = refusal {
        sandbox.resident.decline(key, &reason);
        return Err(LoadError::Init(reason));
    }

    // Reading the state back runs wizer's accessors, not the plugin's code, but within a
    // call's bounds all the same: fresh fuel and deadline, and no transfer limit (each
    // accessor hands over one memory, which the memory limit already bounds).
    store.set_fuel(limits.fuel).expect("fuel is enabled");
    store.set_hostcall_fuel(usize::MAX);
    sandbox.arm_deadline(&mut store, &limits);
    let mut access = Access {
        store: &mut store,
        instance,
        failed: None,
    };
    let snapshot = poll_once(wizer.snapshot_component(&cx, &mut access))
        .ok_or_else(|| LoadError::Init("the snapshot did not complete at once".into()))?;
    if let Some(e) = access.failed {
        return Err(fail("cannot read the initialised state", e));
    }
    snapshot.map_err(|e| fail("cannot write the snapshot", e))
}

/// What the plugin sees during `init`: its configuration, and no member, catalog or time.
fn env(config: &str) -> CallEnv {
    CallEnv {
        member: MemberView::blank(""),
        at: 0,
        config: Arc::from(config),
        seed: 0,
        data: Arc::new(NoData),
    }
}
/// The output of `future` if it completes without waiting: wizer's snapshot is written as
/// async code, but everything it awaits here ([`Access`]) is synchronous.
fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// The instrumented instance, for wizer to read its memories and globals through the
/// functions its instrumentation exported. Wizer's trait has no room for errors: the first
/// one is kept in `failed`, and the values read after it are dummies never used.
struct Access<'a> {
    store: &'a mut Store<CallState>,
    instance: Instance,
    failed: Option<wasmtime::Error>,
}

impl Access<'_> {
    fn call<R: Lift + 'static>(
        &mut self,
        instance: &str,
        func: &str,
        use_result: impl FnOnce(&Store<CallState>, R),
    ) {
        if self.failed.is_some() {
            return;
        }
        let result = (|| {
            let (_, group) = self
                .instance
                .get_export(&mut *self.store, None, instance)
                .ok_or_else(|| wasmtime::format_err!("no export {instance}"))?;
            let (_, index) = self
                .instance
                .get_export(&mut *self.store, Some(&group), func)
                .ok_or_else(|| wasmtime::format_err!("no export {instance}#{func}"))?;
            let func: TypedFunc<(), (R,)> =
                self.instance.get_typed_func(&mut *self.store, index)?;
            Ok(func.call(&mut *self.store, ())?.0)
        })();
        match result {
            Ok(value) => use_result(self.store, value),
            Err(e) => self.failed = Some(e),
        }
    }

    fn scalar<R: Lift + Default + Copy + 'static>(&mut self, instance: &str, func: &str) -> R {
        let mut out = R::default();
        self.call(instance, func, |_, value: R| out = value);
        out
    }
}

impl ComponentInstanceState for Access<'_> {
    async fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        let mut contents = Some(contents);
        self.call(instance, func, |store, list: WasmList<u8>| {
            if let Some(contents) = contents.take() {
                contents(list.as_le_slice(store));
            }
        });
        // On failure wizer still expects the callback; the bytes are discarded with the
        // snapshot.
        if let Some(contents) = contents {
            contents(&[]);
        }
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.scalar(instance, func)
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.scalar(instance, func)
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.scalar::<f32>(instance, func).to_bits()
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.scalar::<f64>(instance, func).to_bits()
    }
}
