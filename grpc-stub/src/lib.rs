//! The one mapping between protobuf and WIT.
//!
//! From a prost-reflect `DescriptorPool` this crate builds a typed interface
//! model (services, methods, call kinds, records, enums, variants, naming and
//! recursion decisions). The same model renders the WIT a guest imports and
//! drives the host-side conversion between component values and
//! `DynamicMessage`s, so the two can never drift apart. It also holds the
//! dynamic tonic client that performs the four kinds of gRPC call by method
//! descriptor.

pub mod bridge;
pub mod client;
pub mod error;
pub mod model;
pub mod status;
pub mod wit;

pub use error::Error;
pub use status::{Code, RpcStatus};
