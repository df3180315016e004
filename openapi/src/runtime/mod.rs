//! The run-time side of the model (feature `runtime`): a function's
//! component values become an HTTP request ([`request`]: path, query,
//! headers, JSON body), after the schema constraints are checked — a value
//! that breaks one is a `validation-error` and no request is sent — and an
//! HTTP response becomes the function's `result<T, error>` value
//! ([`response`]). Sending the request is the executor's job (through its
//! durable path); this module is pure.

mod charset;
mod check;
mod constraints;
mod json;
mod params;

pub use check::check_signature;
pub use constraints::unchecked_patterns;
pub use json::MAX_ANSWER_VALUES;

use std::fmt::Write as _;

use wasmtime::component::Val;

use crate::model::{ApiModel, Function, Interface, Location, Media, Response, TypeKind, TypeRef};
use constraints::check;
use json::{Fault, Lookup, from_json, to_json};
use params::{Typed, encode};

/// An HTTP request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Upper-case method.
    pub method: String,
    /// Path and query, to append to the base URL (`/todos?userId=a`).
    pub path_and_query: String,
    /// Request headers (names as the document spells them).
    pub headers: Vec<(String, String)>,
    /// The body and its media type.
    pub body: Option<(String, Vec<u8>)>,
    /// The operation takes no credentials (`security: []`): the
    /// dependency's `auth` is not sent.
    pub anonymous: bool,
}

/// An HTTP response received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// The body's bytes.
    pub body: Vec<u8>,
}

/// The function `name` of interface `interface`, with its interface.
pub fn function<'m>(
    model: &'m ApiModel,
    interface: &str,
    name: &str,
) -> Option<(&'m Interface, &'m Function)> {
    let interface = model.interfaces.iter().find(|i| i.name == interface)?;
    let function = interface.functions.iter().find(|f| f.name == name)?;
    Some((interface, function))
}

/// The request for a call of `function` with `params` (path parameters,
/// then the request record). `Err` holds the function's `error` value: a
/// `validation-error` naming the fields at fault, nothing sent.
pub fn request(
    model: &ApiModel,
    interface: &Interface,
    function: &Function,
    params: &[Val],
) -> Result<HttpRequest, Val> {
    let types = Lookup::new(model, interface);
    let mut faults = Vec::new();
    let mut path = String::new();
    let mut values = params.iter();
    let mut path_values = Vec::new();
    for param in &function.path_params {
        let value = values.next().cloned().unwrap_or(Val::Option(None));
        check(
            &param.ty,
            &value,
            &param.constraints,
            &param.name,
            &types,
            &mut faults,
        );
        // Legacy models: style `simple`, a list's items joined by commas,
        // the whole percent-encoded.
        let text = match param.encoding {
            Some(encoding) => {
                params::path(&param.wire, encoding, Typed::new(&param.ty, &value, &types))
            }
            None => texts(&value, &param.ty, &types).map(|items| encode(&items.join(","))),
        };
        let text = match text {
            Ok(text) => text,
            Err(fault) => {
                faults.push((param.name.clone(), fault.0));
                continue;
            }
        };
        if matches!(text.as_str(), "" | "." | "..") {
            // The URL would name another resource: `/todos/` (the
            // collection), or a dot segment that resolves to the parent.
            faults.push((
                param.name.clone(),
                format!(
                    "path parameter `{}` is {text:?}: a path segment cannot be empty, `.` or `..`",
                    param.wire
                ),
            ));
        }
        path_values.push((param.wire.as_str(), text));
    }
    // Every `{name}` of the template, whole segment or not (`{id}.pdf`),
    // is replaced; the rest (slashes included) is kept as written.
    if !function.path.starts_with('/') {
        path.push('/');
    }
    path.push_str(&crate::model::fill_template(&function.path, |name| {
        path_values
            .iter()
            .find(|(wire, _)| *wire == name)
            .map(|(_, text)| text.clone())
    }));
    let mut query = Vec::new();
    let mut headers = Vec::new();
    let mut body = None;
    if let (Some(request), Some(Val::Record(fields))) = (&function.request, values.next()) {
        for (param, (_, value)) in request.params.iter().zip(fields) {
            check(
                &param.ty,
                value,
                &param.constraints,
                &param.name,
                &types,
                &mut faults,
            );
            // Query parameters as `name=value` pairs, headers as values.
            let values = match (param.encoding, param.location) {
                (Some(encoding), Location::Query) => {
                    params::query(&param.wire, encoding, Typed::new(&param.ty, value, &types))
                }
                (Some(encoding), _) => {
                    params::header(&param.wire, encoding, Typed::new(&param.ty, value, &types))
                        .map(|text| text.into_iter().collect())
                }
                // Legacy models: the place's default style, lists
                // repeated, anything else as JSON text.
                (None, Location::Query) => texts(value, &param.ty, &types).map(|texts| {
                    texts
                        .iter()
                        .map(|text| format!("{}={}", encode(&param.wire), encode(text)))
                        .collect()
                }),
                (None, _) => texts(value, &param.ty, &types),
            };
            let values = match values {
                Ok(values) => values,
                Err(fault) => {
                    faults.push((param.name.clone(), fault.0));
                    continue;
                }
            };
            for text in values {
                match param.location {
                    Location::Query => query.push(text),
                    Location::Header => {
                        // Visible ASCII, spaces and tabs only: anything else
                        // (a line break above all) HTTP cannot carry.
                        if let Some(bad) = text
                            .chars()
                            .find(|c| !(*c == '\t' || (' '..='~').contains(c)))
                        {
                            faults.push((
                                param.name.clone(),
                                format!(
                                    "header `{}` cannot carry {bad:?}: header values are \
                                     printable ASCII",
                                    param.wire
                                ),
                            ));
                        } else {
                            headers.push((param.wire.clone(), text));
                        }
                    }
                    Location::Path => {}
                }
            }
        }
        if let (Some(spec), Some((_, value))) = (&request.body, fields.get(request.params.len())) {
            check(
                &spec.ty,
                value,
                &spec.constraints,
                "body",
                &types,
                &mut faults,
            );
            if !matches!(value, Val::Option(None)) {
                let media = spec.media.unwrap_or_else(|| Media::legacy(&spec.ty));
                let sent = body_bytes(media, spec, value, &types)
                    .and_then(|bytes| charset_of(media, &spec.content_type, bytes));
                match sent {
                    Ok((content_type, bytes)) => body = Some((content_type, bytes)),
                    Err(message) => faults.push(("body".to_owned(), message.0)),
                }
            }
        }
    }
    if !faults.is_empty() {
        return Err(validation_error(faults, None));
    }
    if !query.is_empty() {
        let _ = write!(path, "?{}", query.join("&"));
    }
    // A server offering several media types (JSON and XML, say) picks by
    // `Accept`: ask for the JSON that is read. (`Accept` parameters of the
    // document are ignored, as OpenAPI says.) Not when a success answer is
    // read as something else (a CSV report with JSON errors): a server
    // that negotiates would refuse it with 406.
    let media = |r: &Response| {
        r.body
            .as_ref()
            .map(|ty| r.media.unwrap_or_else(|| Media::legacy(ty)))
    };
    let has_2xx = function.responses.iter().any(|r| r.status.starts_with('2'));
    let is_success =
        |r: &Response| r.status.starts_with('2') || (!has_2xx && r.status == "default");
    let reads_json = function
        .responses
        .iter()
        .any(|r| media(r) == Some(Media::Json));
    let success_not_json = function
        .responses
        .iter()
        .any(|r| is_success(r) && media(r).is_some_and(|m| m != Media::Json));
    if reads_json && !success_not_json {
        headers.push(("Accept".to_owned(), "application/json".to_owned()));
    }
    Ok(HttpRequest {
        anonymous: function.anonymous,
        method: function.method.clone(),
        path_and_query: path,
        headers,
        body,
    })
}

/// The `result<T, error>` value `response` stands for.
pub fn response(
    model: &ApiModel,
    interface: &Interface,
    function: &Function,
    response: &HttpResponse,
) -> Val {
    let types = Lookup::new(model, interface);
    let documented = documented(function, response.status);
    if (200..300).contains(&response.status) {
        return match success(function, documented, response, &types) {
            Ok(value) => Val::Result(Ok(value.map(Box::new))),
            Err(message) => {
                let mut failed = error_response(model, response, &types);
                if let Val::Record(fields) = &mut failed {
                    fields[2].1 = Val::String(format!(
                        "{message}; body: {}",
                        String::from_utf8_lossy(&response.body)
                    ));
                }
                Val::Result(Err(Some(Box::new(Val::Variant(
                    "other".into(),
                    Some(Box::new(failed)),
                )))))
            }
        };
    }
    let details = error_response(model, response, &types);
    let error = match response.status {
        401 => Val::Variant("unauthorized".into(), Some(Box::new(details))),
        403 => Val::Variant("forbidden".into(), Some(Box::new(details))),
        404 => Val::Variant("not-found".into(), Some(Box::new(details))),
        409 => Val::Variant("conflict".into(), Some(Box::new(details))),
        412 => Val::Variant("precondition-failed".into(), Some(Box::new(details))),
        400 | 422 => validation_error(Vec::new(), Some(details)),
        429 => {
            let retry_after =
                header(response, "retry-after").and_then(|v| v.trim().parse::<u32>().ok());
            Val::Variant(
                "rate-limited".into(),
                Some(Box::new(Val::Record(vec![
                    (
                        "retry-after".into(),
                        Val::Option(retry_after.map(|s| Box::new(Val::U32(s)))),
                    ),
                    ("response".into(), details),
                ]))),
            )
        }
        500..=599 => Val::Variant("server-error".into(), Some(Box::new(details))),
        _ => Val::Variant("other".into(), Some(Box::new(details))),
    };
    Val::Result(Err(Some(Box::new(error))))
}

/// The `error` value for a call that got no answer.
pub fn transport_error(message: impl Into<String>) -> Val {
    Val::Result(Err(Some(Box::new(Val::Variant(
        "transport".into(),
        Some(Box::new(Val::String(message.into()))),
    )))))
}

/// The documented response for `status`: exact, then `2XX`-style, then `default`.
fn documented(function: &Function, status: u16) -> Option<&Response> {
    let exact = status.to_string();
    let class = format!("{}XX", status / 100);
    function
        .responses
        .iter()
        .find(|r| r.status == exact)
        .or_else(|| {
            function
                .responses
                .iter()
                .find(|r| r.status.eq_ignore_ascii_case(&class))
        })
        .or_else(|| function.responses.iter().find(|r| r.status == "default"))
}

fn success(
    function: &Function,
    documented: Option<&Response>,
    response: &HttpResponse,
    types: &Lookup<'_>,
) -> Result<Option<Val>, Fault> {
    // `default` describes a 2xx answer only when no 2xx one is documented
    // (it is the error answer otherwise).
    let documented = documented.filter(|d| {
        d.status != "default" || !function.responses.iter().any(|r| r.status.starts_with('2'))
    });
    // Also when the success has no value: a `202 Accepted` where only `204`
    // is documented says the work is not done. (An operation documenting
    // no success at all, only errors, takes any 2xx as its `_`.)
    let Some(documented) = documented else {
        let no_success_documented = !function
            .responses
            .iter()
            .any(|r| r.status.starts_with('2') || r.status == "default");
        if function.ok.is_none() && no_success_documented {
            return Ok(None);
        }
        return Err(Fault(format!(
            "status {} is not documented for this operation",
            response.status
        )));
    };
    let Some(ok) = &function.ok else {
        return Ok(None);
    };
    let value = |documented: &Response| -> Result<Val, Fault> {
        let body = match &documented.body {
            Some(ty) => Some(body_value(
                ty,
                documented.media.unwrap_or_else(|| Media::legacy(ty)),
                response,
                types,
            )?),
            None => None,
        };
        if documented.headers.is_empty() {
            return body.ok_or_else(|| Fault("the response has no body".to_owned()));
        }
        let mut fields = Vec::new();
        if let Some(body) = body {
            fields.push(("body".to_owned(), body));
        }
        for field in &documented.headers {
            let inner = match &field.ty {
                TypeRef::Option(inner) => inner.as_ref(),
                other => other,
            };
            let value = declared_header(response, &field.wire)
                .map(|text| header_json(&text, inner, types, 0))
                .map(|json| {
                    types.restart_count();
                    from_json(inner, &json, types, &format!("header {}", field.wire))
                })
                .transpose()?;
            fields.push((field.name.clone(), Val::Option(value.map(Box::new))));
        }
        Ok(Val::Record(fields))
    };
    match (&documented.case, ok) {
        // A documented answer without body or headers (`204`): its case
        // has no payload.
        (Some(case), _) if documented.body.is_none() && documented.headers.is_empty() => {
            Ok(Some(Val::Variant(case.clone(), None)))
        }
        (Some(case), _) => Ok(Some(Val::Variant(
            case.clone(),
            Some(Box::new(value(documented)?)),
        ))),
        _ => Ok(Some(value(documented)?)),
    }
}

/// A request body's bytes: JSON, or a string's text or a byte list's
/// bytes as they are.
/// A response header's text as the JSON its type reads: numbers and
/// booleans parsed, a list's items split at commas (style `simple`), named
/// types looked through to what they alias; anything else a string.
fn header_json(text: &str, ty: &TypeRef, types: &Lookup<'_>, depth: usize) -> serde_json::Value {
    let as_string = || serde_json::Value::String(text.to_owned());
    match ty {
        TypeRef::S32
        | TypeRef::S64
        | TypeRef::U32
        | TypeRef::U16
        | TypeRef::F64
        | TypeRef::F32
        | TypeRef::Bool => serde_json::from_str(text.trim()).unwrap_or_else(|_| as_string()),
        TypeRef::List(item) => serde_json::Value::Array(
            text.split(',')
                .map(|part| header_json(part.trim(), item, types, depth + 1))
                .collect(),
        ),
        TypeRef::Option(inner) => header_json(text, inner, types, depth + 1),
        // Bounded: alias loops are refused when a model is built or
        // uploaded; the depth guards the rest.
        TypeRef::Named(name) if depth < 64 => match types.get(name).map(|def| &def.kind) {
            Ok(TypeKind::Alias(inner)) => header_json(text, inner, types, depth + 1),
            _ => as_string(),
        },
        _ => as_string(),
    }
}

fn body_bytes(
    media: Media,
    spec: &crate::model::Body,
    value: &Val,
    types: &Lookup<'_>,
) -> Result<Vec<u8>, Fault> {
    let (ty, value) = match (&spec.ty, value) {
        (TypeRef::Option(inner), Val::Option(Some(v))) => (inner.as_ref(), v.as_ref()),
        other => other,
    };
    match (media, ty, value) {
        (Media::Json, ..) => Ok(to_json(ty, value, types)?.to_string().into_bytes()),
        (Media::Form, ..) => params::form_body(ty, value, &spec.form_encoding, types),
        (Media::Text, TypeRef::String, Val::String(text)) => Ok(text.clone().into_bytes()),
        (Media::Binary, TypeRef::Bytes, Val::List(items)) => items
            .iter()
            .map(|item| match item {
                Val::U8(b) => Ok(*b),
                _ => Err(Fault("the body is not a list of bytes".to_owned())),
            })
            .collect(),
        // A schema the document gives a non-JSON body: sent as its JSON text.
        _ => Ok(to_json(ty, value, types)?.to_string().into_bytes()),
    }
}

/// A text body in the charset its media type names (UTF-8, said so, when
/// it names none); other bodies as they are.
fn charset_of(
    media: Media,
    content_type: &str,
    bytes: Vec<u8>,
) -> Result<(String, Vec<u8>), Fault> {
    if media != Media::Text {
        return Ok((content_type.to_owned(), bytes));
    }
    match String::from_utf8(bytes) {
        Ok(text) => charset::encode(content_type, &text),
        Err(e) => Ok((content_type.to_owned(), e.into_bytes())),
    }
}

fn body_value(
    ty: &TypeRef,
    media: Media,
    response: &HttpResponse,
    types: &Lookup<'_>,
) -> Result<Val, Fault> {
    match (media, ty) {
        (Media::Text | Media::Binary, TypeRef::String) => Ok(Val::String(charset::decode(
            header(response, "content-type"),
            &response.body,
        ))),
        (Media::Text | Media::Binary, TypeRef::Bytes) => {
            types.restart_count();
            types.count(response.body.len(), "body")?;
            Ok(Val::List(
                response.body.iter().map(|b| Val::U8(*b)).collect(),
            ))
        }
        _ => {
            if let Some(other) = header(response, "content-type").filter(|t| !is_json(t)) {
                return Err(Fault(format!(
                    "the body is `{other}`, not JSON (`application/json`)"
                )));
            }
            let json: serde_json::Value = serde_json::from_slice(&response.body)
                .map_err(|e| format!("the body is not JSON: {e}"))?;
            types.restart_count();
            from_json(ty, &json, types, "body")
        }
    }
}

/// Whether a `content-type` value is JSON: `application/json`, or a
/// `+json` type such as `application/problem+json`.
fn is_json(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || media.ends_with("+json")
}

/// The `error-response` record of `response`.
fn error_response(model: &ApiModel, response: &HttpResponse, types: &Lookup<'_>) -> Val {
    let mut fields = vec![
        ("status".to_owned(), Val::U16(response.status)),
        (
            "headers".to_owned(),
            Val::List(
                response
                    .headers
                    .iter()
                    .map(|(k, v)| Val::Tuple(vec![Val::String(k.clone()), Val::String(v.clone())]))
                    .collect(),
            ),
        ),
        (
            "body".to_owned(),
            Val::String(String::from_utf8_lossy(&response.body).into_owned()),
        ),
    ];
    if let Some(ty) = &model.error_body {
        let json_answer = header(response, "content-type").is_none_or(is_json);
        let decoded = match ty {
            // Error answers documented as text (or octet-stream) give a
            // `string` (or `bytes`) error type: such an answer is read as
            // it came, not as JSON, which plain text is not.
            TypeRef::String | TypeRef::Bytes if !json_answer => {
                body_value(ty, Media::Text, response, types).ok()
            }
            _ => serde_json::from_slice::<serde_json::Value>(&response.body)
                .ok()
                .and_then(|json| {
                    types.restart_count();
                    from_json(ty, &json, types, "body").ok()
                }),
        };
        fields.push(("error".to_owned(), Val::Option(decoded.map(Box::new))));
    }
    Val::Record(fields)
}

/// A `validation-error` value.
fn validation_error(faults: Vec<(String, String)>, response: Option<Val>) -> Val {
    let fields = faults
        .into_iter()
        .map(|(field, message)| {
            Val::Record(vec![
                ("field".into(), Val::String(field)),
                ("message".into(), Val::String(message)),
            ])
        })
        .collect();
    Val::Variant(
        "validation-error".into(),
        Some(Box::new(Val::Record(vec![
            ("fields".into(), Val::List(fields)),
            ("response".into(), Val::Option(response.map(Box::new))),
        ]))),
    )
}

/// The first line of the answer's header `name` (for the single-valued
/// headers the runtime reads itself: `Content-Type`, `Retry-After`).
fn header<'r>(response: &'r HttpResponse, name: &str) -> Option<&'r str> {
    response
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A header the document declares for an answer: its lines joined with
/// `, ` when it came in several (as HTTP combines them: `Link: <a>` and
/// `Link: <b>` are one list), so none is lost.
fn declared_header<'r>(
    response: &'r HttpResponse,
    name: &str,
) -> Option<std::borrow::Cow<'r, str>> {
    let mut lines = response
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str());
    let first = lines.next()?;
    let Some(second) = lines.next() else {
        return Some(std::borrow::Cow::Borrowed(first));
    };
    let mut all = format!("{first}, {second}");
    for line in lines {
        all.push_str(", ");
        all.push_str(line);
    }
    Some(std::borrow::Cow::Owned(all))
}

/// A parameter's texts: one per value (lists repeat the parameter); a
/// value that has no text (untyped JSON that does not parse) is a fault.
fn texts(value: &Val, ty: &TypeRef, types: &Lookup<'_>) -> Result<Vec<String>, Fault> {
    match (value, ty) {
        (Val::Option(None), _) => Ok(Vec::new()),
        (Val::Option(Some(inner)), TypeRef::Option(t)) => texts(inner, t, types),
        (Val::List(items), TypeRef::List(t)) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(texts(item, t, types)?);
            }
            Ok(out)
        }
        (value, ty) => Ok(match to_json(ty, value, types)? {
            serde_json::Value::String(s) => vec![s],
            other => vec![other.to_string()],
        }),
    }
}
