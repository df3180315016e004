//! Per-call accounting of streaming handlers: every message a handler hands
//! to tonic or reads from the client is counted on the shared
//! [`ServerState`], a call whose client went away is counted as cancelled,
//! and a call can be held after its `n`-th message
//! ([`ServerState::park_after_frames`]) until the test releases it.
//!
//! A call counts as cancelled (once) when a response cannot be handed to
//! tonic because its channel closed (also noticed while the call is held),
//! when reading the request stream fails with a reset or a lost connection,
//! or when tonic drops the handler before it finished (the connection died
//! while the handler was waiting).

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::state::{ParkedGuard, ServerState};

/// Which messages the park-after-`n` threshold of a call counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParkOn {
    /// Responses sent (server streaming and bidi calls).
    Sent,
    /// Requests read (client streaming calls).
    Received,
}

/// The frame tracker of one streaming call, created by [`ServerState::stream`]
/// right after [`ServerState::enter`].
pub(crate) struct CallFrames {
    state: Arc<ServerState>,
    method: &'static str,
    park_on: ParkOn,
    /// Park after this many counted messages, if the switch asked for it when
    /// the call started; cleared once the call has parked.
    park_after: Option<u64>,
    /// The release generation seen when the call started.
    generation: u64,
    sent: u64,
    received: u64,
    cancelled: bool,
    /// The handler reached a normal end (or ended on bad input).
    finished: bool,
}

impl CallFrames {
    pub(crate) fn new(
        state: Arc<ServerState>,
        method: &'static str,
        park_on: ParkOn,
        park_after: Option<u64>,
        generation: u64,
    ) -> Self {
        Self {
            state,
            method,
            park_on,
            park_after,
            generation,
            sent: 0,
            received: 0,
            cancelled: false,
            finished: false,
        }
    }

    /// Sends one response into tonic's channel: counts it and holds the call
    /// if that was the `n`-th; `false` (and the call counted as cancelled)
    /// when the client is gone.
    pub(crate) async fn send<T>(
        &mut self,
        tx: &mpsc::Sender<Result<T, tonic::Status>>,
        item: T,
    ) -> bool {
        if tx.send(Ok(item)).await.is_err() {
            self.client_gone();
            return false;
        }
        self.sent += 1;
        self.state.count_sent(self.method);
        if self.park_on == ParkOn::Sent && self.should_park(self.sent) {
            self.park(Some(tx)).await;
        }
        true
    }

    /// Sends the final error status into tonic's channel (not a message, so
    /// not counted as a frame) and marks the call finished; `false` when the
    /// client is gone.
    pub(crate) async fn send_status<T>(
        &mut self,
        tx: &mpsc::Sender<Result<T, tonic::Status>>,
        status: tonic::Status,
    ) -> bool {
        if tx.send(Err(status)).await.is_err() {
            self.client_gone();
            return false;
        }
        self.finished = true;
        true
    }

    /// Marks the call as ended normally, so dropping the tracker does not
    /// count it as cancelled.
    pub(crate) fn finish(&mut self) {
        self.finished = true;
    }

    /// Counts one request message the handler read and holds the call if
    /// that was the `n`-th read of a client streaming call.
    pub(crate) async fn received(&mut self) {
        self.received += 1;
        self.state.count_received(self.method);
        if self.park_on == ParkOn::Received && self.should_park(self.received) {
            // The request stream cannot be watched without reading it; a
            // client that goes away meanwhile is seen by the next read, or by
            // tonic dropping the handler.
            self.park::<()>(None).await;
        }
    }

    /// Reads the next request message: counts it (and maybe parks), counts
    /// the call as cancelled when the request stream broke because the
    /// client went away, and passes the outcome on.
    pub(crate) async fn read<T>(
        &mut self,
        stream: &mut tonic::Streaming<T>,
    ) -> Result<Option<T>, tonic::Status> {
        match stream.message().await {
            Ok(Some(message)) => {
                self.received().await;
                Ok(Some(message))
            }
            Ok(None) => Ok(None),
            Err(status) => {
                if is_disconnect(&status) {
                    self.client_gone();
                } else {
                    // A malformed or oversized message ends the call.
                    self.finished = true;
                }
                Err(status)
            }
        }
    }

    /// Records that the client went away (once per call).
    pub(crate) fn client_gone(&mut self) {
        if !self.cancelled {
            self.cancelled = true;
            self.state.count_cancelled(self.method);
        }
    }

    fn should_park(&mut self, count: u64) -> bool {
        if self.park_after == Some(count) {
            self.park_after = None;
            true
        } else {
            false
        }
    }

    /// Holds the call until the next release; while held, a closed response
    /// channel (`tx`) is counted as the client going away.
    async fn park<T>(&mut self, tx: Option<&mpsc::Sender<Result<T, tonic::Status>>>) {
        let state = self.state.clone();
        let mut switch = state.subscribe_park();
        if switch.borrow_and_update().generation != self.generation {
            // Released while this message was on its way.
            return;
        }
        state.parked_sender().send_modify(|n| *n += 1);
        let _guard = ParkedGuard(state.parked_sender());
        let generation = self.generation;
        // The sender lives as long as the state, so this ends on release.
        let released = switch.wait_for(|s| s.generation != generation);
        tokio::pin!(released);
        if let Some(tx) = tx {
            tokio::select! {
                _ = &mut released => return,
                () = tx.closed() => self.client_gone(),
            }
        }
        let _ = released.await;
    }
}

impl Drop for CallFrames {
    fn drop(&mut self) {
        // tonic drops a handler whose connection died while it waited.
        if !self.finished {
            self.client_gone();
        }
    }
}

/// Whether a request-stream read failed because the client went away
/// (stream reset or cancelled, connection lost) rather than because a
/// message was malformed or too large.
pub(crate) fn is_disconnect(status: &tonic::Status) -> bool {
    use tonic::Code;
    match status.code() {
        Code::Cancelled | Code::Unavailable | Code::Unknown => true,
        Code::Internal => status.message().starts_with("h2 protocol error"),
        _ => false,
    }
}
