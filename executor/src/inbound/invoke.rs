//! Invocations over gRPC: every path that is not reflection or health is
//! `/package.Service/Rpc` of the addressed worker's component. The request
//! is decoded with the rpc's input descriptor, turned into the export's
//! parameters, and invoked through the executor in the call's own task,
//! detached if the call is dropped (a client that goes away, or whose
//! deadline passes, cannot cancel it half way); the result becomes the
//! response, or a status.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use prost_reflect::{DynamicMessage, ReflectMessage};
use reprise_grpc_stub::export::{ExportApi, Reply};
use reprise_grpc_stub::status::{ErrorDetail, RpcStatus, TYPE_URL_PREFIX};
use reprise_oplog::{ComponentId, IdempotencyKey, WorkerId};
use tonic::Status;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::server::{ClientStreamingService, Grpc};

use super::codec::ServerCodec;
use super::detach::Detachable;
use super::status::{MAX_DETAILS, MAX_MESSAGE, cut_text, status_of, with_key};
use super::{
    COMPONENT_METADATA, CREATE_METADATA, IDEMPOTENCY_METADATA, Shared, WORKER_METADATA, text,
};
use crate::error::Error;
use crate::worker::WorkerConfig;

/// Handles one call to a worker's service.
pub(crate) async fn handle(State(shared): State<Shared>, request: Request) -> Response {
    let metadata = MetadataMap::from_headers(request.headers().clone());
    // The token first: a caller without it learns nothing else, not even
    // which content types are served.
    if let Err(refused) = shared.authorize(&metadata) {
        return refused.into_http::<axum::body::Body>().into_response();
    }
    if let Some(refused) = unserved_content_type(&request) {
        return refused.into_http::<axum::body::Body>().into_response();
    }
    let path = request.uri().path().to_owned();
    // The deadline counts from the call's arrival: finding the worker (its
    // oplog read, its component compiled when not loaded yet) takes from it.
    let answer_by = answer_by(&metadata);
    let deletions_seen = shared.deletions();
    let finding = resolve(&shared, &metadata, &path);
    let found = match answer_by {
        Some(at) => tokio::time::timeout_at(at, finding)
            .await
            .unwrap_or_else(|_| {
                Err(Status::deadline_exceeded(
                    "the call's deadline passed while its worker was being found; \
                 nothing was invoked",
                ))
            }),
        None => finding.await,
    };
    let target = match found {
        Ok(target) => target,
        Err(status) => return status.into_http::<axum::body::Body>().into_response(),
    };
    let Some(method) = target.api.method(&path) else {
        return Status::internal("the rpc vanished").into_http::<axum::body::Body>();
    };
    let codec = ServerCodec::new(method.input.clone());
    let mut grpc = Grpc::new(codec)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    let unary = Unary {
        shared,
        worker: target.worker,
        component: target.component,
        create: target.create,
        api: target.api,
        path,
        answer_by,
        deletions_seen,
    };
    // Read as a client stream, to refuse a second request message (tonic's
    // unary handling would answer from the first and drop the rest).
    grpc.client_streaming(unary, request)
        .await
        .map(axum::body::Body::new)
        .into_response()
}

/// The one request message of a unary rpc; `INTERNAL` for none or more
/// (as gRPC's own servers answer those protocol violations).
async fn only_message(
    stream: &mut tonic::Streaming<DynamicMessage>,
) -> Result<DynamicMessage, Status> {
    let Some(first) = stream.message().await? else {
        return Err(Status::internal(
            "no request message: a unary rpc takes exactly one",
        ));
    };
    if stream.message().await?.is_some() {
        return Err(Status::internal(
            "more than one request message: a unary rpc takes exactly one",
        ));
    }
    Ok(first)
}

/// A call whose messages are not protobuf (`application/grpc+json`, say):
/// refused rather than read as protobuf.
fn unserved_content_type(request: &Request) -> Option<Status> {
    let value = request.headers().get(axum::http::header::CONTENT_TYPE)?;
    let text = value.to_str().unwrap_or("");
    let media = text.split(';').next().unwrap_or("").trim();
    let served = media.eq_ignore_ascii_case("application/grpc")
        || media.eq_ignore_ascii_case("application/grpc+proto");
    (!served).then(|| {
        Status::unimplemented(format!(
            "content-type `{text}` is not served: messages are protobuf \
             (`application/grpc` or `application/grpc+proto`)"
        ))
    })
}

/// The worker a call goes to and its component's services.
struct Target {
    worker: WorkerId,
    component: ComponentId,
    /// The worker does not exist yet: the invocation creates it.
    create: bool,
    api: Arc<ExportApi>,
}

async fn resolve(shared: &Shared, metadata: &MetadataMap, path: &str) -> Result<Target, Status> {
    shared.authorize(metadata)?;
    let Some(worker) = text(metadata, WORKER_METADATA)? else {
        // A path nothing serves is that, with or without a worker: what
        // a client probing for a service expects to hear.
        if components_serving(&shared.executor, path).await?.is_empty() {
            return Err(Status::unimplemented(format!(
                "no uploaded component serves {path}"
            )));
        }
        return Err(Status::invalid_argument(format!(
            "name the worker to call with metadata `{WORKER_METADATA}: <worker id>`"
        )));
    };
    let worker = WorkerId::new(worker)
        .map_err(|e| Status::invalid_argument(format!("metadata `{WORKER_METADATA}`: {e}")))?;
    let asked_create = match text(metadata, CREATE_METADATA)? {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(Status::invalid_argument(format!(
                "metadata `{CREATE_METADATA}` must be `true` or `false`, not {v:?}"
            )));
        }
    };
    // Checked whether or not it is used: a malformed id is the caller's
    // mistake either way.
    let chosen = text(metadata, COMPONENT_METADATA)?
        .map(|c| {
            c.parse::<ComponentId>().map_err(|e| {
                Status::invalid_argument(format!("metadata `{COMPONENT_METADATA}`: {e}"))
            })
        })
        .transpose()?;
    let (mut component, mut create) = route(shared, &worker, asked_create, chosen, path).await?;
    let mut api = shared
        .executor
        .export_api(&component)
        .await
        .map_err(|e| status_of(&e))?;
    if api.method(path).is_none() && !create {
        // A remembered route may be stale (another executor deleted the
        // worker and created it again of another component): looked up
        // once more from the oplog before the call is refused.
        shared.forget(&worker);
        // With the client's own `reprise-create`, not the answer above
        // (false: the remembered route said the worker existed).
        let (fresh, fresh_create) = route(shared, &worker, asked_create, chosen, path).await?;
        if (fresh, fresh_create) != (component, create) {
            (component, create) = (fresh, fresh_create);
            api = shared
                .executor
                .export_api(&component)
                .await
                .map_err(|e| status_of(&e))?;
        }
    }
    if api.method(path).is_none() {
        let services: Vec<&str> = api
            .services()
            .iter()
            .map(|s| s.full_name.as_str())
            .collect();
        return Err(Status::unimplemented(format!(
            "worker {worker} (component {component}) serves no rpc {path}; its services: {}",
            if services.is_empty() {
                "none".to_owned()
            } else {
                services.join(", ")
            }
        )));
    }
    Ok(Target {
        worker,
        component,
        create,
        api,
    })
}

/// The component worker `worker` runs, and whether the call creates it
/// (`create` asked for, and the worker unknown): a component the client
/// chose, or the one serving `path`.
async fn route(
    shared: &Shared,
    worker: &WorkerId,
    create: bool,
    chosen: Option<ComponentId>,
    path: &str,
) -> Result<(ComponentId, bool), Status> {
    match shared.component_of(worker).await {
        Ok(component) => Ok((component, false)),
        Err(
            Error::UnknownWorker(_) | Error::Oplog(reprise_oplog::Error::WorkerNotFound { .. }),
        ) if create => {
            // Created with the invocation, which makes it durable (one
            // commit for both); nothing is created for a call refused
            // before its invocation starts.
            Ok((
                choose_component(&shared.executor, chosen, path).await?,
                true,
            ))
        }
        Err(
            Error::UnknownWorker(_) | Error::Oplog(reprise_oplog::Error::WorkerNotFound { .. }),
        ) => Err(Status::not_found(format!(
            "unknown worker {worker}; send metadata `{CREATE_METADATA}: true` to create it"
        ))),
        Err(e) => Err(status_of(&e)),
    }
}

/// The uploaded components serving `path`.
async fn components_serving(
    executor: &crate::executor::Executor,
    path: &str,
) -> Result<Vec<ComponentId>, Status> {
    let mut serving = Vec::new();
    for id in executor
        .list_components()
        .await
        .map_err(|e| status_of(&e))?
    {
        if let Ok(api) = executor.export_api(&id).await
            && api.method(path).is_some()
        {
            serving.push(id);
        }
    }
    Ok(serving)
}

/// `component`, or the one component serving `path`: what a worker created
/// by a call to `path` runs.
async fn choose_component(
    executor: &crate::executor::Executor,
    component: Option<ComponentId>,
    path: &str,
) -> Result<ComponentId, Status> {
    if let Some(component) = component {
        return Ok(component);
    }
    let serving = components_serving(executor, path).await?;
    match serving.as_slice() {
        [] => Err(Status::not_found(format!(
            "no uploaded component serves {path}"
        ))),
        [one] => Ok(*one),
        several => {
            let ids: Vec<String> = several.iter().map(ToString::to_string).collect();
            Err(Status::invalid_argument(format!(
                "components {} all serve {path}: name one with metadata \
                 `{COMPONENT_METADATA}: <component id>`",
                ids.join(", ")
            )))
        }
    }
}

/// How much earlier than the client's deadline it is answered, at most.
const DEADLINE_MARGIN: Duration = Duration::from_millis(50);

/// When to answer a call whose client set a deadline: a little before its
/// own timer fires (a tenth of the deadline, at most 50 ms), so the client
/// learns the invocation goes on instead of seeing its call cancelled.
/// Counted from the call's arrival, as the client counts it: finding the
/// worker and reading the request message take from it too.
fn answer_by(metadata: &MetadataMap) -> Option<tokio::time::Instant> {
    let limit = deadline(metadata)?;
    // A deadline too far to represent is none.
    tokio::time::Instant::now().checked_add(limit - (limit / 10).min(DEADLINE_MARGIN))
}

/// The client's deadline, from `grpc-timeout` (`<digits><unit>`).
fn deadline(metadata: &MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// One unary invocation.
#[derive(Clone)]
struct Unary {
    shared: Shared,
    worker: WorkerId,
    component: ComponentId,
    create: bool,
    api: Arc<ExportApi>,
    path: String,
    /// When to answer at the latest (see [`answer_by`]).
    answer_by: Option<tokio::time::Instant>,
    /// The executor's count of deletions when the call arrived: a worker
    /// created here is remembered only if no delete came since.
    deletions_seen: u64,
}

type UnaryFuture =
    Pin<Box<dyn Future<Output = Result<tonic::Response<DynamicMessage>, Status>> + Send>>;

impl ClientStreamingService<DynamicMessage> for Unary {
    type Response = DynamicMessage;
    type Future = UnaryFuture;

    fn call(&mut self, request: tonic::Request<tonic::Streaming<DynamicMessage>>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (metadata, extensions, mut stream) = request.into_parts();
            // A request message that has not arrived by the deadline is not
            // waited for: the call ends then, as the client counts it.
            let message = match this.answer_by {
                Some(at) => tokio::time::timeout_at(at, only_message(&mut stream))
                    .await
                    .unwrap_or_else(|_| {
                        Err(Status::deadline_exceeded(
                            "the call's deadline passed before its request message arrived; \
                             nothing was invoked",
                        ))
                    })?,
                None => only_message(&mut stream).await?,
            };
            this.run(tonic::Request::from_parts(metadata, extensions, message))
                .await
        })
    }
}

impl Unary {
    async fn run(
        self,
        request: tonic::Request<DynamicMessage>,
    ) -> Result<tonic::Response<DynamicMessage>, Status> {
        let method = self
            .api
            .method(&self.path)
            .ok_or_else(|| Status::internal("the rpc vanished"))?;
        let given = text(request.metadata(), IDEMPOTENCY_METADATA)?
            .map(|k| {
                IdempotencyKey::new(k).map_err(|e| {
                    Status::invalid_argument(format!("metadata `{IDEMPOTENCY_METADATA}`: {e}"))
                })
            })
            .transpose()?;
        // A key of its own when the client gave none: a call that ends
        // before its invocation does (deadline, shutdown) names it, so the
        // client can still fetch the result.
        let named = given.is_some();
        let key = given.unwrap_or_else(IdempotencyKey::generate);
        let deadline_key = key.clone();
        let params = match method.params(request.get_ref()) {
            Ok(params) => params,
            Err(e) => {
                // Counted as the admin API counts parameters that do not parse.
                if let Some(metrics) = &self.shared.config.metrics {
                    metrics.invocation(false, std::time::Duration::ZERO);
                }
                // A key that was used is refused as reused, as the admin API
                // refuses it, whatever is wrong with this request: it cannot
                // be the one the key was used for.
                if named && self.shared.executor.has_completed(&self.worker, &key).await {
                    return Err(status_of(&Error::IdempotencyKeyReused {
                        key: key.to_string(),
                        message: format!(
                            "it was already used for another request ({}'s message: {e}); use \
                             a new key for a new request",
                            method.function
                        ),
                    }));
                }
                return Err(Status::invalid_argument(e.to_string()));
            }
        };
        let key = Some(key);
        let executor = self.shared.executor.clone();
        let worker = self.worker.clone();
        let component = self.component;
        let function = method.function.clone();
        let create = self.create;
        let metrics = self.shared.config.metrics.clone();
        // Polled here, but detached if this call is dropped (the client
        // went away) or its deadline passes: the invocation completes
        // durably either way (and is counted when it does).
        let invocation = Detachable::new(async move {
            let started = std::time::Instant::now();
            let outcome = async {
                if !create {
                    return executor
                        .invoke_values_within(
                            &worker,
                            Some(&component),
                            &function,
                            params,
                            key,
                            None,
                        )
                        .await;
                }
                let config = WorkerConfig::default();
                let (created, outcome) = executor
                    .invoke_values_creating(
                        &component, &worker, config, &function, params, key, None,
                    )
                    .await?;
                if created {
                    tracing::info!(worker = %worker, component = %component, "worker created over gRPC");
                }
                Ok(outcome)
            }
            .await;
            if let Some(metrics) = &metrics {
                metrics.invocation(matches!(outcome, Ok(Ok(_))), started.elapsed());
            }
            outcome
        });
        let outcome = match self.answer_by {
            Some(at) => tokio::time::timeout_at(at, invocation).await.map_err(|_| {
                let mut status = Status::deadline_exceeded(if named {
                    format!(
                        "the deadline passed before the invocation finished; it goes on, and \
                         a retry with the same idempotency-key (`{deadline_key}`) gets its \
                         result"
                    )
                } else {
                    format!(
                        "the deadline passed before the invocation finished; it goes \
                                 on, and a retry with metadata `{IDEMPOTENCY_METADATA}: \
                                 {deadline_key}` gets its result (a retry without it runs the \
                                 function again)"
                    )
                });
                with_key(&mut status, &deadline_key);
                status
            })?,
            None => invocation.await,
        };
        if self.create && outcome.is_ok() {
            self.shared
                .remember(&self.worker, self.component, self.deletions_seen);
        }
        let outcome = outcome.map_err(|e| {
            if matches!(
                e,
                Error::ComponentChanged { .. }
                    | Error::WorkerReplaced(_)
                    | Error::WorkerRunsOtherComponent { .. }
                    | Error::UnknownWorker(_)
                    | Error::Oplog(reprise_oplog::Error::WorkerNotFound { .. })
            ) {
                self.shared.forget(&self.worker);
            }
            if matches!(e, Error::CommitFailed { .. } | Error::HostResources(_)) {
                // As the admin API answers it: the embedded store may still
                // write the invocation with its next flush, so a retry
                // must carry the key (the client's, or the one made here).
                let mut status = Status::unknown(format!(
                    "{e}; the invocation's outcome is unknown: retry with metadata \
                     `{IDEMPOTENCY_METADATA}: {deadline_key}` (it runs once either way)"
                ));
                with_key(&mut status, &deadline_key);
                return status;
            }
            status_of(&e)
        })?;
        let results = outcome.map_err(Status::internal)?;
        let reply = method
            .reply(results.first())
            .map_err(|e| Status::internal(format!("the result does not fit the response: {e}")))?;
        match reply {
            Reply::Ok(message) => Ok(tonic::Response::new(message)),
            Reply::Err {
                code,
                value,
                detail,
            } => Err(error_status(code, value.as_ref(), detail.as_ref())),
        }
    }
}

/// The status of a `result` error: the error value as WAVE text in the
/// message, the detail message packed in `grpc-status-details-bin`. The
/// message is cut to [`MAX_MESSAGE`] here, so that `grpc-message` and the
/// `google.rpc.Status` inside the details agree (clients such as Python's
/// `grpc_status` refuse details whose message differs); a detail that
/// would make the details outgrow [`MAX_DETAILS`] is left out, saying so.
fn error_status(
    code: reprise_grpc_stub::Code,
    value: Option<&wasmtime::component::Val>,
    detail: Option<&DynamicMessage>,
) -> Status {
    let text = match value {
        Some(v) => match crate::wave::to_texts(std::slice::from_ref(v)) {
            Ok(texts) => format!("the function returned an error: {}", texts.join(", ")),
            Err(_) => "the function returned an error".to_owned(),
        },
        None => "the function returned an error".to_owned(),
    };
    let with_detail = |message: &str| {
        let mut status = RpcStatus::new(code, message.to_owned());
        if let Some(detail) = detail {
            status = status.with_detail(ErrorDetail::Other {
                type_url: format!("{TYPE_URL_PREFIX}{}", detail.descriptor().full_name()),
                // As responses are: `-0.0` keeps its sign (prost-reflect
                // leaves it out as the default).
                value: reprise_grpc_stub::bridge::canonical_encode(detail),
            });
        }
        status.encode_details()
    };
    let mut message = cut_text(&text, MAX_MESSAGE).into_owned();
    let mut details = with_detail(&message);
    if details.len() > MAX_DETAILS {
        let note = format!(
            " (the error detail, {} bytes, is left out of grpc-status-details-bin: over \
             the {MAX_DETAILS} bytes gRPC clients' metadata limits leave room for)",
            details.len()
        );
        message = format!(
            "{}{note}",
            cut_text(&text, MAX_MESSAGE.saturating_sub(note.len()))
        );
        details = RpcStatus::new(code, message.clone()).encode_details();
    }
    Status::with_details(
        tonic::Code::from_i32(code.as_i32()),
        message,
        details.into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    /// A route another executor made stale (it deleted the worker and
    /// created it again of another component) was kept: every call to an
    /// rpc only the new component serves was `UNIMPLEMENTED`, naming the
    /// old component, until this executor restarted.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_route_is_looked_up_again_before_an_rpc_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (executor, counter) = crate::test_support::executor_with_counter(&dir).await;
        let wasm = std::fs::read(reprise_test_components::TYPED_EXPORTS).unwrap();
        let typed: ComponentId = executor
            .add_component(wasm, vec![])
            .await
            .unwrap()
            .id
            .parse()
            .unwrap();
        let worker = WorkerId::new("recreated-elsewhere").unwrap();
        executor
            .create_worker(&typed, Some(worker.clone()), crate::WorkerConfig::default())
            .await
            .unwrap();
        let (shared, _stop) = Shared::for_tests(executor.clone());
        shared.remember(&worker, counter, shared.deletions());
        let api = executor.export_api(&typed).await.unwrap();
        let path = api.services()[0].methods[0].path.clone();
        let mut metadata = MetadataMap::new();
        metadata.insert(WORKER_METADATA, worker.as_str().parse().unwrap());
        let target = resolve(&shared, &metadata, &path)
            .await
            .unwrap_or_else(|status| panic!("{status:?}"));
        assert_eq!(target.component, typed);
        assert!(!target.create);
        assert_eq!(shared.component_of(&worker).await.unwrap(), typed);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_route_to_a_worker_gone_keeps_the_client_s_create() {
        // The second lookup was given the first one's answer ("this call
        // creates nothing") instead of the client's `reprise-create: true`,
        // and refused the call: "unknown worker; send `reprise-create`".
        let dir = tempfile::tempdir().unwrap();
        let (executor, counter) = crate::test_support::executor_with_counter(&dir).await;
        let wasm = std::fs::read(reprise_test_components::TYPED_EXPORTS).unwrap();
        let typed: ComponentId = executor
            .add_component(wasm, vec![])
            .await
            .unwrap()
            .id
            .parse()
            .unwrap();
        let (shared, _stop) = Shared::for_tests(executor.clone());
        // Deleted elsewhere: remembered here, in no oplog.
        let worker = WorkerId::new("gone").unwrap();
        shared.remember(&worker, counter, shared.deletions());
        let api = executor.export_api(&typed).await.unwrap();
        let path = api.services()[0].methods[0].path.clone();
        let mut metadata = MetadataMap::new();
        metadata.insert(WORKER_METADATA, worker.as_str().parse().unwrap());
        metadata.insert(CREATE_METADATA, "true".parse().unwrap());
        let target = resolve(&shared, &metadata, &path)
            .await
            .unwrap_or_else(|status| panic!("{status:?}"));
        assert_eq!(target.component, typed);
        assert!(target.create);
    }

    #[test]
    fn an_error_detail_keeps_the_sign_of_negative_zero() {
        // prost-reflect's encoder leaves `-0.0` out as the default value,
        // and the client read `+0.0`; responses already kept it.
        let pool = prost_reflect::DescriptorPool::global();
        let wrapper = pool
            .get_message_by_name("google.protobuf.DoubleValue")
            .expect("a well-known type");
        let mut detail = DynamicMessage::new(wrapper);
        detail.set_field_by_name("value", prost_reflect::Value::F64(-0.0));
        let status = error_status(reprise_grpc_stub::Code::Unknown, None, Some(&detail));
        let details = RpcStatus::decode_details(status.details());
        let [ErrorDetail::Other { type_url, value }] = details.as_slice() else {
            panic!("one detail: {details:?}");
        };
        assert!(
            type_url.ends_with("google.protobuf.DoubleValue"),
            "{type_url}"
        );
        // prost reads a `DoubleValue` as its `f64`.
        let read = f64::decode(value.as_slice()).unwrap();
        assert!(read == 0.0 && read.is_sign_negative(), "{read}");
    }
}
