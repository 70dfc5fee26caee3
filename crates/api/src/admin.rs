//! Platform administration (admin key): create brands and their API keys.

use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{AdminAccess, JsonBody, Params};
use super::{AppState, Table, blocking, spec};
use axum::Json;
use axum::extract::State;
use rulebox_engine::auth::{self, NewKey, Scope};
use rulebox_store::model::Brand;

/// Body of `POST /v1/brands/{brand}/keys`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct KeyRequest {
    scopes: Vec<Scope>,
    #[serde(default)]
    label: String,
}

async fn create_brand(
    State(state): State<AppState>,
    _admin: AdminAccess,
    JsonBody(brand): JsonBody<Brand>,
) -> Result<(StatusCode, Json<Brand>), ApiError> {
    let brand = blocking(&state, move |rb| {
        if rb.db().brand(&brand.id)?.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "brand-exists",
                format!("brand {} exists already; choose another id", brand.id),
            ));
        }
        rb.put_brand(&brand)?;
        Ok(brand)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(brand)))
}

async fn create_key(
    State(state): State<AppState>,
    _admin: AdminAccess,
    Params(brand): Params<String>,
    JsonBody(request): JsonBody<KeyRequest>,
) -> Result<(StatusCode, Json<NewKey>), ApiError> {
    let key = blocking(&state, move |rb| {
        Ok(auth::create_key(
            rb.db(),
            Some(&brand),
            &request.scopes,
            &request.label,
            now_ms(),
        )?)
    })
    .await?;
    tracing::info!(key_id = %key.record.id, brand = ?key.record.brand, "API key created");
    Ok((StatusCode::CREATED, Json(key)))
}

async fn list_keys(
    State(state): State<AppState>,
    _admin: AdminAccess,
    Params(brand): Params<String>,
) -> Result<Json<super::Items<auth::KeyRecord>>, ApiError> {
    let keys = blocking(&state, move |rb| {
        if rb.db().brand(&brand)?.is_none() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown-brand",
                format!("unknown brand {brand}; create it first"),
            ));
        }
        Ok(auth::list_keys(rb.db(), Some(&brand))?)
    })
    .await?;
    Ok(Json(super::Items { items: keys }))
}

async fn revoke_key(
    State(state): State<AppState>,
    _admin: AdminAccess,
    Params((brand, id)): Params<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let revoked = blocking(&state, {
        let (brand, id) = (brand.clone(), id.clone());
        move |rb| Ok(auth::revoke_key(rb.db(), Some(&brand), &id)?)
    })
    .await?;
    if !revoked {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown-key",
            format!("brand {brand} has no key {id}; GET /v1/brands/{brand}/keys lists its key ids"),
        ));
    }
    tracing::info!(key_id = %id, %brand, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// Milliseconds since the epoch (key creation times only; rules never read a clock).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(super) fn routes(table: Table) -> Table {
    let admin = Some(Scope::Admin);
    table
        .add(
            &[spec("POST", "/v1/brands", admin, 201, "admin", "Create a brand (body: Brand; 409 if it exists).").takes::<Brand>().answers::<Brand>()],
            post(create_brand),
        )
        .add(
            &[
                spec("POST", "/v1/brands/{brand}/keys", admin, 201, "admin", "Create an API key of the brand (body: {scopes, label}); the key is in the answer only.").takes::<KeyRequest>().answers::<NewKey>(),
                spec("GET", "/v1/brands/{brand}/keys", admin, 200, "admin", "The brand's keys: id, scopes, label, creation time (never the key itself).").answers::<super::Items<auth::KeyRecord>>(),
            ],
            post(create_key).get(list_keys),
        )
        .add(
            &[spec("DELETE", "/v1/brands/{brand}/keys/{id}", admin, 204, "admin", "Revoke a key of the brand: it stops working at once.")],
            axum::routing::delete(revoke_key),
        )
}
