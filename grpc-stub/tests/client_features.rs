//! Client features beyond the interop suite: credentials, idempotency keys,
//! rich error details, transport failures, deadlines, cancellation,
//! back-pressure and all four call kinds of RouteGuide.

mod client_support;

use std::time::Duration;

use client_support::{dynamic, method, typed};
use reprise_grpc_stub::Error;
use reprise_grpc_stub::client::{
    CallOptions, ClientAuth, ClientConfig, GrpcClient, Metadata, MetadataEntry, MetadataValue,
};
use reprise_grpc_stub::status::ErrorDetail;
use reprise_grpc_stub::{Code, RpcStatus};
use reprise_system_tests::proto::core::todo::v1::{
    TodoAddRequest, TodoAddResponse, TodoDeleteRequest, TodoListRequest, TodoListResponse,
};
use reprise_system_tests::proto::example::HelloRequest;
use reprise_system_tests::proto::google::rpc as generated;
use reprise_system_tests::proto::grpc::testing::{
    EchoStatus, Payload, ResponseParameters, StreamingOutputCallRequest,
};
use reprise_system_tests::proto::routeguide::{Feature, Point, Rectangle, RouteNote, RouteSummary};
use reprise_system_tests::rich::{any, rich_failure};
use reprise_system_tests::{
    feature, spawn_greeter_server, spawn_route_guide_server, spawn_test_service_server,
    spawn_todo_server,
};

const TODO: &str = "core.todo.v1.TodoService";
const LIMIT: Duration = Duration::from_secs(20);

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("finished in time")
}

fn hello(name: &str) -> prost_reflect::DynamicMessage {
    dynamic(
        "example.HelloRequest",
        &HelloRequest {
            name: name.to_owned(),
        },
    )
}

fn todo_add(user: &str, task: &str) -> prost_reflect::DynamicMessage {
    dynamic(
        "core.todo.v1.TodoAddRequest",
        &TodoAddRequest {
            user_id: user.to_owned(),
            task: task.to_owned(),
        },
    )
}

#[tokio::test]
async fn auth_headers_arrive_at_the_server() {
    let server = spawn_greeter_server().await.expect("server");
    let say_hello = method("example.Greeter", "SayHello");
    let cases = [
        (
            ClientAuth::Bearer("t0ken-123".into()),
            "authorization",
            "Bearer t0ken-123",
        ),
        (
            ClientAuth::Basic {
                user: "alice".into(),
                password: "pw".into(),
            },
            "authorization",
            // base64("alice:pw")
            "Basic YWxpY2U6cHc=",
        ),
        (
            ClientAuth::ApiKey {
                header: "X-Api-Key".into(),
                value: "k-42".into(),
            },
            "x-api-key",
            "k-42",
        ),
    ];
    for (i, (auth, header, expected)) in cases.into_iter().enumerate() {
        let config = ClientConfig {
            auth: Some(auth),
            ..ClientConfig::default()
        };
        let client = GrpcClient::new(&server.endpoint(), config).expect("client");
        // A caller-supplied value for the same key must not override the credential.
        let mut metadata = Metadata::new();
        metadata.push_ascii(header, "spoofed").expect("valid");
        let response = client
            .unary(
                &say_hello,
                hello("auth"),
                &CallOptions::new().with_metadata(metadata),
            )
            .await
            .expect("call succeeds");
        let reply: reprise_system_tests::proto::example::HelloReply = typed(&response.message);
        assert_eq!(reply.message, "Hello, auth!");
        let seen = server.state.metadata("SayHello");
        assert_eq!(seen.len(), i + 1);
        let values: Vec<&str> = seen[i]
            .ascii
            .iter()
            .filter(|(k, _)| k == header)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(values, [expected], "{header}");
    }
}

#[test]
fn auth_debug_redacts_secrets() {
    let auths = [
        ClientAuth::Bearer("super-secret-token".into()),
        ClientAuth::Basic {
            user: "alice".into(),
            password: "super-secret-pw".into(),
        },
        ClientAuth::ApiKey {
            header: "x-api-key".into(),
            value: "super-secret-key".into(),
        },
    ];
    for auth in auths {
        let shown = format!("{auth:?}");
        assert!(!shown.contains("super-secret"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}

#[test]
fn bad_credentials_are_typed_errors() {
    let cases = [
        ClientAuth::Bearer(String::new()),
        ClientAuth::Bearer("line\nbreak".into()),
        ClientAuth::ApiKey {
            header: "bad header".into(),
            value: "v".into(),
        },
        ClientAuth::Basic {
            user: "a:b".into(),
            password: "p".into(),
        },
    ];
    for auth in cases {
        let err = auth.validate().expect_err("rejected");
        assert!(matches!(err, Error::InvalidAuth { .. }), "{err}");
        assert!(!err.to_string().contains("line\nbreak"));
    }
}

#[tokio::test]
async fn idempotency_key_arrives_and_lets_the_server_drop_duplicates() {
    let server = spawn_todo_server().await.expect("server");
    let client = GrpcClient::new(&server.endpoint(), ClientConfig::default()).expect("client");
    let add = method(TODO, "TodoAdd");
    let options = CallOptions::new()
        .with_idempotency_key("worker-7/oplog-42")
        .expect("valid key");
    let first = client
        .unary(&add, todo_add("u1", "buy milk"), &options)
        .await
        .expect("first add");
    let retry = client
        .unary(&add, todo_add("u1", "buy milk"), &options)
        .await
        .expect("retried add");
    let first: TodoAddResponse = typed(&first.message);
    let retry: TodoAddResponse = typed(&retry.message);
    assert_eq!(first, retry, "the retry returns the first answer");
    assert_eq!(
        server.idempotency_keys("TodoAdd"),
        ["worker-7/oplog-42", "worker-7/oplog-42"]
    );
    let list = client
        .unary(
            &method(TODO, "TodoList"),
            dynamic(
                "core.todo.v1.TodoListRequest",
                &TodoListRequest {
                    user_id: "u1".into(),
                },
            ),
            &CallOptions::new(),
        )
        .await
        .expect("list");
    let list: TodoListResponse = typed(&list.message);
    assert_eq!(list.todos.len(), 1, "no duplicate todo");
    // A call without a key records nothing.
    assert!(server.idempotency_keys("TodoList").is_empty());
    assert!(CallOptions::new().with_idempotency_key("bad\nkey").is_err());
    assert!(CallOptions::new().with_idempotency_key("").is_err());
}

#[tokio::test]
async fn rich_error_details_decode() {
    let server = spawn_todo_server().await.expect("server");
    let client = GrpcClient::new(&server.endpoint(), ClientConfig::default()).expect("client");

    // Validation error: BadRequest with one violation per empty field.
    let err = client
        .unary(
            &method(TODO, "TodoAdd"),
            todo_add("", ""),
            &CallOptions::new(),
        )
        .await
        .expect_err("invalid");
    assert_eq!(err.code, Code::InvalidArgument);
    let fields: Vec<&str> = err
        .field_violations()
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["user_id", "task"]);

    // Not found: ResourceInfo.
    let delete = dynamic(
        "core.todo.v1.TodoDeleteRequest",
        &TodoDeleteRequest {
            user_id: "u1".into(),
            id: "404".into(),
        },
    );
    let err = client
        .unary(&method(TODO, "TodoDelete"), delete, &CallOptions::new())
        .await
        .expect_err("missing");
    assert_eq!(err.code, Code::NotFound);
    let info = err.resource_info().expect("resource info");
    assert_eq!(info.resource_type, "core.todo.v1.TodoObject");
    assert_eq!(info.resource_name, "404");
    assert_eq!(info.owner, "u1");

    // Rate limiting and the rest, encoded by the server's generated types.
    let details = vec![
        any(
            "google.rpc.RetryInfo",
            &generated::RetryInfo {
                retry_delay: Some(prost_types::Duration {
                    seconds: 3,
                    nanos: 500_000_000,
                }),
            },
        ),
        any(
            "google.rpc.QuotaFailure",
            &generated::QuotaFailure {
                violations: vec![generated::quota_failure::Violation {
                    subject: "user:u1".into(),
                    description: "10 adds per minute".into(),
                    quota_value: 10,
                    future_quota_value: Some(20),
                    ..Default::default()
                }],
            },
        ),
        any(
            "google.rpc.ErrorInfo",
            &generated::ErrorInfo {
                reason: "RATE_LIMITED".into(),
                domain: "todo.example".into(),
                metadata: [("limit".to_owned(), "10".to_owned())].into(),
            },
        ),
        any(
            "google.rpc.PreconditionFailure",
            &generated::PreconditionFailure {
                violations: vec![generated::precondition_failure::Violation {
                    r#type: "TOS".into(),
                    subject: "user:u1".into(),
                    description: "terms not accepted".into(),
                }],
            },
        ),
        any(
            "google.rpc.DebugInfo",
            &generated::DebugInfo {
                stack_entries: vec!["frame".into()],
                detail: "debug".into(),
            },
        ),
        prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.BadRequest".into(),
            value: vec![0x0a, 0xff],
        },
    ];
    server.state.fail_next(
        "TodoAdd",
        rich_failure(tonic::Code::ResourceExhausted, "slow down", details),
    );
    let err: RpcStatus = client
        .unary(
            &method(TODO, "TodoAdd"),
            todo_add("u1", "x"),
            &CallOptions::new(),
        )
        .await
        .expect_err("rate limited");
    assert_eq!(err.code, Code::ResourceExhausted);
    assert_eq!(err.message, "slow down");
    assert_eq!(err.retry_delay(), Some(Duration::from_millis(3_500)));
    assert_eq!(err.details.len(), 6);
    match &err.details[1] {
        ErrorDetail::QuotaFailure(q) => {
            assert_eq!(q.violations[0].subject, "user:u1");
            assert_eq!(q.violations[0].quota_value, 10);
            assert_eq!(q.violations[0].future_quota_value, Some(20));
        }
        other => panic!("expected QuotaFailure, got {other:?}"),
    }
    match &err.details[2] {
        ErrorDetail::ErrorInfo(e) => {
            assert_eq!(e.reason, "RATE_LIMITED");
            assert_eq!(e.metadata.get("limit").map(String::as_str), Some("10"));
        }
        other => panic!("expected ErrorInfo, got {other:?}"),
    }
    match &err.details[3] {
        ErrorDetail::PreconditionFailure(p) => assert_eq!(p.violations[0].r#type, "TOS"),
        other => panic!("expected PreconditionFailure, got {other:?}"),
    }
    match &err.details[4] {
        ErrorDetail::Other { type_url, value } => {
            assert_eq!(type_url, "type.googleapis.com/google.rpc.DebugInfo");
            assert!(!value.is_empty());
        }
        other => panic!("expected a raw detail, got {other:?}"),
    }
    // Undecodable bytes of a known type degrade to the raw form.
    assert_eq!(
        err.details[5],
        ErrorDetail::Other {
            type_url: "type.googleapis.com/google.rpc.BadRequest".into(),
            value: vec![0x0a, 0xff],
        }
    );
    // The status survives the oplog encoding.
    assert_eq!(
        RpcStatus::from_bytes(&err.to_bytes()).expect("decodes"),
        err
    );
}

#[tokio::test]
async fn bad_endpoint_gives_unavailable() {
    // A port that nothing listens on: bind, note it, close it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let endpoint = format!("http://{addr}");
    let client = GrpcClient::new(&endpoint, ClientConfig::default()).expect("lazy client");
    let err = bounded(client.unary(
        &method("example.Greeter", "SayHello"),
        hello("nobody"),
        &CallOptions::new(),
    ))
    .await
    .expect_err("nothing listens");
    assert_eq!(err.code, Code::Unavailable, "{err}");
    assert!(err.message.contains(&endpoint), "{err}");
    // Said for people: the cause in plain words, not a chain of wrappers.
    assert!(
        err.message
            .contains(&format!("connection refused by {addr}")),
        "{err}"
    );
    assert!(
        err.message.len() < 160,
        "{} characters: {err}",
        err.message.len()
    );

    // Streaming calls report it through the handle.
    let mut stream = client
        .server_streaming(
            &method("routeguide.RouteGuide", "ListFeatures"),
            dynamic("routeguide.Rectangle", &Rectangle::default()),
            &CallOptions::new(),
        )
        .expect("started");
    let err = bounded(stream.next()).await.expect_err("unavailable");
    assert_eq!(err.code, Code::Unavailable, "{err}");
}

#[tokio::test]
async fn invalid_endpoints_and_config_are_typed_errors() {
    for endpoint in ["not a uri", "ftp://127.0.0.1:1", "/just/a/path"] {
        let err = GrpcClient::new(endpoint, ClientConfig::default()).expect_err(endpoint);
        assert!(
            matches!(err, Error::InvalidEndpoint { .. }),
            "{endpoint}: {err}"
        );
    }
    let config = ClientConfig {
        stream_buffer: 0,
        ..ClientConfig::default()
    };
    assert!(matches!(
        GrpcClient::new("http://127.0.0.1:1", config),
        Err(Error::InvalidClientConfig { .. })
    ));
    // TLS endpoints are accepted (connecting lazily).
    assert!(GrpcClient::new("https://127.0.0.1:1", ClientConfig::default()).is_ok());
}

#[test]
fn metadata_validation() {
    let ascii = |v: &str| MetadataValue::Ascii(v.to_owned());
    let bin = |v: &[u8]| MetadataValue::Binary(v.to_vec());
    let bad = [
        ("", ascii("v")),
        ("has space", ascii("v")),
        ("colon:", ascii("v")),
        ("grpc-timeout", ascii("1S")),
        ("content-type", ascii("x")),
        ("te", ascii("trailers")),
        ("x-data-bin", ascii("text for a bin key")),
        ("x-data", bin(b"bytes for a text key")),
        ("x-text", ascii("new\nline")),
        ("x-text", ascii("caf\u{e9}")),
    ];
    for (key, value) in bad {
        let err = MetadataEntry::new(key, value.clone()).expect_err(key);
        assert!(matches!(err, Error::InvalidMetadata { .. }), "{key}: {err}");
    }
    let entry = MetadataEntry::new("X-Trace-ID", ascii("abc")).expect("valid");
    assert_eq!(entry.key, "x-trace-id", "keys are lower-cased");
    MetadataEntry::new("x-raw-bin", bin(&[0, 159, 255])).expect("binary ok");
}

#[tokio::test]
async fn wrong_request_type_and_call_kind_are_rejected() {
    let server = spawn_greeter_server().await.expect("server");
    let client = GrpcClient::new(&server.endpoint(), ClientConfig::default()).expect("client");
    let err = client
        .unary(
            &method("example.Greeter", "SayHello"),
            todo_add("u", "t"),
            &CallOptions::new(),
        )
        .await
        .expect_err("wrong type");
    assert_eq!(err.code, Code::InvalidArgument);
    assert!(err.message.contains("example.HelloRequest"), "{err}");
    let err = client
        .client_streaming(&method("example.Greeter", "SayHello"), &CallOptions::new())
        .expect_err("unary method");
    assert_eq!(err.code, Code::Internal);
    assert_eq!(server.calls("SayHello"), 0, "nothing was sent");
}

#[tokio::test]
async fn default_timeout_applies_and_parked_calls_time_out() {
    let server = spawn_todo_server().await.expect("server");
    let config = ClientConfig {
        default_timeout: Some(Duration::from_secs(1)),
        ..ClientConfig::default()
    };
    let client = GrpcClient::new(&server.endpoint(), config).expect("client");
    server.state.park_method("TodoList");
    let list = dynamic(
        "core.todo.v1.TodoListRequest",
        &TodoListRequest {
            user_id: "u".into(),
        },
    );
    let err = bounded(client.unary(&method(TODO, "TodoList"), list.clone(), &CallOptions::new()))
        .await
        .expect_err("deadline");
    assert_eq!(err.code, Code::DeadlineExceeded, "{err}");
    assert_eq!(server.calls("TodoList"), 1, "the call reached the server");
    // The expired call is reset, so the server drops the held handler.
    bounded(async {
        while server.state.parked_now() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    server.state.release();
    // Per-call timeout overrides the default; unparked calls succeed.
    client
        .unary(
            &method(TODO, "TodoList"),
            list,
            &CallOptions::new().with_timeout(Duration::from_secs(10)),
        )
        .await
        .expect("succeeds once released");
}

#[tokio::test]
async fn timeouts_too_long_for_the_header_or_the_clock_are_calls_without_a_near_deadline() {
    // tonic panicked on a `grpc-timeout` over 99 999 999 hours, and adding
    // the largest durations to the clock overflows; both kinds of call go
    // through, as calls whose deadline is too far off to matter.
    let server = spawn_greeter_server().await.expect("server");
    let say_hello = method("example.Greeter", "SayHello");
    let reply = |answer: prost_reflect::DynamicMessage| {
        answer
            .get_field_by_name("message")
            .and_then(|v| v.as_str().map(str::to_owned))
    };
    let huge_default = ClientConfig {
        default_timeout: Some(Duration::from_millis(u64::MAX)),
        ..ClientConfig::default()
    };
    let client = GrpcClient::new(&server.endpoint(), huge_default).expect("client");
    let answer = bounded(client.unary(&say_hello, hello("a"), &CallOptions::new()))
        .await
        .expect("a default timeout of u64::MAX ms");
    assert_eq!(reply(answer.message).as_deref(), Some("Hello, a!"));

    let client = GrpcClient::new(&server.endpoint(), ClientConfig::default()).expect("client");
    for timeout in [Duration::from_secs(i64::MAX as u64), Duration::MAX] {
        let options = CallOptions::new().with_timeout(timeout);
        let answer = bounded(client.unary(&say_hello, hello("b"), &options))
            .await
            .unwrap_or_else(|e| panic!("a timeout of {timeout:?}: {e}"));
        assert_eq!(reply(answer.message).as_deref(), Some("Hello, b!"));
    }
    assert_eq!(server.calls("SayHello"), 3);
}

#[tokio::test]
async fn dropping_a_stream_handle_cancels_the_call() {
    let server = spawn_route_guide_server().await.expect("server");
    let client = GrpcClient::new(&server.endpoint(), ClientConfig::default()).expect("client");
    server.state.park_method("RouteChat");
    let call = client
        .bidi_streaming(
            &method("routeguide.RouteGuide", "RouteChat"),
            &CallOptions::new(),
        )
        .expect("started");
    server
        .state
        .wait_parked(1, LIMIT)
        .await
        .expect("the call is held by the server");
    drop(call);
    // The server sees the cancellation: the held handler is dropped.
    bounded(async {
        while server.state.parked_now() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_slow_server_makes_sends_wait_instead_of_buffering() {
    let server = spawn_test_service_server().await.expect("server");
    let config = ClientConfig {
        stream_buffer: 2,
        ..ClientConfig::default()
    };
    let client = GrpcClient::new(&server.endpoint(), config).expect("client");
    server.state.park_method("FullDuplexCall");
    let mut call = client
        .bidi_streaming(
            &method("grpc.testing.TestService", "FullDuplexCall"),
            &CallOptions::new(),
        )
        .expect("started");
    let request = dynamic(
        "grpc.testing.StreamingOutputCallRequest",
        &StreamingOutputCallRequest {
            payload: Some(Payload {
                r#type: 0,
                body: vec![7; 64 * 1024],
            }),
            ..Default::default()
        },
    );
    let mut sent = 0;
    let mut blocked = false;
    // 128 x 64 KiB = 8 MiB would be sent without back-pressure; the HTTP/2
    // windows (1 MiB per stream on a hyper server) plus the queue hold far less.
    for _ in 0..128 {
        match tokio::time::timeout(Duration::from_millis(300), call.send(request.clone())).await {
            Ok(result) => {
                result.expect("send");
                sent += 1;
            }
            Err(_) => {
                blocked = true;
                break;
            }
        }
    }
    assert!(
        blocked,
        "all {sent} sends of 64 KiB went through to a parked server"
    );
    assert!(sent < 48, "{sent} messages of 64 KiB were buffered");
    server.state.release();
    call.cancel();
}

#[tokio::test]
async fn a_slow_reader_gets_deadline_exceeded_at_its_next_step() {
    // The deadline's status waited behind the responses still queued: the
    // reader got up to a queue's worth more of them after the deadline.
    let server = spawn_test_service_server().await.expect("server");
    let client = GrpcClient::new(&server.endpoint(), ClientConfig::default()).expect("client");
    let request = dynamic(
        "grpc.testing.StreamingOutputCallRequest",
        &StreamingOutputCallRequest {
            // 40 MiB: far more than the HTTP/2 windows and the queue hold.
            response_parameters: vec![
                ResponseParameters {
                    size: 4096,
                    ..Default::default()
                };
                10_000
            ],
            ..Default::default()
        },
    );
    let mut stream = client
        .server_streaming(
            &method("grpc.testing.TestService", "StreamingOutputCall"),
            request,
            &CallOptions::new().with_timeout(Duration::from_millis(300)),
        )
        .expect("started");
    bounded(stream.next())
        .await
        .expect("a first response")
        .expect("not the end");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let next = bounded(stream.next()).await;
    match next {
        Err(status) => assert_eq!(status.code, Code::DeadlineExceeded, "{status:?}"),
        Ok(other) => panic!("a response after the deadline: {:?}", other.is_some()),
    }
}

#[tokio::test]
async fn a_server_sent_deadline_exceeded_comes_after_the_responses_sent_before_it() {
    // Only this client's own deadline drops the responses still queued; a
    // server that ends its stream with DEADLINE_EXCEEDED (its own budget,
    // not ours) sent its responses first, and they were dropped.
    let server = spawn_test_service_server().await.expect("server");
    let client = GrpcClient::new(&server.endpoint(), ClientConfig::default()).expect("client");
    let request = dynamic(
        "grpc.testing.StreamingOutputCallRequest",
        &StreamingOutputCallRequest {
            response_parameters: vec![
                ResponseParameters {
                    size: 8,
                    ..Default::default()
                };
                3
            ],
            response_status: Some(EchoStatus {
                code: Code::DeadlineExceeded as i32,
                message: "the server's own budget ran out".into(),
            }),
            ..Default::default()
        },
    );
    let mut stream = client
        .server_streaming(
            &method("grpc.testing.TestService", "StreamingOutputCall"),
            request,
            &CallOptions::new(),
        )
        .expect("started");
    // Everything, the status included, is queued before the first read.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in 1..=3 {
        match bounded(stream.next()).await {
            Ok(Some(_)) => {}
            other => panic!("response {n} of 3: {other:?}"),
        }
    }
    let status = bounded(stream.next())
        .await
        .expect_err("the server's status");
    assert_eq!(status.code, Code::DeadlineExceeded, "{status:?}");
    assert!(status.message.contains("own budget"), "{status:?}");
}

#[tokio::test]
async fn route_guide_all_four_kinds() {
    let server = spawn_route_guide_server().await.expect("server");
    let client = GrpcClient::new(&server.endpoint(), ClientConfig::default()).expect("client");
    let m = |name| method("routeguide.RouteGuide", name);
    let point = |f: &Feature| f.location.expect("located");

    // Unary.
    let got = client
        .unary(
            &m("GetFeature"),
            dynamic("routeguide.Point", &point(&feature(3))),
            &CallOptions::new(),
        )
        .await
        .expect("get");
    assert_eq!(typed::<Feature>(&got.message), feature(3));

    // Server streaming: the rectangle spans features 2..=4.
    let rect = Rectangle {
        lo: Some(point(&feature(2))),
        hi: Some(point(&feature(4))),
    };
    let mut stream = client
        .server_streaming(
            &m("ListFeatures"),
            dynamic("routeguide.Rectangle", &rect),
            &CallOptions::new(),
        )
        .expect("list");
    let mut names = Vec::new();
    while let Some(f) = bounded(stream.next()).await.expect("ok") {
        names.push(typed::<Feature>(&f).name);
        assert!(names.len() <= 10);
    }
    assert_eq!(names, ["Feature 2", "Feature 3", "Feature 4"]);

    // Client streaming.
    let mut record = client
        .client_streaming(&m("RecordRoute"), &CallOptions::new())
        .expect("record");
    let off_map = Point {
        latitude: 1,
        longitude: 1,
    };
    for p in [point(&feature(0)), point(&feature(1)), off_map] {
        bounded(record.send(dynamic("routeguide.Point", &p)))
            .await
            .expect("send");
    }
    let summary: RouteSummary = typed(&bounded(record.finish()).await.expect("summary").message);
    assert_eq!(summary.point_count, 3);
    assert_eq!(summary.feature_count, 2);
    assert!(summary.distance > 100_000, "{summary:?}");
    // finish() is repeatable.
    assert!(bounded(record.finish()).await.is_ok());

    // Bidi: a note comes back when another arrives at the same place.
    let mut chat = client
        .bidi_streaming(&m("RouteChat"), &CallOptions::new())
        .expect("chat");
    let note = |lat, text: &str| {
        dynamic(
            "routeguide.RouteNote",
            &RouteNote {
                location: Some(Point {
                    latitude: lat,
                    longitude: 0,
                }),
                message: text.to_owned(),
            },
        )
    };
    bounded(chat.send(note(1, "first at 1")))
        .await
        .expect("send");
    bounded(chat.send(note(2, "first at 2")))
        .await
        .expect("send");
    bounded(chat.send(note(1, "second at 1")))
        .await
        .expect("send");
    let echoed: RouteNote = typed(&bounded(chat.next()).await.expect("ok").expect("a note"));
    assert_eq!(echoed.message, "first at 1");
    chat.close_send();
    assert_eq!(bounded(chat.next()).await.expect("clean end"), None);
    assert_eq!(server.calls("RouteChat"), 1);
}

#[tokio::test]
async fn compressed_responses_are_accepted_and_requests_compressed_on_request() {
    use reprise_grpc_stub::config::Compression;
    let say_hello = method("example.Greeter", "SayHello");
    let reply_of = |message: &prost_reflect::DynamicMessage| {
        typed::<reprise_system_tests::proto::example::HelloReply>(message).message
    };

    // A server that compresses its responses: a default client reads them.
    let compressing = reprise_system_tests::spawn_compressing_greeter_server(false)
        .await
        .expect("server");
    let plain = GrpcClient::new(&compressing.endpoint(), ClientConfig::default()).expect("client");
    let response = plain
        .unary(&say_hello, hello("gz"), &CallOptions::new())
        .await
        .expect("compressed response decoded");
    assert_eq!(reply_of(&response.message), "Hello, gz!");
    let sent = compressing.state.metadata("SayHello");
    assert_eq!(
        sent[0].get("grpc-encoding"),
        None,
        "sent uncompressed by default"
    );
    assert!(
        sent[0]
            .get("grpc-accept-encoding")
            .is_some_and(|v| v.contains("gzip")),
        "gzip is advertised: {:?}",
        sent[0].get("grpc-accept-encoding")
    );

    // A server that requires compressed requests: refused without, served
    // with `compression: gzip`.
    let strict = reprise_system_tests::spawn_compressing_greeter_server(true)
        .await
        .expect("server");
    let plain = GrpcClient::new(&strict.endpoint(), ClientConfig::default()).expect("client");
    let err = plain
        .unary(&say_hello, hello("gz"), &CallOptions::new())
        .await
        .expect_err("uncompressed is refused");
    assert_eq!(err.code, Code::FailedPrecondition, "{err}");
    let config = ClientConfig {
        compression: Some(Compression::Gzip),
        ..ClientConfig::default()
    };
    let gzip = GrpcClient::new(&strict.endpoint(), config).expect("client");
    let response = gzip
        .unary(&say_hello, hello("gz"), &CallOptions::new())
        .await
        .expect("compressed request served");
    assert_eq!(reply_of(&response.message), "Hello, gz!");
    let sent = strict.state.metadata("SayHello");
    assert_eq!(
        sent.last().and_then(|m| m.get("grpc-encoding")),
        Some("gzip")
    );
}
