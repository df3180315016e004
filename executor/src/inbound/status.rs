//! How executor errors and invocation outcomes become gRPC statuses on the
//! inbound front door (documented in docs/inbound-grpc.md):
//!
//! | outcome | status |
//! |---|---|
//! | bad message, bad metadata, bad parameters | `INVALID_ARGUMENT` |
//! | unknown worker or component | `NOT_FOUND` |
//! | the worker's component does not serve the rpc | `UNIMPLEMENTED` |
//! | guest trap | `INTERNAL`, with the trap message |
//! | failed or diverged worker | `FAILED_PRECONDITION` |
//! | interrupted worker, invocation stopped by a shutdown, lost ownership | `UNAVAILABLE` |
//! | idempotency key reused for another call | `ALREADY_EXISTS` |
//! | the worker was deleted and created with another component during the call | `ABORTED` (retry) |
//! | memory limits, host short of resources | `RESOURCE_EXHAUSTED` |
//! | the client's deadline passed | `DEADLINE_EXCEEDED` (the invocation completes) |
//! | a `result` error | the error's case name if it names a code, else `UNKNOWN` |
//! | anything else | `INTERNAL` |

use tonic::{Code, Status};

use crate::error::Error;

/// The status a failed invocation (or lookup) answers with.
pub fn status_of(error: &Error) -> Status {
    let code = match error {
        Error::UnknownComponent(_) | Error::UnknownWorker(_) => Code::NotFound,
        Error::Oplog(reprise_oplog::Error::WorkerNotFound { .. }) => Code::NotFound,
        Error::UnknownFunction(_) => Code::Unimplemented,
        Error::BadParams { .. } | Error::Oplog(reprise_oplog::Error::InvalidId { .. }) => {
            Code::InvalidArgument
        }
        Error::WorkerFailed { .. } | Error::Divergence { .. } | Error::WorkerExists(_) => {
            Code::FailedPrecondition
        }
        Error::Interrupted(_)
        | Error::Internal(_)
        | Error::NotServedHere { .. }
        | Error::InvocationStopped { .. }
        | Error::Oplog(reprise_oplog::Error::StaleOwner { .. }) => Code::Unavailable,
        Error::IdempotencyKeyReused { .. } => Code::AlreadyExists,
        // The worker appeared (with another component) between the call's
        // lookup and its creation: a retry calls the worker as it is.
        Error::ComponentChanged { .. } | Error::WorkerRunsOtherComponent { .. } => Code::Aborted,
        Error::MemoryLimit { .. } | Error::HostResources(_) => Code::ResourceExhausted,
        Error::Unsupported(_) => Code::Unimplemented,
        _ => Code::Internal,
    };
    let message = match error {
        Error::Oplog(reprise_oplog::Error::WorkerNotFound { worker_id }) => {
            format!("unknown worker {worker_id}")
        }
        other => other.to_string(),
    };
    if code == Code::Internal {
        tracing::error!(error = %message, "inbound call failed");
    }
    Status::new(code, message)
}

/// tonic answers a health or reflection request whose message does not
/// decode with `INTERNAL`, as if the server had failed; the client sent a
/// bad message, which is `INVALID_ARGUMENT` here as on the workers' rpcs.
pub(crate) async fn undecodable_is_invalid_argument(
    mut response: axum::response::Response,
) -> axum::response::Response {
    let headers = response.headers_mut();
    let internal = headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == b"13");
    let undecodable = headers.get("grpc-message").is_some_and(|v| {
        let text = v.as_bytes();
        text.starts_with(b"failed to decode") || text.starts_with(b"failed%20to%20decode")
    });
    if internal && undecodable {
        headers.insert("grpc-status", axum::http::HeaderValue::from_static("3"));
    }
    response
}
