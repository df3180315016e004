//! `GET /v1/workers/{id}/oplog`: pages of a worker's oplog rendered as JSON.
//!
//! Every entry becomes `{"index", "timestamp_us", "kind", ...fields}`; each
//! payload becomes `{"utf8": "..."}` when its bytes are valid UTF-8 (the
//! executor's own payloads are JSON or WAVE text) and `{"base64": "..."}`
//! otherwise; stream frames and stored statuses, which are protobuf bytes,
//! are always `{"base64": "..."}`. The requests and results of unary gRPC
//! calls, journaled as protobuf, are read back with the worker's component's
//! descriptors and shown as `{"wave": "..."}`, the guest's values.

use axum::Json;
use axum::extract::{Query, State};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reprise_oplog::{EntryKind, OplogEntry, OplogIndex, Payload};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::WorkerPath;
use crate::grpc::journaled::{self, CallDecoder};

/// Query parameters of the oplog route.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OplogQuery {
    /// First index to return (default 1).
    pub from: Option<u64>,
    /// Most entries to return (default 100, capped by the server's page limit).
    pub limit: Option<u64>,
}

/// One page of a worker's oplog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OplogPage {
    /// The worker.
    pub worker_id: String,
    /// Index of the first entry requested.
    pub from: u64,
    /// The page size used (after capping).
    pub limit: u64,
    /// Index of the worker's last entry.
    pub last_index: u64,
    /// Where the next page starts, or null when this page reaches the end.
    pub next: Option<u64>,
    /// The entries.
    pub entries: Vec<Value>,
}

/// Default page size when `limit` is not given.
pub const DEFAULT_PAGE: u64 = 100;

pub(super) async fn get_oplog(
    State(state): State<AppState>,
    WorkerPath(id): WorkerPath,
    query: Result<Query<OplogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<OplogPage>, ApiError> {
    let Query(query) = query.map_err(ApiError::from_query)?;
    let from = query.from.unwrap_or(1);
    let from_index = OplogIndex::new(from).map_err(|_| {
        ApiError::bad_request(format!(
            "`from` must be at least 1 (oplog indices start at 1), got {from}"
        ))
    })?;
    let max = state.config.max_oplog_page.max(1) as u64;
    let limit = match query.limit {
        Some(0) => return Err(ApiError::bad_request("`limit` must be at least 1")),
        Some(limit) => limit.min(max),
        None => DEFAULT_PAGE.min(max),
    };
    let oplog = state.executor.oplog();
    let last_index = match oplog.last_index(&id).await.map_err(crate::Error::from)? {
        Some(last) => last.get(),
        None => return Err(ApiError::not_found(format!("unknown worker {id}"))),
    };
    let mut entries = read_page(oplog.as_ref(), &id, from_index, limit as usize).await?;
    // Entries appended since `last_index` was read stay for the next page:
    // `next` and `last_index` describe the page as returned.
    entries.truncate(usize::try_from((last_index + 1).saturating_sub(from)).unwrap_or(usize::MAX));
    let decoder = call_decoder(&state, &id, &entries).await;
    let end = from + entries.len() as u64;
    let next = (!entries.is_empty() && end <= last_index).then_some(end);
    Ok(Json(OplogPage {
        worker_id: id.to_string(),
        from,
        limit,
        last_index,
        next,
        entries: entries
            .iter()
            .enumerate()
            .map(|(i, e)| render_entry(from + i as u64, e, decoder.as_deref()))
            .collect(),
    }))
}

/// Most payload bytes one page holds: a page ends before the entry that
/// would take it past this (it holds at least one entry). A page of 1 000
/// REST answers of 16 MiB each was read and rendered whole.
pub const PAGE_BYTES: usize = 8 << 20;

/// Most entries read from the store at a time while a page fills.
const READ_CHUNK: usize = 64;

/// Entries read first, before any size is known.
const FIRST_CHUNK: usize = 8;

/// Up to `limit` entries of `id` from `from`, ending early once their
/// payloads reach [`PAGE_BYTES`] (the page's `next` then says where to go
/// on).
async fn read_page(
    oplog: &dyn reprise_oplog::OplogStore,
    id: &reprise_oplog::WorkerId,
    from: OplogIndex,
    limit: usize,
) -> Result<Vec<OplogEntry>, ApiError> {
    let mut entries: Vec<OplogEntry> = Vec::new();
    let mut bytes = 0usize;
    let mut next = from;
    // Bounded by `limit`: each round adds at least one entry or stops.
    while entries.len() < limit {
        // As many as the sizes seen so far say still fit (a few to start
        // with), so that big entries past the cap are seldom read at all.
        let fit = match bytes.checked_div(entries.len()) {
            None => FIRST_CHUNK,
            Some(average) => PAGE_BYTES.saturating_sub(bytes) / average.max(1),
        };
        let want = (limit - entries.len()).min(fit.clamp(1, READ_CHUNK));
        let chunk = oplog
            .read(id, next, want)
            .await
            .map_err(crate::Error::from)?;
        let got = chunk.len();
        for entry in chunk {
            let mut size = 0;
            entry.for_each_payload(|p| size += p.len());
            if !entries.is_empty() && bytes.saturating_add(size) > PAGE_BYTES {
                return Ok(entries);
            }
            bytes = bytes.saturating_add(size);
            entries.push(entry);
        }
        if got < want {
            break;
        }
        next = OplogIndex::new(next.get() + got as u64).map_err(crate::Error::from)?;
    }
    Ok(entries)
}

/// The reader of the worker's journaled gRPC calls, when the page holds
/// calls (or stream openings) journaled as protobuf. `None` (the payloads are then shown as
/// base64) when the worker's component cannot be found or modelled.
async fn call_decoder(
    state: &AppState,
    id: &reprise_oplog::WorkerId,
    entries: &[OplogEntry],
) -> Option<std::sync::Arc<CallDecoder>> {
    let binary = entries.iter().any(|e| match &e.kind {
        EntryKind::ImportedFunctionInvoked { request, .. }
        | EntryKind::StreamOpened { request, .. } => {
            request.as_bytes().first() == Some(&journaled::MARK)
        }
        _ => false,
    });
    if !binary {
        return None;
    }
    let oplog = state.executor.oplog();
    let first = oplog.read(id, OplogIndex::FIRST, 1).await.ok()?;
    let component_id = first.first()?.kind.created_component()?;
    match state.executor.call_decoder(&component_id).await {
        Ok(decoder) => Some(decoder),
        Err(e) => {
            tracing::warn!(worker = %id, error = %e, "cannot read the worker's gRPC calls back as text");
            None
        }
    }
}

/// A journaled request or result as JSON: `{"wave": ...}` when it is a
/// gRPC call's (or stream opening's) protobuf bytes that `decoder` reads back, else as
/// [`render_payload`] shows it.
fn render_call_payload(
    payload: &Payload,
    text: impl FnOnce(&CallDecoder) -> Option<String>,
    decoder: Option<&CallDecoder>,
) -> Value {
    if payload.as_bytes().first() == Some(&journaled::MARK)
        && let Some(text) = decoder.and_then(text)
    {
        return json!({ "wave": text });
    }
    render_payload(payload)
}

/// A payload as JSON: UTF-8 text when valid, base64 otherwise.
pub fn render_payload(payload: &Payload) -> Value {
    match std::str::from_utf8(payload.as_bytes()) {
        Ok(text) => json!({ "utf8": text }),
        Err(_) => json!({ "base64": STANDARD.encode(payload.as_bytes()) }),
    }
}

/// A payload holding protobuf bytes (stream frames, stored statuses): always
/// `{"base64": ...}`, even when the bytes happen to be valid UTF-8.
pub fn render_binary(payload: &Payload) -> Value {
    json!({ "base64": STANDARD.encode(payload.as_bytes()) })
}

/// One oplog entry as JSON; `decoder` reads gRPC calls and stream openings journaled as
/// protobuf back as WAVE text.
pub fn render_entry(index: u64, entry: &OplogEntry, decoder: Option<&CallDecoder>) -> Value {
    use EntryKind as K;
    let mut fields = match &entry.kind {
        K::Create {
            component_id,
            env,
            args,
            endpoint_overrides,
        } => json!({
            "component_id": component_id.to_string(),
            "env": env,
            "args": args,
            "endpoint_overrides": endpoint_overrides,
        }),
        K::CreateWithIncarnation {
            component_id,
            env,
            args,
            endpoint_overrides,
            incarnation,
        } => json!({
            "component_id": component_id.to_string(),
            "env": env,
            "args": args,
            "endpoint_overrides": endpoint_overrides,
            "incarnation": incarnation.to_string(),
        }),
        K::ExportedFunctionInvoked {
            function,
            params,
            idempotency_key,
        } => json!({
            "function": function,
            "params": render_payload(params),
            "idempotency_key": idempotency_key.as_str(),
        }),
        K::ExportedFunctionCompleted { result } => match result {
            Ok(payload) => json!({ "result": render_payload(payload) }),
            Err(message) => json!({ "error": message }),
        },
        K::ImportedFunctionInvoked {
            function,
            request,
            request_hash,
            response,
            side_effect_class,
        } => json!({
            "function": function,
            "request": render_call_payload(request, |d| d.request_text(function, request.as_bytes()), decoder),
            "request_hash": request_hash.to_string(),
            "response": render_call_payload(response, |d| d.result_text(function, response.as_bytes()), decoder),
            "side_effect_class": format!("{side_effect_class:?}"),
        }),
        K::BeginRemoteWrite | K::Interrupted | K::Resumed | K::Exited => json!({}),
        K::EndRemoteWrite { begin_index } => json!({ "begin_index": begin_index.get() }),
        K::CallAttemptFailed {
            begin_index,
            attempt,
            code,
            message,
            retry_at_ms,
            deadline_ms,
        } => json!({
            "begin_index": begin_index.get(),
            "attempt": attempt,
            "code": code,
            "message": message,
            "retry_at_ms": retry_at_ms,
            "deadline_ms": deadline_ms,
        }),
        K::Error {
            message,
            retry_from,
        } => json!({ "message": message, "retry_from": retry_from.get() }),
        K::StreamOpened {
            function,
            stream_kind,
            request,
            request_hash,
        } => json!({
            "function": function,
            "stream_kind": format!("{stream_kind:?}"),
            "request": render_call_payload(request, |d| d.request_text(function, request.as_bytes()), decoder),
            "request_hash": request_hash.to_string(),
        }),
        K::StreamFrameSent { open_index, frame } | K::StreamFrameReceived { open_index, frame } => {
            json!({ "open_index": open_index.get(), "frame": render_binary(frame) })
        }
        K::StreamClosed {
            open_index,
            code,
            message,
            details,
        } => json!({
            "open_index": open_index.get(),
            "code": code,
            "message": message,
            "details": render_binary(details),
        }),
        K::StreamSendEnded { open_index } => json!({ "open_index": open_index.get() }),
    };
    if let Value::Object(map) = &mut fields {
        map.insert("index".into(), json!(index));
        map.insert("timestamp_us".into(), json!(entry.timestamp.as_micros()));
        map.insert("kind".into(), json!(entry.kind.name()));
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_text_or_base64() {
        assert_eq!(
            render_payload(&Payload::from("[\"1\"]")),
            json!({"utf8": "[\"1\"]"})
        );
        assert_eq!(
            render_payload(&Payload::new(vec![0xff, 0x00])),
            json!({"base64": "/wA="})
        );
    }

    #[test]
    fn entries_carry_index_kind_and_fields() {
        let entry = OplogEntry {
            timestamp: reprise_oplog::Timestamp::from_micros(42),
            kind: EntryKind::Error {
                message: "boom".into(),
                retry_from: OplogIndex::FIRST,
            },
        };
        assert_eq!(
            render_entry(3, &entry, None),
            json!({"index": 3, "timestamp_us": 42, "kind": "Error", "message": "boom", "retry_from": 1})
        );
    }

    #[test]
    fn stream_frames_are_always_base64() {
        // `\n\x01a` is valid UTF-8 but protobuf bytes all the same.
        let entry = OplogEntry {
            timestamp: reprise_oplog::Timestamp::from_micros(7),
            kind: EntryKind::StreamFrameReceived {
                open_index: OplogIndex::FIRST,
                frame: Payload::new(b"\n\x01a".to_vec()),
            },
        };
        assert_eq!(
            render_entry(2, &entry, None),
            json!({"index": 2, "timestamp_us": 7, "kind": "StreamFrameReceived",
                   "open_index": 1, "frame": {"base64": "CgFh"}})
        );
    }
}
