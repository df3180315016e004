//! Parameter values on the wire, in the style the document gives them
//! (OpenAPI's `style` and `explode`, or `content` as JSON text).
//!
//! A value is first made JSON (as a body would be: records keyed by their
//! property names, absent optional fields left out), then flattened to what
//! a style can carry: one scalar, an array of scalars (absent items left
//! out), or an object of scalars (a record's properties in the order of its
//! fields, a map's in the order of its entries). A value nested deeper (an
//! array in an object, an object in an array) has no defined form in any
//! style and is refused, naming the parameter; `content: application/json`
//! is the document's way to send such values.
//!
//! For `color` = `["blue","black"]` and `{"R":100,"G":200}`:
//!
//! | style | explode | array | object |
//! |---|---|---|---|
//! | form | true | `color=blue&color=black` | `R=100&G=200` |
//! | form | false | `color=blue,black` | `color=R,100,G,200` |
//! | spaceDelimited | false | `color=blue%20black` | `color=R%20100%20G%20200` |
//! | pipeDelimited | false | `color=blue%7Cblack` | `color=R%7C100%7CG%7C200` |
//! | deepObject | true | refused | `color%5BR%5D=100&color%5BG%5D=200` |
//! | simple | false | `blue,black` | `R,100,G,200` |
//! | simple | true | `blue,black` | `R=100,G=200` |
//! | label | false | `.blue,black` | `.R,100,G,200` |
//! | label | true | `.blue.black` | `.R=100.G=200` |
//! | matrix | false | `;color=blue,black` | `;color=R,100,G,200` |
//! | matrix | true | `;color=blue;color=black` | `;R=100;G=200` |
//!
//! Query and path text is percent-encoded (all but unreserved characters;
//! the style's own separators are not, but for `|`, which a URI cannot
//! hold); header text is not. An empty value in `matrix` is the bare name
//! (`;color`), as RFC 6570 writes it.

use serde_json::Value as Json;
use wasmtime::component::Val;

use super::json::{Fault, Lookup, to_json};
use crate::model::{Encoding, Style, TypeKind, TypeRef};

/// A parameter's value reduced to what a style can write.
enum Flat {
    /// Nothing to send (`none`, `null`, an empty array or object).
    Absent,
    /// One value.
    Scalar(String),
    /// Items.
    Array(Vec<String>),
    /// Properties, in order.
    Object(Vec<(String, String)>),
}

/// The text of a scalar, or `None` for an array or object.
fn scalar(json: &Json) -> Option<String> {
    match json {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Null => Some("null".to_owned()),
        Json::Array(_) | Json::Object(_) => None,
    }
}

/// A parameter's value with its type, and the model's types to read it by.
#[derive(Clone, Copy)]
pub(crate) struct Typed<'a> {
    ty: &'a TypeRef,
    val: &'a Val,
    types: &'a Lookup<'a>,
}

impl<'a> Typed<'a> {
    pub(crate) fn new(ty: &'a TypeRef, val: &'a Val, types: &'a Lookup<'a>) -> Self {
        Typed { ty, val, types }
    }

    fn json(self) -> Result<Json, Fault> {
        to_json(self.ty, self.val, self.types)
    }

    /// The value as a style can write it; `name` names the parameter in
    /// faults.
    fn flatten(self, name: &str) -> Result<Flat, Fault> {
        flatten(name, self.ty, self.val, self.types)
    }
}

/// `val` of type `ty` as a style can write it.
fn flatten(name: &str, ty: &TypeRef, val: &Val, types: &Lookup<'_>) -> Result<Flat, Fault> {
    let nested = |inner: &str| {
        Fault(format!(
            "parameter `{name}` holds {inner}, which a parameter style cannot write (only \
             scalars, arrays of scalars and objects of scalars; the document can declare it \
             with `content: application/json` instead)"
        ))
    };
    let json = to_json(ty, val, types)?;
    Ok(match &json {
        Json::Null => Flat::Absent,
        Json::Array(items) => {
            // An absent item (`none` in a list of options) is left out: a
            // parameter has no null.
            let items: Vec<String> = items
                .iter()
                .filter(|item| !item.is_null())
                .map(|item| scalar(item).ok_or_else(|| nested("an array or object in an array")))
                .collect::<Result<_, _>>()?;
            if items.is_empty() {
                Flat::Absent
            } else {
                Flat::Array(items)
            }
        }
        Json::Object(properties) => {
            // Keys the type does not order (a discriminator's, say) follow
            // the ordered ones: every property is written.
            let mut keys = key_order(ty, val, types);
            let unordered: Vec<String> = properties
                .keys()
                .filter(|key| !keys.contains(key))
                .cloned()
                .collect();
            keys.extend(unordered);
            let mut pairs = Vec::new();
            for key in keys {
                // A nullable property sent as `null` in a body is left out
                // here, for the same reason.
                let Some(value) = properties.get(&key).filter(|v| !v.is_null()) else {
                    continue;
                };
                let text = scalar(value)
                    .ok_or_else(|| nested(&format!("an array or object in property `{key}`")))?;
                pairs.push((key, text));
            }
            if pairs.is_empty() {
                Flat::Absent
            } else {
                Flat::Object(pairs)
            }
        }
        scalar_value => Flat::Scalar(scalar(scalar_value).unwrap_or_default()),
    })
}

/// The keys of the object `val` (of type `ty`) becomes, in order: a
/// record's properties as its fields are ordered (also as a variant case's
/// payload), a map's as its entries are; for an untyped value, the JSON
/// object's own (sorted) order.
fn key_order(ty: &TypeRef, val: &Val, types: &Lookup<'_>) -> Vec<String> {
    let mut ty = ty;
    let mut val = val;
    // Bounded: each step unwraps one option or alias of a finite model
    // (alias loops are refused when the model is built).
    for _ in 0..=types.len() + 64 {
        match (ty, val) {
            (TypeRef::Option(inner), Val::Option(Some(v))) => (ty, val) = (inner, v),
            (TypeRef::Map(_), Val::List(entries)) => {
                return entries
                    .iter()
                    .filter_map(|entry| match entry {
                        Val::Tuple(pair) => match pair.first() {
                            Some(Val::String(key)) => Some(key.clone()),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect();
            }
            (TypeRef::Named(name), _) => match types.get(name).map(|def| &def.kind) {
                Ok(TypeKind::Alias(inner)) => ty = inner,
                Ok(TypeKind::Record(fields)) => {
                    return fields.iter().map(|f| f.wire.clone()).collect();
                }
                // A `oneOf`'s case: its payload's keys.
                Ok(TypeKind::Variant(cases)) => {
                    let Val::Variant(case, Some(payload)) = val else {
                        break;
                    };
                    match cases
                        .iter()
                        .find(|c| &c.name == case)
                        .and_then(|c| c.ty.as_ref())
                    {
                        Some(payload_ty) => (ty, val) = (payload_ty, payload),
                        None => break,
                    }
                }
                _ => break,
            },
            (TypeRef::Json, Val::String(text)) => {
                return serde_json::from_str::<serde_json::Map<String, Json>>(text)
                    .map(|object| object.keys().cloned().collect())
                    .unwrap_or_default();
            }
            _ => break,
        }
    }
    Vec::new()
}

/// The items of an array, or the keys and values of an object, in turn.
fn spread(flat: Flat) -> Vec<String> {
    match flat {
        Flat::Absent => Vec::new(),
        Flat::Scalar(value) => vec![value],
        Flat::Array(items) => items,
        Flat::Object(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
    }
}

/// The `name=value` pairs (percent-encoded) that parameter `name` adds to
/// the query.
pub(crate) fn query(
    name: &str,
    encoding: Encoding,
    value: Typed<'_>,
) -> Result<Vec<String>, Fault> {
    let key = encode(name);
    let (style, explode) = match encoding {
        Encoding::Json => {
            let json = value.json()?;
            if json.is_null() {
                return Ok(Vec::new());
            }
            return Ok(vec![format!("{key}={}", encode(&json.to_string()))]);
        }
        Encoding::Style { style, explode } => (style, explode),
    };
    let flat = value.flatten(name)?;
    Ok(match (style, explode, flat) {
        (_, _, Flat::Absent) => Vec::new(),
        (Style::DeepObject, _, Flat::Object(pairs)) => pairs
            .iter()
            .map(|(k, v)| format!("{key}%5B{}%5D={}", encode(k), encode(v)))
            .collect(),
        (Style::DeepObject, _, _) => {
            return Err(Fault(format!(
                "parameter `{name}` has `style: deepObject`, which writes an object; its value \
                 is not one"
            )));
        }
        (Style::Form, true, Flat::Array(items)) => items
            .iter()
            .map(|v| format!("{key}={}", encode(v)))
            .collect(),
        (Style::Form, true, Flat::Object(pairs)) => pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect(),
        (style, _, flat) => {
            let separator = match style {
                Style::SpaceDelimited => "%20",
                Style::PipeDelimited => "%7C",
                _ => ",",
            };
            let parts: Vec<String> = spread(flat).iter().map(|v| encode(v)).collect();
            vec![format!("{key}={}", parts.join(separator))]
        }
    })
}

/// How a form field is written when the document says nothing.
const FORM_DEFAULT: Encoding = Encoding::Style {
    style: Style::Form,
    explode: true,
};

/// A form body (`application/x-www-form-urlencoded`): the fields of the
/// record `val` (of type `ty`), each written as a query parameter named
/// after its property, in the style `encoding` gives it (`form`, exploded,
/// when it gives none); absent and `readOnly` fields are left out.
pub(crate) fn form_body(
    ty: &TypeRef,
    val: &Val,
    encoding: &[(String, Encoding)],
    types: &Lookup<'_>,
) -> Result<Vec<u8>, Fault> {
    let Some((fields, values)) = record_of(ty, val, types) else {
        return Err(Fault("a form body is a record of its fields".to_owned()));
    };
    let mut pairs = Vec::new();
    for (field, (_, value)) in fields.iter().zip(values) {
        if field.read_only {
            continue;
        }
        let style = encoding
            .iter()
            .find(|(name, _)| *name == field.wire)
            .map_or(FORM_DEFAULT, |(_, e)| *e);
        let written = query(&field.wire, style, Typed::new(&field.ty, value, types))
            .map_err(|fault| Fault(format!("body.{}: {}", field.wire, fault.0)))?;
        pairs.extend(written);
    }
    Ok(pairs.join("&").into_bytes())
}

/// A record's fields (its type's) and values (the value's).
type RecordParts<'m, 'v> = (&'m [crate::model::Field], &'v [(String, Val)]);

/// The fields of the record `val` is (of type `ty`, through options and
/// aliases), and its values.
fn record_of<'v, 'm>(
    ty: &'v TypeRef,
    val: &'v Val,
    types: &Lookup<'m>,
) -> Option<RecordParts<'m, 'v>>
where
    'm: 'v,
{
    let (mut ty, mut val) = (ty, val);
    // Bounded: each step unwraps one option or alias of a finite model.
    for _ in 0..=types.len() + 64 {
        match (ty, val) {
            (TypeRef::Option(inner), Val::Option(Some(v))) => (ty, val) = (inner, v),
            (TypeRef::Named(name), _) => match types.get(name).map(|def| &def.kind) {
                Ok(TypeKind::Alias(inner)) => ty = inner,
                Ok(TypeKind::Record(fields)) => {
                    return match val {
                        Val::Record(values) => Some((fields, values)),
                        _ => None,
                    };
                }
                _ => return None,
            },
            _ => return None,
        }
    }
    None
}

/// The text (percent-encoded) that path parameter `name` puts in place of
/// `{name}` in the template.
pub(crate) fn path(name: &str, encoding: Encoding, value: Typed<'_>) -> Result<String, Fault> {
    let (style, explode) = match encoding {
        Encoding::Json => return Ok(encode(&value.json()?.to_string())),
        Encoding::Style { style, explode } => (style, explode),
    };
    let flat = value.flatten(name)?;
    let key = encode(name);
    // `;name=value`, or `;name` for an empty value.
    let matrix = |name: &str, value: &str| {
        if value.is_empty() {
            format!(";{name}")
        } else {
            format!(";{name}={value}")
        }
    };
    let separator = if explode { "." } else { "," };
    Ok(match (style, explode, flat) {
        (Style::Matrix, true, Flat::Array(items)) => {
            items.iter().map(|v| matrix(&key, &encode(v))).collect()
        }
        (Style::Matrix, true, Flat::Object(pairs)) => pairs
            .iter()
            .map(|(k, v)| matrix(&encode(k), &encode(v)))
            .collect(),
        (Style::Matrix, _, flat) => {
            let parts: Vec<String> = spread(flat).iter().map(|v| encode(v)).collect();
            matrix(&key, &parts.join(","))
        }
        (style, true, Flat::Object(pairs)) => {
            let parts: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            let (prefix, separator) = if style == Style::Label {
                (".", separator)
            } else {
                ("", ",")
            };
            format!("{prefix}{}", parts.join(separator))
        }
        (style, _, flat) => {
            let parts: Vec<String> = spread(flat).iter().map(|v| encode(v)).collect();
            if style == Style::Label {
                format!(".{}", parts.join(separator))
            } else {
                parts.join(",")
            }
        }
    })
}

/// The value of header parameter `name` (`None`: no header is sent).
pub(crate) fn header(
    name: &str,
    encoding: Encoding,
    value: Typed<'_>,
) -> Result<Option<String>, Fault> {
    let explode = match encoding {
        Encoding::Json => {
            let json = value.json()?;
            return Ok((!json.is_null()).then(|| json.to_string()));
        }
        Encoding::Style { explode, .. } => explode,
    };
    Ok(match value.flatten(name)? {
        Flat::Absent => None,
        Flat::Object(pairs) if explode => Some(
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
        ),
        flat => Some(spread(flat).join(",")),
    })
}

/// Percent-encodes everything but unreserved characters.
pub(crate) fn encode(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}
