//! proptest strategies generating oplog entries.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

use reprise_oplog::payload::{PayloadRef, StoredPayload};
use reprise_oplog::{
    ComponentId, EntryKind, IdempotencyKey, Incarnation, OplogEntry, OplogIndex, Payload,
    PayloadDigest, RequestHash, SideEffectClass, StreamKind, Timestamp,
};

pub fn payload() -> impl Strategy<Value = Payload> + Clone {
    prop_oneof![
        4 => vec(any::<u8>(), 0..48),
        1 => vec(any::<u8>(), 48..700),
    ]
    .prop_map(Payload::new)
}

pub fn stored_payload() -> impl Strategy<Value = StoredPayload> + Clone {
    prop_oneof![
        payload().prop_map(StoredPayload::Inline),
        (any::<[u8; 32]>(), any::<u64>()).prop_map(|(d, len)| StoredPayload::External(
            PayloadRef {
                digest: PayloadDigest(d),
                len
            }
        )),
    ]
}

fn index() -> impl Strategy<Value = OplogIndex> {
    (1u64..10_000).prop_map(|n| OplogIndex::new(n).expect("non-zero"))
}

fn text() -> impl Strategy<Value = String> {
    ".{0,24}"
}

fn key() -> impl Strategy<Value = IdempotencyKey> {
    "[!-~]{1,40}".prop_map(|s| IdempotencyKey::new(s).expect("valid key"))
}

pub fn kind<P: Clone + std::fmt::Debug + 'static>(
    payload: impl Strategy<Value = P> + Clone + 'static,
) -> impl Strategy<Value = EntryKind<P>> {
    let p = payload;
    prop_oneof![
        (
            any::<[u8; 32]>(),
            btree_map(text(), text(), 0..4),
            vec(text(), 0..3),
            btree_map(text(), text(), 0..3)
        )
            .prop_map(|(c, env, args, endpoint_overrides)| EntryKind::Create {
                component_id: ComponentId::from_digest(c),
                env,
                args,
                endpoint_overrides,
            }),
        (
            any::<[u8; 32]>(),
            btree_map(text(), text(), 0..4),
            vec(text(), 0..3),
            any::<u64>()
        )
            .prop_map(
                |(c, env, args, incarnation)| EntryKind::CreateWithIncarnation {
                    component_id: ComponentId::from_digest(c),
                    env,
                    args,
                    endpoint_overrides: Default::default(),
                    incarnation: Incarnation::from_u64(incarnation),
                }
            ),
        (text(), p.clone(), key()).prop_map(|(function, params, idempotency_key)| {
            EntryKind::ExportedFunctionInvoked {
                function,
                params,
                idempotency_key,
            }
        }),
        prop_oneof![
            p.clone().prop_map(Ok),
            text().prop_map(|t| Err(reprise_oplog::InvocationFailure(t)))
        ]
        .prop_map(|result| EntryKind::ExportedFunctionCompleted { result }),
        (
            text(),
            p.clone(),
            any::<[u8; 32]>(),
            p.clone(),
            prop_oneof![
                Just(SideEffectClass::ReadOnly),
                Just(SideEffectClass::WriteRemote),
                Just(SideEffectClass::LocalNondeterminism)
            ]
        )
            .prop_map(|(function, request, h, response, side_effect_class)| {
                EntryKind::ImportedFunctionInvoked {
                    function,
                    request,
                    request_hash: RequestHash(h),
                    response,
                    side_effect_class,
                }
            }),
        Just(EntryKind::BeginRemoteWrite),
        index().prop_map(|begin_index| EntryKind::EndRemoteWrite { begin_index }),
        (
            index(),
            any::<u32>(),
            0u32..17,
            text(),
            any::<u64>(),
            proptest::option::of(any::<u64>())
        )
            .prop_map(
                |(begin_index, attempt, code, message, retry_at_ms, deadline_ms)| {
                    EntryKind::CallAttemptFailed {
                        begin_index,
                        attempt,
                        code,
                        message,
                        retry_at_ms,
                        deadline_ms,
                    }
                }
            ),
        (text(), index()).prop_map(|(message, retry_from)| EntryKind::Error {
            message,
            retry_from
        }),
        Just(EntryKind::Interrupted),
        Just(EntryKind::Exited),
        Just(EntryKind::Resumed),
        (
            text(),
            prop_oneof![
                Just(StreamKind::ServerStreaming),
                Just(StreamKind::ClientStreaming),
                Just(StreamKind::Bidirectional)
            ],
            p.clone(),
            any::<[u8; 32]>()
        )
            .prop_map(
                |(function, stream_kind, request, h)| EntryKind::StreamOpened {
                    function,
                    stream_kind,
                    request,
                    request_hash: RequestHash(h),
                }
            ),
        (index(), p.clone())
            .prop_map(|(open_index, frame)| EntryKind::StreamFrameSent { open_index, frame }),
        (index(), p.clone())
            .prop_map(|(open_index, frame)| EntryKind::StreamFrameReceived { open_index, frame }),
        (index(), any::<u32>(), text(), p).prop_map(|(open_index, code, message, details)| {
            EntryKind::StreamClosed {
                open_index,
                code,
                message,
                details,
            }
        }),
        index().prop_map(|open_index| EntryKind::StreamSendEnded { open_index }),
    ]
}

pub fn entry() -> impl Strategy<Value = OplogEntry> {
    (any::<u64>(), kind(payload())).prop_map(|(t, kind)| OplogEntry {
        timestamp: Timestamp::from_micros(t),
        kind,
    })
}

pub fn stored_entry() -> impl Strategy<Value = OplogEntry<StoredPayload>> {
    (any::<u64>(), kind(stored_payload())).prop_map(|(t, kind)| OplogEntry {
        timestamp: Timestamp::from_micros(t),
        kind,
    })
}

/// Makes arbitrary entries a valid batch starting at `first`: index 1 is a
/// `Create`, no other entry is, and references point to earlier indices.
pub fn fix_up(mut entries: Vec<OplogEntry>, first: u64) -> Vec<OplogEntry> {
    for (pos, e) in entries.iter_mut().enumerate() {
        let index = first + pos as u64;
        let is_create = e.kind.is_create();
        if index == 1 && !is_create {
            e.kind = crate::common::create_entry().kind;
        } else if index > 1 && is_create {
            e.kind = EntryKind::Interrupted;
        }
        let fix = |r: &mut OplogIndex| {
            *r = OplogIndex::new((r.get() - 1) % (index - 1) + 1).expect("non-zero");
        };
        match &mut e.kind {
            EntryKind::EndRemoteWrite { begin_index }
            | EntryKind::CallAttemptFailed { begin_index, .. } => fix(begin_index),
            EntryKind::Error { retry_from, .. } => fix(retry_from),
            EntryKind::StreamFrameSent { open_index, .. }
            | EntryKind::StreamFrameReceived { open_index, .. }
            | EntryKind::StreamClosed { open_index, .. }
            | EntryKind::StreamSendEnded { open_index } => fix(open_index),
            _ => {}
        }
    }
    entries
}
