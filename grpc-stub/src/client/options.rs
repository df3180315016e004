//! Per-dependency client configuration and per-call options.

use std::time::Duration;

use crate::Error;
use crate::client::auth::ClientAuth;
use crate::client::metadata::{Metadata, MetadataEntry, MetadataValue};
use crate::config::{AuthConfig, Compression, GrpcDependencyConfig, TlsConfig};

/// The metadata key carrying a call's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Default capacity of the request and response queues of a streaming call.
pub const DEFAULT_STREAM_BUFFER: usize = 16;

/// Default HTTP/2 receive window of one streaming call, in bytes: what the
/// server may send ahead of a reader that does not keep up.
pub const DEFAULT_STREAM_WINDOW: u32 = 256 * 1024;

/// The longest deadline call options may give: 3650 days, about ten years.
/// A longer one is refused where the guest's options are read: no call is
/// meant to wait that long, so it is a mistake, and far enough out it no
/// longer fits in `grpc-timeout` or the clock.
pub const MAX_DEADLINE: Duration = Duration::from_secs(3650 * 24 * 60 * 60);

/// The largest message sent or accepted when a dependency sets none: 4 MiB
/// each way, as gRPC implementations default to.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// HTTP/2 keepalive pings on an idle or busy connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Keepalive {
    /// How often a ping is sent.
    pub interval: Duration,
    /// How long an unanswered ping waits before the connection is dropped.
    pub timeout: Duration,
}

/// How a client talks to one gRPC dependency.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Timeout of calls whose options set none (`None`: no deadline).
    pub default_timeout: Option<Duration>,
    /// Credentials sent on every call.
    pub auth: Option<ClientAuth>,
    /// Limit for establishing the connection (`None`: the OS default).
    pub connect_timeout: Option<Duration>,
    /// Capacity of the queues between a streaming call's handle and the
    /// network, in messages (at least 1). Bounds what a slow side buffers.
    pub stream_buffer: usize,
    /// Largest response message accepted, in bytes (`None`: tonic's 4 MiB).
    pub max_response_bytes: Option<usize>,
    /// Largest request message sent, in bytes (`None`: no limit of ours).
    pub max_request_bytes: Option<usize>,
    /// Keepalive pings (`None`: none).
    pub keepalive: Option<Keepalive>,
    /// HTTP/2 receive window per call, in bytes (`None`: the transport's
    /// default of 2 MiB). With `stream_buffer` it bounds what a call whose
    /// reader stalls holds in memory; the server is stopped beyond it.
    pub stream_window: Option<u32>,
    /// Compression of requests (`None`: sent uncompressed). Compressed
    /// responses are always accepted (`grpc-accept-encoding: gzip`).
    pub compression: Option<Compression>,
    /// How an `https` endpoint is verified and authenticated (`None`: the
    /// system's roots, no client certificate). Ignored for `http`.
    pub tls: Option<ClientTls>,
}

/// TLS settings resolved for a client: [`TlsConfig`] with the client's
/// private key read from its variable.
#[derive(Clone, Default)]
pub struct ClientTls {
    /// Extra trusted roots, PEM.
    pub ca_pem: Option<String>,
    /// Whether the system's roots are trusted too.
    pub system_roots: bool,
    /// The name to verify and send as SNI instead of the endpoint's host.
    pub server_name: Option<String>,
    /// The client certificate chain and private key, PEM, for mutual TLS.
    pub identity: Option<(String, String)>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key is never printed.
        f.debug_struct("ClientTls")
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<pem>"))
            .field("system_roots", &self.system_roots)
            .field("server_name", &self.server_name)
            .field("identity", &self.identity.as_ref().map(|_| "<cert+key>"))
            .finish()
    }
}

impl ClientTls {
    /// The settings of `tls` with the client key read through `env`
    /// (checked to be a PEM private key). Fails naming the variable when
    /// it is not set or holds no key.
    pub fn resolve(
        dependency: &str,
        tls: &TlsConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        tls.check(dependency)?;
        let identity = match (&tls.client_cert_pem, &tls.client_key_env) {
            (Some(cert), Some(variable)) => {
                let key = env(variable).ok_or_else(|| Error::MissingCredential {
                    dependency: dependency.to_owned(),
                    variable: variable.clone(),
                })?;
                crate::config::tls::check_private_key(dependency, variable, &key)?;
                Some((cert.clone(), key))
            }
            _ => None,
        };
        Ok(ClientTls {
            ca_pem: tls.ca_pem.clone(),
            system_roots: tls.system_roots,
            server_name: tls.server_name.clone(),
            identity,
        })
    }

    /// The trust settings alone: what a client of another origin than the
    /// manifest's gets (no client certificate, no server-name override).
    pub fn trust_only(tls: &TlsConfig) -> Self {
        ClientTls {
            ca_pem: tls.ca_pem.clone(),
            system_roots: tls.system_roots,
            server_name: None,
            identity: None,
        }
    }
}

impl ClientConfig {
    /// The configuration for calling `dependency`: its per-attempt deadline
    /// as every call's default, and its credentials, read through `env`
    /// (an environment variable's name to its value) when the client is
    /// made, its connection settings (connect timeout, keepalive, message
    /// size limits, 4 MiB each way by default). The stream knobs keep their
    /// defaults.
    ///
    /// Its TLS settings come whole, the client key read through `env` too.
    ///
    /// Fails with [`Error::MissingCredential`] naming the variable that is
    /// not set, [`Error::InvalidAuth`] when basic auth has no user name, or
    /// [`Error::InvalidTls`] for TLS settings that cannot work.
    pub fn for_dependency(
        dependency: &GrpcDependencyConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let auth = match &dependency.auth {
            None => None,
            Some(auth) => Some(resolve_auth(&dependency.name, auth, &env)?),
        };
        let tls = match &dependency.tls {
            None => None,
            Some(tls) => Some(ClientTls::resolve(&dependency.name, tls, &env)?),
        };
        let max_message = dependency
            .max_message_bytes
            .map_or(DEFAULT_MAX_MESSAGE_BYTES, |n| {
                usize::try_from(n).unwrap_or(usize::MAX)
            });
        Ok(ClientConfig {
            default_timeout: Some(Duration::from_millis(dependency.timeout_ms)),
            auth,
            tls,
            connect_timeout: Some(Duration::from_millis(
                dependency
                    .connect_timeout_ms
                    .unwrap_or(crate::config::DEFAULT_CONNECT_TIMEOUT_MS),
            )),
            keepalive: dependency.keepalive.map(|k| Keepalive {
                interval: Duration::from_millis(k.interval_ms),
                timeout: Duration::from_millis(k.timeout_ms),
            }),
            max_request_bytes: Some(max_message),
            max_response_bytes: Some(max_message),
            compression: dependency.compression,
            ..ClientConfig::default()
        })
    }
}

/// Reads the credentials `auth` names through `env` (shared with the
/// executor's REST client, whose credentials have the same shapes).
pub fn resolve_auth(
    dependency: &str,
    auth: &AuthConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<ClientAuth, Error> {
    let var = |name: &str| {
        let value = env(name).ok_or_else(|| Error::MissingCredential {
            dependency: dependency.to_owned(),
            variable: name.to_owned(),
        })?;
        // Named, never shown: an empty credential would be sent as such
        // (`Bearer `), one with other characters cannot be sent at all.
        let problem = if value.is_empty() {
            Some("is set but empty")
        } else if value.chars().any(|c| !(' '..='~').contains(&c)) {
            Some("holds characters that are not printable ASCII")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(Error::InvalidAuth {
                reason: format!(
                    "dependency `{dependency}`: environment variable `{name}` {problem}"
                ),
            }),
            None => Ok(value),
        }
    };
    Ok(match auth {
        AuthConfig::Bearer { token_env } => ClientAuth::Bearer(var(token_env)?),
        AuthConfig::Basic {
            username,
            username_env,
            password_env,
        } => {
            let user = match (username, username_env) {
                (Some(user), _) => user.clone(),
                (None, Some(env)) => var(env)?,
                (None, None) => {
                    return Err(Error::InvalidAuth {
                        reason: format!("dependency `{dependency}`: basic auth has no user name"),
                    });
                }
            };
            ClientAuth::Basic {
                user,
                password: var(password_env)?,
            }
        }
        AuthConfig::ApiKey { header, value_env } => ClientAuth::ApiKey {
            header: header.clone(),
            value: var(value_env)?,
        },
    })
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            default_timeout: None,
            auth: None,
            connect_timeout: None,
            stream_buffer: DEFAULT_STREAM_BUFFER,
            max_response_bytes: None,
            max_request_bytes: None,
            keepalive: None,
            stream_window: Some(DEFAULT_STREAM_WINDOW),
            compression: None,
            tls: None,
        }
    }
}

/// Options of one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// The call's deadline, relative to its start; overrides the client's
    /// default. Sent as `grpc-timeout` and enforced locally.
    pub timeout: Option<Duration>,
    /// Request metadata (validated entries).
    pub metadata: Metadata,
    /// Sent as the `idempotency-key` header so a server can drop a retried
    /// duplicate; the caller chooses it (e.g. worker id + oplog index).
    pub idempotency_key: Option<String>,
}

impl CallOptions {
    /// No timeout, metadata or key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the request metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets the idempotency key; it must be a valid ASCII metadata value.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Result<Self, Error> {
        let key = key.into();
        MetadataEntry::new(IDEMPOTENCY_KEY, MetadataValue::Ascii(key.clone()))?;
        if key.is_empty() {
            return Err(Error::InvalidMetadata {
                key: IDEMPOTENCY_KEY.into(),
                reason: "the idempotency key is empty".into(),
            });
        }
        self.idempotency_key = Some(key);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dependency(auth: Option<AuthConfig>) -> GrpcDependencyConfig {
        GrpcDependencyConfig {
            timeout_ms: 1234,
            auth,
            ..GrpcDependencyConfig::new("todo", Vec::new(), Vec::new(), "http://127.0.0.1:1")
        }
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "USER_VAR" => Some("alice".into()),
            "PASS_VAR" => Some("s3cret".into()),
            "EMPTY_VAR" => Some(String::new()),
            "ODD_VAR" => Some("s3cr\u{e9}t".into()),
            _ => None,
        }
    }

    #[test]
    fn the_dependency_config_sets_timeout_and_credentials() {
        let config = ClientConfig::for_dependency(&dependency(None), env).unwrap();
        assert_eq!(config.default_timeout, Some(Duration::from_millis(1234)));
        assert!(config.auth.is_none());
        let basic = AuthConfig::Basic {
            username: None,
            username_env: Some("USER_VAR".into()),
            password_env: "PASS_VAR".into(),
        };
        let config = ClientConfig::for_dependency(&dependency(Some(basic)), env).unwrap();
        match config.auth {
            Some(ClientAuth::Basic { user, password }) => {
                assert_eq!((user.as_str(), password.as_str()), ("alice", "s3cret"));
            }
            other => panic!("expected basic auth, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_credential_variable_is_named() {
        let bearer = AuthConfig::Bearer {
            token_env: "NOT_SET_ANYWHERE".into(),
        };
        let err = ClientConfig::for_dependency(&dependency(Some(bearer)), env).unwrap_err();
        assert!(
            matches!(&err, Error::MissingCredential { variable, .. } if variable == "NOT_SET_ANYWHERE"),
            "{err:?}"
        );
        assert!(err.to_string().contains("dependency `todo`"), "{err}");
        let nameless = AuthConfig::Basic {
            username: None,
            username_env: None,
            password_env: "PASS_VAR".into(),
        };
        let err = ClientConfig::for_dependency(&dependency(Some(nameless)), env).unwrap_err();
        assert!(err.to_string().contains("no user name"), "{err}");
    }

    #[test]
    fn an_empty_or_unsendable_credential_is_refused_naming_the_variable() {
        // An empty password went out as `Basic base64(alice:)`, an empty
        // REST token as `Bearer `.
        for (auth, variable) in [
            (
                AuthConfig::Basic {
                    username: Some("alice".into()),
                    username_env: None,
                    password_env: "EMPTY_VAR".into(),
                },
                "EMPTY_VAR",
            ),
            (
                AuthConfig::Bearer {
                    token_env: "EMPTY_VAR".into(),
                },
                "EMPTY_VAR",
            ),
            (
                AuthConfig::ApiKey {
                    header: "x-api-key".into(),
                    value_env: "ODD_VAR".into(),
                },
                "ODD_VAR",
            ),
        ] {
            let err = resolve_auth("todo", &auth, &env).unwrap_err().to_string();
            assert!(
                err.contains(&format!("`{variable}`")) && err.contains("dependency `todo`"),
                "{err}"
            );
            assert!(!err.contains("s3cr"), "{err}");
        }
    }
}
