//! Component dependencies and the table of dependency types.
//!
//! Every dependency has a `type`; each type has a reader in [`KINDS`]. To add
//! a type, write a module with a reader (like [`crate::grpc`]), add a variant
//! to [`DependencyKind`] and a row to [`KINDS`]; the "unknown type" error
//! lists the table automatically.

use crate::grpc::{self, GrpcDependency};
use crate::names::{DependencyName, DependencyRef};
use crate::openapi::{self, OpenApiDependency};
use crate::read::{Ctx, Fields, backticked, closest, string};

/// One named dependency of a component.
#[derive(Clone, Debug, PartialEq)]
pub struct Dependency {
    /// The dependency's name within its component.
    pub name: DependencyName,
    /// What kind of dependency it is, with its settings.
    pub kind: DependencyKind,
}

/// The typed settings of a dependency, one variant per `type`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
// A manifest holds a handful of dependencies, read once: their size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum DependencyKind {
    /// `type: grpc`.
    Grpc(GrpcDependency),
    /// `type: openapi`.
    OpenApi(OpenApiDependency),
}

impl DependencyKind {
    /// The `type` string of this kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            DependencyKind::Grpc(_) => "grpc",
            DependencyKind::OpenApi(_) => "openapi",
        }
    }

    /// The grpc settings, if this is a grpc dependency.
    pub fn as_grpc(&self) -> Option<&GrpcDependency> {
        match self {
            DependencyKind::Grpc(grpc) => Some(grpc),
            DependencyKind::OpenApi(_) => None,
        }
    }

    /// The openapi settings, if this is an openapi dependency.
    pub fn as_openapi(&self) -> Option<&OpenApiDependency> {
        match self {
            DependencyKind::OpenApi(api) => Some(api),
            DependencyKind::Grpc(_) => None,
        }
    }
}

type KindReader = fn(&mut Ctx, &Fields<'_>, &DependencyRef) -> Option<DependencyKind>;

/// Supported dependency types and their readers.
const KINDS: &[(&str, KindReader)] = &[
    ("grpc", |ctx, fields, owner| {
        grpc::read(ctx, fields, owner).map(DependencyKind::Grpc)
    }),
    ("openapi", |ctx, fields, owner| {
        openapi::read(ctx, fields, owner).map(DependencyKind::OpenApi)
    }),
];

/// The `type` values the manifest accepts.
pub fn supported_types() -> impl Iterator<Item = &'static str> {
    KINDS.iter().map(|(name, _)| *name)
}

/// Reads one dependency's mapping, dispatching on its `type`.
pub(crate) fn read(
    ctx: &mut Ctx,
    fields: &Fields<'_>,
    owner: &DependencyRef,
) -> Option<DependencyKind> {
    let type_node = fields.require(ctx, "type")?;
    let type_path = fields.path.key("type");
    let type_name = string(ctx, type_node, &type_path)?;
    let names: Vec<&str> = supported_types().collect();
    match KINDS.iter().find(|(name, _)| *name == type_name) {
        Some((_, reader)) => reader(ctx, fields, owner),
        None => {
            let mut message = format!("unknown dependency type `{type_name}`");
            if let Some(hint) = closest(type_name, &names) {
                message.push_str(&format!(" (did you mean `{hint}`?)"));
            }
            message.push_str(&format!("; supported types: {}", backticked(&names)));
            ctx.report(&type_path, type_node.position, message);
            None
        }
    }
}
