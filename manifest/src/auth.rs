//! Call authentication: which scheme, and which environment variables hold
//! the secrets.
//!
//! The manifest only ever names environment variables; secret values are read
//! by [`Auth::resolve`] when the executor needs them, and are wrapped in
//! [`Secret`], whose `Debug` and `Display` print `<redacted>`.

use std::fmt;

use base64::Engine;

use crate::error::Error;
use crate::names::{DependencyRef, EnvVarName};
use crate::read::{Ctx, Fields, KeyPath, backticked, string};
use crate::yaml::Node;

/// How calls of one dependency authenticate, and who owns the configuration
/// (for error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    /// The scheme and the variables it reads.
    pub scheme: AuthScheme,
    /// The dependency this auth belongs to.
    pub owner: DependencyRef,
}

/// An authentication scheme with the environment variables holding its secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthScheme {
    /// `authorization: Bearer <token>`.
    Bearer {
        /// Variable holding the token.
        token_env: EnvVarName,
    },
    /// `authorization: Basic base64(<username>:<password>)`.
    Basic {
        /// Where the user name comes from.
        username: Username,
        /// Variable holding the password.
        password_env: EnvVarName,
    },
    /// `<header>: <key>` with a custom metadata key.
    ApiKey {
        /// The metadata key (lowercase, e.g. `x-api-key`).
        header: String,
        /// Variable holding the key.
        value_env: EnvVarName,
    },
}

/// The user name of basic auth: written inline (it is not a secret) or read
/// from an environment variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Username {
    /// Given in the manifest.
    Inline(String),
    /// Read from this environment variable.
    Env(EnvVarName),
}

/// A secret value. `Debug` and `Display` never show it; call
/// [`Secret::expose`] where the raw value is really needed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw secret. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Credentials read from the environment, ready to attach to calls.
/// `Debug` redacts every secret.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolvedAuth {
    /// A bearer token.
    Bearer {
        /// The token.
        token: Secret,
    },
    /// Basic auth credentials.
    Basic {
        /// The user name (not secret).
        username: String,
        /// The password.
        password: Secret,
    },
    /// An API key sent in a custom metadata entry.
    ApiKey {
        /// The metadata key.
        header: String,
        /// The key.
        value: Secret,
    },
}

impl ResolvedAuth {
    /// The metadata entry to attach to every call: its lowercase key and
    /// its (secret) value, e.g. `("authorization", "Bearer abc")`.
    pub fn metadata(&self) -> (&str, Secret) {
        match self {
            ResolvedAuth::Bearer { token } => (
                "authorization",
                Secret(format!("Bearer {}", token.expose())),
            ),
            ResolvedAuth::Basic { username, password } => {
                let pair = format!("{username}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                ("authorization", Secret(format!("Basic {encoded}")))
            }
            ResolvedAuth::ApiKey { header, value } => (header.as_str(), value.clone()),
        }
    }
}

impl Auth {
    /// Reads the secrets from the process environment.
    ///
    /// Fails with [`Error::MissingSecret`] naming the variable and the
    /// dependency when a variable is unset, and [`Error::InvalidSecret`] when
    /// a value is empty or cannot be sent as gRPC metadata.
    pub fn resolve(&self) -> Result<ResolvedAuth, Error> {
        self.resolve_with(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Like [`Auth::resolve`], reading variables through `lookup` (tests,
    /// or a secret store that mimics the environment).
    pub fn resolve_with(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ResolvedAuth, Error> {
        let read = |variable: &EnvVarName, purpose: &'static str| {
            self.read_secret(&lookup, variable, purpose)
        };
        Ok(match &self.scheme {
            AuthScheme::Bearer { token_env } => ResolvedAuth::Bearer {
                token: read(token_env, "bearer token")?,
            },
            AuthScheme::Basic {
                username,
                password_env,
            } => {
                let username = match username {
                    Username::Inline(name) => name.clone(),
                    Username::Env(variable) => {
                        let value = read(variable, "basic-auth username")?;
                        if value.expose().contains(':') {
                            return Err(self.invalid(
                                variable,
                                "basic-auth username",
                                "contains `:`, which basic auth does not allow in user names",
                            ));
                        }
                        value.0
                    }
                };
                ResolvedAuth::Basic {
                    username,
                    password: read(password_env, "basic-auth password")?,
                }
            }
            AuthScheme::ApiKey { header, value_env } => ResolvedAuth::ApiKey {
                header: header.clone(),
                value: read(value_env, "API key")?,
            },
        })
    }

    /// The environment variables this auth reads.
    pub fn variables(&self) -> Vec<&EnvVarName> {
        match &self.scheme {
            AuthScheme::Bearer { token_env } => vec![token_env],
            AuthScheme::Basic {
                username,
                password_env,
            } => match username {
                Username::Inline(_) => vec![password_env],
                Username::Env(user_env) => vec![user_env, password_env],
            },
            AuthScheme::ApiKey { value_env, .. } => vec![value_env],
        }
    }

    fn read_secret(
        &self,
        lookup: &impl Fn(&str) -> Option<String>,
        variable: &EnvVarName,
        purpose: &'static str,
    ) -> Result<Secret, Error> {
        let Some(value) = lookup(variable.as_str()) else {
            return Err(Error::MissingSecret {
                dependency: self.owner.clone(),
                variable: variable.to_string(),
                purpose,
            });
        };
        if value.is_empty() {
            return Err(self.invalid(variable, purpose, "is set but empty"));
        }
        if value.contains(char::REPLACEMENT_CHARACTER) {
            return Err(self.invalid(variable, purpose, "is not valid UTF-8"));
        }
        if !value.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
            return Err(self.invalid(
                variable,
                purpose,
                "contains characters that cannot be sent as gRPC metadata \
                 (only printable ASCII and spaces are allowed)",
            ));
        }
        Ok(Secret(value))
    }

    fn invalid(&self, variable: &EnvVarName, purpose: &'static str, reason: &'static str) -> Error {
        Error::InvalidSecret {
            dependency: self.owner.clone(),
            variable: variable.to_string(),
            purpose,
            reason,
        }
    }
}

const AUTH_SCHEMES: &[&str] = &["bearer", "basic", "api-key"];

/// Reads the `auth` mapping of a dependency.
pub(crate) fn read(
    ctx: &mut Ctx,
    node: &Node,
    path: &KeyPath,
    owner: &DependencyRef,
) -> Option<Auth> {
    let fields = Fields::read(ctx, node, path)?;
    fields.deny_unknown(ctx, AUTH_SCHEMES);
    let known: Vec<_> = fields
        .entries()
        .filter(|(name, _, _)| AUTH_SCHEMES.contains(name))
        .collect();
    let (name, _, body) = match known.as_slice() {
        [single] => *single,
        [] => {
            ctx.report(
                path,
                node.position,
                format!("choose one auth scheme: {}", backticked(AUTH_SCHEMES)),
            );
            return None;
        }
        [_, second, ..] => {
            ctx.report(
                &path.key(second.0),
                second.1.position,
                "only one auth scheme may be given",
            );
            return None;
        }
    };
    let path = path.key(name);
    let fields = Fields::read(ctx, body, &path)?;
    let scheme = match name {
        "bearer" => {
            let inline = reject_inline(ctx, &fields, "token", "token-env");
            fields.deny_unknown(ctx, &["token-env", "token"]);
            if inline {
                return None;
            }
            AuthScheme::Bearer {
                token_env: env_var(ctx, &fields, "token-env")?,
            }
        }
        "basic" => {
            let inline = reject_inline(ctx, &fields, "password", "password-env");
            fields.deny_unknown(
                ctx,
                &["username", "username-env", "password-env", "password"],
            );
            let username = match (fields.get("username"), fields.get("username-env")) {
                (Some(node), None) => {
                    let key = path.key("username");
                    let text = string(ctx, node, &key)?;
                    if text.is_empty() || text.contains(':') {
                        ctx.report(
                            &key,
                            node.position,
                            "user name must be non-empty and must not contain `:`",
                        );
                        return None;
                    }
                    Some(Username::Inline(text.to_owned()))
                }
                (None, Some(_)) => env_var(ctx, &fields, "username-env").map(Username::Env),
                (Some(_), Some(node)) => {
                    ctx.report(
                        &path.key("username-env"),
                        node.position,
                        "give either `username` or `username-env`, not both",
                    );
                    None
                }
                (None, None) => {
                    ctx.report(
                        &path,
                        fields.position,
                        "missing `username` (inline) or `username-env`",
                    );
                    None
                }
            };
            let password_env = if inline {
                None
            } else {
                env_var(ctx, &fields, "password-env")
            };
            AuthScheme::Basic {
                username: username?,
                password_env: password_env?,
            }
        }
        _ => {
            let inline = reject_inline(ctx, &fields, "value", "value-env");
            fields.deny_unknown(ctx, &["header", "value-env", "value"]);
            let header = fields.require(ctx, "header").and_then(|node| {
                let key = path.key("header");
                let text = string(ctx, node, &key)?;
                match metadata_key_problem(text) {
                    None => Some(text.to_owned()),
                    Some(reason) => {
                        ctx.report(
                            &key,
                            node.position,
                            format!("invalid header `{text}`: {reason}"),
                        );
                        None
                    }
                }
            });
            let value_env = if inline {
                None
            } else {
                env_var(ctx, &fields, "value-env")
            };
            AuthScheme::ApiKey {
                header: header?,
                value_env: value_env?,
            }
        }
    };
    Some(Auth {
        scheme,
        owner: owner.clone(),
    })
}

/// Reports an inline secret (`token: ...`) with a pointer to the `-env` key,
/// returning whether there was one. The value itself is never echoed.
fn reject_inline(ctx: &mut Ctx, fields: &Fields<'_>, inline: &str, env_key: &str) -> bool {
    let mut found = false;
    for (name, key, _) in fields.entries() {
        if name == inline {
            found = true;
            ctx.report(
                &fields.path.key(name),
                key.position,
                format!(
                    "secrets may not be written in the manifest; put the {inline} in an \
                     environment variable and name it with `{env_key}`"
                ),
            );
        }
    }
    found
}

fn env_var(ctx: &mut Ctx, fields: &Fields<'_>, key: &str) -> Option<EnvVarName> {
    let node = fields.require(ctx, key)?;
    let path = fields.path.key(key);
    let text = string(ctx, node, &path)?;
    text.parse()
        .map_err(|err: crate::names::InvalidName| ctx.report(&path, node.position, err.to_string()))
        .ok()
}

/// Why stored credentials settings (`auth` of an uploaded dependency, as
/// the admin API takes them) cannot be used, if they cannot: the checks a
/// manifest's `auth` gets when it is read. Variable names must be valid;
/// basic auth takes exactly one of `username` (not empty, no `:`) and
/// `username-env`; an API key's header must be one a call can carry.
pub fn auth_config_problem(auth: &reprise_grpc_stub::config::AuthConfig) -> Option<String> {
    use reprise_grpc_stub::config::AuthConfig;
    for var in auth.env_vars() {
        if let Err(e) = var.parse::<EnvVarName>() {
            return Some(e.to_string());
        }
    }
    match auth {
        AuthConfig::Bearer { .. } => None,
        AuthConfig::Basic {
            username,
            username_env,
            ..
        } => match (username, username_env) {
            (Some(_), Some(_)) => {
                Some("basic auth: give either `username` or `username-env`, not both".into())
            }
            (None, None) => {
                Some("basic auth: missing `username` (inline) or `username-env`".into())
            }
            (Some(name), None) if name.is_empty() || name.contains(':') => Some(
                "basic auth: `username` must not be empty or contain `:` (it ends at the first \
                 `:` of the credentials)"
                    .into(),
            ),
            _ => None,
        },
        AuthConfig::ApiKey { header, .. } => metadata_key_problem(header)
            .map(|reason| format!("invalid API-key header `{header}`: {reason}")),
    }
}

/// Why a string cannot be an API-key metadata key, if it cannot.
pub(crate) fn metadata_key_problem(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("must not be empty".into());
    }
    if let Some(bad) = key
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')))
    {
        return Some(format!(
            "contains `{bad}`; gRPC metadata keys use lowercase letters, digits, `-`, `_` and `.`"
        ));
    }
    if key.starts_with("grpc-") {
        return Some("keys starting with `grpc-` are reserved by gRPC".into());
    }
    if key.ends_with("-bin") {
        return Some("keys ending in `-bin` carry binary values, not API keys".into());
    }
    // Set by the gRPC client itself, or not allowed in HTTP/2 at all: an API
    // key there would replace the call's own header or break the request.
    const TRANSPORT: &[&str] = &[
        "content-type",
        "te",
        "user-agent",
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "content-length",
    ];
    if key == "idempotency-key" {
        return Some(
            "`idempotency-key` carries the key of each call, which the executor sets (an API \
             key there would replace it, and a deduplicating server would take every call \
             for a repeat of the first); use a header of your own, such as `x-api-key`"
                .into(),
        );
    }
    if TRANSPORT.contains(&key) {
        return Some(format!(
            "`{key}` is the transport's own header (set by gRPC or not allowed in HTTP/2); \
             use a header of your own, such as `x-api-key`"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> DependencyRef {
        DependencyRef {
            component: "app".parse().unwrap(),
            dependency: "todo".parse().unwrap(),
        }
    }

    fn bearer(var: &str) -> Auth {
        Auth {
            scheme: AuthScheme::Bearer {
                token_env: var.parse().unwrap(),
            },
            owner: owner(),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn bearer_resolves_and_redacts() {
        let resolved = bearer("TODO_TOKEN")
            .resolve_with(env(&[("TODO_TOKEN", "s3cr3t-token")]))
            .unwrap();
        let debug = format!("{resolved:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        let (key, value) = resolved.metadata();
        assert_eq!(key, "authorization");
        assert_eq!(value.expose(), "Bearer s3cr3t-token");
        assert_eq!(value.to_string(), "<redacted>");
        assert_eq!(format!("{value:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn missing_variable_names_variable_and_dependency() {
        let err = bearer("TODO_TOKEN").resolve_with(env(&[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "dependency `todo` of component `app`: environment variable `TODO_TOKEN` \
             (bearer token) is not set"
        );
    }

    #[test]
    fn resolve_reads_the_process_environment() {
        // PATH is set in every test environment; an absurd name never is.
        let resolved = bearer("PATH").resolve().unwrap();
        let ResolvedAuth::Bearer { token } = resolved else {
            panic!("expected bearer");
        };
        assert_eq!(Some(token.expose().to_owned()), std::env::var("PATH").ok());
        let err = bearer("REPRISE_TEST_SURELY_UNSET_1F2E3D")
            .resolve()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("`REPRISE_TEST_SURELY_UNSET_1F2E3D`"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_rejected_without_leaking() {
        let err = bearer("T").resolve_with(env(&[("T", "")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("`T` (bearer token) is set but empty"),
            "{err}"
        );
        let err = bearer("T")
            .resolve_with(env(&[("T", "line1\nsecretline2")]))
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("cannot be sent as gRPC metadata"),
            "{message}"
        );
        assert!(!message.contains("secretline2"), "{message}");
    }

    #[test]
    fn basic_auth_encodes_credentials() {
        let auth = Auth {
            scheme: AuthScheme::Basic {
                username: Username::Inline("Aladdin".into()),
                password_env: "PW".parse().unwrap(),
            },
            owner: owner(),
        };
        let resolved = auth.resolve_with(env(&[("PW", "open sesame")])).unwrap();
        // RFC 7617's example credentials.
        assert_eq!(
            resolved.metadata().1.expose(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(auth.variables().len(), 1);

        let from_env = Auth {
            scheme: AuthScheme::Basic {
                username: Username::Env("USER_VAR".parse().unwrap()),
                password_env: "PW".parse().unwrap(),
            },
            owner: owner(),
        };
        let err = from_env
            .resolve_with(env(&[("USER_VAR", "a:b"), ("PW", "x")]))
            .unwrap_err();
        assert!(err.to_string().contains("contains `:`"), "{err}");
        let err = from_env
            .resolve_with(env(&[("USER_VAR", "bob")]))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("`PW` (basic-auth password) is not set"),
            "{err}"
        );
    }

    #[test]
    fn api_key_uses_its_header() {
        let auth = Auth {
            scheme: AuthScheme::ApiKey {
                header: "x-api-key".into(),
                value_env: "KEY".parse().unwrap(),
            },
            owner: owner(),
        };
        let resolved = auth.resolve_with(env(&[("KEY", "k-123")])).unwrap();
        let (key, value) = resolved.metadata();
        assert_eq!((key, value.expose()), ("x-api-key", "k-123"));
    }

    #[test]
    fn metadata_keys_are_checked() {
        assert_eq!(metadata_key_problem("x-api-key"), None);
        let cases = [
            ("X-Api-Key", "contains `X`"),
            ("grpc-timeout", "reserved"),
            ("key-bin", "binary"),
            ("content-type", "transport's own header"),
            ("te", "transport's own header"),
            ("idempotency-key", "the executor sets"),
            ("", "empty"),
        ];
        for (key, expected) in cases {
            let problem = metadata_key_problem(key).unwrap();
            assert!(problem.contains(expected), "{key}: {problem}");
        }
    }
}
