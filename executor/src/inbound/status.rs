//! How executor errors and invocation outcomes become gRPC statuses on the
//! inbound front door (documented in docs/inbound-grpc.md):
//!
//! | outcome | status |
//! |---|---|
//! | bad message, bad metadata, bad parameters | `INVALID_ARGUMENT` |
//! | unknown worker or component | `NOT_FOUND` |
//! | the worker's component (or, with no worker named, any) does not serve the rpc | `UNIMPLEMENTED` |
//! | guest trap | `INTERNAL`, with the trap message |
//! | failed or diverged worker | `FAILED_PRECONDITION` |
//! | interrupted worker, lost ownership | `UNAVAILABLE` |
//! | invocation stopped by a shutdown (it finishes at the next start) | `UNKNOWN`, naming its idempotency key |
//! | idempotency key reused for another call | `ALREADY_EXISTS` |
//! | the worker was deleted and created with another component during the call | `ABORTED` (retry) |
//! | memory limits, host short of resources | `RESOURCE_EXHAUSTED` |
//! | the client's deadline passed | `DEADLINE_EXCEEDED` (the invocation completes) |
//! | a `result` error | the error's case name if it names a code, else `UNKNOWN` |
//! | anything else | `INTERNAL` |
//!
//! A status message longer than [`MAX_MESSAGE`] bytes is cut there.

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
        Error::WorkerFailed { .. }
        | Error::Divergence { .. }
        | Error::UnreadableRecord { .. }
        | Error::WorkerExists(_) => Code::FailedPrecondition,
        Error::Interrupted(_)
        | Error::Internal(_)
        | Error::NotServedHere { .. }
        | Error::InvocationStopped { .. }
        | Error::Oplog(
            reprise_oplog::Error::StaleOwner { .. }
            | reprise_oplog::Error::ForgottenUncommitted { .. },
        ) => Code::Unavailable,
        // Not UNAVAILABLE, which gRPC clients may retry by themselves
        // (without the idempotency key, a retry could run it twice): the
        // message names the key to retry with.
        Error::CommitOutcomeUnknown { .. } | Error::InvocationPending { .. } => Code::Unknown,
        Error::IdempotencyKeyReused { .. } => Code::AlreadyExists,
        // The worker appeared (with another component) between the call's
        // lookup and its creation: a retry calls the worker as it is.
        Error::ComponentChanged { .. }
        | Error::WorkerReplaced(_)
        | Error::WorkerRunsOtherComponent { .. }
        | Error::WorkerHasOtherSettings { .. } => Code::Aborted,
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
    let mut status = Status::new(code, message);
    let key = match error {
        Error::CommitOutcomeUnknown { key, .. } => key.as_ref(),
        Error::InvocationPending { key, .. } => Some(key),
        _ => None,
    };
    if let Some(key) = key {
        with_key(&mut status, key);
    }
    status
}

/// Adds the invocation's idempotency key to `status` as metadata
/// `idempotency-key`, for a client to retry with.
pub(crate) fn with_key(status: &mut Status, key: &reprise_oplog::IdempotencyKey) {
    if let Ok(value) = key.as_str().parse() {
        status
            .metadata_mut()
            .insert(crate::inbound::IDEMPOTENCY_METADATA, value);
    }
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

/// Most bytes of a status message's text the front door sends. Messages may
/// quote what the client sent (a path, a metadata value, a field's text),
/// and gRPC clients drop a status whose metadata outgrows their limit
/// (8 KiB in grpc-core by default) for an unrelated `RESOURCE_EXHAUSTED`.
pub(crate) const MAX_MESSAGE: usize = 1024;

/// Most bytes of an encoded `google.rpc.Status` the front door sends in
/// `grpc-status-details-bin` (base64 makes it a third larger): with a
/// [`MAX_MESSAGE`] message beside it, the status stays well within the
/// 8 KiB of metadata grpc-core and grpc-java accept by default.
pub(crate) const MAX_DETAILS: usize = 3 * 1024;

/// `text` if it is at most `max` bytes; else its first bytes up to a
/// character boundary, then `... (N more bytes)`, at most `max` bytes in
/// all (so cutting again changes nothing).
pub(crate) fn cut_text(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    // The note's length with the most digits N can have.
    let note = "... ( more bytes)".len() + text.len().to_string().len();
    let mut cut = max.saturating_sub(note);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    std::borrow::Cow::Owned(format!(
        "{}... ({} more bytes)",
        &text[..cut],
        text.len() - cut
    ))
}

/// The characters `grpc-message` percent-encodes: all but printable ASCII,
/// and `%` itself.
const GRPC_MESSAGE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');

/// Cuts a `grpc-message` over [`MAX_MESSAGE`] bytes of text at a character
/// boundary, saying how much was left out.
pub(crate) async fn bounded_message(
    mut response: axum::response::Response,
) -> axum::response::Response {
    let headers = response.headers_mut();
    let Some(value) = headers.get("grpc-message") else {
        return response;
    };
    if value.len() <= MAX_MESSAGE {
        return response;
    }
    let text = percent_encoding::percent_decode(value.as_bytes()).decode_utf8_lossy();
    if text.len() <= MAX_MESSAGE {
        return response;
    }
    let shown = cut_text(&text, MAX_MESSAGE);
    let encoded = percent_encoding::utf8_percent_encode(&shown, GRPC_MESSAGE).to_string();
    if let Ok(value) = axum::http::HeaderValue::from_str(&encoded) {
        headers.insert("grpc-message", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_outcome_is_not_a_status_clients_retry_by_themselves() {
        let error = Error::CommitOutcomeUnknown {
            worker: reprise_oplog::WorkerId::new("w").unwrap(),
            message: "no answer".into(),
            key: Some(reprise_oplog::IdempotencyKey::new("k1").unwrap()),
        };
        let status = status_of(&error);
        assert_eq!(status.code(), Code::Unknown);
        assert!(status.message().contains("k1"), "{}", status.message());
    }

    #[tokio::test]
    async fn a_long_message_is_cut_at_a_character_boundary() {
        let text = format!("x{}", "é".repeat(2_000));
        let encoded = percent_encoding::utf8_percent_encode(&text, GRPC_MESSAGE).to_string();
        let mut response = axum::response::Response::new(axum::body::Body::empty());
        response
            .headers_mut()
            .insert("grpc-message", encoded.parse().unwrap());
        let response = bounded_message(response).await;
        let sent = response.headers()["grpc-message"].as_bytes();
        let shown = percent_encoding::percent_decode(sent)
            .decode_utf8()
            .unwrap();
        assert!(shown.starts_with("xéé"), "{shown}");
        assert!(shown.ends_with("é... (2998 more bytes)"), "{shown}");
        // Within the limit, note included: cutting again changes nothing
        // (the message inside a status's details is cut the same way).
        assert!(shown.len() <= MAX_MESSAGE, "{}", shown.len());
        assert_eq!(cut_text(&shown, MAX_MESSAGE), shown);
    }
}
