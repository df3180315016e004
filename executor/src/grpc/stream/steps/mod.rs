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
use crate::durable::Recorded;
use crate::error::Error;
use crate::grpc::call::{host_error, unless_stopped};
use crate::grpc::journaled::undecodable;
use crate::grpc::{GrpcContext, GrpcView, retry};
use crate::worker::limits::RunLimits;

mod finish;
mod next;
mod send;

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
    // Where replay reads a step from the oplog first thing. (`send` reads
    // it after encoding its value, and journals there; `close-send` never
    // reads it, and answers a failed start as replay answers it.)
    if matches!(op, StreamOp::Next | StreamOp::Finish | StreamOp::Cancel) {
        journal_failed_start(ctx, &mut slot);
    }
    let outcome = match op {
        StreamOp::Next => next::next(ctx, &mut slot, limits).await,
        StreamOp::Send => send::send(ctx, &mut slot, params.get(1), limits).await,
        StreamOp::Finish => finish::finish(ctx, &mut slot, limits).await,
        StreamOp::CloseSend => send::close_send(ctx, &mut slot).await.map(Some),
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
    journal_failed_start(ctx, &mut slot);
    cancel(ctx, &mut slot)
}

/// The guest's first step on a call that could not start: journals its
/// close here, where replay (its step on a replayed stream) reads it.
pub(super) fn journal_failed_start(ctx: &GrpcContext, slot: &mut StreamSlot) {
    if let Phase::Failed(status) = &slot.phase {
        let status = status.clone();
        ctx.durable
            .record_shaping(closed_entry(slot.open_index, Some(&status)));
        slot.close(Some(status));
    }
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

/// A host failure for a response that does not fit its WIT type.
fn bridge_failure(error: BridgeError) -> wasmtime::Error {
    host_error(error.to_string())
}

fn ok(value: Val) -> Val {
    Val::Result(Ok(Some(Box::new(value))))
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
    // Within what is left of the deadline the guest gave the call; none
    // left (the restart came after it), no attempt.
    if slot.time_left().is_some_and(|left| left.is_zero()) {
        let status = RpcStatus::new(
            Code::DeadlineExceeded,
            "the call's deadline passed before it could be re-issued after a restart",
        );
        return close_durably(ctx, slot, Some(status)).await;
    }
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

/// Journals a client stream's answer and its successful end: `finish`'s
/// value, or the status the stream closed with when the answer does not
/// fit its WIT type.
async fn record_answer(
    ctx: &mut GrpcContext,
    slot: &mut StreamSlot,
    message: &DynamicMessage,
) -> wasmtime::Result<Result<Val, RpcStatus>> {
    let frame = canonical_encode(message);
    match finish::finish_value(slot, &frame) {
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
