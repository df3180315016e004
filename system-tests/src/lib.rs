//! Real gRPC servers for tests, running in the test's own process.
//!
//! Each `spawn_*_server` function starts a tonic server on `127.0.0.1:0` and
//! returns a [`TestServer`] with its address and a shared [`ServerState`]:
//! per-method call counters, the `idempotency-key` values and request metadata
//! each method received, failures queued for the next call, and a park switch
//! that holds calls until released (for crash tests). Streaming handlers also
//! count the messages they send and read, the calls whose client went away,
//! and can be held after their `n`-th message; a [`CutProxy`] in front of a
//! server lets a test cut its connections as a killed client would. Servers:
//!
//! * [`spawn_test_service_server`] — `grpc.testing.TestService`, the official
//!   interop service (echoes `x-grpc-test-echo-initial` /
//!   `x-grpc-test-echo-trailing-bin` metadata);
//! * [`spawn_route_guide_server`] — `routeguide.RouteGuide`, all call kinds;
//! * [`spawn_todo_server`] — `core.todo.v1.TodoService`, in-memory state,
//!   idempotent on `idempotency-key`, rich error details;
//! * [`spawn_rest_todo_server`] — the Todo REST API (OpenAPI), on axum;
//! * [`spawn_greeter_server`] — `example.Greeter`; [`spawn_tls_greeter_server`]
//!   serves it over TLS with certificates a [`TestCa`] generates, and
//!   [`spawn_limited_greeter_server`] with a small limit on requests.
//!
//! The protos come from the shared corpus (`../../shared/protos`, or the
//! directory in `REPRISE_SHARED_PROTOS` at build time); [`proto`] holds the
//! generated messages, servers and clients, and [`FILE_DESCRIPTOR_SET`] the
//! compiled descriptors.

mod echo;
mod frames;
mod greeter;
pub mod postgres;
pub mod process;
mod proxy;
mod rest_todo;
pub mod rich;
mod route_guide;
mod server;
pub mod state;
#[cfg(test)]
mod stream_tests;
mod test_service;
mod tls;
mod todo;

pub use echo::{ECHO_INITIAL, ECHO_TRAILING};
pub use greeter::{
    spawn_compressing_greeter_server, spawn_greeter_server, spawn_limited_greeter_server,
};
pub use proxy::CutProxy;

/// Makes ring the process's default rustls provider (once): the
/// workspace's reqwest has no provider of its own, so a test building a
/// reqwest client calls this first.
pub fn install_crypto_provider() {
    #[allow(deprecated)] // ring lacks only post-quantum key exchange.
    let provider = rustls::crypto::ring::default_provider();
    // Err: one is installed already.
    let _ = provider.install_default();
}
pub use rest_todo::{RestFailure, RestTodoServer, spawn_rest_todo_server};
pub use route_guide::{
    FEATURE_COUNT, Reflection, feature, spawn_reflective_route_guide_server,
    spawn_route_guide_server,
};
pub use server::TestServer;
pub use state::{IDEMPOTENCY_KEY, InjectedFailure, RecordedMetadata, ServerState};
pub use test_service::{MAX_INTERVAL, MAX_RESPONSE_SIZE, spawn_test_service_server};
pub use tls::{CertifiedKey, TestCa, spawn_tls_greeter_server};
pub use todo::spawn_todo_server;

/// Generated prost messages and tonic servers/clients for the test protos
/// (`grpc.testing`, `routeguide`, `core.todo.v1`, `example`, `google.rpc`).
pub mod proto {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    include!(concat!(env!("OUT_DIR"), "/test_protos.rs"));
}

/// The encoded `FileDescriptorSet` of the test protos and all their imports.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/test_protos.bin"));

/// What can go wrong starting or stopping a test server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The loopback listener could not be bound.
    #[error("cannot bind a loopback listener: {0}")]
    Bind(String),
    /// The server stopped with an error.
    #[error("test server failed: {0}")]
    Serve(String),
    /// Something a test waited for did not happen in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the wait lasted.
        after: std::time::Duration,
    },
}
