//! Where a commit log frame is synced: on the committing task's own
//! runtime thread, or on a blocking thread.
//!
//! Handing a sync to tokio's blocking pool costs two thread wake-ups per
//! commit (the blocking thread, then the runtime thread when the sync is
//! over). On the development VM a wake-up of an idle vCPU is tens of
//! microseconds, and a durable call measured about 370 µs with the hand-over
//! against about 300 µs with the frame synced in place (one `fdatasync` of
//! 110-180 µs either way). So a frame is synced in place while syncs are
//! fast, and on a blocking thread once they are slow enough that holding a
//! runtime thread would stall the other tasks on it:
//!
//! - in place only on a multi-threaded runtime with more than one worker
//!   thread (the other threads keep running tasks meanwhile; a
//!   current-thread runtime, or a multi-threaded one with a single worker,
//!   would stop altogether);
//! - only for a lone committer: none waiting for the flush lock, and the
//!   frame holds one worker's records. With several committers (group
//!   commit) the runtime thread is worth more running their tasks, which
//!   fill the next frame, than saving the hand-over of one sync;
//! - only while the recent sync time (an average over the last few frames,
//!   reset by any single sync above [`SLOW_SYNC`]) is under [`INLINE_BELOW`];
//! - never for a checkpoint (sled's own flush takes milliseconds).
//!
//! The decision changes nothing that is written, nor when a commit returns:
//! either way the commit returns after its frame's `fdatasync`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Frames are synced in place while the recent sync time is below this.
pub(crate) const INLINE_BELOW: Duration = Duration::from_micros(500);
/// A single sync above this sends the next frames to a blocking thread at
/// once, whatever the average was.
pub(crate) const SLOW_SYNC: Duration = Duration::from_millis(2);

/// Where the next frame's sync runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// On the committing task's runtime thread.
    InPlace,
    /// On tokio's blocking pool.
    Blocking,
}

/// The recent sync time of one store's commit log.
#[derive(Debug, Default)]
pub(crate) struct SyncPlacement {
    /// Average of recent frame syncs, in nanoseconds (each new sync weighs
    /// an eighth); 0 before the first.
    recent_nanos: AtomicU64,
}

impl SyncPlacement {
    /// Where a frame's sync should run on a runtime of this kind, with
    /// `others_waiting` committers queued behind it.
    pub(crate) fn choose(&self, multi_threaded: bool, others_waiting: bool) -> Placement {
        let recent = Duration::from_nanos(self.recent_nanos.load(Ordering::Relaxed));
        if multi_threaded && !others_waiting && recent < INLINE_BELOW {
            Placement::InPlace
        } else {
            Placement::Blocking
        }
    }

    /// Records how long a frame's sync took (called with the flush lock
    /// held, so updates do not race).
    pub(crate) fn record(&self, took: Duration) {
        let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let old = self.recent_nanos.load(Ordering::Relaxed);
        let new = if old == 0 || took > SLOW_SYNC.as_nanos() as u64 {
            took
        } else {
            old - old / 8 + took / 8
        };
        self.recent_nanos.store(new, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_syncs_stay_in_place_on_a_multi_threaded_runtime_only() {
        let p = SyncPlacement::default();
        assert_eq!(p.choose(true, false), Placement::InPlace, "before any sync");
        for _ in 0..20 {
            p.record(Duration::from_micros(150));
        }
        assert_eq!(p.choose(true, false), Placement::InPlace);
        assert_eq!(p.choose(false, false), Placement::Blocking);
        assert_eq!(p.choose(true, true), Placement::Blocking, "others waiting");
    }

    #[test]
    fn one_very_slow_sync_moves_the_next_to_a_blocking_thread() {
        let p = SyncPlacement::default();
        for _ in 0..20 {
            p.record(Duration::from_micros(150));
        }
        p.record(Duration::from_millis(8));
        assert_eq!(p.choose(true, false), Placement::Blocking);
        // Fast syncs bring it back, once the average is down again.
        let mut back_after = None;
        for i in 1..=100 {
            p.record(Duration::from_micros(150));
            if p.choose(true, false) == Placement::InPlace {
                back_after = Some(i);
                break;
            }
        }
        let back_after = back_after.expect("fast syncs never brought the sync back in place");
        assert!(
            back_after > 5,
            "back in place after only {back_after} fast syncs"
        );
    }

    #[test]
    fn a_steadily_slowish_disk_moves_to_a_blocking_thread() {
        let p = SyncPlacement::default();
        p.record(Duration::from_micros(150));
        for _ in 0..40 {
            p.record(Duration::from_micros(900));
        }
        assert_eq!(p.choose(true, false), Placement::Blocking);
    }
}
