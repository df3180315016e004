//! `grpc.testing.TestService`: the official interop server's behaviour
//! (payload sizes, response intervals, echoed status and metadata), written
//! from the interop test descriptions.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::Error;
use crate::echo::EchoMetadata;
use crate::frames::{CallFrames, ParkOn};
use crate::proto::grpc::testing::test_service_server::{TestService, TestServiceServer};
use crate::proto::grpc::testing::{
    EchoStatus, Empty, Payload, PayloadType, ResponseParameters, SimpleRequest, SimpleResponse,
    StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse,
};
use crate::server::{TestServer, spawn};
use crate::state::ServerState;

/// Largest payload the server agrees to produce (keeps tests bounded).
pub const MAX_RESPONSE_SIZE: i32 = 4 * 1024 * 1024;
/// Longest pause between streamed responses the server agrees to make.
pub const MAX_INTERVAL: Duration = Duration::from_secs(10);
/// How many streamed responses a server-side stream buffers ahead.
const STREAM_BUFFER: usize = 4;

type OutputItem = Result<StreamingOutputCallResponse, Status>;

/// Starts a `grpc.testing.TestService` server on loopback.
pub async fn spawn_test_service_server() -> Result<TestServer, Error> {
    let state = Arc::new(ServerState::default());
    let service = TestServiceImpl {
        state: state.clone(),
    };
    spawn(EchoMetadata::new(TestServiceServer::new(service)), state).await
}

struct TestServiceImpl {
    state: Arc<ServerState>,
}

fn payload(size: i32) -> Result<Payload, Status> {
    if !(0..=MAX_RESPONSE_SIZE).contains(&size) {
        return Err(Status::invalid_argument(format!(
            "response size {size} is outside 0..={MAX_RESPONSE_SIZE}"
        )));
    }
    // `size` is non-negative here.
    let len = usize::try_from(size).unwrap_or(0);
    Ok(Payload {
        r#type: PayloadType::Compressable as i32,
        body: vec![0; len],
    })
}

/// The status a request asks the server to answer with, if any.
fn requested_status(status: Option<&EchoStatus>) -> Option<Status> {
    let status = status?;
    if status.code == 0 {
        return None;
    }
    Some(Status::new(
        tonic::Code::from_i32(status.code),
        status.message.clone(),
    ))
}

fn interval(params: &ResponseParameters) -> Duration {
    let micros = u64::try_from(params.interval_us).unwrap_or(0);
    Duration::from_micros(micros).min(MAX_INTERVAL)
}

/// Sends the responses one request asks for; false when the client is gone
/// or a requested size is refused (the refusal is sent as the final status).
async fn respond(
    frames: &mut CallFrames,
    tx: &mpsc::Sender<OutputItem>,
    request: &StreamingOutputCallRequest,
) -> bool {
    for params in &request.response_parameters {
        let pause = interval(params);
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        let sent = match payload(params.size) {
            Ok(p) => {
                let response = StreamingOutputCallResponse {
                    payload: Some(p),
                    peer_socket_address: String::new(),
                };
                frames.send(tx, response).await
            }
            Err(status) => {
                frames.send_status(tx, status).await;
                false
            }
        };
        if !sent {
            return false;
        }
    }
    true
}

#[tonic::async_trait]
impl TestService for TestServiceImpl {
    async fn empty_call(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        self.state.enter("EmptyCall", request.metadata()).await?;
        Ok(Response::new(Empty {}))
    }

    async fn unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        self.state.enter("UnaryCall", request.metadata()).await?;
        unary(request.into_inner())
    }

    async fn cacheable_unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        self.state
            .enter("CacheableUnaryCall", request.metadata())
            .await?;
        unary(request.into_inner())
    }

    type StreamingOutputCallStream = ReceiverStream<OutputItem>;

    async fn streaming_output_call(
        &self,
        request: Request<StreamingOutputCallRequest>,
    ) -> Result<Response<Self::StreamingOutputCallStream>, Status> {
        self.state
            .enter("StreamingOutputCall", request.metadata())
            .await?;
        let mut frames = self.state.stream("StreamingOutputCall", ParkOn::Sent);
        frames.received().await;
        let request = request.into_inner();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(async move {
            if respond(&mut frames, &tx, &request).await {
                match requested_status(request.response_status.as_ref()) {
                    Some(status) => {
                        frames.send_status(&tx, status).await;
                    }
                    None => frames.finish(),
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn streaming_input_call(
        &self,
        request: Request<Streaming<StreamingInputCallRequest>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        self.state
            .enter("StreamingInputCall", request.metadata())
            .await?;
        let mut frames = self.state.stream("StreamingInputCall", ParkOn::Received);
        let mut stream = request.into_inner();
        let mut total: i64 = 0;
        while let Some(message) = frames.read(&mut stream).await? {
            let len = message.payload.map(|p| p.body.len()).unwrap_or(0);
            total = total.saturating_add(i64::try_from(len).unwrap_or(i64::MAX));
        }
        frames.finish();
        let aggregated_payload_size = i32::try_from(total)
            .map_err(|_| Status::out_of_range(format!("aggregated size {total} exceeds int32")))?;
        Ok(Response::new(StreamingInputCallResponse {
            aggregated_payload_size,
        }))
    }

    type FullDuplexCallStream = ReceiverStream<OutputItem>;

    async fn full_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<Self::FullDuplexCallStream>, Status> {
        self.state
            .enter("FullDuplexCall", request.metadata())
            .await?;
        let mut frames = self.state.stream("FullDuplexCall", ParkOn::Sent);
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(async move {
            loop {
                match frames.read(&mut inbound).await {
                    Ok(Some(request)) => {
                        if let Some(status) = requested_status(request.response_status.as_ref()) {
                            frames.send_status(&tx, status).await;
                            return;
                        }
                        if !respond(&mut frames, &tx, &request).await {
                            return;
                        }
                    }
                    Ok(None) => {
                        frames.finish();
                        return;
                    }
                    Err(status) => {
                        frames.send_status(&tx, status).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type HalfDuplexCallStream = ReceiverStream<OutputItem>;

    async fn half_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<Self::HalfDuplexCallStream>, Status> {
        self.state
            .enter("HalfDuplexCall", request.metadata())
            .await?;
        let mut frames = self.state.stream("HalfDuplexCall", ParkOn::Sent);
        let mut inbound = request.into_inner();
        let mut buffered = Vec::new();
        while let Some(request) = frames.read(&mut inbound).await? {
            buffered.push(request);
        }
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(async move {
            for request in &buffered {
                if !respond(&mut frames, &tx, request).await {
                    return;
                }
            }
            frames.finish();
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn unimplemented_call(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        self.state
            .enter("UnimplementedCall", request.metadata())
            .await?;
        Err(Status::unimplemented(
            "grpc.testing.TestService/UnimplementedCall is deliberately not implemented",
        ))
    }
}

fn unary(request: SimpleRequest) -> Result<Response<SimpleResponse>, Status> {
    if let Some(status) = requested_status(request.response_status.as_ref()) {
        return Err(status);
    }
    Ok(Response::new(SimpleResponse {
        payload: Some(payload(request.response_size)?),
        ..SimpleResponse::default()
    }))
}
