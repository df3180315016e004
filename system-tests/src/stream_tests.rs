//! Tests of the streaming instrumentation with real tonic clients: frames
//! counted per method, park after `n` frames holds the call until release,
//! and a client that goes away is counted as a cancelled call.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::proto::grpc::testing::test_service_client::TestServiceClient;
use crate::proto::grpc::testing::{
    Payload, ResponseParameters, StreamingInputCallRequest, StreamingOutputCallRequest,
};
use crate::proto::routeguide::route_guide_client::RouteGuideClient;
use crate::proto::routeguide::{Point, Rectangle, RouteNote};
use crate::{
    CutProxy, FEATURE_COUNT, feature, spawn_route_guide_server, spawn_test_service_server,
};

const LIMIT: Duration = Duration::from_secs(20);

/// A rectangle covering every feature of the database.
fn everything() -> Rectangle {
    Rectangle {
        lo: Some(Point {
            latitude: 390_000_000,
            longitude: -760_000_000,
        }),
        hi: Some(Point {
            latitude: 420_000_000,
            longitude: -730_000_000,
        }),
    }
}

fn note(latitude: i32, message: &str) -> RouteNote {
    RouteNote {
        location: Some(Point {
            latitude,
            longitude: 1,
        }),
        message: message.to_owned(),
    }
}

fn output_request(frames: usize, size: i32) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_parameters: vec![
            ResponseParameters {
                size,
                ..ResponseParameters::default()
            };
            frames
        ],
        ..StreamingOutputCallRequest::default()
    }
}

#[tokio::test]
async fn list_features_parks_after_two_frames_until_release() {
    let server = spawn_route_guide_server().await.expect("server");
    let state = server.state.clone();
    let mut client = RouteGuideClient::connect(server.endpoint())
        .await
        .expect("connect");
    state.park_after_frames("ListFeatures", 2);
    let mut stream = client
        .list_features(everything())
        .await
        .expect("opened")
        .into_inner();
    let mut names = Vec::new();
    for _ in 0..2 {
        let next = tokio::time::timeout(LIMIT, stream.message()).await;
        let feature = next.expect("in time").expect("ok").expect("a feature");
        names.push(feature.name);
    }
    state.wait_parked(1, LIMIT).await.expect("parked");
    assert_eq!(state.frames_sent("ListFeatures"), 2, "held after two");
    assert_eq!(state.frames_received("ListFeatures"), 1, "one request");
    state.release();
    while let Some(feature) = tokio::time::timeout(LIMIT, stream.message())
        .await
        .expect("in time")
        .expect("ok")
    {
        names.push(feature.name);
        assert!(names.len() <= 10, "bounded: {names:?}");
    }
    let expected: Vec<String> = (0..FEATURE_COUNT).map(|i| feature(i).name).collect();
    assert_eq!(names, expected);
    assert_eq!(state.frames_sent("ListFeatures"), 10);
    assert_eq!(state.parked_now(), 0);
    assert_eq!(state.cancelled("ListFeatures"), 0);

    // The release cleared the threshold: the next call is not held.
    let again = tokio::time::timeout(LIMIT, async {
        let mut stream = client
            .list_features(everything())
            .await
            .expect("opened")
            .into_inner();
        let mut n = 0;
        while stream.message().await.expect("ok").is_some() {
            n += 1;
        }
        n
    })
    .await
    .expect("not held");
    assert_eq!(again, 10);
    assert_eq!(state.calls("ListFeatures"), 2);
    assert_eq!(state.frames_sent("ListFeatures"), 20);
}

#[tokio::test]
async fn dropping_a_server_stream_counts_a_cancelled_call() {
    let server = spawn_route_guide_server().await.expect("server");
    let state = server.state.clone();
    let mut client = RouteGuideClient::connect(server.endpoint())
        .await
        .expect("connect");
    state.park_after_frames("ListFeatures", 1);
    let mut stream = client
        .list_features(everything())
        .await
        .expect("opened")
        .into_inner();
    let first = tokio::time::timeout(LIMIT, stream.message())
        .await
        .expect("in time")
        .expect("ok");
    assert_eq!(first.map(|f| f.name), Some(feature(0).name));
    state.wait_parked(1, LIMIT).await.expect("parked");
    assert_eq!(state.cancelled("ListFeatures"), 0);
    drop(stream);
    // Seen while the call is still held.
    state
        .wait_for("ListFeatures cancelled", LIMIT, |s| {
            s.cancelled("ListFeatures") == 1
        })
        .await
        .expect("the handler saw the client go away");
    assert_eq!(state.parked_now(), 1, "held until release");
    state.release();
    state
        .wait_for("the held call to leave", LIMIT, |s| s.parked_now() == 0)
        .await
        .expect("released");
    assert_eq!(state.frames_sent("ListFeatures"), 1);
    assert_eq!(state.cancelled("ListFeatures"), 1, "counted once");
}

#[tokio::test]
async fn record_route_parks_after_reading_and_counts_a_lost_client() {
    let server = spawn_route_guide_server().await.expect("server");
    let state = server.state.clone();
    let proxy = CutProxy::spawn(server.addr).await.expect("proxy");
    let client = RouteGuideClient::connect(proxy.endpoint())
        .await
        .expect("connect");

    // Parked after two reads, then finishes with the right summary.
    state.park_after_frames("RecordRoute", 2);
    let (tx, rx) = mpsc::channel(8);
    let call = {
        let mut client = client.clone();
        tokio::spawn(async move { client.record_route(ReceiverStream::new(rx)).await })
    };
    for i in [0, 5, 7] {
        let location = feature(i).location.expect("located");
        tx.send(location).await.expect("queued");
    }
    tx.send(Point {
        latitude: 1,
        longitude: 2,
    })
    .await
    .expect("queued");
    drop(tx);
    state.wait_parked(1, LIMIT).await.expect("parked");
    assert_eq!(state.frames_received("RecordRoute"), 2);
    assert!(!call.is_finished());
    state.release();
    let summary = tokio::time::timeout(LIMIT, call)
        .await
        .expect("in time")
        .expect("joined")
        .expect("ok")
        .into_inner();
    assert_eq!((summary.point_count, summary.feature_count), (4, 3));
    assert_eq!(state.frames_received("RecordRoute"), 4);
    assert_eq!(state.cancelled("RecordRoute"), 0);

    // The client's connection dies while the call is held after one read.
    state.park_after_frames("RecordRoute", 1);
    let (tx, rx) = mpsc::channel(8);
    let call = {
        let mut client = client.clone();
        tokio::spawn(async move { client.record_route(ReceiverStream::new(rx)).await })
    };
    tx.send(Point::default()).await.expect("queued");
    state.wait_parked(1, LIMIT).await.expect("parked");
    assert_eq!(proxy.cut(), 1, "one connection");
    state
        .wait_for("RecordRoute cancelled", LIMIT, |s| {
            s.cancelled("RecordRoute") == 1
        })
        .await
        .expect("the lost client was seen");
    let outcome = tokio::time::timeout(LIMIT, call)
        .await
        .expect("in time")
        .expect("joined");
    assert!(
        outcome.is_err(),
        "the client saw its call fail: {outcome:?}"
    );
    state.release();
    assert_eq!(state.frames_received("RecordRoute"), 5);
    assert_eq!(state.calls("RecordRoute"), 2);
    drop(tx);
}

#[tokio::test]
async fn route_chat_counts_both_directions_and_parks_on_responses() {
    let server = spawn_route_guide_server().await.expect("server");
    let state = server.state.clone();
    let mut client = RouteGuideClient::connect(server.endpoint())
        .await
        .expect("connect");
    state.park_after_frames("RouteChat", 1);
    let notes = vec![note(7, "a1"), note(7, "a2"), note(7, "a3"), note(8, "b1")];
    let mut responses = client
        .route_chat(tokio_stream::iter(notes))
        .await
        .expect("opened")
        .into_inner();
    state.wait_parked(1, LIMIT).await.expect("parked");
    assert_eq!(state.frames_sent("RouteChat"), 1);
    assert_eq!(state.frames_received("RouteChat"), 2, "held before a3");
    state.release();
    let mut got = Vec::new();
    while let Some(note) = tokio::time::timeout(LIMIT, responses.message())
        .await
        .expect("in time")
        .expect("ok")
    {
        got.push(note.message);
        assert!(got.len() <= 3, "bounded: {got:?}");
    }
    assert_eq!(got, ["a1", "a1", "a2"]);
    assert_eq!(state.frames_sent("RouteChat"), 3);
    assert_eq!(state.frames_received("RouteChat"), 4);
    assert_eq!(state.cancelled("RouteChat"), 0);
}

#[tokio::test]
async fn test_service_streams_are_counted_parked_and_cancelled() {
    let server = spawn_test_service_server().await.expect("server");
    let state = server.state.clone();
    let proxy = CutProxy::spawn(server.addr).await.expect("proxy");
    let mut client = TestServiceClient::connect(proxy.endpoint())
        .await
        .expect("connect");

    // Server streaming: held after two of four responses.
    state.park_after_frames("StreamingOutputCall", 2);
    let mut stream = client
        .streaming_output_call(output_request(4, 3))
        .await
        .expect("opened")
        .into_inner();
    state.wait_parked(1, LIMIT).await.expect("parked");
    assert_eq!(state.frames_sent("StreamingOutputCall"), 2);
    state.release();
    let mut n = 0;
    while tokio::time::timeout(LIMIT, stream.message())
        .await
        .expect("in time")
        .expect("ok")
        .is_some()
    {
        n += 1;
        assert!(n <= 4);
    }
    assert_eq!(n, 4);
    assert_eq!(state.frames_sent("StreamingOutputCall"), 4);
    assert_eq!(state.frames_received("StreamingOutputCall"), 1);

    // Client streaming: every read counted.
    let requests: Vec<StreamingInputCallRequest> = [5, 7, 9]
        .into_iter()
        .map(|len| StreamingInputCallRequest {
            payload: Some(Payload {
                body: vec![0; len],
                ..Payload::default()
            }),
            ..StreamingInputCallRequest::default()
        })
        .collect();
    let total = client
        .streaming_input_call(tokio_stream::iter(requests))
        .await
        .expect("ok")
        .into_inner();
    assert_eq!(total.aggregated_payload_size, 21);
    assert_eq!(state.frames_received("StreamingInputCall"), 3);

    // Half duplex: reads all, then answers.
    let half = client
        .half_duplex_call(tokio_stream::iter(vec![
            output_request(1, 1),
            output_request(2, 1),
        ]))
        .await
        .expect("opened")
        .into_inner();
    let answers = tokio::time::timeout(LIMIT, drain(half))
        .await
        .expect("in time");
    assert_eq!(answers, 3);
    assert_eq!(state.frames_received("HalfDuplexCall"), 2);
    assert_eq!(state.frames_sent("HalfDuplexCall"), 3);

    // Full duplex: the client's connection dies while the handler is held.
    state.park_after_frames("FullDuplexCall", 1);
    let (tx, rx) = mpsc::channel(4);
    tx.send(output_request(3, 1)).await.expect("queued");
    let mut duplex = client
        .full_duplex_call(ReceiverStream::new(rx))
        .await
        .expect("opened")
        .into_inner();
    let first = tokio::time::timeout(LIMIT, duplex.message())
        .await
        .expect("in time")
        .expect("ok");
    assert!(first.is_some());
    state.wait_parked(1, LIMIT).await.expect("parked");
    proxy.cut();
    state
        .wait_for("FullDuplexCall cancelled", LIMIT, |s| {
            s.cancelled("FullDuplexCall") == 1
        })
        .await
        .expect("the client going away was seen");
    state.release();
    assert!(
        tokio::time::timeout(LIMIT, duplex.message())
            .await
            .expect("in time")
            .is_err(),
        "the client saw the connection go"
    );
    assert_eq!(state.frames_received("FullDuplexCall"), 1);
    assert_eq!(state.frames_sent("FullDuplexCall"), 1);
    for method in [
        "StreamingOutputCall",
        "StreamingInputCall",
        "HalfDuplexCall",
    ] {
        assert_eq!(state.cancelled(method), 0, "{method}");
    }
    drop(tx);
    server.shutdown().await.expect("clean shutdown");
}

async fn drain<T>(mut stream: tonic::Streaming<T>) -> usize {
    let mut n = 0;
    while stream.message().await.expect("ok").is_some() {
        n += 1;
        assert!(n <= 100, "bounded");
    }
    n
}

#[tokio::test]
async fn wait_for_times_out_naming_what_was_awaited() {
    let server = spawn_route_guide_server().await.expect("server");
    let err = server
        .state
        .wait_for("a frame that never comes", Duration::from_millis(20), |s| {
            s.frames_sent("ListFeatures") > 0
        })
        .await
        .expect_err("nothing was sent");
    assert!(
        err.to_string().contains("a frame that never comes"),
        "{err}"
    );
}
