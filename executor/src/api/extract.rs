//! Request extractors that fail with [`ApiError`]s instead of axum's plain
//! text rejections: JSON bodies and the ids in paths.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use reprise_oplog::{ComponentId, IdempotencyKey, WorkerId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::AppState;
use super::error::ApiError;

/// A JSON request body. The `Content-Type` is not checked (so plain
/// `curl -d` works); the body must be a JSON document matching `T`, and
/// unknown fields are refused where `T` says so.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + Serialize> FromRequest<AppState> for ApiJson<T> {
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
        // The error names where in the body it is (`params[0]: invalid
        // type ...`), so the caller knows what to fix.
        let mut json = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let path = e.path().to_string();
            let error = e.into_inner();
            if path == "." || path.is_empty() {
                ApiError::bad_request(format!("malformed JSON body: {error}"))
            } else {
                ApiError::bad_request(format!("malformed JSON body: `{path}`: {error}"))
            }
        })?;
        json.end()
            .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))?;
        if let Some(path) = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|input| array_for_object(&input, &value))
        {
            return Err(ApiError::bad_request(format!(
                "malformed JSON body: `{path}` must be a JSON object, not an array"
            )));
        }
        Ok(ApiJson(value))
    }
}

/// Where `input`, the JSON a value was read from, gives an array for what
/// the value's type reads as an object, if anywhere: the path (`create`,
/// `retry`). serde reads a struct from an array too, its fields by
/// position, at any depth; the API's objects must be objects, so the value
/// is written back and the two compared.
pub fn array_for_object<T: Serialize>(input: &Value, value: &T) -> Option<String> {
    let written = serde_json::to_value(value).ok()?;
    let mut path = Vec::new();
    walk(input, &written, &mut path).then(|| path.join("."))
}

/// Whether an array stands for an object somewhere below; `path` then
/// holds where. Bounded by the depth of `input` (serde_json's recursion
/// limit).
fn walk(input: &Value, written: &Value, path: &mut Vec<String>) -> bool {
    match (input, written) {
        (Value::Array(_), Value::Object(_)) => true,
        (Value::Object(input), Value::Object(written)) => {
            for (key, value) in input {
                if let Some(other) = written.get(key) {
                    path.push(key.clone());
                    if walk(value, other, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            false
        }
        (Value::Array(input), Value::Array(written)) if input.len() == written.len() => {
            for (i, (value, other)) in input.iter().zip(written).enumerate() {
                path.push(i.to_string());
                if walk(value, other, path) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
}

/// Refuses a JSON document in which an object names a key twice, at any
/// depth. serde refuses that for a struct's own fields, but a document first
/// read as a `Value` (the multipart `dependencies` part, to tell the kinds
/// apart) keeps the last occurrence silently.
pub fn no_duplicate_keys(bytes: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<Unique>(bytes).map(|_| ())
}

/// A JSON value read only to check that no object repeats a key.
struct Unique;

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Unique;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
        // Bounded by the document's length.
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(Unique)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
        let mut keys = std::collections::HashSet::new();
        // Bounded by the document's length.
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<Unique>()?;
            if !keys.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!(
                    "the key `{key}` is given twice in one object"
                )));
            }
        }
        Ok(Unique)
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
