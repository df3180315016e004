//! The one mapping between protobuf and WIT.
//!
//! From a prost-reflect `DescriptorPool` this crate builds a typed interface
//! model (services, methods, call kinds, records, enums, variants, naming and
//! recursion decisions). The same model renders the WIT a guest imports and
//! drives the host-side conversion between component values and
//! `DynamicMessage`s, so the two can never drift apart. It also holds the
//! dynamic tonic client that performs the four kinds of gRPC call by method
//! descriptor.
//!
//! It is also the one proto front end ([`model::source`]) and holds the one
//! shape of a gRPC dependency's configuration ([`config`]) that travels from
//! the manifest to the stored component and the client. Without the default
//! `runtime` feature (bridge, client, statuses) it needs neither wasmtime nor
//! tonic, so the manifest and build scripts stay light.

#[cfg(feature = "runtime")]
pub mod bridge;
#[cfg(feature = "runtime")]
pub mod client;
pub mod config;
pub mod error;
#[cfg(feature = "runtime")]
pub mod export;
pub mod model;
#[cfg(feature = "runtime")]
pub mod status;
pub mod wit;

pub use error::Error;
#[cfg(feature = "runtime")]
pub use status::{Code, RpcStatus};
