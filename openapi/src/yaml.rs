//! A small span-aware YAML tree, shared by the application manifest and
//! the OpenAPI reader.
//!
//! The manifest (and an OpenAPI document) is parsed in two steps: first the YAML text becomes a tree of
//! [`Node`]s, each carrying the line and column where it appears; then the
//! validators in [`crate::read`] walk that tree by hand. Walking the tree
//! ourselves (instead of deriving `Deserialize` for the model) lets us report
//! *every* problem at once, each with its key path and position, rather than
//! stopping at the first serde error.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A 1-based line/column position in the manifest text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    /// 1-based line number.
    pub line: u64,
    /// 1-based column number (in characters).
    pub column: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

impl Position {
    fn from_location(location: serde_saphyr::Location) -> Option<Self> {
        // serde-saphyr uses line 0 for "unknown".
        (location.line() > 0).then(|| Position {
            line: location.line(),
            column: location.column(),
        })
    }
}

/// One YAML node with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it appears, when known.
    pub position: Option<Position>,
}

/// The value of a YAML node.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// A string.
    String(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// Entries in document order; duplicate keys are rejected by the parser.
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// A short human description of the node's kind, for "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A YAML syntax error (the text is not well-formed YAML, or is empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// Where, when known.
    pub position: Option<Position>,
}

/// Parses YAML text into a [`Node`] tree.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! {
        with_snippet: false,
        // YAML 1.2 booleans only: `y`, `yes`, `on` stay strings.
        strict_booleans: true,
    };
    match serde_saphyr::from_str_with_options::<Option<Node>>(text, options) {
        Ok(Some(node)) => Ok(node),
        Ok(None) => Ok(Node {
            value: Value::Null,
            position: None,
        }),
        Err(err) => {
            let position = err.location().and_then(Position::from_location);
            Err(SyntaxError {
                message: plain_message(&err),
                position,
            })
        }
    }
}

/// The parser's message in its end-user wording, without the location
/// (we print the position ourselves).
fn plain_message(err: &serde_saphyr::Error) -> String {
    use serde_saphyr::MessageFormatter;
    serde_saphyr::UserMessageFormatter
        .format_message(err.without_snippet())
        .into_owned()
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            value: spanned.value,
            position: Position::from_location(spanned.referenced),
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(i128::from(v)))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(i128::from(v)))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        i128::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom("integer is too large"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<Node, Node>()? {
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u64, column: u64) -> Option<Position> {
        Some(Position { line, column })
    }

    #[test]
    fn nested_nodes_carry_positions() {
        let node = parse("a:\n  b: [1, x]\n  c: 2.5\n").unwrap();
        let Value::Map(entries) = &node.value else {
            panic!("expected a map, got {node:?}");
        };
        assert_eq!(entries[0].0.value, Value::String("a".into()));
        assert_eq!(entries[0].0.position, pos(1, 1));
        let Value::Map(inner) = &entries[0].1.value else {
            panic!("expected inner map");
        };
        assert_eq!(inner[0].0.position, pos(2, 3));
        let Value::Seq(items) = &inner[0].1.value else {
            panic!("expected a list");
        };
        assert_eq!(items[0].value, Value::Int(1));
        assert_eq!(items[1].value, Value::String("x".into()));
        assert_eq!(items[1].position, pos(2, 10));
        assert_eq!(inner[1].1.value, Value::Float(2.5));
        assert_eq!(inner[1].1.position, pos(3, 6));
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(parse("").unwrap().value, Value::Null);
        assert_eq!(parse("# only a comment\n").unwrap().value, Value::Null);
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.position.is_some(), "{err:?}");
        assert!(!err.message.contains(" at line "), "{err:?}");
        let err = parse("a: [1,\n").unwrap_err();
        assert_eq!(err.message, "unclosed bracket '['");
        assert_eq!(err.position, pos(1, 4));
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.message, "duplicate mapping key: a not allowed here");
        assert_eq!(err.position.map(|p| p.line), Some(2));
    }

    #[test]
    fn anchors_and_merge_keys_expand() {
        let node = parse("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n").unwrap();
        let Value::Map(entries) = &node.value else {
            panic!("expected map");
        };
        let Value::Map(other) = &entries[1].1.value else {
            panic!("expected map");
        };
        let keys: Vec<_> = other.iter().map(|(k, _)| k.value.clone()).collect();
        assert!(keys.contains(&Value::String("x".into())), "{keys:?}");
        assert!(keys.contains(&Value::String("y".into())), "{keys:?}");
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let node = parse("[yes, on, n, true]").unwrap();
        let Value::Seq(items) = node.value else {
            panic!("expected list");
        };
        let values: Vec<_> = items.into_iter().map(|n| n.value).collect();
        assert_eq!(
            values,
            vec![
                Value::String("yes".into()),
                Value::String("on".into()),
                Value::String("n".into()),
                Value::Bool(true)
            ]
        );
    }
}
