//! The crate's single error type.

/// Everything that can go wrong in the mapping, the value bridge or the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- dynamic client and statuses (client/, status.rs) ---
    /// A metadata key or value that gRPC cannot carry.
    #[error("invalid metadata `{key}`: {reason}")]
    InvalidMetadata {
        /// The (lower-cased) key.
        key: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// An endpoint URI the client cannot use.
    #[error("invalid endpoint `{endpoint}`: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Credentials that cannot be sent (the secret itself is never shown).
    #[error("invalid client credentials: {reason}")]
    InvalidAuth {
        /// What is wrong.
        reason: String,
    },
    /// A client configuration that cannot work.
    #[error("invalid client configuration: {reason}")]
    InvalidClientConfig {
        /// What is wrong.
        reason: String,
    },
    /// A number that is not one of the 17 gRPC status codes.
    #[error("{code} is not a gRPC status code (0..=16)")]
    InvalidStatusCode {
        /// The number.
        code: i32,
    },
    /// Stored status bytes that do not decode.
    #[error("cannot decode a stored gRPC status: {reason}")]
    StatusDecode {
        /// The decoder's complaint.
        reason: String,
    },
}
