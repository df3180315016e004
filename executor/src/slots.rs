//! The table of workers held in memory, with no lock held across a load,
//! a replay, an invocation or a delete.
//!
//! The table itself is a plain map behind a short-lived synchronous lock:
//! it is only held to find or insert a worker's slot. Each slot has its own
//! async lock, which serialises what happens to that one worker (its load
//! and replay, its invocations, its deletion) while every other worker goes
//! on. A slot starts [`SlotState::Empty`], becomes [`SlotState::Ready`] once
//! its worker is loaded (or created), and [`SlotState::Deleted`] when the
//! worker is deleted; whoever then finds a deleted slot looks again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use reprise_oplog::WorkerId;
use tokio::sync::{Mutex as AsyncMutex, OwnedMappedMutexGuard, OwnedMutexGuard};

use crate::worker::Worker;

/// What a slot holds.
#[derive(Debug)]
pub enum SlotState {
    /// Nothing loaded yet (or loading failed).
    Empty,
    /// The worker, in memory.
    Ready(Box<Worker>),
    /// The worker was deleted while this slot was in the table.
    Deleted,
}

/// One worker's slot.
pub type Slot = Arc<AsyncMutex<SlotState>>;

/// Exclusive access to a loaded worker.
pub type WorkerGuard = OwnedMappedMutexGuard<SlotState, Worker>;

/// The table of slots.
#[derive(Debug, Default)]
pub struct WorkerSlots {
    slots: Mutex<HashMap<WorkerId, Slot>>,
    ready: AtomicU64,
}

impl WorkerSlots {
    fn table(&self) -> MutexGuard<'_, HashMap<WorkerId, Slot>> {
        // Slots are inserted and removed whole: a poisoned map is consistent.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The slot of `id`, inserted empty if there is none.
    pub fn entry(&self, id: &WorkerId) -> Slot {
        self.table()
            .entry(id.clone())
            .or_insert_with(|| Arc::new(AsyncMutex::new(SlotState::Empty)))
            .clone()
    }

    /// The slot of `id` if it has one (never inserts).
    pub fn existing(&self, id: &WorkerId) -> Option<Slot> {
        self.table().get(id).cloned()
    }

    /// Locks the slot of `id` (waiting only for that worker).
    pub async fn lock(&self, id: &WorkerId) -> OwnedMutexGuard<SlotState> {
        self.entry(id).lock_owned().await
    }

    /// Puts a loaded or created worker into a locked slot.
    pub fn fill(&self, guard: &mut OwnedMutexGuard<SlotState>, worker: Worker) {
        if !matches!(**guard, SlotState::Ready(_)) {
            self.ready.fetch_add(1, Ordering::Relaxed);
        }
        **guard = SlotState::Ready(Box::new(worker));
    }

    /// Marks a locked slot deleted and takes it out of the table.
    pub fn delete(&self, id: &WorkerId, mut guard: OwnedMutexGuard<SlotState>) {
        if matches!(*guard, SlotState::Ready(_)) {
            self.ready.fetch_sub(1, Ordering::Relaxed);
        }
        *guard = SlotState::Deleted;
        let slot = OwnedMutexGuard::mutex(&guard).clone();
        let mut table = self.table();
        if table
            .get(id)
            .is_some_and(|current| Arc::ptr_eq(current, &slot))
        {
            table.remove(id);
        }
    }

    /// Takes an empty slot out of the table (after a failed load), unless
    /// someone else is using it.
    pub fn forget_empty(&self, id: &WorkerId, slot: &Slot) {
        let mut table = self.table();
        if table
            .get(id)
            .is_some_and(|current| Arc::ptr_eq(current, slot))
            && slot
                .try_lock()
                .is_ok_and(|state| matches!(*state, SlotState::Empty))
        {
            table.remove(id);
        }
    }

    /// How many workers are in memory.
    pub fn ready(&self) -> u64 {
        self.ready.load(Ordering::Relaxed)
    }
}

/// The worker of a locked slot, if it is loaded.
pub fn ready_worker(
    guard: OwnedMutexGuard<SlotState>,
) -> Result<WorkerGuard, OwnedMutexGuard<SlotState>> {
    OwnedMutexGuard::try_map(guard, |state| match state {
        SlotState::Ready(worker) => Some(worker.as_mut()),
        _ => None,
    })
}
