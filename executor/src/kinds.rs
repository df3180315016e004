//! The dependency kinds this executor knows, in one place: from a
//! component's dependency configurations, the [`ImportKind`]s that serve its
//! imports. Adding a kind means a variant of
//! [`DependencyConfig`], a module implementing [`ImportKind`], and a line
//! here; the component and worker layers stay as they are.

use crate::deps::{DependencyConfig, ImportKind};
use crate::error::Result;
use crate::grpc::GrpcView;
use crate::grpc::link::GrpcImports;
use crate::rest::RestImports;

/// The import kinds serving a component with `dependencies`, for a worker
/// store of type `T`. Each kind is present even without dependencies of its
/// own (gRPC's support interface is always served).
pub fn import_kinds<T: GrpcView>(
    dependencies: &[DependencyConfig],
    checks: Checks,
) -> Result<Vec<Box<dyn ImportKind<T>>>> {
    let mut grpc = Vec::new();
    let mut openapi = Vec::new();
    for dependency in dependencies {
        match dependency {
            DependencyConfig::Grpc(config) => grpc.push(config.clone()),
            DependencyConfig::OpenApi(config) => openapi.push(config.clone()),
        }
    }
    Ok(vec![
        Box::new(GrpcImports::new(&grpc, checks)?),
        Box::new(RestImports::new(&openapi)?),
    ])
}

/// Which rules a component's dependencies are held to: an upload to all,
/// a stored component (loaded again after a restart) only to those it was
/// uploaded under, so that a rule added later cannot make it unloadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checks {
    /// A new upload: every rule.
    Upload,
    /// A stored component: what an earlier executor accepted still loads.
    Stored,
}
