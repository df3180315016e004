//! The official gRPC interop cases for `grpc.testing.TestService`, run by the
//! dynamic client against the in-process test server on loopback.

mod client_support;

use std::time::Duration;

use client_support::{dynamic, method, typed};
use prost_reflect::ReflectMessage;
use reprise_grpc_stub::client::{CallOptions, ClientConfig, GrpcClient, Metadata};
use reprise_grpc_stub::{Code, RpcStatus};
use reprise_system_tests::proto::grpc::testing::{
    EchoStatus, Empty, Payload, ResponseParameters, SimpleRequest, SimpleResponse,
    StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse,
};
use reprise_system_tests::{TestServer, spawn_test_service_server};

const SERVICE: &str = "grpc.testing.TestService";
/// Bound on any single wait in these tests.
const LIMIT: Duration = Duration::from_secs(20);

async fn setup() -> (TestServer, GrpcClient) {
    let server = spawn_test_service_server().await.expect("server starts");
    let client = GrpcClient::new(&server.endpoint(), ClientConfig::default()).expect("client");
    (server, client)
}

fn payload(size: usize) -> Option<Payload> {
    Some(Payload {
        r#type: 0,
        body: vec![0; size],
    })
}

fn output_request(response_size: i32, request_size: usize) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_parameters: vec![ResponseParameters {
            size: response_size,
            ..Default::default()
        }],
        payload: payload(request_size),
        ..Default::default()
    }
}

fn output_size(message: &prost_reflect::DynamicMessage) -> usize {
    let response: StreamingOutputCallResponse = typed(message);
    response.payload.map(|p| p.body.len()).unwrap_or(0)
}

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("finished in time")
}

#[tokio::test]
async fn empty_unary() {
    let (server, client) = setup().await;
    let response = client
        .unary(
            &method(SERVICE, "EmptyCall"),
            dynamic("grpc.testing.Empty", &Empty {}),
            &CallOptions::new(),
        )
        .await
        .expect("EmptyCall succeeds");
    assert_eq!(
        response.message.descriptor().full_name(),
        "grpc.testing.Empty"
    );
    let empty: Empty = typed(&response.message);
    assert_eq!(empty, Empty {});
    assert_eq!(server.calls("EmptyCall"), 1);
}

#[tokio::test]
async fn large_unary() {
    let (_server, client) = setup().await;
    let request = SimpleRequest {
        response_size: 314_159,
        payload: payload(271_828),
        ..Default::default()
    };
    let response = client
        .unary(
            &method(SERVICE, "UnaryCall"),
            dynamic("grpc.testing.SimpleRequest", &request),
            &CallOptions::new(),
        )
        .await
        .expect("UnaryCall succeeds");
    let response: SimpleResponse = typed(&response.message);
    let body = response.payload.expect("payload").body;
    assert_eq!(body.len(), 314_159);
    assert!(body.iter().all(|b| *b == 0));
}

#[tokio::test]
async fn client_streaming() {
    let (_server, client) = setup().await;
    let mut call = client
        .client_streaming(&method(SERVICE, "StreamingInputCall"), &CallOptions::new())
        .expect("call starts");
    for size in [27_182, 8, 1_828, 45_904] {
        let request = StreamingInputCallRequest {
            payload: payload(size),
            ..Default::default()
        };
        bounded(call.send(dynamic("grpc.testing.StreamingInputCallRequest", &request)))
            .await
            .expect("send");
    }
    let response = bounded(call.finish()).await.expect("finish");
    let response: StreamingInputCallResponse = typed(&response.message);
    assert_eq!(response.aggregated_payload_size, 74_922);
}

#[tokio::test]
async fn server_streaming() {
    let (_server, client) = setup().await;
    let sizes = [31_415, 9, 2_653, 58_979];
    let request = StreamingOutputCallRequest {
        response_parameters: sizes
            .iter()
            .map(|s| ResponseParameters {
                size: *s,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut stream = client
        .server_streaming(
            &method(SERVICE, "StreamingOutputCall"),
            dynamic("grpc.testing.StreamingOutputCallRequest", &request),
            &CallOptions::new(),
        )
        .expect("call starts");
    let mut got = Vec::new();
    while let Some(message) = bounded(stream.next()).await.expect("stream ok") {
        got.push(output_size(&message));
        assert!(got.len() <= sizes.len(), "too many responses");
    }
    assert_eq!(got, sizes.map(|s| s as usize));
    assert!(stream.trailers().is_some(), "trailers after a clean end");
}

#[tokio::test]
async fn ping_pong() {
    let (_server, client) = setup().await;
    let mut call = client
        .bidi_streaming(&method(SERVICE, "FullDuplexCall"), &CallOptions::new())
        .expect("call starts");
    for (response_size, request_size) in
        [(31_415, 27_182), (9, 8), (2_653, 1_828), (58_979, 45_904)]
    {
        let request = output_request(response_size, request_size);
        bounded(call.send(dynamic("grpc.testing.StreamingOutputCallRequest", &request)))
            .await
            .expect("send");
        let response = bounded(call.next())
            .await
            .expect("ok")
            .expect("a response per request");
        assert_eq!(output_size(&response), response_size as usize);
    }
    call.close_send();
    assert_eq!(bounded(call.next()).await.expect("clean end"), None);
}

#[tokio::test]
async fn empty_stream() {
    let (_server, client) = setup().await;
    let mut call = client
        .bidi_streaming(&method(SERVICE, "FullDuplexCall"), &CallOptions::new())
        .expect("call starts");
    call.close_send();
    assert_eq!(bounded(call.next()).await.expect("clean end"), None);
    assert!(call.ended());
}

fn echo_metadata() -> Metadata {
    let mut metadata = Metadata::new();
    metadata
        .push_ascii("x-grpc-test-echo-initial", "test_initial_metadata_value")
        .expect("valid key")
        .push_binary("x-grpc-test-echo-trailing-bin", &[0xab, 0xab, 0xab])
        .expect("valid key");
    metadata
}

#[tokio::test]
async fn custom_metadata() {
    let (_server, client) = setup().await;
    let options = CallOptions::new().with_metadata(echo_metadata());

    let request = SimpleRequest {
        response_size: 314_159,
        payload: payload(271_828),
        ..Default::default()
    };
    let response = client
        .unary(
            &method(SERVICE, "UnaryCall"),
            dynamic("grpc.testing.SimpleRequest", &request),
            &options,
        )
        .await
        .expect("UnaryCall succeeds");
    assert_eq!(
        response.headers.get_ascii("x-grpc-test-echo-initial"),
        Some("test_initial_metadata_value")
    );
    assert_eq!(
        response
            .trailers
            .get_binary("x-grpc-test-echo-trailing-bin"),
        Some(&[0xab, 0xab, 0xab][..])
    );

    let mut call = client
        .bidi_streaming(&method(SERVICE, "FullDuplexCall"), &options)
        .expect("call starts");
    let request = output_request(314_159, 271_828);
    bounded(call.send(dynamic("grpc.testing.StreamingOutputCallRequest", &request)))
        .await
        .expect("send");
    let first = bounded(call.next())
        .await
        .expect("ok")
        .expect("one response");
    assert_eq!(output_size(&first), 314_159);
    call.close_send();
    assert_eq!(bounded(call.next()).await.expect("clean end"), None);
    let headers = call.headers().expect("headers seen");
    assert_eq!(
        headers.get_ascii("x-grpc-test-echo-initial"),
        Some("test_initial_metadata_value")
    );
    let trailers = call.trailers().expect("trailers seen");
    assert_eq!(
        trailers.get_binary("x-grpc-test-echo-trailing-bin"),
        Some(&[0xab, 0xab, 0xab][..])
    );
}

async fn expect_echoed_status(client: &GrpcClient, code: i32, message: &str) {
    let status = EchoStatus {
        code,
        message: message.to_owned(),
    };
    let request = SimpleRequest {
        response_status: Some(status.clone()),
        ..Default::default()
    };
    let err = client
        .unary(
            &method(SERVICE, "UnaryCall"),
            dynamic("grpc.testing.SimpleRequest", &request),
            &CallOptions::new(),
        )
        .await
        .expect_err("the server answers with the requested status");
    assert_eq!(err.code, Code::from_i32(code));
    assert_eq!(err.message, message);

    let mut call = client
        .bidi_streaming(&method(SERVICE, "FullDuplexCall"), &CallOptions::new())
        .expect("call starts");
    let request = StreamingOutputCallRequest {
        response_status: Some(status),
        ..Default::default()
    };
    bounded(call.send(dynamic("grpc.testing.StreamingOutputCallRequest", &request)))
        .await
        .expect("send");
    call.close_send();
    let err = bounded(call.next()).await.expect_err("echoed status");
    assert_eq!(err.code, Code::from_i32(code));
    assert_eq!(err.message, message);
    // The outcome is sticky.
    assert_eq!(bounded(call.next()).await.expect_err("same status"), err);
}

#[tokio::test]
async fn status_code_and_message() {
    let (_server, client) = setup().await;
    expect_echoed_status(&client, 2, "test status message").await;
}

#[tokio::test]
async fn special_status_message() {
    let (_server, client) = setup().await;
    expect_echoed_status(
        &client,
        2,
        "\t\ntest with whitespace\r\nand Unicode BMP \u{263A} and non-BMP \u{1F608}\t\n",
    )
    .await;
}

#[tokio::test]
async fn unimplemented_method() {
    let (_server, client) = setup().await;
    let err = client
        .unary(
            &method(SERVICE, "UnimplementedCall"),
            dynamic("grpc.testing.Empty", &Empty {}),
            &CallOptions::new(),
        )
        .await
        .expect_err("not implemented");
    assert_eq!(err.code, Code::Unimplemented);
}

#[tokio::test]
async fn unimplemented_service() {
    let (server, client) = setup().await;
    let err = client
        .unary(
            &method("grpc.testing.UnimplementedService", "UnimplementedCall"),
            dynamic("grpc.testing.Empty", &Empty {}),
            &CallOptions::new(),
        )
        .await
        .expect_err("service not served");
    assert_eq!(err.code, Code::Unimplemented);
    assert!(server.state.all_calls().is_empty(), "no handler ran");
}

#[tokio::test]
async fn timeout_on_sleeping_server() {
    let (_server, client) = setup().await;
    let options = CallOptions::new().with_timeout(Duration::from_millis(1));
    let mut call = client
        .bidi_streaming(&method(SERVICE, "FullDuplexCall"), &options)
        .expect("call starts");
    let request = StreamingOutputCallRequest {
        payload: payload(27_182),
        ..Default::default()
    };
    // The deadline may already have passed when sending; either outcome of
    // the send is allowed, the call's status is what the case checks.
    let sent =
        bounded(call.send(dynamic("grpc.testing.StreamingOutputCallRequest", &request))).await;
    if let Err(status) = &sent {
        assert!(
            matches!(
                status.code,
                Code::DeadlineExceeded | Code::FailedPrecondition
            ),
            "unexpected send failure {status}"
        );
    }
    let err: RpcStatus = bounded(call.next()).await.expect_err("deadline");
    assert_eq!(err.code, Code::DeadlineExceeded, "{err}");
}

#[tokio::test]
async fn cancel_after_begin() {
    let (_server, client) = setup().await;
    let mut call = client
        .client_streaming(&method(SERVICE, "StreamingInputCall"), &CallOptions::new())
        .expect("call starts");
    call.cancel();
    let err = bounded(call.finish()).await.expect_err("cancelled");
    assert_eq!(err.code, Code::Cancelled);
}

#[tokio::test]
async fn cancel_after_first_response() {
    let (_server, client) = setup().await;
    let mut call = client
        .bidi_streaming(&method(SERVICE, "FullDuplexCall"), &CallOptions::new())
        .expect("call starts");
    let request = output_request(31_415, 27_182);
    bounded(call.send(dynamic("grpc.testing.StreamingOutputCallRequest", &request)))
        .await
        .expect("send");
    let first = bounded(call.next()).await.expect("ok").expect("a response");
    assert_eq!(output_size(&first), 31_415);
    call.cancel();
    let err = bounded(call.next()).await.expect_err("cancelled");
    assert_eq!(err.code, Code::Cancelled);
    let err = bounded(call.send(dynamic("grpc.testing.StreamingOutputCallRequest", &request)))
        .await
        .expect_err("no sends after cancel");
    assert_eq!(err.code, Code::Cancelled);
}
