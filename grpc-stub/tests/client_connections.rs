//! Connections of the dynamic client: a pool shares one connection per
//! endpoint between clients (counted at a relay in front of a real
//! server), and the message size limit each way fails a call with a
//! RESOURCE_EXHAUSTED status naming the side and the setting, while a
//! server's own limit comes back as the server's status. A connection that
//! breaks during an answer is named so.

mod client_support;

use std::time::Duration;

use client_support::scripted::{self, Respond};
use client_support::{dynamic, method, typed};
use reprise_grpc_stub::Code;
use reprise_grpc_stub::client::{
    CallOptions, ChannelPool, ClientAuth, ClientConfig, GrpcClient, Keepalive,
};
use reprise_system_tests::proto::example::{HelloReply, HelloRequest};
use reprise_system_tests::{CutProxy, spawn_greeter_server, spawn_limited_greeter_server};

const LIMIT: Duration = Duration::from_secs(20);

async fn hello(client: &GrpcClient, name: &str) -> Result<String, reprise_grpc_stub::RpcStatus> {
    let request = dynamic(
        "example.HelloRequest",
        &HelloRequest {
            name: name.to_owned(),
        },
    );
    let (say_hello, options) = (method("example.Greeter", "SayHello"), CallOptions::new());
    let response = tokio::time::timeout(LIMIT, client.unary(&say_hello, request, &options))
        .await
        .expect("answered in time")?;
    Ok(typed::<HelloReply>(&response.message).message)
}

#[tokio::test]
async fn a_pool_shares_one_connection_per_endpoint() {
    let server = spawn_greeter_server().await.unwrap();
    let proxy = CutProxy::spawn(server.addr).await.unwrap();
    let pool = ChannelPool::new();
    // Clients with different credentials and keepalive off/on the same
    // settings share the connection; each call keeps its own credentials.
    let configs = [
        ClientConfig {
            auth: Some(ClientAuth::Bearer("one".into())),
            ..ClientConfig::default()
        },
        ClientConfig {
            auth: Some(ClientAuth::Bearer("two".into())),
            ..ClientConfig::default()
        },
        ClientConfig::default(),
    ];
    for config in configs {
        let client = pool.client(&proxy.endpoint(), config).unwrap();
        assert_eq!(hello(&client, "pooled").await.unwrap(), "Hello, pooled!");
    }
    assert_eq!(pool.len(), 1);
    let seen: Vec<Option<String>> = server
        .state
        .metadata("SayHello")
        .iter()
        .map(|m| m.get("authorization").map(str::to_owned))
        .collect();
    assert_eq!(
        seen,
        [Some("Bearer one".into()), Some("Bearer two".into()), None]
    );
    assert_eq!(proxy.cut(), 1, "one connection carried the three calls");

    // Other connection settings get a connection of their own.
    let keepalive = ClientConfig {
        keepalive: Some(Keepalive {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
        }),
        ..ClientConfig::default()
    };
    let client = pool.client(&proxy.endpoint(), keepalive).unwrap();
    assert_eq!(hello(&client, "again").await.unwrap(), "Hello, again!");
    assert_eq!(pool.len(), 2);

    // Without a pool, every client connects on its own.
    let mut alone = Vec::new();
    for _ in 0..2 {
        let client = GrpcClient::new(&proxy.endpoint(), ClientConfig::default()).unwrap();
        assert_eq!(hello(&client, "alone").await.unwrap(), "Hello, alone!");
        alone.push(client);
    }
    assert_eq!(
        proxy.cut(),
        3,
        "the pooled keepalive one and two of their own"
    );
}

#[tokio::test]
async fn messages_over_the_limit_are_resource_exhausted_naming_the_side() {
    let server = spawn_greeter_server().await.unwrap();
    let small_requests = ClientConfig {
        max_request_bytes: Some(64),
        ..ClientConfig::default()
    };
    let client = GrpcClient::new(&server.endpoint(), small_requests).unwrap();
    assert_eq!(hello(&client, "ok").await.unwrap(), "Hello, ok!");
    let err = hello(&client, &"x".repeat(200)).await.unwrap_err();
    assert_eq!(err.code, Code::ResourceExhausted, "{err}");
    assert!(
        err.message.contains("request message is larger than")
            && err.message.contains("max-message-size"),
        "{err}"
    );
    assert_eq!(
        server.calls("SayHello"),
        1,
        "the large request was not sent"
    );

    let small_responses = ClientConfig {
        max_response_bytes: Some(64),
        ..ClientConfig::default()
    };
    let client = GrpcClient::new(&server.endpoint(), small_responses).unwrap();
    let err = hello(&client, &"y".repeat(100)).await.unwrap_err();
    assert_eq!(err.code, Code::ResourceExhausted, "{err}");
    assert!(
        err.message.contains("response message is larger than"),
        "{err}"
    );
}

#[tokio::test]
async fn a_servers_own_size_limit_is_its_status_not_ours() {
    // tonic's local limit errors and a tonic server's answer to a request
    // over its limit have the same code and words; the server's used to be
    // reported as our own response limit.
    let server = spawn_limited_greeter_server(1024).await.unwrap();
    let roomy = ClientConfig {
        max_request_bytes: Some(1 << 20),
        max_response_bytes: Some(1 << 20),
        ..ClientConfig::default()
    };
    let client = GrpcClient::new(&server.endpoint(), roomy).unwrap();
    assert_eq!(hello(&client, "ok").await.unwrap(), "Hello, ok!");
    let err = hello(&client, &"z".repeat(2048)).await.unwrap_err();
    assert_eq!(err.code, Code::OutOfRange, "{err}");
    assert!(
        err.message.contains("decoded message length too large")
            && err.message.contains("the limit is: 1024 bytes"),
        "{err}"
    );
    assert!(!err.message.contains("max-message-size"), "{err}");
}

#[tokio::test]
async fn a_server_stream_stops_at_a_response_over_the_limit_and_a_large_request_is_not_sent() {
    let server = reprise_system_tests::spawn_route_guide_server()
        .await
        .unwrap();
    let list = method("routeguide.RouteGuide", "ListFeatures");
    let area = reprise_system_tests::proto::routeguide::Rectangle {
        lo: Some(reprise_system_tests::proto::routeguide::Point {
            latitude: i32::MIN,
            longitude: i32::MIN,
        }),
        hi: Some(reprise_system_tests::proto::routeguide::Point {
            latitude: i32::MAX,
            longitude: i32::MAX,
        }),
    };
    let request = dynamic("routeguide.Rectangle", &area);
    let tight = ClientConfig {
        max_request_bytes: Some(8),
        max_response_bytes: Some(8),
        ..ClientConfig::default()
    };
    let client = GrpcClient::new(&server.endpoint(), tight).unwrap();
    let err = client
        .server_streaming(&list, request.clone(), &CallOptions::new())
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.code, Code::ResourceExhausted, "{err}");
    assert!(
        err.message.contains("request message is larger than"),
        "{err}"
    );
    assert_eq!(server.calls("ListFeatures"), 0, "the request was not sent");

    let small_responses = ClientConfig {
        max_response_bytes: Some(8),
        ..ClientConfig::default()
    };
    let client = GrpcClient::new(&server.endpoint(), small_responses).unwrap();
    let mut stream = client
        .server_streaming(&list, request, &CallOptions::new())
        .unwrap();
    let err = tokio::time::timeout(LIMIT, async {
        loop {
            match stream.next().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the stream ended without an error"),
                Err(e) => break e,
            }
        }
    })
    .await
    .expect("answered in time");
    assert_eq!(err.code, Code::ResourceExhausted, "{err}");
    assert!(
        err.message.starts_with(
            "routeguide.RouteGuide.ListFeatures: the response message is larger than the \
             dependency's max-message-size (found "
        ) && err.message.ends_with("the limit is 8 bytes)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_connection_closed_during_a_unary_answer_is_named_without_a_tls_hint() {
    // Headers and the response came, then the connection closed before the
    // trailers: the server evidently spoke HTTP/2, so "is it a TLS server?"
    // would send a person the wrong way (streams said so already; unary
    // calls still gave the hint).
    let respond: Respond = std::sync::Arc::new(|stream| {
        let reply = HelloReply {
            message: "hi".into(),
        };
        let mut out = scripted::response_headers(stream);
        out.extend(scripted::message(
            stream,
            &prost::Message::encode_to_vec(&reply),
        ));
        out
    });
    let endpoint = scripted::start_closing(respond).await;
    let client = GrpcClient::new(&endpoint, ClientConfig::default()).unwrap();
    let expected = format!(
        "calling example.Greeter.SayHello at {endpoint}: the connection broke after the server \
         began its answer"
    );
    let err = hello(&client, "x").await.unwrap_err();
    assert_eq!(err.code, Code::Unavailable, "{err}");
    assert!(err.message.starts_with(&expected), "{err}");
    assert!(!err.message.contains("TLS"), "{err}");

    let say_hello = method("example.Greeter", "SayHello");
    let request = prost::Message::encode_to_vec(&HelloRequest { name: "y".into() });
    let options = CallOptions::new();
    let encoded = client.unary_encoded(&say_hello, request, &options);
    let err = tokio::time::timeout(LIMIT, encoded)
        .await
        .expect("answered in time")
        .unwrap_err();
    assert_eq!(err.code, Code::Unavailable, "{err}");
    assert!(err.message.starts_with(&expected), "{err}");
    assert!(!err.message.contains("TLS"), "{err}");
}

#[tokio::test]
async fn status_details_that_are_not_base64_are_dropped_not_a_panic() {
    // tonic reads grpc-status-details-bin with `expect`: a server sending
    // one that is not base64 panicked the calling task (and, replayed, the
    // worker at every load).
    for trailers_only in [true, false] {
        let respond: Respond = std::sync::Arc::new(move |stream| {
            let status = [
                ("grpc-status", "9"),
                ("grpc-message", "not now"),
                ("grpc-status-details-bin", "%%% not base64 %%%"),
            ];
            if trailers_only {
                let mut pairs = vec![("content-type", "application/grpc")];
                pairs.extend(status);
                return scripted::headers(stream, true, true, &pairs);
            }
            let mut out = scripted::response_headers(stream);
            out.extend(scripted::headers(stream, false, true, &status));
            out
        });
        let endpoint = scripted::start_closing(respond).await;
        let client = GrpcClient::new(&endpoint, ClientConfig::default()).unwrap();
        let call = tokio::spawn(async move { hello(&client, "x").await });
        let err = tokio::time::timeout(LIMIT, call)
            .await
            .expect("answered in time")
            .expect("the call did not panic")
            .unwrap_err();
        assert_eq!(err.code, Code::FailedPrecondition, "{err}");
        assert!(
            err.message.contains("not now") && err.message.contains("not base64"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn an_answer_that_is_not_grpc_gets_the_status_its_http_status_maps_to() {
    // A proxy's 502 page was read as gRPC frames: `<htm` became a message
    // length of 1.75 GB, RESOURCE_EXHAUSTED, which no retry policy retries.
    for (status, code) in [
        (502, Code::Unavailable),
        (404, Code::Unimplemented),
        (403, Code::PermissionDenied),
        (200, Code::Unknown),
    ] {
        let respond: Respond = std::sync::Arc::new(move |stream| {
            scripted::http_answer(stream, status, "<html>Bad Gateway</html>")
        });
        let endpoint = scripted::start_closing(respond).await;
        let client = GrpcClient::new(&endpoint, ClientConfig::default()).unwrap();
        let err = tokio::time::timeout(LIMIT, hello(&client, "x"))
            .await
            .expect("answered in time")
            .unwrap_err();
        assert_eq!(err.code, code, "HTTP {status}: {err}");
        assert!(
            err.message.contains(&format!("HTTP {status}")) && err.message.contains("not gRPC"),
            "{err}"
        );
    }
}
