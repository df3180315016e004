//! `DynamicMessage` -> `Val`, following the model's mappings.

use prost_reflect::{DynamicMessage, MapKey, ReflectMessage, Value};
use wasmtime::component::Val;

use super::canonical::canonical_encode;
use super::{BridgeError, json, support};
use crate::model::{
    FieldMapping, InterfaceModel, MemberModel, MessageId, Scalar, ValueType, WellKnown,
};

type Result<T> = std::result::Result<T, BridgeError>;

/// A whole message (request, response, stream item) as the value of `vt`.
pub(crate) fn whole_message(
    model: &InterfaceModel,
    vt: ValueType,
    msg: &DynamicMessage,
) -> Result<Val> {
    message_value(model, vt, msg)
}

/// A record: one entry per member, in member order.
fn record(model: &InterfaceModel, id: MessageId, msg: &DynamicMessage) -> Result<Val> {
    let m = model.message(id);
    let mut fields = Vec::with_capacity(m.members.len());
    for member in &m.members {
        let v = match member {
            MemberModel::Field(f) => {
                field(model, f.mapping, &f.descriptor, msg).map_err(|e| e.at(f.wit_name.clone()))?
            }
            MemberModel::Oneof(o) => {
                let mut chosen = None;
                for case in &o.cases {
                    if msg.has_field(&case.descriptor) {
                        let payload = match case.payload {
                            None => None,
                            Some(vt) => {
                                let v = msg.get_field(&case.descriptor);
                                Some(Box::new(value(model, vt, &v).map_err(|e| {
                                    e.at(case.wit_name.clone()).at(o.wit_name.clone())
                                })?))
                            }
                        };
                        chosen = Some(Box::new(Val::Variant(case.wit_name.clone(), payload)));
                        break;
                    }
                }
                Val::Option(chosen)
            }
        };
        fields.push((member.wit_name().to_owned(), v));
    }
    Ok(Val::Record(fields))
}

fn field(
    model: &InterfaceModel,
    mapping: FieldMapping,
    fd: &prost_reflect::FieldDescriptor,
    msg: &DynamicMessage,
) -> Result<Val> {
    match mapping {
        FieldMapping::Plain(vt) => value(model, vt, &msg.get_field(fd)),
        FieldMapping::Optional(vt) => {
            if msg.has_field(fd) {
                Ok(Val::Option(Some(Box::new(value(
                    model,
                    vt,
                    &msg.get_field(fd),
                )?))))
            } else {
                Ok(Val::Option(None))
            }
        }
        FieldMapping::List(vt) => {
            let v = msg.get_field(fd);
            let items = v
                .as_list()
                .ok_or_else(|| BridgeError::proto_mismatch("a repeated field", &v))?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(value(model, vt, item).map_err(|e| e.at(format!("[{i}]")))?);
            }
            Ok(Val::List(out))
        }
        FieldMapping::Map { key, value: vt } => {
            let v = msg.get_field(fd);
            let map = v
                .as_map()
                .ok_or_else(|| BridgeError::proto_mismatch("a map field", &v))?;
            let mut entries: Vec<(&MapKey, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let kv = map_key(key, k)?;
                let vv = value(model, vt, v).map_err(|e| e.at(format!("[{}]", key_label(k))))?;
                out.push(Val::Tuple(vec![kv, vv]));
            }
            Ok(Val::List(out))
        }
        FieldMapping::EmptyPresence => Ok(Val::Bool(msg.has_field(fd))),
        FieldMapping::EmptyCount => {
            let v = msg.get_field(fd);
            let n = v
                .as_list()
                .ok_or_else(|| BridgeError::proto_mismatch("a repeated field", &v))?
                .len();
            u32::try_from(n)
                .map(Val::U32)
                .map_err(|_| BridgeError::invalid(format!("{n} elements do not fit a u32 count")))
        }
        FieldMapping::EmptyMapKeys { key } => {
            let v = msg.get_field(fd);
            let map = v
                .as_map()
                .ok_or_else(|| BridgeError::proto_mismatch("a map field", &v))?;
            let mut keys: Vec<&MapKey> = map.keys().collect();
            keys.sort();
            keys.into_iter()
                .map(|k| map_key(key, k))
                .collect::<Result<Vec<_>>>()
                .map(Val::List)
        }
    }
}

fn key_label(k: &MapKey) -> String {
    match k {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(x) => x.to_string(),
        MapKey::I64(x) => x.to_string(),
        MapKey::U32(x) => x.to_string(),
        MapKey::U64(x) => x.to_string(),
        MapKey::String(s) => format!("{s:?}"),
    }
}

fn map_key(key: Scalar, k: &MapKey) -> Result<Val> {
    Ok(match (key, k) {
        (Scalar::Bool, MapKey::Bool(b)) => Val::Bool(*b),
        (Scalar::S32, MapKey::I32(x)) => Val::S32(*x),
        (Scalar::S64, MapKey::I64(x)) => Val::S64(*x),
        (Scalar::U32, MapKey::U32(x)) => Val::U32(*x),
        (Scalar::U64, MapKey::U64(x)) => Val::U64(*x),
        (Scalar::String, MapKey::String(s)) => Val::String(s.clone()),
        _ => {
            return Err(BridgeError::invalid(format!(
                "map key {k:?} does not match the key type {}",
                key.wit()
            )));
        }
    })
}

pub(crate) fn bytes_val(bytes: &[u8]) -> Val {
    Val::List(bytes.iter().map(|b| Val::U8(*b)).collect())
}

fn scalar(s: Scalar, v: &Value) -> Result<Val> {
    Ok(match (s, v) {
        (Scalar::Bool, Value::Bool(b)) => Val::Bool(*b),
        (Scalar::S32, Value::I32(x)) => Val::S32(*x),
        (Scalar::S64, Value::I64(x)) => Val::S64(*x),
        (Scalar::U32, Value::U32(x)) => Val::U32(*x),
        (Scalar::U64, Value::U64(x)) => Val::U64(*x),
        (Scalar::F32, Value::F32(x)) => Val::Float32(*x),
        (Scalar::F64, Value::F64(x)) => Val::Float64(*x),
        (Scalar::String, Value::String(x)) => Val::String(x.clone()),
        (Scalar::Bytes, Value::Bytes(x)) => bytes_val(x),
        _ => return Err(BridgeError::proto_mismatch(s.wit(), v)),
    })
}

/// One value of type `vt`.
pub(crate) fn value(model: &InterfaceModel, vt: ValueType, v: &Value) -> Result<Val> {
    match vt {
        ValueType::Scalar(s) => scalar(s, v),
        ValueType::Enum(id) => {
            let e = model.enum_model(id);
            let n = v
                .as_enum_number()
                .ok_or_else(|| BridgeError::proto_mismatch("an enum number", v))?;
            e.case_by_number(n)
                .map(|c| Val::Enum(c.wit_name.clone()))
                .ok_or_else(|| BridgeError::unknown_number(e.full_name(), n))
        }
        ValueType::Message(_) | ValueType::RecursionBreak(_) | ValueType::WellKnown(_) => {
            let m = v
                .as_message()
                .ok_or_else(|| BridgeError::proto_mismatch("a message", v))?;
            message_value(model, vt, m)
        }
    }
}

/// A message-typed value: a record, its encoding (recursion break) or a
/// well-known type's special form.
fn message_value(model: &InterfaceModel, vt: ValueType, m: &DynamicMessage) -> Result<Val> {
    match vt {
        ValueType::Message(id) => record(model, id, m),
        ValueType::RecursionBreak(_) => Ok(bytes_val(&canonical_encode(m))),
        ValueType::WellKnown(wk) => well_known(wk, m),
        ValueType::Scalar(_) | ValueType::Enum(_) => Err(BridgeError::invalid(
            "internal: a scalar mapping for a whole message",
        )),
    }
}

fn well_known(wk: WellKnown, m: &DynamicMessage) -> Result<Val> {
    let get = |n: u32| m.get_field_by_number(n).map(|c| c.into_owned());
    match wk {
        WellKnown::Timestamp | WellKnown::Duration => {
            let seconds = get(1).and_then(|v| v.as_i64()).unwrap_or(0);
            let nanos = get(2).and_then(|v| v.as_i32()).unwrap_or(0);
            Ok(support::seconds_nanos_val(seconds, nanos))
        }
        WellKnown::Any => {
            let type_url = get(1)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let value = get(2)
                .and_then(|v| v.as_bytes().cloned())
                .unwrap_or_default();
            Ok(support::any_val(type_url, &value))
        }
        WellKnown::FieldMask => {
            let paths = get(1).unwrap_or(Value::List(vec![]));
            let list = paths
                .as_list()
                .ok_or_else(|| BridgeError::proto_mismatch("FieldMask.paths", &paths))?;
            list.iter()
                .map(|p| {
                    p.as_str()
                        .map(|s| Val::String(s.to_owned()))
                        .ok_or_else(|| BridgeError::proto_mismatch("a string", p))
                })
                .collect::<Result<Vec<_>>>()
                .map(Val::List)
        }
        WellKnown::Struct | WellKnown::Value | WellKnown::ListValue => {
            json::to_json(m).map(Val::String)
        }
        WellKnown::Wrapper(s) => {
            let fd = m
                .descriptor()
                .get_field(1)
                .ok_or_else(|| BridgeError::invalid("wrapper message without field 1"))?;
            scalar(s, &m.get_field(&fd))
        }
    }
}
