//! Handles of streaming calls. Each call runs on a spawned task (its
//! "driver") that feeds response events into a bounded queue; the handle
//! reads them one step at a time. The driver claims queue slots half a
//! queue at a time, so a full queue wakes it once per batch, not per message. Dropping a handle aborts the driver, which
//! resets the HTTP/2 stream and so cancels the call on the server.

use prost_reflect::DynamicMessage;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tonic::client::Grpc;

use super::codec::Outgoing;
use super::framing::FramedChannel;
use super::requests::{Requests, SendFailure};
use super::{CallContext, UnaryResponse};
use crate::client::metadata::Metadata;
use crate::status::{Code, RpcStatus};

/// What the driver reports, in order: headers, messages (of type `M`:
/// decoded messages, or raw protobuf bytes), then the outcome.
pub(crate) enum Event<M> {
    Headers(Metadata),
    Message(M),
    /// Trailers on success, the status on failure.
    Done(Result<Metadata, RpcStatus>),
}

/// The receiving end of a running call.
pub(crate) struct Driver<M = DynamicMessage> {
    events: mpsc::Receiver<Event<M>>,
    task: JoinHandle<()>,
    /// Turns true when the task has its outcome (before it is queued: a
    /// full queue must not hide that the call is over).
    finished: watch::Receiver<bool>,
    /// This client's deadline passed: its status, set before it is queued, so
    /// that the next step reports it ahead of responses still queued (read
    /// slowly, they held the call back until the deadline).
    expired: std::sync::Arc<std::sync::Mutex<Option<RpcStatus>>>,
    headers: Option<Metadata>,
    trailers: Option<Metadata>,
    outcome: Option<Result<(), RpcStatus>>,
}

impl<M> std::fmt::Debug for Driver<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("headers", &self.headers)
            .field("trailers", &self.trailers)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

impl<M> Drop for Driver<M> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Spawns the task that performs a call and reports its events.
pub(crate) fn drive<S, C, M>(
    runtime: &Handle,
    mut grpc: Grpc<FramedChannel>,
    request: tonic::Request<S>,
    path: http::uri::PathAndQuery,
    codec: C,
    context: CallContext,
    buffer: usize,
) -> Driver<M>
where
    S: tokio_stream::Stream<Item = Outgoing> + Send + 'static,
    C: tonic::codec::Codec<Encode = Outgoing, Decode = M> + Send + 'static,
    M: Send + Sync + 'static,
{
    let (tx, events) = mpsc::channel(buffer);
    let (finished_tx, finished) = watch::channel(false);
    let expired = std::sync::Arc::new(std::sync::Mutex::new(None));
    let expired_tx = expired.clone();
    let batch = (buffer / 2).max(1);
    let task = runtime.spawn(async move {
        let ctx = &context;
        let tx = &tx;
        // Ok(None): the handle is gone, nobody to report to.
        let run = async move {
            grpc.ready().await.map_err(|e| ctx.transport(e))?;
            let response = grpc
                .streaming(request, path, codec)
                .await
                .map_err(|s| ctx.status(s))?;
            let (headers, mut body, _) = response.into_parts();
            if tx
                .send(Event::Headers(Metadata::from_tonic(&headers)))
                .await
                .is_err()
            {
                return Ok(None);
            }
            // Slots are claimed a batch at a time: when the reader is the
            // slower side (the queue is full), this task wakes once per
            // `batch` messages it reads, not once per message. The queue
            // still never holds more than `buffer` events.
            'stream: loop {
                let Ok(permits) = tx.reserve_many(batch).await else {
                    return Ok(None);
                };
                for permit in permits {
                    match body.message().await.map_err(|s| ctx.status_mid_call(s))? {
                        Some(message) => permit.send(Event::Message(message)),
                        None => break 'stream,
                    }
                }
            }
            let trailers = body.trailers().await.map_err(|s| ctx.status_mid_call(s))?;
            Ok(Some(
                trailers
                    .map(|t| Metadata::from_tonic(&t))
                    .unwrap_or_default(),
            ))
        };
        let outcome = match ctx.within_deadline(run).await {
            Ok(Ok(None)) => return,
            Ok(Ok(Some(trailers))) => Ok(trailers),
            // The server's own status, whatever its code, comes after the
            // responses it sent before it.
            Ok(Err(status)) => Err(status),
            Err(expired) => {
                *expired_tx.lock().unwrap_or_else(|p| p.into_inner()) = Some(expired.clone());
                Err(expired)
            }
        };
        finished_tx.send_replace(true);
        // If the handle is gone there is nobody left to tell.
        let _ = tx.send(Event::Done(outcome)).await;
    });
    Driver {
        events,
        task,
        finished,
        expired,
        headers: None,
        trailers: None,
        outcome: None,
    }
}

impl<M> Driver<M> {
    /// The next response message, `None` after a successful end, or the
    /// call's failure (repeated on every later call).
    async fn next(&mut self) -> Result<Option<M>, RpcStatus> {
        loop {
            if let Some(outcome) = &self.outcome {
                return outcome.clone().map(|()| None);
            }
            let expired = self
                .expired
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(status) = expired {
                // Responses still queued are dropped with the call.
                self.outcome = Some(Err(status));
                continue;
            }
            match self.events.recv().await {
                Some(Event::Headers(headers)) => self.headers = Some(headers),
                Some(Event::Message(message)) => return Ok(Some(message)),
                Some(Event::Done(Ok(trailers))) => {
                    self.trailers = Some(trailers);
                    self.outcome = Some(Ok(()));
                }
                Some(Event::Done(Err(status))) => self.outcome = Some(Err(status)),
                None => {
                    self.outcome = Some(Err(RpcStatus::new(
                        Code::Internal,
                        "the call's task stopped without reporting an outcome",
                    )));
                }
            }
        }
    }

    fn cancel(&mut self) {
        self.task.abort();
        if self.outcome.is_none() {
            self.outcome = Some(Err(RpcStatus::new(
                Code::Cancelled,
                "the call was cancelled by the client",
            )));
        }
    }

    fn ended(&self) -> bool {
        self.outcome.is_some()
    }

    /// Resolves once the call is over, whether or not its outcome has been
    /// read (also when the task is gone).
    async fn finished(&mut self) {
        let _ = self.finished.wait_for(|done| *done).await;
    }
}

/// Queues `message` unless the call is over first: a request the server
/// stopped reading (no flow-control window) must not hold the sender past
/// the call's deadline or its end.
async fn send_unless_over<M>(
    requests: &mut Requests,
    driver: &mut Driver<M>,
    message: DynamicMessage,
) -> Result<(), SendFailure> {
    tokio::select! {
        biased;
        () = driver.finished() => Err(SendFailure::CallEnded),
        sent = requests.send(message) => sent,
    }
}

/// A running server-streaming call.
#[derive(Debug)]
pub struct ServerStream<M = DynamicMessage> {
    driver: Driver<M>,
}

impl<M> ServerStream<M> {
    pub(crate) fn new(driver: Driver<M>) -> Self {
        Self { driver }
    }

    /// The next response: `Ok(Some(m))`, `Ok(None)` once the server ended
    /// the stream successfully, or the call's failing status. After the end
    /// every call returns the same outcome again.
    pub async fn next(&mut self) -> Result<Option<M>, RpcStatus> {
        self.driver.next().await
    }

    /// The response headers, once [`Self::next`] has seen them.
    pub fn headers(&self) -> Option<&Metadata> {
        self.driver.headers.as_ref()
    }

    /// The response trailers, once the stream ended successfully.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.driver.trailers.as_ref()
    }

    /// Cancels the call; later [`Self::next`] calls return `CANCELLED`
    /// (unless the call had already ended).
    pub fn cancel(&mut self) {
        self.driver.cancel();
    }
}

/// A running client-streaming call.
#[derive(Debug)]
pub struct ClientStream {
    requests: Requests,
    driver: Driver,
    response: Option<Result<UnaryResponse, RpcStatus>>,
    ended_by_server: bool,
}

impl ClientStream {
    pub(crate) fn new(requests: Requests, driver: Driver) -> Self {
        Self {
            requests,
            driver,
            response: None,
            ended_by_server: false,
        }
    }

    /// Sends one request. Waits while the request queue is full (the server
    /// reads slowly). If the call has already ended, returns its failing
    /// status, or `FAILED_PRECONDITION` if the server already answered.
    pub async fn send(&mut self, message: DynamicMessage) -> Result<(), RpcStatus> {
        match send_unless_over(&mut self.requests, &mut self.driver, message).await {
            Ok(()) => Ok(()),
            Err(SendFailure::Rejected(status)) => Err(status),
            Err(SendFailure::CallEnded) => match self.ended_early().await {
                Err(status) => Err(status),
                Ok(_) => Err(RpcStatus::new(
                    Code::FailedPrecondition,
                    format!(
                        "{} already completed; finish() returns its response",
                        self.requests.method.full_name()
                    ),
                )),
            },
        }
    }

    /// The call ended before this handle finished it; its outcome.
    async fn ended_early(&mut self) -> Result<UnaryResponse, RpcStatus> {
        self.ended_by_server = true;
        self.finish().await
    }

    /// True once a [`Self::send`] found the call already over (the server
    /// answered or failed it, or its deadline passed): [`Self::finish`]
    /// returns its outcome at once.
    pub fn ended_by_server(&self) -> bool {
        self.ended_by_server
    }

    /// Closes the request stream and waits for the response. Calling it
    /// again returns the same result.
    pub async fn finish(&mut self) -> Result<UnaryResponse, RpcStatus> {
        if let Some(response) = &self.response {
            return response.clone();
        }
        self.requests.close();
        let result = self.collect().await;
        self.response = Some(result.clone());
        result
    }

    async fn collect(&mut self) -> Result<UnaryResponse, RpcStatus> {
        let name = self.requests.method.full_name().to_owned();
        let Some(message) = self.driver.next().await? else {
            return Err(RpcStatus::new(
                Code::Internal,
                format!("{name} ended without a response message"),
            ));
        };
        if self.driver.next().await?.is_some() {
            self.driver.cancel();
            return Err(RpcStatus::new(
                Code::Internal,
                format!("{name} sent more than one response message"),
            ));
        }
        Ok(UnaryResponse {
            message,
            headers: self.driver.headers.clone().unwrap_or_default(),
            trailers: self.driver.trailers.clone().unwrap_or_default(),
        })
    }

    /// The response headers, once the response has been read.
    pub fn headers(&self) -> Option<&Metadata> {
        self.driver.headers.as_ref()
    }

    /// Cancels the call (the server sees the stream reset, never a complete
    /// request stream); [`Self::finish`] then returns `CANCELLED`.
    pub fn cancel(&mut self) {
        if self.response.is_none() {
            self.requests.abort();
            self.driver.cancel();
        }
    }
}

/// A running bidirectional-streaming call.
#[derive(Debug)]
pub struct BidiStream<M = DynamicMessage> {
    requests: Requests,
    driver: Driver<M>,
    ended_by_server: bool,
    /// The call's deadline, if it has one.
    deadline: Option<tokio::time::Instant>,
}

impl<M> BidiStream<M> {
    pub(crate) fn new(
        requests: Requests,
        driver: Driver<M>,
        deadline: Option<tokio::time::Instant>,
    ) -> Self {
        Self {
            requests,
            driver,
            ended_by_server: false,
            deadline,
        }
    }

    /// Sends one request, waiting while the request queue is full. Once the
    /// call has ended this fails: with the call's status if it is already
    /// known, else `FAILED_PRECONDITION` (then [`Self::next`] yields the
    /// outcome).
    pub async fn send(&mut self, message: DynamicMessage) -> Result<(), RpcStatus> {
        if let Some(Err(status)) = &self.driver.outcome {
            return Err(status.clone());
        }
        match send_unless_over(&mut self.requests, &mut self.driver, message).await {
            Ok(()) => Ok(()),
            Err(SendFailure::Rejected(status)) => Err(status),
            Err(SendFailure::CallEnded) => match &self.driver.outcome {
                Some(Err(status)) => Err(status.clone()),
                // Not the server's end: the call's own deadline passed
                // while the request waited (a server that stopped reading).
                _ if self
                    .deadline
                    .is_some_and(|d| tokio::time::Instant::now() >= d) =>
                {
                    Err(RpcStatus::new(
                        Code::DeadlineExceeded,
                        format!(
                            "{}: the call's deadline passed while `send` waited for the server \
                             to take the request",
                            self.requests.method.full_name()
                        ),
                    ))
                }
                _ => Err({
                    self.ended_by_server = true;
                    RpcStatus::new(
                        Code::FailedPrecondition,
                        format!(
                            "{} no longer accepts requests; next() returns its outcome",
                            self.requests.method.full_name()
                        ),
                    )
                }),
            },
        }
    }

    /// True once a [`Self::send`] found the call already over, before
    /// [`Self::next`] had read its outcome: `next` yields the responses the
    /// server sent before the end, then the outcome.
    pub fn ended_by_server(&self) -> bool {
        self.ended_by_server
    }

    /// Half-closes: tells the server no more requests follow.
    pub fn close_send(&mut self) {
        self.requests.close();
    }

    /// The next response (see [`ServerStream::next`]).
    pub async fn next(&mut self) -> Result<Option<M>, RpcStatus> {
        self.driver.next().await
    }

    /// The response headers, once [`Self::next`] has seen them.
    pub fn headers(&self) -> Option<&Metadata> {
        self.driver.headers.as_ref()
    }

    /// The response trailers, once the stream ended successfully.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.driver.trailers.as_ref()
    }

    /// True once the outcome is known to the handle.
    pub fn ended(&self) -> bool {
        self.driver.ended()
    }

    /// Cancels the call (the server sees the stream reset); later
    /// [`Self::next`] calls return `CANCELLED`.
    pub fn cancel(&mut self) {
        self.requests.abort();
        self.driver.cancel();
    }
}
