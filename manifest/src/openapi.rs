//! The `openapi` dependency type: a REST API described by an OpenAPI 3
//! document (YAML or JSON).
//!
//! ```yaml
//! todos:
//!   type: openapi
//!   spec: todo.yaml              # relative to the manifest's folder
//!   base-url: https://api.example.com/api/v1   # overrides `servers`
//!   auth: { bearer: { token-env: REPRISE_SECRET_TODOS } }
//!   timeout: 10s
//!   retry: { max-attempts: 3 }
//!   tls: { ca: certs/ca.pem }      # for an https base URL, as for grpc
//!   wit: { namespace: acme, name: todos }
//! ```
//!
//! The document itself is read (and every problem in it reported with its
//! line) when the manifest is loaded with file checks on.

use std::path::PathBuf;
use std::time::Duration;

use reprise_openapi::config::OpenApiDependencyConfig;

use crate::auth::{self, Auth};
use crate::compile::{auth_config, millis, retry_config};
use crate::duration;
use crate::error::Error;
use crate::names::DependencyRef;
use crate::read::{Ctx, Fields, string};
use crate::retry::{self, RetryPolicy};
use crate::tls::{self, TlsSettings};

/// A validated `type: openapi` dependency.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenApiDependency {
    /// The component and dependency this belongs to.
    pub owner: DependencyRef,
    /// The OpenAPI document, resolved against the manifest's folder.
    pub spec: PathBuf,
    /// Where requests go (`base-url`, `http(s)://host[:port][/path]`);
    /// `None`: the document's first server.
    pub base_url: Option<String>,
    /// How requests authenticate; `None` sends no credentials.
    pub auth: Option<Auth>,
    /// Deadline of each request.
    pub timeout: Duration,
    /// Retries of failed attempts.
    pub retry: RetryPolicy,
    /// Whether the manifest writes `retry` (else each call is sent once).
    pub retry_declared: bool,
    /// TLS settings of an `https` base URL.
    pub tls: Option<TlsSettings>,
    /// Overrides of the WIT package's namespace and name.
    pub wit: reprise_openapi::Options,
}

impl OpenApiDependency {
    /// The per-request deadline when the manifest gives no `timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// Reads the OpenAPI document into its model.
    pub fn model(&self) -> Result<reprise_openapi::ApiModel, reprise_openapi::Error> {
        reprise_openapi::load(&self.spec, &self.wit)
    }

    /// Reads the document and returns the dependency's one configuration:
    /// what the CLI uploads with the component and the executor calls the
    /// API with. The base URL is `base-url`, else the document's first
    /// server when that is an absolute `http(s)` URL; a relative server
    /// (`/api/v1`) without `base-url` is refused.
    pub fn config(&self) -> Result<OpenApiDependencyConfig, Error> {
        let model = self.model().map_err(|source| Error::OpenApi {
            dependency: self.owner.clone(),
            source,
        })?;
        let base_url = match (&self.base_url, &model.server) {
            (Some(url), _) => url.clone(),
            (None, Some(server)) => base_url(server).map_err(|reason| Error::BaseUrl {
                dependency: self.owner.clone(),
                reason: format!(
                    "the document's server `{server}` cannot be used ({reason}); set \
                         `base-url` (like `https://api.example.com{}`)",
                    if server.starts_with('/') {
                        server.as_str()
                    } else {
                        ""
                    }
                ),
            })?,
            (None, None) => {
                return Err(Error::BaseUrl {
                    dependency: self.owner.clone(),
                    reason: "the document names no server; set `base-url`".to_owned(),
                });
            }
        };
        if self.tls.is_some() && !is_https(&base_url) {
            // The document's server, when `base-url` is not written (a
            // written one was checked when the manifest was read).
            return Err(Error::BaseUrl {
                dependency: self.owner.clone(),
                reason: format!(
                    "TLS settings are given but the base URL `{base_url}` is plaintext \
                     (`http://`); set `base-url` to an `https://` one"
                ),
            });
        }
        if let Some(auth) = &self.auth {
            self.check_auth(&auth.scheme, &model.security_schemes)?;
        }
        Ok(OpenApiDependencyConfig {
            name: self.owner.dependency.as_str().to_owned(),
            openapi: model,
            base_url,
            timeout_ms: millis(self.timeout),
            auth: self.auth.as_ref().map(|auth| auth_config(&auth.scheme)),
            retry: self.retry_declared.then(|| retry_config(&self.retry)),
            tls: self
                .tls
                .as_ref()
                .map(|tls| tls.config(&self.owner))
                .transpose()?,
        })
    }
}

impl OpenApiDependency {
    /// Refuses an `auth` that gives a credential none of the document's
    /// `securitySchemes` takes (a bearer token for an API-key API, an API
    /// key in another header). A document without schemes accepts any.
    fn check_auth(
        &self,
        auth: &crate::auth::AuthScheme,
        schemes: &[reprise_openapi::model::SecurityScheme],
    ) -> Result<(), Error> {
        use crate::auth::AuthScheme;
        use reprise_openapi::model::SchemeKind;
        if schemes.is_empty() {
            return Ok(());
        }
        let fits = schemes.iter().any(|scheme| match (&scheme.kind, auth) {
            (SchemeKind::Bearer, AuthScheme::Bearer { .. })
            | (SchemeKind::Basic, AuthScheme::Basic { .. }) => true,
            (SchemeKind::ApiKeyHeader(name), AuthScheme::ApiKey { header, .. }) => {
                name.eq_ignore_ascii_case(header)
            }
            _ => false,
        });
        if fits {
            return Ok(());
        }
        let given = match auth {
            AuthScheme::Bearer { .. } => "a bearer token".to_owned(),
            AuthScheme::Basic { .. } => "basic auth".to_owned(),
            AuthScheme::ApiKey { header, .. } => format!("an API key in header `{header}`"),
        };
        let declared: Vec<String> = schemes
            .iter()
            .map(|s| format!("`{}` ({})", s.name, s.kind))
            .collect();
        Err(Error::AuthScheme {
            dependency: self.owner.clone(),
            reason: format!(
                "`auth` gives {given}, but the document's securitySchemes take {}",
                declared.join(", ")
            ),
        })
    }
}

/// Keys accepted in an openapi dependency.
pub(crate) const KEYS: &[&str] = &[
    "type", "spec", "base-url", "auth", "timeout", "retry", "tls", "wit",
];

/// Reads a `type: openapi` dependency from its fields.
pub(crate) fn read(
    ctx: &mut Ctx,
    fields: &Fields<'_>,
    owner: &DependencyRef,
) -> Option<OpenApiDependency> {
    fields.deny_unknown(ctx, KEYS);
    let path = &fields.path;
    // Read first: the document is mapped with it (`wit.name` stands in
    // for a missing `info.title`).
    let wit = match fields.get("wit") {
        Some(node) => read_wit(ctx, node, &path.key("wit")),
        None => Some(reprise_openapi::Options::default()),
    };
    let spec = fields.require(ctx, "spec").and_then(|node| {
        let key = path.key("spec");
        let text = string(ctx, node, &key)?;
        if text.is_empty() {
            ctx.report(
                &key,
                node.position,
                "name the OpenAPI document (a YAML or JSON file)",
            );
            return None;
        }
        let file = ctx.base_dir().join(text);
        if ctx.check_files() {
            if !file.is_file() {
                ctx.report(
                    &key,
                    node.position,
                    format!("OpenAPI document {} not found", file.display()),
                );
                return None;
            }
            let options = wit.clone().unwrap_or_default();
            if let Err(e) = reprise_openapi::load(&file, &options) {
                ctx.report(
                    &key,
                    node.position,
                    format!("the OpenAPI document does not map to WIT:\n{e}"),
                );
                return None;
            }
        }
        Some(file)
    });
    let base_url = match fields.get("base-url") {
        Some(node) => {
            let key = path.key("base-url");
            string(ctx, node, &key).and_then(|text| match base_url(text) {
                Ok(url) => Some(Some(url)),
                Err(reason) => {
                    ctx.report(
                        &key,
                        node.position,
                        format!("invalid base URL `{text}`: {reason}"),
                    );
                    None
                }
            })
        }
        None => Some(None),
    };
    let auth = match fields.get("auth") {
        Some(node) => auth::read(ctx, node, &path.key("auth"), owner).map(Some),
        None => Some(None),
    };
    let timeout = match fields.get("timeout") {
        Some(node) => duration::read_positive(ctx, node, &path.key("timeout")),
        None => Some(OpenApiDependency::DEFAULT_TIMEOUT),
    };
    let retry = match fields.get("retry") {
        Some(node) => retry::read(ctx, node, &path.key("retry")),
        None => Some(RetryPolicy::default()),
    };
    let retry_declared = fields.get("retry").is_some();
    let tls = match fields.get("tls") {
        Some(node) => {
            let tls = tls::read(ctx, node, &path.key("tls"));
            if matches!(&base_url, Some(Some(url)) if !is_https(url)) {
                ctx.report(
                    &path.key("tls"),
                    node.position,
                    "TLS settings are given but the base URL is plaintext (`http://`); use \
                     `https://`",
                );
                None
            } else if tls.as_ref().is_some_and(|t| t.server_name.is_some()) {
                ctx.report(
                    &path.key("tls").key("server-name"),
                    node.position,
                    "`server-name` is not supported for OpenAPI dependencies; use a base URL \
                     whose host the server's certificate names",
                );
                None
            } else {
                tls.map(Some)
            }
        }
        None => Some(None),
    };
    Some(OpenApiDependency {
        owner: owner.clone(),
        spec: spec?,
        base_url: base_url?,
        auth: auth?,
        timeout: timeout?,
        retry: retry?,
        retry_declared,
        tls: tls?,
        wit: wit?,
    })
}

/// Reads `wit: { namespace, name }`: valid kebab-case WIT identifiers.
fn read_wit(
    ctx: &mut Ctx,
    node: &crate::yaml::Node,
    path: &crate::read::KeyPath,
) -> Option<reprise_openapi::Options> {
    let fields = Fields::read(ctx, node, path)?;
    fields.deny_unknown(ctx, &["namespace", "name"]);
    let mut options = reprise_openapi::Options::default();
    let mut ok = true;
    for key in ["namespace", "name"] {
        let Some(value) = fields.get(key) else {
            continue;
        };
        let key_path = path.key(key);
        let Some(text) = string(ctx, value, &key_path) else {
            ok = false;
            continue;
        };
        if !reprise_openapi::names::is_valid(text) {
            ctx.report(
                &key_path,
                value.position,
                format!("`{text}` is not a kebab-case WIT identifier (like `todo-api`)"),
            );
            ok = false;
            continue;
        }
        if key == "namespace"
            && let Some(problem) = crate::names::reserved_namespace_problem(text)
        {
            ctx.report(&key_path, value.position, problem);
            ok = false;
            continue;
        }
        match key {
            "namespace" => options.namespace = Some(text.to_owned()),
            _ => options.name = Some(text.to_owned()),
        }
    }
    ok.then_some(options)
}

/// Whether `url` is an `https://` URL (in any case).
fn is_https(url: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("https"))
}

/// Checks a base URL: `http` or `https`, a host, a usable port if any, no
/// query or fragment; the trailing `/` is dropped.
fn base_url(text: &str) -> Result<String, &'static str> {
    let uri: http::Uri = text
        .parse()
        .map_err(|_| "it is not a URL (`https://host[:port][/path]`)")?;
    // Schemes are case-insensitive (`HTTPS://` is https).
    match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("http" | "https") => {}
        Some(_) => return Err("the scheme must be `http` or `https`"),
        None => return Err("it needs a scheme (`https://`)"),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("it needs a host");
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err("credentials in the URL (`user@`) are not allowed; give them with `auth`");
    }
    // A `:` after the host (outside an IPv6 literal's brackets) brings a
    // port, which must be one a connection can use.
    let authority = uri.authority().map_or("", |a| a.as_str());
    let after_host = authority
        .rsplit_once(']')
        .map_or(authority, |(_, rest)| rest);
    if let Some((_, port)) = after_host.rsplit_once(':')
        && crate::endpoint::port_number(port).is_none()
    {
        return Err("its port must be a number from 1 to 65535");
    }
    if uri.query().is_some() || text.contains('#') {
        return Err("a query or fragment is not allowed");
    }
    Ok(text.trim_end_matches('/').to_owned())
}
