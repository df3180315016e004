//! Reprise's OpenAPI front end: an OpenAPI 3.0.x or 3.1 document (YAML or
//! JSON) read into one [`ApiModel`] that renders the WIT a guest imports
//! ([`wit::render`]) and carries what the run-time REST stubs need (methods,
//! path templates, where parameters go, which header fills which field).
//!
//! Reading never panics on bad input: every problem is reported with its
//! key path and line ([`Error::Invalid`]). The mapping rules are stated in
//! the module docs of [`schema`] (types) and [`build`] (operations), and in
//! docs/openapi.md.

mod build;
pub mod config;
mod doc;
pub mod error;
mod form;
pub mod model;
pub mod names;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod schema;
mod styles;
pub mod wit;
pub mod yaml;

use std::path::Path;

pub use error::{Error, Problem};
pub use model::ApiModel;

use doc::{Doc, get, str_of};
use model::{Case, Field, TypeDef, TypeKind, TypeRef};
use names::kebab;
use yaml::Value;

/// Choices the document does not make.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// WIT package namespace (default `api`).
    pub namespace: Option<String>,
    /// WIT package name (default: from `info.title`).
    pub name: Option<String>,
}

/// Reads the OpenAPI document at `path`.
pub fn load(path: impl AsRef<Path>, options: &Options) -> Result<ApiModel, Error> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        file: file.clone(),
        source,
    })?;
    parse(&text, &file, options)
}

/// Reads an OpenAPI document from `text`; `file` names it in errors.
pub fn parse(text: &str, file: &str, options: &Options) -> Result<ApiModel, Error> {
    let root = yaml::parse(text).map_err(|e| Error::Syntax {
        file: file.to_owned(),
        position: e.position,
        message: e.message,
    })?;
    let doc = Doc::new(&root);
    let invalid = |doc: Doc<'_>| Error::Invalid {
        file: file.to_owned(),
        problems: doc.into_problems(),
    };
    if !matches!(root.value, Value::Map(_)) {
        doc.problem(
            "",
            Some(&root),
            format!(
                "expected an OpenAPI document (a mapping), found {}",
                root.value.kind_name()
            ),
        );
        return Err(invalid(doc));
    }
    match str_of(&root, "openapi") {
        Some(v) if v.starts_with("3.0") || v.starts_with("3.1") => {}
        Some(v) => doc.problem(
            "openapi",
            get(&root, "openapi"),
            format!("OpenAPI {v} is not supported; use 3.0.x or 3.1"),
        ),
        None if get(&root, "openapi").is_some() => doc.problem(
            "openapi",
            get(&root, "openapi"),
            "`openapi` must be a string: quote the version (`openapi: \"3.0.3\"`); \
             unquoted, YAML reads it as a number",
        ),
        None if get(&root, "swagger").is_some() => doc.problem(
            "swagger",
            get(&root, "swagger"),
            "Swagger 2.0 documents are not supported; convert the document to OpenAPI 3",
        ),
        None => doc.problem(
            "openapi",
            None,
            "missing `openapi: 3.x.y`: this is not an OpenAPI 3 document",
        ),
    }
    let info = get(&root, "info");
    let title = info.and_then(|i| str_of(i, "title"));
    if title.is_none() && options.name.is_none() {
        doc.problem(
            "info.title",
            info,
            "missing `info.title` (it names the WIT package)",
        );
    }
    if doc.has_problems() {
        return Err(invalid(doc));
    }
    let namespace = options
        .namespace
        .clone()
        .unwrap_or_else(|| "api".to_owned());
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| kebab(title.unwrap_or("api")));
    let version = info
        .and_then(|i| str_of(i, "version"))
        .filter(|v| is_semver(v))
        .map(str::to_owned);
    let mut types = schema::Types::new(&doc);
    types.define_all();
    let (interfaces, error_bodies) = build::interfaces(&doc, &mut types);
    // The documented error schema: the one type every typed error body has.
    let typed: Vec<&TypeRef> = error_bodies
        .iter()
        .filter(|b| **b != TypeRef::Json)
        .collect();
    let error_body = match typed.first() {
        Some(first) if typed.iter().all(|b| b == first) => Some((*first).clone()),
        _ => None,
    };
    let mut defs = error_types(error_body.as_ref());
    defs.extend(std::mem::take(&mut types.defs));
    for def in defs.iter().chain(interfaces.iter().flat_map(|i| &i.types)) {
        check_members(&doc, def);
    }
    if doc.has_problems() {
        return Err(invalid(doc));
    }
    let server = get(&root, "servers")
        .and_then(|s| doc::items(s).first())
        .and_then(server_url);
    let security_schemes = security_schemes(&root);
    Ok(ApiModel {
        security_schemes,
        namespace,
        name,
        version,
        docs: info
            .and_then(|i| str_of(i, "description"))
            .map(str::to_owned),
        types: defs,
        interfaces,
        error_body,
        server,
    })
}

/// The entries of `components.securitySchemes` (references are skipped).
fn security_schemes(root: &yaml::Node) -> Vec<model::SecurityScheme> {
    let Some(schemes) = get(root, "components").and_then(|c| get(c, "securitySchemes")) else {
        return Vec::new();
    };
    doc::entries(schemes)
        .into_iter()
        .filter(|(_, node)| get(node, "$ref").is_none())
        .map(|(name, node)| {
            use model::SchemeKind;
            let kind = match str_of(node, "type").unwrap_or_default() {
                "http" => match str_of(node, "scheme")
                    .unwrap_or_default()
                    .to_ascii_lowercase()
                    .as_str()
                {
                    "bearer" => SchemeKind::Bearer,
                    "basic" => SchemeKind::Basic,
                    other => SchemeKind::Unsupported(format!("the HTTP scheme `{other}`")),
                },
                "apiKey" => match (str_of(node, "in"), str_of(node, "name")) {
                    (Some("header"), Some(header)) => SchemeKind::ApiKeyHeader(header.to_owned()),
                    (place, _) => SchemeKind::Unsupported(format!(
                        "an API key in the {}",
                        place.unwrap_or("(unstated place)")
                    )),
                },
                "oauth2" | "openIdConnect" => SchemeKind::Bearer,
                other => SchemeKind::Unsupported(format!("`{other}`")),
            };
            model::SecurityScheme { name, kind }
        })
        .collect()
}

/// The most fields a record, cases a variant and cases an enum may have
/// (wasmparser refuses a component type with more).
const MAX_TYPE_MEMBERS: usize = 10_000;

/// Reports a type with more members than a component type may have: the
/// WIT would be written, and every component built on it refused.
fn check_members(doc: &Doc<'_>, def: &TypeDef) {
    let (count, what) = match &def.kind {
        TypeKind::Record(fields) => (fields.len(), "properties (a WIT record's fields)"),
        TypeKind::Enum(cases) => (cases.len(), "enum values"),
        TypeKind::Variant(cases) => (cases.len(), "alternatives (a WIT variant's cases)"),
        TypeKind::Alias(_) => return,
    };
    if count > MAX_TYPE_MEMBERS {
        doc.problem(
            &format!("(the WIT type `{}`)", def.name),
            None,
            format!(
                "its {count} {what} are more than the {MAX_TYPE_MEMBERS} a component type may \
                 have"
            ),
        );
    }
}

/// Whether `v` is a version a WIT package can carry: semver as wit-parser
/// reads it (no leading zeros, a well-formed pre-release and build part,
/// no WIT keyword there: `1.0.0-stream` does not parse).
fn is_semver(v: &str) -> bool {
    semver::Version::parse(v)
        .is_ok_and(|v| reprise_grpc_stub::model::naming::version_keyword(&v).is_none())
}

/// The error type every function returns, and its parts.
fn error_types(error_body: Option<&TypeRef>) -> Vec<TypeDef> {
    let field = |name: &str, ty: TypeRef| Field {
        name: name.to_owned(),
        wire: name.to_owned(),
        ty,
        constraints: Default::default(),
        docs: None,
        null_when_none: false,
        read_only: false,
    };
    let mut response = vec![
        field("status", TypeRef::U16),
        field("headers", TypeRef::Map(Box::new(TypeRef::String))),
        field("body", TypeRef::String),
    ];
    if let Some(body) = error_body {
        response.push(field("error", TypeRef::Option(Box::new(body.clone()))));
    }
    let response_ref = || Some(TypeRef::Named("error-response".into()));
    let case = |name: &str, ty: Option<TypeRef>| Case {
        name: name.to_owned(),
        ty,
        tag: None,
        discriminator: None,
    };
    vec![
        TypeDef {
            name: "error-response".into(),
            docs: Some("An error answer: status, headers, raw body and, when the API documents one error schema, the body decoded into it.".into()),
            kind: TypeKind::Record(response),
        },
        TypeDef {
            name: "field-error".into(),
            docs: Some("A value at fault: its path (`body.title`) and why.".into()),
            kind: TypeKind::Record(vec![field("field", TypeRef::String), field("message", TypeRef::String)]),
        },
        TypeDef {
            name: "validation".into(),
            docs: Some("Values refused: checked before sending (no response), or a 400/422 answer.".into()),
            kind: TypeKind::Record(vec![
                field("fields", TypeRef::List(Box::new(TypeRef::Named("field-error".into())))),
                field("response", TypeRef::Option(Box::new(TypeRef::Named("error-response".into())))),
            ]),
        },
        TypeDef {
            name: "rate-limit".into(),
            docs: Some("A 429 answer, with `Retry-After` in seconds when given.".into()),
            kind: TypeKind::Record(vec![
                field("retry-after", TypeRef::Option(Box::new(TypeRef::U32))),
                field("response", TypeRef::Named("error-response".into())),
            ]),
        },
        TypeDef {
            name: "error".into(),
            docs: Some("Why a call failed.".into()),
            kind: TypeKind::Variant(vec![
                case("unauthorized", response_ref()),
                case("forbidden", response_ref()),
                case("not-found", response_ref()),
                case("conflict", response_ref()),
                case("precondition-failed", response_ref()),
                case("validation-error", Some(TypeRef::Named("validation".into()))),
                case("rate-limited", Some(TypeRef::Named("rate-limit".into()))),
                case("server-error", response_ref()),
                case("other", response_ref()),
                case("transport", Some(TypeRef::String)),
            ]),
        },
    ]
}

/// A server's `url` with each `{variable}` replaced by its `default`; one
/// without a default is left as written (and the URL refused where it is
/// used, asking for a `base-url`).
fn server_url(server: &yaml::Node) -> Option<String> {
    let url = str_of(server, "url")?;
    let variables = get(server, "variables");
    Some(model::fill_template(url, |name| {
        variables
            .and_then(|v| get(v, name))
            .and_then(|v| get(v, "default"))
            .and_then(|d| match &d.value {
                Value::String(s) => Some(s.clone()),
                Value::Int(i) => Some(i.to_string()),
                _ => None,
            })
    }))
}
