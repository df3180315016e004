//! Request extractors that fail with [`ApiError`]s instead of axum's plain
//! text rejections: JSON bodies and the ids in paths.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use reprise_oplog::{ComponentId, IdempotencyKey, WorkerId};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;

/// A JSON request body. The `Content-Type` is not checked (so plain
/// `curl -d` works); the body must be a JSON document matching `T`, and
/// unknown fields are refused where `T` says so.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.config.body_limit;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| ApiError::from_body(r, limit))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "the request body is empty; send a JSON object",
            ));
        }
        // serde reads a struct from a JSON array too (fields by position):
        // the API's bodies are objects, so anything else is refused.
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => {}
            _ => {
                return Err(ApiError::bad_request(format!(
                    "the request body must be a JSON object, got `{}`",
                    preview(&bytes)
                )));
            }
        }
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
    }
}

/// The start of a body, for an error message.
fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// The `{id}` path segment parsed as a worker id.
#[derive(Debug, Clone)]
pub struct WorkerPath(pub WorkerId);

impl<S: Send + Sync> FromRequestParts<S> for WorkerPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(ApiError::from_path)?;
        parse_worker_id(&text).map(WorkerPath)
    }
}

/// The `{id}` path segment parsed as a component id.
#[derive(Debug, Clone)]
pub struct ComponentPath(pub ComponentId);

impl<S: Send + Sync> FromRequestParts<S> for ComponentPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(ApiError::from_path)?;
        parse_component_id(&text).map(ComponentPath)
    }
}

/// Parses a worker id, with a 400 naming the rule it breaks.
pub fn parse_worker_id(text: &str) -> Result<WorkerId, ApiError> {
    WorkerId::new(text).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Parses a component id (64 lowercase hex digits), with a 400 otherwise.
pub fn parse_component_id(text: &str) -> Result<ComponentId, ApiError> {
    text.parse::<ComponentId>()
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Parses an idempotency key, with a 400 naming the rule it breaks.
pub fn parse_idempotency_key(text: &str) -> Result<IdempotencyKey, ApiError> {
    IdempotencyKey::new(text).map_err(|e| ApiError::bad_request(e.to_string()))
}
