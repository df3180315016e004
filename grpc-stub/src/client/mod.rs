//! The dynamic gRPC client: calls any method of any service, given only its
//! prost-reflect `MethodDescriptor`, with `DynamicMessage` requests and
//! responses. All four call kinds; deadlines (`grpc-timeout`, also enforced
//! locally), request metadata including binary `-bin` entries, response
//! headers and trailers, credentials and an `idempotency-key` per call.
//!
//! Every failure reaches the caller as an [`RpcStatus`]: the server's own
//! status with its rich details, `UNAVAILABLE` for transport failures (naming
//! the endpoint), `DEADLINE_EXCEEDED` when the deadline passes, `CANCELLED`
//! after [`ServerStream::cancel`] and friends. Problems the client detects
//! before sending are `INVALID_ARGUMENT` (a request of the wrong message type)
//! or `INTERNAL` (a method called with the wrong call kind). A unary call
//! the server provably did not process (a refused stream, a server going
//! away) is sent again at once, a bounded number of times ([`faults`]).
//!
//! Streaming calls run on a spawned task and are driven step by step through
//! their handles; requests and responses pass through bounded queues
//! ([`ClientConfig::stream_buffer`]) so neither side buffers without bound,
//! and dropping a handle cancels its call.

mod auth;
mod codec;
mod context;
mod faults;
mod framing;
pub mod metadata;
mod options;
mod pool;
pub mod reflection;
mod requests;
mod stream;
mod tls;

use std::sync::Arc;

use prost_reflect::{DynamicMessage, MessageDescriptor, MethodDescriptor, ReflectMessage};
use tokio::time::Instant;
use tonic::client::Grpc;
use tonic::codec::CompressionEncoding;

use crate::config::Compression;
use tonic::transport::{Channel, Endpoint};

pub use auth::ClientAuth;
pub use codec::{DynamicCodec, DynamicDecoder, DynamicEncoder, Outgoing, RawCodec, RawDecoder};
pub(crate) use context::CallContext;
pub use faults::TRANSPARENT_RETRIES;
pub use metadata::{Metadata, MetadataEntry, MetadataValue};
pub use options::Keepalive;
pub use options::{
    CallOptions, ClientConfig, ClientTls, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_STREAM_BUFFER,
    DEFAULT_STREAM_WINDOW, IDEMPOTENCY_KEY, MAX_DEADLINE, resolve_auth,
};
pub use pool::ChannelPool;
pub use stream::{BidiStream, ClientStream, ServerStream};

/// The four call kinds: the interface model's, so the client and the WIT agree.
pub use crate::model::CallKind;

use crate::Error;
use crate::status::{Code, RpcStatus};
use framing::FramedChannel;
use metadata::set_ascii;
use requests::Requests;
use stream::{Driver, drive};

/// The answer to a unary or client-streaming call.
#[derive(Debug, Clone, PartialEq)]
pub struct UnaryResponse {
    /// The response message.
    pub message: DynamicMessage,
    /// Response headers (initial metadata), reserved entries removed.
    pub headers: Metadata,
    /// Response trailers, reserved entries (`grpc-status`, …) removed.
    pub trailers: Metadata,
}

/// A unary call's answer as tonic hands it over.
struct Answer<M> {
    message: M,
    headers: tonic::metadata::MetadataMap,
    trailers: Option<tonic::metadata::MetadataMap>,
}

/// How a call kind is named in error messages.
fn describe_kind(kind: CallKind) -> &'static str {
    match kind {
        CallKind::Unary => "unary",
        CallKind::ServerStreaming => "server-streaming",
        CallKind::ClientStreaming => "client-streaming",
        CallKind::Bidi => "bidirectional-streaming",
    }
}

/// A client for one gRPC endpoint. Cheap to clone; clones share the
/// connection.
#[derive(Debug, Clone)]
pub struct GrpcClient {
    channel: Channel,
    endpoint: Arc<str>,
    config: Arc<ClientConfig>,
}

/// A lazily connecting channel to `endpoint` with `config`'s connection
/// settings (TLS, connect timeout, window, keepalive); what
/// [`GrpcClient::new`] and a [`ChannelPool`] connect with.
pub(crate) fn connect_lazy(endpoint: &str, config: &ClientConfig) -> Result<Channel, Error> {
    let bad = |reason: String| Error::InvalidEndpoint {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let mut builder = Endpoint::from_shared(endpoint.to_owned()).map_err(|e| bad(e.to_string()))?;
    let Some(host) = builder.uri().host().map(str::to_owned) else {
        return Err(bad("the URI has no host".into()));
    };
    match builder.uri().scheme_str() {
        Some("http") => {}
        Some("https") => {
            let tls = config.tls.clone().unwrap_or_else(ClientTls::system);
            builder = builder
                .tls_config(tls::client_tls_config(
                    &tls,
                    &host,
                    endpoint,
                    config.connect_timeout,
                )?)
                .map_err(|e| bad(e.to_string()))?;
        }
        _ => {
            return Err(bad(
                "expected an `http://host:port` or `https://host:port` URI".into(),
            ));
        }
    }
    if let Some(timeout) = config.connect_timeout {
        builder = builder.connect_timeout(timeout);
    }
    if let Some(window) = config.stream_window {
        builder = builder.initial_stream_window_size(window);
    }
    if let Some(keepalive) = config.keepalive {
        builder = builder
            .http2_keep_alive_interval(keepalive.interval)
            .keep_alive_timeout(keepalive.timeout)
            .keep_alive_while_idle(true);
    }
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(bad("a client must be created within a Tokio runtime".into()));
    }
    Ok(builder.connect_lazy())
}

/// The longest `grpc-timeout` there is: eight digits of hours, as the gRPC
/// protocol allows (tonic panics on a longer timeout). A call's timeout is
/// capped at this in the header only; a caller's own limit is
/// [`MAX_DEADLINE`], far below it.
const MAX_GRPC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(99_999_999 * 3600);

/// A request ready to send: tonic request, path, and its context.
struct Prepared<T> {
    request: tonic::Request<T>,
    path: http::uri::PathAndQuery,
    context: CallContext,
}

impl GrpcClient {
    /// A client for `endpoint` (`http://host:port`, or `https://host:port`
    /// verified and authenticated as `config.tls` says). Connects lazily, on the first call, so an unreachable server
    /// shows up as `UNAVAILABLE` from that call. Must be called within a
    /// Tokio runtime.
    pub fn new(endpoint: &str, config: ClientConfig) -> Result<Self, Error> {
        let channel = connect_lazy(endpoint, &config)?;
        Self::from_channel(channel, endpoint, config)
    }

    /// A client over an existing channel (e.g. an in-memory transport);
    /// `endpoint` only labels error messages.
    pub fn from_channel(
        channel: Channel,
        endpoint: &str,
        config: ClientConfig,
    ) -> Result<Self, Error> {
        if let Some(auth) = &config.auth {
            auth.validate()?;
        }
        if config.stream_buffer == 0 {
            return Err(Error::InvalidClientConfig {
                reason: "stream_buffer must be at least 1".into(),
            });
        }
        Ok(Self {
            channel,
            endpoint: endpoint.into(),
            config: Arc::new(config),
        })
    }

    /// The endpoint this client calls.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The client's configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The tonic client of one call. The message size limits are ours, not
    /// tonic's, so that their errors cannot be mistaken for a server's
    /// status: every request is measured before it is handed to tonic
    /// ([`encode_checked`]), and the [`FramedChannel`] stops a response whose
    /// length prefix is over the limit. tonic's limit on responses stays,
    /// as the bound on a decompressed message.
    fn grpc(&self) -> Grpc<FramedChannel> {
        let max_response = self
            .config
            .max_response_bytes
            .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
        let mut grpc = Grpc::new(FramedChannel::new(
            self.channel.clone(),
            self.endpoint.clone(),
            max_response,
        ))
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_response);
        if let Some(Compression::Gzip) = self.config.compression {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        grpc
    }

    fn prepare<T>(
        &self,
        method: &MethodDescriptor,
        kind: CallKind,
        message: T,
        options: &CallOptions,
    ) -> Result<Prepared<T>, RpcStatus> {
        let actual = CallKind::of(method);
        if actual != kind {
            return Err(RpcStatus::new(
                Code::Internal,
                format!(
                    "{} is a {} method, not {}",
                    method.full_name(),
                    describe_kind(actual),
                    describe_kind(kind)
                ),
            ));
        }
        let raw_path = format!("/{}/{}", method.parent_service().full_name(), method.name());
        let path = http::uri::PathAndQuery::try_from(raw_path.as_str()).map_err(|e| {
            RpcStatus::new(
                Code::Internal,
                format!("method path {raw_path} is not a valid URI path: {e}"),
            )
        })?;
        let mut request = tonic::Request::new(message);
        let map = request.metadata_mut();
        options.metadata.apply_to(map);
        if let Some(key) = &options.idempotency_key {
            set_ascii(map, IDEMPOTENCY_KEY, key)
                .map_err(|e| RpcStatus::new(Code::InvalidArgument, e.to_string()))?;
        }
        if let Some(auth) = &self.config.auth {
            auth.apply(map)
                .map_err(|e| RpcStatus::new(Code::Unauthenticated, e.to_string()))?;
        }
        let timeout = options.timeout.or(self.config.default_timeout);
        if let Some(timeout) = timeout {
            // tonic panics on a longer one; a server sees "no sooner than
            // that", which for 11 000 years is the same thing.
            request.set_timeout(timeout.min(MAX_GRPC_TIMEOUT));
        }
        Ok(Prepared {
            request,
            path,
            context: CallContext {
                method: method.full_name().to_owned(),
                endpoint: self.endpoint.clone(),
                timeout,
                // Past the clock's range: no deadline of ours, as good as
                // one that never comes.
                deadline: timeout.and_then(|t| Instant::now().checked_add(t)),
            },
        })
    }

    /// A unary call.
    pub async fn unary(
        &self,
        method: &MethodDescriptor,
        request: DynamicMessage,
        options: &CallOptions,
    ) -> Result<UnaryResponse, RpcStatus> {
        check_input(method, &method.input(), &request)?;
        let encoded = encode_checked(method, &request, self.config.max_request_bytes)?;
        let answer = self
            .unary_with(
                method,
                Outgoing::Encoded(encoded),
                options,
                DynamicCodec::new(method.output()),
            )
            .await?;
        Ok(UnaryResponse {
            message: answer.message,
            headers: Metadata::from_tonic(&answer.headers),
            trailers: answer
                .trailers
                .map(|t| Metadata::from_tonic(&t))
                .unwrap_or_default(),
        })
    }

    /// A unary call whose request is already encoded (protobuf bytes of the
    /// method's input type: the caller vouches for the type, as
    /// [`crate::bridge::val_to_bytes`] does). Answers the response message's
    /// protobuf bytes, undecoded, and nothing else (the response's headers
    /// and trailers are not copied out): no `DynamicMessage` on either side.
    /// Limits, deadlines and statuses are as in [`Self::unary`].
    pub async fn unary_encoded(
        &self,
        method: &MethodDescriptor,
        request: Vec<u8>,
        options: &CallOptions,
    ) -> Result<Vec<u8>, RpcStatus> {
        check_len(method, request.len(), self.config.max_request_bytes)?;
        self.unary_with(method, Outgoing::Encoded(request.into()), options, RawCodec)
            .await
            .map(|answer| answer.message)
    }

    async fn unary_with<C, M>(
        &self,
        method: &MethodDescriptor,
        request: Outgoing,
        options: &CallOptions,
        codec: C,
    ) -> Result<Answer<M>, RpcStatus>
    where
        C: tonic::codec::Codec<Encode = Outgoing, Decode = M> + Clone + Send + 'static,
        M: Send + Sync + 'static,
    {
        let Prepared {
            request: first,
            path,
            context,
        } = self.prepare(
            method,
            CallKind::Unary,
            tokio_stream::once(request.clone()),
            options,
        )?;
        let ctx = &context;
        let call = async move {
            let mut outcome = self.unary_attempt(first, path, codec.clone(), ctx).await;
            let mut retries = 0;
            // Sent again only while the server provably did not process it.
            while let Err((_, true)) = &outcome
                && retries < TRANSPARENT_RETRIES
            {
                retries += 1;
                let mut again = options.clone();
                if let Some(deadline) = ctx.deadline {
                    again.timeout = Some(deadline.saturating_duration_since(Instant::now()));
                }
                let next = self.prepare(
                    method,
                    CallKind::Unary,
                    tokio_stream::once(request.clone()),
                    &again,
                )?;
                outcome = self
                    .unary_attempt(next.request, next.path, codec.clone(), ctx)
                    .await;
            }
            outcome.map_err(|(status, _)| status)
        };
        context.with_deadline(call).await
    }

    /// One send of a unary call. A failure comes with whether the server
    /// provably did not process the call ([`faults`]).
    async fn unary_attempt<C, M>(
        &self,
        request: tonic::Request<tokio_stream::Once<Outgoing>>,
        path: http::uri::PathAndQuery,
        codec: C,
        ctx: &CallContext,
    ) -> Result<Answer<M>, (RpcStatus, bool)>
    where
        C: tonic::codec::Codec<Encode = Outgoing, Decode = M> + Send + 'static,
        M: Send + Sync + 'static,
    {
        let mut grpc = self.grpc();
        let unprocessed = |status: &tonic::Status| {
            std::error::Error::source(status)
                .and_then(faults::classify)
                .is_some_and(|f| f.unprocessed)
        };
        let fail = |status: tonic::Status| {
            let unprocessed = unprocessed(&status);
            (ctx.status(status), unprocessed)
        };
        // Once the response headers came, the connection spoke HTTP/2: a
        // failure then is not blamed on a TLS server reached with `http://`.
        let fail_answering = |status: tonic::Status| {
            let unprocessed = unprocessed(&status);
            (ctx.status_mid_call(status), unprocessed)
        };
        grpc.ready().await.map_err(|e| (ctx.transport(e), false))?;
        let response = grpc.streaming(request, path, codec).await.map_err(fail)?;
        let (headers, mut body, _) = response.into_parts();
        let message = body
            .message()
            .await
            .map_err(fail_answering)?
            .ok_or_else(|| {
                let status = RpcStatus::new(
                    Code::Internal,
                    format!("{} ended without a response message", ctx.method),
                );
                (status, false)
            })?;
        if body.message().await.map_err(fail_answering)?.is_some() {
            let status = RpcStatus::new(
                Code::Internal,
                format!("{} sent more than one response message", ctx.method),
            );
            return Err((status, false));
        }
        let trailers = body.trailers().await.map_err(fail_answering)?;
        Ok(Answer {
            message,
            headers,
            trailers,
        })
    }

    /// Starts a server-streaming call; read the responses with
    /// [`ServerStream::next`].
    pub fn server_streaming(
        &self,
        method: &MethodDescriptor,
        request: DynamicMessage,
        options: &CallOptions,
    ) -> Result<ServerStream, RpcStatus> {
        check_input(method, &method.input(), &request)?;
        self.open_server_streaming(
            method,
            Outgoing::Request(request),
            options,
            DynamicCodec::new(method.output()),
        )
    }

    /// [`Self::server_streaming`], with every response handed over as its
    /// raw protobuf bytes (not decoded, not checked against the output type).
    pub fn server_streaming_raw(
        &self,
        method: &MethodDescriptor,
        request: DynamicMessage,
        options: &CallOptions,
    ) -> Result<ServerStream<Vec<u8>>, RpcStatus> {
        check_input(method, &method.input(), &request)?;
        self.open_server_streaming(method, Outgoing::Request(request), options, RawCodec)
    }

    /// [`server_streaming_raw`](Self::server_streaming_raw) with a request
    /// already encoded as protobuf bytes of the method's input type (the
    /// caller vouches for that), written as they are.
    pub fn server_streaming_encoded(
        &self,
        method: &MethodDescriptor,
        request: Vec<u8>,
        options: &CallOptions,
    ) -> Result<ServerStream<Vec<u8>>, RpcStatus> {
        self.open_server_streaming(method, Outgoing::Encoded(request.into()), options, RawCodec)
    }

    fn open_server_streaming<C, M>(
        &self,
        method: &MethodDescriptor,
        request: Outgoing,
        options: &CallOptions,
        codec: C,
    ) -> Result<ServerStream<M>, RpcStatus>
    where
        C: tonic::codec::Codec<Encode = Outgoing, Decode = M> + Send + 'static,
        M: Send + Sync + 'static,
    {
        let request = match request {
            Outgoing::Request(message) => Outgoing::Encoded(encode_checked(
                method,
                &message,
                self.config.max_request_bytes,
            )?),
            Outgoing::Encoded(bytes) => {
                check_len(method, bytes.len(), self.config.max_request_bytes)?;
                Outgoing::Encoded(bytes)
            }
            Outgoing::Abort => Outgoing::Abort,
        };
        let prepared = self.prepare(
            method,
            CallKind::ServerStreaming,
            tokio_stream::once(request),
            options,
        )?;
        Ok(ServerStream::new(self.start(prepared, codec)?))
    }

    /// Starts a client-streaming call; send requests with
    /// [`ClientStream::send`], then [`ClientStream::finish`].
    pub fn client_streaming(
        &self,
        method: &MethodDescriptor,
        options: &CallOptions,
    ) -> Result<ClientStream, RpcStatus> {
        let (requests, stream) = Requests::channel(
            method,
            self.config.stream_buffer,
            self.config.max_request_bytes,
        );
        let prepared = self.prepare(method, CallKind::ClientStreaming, stream, options)?;
        let driver = self.start(prepared, DynamicCodec::new(method.output()))?;
        Ok(ClientStream::new(requests, driver))
    }

    /// Starts a bidirectional-streaming call.
    pub fn bidi_streaming(
        &self,
        method: &MethodDescriptor,
        options: &CallOptions,
    ) -> Result<BidiStream, RpcStatus> {
        self.open_bidi_streaming(method, options, DynamicCodec::new(method.output()))
    }

    /// [`Self::bidi_streaming`], with every response handed over as its raw
    /// protobuf bytes (not decoded, not checked against the output type).
    pub fn bidi_streaming_raw(
        &self,
        method: &MethodDescriptor,
        options: &CallOptions,
    ) -> Result<BidiStream<Vec<u8>>, RpcStatus> {
        self.open_bidi_streaming(method, options, RawCodec)
    }

    fn open_bidi_streaming<C, M>(
        &self,
        method: &MethodDescriptor,
        options: &CallOptions,
        codec: C,
    ) -> Result<BidiStream<M>, RpcStatus>
    where
        C: tonic::codec::Codec<Encode = Outgoing, Decode = M> + Send + 'static,
        M: Send + Sync + 'static,
    {
        let (requests, stream) = Requests::channel(
            method,
            self.config.stream_buffer,
            self.config.max_request_bytes,
        );
        let prepared = self.prepare(method, CallKind::Bidi, stream, options)?;
        let deadline = prepared.context.deadline;
        let driver = self.start(prepared, codec)?;
        Ok(BidiStream::new(requests, driver, deadline))
    }

    fn start<S, C, M>(&self, prepared: Prepared<S>, codec: C) -> Result<Driver<M>, RpcStatus>
    where
        S: tokio_stream::Stream<Item = Outgoing> + Send + 'static,
        C: tonic::codec::Codec<Encode = Outgoing, Decode = M> + Send + 'static,
        M: Send + Sync + 'static,
    {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            RpcStatus::new(
                Code::Internal,
                "streaming calls must be started within a Tokio runtime",
            )
        })?;
        let Prepared {
            request,
            path,
            context,
        } = prepared;
        Ok(drive(
            &handle,
            self.grpc(),
            request,
            path,
            codec,
            context,
            self.config.stream_buffer,
        ))
    }
}

/// The bytes `message` is sent as, refused before it is sent when they
/// are more than `limit`. Every request goes through this (or
/// [`check_len`]): tonic has no limit on requests of its own here. (The
/// bytes are the canonical encoding the codec writes, which `encoded_len`
/// undercounts: it leaves out a map entry's default key or value and a
/// float of -0.0, which are written.)
pub(crate) fn encode_checked(
    method: &MethodDescriptor,
    message: &DynamicMessage,
    limit: Option<usize>,
) -> Result<prost::bytes::Bytes, RpcStatus> {
    let bytes = crate::bridge::canonical_encode(message);
    check_len(method, bytes.len(), limit)?;
    Ok(bytes.into())
}

/// [`encode_checked`] for a request of `len` encoded bytes.
pub(crate) fn check_len(
    method: &MethodDescriptor,
    len: usize,
    limit: Option<usize>,
) -> Result<(), RpcStatus> {
    match limit {
        Some(limit) if len > limit => Err(RpcStatus::new(
            Code::ResourceExhausted,
            format!(
                "{}: the request message is larger than the dependency's max-message-size \
                 (found {len} bytes, the limit is {limit} bytes); it was not sent",
                method.full_name(),
            ),
        )),
        _ => Ok(()),
    }
}

/// Rejects a message that is not of the method's input type.
pub(crate) fn check_input(
    method: &MethodDescriptor,
    input: &MessageDescriptor,
    message: &DynamicMessage,
) -> Result<(), RpcStatus> {
    if &message.descriptor() == input {
        return Ok(());
    }
    Err(RpcStatus::new(
        Code::InvalidArgument,
        format!(
            "{} takes {} requests, got a {}",
            method.full_name(),
            input.full_name(),
            message.descriptor().full_name()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use prost_reflect::{DescriptorPool, DynamicMessage, Value};
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{
        DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet,
        MethodDescriptorProto, ServiceDescriptorProto,
    };

    use super::*;

    #[test]
    fn a_request_is_measured_as_it_is_sent() {
        // `encoded_len` leaves out a float of -0.0, which the codec writes:
        // a request over the limit passed the check and went out.
        let file = FileDescriptorProto {
            name: Some("m.proto".into()),
            package: Some("t".into()),
            syntax: Some("proto3".into()),
            message_type: vec![DescriptorProto {
                name: Some("M".into()),
                field: vec![FieldDescriptorProto {
                    name: Some("d".into()),
                    number: Some(1),
                    label: Some(Label::Optional as i32),
                    r#type: Some(Type::Double as i32),
                    json_name: Some("d".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            service: vec![ServiceDescriptorProto {
                name: Some("S".into()),
                method: vec![MethodDescriptorProto {
                    name: Some("Call".into()),
                    input_type: Some(".t.M".into()),
                    output_type: Some(".t.M".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let pool = DescriptorPool::from_file_descriptor_set(FileDescriptorSet { file: vec![file] })
            .unwrap();
        let method = pool
            .get_service_by_name("t.S")
            .unwrap()
            .methods()
            .next()
            .unwrap();
        let mut message = DynamicMessage::new(method.input());
        message.set_field_by_name("d", Value::F64(-0.0));
        let refused = encode_checked(&method, &message, Some(4)).unwrap_err();
        assert_eq!(refused.code, Code::ResourceExhausted, "{refused}");
        let sent = encode_checked(&method, &message, Some(9)).unwrap();
        assert_eq!(sent.len(), 9);
    }
}
