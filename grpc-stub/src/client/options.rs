//! Per-dependency client configuration and per-call options.

use std::time::Duration;

use crate::Error;
use crate::client::auth::ClientAuth;
use crate::client::metadata::{Metadata, MetadataEntry, MetadataValue};

/// The metadata key carrying a call's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Default capacity of the request and response queues of a streaming call.
pub const DEFAULT_STREAM_BUFFER: usize = 16;

/// Default HTTP/2 receive window of one streaming call, in bytes: what the
/// server may send ahead of a reader that does not keep up.
pub const DEFAULT_STREAM_WINDOW: u32 = 256 * 1024;

/// How a client talks to one gRPC dependency.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Timeout of calls whose options set none (`None`: no deadline).
    pub default_timeout: Option<Duration>,
    /// Credentials sent on every call.
    pub auth: Option<ClientAuth>,
    /// Limit for establishing the connection (`None`: the OS default).
    pub connect_timeout: Option<Duration>,
    /// Capacity of the queues between a streaming call's handle and the
    /// network, in messages (at least 1). Bounds what a slow side buffers.
    pub stream_buffer: usize,
    /// Largest response message accepted, in bytes (`None`: tonic's 4 MiB).
    pub max_response_bytes: Option<usize>,
    /// HTTP/2 receive window per call, in bytes (`None`: the transport's
    /// default of 2 MiB). With `stream_buffer` it bounds what a call whose
    /// reader stalls holds in memory; the server is stopped beyond it.
    pub stream_window: Option<u32>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            default_timeout: None,
            auth: None,
            connect_timeout: None,
            stream_buffer: DEFAULT_STREAM_BUFFER,
            max_response_bytes: None,
            stream_window: Some(DEFAULT_STREAM_WINDOW),
        }
    }
}

/// Options of one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// The call's deadline, relative to its start; overrides the client's
    /// default. Sent as `grpc-timeout` and enforced locally.
    pub timeout: Option<Duration>,
    /// Request metadata (validated entries).
    pub metadata: Metadata,
    /// Sent as the `idempotency-key` header so a server can drop a retried
    /// duplicate; the caller chooses it (e.g. worker id + oplog index).
    pub idempotency_key: Option<String>,
}

impl CallOptions {
    /// No timeout, metadata or key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the request metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets the idempotency key; it must be a valid ASCII metadata value.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Result<Self, Error> {
        let key = key.into();
        MetadataEntry::new(IDEMPOTENCY_KEY, MetadataValue::Ascii(key.clone()))?;
        if key.is_empty() {
            return Err(Error::InvalidMetadata {
                key: IDEMPOTENCY_KEY.into(),
                reason: "the idempotency key is empty".into(),
            });
        }
        self.idempotency_key = Some(key);
        Ok(self)
    }
}
