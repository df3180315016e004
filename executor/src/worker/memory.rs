//! Memory limits of guests: each worker's linear memories may grow up to a
//! per-worker limit, and all workers of an executor together up to an
//! executor-wide budget, so no guest (nor a few together) can take the
//! host's memory.
//!
//! wasmtime asks the store's [`MemoryLimiter`] before every growth
//! (including the initial allocation at instantiation). Growth beyond the
//! worker's limit traps with [`Error::MemoryLimit`]: the invocation is
//! abandoned like one out of time (its effects on the guest's state are
//! discarded, the worker stays usable). Growth the executor-wide budget
//! cannot cover traps with [`Error::HostResources`]: a host condition, not
//! the guest's fault — nothing is journaled, the caller is told to retry.
//! The memory a worker holds returns to the budget when its instance is
//! dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmtime::ResourceLimiter;

use crate::error::Error;

/// Default limit of one worker's linear memory: 256 MiB.
pub const DEFAULT_WORKER_MEMORY: usize = 256 << 20;

/// Default executor-wide budget of guest memory: 8 GiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 8 << 30;

/// Most elements one guest table may have.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// What one table element is counted as against the limits: a pointer.
/// Tables count with linear memory towards the worker's limit and the
/// executor's budget (a component of many instances, each with a table of
/// a million elements, held gigabytes no limit saw).
const TABLE_ELEMENT_BYTES: usize = 8;

/// The executor-wide budget of guest memory, shared by every worker.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
    /// What the worker refused last wanted in all (see
    /// [`MemoryBudget::take_refused`]).
    refused: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
        })
    }

    /// What the worker whose growth the budget last refused would have
    /// held with it, since this was last asked (0: none): how much room
    /// idle workers must make for the caller's retry (its instance may be
    /// dropped by then, as a failed rebuild's is).
    pub fn take_refused(&self) -> usize {
        self.refused.swap(0, Ordering::SeqCst)
    }

    /// The budget, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes of guest memory held by all workers now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }

    fn try_take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        // Never below zero, whatever happens.
        let _ = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                Some(used.saturating_sub(bytes))
            });
    }
}

/// One worker's store limiter.
#[derive(Debug)]
pub struct MemoryLimiter {
    worker_limit: usize,
    budget: Arc<MemoryBudget>,
    /// Bytes this worker took from the budget.
    held: usize,
    /// Bytes taken for the growth in progress (given back if it fails).
    last_growth: usize,
}

impl MemoryLimiter {
    /// A limiter allowing `worker_limit` bytes of linear memory, taken from
    /// `budget`.
    pub fn new(worker_limit: usize, budget: Arc<MemoryBudget>) -> Self {
        MemoryLimiter {
            worker_limit,
            budget,
            held: 0,
            last_growth: 0,
        }
    }
}

impl MemoryLimiter {
    /// Gives back everything this worker took, for an instance that is
    /// never entered again (its rebuild, made while it is still alive,
    /// replaces it): the rebuild gets the budget it held. Any later growth
    /// is refused.
    pub fn retire(&mut self) {
        self.budget.release(self.held);
        self.held = 0;
        self.last_growth = 0;
        self.worker_limit = 0;
    }

    /// Takes `extra` bytes for a growth from the worker's limit and the
    /// executor's budget (given back by [`Self::growth_failed`] if the
    /// growth then fails).
    fn take(&mut self, extra: usize) -> wasmtime::Result<bool> {
        let after = self.held.saturating_add(extra);
        if after > self.worker_limit {
            return Err(wasmtime::Error::new(Error::MemoryLimit {
                limit: self.worker_limit as u64,
                requested: after as u64,
            }));
        }
        if !self.budget.try_take(extra) {
            self.budget.refused.store(after, Ordering::SeqCst);
            return Err(wasmtime::Error::new(Error::HostResources(format!(
                "the executor's memory budget for guests ({} MiB, {} MiB in use) cannot cover \
                 {} MiB more; retry when other workers have finished, or raise \
                 `serve --memory-budget`",
                self.budget.limit >> 20,
                self.budget.used() >> 20,
                extra.div_ceil(1 << 20)
            ))));
        }
        self.held = after;
        self.last_growth = extra;
        Ok(true)
    }

    /// Gives back what the last growth took.
    fn growth_failed(&mut self) {
        self.budget.release(self.last_growth);
        self.held = self.held.saturating_sub(self.last_growth);
        self.last_growth = 0;
    }
}

impl ResourceLimiter for MemoryLimiter {
    /// A growth past the memory's declared maximum is refused here, with
    /// nothing taken: `memory.grow` returns -1, as the spec says.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.last_growth = 0;
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        self.take(desired.saturating_sub(current))
    }

    /// A growth that failed. Before this limiter approved anything (past
    /// what the memory's type can address) it is the guest's: `memory.grow`
    /// returns -1. After (no address space or mappings left) it is the
    /// host's, reported as such instead of letting the guest see a failed
    /// `memory.grow` and trap, which would fail the worker for a fault
    /// that is not its own; what the growth took is given back.
    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        if self.last_growth == 0 || before_approval(&error) {
            tracing::debug!(error = %error, "a guest memory did not grow");
            return Ok(());
        }
        self.growth_failed();
        Err(wasmtime::Error::new(Error::HostResources(format!(
            "the host could not grow a guest's memory: {error:#}"
        ))))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.last_growth = 0;
        if desired > MAX_TABLE_ELEMENTS || maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let extra = desired.saturating_sub(current);
        self.take(extra.saturating_mul(TABLE_ELEMENT_BYTES))
    }

    /// A table that could not grow gives back what the growth took, if this
    /// limiter approved it; `table.grow` returns -1 to the guest, as the
    /// spec says, rather than trapping.
    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        if !before_approval(&error) {
            self.growth_failed();
        }
        tracing::debug!(error = %error, "a guest table did not grow");
        Ok(())
    }
}

/// Whether wasmtime reports a growth that failed before it asked this
/// limiter (a size past what the memory's or table's type can hold): then
/// nothing was taken for it, and what the last approved growth took stays
/// taken (it succeeded). wasmtime 48 words these two failures so.
fn before_approval(error: &wasmtime::Error) -> bool {
    let text = error.to_string();
    text.contains("exceeds memory type's limits")
        || text.contains("overflow calculating new table size")
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        self.budget.release(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_count_against_the_worker_limit_and_the_budget() {
        // They counted against nothing: many instances with a table of a
        // million elements each held gigabytes beside any limit.
        let budget = MemoryBudget::new(1 << 30);
        let mut limiter = MemoryLimiter::new(4 << 20, budget.clone());
        assert!(limiter.table_growing(0, 1000, None).unwrap());
        assert_eq!(budget.used(), 1000 * TABLE_ELEMENT_BYTES);
        let err = limiter.table_growing(0, 1 << 20, None).unwrap_err();
        assert!(matches!(
            err.downcast_ref::<Error>(),
            Some(Error::MemoryLimit { .. })
        ));
        assert!(
            !limiter
                .table_growing(0, MAX_TABLE_ELEMENTS + 1, None)
                .unwrap()
        );
        // A growth that then fails gives back what it took.
        assert!(limiter.table_growing(1000, 2000, None).unwrap());
        limiter
            .table_grow_failed(wasmtime::Error::msg("past its maximum"))
            .expect("-1 to the guest, not a trap");
        assert_eq!(budget.used(), 1000 * TABLE_ELEMENT_BYTES);
        drop(limiter);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_failure_before_approval_gives_nothing_back() {
        // A table growth that failed before the limiter was asked gave
        // back what the last (successful) memory growth had taken: looped,
        // a guest grew its memory past every limit.
        let budget = MemoryBudget::new(1 << 30);
        let mut limiter = MemoryLimiter::new(1 << 30, budget.clone());
        assert!(limiter.memory_growing(0, 100, None).unwrap());
        limiter
            .table_grow_failed(wasmtime::Error::msg("overflow calculating new table size"))
            .unwrap();
        assert_eq!(budget.used(), 100);
        limiter
            .memory_grow_failed(wasmtime::Error::msg(
                "memory growth exceeds memory type's limits",
            ))
            .expect("-1 to the guest");
        assert_eq!(budget.used(), 100);
        // Past the declared maximum: refused, nothing taken.
        assert!(!limiter.memory_growing(100, 300, Some(200)).unwrap());
        assert!(!limiter.table_growing(10, 30, Some(20)).unwrap());
        assert_eq!(budget.used(), 100);
    }

    #[test]
    fn worker_limit_and_shared_budget_are_both_enforced() {
        let budget = MemoryBudget::new(100);
        let mut a = MemoryLimiter::new(60, budget.clone());
        let mut b = MemoryLimiter::new(60, budget.clone());
        assert!(a.memory_growing(0, 50, None).unwrap());
        let err = a.memory_growing(50, 70, None).unwrap_err();
        assert!(matches!(
            err.downcast_ref::<Error>(),
            Some(Error::MemoryLimit { .. })
        ));
        let err = b.memory_growing(0, 55, None).unwrap_err();
        assert!(matches!(
            err.downcast_ref::<Error>(),
            Some(Error::HostResources(_))
        ));
        assert!(b.memory_growing(0, 50, None).unwrap());
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 50, "a dropped worker gives its memory back");
        let err = b
            .memory_grow_failed(wasmtime::Error::msg("os said no"))
            .unwrap_err();
        assert!(matches!(
            err.downcast_ref::<Error>(),
            Some(Error::HostResources(_))
        ));
        assert_eq!(budget.used(), 0);
    }
}
