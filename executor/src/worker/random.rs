//! `get-random-bytes` of `wasi:random/random` and
//! `get-insecure-random-bytes` of `wasi:random/insecure`: one journal entry
//! per call, and at most [`MAX_RANDOM_BYTES`] per call.
//!
//! wasmtime-wasi's own functions draw the bytes one at a time from the
//! worker's random source, which journals every draw: a call for N bytes
//! wrote N oplog entries (and one for 64 MiB, its limit, wrote 67 million
//! before anything could stop it, in one host call). These replace them;
//! an oplog written one entry per byte by an earlier build is still
//! replayed that way (see [`crate::wasi::random_bytes`]).

use wasmtime::component::Linker;

use super::WorkerCtx;
use crate::wasi::{INSECURE_RANDOM_BYTES, RANDOM_BYTES, random_bytes};

/// The interfaces whose functions are replaced, as wasmtime-wasi links
/// them (guests importing an earlier 0.2 version are matched to them).
const RANDOM: &str = "wasi:random/random@0.2.12";
const INSECURE: &str = "wasi:random/insecure@0.2.12";

/// Replaces the byte functions of the random interfaces linked by
/// wasmtime-wasi.
pub(crate) fn link(linker: &mut Linker<WorkerCtx>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker
        .instance(RANDOM)?
        .func_wrap("get-random-bytes", |store, (len,): (u64,)| {
            let journal = store.data().grpc.durable.journal().clone();
            Ok((random_bytes(&journal, RANDOM_BYTES, len)?,))
        })?;
    linker.instance(INSECURE)?.func_wrap(
        "get-insecure-random-bytes",
        |store, (len,): (u64,)| {
            let journal = store.data().grpc.durable.journal().clone();
            Ok((random_bytes(&journal, INSECURE_RANDOM_BYTES, len)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
