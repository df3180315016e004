//! Short human descriptions of oplog entries, for divergence and
//! malformed-oplog messages.

use reprise_oplog::{EntryKind, RequestHash};

/// [`describe`], naming the stream a frame or close belongs to.
pub fn describe_with_stream(kind: &EntryKind) -> String {
    match kind {
        EntryKind::StreamFrameSent { open_index, frame } => format!(
            "a frame sent on the stream opened at index {open_index} (frame {})",
            RequestHash::of(frame.as_bytes())
        ),
        EntryKind::StreamFrameReceived { open_index, frame } => format!(
            "a frame received on the stream opened at index {open_index} (frame {})",
            RequestHash::of(frame.as_bytes())
        ),
        EntryKind::StreamClosed {
            open_index, code, ..
        } => format!("the end (status {code}) of the stream opened at index {open_index}"),
        EntryKind::StreamSendEnded { open_index } => format!(
            "a send refused because the call had ended, on the stream opened at index {open_index}"
        ),
        other => describe(other),
    }
}

/// A short human description of an entry, for divergence messages.
pub fn describe(kind: &EntryKind) -> String {
    match kind {
        EntryKind::Create { .. } | EntryKind::CreateWithIncarnation { .. } => {
            "the worker's creation".to_owned()
        }
        EntryKind::ExportedFunctionInvoked { function, .. } => {
            format!("an invocation of `{function}`")
        }
        EntryKind::ExportedFunctionCompleted { .. } => "the end of the invocation".to_owned(),
        EntryKind::ImportedFunctionInvoked { function, .. } => format!("a call to `{function}`"),
        EntryKind::BeginRemoteWrite => "the start of a remote write".to_owned(),
        EntryKind::EndRemoteWrite { .. } => "the end of a remote write".to_owned(),
        EntryKind::CallAttemptFailed { attempt, .. } => {
            format!("a failed attempt ({attempt}) of a remote write, to be retried")
        }
        EntryKind::Error { message, .. } => format!("an error ({message})"),
        EntryKind::Interrupted => "an interruption".to_owned(),
        EntryKind::Exited => "the worker's exit".to_owned(),
        EntryKind::Resumed => "the worker's resumption".to_owned(),
        EntryKind::StreamOpened { function, .. } => format!("the opening of stream `{function}`"),
        EntryKind::StreamFrameSent { .. } => "a frame sent on a stream".to_owned(),
        EntryKind::StreamFrameReceived { .. } => "a frame received on a stream".to_owned(),
        EntryKind::StreamClosed { .. } => "the end of a stream".to_owned(),
        EntryKind::StreamSendEnded { .. } => {
            "a send refused because the stream's call had ended".to_owned()
        }
    }
}
