//! The one shape of an OpenAPI dependency's configuration: what the
//! manifest builds, the CLI uploads with a component, and the executor
//! stores, checks and calls the API with — the document's model (so the
//! executor never reads the document), where requests go, and the auth,
//! timeout and retry settings.
//!
//! Plain data (serde, JSON with kebab-case keys). Secrets are not part of
//! it: auth names environment variables of the executor, read only when a
//! call is made. Auth and retry have the gRPC dependency's shapes.

use serde::{Deserialize, Serialize};

pub use reprise_grpc_stub::config::{AuthConfig, RetryConfig, TlsConfig};

use crate::model::ApiModel;

/// One `type: openapi` dependency of a component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct OpenApiDependencyConfig {
    /// The dependency's name in the manifest (used for endpoint overrides).
    pub name: String,
    /// The document's model: the WIT the component imports and how each
    /// function becomes a request.
    pub openapi: ApiModel,
    /// The base URL requests go to (`http(s)://host[:port][/path]`, no
    /// trailing `/`); a function's path is appended to it.
    pub base_url: String,
    /// Deadline of each request attempt in milliseconds.
    pub timeout_ms: u64,
    /// How requests authenticate.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// The retry policy, when the manifest writes one (else one attempt).
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    /// TLS settings of an `https` base URL (`None`: the system's roots).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

impl OpenApiDependencyConfig {
    /// The WIT interface path (`ns:name/iface@version`) of interface `name`.
    pub fn interface_path(&self, name: &str) -> String {
        let model = &self.openapi;
        let version = model
            .version
            .as_deref()
            .map(|v| format!("@{v}"))
            .unwrap_or_default();
        format!("{}:{}/{name}{version}", model.namespace, model.name)
    }
}
