//! The dependencies stored with a component, by kind, and the one trait a
//! kind of import implements.
//!
//! [`DependencyConfig`] is one dependency as uploaded (gRPC now; room for
//! OpenAPI); [`ImportKind`] is what a kind does for a component at upload and
//! load: say which imports it serves and link their host functions. The
//! component layer works only with these two; which kinds exist is decided
//! in one place (`crate::kinds`).

pub mod grpc;

use serde::{Deserialize, Serialize};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

pub use grpc::{AuthConfig, GrpcDependencyConfig, RetryConfig, check_endpoint_supported};

use crate::components::{ComponentInfo, GrpcDependencyInfo};
use crate::error::Result;
use crate::secrets::SecretEnvPolicy;

/// One dependency of a component, by kind. Stored and uploaded as the
/// kind's own JSON object (gRPC: [`GrpcDependencyConfig`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DependencyConfig {
    /// A `type: grpc` dependency.
    Grpc(GrpcDependencyConfig),
}

impl DependencyConfig {
    /// Its name in the manifest.
    pub fn name(&self) -> &str {
        match self {
            DependencyConfig::Grpc(grpc) => &grpc.name,
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
        }
    }

    /// Refuses settings this executor cannot honour yet (see each kind).
    pub fn check_supported(&self) -> Result<()> {
        match self {
            DependencyConfig::Grpc(grpc) => grpc::check_supported(grpc),
        }
    }
}

impl From<GrpcDependencyConfig> for DependencyConfig {
    fn from(grpc: GrpcDependencyConfig) -> Self {
        DependencyConfig::Grpc(grpc)
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
