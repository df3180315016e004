//! The interop suite's metadata echo: a wrapper around a generated server that
//! copies `x-grpc-test-echo-initial` from the request into the response
//! headers and `x-grpc-test-echo-trailing-bin` into the response trailers.
//! (Tonic handlers cannot set trailers on a successful response, so this is
//! done on the HTTP body.)

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::Frame;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Bytes, Service, http};
use tonic::server::NamedService;

/// Request header echoed back as a response header.
pub const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
/// Request header echoed back as a response trailer.
pub const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";

/// Wraps a generated server `S` and echoes the interop metadata.
#[derive(Debug, Clone)]
pub(crate) struct EchoMetadata<S> {
    inner: S,
}

impl<S> EchoMetadata<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: NamedService> NamedService for EchoMetadata<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for EchoMetadata<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let initial = request.headers().get(ECHO_INITIAL).cloned();
        let trailing = request.headers().get(ECHO_TRAILING).cloned();
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            if let Some(value) = initial {
                response.headers_mut().insert(ECHO_INITIAL, value);
            }
            let Some(value) = trailing else {
                return Ok(response);
            };
            if response.headers().contains_key("grpc-status") {
                // A trailers-only response: its headers are its trailers.
                response.headers_mut().insert(ECHO_TRAILING, value);
                return Ok(response);
            }
            Ok(response.map(|body| {
                Body::new(TrailerBody {
                    inner: body,
                    extra: Some(value),
                })
            }))
        })
    }
}

/// A response body that adds one entry to the trailers.
struct TrailerBody {
    inner: Body,
    extra: Option<http::HeaderValue>,
}

impl http_body::Body for TrailerBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => match frame.into_trailers() {
                Ok(mut trailers) => {
                    if let Some(value) = this.extra.take() {
                        trailers.insert(ECHO_TRAILING, value);
                    }
                    Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            Some(Err(e)) => Poll::Ready(Some(Err(e))),
            None => match this.extra.take() {
                Some(value) => {
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert(ECHO_TRAILING, value);
                    Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                }
                None => Poll::Ready(None),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.extra.is_none() && self.inner.is_end_stream()
    }
}
