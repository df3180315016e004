//! The value bridge: wasmtime component values (`Val`) <-> prost-reflect
//! `DynamicMessage`s, driven by the interface model.
//!
//! Every shape decision comes from [`crate::model`]: the bridge only follows
//! the recorded [`FieldMapping`](crate::model::FieldMapping)s and
//! [`ValueType`]s, so the values it builds always match the WIT the same
//! model rendered. Type errors in a `Val` are reported with the path of the
//! offending field in WIT names (`todo-add-request.todo.user-id`); nothing
//! here panics on input.
//!
//! Two routes, with the same results: [`to_val`]/[`from_val`] convert
//! to and from a `DynamicMessage` (what the dynamic client sends and
//! receives), and [`val_to_bytes`]/[`bytes_to_val`] go straight between a
//! value and protobuf bytes, several times faster, falling back to the
//! `DynamicMessage` route for unusual input.
//!
//! Conventions the host sees:
//! - maps become `list<tuple<K, V>>` sorted by key (deterministic, so replay
//!   hashes are stable); a duplicate key coming from a guest is an error;
//! - an unknown enum number from a peer is an error, never a guess;
//! - unknown fields and extensions of a message are not carried in records
//!   (they are inside recursion-break bytes, which hold the whole message);
//! - bytes the host produces use [`canonical_encode`] (fields by number, map
//!   entries by key), so equal messages always give equal bytes — use it too
//!   when hashing a request for replay.

mod canonical;
mod from_val;
mod json;
mod support;
mod to_val;
mod val_decode;
mod val_encode;
mod wire;

use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, ReflectMessage};

use wasmtime::component::Val;

use crate::Error;
use crate::model::{InterfaceModel, MethodModel, ValueType};

pub use canonical::canonical_encode;
pub use support::{
    MAX_EMPTY_COUNT, call_options_from_val, call_options_to_val, rpc_status_from_val,
    rpc_status_to_val,
};

/// Converts a message to the component value of its WIT type. `None` for an
/// empty message (no WIT value). The message's type must be in the model,
/// or be a well-known type.
pub fn to_val(model: &InterfaceModel, message: &DynamicMessage) -> Result<Option<Val>, Error> {
    let desc = message.descriptor();
    let Some(vt) = model.value_type_of(&desc)? else {
        return Ok(None);
    };
    to_val::whole_message(model, vt, message)
        .map(Some)
        .map_err(|e| e.into_error(&root_name(model, vt, &desc)))
}

/// Converts a component value back to a message of type `message_type`.
/// `value` is `None` exactly for empty messages (which have no WIT value).
pub fn from_val(
    model: &InterfaceModel,
    message_type: &MessageDescriptor,
    value: Option<&Val>,
) -> Result<DynamicMessage, Error> {
    let vt = model.value_type_of(message_type)?;
    whole_from_val(model, message_type, vt, value)
}

/// The request message of `method` from the guest's `request` argument
/// (`None` when the request type is empty and the function has no such
/// parameter).
pub fn request_from_val(
    model: &InterfaceModel,
    method: &MethodModel,
    value: Option<&Val>,
) -> Result<DynamicMessage, Error> {
    whole_from_val(model, &method.descriptor.input(), method.request, value)
}

/// The guest value of a response message of `method` (`None` when the
/// response type is empty).
pub fn response_to_val(
    model: &InterfaceModel,
    method: &MethodModel,
    message: &DynamicMessage,
) -> Result<Option<Val>, Error> {
    let Some(vt) = method.response else {
        return Ok(None);
    };
    to_val::whole_message(model, vt, message)
        .map(Some)
        .map_err(|e| e.into_error(&root_name(model, vt, &method.descriptor.output())))
}

/// The request value a guest would pass for `message` (`None` when the
/// request type is empty), e.g. to show or replay a recorded call.
pub fn request_to_val(
    model: &InterfaceModel,
    method: &MethodModel,
    message: &DynamicMessage,
) -> Result<Option<Val>, Error> {
    let Some(vt) = method.request else {
        return Ok(None);
    };
    to_val::whole_message(model, vt, message)
        .map(Some)
        .map_err(|e| e.into_error(&root_name(model, vt, &method.descriptor.input())))
}

/// A response message of `method` from its guest value (`None` when the
/// response type is empty), e.g. to re-encode a recorded result.
pub fn response_from_val(
    model: &InterfaceModel,
    method: &MethodModel,
    value: Option<&Val>,
) -> Result<DynamicMessage, Error> {
    whole_from_val(model, &method.descriptor.output(), method.response, value)
}

/// Encodes a guest value of message type `message_type` straight to
/// protobuf bytes (no `DynamicMessage` in between): the same message as
/// [`from_val`] then encoding, the same errors, and deterministic bytes
/// (map entries sorted by key). `value` is `None` exactly for empty messages.
pub fn val_to_bytes(
    model: &InterfaceModel,
    message_type: &MessageDescriptor,
    value: Option<&Val>,
) -> Result<Vec<u8>, Error> {
    let vt = model.value_type_of(message_type)?;
    bytes_of(model, message_type, vt, value)
}

/// Decodes protobuf bytes of `message_type` straight to the guest value:
/// the same value as decoding to a `DynamicMessage` and calling [`to_val`]
/// (rare inputs, such as a repeated occurrence of a singular message field
/// that protobuf merges, take exactly that path). `None` for empty messages.
pub fn bytes_to_val(
    model: &InterfaceModel,
    message_type: &MessageDescriptor,
    bytes: &[u8],
) -> Result<Option<Val>, Error> {
    let vt = model.value_type_of(message_type)?;
    val_of(model, message_type, vt, bytes)
}

/// [`val_to_bytes`] for the request of `method`.
pub fn request_val_to_bytes(
    model: &InterfaceModel,
    method: &MethodModel,
    value: Option<&Val>,
) -> Result<Vec<u8>, Error> {
    bytes_of(model, &method.descriptor.input(), method.request, value)
}

/// [`bytes_to_val`] for the response of `method`.
pub fn response_bytes_to_val(
    model: &InterfaceModel,
    method: &MethodModel,
    bytes: &[u8],
) -> Result<Option<Val>, Error> {
    val_of(model, &method.descriptor.output(), method.response, bytes)
}

fn bytes_of(
    model: &InterfaceModel,
    desc: &MessageDescriptor,
    vt: Option<ValueType>,
    value: Option<&Val>,
) -> Result<Vec<u8>, Error> {
    match (vt, value) {
        (Some(vt), Some(v)) => {
            let mut buf = Vec::with_capacity(256);
            val_encode::encode_whole(model, vt, v, &mut buf)
                .map_err(|e| e.into_error(&root_name(model, vt, desc)))?;
            Ok(buf)
        }
        (None, None) => Ok(Vec::new()),
        _ => whole_from_val(model, desc, vt, value).map(|m| canonical_encode(&m)),
    }
}

fn val_of(
    model: &InterfaceModel,
    desc: &MessageDescriptor,
    vt: Option<ValueType>,
    bytes: &[u8],
) -> Result<Option<Val>, Error> {
    let undecodable = |e: prost::DecodeError| Error::InvalidValue {
        path: desc.full_name().to_owned(),
        reason: format!("not a valid protobuf encoding: {e}"),
    };
    let Some(vt) = vt else {
        DynamicMessage::decode(desc.clone(), bytes).map_err(undecodable)?;
        return Ok(None);
    };
    match val_decode::decode_whole(model, vt, bytes) {
        Ok(v) => Ok(Some(v)),
        Err(wire::Irregular) => {
            let msg = DynamicMessage::decode(desc.clone(), bytes).map_err(undecodable)?;
            to_val::whole_message(model, vt, &msg)
                .map(Some)
                .map_err(|e| e.into_error(&root_name(model, vt, desc)))
        }
    }
}

fn whole_from_val(
    model: &InterfaceModel,
    desc: &MessageDescriptor,
    vt: Option<ValueType>,
    value: Option<&Val>,
) -> Result<DynamicMessage, Error> {
    let root = || match vt {
        Some(vt) => root_name(model, vt, desc),
        None => desc.full_name().to_owned(),
    };
    match (vt, value) {
        (None, None) => Ok(DynamicMessage::new(desc.clone())),
        (None, Some(v)) => Err(BridgeError::mismatch(
            "no value (the message type has no fields)",
            v,
        )
        .into_error(&root())),
        (Some(_), None) => Err(Error::ValueMismatch {
            path: root(),
            expected: format!("a value of `{}`", desc.full_name()),
            found: "nothing".to_owned(),
        }),
        (Some(vt), Some(v)) => {
            let kind = Kind::Message(desc.clone());
            match from_val::value(model, vt, &kind, v) {
                Ok(prost_reflect::Value::Message(m)) => Ok(m),
                Ok(_) => Err(Error::InvalidValue {
                    path: root(),
                    reason: "internal: a message type converted to a non-message value".to_owned(),
                }),
                Err(e) => Err(e.into_error(&root())),
            }
        }
    }
}

/// The root segment of error paths: the record's WIT name, or the proto name
/// for well-known types.
fn root_name(model: &InterfaceModel, vt: ValueType, desc: &MessageDescriptor) -> String {
    match vt {
        ValueType::Message(id) => model.message(id).wit_name.clone(),
        _ => desc.full_name().to_owned(),
    }
}

/// An error found while converting, with the path collected on the way out.
/// Boxed, so that `Result`s on the conversion paths stay small.
#[derive(Debug)]
pub(crate) struct BridgeError(Box<BridgeErrorInner>);

#[derive(Debug)]
struct BridgeErrorInner {
    /// Innermost segment first.
    path: Vec<String>,
    kind: BridgeErrorKind,
}

#[derive(Debug)]
enum BridgeErrorKind {
    Mismatch { expected: String, found: String },
    UnknownEnumNumber { enum_name: String, number: i32 },
    UnknownEnumCase { enum_name: String, case: String },
    Invalid(String),
}

impl BridgeError {
    pub(crate) fn mismatch(expected: impl Into<String>, found: &Val) -> Self {
        Self::new(BridgeErrorKind::Mismatch {
            expected: expected.into(),
            found: describe_val(found),
        })
    }

    pub(crate) fn proto_mismatch(
        expected: impl Into<String>,
        found: &prost_reflect::Value,
    ) -> Self {
        Self::new(BridgeErrorKind::Mismatch {
            expected: expected.into(),
            found: format!("protobuf value {found:?}"),
        })
    }

    pub(crate) fn unknown_number(enum_name: &str, number: i32) -> Self {
        Self::new(BridgeErrorKind::UnknownEnumNumber {
            enum_name: enum_name.to_owned(),
            number,
        })
    }

    pub(crate) fn unknown_case(enum_name: &str, case: &str) -> Self {
        Self::new(BridgeErrorKind::UnknownEnumCase {
            enum_name: enum_name.to_owned(),
            case: case.to_owned(),
        })
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Self::new(BridgeErrorKind::Invalid(reason.into()))
    }

    fn new(kind: BridgeErrorKind) -> Self {
        Self(Box::new(BridgeErrorInner {
            path: Vec::new(),
            kind,
        }))
    }

    /// Adds the enclosing segment: a field name, or `[i]` for an element.
    pub(crate) fn at(mut self, segment: impl Into<String>) -> Self {
        self.0.path.push(segment.into());
        self
    }

    pub(crate) fn into_error(self, root: &str) -> Error {
        let inner = *self.0;
        let mut path = root.to_owned();
        for segment in inner.path.iter().rev() {
            if !segment.starts_with('[') {
                path.push('.');
            }
            path.push_str(segment);
        }
        match inner.kind {
            BridgeErrorKind::Mismatch { expected, found } => Error::ValueMismatch {
                path,
                expected,
                found,
            },
            BridgeErrorKind::UnknownEnumNumber { enum_name, number } => Error::UnknownEnumNumber {
                path,
                enum_name,
                number,
            },
            BridgeErrorKind::UnknownEnumCase { enum_name, case } => Error::UnknownEnumCase {
                path,
                enum_name,
                case,
            },
            BridgeErrorKind::Invalid(reason) => Error::InvalidValue { path, reason },
        }
    }
}

/// A short description of a value, for error messages.
pub(crate) fn describe_val(v: &Val) -> String {
    match v {
        Val::Bool(b) => format!("bool {b}"),
        Val::S8(x) => format!("s8 {x}"),
        Val::U8(x) => format!("u8 {x}"),
        Val::S16(x) => format!("s16 {x}"),
        Val::U16(x) => format!("u16 {x}"),
        Val::S32(x) => format!("s32 {x}"),
        Val::U32(x) => format!("u32 {x}"),
        Val::S64(x) => format!("s64 {x}"),
        Val::U64(x) => format!("u64 {x}"),
        Val::Float32(x) => format!("f32 {x}"),
        Val::Float64(x) => format!("f64 {x}"),
        Val::Char(c) => format!("char {c:?}"),
        Val::String(_) => "a string".to_owned(),
        Val::List(items) => format!("a list of {} items", items.len()),
        Val::Map(items) => format!("a map of {} entries", items.len()),
        Val::Record(fields) => {
            let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
            format!("a record {{{}}}", names.join(", "))
        }
        Val::Tuple(items) => format!("a tuple of {} items", items.len()),
        Val::Variant(case, _) => format!("variant case `{case}`"),
        Val::Enum(case) => format!("enum case `{case}`"),
        Val::Option(Some(_)) => "some(..)".to_owned(),
        Val::Option(None) => "none".to_owned(),
        Val::Result(Ok(_)) => "ok(..)".to_owned(),
        Val::Result(Err(_)) => "err(..)".to_owned(),
        Val::Flags(_) => "flags".to_owned(),
        Val::Resource(_) => "a resource".to_owned(),
        Val::Future(_) => "a future".to_owned(),
        Val::Stream(_) => "a stream".to_owned(),
        Val::ErrorContext(_) => "an error-context".to_owned(),
        Val::FixedLengthList(items) => format!("a fixed-length list of {} items", items.len()),
    }
}
