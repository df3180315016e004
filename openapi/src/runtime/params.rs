//! Parameter values on the wire, in the style the document gives them
//! (OpenAPI's `style` and `explode`, or `content` as JSON text).
//!
//! A value is first made JSON (as a body would be: records keyed by their
//! property names, absent optional fields left out), then flattened to what
//! a style can carry: one scalar, an array of scalars, or an object of
//! scalars. A value nested deeper (an array in an object, an object in an
//! array) has no defined form in any style and is refused, naming the
//! parameter; `content: application/json` is the document's way to send
//! such values.
//!
//! For `color` = `["blue","black"]` and `{"R":100,"G":200}`:
//!
//! | style | explode | array | object |
//! |---|---|---|---|
//! | form | true | `color=blue&color=black` | `R=100&G=200` |
//! | form | false | `color=blue,black` | `color=R,100,G,200` |
//! | spaceDelimited | false | `color=blue%20black` | `color=R%20100%20G%20200` |
//! | pipeDelimited | false | `color=blue\|black` | `color=R\|100\|G\|200` |
//! | deepObject | true | refused | `color%5BR%5D=100&color%5BG%5D=200` |
//! | simple | false | `blue,black` | `R,100,G,200` |
//! | simple | true | `blue,black` | `R=100,G=200` |
//! | label | false | `.blue,black` | `.R,100,G,200` |
//! | label | true | `.blue.black` | `.R=100.G=200` |
//! | matrix | false | `;color=blue,black` | `;color=R,100,G,200` |
//! | matrix | true | `;color=blue;color=black` | `;R=100;G=200` |
//!
//! Query and path text is percent-encoded (all but unreserved characters;
//! the style's own separators are not); header text is not.

use serde_json::Value as Json;

use super::json::Fault;
use crate::model::{Encoding, Style};

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

fn flatten(name: &str, json: &Json) -> Result<Flat, Fault> {
    let nested = |inner: &str| {
        Fault(format!(
            "parameter `{name}` holds {inner}, which a parameter style cannot write (only \
             scalars, arrays of scalars and objects of scalars; the document can declare it \
             with `content: application/json` instead)"
        ))
    };
    Ok(match json {
        Json::Null => Flat::Absent,
        Json::Array(items) if items.is_empty() => Flat::Absent,
        Json::Array(items) => Flat::Array(
            items
                .iter()
                .map(|item| scalar(item).ok_or_else(|| nested("an array or object in an array")))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(properties) => {
            let mut pairs = Vec::new();
            for (key, value) in properties {
                // A nullable property sent as `null` in a body is left out
                // here: a parameter has no null.
                if value.is_null() {
                    continue;
                }
                let text = scalar(value)
                    .ok_or_else(|| nested(&format!("an array or object in property `{key}`")))?;
                pairs.push((key.clone(), text));
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
pub(crate) fn query(name: &str, encoding: Encoding, json: &Json) -> Result<Vec<String>, Fault> {
    let key = encode(name);
    let (style, explode) = match encoding {
        Encoding::Json if json.is_null() => return Ok(Vec::new()),
        Encoding::Json => return Ok(vec![format!("{key}={}", encode(&json.to_string()))]),
        Encoding::Style { style, explode } => (style, explode),
    };
    let flat = flatten(name, json)?;
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
                Style::PipeDelimited => "|",
                _ => ",",
            };
            let parts: Vec<String> = spread(flat).iter().map(|v| encode(v)).collect();
            vec![format!("{key}={}", parts.join(separator))]
        }
    })
}

/// The text (percent-encoded) that path parameter `name` puts in place of
/// `{name}` in the template.
pub(crate) fn path(name: &str, encoding: Encoding, json: &Json) -> Result<String, Fault> {
    let (style, explode) = match encoding {
        Encoding::Json => return Ok(encode(&json.to_string())),
        Encoding::Style { style, explode } => (style, explode),
    };
    let flat = flatten(name, json)?;
    let key = encode(name);
    let (prefix, separator) = match style {
        Style::Label => (".".to_owned(), if explode { "." } else { "," }),
        Style::Matrix => (format!(";{key}="), if explode { ";" } else { "," }),
        _ => (String::new(), ","),
    };
    Ok(match (style, explode, flat) {
        (Style::Matrix, _, Flat::Absent) => format!(";{key}"),
        (Style::Matrix, true, Flat::Array(items)) => items
            .iter()
            .map(|v| format!(";{key}={}", encode(v)))
            .collect(),
        (Style::Matrix, true, Flat::Object(pairs)) => pairs
            .iter()
            .map(|(k, v)| format!(";{}={}", encode(k), encode(v)))
            .collect(),
        (_, true, Flat::Object(pairs)) => {
            let parts: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            format!("{prefix}{}", parts.join(separator))
        }
        (_, _, flat) => {
            let parts: Vec<String> = spread(flat).iter().map(|v| encode(v)).collect();
            format!("{prefix}{}", parts.join(separator))
        }
    })
}

/// The value of header parameter `name` (`None`: no header is sent).
pub(crate) fn header(name: &str, encoding: Encoding, json: &Json) -> Result<Option<String>, Fault> {
    let explode = match encoding {
        Encoding::Json if json.is_null() => return Ok(None),
        Encoding::Json => return Ok(Some(json.to_string())),
        Encoding::Style { explode, .. } => explode,
    };
    Ok(match flatten(name, json)? {
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
