//! Component values <-> protobuf messages for served exports, walking the
//! same [`Shape`] tree the descriptor was built from (`proto.rs`): field
//! `i + 1` of a message is the `i`-th field, parameter or tuple item; a
//! list or option proto cannot nest directly sits in a wrapper message
//! whose field 1 is `value`.
//!
//! Incoming messages are checked: small integers in range, a `char` field
//! holding exactly one character, an enum value other than
//! `UNSPECIFIED`, a variant or result with its case set.

use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage, Value,
};
use wasmtime::component::Val;

use super::shape::{Shape, first_enum_number};

/// A value that does not fit its field, named by its path
/// (`request.points[2].x`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ValueError {
    /// Where in the message.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

fn error(path: &str, message: impl Into<String>) -> ValueError {
    ValueError {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// The values of `fields` (names and shapes, field `i + 1` each) read from
/// `message`; `path` names the message in errors.
pub fn message_to_vals(
    fields: &[(String, Shape)],
    message: &DynamicMessage,
    path: &str,
) -> Result<Vec<Val>, ValueError> {
    fields
        .iter()
        .enumerate()
        .map(|(i, (_, shape))| {
            let field = field_at(&message.descriptor(), i, path)?;
            // The proto field's own name: the WIT name's snake case may
            // differ from it (a suffix that resolved a collision, case).
            let at = format!("{path}.{}", field.name());
            field_to_val(shape, message, &field, &at)
        })
        .collect()
}

/// A message of type `descriptor` holding `vals` as fields `1..`.
pub fn vals_to_message(
    fields: &[(String, Shape)],
    vals: &[Val],
    descriptor: &MessageDescriptor,
) -> Result<DynamicMessage, ValueError> {
    if vals.len() != fields.len() {
        return Err(error(
            descriptor.name(),
            format!("{} values for {} fields", vals.len(), fields.len()),
        ));
    }
    let mut message = DynamicMessage::new(descriptor.clone());
    for (i, ((name, shape), val)) in fields.iter().zip(vals).enumerate() {
        let field = field_at(descriptor, i, name)?;
        val_to_field(shape, val, &mut message, &field, name)?;
    }
    Ok(message)
}

fn snake_path(name: &str) -> String {
    name.replace('-', "_")
}

fn field_at(
    descriptor: &MessageDescriptor,
    index: usize,
    path: &str,
) -> Result<FieldDescriptor, ValueError> {
    u32::try_from(index + 1)
        .ok()
        .and_then(|n| descriptor.get_field(n))
        .ok_or_else(|| {
            error(
                path,
                format!(
                    "message {} has no field {}",
                    descriptor.full_name(),
                    index + 1
                ),
            )
        })
}

fn field_to_val(
    shape: &Shape,
    message: &DynamicMessage,
    field: &FieldDescriptor,
    path: &str,
) -> Result<Val, ValueError> {
    match shape {
        Shape::List(inner) => {
            let value = message.get_field(field);
            let items = value
                .as_list()
                .ok_or_else(|| error(path, "expected a repeated field"))?;
            let vals = items
                .iter()
                .enumerate()
                .map(|(i, item)| singular_to_val(inner, item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?;
            Ok(Val::List(vals))
        }
        Shape::Option(inner) => {
            if !message.has_field(field) {
                return Ok(Val::Option(None));
            }
            let value = message.get_field(field);
            let inner_val = match inner.as_ref() {
                Shape::List(_) | Shape::Option(_) => unwrap(inner, &value, path)?,
                other => singular_to_val(other, &value, path)?,
            };
            Ok(Val::Option(Some(Box::new(inner_val))))
        }
        _ => singular_to_val(shape, &message.get_field(field), path),
    }
}

/// The value inside a wrapper message (field 1, `value`).
fn unwrap(shape: &Shape, value: &Value, path: &str) -> Result<Val, ValueError> {
    let wrapper = value
        .as_message()
        .ok_or_else(|| error(path, "expected a message"))?;
    let field = field_at(&wrapper.descriptor(), 0, path)?;
    field_to_val(shape, wrapper, &field, path)
}

fn int(value: &Value, path: &str) -> Result<i64, ValueError> {
    match value {
        Value::I32(v) => Ok(i64::from(*v)),
        Value::U32(v) => Ok(i64::from(*v)),
        _ => Err(error(path, "expected an integer")),
    }
}

fn ranged<T: TryFrom<i64>>(value: &Value, path: &str, ty: &str) -> Result<T, ValueError> {
    let v = int(value, path)?;
    T::try_from(v).map_err(|_| error(path, format!("{v} is out of range for {ty}")))
}

fn singular_to_val(shape: &Shape, value: &Value, path: &str) -> Result<Val, ValueError> {
    let mismatch = || error(path, format!("the field does not hold a {shape:?}"));
    Ok(match shape {
        Shape::Bool => Val::Bool(value.as_bool().ok_or_else(mismatch)?),
        Shape::S8 => Val::S8(ranged(value, path, "s8")?),
        Shape::S16 => Val::S16(ranged(value, path, "s16")?),
        Shape::S32 => Val::S32(value.as_i32().ok_or_else(mismatch)?),
        Shape::U8 => Val::U8(ranged(value, path, "u8")?),
        Shape::U16 => Val::U16(ranged(value, path, "u16")?),
        Shape::U32 => Val::U32(value.as_u32().ok_or_else(mismatch)?),
        Shape::S64 => Val::S64(value.as_i64().ok_or_else(mismatch)?),
        Shape::U64 => Val::U64(value.as_u64().ok_or_else(mismatch)?),
        Shape::F32 => Val::Float32(value.as_f32().ok_or_else(mismatch)?),
        Shape::F64 => Val::Float64(value.as_f64().ok_or_else(mismatch)?),
        Shape::String => Val::String(value.as_str().ok_or_else(mismatch)?.to_owned()),
        Shape::Char => {
            let text = value.as_str().ok_or_else(mismatch)?;
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => {
                    return Err(error(
                        path,
                        format!("a char field holds exactly one character, not {text:?}"),
                    ));
                }
            }
        }
        Shape::Bytes => Val::List(
            value
                .as_bytes()
                .ok_or_else(mismatch)?
                .iter()
                .map(|b| Val::U8(*b))
                .collect(),
        ),
        Shape::List(_) | Shape::Option(_) => unwrap(shape, value, path)?,
        Shape::Enum { name, cases } => {
            let number = value.as_enum_number().ok_or_else(mismatch)?;
            let case = usize::try_from(number)
                .ok()
                .and_then(|n| n.checked_sub(first_enum_number(cases)))
                .and_then(|i| cases.get(i));
            match case {
                Some(case) => Val::Enum(case.clone()),
                None if number == 0 => {
                    return Err(error(
                        path,
                        format!(
                            "enum {} is UNSPECIFIED (0): set one of its values",
                            name.wit
                        ),
                    ));
                }
                None => {
                    return Err(error(
                        path,
                        format!("{number} is not a value of enum {}", name.wit),
                    ));
                }
            }
        }
        Shape::Record { fields, .. } => {
            let message = value.as_message().ok_or_else(mismatch)?;
            let vals = message_to_vals(fields, message, path)?;
            Val::Record(fields.iter().map(|(n, _)| n.clone()).zip(vals).collect())
        }
        Shape::Flags { flags, .. } => {
            let message = value.as_message().ok_or_else(mismatch)?;
            let mut set = Vec::new();
            for (i, flag) in flags.iter().enumerate() {
                let field = field_at(&message.descriptor(), i, path)?;
                if message.get_field(&field).as_bool() == Some(true) {
                    set.push(flag.clone());
                }
            }
            Val::Flags(set)
        }
        Shape::Tuple(items) => {
            let message = value.as_message().ok_or_else(mismatch)?;
            let fields: Vec<(String, Shape)> = items
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("f{i}"), s.clone()))
                .collect();
            Val::Tuple(message_to_vals(&fields, message, path)?)
        }
        Shape::Variant { name, cases } => {
            let message = value.as_message().ok_or_else(mismatch)?;
            let (i, payload) = set_case(message, cases.len(), path, &name.wit)?;
            let (case, shape) = &cases[i];
            let case_field = u32::try_from(i + 1)
                .ok()
                .and_then(|n| message.descriptor().get_field(n))
                .map_or_else(|| snake_path(case), |f| f.name().to_owned());
            let payload = match shape {
                Some(shape) => Some(Box::new(singular_to_val(
                    shape,
                    &payload,
                    &format!("{path}.{case_field}"),
                )?)),
                None => None,
            };
            Val::Variant(case.clone(), payload)
        }
        Shape::Result { ok, err } => {
            let message = value.as_message().ok_or_else(mismatch)?;
            let (i, payload) = set_case(message, 2, path, "result")?;
            let side = if i == 0 { ok } else { err };
            let payload = match side {
                Some(shape) => Some(Box::new(singular_to_val(shape, &payload, path)?)),
                None => None,
            };
            Val::Result(if i == 0 { Ok(payload) } else { Err(payload) })
        }
    })
}

/// The index and value of the one oneof field set in `message`.
fn set_case(
    message: &DynamicMessage,
    count: usize,
    path: &str,
    what: &str,
) -> Result<(usize, Value), ValueError> {
    for i in 0..count {
        let field = field_at(&message.descriptor(), i, path)?;
        if message.has_field(&field) {
            return Ok((i, message.get_field(&field).into_owned()));
        }
    }
    Err(error(path, format!("no case of {what} is set")))
}

fn val_to_field(
    shape: &Shape,
    val: &Val,
    message: &mut DynamicMessage,
    field: &FieldDescriptor,
    path: &str,
) -> Result<(), ValueError> {
    match (shape, val) {
        (Shape::List(inner), Val::List(items)) => {
            let kind = field.kind();
            let values = items
                .iter()
                .map(|item| singular_to_value(inner, item, &kind, path))
                .collect::<Result<_, _>>()?;
            message.set_field(field, Value::List(values));
        }
        (Shape::Option(_), Val::Option(None)) => message.clear_field(field),
        (Shape::Option(inner), Val::Option(Some(item))) => {
            let value = match inner.as_ref() {
                Shape::List(_) | Shape::Option(_) => Value::Message(wrap(
                    inner,
                    item,
                    &message_kind(&field.kind(), path)?,
                    path,
                )?),
                other => singular_to_value(other, item, &field.kind(), path)?,
            };
            message.set_field(field, value);
        }
        _ => {
            let value = singular_to_value(shape, val, &field.kind(), path)?;
            message.set_field(field, value);
        }
    }
    Ok(())
}

fn message_kind(kind: &Kind, path: &str) -> Result<MessageDescriptor, ValueError> {
    kind.as_message()
        .cloned()
        .ok_or_else(|| error(path, "expected a message field"))
}

/// A wrapper message holding `val` in its field 1.
fn wrap(
    shape: &Shape,
    val: &Val,
    descriptor: &MessageDescriptor,
    path: &str,
) -> Result<DynamicMessage, ValueError> {
    let mut message = DynamicMessage::new(descriptor.clone());
    let field = field_at(descriptor, 0, path)?;
    val_to_field(shape, val, &mut message, &field, path)?;
    Ok(message)
}

fn singular_to_value(
    shape: &Shape,
    val: &Val,
    kind: &Kind,
    path: &str,
) -> Result<Value, ValueError> {
    let mismatch = || error(path, format!("the value {val:?} is not a {shape:?}"));
    Ok(match (shape, val) {
        (Shape::Bool, Val::Bool(v)) => Value::Bool(*v),
        (Shape::S8, Val::S8(v)) => Value::I32(i32::from(*v)),
        (Shape::S16, Val::S16(v)) => Value::I32(i32::from(*v)),
        (Shape::S32, Val::S32(v)) => Value::I32(*v),
        (Shape::U8, Val::U8(v)) => Value::U32(u32::from(*v)),
        (Shape::U16, Val::U16(v)) => Value::U32(u32::from(*v)),
        (Shape::U32, Val::U32(v)) => Value::U32(*v),
        (Shape::S64, Val::S64(v)) => Value::I64(*v),
        (Shape::U64, Val::U64(v)) => Value::U64(*v),
        (Shape::F32, Val::Float32(v)) => Value::F32(*v),
        (Shape::F64, Val::Float64(v)) => Value::F64(*v),
        (Shape::Char, Val::Char(c)) => Value::String(c.to_string()),
        (Shape::String, Val::String(s)) => Value::String(s.clone()),
        (Shape::Bytes, Val::List(items)) => Value::Bytes(
            items
                .iter()
                .map(|v| match v {
                    Val::U8(b) => Ok(*b),
                    _ => Err(mismatch()),
                })
                .collect::<Result<Vec<u8>, _>>()?
                .into(),
        ),
        (Shape::List(_) | Shape::Option(_), _) => {
            Value::Message(wrap(shape, val, &message_kind(kind, path)?, path)?)
        }
        (Shape::Enum { cases, .. }, Val::Enum(case)) => {
            let i = cases.iter().position(|c| c == case).ok_or_else(mismatch)?;
            Value::EnumNumber(i32::try_from(i + first_enum_number(cases)).unwrap_or(i32::MAX))
        }
        (Shape::Record { fields, .. }, Val::Record(vals)) => {
            let vals: Vec<Val> = vals.iter().map(|(_, v)| v.clone()).collect();
            Value::Message(vals_to_message(fields, &vals, &message_kind(kind, path)?)?)
        }
        (Shape::Tuple(items), Val::Tuple(vals)) => {
            let fields: Vec<(String, Shape)> = items
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("f{i}"), s.clone()))
                .collect();
            Value::Message(vals_to_message(&fields, vals, &message_kind(kind, path)?)?)
        }
        (Shape::Flags { flags, .. }, Val::Flags(set)) => {
            let descriptor = message_kind(kind, path)?;
            let mut message = DynamicMessage::new(descriptor.clone());
            for name in set {
                let i = flags.iter().position(|f| f == name).ok_or_else(mismatch)?;
                message.set_field(&field_at(&descriptor, i, path)?, Value::Bool(true));
            }
            Value::Message(message)
        }
        (Shape::Variant { cases, .. }, Val::Variant(case, payload)) => {
            let i = cases
                .iter()
                .position(|(c, _)| c == case)
                .ok_or_else(mismatch)?;
            Value::Message(case_message(
                i,
                cases[i].1.as_ref(),
                payload.as_deref(),
                &message_kind(kind, path)?,
                path,
            )?)
        }
        (Shape::Result { ok, err }, Val::Result(outcome)) => {
            let (i, shape, payload) = match outcome {
                Ok(p) => (0, ok.as_deref(), p.as_deref()),
                Err(p) => (1, err.as_deref(), p.as_deref()),
            };
            Value::Message(case_message(
                i,
                shape,
                payload,
                &message_kind(kind, path)?,
                path,
            )?)
        }
        _ => return Err(mismatch()),
    })
}

/// A variant or result message with case `i` set to `payload` (or to the
/// empty `Unit` message when the case has none).
fn case_message(
    i: usize,
    shape: Option<&Shape>,
    payload: Option<&Val>,
    descriptor: &MessageDescriptor,
    path: &str,
) -> Result<DynamicMessage, ValueError> {
    let mut message = DynamicMessage::new(descriptor.clone());
    let field = field_at(descriptor, i, path)?;
    let value = match (shape, payload) {
        (Some(shape), Some(payload)) => singular_to_value(shape, payload, &field.kind(), path)?,
        (None, None) => Value::Message(DynamicMessage::new(message_kind(&field.kind(), path)?)),
        _ => return Err(error(path, "the case's payload does not match its type")),
    };
    message.set_field(&field, value);
    Ok(message)
}
