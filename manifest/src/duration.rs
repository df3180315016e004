//! Human-readable durations: `250ms`, `5s`, `2m`, `1h`, `1m30s`.
//!
//! A duration is one or more `<integer><unit>` groups with no spaces; units
//! are `h`, `m`, `s` and `ms`, each used at most once and from largest to
//! smallest. Parsing never panics: overflow is an error.

use std::fmt;
use std::time::Duration;

use crate::read::{Ctx, KeyPath};
use crate::yaml::{Node, Value};

/// Units in the order they must appear, with their length in milliseconds.
const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// Why a duration string was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{text}`: {reason} (write e.g. `250ms`, `5s`, `2m`, `1h`, `1m30s`)")]
pub struct InvalidDuration {
    text: String,
    reason: String,
}

/// Parses a human-readable duration such as `5s` or `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, InvalidDuration> {
    let fail = |reason: String| InvalidDuration {
        text: text.to_owned(),
        reason,
    };
    if text.is_empty() {
        return Err(fail("it is empty".into()));
    }
    let mut rest = text;
    let mut total_ms: u64 = 0;
    // Index into UNITS of the next unit allowed (units must decrease).
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(fail(format!("expected a number at `{rest}`")));
        }
        let (number, tail) = rest.split_at(digits);
        let letters = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        if letters == 0 {
            return Err(fail(if tail.is_empty() {
                format!("`{number}` has no unit")
            } else {
                format!("unexpected `{tail}`")
            }));
        }
        let (unit, tail) = tail.split_at(letters);
        let Some(offset) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(fail(format!(
                "unknown unit `{unit}` (units are `h`, `m`, `s`, `ms`)"
            )));
        };
        if offset < next_unit {
            return Err(fail(format!(
                "unit `{unit}` is repeated or out of order (largest unit first)"
            )));
        }
        next_unit = offset + 1;
        let value: u64 = number
            .parse()
            .map_err(|_| fail(format!("`{number}` is too large")))?;
        total_ms = value
            .checked_mul(UNITS[offset].1)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| fail("it is too large".into()))?;
        rest = tail;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration in the syntax [`parse_duration`] accepts
/// (millisecond precision): `1m30s`, `250ms`, `0s`.
pub fn format_duration(duration: Duration) -> String {
    struct Human(u128);
    impl fmt::Display for Human {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            if self.0 == 0 {
                return f.write_str("0s");
            }
            let mut rest = self.0;
            for (unit, size) in UNITS {
                let size = u128::from(size);
                let count = rest / size;
                if count > 0 {
                    write!(f, "{count}{unit}")?;
                    rest -= count * size;
                }
            }
            Ok(())
        }
    }
    Human(duration.as_millis()).to_string()
}

/// Reads a duration node (a string like `5s`), explaining bare numbers.
pub(crate) fn read(ctx: &mut Ctx, node: &Node, path: &KeyPath) -> Option<Duration> {
    match &node.value {
        Value::String(text) => parse_duration(text)
            .map_err(|err| ctx.report(path, node.position, err.to_string()))
            .ok(),
        Value::Int(n) => {
            ctx.report(
                path,
                node.position,
                format!("`{n}` has no unit; write e.g. `{n}s` or `{n}ms`"),
            );
            None
        }
        _ => {
            ctx.wrong_type(path, node, "a duration like `5s` or `250ms`");
            None
        }
    }
}

/// Reads a duration that must be greater than zero.
pub(crate) fn read_positive(ctx: &mut Ctx, node: &Node, path: &KeyPath) -> Option<Duration> {
    let duration = read(ctx, node, path)?;
    if duration.is_zero() {
        ctx.report(path, node.position, "must be greater than zero");
        return None;
    }
    Some(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_single_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn parses_compound() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            parse_duration("1h2m3s4ms"),
            Ok(Duration::from_millis(3_723_004))
        );
    }

    #[test]
    fn rejects_with_reasons() {
        let cases = [
            ("", "it is empty"),
            ("5", "`5` has no unit"),
            ("5x", "unknown unit `x`"),
            ("s", "expected a number at `s`"),
            ("5 s", "unexpected ` s`"),
            ("1.5s", "unexpected `.5s`"),
            ("30s1m", "out of order"),
            ("1s1s", "repeated"),
            ("-5s", "expected a number at `-5s`"),
            ("99999999999999999999s", "too large"),
            ("9999999999999999h", "too large"),
        ];
        for (text, expected) in cases {
            let message = parse_duration(text).unwrap_err().to_string();
            assert!(message.contains(expected), "{text:?}: {message}");
            assert!(
                message.starts_with(&format!("invalid duration `{text}`")),
                "{message}"
            );
        }
    }

    #[test]
    fn formats_readably() {
        assert_eq!(format_duration(Duration::from_millis(90_250)), "1m30s250ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(ms in 0u64..10_000_000_000) {
            let duration = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }

        #[test]
        fn arbitrary_text_parses_or_explains(text in "[0-9hms .x-]{0,12}") {
            match parse_duration(&text) {
                Ok(duration) => {
                    prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
                }
                Err(err) => {
                    let expected = format!("invalid duration `{text}`");
                    prop_assert!(err.to_string().starts_with(&expected));
                }
            }
        }
    }
}
