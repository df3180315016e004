//! `POST /v1/components` and `GET /v1/components/{id}`: uploading a
//! component (raw wasm, or multipart with its gRPC and OpenAPI
//! dependencies and its own limits) and reading its metadata.
//!
//! Dependencies are checked here before anything is stored: unique names,
//! a descriptor set that decodes and defines every listed service, a valid
//! endpoint, a positive timeout and well-formed environment variable names.
//! An element of the `dependencies` array with an `openapi` key is an
//! OpenAPI dependency; any other a gRPC one.

use std::collections::HashSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use prost_reflect::DescriptorPool;

use super::AppState;
use super::error::ApiError;
use super::extract::ComponentPath;
use crate::components::ComponentInfo;
use crate::components::limits::ComponentLimits;
use crate::deps::{DependencyConfig, GrpcDependencyConfig, OpenApiDependencyConfig};

pub(super) async fn add_component(
    State(state): State<AppState>,
    request: Request,
) -> Result<(StatusCode, Json<ComponentInfo>), ApiError> {
    let limit = state.config.component_body_limit;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let (wasm, dependencies, limits) = match essence.as_str() {
        "application/wasm" | "application/octet-stream" => {
            let wasm = Bytes::from_request(request, &state)
                .await
                .map_err(|r| ApiError::from_body(r, limit))?;
            (wasm.to_vec(), Vec::new(), ComponentLimits::default())
        }
        "multipart/form-data" => {
            let multipart = Multipart::from_request(request, &state)
                .await
                .map_err(|r| {
                    ApiError::bad_request(format!("bad multipart request: {}", r.body_text()))
                })?;
            read_multipart(multipart, limit).await?
        }
        "" => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "missing Content-Type: send the wasm as `application/wasm`, or \
                 `multipart/form-data` with a `wasm` part and an optional `dependencies` part",
            ));
        }
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "unsupported Content-Type `{other}`: send the wasm as `application/wasm`, or \
                     `multipart/form-data` with a `wasm` part and an optional `dependencies` part"
                ),
            ));
        }
    };
    if wasm.is_empty() {
        return Err(ApiError::bad_request(
            "the component is empty: send the bytes of a .wasm component",
        ));
    }
    validate_dependencies(&dependencies)?;
    let executor = state.executor.clone();
    // A task of its own: the upload completes even if the client goes away.
    let info = tokio::spawn(async move {
        executor
            .add_component_limited(wasm, dependencies, limits)
            .await
    })
    .await??;
    state.metrics.component_added();
    tracing::info!(component = %info.id, size = info.size, "component added");
    Ok((StatusCode::CREATED, Json(info)))
}

/// The parts of a multipart upload: the wasm, its dependencies, its limits.
type Upload = (Vec<u8>, Vec<DependencyConfig>, ComponentLimits);

async fn read_multipart(mut multipart: Multipart, limit: usize) -> Result<Upload, ApiError> {
    let mut wasm: Option<Vec<u8>> = None;
    let mut dependencies: Option<Vec<DependencyConfig>> = None;
    let mut limits: Option<ComponentLimits> = None;
    // Bounded by the body limit: every part consumes body bytes.
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::from_multipart(e, limit))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::from_multipart(e, limit))?;
        match name.as_str() {
            "wasm" if wasm.is_some() => {
                return Err(ApiError::bad_request("the `wasm` part is given twice"));
            }
            "wasm" => wasm = Some(bytes.to_vec()),
            "dependencies" if dependencies.is_some() => {
                return Err(ApiError::bad_request(
                    "the `dependencies` part is given twice",
                ));
            }
            "dependencies" => dependencies = Some(parse_dependencies(&bytes)?),
            "limits" if limits.is_some() => {
                return Err(ApiError::bad_request("the `limits` part is given twice"));
            }
            "limits" => {
                let bad = |e: String| {
                    ApiError::bad_request(format!(
                        "the `limits` part is not a JSON object of limits \
                         (`time_budget_ms`, `memory_bytes`): {e}"
                    ))
                };
                if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
                    return Err(bad("it does not start with `{`".into()));
                }
                super::extract::no_duplicate_keys(&bytes).map_err(|e| bad(e.to_string()))?;
                limits = Some(serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?)
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unexpected multipart part `{other}`; only `wasm`, `dependencies` and \
                     `limits` are accepted"
                )));
            }
        }
    }
    let wasm = wasm.ok_or_else(|| {
        ApiError::bad_request("the multipart body has no `wasm` part holding the component")
    })?;
    Ok((
        wasm,
        dependencies.unwrap_or_default(),
        limits.unwrap_or_default(),
    ))
}

/// The `dependencies` part: a JSON array whose elements are OpenAPI
/// dependencies (with an `openapi` key) or gRPC ones.
fn parse_dependencies(bytes: &[u8]) -> Result<Vec<DependencyConfig>, ApiError> {
    // Read as `Value`s first (to tell the kinds apart), where a repeated
    // key would silently keep its last value.
    super::extract::no_duplicate_keys(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the `dependencies` part is not a JSON array of dependencies: {e}"
        ))
    })?;
    let elements: Vec<serde_json::Value> = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the `dependencies` part is not a JSON array of dependencies: {e}"
        ))
    })?;
    elements
        .into_iter()
        .enumerate()
        .map(|(i, element)| {
            let bad = |kind: &str, e: serde_json::Error| {
                ApiError::bad_request(format!(
                    "the `dependencies` part is not a JSON array of dependencies: element {i} \
                     is not a {kind} dependency: {e}"
                ))
            };
            if !element.is_object() {
                return Err(ApiError::bad_request(format!(
                    "the `dependencies` part is not a JSON array of dependencies: element {i} \
                     is not a JSON object"
                )));
            }
            // An object given as an array anywhere inside (`retry`,
            // `keepalive`, `auth`) is refused as at the top.
            let nested = |path: String| {
                ApiError::bad_request(format!(
                    "the `dependencies` part is not a JSON array of dependencies: element {i}: \
                     `{path}` must be a JSON object, not an array"
                ))
            };
            if element.get("openapi").is_some() {
                let config = serde_json::from_value::<OpenApiDependencyConfig>(element.clone())
                    .map_err(|e| bad("OpenAPI", e))?;
                match super::extract::array_for_object(&element, &config) {
                    Some(path) => Err(nested(path)),
                    None => Ok(DependencyConfig::from(config)),
                }
            } else {
                let config = serde_json::from_value::<GrpcDependencyConfig>(element.clone())
                    .map_err(|e| bad("gRPC", e))?;
                match super::extract::array_for_object(&element, &config) {
                    Some(path) => Err(nested(path)),
                    None => Ok(DependencyConfig::from(config)),
                }
            }
        })
        .collect()
}

/// Checks uploaded dependencies, naming the dependency and the problem.
pub fn validate_dependencies(dependencies: &[DependencyConfig]) -> Result<(), ApiError> {
    let mut names = HashSet::new();
    for dependency in dependencies {
        if dependency.name().trim().is_empty() {
            return Err(ApiError::bad_request("a dependency has an empty `name`"));
        }
        if !names.insert(dependency.name()) {
            return Err(ApiError::bad_request(format!(
                "dependency `{}`: the name is used by more than one dependency",
                dependency.name()
            )));
        }
        match dependency {
            DependencyConfig::Grpc(grpc) => validate_grpc(grpc)?,
            DependencyConfig::OpenApi(api) => validate_openapi(api)?,
        }
    }
    Ok(())
}

/// Checks an uploaded OpenAPI dependency's settings (the base URL and the
/// rest are checked with the component, by `deps::openapi`).
fn validate_openapi(dep: &OpenApiDependencyConfig) -> Result<(), ApiError> {
    let bad = |message: String| {
        ApiError::bad_request(format!("OpenAPI dependency `{}`: {message}", dep.name))
    };
    if dep.timeout_ms == 0 {
        return Err(bad("`timeout-ms` must be at least 1".into()));
    }
    if let Some(problem) = dep
        .auth
        .as_ref()
        .and_then(reprise_manifest::auth_config_problem)
    {
        return Err(bad(format!("auth: {problem}")));
    }
    Ok(())
}

/// Checks an uploaded gRPC dependency, naming it and the problem.
fn validate_grpc(dep: &GrpcDependencyConfig) -> Result<(), ApiError> {
    let bad = |message: String| {
        ApiError::bad_request(format!("gRPC dependency `{}`: {message}", dep.name))
    };
    let pool = DescriptorPool::decode(dep.descriptor_set.as_slice()).map_err(|e| {
        bad(format!(
            "`descriptor-set` is not a valid encoded FileDescriptorSet: {e}"
        ))
    })?;
    if dep.services.is_empty() {
        return Err(bad(
            "`services` is empty; list the services the component imports".into(),
        ));
    }
    for service in &dep.services {
        if pool.get_service_by_name(service).is_none() {
            let known: Vec<_> = pool.services().map(|s| s.full_name().to_owned()).collect();
            return Err(bad(format!(
                "service `{service}` is not defined in its descriptor set (it defines: {})",
                if known.is_empty() {
                    "no services".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    dep.endpoint
        .parse::<reprise_manifest::Endpoint>()
        .map_err(|e| bad(e.to_string()))?;
    if dep.timeout_ms == 0 {
        return Err(bad("`timeout-ms` must be at least 1".into()));
    }
    if let Some(problem) = dep
        .auth
        .as_ref()
        .and_then(reprise_manifest::auth_config_problem)
    {
        return Err(bad(format!("auth: {problem}")));
    }
    Ok(())
}

pub(super) async fn get_component(
    State(state): State<AppState>,
    ComponentPath(id): ComponentPath,
) -> Result<Json<ComponentInfo>, ApiError> {
    let executor = state.executor.clone();
    // Compiles the component on first use after a restart: CPU work.
    let info = tokio::spawn(async move { executor.component(&id).await }).await??;
    Ok(Json(info))
}

/// `GET /v1/components/{id}/proto`: the `.proto` text of the services the
/// component's exports are served as (docs/inbound-grpc.md).
pub(super) async fn get_proto(
    State(state): State<AppState>,
    ComponentPath(id): ComponentPath,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let executor = state.executor.clone();
    let api = tokio::spawn(async move { executor.export_api(&id).await }).await??;
    let name = api.file().name().to_owned();
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (header::HeaderName::from_static("x-proto-file"), name),
        ],
        api.proto_text(),
    ))
}

/// `GET /v1/components/{id}/descriptor-set`: the same services as a binary
/// `google.protobuf.FileDescriptorSet`.
pub(super) async fn get_descriptor_set(
    State(state): State<AppState>,
    ComponentPath(id): ComponentPath,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let executor = state.executor.clone();
    let api = tokio::spawn(async move { executor.export_api(&id).await }).await??;
    Ok((
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        api.descriptor_set(),
    ))
}
