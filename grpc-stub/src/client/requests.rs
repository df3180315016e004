//! The sending half of client-streaming and bidi calls: a bounded queue of
//! requests between the handle and the transport, plus an abort signal.
//!
//! Closing the handle's side normally ends the request stream (the server
//! sees a half-close). Cancelling — or dropping a handle that never closed —
//! makes the stream yield [`Outgoing::Abort`], which resets the HTTP/2
//! stream instead: the server must not mistake a cancelled upload for a
//! complete one.

use std::pin::Pin;
use std::task::{Context, Poll};

use prost_reflect::{DynamicMessage, MethodDescriptor};
use tokio::sync::{mpsc, oneshot};

use super::codec::Outgoing;
use super::{check_input, encode_checked};
use crate::status::{Code, RpcStatus};

/// The handle's side.
#[derive(Debug)]
pub(crate) struct Requests {
    /// Requests, encoded (as they were measured against the limit).
    sender: Option<mpsc::Sender<prost::bytes::Bytes>>,
    abort: Option<oneshot::Sender<()>>,
    pub(crate) method: MethodDescriptor,
    max_bytes: Option<usize>,
}

/// How a send failed.
pub(crate) enum SendFailure {
    /// The caller's mistake, reported as is.
    Rejected(RpcStatus),
    /// The call no longer takes requests; its outcome says why.
    CallEnded,
}

impl Requests {
    /// A queue of `buffer` requests for `method`, and the stream the
    /// transport reads them from.
    pub(crate) fn channel(
        method: &MethodDescriptor,
        buffer: usize,
        max_bytes: Option<usize>,
    ) -> (Requests, RequestStream) {
        let (sender, receiver) = mpsc::channel(buffer);
        let (abort, aborted) = oneshot::channel();
        (
            Requests {
                sender: Some(sender),
                abort: Some(abort),
                method: method.clone(),
                max_bytes,
            },
            RequestStream {
                receiver,
                aborted: Some(aborted),
                done: false,
            },
        )
    }

    /// Queues one request, waiting while the queue is full.
    pub(crate) async fn send(&mut self, message: DynamicMessage) -> Result<(), SendFailure> {
        check_input(&self.method, &self.method.input(), &message).map_err(SendFailure::Rejected)?;
        let encoded = encode_checked(&self.method, &message, self.max_bytes)
            .map_err(SendFailure::Rejected)?;
        let Some(sender) = &self.sender else {
            return Err(SendFailure::Rejected(RpcStatus::new(
                Code::FailedPrecondition,
                format!(
                    "{}: send after the request stream was closed",
                    self.method.full_name()
                ),
            )));
        };
        sender
            .send(encoded)
            .await
            .map_err(|_| SendFailure::CallEnded)
    }

    /// Ends the request stream normally (half-close).
    pub(crate) fn close(&mut self) {
        self.sender = None;
        self.abort = None;
    }

    /// Resets the request stream, unless it was already closed normally.
    pub(crate) fn abort(&mut self) {
        if let Some(abort) = self.abort.take() {
            // The transport may already be gone; then there is nothing to reset.
            let _ = abort.send(());
        }
        self.sender = None;
    }
}

impl Drop for Requests {
    fn drop(&mut self) {
        self.abort();
    }
}

/// The transport's side: the queued requests, or one [`Outgoing::Abort`].
#[derive(Debug)]
pub(crate) struct RequestStream {
    receiver: mpsc::Receiver<prost::bytes::Bytes>,
    aborted: Option<oneshot::Receiver<()>>,
    done: bool,
}

impl tokio_stream::Stream for RequestStream {
    type Item = Outgoing;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Some(aborted) = self.aborted.as_mut() {
            match Pin::new(aborted).poll(cx) {
                Poll::Ready(Ok(())) => {
                    self.done = true;
                    return Poll::Ready(Some(Outgoing::Abort));
                }
                // Closed normally: only the queue matters from now on.
                Poll::Ready(Err(_)) => self.aborted = None,
                Poll::Pending => {}
            }
        }
        self.receiver
            .poll_recv(cx)
            .map(|message| message.map(Outgoing::Encoded))
    }
}
