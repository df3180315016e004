//! The channel every call goes through: tonic's [`Channel`] with response
//! bodies that check gRPC's message framing and the size of each message.
//!
//! A response body carries length-prefixed messages (a flag byte, a 4-byte
//! length, the message). tonic's decoder notices a body that ends part-way
//! through a message only when no trailers follow; with trailers it drops
//! the partial message and reports the trailers' status, so a last message
//! cut short, followed by `grpc-status: 0`, looked like a clean end. Here the
//! body fails with `INTERNAL` instead, naming how much of the message came.
//!
//! A message whose length prefix says more than the dependency's limit makes
//! the body fail with `RESOURCE_EXHAUSTED` before the prefix reaches tonic
//! (the messages before it do). tonic has a check of its own, but its
//! status (`OUT_OF_RANGE`, "decoded message length too large") is the very
//! one a tonic server sends when a request is over *its* limit: the two
//! could not be told apart afterwards.
//!
//! An answer that is not gRPC at all (an HTTP status other than 200, or a
//! content type other than `application/grpc*`, with no `grpc-status`: a
//! proxy's error page) becomes the status gRPC maps that HTTP status to
//! (`502`/`503`/`504`/`429` `UNAVAILABLE`, `404` `UNIMPLEMENTED`, `401`
//! `UNAUTHENTICATED`, `403` `PERMISSION_DENIED`, otherwise `UNKNOWN`), its
//! body unread.
//!
//! A `grpc-status-details-bin` that is not base64 (in the response's
//! headers or its trailers) is taken out before tonic reads the status,
//! which panics on it; the status message says it was dropped.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
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
    /// The largest response message accepted, in bytes.
    max_message: usize,
}

impl FramedChannel {
    pub(crate) fn new(channel: Channel, endpoint: Arc<str>, max_message: usize) -> Self {
        Self {
            channel,
            endpoint,
            max_message,
        }
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
            max_message: self.max_message,
        }
    }
}

/// The header carrying a status's details (a `google.rpc.Status`, base64).
const STATUS_DETAILS: &str = "grpc-status-details-bin";

/// Takes a `grpc-status-details-bin` that is not base64 out of `headers`
/// (tonic's status reader panics on one) and says so in `grpc-message`.
/// Padded and unpadded base64 are both accepted, as gRPC allows.
fn drop_unreadable_details(headers: &mut http::HeaderMap) {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let readable = |value: &http::HeaderValue| LENIENT.decode(value.as_bytes()).is_ok();
    if headers.get_all(STATUS_DETAILS).iter().all(readable) {
        return;
    }
    headers.remove(STATUS_DETAILS);
    // Printable ASCII needs no percent-encoding in `grpc-message`.
    const NOTE: &str = "(the server's grpc-status-details-bin was not base64; dropped)";
    let message = match headers.get("grpc-message") {
        Some(old) if !old.is_empty() => [old.as_bytes(), b" ", NOTE.as_bytes()].concat(),
        _ => NOTE.as_bytes().to_vec(),
    };
    if let Ok(value) = http::HeaderValue::from_bytes(&message) {
        headers.insert("grpc-message", value);
    }
}

/// The status of an answer that is not gRPC (a proxy's `502` page, a web
/// server's `404`), as the headers of a trailers-only gRPC answer; `None`
/// for a gRPC answer. Codes follow gRPC's mapping of HTTP statuses.
fn not_grpc<B>(response: &http::Response<B>, origin: Option<&Origin>) -> Option<http::HeaderMap> {
    if response.headers().contains_key("grpc-status") {
        return None;
    }
    let status = response.status();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let grpc = content_type.starts_with("application/grpc");
    if status == http::StatusCode::OK && grpc {
        return None;
    }
    let code = match status.as_u16() {
        200 => tonic::Code::Unknown,
        400 => tonic::Code::Internal,
        401 => tonic::Code::Unauthenticated,
        403 => tonic::Code::PermissionDenied,
        404 => tonic::Code::Unimplemented,
        429 | 502 | 503 | 504 => tonic::Code::Unavailable,
        _ => tonic::Code::Unknown,
    };
    let shown = if content_type.is_empty() {
        "no content-type"
    } else {
        content_type
    };
    let message = format!(
        "the server answered HTTP {status} ({shown}), not gRPC{}",
        origin.map_or(String::new(), |o| format!(", {}", o.describe()))
    );
    let mut headers = http::HeaderMap::new();
    headers.insert("grpc-status", http::HeaderValue::from(code as i32));
    // `grpc-message` is percent-encoded: keep it to plain characters.
    let plain: String = message
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .filter(|c| *c != '%')
        .collect();
    if let Ok(value) = http::HeaderValue::from_str(&plain) {
        headers.insert("grpc-message", value);
    }
    Some(headers)
}

/// Which call a body answers, for its errors.
struct Origin {
    endpoint: Arc<str>,
    path: Option<http::uri::PathAndQuery>,
}

impl Origin {
    /// `pkg.Service.Method`.
    fn method(&self) -> String {
        self.path.as_ref().map_or(String::new(), |p| {
            p.path().trim_start_matches('/').replace('/', ".")
        })
    }

    /// `calling pkg.Service.Method at http://host:port`.
    fn describe(&self) -> String {
        format!("calling {} at {}", self.method(), self.endpoint)
    }
}

/// The response of a [`FramedChannel`] call.
pub(crate) struct FramedResponse {
    response: ResponseFuture,
    origin: Option<Origin>,
    max_message: usize,
}

impl Future for FramedResponse {
    type Output = Result<http::Response<FramedBody>, tonic::transport::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut response = ready!(Pin::new(&mut self.response).poll(cx))?;
        drop_unreadable_details(response.headers_mut());
        let origin = self.origin.take();
        let max_message = self.max_message;
        if let Some(not_grpc) = not_grpc(&response, origin.as_ref()) {
            // Its body (an error page) is not gRPC frames: read as such, a
            // page's first bytes were a message length over every limit.
            let (mut parts, _) = response.into_parts();
            parts.headers.extend(not_grpc);
            return Poll::Ready(Ok(http::Response::from_parts(
                parts,
                FramedBody::new(Body::empty(), origin, max_message),
            )));
        }
        Poll::Ready(Ok(
            response.map(|body| FramedBody::new(body, origin, max_message))
        ))
    }
}

/// A response body that fails when it ends inside a message, or when a
/// message is larger than `max_message`.
pub(crate) struct FramedBody {
    inner: Body,
    origin: Option<Origin>,
    max_message: usize,
    /// Prefix bytes of the current message seen so far (0 between messages).
    prefix: [u8; PREFIX],
    prefix_len: usize,
    /// Bytes of the current message's body still to come.
    remaining: u64,
    /// The current message's announced length.
    announced: u64,
    /// Set once a cut was reported: the body is over.
    failed: bool,
    /// The failure to report once the data before it was handed on.
    pending: Option<tonic::Status>,
}

impl FramedBody {
    fn new(inner: Body, origin: Option<Origin>, max_message: usize) -> Self {
        Self {
            inner,
            origin,
            max_message,
            prefix: [0; PREFIX],
            prefix_len: 0,
            remaining: 0,
            announced: 0,
            failed: false,
            pending: None,
        }
    }

    /// Follows the message boundaries through one chunk of data. Returns
    /// `Some(n)` when a length prefix completed in it announces a message
    /// over the limit: the first `n` bytes of the chunk come before the
    /// prefix's last byte, so tonic, handed only those, never reads that
    /// length. Nothing after it is scanned.
    fn scan(&mut self, data: &[u8]) -> Option<usize> {
        let mut at = 0;
        // Each turn consumes at least one byte.
        while at < data.len() {
            let left = data.len() - at;
            if self.remaining > 0 {
                let step = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(left);
                at += step;
                self.remaining -= step as u64;
                continue;
            }
            let step = (PREFIX - self.prefix_len).min(left);
            self.prefix[self.prefix_len..self.prefix_len + step]
                .copy_from_slice(&data[at..at + step]);
            self.prefix_len += step;
            at += step;
            if self.prefix_len == PREFIX {
                let [_, a, b, c, d] = self.prefix;
                self.announced = u64::from(u32::from_be_bytes([a, b, c, d]));
                self.remaining = self.announced;
                self.prefix_len = 0;
                if self.announced > self.max_message as u64 {
                    return Some(at - 1);
                }
            }
        }
        None
    }

    /// `RESOURCE_EXHAUSTED` for the message just announced, over the limit.
    fn too_large(&self) -> tonic::Status {
        let method = self.origin.as_ref().map_or(String::new(), Origin::method);
        tonic::Status::resource_exhausted(format!(
            "{method}: the response message is larger than the dependency's max-message-size \
             (found {} bytes, the limit is {} bytes)",
            self.announced, self.max_message
        ))
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
        if let Some(status) = this.pending.take() {
            this.failed = true;
            return Poll::Ready(Some(Err(status)));
        }
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
        let frame = match frame.into_data() {
            Ok(data) => match this.scan(&data) {
                None => Frame::data(data),
                Some(0) => {
                    this.failed = true;
                    return Poll::Ready(Some(Err(this.too_large())));
                }
                Some(before) => {
                    this.pending = Some(this.too_large());
                    Frame::data(data.slice(..before))
                }
            },
            Err(frame) => {
                if frame.is_trailers()
                    && let Err(status) = this.check_end("the trailers came")
                {
                    return Poll::Ready(Some(Err(status)));
                }
                match frame.into_trailers() {
                    Ok(mut trailers) => {
                        drop_unreadable_details(&mut trailers);
                        Frame::trailers(trailers)
                    }
                    Err(frame) => frame,
                }
            }
        };
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_none() && (self.failed || self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> FramedBody {
        limited(usize::MAX)
    }

    fn limited(max_message: usize) -> FramedBody {
        FramedBody::new(
            Body::empty(),
            Some(Origin {
                endpoint: "http://127.0.0.1:1".into(),
                path: Some(http::uri::PathAndQuery::from_static("/p.S/M")),
            }),
            max_message,
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
                assert_eq!(framed.scan(part), None);
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

    #[test]
    fn a_message_over_the_limit_stops_the_scan_before_its_length_is_whole() {
        let mut bytes = message(3);
        bytes.extend(message(100));
        bytes.extend(message(1));
        // In one chunk: the first message and four bytes of the second's
        // prefix go on, the fifth does not.
        let mut framed = limited(99);
        assert_eq!(framed.scan(&bytes), Some(3 + PREFIX + PREFIX - 1));
        let status = framed.too_large();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "p.S.M: the response message is larger than the dependency's max-message-size \
             (found 100 bytes, the limit is 99 bytes)"
        );
        // The prefix split over chunks: its last byte is where it stops.
        let mut framed = limited(99);
        assert_eq!(framed.scan(&bytes[..10]), None);
        assert_eq!(framed.scan(&bytes[10..]), Some(2));
        // At the limit is fine.
        let mut framed = limited(100);
        assert_eq!(framed.scan(&bytes), None);
        assert!(framed.check_end("the body ended").is_ok());
    }
}
