//! Streaming handles beyond the basics: cancelling a call must reset it on
//! the server, never look like a request stream that ended normally (which a
//! server would act upon); raw handles hand over the responses' wire bytes.

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

#[tokio::test]
async fn raw_streams_hand_over_the_wire_bytes() {
    use prost::Message as _;
    use reprise_system_tests::feature;
    use reprise_system_tests::proto::routeguide::{Feature, Rectangle, RouteNote};

    let server = spawn_route_guide_server().await.expect("server");
    let client = GrpcClient::new(&server.endpoint(), ClientConfig::default()).expect("client");
    let rect = Rectangle {
        lo: feature(2).location,
        hi: feature(4).location,
    };
    let mut stream = client
        .server_streaming_raw(
            &method("routeguide.RouteGuide", "ListFeatures"),
            dynamic("routeguide.Rectangle", &rect),
            &CallOptions::new(),
        )
        .expect("list");
    let mut features = Vec::new();
    while let Some(bytes) = tokio::time::timeout(LIMIT, stream.next())
        .await
        .expect("in time")
        .expect("ok")
    {
        features.push(Feature::decode(bytes.as_slice()).expect("a Feature"));
        assert!(features.len() <= 10);
    }
    assert_eq!(features, vec![feature(2), feature(3), feature(4)]);

    // Bidi: the second note at a place brings the first one back, as bytes.
    let mut chat = client
        .bidi_streaming_raw(
            &method("routeguide.RouteGuide", "RouteChat"),
            &CallOptions::new(),
        )
        .expect("chat");
    let note = |text: &str| RouteNote {
        location: feature(1).location,
        message: text.into(),
    };
    for text in ["first", "second"] {
        tokio::time::timeout(
            LIMIT,
            chat.send(dynamic("routeguide.RouteNote", &note(text))),
        )
        .await
        .expect("in time")
        .expect("send");
    }
    chat.close_send();
    let echoed = tokio::time::timeout(LIMIT, chat.next())
        .await
        .expect("in time")
        .expect("ok")
        .expect("one note back");
    assert_eq!(
        RouteNote::decode(echoed.as_slice()).expect("a note"),
        note("first")
    );
}
