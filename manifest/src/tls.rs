//! The `tls` mapping of a grpc dependency: extra trusted roots and a client
//! certificate as PEM files next to the manifest (embedded in the
//! dependency's configuration at upload), whether the system's roots are
//! trusted, a server-name override, and the environment variable holding
//! the client's private key (only its name is ever in the manifest).
//!
//! ```yaml
//! tls:
//!   ca: certs/ca.pem
//!   system-roots: false
//!   server-name: routes.internal
//!   client-cert: certs/client.pem
//!   client-key-env: REPRISE_SECRET_ROUTES_KEY
//! ```

use std::path::PathBuf;

use reprise_grpc_stub::config::TlsConfig;
use reprise_grpc_stub::config::tls::certificates;

use crate::error::Error;
use crate::names::{DependencyRef, EnvVarName};
use crate::read::{Ctx, Fields, KeyPath, string};
use crate::yaml::{Node, Value};

/// Keys accepted under `tls`.
const KEYS: &[&str] = &[
    "ca",
    "system-roots",
    "server-name",
    "client-cert",
    "client-key-env",
];

/// A validated `tls` mapping; files are resolved against the manifest's
/// folder and read when the configuration is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// Extra trusted roots (PEM file).
    pub ca: Option<PathBuf>,
    /// Whether the system's roots are trusted too (default true).
    pub system_roots: bool,
    /// The name the server's certificate must carry, when not the host's.
    pub server_name: Option<String>,
    /// The client certificate chain for mutual TLS (PEM file).
    pub client_cert: Option<PathBuf>,
    /// The executor's environment variable holding the client's key.
    pub client_key_env: Option<EnvVarName>,
}

impl TlsSettings {
    /// The configuration carried to the executor, with the PEM files'
    /// texts embedded and checked.
    pub fn config(&self, owner: &DependencyRef) -> Result<TlsConfig, Error> {
        let read = |path: &PathBuf| {
            let text = std::fs::read_to_string(path).map_err(|e| Error::Tls {
                dependency: owner.clone(),
                reason: format!("cannot read `{}`: {e}", path.display()),
            })?;
            certificates(&text).map_err(|problem| Error::Tls {
                dependency: owner.clone(),
                reason: format!("`{}` {problem}", path.display()),
            })?;
            Ok::<_, Error>(text)
        };
        let config = TlsConfig {
            ca_pem: self.ca.as_ref().map(read).transpose()?,
            system_roots: self.system_roots,
            server_name: self.server_name.clone(),
            client_cert_pem: self.client_cert.as_ref().map(read).transpose()?,
            client_key_env: self.client_key_env.as_ref().map(|v| v.as_str().to_owned()),
        };
        config
            .check(owner.dependency.as_str())
            .map_err(|e| Error::Tls {
                dependency: owner.clone(),
                reason: e.to_string(),
            })?;
        Ok(config)
    }
}

/// Reads the `tls` mapping at `path`.
pub(crate) fn read(ctx: &mut Ctx, node: &Node, path: &KeyPath) -> Option<TlsSettings> {
    let fields = Fields::read(ctx, node, path)?;
    fields.deny_unknown(ctx, KEYS);
    let mut ok = true;
    let mut pem_file = |ctx: &mut Ctx, key: &str| -> Option<PathBuf> {
        let node = fields.get(key)?;
        let key_path = path.key(key);
        let Some(text) = string(ctx, node, &key_path) else {
            ok = false;
            return None;
        };
        let file = ctx.resolve(text);
        if ctx.check_files() {
            let problem = match std::fs::read_to_string(&file) {
                Err(e) => Some(format!("cannot read `{}`: {e}", file.display())),
                Ok(pem) => certificates(&pem)
                    .err()
                    .map(|reason| format!("`{}` {reason}", file.display())),
            };
            if let Some(problem) = problem {
                ctx.report(&key_path, node.position, problem);
                ok = false;
            }
        }
        Some(file)
    };
    let ca = pem_file(ctx, "ca");
    let client_cert = pem_file(ctx, "client-cert");
    let system_roots = match fields.get("system-roots") {
        None => true,
        Some(node) => match &node.value {
            Value::Bool(value) => *value,
            _ => {
                ctx.wrong_type(&path.key("system-roots"), node, "`true` or `false`");
                ok = false;
                true
            }
        },
    };
    let server_name = fields.get("server-name").and_then(|node| {
        let key = path.key("server-name");
        let text = string(ctx, node, &key)?;
        if rustls_pki_types::ServerName::try_from(text).is_err() {
            ctx.report(
                &key,
                node.position,
                format!("`{text}` is not a DNS name or IP address"),
            );
            ok = false;
            return None;
        }
        Some(text.to_owned())
    });
    let client_key_env = fields.get("client-key-env").and_then(|node| {
        let key = path.key("client-key-env");
        let text = string(ctx, node, &key)?;
        text.parse::<EnvVarName>()
            .map_err(|err| {
                ctx.report(&key, node.position, err.to_string());
                ok = false;
            })
            .ok()
    });
    match (&client_cert, &client_key_env) {
        (Some(_), None) if fields.get("client-key-env").is_none() => {
            ctx.report(
                &path.key("client-cert"),
                fields.get("client-cert").and_then(|n| n.position),
                "`client-cert` needs `client-key-env`: the environment variable of the executor \
                 holding its private key",
            );
            ok = false;
        }
        (None, Some(_)) if fields.get("client-cert").is_none() => {
            ctx.report(
                &path.key("client-key-env"),
                fields.get("client-key-env").and_then(|n| n.position),
                "`client-key-env` needs the `client-cert` it belongs to",
            );
            ok = false;
        }
        _ => {}
    }
    if !system_roots && fields.get("ca").is_none() {
        ctx.report(
            &path.key("system-roots"),
            fields.get("system-roots").and_then(|n| n.position),
            "`system-roots: false` without `ca` would trust no server at all; give the CA that \
             signed the server's certificate in `ca`",
        );
        ok = false;
    }
    ok.then_some(TlsSettings {
        ca,
        system_roots,
        server_name,
        client_cert,
        client_key_env,
    })
}
