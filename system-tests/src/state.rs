//! What a test server observed and the switches a test uses to steer it.
//!
//! Every handler of every test server calls [`ServerState::enter`] first. That
//! counts the call, records its `idempotency-key` and its request metadata,
//! fails it if the test queued a failure for the method, and holds it while the
//! park switch covers the method. Methods are named by their short gRPC name
//! (`"TodoAdd"`, `"UnaryCall"`), since each test server hosts one service.
//!
//! Streaming handlers also count the messages they send and read and the
//! calls whose client went away (see [`crate::frames`]), and can be held after
//! their `n`-th message ([`ServerState::park_after_frames`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tonic::metadata::{KeyAndValueRef, MetadataMap};

use crate::Error;
use crate::frames::{CallFrames, ParkOn};

/// The metadata key a durable client uses to identify a retried call.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The request metadata of one call, as the server received it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordedMetadata {
    /// ASCII entries `(key, value)` in arrival order (keys lower-case).
    pub ascii: Vec<(String, String)>,
    /// Binary (`-bin`) entries `(key, decoded bytes)` in arrival order.
    pub binary: Vec<(String, Vec<u8>)>,
}

impl RecordedMetadata {
    fn from_map(map: &MetadataMap) -> Self {
        let mut out = Self::default();
        for entry in map.iter() {
            match entry {
                KeyAndValueRef::Ascii(key, value) => {
                    let text = String::from_utf8_lossy(value.as_encoded_bytes()).into_owned();
                    out.ascii.push((key.as_str().to_owned(), text));
                }
                KeyAndValueRef::Binary(key, value) => {
                    // An undecodable value is recorded as its raw encoded form so
                    // nothing the client sent is silently dropped.
                    let bytes = value
                        .to_bytes()
                        .map(|b| b.to_vec())
                        .unwrap_or_else(|_| value.as_encoded_bytes().to_vec());
                    out.binary.push((key.as_str().to_owned(), bytes));
                }
            }
        }
        out
    }

    /// The first ASCII value of `key` (lower-case), if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.ascii
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first binary value of `key` (a `-bin` key), if present.
    pub fn get_bin(&self, key: &str) -> Option<&[u8]> {
        self.binary
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// A failure a test queued for the next call of a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedFailure {
    /// The gRPC status code to answer with.
    pub code: tonic::Code,
    /// The status message.
    pub message: String,
    /// Encoded `google.rpc.Status` for `grpc-status-details-bin` (may be empty).
    pub details: Vec<u8>,
}

impl InjectedFailure {
    /// A failure with a code and message and no rich details.
    pub fn new(code: tonic::Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    fn to_status(&self) -> tonic::Status {
        if self.details.is_empty() {
            tonic::Status::new(self.code, self.message.clone())
        } else {
            tonic::Status::with_details(
                self.code,
                self.message.clone(),
                self.details.clone().into(),
            )
        }
    }
}

/// Which calls the park switch currently holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum ParkMode {
    #[default]
    Off,
    All,
    Methods(HashSet<String>),
}

impl ParkMode {
    fn holds(&self, method: &str) -> bool {
        match self {
            ParkMode::Off => false,
            ParkMode::All => true,
            ParkMode::Methods(set) => set.contains(method),
        }
    }
}

/// The park switch: which calls `enter` holds, after how many messages
/// streaming calls hold, and a generation bumped by every release.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParkSwitch {
    mode: ParkMode,
    after_frames: HashMap<String, u64>,
    /// Bumped by [`ServerState::release`]; a call held after `n` messages
    /// waits for it to change.
    pub(crate) generation: u64,
}

#[derive(Debug, Default)]
struct Records {
    calls: HashMap<String, u64>,
    frames_sent: HashMap<String, u64>,
    frames_received: HashMap<String, u64>,
    cancelled: HashMap<String, u64>,
    idempotency_keys: HashMap<String, Vec<String>>,
    metadata: HashMap<String, Vec<RecordedMetadata>>,
    failures: HashMap<String, VecDeque<InjectedFailure>>,
    /// What handlers noted about each request ([`ServerState::note_request`]).
    requests: HashMap<String, Vec<String>>,
    /// Calls of a parked method still let through before it holds them.
    let_through: HashMap<String, u64>,
}

/// Counters, records and switches shared by a test server and its test.
#[derive(Debug)]
pub struct ServerState {
    records: Mutex<Records>,
    park: watch::Sender<ParkSwitch>,
    parked: watch::Sender<usize>,
}

impl Default for ServerState {
    fn default() -> Self {
        Self {
            records: Mutex::new(Records::default()),
            park: watch::Sender::new(ParkSwitch::default()),
            parked: watch::Sender::new(0),
        }
    }
}

/// Decrements the parked-call count when a held call leaves, even if the
/// client cancelled it while it was held.
pub(crate) struct ParkedGuard<'a>(pub(crate) &'a watch::Sender<usize>);

impl Drop for ParkedGuard<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl ServerState {
    fn lock(&self) -> MutexGuard<'_, Records> {
        // A handler that panicked while holding the lock leaves plain counters
        // behind; they are still meaningful, so recover them.
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Called first by every handler: counts and records the call, returns a
    /// queued failure if there is one, then waits while the method is parked.
    pub async fn enter(&self, method: &str, metadata: &MetadataMap) -> Result<(), tonic::Status> {
        let failure = {
            let mut records = self.lock();
            *records.calls.entry(method.to_owned()).or_default() += 1;
            if let Some(key) = metadata.get(IDEMPOTENCY_KEY) {
                let key = String::from_utf8_lossy(key.as_encoded_bytes()).into_owned();
                records
                    .idempotency_keys
                    .entry(method.to_owned())
                    .or_default()
                    .push(key);
            }
            records
                .metadata
                .entry(method.to_owned())
                .or_default()
                .push(RecordedMetadata::from_map(metadata));
            records
                .failures
                .get_mut(method)
                .and_then(VecDeque::pop_front)
        };
        if let Some(failure) = failure {
            return Err(failure.to_status());
        }
        let mut switch = self.park.subscribe();
        if switch.borrow_and_update().mode.holds(method) && !self.let_through(method) {
            self.parked.send_modify(|n| *n += 1);
            let _guard = ParkedGuard(&self.parked);
            // The sender lives as long as `self`, so this only ends on release.
            let _ = switch.wait_for(|s| !s.mode.holds(method)).await;
        }
        Ok(())
    }

    /// How many calls of `method` arrived (including failed and parked ones).
    pub fn calls(&self, method: &str) -> u64 {
        self.lock().calls.get(method).copied().unwrap_or(0)
    }

    /// Notes `text` about a request of `method` as it arrives (before
    /// [`Self::enter`], so a call then held is noted too).
    pub fn note_request(&self, method: &str, text: &str) {
        self.lock()
            .requests
            .entry(method.to_owned())
            .or_default()
            .push(text.to_owned());
    }

    /// What handlers noted about the requests of `method`, in arrival order.
    pub fn requests(&self, method: &str) -> Vec<String> {
        self.lock()
            .requests
            .get(method)
            .cloned()
            .unwrap_or_default()
    }

    /// Calls per method, for every method called at least once.
    pub fn all_calls(&self) -> HashMap<String, u64> {
        self.lock().calls.clone()
    }

    /// The `idempotency-key` values received for `method`, in arrival order
    /// (a retried call shows up twice with the same key).
    pub fn idempotency_keys(&self, method: &str) -> Vec<String> {
        self.lock()
            .idempotency_keys
            .get(method)
            .cloned()
            .unwrap_or_default()
    }

    /// The request metadata of every call of `method`, in arrival order.
    pub fn metadata(&self, method: &str) -> Vec<RecordedMetadata> {
        self.lock()
            .metadata
            .get(method)
            .cloned()
            .unwrap_or_default()
    }

    /// Queues a failure: the next call of `method` is answered with it
    /// (after being counted) instead of running. Queued failures are used in order.
    pub fn fail_next(&self, method: &str, failure: InjectedFailure) {
        self.lock()
            .failures
            .entry(method.to_owned())
            .or_default()
            .push_back(failure);
    }

    /// Holds every call (of any method) arriving from now on, until [`Self::release`].
    pub fn park_all(&self) {
        self.park.send_modify(|s| s.mode = ParkMode::All);
    }

    /// Holds calls of `method` arriving from now on, until [`Self::release`].
    /// Adds to methods already parked.
    pub fn park_method(&self, method: &str) {
        self.park.send_modify(|switch| match &mut switch.mode {
            ParkMode::Methods(set) => {
                set.insert(method.to_owned());
            }
            ParkMode::All => {}
            ParkMode::Off => {
                switch.mode = ParkMode::Methods(HashSet::from([method.to_owned()]));
            }
        });
    }

    /// Like [`Self::park_method`], but the next `n` calls of `method` still
    /// run; the ones after them are held.
    pub fn park_method_after(&self, method: &str, n: u64) {
        self.lock().let_through.insert(method.to_owned(), n);
        self.park_method(method);
    }

    /// Takes one pass from `method`'s let-through count, if any is left.
    fn let_through(&self, method: &str) -> bool {
        match self.lock().let_through.get_mut(method) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    /// Streaming calls of `method` starting from now on send (server
    /// streaming and bidi calls) or read (client streaming calls) `n`
    /// messages, then hold until [`Self::release`]; a held call counts in
    /// [`Self::parked_now`]. Stays in force for every call starting before
    /// the release; `n == 0` holds nothing.
    pub fn park_after_frames(&self, method: &str, n: u64) {
        self.park.send_modify(|switch| {
            if n == 0 {
                switch.after_frames.remove(method);
            } else {
                switch.after_frames.insert(method.to_owned(), n);
            }
        });
    }

    /// Turns the park switch off (including every
    /// [`Self::park_after_frames`]) and lets every held call continue.
    pub fn release(&self) {
        self.lock().let_through.clear();
        self.park.send_modify(|switch| {
            switch.mode = ParkMode::Off;
            switch.after_frames.clear();
            switch.generation = switch.generation.wrapping_add(1);
        });
    }

    /// The frame tracker of a streaming call of `method` that starts now
    /// (call right after [`Self::enter`]).
    pub(crate) fn stream(self: &Arc<Self>, method: &'static str, park_on: ParkOn) -> CallFrames {
        let (park_after, generation) = {
            let switch = self.park.borrow();
            (switch.after_frames.get(method).copied(), switch.generation)
        };
        CallFrames::new(self.clone(), method, park_on, park_after, generation)
    }

    pub(crate) fn subscribe_park(&self) -> watch::Receiver<ParkSwitch> {
        self.park.subscribe()
    }

    pub(crate) fn parked_sender(&self) -> &watch::Sender<usize> {
        &self.parked
    }

    pub(crate) fn count_sent(&self, method: &str) {
        *self
            .lock()
            .frames_sent
            .entry(method.to_owned())
            .or_default() += 1;
    }

    pub(crate) fn count_received(&self, method: &str) {
        *self
            .lock()
            .frames_received
            .entry(method.to_owned())
            .or_default() += 1;
    }

    pub(crate) fn count_cancelled(&self, method: &str) {
        *self.lock().cancelled.entry(method.to_owned()).or_default() += 1;
    }

    /// Response messages the handlers of `method` handed to tonic so far
    /// (streaming methods only; a send counts once tonic's channel took it).
    pub fn frames_sent(&self, method: &str) -> u64 {
        self.lock().frames_sent.get(method).copied().unwrap_or(0)
    }

    /// Request messages the handlers of `method` read so far (streaming
    /// methods only; the single request of a server streaming call counts).
    pub fn frames_received(&self, method: &str) -> u64 {
        self.lock()
            .frames_received
            .get(method)
            .copied()
            .unwrap_or(0)
    }

    /// Calls of `method` whose client went away before the handler finished:
    /// a response could not be handed over because tonic's channel was
    /// closed, or reading the request stream failed with a reset, a
    /// cancellation or a lost connection.
    pub fn cancelled(&self, method: &str) -> u64 {
        self.lock().cancelled.get(method).copied().unwrap_or(0)
    }

    /// Polls `predicate` every few milliseconds until it holds, or fails
    /// after `timeout` naming `what`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        predicate: impl Fn(&ServerState) -> bool,
    ) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if predicate(self) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: what.to_owned(),
                    after: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// How many calls are being held right now.
    pub fn parked_now(&self) -> usize {
        *self.parked.borrow()
    }

    /// Waits until at least `count` calls are held, or fails after `timeout`.
    pub async fn wait_parked(&self, count: usize, timeout: Duration) -> Result<(), Error> {
        let mut parked = self.parked.subscribe();
        match tokio::time::timeout(timeout, parked.wait_for(|n| *n >= count)).await {
            Ok(Ok(_)) => Ok(()),
            _ => Err(Error::Timeout {
                what: format!("{count} parked call(s) (have {})", self.parked_now()),
                after: timeout,
            }),
        }
    }

    /// Waits until `method` has been called at least `count` times, or fails
    /// after `timeout`. Polls every few milliseconds.
    pub async fn wait_calls(
        &self,
        method: &str,
        count: u64,
        timeout: Duration,
    ) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.calls(method) >= count {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{count} call(s) of {method} (have {})", self.calls(method)),
                    after: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
