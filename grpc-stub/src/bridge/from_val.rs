//! `Val` -> `DynamicMessage`, following the model's mappings.
//!
//! Messages are always built with the model's descriptors. Implicit-presence
//! fields holding their default are left unset, so the result encodes
//! canonically.

use std::collections::HashMap;

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value};
use wasmtime::component::Val;

use super::support::{MAX_EMPTY_COUNT, any_from_val, seconds_nanos_from_val};
use super::{BridgeError, json};
use crate::model::{
    CaseModel, FieldMapping, InterfaceModel, MemberModel, MessageId, OneofModel, Scalar, ValueType,
    WellKnown,
};

type Result<T> = std::result::Result<T, BridgeError>;

/// One value of type `vt`; `kind` is the protobuf kind of the field (or of
/// the element, for lists and map values) and gives message descriptors.
pub(crate) fn value(model: &InterfaceModel, vt: ValueType, kind: &Kind, v: &Val) -> Result<Value> {
    match vt {
        ValueType::Scalar(s) => scalar(s, v),
        ValueType::Enum(id) => {
            let e = model.enum_model(id);
            let Val::Enum(case) = v else {
                return Err(BridgeError::mismatch(format!("enum `{}`", e.wit_name), v));
            };
            e.case_by_wit_name(case)
                .map(|c| Value::EnumNumber(c.number))
                .ok_or_else(|| BridgeError::unknown_case(e.full_name(), case))
        }
        ValueType::Message(id) => record(model, id, v).map(Value::Message),
        ValueType::RecursionBreak(id) => {
            let bytes = bytes(v)?;
            let desc = model.message(id).descriptor.clone();
            DynamicMessage::decode(desc, bytes.as_slice())
                .map(Value::Message)
                .map_err(|e| {
                    BridgeError::invalid(format!(
                        "the bytes are not a valid protobuf encoding of `{}`: {e}",
                        model.message(id).full_name()
                    ))
                })
        }
        ValueType::WellKnown(wk) => {
            let Kind::Message(desc) = kind else {
                return Err(BridgeError::invalid(
                    "internal: a well-known type mapping on a non-message field",
                ));
            };
            well_known(wk, desc, v).map(Value::Message)
        }
    }
}

fn scalar(s: Scalar, v: &Val) -> Result<Value> {
    Ok(match (s, v) {
        (Scalar::Bool, Val::Bool(b)) => Value::Bool(*b),
        (Scalar::S32, Val::S32(x)) => Value::I32(*x),
        (Scalar::S64, Val::S64(x)) => Value::I64(*x),
        (Scalar::U32, Val::U32(x)) => Value::U32(*x),
        (Scalar::U64, Val::U64(x)) => Value::U64(*x),
        (Scalar::F32, Val::Float32(x)) => Value::F32(*x),
        (Scalar::F64, Val::Float64(x)) => Value::F64(*x),
        (Scalar::String, Val::String(x)) => Value::String(x.clone()),
        (Scalar::Bytes, _) => Value::Bytes(bytes(v)?.into()),
        _ => return Err(BridgeError::mismatch(s.wit(), v)),
    })
}

/// A `list<u8>`.
pub(crate) fn bytes(v: &Val) -> Result<Vec<u8>> {
    let Val::List(items) = v else {
        return Err(BridgeError::mismatch("list<u8>", v));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Val::U8(b) => Ok(*b),
            other => Err(BridgeError::mismatch("u8", other).at(format!("[{i}]"))),
        })
        .collect()
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

/// A record of message `id`.
fn record(model: &InterfaceModel, id: MessageId, v: &Val) -> Result<DynamicMessage> {
    let m = model.message(id);
    let Val::Record(fields) = v else {
        return Err(BridgeError::mismatch(format!("record `{}`", m.wit_name), v));
    };
    let mut msg = DynamicMessage::new(m.descriptor.clone());
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
            MemberModel::Field(f) => {
                field(model, f.mapping, &f.descriptor, fv, &mut msg).map_err(|e| e.at(name))?
            }
            MemberModel::Oneof(o) => oneof(model, o, fv, &mut msg).map_err(|e| e.at(name))?,
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
    Ok(msg)
}

/// Whether `value` is the kind's default, comparing floats by bits (so a
/// `-0.0` is kept in the message rather than turned into `0.0`).
fn is_default_bits(value: &Value, kind: &Kind) -> bool {
    match value {
        Value::F32(x) => x.to_bits() == 0,
        Value::F64(x) => x.to_bits() == 0,
        other => other.is_default(kind),
    }
}

fn set(msg: &mut DynamicMessage, fd: &FieldDescriptor, value: Value) -> Result<()> {
    msg.try_set_field(fd, value)
        .map_err(|e| BridgeError::invalid(format!("internal: {e}")))
}

fn empty_message(fd: &FieldDescriptor, kind: &Kind) -> Result<Value> {
    match kind {
        Kind::Message(desc) => Ok(Value::Message(DynamicMessage::new(desc.clone()))),
        _ => Err(BridgeError::invalid(format!(
            "internal: field `{}` maps as an empty message but is not a message",
            fd.full_name()
        ))),
    }
}

/// The entry kinds of a map field.
fn map_kinds(fd: &FieldDescriptor) -> Result<(Kind, Kind)> {
    match fd.kind() {
        Kind::Message(entry) if entry.is_map_entry() => Ok((
            entry.map_entry_key_field().kind(),
            entry.map_entry_value_field().kind(),
        )),
        _ => Err(BridgeError::invalid(
            "internal: a map mapping on a non-map field",
        )),
    }
}

fn field(
    model: &InterfaceModel,
    mapping: FieldMapping,
    fd: &FieldDescriptor,
    v: &Val,
    msg: &mut DynamicMessage,
) -> Result<()> {
    let kind = fd.kind();
    match mapping {
        FieldMapping::Plain(vt) => {
            let value = value(model, vt, &kind, v)?;
            if fd.supports_presence() || !is_default_bits(&value, &kind) {
                set(msg, fd, value)?;
            }
        }
        FieldMapping::Optional(vt) => match v {
            Val::Option(None) => {}
            Val::Option(Some(inner)) => set(msg, fd, value(model, vt, &kind, inner)?)?,
            other => return Err(BridgeError::mismatch("option<..>", other)),
        },
        FieldMapping::List(vt) => {
            let Val::List(items) = v else {
                return Err(BridgeError::mismatch("list<..>", v));
            };
            if !items.is_empty() {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(value(model, vt, &kind, item).map_err(|e| e.at(format!("[{i}]")))?);
                }
                set(msg, fd, Value::List(out))?;
            }
        }
        FieldMapping::Map { key, value: vt } => {
            let (_, value_kind) = map_kinds(fd)?;
            let Val::List(items) = v else {
                return Err(BridgeError::mismatch("list<tuple<K, V>>", v));
            };
            let mut map = HashMap::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let at = |e: BridgeError| e.at(format!("[{i}]"));
                let (k, val) = match item {
                    Val::Tuple(kv) if kv.len() == 2 => (&kv[0], &kv[1]),
                    other => return Err(at(BridgeError::mismatch("tuple<K, V>", other))),
                };
                let k = map_key(key, k).map_err(at)?;
                let val = value(model, vt, &value_kind, val).map_err(at)?;
                if map.insert(k.clone(), val).is_some() {
                    return Err(at(BridgeError::invalid(format!("duplicate map key {k:?}"))));
                }
            }
            if !map.is_empty() {
                set(msg, fd, Value::Map(map))?;
            }
        }
        FieldMapping::EmptyPresence => match v {
            Val::Bool(true) => set(msg, fd, empty_message(fd, &kind)?)?,
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
            if *n > 0 {
                let item = empty_message(fd, &kind)?;
                set(msg, fd, Value::List(vec![item; *n as usize]))?;
            }
        }
        FieldMapping::EmptyMapKeys { key } => {
            let (_, value_kind) = map_kinds(fd)?;
            let Val::List(items) = v else {
                return Err(BridgeError::mismatch("list<K>", v));
            };
            let mut map = HashMap::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let k = map_key(key, item).map_err(|e| e.at(format!("[{i}]")))?;
                if map
                    .insert(k.clone(), empty_message(fd, &value_kind)?)
                    .is_some()
                {
                    return Err(BridgeError::invalid(format!("duplicate map key {k:?}"))
                        .at(format!("[{i}]")));
                }
            }
            if !map.is_empty() {
                set(msg, fd, Value::Map(map))?;
            }
        }
    }
    Ok(())
}

fn oneof(model: &InterfaceModel, o: &OneofModel, v: &Val, msg: &mut DynamicMessage) -> Result<()> {
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
    let case: &CaseModel = o
        .cases
        .iter()
        .find(|c| &c.wit_name == case_name)
        .ok_or_else(|| {
            BridgeError::invalid(format!(
                "variant `{}` has no case `{case_name}`",
                o.type_name
            ))
        })?;
    let fd = &case.descriptor;
    let kind = fd.kind();
    let value = match (case.payload, payload) {
        (None, None) => empty_message(fd, &kind)?,
        (Some(vt), Some(p)) => value(model, vt, &kind, p).map_err(|e| e.at(case_name.clone()))?,
        (None, Some(p)) => {
            return Err(BridgeError::mismatch("no payload", p).at(case_name.clone()));
        }
        (Some(_), None) => {
            return Err(BridgeError::invalid(format!(
                "case `{case_name}` needs a payload"
            )));
        }
    };
    set(msg, fd, value)
}

fn well_known(wk: WellKnown, desc: &MessageDescriptor, v: &Val) -> Result<DynamicMessage> {
    let mut msg = DynamicMessage::new(desc.clone());
    let put = |msg: &mut DynamicMessage, number: u32, value: Value| -> Result<()> {
        let fd = desc.get_field(number).ok_or_else(|| {
            BridgeError::invalid(format!("`{}` has no field {number}", desc.full_name()))
        })?;
        let default = match &value {
            Value::List(items) => items.is_empty(),
            other => is_default_bits(other, &fd.kind()),
        };
        if !default {
            set(msg, &fd, value)?;
        }
        Ok(())
    };
    match wk {
        WellKnown::Timestamp | WellKnown::Duration => {
            let (seconds, nanos) = seconds_nanos_from_val(v)?;
            put(&mut msg, 1, Value::I64(seconds))?;
            put(&mut msg, 2, Value::I32(nanos))?;
        }
        WellKnown::Any => {
            let (type_url, value) = any_from_val(v)?;
            put(&mut msg, 1, Value::String(type_url))?;
            put(&mut msg, 2, Value::Bytes(value.into()))?;
        }
        WellKnown::FieldMask => {
            let Val::List(items) = v else {
                return Err(BridgeError::mismatch("list<string>", v));
            };
            let paths = items
                .iter()
                .enumerate()
                .map(|(i, p)| match p {
                    Val::String(s) => Ok(Value::String(s.clone())),
                    other => Err(BridgeError::mismatch("string", other).at(format!("[{i}]"))),
                })
                .collect::<Result<Vec<_>>>()?;
            put(&mut msg, 1, Value::List(paths))?;
        }
        WellKnown::Struct | WellKnown::Value | WellKnown::ListValue => {
            let Val::String(text) = v else {
                return Err(BridgeError::mismatch("string (proto JSON)", v));
            };
            return json::from_json(desc, text);
        }
        WellKnown::Wrapper(s) => put(&mut msg, 1, scalar(s, v)?)?,
    }
    Ok(msg)
}
