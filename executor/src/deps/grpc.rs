//! The gRPC dependency configuration stored with a component: everything the
//! executor needs at run time to link and call it, uploaded with the wasm.
//!
//! The client (`worker-executor component add --manifest ...`) compiles the
//! manifest's protos and sends this structure as JSON; the executor never
//! reads `.proto` files or the manifest itself. Secrets are not part of it:
//! auth names environment variables, which the executor reads from its own
//! environment when it calls.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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

impl GrpcDependencyConfig {
    /// Refuses, with a message naming the setting, what this executor
    /// cannot honour yet: a TLS (`https`) endpoint and a retry policy that
    /// retries. Checked at upload, so nothing is dropped silently.
    pub fn check_supported(&self) -> Result<()> {
        check_endpoint_supported(&self.name, &self.endpoint)?;
        if let Some(retry) = &self.retry
            && retry.max_attempts > 1
        {
            return Err(Error::Unsupported(format!(
                "dependency `{}`: its retry policy (max-attempts {}) cannot be honoured: this \
                 executor does not retry calls yet; set `retry: {{ max-attempts: 1 }}` or remove \
                 `retry` from the manifest",
                self.name, retry.max_attempts
            )));
        }
        Ok(())
    }
}

/// Refuses an endpoint this executor cannot call yet (TLS).
pub fn check_endpoint_supported(dependency: &str, endpoint: &str) -> Result<()> {
    let scheme = endpoint.split_once("://").map(|(scheme, _)| scheme);
    if scheme.is_some_and(|s| s.eq_ignore_ascii_case("https")) {
        return Err(Error::Unsupported(format!(
            "dependency `{dependency}`: endpoint `{endpoint}` uses TLS (https), which this \
             executor does not support yet; use an `http://` endpoint"
        )));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_unknown_keys_rejected() {
        let dep = GrpcDependencyConfig {
            name: "todo".into(),
            descriptor_set: vec![1, 2, 3],
            services: vec!["core.todo.v1.TodoService".into()],
            endpoint: "http://127.0.0.1:50051".into(),
            timeout_ms: 5000,
            auth: Some(AuthConfig::Bearer {
                token_env: "TODO_TOKEN".into(),
            }),
            wit_namespace: None,
            wit_version: None,
            retry: None,
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

    fn dep(endpoint: &str, retry: Option<u32>) -> GrpcDependencyConfig {
        GrpcDependencyConfig {
            name: "todo".into(),
            descriptor_set: Vec::new(),
            services: Vec::new(),
            endpoint: endpoint.into(),
            timeout_ms: 5000,
            auth: None,
            wit_namespace: None,
            wit_version: None,
            retry: retry.map(|max_attempts| RetryConfig {
                max_attempts,
                initial_backoff_ms: 100,
                max_backoff_ms: 5000,
                multiplier: 2.0,
                retryable_codes: vec!["unavailable".into()],
            }),
        }
    }

    #[test]
    fn settings_the_executor_cannot_honour_are_refused() {
        assert!(dep("http://127.0.0.1:1", None).check_supported().is_ok());
        assert!(dep("http://127.0.0.1:1", Some(1)).check_supported().is_ok());
        let tls = dep("HTTPS://routes.internal:8443", None)
            .check_supported()
            .unwrap_err()
            .to_string();
        assert!(tls.contains("`todo`") && tls.contains("TLS"), "{tls}");
        let retry = dep("http://127.0.0.1:1", Some(3))
            .check_supported()
            .unwrap_err()
            .to_string();
        assert!(
            retry.contains("max-attempts 3") && retry.contains("does not retry"),
            "{retry}"
        );
    }
}
