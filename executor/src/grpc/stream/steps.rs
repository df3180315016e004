//! The methods of stream resources (`next`, `send`, `finish`, `close-send`,
//! `cancel`) and their destructor, each replayed from the oplog or performed
//! live and journaled (see the parent module for the entries).

use prost_reflect::DynamicMessage;
use reprise_grpc_stub::bridge::{canonical_encode, request_from_val, response_bytes_to_val};
use reprise_grpc_stub::model::{CallKind, NextItem, StreamOp};
use reprise_grpc_stub::status::Code;
use reprise_grpc_stub::{Error as BridgeError, RpcStatus};
use reprise_oplog::{EntryKind, Payload};
use wasmtime::StoreContextMut;
use wasmtime::component::{ResourceDynamic, Val};

use super::counters::{COUNTERS, StreamEvent};
use super::{
    LiveCall, PATIENCE, Phase, SPILL_AT, StreamSlot, close_durably, closed_entry, interrupted,
    status_of_closed, unit_result,
};
use crate::durable::FailedAttempt;
use crate::durable::Recorded;
use crate::error::Error;
use crate::grpc::call::{host_error, unless_stopped};
use crate::grpc::journaled::undecodable;
use crate::grpc::{GrpcContext, GrpcView, retry};
use crate::worker::limits::RunLimits;

fn malformed(ctx: &GrpcContext, recorded: &Recorded, message: String) -> wasmtime::Error {
    wasmtime::Error::new(Error::MalformedOplog {
        worker: ctx.durable.worker().clone(),
        index: recorded.index,
        message,
    })
}

fn divergence(ctx: &GrpcContext, recorded: &Recorded, attempted: String) -> wasmtime::Error {
    wasmtime::Error::new(Error::Divergence {
        worker: ctx.durable.worker().clone(),
        index: recorded.index,
        recorded: crate::durable::describe_with_stream(&recorded.entry.kind),
        attempted,
    })
}

/// Implements a resource method: `params[0]` is the borrowed handle.
pub async fn stream_method<T: GrpcView>(
    mut store: StoreContextMut<'_, T>,
    op: StreamOp,
    resource_type: u32,
    params: &[Val],
    results: &mut [Val],
) -> wasmtime::Result<()> {
    let Some(Val::Resource(handle)) = params.first() else {
        return Err(host_error(format!(
            "`{}` expects a stream handle as its first argument",
            op.wit_name()
        )));
    };
    let handle = ResourceDynamic::try_from_resource_any(*handle, &mut store)?;
    if handle.ty() != resource_type {
        return Err(host_error(format!(
            "`{}` was given a handle of another resource type",
            op.wit_name()
        )));
    }
    let rep = handle.rep();
    // Every wait on the network races the invocation's stop (interrupt,
    // delete, shutdown, time budget), as unary calls do.
    let limits = store.data().run_limits();
    let ctx = store.data_mut().grpc();
    let mut slot = ctx
        .streams
        .take(rep)
        .ok_or_else(|| host_error(format!("`{}` on an unknown stream handle", op.wit_name())))?;
    let outcome = match op {
        StreamOp::Next => next(ctx, &mut slot, limits).await,
        StreamOp::Send => send(ctx, &mut slot, params.get(1), limits).await,
        StreamOp::Finish => finish(ctx, &mut slot, limits).await,
        StreamOp::CloseSend => close_send(ctx, &mut slot).await.map(Some),
        StreamOp::Cancel => cancel(ctx, &mut slot).map(|()| None),
    };
    ctx.streams.put_back(rep, slot);
    if let Some(value) = outcome? {
        let first = results
            .first_mut()
            .ok_or_else(|| host_error(format!("`{}` has no result slot", op.wit_name())))?;
        *first = value;
    }
    Ok(())
}

/// The destructor of every stream resource: cancels a call still open.
pub async fn drop_stream<T: GrpcView>(
    mut store: StoreContextMut<'_, T>,
    rep: u32,
) -> wasmtime::Result<()> {
    let ctx = store.data_mut().grpc();
    let Some(mut slot) = ctx.streams.take(rep) else {
        return Ok(());
    };
    cancel(ctx, &mut slot)
}

/// Describes a step on `slot` for divergence messages, lazily (only a
/// divergence pays for the formatting).
fn step_description(slot: &StreamSlot, what: &'static str) -> impl Fn() -> String + use<> {
    let (binding, open) = (slot.binding.clone(), slot.open_index);
    move || {
        format!(
            "{what} the `{}` stream opened at index {open}",
            binding.journal_name
        )
    }
}

/// The status of a recorded `StreamClosed` (`None`: a successful end).
fn recorded_close(ctx: &GrpcContext, recorded: &Recorded) -> wasmtime::Result<Option<RpcStatus>> {
    match &recorded.entry.kind {
        EntryKind::StreamClosed {
            code,
            message,
            details,
            ..
        } => status_of_closed(*code, message, details)
            .map_err(|e| malformed(ctx, recorded, format!("the recorded status: {e}"))),
        other => Err(malformed(
            ctx,
            recorded,
            format!(
                "expected the end of a stream, found {}",
                crate::durable::describe(other)
            ),
        )),
    }
}

/// The guest value of a response frame for `next`: `option<resp>`, or
/// `bool` for an empty response message.
fn next_value(slot: &StreamSlot, frame: Option<&[u8]>) -> Result<Val, BridgeError> {
    let method = slot.binding.method();
    if method.next_item() == NextItem::Flag {
        return Ok(Val::Bool(frame.is_some()));
    }
    match frame {
        None => Ok(Val::Option(None)),
        Some(bytes) => {
            let value =
                response_bytes_to_val(&slot.binding.model, method, bytes)?.ok_or_else(no_value)?;
            Ok(Val::Option(Some(Box::new(value))))
        }
    }
}

/// A response message whose bridge gave no value (the model says it has one).
fn no_value() -> BridgeError {
    BridgeError::InvalidValue {
        path: "response".into(),
        reason: "the response has no value".into(),
    }
}

/// A host failure for a response that does not fit its WIT type.
fn bridge_failure(error: BridgeError) -> wasmtime::Error {
    host_error(error.to_string())
}

fn ok(value: Val) -> Val {
    Val::Result(Ok(Some(Box::new(value))))
}

/// What `next` (and `finish`) answer on a closed stream.
fn closed_next(slot: &StreamSlot, status: Option<&RpcStatus>) -> Result<Val, BridgeError> {
    match status {
        None => next_value(slot, None).map(ok),
        Some(status) => Ok(super::status_err(status)),
    }
}

/// A server-streaming call that failed before its first response, opened
/// again while the dependency's retry policy allows (same key; each failed
/// attempt journaled before the back-off, which for a stream is capped at
/// the policy's `max-backoff` even when the server asks for longer). The
/// deadline the guest gave the call bounds all attempts: no attempt starts
/// after it, and each gets only the time left. Returns the first outcome
/// that is not retried.
async fn retry_opening(
    ctx: &mut GrpcContext,
    slot: &mut StreamSlot,
    mut status: RpcStatus,
    limits: Option<RunLimits>,
) -> wasmtime::Result<Result<Option<Vec<u8>>, RpcStatus>> {
    let Some(policy) = slot.binding.dependency.retry.clone() else {
        return Ok(Err(status));
    };
    let Some(request) = slot.request.clone() else {
        return Ok(Err(status));
    };
    // Bounded by the policy's attempts (at most 100).
    loop {
        // The guest's deadline bounds all attempts, as for unary calls.
        let remaining = slot.time_left();
        let delay = match retry::next(
            &policy,
            &status,
            slot.attempts,
            remaining,
            retry::random_unit(),
        ) {
            retry::Next::RetryAfter(delay) => {
                delay.min(std::time::Duration::from_millis(policy.max_backoff_ms))
            }
            retry::Next::GiveUp { exhausted } => {
                if exhausted {
                    retry::COUNTERS.exhausted();
                }
                return Ok(Err(status));
            }
        };
        let retry_at_ms =
            retry::now_ms().saturating_add(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        ctx.durable
            .failed_attempt(
                slot.open_index,
                u32::try_from(status.code.as_i32()).unwrap_or(2),
                status.message.clone(),
                FailedAttempt {
                    attempt: slot.attempts,
                    retry_at_ms,
                    deadline_ms: slot.deadline_ms,
                },
            )
            .await?;
        retry::COUNTERS.retried();
        unless_stopped(limits.clone(), tokio::time::sleep(delay)).await?;
        slot.attempts += 1;
        let client = match ctx.client(&slot.binding.dependency) {
            Ok(client) => client,
            Err(status) => return Ok(Err(status)),
        };
        let descriptor = &slot.binding.method().descriptor;
        let options = slot.attempt_options();
        let mut call = match client.server_streaming_encoded(descriptor, request.clone(), &options)
        {
            Ok(call) => call,
            Err(failed) => {
                status = failed;
                continue;
            }
        };
        match unless_stopped(limits.clone(), call.next()).await? {
            Err(failed) => status = failed,
            outcome => {
                slot.phase = Phase::Live(LiveCall::Server(call));
                return Ok(outcome);
            }
        }
    }
}

/// Makes a replayed stream live for its first live step. A client-streaming
/// call is re-issued with the same idempotency key and its recorded frames;
/// a server or bidi stream cannot be resumed and is closed with
/// [`interrupted`].
async fn go_live(
    ctx: &mut GrpcContext,
    slot: &mut StreamSlot,
    limits: Option<RunLimits>,
) -> wasmtime::Result<()> {
    if !matches!(slot.phase, Phase::Replayed) {
        return Ok(());
    }
    let method = slot.binding.method();
    if method.kind != CallKind::ClientStreaming {
        tracing::info!(worker = %ctx.durable.worker(), function = %slot.binding.journal_name,
            received = slot.received, "a stream open at a restart cannot be resumed; failing it with unavailable");
        let status = interrupted(&slot.binding, slot.received);
        COUNTERS.count(StreamEvent::Interrupted);
        return close_durably(ctx, slot, Some(status)).await;
    }
    tracing::info!(worker = %ctx.durable.worker(), function = %slot.binding.journal_name,
        frames = slot.sent.len(), key = ?slot.options.idempotency_key,
        "re-issuing a client-streaming call interrupted by a restart with its original idempotency key");
    // Within what is left of the deadline the guest gave the call.
    let options = slot.attempt_options();
    let reissued = unless_stopped(limits, async {
        let client = ctx.client(&slot.binding.dependency)?;
        let mut call = client.client_streaming(&method.descriptor, &options)?;
        for frame in &slot.sent {
            let message = DynamicMessage::decode(method.descriptor.input(), frame.as_slice())
                .map_err(|e| {
                    RpcStatus::new(
                        Code::Internal,
                        format!("a recorded request frame does not decode: {e}"),
                    )
                })?;
            if let Err(status) = call.send(message).await {
                // A server that answers before it has every frame (one
                // that knows the idempotency key, say): `finish` has it.
                if call.ended_by_server() {
                    break;
                }
                return Err(status);
            }
        }
        Ok::<_, RpcStatus>(call)
    })
    .await?;
    let mut call = match reissued {
        Ok(call) => call,
        Err(status) => return close_durably(ctx, slot, Some(status)).await,
    };
    COUNTERS.count(StreamEvent::Reissued);
    slot.sent.clear();
    if !call.ended_by_server() {
        slot.phase = Phase::Live(LiveCall::Client(call));
        return Ok(());
    }
    // Known to the handle already: answers at once. The step that made the
    // stream live answers from the closed stream, as its replay will.
    match call.finish().await {
        Ok(response) => record_answer(ctx, slot, &response.message)
            .await
            .map(|_| ()),
        Err(status) => close_durably(ctx, slot, Some(status)).await,
    }
}

async fn next(
    ctx: &mut GrpcContext,
    slot: &mut StreamSlot,
    limits: Option<RunLimits>,
) -> wasmtime::Result<Option<Val>> {
    if let Phase::Closed(status) = &slot.phase {
        return closed_next(slot, status.as_ref())
            .map(Some)
            .map_err(bridge_failure);
    }
    let attempted = step_description(slot, "`next` on");
    if let Some(recorded) = ctx
        .durable
        .journal()
        .replay_stream_step(slot.open_index, &attempted)?
    {
        return match &recorded.entry.kind {
            EntryKind::StreamFrameReceived { frame, .. } => {
                slot.received += 1;
                let value = next_value(slot, Some(frame.as_bytes()))
                    .map_err(|e| malformed(ctx, &recorded, format!("recorded response: {e}")))?;
                Ok(Some(ok(value)))
            }
            EntryKind::StreamClosed { .. } => {
                let status = recorded_close(ctx, &recorded)?;
                let value = closed_next(slot, status.as_ref()).map_err(bridge_failure)?;
                slot.close(status);
                Ok(Some(value))
            }
            _ => Err(divergence(ctx, &recorded, attempted())),
        };
    }
    go_live(ctx, slot, limits.clone()).await?;
    // Reading is cancel-safe: a wait cut short by the timeout loses nothing.
    let received = match &mut slot.phase {
        Phase::Live(call) => {
            let waited = match tokio::time::timeout(PATIENCE, call.next()).await {
                Ok(received) => received,
                Err(_) => {
                    ctx.durable.commit_if_needed().await?;
                    unless_stopped(limits.clone(), call.next()).await?
                }
            };
            waited
                .ok_or_else(|| host_error(format!("{}: this stream has no `next`", attempted())))?
        }
        Phase::Closed(status) => {
            let status = status.clone();
            return closed_next(slot, status.as_ref())
                .map(Some)
                .map_err(bridge_failure);
        }
        _ => {
            return Err(host_error(format!(
                "{}: this stream has no `next`",
                attempted()
            )));
        }
    };
    let received = match received {
        Err(status) if slot.received == 0 && slot.request.is_some() => {
            retry_opening(ctx, slot, status, limits).await?
        }
        other => other,
    };
    match received {
        Ok(Some(frame)) => match next_value(slot, Some(&frame)) {
            Ok(value) => {
                slot.received += 1;
                COUNTERS.count(StreamEvent::FrameReceived);
                ctx.durable.record_shaping(EntryKind::StreamFrameReceived {
                    open_index: slot.open_index,
                    frame: Payload::new(frame),
                });
                ctx.durable.hand_over_at(SPILL_AT).await?;
                Ok(Some(ok(value)))
            }
            Err(e) => Ok(Some(super::status_err(
                &close_undecodable(ctx, slot, &e).await?,
            ))),
        },
        Ok(None) => {
            close_durably(ctx, slot, None).await?;
            closed_next(slot, None).map(Some).map_err(bridge_failure)
        }
        Err(status) => {
            close_durably(ctx, slot, Some(status.clone())).await?;
            Ok(Some(super::status_err(&status)))
        }
    }
}

/// What `send` answers on a closed stream.
fn closed_send(slot: &StreamSlot, status: Option<&RpcStatus>) -> Val {
    match status {
        Some(status) => super::status_err(status),
        None => super::status_err(&RpcStatus::new(
            Code::FailedPrecondition,
            format!(
                "`{}` has already completed; it takes no more requests",
                slot.binding.journal_name
            ),
        )),
    }
}

/// What `send` answers on a bidi stream whose server ended the call while
/// the guest was still sending (nothing was sent; `next` has the rest).
fn send_after_end(slot: &StreamSlot) -> Val {
    super::status_err(&RpcStatus::new(
        Code::FailedPrecondition,
        format!(
            "`{}` no longer takes requests: the server ended the call; \
             `next` returns what it sent before and its outcome",
            slot.binding.journal_name
        ),
    ))
}

async fn send(
    ctx: &mut GrpcContext,
    slot: &mut StreamSlot,
    request: Option<&Val>,
    limits: Option<RunLimits>,
) -> wasmtime::Result<Option<Val>> {
    let method = slot.binding.method();
    // Deterministic: the same value fails the same way on replay.
    let message = match request_from_val(&slot.binding.model, method, request) {
        Ok(message) => message,
        Err(e) => {
            return Ok(Some(super::status_err(&RpcStatus::new(
                Code::InvalidArgument,
                format!("cannot encode the request: {e}"),
            ))));
        }
    };
    let frame = canonical_encode(&message);
    if let Phase::Closed(status) = &slot.phase {
        return Ok(Some(closed_send(slot, status.as_ref())));
    }
    let (binding, open) = (slot.binding.clone(), slot.open_index);
    let attempted = move |frame: &[u8]| {
        format!(
            "`send` on the `{}` stream opened at index {open} (frame {})",
            binding.journal_name,
            reprise_oplog::RequestHash::of(frame)
        )
    };
    if let Some(recorded) = ctx
        .durable
        .journal()
        .replay_stream_step(slot.open_index, || attempted(&frame))?
    {
        return match &recorded.entry.kind {
            EntryKind::StreamFrameSent { frame: sent, .. } if sent.as_bytes() == frame => {
                if method.kind == CallKind::ClientStreaming {
                    slot.sent.push(frame);
                }
                Ok(Some(unit_result(Ok(()))))
            }
            EntryKind::StreamClosed { .. } => {
                let status = recorded_close(ctx, &recorded)?;
                let value = closed_send(slot, status.as_ref());
                slot.close(status);
                Ok(Some(value))
            }
            EntryKind::StreamSendEnded { .. } if method.kind == CallKind::Bidi => {
                Ok(Some(send_after_end(slot)))
            }
            // A client stream the server answered before the guest stopped
            // sending: the answer, then the end.
            EntryKind::StreamFrameReceived { frame: answer, .. }
                if method.kind == CallKind::ClientStreaming =>
            {
                slot.response = Some(answer.as_bytes().to_vec());
                slot.received += 1;
                replay_close_after_answer(ctx, slot, &|| attempted(&frame)).await?;
                Ok(Some(closed_send(slot, None)))
            }
            _ => Err(divergence(ctx, &recorded, attempted(&frame))),
        };
    }
    go_live(ctx, slot, limits.clone()).await?;
    // What may have shaped this frame (results, received frames, clock and
    // random reads) is durable before it leaves; earlier sends need not be.
    ctx.durable.commit_if_shaping().await?;
    let outcome = match &mut slot.phase {
        Phase::Live(LiveCall::Client(call)) => unless_stopped(limits, call.send(message)).await?,
        Phase::Live(LiveCall::Bidi(call)) => unless_stopped(limits, call.send(message)).await?,
        Phase::Closed(status) => {
            let status = status.clone();
            return Ok(Some(closed_send(slot, status.as_ref())));
        }
        _ => {
            return Err(host_error(format!(
                "{}: this stream has no `send`",
                attempted(&frame)
            )));
        }
    };
    match outcome {
        Ok(()) => {
            COUNTERS.count(StreamEvent::FrameSent);
            ctx.durable.record(EntryKind::StreamFrameSent {
                open_index: slot.open_index,
                frame: Payload::new(frame),
            });
            ctx.durable.hand_over_at(SPILL_AT).await?;
            Ok(Some(unit_result(Ok(()))))
        }
        Err(status) => failed_send(ctx, slot, status).await,
    }
}

/// A live `send` that failed. When the server had already ended the call,
/// a client stream's outcome is journaled and closes the stream (`finish`
/// returns it), and a bidi stream stays open for `next` to read what the
/// server sent before its end; otherwise (the request was refused, the call
/// failed) the stream closes with `status`.
async fn failed_send(
    ctx: &mut GrpcContext,
    slot: &mut StreamSlot,
    status: RpcStatus,
) -> wasmtime::Result<Option<Val>> {
    match &mut slot.phase {
        Phase::Live(LiveCall::Client(call)) if call.ended_by_server() => {
            // Already known to the handle: answers at once.
            let outcome = call.finish().await;
            Ok(Some(match outcome {
                Ok(response) => match record_answer(ctx, slot, &response.message).await? {
                    Ok(_) => closed_send(slot, None),
                    Err(status) => super::status_err(&status),
                },
                Err(status) => {
                    close_durably(ctx, slot, Some(status.clone())).await?;
                    super::status_err(&status)
                }
            }))
        }
        Phase::Live(LiveCall::Bidi(call)) if call.ended_by_server() => {
            ctx.durable.record_shaping(EntryKind::StreamSendEnded {
                open_index: slot.open_index,
            });
            Ok(Some(send_after_end(slot)))
        }
        _ => {
            close_durably(ctx, slot, Some(status.clone())).await?;
            Ok(Some(super::status_err(&status)))
        }
    }
}

/// Journals a client stream's answer and its successful end: `finish`'s
/// value, or the status the stream closed with when the answer does not
/// fit its WIT type.
async fn record_answer(
    ctx: &mut GrpcContext,
    slot: &mut StreamSlot,
    message: &DynamicMessage,
) -> wasmtime::Result<Result<Val, RpcStatus>> {
    let frame = canonical_encode(message);
    match finish_value(slot, &frame) {
        Ok(value) => {
            slot.received += 1;
            COUNTERS.count(StreamEvent::FrameReceived);
            ctx.durable.record_shaping(EntryKind::StreamFrameReceived {
                open_index: slot.open_index,
                frame: Payload::new(frame.clone()),
            });
            slot.response = Some(frame);
            close_durably(ctx, slot, None).await?;
            Ok(Ok(value))
        }
        Err(e) => Ok(Err(close_undecodable(ctx, slot, &e).await?)),
    }
}

/// Closes `slot` durably with the `internal` status of a response that
/// does not decode (`error`), and returns that status.
async fn close_undecodable(
    ctx: &mut GrpcContext,
    slot: &mut StreamSlot,
    error: &BridgeError,
) -> wasmtime::Result<RpcStatus> {
    let status = undecodable(
        slot.binding.method(),
        ctx.endpoint_of(&slot.binding.dependency),
        error,
    );
    close_durably(ctx, slot, Some(status.clone())).await?;
    Ok(status)
}

/// Replays the successful end that follows a client stream's recorded
/// answer; if it was lost (a crash between the two), records it now.
async fn replay_close_after_answer(
    ctx: &mut GrpcContext,
    slot: &mut StreamSlot,
    attempted: &(dyn Fn() -> String + Sync),
) -> wasmtime::Result<()> {
    match ctx
        .durable
        .journal()
        .replay_stream_step(slot.open_index, attempted)?
    {
        Some(Recorded {
            entry:
                reprise_oplog::OplogEntry {
                    kind: EntryKind::StreamClosed { code: 0, .. },
                    ..
                },
            ..
        }) => {
            slot.close(None);
            Ok(())
        }
        Some(other) => Err(divergence(ctx, &other, attempted())),
        None => close_durably(ctx, slot, None).await,
    }
}

/// The guest value of `finish`'s response.
fn finish_value(slot: &StreamSlot, frame: &[u8]) -> Result<Val, BridgeError> {
    let method = slot.binding.method();
    let value = match method.response {
        None => None,
        Some(_) => {
            Some(response_bytes_to_val(&slot.binding.model, method, frame)?.ok_or_else(no_value)?)
        }
    };
    Ok(Val::Result(Ok(value.map(Box::new))))
}

fn closed_finish(slot: &StreamSlot, status: Option<&RpcStatus>) -> Result<Val, BridgeError> {
    match (status, &slot.response) {
        (Some(status), _) => Ok(super::status_err(status)),
        (None, Some(frame)) => finish_value(slot, frame),
        (None, None) => Ok(super::status_err(&RpcStatus::new(
            Code::Internal,
            format!(
                "`{}` ended without a response message",
                slot.binding.journal_name
            ),
        ))),
    }
}

async fn finish(
    ctx: &mut GrpcContext,
    slot: &mut StreamSlot,
    limits: Option<RunLimits>,
) -> wasmtime::Result<Option<Val>> {
    if let Phase::Closed(status) = &slot.phase {
        return closed_finish(slot, status.as_ref())
            .map(Some)
            .map_err(bridge_failure);
    }
    let attempted = step_description(slot, "`finish` of");
    if let Some(recorded) = ctx
        .durable
        .journal()
        .replay_stream_step(slot.open_index, &attempted)?
    {
        return match &recorded.entry.kind {
            EntryKind::StreamFrameReceived { frame, .. } => {
                slot.response = Some(frame.as_bytes().to_vec());
                slot.received += 1;
                // The close follows in the same batch.
                replay_close_after_answer(ctx, slot, &attempted).await?;
                closed_finish(slot, None)
                    .map(Some)
                    .map_err(|e| malformed(ctx, &recorded, format!("recorded response: {e}")))
            }
            EntryKind::StreamClosed { .. } => {
                let status = recorded_close(ctx, &recorded)?;
                let value = closed_finish(slot, status.as_ref()).map_err(bridge_failure)?;
                slot.close(status);
                Ok(Some(value))
            }
            _ => Err(divergence(ctx, &recorded, attempted())),
        };
    }
    go_live(ctx, slot, limits.clone()).await?;
    let outcome = match &mut slot.phase {
        Phase::Live(LiveCall::Client(call)) => {
            ctx.durable.commit_if_needed().await?;
            unless_stopped(limits, call.finish()).await?
        }
        Phase::Closed(status) => {
            let status = status.clone();
            return closed_finish(slot, status.as_ref())
                .map(Some)
                .map_err(bridge_failure);
        }
        _ => {
            return Err(host_error(format!(
                "{}: this stream has no `finish`",
                attempted()
            )));
        }
    };
    match outcome {
        Ok(response) => Ok(Some(
            match record_answer(ctx, slot, &response.message).await? {
                Ok(value) => value,
                Err(status) => super::status_err(&status),
            },
        )),
        Err(status) => {
            close_durably(ctx, slot, Some(status.clone())).await?;
            Ok(Some(super::status_err(&status)))
        }
    }
}

/// `close-send`: not journaled, its answer follows from the journaled state.
/// The half-close reaches the server, so what may have shaped it is made
/// durable first, as for a `send`.
async fn close_send(ctx: &mut GrpcContext, slot: &mut StreamSlot) -> wasmtime::Result<Val> {
    Ok(match &mut slot.phase {
        Phase::Closed(Some(status)) => super::status_err(status),
        Phase::Live(LiveCall::Bidi(call)) => {
            ctx.durable.commit_if_shaping().await?;
            call.close_send();
            unit_result(Ok(()))
        }
        _ => unit_result(Ok(())),
    })
}

/// `cancel` (and dropping the handle): ends a call still open with
/// `cancelled`. Replay expects the recorded close at this point.
fn cancel(ctx: &mut GrpcContext, slot: &mut StreamSlot) -> wasmtime::Result<()> {
    if matches!(slot.phase, Phase::Closed(_)) {
        return Ok(());
    }
    let attempted = step_description(slot, "cancelling");
    let status = RpcStatus::new(
        Code::Cancelled,
        format!("`{}` was cancelled by the guest", slot.binding.journal_name),
    );
    if let Some(recorded) = ctx
        .durable
        .journal()
        .replay_stream_step(slot.open_index, &attempted)?
    {
        return match &recorded.entry.kind {
            EntryKind::StreamClosed { .. } => {
                let recorded_status = recorded_close(ctx, &recorded)?;
                slot.close(recorded_status);
                Ok(())
            }
            _ => Err(divergence(ctx, &recorded, attempted())),
        };
    }
    COUNTERS.count(StreamEvent::Cancelled);
    match &mut slot.phase {
        Phase::Live(LiveCall::Server(call)) => call.cancel(),
        Phase::Live(LiveCall::Client(call)) => call.cancel(),
        Phase::Live(LiveCall::Bidi(call)) => call.cancel(),
        _ => {}
    }
    ctx.durable
        .record_shaping(closed_entry(slot.open_index, Some(&status)));
    slot.close(Some(status));
    Ok(())
}
