//! `google.protobuf.Struct` / `Value` / `ListValue` <-> proto JSON text.
//!
//! Output is deterministic: object keys are sorted, numbers use the shortest
//! form that reads back to the same `f64`. Non-finite numbers have no JSON
//! form and are an error; a `Value` with no kind set reads as `null`.

use std::fmt::Write as _;

use prost_reflect::{DynamicMessage, MapKey, MessageDescriptor, ReflectMessage, Value};

use super::BridgeError;

type Result<T> = std::result::Result<T, BridgeError>;

const STRUCT: &str = "google.protobuf.Struct";
const VALUE: &str = "google.protobuf.Value";
const LIST_VALUE: &str = "google.protobuf.ListValue";

/// Proto JSON text of a `Struct`, `Value` or `ListValue` message.
pub(crate) fn to_json(m: &DynamicMessage) -> Result<String> {
    let mut out = String::new();
    match m.descriptor().full_name() {
        STRUCT => write_struct(m, &mut out)?,
        VALUE => write_value(m, &mut out)?,
        LIST_VALUE => write_list(m, &mut out)?,
        other => {
            return Err(BridgeError::invalid(format!(
                "internal: `{other}` is not a JSON well-known type"
            )));
        }
    }
    Ok(out)
}

fn field(m: &DynamicMessage, number: u32) -> Option<Value> {
    if m.has_field_by_number(number) {
        m.get_field_by_number(number).map(|c| c.into_owned())
    } else {
        None
    }
}

fn write_struct(m: &DynamicMessage, out: &mut String) -> Result<()> {
    let fields = field(m, 1).unwrap_or(Value::Map(Default::default()));
    let map = fields
        .as_map()
        .ok_or_else(|| BridgeError::proto_mismatch("Struct.fields map", &fields))?;
    let mut entries: Vec<(&MapKey, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let MapKey::String(key) = k else {
            return Err(BridgeError::invalid("Struct keys must be strings"));
        };
        write_string(key, out);
        out.push(':');
        let value = v
            .as_message()
            .ok_or_else(|| BridgeError::proto_mismatch("google.protobuf.Value", v))?;
        write_value(value, out).map_err(|e| e.at(format!("[{key:?}]")))?;
    }
    out.push('}');
    Ok(())
}

fn write_list(m: &DynamicMessage, out: &mut String) -> Result<()> {
    let values = field(m, 1).unwrap_or(Value::List(vec![]));
    let list = values
        .as_list()
        .ok_or_else(|| BridgeError::proto_mismatch("ListValue.values", &values))?;
    out.push('[');
    for (i, v) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let value = v
            .as_message()
            .ok_or_else(|| BridgeError::proto_mismatch("google.protobuf.Value", v))?;
        write_value(value, out).map_err(|e| e.at(format!("[{i}]")))?;
    }
    out.push(']');
    Ok(())
}

fn write_value(m: &DynamicMessage, out: &mut String) -> Result<()> {
    if field(m, 1).is_some() {
        out.push_str("null");
    } else if let Some(v) = field(m, 2) {
        let x = v
            .as_f64()
            .ok_or_else(|| BridgeError::proto_mismatch("a double", &v))?;
        if !x.is_finite() {
            return Err(BridgeError::invalid(format!(
                "google.protobuf.Value number {x} has no JSON form"
            )));
        }
        let _ = write!(
            out,
            "{}",
            serde_json::Number::from_f64(x)
                .map(|n| n.to_string())
                .unwrap_or_default()
        );
    } else if let Some(v) = field(m, 3) {
        let s = v
            .as_str()
            .ok_or_else(|| BridgeError::proto_mismatch("a string", &v))?;
        write_string(s, out);
    } else if let Some(v) = field(m, 4) {
        let b = v
            .as_bool()
            .ok_or_else(|| BridgeError::proto_mismatch("a bool", &v))?;
        out.push_str(if b { "true" } else { "false" });
    } else if let Some(v) = field(m, 5) {
        let s = v
            .as_message()
            .ok_or_else(|| BridgeError::proto_mismatch("a Struct", &v))?;
        write_struct(s, out)?;
    } else if let Some(v) = field(m, 6) {
        let l = v
            .as_message()
            .ok_or_else(|| BridgeError::proto_mismatch("a ListValue", &v))?;
        write_list(l, out)?;
    } else {
        out.push_str("null");
    }
    Ok(())
}

fn write_string(s: &str, out: &mut String) {
    // serde_json escapes exactly as JSON requires.
    out.push_str(&serde_json::Value::String(s.to_owned()).to_string());
}

/// Parses proto JSON text into a `Struct`, `Value` or `ListValue` of `desc`.
pub(crate) fn from_json(desc: &MessageDescriptor, text: &str) -> Result<DynamicMessage> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        BridgeError::invalid(format!("not valid JSON for `{}`: {e}", desc.full_name()))
    })?;
    let pool = desc.parent_pool();
    let find = |name: &str| {
        pool.get_message_by_name(name)
            .ok_or_else(|| BridgeError::invalid(format!("internal: `{name}` is not in the pool")))
    };
    let types = Types {
        structure: find(STRUCT)?,
        value: find(VALUE)?,
        list: find(LIST_VALUE)?,
    };
    match desc.full_name() {
        STRUCT => match &json {
            serde_json::Value::Object(map) => types.make_struct(map),
            _ => Err(BridgeError::invalid(
                "google.protobuf.Struct needs a JSON object",
            )),
        },
        VALUE => types.make_value(&json),
        LIST_VALUE => match &json {
            serde_json::Value::Array(items) => types.make_list(items),
            _ => Err(BridgeError::invalid(
                "google.protobuf.ListValue needs a JSON array",
            )),
        },
        other => Err(BridgeError::invalid(format!(
            "internal: `{other}` is not a JSON well-known type"
        ))),
    }
}

struct Types {
    structure: MessageDescriptor,
    value: MessageDescriptor,
    list: MessageDescriptor,
}

fn set(m: &mut DynamicMessage, number: u32, value: Value) -> Result<()> {
    let fd = m
        .descriptor()
        .get_field(number)
        .ok_or_else(|| BridgeError::invalid(format!("internal: no field {number}")))?;
    m.try_set_field(&fd, value)
        .map_err(|e| BridgeError::invalid(format!("internal: {e}")))
}

impl Types {
    fn make_struct(
        &self,
        map: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<DynamicMessage> {
        let mut m = DynamicMessage::new(self.structure.clone());
        if !map.is_empty() {
            let mut fields = std::collections::HashMap::with_capacity(map.len());
            for (k, v) in map {
                let value = self.make_value(v).map_err(|e| e.at(format!("[{k:?}]")))?;
                fields.insert(MapKey::String(k.clone()), Value::Message(value));
            }
            set(&mut m, 1, Value::Map(fields))?;
        }
        Ok(m)
    }

    fn make_list(&self, items: &[serde_json::Value]) -> Result<DynamicMessage> {
        let mut m = DynamicMessage::new(self.list.clone());
        if !items.is_empty() {
            let values = items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    self.make_value(v)
                        .map(Value::Message)
                        .map_err(|e| e.at(format!("[{i}]")))
                })
                .collect::<Result<Vec<_>>>()?;
            set(&mut m, 1, Value::List(values))?;
        }
        Ok(m)
    }

    fn make_value(&self, json: &serde_json::Value) -> Result<DynamicMessage> {
        let mut m = DynamicMessage::new(self.value.clone());
        match json {
            serde_json::Value::Null => set(&mut m, 1, Value::EnumNumber(0))?,
            serde_json::Value::Number(n) => {
                let x = n
                    .as_f64()
                    .ok_or_else(|| BridgeError::invalid(format!("number {n} is not a double")))?;
                set(&mut m, 2, Value::F64(x))?;
            }
            serde_json::Value::String(s) => set(&mut m, 3, Value::String(s.clone()))?,
            serde_json::Value::Bool(b) => set(&mut m, 4, Value::Bool(*b))?,
            serde_json::Value::Object(map) => {
                set(&mut m, 5, Value::Message(self.make_struct(map)?))?
            }
            serde_json::Value::Array(items) => {
                set(&mut m, 6, Value::Message(self.make_list(items)?))?
            }
        }
        Ok(m)
    }
}
