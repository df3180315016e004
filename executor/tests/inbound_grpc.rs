//! The inbound gRPC front door, over real HTTP/2 with a tonic client:
//! addressing and creation by metadata, idempotent invocations, bad
//! requests, deadlines, and an interrupt stopping a guest that spins in an
//! invocation made over gRPC. Every WIT type and the status mapping of
//! results and traps are in `inbound_values.rs`; reflection, health and
//! the admin token in `inbound_discovery.rs`.

mod api_common;
mod inbound_common;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost_reflect::DynamicMessage;
use reprise_grpc_stub::client::{DynamicCodec, Outgoing};
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use wasmtime::component::Val;

use inbound_common::*;

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_and_addressing_are_refused_with_clear_statuses() {
    let front = start(None).await;
    let add = format!("{SHAPES}/Add");
    let method = front.method(&add);

    // No worker named.
    let request = method.request(&[Val::S8(1), Val::U16(1)]).unwrap();
    let status = front.raw(&add, request.clone(), &[]).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("reprise-worker"), "{status:?}");
    // ... but a path no component serves is UNIMPLEMENTED, worker or not.
    let mut grpc = front.grpc().await;
    let status = grpc
        .unary(
            tonic::Request::new(Outgoing::Request(request.clone())),
            PathAndQuery::from_static("/foo.Bar/Baz"),
            DynamicCodec::new(method.output.clone()),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert!(status.message().contains("/foo.Bar/Baz"), "{status:?}");

    // Messages in another codec than protobuf are refused, not read as
    // protobuf.
    let client: hyper_util::client::legacy::Client<_, tonic::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build_http();
    let wrong = tonic::codegen::http::Request::post(format!("{}{add}", front.addr))
        .header("content-type", "application/grpc+json")
        .header("te", "trailers")
        .header("reprise-worker", "ct1")
        .header("reprise-create", "true")
        .body(tonic::body::Body::empty())
        .unwrap();
    let response = client.request(wrong).await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header("grpc-status"), "12", "{:?}", response.headers());
    assert!(
        header("grpc-message").contains("not%20served"),
        "{:?}",
        response.headers()
    );

    // Unknown worker without creation.
    let status = front
        .raw(&add, request.clone(), &[("reprise-worker", "nobody")])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("reprise-create"), "{status:?}");

    // A value out of range for s8.
    let mut bad = request.clone();
    bad.set_field_by_name("a", prost_reflect::Value::I32(1000));
    let status = front
        .raw(
            &add,
            bad,
            &[("reprise-worker", "b1"), ("reprise-create", "true")],
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("request.a"), "{status:?}");
    // A call refused before its invocation creates nothing.
    let status = front
        .raw(&add, request.clone(), &[("reprise-worker", "b1")])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    front
        .call("b1", &add, &[Val::S8(1), Val::U16(1)], &[])
        .await
        .unwrap();

    // Bytes that are not the request message.
    let mut grpc = front.grpc().await;
    let mut garbage = tonic::Request::new(Outgoing::Request(
        DynamicMessage::decode(method.input.clone(), &[][..]).unwrap(),
    ));
    garbage
        .metadata_mut()
        .insert("reprise-worker", "b1".parse().unwrap());
    let wrong = PathAndQuery::from_str(&format!("{SHAPES}/NoSuchRpc")).unwrap();
    let status = grpc
        .unary(garbage, wrong, DynamicCodec::new(method.output.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert!(status.message().contains("Shapes"), "{status:?}");

    // Bad metadata values.
    let status = front
        .raw(
            &add,
            request.clone(),
            &[("reprise-worker", "b2"), ("reprise-create", "maybe")],
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    // A message quoting 10 000 bytes the client sent is cut to 1 KiB, so
    // no client's metadata limit swallows the status.
    let long = "y".repeat(10_000);
    let status = front
        .raw(
            &add,
            request.clone(),
            &[("reprise-worker", "b2"), ("reprise-create", &long)],
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().len() < 1100 && status.message().ends_with("more bytes)"),
        "{} bytes: {}",
        status.message().len(),
        &status.message()[status.message().len().saturating_sub(80)..]
    );

    // A worker named twice: neither is picked.
    let status = front
        .raw(
            &add,
            request.clone(),
            &[("reprise-worker", "b3"), ("reprise-worker", "b9")],
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .contains("`reprise-worker` is given more than once"),
        "{status:?}"
    );

    // An interrupted worker is UNAVAILABLE.
    front
        .call("b3", &add, &[Val::S8(1), Val::U16(1)], &[])
        .await
        .unwrap();
    front
        .executor
        .interrupt(&reprise_oplog::WorkerId::new("b3").unwrap())
        .await
        .unwrap();
    let status = front
        .call("b3", &add, &[Val::S8(1), Val::U16(1)], &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");

    // A malformed component id, also for a worker that exists (where it
    // would not be used).
    let status = front
        .raw(
            &add,
            request.clone(),
            &[("reprise-worker", "b3"), ("reprise-component", "zz")],
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("reprise-component"), "{status:?}");

    // An explicit component id that does not exist.
    let status = front
        .raw(
            &add,
            request,
            &[
                ("reprise-worker", "b4"),
                ("reprise-create", "true"),
                ("reprise-component", &"0".repeat(64)),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_returns_the_stored_result() {
    let front = start(None).await;
    let bump = format!("{ROOT}/Bump");
    let first = front
        .call("i1", &bump, &[Val::U32(5)], &[("idempotency-key", "k-1")])
        .await
        .unwrap();
    let again = front
        .call("i1", &bump, &[Val::U32(5)], &[("idempotency-key", "k-1")])
        .await
        .unwrap();
    assert_eq!(first, Some(Val::U64(5)));
    assert_eq!(
        again,
        Some(Val::U64(5)),
        "the same key ran the function twice"
    );
    let other = front
        .call("i1", &bump, &[Val::U32(5)], &[("idempotency-key", "k-2")])
        .await
        .unwrap();
    assert_eq!(other, Some(Val::U64(10)));
    let status = front
        .call("i1", &bump, &[Val::U32(6)], &[("idempotency-key", "k-1")])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    // A used key with a message that does not even decode to parameters
    // is reused all the same (it was INVALID_ARGUMENT); the admin API
    // answers 409 there too. A fresh key with it is INVALID_ARGUMENT.
    let add = format!("{SHAPES}/Add");
    front
        .call(
            "i1",
            &add,
            &[Val::S8(1), Val::U16(1)],
            &[("idempotency-key", "k-3")],
        )
        .await
        .unwrap();
    let mut bad = front
        .method(&add)
        .request(&[Val::S8(1), Val::U16(1)])
        .unwrap();
    bad.set_field_by_name("a", prost_reflect::Value::I32(1000));
    for (key, code) in [("k-3", Code::AlreadyExists), ("k-4", Code::InvalidArgument)] {
        let status = front
            .raw(
                &add,
                bad.clone(),
                &[("reprise-worker", "i1"), ("idempotency-key", key)],
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{key}: {status:?}");
        assert!(status.message().contains("request.a"), "{key}: {status:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_workers_route_is_forgotten() {
    let front = start(None).await;
    let hello = format!("{ROOT}/Hello");
    let answer = front.call("r1", &hello, &[string("a")], &[]).await.unwrap();
    assert_eq!(answer, Some(string("hello, a")));
    // Same id, another component (the counter serves no Hello).
    let id = reprise_oplog::WorkerId::new("r1").unwrap();
    assert!(front.executor.delete_worker(&id).await.unwrap());
    let counter = std::fs::read(reprise_test_components::COUNTER).unwrap();
    let counter = front
        .executor
        .add_component(counter, Vec::new())
        .await
        .unwrap();
    front
        .executor
        .create_worker(
            &counter.id.parse().unwrap(),
            Some(id),
            reprise_executor::WorkerConfig::default(),
        )
        .await
        .unwrap();
    // The route remembered from the first call went with the delete: the
    // call is answered from the new component at once (it used to be
    // refused as ABORTED first, and a client calling only rpcs of the new
    // component got the old component's UNIMPLEMENTED until a restart).
    let status = front
        .call("r1", &hello, &[string("b")], &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert!(
        status.message().contains("reprise.worker.Worker")
            && status.message().contains(&counter.id),
        "{status:?}"
    );
    // Deleted again, the worker is created by a call asking for it (it
    // used to be NOT_FOUND once, from the stale route).
    let id = reprise_oplog::WorkerId::new("r1").unwrap();
    assert!(front.executor.delete_worker(&id).await.unwrap());
    let answer = front.call("r1", &hello, &[string("d")], &[]).await.unwrap();
    assert_eq!(answer, Some(string("hello, d")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_created_by_its_call_is_made_durable_by_the_invocations_one_sync() {
    let front = start(None).await;
    let bump = format!("{ROOT}/Bump");
    let syncs = || front.executor.stats().oplog_syncs;
    let before = syncs();
    front
        .call("cold", &bump, &[Val::U32(5)], &[])
        .await
        .unwrap();
    assert_eq!(
        syncs() - before,
        1,
        "the creation rides along with the invocation's commit"
    );
    // Counted where `/metrics` (shared with the admin API) reads.
    let text = front.metrics.render(front.executor.stats());
    for line in [
        "reprise_invocations_total 1",
        "reprise_workers_created_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    let id = reprise_oplog::WorkerId::new("cold").unwrap();
    let kinds: Vec<String> = reprise_oplog::read_whole_log(front.executor.oplog().as_ref(), &id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind.name().to_owned())
        .collect();
    assert_eq!(
        kinds,
        [
            "Create",
            "ExportedFunctionInvoked",
            "ExportedFunctionCompleted"
        ]
    );
    // It exists now: `reprise-create` on the next call just invokes it.
    let before = syncs();
    let second = front
        .call("cold", &bump, &[Val::U32(5)], &[])
        .await
        .unwrap();
    assert_eq!(syncs() - before, 1);
    let info = front.executor.worker_info(&id).await.unwrap();
    assert_eq!(info.invocations, 2, "{second:?}");
}

/// A guest spinning in an invocation made over gRPC (polled in the call's
/// own task, not a task of its own) is still stopped by an interrupt at
/// its next epoch tick: its yields let the interrupt and the ticker run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_guest_called_over_grpc_is_interrupted() {
    let front = Arc::new(serve_component(api_common::trapping_component(), None).await);
    let path = front
        .api
        .services()
        .iter()
        .flat_map(|s| &s.methods)
        .find(|m| m.function == "spin")
        .expect("spin is served")
        .path
        .clone();
    let worker = reprise_oplog::WorkerId::from_str("spinner").unwrap();
    // Created first: a worker busy being created by the call could take
    // the interrupt before its invocation started.
    front
        .executor
        .create_worker(
            &front.component.parse().unwrap(),
            Some(worker.clone()),
            reprise_executor::WorkerConfig::default(),
        )
        .await
        .unwrap();
    let caller = front.clone();
    // Long enough (seconds) that only an interrupt ends it early.
    let call = tokio::spawn(async move {
        caller
            .call("spinner", &path, &[Val::U32(u32::MAX)], &[])
            .await
    });
    // The call is spinning: the worker is busy with it (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info =
            tokio::time::timeout(Duration::from_secs(30), front.executor.worker_info(&worker))
                .await;
        if let Ok(Ok(info)) = info
            && info.state == reprise_executor::WorkerState::Running
        {
            break;
        }
        assert!(Instant::now() < deadline, "the call never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = Instant::now();
    let interrupted =
        tokio::time::timeout(Duration::from_secs(60), front.executor.interrupt(&worker))
            .await
            .expect("the interrupt returns")
            .unwrap();
    assert!(interrupted);
    let answer = tokio::time::timeout(Duration::from_secs(60), call)
        .await
        .expect("the call is answered")
        .unwrap();
    let status = answer.expect_err("the spin was stopped, not finished");
    assert!(
        status.message().contains("was stopped") && status.message().contains("interrupted"),
        "{:?}: {}",
        status.code(),
        status.message()
    );
    // Stopped at a tick (10 ms), not after the whole spin (seconds; a
    // finished spin would be an answer, not the error above).
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "stopped {:?} after the interrupt",
        asked.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_unary_rpc_takes_exactly_one_request_message() {
    let front = start(None).await;
    let add = format!("{SHAPES}/Add");
    let method = front.method(&add);
    let request = method.request(&[Val::S8(1), Val::U16(1)]).unwrap();
    let send = |messages: Vec<DynamicMessage>, worker: &'static str| {
        let front = &front;
        let output = method.output.clone();
        let path = add.clone();
        async move {
            let outgoing = messages.into_iter().map(Outgoing::Request);
            let mut request = tonic::Request::new(tokio_stream::iter(outgoing));
            request
                .metadata_mut()
                .insert("reprise-worker", worker.parse().unwrap());
            request
                .metadata_mut()
                .insert("reprise-create", "true".parse().unwrap());
            front
                .grpc()
                .await
                .client_streaming(
                    request,
                    PathAndQuery::from_str(&path).unwrap(),
                    DynamicCodec::new(output),
                )
                .await
        }
    };
    // Two messages were answered from the first, the second ignored.
    let status = send(vec![request.clone(), request.clone()], "two")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(
        status.message().contains("more than one request message"),
        "{status:?}"
    );
    let status = send(Vec::new(), "none").await.unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(
        status.message().contains("no request message"),
        "{status:?}"
    );
    // Neither call created its worker.
    for worker in ["two", "none"] {
        let id = reprise_oplog::WorkerId::new(worker).unwrap();
        assert!(front.executor.worker_info(&id).await.is_err(), "{worker}");
    }

    // One message is answered, and the answer says which compressions the
    // server accepts.
    let response = send(vec![request], "one").await.unwrap();
    assert_eq!(
        response
            .metadata()
            .get("grpc-accept-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip"),
        "{:?}",
        response.metadata()
    );
}

/// The deadline counts from the call's arrival, as the client counts it:
/// a request message that arrives late takes from it, and one that has not
/// arrived by the deadline is not waited for. (The timer started once the
/// message was read, so a client whose message took 1.5 s of its 2 s was
/// answered at 3.45 s, long after its own timer fired; and a message
/// arriving after the deadline held the call until it came.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_counts_from_the_call_s_arrival() {
    use prost::Message as _;
    let front = Arc::new(serve_component(api_common::trapping_component(), None).await);
    let method = front
        .api
        .services()
        .iter()
        .flat_map(|s| &s.methods)
        .find(|m| m.function == "spin")
        .expect("spin is served");
    let worker = reprise_oplog::WorkerId::from_str("late-body").unwrap();
    front
        .executor
        .create_worker(
            &front.component.parse().unwrap(),
            Some(worker.clone()),
            reprise_executor::WorkerConfig::default(),
        )
        .await
        .unwrap();
    // A spin of seconds: only the deadline answers the call early.
    let message = method
        .request(&[Val::U32(u32::MAX)])
        .unwrap()
        .encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&message);
    let (send, frames) = tokio::sync::mpsc::channel::<
        Result<http_body::Frame<tonic::codegen::Bytes>, std::convert::Infallible>,
    >(1);
    let body = tonic::body::Body::new(http_body_util::StreamBody::new(
        tokio_stream::wrappers::ReceiverStream::new(frames),
    ));
    let client: hyper_util::client::legacy::Client<_, tonic::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build_http();
    let request = tonic::codegen::http::Request::post(format!("{}{}", front.addr, method.path))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("reprise-worker", "late-body")
        .header("grpc-timeout", "2S")
        .body(body)
        .unwrap();
    let started = Instant::now();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let _ = send
            .send(Ok(http_body::Frame::data(tonic::codegen::Bytes::from(
                frame,
            ))))
            .await;
        // Dropped here: the request ends after its one message.
    });
    let response = tokio::time::timeout(Duration::from_secs(30), client.request(request))
        .await
        .expect("answered")
        .unwrap();
    let (parts, body) = response.into_parts();
    let trailers = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .trailers()
        .cloned()
        .unwrap_or_default();
    let elapsed = started.elapsed();
    let status = parts
        .headers
        .get("grpc-status")
        .or_else(|| trailers.get("grpc-status"))
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(status.as_deref(), Some("4"), "{parts:?} {trailers:?}");
    // Due just before the client's 2 s; the fault it guards against counted
    // the deadline from the body's arrival (here at 10 s), answering after
    // 12 s: the bound leaves a loaded machine room on both sides.
    assert!(
        elapsed < Duration::from_secs(8),
        "answered after {elapsed:?}, long past the client's 2 s"
    );
    late.abort();
    // The spin goes on durably; stop it (bounded).
    tokio::time::timeout(Duration::from_secs(60), front.executor.interrupt(&worker))
        .await
        .expect("the interrupt answers")
        .unwrap();
}
