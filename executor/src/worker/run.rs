//! Running one export of a worker's instance, and reading how it ended:
//! its results; a trap or an exit of the guest (the worker is failed, the
//! outcome journaled); a stop, a memory limit or a refused request (the
//! invocation is abandoned); a divergence, a commit failure or a fault of
//! the host (nothing journaled as its outcome, the instance rebuilt).

use std::time::Duration;

use wasmtime::component::Val;

use super::{InvocationOutcome, Worker, WorkerState};
use crate::error::{Error, Result};

impl Worker {
    /// Calls the export; a guest trap becomes an `Err` outcome (and fails
    /// the worker: a trapped instance cannot be entered again), while
    /// divergence and host failures are errors of the call itself.
    ///
    /// With a `budget` the run is live and can be stopped (its budget runs
    /// out, or a stop is requested) with [`Error::InvocationStopped`];
    /// without, it replays a completed invocation and nothing stops it.
    pub(super) async fn run_export(
        &mut self,
        function: &str,
        args: &[Val],
        budget: Option<Duration>,
    ) -> Result<InvocationOutcome> {
        if let WorkerState::Failed(message) = &self.state {
            return Err(Error::WorkerFailed {
                worker: self.id.clone(),
                message: message.clone(),
            });
        }
        let func = self.lookup(function)?;
        let result_count = func.ty(&self.store).results().len();
        let mut results = vec![Val::Bool(false); result_count];
        match budget {
            Some(budget) => self.store.data_mut().limits.arm(budget),
            None => self.store.data_mut().limits.disarm(),
        }
        self.store.data().output.begin(budget.is_some());
        self.durable.journal().take_seal();
        let call = func.call_async(&mut self.store, args, &mut results).await;
        // The outcome is journaled below, whether a sleep was cut short
        // (then as stopped) or not.
        self.durable.journal().take_seal();
        let cut_short = self.store.data().limits.take_cut_short();
        self.store.data_mut().limits.disarm();
        if let Some(divergence) = self.durable.journal().take_divergence() {
            return Err(self.fail(divergence));
        }
        if let Some(failure) = self.durable.journal().take_deferred_failure() {
            // A commit made while the guest was paused failed after its
            // last tick: as a commit inside the invocation that failed.
            self.discard_unwritten();
            return Err(failure);
        }
        match call {
            // A sleep ended early for a stop, and the guest returned before
            // the next epoch tick could stop it: it is stopped all the same
            // (its result came from a sleep shorter than it asked for), and
            // the instance, which ran past what the log will hold, is
            // rebuilt.
            Ok(()) if let Some(reason) = cut_short => {
                self.abandon_instance();
                Err(Error::InvocationStopped { reason })
            }
            Ok(()) => Ok(Ok(results)),
            Err(error) => match error.downcast::<Error>() {
                Ok(own @ (Error::Divergence { .. } | Error::UnreadableRecord { .. })) => {
                    Err(self.fail(own))
                }
                Ok(own @ (Error::CommitFailed { .. } | Error::CommitOutcomeUnknown { .. })) => {
                    // A commit inside the invocation (before a call) failed.
                    self.discard_unwritten();
                    Err(own)
                }
                Ok(
                    stopped @ (Error::InvocationStopped { .. }
                    | Error::MemoryLimit { .. }
                    | Error::GuestRequestRefused(_)
                    | Error::HostResources(_)),
                ) => {
                    // The instance stopped at an arbitrary instruction.
                    self.abandon_instance();
                    Err(stopped)
                }
                Ok(own) => {
                    // Any other host failure (an oplog write refused, say)
                    // also unwound the guest mid-call, and what it dropped
                    // may not be in the log: the next use rebuilds.
                    self.abandon_instance();
                    Err(own)
                }
                Err(trap) if trap.downcast_ref::<wasmtime::Trap>().is_some() => {
                    // What the guest wrote to stderr last (a Rust guest's
                    // panic message) says more than the wasm backtrace.
                    let message = match self.store.data().output.stderr_tail() {
                        Some(stderr) => format!(
                            "guest trapped in `{function}`: {stderr}\n(stderr above; {trap:#})"
                        ),
                        None => format!("guest trapped in `{function}`: {trap:#}"),
                    };
                    Ok(Err(self.guest_ended(message)))
                }
                // `wasi:cli/exit` (`std::process::exit`): the guest's own
                // doing, deterministic like a trap, and the program is over
                // as after one. (Not the host's shortage below: that would
                // leave the invocation to run, and exit, at every retry.)
                Err(exit) if let Some(&wasmtime_wasi::I32Exit(status)) = exit.downcast_ref() => {
                    let message = format!(
                        "the guest exited with status {status} in `{function}`; the worker has \
                         ended"
                    );
                    Ok(Err(self.guest_ended(message)))
                }
                Err(fault) => {
                    // Not the guest's doing (an instruction that traps) but
                    // the host's: no memory for a stack or a mapping, say.
                    // Nothing is journaled as the outcome and the worker is
                    // not failed: the instance is rebuilt and the caller's
                    // retry (or the next start) runs the invocation again.
                    self.abandon_instance();
                    Err(Error::HostResources(format!(
                        "running `{function}` failed in the host: {fault:#}"
                    )))
                }
            },
        }
    }

    /// The guest trapped or exited: the worker is failed with `message`
    /// (the invocation's outcome) and its instance never entered again.
    fn guest_ended(&mut self, message: String) -> String {
        self.state = WorkerState::Failed(message.clone());
        // Its streams go with it. Its memory stays charged while it is
        // held (an idle failed worker is dropped like any other when the
        // budget runs short).
        self.store.data_mut().grpc.streams.clear();
        message
    }
}

/// Whether `error` ends the invocation for good (abandoned: journaled as
/// failed, skipped by replay) rather than leaving it to be finished later.
pub(super) fn abandons(error: &Error) -> bool {
    match error {
        Error::InvocationStopped { reason } => reason.is_final(),
        Error::MemoryLimit { .. } | Error::GuestRequestRefused(_) => true,
        _ => false,
    }
}
