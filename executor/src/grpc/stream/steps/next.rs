//! `next`: the next response of a server or bidi stream, replayed or read
//! live (re-opening a server stream that failed before its first response).

use super::*;
use crate::grpc::retry::{Decision, Schedule};

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
pub(super) fn no_value() -> BridgeError {
    BridgeError::InvalidValue {
        path: "response".into(),
        reason: "the response has no value".into(),
    }
}

/// What `next` (and `finish`) answer on a closed stream.
fn closed_next(slot: &StreamSlot, status: Option<&RpcStatus>) -> Result<Val, BridgeError> {
    match status {
        None => next_value(slot, None).map(ok),
        Some(status) => Ok(super::super::status_err(status)),
    }
}

/// A server-streaming call that failed before its first response, opened
/// again while the dependency's retry policy allows (same key; each failed
/// attempt journaled before the back-off, which for a stream is capped at
/// the policy's `max-backoff` even when the server asks for longer). The
/// deadline the guest gave the call, and the invocation's time budget,
/// bound all attempts: no attempt starts after them, and each gets only
/// the time left. Returns the first outcome
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
    let schedule = Schedule {
        policy: &policy,
        call: &slot.binding.journal_name,
        begin: Some(slot.open_index),
        deadline_ms: slot.deadline_ms,
        max_delay: Some(std::time::Duration::from_millis(policy.max_backoff_ms)),
    };
    // Bounded by the policy's attempts (at most 100).
    loop {
        // The guest's deadline and the invocation's time budget bound all
        // attempts, as for unary calls: a back-off the budget cannot
        // cover ends the retries with the status, rather than the
        // invocation being stopped mid-wait.
        let remaining = match (
            slot.time_left(),
            limits.as_ref().and_then(RunLimits::time_left),
        ) {
            (Some(call), Some(budget)) => Some(call.min(budget)),
            (call, budget) => call.or(budget),
        };
        let retry_at_ms = match schedule
            .after_failure(&ctx.durable, &status, slot.attempts, remaining)
            .await?
        {
            Decision::RetryAt(at) => at,
            Decision::GiveUp { .. } => return Ok(Err(status)),
        };
        let delay = std::time::Duration::from_millis(retry_at_ms.saturating_sub(retry::now_ms()));
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

pub(super) async fn next(
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
                let value = next_value(slot, Some(frame.as_bytes())).map_err(|e| {
                    wasmtime::Error::new(crate::Error::UnreadableRecord {
                        function: slot.binding.journal_name.clone(),
                        message: format!("a recorded response frame does not decode: {e}"),
                    })
                })?;
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
            Err(e) => Ok(Some(super::super::status_err(
                &close_undecodable(ctx, slot, &e).await?,
            ))),
        },
        Ok(None) => {
            close_durably(ctx, slot, None).await?;
            closed_next(slot, None).map(Some).map_err(bridge_failure)
        }
        Err(status) => {
            close_durably(ctx, slot, Some(status.clone())).await?;
            Ok(Some(super::super::status_err(&status)))
        }
    }
}
