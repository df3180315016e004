//! `example.Greeter`: a minimal unary service.

use std::sync::Arc;

use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::Error;
use crate::proto::example::greeter_server::{Greeter, GreeterServer};
use crate::proto::example::{HelloReply, HelloRequest, NumberReply, NumberRequest};
use crate::proto::google::rpc::{BadRequest, bad_request::FieldViolation};
use crate::rich::{any, rich_status};
use crate::server::{TestServer, spawn};
use crate::state::ServerState;

/// Starts an `example.Greeter` server on loopback. `SayHello` answers
/// `"Hello, <name>!"` (an empty name is INVALID_ARGUMENT with a `BadRequest`
/// detail); `ProcessNumber` doubles the value (OUT_OF_RANGE on overflow).
pub async fn spawn_greeter_server() -> Result<TestServer, Error> {
    let state = Arc::new(ServerState::default());
    spawn(greeter_service(state.clone(), false), state).await
}

/// The greeter service recording into `state`.
pub(crate) fn greeter_service(
    state: Arc<ServerState>,
    require_gzip: bool,
) -> GreeterServer<impl Greeter> {
    GreeterServer::new(GreeterImpl {
        state,
        require_gzip,
    })
}

/// Starts an `example.Greeter` server that reads requests of at most
/// `max_request_bytes`: a larger one is answered by tonic itself with
/// OUT_OF_RANGE ("decoded message length too large"), as any tonic server
/// with a smaller limit than its client's answers.
pub async fn spawn_limited_greeter_server(max_request_bytes: usize) -> Result<TestServer, Error> {
    let state = Arc::new(ServerState::default());
    let server = greeter_service(state.clone(), false).max_decoding_message_size(max_request_bytes);
    spawn(server, state).await
}

/// Starts an `example.Greeter` server that gzip-compresses its responses
/// and accepts gzip-compressed requests; with `require_gzip`, `SayHello`
/// refuses an uncompressed request with FAILED_PRECONDITION.
pub async fn spawn_compressing_greeter_server(require_gzip: bool) -> Result<TestServer, Error> {
    let state = Arc::new(ServerState::default());
    let server = greeter_service(state.clone(), require_gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    spawn(server, state).await
}

struct GreeterImpl {
    state: Arc<ServerState>,
    require_gzip: bool,
}

#[tonic::async_trait]
impl Greeter for GreeterImpl {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        self.state.enter("SayHello", request.metadata()).await?;
        let encoding = request
            .metadata()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok());
        if self.require_gzip && encoding != Some("gzip") {
            return Err(Status::failed_precondition(
                "this server only accepts gzip-compressed requests",
            ));
        }
        let name = request.into_inner().name;
        if name.is_empty() {
            let violation = FieldViolation {
                field: "name".into(),
                description: "name must not be empty".into(),
                reason: "REQUIRED".into(),
                localized_message: None,
            };
            return Err(rich_status(
                tonic::Code::InvalidArgument,
                "name must not be empty",
                vec![any(
                    "google.rpc.BadRequest",
                    &BadRequest {
                        field_violations: vec![violation],
                    },
                )],
            ));
        }
        Ok(Response::new(HelloReply {
            message: format!("Hello, {name}!"),
        }))
    }

    async fn process_number(
        &self,
        request: Request<NumberRequest>,
    ) -> Result<Response<NumberReply>, Status> {
        self.state
            .enter("ProcessNumber", request.metadata())
            .await?;
        let value = request.into_inner().value;
        let result = value
            .checked_mul(2)
            .ok_or_else(|| Status::out_of_range(format!("{value} * 2 overflows int32")))?;
        Ok(Response::new(NumberReply { result }))
    }
}
