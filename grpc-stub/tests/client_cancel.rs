//! Cancelling a streaming call must reset it on the server, never look like
//! a request stream that ended normally (which a server would act upon).

mod client_support;

use std::time::Duration;

use client_support::{dynamic, method};
use reprise_grpc_stub::client::{CallOptions, ClientConfig, GrpcClient};
use reprise_system_tests::proto::routeguide::Point;
use reprise_system_tests::spawn_route_guide_server;
use reprise_system_tests::state::ServerState;

const LIMIT: Duration = Duration::from_secs(20);

fn point(latitude: i32) -> prost_reflect::DynamicMessage {
    dynamic(
        "routeguide.Point",
        &Point {
            latitude,
            longitude: 1,
        },
    )
}

async fn started_record_route(
    server: &reprise_system_tests::TestServer,
) -> reprise_grpc_stub::client::ClientStream {
    let client = GrpcClient::new(&server.endpoint(), ClientConfig::default()).expect("client");
    let mut call = client
        .client_streaming(
            &method("routeguide.RouteGuide", "RecordRoute"),
            &CallOptions::new(),
        )
        .expect("open");
    for latitude in [1, 2] {
        tokio::time::timeout(LIMIT, call.send(point(latitude)))
            .await
            .expect("in time")
            .expect("send");
    }
    server
        .state
        .wait_for("two points read", LIMIT, |s: &ServerState| {
            s.frames_received("RecordRoute") >= 2
        })
        .await
        .expect("the server reads the points");
    call
}

#[tokio::test]
async fn cancelling_a_client_stream_resets_it() {
    let server = spawn_route_guide_server().await.expect("server");
    let mut call = started_record_route(&server).await;
    call.cancel();
    server
        .state
        .wait_for("RecordRoute cancelled", LIMIT, |s: &ServerState| {
            s.cancelled("RecordRoute") >= 1
        })
        .await
        .expect("the server sees a reset, not the end of the requests");
}

#[tokio::test]
async fn dropping_an_unfinished_client_stream_resets_it() {
    let server = spawn_route_guide_server().await.expect("server");
    let call = started_record_route(&server).await;
    drop(call);
    server
        .state
        .wait_for("RecordRoute cancelled", LIMIT, |s: &ServerState| {
            s.cancelled("RecordRoute") >= 1
        })
        .await
        .expect("the server sees a reset, not the end of the requests");
}

#[tokio::test]
async fn finishing_a_client_stream_is_not_a_cancellation() {
    let server = spawn_route_guide_server().await.expect("server");
    let mut call = started_record_route(&server).await;
    tokio::time::timeout(LIMIT, call.finish())
        .await
        .expect("in time")
        .expect("summary");
    drop(call);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.state.cancelled("RecordRoute"), 0);
}
