//! The one model of an OpenAPI dependency: the WIT it renders to
//! ([`crate::wit`]) and what the run-time stubs need to build requests and
//! decode responses (HTTP method, path template, where each parameter goes,
//! which header fills which field, which status is which case).

use serde::{Deserialize, Serialize};

/// An OpenAPI document as a WIT package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiModel {
    /// WIT package namespace (`api` unless overridden).
    pub namespace: String,
    /// WIT package name, from `info.title`.
    pub name: String,
    /// WIT package version, from `info.version` when it is semver.
    pub version: Option<String>,
    /// `info.description`.
    pub docs: Option<String>,
    /// The shared `types` interface: schemas and the error type.
    pub types: Vec<TypeDef>,
    /// One interface per resource (a collection or an item of a base path).
    pub interfaces: Vec<Interface>,
    /// The documented error schema, decoded into `error-response.error`.
    pub error_body: Option<TypeRef>,
    /// Base URL from `servers` (may be relative, e.g. `/api/v1`).
    pub server: Option<String>,
    /// `components.securitySchemes`, which a dependency's `auth` must match.
    #[serde(default)]
    pub security_schemes: Vec<SecurityScheme>,
}

/// One entry of `components.securitySchemes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityScheme {
    /// Its name in the document.
    pub name: String,
    /// What credential it takes.
    pub kind: SchemeKind,
}

/// The credential a security scheme takes, as far as a manifest's `auth`
/// can give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SchemeKind {
    /// `Authorization: Bearer` (`http` `bearer`, and the tokens of
    /// `oauth2` and `openIdConnect`).
    Bearer,
    /// `Authorization: Basic` (`http` `basic`).
    Basic,
    /// An API key in the named request header (`apiKey`, `in: header`).
    ApiKeyHeader(String),
    /// Something a manifest's `auth` cannot give (an API key in the query
    /// or a cookie, `mutualTLS`, another `http` scheme), described.
    Unsupported(String),
}

impl std::fmt::Display for SchemeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemeKind::Bearer => f.write_str("a bearer token"),
            SchemeKind::Basic => f.write_str("basic auth"),
            SchemeKind::ApiKeyHeader(header) => write!(f, "an API key in header `{header}`"),
            SchemeKind::Unsupported(what) => f.write_str(what),
        }
    }
}

/// A named WIT type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeDef {
    /// WIT name.
    pub name: String,
    /// Documentation.
    pub docs: Option<String>,
    /// What it is.
    pub kind: TypeKind,
}

/// The kinds of named type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TypeKind {
    /// An object schema.
    Record(Vec<Field>),
    /// A string enum; JSON values kept.
    Enum(Vec<EnumCase>),
    /// `oneOf`/`anyOf`, several 2xx bodies, the error type.
    Variant(Vec<Case>),
    /// Another name for a type.
    Alias(TypeRef),
}

/// A record field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// WIT name.
    pub name: String,
    /// JSON property (or header/parameter) name.
    pub wire: String,
    /// Type (`option<...>` for optional properties).
    pub ty: TypeRef,
    /// Checks made before a request is sent.
    pub constraints: Constraints,
    /// Documentation.
    pub docs: Option<String>,
    /// A JSON property the schema lists in `required` although its type is
    /// an `option` (the property is nullable): `none` is sent as `null`,
    /// not left out. (Absent from models stored by older builds, which
    /// left such properties out.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub null_when_none: bool,
    /// A `readOnly` property: the server's to set, so it is never sent in
    /// a request (the guest's value is ignored), only read from answers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

/// An enum case and its JSON value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumCase {
    /// WIT name.
    pub name: String,
    /// JSON value.
    pub value: String,
}

/// A variant case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// WIT name.
    pub name: String,
    /// Payload.
    pub ty: Option<TypeRef>,
    /// The discriminator value selecting it, when the schema has one.
    pub tag: Option<String>,
    /// The discriminator's property (`discriminator.propertyName`), when
    /// the `oneOf` has one: an answer is then decoded as the case whose
    /// [`tag`](Self::tag) the property names, not the first that fits.
    #[serde(default)]
    pub discriminator: Option<String>,
}

/// A type reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TypeRef {
    /// `bool`.
    Bool,
    /// `s32` (`integer`, `format: int32`).
    S32,
    /// `s64` (`integer` otherwise).
    S64,
    /// `u16` (HTTP statuses).
    U16,
    /// `u32`.
    U32,
    /// `f32` (`number`, `format: float`).
    F32,
    /// `f64` (`number` otherwise).
    F64,
    /// `string`.
    String,
    /// `list<u8>` (`format: binary` or `byte`).
    Bytes,
    /// An untyped schema: any JSON value, as its JSON text (`string`).
    Json,
    /// `list<T>`.
    List(Box<TypeRef>),
    /// `option<T>`.
    Option(Box<TypeRef>),
    /// `additionalProperties`: `list<tuple<string, T>>`.
    Map(Box<TypeRef>),
    /// A named type (in `types`, or in the same interface).
    Named(String),
}

/// Schema constraints checked in the stub before any request is sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Constraints {
    /// `minLength`.
    pub min_length: Option<u64>,
    /// `maxLength`.
    pub max_length: Option<u64>,
    /// `pattern`.
    pub pattern: Option<String>,
    /// `minimum`.
    pub minimum: Option<f64>,
    /// `maximum`.
    pub maximum: Option<f64>,
    /// An exclusive lower bound: 3.1's `exclusiveMinimum`, or 3.0's
    /// `exclusiveMinimum: true` with `minimum`. (Absent from models stored
    /// by older builds, which did not check it.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive_minimum: Option<f64>,
    /// An exclusive upper bound, the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive_maximum: Option<f64>,
    /// `minItems`.
    pub min_items: Option<u64>,
    /// `maxItems`.
    pub max_items: Option<u64>,
    /// The constraints of each item of an array (`items`), or of each
    /// value of a map (`additionalProperties`). (Absent from models stored
    /// by older builds, which did not check them.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<Constraints>>,
}

impl Constraints {
    /// Whether nothing is constrained.
    pub fn is_empty(&self) -> bool {
        *self == Constraints::default()
    }

    /// What a value meeting both `self` and `other` meets (two `allOf`
    /// parts defining one property): the stricter of each bound. Of two
    /// patterns, which one constraint cannot hold both of, `self`'s.
    pub fn both(&self, other: &Constraints) -> Constraints {
        fn pick<T: Copy>(a: Option<T>, b: Option<T>, stricter: fn(T, T) -> T) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(stricter(a, b)),
                (a, b) => a.or(b),
            }
        }
        Constraints {
            min_length: pick(self.min_length, other.min_length, u64::max),
            max_length: pick(self.max_length, other.max_length, u64::min),
            pattern: self.pattern.clone().or_else(|| other.pattern.clone()),
            minimum: pick(self.minimum, other.minimum, f64::max),
            maximum: pick(self.maximum, other.maximum, f64::min),
            exclusive_minimum: pick(self.exclusive_minimum, other.exclusive_minimum, f64::max),
            exclusive_maximum: pick(self.exclusive_maximum, other.exclusive_maximum, f64::min),
            min_items: pick(self.min_items, other.min_items, u64::max),
            max_items: pick(self.max_items, other.max_items, u64::min),
            items: match (&self.items, &other.items) {
                (Some(a), Some(b)) => Some(Box::new(a.both(b))),
                (a, b) => a.clone().or_else(|| b.clone()),
            },
        }
    }
}

/// One interface: the operations on one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    /// WIT name (`todos-collection`, `todos-resource`).
    pub name: String,
    /// Request and response types local to it.
    pub types: Vec<TypeDef>,
    /// Its functions.
    pub functions: Vec<Function>,
}

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Location {
    /// In the path template.
    Path,
    /// In the query string.
    Query,
    /// In a request header.
    Header,
}

/// A parameter of an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Param {
    /// WIT name.
    pub name: String,
    /// Name on the wire.
    pub wire: String,
    /// Where it goes.
    pub location: Location,
    /// Its type (`option<...>` when not required; never for path ones).
    pub ty: TypeRef,
    /// Checks made before sending.
    pub constraints: Constraints,
    /// How its value is written. `None` in models stored by builds before
    /// this field, which wrote every value in the place's default style
    /// and objects as JSON text; they keep doing so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
}

/// How a parameter's value is written: OpenAPI's `style` and `explode`,
/// or `content` with a JSON media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// A style, with its `explode`.
    Style {
        /// The style.
        style: Style,
        /// Whether arrays and objects are spread over several names
        /// (`explode: true`) or written under one.
        explode: bool,
    },
    /// The value's JSON text (`content: {application/json: ...}`).
    Json,
}

/// OpenAPI's parameter styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Style {
    /// `name=value` (query; the default there).
    Form,
    /// Array items joined by spaces (query).
    SpaceDelimited,
    /// Array items joined by `|` (query).
    PipeDelimited,
    /// `name[key]=value` for each property of an object (query).
    DeepObject,
    /// Items joined by commas (path and header; the default there).
    Simple,
    /// `.value` (path).
    Label,
    /// `;name=value` (path).
    Matrix,
}

impl Style {
    /// Its name in a document.
    pub fn name(self) -> &'static str {
        match self {
            Style::Form => "form",
            Style::SpaceDelimited => "spaceDelimited",
            Style::PipeDelimited => "pipeDelimited",
            Style::DeepObject => "deepObject",
            Style::Simple => "simple",
            Style::Label => "label",
            Style::Matrix => "matrix",
        }
    }

    /// The style a document names, if OpenAPI has it.
    pub fn parse(name: &str) -> Option<Style> {
        [
            Style::Form,
            Style::SpaceDelimited,
            Style::PipeDelimited,
            Style::DeepObject,
            Style::Simple,
            Style::Label,
            Style::Matrix,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// One operation as a WIT function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Function {
    /// WIT name.
    pub name: String,
    /// HTTP method, upper-case.
    pub method: String,
    /// The path template (`/todos/{todoId}`), after the server's base.
    pub path: String,
    /// Path parameters: the function's first parameters.
    pub path_params: Vec<Param>,
    /// The request record (query and header parameters, and the body).
    pub request: Option<Request>,
    /// The success type (`None`: `result<_, error>`).
    pub ok: Option<TypeRef>,
    /// How each documented response is read.
    pub responses: Vec<Response>,
    /// `summary`/`description`.
    pub docs: Option<String>,
    /// The operation says `security: []`: it takes no credentials, and
    /// the dependency's `auth` is not sent. (Absent from models stored by
    /// older builds, which sent it.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
}

/// The request record of a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The record's WIT name (in the interface).
    pub type_name: String,
    /// Query and header parameters, in field order.
    pub params: Vec<Param>,
    /// The JSON body, as field `body`.
    pub body: Option<Body>,
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Body {
    /// Its type (`option<...>` when not required).
    pub ty: TypeRef,
    /// Its media type.
    pub content_type: String,
    /// How it is written (`None` in models from builds before this field:
    /// see [`Media::legacy`]).
    #[serde(default)]
    pub media: Option<Media>,
    /// A form body's fields written otherwise than `style: form`,
    /// exploded (by property name; see `form.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub form_encoding: Vec<(String, Encoding)>,
    /// The constraints of the body's own schema (a text body's
    /// `maxLength`, an array body's `maxItems`; a record's fields carry
    /// their own).
    #[serde(default, skip_serializing_if = "Constraints::is_empty")]
    pub constraints: Constraints,
}

/// How a body is written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Media {
    /// JSON (`application/json`, `+json`): the value as JSON, a `string`
    /// as a JSON string.
    Json,
    /// `text/*`: a `string`'s characters as they are.
    Text,
    /// Anything else (`application/octet-stream`): a `list<u8>`'s bytes.
    Binary,
    /// `application/x-www-form-urlencoded`: a record's fields as
    /// `name=value` pairs, each written as a query parameter would be.
    Form,
}

impl Media {
    /// What models without [`Body::media`] meant: a `string` as text, a
    /// `list<u8>` as bytes, anything else as JSON.
    pub fn legacy(ty: &TypeRef) -> Media {
        match ty {
            TypeRef::Option(inner) => Media::legacy(inner),
            TypeRef::String => Media::Text,
            TypeRef::Bytes => Media::Binary,
            _ => Media::Json,
        }
    }
}

/// A documented response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The status key (`200`, `2XX`, `default`).
    pub status: String,
    /// The body's type.
    pub body: Option<TypeRef>,
    /// How the body is read (`None` in models from builds before this
    /// field: see [`Media::legacy`]).
    #[serde(default)]
    pub media: Option<Media>,
    /// Response headers read into fields of the response record.
    pub headers: Vec<Field>,
    /// The success variant's case, when several 2xx answers differ.
    pub case: Option<String>,
}

impl ApiModel {
    /// Checks that every alias among the model's types ends in a type that
    /// is not an alias, and names a type the model has, as each interface
    /// sees them (its own types over the shared ones). A model compiled
    /// here always does; one handed over as data (an upload) may not, and
    /// the runtime, which follows aliases without consuming anything, would
    /// follow a chain that comes back to where it started for ever. Linear
    /// in the number of types per interface.
    pub fn check_aliases(&self) -> Result<(), crate::Error> {
        let shared = || self.types.iter().map(|t| (t.name.as_str(), t));
        check_alias_view(shared().collect())?;
        for interface in &self.interfaces {
            let view = shared()
                .chain(interface.types.iter().map(|t| (t.name.as_str(), t)))
                .collect();
            check_alias_view(view)?;
        }
        Ok(())
    }
}

/// [`ApiModel::check_aliases`] for one view of the types by name.
fn check_alias_view(
    by_name: std::collections::HashMap<&str, &TypeDef>,
) -> Result<(), crate::Error> {
    // Types whose alias chain is known to end well.
    let mut done: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (&start, &def) in &by_name {
        // The chain from `start`, in order and as a set.
        let mut chain: Vec<&str> = vec![start];
        let mut on_chain: std::collections::HashSet<&str> =
            std::collections::HashSet::from([start]);
        let mut current = def;
        // Bounded: each step adds a new type to the chain, or ends.
        while let TypeKind::Alias(TypeRef::Named(next)) = &current.kind {
            let next = next.as_str();
            if done.contains(next) {
                break;
            }
            let Some(&def) = by_name.get(next) else {
                return Err(crate::Error::Model {
                    message: format!(
                        "type `{}` is an alias of `{next}`, which the model does not have",
                        current.name
                    ),
                });
            };
            if !on_chain.insert(next) {
                chain.push(next);
                let from = chain.iter().position(|n| *n == next).unwrap_or(0);
                return Err(crate::Error::Model {
                    message: format!(
                        "type `{next}` is an alias of itself ({})",
                        chain[from..].join(" -> ")
                    ),
                });
            }
            chain.push(next);
            current = def;
        }
        done.extend(chain);
    }
    Ok(())
}

/// `template` with each `{name}` in it (a whole path segment or not:
/// `/files/{name}.{ext}`) replaced by `value(name)`; a name without a value,
/// and an unclosed `{`, are kept as written. Path templates and server URLs
/// are filled this way.
pub fn fill_template(template: &str, mut value: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        match value(&rest[open + 1..open + close]) {
            Some(text) => out.push_str(&text),
            None => out.push_str(&rest[open..=open + close]),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}
