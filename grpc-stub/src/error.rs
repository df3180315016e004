//! The crate's single error type.

/// Everything that can go wrong in the mapping, the value bridge or the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {}
