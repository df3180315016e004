//! `send` and `close-send`: the requests of a client or bidi stream, each
//! leaving only once what shaped it is durable.

use super::*;

/// What `send` answers on a closed stream.
fn closed_send(slot: &StreamSlot, status: Option<&RpcStatus>) -> Val {
    match status {
        Some(status) => super::super::status_err(status),
        None => super::super::status_err(&RpcStatus::new(
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
    super::super::status_err(&RpcStatus::new(
        Code::FailedPrecondition,
        format!(
            "`{}` no longer takes requests: the server ended the call; \
             `next` returns what it sent before and its outcome",
            slot.binding.journal_name
        ),
    ))
}

pub(super) async fn send(
    ctx: &mut GrpcContext,
    slot: &mut StreamSlot,
    request: Option<&Val>,
    limits: Option<RunLimits>,
) -> wasmtime::Result<Option<Val>> {
    let binding = slot.binding.clone();
    let method = binding.method();
    // Deterministic: the same value fails the same way on replay.
    let message = match request_from_val(&binding.model, method, request) {
        Ok(message) => message,
        Err(e) => {
            return Ok(Some(super::super::status_err(&RpcStatus::new(
                Code::InvalidArgument,
                format!("cannot encode the request: {e}"),
            ))));
        }
    };
    let frame = canonical_encode(&message);
    // Here replay reads the step, so here a failed start is journaled.
    super::journal_failed_start(ctx, slot);
    if let Phase::Closed(status) = &slot.phase {
        return Ok(Some(closed_send(slot, status.as_ref())));
    }
    if slot.send_closed {
        // The guest's own doing, so replay answers it the same way without
        // a journal entry; the call goes on (`next` reads the rest).
        return Ok(Some(super::super::status_err(&RpcStatus::new(
            Code::FailedPrecondition,
            format!(
                "`{}`: send after `close-send`; the call goes on, `next` reads its \
                 responses",
                slot.binding.journal_name
            ),
        ))));
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
                    Err(status) => super::super::status_err(&status),
                },
                Err(status) => {
                    close_durably(ctx, slot, Some(status.clone())).await?;
                    super::super::status_err(&status)
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
            Ok(Some(super::super::status_err(&status)))
        }
    }
}

/// `close-send`: not journaled, its answer follows from the journaled state.
/// The half-close reaches the server, so what may have shaped it is made
/// durable first, as for a `send`.
pub(super) async fn close_send(
    ctx: &mut GrpcContext,
    slot: &mut StreamSlot,
) -> wasmtime::Result<Val> {
    if slot.binding.method().kind == CallKind::Bidi {
        slot.send_closed = true;
    }
    Ok(match &mut slot.phase {
        Phase::Closed(Some(status)) => super::super::status_err(status),
        Phase::Live(LiveCall::Bidi(call)) => {
            ctx.durable.commit_if_shaping().await?;
            call.close_send();
            unit_result(Ok(()))
        }
        _ => unit_result(Ok(())),
    })
}
