//! Tests of the journal: replay of recorded calls and local values,
//! divergences, and streams' openings and steps.

use super::*;

fn recorded(index: u64, kind: EntryKind) -> Recorded {
    Recorded {
        index: OplogIndex::new(index).unwrap(),
        entry: OplogEntry::now(kind),
    }
}

fn call(function: &str, request: &[u8], response: &[u8]) -> EntryKind {
    EntryKind::ImportedFunctionInvoked {
        function: function.into(),
        request: Payload::new(request.to_vec()),
        request_hash: RequestHash::of(request),
        response: Payload::new(response.to_vec()),
        side_effect_class: SideEffectClass::WriteRemote,
    }
}

fn worker() -> WorkerId {
    WorkerId::new("w1").unwrap()
}

#[test]
fn replays_recorded_call_and_skips_brackets() {
    let journal = SharedJournal::new(
        worker(),
        vec![
            recorded(2, EntryKind::BeginRemoteWrite),
            recorded(3, call("svc.m", b"req", b"resp")),
            recorded(
                4,
                EntryKind::EndRemoteWrite {
                    begin_index: OplogIndex::new(2).unwrap(),
                },
            ),
        ],
    );
    match journal.replay_import("svc.m", b"req").unwrap() {
        Replayed::Result(p) => assert_eq!(p.as_bytes(), b"resp"),
        other => panic!("expected a replayed result, got {other:?}"),
    }
    assert!(!journal.is_replaying());
    assert_eq!(journal.replayed_calls(), 1);
    assert!(matches!(
        journal.replay_import("svc.m", b"req").unwrap(),
        Replayed::Live
    ));
}

#[test]
fn begun_but_unfinished_write_is_retried_with_its_index() {
    let journal = SharedJournal::new(worker(), vec![recorded(7, EntryKind::BeginRemoteWrite)]);
    match journal.replay_import("svc.m", b"req").unwrap() {
        Replayed::Interrupted(index, None) => assert_eq!(index.get(), 7),
        other => panic!("expected an interrupted write, got {other:?}"),
    }
}

#[test]
fn different_request_is_a_divergence_naming_both_sides() {
    let journal = SharedJournal::new(worker(), vec![recorded(3, call("svc.m", b"req", b"resp"))]);
    let err = journal.replay_import("svc.m", b"other").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("index 3"), "{text}");
    assert!(text.contains("svc.m"), "{text}");
    assert!(matches!(err, Error::Divergence { .. }));
}

#[test]
fn different_function_is_a_divergence() {
    let journal = SharedJournal::new(worker(), vec![recorded(3, call("svc.a", b"req", b"resp"))]);
    let err = journal
        .replay_import("svc.b", b"req")
        .unwrap_err()
        .to_string();
    assert!(err.contains("svc.a") && err.contains("svc.b"), "{err}");
}

#[test]
fn local_values_are_recorded_live_and_replayed() {
    let live = SharedJournal::new(worker(), Vec::new());
    let value = live.local("clock.now", b"", || vec![1, 2, 3]);
    assert_eq!(value, vec![1, 2, 3]);
    let pending = live.take_pending();
    assert_eq!(pending.len(), 1);

    let replay = SharedJournal::new(
        worker(),
        vec![Recorded {
            index: OplogIndex::new(5).unwrap(),
            entry: pending[0].clone(),
        }],
    );
    let again = replay.local("clock.now", b"", || vec![9, 9, 9]);
    assert_eq!(
        again,
        vec![1, 2, 3],
        "replay must return the recorded value"
    );
    assert!(replay.take_pending().is_empty(), "replay records nothing");
}

#[test]
fn local_divergence_is_remembered() {
    let journal = SharedJournal::new(worker(), vec![recorded(3, call("svc.a", b"req", b"resp"))]);
    let _ = journal.local("clock.now", b"", || vec![0]);
    assert!(matches!(
        journal.take_divergence(),
        Some(Error::Divergence { .. })
    ));
}

fn opened(function: &str, request: &[u8]) -> EntryKind {
    EntryKind::StreamOpened {
        function: function.into(),
        stream_kind: reprise_oplog::StreamKind::ServerStreaming,
        request: Payload::new(request.to_vec()),
        request_hash: RequestHash::of(request),
    }
}

fn received(open: u64, frame: &[u8]) -> EntryKind {
    EntryKind::StreamFrameReceived {
        open_index: OplogIndex::new(open).unwrap(),
        frame: Payload::new(frame.to_vec()),
    }
}

#[test]
fn stream_open_and_steps_replay_in_order() {
    let journal = SharedJournal::new(
        worker(),
        vec![
            recorded(2, opened("svc/List", b"req")),
            recorded(3, received(2, b"one")),
            recorded(4, received(2, b"two")),
        ],
    );
    match journal.replay_stream_open("svc/List", b"req").unwrap() {
        StreamOpenReplay::Opened(index, _) => assert_eq!(index.get(), 2),
        other => panic!("expected a replayed open, got {other:?}"),
    }
    let open = OplogIndex::new(2).unwrap();
    for expected in [&b"one"[..], b"two"] {
        let step = journal
            .replay_stream_step(open, || "next".into())
            .unwrap()
            .unwrap();
        match step.entry.kind {
            EntryKind::StreamFrameReceived { frame, .. } => {
                assert_eq!(frame.as_bytes(), expected)
            }
            other => panic!("expected a received frame, got {other:?}"),
        }
    }
    assert!(
        journal
            .replay_stream_step(open, || "next".into())
            .unwrap()
            .is_none()
    );
    assert_eq!(journal.replayed_calls(), 3);
    assert!(matches!(
        journal.replay_stream_open("svc/List", b"req").unwrap(),
        StreamOpenReplay::Live
    ));
}

#[test]
fn stream_open_with_another_request_is_a_divergence() {
    let journal = SharedJournal::new(worker(), vec![recorded(2, opened("svc/List", b"req"))]);
    let err = journal
        .replay_stream_open("svc/List", b"other")
        .unwrap_err()
        .to_string();
    assert!(err.contains("index 2") && err.contains("svc/List"), "{err}");
}

#[test]
fn step_on_another_stream_is_a_divergence_naming_both() {
    let journal = SharedJournal::new(worker(), vec![recorded(5, received(2, b"x"))]);
    let err = journal
        .replay_stream_step(OplogIndex::new(3).unwrap(), || "`next` on stream 3".into())
        .unwrap_err()
        .to_string();
    assert!(err.contains("opened at index 2"), "{err}");
    assert!(err.contains("`next` on stream 3"), "{err}");
}

#[test]
fn failed_open_replays_the_recorded_error() {
    let journal = SharedJournal::new(
        worker(),
        vec![recorded(2, call("svc/List", b"req", b"err(..)"))],
    );
    match journal.replay_stream_open("svc/List", b"req").unwrap() {
        StreamOpenReplay::Failed(payload) => assert_eq!(payload.as_bytes(), b"err(..)"),
        other => panic!("expected the recorded failure, got {other:?}"),
    }
}

#[test]
fn nothing_is_recorded_while_sealed() {
    let journal = SharedJournal::new(worker(), Vec::new());
    journal.local("wasi:random/random.get-random-u64", b"", || vec![1]);
    journal.seal(StopReason::Shutdown);
    assert_eq!(journal.sealed(), Some(StopReason::Shutdown));
    journal.local("wasi:io/poll.poll", b"", || vec![0, 0, 0, 0]);
    journal.record(EntryKind::BeginRemoteWrite);
    assert_eq!(journal.pending_len(), 1, "only the read before the seal");
    assert_eq!(journal.take_seal(), Some(StopReason::Shutdown));
    journal.record(EntryKind::BeginRemoteWrite);
    assert_eq!(journal.pending_len(), 2);
}
