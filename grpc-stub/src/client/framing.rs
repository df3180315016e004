//! The channel every call goes through: tonic's [`Channel`] with response
//! bodies that check gRPC's message framing.
//!
//! A response body carries length-prefixed messages (a flag byte, a 4-byte
//! length, the message). tonic's decoder notices a body that ends part-way
//! through a message only when no trailers follow; with trailers it drops
//! the partial message and reports the trailers' status, so a last message
//! cut short, followed by `grpc-status: 0`, looked like a clean end. Here the
//! body fails with `INTERNAL` instead, naming how much of the message came.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf as _, Bytes};
use http_body::{Frame, SizeHint};
use tonic::body::Body;
use tonic::codegen::Service;
use tonic::transport::Channel;
use tonic::transport::channel::ResponseFuture;

/// Bytes before each message: the compression flag and the length.
const PREFIX: usize = 5;

/// [`Channel`] whose responses are [`FramedBody`]s.
#[derive(Clone, Debug)]
pub(crate) struct FramedChannel {
    channel: Channel,
    /// Names the server in errors.
    endpoint: Arc<str>,
}

impl FramedChannel {
    pub(crate) fn new(channel: Channel, endpoint: Arc<str>) -> Self {
        Self { channel, endpoint }
    }
}

impl Service<http::Request<Body>> for FramedChannel {
    type Response = http::Response<FramedBody>;
    type Error = tonic::transport::Error;
    type Future = FramedResponse;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.channel.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let call = Origin {
            endpoint: self.endpoint.clone(),
            path: request.uri().path_and_query().cloned(),
        };
        FramedResponse {
            response: self.channel.call(request),
            origin: Some(call),
        }
    }
}

/// Which call a body answers, for its errors.
struct Origin {
    endpoint: Arc<str>,
    path: Option<http::uri::PathAndQuery>,
}

impl Origin {
    /// `calling pkg.Service.Method at http://host:port`.
    fn describe(&self) -> String {
        let method = self.path.as_ref().map_or(String::new(), |p| {
            p.path().trim_start_matches('/').replace('/', ".")
        });
        format!("calling {method} at {}", self.endpoint)
    }
}

/// The response of a [`FramedChannel`] call.
pub(crate) struct FramedResponse {
    response: ResponseFuture,
    origin: Option<Origin>,
}

impl Future for FramedResponse {
    type Output = Result<http::Response<FramedBody>, tonic::transport::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(Pin::new(&mut self.response).poll(cx))?;
        let origin = self.origin.take();
        Poll::Ready(Ok(response.map(|body| FramedBody::new(body, origin))))
    }
}

/// A response body that fails when it ends inside a message.
pub(crate) struct FramedBody {
    inner: Body,
    origin: Option<Origin>,
    /// Prefix bytes of the current message seen so far (0 between messages).
    prefix: [u8; PREFIX],
    prefix_len: usize,
    /// Bytes of the current message's body still to come.
    remaining: u64,
    /// The current message's announced length.
    announced: u64,
    /// Set once a cut was reported: the body is over.
    failed: bool,
}

impl FramedBody {
    fn new(inner: Body, origin: Option<Origin>) -> Self {
        Self {
            inner,
            origin,
            prefix: [0; PREFIX],
            prefix_len: 0,
            remaining: 0,
            announced: 0,
            failed: false,
        }
    }

    /// Follows the message boundaries through one chunk of data.
    fn scan(&mut self, mut data: &[u8]) {
        // Each turn consumes at least one byte.
        while !data.is_empty() {
            if self.remaining > 0 {
                let step = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                data.advance(step);
                self.remaining -= step as u64;
                continue;
            }
            let step = (PREFIX - self.prefix_len).min(data.len());
            self.prefix[self.prefix_len..self.prefix_len + step].copy_from_slice(&data[..step]);
            self.prefix_len += step;
            data.advance(step);
            if self.prefix_len == PREFIX {
                let [_, a, b, c, d] = self.prefix;
                self.announced = u64::from(u32::from_be_bytes([a, b, c, d]));
                self.remaining = self.announced;
                self.prefix_len = 0;
            }
        }
    }

    /// `INTERNAL` if the body stops inside a message.
    fn check_end(&mut self, what: &str) -> Result<(), tonic::Status> {
        if self.prefix_len == 0 && self.remaining == 0 {
            return Ok(());
        }
        self.failed = true;
        let detail = if self.prefix_len > 0 {
            format!(
                "{} of the {PREFIX} bytes of a message's length prefix",
                self.prefix_len
            )
        } else {
            format!(
                "{} of the {} bytes of a message",
                self.announced - self.remaining,
                self.announced
            )
        };
        let call = self
            .origin
            .as_ref()
            .map_or(String::new(), |o| format!("{}: ", o.describe()));
        Err(tonic::Status::internal(format!(
            "{call}the response was cut short: {what} after {detail}"
        )))
    }
}

impl http_body::Body for FramedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(status)) => return Poll::Ready(Some(Err(status))),
            None => {
                return Poll::Ready(this.check_end("the body ended").err().map(Err));
            }
        };
        if let Some(data) = frame.data_ref() {
            this.scan(data);
        } else if frame.is_trailers()
            && let Err(status) = this.check_end("the trailers came")
        {
            return Poll::Ready(Some(Err(status)));
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> FramedBody {
        FramedBody::new(
            Body::empty(),
            Some(Origin {
                endpoint: "http://127.0.0.1:1".into(),
                path: Some(http::uri::PathAndQuery::from_static("/p.S/M")),
            }),
        )
    }

    fn message(len: u32) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&len.to_be_bytes());
        out.extend(std::iter::repeat_n(7u8, len as usize));
        out
    }

    #[test]
    fn whole_messages_in_any_chunks_end_cleanly() {
        let mut bytes = message(3);
        bytes.extend(message(0));
        bytes.extend(message(300));
        for chunk in [1, 2, 4, 5, 7, 64, 1000] {
            let mut framed = body();
            for part in bytes.chunks(chunk) {
                framed.scan(part);
            }
            assert!(framed.check_end("end").is_ok(), "chunks of {chunk}");
        }
    }

    #[test]
    fn a_cut_in_the_prefix_or_the_message_is_named() {
        let bytes = message(40);
        let mut framed = body();
        framed.scan(&bytes[..8]);
        let status = framed.check_end("the trailers came").unwrap_err();
        assert_eq!(status.code(), tonic::Code::Internal);
        assert!(
            status
                .message()
                .contains("calling p.S.M at http://127.0.0.1:1: the response was cut short: the trailers came after 3 of the 40 bytes of a message"),
            "{}",
            status.message()
        );
        let mut framed = body();
        framed.scan(&bytes[..2]);
        let status = framed.check_end("the body ended").unwrap_err();
        assert!(
            status.message().contains("2 of the 5 bytes"),
            "{}",
            status.message()
        );
    }
}
