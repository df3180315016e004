//! Operations -> interfaces and functions.
//!
//! Operations are grouped by resource: a path's literal segments name its
//! base (`/users/{id}/todos` -> `users-todos`); a path ending in a
//! parameter is the base's item (`{base}-resource`), any other its
//! collection (`{base}-collection`). A function is named from its
//! `operationId`, else from its method: on a collection `list`, `create`,
//! `replace-all`, `update-all`, `delete-all`; on an item `get`, `replace`,
//! `update`, `delete` (`head`, `options`, `trace` as themselves). Path
//! parameters are the function's first parameters; query parameters,
//! request headers (`If-Match` as `expected-version`) and the JSON body
//! (`body`) form the request record `{function}-request`. `Authorization`
//! is the dependency's auth. The result is `result<T, error>`: `T` the 2xx
//! body (the `default` response's when no 2xx one is documented), or a `{function}-response` record when the response declares
//! headers (`ETag` as `version`, `Last-Modified` as `last-updated`), or a
//! variant when several 2xx answers differ.

use crate::doc::{Doc, entries, get, items, str_of};
use crate::model::{
    Body, Case, Encoding, Field, Function, Interface, Location, Media, Param, Request, Response,
    TypeDef, TypeKind, TypeRef,
};
use crate::names::{Scope, kebab};
use crate::schema::{Types, constraints};
use crate::yaml::{Node, Value};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The interfaces of every operation under `paths`.
pub(crate) fn interfaces<'a>(
    doc: &Doc<'a>,
    types: &mut Types<'_, 'a>,
) -> (Vec<Interface>, Vec<TypeRef>) {
    let mut interfaces: Vec<Interface> = Vec::new();
    let mut scopes: Vec<(Scope, Scope)> = Vec::new();
    let mut error_bodies = Vec::new();
    let mut interface_names = Scope::default();
    let mut pending: Vec<Pending<'a>> = Vec::new();
    let Some(paths) = get(doc.root, "paths") else {
        return (interfaces, error_bodies);
    };
    for (path, item) in entries(paths) {
        let item_path = format!("paths.{path}");
        if !path.starts_with('/') {
            doc.problem(&item_path, Some(item), "a path must start with `/`");
            continue;
        }
        let Some((item, _)) = doc.resolve(item, &item_path) else {
            continue;
        };
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let literal: Vec<&str> = segments
            .iter()
            .copied()
            .filter(|s| !s.starts_with('{'))
            .collect();
        let is_item = segments.last().is_some_and(|s| s.starts_with('{'));
        let base = if literal.is_empty() {
            "root".to_owned()
        } else {
            kebab(&literal.join("-"))
        };
        let interface_name = format!("{base}-{}", if is_item { "resource" } else { "collection" });
        let index = match interfaces.iter().position(|i| i.name == interface_name) {
            Some(index) => index,
            None => {
                let name = interface_names.unique(&interface_name);
                interfaces.push(Interface {
                    name,
                    types: Vec::new(),
                    functions: Vec::new(),
                });
                scopes.push((Scope::default(), Scope::default()));
                interfaces.len() - 1
            }
        };
        let shared_params = get(item, "parameters");
        other_servers(doc, item, &item_path);
        // Operations in document order.
        for (method, operation) in entries(item) {
            let Some(method) = METHODS.iter().find(|m| **m == method) else {
                continue;
            };
            other_servers(doc, operation, &format!("{item_path}.{method}"));
            let default_name = match (*method, is_item) {
                ("get", false) => "list",
                ("post", false) => "create",
                ("put", false) => "replace-all",
                ("patch", false) => "update-all",
                ("delete", false) => "delete-all",
                ("get", true) => "get",
                ("post", true) => "create-in",
                ("put", true) => "replace",
                ("patch", true) => "update",
                ("delete", true) => "delete",
                (other, _) => other,
            };
            let name = scopes[index].0.unique(
                &str_of(operation, "operationId").map_or_else(|| default_name.to_owned(), kebab),
            );
            pending.push(Pending {
                index,
                path: path.clone(),
                method,
                operation,
                shared_params,
                name,
            });
        }
    }
    // Every function is named before any type of its interface, so the
    // interface's own types (`{function}-request`) keep clear of them.
    for op in pending {
        let (functions, local_types) = &mut scopes[op.index];
        let op_path = format!("paths.{}.{}", op.path, op.method);
        let mut builder = Operation {
            doc,
            types: &mut *types,
            local: local_types,
            functions,
            local_defs: Vec::new(),
            path: &op_path,
            hint: format!("{}-{}", kebab(&op.path), op.method),
            function: op.name,
        };
        let function = builder.function(
            op.method,
            &op.path,
            op.operation,
            op.shared_params,
            &mut error_bodies,
        );
        let local_defs = builder.local_defs;
        interfaces[op.index].types.extend(local_defs);
        interfaces[op.index].functions.push(function);
    }
    (interfaces, error_bodies)
}

/// An operation named and placed in its interface, to be built.
struct Pending<'a> {
    index: usize,
    path: String,
    method: &'static str,
    operation: &'a Node,
    shared_params: Option<&'a Node>,
    name: String,
}

struct Operation<'o, 'd, 'a> {
    doc: &'o Doc<'a>,
    types: &'o mut Types<'d, 'a>,
    local: &'o mut Scope,
    /// The names of the interface's functions.
    functions: &'o Scope,
    local_defs: Vec<TypeDef>,
    path: &'o str,
    hint: String,
    function: String,
}

impl<'a> Operation<'_, '_, 'a> {
    fn function(
        &mut self,
        method: &str,
        template: &str,
        operation: &'a Node,
        shared: Option<&'a Node>,
        error_bodies: &mut Vec<TypeRef>,
    ) -> Function {
        let mut path_params = Vec::new();
        let mut params = Vec::new();
        // The last parameter is `request`; `If-Match` is `expected-version`.
        let mut positional = Scope::with(&["request"]);
        let mut fields = Scope::with(&["body", "expected-version"]);
        let mut if_match_named = false;
        for (parameter, at) in self.parameters(operation, shared) {
            let Some(name) = str_of(parameter, "name") else {
                self.doc
                    .problem(&at, Some(parameter), "a parameter needs a `name`");
                continue;
            };
            let location = match str_of(parameter, "in") {
                Some("path") => Location::Path,
                Some("query") => Location::Query,
                Some("header") => Location::Header,
                Some("cookie") => {
                    self.doc.problem(
                        &at,
                        Some(parameter),
                        format!("cookie parameter `{name}` is not supported"),
                    );
                    continue;
                }
                other => {
                    self.doc.problem(
                        &at,
                        Some(parameter),
                        format!(
                            "parameter `{name}` has `in: {}`; expected path, query or header",
                            other.unwrap_or("(missing)")
                        ),
                    );
                    continue;
                }
            };
            // The dependency's auth and the executor's own key (the same on
            // every attempt and across a crash): a field would send a second
            // header beside them. `Accept` and `Content-Type` OpenAPI itself
            // says to ignore (the body's media type is the content type).
            if location == Location::Header
                && ["authorization", "idempotency-key", "accept", "content-type"]
                    .iter()
                    .any(|h| name.eq_ignore_ascii_case(h))
            {
                continue;
            }
            // The transport's own headers: a guest-chosen `Host` would send
            // the dependency's credentials to another virtual host behind
            // the base URL's address; the others would break the framing.
            const TRANSPORT: &[&str] = &[
                "host",
                "content-length",
                "transfer-encoding",
                "connection",
                "keep-alive",
                "proxy-connection",
                "upgrade",
                "te",
                "trailer",
            ];
            if location == Location::Header
                && TRANSPORT.iter().any(|h| name.eq_ignore_ascii_case(h))
            {
                self.doc.problem(
                    &at,
                    Some(parameter),
                    format!(
                        "header parameter `{name}` is the transport's own header (set from the \
                         dependency's base URL and the body), which a call cannot set; remove \
                         it from the document"
                    ),
                );
                continue;
            }
            let (encoding, schema) = match crate::styles::encoding(parameter, location, name) {
                Ok(found) => found,
                Err(message) => {
                    self.doc.problem(&at, Some(parameter), message);
                    continue;
                }
            };
            if location == Location::Header
                && (name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)))
            {
                self.doc.problem(
                    &at,
                    Some(parameter),
                    format!("header parameter `{name}` is not a valid HTTP header name"),
                );
                continue;
            }
            let ty = match &schema {
                Some((schema, below)) => self.types.type_of(
                    schema,
                    &format!("{}-{}", self.hint, kebab(name)),
                    &format!("{at}.{below}"),
                    false,
                ),
                // `content: application/json` without a schema: any JSON
                // value, as a request body without one is.
                None if encoding == Encoding::Json => TypeRef::Json,
                None => TypeRef::String,
            };
            let required = location == Location::Path
                || crate::doc::bool_of(parameter, "required") == Some(true);
            let wit = if location == Location::Header && name.eq_ignore_ascii_case("if-match") {
                if std::mem::replace(&mut if_match_named, true) {
                    fields.unique("expected-version")
                } else {
                    "expected-version".to_owned()
                }
            } else if location == Location::Path {
                positional.unique(&kebab(name))
            } else {
                fields.unique(&kebab(name))
            };
            let ty = if required || matches!(ty, TypeRef::Option(_)) {
                ty
            } else {
                TypeRef::Option(Box::new(ty))
            };
            let param = Param {
                name: wit,
                wire: name.to_owned(),
                location,
                ty,
                constraints: schema
                    .and_then(|(s, _)| self.doc.resolve(s, &at))
                    .map(|(s, _)| constraints(self.doc, s))
                    .unwrap_or_default(),
                encoding: Some(encoding),
            };
            if location == Location::Path {
                path_params.push(param);
            } else {
                params.push(param);
            }
        }
        for name in template_names(template) {
            if !path_params.iter().any(|p| p.wire == name) {
                self.doc.problem(
                    self.path,
                    None,
                    format!("path parameter `{name}` is not declared in `parameters`"),
                );
            }
        }
        let body = get(operation, "requestBody").and_then(|body| self.body(body));
        let request = (!params.is_empty() || body.is_some()).then(|| {
            let type_name = self.types.fresh_local(
                &format!("{}-request", self.function),
                self.local,
                self.functions,
            );
            let mut record = Vec::new();
            for p in &params {
                record.push(Field {
                    name: p.name.clone(),
                    wire: p.wire.clone(),
                    ty: p.ty.clone(),
                    constraints: p.constraints.clone(),
                    docs: None,
                    null_when_none: false,
                    read_only: false,
                });
            }
            if let Some(b) = &body {
                record.push(Field {
                    name: "body".into(),
                    wire: String::new(),
                    ty: b.ty.clone(),
                    constraints: Default::default(),
                    docs: None,
                    null_when_none: false,
                    read_only: false,
                });
            }
            self.local_defs.push(TypeDef {
                name: type_name.clone(),
                docs: None,
                kind: TypeKind::Record(record),
            });
            Request {
                type_name,
                params,
                body,
            }
        });
        let (ok, responses) = self.responses(operation, method == "head", error_bodies);
        let docs = str_of(operation, "summary")
            .or_else(|| str_of(operation, "description"))
            .map(str::to_owned);
        Function {
            name: self.function.clone(),
            method: method.to_ascii_uppercase(),
            path: template.to_owned(),
            path_params,
            request,
            ok,
            responses,
            docs,
            anonymous: get(operation, "security")
                .is_some_and(|s| matches!(&s.value, Value::Seq(list) if list.is_empty())),
        }
    }

    /// The operation's parameters after the path item's, `$ref`s resolved;
    /// an operation's parameter replaces the path item's of the same name
    /// and location.
    fn parameters(&self, operation: &'a Node, shared: Option<&'a Node>) -> Vec<(&'a Node, String)> {
        let mut out: Vec<(&'a Node, String)> = Vec::new();
        let lists = [
            (
                shared,
                format!(
                    "{}.parameters",
                    self.path.rsplit_once('.').map_or(self.path, |(p, _)| p)
                ),
            ),
            (
                get(operation, "parameters"),
                format!("{}.parameters", self.path),
            ),
        ];
        for (list, at) in lists {
            let Some(list) = list else { continue };
            for (i, parameter) in items(list).iter().enumerate() {
                let at = format!("{at}[{i}]");
                let Some((parameter, _)) = self.doc.resolve(parameter, &at) else {
                    continue;
                };
                let key = (str_of(parameter, "name"), str_of(parameter, "in"));
                out.retain(|(p, _)| (str_of(p, "name"), str_of(p, "in")) != key);
                out.push((parameter, at));
            }
        }
        out
    }

    fn body(&mut self, body: &'a Node) -> Option<Body> {
        let at = format!("{}.requestBody", self.path);
        let (body, _) = self.doc.resolve(body, &at)?;
        let required = crate::doc::bool_of(body, "required") == Some(true);
        let content = get(body, "content")?;
        let (media, media_node) = pick_media(content)?;
        let ty = match (media.as_str(), get(media_node, "schema")) {
            (m, Some(schema)) if is_json(m) => self.types.type_of(
                schema,
                &format!("{}-request-body", self.hint),
                &format!("{at}.content.{media}.schema"),
                false,
            ),
            (m, Some(schema)) if crate::form::is_form(m) => self.types.type_of(
                schema,
                &format!("{}-request-body", self.hint),
                &format!("{at}.content.{media}.schema"),
                false,
            ),
            ("application/octet-stream", _) => TypeRef::Bytes,
            (m, _) if m.starts_with("text/") => TypeRef::String,
            (m, None) if is_json(m) => TypeRef::Json,
            (m, _) => {
                self.doc.problem(&format!("{at}.content"), Some(content), format!("request bodies of type `{m}` are not supported (JSON, form, text and octet-stream are; a form body needs a schema)"));
                return None;
            }
        };
        let ty = if required || matches!(ty, TypeRef::Option(_)) {
            ty
        } else {
            TypeRef::Option(Box::new(ty))
        };
        let mut form_encoding = Vec::new();
        let kind = if is_json(&media) {
            Media::Json
        } else if crate::form::is_form(&media) {
            form_encoding = crate::form::encodings(
                self.doc,
                &self.types.defs,
                &ty,
                media_node,
                &format!("{at}.content.{media}"),
            )?;
            Media::Form
        } else if media.starts_with("text/") {
            Media::Text
        } else {
            Media::Binary
        };
        let constraints = get(media_node, "schema")
            .and_then(|schema| self.doc.resolve_quietly(schema, &at))
            .map(|schema| constraints(self.doc, schema))
            .unwrap_or_default();
        Some(Body {
            ty,
            content_type: media,
            media: Some(kind),
            form_encoding,
            constraints,
        })
    }

    /// The success type and the documented responses. A `HEAD` answer has
    /// no body, whatever `content` a response lists (documents often copy
    /// `GET`'s): only its headers are read.
    fn responses(
        &mut self,
        operation: &'a Node,
        head: bool,
        error_bodies: &mut Vec<TypeRef>,
    ) -> (Option<TypeRef>, Vec<Response>) {
        let at = format!("{}.responses", self.path);
        let Some(responses) = get(operation, "responses") else {
            self.doc
                .problem(self.path, Some(operation), "an operation needs `responses`");
            return (None, Vec::new());
        };
        let mut success = Vec::new();
        let mut out = Vec::new();
        // Without a 2xx response, `default` is what a 2xx answer brings.
        let has_2xx = entries(responses).iter().any(|(s, _)| s.starts_with('2'));
        for (status, response) in entries(responses) {
            let response_at = format!("{at}.{status}");
            let Some((response, _)) = self.doc.resolve(response, &response_at) else {
                continue;
            };
            let is_success = status.starts_with('2') || (!has_2xx && status == "default");
            // No body comes with a HEAD answer, nor with 204, 205 and 304
            // (HTTP says so): `content` a document gives them anyway (a
            // copy-paste, often) would make every such answer a failure.
            let bodiless = head || matches!(status.as_str(), "204" | "205" | "304");
            let picked = get(response, "content")
                .filter(|_| !bodiless)
                .and_then(pick_media);
            let hint = if is_success {
                format!("{}-response-body", self.hint)
            } else {
                format!("{}-error-body", self.hint)
            };
            let content_at = format!("{response_at}.content");
            let (media, body) = match picked {
                None => (None, None),
                Some((media, node)) => {
                    let schema = get(node, "schema");
                    let essence = media.split(';').next().unwrap_or("").trim();
                    if is_json(&media) {
                        let ty = schema.map_or(TypeRef::Json, |schema| {
                            self.types.type_of(schema, &hint, &content_at, false)
                        });
                        (Some(Media::Json), Some(ty))
                    } else if let (true, Some(schema)) = (essence.ends_with("/*"), schema) {
                        // `*/*` (what some generators write for any
                        // answer) with a schema: read as the schema says,
                        // JSON unless it is a string or bytes (itself, or
                        // a named schema that is one: read as that).
                        let ty = self.types.type_of(schema, &hint, &content_at, false);
                        match self.types.unaliased(&ty) {
                            TypeRef::Bytes => (Some(Media::Binary), Some(TypeRef::Bytes)),
                            TypeRef::String => (Some(Media::Text), Some(TypeRef::String)),
                            _ => (Some(Media::Json), Some(ty)),
                        }
                    } else if media.starts_with("text/") {
                        (Some(Media::Text), Some(TypeRef::String))
                    } else {
                        (Some(Media::Binary), Some(TypeRef::Bytes))
                    }
                }
            };
            let mut headers = Vec::new();
            if is_success {
                let mut scope = Scope::with(&["body"]);
                for (name, header) in get(response, "headers").map(entries).unwrap_or_default() {
                    // A `$ref` to `components.headers`: its schema is there.
                    let header_at = format!("{response_at}.headers.{name}");
                    let Some((header, _)) = self.doc.resolve(header, &header_at) else {
                        continue;
                    };
                    let wit = match name.to_ascii_lowercase().as_str() {
                        "etag" => "version".to_owned(),
                        "last-modified" => "last-updated".to_owned(),
                        _ => kebab(&name),
                    };
                    let wit = scope.unique(&wit);
                    let ty = match get(header, "schema") {
                        Some(schema) => self.types.type_of(
                            schema,
                            &format!("{}-{wit}", self.hint),
                            &header_at,
                            false,
                        ),
                        None => TypeRef::String,
                    };
                    let ty = if matches!(ty, TypeRef::Option(_)) {
                        ty
                    } else {
                        TypeRef::Option(Box::new(ty))
                    };
                    headers.push(Field {
                        name: wit,
                        wire: name,
                        ty,
                        constraints: Default::default(),
                        docs: None,
                        null_when_none: false,
                        read_only: false,
                    });
                }
                success.push(out.len());
            } else if let Some(body) = &body {
                error_bodies.push(body.clone());
            }
            out.push(Response {
                status,
                body,
                media,
                headers,
                case: None,
            });
        }
        let ok = match success.as_slice() {
            [] => None,
            [one] => self.success_type(&out[*one]),
            several => {
                let types: Vec<SuccessShape> = several
                    .iter()
                    .map(|i| self.success_type_peek(&out[*i]))
                    .collect();
                if types.windows(2).all(|w| w[0] == w[1]) {
                    self.success_type(&out[several[0]])
                } else {
                    let name = self.types.fresh_local(
                        &format!("{}-response", self.function),
                        self.local,
                        self.functions,
                    );
                    let mut cases = Vec::new();
                    let mut scope = Scope::default();
                    for i in several {
                        let case = scope.unique(&kebab(&format!("status {}", out[*i].status)));
                        let ty = self.success_type(&out[*i]);
                        out[*i].case = Some(case.clone());
                        cases.push(Case {
                            name: case,
                            ty,
                            tag: Some(out[*i].status.clone()),
                            discriminator: None,
                        });
                    }
                    self.local_defs.push(TypeDef {
                        name: name.clone(),
                        docs: None,
                        kind: TypeKind::Variant(cases),
                    });
                    Some(TypeRef::Named(name))
                }
            }
        };
        (ok, out)
    }

    /// What a success response's type would be, without defining anything:
    /// its body's type, and its headers' names and types (two answers
    /// with different headers are records of different fields).
    fn success_type_peek(&self, response: &Response) -> SuccessShape {
        let headers = response
            .headers
            .iter()
            .map(|h| (h.name.clone(), h.ty.clone()))
            .collect();
        (response.body.clone(), headers)
    }

    /// The type of a success response: its body, or a record of its body
    /// and headers.
    fn success_type(&mut self, response: &Response) -> Option<TypeRef> {
        if response.headers.is_empty() {
            return response.body.clone();
        }
        let name = self.types.fresh_local(
            &format!("{}-response", self.function),
            self.local,
            self.functions,
        );
        let mut fields = Vec::new();
        if let Some(body) = &response.body {
            fields.push(Field {
                name: "body".into(),
                wire: String::new(),
                ty: body.clone(),
                constraints: Default::default(),
                docs: None,
                null_when_none: false,
                read_only: false,
            });
        }
        fields.extend(response.headers.iter().cloned());
        self.local_defs.push(TypeDef {
            name: name.clone(),
            docs: None,
            kind: TypeKind::Record(fields),
        });
        Some(TypeRef::Named(name))
    }
}

/// What tells success answers' types apart: the body's type, and the
/// headers' names and types.
type SuccessShape = (Option<TypeRef>, Vec<(String, TypeRef)>);

/// The media type used from a `content` map: JSON first, then the first.
fn pick_media(content: &Node) -> Option<(String, &Node)> {
    let all = entries(content);
    all.iter()
        .find(|(m, _)| is_json(m))
        .or_else(|| all.first())
        .map(|(m, n)| (m.clone(), *n))
}

fn is_json(media: &str) -> bool {
    let essence = media.split(';').next().unwrap_or("").trim();
    essence == "application/json" || essence.ends_with("+json")
}

/// The parameter names a path template uses, whole segments or not
/// (`/files/{name}.{ext}`: `name`, `ext`), as the request fills them.
fn template_names(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    crate::model::fill_template(template, |name| {
        names.push(name.to_owned());
        None
    });
    names
}

/// Refuses `servers` on a path item or an operation that name another
/// server than the document's: every call goes to the dependency's one
/// base URL, so such an operation would reach the wrong server.
fn other_servers(doc: &Doc<'_>, node: &Node, path: &str) {
    let first_url = |node: &Node| {
        get(node, "servers")
            .and_then(|s| items(s).first())
            .and_then(|s| str_of(s, "url"))
            .map(|url| url.trim_end_matches('/').to_owned())
    };
    let Some(own) = first_url(node) else {
        return;
    };
    if first_url(doc.root).as_deref() != Some(own.as_str()) {
        doc.problem(
            path,
            get(node, "servers"),
            format!(
                "`servers` here names `{own}`, another server than the document's: calls go to \
                 the dependency's one base URL, so this operation would reach the wrong server; \
                 describe it in a document (and a dependency) of its own"
            ),
        );
    }
}
