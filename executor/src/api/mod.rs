//! The executor's admin HTTP API (axum): upload components, create, inspect,
//! invoke, interrupt and delete workers, page through oplogs, and serve
//! health and Prometheus metrics. JSON everywhere; component values travel
//! as WAVE text. With an [`AdminToken`] every route but `/healthz` requires
//! it as a bearer token. `docs/admin-api.md` is the reference for every route.
//!
//! ```no_run
//! # async fn run(executor: std::sync::Arc<reprise_executor::Executor>) -> std::io::Result<()> {
//! use reprise_executor::api::{ApiConfig, serve};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9090").await?;
//! serve(listener, executor, ApiConfig::default(), std::future::pending()).await
//! # }
//! ```

pub mod auth;
mod components;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod oplog;
mod shape;
pub mod workers;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use auth::AdminToken;
pub use components::validate_dependencies;
pub use error::{ApiError, ErrorBody, status_of};
pub use metrics::Metrics;

use crate::executor::Executor;

/// Limits of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Largest accepted body of `POST /v1/components`, in bytes (default 64 MiB).
    pub component_body_limit: usize,
    /// Largest accepted body of every other route, in bytes (default 1 MiB).
    pub body_limit: usize,
    /// Most oplog entries returned by one page (default 1000).
    pub max_oplog_page: usize,
    /// The bearer token every route but `/healthz` requires (`None`: the
    /// API is open, for loopback use).
    pub admin_token: Option<AdminToken>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            component_body_limit: 64 << 20,
            body_limit: 1 << 20,
            max_oplog_page: 1000,
            admin_token: None,
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The executor served.
    pub executor: Arc<Executor>,
    /// The API's metrics.
    pub metrics: Arc<Metrics>,
    /// The limits.
    pub config: Arc<ApiConfig>,
}

/// The API's routes over `executor`.
pub fn router(executor: Arc<Executor>, config: ApiConfig) -> Router {
    router_with_metrics(executor, config, Arc::new(Metrics::default()))
}

/// The API's routes over `executor`, counting into `metrics` (shared with
/// the gRPC front door, so `/metrics` counts both doors' invocations).
pub fn router_with_metrics(
    executor: Arc<Executor>,
    config: ApiConfig,
    metrics: Arc<Metrics>,
) -> Router {
    let state = AppState {
        executor,
        metrics,
        config: Arc::new(config),
    };
    let component_limit = DefaultBodyLimit::max(state.config.component_body_limit);
    Router::new()
        .route(
            "/v1/components",
            post(components::add_component).layer(component_limit),
        )
        .route("/v1/components/{id}", get(components::get_component))
        .route("/v1/components/{id}/proto", get(components::get_proto))
        .route(
            "/v1/components/{id}/descriptor-set",
            get(components::get_descriptor_set),
        )
        .route(
            "/v1/workers",
            post(workers::create_worker).get(workers::list_workers),
        )
        .route(
            "/v1/workers/{id}",
            get(workers::get_worker).delete(workers::delete_worker),
        )
        .route("/v1/workers/{id}/invoke", post(workers::invoke))
        .route("/v1/workers/{id}/oplog", get(oplog::get_oplog))
        .route(
            "/v1/workers/{id}/interrupt",
            post(workers::interrupt_worker),
        )
        .route("/v1/workers/{id}/resume", post(workers::resume_worker))
        .route("/metrics", get(render_metrics))
        // A query string or a body the route does not read is refused.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            shape::refuse_unread_parts,
        ))
        // Requests about a worker another executor serves go there (after
        // the token check below, which runs first).
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::cluster::forward::forward_elsewhere,
        ))
        // Every route above requires the admin token (when there is one);
        // the health check below stays open for probes.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .route("/healthz", get(healthz))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), log_request))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, then stops
/// accepting connections and returns once in-flight requests are answered.
/// Dropping the future closes the connections still open.
pub async fn serve(
    listener: tokio::net::TcpListener,
    executor: Arc<Executor>,
    config: ApiConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_metrics(
        listener,
        executor,
        config,
        Arc::new(Metrics::default()),
        shutdown,
    )
    .await
}

/// [`serve`], counting into `metrics`.
pub async fn serve_with_metrics(
    listener: tokio::net::TcpListener,
    executor: Arc<Executor>,
    config: ApiConfig,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::listen::serve(
        listener,
        router_with_metrics(executor, config, metrics),
        crate::listen::ConnectionOptions::default(),
        shutdown,
    )
    .await
}

async fn log_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    state.metrics.http_request();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// How long `/healthz` waits for the oplog store.
const HEALTH_CHECK_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// `200 ok`, or `503` naming the kind of oplog store and what failed (a
/// shared PostgreSQL database that is down or silent; answered within
/// [`HEALTH_CHECK_LIMIT`]). The route needs no token, so the body names no
/// user, host or database: those go to the log.
async fn healthz(State(state): State<AppState>) -> Response {
    let oplog = state.executor.oplog().clone();
    // Bounded here too, whatever the store does with its limit.
    let checked = tokio::time::timeout(
        HEALTH_CHECK_LIMIT + std::time::Duration::from_millis(500),
        oplog.check_reachable(HEALTH_CHECK_LIMIT),
    )
    .await;
    let (public, detail) = match checked {
        Ok(Ok(())) => return "ok".into_response(),
        Ok(Err(e)) => {
            let public = match &e {
                reprise_oplog::Error::StoreUnreachable { store, failure, .. } => {
                    format!("the {store} store {failure}")
                }
                _ => "the oplog store failed its health check (the executor's log says why)"
                    .to_owned(),
            };
            (public, e.to_string())
        }
        Err(_) => {
            let public = format!(
                "the oplog store did not answer within {} s",
                HEALTH_CHECK_LIMIT.as_secs()
            );
            (public.clone(), public)
        }
    };
    tracing::warn!(error = %detail, "health check failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("unhealthy: {public}\n"),
    )
        .into_response()
}

async fn render_metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(state.executor.stats());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn no_route(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route for {} {}; the API lives under /v1 (see docs/admin-api.md)",
        request.method(),
        request.uri().path()
    ))
}

async fn wrong_method(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}
