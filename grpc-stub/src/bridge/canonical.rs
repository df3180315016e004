//! Deterministic protobuf encoding of a `DynamicMessage`.
//!
//! `DynamicMessage::encode` writes map entries in hash-map order, which
//! differs between two equal messages. Bytes the host shows a guest
//! (recursion breaks) or hashes for replay must not depend on that, so this
//! encoder writes fields, extensions and unknown fields in field-number
//! order and map entries sorted by key (key and value always written).
//! The output is a valid encoding of the same message; unlike
//! `DynamicMessage::encode`, it keeps a float field of `-0.0`.

use std::borrow::Cow;

use prost::encoding::{self, WireType, encode_key, encode_varint};
use prost_reflect::{DynamicMessage, Kind, MapKey, ReflectMessage, Value};

/// One thing to write, at a field number.
enum Part<'a> {
    Field {
        kind: Kind,
        packed: bool,
        group: bool,
        value: Cow<'a, Value>,
    },
    Unknown(&'a prost_reflect::UnknownField),
}

/// The canonical encoding of `message`.
pub fn canonical_encode(message: &DynamicMessage) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_message(message, &mut buf);
    buf
}

fn encode_message(message: &DynamicMessage, buf: &mut Vec<u8>) {
    let mut parts: Vec<(u32, Part<'_>)> = Vec::new();
    for (fd, value) in message.fields() {
        if message.has_field(&fd) {
            parts.push((
                fd.number(),
                Part::Field {
                    kind: fd.kind(),
                    packed: fd.is_packed(),
                    group: fd.is_group(),
                    value: Cow::Borrowed(value),
                },
            ));
        }
    }
    // prost-reflect takes a float field of -0.0 for its default (they
    // compare equal) and leaves it out; proto3 leaves out only +0.0.
    for fd in message.descriptor().fields() {
        if !fd.supports_presence()
            && !fd.is_list()
            && !fd.is_map()
            && let Cow::Borrowed(value @ (Value::F64(_) | Value::F32(_))) = message.get_field(&fd)
            && is_negative_zero(value)
        {
            parts.push((
                fd.number(),
                Part::Field {
                    kind: fd.kind(),
                    packed: false,
                    group: false,
                    value: Cow::Borrowed(value),
                },
            ));
        }
    }
    for (ext, value) in message.extensions() {
        parts.push((
            ext.number(),
            Part::Field {
                kind: ext.kind(),
                packed: ext.is_packed(),
                group: ext.is_group(),
                value: Cow::Borrowed(value),
            },
        ));
    }
    for unknown in message.unknown_fields() {
        parts.push((unknown.number(), Part::Unknown(unknown)));
    }
    parts.sort_by_key(|(n, _)| *n);
    for (number, part) in parts {
        match part {
            Part::Field {
                kind,
                packed,
                group,
                value,
            } => encode_field(number, &kind, packed, group, &value, buf),
            Part::Unknown(u) => u.encode(buf),
        }
    }
}

/// `-0.0` (as `f64` or `f32`).
fn is_negative_zero(value: &Value) -> bool {
    match value {
        Value::F64(x) => *x == 0.0 && x.is_sign_negative(),
        Value::F32(x) => *x == 0.0 && x.is_sign_negative(),
        _ => false,
    }
}

fn encode_field(
    number: u32,
    kind: &Kind,
    packed: bool,
    group: bool,
    value: &Value,
    buf: &mut Vec<u8>,
) {
    match value {
        Value::List(items) => {
            if packed && encode_packed(number, kind, items, buf) {
                return;
            }
            for item in items {
                encode_single(number, kind, group, item, buf);
            }
        }
        Value::Map(map) => {
            let Kind::Message(entry) = kind else {
                return;
            };
            let key_kind = entry.map_entry_key_field().kind();
            let value_field = entry.map_entry_value_field();
            let value_kind = value_field.kind();
            let mut entries: Vec<(&MapKey, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (k, v) in entries {
                let mut inner = Vec::new();
                encode_single(1, &key_kind, false, &map_key_value(k), &mut inner);
                encode_single(2, &value_kind, value_field.is_group(), v, &mut inner);
                encode_key(number, WireType::LengthDelimited, buf);
                encode_varint(inner.len() as u64, buf);
                buf.extend_from_slice(&inner);
            }
        }
        single => encode_single(number, kind, group, single, buf),
    }
}

fn map_key_value(k: &MapKey) -> Value {
    match k {
        MapKey::Bool(b) => Value::Bool(*b),
        MapKey::I32(x) => Value::I32(*x),
        MapKey::I64(x) => Value::I64(*x),
        MapKey::U32(x) => Value::U32(*x),
        MapKey::U64(x) => Value::U64(*x),
        MapKey::String(s) => Value::String(s.clone()),
    }
}

/// Writes a packed repeated field; false if `kind` is not packable.
fn encode_packed(number: u32, kind: &Kind, items: &[Value], buf: &mut Vec<u8>) -> bool {
    macro_rules! packed {
        ($module:ident, $as:ident) => {{
            let values: Vec<_> = items.iter().filter_map(Value::$as).collect();
            encoding::$module::encode_packed(number, &values, buf);
        }};
    }
    match kind {
        Kind::Double => packed!(double, as_f64),
        Kind::Float => packed!(float, as_f32),
        Kind::Int32 => packed!(int32, as_i32),
        Kind::Int64 => packed!(int64, as_i64),
        Kind::Uint32 => packed!(uint32, as_u32),
        Kind::Uint64 => packed!(uint64, as_u64),
        Kind::Sint32 => packed!(sint32, as_i32),
        Kind::Sint64 => packed!(sint64, as_i64),
        Kind::Fixed32 => packed!(fixed32, as_u32),
        Kind::Fixed64 => packed!(fixed64, as_u64),
        Kind::Sfixed32 => packed!(sfixed32, as_i32),
        Kind::Sfixed64 => packed!(sfixed64, as_i64),
        Kind::Bool => packed!(bool, as_bool),
        Kind::Enum(_) => packed!(int32, as_enum_number),
        Kind::String | Kind::Bytes | Kind::Message(_) => return false,
    }
    true
}

fn encode_single(number: u32, kind: &Kind, group: bool, value: &Value, buf: &mut Vec<u8>) {
    match (kind, value) {
        (Kind::Double, Value::F64(x)) => encoding::double::encode(number, x, buf),
        (Kind::Float, Value::F32(x)) => encoding::float::encode(number, x, buf),
        (Kind::Int32, Value::I32(x)) => encoding::int32::encode(number, x, buf),
        (Kind::Int64, Value::I64(x)) => encoding::int64::encode(number, x, buf),
        (Kind::Uint32, Value::U32(x)) => encoding::uint32::encode(number, x, buf),
        (Kind::Uint64, Value::U64(x)) => encoding::uint64::encode(number, x, buf),
        (Kind::Sint32, Value::I32(x)) => encoding::sint32::encode(number, x, buf),
        (Kind::Sint64, Value::I64(x)) => encoding::sint64::encode(number, x, buf),
        (Kind::Fixed32, Value::U32(x)) => encoding::fixed32::encode(number, x, buf),
        (Kind::Fixed64, Value::U64(x)) => encoding::fixed64::encode(number, x, buf),
        (Kind::Sfixed32, Value::I32(x)) => encoding::sfixed32::encode(number, x, buf),
        (Kind::Sfixed64, Value::I64(x)) => encoding::sfixed64::encode(number, x, buf),
        (Kind::Bool, Value::Bool(x)) => encoding::bool::encode(number, x, buf),
        (Kind::String, Value::String(x)) => encoding::string::encode(number, x, buf),
        (Kind::Bytes, Value::Bytes(x)) => encoding::bytes::encode(number, x, buf),
        (Kind::Enum(_), Value::EnumNumber(x)) => encoding::int32::encode(number, x, buf),
        (Kind::Message(_), Value::Message(m)) => {
            if group {
                encode_key(number, WireType::StartGroup, buf);
                encode_message(m, buf);
                encode_key(number, WireType::EndGroup, buf);
            } else {
                let mut inner = Vec::new();
                encode_message(m, &mut inner);
                encode_key(number, WireType::LengthDelimited, buf);
                encode_varint(inner.len() as u64, buf);
                buf.extend_from_slice(&inner);
            }
        }
        // A value that does not match its descriptor cannot come from a
        // decoded or validated message; writing nothing keeps this total.
        _ => {}
    }
}
