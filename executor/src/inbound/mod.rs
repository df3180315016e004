//! The inbound gRPC front door: every uploaded component's exports served
//! as gRPC services (the mapping is `reprise_grpc_stub::export`), so any
//! gRPC client invokes a durable worker without a `.proto` file.
//!
//! - Addressing: metadata `reprise-worker: <id>` picks the worker; an
//!   unknown worker is `NOT_FOUND` unless `reprise-create: true` asks to
//!   create it (of the component `reprise-component: <id>` names, or the
//!   one component that serves the called service).
//! - `idempotency-key` metadata gives the admin API's idempotent
//!   invocation: the same key returns the stored result, also after a
//!   restart.
//! - gRPC server reflection (`grpc.reflection.v1` and `v1alpha`) and
//!   `grpc.health.v1.Health` are served beside the workers' services.
//! - With an admin token every call but health checks needs
//!   `authorization: Bearer <token>`.
//!
//! docs/inbound-grpc.md is the user's guide; the status mapping is in
//! [`status`].

mod codec;
mod detach;
mod health;
mod invoke;
mod reflection;
pub mod status;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use reprise_oplog::{ComponentId, WorkerId};

use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::api::AdminToken;
use crate::executor::Executor;

/// Metadata naming the worker a call goes to.
pub const WORKER_METADATA: &str = "reprise-worker";
/// Metadata asking to create an unknown worker (`true`).
pub const CREATE_METADATA: &str = "reprise-create";
/// Metadata naming the component of a worker to create.
pub const COMPONENT_METADATA: &str = "reprise-component";
/// Metadata carrying the invocation's idempotency key.
pub const IDEMPOTENCY_METADATA: &str = "idempotency-key";

/// Settings of the inbound server.
#[derive(Debug, Clone, Default)]
pub struct InboundConfig {
    /// The bearer token callers must present (`None`: open, for loopback).
    pub admin_token: Option<AdminToken>,
    /// Where invocations and creations are counted (the admin API's, so
    /// that `/metrics` covers both doors); `None`: not counted.
    pub metrics: Option<Arc<crate::api::Metrics>>,
}

/// Most worker -> component routes remembered; the table is emptied when
/// it grows past this (a miss costs one oplog read).
const MAX_ROUTES: usize = 100_000;

/// What the services share.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub(crate) executor: Arc<Executor>,
    pub(crate) config: Arc<InboundConfig>,
    /// The component each recently called worker runs, valid while the
    /// executor's count of deleted workers is the one noted with them: a
    /// delete through this executor empties the table. A stale entry left
    /// by another executor's delete (a shared store) is caught by the
    /// executor, which refuses the invocation (the entry is then dropped),
    /// or, when the remembered component serves no such rpc, by looking
    /// the worker up again before the call is refused.
    routes: Arc<Mutex<Routes>>,
    /// Turns true when the server begins to shut down.
    pub(crate) stopping: tokio::sync::watch::Receiver<bool>,
}

/// Worker -> component routes, and the executor's count of deletions they
/// were learnt under.
#[derive(Debug, Default)]
struct Routes {
    deletions: u64,
    table: HashMap<WorkerId, ComponentId>,
}

impl Shared {
    /// What the services of `executor` share, for tests, with the sender
    /// that stops them (dropping it reads as the server stopping).
    #[cfg(test)]
    pub(crate) fn for_tests(executor: Arc<Executor>) -> (Shared, tokio::sync::watch::Sender<bool>) {
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let shared = Shared {
            executor,
            config: Arc::new(InboundConfig::default()),
            routes: Arc::default(),
            stopping,
        };
        (shared, stop)
    }

    /// The component worker `id` runs.
    pub(crate) async fn component_of(&self, id: &WorkerId) -> crate::error::Result<ComponentId> {
        let seen = {
            let routes = self.lock_routes();
            if let Some(known) = routes.table.get(id) {
                return Ok(*known);
            }
            routes.deletions
        };
        let component = self.executor.worker_component(id).await?;
        // Not kept if a delete came in between: it may have been this one.
        let mut routes = self.lock_routes();
        if routes.deletions == seen {
            if routes.table.len() >= MAX_ROUTES {
                routes.table.clear();
            }
            routes.table.insert(id.clone(), component);
        }
        Ok(component)
    }

    /// The executor's count of deletions, to pass to [`Self::remember`].
    pub(crate) fn deletions(&self) -> u64 {
        self.executor
            .deletions
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Remembers that worker `id` runs `component`, learnt when the
    /// executor's count of deletions was `seen`: not kept if a delete came
    /// since (it may have been this worker's).
    pub(crate) fn remember(&self, id: &WorkerId, component: ComponentId, seen: u64) {
        let mut routes = self.lock_routes();
        if routes.deletions != seen {
            return;
        }
        if routes.table.len() >= MAX_ROUTES {
            routes.table.clear();
        }
        routes.table.insert(id.clone(), component);
    }

    /// Forgets the route of worker `id`.
    pub(crate) fn forget(&self, id: &WorkerId) {
        self.lock_routes().table.remove(id);
    }

    /// The routes, emptied first if a worker was deleted since they were
    /// learnt.
    fn lock_routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let deletions = self
            .executor
            .deletions
            .load(std::sync::atomic::Ordering::Acquire);
        if routes.deletions != deletions {
            routes.table.clear();
            routes.deletions = deletions;
        }
        routes
    }

    /// Refuses a call without the admin token (when there is one).
    pub(crate) fn authorize(&self, metadata: &MetadataMap) -> Result<(), Status> {
        let Some(token) = &self.config.admin_token else {
            return Ok(());
        };
        match metadata.get("authorization").map(|v| v.as_bytes()) {
            None => Err(Status::unauthenticated(
                "this server requires `authorization: Bearer <admin token>` metadata",
            )),
            Some(value) => match crate::api::auth::bearer_credentials(value) {
                Some(candidate) if token.matches(candidate) => Ok(()),
                Some(_) => Err(Status::unauthenticated(
                    "the admin token presented is not the executor's",
                )),
                None => Err(Status::unauthenticated(
                    "the `authorization` metadata must be `Bearer <admin token>`",
                )),
            },
        }
    }
}

/// The inbound server's routes: reflection, health, and every other path
/// dispatched to the addressed worker.
/// `stopping` turns true when the server begins to shut down (health
/// answers `NOT_SERVING` from then on, and ends its `Watch` streams).
pub fn router(
    executor: Arc<Executor>,
    config: InboundConfig,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> axum::Router {
    let shared = Shared {
        executor,
        config: Arc::new(config),
        routes: Arc::new(Mutex::new(Routes::default())),
        stopping,
    };
    let reflection_v1 =
        tonic_reflection::pb::v1::server_reflection_server::ServerReflectionServer::new(
            reflection::Reflection::new(shared.clone()),
        );
    let reflection_v1alpha =
        tonic_reflection::pb::v1alpha::server_reflection_server::ServerReflectionServer::new(
            reflection::Reflection::new(shared.clone()),
        );
    // gzip both ways, as the worker services take it.
    let reflection_v1 = reflection_v1
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let reflection_v1alpha = reflection_v1alpha
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let health =
        tonic_health::pb::health_server::HealthServer::new(health::Health::new(shared.clone()))
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
            .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    axum::Router::new()
        .route_service(
            "/grpc.reflection.v1.ServerReflection/{*method}",
            reflection_v1,
        )
        .route_service(
            "/grpc.reflection.v1alpha.ServerReflection/{*method}",
            reflection_v1alpha,
        )
        .route_service("/grpc.health.v1.Health/{*method}", health)
        .route_layer(axum::middleware::map_response(
            status::undecodable_is_invalid_argument,
        ))
        .fallback(invoke::handle)
        .layer(axum::middleware::map_response(status::bounded_message))
        .layer(axum::middleware::map_response(accept_encoding))
        .with_state(shared)
}

/// Adds `grpc-accept-encoding: gzip` to an answer without it: every
/// answer carries the compressions the server accepts (as gRPC's protocol
/// asks of servers), refusals made before a call is read included.
async fn accept_encoding(mut response: axum::response::Response) -> axum::response::Response {
    response
        .headers_mut()
        .entry("grpc-accept-encoding")
        .or_insert(axum::http::HeaderValue::from_static("gzip"));
    response
}

/// Serves the inbound gRPC front door on `listener` until `shutdown`
/// completes (calls in flight are finished first). Dropping the future
/// closes the connections still open.
pub async fn serve(
    listener: tokio::net::TcpListener,
    executor: Arc<Executor>,
    config: InboundConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // HTTP/2 writes frames as they come: no Nagle delay between them.
    let options = crate::listen::ConnectionOptions {
        nodelay: true,
        ..Default::default()
    };
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    crate::listen::serve(
        listener,
        router(executor, config, stopping),
        options,
        shutdown,
    )
    .await
}

/// A text metadata value, if present and readable.
pub(crate) fn text<'a>(metadata: &'a MetadataMap, key: &str) -> Result<Option<&'a str>, Status> {
    // Two values would leave the choice to us; the caller must make it.
    if metadata.get_all(key).iter().nth(1).is_some() {
        return Err(Status::invalid_argument(format!(
            "metadata `{key}` is given more than once; send it once"
        )));
    }
    match metadata.get(key) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|v| Some(v.trim()))
            .map_err(|_| Status::invalid_argument(format!("metadata `{key}` is not valid text"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WorkerConfig;

    /// A route learnt before a delete is not kept: an invocation that
    /// created its worker remembered the route after an admin delete that
    /// came meanwhile, and the next call that asked to create the worker
    /// was routed to the deleted one (`NOT_FOUND`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_route_learnt_before_a_delete_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (executor, component) = crate::test_support::executor_with_counter(&dir).await;
        let id = WorkerId::new("routed").unwrap();
        executor
            .create_worker(&component, Some(id.clone()), WorkerConfig::default())
            .await
            .unwrap();
        let (shared, _stop) = Shared::for_tests(executor.clone());
        let seen = shared.deletions();
        assert!(executor.delete_worker(&id).await.unwrap());
        shared.remember(&id, component, seen);
        let err = shared.component_of(&id).await.unwrap_err();
        assert!(
            matches!(
                err,
                crate::Error::UnknownWorker(_)
                    | crate::Error::Oplog(reprise_oplog::Error::WorkerNotFound { .. })
            ),
            "the deleted worker's route was kept: {err:?}"
        );
        // Learnt with no delete since, it is kept.
        let seen = shared.deletions();
        shared.remember(&id, component, seen);
        assert_eq!(shared.component_of(&id).await.unwrap(), component);
    }
}
