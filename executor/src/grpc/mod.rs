//! Dynamic gRPC imports: from a component's stored descriptor sets, build
//! the same interface model the WIT generator uses, and register one async
//! host function per imported method (`Linker::func_new_async`). No code is
//! generated and nothing is recompiled: a new proto is just new data.
//!
//! [`link`] decides what to register and checks the component's imports at
//! upload; [`call`] performs one durable unary call (replay or live),
//! journaled in the form [`journaled`] defines; [`stream`] implements the
//! resources of streaming calls.

pub mod call;
pub mod convert;
pub mod journaled;
pub mod link;
pub mod retry;
pub mod stream;
mod support_types;
pub mod typecheck;

use std::collections::HashMap;

use reprise_grpc_stub::RpcStatus;
use std::sync::Arc;

use reprise_grpc_stub::client::{ChannelPool, ClientConfig, GrpcClient};
use reprise_grpc_stub::status::Code;

use crate::deps::GrpcDependencyConfig;
use crate::durable::Durable;
use reprise_grpc_stub::config::{TlsConfig, same_origin};

/// What a worker's store data gives the gRPC host functions (the
/// `WasiView` pattern): they are generic over it and never name the
/// executor's own store type, so this module sits below `worker`.
pub trait GrpcView: Send + 'static {
    /// The worker's gRPC state.
    fn grpc(&mut self) -> &mut GrpcContext;

    /// Why the running invocation must stop now (a stop request or its
    /// time budget), if it must: checked while a call waits to retry.
    fn stop_requested(&self) -> Option<crate::stop::StopReason> {
        None
    }

    /// What is left of the running invocation's time budget, if it has
    /// one: a retry whose delay would outlast it is not waited for.
    fn remaining_budget(&self) -> Option<std::time::Duration> {
        None
    }

    /// The running invocation's limits, which a host call in flight races
    /// (`None`: nothing stops it).
    fn run_limits(&self) -> Option<crate::worker::limits::RunLimits> {
        None
    }
}

/// Per-worker state the gRPC host functions need.
pub struct GrpcContext {
    /// The worker's durable path: every call and stream step goes through it.
    pub durable: Durable,
    /// Per dependency name, the endpoint replacing the configured one.
    pub endpoint_overrides: HashMap<String, String>,
    /// The streams the guest holds open.
    pub streams: stream::StreamTable,
    /// Shared, so a call takes a reference count, not a channel clone.
    clients: HashMap<String, Arc<GrpcClient>>,
    /// The executor's connections, shared with the other workers.
    channels: Arc<ChannelPool>,
}

impl GrpcContext {
    /// A context with no client connected yet.
    pub fn new(
        durable: Durable,
        endpoint_overrides: HashMap<String, String>,
        channels: Arc<ChannelPool>,
    ) -> Self {
        GrpcContext {
            durable,
            endpoint_overrides,
            channels,
            streams: stream::StreamTable::default(),
            clients: HashMap::new(),
        }
    }

    /// The endpoint this worker calls `dependency` at (its override, or the
    /// manifest's), for messages.
    pub fn endpoint_of<'a>(&'a self, dependency: &'a GrpcDependencyConfig) -> &'a str {
        self.endpoint_overrides
            .get(&dependency.name)
            .unwrap_or(&dependency.endpoint)
    }

    /// The client for `dependency`, created on first use with its endpoint
    /// (or this worker's override), timeout and credentials. Configuration
    /// problems (a bad endpoint, a missing secret variable) come back as an
    /// `rpc-status` the guest sees, naming what to fix.
    pub fn client(
        &mut self,
        dependency: &GrpcDependencyConfig,
    ) -> Result<Arc<GrpcClient>, RpcStatus> {
        if let Some(client) = self.clients.get(&dependency.name) {
            return Ok(client.clone());
        }
        let endpoint = self
            .endpoint_overrides
            .get(&dependency.name)
            .unwrap_or(&dependency.endpoint);
        // Credentials go only to the origin the component's manifest names:
        // an override pointing elsewhere gets none (else whoever creates a
        // worker could collect them on a listener of their own).
        let config = if same_origin(endpoint, &dependency.endpoint) {
            ClientConfig::for_dependency(dependency, |name| std::env::var(name).ok())
                .map_err(|e| RpcStatus::new(Code::Unauthenticated, e.to_string()))?
        } else {
            if dependency.auth.is_some()
                || dependency
                    .tls
                    .as_ref()
                    .is_some_and(|tls| tls.client_key_env.is_some())
            {
                tracing::warn!(
                    dependency = %dependency.name,
                    endpoint,
                    "endpoint override to another origin: calls carry no credentials and no \
                     client certificate"
                );
            }
            // Its trusted roots still apply; the client certificate and the
            // server-name override belong to the manifest's origin.
            let anonymous = GrpcDependencyConfig {
                auth: None,
                tls: dependency.tls.as_ref().map(|tls| TlsConfig {
                    server_name: None,
                    client_cert_pem: None,
                    client_key_env: None,
                    ..tls.clone()
                }),
                ..dependency.clone()
            };
            ClientConfig::for_dependency(&anonymous, |_| None)
                .map_err(|e| RpcStatus::new(Code::Unauthenticated, e.to_string()))?
        };
        let client = self.channels.client(endpoint, config).map_err(|e| {
            RpcStatus::new(
                Code::FailedPrecondition,
                format!(
                    "dependency `{}`: cannot use endpoint `{endpoint}`: {e}",
                    dependency.name
                ),
            )
        })?;
        let client = Arc::new(client);
        self.clients
            .insert(dependency.name.clone(), Arc::clone(&client));
        Ok(client)
    }
}
