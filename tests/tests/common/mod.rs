//! A real API server on 127.0.0.1 (port 0) over a temporary data directory, and a client
//! for it: JSON calls with a bearer key, raw bodies, or exactly the `Authorization` header
//! given (for the tests that attack the API). Shared by the HTTP tests; with them, what the
//! in-process tests share: an in-memory host, host events, test plugin manifests and
//! aborted events.

#![allow(dead_code)] // each test file uses part of it

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use rulebox_api::{self as api, ApiOptions, AppState};
use rulebox_engine::Rulebox;
use rulebox_engine::auth::AdminKey;
use rulebox_engine::pipeline::{EventOutcome, PipelineError};
use rulebox_engine::registry::{FailurePolicy, Manifest};
use rulebox_sandbox::{Limits, PluginFailure};
use rulebox_sdk::EventKind;
use rulebox_store::model::Brand;
use rulebox_world::{Event, EventType};
use serde_json::{Value, json};

/// The configured platform admin key.
pub const ADMIN: &str = "test-admin-key-0123456789abcdef";

/// A running server and a client for it.
pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    pub rulebox: Arc<rulebox_engine::Rulebox>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// An answer: status, body as text and as JSON (`Null` when it is not JSON), request id.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub text: String,
    pub body: Value,
    pub request_id: Option<String>,
}

/// The events the flat-points test plugins declare.
pub const FLAT_EVENTS: &[&str] = &["Purchase", "ReferralAccepted", "CheckIn"];
/// [`FLAT_EVENTS`] as the host's types.
pub const FLAT_EVENT_TYPES: &[EventType] = &[
    EventType::Purchase,
    EventType::ReferralAccepted,
    EventType::CheckIn,
];

/// A test plugin: crate, name, version and the events it declares.
pub struct Plugin(
    pub &'static str,
    pub &'static str,
    pub &'static str,
    pub &'static [&'static str],
);

pub const WELCOME: Plugin = Plugin("welcome-bonus", "welcome-bonus", "0.1.0", &["SignUp"]);
pub const FLAT_V1: Plugin = Plugin("flat-points-v1", "flat-points", "1.0.0", FLAT_EVENTS);
pub const FLAT_V2: Plugin = Plugin("flat-points-v2", "flat-points", "2.0.0", FLAT_EVENTS);

impl Answer {
    /// The error code of an error answer (`""` if there is none).
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Server {
    /// Starts a server with the admin key [`ADMIN`] on a fresh sled data directory.
    pub async fn start() -> Server {
        Server::start_with(ApiOptions::default()).await
    }

    /// [`Server::start`] with other limits.
    pub async fn start_with(options: ApiOptions) -> Server {
        Server::launch(options, rulebox_store::CACHE_BYTES).await
    }

    /// [`Server::start`] with a storage page cache of `cache_bytes`.
    pub async fn start_with_cache(cache_bytes: u64) -> Server {
        Server::launch(ApiOptions::default(), cache_bytes).await
    }

    async fn launch(options: ApiOptions, cache_bytes: u64) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let rulebox =
            Arc::new(rulebox_engine::Rulebox::open_with_cache(dir.path(), cache_bytes).unwrap());
        let state = AppState::new(
            rulebox.clone(),
            Some(AdminKey::new(ADMIN).unwrap()),
            options,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(api::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Server {
            base,
            client: reqwest::Client::new(),
            rulebox,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    /// Sends `body` (as JSON content) with this exact `Authorization` header, if any.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        authorization: Option<HeaderValue>,
        body: Option<Vec<u8>>,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            text,
            body,
            request_id,
        }
    }

    /// Sends raw `body` bytes with `Authorization: Bearer <key>` (no header without a key).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Answer {
        let authorization = key.map(|k| HeaderValue::from_str(&format!("Bearer {k}")).unwrap());
        self.send(method, path, authorization, body).await
    }

    /// Sends a JSON body with `Authorization: Bearer <key>` (no header without a key).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.raw(
            method,
            path,
            key,
            body.map(|b| serde_json::to_vec(&b).unwrap()),
        )
        .await
    }

    /// Calls and asserts the status; returns the body.
    pub async fn ok(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let answer = self.call(method.clone(), path, Some(key), body).await;
        assert_eq!(
            answer.status, status,
            "{method} {path} answered {}: {}",
            answer.status, answer.text
        );
        answer.body
    }

    /// Calls and asserts the error status and code.
    pub async fn refused(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
        status: u16,
        code: &str,
    ) {
        let answer = self.call(method.clone(), path, Some(key), body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (status, code),
            "{method} {path}: {}",
            answer.text
        );
    }

    /// Uploads a test plugin to `brand` (activating it if asked); returns the answer.
    pub async fn deploy(&self, brand: &str, key: &str, plugin: &Plugin, activate: bool) -> Value {
        let Plugin(crate_name, name, version, events) = *plugin;
        let body = json!({
            "manifest": { "brand": brand, "name": name, "version": version, "events": events },
            "wasm_base64": base64::engine::general_purpose::STANDARD
                .encode(rulebox_tests::plugin_wasm(crate_name)),
            "activate": activate,
        });
        self.ok(
            Method::POST,
            &format!("/v1/brands/{brand}/plugins"),
            key,
            Some(body),
            201,
        )
        .await
    }

    /// Creates brand `id` and returns a key with every brand scope.
    pub async fn brand(&self, id: &str) -> String {
        self.ok(
            Method::POST,
            "/v1/brands",
            ADMIN,
            Some(json!({ "id": id, "name": id })),
            201,
        )
        .await;
        self.key(id, &["events", "plugins", "members"]).await
    }

    /// Creates a key of `brand` with `scopes` (through the API, as an admin).
    pub async fn key(&self, brand: &str, scopes: &[&str]) -> String {
        let body = self
            .ok(
                Method::POST,
                &format!("/v1/brands/{brand}/keys"),
                ADMIN,
                Some(json!({ "scopes": scopes, "label": "test" })),
                201,
            )
            .await;
        body["key"].as_str().unwrap().to_owned()
    }

    /// Imports `members` (a JSON array) into `brand` in one bulk upsert; returns the answer.
    pub async fn put_members(&self, brand: &str, key: &str, members: Value) -> Value {
        self.ok(
            Method::PUT,
            &format!("/v1/brands/{brand}/members"),
            key,
            Some(members),
            200,
        )
        .await
    }

    /// Stops accepting connections and waits for the server to finish.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task.take().unwrap())
            .await
            .expect("the server stops on shutdown")
            .unwrap()
            .unwrap();
    }
}

/// A concrete path for a documented one, in `brand`.
pub fn concrete(path: &str, brand: &str) -> String {
    path.replace("{brand}", brand)
        .replace("{id}", "m-1")
        .replace("{name}", "flat-points")
        .replace("{version}", "1.0.0")
        .replace("{store}", "s-1")
        .replace("{event_id}", "e-1")
}

/// `cases` proptest cases, failures recorded in `file` (relative to the tests crate, where
/// `cargo test` runs) and replayed first on later runs.
pub fn proptest_config(cases: u32, file: &'static str) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(file),
        )),
        ..proptest::test_runner::Config::default()
    }
}

// ----- in process: a host without a server --------------------------------------------------

/// An in-memory host with brand `brand` (default settings) and nothing else.
pub fn memory_host(brand: &str) -> anyhow::Result<Rulebox> {
    let rb = Rulebox::in_memory()?;
    rb.put_brand(&Brand {
        id: brand.into(),
        ..Default::default()
    })?;
    Ok(rb)
}

/// An event of `brand`, built with the SDK's builders and converted to the host's type.
pub fn host_event(brand: &str, id: &str, member: &str, at: i64, kind: EventKind) -> Event {
    let mut sdk_event = rulebox_sdk::testing::event(id, member, at, kind);
    sdk_event.brand = brand.into();
    rulebox_world::convert(&sdk_event).unwrap()
}

/// A manifest of a test plugin, first in the chain, aborting on failure, default limits.
pub fn manifest(
    brand: &str,
    name: &str,
    version: &str,
    events: &[EventType],
    config: Value,
) -> Manifest {
    Manifest {
        brand: brand.into(),
        name: name.into(),
        version: version.into(),
        events: events.to_vec(),
        queries: Vec::new(),
        order: 0,
        on_failure: FailurePolicy::Abort,
        limits: Limits::default(),
        config,
    }
}

/// [`manifest`] of flat-points `version` (crate `flat-points-v1` for 1.0.0, one point per
/// yuan paid; `flat-points-v2` for 2.0.0, two).
pub fn flat_manifest(brand: &str, version: &str) -> Manifest {
    manifest(brand, "flat-points", version, FLAT_EVENT_TYPES, json!({}))
}

/// The plugin failure of an aborted event, or a panic naming what happened instead.
pub fn aborted(result: Result<EventOutcome, PipelineError>, event_id: &str) -> PluginFailure {
    match result {
        Err(PipelineError::Aborted {
            event_id: id,
            failure,
        }) => {
            assert_eq!(id, event_id);
            *failure
        }
        other => panic!("expected event {event_id} to abort, got {other:?}"),
    }
}
