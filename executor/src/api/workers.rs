//! Worker routes: create, list, get, delete, invoke, interrupt and resume.
//!
//! Every executor call that changes state runs in a task of its own, so a
//! client that disconnects cannot cancel an invocation half-way; the
//! response is simply not delivered.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{ApiError, codes};
use super::extract::{
    ApiJson, WorkerPath, parse_component_id, parse_idempotency_key, parse_worker_id,
};
use crate::executor::{Executor, WorkerInfo};
use crate::worker::WorkerConfig;
use reprise_oplog::{ComponentId, IdempotencyKey, WorkerId};

/// Body of `POST /v1/workers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkerRequest {
    /// The component to run (its content id).
    pub component_id: String,
    /// The worker's id; generated when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Environment variables visible to the guest.
    #[serde(default, deserialize_with = "unique_keys")]
    pub env: BTreeMap<String, String>,
    /// Command-line arguments visible to the guest.
    #[serde(default)]
    pub args: Vec<String>,
    /// Per gRPC dependency name, an endpoint replacing the uploaded one.
    #[serde(default, deserialize_with = "unique_keys")]
    pub endpoint_overrides: BTreeMap<String, String>,
}

/// A JSON object of strings whose keys are each given once (serde would
/// keep the last of two silently).
fn unique_keys<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    struct Unique;
    impl<'de> serde::de::Visitor<'de> for Unique {
        type Value = BTreeMap<String, String>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of strings")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            // Bounded by the body's size.
            while let Some((key, value)) = map.next_entry::<String, String>()? {
                if out.contains_key(&key) {
                    return Err(serde::de::Error::custom(format!("`{key}` is given twice")));
                }
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_map(Unique)
}

/// Response naming a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRef {
    /// The worker's id.
    pub id: String,
}

/// Response of `GET /v1/workers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerList {
    /// Every worker with an oplog, sorted by id.
    pub workers: Vec<WorkerRef>,
}

/// Response of `GET /v1/workers/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerView {
    /// What the executor reports.
    #[serde(flatten)]
    pub info: WorkerInfo,
    /// Whether the worker is interrupted (refusing invocations).
    pub interrupted: bool,
}

/// Response of `DELETE`, `interrupt` and `resume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerChange {
    /// The worker's id.
    pub id: String,
    /// Whether the request changed anything (false: it was already so).
    pub changed: bool,
}

/// Body of `POST /v1/workers/{id}/invoke`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvokeRequest {
    /// Export to call: `name`, or `interface#name` inside an exported interface.
    pub function: String,
    /// Parameters as WAVE text, one string per parameter.
    #[serde(default)]
    pub params: Vec<String>,
    /// Key under which the result is remembered; repeating it returns the
    /// stored result without running the function again.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// This invocation's time budget in milliseconds (default: the
    /// executor's `--time-budget`); a guest still running when it runs out
    /// is stopped and the invocation fails.
    #[serde(default)]
    pub time_budget_ms: Option<u64>,
    /// Create the worker first when it does not exist, as `POST
    /// /v1/workers` would (without `name`: the worker is the one in the
    /// path). The creation is made durable together with the invocation (one
    /// sync instead of two). An existing worker must run this component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<CreateWorkerRequest>,
}

/// Successful response of an invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvokeResponse {
    /// Results as WAVE text, one string per result.
    pub result: Vec<String>,
    /// Whether this request created the worker (only with `create`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub created: bool,
}

/// The component, name and configuration a creation asks for, checked:
/// environment names, arguments, and endpoint overrides (each must name a
/// dependency of the component and be an endpoint it can use).
async fn checked_creation(
    state: &AppState,
    request: CreateWorkerRequest,
) -> Result<(ComponentId, Option<WorkerId>, WorkerConfig), ApiError> {
    let component = parse_component_id(&request.component_id)?;
    let name = request.name.as_deref().map(parse_worker_id).transpose()?;
    for (key, value) in &request.env {
        if key.is_empty() || key.contains(|c: char| c == '=' || c.is_whitespace() || c.is_control())
        {
            return Err(ApiError::bad_request(format!(
                "environment variable name {key:?} must be non-empty and contain no `=`, \
                 whitespace or control characters"
            )));
        }
        if value.contains('\0') {
            return Err(ApiError::bad_request(format!(
                "environment variable {key}: its value must not contain NUL (a guest reading \
                 it as a C string would see it cut there)"
            )));
        }
    }
    if request.args.iter().any(|a| a.contains('\0')) {
        return Err(ApiError::bad_request("arguments must not contain NUL"));
    }
    if !request.endpoint_overrides.is_empty() {
        let executor = state.executor.clone();
        let info = tokio::spawn(async move { executor.component(&component).await }).await??;
        for (dep, url) in &request.endpoint_overrides {
            let grpc = info.grpc_dependencies.iter().any(|d| &d.name == dep);
            let openapi = info.openapi_dependencies.iter().any(|d| &d.name == dep);
            if !grpc && !openapi {
                let known: Vec<_> = info
                    .grpc_dependencies
                    .iter()
                    .map(|d| d.name.as_str())
                    .chain(info.openapi_dependencies.iter().map(|d| d.name.as_str()))
                    .collect();
                return Err(ApiError::bad_request(format!(
                    "endpoint override for `{dep}`: the component has no dependency of that name (it has: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            if grpc {
                url.parse::<reprise_manifest::Endpoint>().map_err(|e| {
                    ApiError::bad_request(format!("endpoint override for `{dep}`: {e}"))
                })?;
            } else if url.contains(['?', '#']) {
                return Err(ApiError::bad_request(format!(
                    "endpoint override for `{dep}`: a base URL takes no query or fragment"
                )));
            }
            crate::deps::check_endpoint_supported(dep, url)?;
        }
    }
    let config = WorkerConfig {
        env: request.env.into_iter().collect(),
        args: request.args,
        endpoint_overrides: request.endpoint_overrides.into_iter().collect(),
    };
    Ok((component, name, config))
}

pub(super) async fn create_worker(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateWorkerRequest>,
) -> Result<(StatusCode, Json<WorkerRef>), ApiError> {
    let (component, name, config) = checked_creation(&state, request).await?;
    let executor = state.executor.clone();
    let id = tokio::spawn(async move { executor.create_worker(&component, name, config).await })
        .await??;
    tracing::info!(worker = %id, component = %component, "worker created");
    Ok((StatusCode::CREATED, Json(WorkerRef { id: id.to_string() })))
}

pub(super) async fn list_workers(
    State(state): State<AppState>,
) -> Result<Json<WorkerList>, ApiError> {
    let ids = state.executor.list_workers().await?;
    Ok(Json(WorkerList {
        workers: ids
            .into_iter()
            .map(|id| WorkerRef { id: id.to_string() })
            .collect(),
    }))
}

pub(super) async fn get_worker(
    State(state): State<AppState>,
    WorkerPath(id): WorkerPath,
) -> Result<Json<WorkerView>, ApiError> {
    let executor = state.executor.clone();
    // Loading a worker replays its oplog: keep it going if the client leaves.
    let info = {
        let id = id.clone();
        tokio::spawn(async move { executor.worker_info(&id).await }).await??
    };
    Ok(Json(WorkerView {
        info,
        interrupted: state.executor.is_interrupted(&id),
    }))
}

pub(super) async fn delete_worker(
    State(state): State<AppState>,
    WorkerPath(id): WorkerPath,
) -> Result<Json<WorkerChange>, ApiError> {
    let existed = detached(&state, &id, |executor, id| async move {
        executor.delete_worker(&id).await
    })
    .await?;
    if !existed {
        return Err(ApiError::not_found(format!("unknown worker {id}")));
    }
    tracing::info!(worker = %id, "worker deleted");
    Ok(Json(WorkerChange {
        id: id.to_string(),
        changed: true,
    }))
}

/// Runs a state-changing executor call on its own task, so a client that
/// disconnects cannot cancel it half-way.
async fn detached<T, F, Fut>(state: &AppState, id: &WorkerId, call: F) -> Result<T, ApiError>
where
    F: FnOnce(Arc<Executor>, WorkerId) -> Fut,
    Fut: std::future::Future<Output = crate::error::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let task = tokio::spawn(call(state.executor.clone(), id.clone()));
    Ok(task.await??)
}

pub(super) async fn interrupt_worker(
    State(state): State<AppState>,
    WorkerPath(id): WorkerPath,
) -> Result<Json<WorkerChange>, ApiError> {
    let changed = detached(&state, &id, |executor, id| async move {
        executor.interrupt(&id).await
    })
    .await?;
    tracing::info!(worker = %id, changed, "worker interrupted");
    Ok(Json(WorkerChange {
        id: id.to_string(),
        changed,
    }))
}

pub(super) async fn resume_worker(
    State(state): State<AppState>,
    WorkerPath(id): WorkerPath,
) -> Result<Json<WorkerChange>, ApiError> {
    let changed = detached(&state, &id, |executor, id| async move {
        executor.resume(&id).await
    })
    .await?;
    tracing::info!(worker = %id, changed, "worker resumed");
    Ok(Json(WorkerChange {
        id: id.to_string(),
        changed,
    }))
}

/// A failed invocation's answer. When its outcome is unknown to the caller
/// (a commit that failed on the embedded store is written by its next
/// flush if the store recovers; a host resource ran out while it ran), it
/// says so (`outcome_unknown`, 503) and names the idempotency key to retry
/// with, the request's or the one generated for it: a retry without it
/// would run the invocation a second time.
fn invocation_error(error: crate::error::Error, key: &IdempotencyKey) -> ApiError {
    use crate::error::Error;
    let unknown = matches!(error, Error::CommitFailed { .. } | Error::HostResources(_));
    let mut answer = ApiError::from(error);
    if unknown {
        answer.status = StatusCode::SERVICE_UNAVAILABLE;
        answer.message = format!(
            "{}; the invocation's outcome is unknown: retry with idempotency key {key} (it \
             runs once either way)",
            answer.message
        );
        answer = answer.with_code(codes::OUTCOME_UNKNOWN);
    }
    answer
}

/// The largest time budget an invocation may ask for: 24 hours.
use crate::components::limits::MAX_TIME_BUDGET_MS;

pub(super) async fn invoke(
    State(state): State<AppState>,
    WorkerPath(id): WorkerPath,
    ApiJson(request): ApiJson<InvokeRequest>,
) -> Result<Json<InvokeResponse>, ApiError> {
    if request.function.is_empty() {
        return Err(ApiError::bad_request(
            "`function` is empty; name an exported function",
        ));
    }
    // Generated here when the request gives none (as the executor would),
    // so that an answer whose outcome is unknown can name it.
    let key = request
        .idempotency_key
        .as_deref()
        .map(parse_idempotency_key)
        .transpose()?
        .unwrap_or_else(IdempotencyKey::generate);
    let budget = match request.time_budget_ms {
        None => None,
        Some(0) => {
            return Err(ApiError::bad_request(
                "`time_budget_ms` must be at least 1 (milliseconds)",
            ));
        }
        Some(ms) if ms > MAX_TIME_BUDGET_MS => {
            return Err(ApiError::bad_request(format!(
                "`time_budget_ms` {ms} is more than the largest accepted, {MAX_TIME_BUDGET_MS} (24 hours)"
            )));
        }
        Some(ms) => Some(std::time::Duration::from_millis(ms)),
    };
    let creation = match request.create {
        Some(create) if create.name.is_some() => {
            return Err(ApiError::bad_request(
                "`create.name` is not taken here: the worker is the one in the path",
            ));
        }
        Some(create) => Some(checked_creation(&state, create).await?),
        None => None,
    };
    let started = Instant::now();
    let executor = state.executor.clone();
    let function = request.function.clone();
    let invocation_key = key.clone();
    let outcome = tokio::spawn(async move {
        let key = Some(invocation_key);
        match creation {
            Some((component, _, config)) => {
                executor
                    .invoke_creating(
                        &component,
                        &id,
                        config,
                        &request.function,
                        request.params,
                        key,
                        budget,
                    )
                    .await
            }
            None => executor
                .invoke_within(&id, &request.function, request.params, key, budget)
                .await
                .map(|outcome| (false, outcome)),
        }
    })
    .await;
    let result = match outcome {
        Err(join) => Err(ApiError::from(join)),
        Ok(Err(error)) => Err(invocation_error(error, &key)),
        Ok(Ok((_, Err(trap)))) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, trap)),
        Ok(Ok((created, Ok(values)))) => Ok(Json(InvokeResponse {
            result: values,
            created,
        })),
    };
    state.metrics.invocation(result.is_ok(), started.elapsed());
    if let Err(e) = &result {
        tracing::debug!(function, error = %e, "invocation failed");
    }
    result
}
