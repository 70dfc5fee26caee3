//! The HTTP/JSON API over [`Rulebox`](rulebox_engine::Rulebox) (axum on tokio).
//!
//! Every route is under `/v1` (plus `/metrics`), takes and returns JSON, and answers errors
//! as `{"error": {"code", "message", "request_id"}}` ([`error`]). Callers authenticate with
//! `Authorization: Bearer <key>` ([`rulebox_engine::auth`]); a key of one brand sees nothing of
//! another (404), a key without the route's scope gets 403.
//!
//! The route table ([`routes`]) is the single source of both the router and the OpenAPI
//! document, so the two cannot drift. Paths written `{x}:action` are custom methods in the
//! style of Google's API design guide; the router (whose parameters cannot carry a suffix)
//! matches `{x}` and the handler splits the action off.
//!
//! Library calls are synchronous (sandbox calls, flushes) and run on tokio's blocking pool.

pub mod config;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;

mod admin;
mod catalog;
mod events;
mod members;
mod plugins;
mod server;

pub use events::MAX_BATCH;
pub use server::serve;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use serde::Serialize;

use error::{ApiError, REQUEST_ID};
use metrics::Metrics;
use rulebox_engine::Rulebox;
use rulebox_engine::auth::{AdminKey, Scope};

/// Limits of the API (see [`config::ServeConfig`] for the defaults).
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Largest JSON request body in bytes.
    pub json_body_limit: usize,
    /// Largest plugin upload (JSON with the base64 component) in bytes.
    pub plugin_body_limit: usize,
    /// Longest a request may take before the client gets 503 `timeout`.
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's headers (slow-loris defence); also
    /// how long an idle keep-alive connection is kept.
    pub header_timeout: Duration,
    /// Most connections served at once; further clients wait to be accepted.
    pub max_connections: usize,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            json_body_limit: 1 << 20,
            plugin_body_limit: 24 << 20,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub rulebox: Arc<Rulebox>,
    /// The configured platform admin key (hash only), if any.
    pub admin_key: Option<AdminKey>,
    pub options: ApiOptions,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// State over a host, with an optional configured admin key.
    pub fn new(rulebox: Arc<Rulebox>, admin_key: Option<AdminKey>, options: ApiOptions) -> Self {
        AppState {
            rulebox,
            admin_key,
            options,
            metrics: Arc::new(Metrics::default()),
        }
    }
}

/// `{"items": [...]}`: the answer of every list route.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// `{"count": n}`: the answer of every bulk write.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Count {
    /// How many items were written.
    pub count: usize,
}

/// Adds the JSON Schema of a body type to a generator's definitions and returns the schema
/// (usually a `$ref` to it).
pub type SchemaOf = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

/// One documented route: method, path as published (`{x}:action` for custom methods), the
/// scope it needs, what it answers on success and the schemas of its bodies.
#[derive(Debug, Clone, Serialize)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    /// `None`: no key needed.
    pub scope: Option<Scope>,
    /// Status of a successful answer.
    pub success: u16,
    pub tag: &'static str,
    pub summary: &'static str,
    /// The request body's schema, for routes that take one.
    #[serde(skip)]
    pub request: Option<SchemaOf>,
    /// The success answer's schema, for routes that answer JSON.
    #[serde(skip)]
    pub response: Option<SchemaOf>,
}

impl RouteSpec {
    /// Documents the request body as `T`.
    pub(crate) fn takes<T: schemars::JsonSchema>(mut self) -> Self {
        self.request = Some(|generator| generator.subschema_for::<T>());
        self
    }

    /// Documents the success answer as `T`.
    pub(crate) fn answers<T: schemars::JsonSchema>(mut self) -> Self {
        self.response = Some(|generator| generator.subschema_for::<T>());
        self
    }
}

/// A documented route (see [`RouteSpec`]).
pub(crate) const fn spec(
    method: &'static str,
    path: &'static str,
    scope: Option<Scope>,
    success: u16,
    tag: &'static str,
    summary: &'static str,
) -> RouteSpec {
    RouteSpec {
        method,
        path,
        scope,
        success,
        tag,
        summary,
        request: None,
        response: None,
    }
}

/// The router under construction and the specs of what it routes.
pub(crate) struct Table {
    router: Router<AppState>,
    specs: Vec<RouteSpec>,
    options: ApiOptions,
}

impl Table {
    /// Routes `handler` at the path `specs` document and adds them to the OpenAPI document.
    /// Each published path is written once, in its spec; the router's path is derived from
    /// it (custom methods `{x}:action` share the route of `{x}`, whose handler splits the
    /// action off), so every spec given to one `add` must reduce to the same route.
    pub(crate) fn add(mut self, specs: &[RouteSpec], handler: MethodRouter<AppState>) -> Self {
        let path = router_path(specs[0].path);
        if let Some(other) = specs.iter().find(|s| router_path(s.path) != path) {
            panic!(
                "route table: {} and {} are routed apart; give them an `add` each",
                specs[0].path, other.path
            );
        }
        self.specs.extend_from_slice(specs);
        self.router = self.router.route(&path, handler);
        self
    }
}

/// The router path of a published path: `{name}:rollback` → `{name}`.
pub fn router_path(published: &str) -> String {
    published
        .split('/')
        .map(|segment| match segment.find("}:") {
            Some(i) if segment.starts_with('{') => &segment[..=i],
            _ => segment,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Splits `<id>:<action>` at the last `:`, for custom-method routes.
pub(crate) fn split_action(segment: &str) -> Option<(&str, &str)> {
    segment.rsplit_once(':')
}

fn table(options: &ApiOptions) -> Table {
    let table = Table {
        router: Router::new(),
        specs: Vec::new(),
        options: options.clone(),
    };
    let table = admin::routes(table);
    let table = events::routes(table);
    let table = members::routes(table);
    let table = catalog::routes(table);
    let table = plugins::routes(table);
    openapi::routes(metrics::routes(table))
}

/// Every route the router serves, as documented in the OpenAPI document.
pub fn routes() -> Vec<RouteSpec> {
    table(&ApiOptions::default()).specs
}

/// The whole API as an axum router.
pub fn router(state: AppState) -> Router {
    let table = table(&state.options);
    let specs = Arc::new(table.specs);
    table
        .router
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no-such-route",
                "no such route; the routes are listed in /v1/openapi.json",
            )
        })
        .layer(axum::Extension(specs))
        .layer(axum::middleware::from_fn_with_state(state.clone(), around))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(DefaultBodyLimit::max(state.options.json_body_limit))
        .with_state(state)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Runs `work` on the blocking pool (library calls block on sandbox calls and flushes).
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Rulebox) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let rulebox = state.rulebox.clone();
    tokio::task::spawn_blocking(move || work(&rulebox))
        .await
        .map_err(|e| {
            ApiError::internal(format!(
                "the request's worker failed ({e}); retry, and report it if it persists"
            ))
        })?
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(0);

/// A request id: the caller's `x-request-id` if it is short and plain, else a new one.
fn request_id_for(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let mut random = [0u8; 6];
            let _ = getrandom::fill(&mut random);
            let n = REQUEST_SEQ.fetch_add(1, Ordering::Relaxed);
            let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
            format!("req-{hex}-{n}")
        })
}

/// Around every request: request id (header and error bodies), timeout, error bodies for
/// answers the framework produced, metrics and one log line (never with the key).
async fn around(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id_for(&req);
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let path = req.uri().path().to_owned();
    let timeout = state.options.request_timeout;
    let mut response = REQUEST_ID
        .scope(id.clone(), async move {
            let response = match tokio::time::timeout(timeout, next.run(req)).await {
                Ok(response) => response,
                Err(_) => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "timeout",
                    format!(
                        "the request took longer than {} s and was abandoned; it may still complete. Retry (events are idempotent by id)",
                        timeout.as_secs_f64()
                    ),
                )
                .into_response(),
            };
            as_api_error(response)
        })
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status().as_u16();
    state.metrics.request(&route, method.as_str(), status);
    tracing::info!(
        request_id = %id,
        method = %method,
        route = %route,
        path = %path,
        status,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// Gives error answers without a JSON body (from the framework: 405, 413, panics) the API's
/// error shape.
fn as_api_error(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            "this route does not take this method; see /v1/openapi.json",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body-too-large",
            "the request body is too large; send smaller batches",
        ),
        StatusCode::NOT_FOUND => (
            "no-such-route",
            "no such route; the routes are listed in /v1/openapi.json",
        ),
        s if s.is_server_error() => (
            "internal",
            "the server failed on this request; retry, and report it with the request id if it persists",
        ),
        _ => ("bad-request", "the request was refused"),
    };
    ApiError::new(status, code, message).into_response()
}
