//! The dependencies stored with a component, by kind, and the one trait a
//! kind of import implements.
//!
//! [`DependencyConfig`] is one dependency as uploaded (gRPC or OpenAPI);
//! [`ImportKind`] is what a kind does for a component at upload and
//! load: say which imports it serves and link their host functions. The
//! component layer works only with these two; which kinds exist is decided
//! in one place (`crate::kinds`).

pub mod grpc;
pub mod openapi;

use serde::{Deserialize, Serialize};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

pub use grpc::{AuthConfig, GrpcDependencyConfig, RetryConfig, check_endpoint_supported};
pub use openapi::OpenApiDependencyConfig;

use crate::components::{ComponentInfo, GrpcDependencyInfo, OpenApiDependencyInfo};
use crate::error::Result;
use crate::secrets::SecretEnvPolicy;

/// One dependency of a component, by kind. Stored and uploaded as the
/// kind's own JSON object ([`GrpcDependencyConfig`],
/// [`OpenApiDependencyConfig`]); both refuse unknown keys, so which one an
/// object is follows from its keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DependencyConfig {
    /// A `type: grpc` dependency.
    Grpc(GrpcDependencyConfig),
    /// A `type: openapi` dependency.
    OpenApi(OpenApiDependencyConfig),
}

impl DependencyConfig {
    /// Its name in the manifest.
    pub fn name(&self) -> &str {
        match self {
            DependencyConfig::Grpc(grpc) => &grpc.name,
            DependencyConfig::OpenApi(api) => &api.name,
        }
    }

    /// Adds what the API reports about this dependency to `info`.
    pub fn describe(&self, info: &mut ComponentInfo) {
        match self {
            DependencyConfig::Grpc(grpc) => info.grpc_dependencies.push(GrpcDependencyInfo {
                name: grpc.name.clone(),
                services: grpc.services.clone(),
                endpoint: grpc.endpoint.clone(),
            }),
            DependencyConfig::OpenApi(api) => {
                info.openapi_dependencies.push(OpenApiDependencyInfo {
                    name: api.name.clone(),
                    interfaces: api
                        .openapi
                        .interfaces
                        .iter()
                        .map(|i| api.interface_path(&i.name))
                        .collect(),
                    base_url: api.base_url.clone(),
                })
            }
        }
    }

    /// Refuses credentials naming environment variables `policy` does not
    /// let components read.
    pub fn check_secrets(&self, policy: &SecretEnvPolicy) -> Result<()> {
        match self {
            DependencyConfig::Grpc(grpc) => grpc
                .auth
                .iter()
                .flat_map(AuthConfig::env_vars)
                .chain(
                    grpc.tls
                        .iter()
                        .filter_map(|tls| tls.client_key_env.as_deref()),
                )
                .try_for_each(|var| policy.check(&grpc.name, var)),
            DependencyConfig::OpenApi(api) => api
                .auth
                .iter()
                .flat_map(AuthConfig::env_vars)
                .chain(
                    api.tls
                        .iter()
                        .filter_map(|tls| tls.client_key_env.as_deref()),
                )
                .try_for_each(|var| policy.check(&api.name, var)),
        }
    }

    /// Refuses settings this executor cannot honour yet (see each kind).
    pub fn check_supported(&self) -> Result<()> {
        match self {
            DependencyConfig::Grpc(grpc) => grpc::check_supported(grpc),
            DependencyConfig::OpenApi(api) => openapi::check_supported(api),
        }
    }
}

impl From<GrpcDependencyConfig> for DependencyConfig {
    fn from(grpc: GrpcDependencyConfig) -> Self {
        DependencyConfig::Grpc(grpc)
    }
}

impl From<OpenApiDependencyConfig> for DependencyConfig {
    fn from(api: OpenApiDependencyConfig) -> Self {
        DependencyConfig::OpenApi(api)
    }
}

/// What one kind of import does for a component, for a worker store of
/// type `T`: which of the component's imports it serves, and linking them.
pub trait ImportKind<T>: Send + Sync {
    /// Whether this kind serves import `name` (an interface path).
    fn serves(&self, name: &str) -> bool;

    /// A description of what it declares, for the message naming imports
    /// nothing serves (e.g. `gRPC service interfaces [..]`).
    fn declared(&self) -> String;

    /// Checks every import of `component` it serves against its
    /// descriptors and defines their host functions in `linker`.
    fn link(&self, engine: &Engine, linker: &mut Linker<T>, component: &Component) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_openapi_client_key_variable_is_held_to_the_secret_policy() {
        // Only auth variables were checked: an uploader could have the
        // executor sign handshakes with any variable's key, toward a host
        // of its choosing, and learn from the error whether it was set.
        let doc = "openapi: 3.0.3\ninfo: {title: Pings, version: \"1\"}\npaths:\n  /ping:\n    get:\n      operationId: ping\n      responses:\n        \"204\": {description: ok}\n";
        let model = reprise_openapi::parse(doc, "pings.yaml", &Default::default()).unwrap();
        let api = OpenApiDependencyConfig {
            name: "pings".into(),
            openapi: model,
            base_url: "https://pings.example".into(),
            timeout_ms: 1000,
            auth: None,
            retry: None,
            tls: Some(reprise_grpc_stub::config::TlsConfig {
                client_key_env: Some("HOME".into()),
                ..Default::default()
            }),
        };
        let error = DependencyConfig::OpenApi(api)
            .check_secrets(&SecretEnvPolicy::default())
            .expect_err("HOME is not a secret variable")
            .to_string();
        assert!(error.contains("HOME") && error.contains("pings"), "{error}");
    }
}
