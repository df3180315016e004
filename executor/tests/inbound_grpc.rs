//! The inbound gRPC front door, over real HTTP/2 with a tonic client:
//! every WIT type of the typed-exports guest through its derived services,
//! addressing and creation by metadata, idempotent invocations, the status
//! mapping, and an interrupt stopping a guest that spins in an invocation
//! made over gRPC. Reflection, health and the admin token are in
//! `inbound_discovery.rs`.

mod api_common;
mod inbound_common;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost_reflect::{DynamicMessage, ReflectMessage};
use reprise_grpc_stub::client::{DynamicCodec, Outgoing};
use reprise_grpc_stub::export::MethodApi;
use reprise_grpc_stub::status::{ErrorDetail, RpcStatus};
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use wasmtime::component::Val;

use inbound_common::*;

fn point(x: i32, y: i32, label: Option<&str>) -> Val {
    Val::Record(vec![
        ("x".into(), Val::S32(x)),
        ("y".into(), Val::S32(y)),
        (
            "label".into(),
            Val::Option(label.map(|l| Box::new(string(l)))),
        ),
    ])
}

/// A value of `everything` using every field kind.
fn everything(seed: i32) -> Val {
    let some = |v: Val| Val::Option(Some(Box::new(v)));
    Val::Record(vec![
        ("flag".into(), Val::Bool(seed % 2 == 0)),
        ("tiny".into(), Val::S8(-128)),
        ("small".into(), Val::S16(-32768)),
        ("medium".into(), Val::S32(seed)),
        ("large".into(), Val::S64(i64::MIN)),
        ("byte".into(), Val::U8(255)),
        ("word".into(), Val::U16(65535)),
        ("dword".into(), Val::U32(u32::MAX)),
        ("qword".into(), Val::U64(u64::MAX)),
        ("single".into(), Val::Float32(1.5)),
        ("double".into(), Val::Float64(-2.25e300)),
        ("letter".into(), Val::Char('ß')),
        ("text".into(), string("héllo")),
        ("blob".into(), Val::List(vec![Val::U8(0), Val::U8(255)])),
        ("names".into(), Val::List(vec![string("a"), string("")])),
        (
            "points".into(),
            Val::List(vec![point(1, 2, None), point(-3, 4, Some("p"))]),
        ),
        ("color".into(), Val::Enum("blue".into())),
        (
            "perms".into(),
            Val::Flags(vec!["read".into(), "exec".into()]),
        ),
        (
            "shape".into(),
            Val::Variant("rect".into(), Some(Box::new(point(5, 6, None)))),
        ),
        ("maybe".into(), some(Val::U32(0))),
        ("maybe-point".into(), Val::Option(None)),
        ("maybe-list".into(), some(Val::List(vec![Val::U16(7)]))),
        (
            "nested".into(),
            Val::List(vec![
                Val::List(vec![Val::S32(1), Val::S32(-1)]),
                Val::List(vec![]),
            ]),
        ),
        ("pair".into(), Val::Tuple(vec![string("two"), Val::U8(2)])),
        (
            "outcome".into(),
            Val::Result(Err(Some(Box::new(Val::Enum("green".into()))))),
        ),
        ("maybe-maybe".into(), some(Val::Option(None))),
        (
            "colors".into(),
            Val::List(vec![Val::Enum("red".into()), Val::Enum("green".into())]),
        ),
        (
            "optional-colors".into(),
            Val::List(vec![Val::Option(None), some(Val::Enum("blue".into()))]),
        ),
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn every_wit_type_round_trips_through_a_served_worker() {
    let front = start(None).await;
    for seed in [0, 7, -40] {
        let value = everything(seed);
        let echoed = front
            .call(
                "w1",
                &format!("{SHAPES}/Echo"),
                std::slice::from_ref(&value),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(echoed, Some(value));
    }
    // -0.0 keeps its sign both ways (proto3 leaves out only +0.0).
    let Val::Record(mut fields) = everything(0) else {
        unreachable!()
    };
    for (name, value) in &mut fields {
        match name.as_str() {
            "single" => *value = Val::Float32(-0.0),
            "double" => *value = Val::Float64(-0.0),
            _ => {}
        }
    }
    let echoed = front
        .call("w1", &format!("{SHAPES}/Echo"), &[Val::Record(fields)], &[])
        .await
        .unwrap();
    let Some(Val::Record(echoed)) = echoed else {
        panic!("{echoed:?}")
    };
    for (name, value) in echoed {
        match (name.as_str(), value) {
            ("single", Val::Float32(x)) => assert!(x == 0.0 && x.is_sign_negative(), "{x}"),
            ("double", Val::Float64(x)) => assert!(x == 0.0 && x.is_sign_negative(), "{x}"),
            _ => {}
        }
    }
    let sum = front
        .call(
            "w1",
            &format!("{SHAPES}/Add"),
            &[Val::S8(-5), Val::U16(300)],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(sum, Some(Val::S32(295)));
    let described = front
        .call(
            "w1",
            &format!("{SHAPES}/Describe"),
            &[
                Val::Variant("circle".into(), Some(Box::new(Val::Float64(2.0)))),
                Val::Enum("red".into()),
                Val::Flags(vec!["write".into()]),
            ],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        described,
        Some(string("a red circle of radius 2, perms [write]"))
    );
    let letter = front
        .call("w1", &format!("{SHAPES}/Letter"), &[Val::Char('🦀')], &[])
        .await
        .unwrap();
    assert_eq!(letter, Some(Val::Char('🦀')));
    let swapped = front
        .call(
            "w1",
            &format!("{SHAPES}/Swap"),
            &[Val::Tuple(vec![Val::U32(9), string("nine")])],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(swapped, Some(Val::Tuple(vec![string("nine"), Val::U32(9)])));
    let quotient = front
        .call(
            "w1",
            &format!("{SHAPES}/Divide"),
            &[Val::S32(7), Val::S32(2)],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(quotient, Some(Val::S32(3)));
    let nothing = front
        .call("w1", &format!("{SHAPES}/Nothing"), &[], &[])
        .await
        .unwrap();
    assert_eq!(nothing, None);
    let hello = front
        .call("w1", &format!("{ROOT}/Hello"), &[string("grpc")], &[])
        .await
        .unwrap();
    assert_eq!(hello, Some(string("hello, grpc")));
}

/// The detail packed in a status, decoded with the rpc's error message.
fn detail_of(status: &tonic::Status, method: &MethodApi) -> Val {
    let details = RpcStatus::decode_details(status.details());
    let Some(ErrorDetail::Other { type_url, value }) = details.first() else {
        panic!("no detail in {status:?}");
    };
    let descriptor = method.error.clone().expect("an error message");
    assert_eq!(
        type_url,
        &format!("type.googleapis.com/{}", descriptor.full_name())
    );
    let message = DynamicMessage::decode(descriptor, value.as_slice()).unwrap();
    let field = message.descriptor().get_field(1).unwrap();
    let value = message.get_field(&field);
    match value.as_message() {
        Some(inner) => Val::String(format!("{inner:?}")),
        None => Val::String(value.as_str().unwrap_or_default().to_owned()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn result_errors_and_traps_map_to_statuses() {
    let front = start(None).await;
    let lookup = format!("{SHAPES}/Lookup");
    let found = front
        .call("e1", &lookup, &[string("ok")], &[])
        .await
        .unwrap();
    assert_eq!(found, Some(string("found")));
    let status = front
        .call("e1", &lookup, &[string("not-found")], &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(
        status.message().contains("not-found(\"no such thing\")"),
        "{status:?}"
    );
    let detail = detail_of(&status, front.method(&lookup));
    assert!(
        format!("{detail:?}").contains("no such thing"),
        "{detail:?}"
    );

    let status = front
        .call("e1", &lookup, &[string("teapot")], &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unknown, "{status:?}");

    // A long error: `grpc-message` was cut but the message inside the
    // details was not (Python's grpc_status refuses such a status), and a
    // large error value made the details outgrow clients' metadata limits.
    let status = front
        .call("e1", &lookup, &[string(&"z".repeat(1_500))], &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
    let details = RpcStatus::decode_details(status.details());
    assert_eq!(details.len(), 1, "the detail fits: {status:?}");
    assert!(status.message().len() <= 1024, "{}", status.message().len());
    assert!(status.message().ends_with("more bytes)"), "{status:?}");
    assert_eq!(
        RpcStatus::from_bytes(status.details()).unwrap().message,
        status.message()
    );
    assert!(
        format!("{:?}", detail_of(&status, front.method(&lookup))).contains(&"z".repeat(1_500)),
        "the detail holds the whole value"
    );
    let status = front
        .call("e1", &lookup, &[string(&"z".repeat(5_000))], &[])
        .await
        .unwrap_err();
    assert!(
        status.details().len() <= 3 * 1024,
        "{}",
        status.details().len()
    );
    assert!(
        RpcStatus::decode_details(status.details()).is_empty(),
        "{status:?}"
    );
    assert!(
        status
            .message()
            .contains("is left out of grpc-status-details-bin")
            && status.message().len() <= 1024,
        "{}",
        status.message()
    );
    assert_eq!(
        RpcStatus::from_bytes(status.details()).unwrap().message,
        status.message()
    );

    let check = format!("{SHAPES}/Check");
    let status = front
        .call("e1", &check, &[Val::Bool(false)], &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unknown);
    assert_eq!(detail_of(&status, front.method(&check)), string("not ok"));

    let divide = format!("{SHAPES}/Divide");
    let status = front
        .call("e1", &divide, &[Val::S32(1), Val::S32(0)], &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unknown);
    assert!(status.message().contains("by-zero"), "{status:?}");

    // A trap is INTERNAL with the trap message; the worker is failed
    // afterwards.
    let status = front
        .call("e1", &format!("{SHAPES}/Fail"), &[string("boom")], &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(
        status
            .message()
            .contains("guest trapped in `reprise-test:typed-exports/shapes#fail`")
            && status.message().contains("unreachable")
            // What the guest's panic wrote to stderr is quoted.
            && status.message().contains("boom"),
        "{status:?}"
    );
    let status = front
        .call("e1", &lookup, &[string("ok")], &[])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
}

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
async fn a_nan_reaches_the_guest_as_replay_gives_it_back() {
    // The parameters of a call made with values (as the gRPC door makes
    // it) are journaled as text, which keeps no NaN payload, but the guest
    // ran on the values as they came: live it saw other bits than its
    // replay does, and after a restart the same key answered other bits.
    use reprise_executor::{Executor, ExecutorConfig, WorkerConfig};
    use reprise_oplog::{IdempotencyKey, WorkerId};
    let dir = tempfile::tempdir().unwrap();
    let config = || ExecutorConfig {
        data_dir: dir.path().to_owned(),
        ..ExecutorConfig::default()
    };
    let Val::Record(mut fields) = everything(1) else {
        unreachable!()
    };
    for (name, field) in &mut fields {
        if name == "double" {
            *field = Val::Float64(f64::from_bits(0xfff8_0000_0000_0001));
        }
    }
    let sent = Val::Record(fields);
    let bits_of = |echoed: Vec<Val>| {
        let Some(Val::Record(fields)) = echoed.into_iter().next() else {
            panic!("no record")
        };
        fields
            .into_iter()
            .find_map(|(name, value)| match (name.as_str(), value) {
                ("double", Val::Float64(x)) => Some(x.to_bits()),
                _ => None,
            })
            .expect("a double")
    };
    let echo = "reprise-test:typed-exports/shapes#echo";
    let worker = WorkerId::new("nan").unwrap();
    let key = IdempotencyKey::new("nan-1").unwrap();
    let live = {
        let executor = Executor::open(config()).await.unwrap();
        let wasm = std::fs::read(reprise_test_components::TYPED_EXPORTS).unwrap();
        let component = executor.add_component(wasm, Vec::new()).await.unwrap();
        executor
            .create_worker(
                &component.id.parse().unwrap(),
                Some(worker.clone()),
                WorkerConfig::default(),
            )
            .await
            .unwrap();
        let echoed = executor
            .invoke_values(&worker, echo, vec![sent.clone()], Some(key.clone()))
            .await
            .unwrap()
            .unwrap();
        bits_of(echoed)
    };
    let executor = Executor::open(config()).await.unwrap();
    let stored = executor
        .invoke_values(&worker, echo, vec![sent], Some(key))
        .await
        .unwrap()
        .unwrap();
    let stored = bits_of(stored);
    assert!(f64::from_bits(live).is_nan());
    assert_eq!(live, stored, "{live:#x} live, {stored:#x} after a restart");
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
