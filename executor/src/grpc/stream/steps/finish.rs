//! `finish`: a client stream's half-close and its one answer.

use super::*;

/// The guest value of `finish`'s response.
pub(super) fn finish_value(slot: &StreamSlot, frame: &[u8]) -> Result<Val, BridgeError> {
    let method = slot.binding.method();
    let value = match method.response {
        None => None,
        Some(_) => Some(
            response_bytes_to_val(&slot.binding.model, method, frame)?
                .ok_or_else(next::no_value)?,
        ),
    };
    Ok(Val::Result(Ok(value.map(Box::new))))
}

fn closed_finish(slot: &StreamSlot, status: Option<&RpcStatus>) -> Result<Val, BridgeError> {
    match (status, &slot.response) {
        (Some(status), _) => Ok(super::super::status_err(status)),
        (None, Some(frame)) => finish_value(slot, frame),
        (None, None) => Ok(super::super::status_err(&RpcStatus::new(
            Code::Internal,
            format!(
                "`{}` ended without a response message",
                slot.binding.journal_name
            ),
        ))),
    }
}

pub(super) async fn finish(
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
                Err(status) => super::super::status_err(&status),
            },
        )),
        Err(status) => {
            close_durably(ctx, slot, Some(status.clone())).await?;
            Ok(Some(super::super::status_err(&status)))
        }
    }
}
