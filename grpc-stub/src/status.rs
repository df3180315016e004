//! Typed gRPC statuses: the 17 status codes, the message, rich error details
//! decoded from `grpc-status-details-bin` (the `google.rpc` error model), and
//! the trailing metadata that came with the status.
//!
//! The `google.rpc` messages are declared here by hand from
//! `google/rpc/status.proto` and `google/rpc/error_details.proto`. Details that
//! are of another type, or whose bytes do not decode, are kept raw
//! ([`ErrorDetail::Other`]) — never dropped, never a panic.
//!
//! For the oplog an [`RpcStatus`] has a stable binary form
//! ([`RpcStatus::to_bytes`]): a `google.rpc.Status` message (so any protobuf
//! reader understands it) with the metadata appended as field 15; serde
//! serializes a status as those bytes.

use std::collections::BTreeMap;
use std::fmt;

use prost::Message;

use crate::Error;
use crate::client::metadata::{Metadata, MetadataEntry, MetadataValue};

/// A gRPC status code (`google.rpc.Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i32)]
pub enum Code {
    /// Not an error.
    Ok = 0,
    /// The operation was cancelled, typically by the caller.
    Cancelled = 1,
    /// Unknown error.
    Unknown = 2,
    /// The client specified an invalid argument.
    InvalidArgument = 3,
    /// The deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// Some requested entity was not found.
    NotFound = 5,
    /// The entity a client tried to create already exists.
    AlreadyExists = 6,
    /// The caller lacks permission for the operation.
    PermissionDenied = 7,
    /// Some resource (quota, rate) has been exhausted.
    ResourceExhausted = 8,
    /// The system is not in a state required for the operation.
    FailedPrecondition = 9,
    /// The operation was aborted, typically by a concurrency conflict.
    Aborted = 10,
    /// The operation was attempted past the valid range.
    OutOfRange = 11,
    /// The operation is not implemented or supported.
    Unimplemented = 12,
    /// An internal invariant was broken.
    Internal = 13,
    /// The service is currently unavailable; retrying may help.
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// The request lacks valid authentication credentials.
    Unauthenticated = 16,
}

impl Code {
    /// All 17 codes in numeric order.
    pub const ALL: [Code; 17] = [
        Code::Ok,
        Code::Cancelled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The code for a number; numbers outside 0..=16 are `Unknown`, as the
    /// gRPC specification tells clients to treat them.
    pub fn from_i32(value: i32) -> Code {
        Code::try_from(value).unwrap_or(Code::Unknown)
    }

    /// The code's number.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The canonical upper-case name, e.g. `"NOT_FOUND"`.
    pub fn name(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<i32> for Code {
    type Error = Error;

    fn try_from(value: i32) -> Result<Self, Self::Error> {
        usize::try_from(value)
            .ok()
            .and_then(|i| Code::ALL.get(i).copied())
            .ok_or(Error::InvalidStatusCode { code: value })
    }
}

impl From<Code> for i32 {
    fn from(code: Code) -> i32 {
        code as i32
    }
}

impl From<tonic::Code> for Code {
    fn from(code: tonic::Code) -> Code {
        Code::from_i32(code as i32)
    }
}

impl From<Code> for tonic::Code {
    fn from(code: Code) -> tonic::Code {
        tonic::Code::from_i32(code as i32)
    }
}

/// `google.protobuf.Duration`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct ProtoDuration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second, same sign as `seconds`.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl ProtoDuration {
    /// As a std duration; `None` if negative or out of range.
    pub fn to_std(&self) -> Option<std::time::Duration> {
        let secs = u64::try_from(self.seconds).ok()?;
        let nanos = u32::try_from(self.nanos).ok()?;
        if nanos >= 1_000_000_000 {
            return None;
        }
        Some(std::time::Duration::new(secs, nanos))
    }
}

/// `google.rpc.LocalizedMessage`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct LocalizedMessage {
    /// BCP-47 locale, e.g. `"en-US"`.
    #[prost(string, tag = "1")]
    pub locale: String,
    /// The message in that locale.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// `google.rpc.BadRequest.FieldViolation`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct FieldViolation {
    /// Path to the offending field, e.g. `"todo.task"`.
    #[prost(string, tag = "1")]
    pub field: String,
    /// Why the value is bad.
    #[prost(string, tag = "2")]
    pub description: String,
    /// Machine-readable reason (`UPPER_SNAKE_CASE`).
    #[prost(string, tag = "3")]
    pub reason: String,
    /// The description, localized.
    #[prost(message, optional, tag = "4")]
    pub localized_message: Option<LocalizedMessage>,
}

/// `google.rpc.BadRequest`: which request fields are invalid.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct BadRequest {
    /// One entry per invalid field.
    #[prost(message, repeated, tag = "1")]
    pub field_violations: Vec<FieldViolation>,
}

/// `google.rpc.RetryInfo`: when the client may retry.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct RetryInfo {
    /// Wait at least this long before retrying.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.rpc.ErrorInfo`: the structured cause of an error.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct ErrorInfo {
    /// The reason (`UPPER_SNAKE_CASE`), unique within `domain`.
    #[prost(string, tag = "1")]
    pub reason: String,
    /// The logical grouping the reason belongs to, e.g. a service name.
    #[prost(string, tag = "2")]
    pub domain: String,
    /// Additional structured details.
    #[prost(btree_map = "string, string", tag = "3")]
    pub metadata: BTreeMap<String, String>,
}

/// `google.rpc.ResourceInfo`: the resource an error is about.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct ResourceInfo {
    /// Type of the resource, e.g. a message full name or a URL.
    #[prost(string, tag = "1")]
    pub resource_type: String,
    /// Name (id) of the resource.
    #[prost(string, tag = "2")]
    pub resource_name: String,
    /// The owner of the resource, if any.
    #[prost(string, tag = "3")]
    pub owner: String,
    /// What went wrong with it.
    #[prost(string, tag = "4")]
    pub description: String,
}

/// `google.rpc.QuotaFailure.Violation`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct QuotaViolation {
    /// The subject whose quota ran out, e.g. a project or user.
    #[prost(string, tag = "1")]
    pub subject: String,
    /// What quota check failed.
    #[prost(string, tag = "2")]
    pub description: String,
    /// The API service of the quota.
    #[prost(string, tag = "3")]
    pub api_service: String,
    /// The metric of the quota.
    #[prost(string, tag = "4")]
    pub quota_metric: String,
    /// The id of the violated quota.
    #[prost(string, tag = "5")]
    pub quota_id: String,
    /// The dimensions of the violated quota.
    #[prost(btree_map = "string, string", tag = "6")]
    pub quota_dimensions: BTreeMap<String, String>,
    /// The enforced quota value.
    #[prost(int64, tag = "7")]
    pub quota_value: i64,
    /// The new quota value being rolled out, if any.
    #[prost(int64, optional, tag = "8")]
    pub future_quota_value: Option<i64>,
}

/// `google.rpc.QuotaFailure`: which quotas were exceeded.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct QuotaFailure {
    /// One entry per exceeded quota.
    #[prost(message, repeated, tag = "1")]
    pub violations: Vec<QuotaViolation>,
}

/// `google.rpc.PreconditionFailure.Violation`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct PreconditionViolation {
    /// Type of the precondition, e.g. `"TOS"`.
    #[prost(string, tag = "1")]
    pub r#type: String,
    /// The subject that failed the check.
    #[prost(string, tag = "2")]
    pub subject: String,
    /// How it failed.
    #[prost(string, tag = "3")]
    pub description: String,
}

/// `google.rpc.PreconditionFailure`: which preconditions failed.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct PreconditionFailure {
    /// One entry per failed precondition.
    #[prost(message, repeated, tag = "1")]
    pub violations: Vec<PreconditionViolation>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Eq, Message)]
struct AnyProto {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// One metadata entry in the stored form of a status (field 15).
#[derive(Clone, PartialEq, Eq, Message)]
struct MetadataProto {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(oneof = "MetadataValueProto", tags = "2, 3")]
    value: Option<MetadataValueProto>,
}

#[derive(Clone, PartialEq, Eq, prost::Oneof)]
enum MetadataValueProto {
    #[prost(string, tag = "2")]
    Ascii(String),
    #[prost(bytes = "vec", tag = "3")]
    Binary(Vec<u8>),
}

/// `google.rpc.Status`, plus field 15 for the metadata in the stored form.
#[derive(Clone, PartialEq, Eq, Message)]
struct StatusProto {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<AnyProto>,
    #[prost(message, repeated, tag = "15")]
    metadata: Vec<MetadataProto>,
}

/// The type URL prefix used when packing details.
pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

/// One typed detail of a rich error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorDetail {
    /// Invalid request fields.
    BadRequest(BadRequest),
    /// When to retry.
    RetryInfo(RetryInfo),
    /// Structured cause.
    ErrorInfo(ErrorInfo),
    /// The resource concerned.
    ResourceInfo(ResourceInfo),
    /// Exceeded quotas.
    QuotaFailure(QuotaFailure),
    /// Failed preconditions.
    PreconditionFailure(PreconditionFailure),
    /// A detail of another type, or one whose bytes did not decode, kept as
    /// sent. `type_url` is empty when the whole `grpc-status-details-bin`
    /// value was undecodable and `value` holds it.
    Other {
        /// The `Any` type URL.
        type_url: String,
        /// The packed message bytes.
        value: Vec<u8>,
    },
}

impl ErrorDetail {
    fn from_any(any: AnyProto) -> ErrorDetail {
        let name = any.type_url.rsplit('/').next().unwrap_or_default();
        let bytes = any.value.as_slice();
        let typed = match name {
            "google.rpc.BadRequest" => BadRequest::decode(bytes).map(ErrorDetail::BadRequest),
            "google.rpc.RetryInfo" => RetryInfo::decode(bytes).map(ErrorDetail::RetryInfo),
            "google.rpc.ErrorInfo" => ErrorInfo::decode(bytes).map(ErrorDetail::ErrorInfo),
            "google.rpc.ResourceInfo" => ResourceInfo::decode(bytes).map(ErrorDetail::ResourceInfo),
            "google.rpc.QuotaFailure" => QuotaFailure::decode(bytes).map(ErrorDetail::QuotaFailure),
            "google.rpc.PreconditionFailure" => {
                PreconditionFailure::decode(bytes).map(ErrorDetail::PreconditionFailure)
            }
            _ => return ErrorDetail::other(any),
        };
        typed.unwrap_or_else(|_| ErrorDetail::other(any))
    }

    fn other(any: AnyProto) -> ErrorDetail {
        ErrorDetail::Other {
            type_url: any.type_url,
            value: any.value,
        }
    }

    fn to_any(&self) -> AnyProto {
        let (name, value) = match self {
            ErrorDetail::BadRequest(m) => ("google.rpc.BadRequest", m.encode_to_vec()),
            ErrorDetail::RetryInfo(m) => ("google.rpc.RetryInfo", m.encode_to_vec()),
            ErrorDetail::ErrorInfo(m) => ("google.rpc.ErrorInfo", m.encode_to_vec()),
            ErrorDetail::ResourceInfo(m) => ("google.rpc.ResourceInfo", m.encode_to_vec()),
            ErrorDetail::QuotaFailure(m) => ("google.rpc.QuotaFailure", m.encode_to_vec()),
            ErrorDetail::PreconditionFailure(m) => {
                ("google.rpc.PreconditionFailure", m.encode_to_vec())
            }
            ErrorDetail::Other { type_url, value } => {
                return AnyProto {
                    type_url: type_url.clone(),
                    value: value.clone(),
                };
            }
        };
        AnyProto {
            type_url: format!("{TYPE_URL_PREFIX}{name}"),
            value,
        }
    }
}

/// A gRPC status as a call's caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcStatus {
    /// The status code.
    pub code: Code,
    /// The human-readable message.
    pub message: String,
    /// Rich error details, in the order the server sent them.
    pub details: Vec<ErrorDetail>,
    /// The metadata that came with the status (trailers, and for failures
    /// the response headers too), without the reserved `grpc-*` entries.
    pub metadata: Metadata,
    /// The server's `grpc-retry-pushback-ms`: how long to wait before a
    /// retry, or (negative) not to retry. Not stored with the status.
    pub retry_pushback_ms: Option<i64>,
}

impl RpcStatus {
    /// A status with a code and message and nothing else.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
            metadata: Metadata::new(),
            retry_pushback_ms: None,
        }
    }

    /// Adds a detail.
    pub fn with_detail(mut self, detail: ErrorDetail) -> Self {
        self.details.push(detail);
        self
    }

    /// True for `OK`.
    pub fn is_ok(&self) -> bool {
        self.code == Code::Ok
    }

    /// The first `BadRequest` detail's field violations (empty if none).
    pub fn field_violations(&self) -> &[FieldViolation] {
        self.details
            .iter()
            .find_map(|d| match d {
                ErrorDetail::BadRequest(b) => Some(b.field_violations.as_slice()),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// The retry delay of the first `RetryInfo` detail, if any.
    pub fn retry_delay(&self) -> Option<std::time::Duration> {
        self.details.iter().find_map(|d| match d {
            ErrorDetail::RetryInfo(r) => r.retry_delay.as_ref().and_then(ProtoDuration::to_std),
            _ => None,
        })
    }

    /// The first `ResourceInfo` detail, if any.
    pub fn resource_info(&self) -> Option<&ResourceInfo> {
        self.details.iter().find_map(|d| match d {
            ErrorDetail::ResourceInfo(r) => Some(r),
            _ => None,
        })
    }

    /// Decodes `grpc-status-details-bin` bytes (an encoded `google.rpc.Status`)
    /// into details. Undecodable bytes come back as one raw
    /// [`ErrorDetail::Other`] with an empty type URL.
    pub fn decode_details(bytes: &[u8]) -> Vec<ErrorDetail> {
        if bytes.is_empty() {
            return Vec::new();
        }
        match StatusProto::decode(bytes) {
            Ok(status) => status
                .details
                .into_iter()
                .map(ErrorDetail::from_any)
                .collect(),
            Err(_) => vec![ErrorDetail::Other {
                type_url: String::new(),
                value: bytes.to_vec(),
            }],
        }
    }

    /// The encoded `google.rpc.Status` for `grpc-status-details-bin`
    /// (code, message and details; no metadata).
    pub fn encode_details(&self) -> Vec<u8> {
        StatusProto {
            code: self.code.as_i32(),
            message: self.message.clone(),
            details: self.details.iter().map(ErrorDetail::to_any).collect(),
            metadata: Vec::new(),
        }
        .encode_to_vec()
    }

    /// The status a tonic status describes, as the server (or tonic) sent it.
    pub fn from_tonic(status: &tonic::Status) -> Self {
        Self {
            code: status.code().into(),
            message: status.message().to_owned(),
            details: Self::decode_details(status.details()),
            metadata: Metadata::from_tonic(status.metadata()),
            retry_pushback_ms: status
                .metadata()
                .get("grpc-retry-pushback-ms")
                // Any value that does not read as a number (bytes that are
                // not ASCII included) means "do not retry" (gRPC A6).
                .map(|v| {
                    v.to_str()
                        .ok()
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(-1)
                }),
        }
    }

    /// The equivalent tonic status (details as `grpc-status-details-bin`;
    /// metadata entries that tonic cannot carry are left out).
    pub fn to_tonic(&self) -> tonic::Status {
        let mut status = if self.details.is_empty() {
            tonic::Status::new(self.code.into(), self.message.clone())
        } else {
            tonic::Status::with_details(
                self.code.into(),
                self.message.clone(),
                self.encode_details().into(),
            )
        };
        self.metadata.apply_to(status.metadata_mut());
        status
    }

    /// The stable stored form: a `google.rpc.Status` with the metadata as
    /// field 15.
    pub fn to_bytes(&self) -> Vec<u8> {
        let metadata = self
            .metadata
            .iter()
            .map(|entry| MetadataProto {
                key: entry.key.clone(),
                value: Some(match &entry.value {
                    MetadataValue::Ascii(s) => MetadataValueProto::Ascii(s.clone()),
                    MetadataValue::Binary(b) => MetadataValueProto::Binary(b.clone()),
                }),
            })
            .collect();
        StatusProto {
            code: self.code.as_i32(),
            message: self.message.clone(),
            details: self.details.iter().map(ErrorDetail::to_any).collect(),
            metadata,
        }
        .encode_to_vec()
    }

    /// Reads the stored form written by [`RpcStatus::to_bytes`] (or any
    /// encoded `google.rpc.Status`). Metadata entries are taken as stored,
    /// without the checks of [`MetadataEntry::new`]: a status received
    /// with metadata a caller could not send (see [`Metadata::from_tonic`])
    /// reads back unchanged.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let proto = StatusProto::decode(bytes).map_err(|e| Error::StatusDecode {
            reason: e.to_string(),
        })?;
        let code = Code::try_from(proto.code)?;
        let mut metadata = Metadata::new();
        for entry in proto.metadata {
            let value = match entry.value {
                Some(MetadataValueProto::Ascii(s)) => MetadataValue::Ascii(s),
                Some(MetadataValueProto::Binary(b)) => MetadataValue::Binary(b),
                None => {
                    return Err(Error::StatusDecode {
                        reason: format!("metadata entry `{}` has no value", entry.key),
                    });
                }
            };
            metadata.push(MetadataEntry::received(entry.key, value));
        }
        Ok(Self {
            code,
            message: proto.message,
            details: proto
                .details
                .into_iter()
                .map(ErrorDetail::from_any)
                .collect(),
            metadata,
            retry_pushback_ms: None,
        })
    }
}

impl fmt::Display for RpcStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for RpcStatus {}

impl serde::Serialize for RpcStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.to_bytes())
    }
}

impl<'de> serde::Deserialize<'de> for RpcStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_bytes(StatusBytesVisitor)
    }
}

struct StatusBytesVisitor;

impl<'de> serde::de::Visitor<'de> for StatusBytesVisitor {
    type Value = RpcStatus;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the bytes of an encoded google.rpc.Status")
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<RpcStatus, E> {
        RpcStatus::from_bytes(v).map_err(E::custom)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<RpcStatus, A::Error> {
        // Self-describing formats such as JSON write bytes as a number list.
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            bytes.push(b);
        }
        self.visit_bytes(&bytes)
    }
}
