//! What a failed call means for its caller: tonic's outcome (a status, a
//! transport error, a passed deadline) turned into an [`RpcStatus`] naming
//! the method and the endpoint.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{faults, tls};
use crate::status::{Code, RpcStatus};

/// What a call needs to turn tonic's outcome into an [`RpcStatus`].
#[derive(Debug, Clone)]
pub(crate) struct CallContext {
    pub(super) method: String,
    pub(super) endpoint: Arc<str>,
    pub(super) timeout: Option<Duration>,
    pub(super) deadline: Option<Instant>,
}

impl CallContext {
    /// Maps a tonic status: deadline expiry becomes `DEADLINE_EXCEEDED`,
    /// local transport failures `UNAVAILABLE` naming the endpoint.
    pub(crate) fn status(&self, status: tonic::Status) -> RpcStatus {
        self.map_status(status, false)
    }

    /// [`Self::status`] of a failure after the server began its answer (its
    /// response headers came): the connection evidently spoke HTTP/2, so a
    /// broken one is said to be that, without the hint that the server may
    /// speak TLS.
    pub(crate) fn status_mid_call(&self, status: tonic::Status) -> RpcStatus {
        self.map_status(status, true)
    }

    fn map_status(&self, status: tonic::Status, answering: bool) -> RpcStatus {
        let mut out = RpcStatus::from_tonic(&status);
        // No status is rewritten for its code and words alone: one with
        // OUT_OF_RANGE and "message length too large" may be the server's
        // (its own limit on what it reads), passed on as sent. Our size
        // limits have statuses of their own (`encode_checked`, `framing`).
        let expired = self.deadline.is_some_and(|d| Instant::now() >= d);
        if expired
            && matches!(
                out.code,
                Code::Cancelled | Code::Unknown | Code::Unavailable
            )
        {
            return self.deadline_exceeded();
        }
        if let Some(fault) = std::error::Error::source(&status).and_then(faults::classify) {
            return RpcStatus::new(
                fault.code,
                format!(
                    "calling {} at {}: {}",
                    self.method, self.endpoint, fault.what
                ),
            );
        }
        let local = std::error::Error::source(&status).is_some();
        if local
            && answering
            && matches!(out.code, Code::Unknown | Code::Unavailable | Code::Internal)
            && connection_broke(&status)
        {
            let root = root_cause(&status);
            return RpcStatus::new(
                Code::Unavailable,
                format!(
                    "calling {} at {}: the connection broke after the server began its answer: {root}",
                    self.method, self.endpoint
                ),
            );
        }
        if local && matches!(out.code, Code::Unknown | Code::Unavailable) {
            out.code = Code::Unavailable;
            out.message = self.transport_message(&status);
        }
        // hyper's words for a peer that broke HTTP/2 or does not speak it:
        // say where, and what it usually means.
        if out.message.starts_with("h2 protocol error") {
            out.message = format!(
                "calling {} at {}: {} (the server broke HTTP/2, or does not speak HTTP/2 as \
                 gRPC does: an HTTP/1.1 server, or a TLS port reached with `http://`?)",
                self.method, self.endpoint, out.message
            );
        }
        out
    }

    /// The status of a call whose channel could not become ready.
    pub(crate) fn transport(&self, error: tonic::transport::Error) -> RpcStatus {
        RpcStatus::new(Code::Unavailable, self.transport_message(&error))
    }

    /// What went wrong with the connection, for people: the endpoint, the
    /// method, and the cause in plain words (`connection refused by
    /// 127.0.0.1:50051`), falling back to the innermost error's text rather
    /// than the whole chain of wrappers.
    fn transport_message(&self, error: &(dyn std::error::Error + 'static)) -> String {
        let endpoint: &str = &self.endpoint;
        let authority = endpoint
            .split_once("://")
            .map_or(endpoint, |(_, rest)| rest)
            .trim_end_matches('/');
        let mut io_kind = None;
        let mut root = error;
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                io_kind = Some(io.kind());
            }
            root = e;
            next = e.source();
        }
        if let Some(tls) = tls::explain(error, endpoint) {
            return format!("calling {} at {}: {tls}", self.method, self.endpoint);
        }
        let cause = match io_kind {
            Some(std::io::ErrorKind::ConnectionRefused) => {
                format!("connection refused by {authority}")
            }
            Some(std::io::ErrorKind::TimedOut) => format!("connecting to {authority} timed out"),
            Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe) => {
                format!("the connection to {authority} was reset")
            }
            _ => format!("cannot reach {authority}: {root}"),
        };
        format!("calling {} at {}: {cause}", self.method, self.endpoint)
    }

    pub(crate) fn deadline_exceeded(&self) -> RpcStatus {
        let after = self.timeout.unwrap_or_default();
        RpcStatus::new(
            Code::DeadlineExceeded,
            format!("{} did not complete within {after:?}", self.method),
        )
    }

    /// Runs `call` under the deadline, if there is one.
    pub(crate) async fn with_deadline<T>(
        &self,
        call: impl Future<Output = Result<T, RpcStatus>>,
    ) -> Result<T, RpcStatus> {
        self.within_deadline(call).await.unwrap_or_else(Err)
    }

    /// Runs `call` under the deadline, if there is one: `Err` when this
    /// client's deadline ended it, as opposed to a status the server sent
    /// (which may also be `DEADLINE_EXCEEDED`).
    pub(crate) async fn within_deadline<T>(
        &self,
        call: impl Future<Output = Result<T, RpcStatus>>,
    ) -> Result<Result<T, RpcStatus>, RpcStatus> {
        match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, call)
                .await
                .map_err(|_| self.deadline_exceeded()),
            None => Ok(call.await),
        }
    }
}

/// Whether `error` is the connection failing (closed, reset, cut short),
/// rather than a peer that broke HTTP/2's rules, which stays `INTERNAL`.
fn connection_broke(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    // Bounded by the chain's length.
    while let Some(e) = next {
        if e.is::<std::io::Error>() {
            return true;
        }
        if e.downcast_ref::<h2::Error>().is_some_and(h2::Error::is_io) {
            return true;
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>()
            && (hyper.is_incomplete_message() || hyper.is_closed() || hyper.is_canceled())
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// The innermost error of `error`'s chain, in its own words.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut root = error;
    // Bounded by the chain's length.
    while let Some(next) = root.source() {
        root = next;
    }
    root.to_string()
}
