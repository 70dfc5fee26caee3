//! Request extractors: who is calling and for which brand ([`BrandAccess`], [`AdminAccess`]),
//! JSON bodies ([`JsonBody`]) and path parameters ([`Params`]), all answering in the API's
//! error shape.

use std::collections::HashMap;
use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use rulebox_engine::auth::{self, Principal, Scope};

/// A scope a route needs, as a type (see [`BrandAccess`]).
pub trait Needs: Send + Sync + 'static {
    /// The scope.
    const SCOPE: Scope;
}

/// Routes that need scope `events`.
pub struct EventsScope;
/// Routes that need scope `plugins`.
pub struct PluginsScope;
/// Routes that need scope `members`.
pub struct MembersScope;

impl Needs for EventsScope {
    const SCOPE: Scope = Scope::Events;
}
impl Needs for PluginsScope {
    const SCOPE: Scope = Scope::Plugins;
}
impl Needs for MembersScope {
    const SCOPE: Scope = Scope::Members;
}

/// The caller holds a key of the brand in the path (`{brand}`) with scope `S`.
///
/// A key of another brand gets 404, exactly as for a brand that does not exist, so a key
/// cannot learn which brands exist; a key of this brand without `S` gets 403.
pub struct BrandAccess<S> {
    /// The brand in the path (which is the key's brand).
    pub brand: String,
    _scope: PhantomData<S>,
}

/// The caller holds a platform admin key.
pub struct AdminAccess(pub Principal);

/// Checks the `Authorization: Bearer <key>` header.
///
/// A stored key is looked up on the blocking pool, never on the async workers: a storage
/// read waits while a commit holds sled's lock (tens of milliseconds under load), and a
/// worker waiting there would stall every connection it serves (docs/benchmarks/runs/14.md).
async fn principal(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let unauthorized = |code, message: &str| ApiError::new(StatusCode::UNAUTHORIZED, code, message);
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            unauthorized(
                "missing-api-key",
                "no API key; send `Authorization: Bearer <key>` with a key from `POST /v1/brands/{brand}/keys` or `rulebox key create`",
            )
        })?;
    let key = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            unauthorized(
                "invalid-api-key",
                "the Authorization header is not `Bearer <key>`; send the key as a bearer token",
            )
        })?;
    let (key, admin_key) = (key.to_owned(), state.admin_key.clone());
    let principal = super::blocking(state, move |rb| {
        Ok(auth::authenticate(rb.db(), &key, admin_key.as_ref())?)
    })
    .await?
    .ok_or_else(|| {
        unauthorized(
            "invalid-api-key",
            "the API key is not valid (unknown or revoked); check the key or create a new one",
        )
    })?;
    tracing::debug!(key_id = %principal.key_id, "authenticated");
    Ok(principal)
}

impl<S: Needs> FromRequestParts<AppState> for BrandAccess<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = principal(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("invalid-path", e.body_text()))?;
        let brand = params.get("brand").cloned().unwrap_or_default();
        if principal.brand.as_deref() != Some(brand.as_str()) {
            if principal.is_admin() {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!(
                        "admin keys manage brands and keys only; use a key of brand {brand} with scope {}",
                        S::SCOPE.as_str()
                    ),
                ));
            }
            return Err(ApiError::not_found(format!(
                "no brand {brand} is visible to this key; check the brand id in the path"
            )));
        }
        if !principal.scopes.contains(&S::SCOPE) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this key lacks scope {0}; ask an admin for a key of brand {brand} with scope {0}",
                    S::SCOPE.as_str()
                ),
            ));
        }
        Ok(BrandAccess {
            brand,
            _scope: PhantomData,
        })
    }
}

impl FromRequestParts<AppState> for AdminAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = principal(parts, state).await?;
        if !principal.is_admin() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this route needs a platform admin key (RULEBOX_ADMIN_KEY or `rulebox key create --admin`)",
            ));
        }
        Ok(AdminAccess(principal))
    }
}

/// A JSON body of type `T`: 413 when over the route's size limit, 400 with the parser's
/// message (line and column) when malformed or of the wrong shape.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    format!(
                        "the request body is too large: at most {} bytes for JSON requests and {} for plugin uploads; send smaller batches",
                        state.options.json_body_limit, state.options.plugin_body_limit
                    ),
                )
            } else {
                ApiError::bad_request("unreadable-body", e.body_text())
            }
        })?;
        // Fields the route does not know are refused, not silently dropped: a misspelt
        // field would otherwise be a rule that quietly never fires.
        let mut unknown = Vec::new();
        let mut json = serde_json::Deserializer::from_slice(&bytes);
        let decoded = serde_ignored::deserialize(&mut json, |path| unknown.push(path.to_string()))
            .and_then(|value| json.end().map(|()| value));
        if decoded.is_ok() && !unknown.is_empty() {
            return Err(ApiError::bad_request(
                "unknown-field",
                format!(
                    "the body has fields this route does not take: {}; remove them (the body's shape is in /v1/openapi.json)",
                    unknown.join(", ")
                ),
            ));
        }
        decoded.map(JsonBody).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => ApiError::bad_request(
                    "invalid-body",
                    format!("the JSON body does not have the shape this route takes: {e}; see /v1/openapi.json"),
                ),
                _ => ApiError::bad_request(
                    "malformed-json",
                    format!("the request body is not valid JSON: {e}; send a JSON document"),
                ),
            }
        })
    }
}

/// Path parameters, with a 400 in the API's shape when they cannot be decoded.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| Params(t))
            .map_err(|e| ApiError::bad_request("invalid-path", e.body_text()))
    }
}
