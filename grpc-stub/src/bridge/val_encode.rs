//! `Val` -> protobuf bytes directly, following the model (no
//! `DynamicMessage` in between).
//!
//! Gives the same message as [`super::from_val`] followed by encoding, with
//! the same errors, and is deterministic: implicit-presence defaults are
//! left out, map entries are sorted by key, members are written in record
//! order (field-number order, a oneof at its lowest number).

use prost_reflect::{DynamicMessage, MapKey};
use wasmtime::component::Val;

use super::canonical::canonical_encode;
use super::from_val::bytes;
use super::support::{MAX_EMPTY_COUNT, any_from_val, seconds_nanos_from_val};
use super::wire::{
    EGROUP, I32, I64, LEN, SGROUP, VARINT, put_key, put_nested, put_varint, zigzag32, zigzag64,
};
use super::{BridgeError, json};
use crate::model::{
    FieldMapping, FieldModel, InterfaceModel, MemberModel, MessageId, OneofModel, Scalar,
    ValueType, WellKnown, WireKind,
};

type Result<T> = std::result::Result<T, BridgeError>;

/// Writes the body of a whole message of type `vt` (no key, no length).
pub(crate) fn encode_whole(
    model: &InterfaceModel,
    vt: ValueType,
    v: &Val,
    buf: &mut Vec<u8>,
) -> Result<()> {
    match vt {
        ValueType::Message(id) => encode_record(model, id, v, buf),
        ValueType::WellKnown(wk) => encode_well_known(model, wk, v, buf),
        ValueType::RecursionBreak(_) | ValueType::Scalar(_) | ValueType::Enum(_) => Err(
            BridgeError::invalid("internal: a whole message cannot have this mapping"),
        ),
    }
}

fn encode_record(model: &InterfaceModel, id: MessageId, v: &Val, buf: &mut Vec<u8>) -> Result<()> {
    let m = model.message(id);
    let Val::Record(fields) = v else {
        return Err(BridgeError::mismatch(format!("record `{}`", m.wit_name), v));
    };
    for (i, member) in m.members.iter().enumerate() {
        let name = member.wit_name();
        let found = match fields.get(i) {
            Some((n, v)) if n == name => Some(v),
            _ => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
        };
        let Some(fv) = found else {
            return Err(BridgeError::invalid(format!(
                "record `{}` lacks field `{name}`",
                m.wit_name
            )));
        };
        match member {
            MemberModel::Field(f) => encode_field(model, f, fv, buf).map_err(|e| e.at(name))?,
            MemberModel::Oneof(o) => encode_oneof(model, o, fv, buf).map_err(|e| e.at(name))?,
        }
    }
    if fields.len() != m.members.len() {
        let unknown = fields
            .iter()
            .find(|(n, _)| !m.members.iter().any(|mm| mm.wit_name() == n))
            .map(|(n, _)| n.clone());
        return Err(BridgeError::invalid(match unknown {
            Some(n) => format!("record `{}` has no field `{n}`", m.wit_name),
            None => format!("record `{}` has a field more than once", m.wit_name),
        }));
    }
    Ok(())
}

/// Whether an implicit-presence value is its default (then it is not written).
fn is_default(model: &InterfaceModel, vt: ValueType, v: &Val) -> bool {
    match (vt, v) {
        (ValueType::Scalar(_), Val::Bool(b)) => !*b,
        (ValueType::Scalar(_), Val::S32(x)) => *x == 0,
        (ValueType::Scalar(_), Val::S64(x)) => *x == 0,
        (ValueType::Scalar(_), Val::U32(x)) => *x == 0,
        (ValueType::Scalar(_), Val::U64(x)) => *x == 0,
        (ValueType::Scalar(_), Val::Float32(x)) => x.to_bits() == 0,
        (ValueType::Scalar(_), Val::Float64(x)) => x.to_bits() == 0,
        (ValueType::Scalar(_), Val::String(s)) => s.is_empty(),
        (ValueType::Scalar(Scalar::Bytes), Val::List(items)) => items.is_empty(),
        (ValueType::Enum(id), Val::Enum(case)) => model
            .enum_model(id)
            .case_by_wit_name(case)
            .is_some_and(|c| c.number == 0),
        _ => false,
    }
}

fn encode_field(model: &InterfaceModel, f: &FieldModel, v: &Val, buf: &mut Vec<u8>) -> Result<()> {
    let number = f.descriptor.number();
    match f.mapping {
        FieldMapping::Plain(vt) => {
            // Written (which checks the value) and dropped again when it is
            // an implicit-presence default.
            let mark = buf.len();
            write_value(model, number, f.wire, vt, v, buf)?;
            if !f.has_presence && is_default(model, vt, v) {
                buf.truncate(mark);
            }
        }
        FieldMapping::Optional(vt) => match v {
            Val::Option(None) => {}
            Val::Option(Some(inner)) => write_value(model, number, f.wire, vt, inner, buf)?,
            other => return Err(BridgeError::mismatch("option<..>", other)),
        },
        FieldMapping::List(vt) => {
            let Val::List(items) = v else {
                return Err(BridgeError::mismatch("list<..>", v));
            };
            if f.packed
                && f.wire.packable()
                && matches!(vt, ValueType::Scalar(_) | ValueType::Enum(_))
            {
                if !items.is_empty() {
                    put_key(buf, number, LEN);
                    put_nested(buf, |b| {
                        for (i, item) in items.iter().enumerate() {
                            write_scalar(model, f.wire, vt, item, b)
                                .map_err(|e| e.at(format!("[{i}]")))?;
                        }
                        Ok(())
                    })?;
                }
            } else {
                for (i, item) in items.iter().enumerate() {
                    write_value(model, number, f.wire, vt, item, buf)
                        .map_err(|e| e.at(format!("[{i}]")))?;
                }
            }
        }
        FieldMapping::Map { key, value: vt } => {
            let (kw, vw) = f
                .map_wire
                .ok_or_else(|| BridgeError::invalid("internal: a map field without entry kinds"))?;
            let Val::List(items) = v else {
                return Err(BridgeError::mismatch("list<tuple<K, V>>", v));
            };
            let mut entries = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let at = |e: BridgeError| e.at(format!("[{i}]"));
                let (k, val) = match item {
                    Val::Tuple(kv) if kv.len() == 2 => (&kv[0], &kv[1]),
                    other => return Err(at(BridgeError::mismatch("tuple<K, V>", other))),
                };
                entries.push((map_key(key, k).map_err(at)?, i, k, val));
            }
            sort_unique(&mut entries)?;
            for (_, i, k, val) in entries {
                put_key(buf, number, LEN);
                put_nested(buf, |b| {
                    write_value(model, 1, kw, ValueType::Scalar(key), k, b)?;
                    write_value(model, 2, vw, vt, val, b)
                })
                .map_err(|e| e.at(format!("[{i}]")))?;
            }
        }
        FieldMapping::EmptyPresence => match v {
            Val::Bool(true) => put_empty(buf, number, f.wire),
            Val::Bool(false) => {}
            other => return Err(BridgeError::mismatch("bool", other)),
        },
        FieldMapping::EmptyCount => {
            let Val::U32(n) = v else {
                return Err(BridgeError::mismatch("u32", v));
            };
            if *n > MAX_EMPTY_COUNT {
                return Err(BridgeError::invalid(format!(
                    "{n} empty elements exceed the limit of {MAX_EMPTY_COUNT}"
                )));
            }
            for _ in 0..*n {
                put_empty(buf, number, f.wire);
            }
        }
        FieldMapping::EmptyMapKeys { key } => {
            let (kw, _) = f
                .map_wire
                .ok_or_else(|| BridgeError::invalid("internal: a map field without entry kinds"))?;
            let Val::List(items) = v else {
                return Err(BridgeError::mismatch("list<K>", v));
            };
            let mut entries = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                entries.push((
                    map_key(key, item).map_err(|e| e.at(format!("[{i}]")))?,
                    i,
                    item,
                    item,
                ));
            }
            sort_unique(&mut entries)?;
            for (_, _, k, _) in entries {
                put_key(buf, number, LEN);
                put_nested(buf, |b| {
                    write_value(model, 1, kw, ValueType::Scalar(key), k, b)?;
                    put_key(b, 2, LEN);
                    b.push(0);
                    Ok(())
                })?;
            }
        }
    }
    Ok(())
}

/// Sorts map entries by key; a repeated key is an error naming its position.
fn sort_unique<T>(entries: &mut [(MapKey, usize, T, T)]) -> Result<()> {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for pair in entries.windows(2) {
        if pair[0].0 == pair[1].0 {
            let i = pair[0].1.max(pair[1].1);
            return Err(
                BridgeError::invalid(format!("duplicate map key {:?}", pair[1].0))
                    .at(format!("[{i}]")),
            );
        }
    }
    Ok(())
}

fn map_key(key: Scalar, v: &Val) -> Result<MapKey> {
    Ok(match (key, v) {
        (Scalar::Bool, Val::Bool(b)) => MapKey::Bool(*b),
        (Scalar::S32, Val::S32(x)) => MapKey::I32(*x),
        (Scalar::S64, Val::S64(x)) => MapKey::I64(*x),
        (Scalar::U32, Val::U32(x)) => MapKey::U32(*x),
        (Scalar::U64, Val::U64(x)) => MapKey::U64(*x),
        (Scalar::String, Val::String(s)) => MapKey::String(s.clone()),
        _ => return Err(BridgeError::mismatch(key.wit(), v)),
    })
}

fn encode_oneof(model: &InterfaceModel, o: &OneofModel, v: &Val, buf: &mut Vec<u8>) -> Result<()> {
    let inner = match v {
        Val::Option(None) => return Ok(()),
        Val::Option(Some(inner)) => inner,
        other => {
            return Err(BridgeError::mismatch(
                format!("option<{}>", o.type_name),
                other,
            ));
        }
    };
    let Val::Variant(case_name, payload) = &**inner else {
        return Err(BridgeError::mismatch(
            format!("variant `{}`", o.type_name),
            inner,
        ));
    };
    let case = o
        .cases
        .iter()
        .find(|c| &c.wit_name == case_name)
        .ok_or_else(|| {
            BridgeError::invalid(format!(
                "variant `{}` has no case `{case_name}`",
                o.type_name
            ))
        })?;
    let number = case.descriptor.number();
    match (case.payload, payload) {
        (None, None) => {
            put_empty(buf, number, case.wire);
            Ok(())
        }
        (Some(vt), Some(p)) => {
            write_value(model, number, case.wire, vt, p, buf).map_err(|e| e.at(case_name.clone()))
        }
        (None, Some(p)) => Err(BridgeError::mismatch("no payload", p).at(case_name.clone())),
        (Some(_), None) => Err(BridgeError::invalid(format!(
            "case `{case_name}` needs a payload"
        ))),
    }
}

/// The wire kind of a wrapper's `value` field.
fn wire_of(s: Scalar) -> WireKind {
    match s {
        Scalar::Bool => WireKind::Bool,
        Scalar::S32 => WireKind::Int32,
        Scalar::S64 => WireKind::Int64,
        Scalar::U32 => WireKind::Uint32,
        Scalar::U64 => WireKind::Uint64,
        Scalar::F32 => WireKind::Float,
        Scalar::F64 => WireKind::Double,
        Scalar::String => WireKind::String,
        Scalar::Bytes => WireKind::Bytes,
    }
}

/// Writes key + value of one (non-repeated) occurrence.
fn write_value(
    model: &InterfaceModel,
    number: u32,
    wire: WireKind,
    vt: ValueType,
    v: &Val,
    buf: &mut Vec<u8>,
) -> Result<()> {
    match vt {
        ValueType::Scalar(_) | ValueType::Enum(_) => {
            let wt = match wire {
                WireKind::Double | WireKind::Fixed64 | WireKind::Sfixed64 => I64,
                WireKind::Float | WireKind::Fixed32 | WireKind::Sfixed32 => I32,
                WireKind::String | WireKind::Bytes => LEN,
                _ => VARINT,
            };
            let mark = buf.len();
            put_key(buf, number, wt);
            write_scalar(model, wire, vt, v, buf).inspect_err(|_| buf.truncate(mark))
        }
        ValueType::Message(id) => {
            if wire == WireKind::Group {
                put_key(buf, number, SGROUP);
                encode_record(model, id, v, buf)?;
                put_key(buf, number, EGROUP);
                Ok(())
            } else {
                put_key(buf, number, LEN);
                put_nested(buf, |b| encode_record(model, id, v, b))
            }
        }
        ValueType::WellKnown(wk) => {
            put_key(buf, number, LEN);
            put_nested(buf, |b| encode_well_known(model, wk, v, b))
        }
        ValueType::RecursionBreak(id) => {
            let raw = bytes(v)?;
            let desc = model.message(id).descriptor.clone();
            if let Err(e) = DynamicMessage::decode(desc, raw.as_slice()) {
                return Err(BridgeError::invalid(format!(
                    "the bytes are not a valid protobuf encoding of `{}`: {e}",
                    model.message(id).full_name()
                )));
            }
            if wire == WireKind::Group {
                put_key(buf, number, SGROUP);
                buf.extend_from_slice(&raw);
                put_key(buf, number, EGROUP);
            } else {
                put_key(buf, number, LEN);
                put_varint(buf, raw.len() as u64);
                buf.extend_from_slice(&raw);
            }
            Ok(())
        }
    }
}

/// Writes one occurrence of an empty message: a group's start and end
/// keys for a proto2 group field, else an empty length-delimited body.
fn put_empty(buf: &mut Vec<u8>, number: u32, wire: WireKind) {
    if wire == WireKind::Group {
        put_key(buf, number, SGROUP);
        put_key(buf, number, EGROUP);
    } else {
        put_key(buf, number, LEN);
        buf.push(0);
    }
}

/// Writes a scalar or enum value without its key.
fn write_scalar(
    model: &InterfaceModel,
    wire: WireKind,
    vt: ValueType,
    v: &Val,
    buf: &mut Vec<u8>,
) -> Result<()> {
    if let ValueType::Enum(id) = vt {
        let e = model.enum_model(id);
        let Val::Enum(case) = v else {
            return Err(BridgeError::mismatch(format!("enum `{}`", e.wit_name), v));
        };
        let number = e
            .case_by_wit_name(case)
            .map(|c| c.number)
            .ok_or_else(|| BridgeError::unknown_case(e.full_name(), case))?;
        put_varint(buf, number as i64 as u64);
        return Ok(());
    }
    let ValueType::Scalar(s) = vt else {
        return Err(BridgeError::invalid("internal: not a scalar"));
    };
    match (s, v) {
        (Scalar::Bool, Val::Bool(b)) => buf.push(u8::from(*b)),
        (Scalar::S32, Val::S32(x)) => match wire {
            WireKind::Sint32 => put_varint(buf, zigzag32(*x)),
            WireKind::Sfixed32 => buf.extend_from_slice(&x.to_le_bytes()),
            _ => put_varint(buf, *x as i64 as u64),
        },
        (Scalar::S64, Val::S64(x)) => match wire {
            WireKind::Sint64 => put_varint(buf, zigzag64(*x)),
            WireKind::Sfixed64 => buf.extend_from_slice(&x.to_le_bytes()),
            _ => put_varint(buf, *x as u64),
        },
        (Scalar::U32, Val::U32(x)) => match wire {
            WireKind::Fixed32 => buf.extend_from_slice(&x.to_le_bytes()),
            _ => put_varint(buf, u64::from(*x)),
        },
        (Scalar::U64, Val::U64(x)) => match wire {
            WireKind::Fixed64 => buf.extend_from_slice(&x.to_le_bytes()),
            _ => put_varint(buf, *x),
        },
        (Scalar::F32, Val::Float32(x)) => buf.extend_from_slice(&x.to_le_bytes()),
        (Scalar::F64, Val::Float64(x)) => buf.extend_from_slice(&x.to_le_bytes()),
        (Scalar::String, Val::String(x)) => {
            put_varint(buf, x.len() as u64);
            buf.extend_from_slice(x.as_bytes());
        }
        (Scalar::Bytes, Val::List(items)) => {
            put_varint(buf, items.len() as u64);
            for (i, item) in items.iter().enumerate() {
                match item {
                    Val::U8(b) => buf.push(*b),
                    other => return Err(BridgeError::mismatch("u8", other).at(format!("[{i}]"))),
                }
            }
        }
        _ => return Err(BridgeError::mismatch(s.wit(), v)),
    }
    Ok(())
}

fn encode_well_known(
    model: &InterfaceModel,
    wk: WellKnown,
    v: &Val,
    buf: &mut Vec<u8>,
) -> Result<()> {
    match wk {
        WellKnown::Timestamp | WellKnown::Duration => {
            let (seconds, nanos) = seconds_nanos_from_val(v)?;
            if seconds != 0 {
                put_key(buf, 1, VARINT);
                put_varint(buf, seconds as u64);
            }
            if nanos != 0 {
                put_key(buf, 2, VARINT);
                put_varint(buf, nanos as i64 as u64);
            }
        }
        WellKnown::Any => {
            let (type_url, value) = any_from_val(v)?;
            if !type_url.is_empty() {
                put_key(buf, 1, LEN);
                put_varint(buf, type_url.len() as u64);
                buf.extend_from_slice(type_url.as_bytes());
            }
            if !value.is_empty() {
                put_key(buf, 2, LEN);
                put_varint(buf, value.len() as u64);
                buf.extend_from_slice(&value);
            }
        }
        WellKnown::FieldMask => {
            let Val::List(items) = v else {
                return Err(BridgeError::mismatch("list<string>", v));
            };
            for (i, item) in items.iter().enumerate() {
                let Val::String(s) = item else {
                    return Err(BridgeError::mismatch("string", item).at(format!("[{i}]")));
                };
                put_key(buf, 1, LEN);
                put_varint(buf, s.len() as u64);
                buf.extend_from_slice(s.as_bytes());
            }
        }
        WellKnown::Struct | WellKnown::Value | WellKnown::ListValue => {
            let Val::String(text) = v else {
                return Err(BridgeError::mismatch("string (proto JSON)", v));
            };
            let name = match wk {
                WellKnown::Struct => "google.protobuf.Struct",
                WellKnown::Value => "google.protobuf.Value",
                _ => "google.protobuf.ListValue",
            };
            let desc = model.pool().get_message_by_name(name).ok_or_else(|| {
                BridgeError::invalid(format!("internal: `{name}` is not in the pool"))
            })?;
            buf.extend_from_slice(&canonical_encode(&json::from_json(&desc, text)?));
        }
        WellKnown::Wrapper(s) => {
            let vt = ValueType::Scalar(s);
            let mark = buf.len();
            write_value(model, 1, wire_of(s), vt, v, buf)?;
            if is_default(model, vt, v) {
                buf.truncate(mark);
            }
        }
    }
    Ok(())
}
