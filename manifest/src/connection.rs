//! Connection settings of a grpc dependency: how long connecting may take,
//! keepalive pings, and the largest message sent or accepted.
//!
//! ```yaml
//! connect-timeout: 2s
//! keepalive: { interval: 30s, timeout: 10s }
//! max-message-size: 16MiB
//! ```

use std::time::Duration;

use crate::duration;
use crate::read::{Ctx, Fields, KeyPath};
use crate::yaml::{Node, Value};

/// Largest `max-message-size` accepted: 1 GiB (a gRPC message is at most
/// 4 GiB on the wire; beyond a gigabyte a stream is the better shape).
pub const MAX_MESSAGE_SIZE_LIMIT: u64 = 1 << 30;

/// Validated connection settings; `None` keeps the executor's default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// Limit for establishing a connection (default 5 s).
    pub connect_timeout: Option<Duration>,
    /// Keepalive pings `(interval, timeout)` (default none).
    pub keepalive: Option<(Duration, Duration)>,
    /// Largest message each way, in bytes (default 4 MiB).
    pub max_message_size: Option<u64>,
}

/// Reads the connection keys among a grpc dependency's `fields`.
pub(crate) fn read(ctx: &mut Ctx, fields: &Fields<'_>) -> Option<ConnectionSettings> {
    let path = &fields.path;
    let mut ok = true;
    let connect_timeout = fields.get("connect-timeout").and_then(|node| {
        let parsed = duration::read_positive(ctx, node, &path.key("connect-timeout"));
        ok &= parsed.is_some();
        parsed
    });
    let keepalive = fields.get("keepalive").and_then(|node| {
        let parsed = read_keepalive(ctx, node, &path.key("keepalive"));
        ok &= parsed.is_some();
        parsed
    });
    let max_message_size = fields.get("max-message-size").and_then(|node| {
        let parsed = read_size(
            ctx,
            node,
            &path.key("max-message-size"),
            1..=MAX_MESSAGE_SIZE_LIMIT,
            "1 byte to 1GiB",
        );
        ok &= parsed.is_some();
        parsed
    });
    ok.then_some(ConnectionSettings {
        connect_timeout,
        keepalive,
        max_message_size,
    })
}

fn read_keepalive(ctx: &mut Ctx, node: &Node, path: &KeyPath) -> Option<(Duration, Duration)> {
    let fields = Fields::read(ctx, node, path)?;
    fields.deny_unknown(ctx, &["interval", "timeout"]);
    let interval = fields
        .require(ctx, "interval")
        .and_then(|n| duration::read_positive(ctx, n, &path.key("interval")));
    let timeout = match fields.get("timeout") {
        Some(n) => duration::read_positive(ctx, n, &path.key("timeout")),
        None => Some(Duration::from_secs(20)),
    };
    Some((interval?, timeout?))
}

/// A size: a number of bytes, or a string with a unit (`512KiB`, `16MiB`,
/// `1GiB`, or `B`).
pub(crate) fn read_size(
    ctx: &mut Ctx,
    node: &Node,
    path: &KeyPath,
    range: std::ops::RangeInclusive<u64>,
    range_text: &str,
) -> Option<u64> {
    let bytes = match &node.value {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::String(text) => parse_size(text),
        _ => {
            ctx.wrong_type(path, node, "a size such as `4MiB` or a number of bytes");
            return None;
        }
    };
    match bytes {
        Some(n) if range.contains(&n) => Some(n),
        Some(n) => {
            ctx.report(
                path,
                node.position,
                format!("{n} bytes is out of range: give {range_text}"),
            );
            None
        }
        None => {
            ctx.report(
                path,
                node.position,
                "not a size: write a number of bytes or a number with `B`, `KiB`, `MiB` or `GiB` \
                 (`16MiB`)",
            );
            None
        }
    }
}

/// Parses `16MiB`-style sizes; `None` when it is not one.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("4MiB"), Some(4 << 20));
        assert_eq!(parse_size("512 KiB"), Some(512 << 10));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("4MB"), None);
        assert_eq!(parse_size("MiB"), None);
        assert_eq!(parse_size("-1"), None);
    }
}
