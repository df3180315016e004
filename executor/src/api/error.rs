//! Error responses of the admin API: every failure becomes a status code and
//! a JSON body `{"error": "..."}` whose message says what to fix, plus a
//! machine-readable `"code"` for the failures a client must tell apart
//! (see [`codes`]).
//!
//! [`status_of`] is the one place where executor errors are mapped to HTTP
//! status codes.

use axum::Json;
use axum::extract::multipart::MultipartError;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The machine-readable codes of error responses (`"code"`), stable
/// across releases. A response without a code is none of these; a client
/// must ignore codes it does not know (more may be added).
pub mod codes {
    /// The request may have taken effect or not (a commit to a shared
    /// PostgreSQL store got no answer, or a forwarded request's owner
    /// stopped answering): retry with the same idempotency key, which is
    /// safe.
    pub const OUTCOME_UNKNOWN: &str = "outcome_unknown";
    /// The executor's shutdown stopped the invocation before it finished;
    /// the next start finishes it: retry with the same idempotency key to
    /// get its result.
    pub const INVOCATION_PENDING: &str = "invocation_pending";
}

/// A failed request: the status code and the message sent back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status of the response.
    pub status: StatusCode,
    /// Human-readable explanation, sent as `{"error": message}`.
    pub message: String,
    /// Machine-readable kind (one of [`codes`]), sent as `"code"` when set.
    pub code: Option<&'static str>,
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong and what to fix.
    pub error: String,
    /// What kind of failure it is, for programs (one of [`codes`]); absent
    /// for the others (and from older executors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl ApiError {
    /// An error with an explicit status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            code: None,
        }
    }

    /// The same error with the machine-readable `code` (one of [`codes`]).
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 500 Internal Server Error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// A request body that could not be read (too large or broken).
    pub fn from_body(rejection: BytesRejection, limit: usize) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(limit)
        } else {
            Self::new(
                rejection.status(),
                format!("cannot read the request body: {}", rejection.body_text()),
            )
        }
    }

    /// A `multipart/form-data` body that could not be read.
    pub fn from_multipart(error: MultipartError, limit: usize) -> Self {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(limit)
        } else {
            // axum answers a body that could not be read (a broken chunked
            // encoding, a client that went away mid-upload) with 500: it
            // is the request's fault, not the executor's.
            let status = match error.status() {
                s if s.is_server_error() => StatusCode::BAD_REQUEST,
                s => s,
            };
            Self::new(
                status,
                format!("malformed multipart body: {}", error.body_text()),
            )
        }
    }

    /// A path segment that could not be decoded.
    pub fn from_path(rejection: PathRejection) -> Self {
        Self::bad_request(format!("bad path: {}", rejection.body_text()))
    }

    /// A query string that does not parse.
    pub fn from_query(rejection: QueryRejection) -> Self {
        Self::bad_request(format!("bad query string: {}", rejection.body_text()))
    }
}

/// A body read with a length limit (`axum::body::to_bytes`) that failed:
/// 413 when the limit was passed, 400 otherwise.
pub(crate) fn unreadable_body(error: &axum::Error, limit: usize) -> ApiError {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    // Bounded by the chain's length.
    while let Some(e) = next {
        if e.is::<http_body_util::LengthLimitError>() {
            return too_large(limit);
        }
        next = e.source();
    }
    ApiError::bad_request(format!("cannot read the request body: {error}"))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than the limit of {limit} bytes for this route"),
    )
}

/// The HTTP status for an executor error.
pub fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::UnknownComponent(_) | Error::UnknownWorker(_) | Error::UnknownFunction(_) => {
            StatusCode::NOT_FOUND
        }
        Error::InvalidComponent(_)
        | Error::BadParams { .. }
        | Error::Unsupported(_)
        | Error::GuestRequestRefused(_) => StatusCode::BAD_REQUEST,
        Error::WorkerExists(_)
        | Error::ComponentChanged { .. }
        | Error::WorkerReplaced(_)
        | Error::WorkerRunsOtherComponent { .. }
        | Error::WorkerHasOtherSettings { .. }
        | Error::WorkerFailed { .. }
        | Error::Interrupted(_)
        | Error::IdempotencyKeyReused { .. } => StatusCode::CONFLICT,
        // Only a shutdown stops an invocation without finishing it: retry
        // (with the same idempotency key) once the executor is back.
        Error::InvocationStopped { .. }
        | Error::InvocationPending { .. }
        | Error::HostResources(_)
        // A worker this executor cannot load under its memory limit (the
        // limit was lowered since it grew): like the gRPC door's
        // RESOURCE_EXHAUSTED, a resource this executor lacks, not a fault.
        | Error::MemoryLimit { .. }
        | Error::NotServedHere { .. }
        // Retry with the same idempotency key: it runs once either way.
        | Error::CommitOutcomeUnknown { .. }
        | Error::Internal(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Oplog(reprise_oplog::Error::WorkerNotFound { .. }) => StatusCode::NOT_FOUND,
        Error::Oplog(
            reprise_oplog::Error::StaleOwner { .. }
            | reprise_oplog::Error::ForgottenUncommitted { .. },
        ) => StatusCode::CONFLICT,
        Error::Oplog(reprise_oplog::Error::InvalidId { .. }) => StatusCode::BAD_REQUEST,
        Error::Oplog(_)
        | Error::Io { .. }
        | Error::DamagedComponent { .. }
        | Error::Divergence { .. }
        | Error::UnreadableRecord { .. }
        | Error::MalformedOplog { .. }
        | Error::CommitFailed { .. }
        | Error::Wasm(_) => StatusCode::INTERNAL_SERVER_ERROR,
        // Variants added to the executor later are server errors until mapped here.
        #[allow(unreachable_patterns)]
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let status = status_of(&error);
        let message = match &error {
            Error::Oplog(reprise_oplog::Error::WorkerNotFound { worker_id }) => {
                format!("unknown worker {worker_id}")
            }
            other => other.to_string(),
        };
        let code = match &error {
            Error::CommitOutcomeUnknown { .. } => Some(codes::OUTCOME_UNKNOWN),
            Error::InvocationPending { .. } => Some(codes::INVOCATION_PENDING),
            _ => None,
        };
        ApiError {
            status,
            message,
            code,
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(error: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("the request's task failed: {error}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, error = %self.message, "request failed");
        } else {
            tracing::debug!(status = %self.status, error = %self.message, "request rejected");
        }
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
                code: self.code.map(str::to_owned),
            }),
        )
            .into_response()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: ApiError) -> serde_json::Value {
        let response = error.into_response();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn an_unknown_outcome_carries_its_code_and_other_errors_none() {
        let unknown = ApiError::from(Error::CommitOutcomeUnknown {
            worker: reprise_oplog::WorkerId::new("w").unwrap(),
            message: "PostgreSQL did not answer within 30000 ms".into(),
            key: None,
        });
        assert_eq!(unknown.status, StatusCode::SERVICE_UNAVAILABLE);
        let body = body_of(unknown).await;
        assert_eq!(body["code"], "outcome_unknown", "{body}");
        assert!(body["error"].as_str().unwrap().contains("is unknown"));

        // The field is left out, not null: bodies stay as they were.
        let body = body_of(ApiError::not_found("unknown worker w")).await;
        assert_eq!(body, serde_json::json!({"error": "unknown worker w"}));
    }
}
