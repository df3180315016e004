//! gRPC server reflection (`grpc.reflection.v1` and `v1alpha`) over the
//! services of every uploaded component, plus health and reflection
//! themselves, so grpcurl, Postman or any reflection client needs no
//! `.proto` file.
//!
//! With `reprise-worker` metadata the answers describe that worker's
//! component only; without it, every component's, except that of several
//! components whose services share a package (two versions of one
//! component: their files have the same name) only the one with the lowest
//! id is described: send `reprise-worker` to get the worker's own.
//! `v1alpha` is answered by the `v1` code (the messages are the same on
//! the wire).

use std::sync::{Arc, OnceLock};

use prost::Message;
use prost_reflect::DescriptorPool;
use reprise_oplog::WorkerId;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tonic_reflection::pb::v1 as r1;
use tonic_reflection::pb::v1alpha as ra;

use super::{Shared, WORKER_METADATA, text};

/// The reflection service (both versions).
pub(crate) struct Reflection {
    shared: Shared,
}

impl Reflection {
    pub(crate) fn new(shared: Shared) -> Self {
        Reflection { shared }
    }

    /// Starts answering a reflection stream whose requests arrive as `R`
    /// and whose answers leave as `A` (both wire-identical to v1).
    fn start<R, A>(
        &self,
        request: Request<Streaming<R>>,
    ) -> Result<Response<ReceiverStream<Result<A, Status>>>, Status>
    where
        R: Message + Default + Send + 'static,
        A: Message + Default + Send + 'static,
    {
        self.shared.authorize(request.metadata())?;
        let worker = text(request.metadata(), WORKER_METADATA)?
            .map(WorkerId::new)
            .transpose()
            .map_err(|e| Status::invalid_argument(format!("metadata `{WORKER_METADATA}`: {e}")))?;
        let mut stream = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let shared = self.shared.clone();
        tokio::spawn(async move {
            // Bounded by the client: one answer per request until it ends
            // the stream or goes away.
            loop {
                let question = match stream.message().await {
                    Ok(Some(question)) => question,
                    Ok(None) => break,
                    // A request that does not decode ends the stream with
                    // the client's error (tonic says INTERNAL); a client
                    // gone away hears nothing.
                    Err(status) => {
                        if status.code() == tonic::Code::Internal
                            && status.message().starts_with("failed to decode")
                        {
                            let answer = Status::invalid_argument(format!(
                                "a reflection request does not decode: {}",
                                status.message()
                            ));
                            let _ = tx.send(Err(answer)).await;
                        }
                        break;
                    }
                };
                let question =
                    r1::ServerReflectionRequest::decode(question.encode_to_vec().as_slice())
                        .unwrap_or_default();
                let answer = answer(&shared, worker.as_ref(), question).await;
                let answer = A::decode(answer.encode_to_vec().as_slice()).unwrap_or_default();
                if tx.send(Ok(answer)).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[tonic::async_trait]
impl r1::server_reflection_server::ServerReflection for Reflection {
    type ServerReflectionInfoStream = ReceiverStream<Result<r1::ServerReflectionResponse, Status>>;

    async fn server_reflection_info(
        &self,
        request: Request<Streaming<r1::ServerReflectionRequest>>,
    ) -> Result<Response<Self::ServerReflectionInfoStream>, Status> {
        self.start(request)
    }
}

#[tonic::async_trait]
impl ra::server_reflection_server::ServerReflection for Reflection {
    type ServerReflectionInfoStream = ReceiverStream<Result<ra::ServerReflectionResponse, Status>>;

    async fn server_reflection_info(
        &self,
        request: Request<Streaming<ra::ServerReflectionRequest>>,
    ) -> Result<Response<Self::ServerReflectionInfoStream>, Status> {
        self.start(request)
    }
}

/// The descriptors of the services every inbound server has.
fn builtin() -> &'static [DescriptorPool] {
    static POOLS: OnceLock<Vec<DescriptorPool>> = OnceLock::new();
    POOLS.get_or_init(|| {
        [
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            r1::FILE_DESCRIPTOR_SET,
            ra::FILE_DESCRIPTOR_SET,
        ]
        .into_iter()
        .filter_map(|bytes| DescriptorPool::decode(bytes).ok())
        .collect()
    })
}

/// The pools reflection answers from: the worker's component's (or every
/// component's, lowest id first), then the built-in services'.
async fn pools(shared: &Shared, worker: Option<&WorkerId>) -> Vec<DescriptorPool> {
    pools_of(shared, worker, true).await
}

/// [`pools`], or with `distinct_files` false every component's pool, also
/// those whose file name a lower id's has (what is served, though not
/// described).
async fn pools_of(
    shared: &Shared,
    worker: Option<&WorkerId>,
    distinct_files: bool,
) -> Vec<DescriptorPool> {
    let executor = &shared.executor;
    let mut apis = Vec::new();
    let own = match worker {
        Some(worker) => executor.worker_component(worker).await.ok(),
        None => None,
    };
    let ids = match own {
        Some(id) => vec![id],
        None => executor.list_components().await.unwrap_or_default(),
    };
    // Each component's services are one file named after its package:
    // without a worker, a component whose file name an earlier (lower id)
    // one already has is left out whole, so that a file name always means
    // one content (clients that collect the files into one pool refuse two
    // contents under one name, and a symbol found in the second could not
    // be described).
    let mut files = std::collections::HashSet::new();
    for id in ids {
        if let Ok(api) = executor.export_api(&id).await
            && (files.insert(api.file().name().to_owned()) || !distinct_files)
        {
            apis.push(api);
        }
    }
    let mut pools: Vec<DescriptorPool> = apis.iter().map(|a: &Arc<_>| a.pool().clone()).collect();
    pools.extend(builtin().iter().cloned());
    pools
}

/// Every service name served: those of every uploaded component (also a
/// component reflection leaves out because a lower id's file has its
/// name: its calls are served all the same), and the built-in ones.
pub(crate) async fn served_service_names(shared: &Shared) -> Vec<String> {
    let mut names: Vec<String> = pools_of(shared, None, false)
        .await
        .iter()
        .flat_map(|p| {
            p.services()
                .map(|s| s.full_name().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

async fn answer(
    shared: &Shared,
    worker: Option<&WorkerId>,
    question: r1::ServerReflectionRequest,
) -> r1::ServerReflectionResponse {
    use r1::server_reflection_request::MessageRequest as Q;
    use r1::server_reflection_response::MessageResponse as A;
    let pools = pools(shared, worker).await;
    let files = |file: Option<prost_reflect::FileDescriptor>| {
        file.map(|f| {
            A::FileDescriptorResponse(r1::FileDescriptorResponse {
                file_descriptor_proto: vec![f.file_descriptor_proto().encode_to_vec()],
            })
        })
    };
    let not_found = |what: String| {
        A::ErrorResponse(r1::ErrorResponse {
            error_code: tonic::Code::NotFound as i32,
            error_message: what,
        })
    };
    let message = match &question.message_request {
        Some(Q::ListServices(_)) => {
            let mut names: Vec<String> = pools
                .iter()
                .flat_map(|p| {
                    p.services()
                        .map(|s| s.full_name().to_owned())
                        .collect::<Vec<_>>()
                })
                .collect();
            names.sort();
            names.dedup();
            A::ListServicesResponse(r1::ListServiceResponse {
                service: names
                    .into_iter()
                    .map(|name| r1::ServiceResponse { name })
                    .collect(),
            })
        }
        Some(Q::FileByFilename(name)) => files(pools.iter().find_map(|p| p.get_file_by_name(name)))
            .unwrap_or_else(|| not_found(format!("no file named `{name}`"))),
        Some(Q::FileContainingSymbol(symbol)) => {
            files(pools.iter().find_map(|p| file_of_symbol(p, symbol)))
                .unwrap_or_else(|| not_found(format!("no symbol named `{symbol}`")))
        }
        Some(Q::FileContainingExtension(e)) => not_found(format!(
            "no extension {} of `{}`: served services define no extensions",
            e.extension_number, e.containing_type
        )),
        Some(Q::AllExtensionNumbersOfType(t)) => not_found(format!(
            "no extensions of `{t}`: served services define no extensions"
        )),
        None => A::ErrorResponse(r1::ErrorResponse {
            error_code: tonic::Code::InvalidArgument as i32,
            error_message: "the reflection request asks nothing".into(),
        }),
    };
    r1::ServerReflectionResponse {
        valid_host: question.host.clone(),
        original_request: Some(question),
        message_response: Some(message),
    }
}

/// The file defining `symbol` (a service, method, message, enum or field).
fn file_of_symbol(pool: &DescriptorPool, symbol: &str) -> Option<prost_reflect::FileDescriptor> {
    let symbol = symbol.trim_start_matches('.');
    if let Some(s) = pool.get_service_by_name(symbol) {
        return Some(s.parent_file());
    }
    if let Some(m) = pool.get_message_by_name(symbol) {
        return Some(m.parent_file());
    }
    if let Some(e) = pool.get_enum_by_name(symbol) {
        return Some(e.parent_file());
    }
    let (parent, member) = symbol.rsplit_once('.')?;
    if let Some(s) = pool.get_service_by_name(parent)
        && s.methods().any(|m| m.name() == member)
    {
        return Some(s.parent_file());
    }
    if let Some(m) = pool.get_message_by_name(parent)
        && m.get_field_by_name(member).is_some()
    {
        return Some(m.parent_file());
    }
    None
}
