//! Plugins (install, list, activate, roll back, disable, remove, statistics, replay against
//! a candidate version) and dead letters (list, replay). Scope `plugins`.
//!
//! Upload format: `POST /v1/brands/{brand}/plugins` takes JSON
//! `{"manifest": Manifest, "wasm_base64": "<standard base64 of the component>",
//! "activate": false}` — one document, so the manifest and the component cannot be split,
//! and the same JSON error handling applies. The body may be up to
//! `plugin_body_limit` (24 MiB by default: a 16 MiB component in base64 with room to spare).

use axum::Json;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::events::MAX_BATCH;
use super::extract::{BrandAccess, JsonBody, Params, PluginsScope};
use super::{AppState, Table, blocking, spec, split_action};
use rulebox_engine::Rulebox;
use rulebox_engine::auth::Scope;
use rulebox_engine::pipeline::{EventOutcome, PluginStatsView, ReplayReport};
use rulebox_engine::registry::{Activation, Manifest, PluginVersion};
use rulebox_world::Event;

/// Body of an upload.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Upload {
    manifest: Manifest,
    wasm_base64: String,
    /// Activate the version once installed.
    #[serde(default)]
    activate: bool,
}

/// Answer of an upload.
#[derive(Serialize, schemars::JsonSchema)]
struct Installed {
    version: PluginVersion,
    /// The plugin's activation, if `activate` was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    activation: Option<Activation>,
}

async fn install(
    State(state): State<AppState>,
    access: BrandAccess<PluginsScope>,
    JsonBody(upload): JsonBody<Upload>,
) -> Result<(StatusCode, Json<Installed>), ApiError> {
    if upload.manifest.brand != access.brand {
        return Err(ApiError::bad_request(
            "brand-mismatch",
            format!(
                "the manifest's brand is {:?} but the path's is {:?}; make them equal",
                upload.manifest.brand, access.brand
            ),
        ));
    }
    let wasm = base64::engine::general_purpose::STANDARD
        .decode(upload.wasm_base64.trim())
        .map_err(|e| {
            ApiError::bad_request(
                "invalid-base64",
                format!("wasm_base64 is not standard base64 ({e}); encode the .wasm file with standard base64"),
            )
        })?;
    let installed = blocking(&state, move |rb| {
        let version = rb.registry().install(upload.manifest, &wasm)?;
        let activation = if upload.activate {
            let m = &version.manifest;
            Some(rb.registry().activate(&m.brand, &m.name, &m.version)?)
        } else {
            None
        };
        Ok(Installed {
            version,
            activation,
        })
    })
    .await?;
    let m = &installed.version.manifest;
    tracing::info!(brand = %m.brand, plugin = %m.name, version = %m.version, "plugin installed");
    Ok((StatusCode::CREATED, Json(installed)))
}

/// One plugin: its activation and installed versions.
#[derive(Serialize, schemars::JsonSchema)]
struct PluginInfo {
    name: String,
    active: Option<String>,
    history: Vec<String>,
    versions: Vec<PluginVersion>,
}

fn plugin_infos(rb: &Rulebox, brand: &str) -> Result<Vec<PluginInfo>, ApiError> {
    let (versions, activations) = rb.registry().list(brand)?;
    let mut infos: Vec<PluginInfo> = Vec::new();
    for v in versions {
        match infos.iter_mut().find(|i| i.name == v.manifest.name) {
            Some(info) => info.versions.push(v),
            None => infos.push(PluginInfo {
                name: v.manifest.name.clone(),
                active: None,
                history: Vec::new(),
                versions: vec![v],
            }),
        }
    }
    for a in activations {
        if let Some(info) = infos.iter_mut().find(|i| i.name == a.name) {
            info.active = a.active;
            info.history = a.history;
        }
    }
    Ok(infos)
}

/// 404 `unknown-plugin` unless some version of plugin `name` is installed for `brand`.
fn ensure_installed(rb: &Rulebox, brand: &str, name: &str) -> Result<(), ApiError> {
    if plugin_infos(rb, brand)?.iter().any(|i| i.name == name) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown-plugin",
        format!("no plugin {name} is installed for brand {brand}; install it first"),
    ))
}

async fn list(
    State(state): State<AppState>,
    access: BrandAccess<PluginsScope>,
) -> Result<Json<super::Items<PluginInfo>>, ApiError> {
    let infos = blocking(&state, move |rb| plugin_infos(rb, &access.brand)).await?;
    Ok(Json(super::Items { items: infos }))
}

fn no_such_action(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no-such-route",
        format!("no such action; use {what}"),
    )
}

/// Body of `POST …/plugins/{name}/versions/{version}:replay`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    /// The events to re-evaluate, in order (at most [`MAX_BATCH`]).
    events: Vec<Event>,
}

/// `POST …/plugins/{name}/versions/{version}:activate` and
/// `POST …/plugins/{name}/versions/{version}:replay`.
async fn version_action(
    State(state): State<AppState>,
    access: BrandAccess<PluginsScope>,
    Params((_, name, target)): Params<(String, String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let (version, action) = match split_action(&target) {
        Some((version, action @ ("activate" | "replay"))) => (version.to_owned(), action),
        _ => {
            return Err(no_such_action(
                "POST …/plugins/{name}/versions/{version}:activate or …/versions/{version}:replay",
            ));
        }
    };
    if action == "activate" {
        // Activation takes no body; whatever was sent is ignored, as before.
        let activation = blocking(&state, move |rb| {
            Ok(rb.registry().activate(&access.brand, &name, &version)?)
        })
        .await?;
        return Ok(Json(activation).into_response());
    }
    let JsonBody(body) = JsonBody::<ReplayBody>::from_request(request, &state).await?;
    if body.events.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            "batch-too-large",
            format!(
                "{} events is more than the {MAX_BATCH} a replay may hold; split them into several replays",
                body.events.len()
            ),
        ));
    }
    let report: ReplayReport = blocking(&state, move |rb| {
        Ok(rb.replay_candidate(&access.brand, &name, &version, body.events)?)
    })
    .await?;
    Ok(Json(report).into_response())
}

/// `GET …/plugins/{name}/stats`.
async fn stats(
    State(state): State<AppState>,
    access: BrandAccess<PluginsScope>,
    Params((_, name)): Params<(String, String)>,
) -> Result<Json<PluginStatsView>, ApiError> {
    let view = blocking(&state, move |rb| {
        ensure_installed(rb, &access.brand, &name)?;
        Ok(rb.plugin_stats(&access.brand, &name))
    })
    .await?;
    Ok(Json(view))
}

/// `DELETE …/plugins/{name}/versions/{version}`.
async fn remove(
    State(state): State<AppState>,
    access: BrandAccess<PluginsScope>,
    Params((_, name, version)): Params<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    blocking(&state, move |rb| {
        Ok(rb.registry().remove(&access.brand, &name, &version)?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST …/plugins/{name}:rollback` and `POST …/plugins/{name}:disable`.
async fn plugin_action(
    State(state): State<AppState>,
    access: BrandAccess<PluginsScope>,
    Params((_, target)): Params<(String, String)>,
) -> Result<Json<Activation>, ApiError> {
    let (name, action) = match split_action(&target) {
        Some((name, action @ ("rollback" | "disable"))) => (name.to_owned(), action),
        _ => {
            return Err(no_such_action(
                "POST …/plugins/{name}:rollback or …/plugins/{name}:disable",
            ));
        }
    };
    let rollback = action == "rollback";
    let activation = blocking(&state, move |rb| {
        ensure_installed(rb, &access.brand, &name)?;
        let registry = rb.registry();
        Ok(if rollback {
            registry.rollback(&access.brand, &name)?
        } else {
            registry.disable(&access.brand, &name)?
        })
    })
    .await?;
    Ok(Json(activation))
}

async fn dead_letters(
    State(state): State<AppState>,
    access: BrandAccess<PluginsScope>,
) -> Result<Json<super::Items<rulebox_store::model::DeadLetter>>, ApiError> {
    let letters = blocking(&state, move |rb| Ok(rb.dead_letters(&access.brand)?)).await?;
    Ok(Json(super::Items { items: letters }))
}

/// `POST …/dead-letters/{event_id}:replay`.
async fn replay(
    State(state): State<AppState>,
    access: BrandAccess<PluginsScope>,
    Params((_, target)): Params<(String, String)>,
) -> Result<Response, ApiError> {
    let Some((event_id, "replay")) = split_action(&target).map(|(e, a)| (e.to_owned(), a)) else {
        return Err(no_such_action("POST …/dead-letters/{event_id}:replay"));
    };
    let metrics = state.metrics.clone();
    let outcome: EventOutcome = blocking(&state, move |rb| {
        let result = rb.replay(&access.brand, &event_id);
        if !matches!(
            result,
            Err(rulebox_engine::pipeline::PipelineError::UnknownDeadLetter { .. })
        ) {
            metrics.event(&result);
        }
        Ok(result?)
    })
    .await?;
    Ok(Json(outcome).into_response())
}

pub(super) fn routes(table: Table) -> Table {
    let plugins = Some(Scope::Plugins);
    let upload_limit = table.options.plugin_body_limit;
    table
        .add(
            &[
                spec("POST", "/v1/brands/{brand}/plugins", plugins, 201, "plugins", "Install a plugin version (JSON: manifest, wasm_base64, activate); 409 if the version exists with other content.").takes::<Upload>().answers::<Installed>(),
                spec("GET", "/v1/brands/{brand}/plugins", plugins, 200, "plugins", "Every plugin with its active version, rollback history and installed versions.").answers::<super::Items<PluginInfo>>(),
            ],
            post(install)
                .layer(DefaultBodyLimit::max(upload_limit))
                .get(list),
        )
        .add(
            &[
                spec("POST", "/v1/brands/{brand}/plugins/{name}/versions/{version}:activate", plugins, 200, "plugins", "Make a version the active one (the previous one goes into the rollback history).").answers::<Activation>(),
                spec("POST", "/v1/brands/{brand}/plugins/{name}/versions/{version}:replay", plugins, 200, "plugins", "Re-evaluate up to 1000 events (body: {\"events\": [Event…]}) with this version in place of the active one, committing nothing; per event: same, changed, drift, not-handled or failed, with the stored, active and candidate effects.").takes::<ReplayBody>().answers::<ReplayReport>(),
                spec("DELETE", "/v1/brands/{brand}/plugins/{name}/versions/{version}", plugins, 204, "plugins", "Remove an inactive version (409 if active)."),
            ],
            post(version_action).delete(remove),
        )
        .add(
            &[
                spec("POST", "/v1/brands/{brand}/plugins/{name}:rollback", plugins, 200, "plugins", "Re-activate the version active before the current one (409 if none).").answers::<Activation>(),
                spec("POST", "/v1/brands/{brand}/plugins/{name}:disable", plugins, 200, "plugins", "Stop running the plugin (its versions stay installed).").answers::<Activation>(),
            ],
            post(plugin_action),
        )
        .add(
            &[spec("GET", "/v1/brands/{brand}/plugins/{name}/stats", plugins, 200, "plugins", "Calls, failures by cause, and fuel and time percentiles per version since the host started (404 unknown-plugin if not installed).").answers::<PluginStatsView>()],
            get(stats),
        )
        .add(
            &[spec("GET", "/v1/brands/{brand}/dead-letters", plugins, 200, "dead letters", "Events a plugin aborted, waiting for replay.").answers::<super::Items<rulebox_store::model::DeadLetter>>()],
            get(dead_letters),
        )
        .add(
            &[spec("POST", "/v1/brands/{brand}/dead-letters/{event_id}:replay", plugins, 200, "dead letters", "Process a dead-lettered event again (after fixing its plugin).").answers::<EventOutcome>()],
            post(replay),
        )
}
