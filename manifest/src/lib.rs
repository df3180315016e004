//! The Reprise application manifest.
//!
//! A manifest is a YAML file declaring the components an application runs
//! and, for each, the dependencies its imports are served by: `grpc` (a
//! gRPC service described by `.proto` files, with its endpoint, auth,
//! timeout and retry policy) and `openapi` (a REST API described by an
//! OpenAPI 3 document; its WIT is generated, the executor does not call it
//! yet).
//!
//! ```no_run
//! # fn main() -> Result<(), reprise_manifest::Error> {
//! let manifest = reprise_manifest::Manifest::load("app.yaml")?;
//! let component = manifest.component("todo-client").expect("declared");
//! for (name, grpc) in component.grpc_dependencies() {
//!     let compiled = grpc.compile()?; // FileDescriptorSet + pool + services
//!     println!("{name}: {:?} at {}", compiled.services, grpc.endpoint);
//!     if let Some(auth) = &grpc.auth {
//!         let _credentials = auth.resolve()?; // reads the named env vars
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Loading validates everything and reports *all* problems at once, each
//! with file, key path and line:column; see `docs/manifest.md` for the
//! format reference.

mod auth;
mod compile;
mod connection;
mod dependency;
mod duration;
mod endpoint;
mod error;
mod grpc;
mod limits;
mod manifest;
mod names;
mod openapi;
mod read;
mod retry;
mod tls;
mod yaml;

pub use auth::{Auth, AuthScheme, ResolvedAuth, Secret, Username, auth_config_problem};
pub use compile::CompiledGrpcDependency;
pub use connection::{ConnectionSettings, MAX_MESSAGE_SIZE_LIMIT, parse_size};
pub use dependency::{Dependency, DependencyKind, supported_types};
pub use duration::{InvalidDuration, format_duration, parse_duration};
pub use endpoint::{Endpoint, InvalidEndpoint, port_number};
pub use error::{Error, Problem, Problems, ProtoDiagnostic};
pub use grpc::{GrpcDependency, WitOverride};
pub use limits::{Limits, MAX_MEMORY, MAX_TIME_BUDGET, MIN_MEMORY};
pub use manifest::{Component, Manifest, ParseOptions};
pub use names::{
    ComponentName, DependencyName, DependencyRef, EnvVarName, InvalidName, MAX_NAME_LEN,
    WitNamespace,
};
pub use openapi::OpenApiDependency;
pub use retry::{InvalidStatusCode, RetryPolicy, StatusCode};
pub use tls::TlsSettings;
pub use yaml::Position;
