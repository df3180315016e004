//! Values of the support package `reprise:grpc/types`: `rpc-status`,
//! `call-options`, `timestamp`, `duration`, `any`. The record, case and
//! field names here are the ones in [`crate::wit::support::SUPPORT_WIT`].

use std::collections::BTreeMap;
use std::time::Duration;

use wasmtime::component::Val;

use super::BridgeError;
use super::from_val::bytes;
use super::to_val::bytes_val;
use crate::Error;
use crate::client::metadata::{Metadata, MetadataEntry, MetadataValue};
use crate::client::{CallOptions, MAX_DEADLINE};
use crate::status::{
    BadRequest, Code, ErrorDetail, ErrorInfo, FieldViolation, LocalizedMessage,
    PreconditionFailure, PreconditionViolation, ProtoDuration, QuotaFailure, QuotaViolation,
    ResourceInfo, RetryInfo, RpcStatus,
};
use crate::wit::support::STATUS_CODES;

type Result<T> = std::result::Result<T, BridgeError>;

/// The most elements a `u32` count of empty messages may ask for (a
/// repeated field of an empty message type); more is refused rather than
/// allocated.
pub const MAX_EMPTY_COUNT: u32 = 1_000_000;

fn s(v: &str) -> Val {
    Val::String(v.to_owned())
}

fn rec(fields: Vec<(&str, Val)>) -> Val {
    Val::Record(fields.into_iter().map(|(n, v)| (n.to_owned(), v)).collect())
}

fn string_pairs(map: &BTreeMap<String, String>) -> Val {
    Val::List(
        map.iter()
            .map(|(k, v)| Val::Tuple(vec![s(k), s(v)]))
            .collect(),
    )
}

/// `{seconds, nanos}` (timestamp and duration).
pub(crate) fn seconds_nanos_val(seconds: i64, nanos: i32) -> Val {
    rec(vec![
        ("seconds", Val::S64(seconds)),
        ("nanos", Val::S32(nanos)),
    ])
}

/// `{type-url, value}`.
pub(crate) fn any_val(type_url: String, value: &[u8]) -> Val {
    rec(vec![
        ("type-url", Val::String(type_url)),
        ("value", bytes_val(value)),
    ])
}

/// The fields of a record `expected` with exactly `names`, in that order.
fn fields<'a, const N: usize>(
    v: &'a Val,
    expected: &str,
    names: [&str; N],
) -> Result<[&'a Val; N]> {
    let Val::Record(fields) = v else {
        return Err(BridgeError::mismatch(format!("record `{expected}`"), v));
    };
    if fields.len() != N {
        return Err(BridgeError::mismatch(
            format!("record `{expected}` {{{}}}", names.join(", ")),
            v,
        ));
    }
    let mut out = [v; N];
    for (slot, name) in out.iter_mut().zip(names) {
        *slot = fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| {
                BridgeError::invalid(format!("record `{expected}` lacks field `{name}`"))
            })?;
    }
    Ok(out)
}

fn get_string(v: &Val, field: &str) -> Result<String> {
    match v {
        Val::String(s) => Ok(s.clone()),
        other => Err(BridgeError::mismatch("string", other).at(field)),
    }
}

fn get_pairs(v: &Val, field: &str) -> Result<BTreeMap<String, String>> {
    let Val::List(items) = v else {
        return Err(BridgeError::mismatch("list<tuple<string, string>>", v).at(field));
    };
    let mut out = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Val::Tuple(kv) if kv.len() == 2 => match (&kv[0], &kv[1]) {
                (Val::String(k), Val::String(v)) => {
                    out.insert(k.clone(), v.clone());
                }
                _ => {
                    return Err(BridgeError::mismatch("tuple<string, string>", item)
                        .at(format!("[{i}]"))
                        .at(field));
                }
            },
            other => {
                return Err(BridgeError::mismatch("tuple<string, string>", other)
                    .at(format!("[{i}]"))
                    .at(field));
            }
        }
    }
    Ok(out)
}

fn get_list<'a>(v: &'a Val, field: &str) -> Result<&'a [Val]> {
    match v {
        Val::List(items) => Ok(items),
        other => Err(BridgeError::mismatch("list<..>", other).at(field)),
    }
}

/// Reads `{seconds, nanos}`.
pub(crate) fn seconds_nanos_from_val(v: &Val) -> Result<(i64, i32)> {
    let [seconds, nanos] = fields(v, "timestamp/duration", ["seconds", "nanos"])?;
    match (seconds, nanos) {
        (Val::S64(sec), Val::S32(n)) => Ok((*sec, *n)),
        (Val::S64(_), other) => Err(BridgeError::mismatch("s32", other).at("nanos")),
        (other, _) => Err(BridgeError::mismatch("s64", other).at("seconds")),
    }
}

/// Reads `{type-url, value}`.
pub(crate) fn any_from_val(v: &Val) -> Result<(String, Vec<u8>)> {
    let [url, value] = fields(v, "any", ["type-url", "value"])?;
    Ok((
        get_string(url, "type-url")?,
        bytes(value).map_err(|e| e.at("value"))?,
    ))
}

fn duration_val(d: &ProtoDuration) -> Val {
    seconds_nanos_val(d.seconds, d.nanos)
}

fn opt(v: Option<Val>) -> Val {
    Val::Option(v.map(Box::new))
}

fn detail_val(d: &ErrorDetail) -> Val {
    let (case, payload) = match d {
        ErrorDetail::BadRequest(b) => (
            "bad-request",
            rec(vec![(
                "field-violations",
                Val::List(
                    b.field_violations
                        .iter()
                        .map(|f| {
                            rec(vec![
                                ("field", s(&f.field)),
                                ("description", s(&f.description)),
                                ("reason", s(&f.reason)),
                                (
                                    "localized-message",
                                    opt(f.localized_message.as_ref().map(|l| {
                                        rec(vec![
                                            ("locale", s(&l.locale)),
                                            ("message", s(&l.message)),
                                        ])
                                    })),
                                ),
                            ])
                        })
                        .collect(),
                ),
            )]),
        ),
        ErrorDetail::RetryInfo(r) => (
            "retry-info",
            rec(vec![(
                "retry-delay",
                opt(r.retry_delay.as_ref().map(duration_val)),
            )]),
        ),
        ErrorDetail::ErrorInfo(e) => (
            "error-info",
            rec(vec![
                ("reason", s(&e.reason)),
                ("domain", s(&e.domain)),
                ("metadata", string_pairs(&e.metadata)),
            ]),
        ),
        ErrorDetail::ResourceInfo(r) => (
            "resource-info",
            rec(vec![
                ("resource-type", s(&r.resource_type)),
                ("resource-name", s(&r.resource_name)),
                ("owner", s(&r.owner)),
                ("description", s(&r.description)),
            ]),
        ),
        ErrorDetail::QuotaFailure(q) => (
            "quota-failure",
            rec(vec![(
                "violations",
                Val::List(
                    q.violations
                        .iter()
                        .map(|v| {
                            rec(vec![
                                ("subject", s(&v.subject)),
                                ("description", s(&v.description)),
                                ("api-service", s(&v.api_service)),
                                ("quota-metric", s(&v.quota_metric)),
                                ("quota-id", s(&v.quota_id)),
                                ("quota-dimensions", string_pairs(&v.quota_dimensions)),
                                ("quota-value", Val::S64(v.quota_value)),
                                (
                                    "future-quota-value",
                                    opt(v.future_quota_value.map(Val::S64)),
                                ),
                            ])
                        })
                        .collect(),
                ),
            )]),
        ),
        ErrorDetail::PreconditionFailure(p) => (
            "precondition-failure",
            rec(vec![(
                "violations",
                Val::List(
                    p.violations
                        .iter()
                        .map(|v| {
                            rec(vec![
                                ("type", s(&v.r#type)),
                                ("subject", s(&v.subject)),
                                ("description", s(&v.description)),
                            ])
                        })
                        .collect(),
                ),
            )]),
        ),
        ErrorDetail::Other { type_url, value } => ("other", any_val(type_url.clone(), value)),
    };
    Val::Variant(case.to_owned(), Some(Box::new(payload)))
}

fn metadata_val(metadata: &Metadata) -> Val {
    Val::List(
        metadata
            .iter()
            .map(|e| {
                let value = match &e.value {
                    MetadataValue::Ascii(t) => Val::Variant("text".into(), Some(Box::new(s(t)))),
                    MetadataValue::Binary(b) => {
                        Val::Variant("binary".into(), Some(Box::new(bytes_val(b))))
                    }
                };
                rec(vec![("key", s(&e.key)), ("value", value)])
            })
            .collect(),
    )
}

/// The `rpc-status` value of a status: code, message, typed details and
/// trailers, exactly as the guest sees it.
pub fn rpc_status_to_val(status: &RpcStatus) -> Val {
    let code = STATUS_CODES
        .get(status.code.as_i32() as usize)
        .copied()
        .unwrap_or("unknown");
    rec(vec![
        ("code", Val::Enum(code.to_owned())),
        ("message", s(&status.message)),
        (
            "details",
            Val::List(status.details.iter().map(detail_val).collect()),
        ),
        ("trailers", metadata_val(&status.metadata)),
    ])
}

fn localized_from_val(v: &Val) -> Result<LocalizedMessage> {
    let [locale, message] = fields(v, "localized-message", ["locale", "message"])?;
    Ok(LocalizedMessage {
        locale: get_string(locale, "locale")?,
        message: get_string(message, "message")?,
    })
}

fn option_of<'a>(v: &'a Val, field: &str) -> Result<Option<&'a Val>> {
    match v {
        Val::Option(o) => Ok(o.as_deref()),
        other => Err(BridgeError::mismatch("option<..>", other).at(field)),
    }
}

fn detail_from_val(v: &Val) -> Result<ErrorDetail> {
    let Val::Variant(case, Some(payload)) = v else {
        return Err(BridgeError::mismatch("variant `error-detail`", v));
    };
    let at = |e: BridgeError| e.at(case.clone());
    let detail = match case.as_str() {
        "bad-request" => {
            let [violations] = fields(payload, "bad-request", ["field-violations"]).map_err(at)?;
            let mut out = Vec::new();
            for (i, item) in get_list(violations, "field-violations")
                .map_err(at)?
                .iter()
                .enumerate()
            {
                let wrap = |e: BridgeError| {
                    e.at(format!("[{i}]"))
                        .at("field-violations")
                        .at(case.clone())
                };
                let [field, description, reason, localized] = fields(
                    item,
                    "field-violation",
                    ["field", "description", "reason", "localized-message"],
                )
                .map_err(wrap)?;
                out.push(FieldViolation {
                    field: get_string(field, "field").map_err(wrap)?,
                    description: get_string(description, "description").map_err(wrap)?,
                    reason: get_string(reason, "reason").map_err(wrap)?,
                    localized_message: option_of(localized, "localized-message")
                        .map_err(wrap)?
                        .map(localized_from_val)
                        .transpose()
                        .map_err(wrap)?,
                });
            }
            ErrorDetail::BadRequest(BadRequest {
                field_violations: out,
            })
        }
        "retry-info" => {
            let [delay] = fields(payload, "retry-info", ["retry-delay"]).map_err(at)?;
            let retry_delay = option_of(delay, "retry-delay")
                .map_err(at)?
                .map(|d| {
                    seconds_nanos_from_val(d)
                        .map(|(seconds, nanos)| ProtoDuration { seconds, nanos })
                })
                .transpose()
                .map_err(|e| at(e.at("retry-delay")))?;
            ErrorDetail::RetryInfo(RetryInfo { retry_delay })
        }
        "error-info" => {
            let [reason, domain, metadata] =
                fields(payload, "error-info", ["reason", "domain", "metadata"]).map_err(at)?;
            ErrorDetail::ErrorInfo(ErrorInfo {
                reason: get_string(reason, "reason").map_err(at)?,
                domain: get_string(domain, "domain").map_err(at)?,
                metadata: get_pairs(metadata, "metadata").map_err(at)?,
            })
        }
        "resource-info" => {
            let [t, n, o, d] = fields(
                payload,
                "resource-info",
                ["resource-type", "resource-name", "owner", "description"],
            )
            .map_err(at)?;
            ErrorDetail::ResourceInfo(ResourceInfo {
                resource_type: get_string(t, "resource-type").map_err(at)?,
                resource_name: get_string(n, "resource-name").map_err(at)?,
                owner: get_string(o, "owner").map_err(at)?,
                description: get_string(d, "description").map_err(at)?,
            })
        }
        "quota-failure" => {
            let [violations] = fields(payload, "quota-failure", ["violations"]).map_err(at)?;
            let mut out = Vec::new();
            for (i, item) in get_list(violations, "violations")
                .map_err(at)?
                .iter()
                .enumerate()
            {
                let wrap =
                    |e: BridgeError| e.at(format!("[{i}]")).at("violations").at(case.clone());
                let [subject, description, api, metric, id, dims, value, future] = fields(
                    item,
                    "quota-violation",
                    [
                        "subject",
                        "description",
                        "api-service",
                        "quota-metric",
                        "quota-id",
                        "quota-dimensions",
                        "quota-value",
                        "future-quota-value",
                    ],
                )
                .map_err(wrap)?;
                let quota_value = match value {
                    Val::S64(x) => *x,
                    other => {
                        return Err(wrap(BridgeError::mismatch("s64", other).at("quota-value")));
                    }
                };
                let future_quota_value =
                    match option_of(future, "future-quota-value").map_err(wrap)? {
                        None => None,
                        Some(Val::S64(x)) => Some(*x),
                        Some(other) => {
                            return Err(wrap(
                                BridgeError::mismatch("s64", other).at("future-quota-value"),
                            ));
                        }
                    };
                out.push(QuotaViolation {
                    subject: get_string(subject, "subject").map_err(wrap)?,
                    description: get_string(description, "description").map_err(wrap)?,
                    api_service: get_string(api, "api-service").map_err(wrap)?,
                    quota_metric: get_string(metric, "quota-metric").map_err(wrap)?,
                    quota_id: get_string(id, "quota-id").map_err(wrap)?,
                    quota_dimensions: get_pairs(dims, "quota-dimensions").map_err(wrap)?,
                    quota_value,
                    future_quota_value,
                });
            }
            ErrorDetail::QuotaFailure(QuotaFailure { violations: out })
        }
        "precondition-failure" => {
            let [violations] =
                fields(payload, "precondition-failure", ["violations"]).map_err(at)?;
            let mut out = Vec::new();
            for (i, item) in get_list(violations, "violations")
                .map_err(at)?
                .iter()
                .enumerate()
            {
                let wrap =
                    |e: BridgeError| e.at(format!("[{i}]")).at("violations").at(case.clone());
                let [t, subject, description] = fields(
                    item,
                    "precondition-violation",
                    ["type", "subject", "description"],
                )
                .map_err(wrap)?;
                out.push(PreconditionViolation {
                    r#type: get_string(t, "type").map_err(wrap)?,
                    subject: get_string(subject, "subject").map_err(wrap)?,
                    description: get_string(description, "description").map_err(wrap)?,
                });
            }
            ErrorDetail::PreconditionFailure(PreconditionFailure { violations: out })
        }
        "other" => {
            let (type_url, value) = any_from_val(payload).map_err(at)?;
            ErrorDetail::Other { type_url, value }
        }
        other => {
            return Err(BridgeError::invalid(format!(
                "`error-detail` has no case `{other}`"
            )));
        }
    };
    Ok(detail)
}

fn metadata_from_val(v: &Val, field: &str) -> Result<Metadata> {
    let mut metadata = Metadata::new();
    for (i, item) in get_list(v, field)?.iter().enumerate() {
        let wrap = |e: BridgeError| e.at(format!("[{i}]")).at(field);
        let [key, value] = fields(item, "metadata-entry", ["key", "value"]).map_err(wrap)?;
        let key = get_string(key, "key").map_err(wrap)?;
        let value = match value {
            Val::Variant(case, Some(payload)) if case == "text" => {
                MetadataValue::Ascii(get_string(payload, "text").map_err(|e| wrap(e.at("value")))?)
            }
            Val::Variant(case, Some(payload)) if case == "binary" => {
                MetadataValue::Binary(bytes(payload).map_err(|e| wrap(e.at("binary").at("value")))?)
            }
            other => {
                return Err(wrap(
                    BridgeError::mismatch("variant `metadata-value` (text or binary)", other)
                        .at("value"),
                ));
            }
        };
        let entry = MetadataEntry::new(key, value)
            .map_err(|e| wrap(BridgeError::invalid(e.to_string())))?;
        metadata.push(entry);
    }
    Ok(metadata)
}

fn status_from_val(v: &Val) -> Result<RpcStatus> {
    let [code, message, details, trailers] =
        fields(v, "rpc-status", ["code", "message", "details", "trailers"])?;
    let code = match code {
        Val::Enum(name) => STATUS_CODES
            .iter()
            .position(|c| c == name)
            .and_then(|i| Code::ALL.get(i).copied())
            .ok_or_else(|| {
                BridgeError::invalid(format!("`status-code` has no case `{name}`")).at("code")
            })?,
        other => return Err(BridgeError::mismatch("enum `status-code`", other).at("code")),
    };
    let details = get_list(details, "details")?
        .iter()
        .enumerate()
        .map(|(i, d)| detail_from_val(d).map_err(|e| e.at(format!("[{i}]")).at("details")))
        .collect::<Result<Vec<_>>>()?;
    Ok(RpcStatus {
        code,
        message: get_string(message, "message")?,
        details,
        metadata: metadata_from_val(trailers, "trailers")?,
        retry_pushback_ms: None,
    })
}

/// Reads an `rpc-status` value back (e.g. a recorded result).
pub fn rpc_status_from_val(v: &Val) -> std::result::Result<RpcStatus, Error> {
    status_from_val(v).map_err(|e| e.into_error("rpc-status"))
}

/// Reads the guest's `options` argument: `option<call-options>` (or a bare
/// `call-options` record). `none` gives default options. A negative or
/// out-of-range deadline, one longer than [`MAX_DEADLINE`], and invalid
/// metadata are errors.
pub fn call_options_from_val(v: &Val) -> std::result::Result<CallOptions, Error> {
    let record = match v {
        Val::Option(None) => return Ok(CallOptions::new()),
        Val::Option(Some(inner)) => &**inner,
        other => other,
    };
    options_from_record(record).map_err(|e| e.into_error("call-options"))
}

fn options_from_record(v: &Val) -> Result<CallOptions> {
    let [deadline, metadata] = fields(v, "call-options", ["deadline", "metadata"])?;
    let timeout = match option_of(deadline, "deadline")? {
        None => None,
        Some(d) => {
            let (seconds, nanos) = seconds_nanos_from_val(d).map_err(|e| e.at("deadline"))?;
            let ok = seconds >= 0 && (0..1_000_000_000).contains(&nanos);
            if !ok {
                return Err(BridgeError::invalid(format!(
                    "a deadline must be non-negative with nanos in 0..1e9, got {{seconds: {seconds}, nanos: {nanos}}}"
                ))
                .at("deadline"));
            }
            let deadline = Duration::new(seconds as u64, nanos as u32);
            if deadline > MAX_DEADLINE {
                return Err(BridgeError::invalid(format!(
                    "a deadline of {seconds} seconds is longer than the longest allowed, {} seconds \
                     (3650 days)",
                    MAX_DEADLINE.as_secs()
                ))
                .at("deadline"));
            }
            Some(deadline)
        }
    };
    let mut options = CallOptions::new();
    options.timeout = timeout;
    options.metadata = metadata_from_val(metadata, "metadata")?;
    Ok(options)
}

/// The `call-options` record for options (the idempotency key is a host
/// concern and is not part of the guest-visible record).
pub fn call_options_to_val(options: &CallOptions) -> Val {
    let deadline = options.timeout.map(|d| {
        let seconds = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        seconds_nanos_val(seconds, d.subsec_nanos() as i32)
    });
    rec(vec![
        ("deadline", opt(deadline)),
        ("metadata", metadata_val(&options.metadata)),
    ])
}
