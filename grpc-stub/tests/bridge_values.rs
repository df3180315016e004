//! The value bridge on purpose-built cases: clear errors with field paths,
//! the support records (`rpc-status`, `call-options`) checked against the
//! component types wasmtime sees, method helpers, canonical encoding.

#[path = "bridge_util.rs"]
mod bridge_util;
#[path = "wit_util.rs"]
mod util;

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use std::time::Duration;

use bridge_util::{WitTypes, message_eq, typecheck};
use prost::Message as _;
use prost_reflect::{DynamicMessage, MapKey, MessageDescriptor, Value};
use reprise_grpc_stub::Error;
use reprise_grpc_stub::bridge::{
    MAX_EMPTY_COUNT, bytes_to_val, call_options_from_val, call_options_to_val, canonical_encode,
    from_val, request_from_val, request_to_val, response_from_val, response_to_val,
    rpc_status_from_val, rpc_status_to_val, to_val, val_to_bytes,
};
use reprise_grpc_stub::client::{
    CallOptions, MAX_DEADLINE, Metadata, MetadataEntry, MetadataValue,
};
use reprise_grpc_stub::model::{InterfaceModel, ModelOptions};
use reprise_grpc_stub::status::{
    BadRequest, Code, ErrorDetail, ErrorInfo, FieldViolation, LocalizedMessage,
    PreconditionFailure, PreconditionViolation, ProtoDuration, QuotaFailure, QuotaViolation,
    ResourceInfo, RetryInfo, RpcStatus,
};
use wasmtime::component::Val;
use wasmtime::component::types::Type;

const PROTO: &str = r#"syntax = "proto3";
package bv.shop.v1;
import "google/protobuf/empty.proto";
import "google/protobuf/struct.proto";
enum Kind { KIND_UNSPECIFIED = 0; KIND_BOOK = 1; }
message Item { string name = 1; Kind kind = 2; repeated string tags = 3; }
message Nothing {}
message Order {
  string id = 1;
  repeated Item items = 2;
  map<string, int32> counts = 3;
  oneof pay { string card = 4; Nothing cash = 5; }
  Order parent = 6;
  google.protobuf.Struct meta = 7;
  google.protobuf.Value extra = 8;
  repeated Nothing marks = 9;
  Kind kind = 10;
}
service Shop {
  rpc Place(Order) returns (Order);
  rpc Ping(google.protobuf.Empty) returns (google.protobuf.Empty);
}
"#;

struct Fixture {
    model: InterfaceModel,
    types: WitTypes,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let pool = util::inline_pool(&[("shop.proto", PROTO)]).expect("compile");
        let model =
            util::model_for_files(&pool, &["shop.proto"], &ModelOptions::default()).expect("model");
        let component = util::resolve_and_encode(&model).expect("component");
        let types = bridge_util::wit_types(&component).expect("types");
        Fixture { model, types }
    })
}

const IFACE: &str = "bv:shop/shop@1.0.0";

fn order_desc(f: &Fixture) -> MessageDescriptor {
    f.model
        .pool()
        .get_message_by_name("bv.shop.v1.Order")
        .unwrap()
}

fn func_types(f: &Fixture, name: &str) -> (Vec<(String, Type)>, Vec<Type>) {
    f.types.funcs[&(IFACE.to_owned(), name.to_owned())].clone()
}

/// The `rpc-status` and `call-options` types as the `place` function sees them.
fn support_types(f: &Fixture) -> (Type, Type) {
    let (params, results) = func_types(f, "place");
    let Type::Result(r) = &results[0] else {
        panic!("place returns a result")
    };
    let status = r.err().expect("err type");
    let Type::Option(o) = &params[1].1 else {
        panic!("options is an option")
    };
    (status, o.ty())
}

fn s(v: &str) -> Val {
    Val::String(v.to_owned())
}

fn record(fields: Vec<(&str, Val)>) -> Val {
    Val::Record(fields.into_iter().map(|(n, v)| (n.to_owned(), v)).collect())
}

fn item(name: &str) -> Val {
    record(vec![
        ("name", s(name)),
        ("kind", Val::Enum("book".into())),
        ("tags", Val::List(vec![])),
    ])
}

fn order(fields: Vec<(&str, Val)>) -> Val {
    let mut base: Vec<(&str, Val)> = vec![
        ("id", s("o-1")),
        ("items", Val::List(vec![item("a"), item("b")])),
        ("counts", Val::List(vec![])),
        ("pay", Val::Option(None)),
        ("parent", Val::Option(None)),
        ("meta", Val::Option(None)),
        ("extra", Val::Option(None)),
        ("marks", Val::U32(0)),
        ("kind", Val::Enum("unspecified".into())),
    ];
    for (name, v) in fields {
        let slot = base
            .iter_mut()
            .find(|(n, _)| *n == name)
            .expect("known field");
        slot.1 = v;
    }
    record(base)
}

fn err_of(v: &Val) -> Error {
    let f = fixture();
    from_val(&f.model, &order_desc(f), Some(v)).expect_err("must be refused")
}

#[test]
fn a_valid_value_converts_and_typechecks() {
    let f = fixture();
    let v = order(vec![
        (
            "counts",
            Val::List(vec![Val::Tuple(vec![s("x"), Val::S32(2)])]),
        ),
        (
            "pay",
            Val::Option(Some(Box::new(Val::Variant("cash".into(), None)))),
        ),
        (
            "meta",
            Val::Option(Some(Box::new(s(r#"{"b":[1,true,null],"a":"x"}"#)))),
        ),
        ("marks", Val::U32(3)),
    ]);
    let (params, _) = func_types(f, "place");
    typecheck(&v, &params[0].1, "request").unwrap();
    let msg = from_val(&f.model, &order_desc(f), Some(&v)).unwrap();
    let back = to_val(&f.model, &msg).unwrap().unwrap();
    // The same value, with the JSON in canonical form (sorted keys).
    let expected = order(vec![
        (
            "counts",
            Val::List(vec![Val::Tuple(vec![s("x"), Val::S32(2)])]),
        ),
        (
            "pay",
            Val::Option(Some(Box::new(Val::Variant("cash".into(), None)))),
        ),
        (
            "meta",
            Val::Option(Some(Box::new(s(r#"{"a":"x","b":[1.0,true,null]}"#)))),
        ),
        ("marks", Val::U32(3)),
    ]);
    assert_eq!(bridge_util::val_diff(&back, &expected, "order"), None);
}

#[test]
fn wrong_types_name_the_field_path() {
    let err = err_of(&order(vec![("id", Val::S32(5))]));
    assert!(
        matches!(&err, Error::ValueMismatch { path, .. } if path == "order.id"),
        "{err}"
    );
    assert!(
        err.to_string().contains("expected string, found s32 5"),
        "{err}"
    );

    let bad_item = record(vec![
        ("name", Val::Bool(true)),
        ("kind", Val::Enum("book".into())),
        ("tags", Val::List(vec![])),
    ]);
    let err = err_of(&order(vec![(
        "items",
        Val::List(vec![item("a"), bad_item]),
    )]));
    assert!(
        err.to_string().starts_with("at `order.items[1].name`"),
        "{err}"
    );

    let err = err_of(&order(vec![(
        "counts",
        Val::List(vec![Val::Tuple(vec![s("k"), s("not a number")])]),
    )]));
    assert!(err.to_string().starts_with("at `order.counts[0]`"), "{err}");
}

#[test]
fn shape_errors_are_clear() {
    let f = fixture();
    let cases: Vec<(Val, &str)> = vec![
        (s("not a record"), "expected record `order`"),
        (record(vec![("id", s("x"))]), "lacks field `items`"),
        (
            {
                let Val::Record(mut fields) = order(vec![]) else {
                    unreachable!()
                };
                fields.push(("bogus".into(), Val::Bool(true)));
                Val::Record(fields)
            },
            "has no field `bogus`",
        ),
        (
            order(vec![(
                "counts",
                Val::List(vec![
                    Val::Tuple(vec![s("k"), Val::S32(1)]),
                    Val::Tuple(vec![s("k"), Val::S32(2)]),
                ]),
            )]),
            "duplicate map key",
        ),
        (
            order(vec![("kind", Val::Enum("magazine".into()))]),
            "has no case `magazine`",
        ),
        (
            order(vec![(
                "pay",
                Val::Option(Some(Box::new(Val::Variant("cheque".into(), None)))),
            )]),
            "has no case `cheque`",
        ),
        (
            order(vec![(
                "pay",
                Val::Option(Some(Box::new(Val::Variant("card".into(), None)))),
            )]),
            "needs a payload",
        ),
        (
            order(vec![(
                "parent",
                Val::Option(Some(Box::new(Val::List(vec![Val::U8(0xff)])))),
            )]),
            "not a valid protobuf encoding of `bv.shop.v1.Order`",
        ),
        (
            order(vec![("meta", Val::Option(Some(Box::new(s("{not json")))))]),
            "not valid JSON",
        ),
        (
            order(vec![("meta", Val::Option(Some(Box::new(s("[1]")))))]),
            "needs a JSON object",
        ),
        (
            order(vec![("marks", Val::U32(MAX_EMPTY_COUNT + 1))]),
            "exceed the limit",
        ),
    ];
    for (v, needle) in cases {
        let err = from_val(&f.model, &order_desc(f), Some(&v)).expect_err(needle);
        assert!(
            err.to_string().contains(needle),
            "want `{needle}`, got: {err}"
        );
    }
    let err = err_of(&order(vec![("kind", Val::Enum("magazine".into()))]));
    assert!(matches!(err, Error::UnknownEnumCase { ref case, .. } if case == "magazine"));
}

#[test]
fn unknown_enum_numbers_and_unrepresentable_json_are_errors() {
    let f = fixture();
    let desc = order_desc(f);
    let mut msg = DynamicMessage::new(desc.clone());
    msg.set_field_by_name("kind", Value::EnumNumber(42));
    match to_val(&f.model, &msg) {
        Err(Error::UnknownEnumNumber {
            path,
            enum_name,
            number,
        }) => {
            assert_eq!(path, "order.kind");
            assert_eq!(enum_name, "bv.shop.v1.Kind");
            assert_eq!(number, 42);
        }
        other => panic!("expected an unknown enum number error, got {other:?}"),
    }

    let value_desc = f
        .model
        .pool()
        .get_message_by_name("google.protobuf.Value")
        .unwrap();
    let mut extra = DynamicMessage::new(value_desc);
    extra.set_field_by_number(2, Value::F64(f64::NAN));
    let mut msg = DynamicMessage::new(desc);
    msg.set_field_by_name("extra", Value::Message(extra));
    let err = to_val(&f.model, &msg).unwrap_err();
    assert!(err.to_string().contains("has no JSON form"), "{err}");
    assert!(err.to_string().contains("order.extra"), "{err}");
}

#[test]
fn a_value_replaced_later_in_the_bytes_decodes_as_the_general_path_does() {
    // The last occurrence of a singular field wins: an unknown enum number
    // or a JSON value without a JSON form that a later occurrence replaces
    // is no error. The direct byte path refused them at first sight.
    let f = fixture();
    let desc = order_desc(f);
    let mut nan_then_text = vec![0x42, 9, 0x11];
    nan_then_text.extend_from_slice(&f64::NAN.to_le_bytes());
    nan_then_text.extend_from_slice(&[0x42, 3, 0x1a, 1, b'x']);
    let cases: [(&str, Vec<u8>); 2] = [
        // kind (field 10) = 99, an unknown number, then 1 (KIND_BOOK).
        ("kind", vec![0x50, 0x63, 0x50, 0x01]),
        // extra (field 8, a Value) = NaN, then (merged) the string "x".
        ("extra", nan_then_text),
    ];
    for (field, bytes) in cases {
        let message = DynamicMessage::decode(desc.clone(), bytes.as_slice()).unwrap();
        let general = to_val(&f.model, &message)
            .unwrap_or_else(|e| panic!("{field}: general path: {e}"))
            .unwrap();
        let direct = bytes_to_val(&f.model, &desc, &bytes)
            .unwrap_or_else(|e| panic!("{field}: direct path: {e}"))
            .unwrap();
        assert!(
            bridge_util::val_eq(&general, &direct),
            "{field}: {:?}",
            bridge_util::val_diff(&general, &direct, "")
        );
    }
    // An unknown number that stays is still an error, on either path.
    let stays = [0x50, 0x01, 0x50, 0x63];
    let err = bytes_to_val(&f.model, &desc, &stays).unwrap_err();
    assert!(
        matches!(err, Error::UnknownEnumNumber { ref path, number: 99, .. } if path == "order.kind"),
        "{err:?}"
    );
}

#[test]
fn malformed_bytes_the_general_path_refuses_are_refused_directly_too() {
    // The direct path threw the body of an empty-message value away
    // unread, and took a key past 32 bits for a field number: it accepted
    // bytes protobuf refuses.
    let f = fixture();
    let desc = order_desc(f);
    let refused: [(&str, Vec<u8>); 3] = [
        // cash (field 5, `Nothing`) whose body is a truncated varint.
        ("cash body", vec![0x2a, 0x01, 0x08]),
        // marks (field 9, repeated `Nothing`) whose body has wire type 7.
        ("marks body", vec![0x4a, 0x01, 0x0f]),
        // id = "x", then a key of 2^32.
        (
            "key",
            vec![0x0a, 0x01, b'x', 0x80, 0x80, 0x80, 0x80, 0x10, 0x00],
        ),
    ];
    for (what, bytes) in refused {
        assert!(
            DynamicMessage::decode(desc.clone(), bytes.as_slice()).is_err(),
            "{what}: protobuf refuses it"
        );
        let direct = bytes_to_val(&f.model, &desc, &bytes);
        assert!(direct.is_err(), "{what}: accepted as {direct:?}");
    }
    // A well-formed unknown field inside an empty message is no error.
    let fine = [0x2a, 0x02, 0x08, 0x01];
    let message = DynamicMessage::decode(desc.clone(), fine.as_slice()).unwrap();
    let general = to_val(&f.model, &message).unwrap().unwrap();
    let direct = bytes_to_val(&f.model, &desc, &fine).unwrap().unwrap();
    assert!(bridge_util::val_eq(&general, &direct));
}

#[test]
fn empty_proto2_groups_are_written_as_groups() {
    // The direct encoder wrote an empty group (seen as `bool` / `u32`) as a
    // length-delimited field, which a proto2 parser refuses.
    const GROUPS: &str = r#"syntax = "proto2";
package gr.v1;
message Req { optional group Flag = 1 {} repeated group Tick = 2 {} optional string s = 3; }
service G { rpc Call(Req) returns (Req); }
"#;
    let pool = util::inline_pool(&[("g.proto", GROUPS)]).expect("compile");
    let model =
        util::model_for_files(&pool, &["g.proto"], &ModelOptions::default()).expect("model");
    let desc = pool.get_message_by_name("gr.v1.Req").unwrap();
    let value = Val::Record(vec![
        ("flag".into(), Val::Bool(true)),
        ("tick".into(), Val::U32(2)),
        ("s".into(), Val::Option(None)),
    ]);
    let direct = val_to_bytes(&model, &desc, Some(&value)).unwrap();
    let general = canonical_encode(&from_val(&model, &desc, Some(&value)).unwrap());
    assert_eq!(direct, general);
    let decoded = DynamicMessage::decode(desc.clone(), direct.as_slice()).unwrap();
    let back = to_val(&model, &decoded).unwrap().unwrap();
    assert!(bridge_util::val_eq(&back, &value), "{back:?}");
    let direct_back = bytes_to_val(&model, &desc, &direct).unwrap().unwrap();
    assert!(bridge_util::val_eq(&direct_back, &value), "{direct_back:?}");
    // The same fields written length-delimited are refused on both paths.
    let wrong = [0x0a, 0x00];
    assert!(DynamicMessage::decode(desc.clone(), wrong.as_slice()).is_err());
    assert!(bytes_to_val(&model, &desc, &wrong).is_err());
}

#[test]
fn method_helpers_follow_the_call_shapes() {
    let f = fixture();
    let (_, place) = f.model.method(IFACE, "place").expect("place");
    let v = order(vec![]);
    let msg = request_from_val(&f.model, place, Some(&v)).unwrap();
    assert_eq!(
        request_to_val(&f.model, place, &msg).unwrap(),
        Some(v.clone())
    );
    let resp = response_from_val(&f.model, place, Some(&v)).unwrap();
    assert_eq!(response_to_val(&f.model, place, &resp).unwrap(), Some(v));

    // Empty request and response: no value either way; a value is refused.
    let (_, ping) = f.model.method(IFACE, "ping").expect("ping");
    let empty = request_from_val(&f.model, ping, None).unwrap();
    assert_eq!(response_to_val(&f.model, ping, &empty).unwrap(), None);
    let err = request_from_val(&f.model, ping, Some(&Val::Bool(true))).unwrap_err();
    assert!(err.to_string().contains("no value"), "{err}");
    let err = request_from_val(&f.model, place, None).unwrap_err();
    assert!(err.to_string().contains("found nothing"), "{err}");
}

fn metadata(entries: &[(&str, MetadataValue)]) -> Metadata {
    let mut m = Metadata::new();
    for (k, v) in entries {
        m.push(MetadataEntry::new(*k, v.clone()).unwrap());
    }
    m
}

fn every_detail_status() -> RpcStatus {
    RpcStatus::new(Code::ResourceExhausted, "slow down")
        .with_detail(ErrorDetail::BadRequest(BadRequest {
            field_violations: vec![FieldViolation {
                field: "order.id".into(),
                description: "must not be empty".into(),
                reason: "EMPTY".into(),
                localized_message: Some(LocalizedMessage {
                    locale: "en".into(),
                    message: "Empty id".into(),
                }),
            }],
        }))
        .with_detail(ErrorDetail::RetryInfo(RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: 3,
                nanos: 500,
            }),
        }))
        .with_detail(ErrorDetail::ErrorInfo(ErrorInfo {
            reason: "RATE".into(),
            domain: "shop".into(),
            metadata: BTreeMap::from([("a".to_owned(), "1".to_owned())]),
        }))
        .with_detail(ErrorDetail::ResourceInfo(ResourceInfo {
            resource_type: "order".into(),
            resource_name: "o-9".into(),
            owner: String::new(),
            description: "not found".into(),
        }))
        .with_detail(ErrorDetail::QuotaFailure(QuotaFailure {
            violations: vec![QuotaViolation {
                subject: "user:1".into(),
                description: "too many".into(),
                api_service: "shop".into(),
                quota_metric: "calls".into(),
                quota_id: "q".into(),
                quota_dimensions: BTreeMap::from([("region".to_owned(), "eu".to_owned())]),
                quota_value: 10,
                future_quota_value: Some(20),
            }],
        }))
        .with_detail(ErrorDetail::PreconditionFailure(PreconditionFailure {
            violations: vec![PreconditionViolation {
                r#type: "TOS".into(),
                subject: "user:1".into(),
                description: "not accepted".into(),
            }],
        }))
        .with_detail(ErrorDetail::Other {
            type_url: "type.example/x".into(),
            value: vec![1, 2, 3],
        })
}

#[test]
fn rpc_status_values_match_the_wit_and_round_trip() {
    let f = fixture();
    let (status_ty, _) = support_types(f);
    let mut status = every_detail_status();
    status.metadata = metadata(&[
        ("x-trace", MetadataValue::Ascii("abc".into())),
        ("x-blob-bin", MetadataValue::Binary(vec![0, 255])),
    ]);
    let v = rpc_status_to_val(&status);
    typecheck(&v, &status_ty, "rpc-status").unwrap();
    assert_eq!(rpc_status_from_val(&v).unwrap(), status);

    // Every code maps to its case.
    for code in Code::ALL {
        let v = rpc_status_to_val(&RpcStatus::new(code, "m"));
        typecheck(&v, &status_ty, "rpc-status").unwrap();
        assert_eq!(rpc_status_from_val(&v).unwrap().code, code);
    }
}

#[test]
fn the_required_error_cases_are_expressible() {
    let f = fixture();
    let (status_ty, _) = support_types(f);
    let unauthenticated = RpcStatus::new(Code::Unauthenticated, "token expired");
    let not_found = RpcStatus::new(Code::NotFound, "no such order").with_detail(
        ErrorDetail::ResourceInfo(ResourceInfo {
            resource_type: "order".into(),
            resource_name: "o-42".into(),
            owner: String::new(),
            description: String::new(),
        }),
    );
    let invalid = RpcStatus::new(Code::InvalidArgument, "bad").with_detail(
        ErrorDetail::BadRequest(BadRequest {
            field_violations: vec![FieldViolation {
                field: "id".into(),
                description: "empty".into(),
                reason: String::new(),
                localized_message: None,
            }],
        }),
    );
    let limited = RpcStatus::new(Code::ResourceExhausted, "later").with_detail(
        ErrorDetail::RetryInfo(RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: 30,
                nanos: 0,
            }),
        }),
    );
    for (status, needle) in [
        (unauthenticated, "Enum(\"unauthenticated\")"),
        (not_found, "String(\"o-42\")"),
        (invalid, "Variant(\"bad-request\""),
        (limited, "Variant(\"retry-info\""),
    ] {
        let v = rpc_status_to_val(&status);
        typecheck(&v, &status_ty, "rpc-status").unwrap();
        assert!(format!("{v:?}").contains(needle), "{v:?}");
    }
}

#[test]
fn call_options_from_guest_values() {
    let f = fixture();
    let (_, options_ty) = support_types(f);
    assert_eq!(
        call_options_from_val(&Val::Option(None)).unwrap(),
        CallOptions::new()
    );

    let mut options = CallOptions::new().with_timeout(Duration::from_millis(1500));
    options.metadata = metadata(&[
        ("authorization", MetadataValue::Ascii("Bearer t".into())),
        ("trace-bin", MetadataValue::Binary(vec![1, 2])),
    ]);
    let v = call_options_to_val(&options);
    typecheck(&v, &options_ty, "call-options").unwrap();
    assert_eq!(
        call_options_from_val(&Val::Option(Some(Box::new(v.clone())))).unwrap(),
        options
    );
    assert_eq!(call_options_from_val(&v).unwrap(), options);

    let with = |deadline: Val, metadata: Val| {
        Val::Option(Some(Box::new(record(vec![
            ("deadline", deadline),
            ("metadata", metadata),
        ]))))
    };
    let dur = |s: i64, n: i32| {
        Val::Option(Some(Box::new(record(vec![
            ("seconds", Val::S64(s)),
            ("nanos", Val::S32(n)),
        ]))))
    };
    let entry = |k: &str, case: &str, v: Val| {
        record(vec![
            ("key", s(k)),
            ("value", Val::Variant(case.into(), Some(Box::new(v)))),
        ])
    };
    for (v, needle) in [
        (with(dur(-1, 0), Val::List(vec![])), "call-options.deadline"),
        (
            with(dur(1, 1_000_000_000), Val::List(vec![])),
            "nanos in 0..1e9",
        ),
        (
            with(
                Val::Option(None),
                Val::List(vec![entry("x-bin", "text", s("t"))]),
            ),
            "keys ending in `-bin`",
        ),
        (
            with(
                Val::Option(None),
                Val::List(vec![entry("grpc-timeout", "text", s("1S"))]),
            ),
            "reserved",
        ),
        (
            with(
                Val::Option(None),
                Val::List(vec![entry("x", "text", s("caf\u{e9}"))]),
            ),
            "printable ASCII",
        ),
        (Val::Bool(true), "expected record `call-options`"),
    ] {
        let err = call_options_from_val(&v).expect_err(needle);
        assert!(
            err.to_string().contains(needle),
            "want `{needle}`, got: {err}"
        );
    }
}

#[test]
fn a_deadline_longer_than_ten_years_is_refused_naming_the_field() {
    // A deadline of i64::MAX seconds made the host panic when the call was
    // prepared; it is refused where the guest's options are read.
    let options = |seconds: i64, nanos: i32| {
        Val::Option(Some(Box::new(record(vec![
            (
                "deadline",
                Val::Option(Some(Box::new(record(vec![
                    ("seconds", Val::S64(seconds)),
                    ("nanos", Val::S32(nanos)),
                ])))),
            ),
            ("metadata", Val::List(vec![])),
        ]))))
    };
    let longest = MAX_DEADLINE.as_secs();
    assert_eq!(longest, 3650 * 24 * 60 * 60);
    let at_most = call_options_from_val(&options(longest as i64, 0)).unwrap();
    assert_eq!(at_most.timeout, Some(MAX_DEADLINE));
    for (seconds, nanos) in [(longest as i64, 1), (longest as i64 + 1, 0), (i64::MAX, 0)] {
        let err = call_options_from_val(&options(seconds, nanos)).expect_err("too long");
        assert!(matches!(err, Error::InvalidValue { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("call-options.deadline") && text.contains("longer than the longest"),
            "{text}"
        );
    }
}

#[test]
fn canonical_encoding_is_deterministic_and_decodes_back() {
    let f = fixture();
    let desc = order_desc(f);
    let keys: Vec<String> = (0..64).map(|i| format!("key-{i}")).collect();
    let build = |order: &[String]| {
        let mut map = HashMap::new();
        for k in order {
            map.insert(MapKey::String(k.clone()), Value::I32(k.len() as i32));
        }
        let mut m = DynamicMessage::new(desc.clone());
        m.set_field_by_name("counts", Value::Map(map));
        m.set_field_by_name("id", Value::String("x".into()));
        m
    };
    let a = build(&keys);
    let mut reversed = keys.clone();
    reversed.reverse();
    let b = build(&reversed);
    assert_eq!(canonical_encode(&a), canonical_encode(&b));
    let decoded = DynamicMessage::decode(desc.clone(), canonical_encode(&a).as_slice()).unwrap();
    assert!(message_eq(&a, &decoded));
    // Same length as the library's own (non-deterministic) encoding.
    assert_eq!(canonical_encode(&a).len(), a.encode_to_vec().len());
}
