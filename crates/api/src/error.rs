//! The API's one error shape:
//! `{"error": {"code": "<stable-kebab-code>", "message": "…", "request_id": "…"}}`, with an
//! optional `details` object, and the mapping of library errors to it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use rulebox_engine::auth::AuthError;
use rulebox_engine::pipeline::PipelineError;
use rulebox_engine::registry::RegistryError;
use rulebox_store::StorageError;

tokio::task_local! {
    /// The id of the request being served (set by the request middleware).
    pub(crate) static REQUEST_ID: String;
}

/// The current request's id, or `-` outside a request.
pub fn request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".into())
}

/// An error answer: status, stable code and a message that says what to do.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, kebab-case; clients may match on it.
    pub code: &'static str,
    pub message: String,
    /// Extra machine-readable context (e.g. the plugin failure of an aborted event).
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    /// An error with no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// 400 with code `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 `not-found`: what a key of another brand gets for anything of this brand.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", message)
    }

    /// 500 for a bug (a panicked task).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The JSON body of this error.
    pub fn body(&self) -> serde_json::Value {
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "request_id": request_id(),
        });
        if let Some(details) = &self.details {
            error["details"] = details.clone();
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Io(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                error.to_string(),
            ),
            StorageError::Corrupt { .. } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage-corrupt",
                error.to_string(),
            ),
        }
    }
}

impl From<PipelineError> for ApiError {
    fn from(error: PipelineError) -> Self {
        let message = error.to_string();
        match error {
            PipelineError::InvalidEvent(inner) => Self::bad_request("invalid-input", inner),
            PipelineError::UnknownBrand(_) => {
                Self::new(StatusCode::NOT_FOUND, "unknown-brand", message)
            }
            PipelineError::UnknownMember { .. } => {
                Self::new(StatusCode::NOT_FOUND, "unknown-member", message)
            }
            PipelineError::Aborted { failure, .. } => ApiError {
                details: serde_json::to_value(&*failure)
                    .ok()
                    .map(|f| json!({ "failure": f })),
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "event-aborted", message)
            },
            PipelineError::UnknownDeadLetter { .. } => {
                Self::new(StatusCode::NOT_FOUND, "unknown-dead-letter", message)
            }
            PipelineError::Registry(e) => e.into(),
            PipelineError::Storage(e) => e.into(),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        let message = error.to_string();
        let (status, code) = match error {
            RegistryError::InvalidManifest(_) => (StatusCode::BAD_REQUEST, "invalid-manifest"),
            RegistryError::InvalidPlugin(_) => (StatusCode::BAD_REQUEST, "invalid-plugin"),
            RegistryError::ManifestMismatch(_) => (StatusCode::BAD_REQUEST, "manifest-mismatch"),
            RegistryError::VersionExists { .. } => (StatusCode::CONFLICT, "version-exists"),
            RegistryError::UnknownVersion { .. } => {
                (StatusCode::NOT_FOUND, "unknown-plugin-version")
            }
            RegistryError::NothingToRollBack { .. } => {
                (StatusCode::CONFLICT, "nothing-to-roll-back")
            }
            RegistryError::VersionActive { .. } => (StatusCode::CONFLICT, "version-active"),
            RegistryError::UnknownBrand(_) => (StatusCode::NOT_FOUND, "unknown-brand"),
            RegistryError::Storage(e) => return e.into(),
        };
        Self::new(status, code, message)
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let message = error.to_string();
        match error {
            AuthError::InvalidScopes(inner) => Self::bad_request("invalid-scopes", inner),
            AuthError::UnknownBrand(_) => {
                Self::new(StatusCode::NOT_FOUND, "unknown-brand", message)
            }
            AuthError::Random(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "random-unavailable",
                message,
            ),
            AuthError::Storage(e) => e.into(),
        }
    }
}
