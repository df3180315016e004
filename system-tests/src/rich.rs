//! Builds rich error statuses (`google.rpc.Status` with `Any` details in
//! `grpc-status-details-bin`), the way a real server reports validation
//! errors, missing resources and rate limits.

use prost::Message;
use prost_types::Any;

use crate::state::InjectedFailure;

/// The type URL prefix servers use for `Any` details.
pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// Packs `message` as an `Any` whose type is the full protobuf name `type_name`
/// (e.g. `"google.rpc.BadRequest"`).
pub fn any<M: Message>(type_name: &str, message: &M) -> Any {
    Any {
        type_url: format!("{TYPE_URL_PREFIX}{type_name}"),
        value: message.encode_to_vec(),
    }
}

/// The encoded `google.rpc.Status` carrying `code`, `message` and `details`.
pub fn status_details(code: tonic::Code, message: &str, details: Vec<Any>) -> Vec<u8> {
    crate::proto::google::rpc::Status {
        code: code as i32,
        message: message.to_owned(),
        details,
    }
    .encode_to_vec()
}

/// A tonic status with `details` attached as `grpc-status-details-bin`.
pub fn rich_status(code: tonic::Code, message: &str, details: Vec<Any>) -> tonic::Status {
    let bytes = status_details(code, message, details);
    tonic::Status::with_details(code, message.to_owned(), bytes.into())
}

/// An injectable failure with rich details (see `ServerState::fail_next`).
pub fn rich_failure(code: tonic::Code, message: &str, details: Vec<Any>) -> InjectedFailure {
    InjectedFailure {
        code,
        message: message.to_owned(),
        details: status_details(code, message, details),
    }
}
