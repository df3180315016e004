//! `RpcStatus` and `Code` without a server: conversions, the stored form,
//! serde, and degradation of undecodable details.

use std::collections::BTreeMap;

use reprise_grpc_stub::client::Metadata;
use reprise_grpc_stub::status::{
    BadRequest, ErrorDetail, ErrorInfo, FieldViolation, LocalizedMessage, PreconditionFailure,
    PreconditionViolation, ProtoDuration, QuotaFailure, QuotaViolation, ResourceInfo, RetryInfo,
};
use reprise_grpc_stub::{Code, Error, RpcStatus};

#[test]
fn all_seventeen_codes_convert_both_ways() {
    assert_eq!(Code::ALL.len(), 17);
    for (i, code) in Code::ALL.into_iter().enumerate() {
        let n = i32::try_from(i).expect("small");
        assert_eq!(code.as_i32(), n);
        assert_eq!(i32::from(code), n);
        assert_eq!(Code::try_from(n).expect("valid"), code);
        assert_eq!(Code::from_i32(n), code);
        let tonic_code: tonic::Code = code.into();
        assert_eq!(tonic_code as i32, n);
        assert_eq!(Code::from(tonic_code), code);
    }
    assert_eq!(Code::NotFound.to_string(), "NOT_FOUND");
    assert_eq!(Code::Unauthenticated.name(), "UNAUTHENTICATED");
    for bad in [-1, 17, 99, i32::MAX] {
        assert_eq!(Code::from_i32(bad), Code::Unknown);
        assert!(matches!(
            Code::try_from(bad),
            Err(Error::InvalidStatusCode { code }) if code == bad
        ));
    }
}

fn rich() -> RpcStatus {
    let mut metadata = Metadata::new();
    metadata
        .push_ascii("x-request-id", "r-1")
        .expect("valid")
        .push_binary("x-trace-bin", &[1, 2, 255])
        .expect("valid");
    RpcStatus {
        code: Code::ResourceExhausted,
        message: "quota \u{1F608} exceeded".into(),
        details: vec![
            ErrorDetail::BadRequest(BadRequest {
                field_violations: vec![FieldViolation {
                    field: "task".into(),
                    description: "empty".into(),
                    reason: "REQUIRED".into(),
                    localized_message: Some(LocalizedMessage {
                        locale: "en".into(),
                        message: "Task is empty".into(),
                    }),
                }],
            }),
            ErrorDetail::RetryInfo(RetryInfo {
                retry_delay: Some(ProtoDuration {
                    seconds: 1,
                    nanos: 250_000_000,
                }),
            }),
            ErrorDetail::ErrorInfo(ErrorInfo {
                reason: "LIMIT".into(),
                domain: "example".into(),
                metadata: BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())]),
            }),
            ErrorDetail::ResourceInfo(ResourceInfo {
                resource_type: "todo".into(),
                resource_name: "7".into(),
                owner: "u".into(),
                description: "gone".into(),
            }),
            ErrorDetail::QuotaFailure(QuotaFailure {
                violations: vec![QuotaViolation {
                    subject: "s".into(),
                    quota_value: 5,
                    future_quota_value: None,
                    ..Default::default()
                }],
            }),
            ErrorDetail::PreconditionFailure(PreconditionFailure {
                violations: vec![PreconditionViolation {
                    r#type: "TOS".into(),
                    subject: "s".into(),
                    description: "d".into(),
                }],
            }),
            ErrorDetail::Other {
                type_url: "type.googleapis.com/acme.Custom".into(),
                value: vec![8, 1],
            },
        ],
        metadata,
        retry_pushback_ms: None,
    }
}

#[test]
fn stored_form_round_trips() {
    let status = rich();
    let bytes = status.to_bytes();
    assert_eq!(RpcStatus::from_bytes(&bytes).expect("decodes"), status);
    // Encoding is deterministic (the oplog may hash it).
    assert_eq!(status.to_bytes(), bytes);
    assert_eq!(
        status.retry_delay(),
        Some(std::time::Duration::from_millis(1_250))
    );
    assert_eq!(status.field_violations()[0].field, "task");
    assert_eq!(
        status.resource_info().map(|r| r.resource_name.as_str()),
        Some("7")
    );
}

#[test]
fn serde_round_trips_through_json() {
    let status = rich();
    let json = serde_json::to_string(&status).expect("serializes");
    let back: RpcStatus = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, status);
    let err = serde_json::from_str::<RpcStatus>("[255, 255, 255]").expect_err("garbage");
    assert!(err.to_string().contains("stored gRPC status"), "{err}");
}

#[test]
fn tonic_round_trip_keeps_details_and_metadata() {
    let status = rich();
    let back = RpcStatus::from_tonic(&status.to_tonic());
    assert_eq!(back, status);
}

#[test]
fn undecodable_details_degrade_to_raw() {
    let garbage = [0xff, 0xff, 0xff, 0x01];
    assert_eq!(
        RpcStatus::decode_details(&garbage),
        vec![ErrorDetail::Other {
            type_url: String::new(),
            value: garbage.to_vec(),
        }]
    );
    assert!(RpcStatus::decode_details(&[]).is_empty());
    // A known type whose bytes are broken stays raw, with its type URL.
    let status = RpcStatus::new(Code::Internal, "x").with_detail(ErrorDetail::Other {
        type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
        value: vec![0x0a, 0x05, 0x01],
    });
    let decoded = RpcStatus::decode_details(&status.encode_details());
    assert_eq!(decoded, status.details);
    // A stored status with an out-of-range code is an error, not a panic.
    let bad_code = RpcStatus::new(Code::Ok, "");
    let mut bytes = bad_code.to_bytes();
    bytes.extend([0x08, 0x63]); // field 1 = 99 (last value wins)
    assert!(matches!(
        RpcStatus::from_bytes(&bytes),
        Err(Error::InvalidStatusCode { code: 99 })
    ));
}

/// A status as a server may send it: metadata with a key and values
/// HTTP/2 allows but a caller could not set (`~` in a key, a tab, bytes
/// 0x80-0xFF).
fn received_with_unusual_metadata() -> RpcStatus {
    let mut headers = http::HeaderMap::new();
    let value = |bytes: &[u8]| http::HeaderValue::from_bytes(bytes).expect("HTTP/2 allows it");
    headers.append(http::HeaderName::from_static("x~odd+key!"), value(b"plain"));
    headers.append("x-tabbed", value(b"a\tb"));
    headers.append("x-utf8", value("caf\u{e9}".as_bytes()));
    headers.append("x-latin1", value(b"caf\xe9"));
    let map = tonic::metadata::MetadataMap::from_headers(headers);
    RpcStatus::from_tonic(&tonic::Status::with_metadata(
        tonic::Code::FailedPrecondition,
        "refused",
        map,
    ))
}

#[test]
fn received_metadata_survives_the_stored_form() {
    let status = received_with_unusual_metadata();
    let keys: Vec<&str> = status.metadata.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["x~odd+key!", "x-tabbed", "x-utf8", "x-latin1"]);
    assert_eq!(status.metadata.get_ascii("x-tabbed"), Some("a\tb"));
    assert_eq!(status.metadata.get_ascii("x-utf8"), Some("caf\u{e9}"));
    assert_eq!(status.metadata.get_ascii("x-latin1"), Some("caf\u{fffd}"));
    // What is stored (a stream's close in the oplog) reads back as it was.
    let back = RpcStatus::from_bytes(&status.to_bytes()).expect("a stored status reads back");
    assert_eq!(back, status);
    // Caller-set metadata stays checked.
    assert!(Metadata::new().push_ascii("x~odd", "v").is_err());
    assert!(Metadata::new().push_ascii("x-tabbed", "a\tb").is_err());
}

#[test]
fn a_pushback_that_is_not_a_number_means_do_not_retry_and_content_length_is_reserved() {
    // Bytes that are not ASCII were dropped before the number was read:
    // no pushback, so the policy retried; gRPC says an unreadable pushback
    // means do not retry. And guest metadata could set `content-length`,
    // which hyper sends as given (the server then resets the stream).
    for raw in [&b"1\xff"[..], b"abc", b"-5"] {
        let mut status = tonic::Status::new(tonic::Code::Unavailable, "busy");
        status.metadata_mut().insert(
            "grpc-retry-pushback-ms",
            tonic::metadata::AsciiMetadataValue::try_from(raw).unwrap(),
        );
        let read = RpcStatus::from_tonic(&status).retry_pushback_ms;
        assert!(read.is_some_and(|ms| ms < 0), "{raw:?}: {read:?}");
    }
    let entry = reprise_grpc_stub::client::MetadataEntry::new(
        "content-length",
        reprise_grpc_stub::client::MetadataValue::Ascii("0".into()),
    );
    assert!(entry.is_err(), "{entry:?}");
}
