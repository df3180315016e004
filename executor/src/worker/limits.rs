//! Stopping a running guest: the per-invocation time budget and requests
//! to stop (interrupt, delete, shutdown), enforced at epoch ticks.
//!
//! The engine ticks its epoch every [`crate::engine::EPOCH_TICK`]; at each
//! tick a running guest enters [`on_epoch_tick`], which ends the invocation
//! with [`Error::InvocationStopped`] when its budget has run out or a stop
//! was requested, and otherwise yields to the async runtime so one spinning
//! guest cannot starve the others. Only live execution can be stopped: while
//! replay re-runs an invocation that completed before, nothing stops it (it
//! must behave exactly as it did).
//!
//! A guest blocked in a host call (waiting on the network) is not at a tick:
//! a unary gRPC or REST call in flight races [`RunLimits::stopped`], so a
//! stop does not wait for the call's own deadline, and a call waiting to
//! retry checks [`RunLimits::check`] itself.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use wasmtime::{StoreContextMut, UpdateDeadline};

use super::WorkerCtx;
use crate::error::Error;
use crate::stop::{StopReason, StopSignal};

/// The time budget of an invocation when neither the executor's
/// configuration nor the request sets one.
pub const DEFAULT_TIME_BUDGET: Duration = Duration::from_secs(60);

/// How often a host call in flight looks for a stop request.
pub const STOP_POLL: Duration = Duration::from_millis(10);

/// The limits of the invocation running now, kept in the store's data.
#[derive(Debug, Clone, Default)]
pub struct RunLimits {
    /// The worker's stop requests.
    pub stop: StopSignal,
    /// When the running invocation's budget runs out, and the budget
    /// (`None` while replaying a completed invocation: nothing stops it).
    /// Shared by the clones a sleep or a host call holds, so that they
    /// answer to the invocation running when they are polled, not to the
    /// one they were made in (a guest may keep a pollable across
    /// invocations).
    deadline: Arc<Mutex<Option<(Instant, Duration)>>>,
    /// Why a sleep of the running invocation ended early, if one did (see
    /// [`crate::worker::sleeps`]): the guest then saw a shorter sleep than
    /// it asked for, so the invocation cannot complete as if it had not.
    /// Shared by the clones a sleep holds.
    cut_short: Arc<Mutex<Option<StopReason>>>,
}

impl RunLimits {
    /// Unarmed limits answering to `stop`.
    pub fn new(stop: StopSignal) -> Self {
        RunLimits {
            stop,
            ..RunLimits::default()
        }
    }

    /// The running invocation's deadline and budget, if one is armed.
    pub fn armed(&self) -> Option<(Instant, Duration)> {
        *self.lock_deadline()
    }

    fn lock_deadline(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Duration)>> {
        // A plain value: a poisoned lock still holds a consistent one.
        self.deadline.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Limits for a live invocation with `budget`.
    pub fn arm(&mut self, budget: Duration) {
        *self.lock_deadline() = Some((Instant::now() + budget, budget));
        self.take_cut_short();
    }

    /// Notes that a sleep ended early because the invocation must stop
    /// for `reason`.
    pub fn cut_short(&self, reason: StopReason) {
        *self
            .cut_short
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(reason);
    }

    /// Why a sleep ended early since the invocation was armed, if one did;
    /// clears it.
    pub fn take_cut_short(&self) -> Option<StopReason> {
        self.cut_short
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// How much of the invocation's time budget is left (`None`: no
    /// budget runs, as while replaying a completed invocation).
    pub fn time_left(&self) -> Option<Duration> {
        self.armed()
            .map(|(at, _)| at.saturating_duration_since(Instant::now()))
    }

    /// No limits (replaying an invocation that completed before).
    pub fn disarm(&mut self) {
        *self.lock_deadline() = None;
    }

    /// Resolves when the invocation must stop (checked every
    /// [`STOP_POLL`]); never while replaying a completed invocation. Meant
    /// to be raced against a host call in flight.
    pub async fn stopped(self) -> StopReason {
        // Ends when a stop comes, or when the caller drops the race. While
        // disarmed (replay) `check` answers nothing, until an invocation
        // arms the limits this clone shares.
        loop {
            if let Some(reason) = self.check() {
                return reason;
            }
            tokio::time::sleep(STOP_POLL).await;
        }
    }

    /// Why the invocation must stop now, if it must (never while
    /// replaying a completed invocation).
    pub fn check(&self) -> Option<StopReason> {
        let (deadline, budget) = self.armed()?;
        if let Some(reason) = self.stop.requested() {
            return Some(reason);
        }
        (Instant::now() >= deadline).then_some(StopReason::TimeBudget(budget))
    }
}

/// The store's epoch-deadline callback: stops the invocation (a trap
/// carrying [`Error::InvocationStopped`]) or yields and waits for the next
/// tick.
pub fn on_epoch_tick(ctx: StoreContextMut<'_, WorkerCtx>) -> wasmtime::Result<UpdateDeadline> {
    let data = ctx.data();
    if let Some(reason) = data.limits.check() {
        return Err(wasmtime::Error::new(Error::InvocationStopped { reason }));
    }
    // Only a live run buffers entries (a replayed one reads them back).
    if data.limits.armed().is_some() {
        let journal = data.grpc.durable.journal();
        if let Some(failure) = journal.take_deferred_failure() {
            return Err(wasmtime::Error::new(failure));
        }
        if let Some(commit) = data.grpc.durable.backlog_commit() {
            return Ok(UpdateDeadline::YieldCustom(1, Box::pin(commit)));
        }
    }
    Ok(UpdateDeadline::Yield(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_armed_limits_stop() {
        let mut limits = RunLimits::default();
        limits.stop.request(StopReason::Interrupt);
        assert_eq!(limits.check(), None, "replay is never stopped");
        limits.arm(Duration::from_secs(3600));
        assert_eq!(limits.check(), Some(StopReason::Interrupt));
        limits.stop.clear();
        assert_eq!(limits.check(), None);
        limits.arm(Duration::ZERO);
        assert_eq!(limits.check(), Some(StopReason::TimeBudget(Duration::ZERO)));
        assert!(StopReason::Interrupt.is_final() && !StopReason::Shutdown.is_final());
    }

    #[test]
    fn a_clone_answers_to_the_invocation_running_when_it_is_checked() {
        // A sleep made in one invocation and polled in a later one checked
        // the earlier invocation's (passed) deadline, and one made while
        // replaying ignored the later invocation's budget.
        let mut limits = RunLimits::default();
        let made_in_replay = limits.clone();
        limits.arm(Duration::ZERO);
        let made_live = limits.clone();
        assert_eq!(
            made_in_replay.check(),
            Some(StopReason::TimeBudget(Duration::ZERO))
        );
        limits.arm(Duration::from_secs(3600));
        assert_eq!(made_live.check(), None, "the new invocation's budget");
        limits.disarm();
        assert_eq!(made_live.check(), None);
    }

    #[test]
    fn a_sleep_cut_short_is_seen_through_every_clone_until_the_next_arming() {
        let mut limits = RunLimits::default();
        limits.arm(Duration::from_secs(3600));
        // What a sleep holds.
        let held = limits.clone();
        held.cut_short(StopReason::Interrupt);
        assert_eq!(limits.take_cut_short(), Some(StopReason::Interrupt));
        assert_eq!(limits.take_cut_short(), None, "taken once");
        held.cut_short(StopReason::Shutdown);
        limits.arm(Duration::from_secs(1));
        assert_eq!(
            limits.take_cut_short(),
            None,
            "a new invocation starts clean"
        );
    }
}
