//! Guest sleeps end at once while the worker replays. A sleep
//! (`wasi:clocks/monotonic-clock` `subscribe-duration` and
//! `subscribe-instant`, what `std::thread::sleep` and async timers use) has
//! no effect outside the worker, and the clock readings around it come
//! from the oplog: waiting again when a worker is rebuilt only delays it
//! (an invocation that slept 30 s a thousand times took 8 hours to
//! rebuild). Once the recorded entries are used up, sleeps wait for real.
//!
//! A live sleep also ends when the invocation must stop (its time budget
//! ran out, or an interrupt, a delete or a shutdown asked): the guest then
//! runs on into the next epoch tick, which stops it. A guest blocked in a
//! sleep is not at a tick, so without this nothing stopped it (a sleep of
//! an hour, or one too long for the clock, never ended). A guest that
//! returns before that tick has still seen its sleep cut short, so its
//! invocation ends as stopped all the same, not with the result it
//! returned ([`RunLimits::cut_short`]), and nothing it does after the
//! sleep is journaled ([`SharedJournal::seal`]): a shutdown's invocation is
//! finished by replay at the next start, and a record of a timer answered
//! ready, committed before the guest stopped, would end that sleep again.
//!
//! These two functions replace wasmtime-wasi's own; `subscribe-instant`
//! reads the clock through the journal as wasmtime-wasi's does, so oplogs
//! recorded before keep replaying.

use std::time::Duration;

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

use super::WorkerCtx;
use super::limits::RunLimits;
use crate::durable::SharedJournal;

/// The interface whose functions are replaced, as wasmtime-wasi links it
/// (guests importing an earlier 0.2 version are matched to it).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// A guest's sleep: ready at `until` (`None`: never), when the invocation
/// it was made in must stop, or at once while the worker replays.
struct Sleep {
    until: Option<tokio::time::Instant>,
    journal: SharedJournal,
    limits: RunLimits,
}

#[async_trait::async_trait]
impl Pollable for Sleep {
    async fn ready(&mut self) {
        if self.journal.is_replaying() {
            return;
        }
        let slept = async {
            match self.until {
                Some(until) => tokio::time::sleep_until(until).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = slept => {}
            reason = self.limits.clone().stopped() => {
                self.limits.cut_short(reason);
                self.journal.seal(reason);
            }
        }
    }
}

/// A pollable for a sleep of `nanos` from now.
fn sleep_for(ctx: &mut WorkerCtx, nanos: u64) -> wasmtime::Result<Resource<DynPollable>> {
    let sleep = Sleep {
        until: tokio::time::Instant::now().checked_add(Duration::from_nanos(nanos)),
        journal: ctx.grpc.durable.journal().clone(),
        limits: ctx.limits.clone(),
    };
    let sleep = ctx.table.push(sleep)?;
    subscribe(&mut ctx.table, sleep)
}

/// Replaces the sleeps of the monotonic clock linked by wasmtime-wasi.
pub(crate) fn link(linker: &mut Linker<WorkerCtx>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", |mut store, (nanos,): (u64,)| {
        Ok((sleep_for(store.data_mut(), nanos)?,))
    })?;
    clock.func_wrap("subscribe-instant", |mut store, (when,): (u64,)| {
        let ctx: &mut WorkerCtx = store.data_mut();
        let now = crate::wasi::monotonic_now(ctx.grpc.durable.journal());
        Ok((sleep_for(ctx, when.saturating_sub(now))?,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}
