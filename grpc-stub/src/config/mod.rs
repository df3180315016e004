//! The one shape of a gRPC dependency's configuration: what the manifest
//! validates, the CLI uploads with a component, the executor stores and
//! checks, and the client is configured from — endpoint, auth, timeout and
//! retry policy carried whole, with the compiled descriptor set.
//!
//! It is plain data (serde, JSON on the admin API with kebab-case keys and
//! the descriptor set in base64). Secrets are not part of it: auth names
//! environment variables of the executor, read only when a call is made.

use serde::{Deserialize, Serialize};

pub mod tls;

pub use tls::TlsConfig;

/// One `type: grpc` dependency of a component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct GrpcDependencyConfig {
    /// The dependency's name in the manifest (used for endpoint overrides).
    pub name: String,
    /// Encoded `google.protobuf.FileDescriptorSet`, self-contained (imports included), base64 in JSON.
    #[serde(with = "base64_bytes")]
    pub descriptor_set: Vec<u8>,
    /// Full names of the services the component may import.
    pub services: Vec<String>,
    /// Default endpoint (`http://host:port`).
    pub endpoint: String,
    /// Deadline of each call attempt in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How calls authenticate.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Namespace of the generated WIT package, for one-segment proto packages.
    #[serde(default)]
    pub wit_namespace: Option<String>,
    /// Version of the generated WIT package, overriding the proto package's `vN`.
    #[serde(default)]
    pub wit_version: Option<String>,
    /// The manifest's retry policy, carried whole (refused at upload while
    /// this executor performs no retries, unless it allows one attempt only).
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    /// How requests are compressed (`None`: not at all). Compressed
    /// responses are accepted whatever this says.
    #[serde(default)]
    pub compression: Option<Compression>,
    /// TLS settings of an `https` endpoint (`None` with `https`: the
    /// system's roots, the endpoint's host as the server name).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Limit for establishing a connection, in milliseconds (`None`:
    /// [`DEFAULT_CONNECT_TIMEOUT_MS`]).
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// HTTP/2 keepalive pings (`None`: none).
    #[serde(default)]
    pub keepalive: Option<KeepaliveConfig>,
    /// Largest message sent or accepted, in bytes (`None`: 4 MiB).
    #[serde(default)]
    pub max_message_bytes: Option<u64>,
    /// Unary methods (by name, `GetFeature`, or full name) the manifest
    /// declares free of side effects, besides those whose proto says
    /// `idempotency_level = NO_SIDE_EFFECTS`: sent without a sync first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_only_methods: Vec<String>,
}

impl GrpcDependencyConfig {
    /// A dependency `name` of `services` (described by `descriptor_set`)
    /// at `endpoint`, every other setting at its default: a 30 s timeout,
    /// no auth, TLS settings, retries, compression or overrides.
    pub fn new(
        name: impl Into<String>,
        descriptor_set: Vec<u8>,
        services: Vec<String>,
        endpoint: impl Into<String>,
    ) -> Self {
        GrpcDependencyConfig {
            name: name.into(),
            descriptor_set,
            services,
            endpoint: endpoint.into(),
            timeout_ms: default_timeout_ms(),
            auth: None,
            wit_namespace: None,
            wit_version: None,
            retry: None,
            compression: None,
            tls: None,
            connect_timeout_ms: None,
            keepalive: None,
            max_message_bytes: None,
            read_only_methods: Vec::new(),
        }
    }
}

/// The connect timeout of a dependency that sets none: 5 s.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;

/// HTTP/2 keepalive pings of a dependency's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct KeepaliveConfig {
    /// How often a ping is sent, in milliseconds.
    pub interval_ms: u64,
    /// How long an unanswered ping waits before the connection is dropped,
    /// in milliseconds.
    pub timeout_ms: u64,
}

/// A compression of gRPC messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    /// `grpc-encoding: gzip`.
    Gzip,
}

/// How failed call attempts are retried, as the manifest gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RetryConfig {
    /// Total attempts including the first; 1 disables retries.
    pub max_attempts: u32,
    /// Delay before the first retry, in milliseconds.
    pub initial_backoff_ms: u64,
    /// Upper bound of any delay, in milliseconds.
    pub max_backoff_ms: u64,
    /// Growth of the delay per retry.
    pub multiplier: f64,
    /// Status codes (kebab-case names) that trigger a retry.
    pub retryable_codes: Vec<String>,
}

fn default_timeout_ms() -> u64 {
    30_000
}

/// Credentials, as names of environment variables of the executor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case",
    deny_unknown_fields
)]
pub enum AuthConfig {
    /// `authorization: Bearer <token>`.
    Bearer {
        /// Variable holding the token.
        token_env: String,
    },
    /// `authorization: Basic ...`.
    Basic {
        /// User name given inline.
        #[serde(default)]
        username: Option<String>,
        /// Variable holding the user name, if not inline.
        #[serde(default)]
        username_env: Option<String>,
        /// Variable holding the password.
        password_env: String,
    },
    /// A custom metadata key carrying an API key.
    ApiKey {
        /// Metadata key, e.g. `x-api-key`.
        header: String,
        /// Variable holding the key.
        value_env: String,
    },
}

mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text.as_bytes()).map_err(|e| {
            serde::de::Error::custom(format!("descriptor-set is not valid base64: {e}"))
        })
    }
}

/// The origin (scheme, host, port) of an endpoint URL, lower-cased, with
/// the scheme's default port filled in; `None` if it has no `scheme://`,
/// or if URL parsers could read its host differently: a backslash (which
/// the WHATWG parser reqwest uses takes for `/`), whitespace or control
/// characters anywhere, or user information (`user@`) in the authority.
/// An endpoint without an origin shares none, so it gets no credentials.
pub fn origin(endpoint: &str) -> Option<(String, String, u16)> {
    if endpoint.contains(|c: char| c == '\\' || c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (scheme, rest) = endpoint.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.strip_prefix('[') {
        // [v6]:port
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        },
    };
    Some((scheme, host.to_ascii_lowercase(), port))
}

/// Whether two endpoints share an origin (scheme, host and port): the rule
/// for sending a dependency's credentials to an overriding endpoint.
pub fn same_origin(a: &str, b: &str) -> bool {
    matches!((origin(a), origin(b)), (Some(x), Some(y)) if x == y)
}

impl AuthConfig {
    /// The environment variables these credentials are read from.
    pub fn env_vars(&self) -> Vec<&str> {
        match self {
            AuthConfig::Bearer { token_env } => vec![token_env],
            AuthConfig::Basic {
                username_env,
                password_env,
                ..
            } => username_env
                .iter()
                .map(String::as_str)
                .chain([password_env.as_str()])
                .collect(),
            AuthConfig::ApiKey { value_env, .. } => vec![value_env],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin(
            "http://127.0.0.1:50051",
            "http://127.0.0.1:50051/"
        ));
        assert!(same_origin(
            "HTTP://Todo.Internal",
            "http://todo.internal:80"
        ));
        assert!(same_origin("https://[::1]:8443", "https://[::1]:8443"));
        // Read as another host by the WHATWG parser (a backslash ends the
        // authority there), or carrying user information: no origin.
        assert!(!same_origin(
            "http://evil.example\\@todo.internal",
            "http://todo.internal"
        ));
        assert!(!same_origin(
            "http://x@todo.internal",
            "http://todo.internal"
        ));
        assert!(!same_origin(
            "http://todo.internal\t",
            "http://todo.internal"
        ));
        assert_eq!(origin("http://a\\b"), None);
        assert!(!same_origin(
            "http://127.0.0.1:50051",
            "http://127.0.0.1:50052"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:50051",
            "https://127.0.0.1:50051"
        ));
        assert!(!same_origin("http://todo.internal", "http://evil.example"));
        assert!(!same_origin(
            "http://a@todo.internal",
            "http://todo.internal.evil:80"
        ));
        assert!(!same_origin("not a url", "not a url"));
    }

    #[test]
    fn json_round_trip_and_unknown_keys_rejected() {
        let dep = GrpcDependencyConfig {
            timeout_ms: 5000,
            auth: Some(AuthConfig::Bearer {
                token_env: "TODO_TOKEN".into(),
            }),
            ..GrpcDependencyConfig::new(
                "todo",
                vec![1, 2, 3],
                vec!["core.todo.v1.TodoService".into()],
                "http://127.0.0.1:50051",
            )
        };
        let json = serde_json::to_string(&dep).unwrap();
        assert!(json.contains("\"descriptor-set\":\"AQID\""), "{json}");
        assert!(json.contains("\"token-env\":\"TODO_TOKEN\""), "{json}");
        let back: GrpcDependencyConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, dep);
        let bad = json.replace("\"services\"", "\"servces\"");
        let err = serde_json::from_str::<GrpcDependencyConfig>(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("servces"), "{err}");
        let bad = json.replace("AQID", "!!!");
        let err = serde_json::from_str::<GrpcDependencyConfig>(&bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("base64"), "{err}");
    }
}
