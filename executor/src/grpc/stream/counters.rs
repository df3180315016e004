//! Process-wide counters of live streaming activity (replayed steps are not
//! counted), served by `GET /metrics`. Plain atomics, updated on the hot path.

use std::sync::atomic::{AtomicU64, Ordering};

/// The counters; one set per process.
#[derive(Debug, Default)]
pub struct StreamCounters {
    opened: AtomicU64,
    frames_sent: AtomicU64,
    frames_received: AtomicU64,
    interrupted: AtomicU64,
    reissued: AtomicU64,
    cancelled: AtomicU64,
}

/// A reading of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Streaming calls started on the network.
    pub opened: u64,
    /// Request messages sent.
    pub frames_sent: u64,
    /// Response messages handed to guests.
    pub frames_received: u64,
    /// Server and bidi streams failed with `unavailable` after a restart.
    pub interrupted: u64,
    /// Client-streaming calls re-issued after a restart.
    pub reissued: u64,
    /// Streams cancelled by their guest (dropped or `cancel`led while open).
    pub cancelled: u64,
}

/// The process's counters.
pub static COUNTERS: StreamCounters = StreamCounters {
    opened: AtomicU64::new(0),
    frames_sent: AtomicU64::new(0),
    frames_received: AtomicU64::new(0),
    interrupted: AtomicU64::new(0),
    reissued: AtomicU64::new(0),
    cancelled: AtomicU64::new(0),
};

/// What happened, to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent {
    /// A call started on the network.
    Opened,
    /// A request message was sent.
    FrameSent,
    /// A response message reached the guest.
    FrameReceived,
    /// A stream open at a restart failed with `unavailable`.
    Interrupted,
    /// A client-streaming call was re-issued after a restart.
    Reissued,
    /// The guest cancelled an open stream.
    Cancelled,
}

impl StreamCounters {
    /// Counts one event.
    pub fn count(&self, event: StreamEvent) {
        let counter = match event {
            StreamEvent::Opened => &self.opened,
            StreamEvent::FrameSent => &self.frames_sent,
            StreamEvent::FrameReceived => &self.frames_received,
            StreamEvent::Interrupted => &self.interrupted,
            StreamEvent::Reissued => &self.reissued,
            StreamEvent::Cancelled => &self.cancelled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn stats(&self) -> StreamStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StreamStats {
            opened: load(&self.opened),
            frames_sent: load(&self.frames_sent),
            frames_received: load(&self.frames_received),
            interrupted: load(&self.interrupted),
            reissued: load(&self.reissued),
            cancelled: load(&self.cancelled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_counts_in_its_own_counter() {
        let counters = StreamCounters::default();
        counters.count(StreamEvent::FrameReceived);
        counters.count(StreamEvent::FrameReceived);
        counters.count(StreamEvent::Interrupted);
        assert_eq!(
            counters.stats(),
            StreamStats {
                frames_received: 2,
                interrupted: 1,
                ..StreamStats::default()
            }
        );
    }
}
