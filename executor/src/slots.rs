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
//!
//! The number of loaded workers is bounded: every access stamps the slot,
//! and when a load or create goes beyond the bound, the least recently
//! used idle workers (slot not locked, no stream open) are dropped from
//! memory — down to nine tenths of the bound, so the scan is rare — and
//! go back to [`SlotState::Empty`]; their next use rebuilds them by replay.
//! Their slots stay in the table (a few dozen bytes each), so a worker is
//! never loaded twice through two slots.

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

/// The default bound on loaded workers.
pub const DEFAULT_MAX_LOADED: usize = 10_000;

/// A slot and when it was last used.
#[derive(Debug)]
struct Entry {
    slot: Slot,
    used: u64,
}

/// The table of slots.
#[derive(Debug)]
pub struct WorkerSlots {
    slots: Mutex<HashMap<WorkerId, Entry>>,
    ready: AtomicU64,
    clock: AtomicU64,
    max_loaded: usize,
    evicted: AtomicU64,
}

impl Default for WorkerSlots {
    fn default() -> Self {
        Self::with_bound(DEFAULT_MAX_LOADED)
    }
}

impl WorkerSlots {
    /// A table keeping at most `max_loaded` workers in memory (at least 1).
    pub fn with_bound(max_loaded: usize) -> Self {
        WorkerSlots {
            slots: Mutex::new(HashMap::new()),
            ready: AtomicU64::new(0),
            clock: AtomicU64::new(0),
            max_loaded: max_loaded.max(1),
            evicted: AtomicU64::new(0),
        }
    }

    fn table(&self) -> MutexGuard<'_, HashMap<WorkerId, Entry>> {
        // Slots are inserted and removed whole: a poisoned map is consistent.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The slot of `id`, inserted empty if there is none; stamps it used.
    pub fn entry(&self, id: &WorkerId) -> Slot {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut table = self.table();
        let entry = table.entry(id.clone()).or_insert_with(|| Entry {
            slot: Arc::new(AsyncMutex::new(SlotState::Empty)),
            used: now,
        });
        entry.used = now;
        entry.slot.clone()
    }

    /// The slot of `id` if it has one (never inserts).
    pub fn existing(&self, id: &WorkerId) -> Option<Slot> {
        self.table().get(id).map(|e| e.slot.clone())
    }

    /// Drops least recently used idle workers from memory while more than
    /// the bound are loaded (down to nine tenths of it); returns how many.
    /// Locked slots (in use, or the caller's own) are never touched.
    pub fn evict_idle(&self) -> usize {
        if self.ready() as usize <= self.max_loaded {
            return 0;
        }
        let target = (self.max_loaded - self.max_loaded / 10) as u64;
        self.evict_lru_while(|| self.ready() > target)
    }

    /// Drops least recently used idle workers from memory, one by one,
    /// while `over()` holds; returns how many. Locked slots are skipped.
    pub fn evict_lru_while(&self, over: impl Fn() -> bool) -> usize {
        if !over() {
            return 0;
        }
        let mut candidates: Vec<(u64, Slot)> = self
            .table()
            .values()
            .map(|e| (e.used, e.slot.clone()))
            .collect();
        candidates.sort_by_key(|(used, _)| *used);
        let mut evicted = 0;
        for (_, slot) in candidates {
            if !over() {
                break;
            }
            let Ok(mut state) = slot.try_lock() else {
                continue;
            };
            if matches!(&*state, SlotState::Ready(worker) if worker.evictable()) {
                *state = SlotState::Empty;
                self.ready.fetch_sub(1, Ordering::Relaxed);
                evicted += 1;
            }
        }
        self.evicted.fetch_add(evicted as u64, Ordering::Relaxed);
        evicted
    }

    /// The slots whose worker id `matches`.
    fn matching(&self, matches: impl Fn(&WorkerId) -> bool) -> Vec<(WorkerId, Slot)> {
        self.table()
            .iter()
            .filter(|(id, _)| matches(id))
            .map(|(id, e)| (id.clone(), e.slot.clone()))
            .collect()
    }

    /// Empties a locked slot (dropping its worker from memory) and takes it
    /// out of the table; true if a worker was dropped.
    fn unload(&self, id: &WorkerId, slot: &Slot, mut state: OwnedMutexGuard<SlotState>) -> bool {
        let dropped = matches!(*state, SlotState::Ready(_));
        if dropped {
            *state = SlotState::Empty;
            self.ready.fetch_sub(1, Ordering::Relaxed);
        }
        drop(state);
        self.forget_empty(id, slot);
        dropped
    }

    /// Drops from memory every idle loaded worker whose id `matches`
    /// (busy ones are skipped); returns how many.
    pub fn unload_idle_matching(&self, matches: impl Fn(&WorkerId) -> bool) -> usize {
        let mut dropped = 0;
        for (id, slot) in self.matching(matches) {
            if let Ok(state) = slot.clone().try_lock_owned() {
                dropped += usize::from(self.unload(&id, &slot, state));
            }
        }
        dropped
    }

    /// The loaded workers whose id `matches` that are busy (running an
    /// invocation, or being loaded) now.
    pub fn busy_matching(&self, matches: impl Fn(&WorkerId) -> bool) -> Vec<WorkerId> {
        self.matching(matches)
            .into_iter()
            .filter(|(_, slot)| slot.clone().try_lock_owned().is_err())
            .map(|(id, _)| id)
            .collect()
    }

    /// How many workers were dropped from memory by the bound, since start.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Locks the slot of `id` (waiting only for that worker). The slot
    /// locked is the table's: an empty slot taken out of the table (by
    /// [`forget_empty`](Self::forget_empty)) between looking it up and
    /// locking it is put back when no other slot took its place, else the
    /// table's is locked instead. (Locking the orphan loaded the worker a
    /// second time beside the table's slot, and left the count of loaded
    /// workers too high when it was dropped.)
    pub async fn lock(&self, id: &WorkerId) -> OwnedMutexGuard<SlotState> {
        self.lock_found(id, self.entry(id)).await
    }

    /// [`lock`](Self::lock) without waiting: `None` while another task
    /// holds the slot of `id` (an invocation, a load, a delete).
    pub fn try_lock(&self, id: &WorkerId) -> Option<OwnedMutexGuard<SlotState>> {
        let mut slot = self.entry(id);
        // Bounded as in `lock_found`.
        for _ in 0..16 {
            let guard = slot.clone().try_lock_owned().ok()?;
            match self.settle(id, &slot, &guard) {
                None => return Some(guard),
                Some(current) => slot = current,
            }
        }
        slot.try_lock_owned().ok()
    }

    /// [`lock`](Self::lock) of `slot`, found in the table for `id` a moment
    /// ago.
    async fn lock_found(&self, id: &WorkerId, mut slot: Slot) -> OwnedMutexGuard<SlotState> {
        // Bounded: each round follows a slot another task put in the table
        // since the last; a few outlast any realistic race.
        for _ in 0..16 {
            let guard = slot.clone().lock_owned().await;
            match self.settle(id, &slot, &guard) {
                None => return guard,
                Some(current) => slot = current,
            }
        }
        slot.lock_owned().await
    }

    /// After `slot` was locked for `id`: `None` if it is the one to use
    /// (put back in the table if it had been taken out empty), else the
    /// slot the table holds now, to lock instead.
    fn settle(&self, id: &WorkerId, slot: &Slot, state: &SlotState) -> Option<Slot> {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut table = self.table();
        match table.get(id) {
            Some(current) if !Arc::ptr_eq(&current.slot, slot) => Some(current.slot.clone()),
            Some(_) => None,
            // A deleted slot stays out: its lockers look again.
            None if matches!(state, SlotState::Deleted) => None,
            None => {
                table.insert(
                    id.clone(),
                    Entry {
                        slot: slot.clone(),
                        used: now,
                    },
                );
                None
            }
        }
    }

    /// Puts a loaded or created worker into a locked slot.
    pub fn fill(&self, guard: &mut OwnedMutexGuard<SlotState>, worker: Worker) {
        if !matches!(**guard, SlotState::Ready(_)) {
            self.ready.fetch_add(1, Ordering::Relaxed);
        }
        **guard = SlotState::Ready(Box::new(worker));
        self.evict_idle();
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
            .is_some_and(|current| Arc::ptr_eq(&current.slot, &slot))
        {
            table.remove(id);
        }
    }

    /// Takes an empty slot out of the table (after a failed load or
    /// creation), unless someone else is using it; returns whether it did.
    pub fn forget_empty(&self, id: &WorkerId, slot: &Slot) -> bool {
        let mut table = self.table();
        let forget = table
            .get(id)
            .is_some_and(|current| Arc::ptr_eq(&current.slot, slot))
            && slot
                .try_lock()
                .is_ok_and(|state| matches!(*state, SlotState::Empty));
        if forget {
            table.remove(id);
        }
        forget
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_slot_forgotten_before_it_is_locked_is_the_one_in_the_table() {
        // A task that looked a slot up, then locked it after a failed load
        // had taken it out of the table, loaded the worker into an orphan
        // while the next request loaded it again into a new slot.
        let slots = WorkerSlots::with_bound(10);
        let id = WorkerId::new("w").unwrap();
        let looked_up = slots.entry(&id);
        slots.forget_empty(&id, &looked_up);
        assert!(slots.existing(&id).is_none(), "taken out");
        // Locking it finds it gone and puts it back before handing it over.
        let guard = slots.lock_found(&id, looked_up.clone()).await;
        let locked = OwnedMutexGuard::mutex(&guard).clone();
        assert!(Arc::ptr_eq(&locked, &looked_up));
        assert!(
            slots
                .existing(&id)
                .is_some_and(|current| Arc::ptr_eq(&current, &locked)),
            "the locked slot is the table's"
        );
        drop(guard);
        // A deleted slot is not put back.
        let guard = slots.lock(&id).await;
        slots.delete(&id, guard);
        assert!(slots.existing(&id).is_none());
    }

    #[tokio::test]
    async fn try_lock_never_waits_and_locks_the_table_slot() {
        let slots = WorkerSlots::with_bound(10);
        let id = WorkerId::new("w").unwrap();
        let held = slots.lock(&id).await;
        assert!(slots.try_lock(&id).is_none(), "held by another task");
        drop(held);
        let guard = slots.try_lock(&id).expect("free");
        let locked = OwnedMutexGuard::mutex(&guard).clone();
        assert!(
            slots
                .existing(&id)
                .is_some_and(|current| Arc::ptr_eq(&current, &locked)),
            "the locked slot is the table's"
        );
        // A deleted slot is handed over as deleted (the caller looks
        // again), and the next try finds a fresh slot.
        slots.delete(&id, guard);
        let fresh = slots.try_lock(&id).expect("a new slot");
        assert!(matches!(*fresh, SlotState::Empty));
        assert!(!Arc::ptr_eq(OwnedMutexGuard::mutex(&fresh), &locked));
    }
}
