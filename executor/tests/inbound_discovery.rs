//! The inbound gRPC front door's discovery and guard: server reflection
//! and health describe the served services without a .proto file, health
//! says `NOT_SERVING` and ends its watches at shutdown, and the admin token
//! guards calls and reflection but not health.

mod inbound_common;

use reprise_grpc_stub::client::{ClientConfig, reflection};
use reprise_grpc_stub::client::{DynamicCodec, Outgoing};
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use wasmtime::component::Val;

use inbound_common::*;

#[tokio::test(flavor = "multi_thread")]
async fn reflection_and_health_describe_the_served_services() {
    let front = start(None).await;
    let reflected = reflection::fetch(&front.addr, ClientConfig::default(), None)
        .await
        .unwrap();
    assert!(
        reflected
            .services
            .iter()
            .any(|s| s == "reprise_test.typed_exports.Shapes"),
        "{:?}",
        reflected.services
    );
    let served = reflected
        .files
        .file
        .iter()
        .find(|f| f.name() == front.api.file().name())
        .expect("the derived file is served");
    assert_eq!(served, front.api.file());
    let pool = reflected.pool().unwrap();
    assert!(
        pool.get_message_by_name("reprise_test.typed_exports.Everything")
            .is_some()
    );

    // Health: the server, a worker service; unknown names are NOT_FOUND.
    let channel = front.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for service in [
        "",
        "reprise_test.typed_exports.Shapes",
        "grpc.health.v1.Health",
    ] {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status, 1, "{service} is not SERVING");
    }
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "no.Such".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(!front.component.is_empty());

    // A check whose message does not decode (field 1 as a number, not a
    // string) is the client's error, not the server's.
    let add = front.method(&format!("{SHAPES}/Add"));
    let mut grpc = front.grpc().await;
    let bad = tonic::Request::new(Outgoing::Request(
        add.request(&[Val::S8(1), Val::U16(1)]).unwrap(),
    ));
    let status = grpc
        .unary(
            bad,
            PathAndQuery::from_static("/grpc.health.v1.Health/Check"),
            DynamicCodec::new(add.output.clone()),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("decode"), "{status:?}");

    // So is a reflection request that does not decode, on both versions;
    // the stream used to end with OK and no answer.
    for version in ["v1", "v1alpha"] {
        let bad = Outgoing::Request(add.request(&[Val::S8(1), Val::U16(1)]).unwrap());
        let path = format!("/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo");
        let mut grpc = front.grpc().await;
        let outcome = match grpc
            .streaming(
                tonic::Request::new(tokio_stream::once(bad)),
                PathAndQuery::try_from(path).unwrap(),
                DynamicCodec::new(add.output.clone()),
            )
            .await
        {
            Ok(response) => response.into_inner().message().await.map(|m| m.is_some()),
            Err(status) => Err(status),
        };
        let status = outcome.expect_err("an undecodable reflection request is refused");
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{version}: {status:?}"
        );
        assert!(status.message().contains("decode"), "{status:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_token_guards_calls_reflection_and_named_health_checks() {
    let front = start(Some(TOKEN)).await;
    let hello = format!("{ROOT}/Hello");
    let status = front
        .call("t1", &hello, &[string("x")], &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let wrong = "Bearer not-the-token-at-all-000";
    let status = front
        .call("t1", &hello, &[string("x")], &[("authorization", wrong)])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let right = format!("Bearer {TOKEN}");
    let answer = front
        .call("t1", &hello, &[string("x")], &[("authorization", &right)])
        .await
        .unwrap();
    assert_eq!(answer, Some(string("hello, x")));
    // The scheme's name is case-insensitive.
    let lower = format!("bearer {TOKEN}");
    let answer = front
        .call("t1", &hello, &[string("y")], &[("authorization", &lower)])
        .await
        .unwrap();
    assert_eq!(answer, Some(string("hello, y")));
    let refused = reflection::fetch(&front.addr, ClientConfig::default(), None).await;
    assert!(refused.is_err(), "reflection answered without the token");
    let channel = front.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let answer = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.status, 1);
    // A named service tells whether it exists (and loads every component
    // to find out): not without the token.
    let named = tonic_health::pb::HealthCheckRequest {
        service: "grpc.health.v1.Health".into(),
    };
    let status = health.check(named.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = health.watch(named.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let mut request = tonic::Request::new(named);
    request
        .metadata_mut()
        .insert("authorization", right.parse().unwrap());
    let answer = health.check(request).await.unwrap().into_inner();
    assert_eq!(answer.status, 1);
    // A call in a content type that is not served, without the token:
    // refused for the token first (it was UNIMPLEMENTED).
    let client: hyper_util::client::legacy::Client<_, tonic::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build_http();
    let request = tonic::codegen::http::Request::post(format!("{}{hello}", front.addr))
        .header("content-type", "application/grpc+json")
        .header("te", "trailers")
        .header("reprise-worker", "t1")
        .body(tonic::body::Body::empty())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(
        response
            .headers()
            .get("grpc-status")
            .map(|s| s.to_str().unwrap()),
        Some("16"),
        "{:?}",
        response.headers()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_health_watch_ends_with_not_serving_when_the_server_stops() {
    // A Watch stream stayed open for ever: shutdown waited for it until its
    // grace period ran out, and the client never learnt the server stopped.
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let mut front = start(None).await;
    let mut health = HealthClient::new(front.channel().await);
    let watch = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };
    let mut server = health.watch(watch("")).await.unwrap().into_inner();
    let mut unknown = health.watch(watch("no.Such")).await.unwrap().into_inner();
    let first = server.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let first = unknown.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::ServiceUnknown as i32);

    let started = std::time::Instant::now();
    front.stop.take().unwrap().send(()).unwrap();
    let limit = std::time::Duration::from_secs(5);
    let last = tokio::time::timeout(limit, server.message())
        .await
        .expect("the watch answers at shutdown")
        .unwrap()
        .unwrap();
    assert_eq!(last.status, ServingStatus::NotServing as i32);
    let end = tokio::time::timeout(limit, server.message())
        .await
        .expect("the watch ends");
    assert!(matches!(end, Ok(None)), "{end:?}");
    let end = tokio::time::timeout(limit, unknown.message())
        .await
        .expect("the unknown name's watch ends");
    assert!(matches!(end, Ok(None)), "{end:?}");
    tokio::time::timeout(limit, front.served.take().unwrap())
        .await
        .expect("the front door stops once its watches ended")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < limit, "{:?}", started.elapsed());
}

/// The name of the file reflection answers for `symbol` (asked with
/// `reprise-worker: worker` when given), or the error's text.
async fn file_of(front: &Front, symbol: &str, worker: Option<&str>) -> Result<String, String> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut client = ServerReflectionClient::new(front.channel().await);
    let mut request = tonic::Request::new(tokio_stream::once(ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(symbol.to_owned())),
    }));
    if let Some(worker) = worker {
        request
            .metadata_mut()
            .insert("reprise-worker", worker.parse().unwrap());
    }
    let mut answers = client
        .server_reflection_info(request)
        .await
        .unwrap()
        .into_inner();
    match answers.message().await.unwrap().unwrap().message_response {
        Some(MessageResponse::FileDescriptorResponse(files)) => {
            use prost::Message as _;
            let file =
                prost_types::FileDescriptorProto::decode(files.file_descriptor_proto[0].as_slice())
                    .unwrap();
            Ok(format!("{} {}", file.name(), file.service[0].method.len()))
        }
        Some(MessageResponse::ErrorResponse(e)) => Err(e.error_message),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_worker_one_file_name_is_one_component() {
    // Two root-only components both serve `reprise/worker.proto`: a symbol
    // only the second defines was answered from the second (the same file
    // name, another content), which clients building one pool refuse.
    let front = serve_component(
        std::fs::read(reprise_test_components::COUNTER).unwrap(),
        None,
    )
    .await;
    let runaway = front
        .executor
        .add_component(
            std::fs::read(reprise_test_components::RUNAWAY).unwrap(),
            Vec::new(),
        )
        .await
        .unwrap()
        .id;
    let counter_first = front.component < runaway;
    // The counter has `Add` and `Get`; the runaway guest `Bump`, `Get`,
    // `Spin` and `Hog`.
    let (first_only, second_only, first_methods) = if counter_first {
        ("reprise.worker.Worker.Add", "reprise.worker.Worker.Spin", 2)
    } else {
        ("reprise.worker.Worker.Spin", "reprise.worker.Worker.Add", 4)
    };
    let expected = format!("reprise/worker.proto {first_methods}");
    assert_eq!(
        file_of(&front, first_only, None).await,
        Ok(expected.clone())
    );
    assert_eq!(
        file_of(&front, "reprise.worker.Worker", None).await,
        Ok(expected)
    );
    let err = file_of(&front, second_only, None).await.unwrap_err();
    assert!(err.contains("no symbol named"), "{err}");
    // Named by a worker, the second component is described.
    let second = if counter_first {
        runaway
    } else {
        front.component.clone()
    };
    let worker = front
        .executor
        .create_worker(
            &second.parse().unwrap(),
            Some(reprise_oplog::WorkerId::new("w2").unwrap()),
            reprise_executor::WorkerConfig::default(),
        )
        .await
        .unwrap();
    let methods = if counter_first { 4 } else { 2 };
    assert_eq!(
        file_of(&front, second_only, Some(worker.as_str())).await,
        Ok(format!("reprise/worker.proto {methods}"))
    );
}

/// A component exporting interface `t:x/a` (and `t:x/b` with `both`);
/// `variant` changes its bytes, and so its content id.
fn package_component(both: bool, variant: u32) -> Vec<u8> {
    let b = if both {
        r#"(instance $b (export "g" (func $f)))
           (export "t:x/b" (instance $b))"#
    } else {
        ""
    };
    wat::parse_str(format!(
        r#"(component
            (core module $m
                (func (export "f") (result i32) i32.const 1)
                (func (export "unused{variant}")))
            (core instance $i (instantiate $m))
            (func $f (result u32) (canon lift (core func $i "f")))
            (instance $a (export "f" (func $f)))
            (export "t:x/a" (instance $a))
            {b})"#
    ))
    .expect("valid component text")
}

#[tokio::test(flavor = "multi_thread")]
async fn health_knows_every_served_service_of_a_shared_package() {
    // Two components whose services share the proto package `t.x`: only
    // the second defines `t.x.B`. Reflection lists one file per package
    // (the lower id's), and health answered NOT_FOUND for `t.x.B` when
    // the lower id was the first component, though its calls are served.
    let two = package_component(true, 0);
    let front = serve_component(two.clone(), None).await;
    let two_id = front.component.clone();
    // Bounded: each variant has an even chance of the lower id.
    let mut lower = None;
    for variant in 1..=64 {
        let one = front
            .executor
            .add_component(package_component(false, variant), Vec::new())
            .await
            .unwrap();
        if one.id < two_id {
            lower = Some(one.id);
            break;
        }
    }
    assert!(lower.is_some(), "no variant had the lower id");
    let mut health = tonic_health::pb::health_client::HealthClient::new(front.channel().await);
    for service in ["t.x.A", "t.x.B"] {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status, 1, "{service} is not SERVING");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_takes_gzip_and_every_answer_names_the_encodings_accepted() {
    let front = start(None).await;
    // A gzip-compressed Check was UNIMPLEMENTED ("Content is compressed
    // with `gzip` which isn't supported").
    let mut health = tonic_health::pb::health_client::HealthClient::new(front.channel().await)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let answer = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "reprise_test.typed_exports.Shapes".into(),
        })
        .await
        .expect("a gzip request is read")
        .into_inner();
    assert_eq!(answer.status, 1);
    // Refusals made before a call is read carry the header too.
    let client: hyper_util::client::legacy::Client<_, tonic::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build_http();
    for (content_type, worker) in [
        ("application/grpc+json", "w1"),
        ("application/grpc", "nobody"),
    ] {
        let request = tonic::codegen::http::Request::post(format!("{}{SHAPES}/Check", front.addr))
            .header("content-type", content_type)
            .header("te", "trailers")
            .header("reprise-worker", worker)
            .body(tonic::body::Body::empty())
            .unwrap();
        let response = client.request(request).await.unwrap();
        let headers = response.headers();
        assert!(
            headers.get("grpc-status").is_some_and(|s| s != "0"),
            "{headers:?}"
        );
        assert_eq!(
            headers
                .get("grpc-accept-encoding")
                .map(|v| v.to_str().unwrap()),
            Some("gzip"),
            "{content_type}, {worker}: {headers:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_health_watch_of_a_service_an_upload_brings_turns_serving() {
    // A Watch of a name no component served sent SERVICE_UNKNOWN and then
    // nothing, though `Check` said SERVING once a component defining it
    // was uploaded: a client that watched before the upload never became
    // healthy.
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let front = start(None).await;
    let mut health = HealthClient::new(front.channel().await);
    let clock = std::fs::read(reprise_test_components::CLOCK_RANDOM).unwrap();
    let service = reprise_grpc_stub::export::ExportApi::from_component(
        &clock,
        reprise_grpc_stub::export::DEFAULT_ROOT_SERVICE,
    )
    .unwrap()
    .services()
    .first()
    .expect("a service")
    .full_name
    .clone();
    let mut watch = health
        .watch(HealthCheckRequest {
            service: service.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(
        first.status,
        ServingStatus::ServiceUnknown as i32,
        "{service}"
    );
    front
        .executor
        .add_component(clock, Vec::new())
        .await
        .unwrap();
    let next = tokio::time::timeout(std::time::Duration::from_secs(10), watch.message())
        .await
        .expect("the watch tells the service is served now")
        .unwrap()
        .unwrap();
    assert_eq!(next.status, ServingStatus::Serving as i32, "{service}");
}
