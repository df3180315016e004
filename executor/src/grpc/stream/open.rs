//! The opener of a streaming method (`list-features(request, options)`,
//! `record-route(options)`, ...): replays a recorded opening, or commits
//! `StreamOpened` and starts the call, and hands the guest a resource. A
//! server-streaming request is journaled as protobuf, in the form of unary
//! requests ([`journaled`]), and sent as those bytes; openings an older
//! executor journaled as WAVE text still replay.

use std::sync::Arc;

use reprise_grpc_stub::RpcStatus;
use reprise_grpc_stub::bridge::call_options_from_val;
use reprise_grpc_stub::client::CallOptions;
use reprise_grpc_stub::model::{CallKind, Param};
use reprise_grpc_stub::status::Code;
use reprise_oplog::{EntryKind, Payload, RequestHash};
use wasmtime::StoreContextMut;
use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{ResourceDynamic, Val, wasm_wave};

use super::counters::{COUNTERS, StreamEvent};
use super::{LiveCall, Phase, StreamSlot, status_err, stream_kind};
use crate::durable::{CallRequest, StreamOpenReplay};
use crate::grpc::call::{MethodBinding, host_error, recorded_result, request_text, single_result};
use crate::grpc::{GrpcView, journaled, retry};

/// What the opener made of the guest's arguments.
struct OpenRequest {
    /// The journaled request: for server streaming, the request message as
    /// protobuf with the call options ([`journaled`]'s request form); for
    /// the other kinds, whose opener takes only options, their WAVE text.
    payload: Vec<u8>,
    /// Server streaming: the request message's protobuf bytes, as sent.
    message: Option<Vec<u8>>,
    options: CallOptions,
}

fn decode_request(
    binding: &MethodBinding,
    params: &[Val],
) -> wasmtime::Result<Result<OpenRequest, RpcStatus>> {
    let bad = |what: &str, e: reprise_grpc_stub::Error| {
        RpcStatus::new(
            Code::InvalidArgument,
            format!(
                "cannot encode the {what} of `{}`: {e}",
                binding.journal_name
            ),
        )
    };
    let method = binding.method();
    if method.kind == CallKind::ServerStreaming {
        return Ok(
            match journaled::encode_request(&binding.model, method, params) {
                Ok(request) => Ok(OpenRequest {
                    message: Some(request.message().to_vec()),
                    payload: request.payload,
                    options: request.options,
                }),
                Err(e) => Err(bad("request", e)),
            },
        );
    }
    let payload = request_text(params)?.into_bytes();
    let shape = method.opener_shape();
    let options = match shape.position(Param::Options).and_then(|i| params.get(i)) {
        Some(value) => match call_options_from_val(value) {
            Ok(options) => options,
            Err(e) => return Ok(Err(bad("call options", e))),
        },
        None => CallOptions::new(),
    };
    Ok(Ok(OpenRequest {
        payload,
        message: None,
        options,
    }))
}

/// The deadline of a call opened at `opened_ms` (ms since the Unix epoch)
/// with `options`: the guest's own, if it gave one.
fn deadline_from(opened_ms: u64, options: &CallOptions) -> Option<u64> {
    options.timeout.map(|timeout| {
        opened_ms.saturating_add(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
    })
}

/// Implements the host function opening a streaming call.
pub async fn open_stream<T: GrpcView>(
    mut store: StoreContextMut<'_, T>,
    binding: &Arc<MethodBinding>,
    resource_type: u32,
    ty: ComponentFunc,
    params: &[Val],
    results: &mut [Val],
) -> wasmtime::Result<()> {
    let name = &binding.journal_name;
    let result_ty = single_result(binding, &ty, results)?;
    let kind = stream_kind(binding.method().kind)
        .ok_or_else(|| host_error(format!("`{name}` is not a streaming method")))?;
    let decoded = decode_request(binding, params)?;
    // What the opening is journaled as: the request when it could be
    // encoded, else (nothing is sent then) the arguments' WAVE text.
    let legacy = || journaled::legacy_request_text(params);
    let unencodable = if decoded.is_err() {
        legacy()
    } else {
        Vec::new()
    };
    let journaled_request: &[u8] = match &decoded {
        Ok(request) => &request.payload,
        Err(_) => &unencodable,
    };

    let ctx = store.data_mut().grpc();
    let durable = ctx.durable.clone();

    if ctx.streams.len() >= super::MAX_OPEN_STREAMS {
        // Deterministic (the count replays identically), so not journaled.
        results[0] = status_err(&RpcStatus::new(
            Code::ResourceExhausted,
            format!(
                "this worker already holds {} open streams; drop some before opening `{name}`",
                super::MAX_OPEN_STREAMS
            ),
        ));
        return Ok(());
    }

    let slot = match durable.journal().replay_stream_open(
        name,
        CallRequest::new(journaled_request).or_formerly(&legacy),
    )? {
        StreamOpenReplay::Failed(payload) => {
            results[0] = recorded_result(binding, &result_ty, payload.as_bytes())?;
            return Ok(());
        }
        StreamOpenReplay::Opened(open_index, opened_at) => {
            let mut options = decoded.map(|d| d.options).unwrap_or_default();
            options.idempotency_key = Some(durable.call_key(open_index).to_string());
            // The deadline counts from the journaled opening: a re-issue
            // after a restart gets only what is left of it.
            let deadline_ms = deadline_from(opened_at.as_micros() / 1_000, &options);
            StreamSlot {
                binding: binding.clone(),
                open_index,
                options,
                phase: Phase::Replayed,
                sent: Vec::new(),
                received: 0,
                response: None,
                request: None,
                attempts: 1,
                deadline_ms,
                send_closed: false,
            }
        }
        StreamOpenReplay::Live => {
            let prepared = match decoded {
                Ok(request) => match ctx.client(&binding.dependency) {
                    Ok(client) => Ok((client, request)),
                    Err(status) => Err((status, request.payload)),
                },
                Err(status) => Err((status, unencodable)),
            };
            let (client, request) = match prepared {
                Ok(prepared) => prepared,
                Err((status, journaled_request)) => {
                    // Nothing reached the network: journal the opener's error
                    // like a unary result, so replay returns it again.
                    let value = status_err(&status);
                    let response = wasm_wave::to_string(&value)
                        .map_err(|e| host_error(format!("cannot journal the result: {e}")))?;
                    durable.record_unsent(name, journaled_request, response.into_bytes());
                    results[0] = value;
                    return Ok(());
                }
            };
            let open_index = durable
                .commit_entry(EntryKind::StreamOpened {
                    function: name.clone(),
                    stream_kind: kind,
                    request_hash: RequestHash::of(&request.payload),
                    request: Payload::new(request.payload),
                })
                .await?;
            let mut options = request.options;
            options.idempotency_key = Some(durable.call_key(open_index).to_string());
            let deadline_ms = deadline_from(retry::now_ms(), &options);
            let descriptor = &binding.method().descriptor;
            // Kept only to open the call again, which only a retry policy does.
            let kept = if binding.dependency.retry.is_some() {
                request.message.clone()
            } else {
                None
            };
            let started = match (binding.method().kind, request.message) {
                (CallKind::ServerStreaming, Some(message)) => client
                    .server_streaming_encoded(descriptor, message, &options)
                    .map(LiveCall::Server),
                (CallKind::ClientStreaming, _) => client
                    .client_streaming(descriptor, &options)
                    .map(LiveCall::Client),
                (CallKind::Bidi, _) => client
                    .bidi_streaming_raw(descriptor, &options)
                    .map(LiveCall::Bidi),
                _ => Err(RpcStatus::new(
                    Code::Internal,
                    format!("`{name}` has no request to start the call with"),
                )),
            };
            let phase = match started {
                Ok(call) => {
                    COUNTERS.count(StreamEvent::Opened);
                    Phase::Live(call)
                }
                // The guest gets its stream; its first step journals the
                // close and reports this. (Journaled here, the close came
                // before any call the guest made between the two, where
                // replay, which reads it at that first step, diverged.)
                Err(status) => Phase::Failed(status),
            };
            StreamSlot {
                binding: binding.clone(),
                open_index,
                options,
                phase,
                sent: Vec::new(),
                received: 0,
                response: None,
                request: kept,
                attempts: 1,
                deadline_ms,
                send_closed: false,
            }
        }
    };

    let Some(rep) = ctx.streams.insert(slot) else {
        return Err(host_error(format!(
            "`{name}`: the worker ran out of stream handles"
        )));
    };
    let resource =
        ResourceDynamic::new_own(rep, resource_type).try_into_resource_any(&mut store)?;
    results[0] = Val::Result(Ok(Some(Box::new(Val::Resource(resource)))));
    Ok(())
}
