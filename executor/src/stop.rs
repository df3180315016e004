//! Why and how a running invocation is stopped: [`StopReason`] and the
//! [`StopSignal`] the executor raises without waiting for the worker's
//! lock (the worker's epoch callback acts on it; see `worker::limits`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// Why a running invocation was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// It ran longer than its time budget.
    TimeBudget(Duration),
    /// The worker is being interrupted.
    Interrupt,
    /// The worker is being deleted.
    Delete,
    /// The executor is shutting down; the invocation resumes at the next start.
    Shutdown,
}

impl StopReason {
    /// Whether the stop ends the invocation for good (journaled as failed,
    /// its effects on the guest's state discarded), as opposed to a
    /// shutdown, after which the next start finishes the invocation.
    pub fn is_final(self) -> bool {
        !matches!(self, StopReason::Shutdown)
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::TimeBudget(budget) => {
                write!(f, "it exceeded its time budget of {budget:?}")
            }
            StopReason::Interrupt => f.write_str("the worker was interrupted"),
            StopReason::Delete => f.write_str("the worker was deleted"),
            StopReason::Shutdown => f.write_str("the executor is shutting down"),
        }
    }
}

const NONE: u8 = 0;
const INTERRUPT: u8 = 1;
const DELETE: u8 = 2;
const SHUTDOWN: u8 = 3;

/// A request to stop a worker's running invocation, shared between the
/// executor (which asks without waiting for the worker's lock) and the
/// worker's epoch callback (which acts on it at the next tick).
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicU8>);

impl StopSignal {
    /// Asks the running invocation (if any) to stop for `reason`.
    pub fn request(&self, reason: StopReason) {
        let code = match reason {
            StopReason::Interrupt => INTERRUPT,
            StopReason::Delete => DELETE,
            StopReason::Shutdown => SHUTDOWN,
            // A budget is per invocation, not a request.
            StopReason::TimeBudget(_) => return,
        };
        self.0.store(code, Ordering::SeqCst);
    }

    /// Withdraws a request (once the worker is interrupted or resumed).
    pub fn clear(&self) {
        self.0.store(NONE, Ordering::SeqCst);
    }

    /// The stop requested, if any.
    pub fn requested(&self) -> Option<StopReason> {
        match self.0.load(Ordering::SeqCst) {
            INTERRUPT => Some(StopReason::Interrupt),
            DELETE => Some(StopReason::Delete),
            SHUTDOWN => Some(StopReason::Shutdown),
            _ => None,
        }
    }
}
