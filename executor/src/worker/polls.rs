//! `wasi:io/poll`'s answers, journaled. Whether a pollable is ready
//! (`pollable.ready`) and which of a list are (`poll`) depend on time: a
//! guest that checks a timer and acts on the answer (`while
//! !deadline.ready() { ... }`, an async runtime's reactor) must get the
//! same answers on replay, where sleeps end at once
//! ([`super::sleeps`]). So each answer given live is recorded as a local
//! nondeterministic value, and replay answers from the record.
//!
//! Oplogs recorded before these answers were journaled hold none: while
//! such a log replays, the answer is worked out as it was then (sleeps
//! ready at once). `pollable.block` returns nothing, and is left as
//! wasmtime-wasi links it.

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::io::poll::{Host as _, HostPollable as _};

use super::WorkerCtx;
use crate::durable::SharedJournal;
use crate::error::Error;

/// The interface whose functions are replaced, as wasmtime-wasi links it
/// (guests importing an earlier 0.2 version are matched to it).
const POLL_INTERFACE: &str = "wasi:io/poll@0.2.12";
/// The journaled names of the two answers.
const POLL: &str = "wasi:io/poll.poll";
const READY: &str = "wasi:io/poll.[method]pollable.ready";

/// How an answer is found: from the record, worked out as before answers
/// were journaled, or live (and recorded).
enum Source {
    Recorded,
    Unrecorded,
    Live,
}

fn source(journal: &SharedJournal, function: &str) -> Source {
    let recorded = journal.next_recorded_is(|kind| {
        matches!(kind, reprise_oplog::EntryKind::ImportedFunctionInvoked { function: f, .. } if f == function)
    });
    if recorded {
        Source::Recorded
    } else if journal.is_replaying() {
        Source::Unrecorded
    } else {
        Source::Live
    }
}

/// A recorded answer that does not fit the call it answers.
fn unreadable(function: &str, why: &str) -> wasmtime::Error {
    wasmtime::Error::new(Error::Internal(format!(
        "the recorded answer of `{function}` cannot be read: {why}"
    )))
}

/// Replaces `poll` and `pollable.ready` linked by wasmtime-wasi.
pub(crate) fn link(linker: &mut Linker<WorkerCtx>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut poll = linker.instance(POLL_INTERFACE)?;
    poll.func_wrap_async(
        "poll",
        |mut store, (pollables,): (Vec<Resource<DynPollable>>,)| {
            Box::new(async move {
                let ctx = store.data_mut();
                let journal = ctx.grpc.durable.journal().clone();
                let count = u32::try_from(pollables.len()).unwrap_or(u32::MAX);
                let request = count.to_le_bytes();
                let ready = match source(&journal, POLL) {
                    Source::Recorded => {
                        let bytes = journal.local(POLL, &request, Vec::new);
                        decode_indices(&bytes, count)?
                    }
                    Source::Unrecorded => ctx.table.poll(pollables).await?,
                    Source::Live => {
                        let ready = ctx.table.poll(pollables).await?;
                        journal.local(POLL, &request, || {
                            ready.iter().flat_map(|i| i.to_le_bytes()).collect()
                        });
                        ready
                    }
                };
                Ok((ready,))
            })
        },
    )?;
    poll.func_wrap_async(
        "[method]pollable.ready",
        |mut store, (pollable,): (Resource<DynPollable>,)| {
            Box::new(async move {
                let ctx = store.data_mut();
                let journal = ctx.grpc.durable.journal().clone();
                let ready = match source(&journal, READY) {
                    Source::Recorded => match journal.local(READY, b"", Vec::new).as_slice() {
                        [0] => false,
                        [1] => true,
                        _ => return Err(unreadable(READY, "not one byte of 0 or 1")),
                    },
                    Source::Unrecorded => ctx.table.ready(pollable).await?,
                    Source::Live => {
                        let ready = ctx.table.ready(pollable).await?;
                        journal.local(READY, b"", || vec![u8::from(ready)]);
                        ready
                    }
                };
                Ok((ready,))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The recorded indices of a `poll` of `count` pollables.
fn decode_indices(bytes: &[u8], count: u32) -> wasmtime::Result<Vec<u32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(unreadable(POLL, "not a list of u32"));
    }
    let indices: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if indices.is_empty() || indices.iter().any(|i| *i >= count) {
        return Err(unreadable(POLL, "no index, or one past the list"));
    }
    Ok(indices)
}
