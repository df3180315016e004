//! The record format: golden files pin the bytes of every entry variant, and
//! property tests check round trips and that no input panics the decoder.
//!
//! Golden files live in `tests/golden/<case>.bin`. After an intended format
//! change (which must also bump `FORMAT_VERSION` or stay backward compatible),
//! rewrite them with `REPRISE_BLESS=1 cargo test -p reprise-oplog --test codec`
//! and commit the result.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use proptest::collection::vec;
use proptest::prelude::*;

use reprise_oplog::codec::{
    FORMAT_VERSION, decode_entry, decode_stored, encode_entry, encode_stored,
};
use reprise_oplog::payload::{PayloadRef, StoredPayload};
use reprise_oplog::{
    ComponentId, EntryKind, Error, IdempotencyKey, Incarnation, OplogEntry, OplogIndex, Payload,
    PayloadDigest, RequestHash, SideEffectClass, StoredEntry, StreamKind, Timestamp,
};

use common::strategies::{entry, stored_entry};

fn idx(n: u64) -> OplogIndex {
    OplogIndex::new(n).unwrap()
}

fn at<P>(micros: u64, kind: EntryKind<P>) -> OplogEntry<P> {
    OplogEntry {
        timestamp: Timestamp::from_micros(micros),
        kind,
    }
}

/// One fixed entry per variant (plus an `Err` completion and an out-of-line
/// payload reference), named after its golden file.
fn golden_cases() -> Vec<(&'static str, StoredEntry)> {
    let t = 1_700_000_000_123_456;
    let inline = |b: &[u8]| StoredPayload::Inline(Payload::from(b));
    vec![
        (
            "create",
            at(
                t,
                EntryKind::Create {
                    component_id: ComponentId::of_bytes(b"\0asm\x01\0\0\0"),
                    env: BTreeMap::from([("LANG".into(), "C".into()), ("TZ".into(), "UTC".into())]),
                    args: vec!["todo".into(), "--verbose".into()],
                    endpoint_overrides: BTreeMap::from([(
                        "todo".into(),
                        "http://127.0.0.1:50051".into(),
                    )]),
                },
            ),
        ),
        (
            "exported_function_invoked",
            at(
                t + 1,
                EntryKind::ExportedFunctionInvoked {
                    function: "core:todo/api.add".into(),
                    params: inline(b"[\"milk\"]"),
                    idempotency_key: IdempotencyKey::new("req-7").unwrap(),
                },
            ),
        ),
        (
            "exported_function_completed_ok",
            at(
                t + 2,
                EntryKind::ExportedFunctionCompleted {
                    result: Ok(inline(b"ok(42)")),
                },
            ),
        ),
        (
            "exported_function_completed_err",
            at(
                t + 3,
                EntryKind::ExportedFunctionCompleted {
                    result: Err(reprise_oplog::InvocationFailure(
                        "guest trapped: unreachable".into(),
                    )),
                },
            ),
        ),
        (
            "imported_function_invoked",
            at(
                t + 4,
                EntryKind::ImportedFunctionInvoked {
                    function: "core:todo/todo-service.todo-add".into(),
                    request: inline(b"\x0a\x04milk"),
                    request_hash: RequestHash::of(b"\x0a\x04milk"),
                    response: inline(b"\x08\x2a"),
                    side_effect_class: SideEffectClass::WriteRemote,
                },
            ),
        ),
        ("begin_remote_write", at(t + 5, EntryKind::BeginRemoteWrite)),
        (
            "end_remote_write",
            at(
                t + 6,
                EntryKind::EndRemoteWrite {
                    begin_index: idx(5),
                },
            ),
        ),
        (
            "error",
            at(
                t + 7,
                EntryKind::Error {
                    message: "connection refused".into(),
                    retry_from: idx(4),
                },
            ),
        ),
        ("interrupted", at(t + 8, EntryKind::Interrupted)),
        ("exited", at(t + 9, EntryKind::Exited)),
        (
            "stream_opened",
            at(
                t + 10,
                EntryKind::StreamOpened {
                    function: "routeguide:route-guide/route-guide.list-features".into(),
                    stream_kind: StreamKind::ServerStreaming,
                    request: inline(b"\x0a\x00"),
                    request_hash: RequestHash::of(b"\x0a\x00"),
                },
            ),
        ),
        (
            "stream_frame_sent",
            at(
                t + 11,
                EntryKind::StreamFrameSent {
                    open_index: idx(11),
                    frame: inline(b"\x08\x01"),
                },
            ),
        ),
        (
            "stream_frame_received",
            at(
                t + 12,
                EntryKind::StreamFrameReceived {
                    open_index: idx(11),
                    frame: inline(b"\x12\x03abc"),
                },
            ),
        ),
        (
            "stream_closed",
            at(
                t + 13,
                EntryKind::StreamClosed {
                    open_index: idx(11),
                    code: 14,
                    message: "unavailable".into(),
                    details: inline(b""),
                },
            ),
        ),
        (
            "external_payload",
            at(
                t + 14,
                EntryKind::StreamFrameReceived {
                    open_index: idx(11),
                    frame: StoredPayload::External(PayloadRef {
                        digest: PayloadDigest::of(&[7u8; 5000]),
                        len: 5000,
                    }),
                },
            ),
        ),
        (
            "call_attempt_failed",
            at(
                t + 15,
                EntryKind::CallAttemptFailed {
                    begin_index: idx(5),
                    attempt: 2,
                    code: 14,
                    message: "connection refused by 127.0.0.1:50051".into(),
                    retry_at_ms: 1_700_000_000_250,
                    deadline_ms: Some(1_700_000_030_000),
                },
            ),
        ),
        (
            "stream_send_ended",
            at(
                t + 16,
                EntryKind::StreamSendEnded {
                    open_index: idx(11),
                },
            ),
        ),
        ("resumed", at(t + 17, EntryKind::Resumed)),
        (
            "create_with_incarnation",
            at(
                t + 18,
                EntryKind::CreateWithIncarnation {
                    component_id: ComponentId::of_bytes(b"\0asm\x01\0\0\0"),
                    env: BTreeMap::from([("LANG".into(), "C".into())]),
                    args: vec!["todo".into()],
                    endpoint_overrides: BTreeMap::new(),
                    incarnation: Incarnation::from_u64(0x0123_4567_89ab_cdef),
                },
            ),
        ),
    ]
}

/// Exhaustive over the variants: adding a variant fails to compile here
/// until it gets a golden case.
fn variant_number<P>(kind: &EntryKind<P>) -> usize {
    match kind {
        EntryKind::Create { .. } => 0,
        EntryKind::ExportedFunctionInvoked { .. } => 1,
        EntryKind::ExportedFunctionCompleted { .. } => 2,
        EntryKind::ImportedFunctionInvoked { .. } => 3,
        EntryKind::BeginRemoteWrite => 4,
        EntryKind::EndRemoteWrite { .. } => 5,
        EntryKind::Error { .. } => 6,
        EntryKind::Interrupted => 7,
        EntryKind::Exited => 8,
        EntryKind::StreamOpened { .. } => 9,
        EntryKind::StreamFrameSent { .. } => 10,
        EntryKind::StreamFrameReceived { .. } => 11,
        EntryKind::StreamClosed { .. } => 12,
        EntryKind::CallAttemptFailed { .. } => 13,
        EntryKind::StreamSendEnded { .. } => 14,
        EntryKind::Resumed => 15,
        EntryKind::CreateWithIncarnation { .. } => 16,
    }
}
const VARIANTS: usize = 17;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn golden_files_pin_the_format() {
    let bless = std::env::var("REPRISE_BLESS").is_ok_and(|v| v == "1");
    let mut covered = [false; VARIANTS];
    let mut failures = Vec::new();
    for (name, entry) in golden_cases() {
        covered[variant_number(&entry.kind)] = true;
        let bytes = encode_stored(&entry).unwrap();
        assert_eq!(bytes[0], FORMAT_VERSION);
        let path = golden_dir().join(format!("{name}.bin"));
        if bless {
            std::fs::create_dir_all(golden_dir()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
            continue;
        }
        match std::fs::read(&path) {
            Ok(golden) => {
                if golden != bytes {
                    failures.push(format!("{name}: encoding changed"));
                }
                // The pinned bytes must still decode to the same entry.
                match decode_stored(&golden) {
                    Ok(decoded) if decoded == entry => {}
                    Ok(decoded) => failures.push(format!("{name}: decodes to {decoded:?}")),
                    Err(e) => failures.push(format!("{name}: no longer decodes: {e}")),
                }
            }
            Err(e) => failures.push(format!("{name}: cannot read {}: {e}", path.display())),
        }
    }
    assert!(
        covered.iter().all(|&c| c),
        "every entry variant needs a golden case: {covered:?}"
    );
    assert!(
        failures.is_empty(),
        "golden files differ (if the change is intended, rerun with REPRISE_BLESS=1 \
         and commit tests/golden):\n{}",
        failures.join("\n")
    );
    assert!(
        !bless,
        "rewrote the golden files: review the diff, then run again without REPRISE_BLESS"
    );
}

#[test]
fn golden_layout_of_a_simple_record() {
    // "interrupted": version 1, timestamp as varint (0xFD + u64 LE), variant 7, CRC.
    let entry = at(
        1_700_000_000_123_456,
        EntryKind::<StoredPayload>::Interrupted,
    );
    let bytes = encode_stored(&entry).unwrap();
    let mut expected = vec![FORMAT_VERSION, 0xFD];
    expected.extend_from_slice(&1_700_000_000_123_456u64.to_le_bytes());
    expected.push(7);
    let crc = crc32fast::hash(&expected);
    expected.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(bytes, expected);
}

#[test]
fn decode_entry_refuses_unresolved_payload_references() {
    let (_, external) = golden_cases()
        .into_iter()
        .find(|(n, _)| *n == "external_payload")
        .unwrap();
    let err = decode_entry(&encode_stored(&external).unwrap()).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert!(err.to_string().contains("out-of-line payload"), "{err}");
}

#[test]
fn entries_have_a_json_form() {
    for (_, stored) in golden_cases() {
        let json = serde_json::to_string(&stored).unwrap();
        let back: StoredEntry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, stored);
    }
    let create = common::create_entry();
    let json = serde_json::to_value(&create).unwrap();
    assert_eq!(
        json["kind"]["Create"]["component_id"],
        serde_json::Value::String(ComponentId::of_bytes(b"component").to_string())
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn stored_entries_round_trip(e in stored_entry()) {
        let bytes = encode_stored(&e).unwrap();
        prop_assert_eq!(decode_stored(&bytes).unwrap(), e);
    }

    #[test]
    fn entries_round_trip(e in entry()) {
        let bytes = encode_entry(&e).unwrap();
        // Stored with every payload inline (nothing refers to the payload
        // store), and read back as the entry.
        let stored = decode_stored(&bytes).unwrap();
        let mut all_inline = true;
        stored.for_each_payload(|p| all_inline &= matches!(p, StoredPayload::Inline(_)));
        prop_assert!(all_inline);
        prop_assert_eq!(decode_entry(&bytes).unwrap(), e);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        // Any outcome is fine except a panic; errors must be typed.
        if let Err(e) = decode_stored(&bytes) {
            prop_assert!(matches!(e, Error::Decode { .. }), "{}", e);
        }
    }

    #[test]
    fn arbitrary_bodies_with_valid_framing_never_panic(body in vec(any::<u8>(), 0..512)) {
        // Valid version and CRC, so the body decoder sees the garbage.
        let mut bytes = vec![FORMAT_VERSION];
        bytes.extend_from_slice(&body);
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        if let Err(e) = decode_stored(&bytes) {
            prop_assert!(matches!(e, Error::Decode { .. }), "{}", e);
        }
    }

    #[test]
    fn damaged_records_are_rejected(
        e in stored_entry(),
        pos in any::<prop::sample::Index>(),
        xor in 1u8..=255,
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = encode_stored(&e).unwrap();
        let mut flipped = bytes.clone();
        let i = pos.index(flipped.len());
        flipped[i] ^= xor;
        prop_assert!(decode_stored(&flipped).is_err(), "byte {} ^ {:#x} undetected", i, xor);
        let torn = &bytes[..cut.index(bytes.len())];
        prop_assert!(decode_stored(torn).is_err(), "torn at {} undetected", torn.len());
    }
}

#[test]
fn a_record_of_millions_of_empty_strings_reads_back() {
    // 8.4 MB on disk, under the 64 MiB a record may take, but bincode's
    // decode limit counted 8 bytes for each empty string: written, then
    // unreadable for good.
    let entry = at(
        1,
        EntryKind::Create {
            component_id: ComponentId::of_bytes(b"\0asm\x01\0\0\0"),
            env: BTreeMap::new(),
            args: vec![String::new(); 8_400_000],
            endpoint_overrides: BTreeMap::new(),
        },
    );
    let bytes = encode_entry(&entry).expect("under the record limit");
    assert!(bytes.len() < 9_000_000, "{}", bytes.len());
    assert_eq!(decode_entry(&bytes).expect("reads back"), entry);
}
