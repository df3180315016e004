//! The `grpc` dependency type: a gRPC service described by `.proto` files.
//!
//! This module reads and validates the manifest entry; compiling the protos
//! into descriptors lives in [`crate::compile`].

use std::path::{Component as PathComponent, Path, PathBuf};
use std::time::Duration;

use reprise_grpc_stub::config::Compression;

use crate::auth::{self, Auth};
use crate::connection::{self, ConnectionSettings};
use crate::duration;
use crate::endpoint::Endpoint;
use crate::names::{DependencyRef, WitNamespace, reserved_namespace_problem};
use crate::read::{Ctx, Fields, KeyPath, list, string};
use crate::retry::{self, RetryPolicy};
use crate::tls::{self, TlsSettings};
use crate::yaml::{Node, Value};

/// A validated `type: grpc` dependency.
#[derive(Clone, Debug, PartialEq)]
pub struct GrpcDependency {
    /// The component and dependency this belongs to.
    pub owner: DependencyRef,
    /// The dependency's own proto files, as import names relative to the
    /// include directories (`core/todo/v1/todo.proto`), in manifest order.
    pub protos: Vec<String>,
    /// Include directories searched in order, resolved against the manifest's
    /// folder. When the manifest gives none, the manifest's folder itself.
    pub include: Vec<PathBuf>,
    /// Overrides for the generated WIT package name.
    pub wit: WitOverride,
    /// Where calls go unless the executor overrides it.
    pub endpoint: Endpoint,
    /// How calls authenticate; `None` sends no credentials.
    pub auth: Option<Auth>,
    /// Deadline of each call attempt.
    pub timeout: Duration,
    /// Retries of failed attempts.
    pub retry: RetryPolicy,
    /// Whether the manifest writes `retry` itself (otherwise `retry` holds
    /// the defaults). Only a declared policy is carried to the executor:
    /// without one, each call is made once.
    pub retry_declared: bool,
    /// How requests are compressed (`compression: gzip`); responses are
    /// accepted compressed whatever this says.
    pub compression: Option<Compression>,
    /// TLS settings of an `https` endpoint (`None`: the system's roots).
    pub tls: Option<TlsSettings>,
    /// Connect timeout, keepalive and message size limit.
    pub connection: ConnectionSettings,
    /// Unary methods declared free of side effects (`read-only-methods`),
    /// by name or full name; checked against the protos when compiled.
    pub read_only_methods: Vec<String>,
    /// The descriptors come from the endpoint's server reflection
    /// (`reflection: true`) instead of `protos`; fetched by the CLI at
    /// upload (and by `wit`), stored with the component.
    pub reflection: bool,
    /// With reflection, the services to take (full names); `None`: every
    /// service the server lists but reflection and health.
    pub services: Option<Vec<String>>,
}

impl GrpcDependency {
    /// The per-attempt deadline when the manifest gives no `timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// Where `proto` (one of [`GrpcDependency::protos`] or an import name)
    /// is found: the first include directory containing it.
    pub fn locate(&self, proto: &str) -> Option<PathBuf> {
        self.include
            .iter()
            .map(|dir| dir.join(proto))
            .find(|path| path.is_file())
    }
}

/// Overrides for the WIT package derived from the proto package.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WitOverride {
    /// Namespace to use (required for one-segment proto packages).
    pub namespace: Option<WitNamespace>,
    /// Version to use instead of the one derived from a `vN` package suffix.
    pub version: Option<semver::Version>,
}

/// Keys accepted in a grpc dependency.
pub(crate) const KEYS: &[&str] = &[
    "type",
    "protos",
    "include",
    "wit",
    "endpoint",
    "auth",
    "timeout",
    "retry",
    "compression",
    "tls",
    "connect-timeout",
    "keepalive",
    "max-message-size",
    "read-only-methods",
    "reflection",
    "services",
];

/// Reads a `type: grpc` dependency from its fields.
pub(crate) fn read(
    ctx: &mut Ctx,
    fields: &Fields<'_>,
    owner: &DependencyRef,
) -> Option<GrpcDependency> {
    fields.deny_unknown(ctx, KEYS);
    let path = &fields.path;

    let reflection = match fields.get("reflection") {
        None => false,
        Some(node) => match &node.value {
            Value::Bool(yes) => *yes,
            _ => {
                ctx.wrong_type(&path.key("reflection"), node, "`true` or `false`");
                false
            }
        },
    };
    let protos = if reflection {
        if let Some(node) = fields.get("protos") {
            ctx.report(
                &path.key("protos"),
                node.position,
                "give either `protos` or `reflection: true`, not both",
            );
            None
        } else {
            Some(Vec::new())
        }
    } else {
        fields
            .require(ctx, "protos")
            .and_then(|node| read_protos(ctx, node, &path.key("protos")))
    };
    let services = match fields.get("services") {
        None => Some(None),
        Some(node) if !reflection => {
            ctx.report(
                &path.key("services"),
                node.position,
                "`services` chooses among what server reflection lists; it needs \
                 `reflection: true` (with `protos`, every service of the files is taken)",
            );
            None
        }
        Some(node) => read_service_names(ctx, node, &path.key("services")).map(Some),
    };
    let include = match fields.get("include") {
        Some(node) if reflection => {
            ctx.report(
                &path.key("include"),
                node.position,
                "`include` lists the folders `protos` are found in; with `reflection: true` \
                 the server describes its services and no proto file is read",
            );
            None
        }
        Some(node) => read_includes(ctx, node, &path.key("include")),
        None => Some(vec![ctx.base_dir().to_path_buf()]),
    };
    // With no include folder at all (each one reported already), the protos
    // would only be reported missing because of it.
    if let (Some(protos), Some(include), true, false) =
        (&protos, &include, ctx.check_files(), reflection)
        && include.iter().any(|dir| dir.is_dir())
    {
        check_protos_exist(ctx, fields, protos, include);
    }
    let wit = match fields.get("wit") {
        Some(node) => read_wit(ctx, node, &path.key("wit")),
        None => Some(WitOverride::default()),
    };
    let endpoint = fields.require(ctx, "endpoint").and_then(|node| {
        let key = path.key("endpoint");
        let text = string(ctx, node, &key)?;
        text.parse::<Endpoint>()
            .map_err(|err| ctx.report(&key, node.position, err.to_string()))
            .ok()
    });
    let auth = match fields.get("auth") {
        Some(node) => auth::read(ctx, node, &path.key("auth"), owner).map(Some),
        None => Some(None),
    };
    let timeout = match fields.get("timeout") {
        Some(node) => duration::read_positive(ctx, node, &path.key("timeout")),
        None => Some(GrpcDependency::DEFAULT_TIMEOUT),
    };
    let compression = match fields.get("compression") {
        Some(node) => read_compression(ctx, node, &path.key("compression")).map(Some),
        None => Some(None),
    };
    let tls = match fields.get("tls") {
        Some(node) => {
            let tls = tls::read(ctx, node, &path.key("tls"));
            if let Some(Endpoint { .. }) = endpoint.as_ref().filter(|e| !e.is_tls()) {
                ctx.report(
                    &path.key("tls"),
                    node.position,
                    "TLS settings are given but the endpoint is plaintext (`http://`); use \
                     `https://`",
                );
                None
            } else {
                tls.map(Some)
            }
        }
        None => Some(None),
    };
    let connection = connection::read(ctx, fields);
    let read_only_methods = match fields.get("read-only-methods") {
        Some(node) => read_method_names(ctx, node, &path.key("read-only-methods")),
        None => Some(Vec::new()),
    };
    let retry_declared = fields.get("retry").is_some();
    let retry = match fields.get("retry") {
        Some(node) => retry::read(ctx, node, &path.key("retry")),
        None => Some(RetryPolicy::default()),
    };
    Some(GrpcDependency {
        owner: owner.clone(),
        protos: protos?,
        include: include?,
        wit: wit?,
        endpoint: endpoint?,
        auth: auth?,
        timeout: timeout?,
        retry: retry?,
        retry_declared,
        compression: compression?,
        tls: tls?,
        connection: connection?,
        read_only_methods: read_only_methods?,
        reflection,
        services: services?,
    })
}

/// Reads `read-only-methods`: a list of method names (`GetFeature`) or
/// full names (`routeguide.RouteGuide.GetFeature`).
fn read_method_names(ctx: &mut Ctx, node: &Node, path: &KeyPath) -> Option<Vec<String>> {
    read_names(
        ctx,
        node,
        path,
        "a method name (`GetFeature` or `package.Service.GetFeature`)",
    )
}

/// Reads `services`: full service names as server reflection lists them
/// (`routeguide.RouteGuide`), at least one.
fn read_service_names(ctx: &mut Ctx, node: &Node, path: &KeyPath) -> Option<Vec<String>> {
    let names = read_names(
        ctx,
        node,
        path,
        "a full service name (`package.Service`, as server reflection lists it)",
    )?;
    if names.is_empty() {
        ctx.report(
            path,
            node.position,
            "list at least one service, or leave `services` out to take every service the \
             server lists",
        );
        return None;
    }
    Some(names)
}

/// Reads a list of dotted proto names; `what` says what each must be.
fn read_names(ctx: &mut Ctx, node: &Node, path: &KeyPath, what: &str) -> Option<Vec<String>> {
    let items = list(ctx, node, path)?;
    let mut names = Vec::new();
    let mut ok = true;
    for (item, item_path) in items {
        let Some(text) = string(ctx, item, &item_path) else {
            ok = false;
            continue;
        };
        let valid = !text.is_empty()
            && text.split('.').all(|part| {
                !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if !valid {
            ctx.report(&item_path, item.position, format!("`{text}` is not {what}"));
            ok = false;
            continue;
        }
        names.push(text.to_owned());
    }
    ok.then_some(names)
}

/// Reads `compression`: `gzip` (the one supported).
fn read_compression(ctx: &mut Ctx, node: &Node, path: &KeyPath) -> Option<Compression> {
    let text = string(ctx, node, path)?;
    match text {
        "gzip" => Some(Compression::Gzip),
        other => {
            ctx.report(
                path,
                node.position,
                format!("unknown compression `{other}`; supported: `gzip`"),
            );
            None
        }
    }
}

fn read_protos(ctx: &mut Ctx, node: &Node, path: &KeyPath) -> Option<Vec<String>> {
    let items = list(ctx, node, path)?;
    if items.is_empty() {
        ctx.report(path, node.position, "list at least one proto file");
        return None;
    }
    let mut names: Vec<String> = Vec::new();
    let mut ok = true;
    for (item, item_path) in items {
        let Some(text) = string(ctx, item, &item_path) else {
            ok = false;
            continue;
        };
        match proto_name(text) {
            Ok(name) if names.contains(&name) => {
                ctx.report(
                    &item_path,
                    item.position,
                    format!("proto file `{name}` is listed twice"),
                );
                ok = false;
            }
            Ok(name) => names.push(name),
            Err(reason) => {
                ctx.report(
                    &item_path,
                    item.position,
                    format!("invalid proto path `{text}`: {reason}"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(names)
}

/// Normalises a proto entry into an import name (`a/b/c.proto`).
fn proto_name(text: &str) -> Result<String, &'static str> {
    if text.is_empty() {
        return Err("it is empty");
    }
    let path = Path::new(text);
    if path.is_absolute() {
        return Err("it must be relative to an include directory (like an `import`), not absolute");
    }
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            PathComponent::Normal(part) => match part.to_str() {
                Some(part) => parts.push(part),
                None => return Err("it is not valid UTF-8"),
            },
            PathComponent::CurDir => {}
            _ => return Err("`..` is not allowed; add the folder to `include` instead"),
        }
    }
    if parts.is_empty() {
        return Err("it names no file");
    }
    Ok(parts.join("/"))
}

fn read_includes(ctx: &mut Ctx, node: &Node, path: &KeyPath) -> Option<Vec<PathBuf>> {
    let items = list(ctx, node, path)?;
    if items.is_empty() {
        ctx.report(
            path,
            node.position,
            "list at least one include directory, or omit `include` to use the manifest's folder",
        );
        return None;
    }
    let mut dirs = Vec::new();
    let mut ok = true;
    for (item, item_path) in items {
        let Some(text) = string(ctx, item, &item_path) else {
            ok = false;
            continue;
        };
        if text.is_empty() {
            ctx.report(&item_path, item.position, "include directory is empty");
            ok = false;
            continue;
        }
        let dir = ctx.resolve(text);
        if ctx.check_files() && !dir.is_dir() {
            let what = if dir.exists() {
                "is not a directory"
            } else {
                "does not exist"
            };
            ctx.report(
                &item_path,
                item.position,
                format!("include directory `{}` {what}", dir.display()),
            );
        }
        dirs.push(dir);
    }
    ok.then_some(dirs)
}

fn check_protos_exist(ctx: &mut Ctx, fields: &Fields<'_>, protos: &[String], include: &[PathBuf]) {
    let Some(Value::Seq(items)) = fields.get("protos").map(|node| &node.value) else {
        return;
    };
    let protos_path = fields.path.key("protos");
    for (index, name) in protos.iter().enumerate() {
        if include.iter().any(|dir| dir.join(name).is_file()) {
            continue;
        }
        let searched: Vec<String> = include
            .iter()
            .map(|d| format!("`{}`", d.display()))
            .collect();
        ctx.report(
            &protos_path.index(index),
            items.get(index).and_then(|item| item.position),
            format!(
                "proto file `{name}` not found in the include directories {}",
                searched.join(", ")
            ),
        );
    }
}

fn read_wit(ctx: &mut Ctx, node: &Node, path: &KeyPath) -> Option<WitOverride> {
    let fields = Fields::read(ctx, node, path)?;
    fields.deny_unknown(ctx, &["namespace", "version"]);
    let mut ok = true;
    let namespace = fields.get("namespace").and_then(|node| {
        let key = path.key("namespace");
        let parsed = string(ctx, node, &key).and_then(|text| {
            if let Some(problem) = reserved_namespace_problem(text) {
                ctx.report(&key, node.position, problem);
                return None;
            }
            text.parse::<WitNamespace>()
                .map_err(|err| ctx.report(&key, node.position, err.to_string()))
                .ok()
        });
        ok &= parsed.is_some();
        parsed
    });
    let version = fields.get("version").and_then(|node| {
        let key = path.key("version");
        let parsed = match &node.value {
            Value::String(text) => semver::Version::parse(text)
                .map_err(|err| {
                    ctx.report(
                        &key,
                        node.position,
                        format!("invalid version `{text}`: {err} (write e.g. `1.0.0`)"),
                    );
                })
                .ok()
                .filter(|version| {
                    // WIT reads a keyword there as a keyword, not an
                    // identifier: `package x:y@2.0.0-stream;` does not parse.
                    let keyword = reprise_grpc_stub::model::naming::version_keyword(version);
                    if let Some(keyword) = &keyword {
                        ctx.report(
                            &key,
                            node.position,
                            format!(
                                "invalid version `{text}`: `{keyword}` is a WIT keyword, which a \
                                 WIT package version cannot hold after `-` or `+`"
                            ),
                        );
                    }
                    keyword.is_none()
                }),
            _ => {
                ctx.wrong_type(&key, node, "a semantic version string like `1.0.0`");
                None
            }
        };
        ok &= parsed.is_some();
        parsed
    });
    ok.then_some(WitOverride { namespace, version })
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_names_normalise() {
        assert_eq!(
            proto_name("core/todo/v1/todo.proto").as_deref(),
            Ok("core/todo/v1/todo.proto")
        );
        assert_eq!(proto_name("./a/b.proto").as_deref(), Ok("a/b.proto"));
        assert!(
            proto_name("/abs/a.proto")
                .unwrap_err()
                .contains("not absolute")
        );
        assert!(
            proto_name("../a.proto")
                .unwrap_err()
                .contains("`..` is not allowed")
        );
        assert!(proto_name("").unwrap_err().contains("empty"));
        assert!(proto_name(".").unwrap_err().contains("names no file"));
    }
}
