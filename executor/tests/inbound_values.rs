//! Values and outcomes through the inbound gRPC front door, over real
//! HTTP/2 with a tonic client: every WIT type of the typed-exports guest
//! through its derived services, a NaN as replay reads it back, and how
//! `result` errors and traps map to statuses.

mod api_common;
mod inbound_common;

use prost_reflect::{DynamicMessage, ReflectMessage};
use reprise_grpc_stub::export::MethodApi;
use reprise_grpc_stub::status::{ErrorDetail, RpcStatus};
use tonic::Code;
use wasmtime::component::Val;

use inbound_common::*;

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
