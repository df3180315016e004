//! Retry policy for remote calls and the gRPC status codes it names.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::duration::format_duration;
use crate::read::{Ctx, Fields, KeyPath, list};
use crate::yaml::{Node, Value};

/// A non-OK gRPC status code, named as in the gRPC spec.
///
/// Names are accepted in any case with `-` or `_` (`unavailable`,
/// `DEADLINE_EXCEEDED`, `resource-exhausted`); they display in kebab-case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum StatusCode {
    /// `CANCELLED` (1).
    Cancelled,
    /// `UNKNOWN` (2).
    Unknown,
    /// `INVALID_ARGUMENT` (3).
    InvalidArgument,
    /// `DEADLINE_EXCEEDED` (4).
    DeadlineExceeded,
    /// `NOT_FOUND` (5).
    NotFound,
    /// `ALREADY_EXISTS` (6).
    AlreadyExists,
    /// `PERMISSION_DENIED` (7).
    PermissionDenied,
    /// `RESOURCE_EXHAUSTED` (8).
    ResourceExhausted,
    /// `FAILED_PRECONDITION` (9).
    FailedPrecondition,
    /// `ABORTED` (10).
    Aborted,
    /// `OUT_OF_RANGE` (11).
    OutOfRange,
    /// `UNIMPLEMENTED` (12).
    Unimplemented,
    /// `INTERNAL` (13).
    Internal,
    /// `UNAVAILABLE` (14).
    Unavailable,
    /// `DATA_LOSS` (15).
    DataLoss,
    /// `UNAUTHENTICATED` (16).
    Unauthenticated,
}

const CODES: [(StatusCode, &str); 16] = [
    (StatusCode::Cancelled, "cancelled"),
    (StatusCode::Unknown, "unknown"),
    (StatusCode::InvalidArgument, "invalid-argument"),
    (StatusCode::DeadlineExceeded, "deadline-exceeded"),
    (StatusCode::NotFound, "not-found"),
    (StatusCode::AlreadyExists, "already-exists"),
    (StatusCode::PermissionDenied, "permission-denied"),
    (StatusCode::ResourceExhausted, "resource-exhausted"),
    (StatusCode::FailedPrecondition, "failed-precondition"),
    (StatusCode::Aborted, "aborted"),
    (StatusCode::OutOfRange, "out-of-range"),
    (StatusCode::Unimplemented, "unimplemented"),
    (StatusCode::Internal, "internal"),
    (StatusCode::Unavailable, "unavailable"),
    (StatusCode::DataLoss, "data-loss"),
    (StatusCode::Unauthenticated, "unauthenticated"),
];

impl StatusCode {
    /// The numeric gRPC code (1..=16), e.g. for `tonic::Code::from_i32`.
    pub fn number(self) -> i32 {
        CODES
            .iter()
            .position(|(code, _)| *code == self)
            .map_or(2, |index| index as i32 + 1)
    }

    /// The kebab-case name (`deadline-exceeded`).
    pub fn name(self) -> &'static str {
        CODES
            .iter()
            .find(|(code, _)| *code == self)
            .map_or("unknown", |(_, name)| name)
    }

    /// The code with the given number, if it is a non-OK gRPC code.
    pub fn from_number(number: i32) -> Option<StatusCode> {
        let index = usize::try_from(number.checked_sub(1)?).ok()?;
        CODES.get(index).map(|(code, _)| *code)
    }

    /// Every code, in numeric order.
    pub fn all() -> impl Iterator<Item = StatusCode> {
        CODES.iter().map(|(code, _)| *code)
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that names no non-OK gRPC status code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown status code `{text}`{hint}; known codes: {known}")]
pub struct InvalidStatusCode {
    text: String,
    hint: String,
    known: String,
}

impl FromStr for StatusCode {
    type Err = InvalidStatusCode;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let normalized = text.trim().to_ascii_lowercase().replace('_', "-");
        if let Some((code, _)) = CODES.iter().find(|(_, name)| *name == normalized) {
            return Ok(*code);
        }
        let names: Vec<&str> = CODES.iter().map(|(_, name)| *name).collect();
        let hint = if normalized == "ok" {
            " (`ok` is success, not an error to retry)".to_owned()
        } else if let Some(close) = crate::read::closest(&normalized, &names) {
            format!(" (did you mean `{close}`?)")
        } else {
            String::new()
        };
        Err(InvalidStatusCode {
            text: text.to_owned(),
            hint,
            known: names.join(", "),
        })
    }
}

/// When and how often a failed call is retried.
///
/// The delay before retry *n* (1-based) is
/// `min(initial_backoff * multiplier^(n-1), max_backoff)`.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts including the first; `1` disables retries.
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub initial_backoff: Duration,
    /// Upper bound for any delay.
    pub max_backoff: Duration,
    /// Growth factor of the delay between retries (`>= 1.0`).
    pub multiplier: f64,
    /// Status codes that trigger a retry; any other failure is final.
    pub retryable_codes: Vec<StatusCode>,
}

impl RetryPolicy {
    /// Default total attempts.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
    /// Largest accepted `max-attempts`.
    pub const MAX_ATTEMPTS_LIMIT: u32 = 100;
    /// Default delay before the first retry.
    pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(100);
    /// Default delay cap.
    pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);
    /// Default growth factor.
    pub const DEFAULT_MULTIPLIER: f64 = 2.0;
    /// Largest accepted multiplier.
    pub const MAX_MULTIPLIER: f64 = 100.0;

    /// A policy that never retries.
    pub fn no_retry() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Whether a failure with `code` after `attempt` attempts (1-based)
    /// should be retried.
    pub fn should_retry(&self, code: StatusCode, attempt: u32) -> bool {
        attempt < self.max_attempts && self.retryable_codes.contains(&code)
    }

    /// The delay before retry number `retry` (1-based).
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let factor = self.multiplier.powi(exponent);
        let seconds = self.initial_backoff.as_secs_f64() * factor;
        if !seconds.is_finite() || seconds >= self.max_backoff.as_secs_f64() {
            self.max_backoff
        } else {
            Duration::from_secs_f64(seconds)
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            initial_backoff: Self::DEFAULT_INITIAL_BACKOFF,
            max_backoff: Self::DEFAULT_MAX_BACKOFF,
            multiplier: Self::DEFAULT_MULTIPLIER,
            retryable_codes: vec![StatusCode::Unavailable],
        }
    }
}

const RETRY_KEYS: &[&str] = &[
    "max-attempts",
    "initial-backoff",
    "max-backoff",
    "multiplier",
    "retryable-codes",
];

/// Reads a `retry` mapping; missing keys take the defaults.
pub(crate) fn read(ctx: &mut Ctx, node: &Node, path: &KeyPath) -> Option<RetryPolicy> {
    let fields = Fields::read(ctx, node, path)?;
    fields.deny_unknown(ctx, RETRY_KEYS);
    let defaults = RetryPolicy::default();
    let max_attempts = match fields.get("max-attempts") {
        None => Some(defaults.max_attempts),
        Some(node) => {
            let key = path.key("max-attempts");
            let limit = RetryPolicy::MAX_ATTEMPTS_LIMIT;
            match node.value {
                Value::Int(n) if (1..=i128::from(limit)).contains(&n) => u32::try_from(n).ok(),
                Value::Int(n) => {
                    ctx.report(
                        &key,
                        node.position,
                        format!("must be between 1 and {limit} (1 disables retries), got {n}"),
                    );
                    None
                }
                _ => {
                    ctx.wrong_type(&key, node, "an integer");
                    None
                }
            }
        }
    };
    let initial = match fields.get("initial-backoff") {
        None => Some(defaults.initial_backoff),
        Some(node) => crate::duration::read_positive(ctx, node, &path.key("initial-backoff")),
    };
    let max = match fields.get("max-backoff") {
        None => Some(defaults.max_backoff),
        Some(node) => crate::duration::read_positive(ctx, node, &path.key("max-backoff")),
    };
    if let (Some(initial), Some(max)) = (initial, max)
        && max < initial
    {
        match fields.get("max-backoff") {
            Some(node) => ctx.report(
                &path.key("max-backoff"),
                node.position,
                format!(
                    "max-backoff ({}) is smaller than initial-backoff ({})",
                    format_duration(max),
                    format_duration(initial)
                ),
            ),
            // Only initial-backoff is written: it passes the default.
            None => ctx.report(
                &path.key("initial-backoff"),
                fields.get("initial-backoff").and_then(|n| n.position),
                format!(
                    "initial-backoff ({}) exceeds the default max-backoff ({}); lower it, or \
                     set max-backoff too",
                    format_duration(initial),
                    format_duration(max)
                ),
            ),
        }
    }
    let multiplier = match fields.get("multiplier") {
        None => Some(defaults.multiplier),
        Some(node) => {
            let key = path.key("multiplier");
            let limit = RetryPolicy::MAX_MULTIPLIER;
            let value = match node.value {
                Value::Float(x) => Some(x),
                Value::Int(n) => Some(n as f64),
                _ => {
                    ctx.wrong_type(&key, node, "a number");
                    None
                }
            };
            value.and_then(|x| {
                if (1.0..=limit).contains(&x) {
                    Some(x)
                } else {
                    ctx.report(
                        &key,
                        node.position,
                        format!("must be between 1.0 and {limit:.1}, got {x}"),
                    );
                    None
                }
            })
        }
    };
    let codes = match fields.get("retryable-codes") {
        None => Some(defaults.retryable_codes),
        Some(node) => read_codes(ctx, node, &path.key("retryable-codes")),
    };
    let (initial_backoff, max_backoff) = (initial?, max?);
    if max_backoff < initial_backoff {
        return None;
    }
    Some(RetryPolicy {
        max_attempts: max_attempts?,
        initial_backoff,
        max_backoff,
        multiplier: multiplier?,
        retryable_codes: codes?,
    })
}

fn read_codes(ctx: &mut Ctx, node: &Node, path: &KeyPath) -> Option<Vec<StatusCode>> {
    let items = list(ctx, node, path)?;
    let mut codes = Vec::new();
    let mut ok = true;
    for (item, item_path) in items {
        let parsed = match &item.value {
            Value::String(text) => text
                .parse::<StatusCode>()
                .map_err(|err| ctx.report(&item_path, item.position, err.to_string()))
                .ok(),
            Value::Int(_) => {
                ctx.report(
                    &item_path,
                    item.position,
                    "status codes are given by name, e.g. `unavailable`",
                );
                None
            }
            _ => {
                ctx.wrong_type(&item_path, item, "a status code name");
                None
            }
        };
        match parsed {
            Some(code) if codes.contains(&code) => {
                ctx.report(
                    &item_path,
                    item.position,
                    format!("status code `{code}` is listed twice"),
                );
                ok = false;
            }
            Some(code) => codes.push(code),
            None => ok = false,
        }
    }
    ok.then_some(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_in_any_spelling() {
        assert_eq!("unavailable".parse(), Ok(StatusCode::Unavailable));
        assert_eq!(
            "DEADLINE_EXCEEDED".parse(),
            Ok(StatusCode::DeadlineExceeded)
        );
        assert_eq!(
            "resource-exhausted".parse(),
            Ok(StatusCode::ResourceExhausted)
        );
    }

    #[test]
    fn codes_numbers_match_grpc() {
        assert_eq!(StatusCode::Cancelled.number(), 1);
        assert_eq!(StatusCode::Unavailable.number(), 14);
        assert_eq!(StatusCode::Unauthenticated.number(), 16);
        for code in StatusCode::all() {
            assert_eq!(StatusCode::from_number(code.number()), Some(code));
            assert_eq!(code.name().parse(), Ok(code));
        }
        assert_eq!(StatusCode::from_number(0), None);
        assert_eq!(StatusCode::from_number(17), None);
        assert_eq!(StatusCode::from_number(i32::MIN), None);
    }

    #[test]
    fn unknown_codes_are_explained() {
        let message = "unavailabel".parse::<StatusCode>().unwrap_err().to_string();
        assert!(
            message.starts_with("unknown status code `unavailabel`"),
            "{message}"
        );
        assert!(message.contains("did you mean `unavailable`?"), "{message}");
        assert!(
            message.contains("known codes: cancelled, unknown,"),
            "{message}"
        );
        let message = "OK".parse::<StatusCode>().unwrap_err().to_string();
        assert!(message.contains("`ok` is success"), "{message}");
    }

    #[test]
    fn backoff_grows_and_caps() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            multiplier: 2.0,
            retryable_codes: vec![StatusCode::Unavailable],
        };
        assert_eq!(policy.backoff(1), Duration::from_millis(100));
        assert_eq!(policy.backoff(2), Duration::from_millis(200));
        assert_eq!(policy.backoff(4), Duration::from_millis(800));
        assert_eq!(policy.backoff(5), Duration::from_millis(1000));
        assert_eq!(policy.backoff(u32::MAX), Duration::from_millis(1000));
    }

    #[test]
    fn should_retry_respects_codes_and_attempts() {
        let policy = RetryPolicy::default();
        assert!(policy.should_retry(StatusCode::Unavailable, 1));
        assert!(policy.should_retry(StatusCode::Unavailable, 2));
        assert!(!policy.should_retry(StatusCode::Unavailable, 3));
        assert!(!policy.should_retry(StatusCode::InvalidArgument, 1));
        assert!(!RetryPolicy::no_retry().should_retry(StatusCode::Unavailable, 1));
    }
}
