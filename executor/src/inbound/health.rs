//! `grpc.health.v1.Health` for the inbound server: the server as a whole
//! (service `""`), the reflection and health services, and every service
//! an uploaded component's exports define are `SERVING`; any other name is
//! unknown (a `Watch` of it looks whether the uploaded components changed
//! every 2 s, and sends `SERVING` once an upload brings it). Once the server begins to shut down, every
//! name known is `NOT_SERVING`, and `Watch` streams send that and end (a
//! stream left open would hold the shutdown until its grace period ran
//! out). A check of the
//! server as a whole needs no admin token; a check of a named service does
//! when the server has one (it says which services exist, and loads every
//! stored component to find out).

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use super::Shared;
use super::reflection::served_service_names;

/// The health service.
pub(crate) struct Health {
    shared: Shared,
}

/// How often a watch of a service not served yet looks whether the
/// uploaded components changed (an upload may bring it); only then does it
/// look at their services.
const WATCH_POLL: std::time::Duration = std::time::Duration::from_secs(2);

impl Health {
    pub(crate) fn new(shared: Shared) -> Self {
        Health { shared }
    }
}

async fn status(shared: &Shared, service: &str) -> ServingStatus {
    let serving = if *shared.stopping.borrow() {
        ServingStatus::NotServing
    } else {
        ServingStatus::Serving
    };
    if service.is_empty() {
        return serving;
    }
    let names = served_service_names(shared).await;
    if names.iter().any(|n| n == service) {
        serving
    } else {
        ServingStatus::ServiceUnknown
    }
}

/// Resolves once the server begins to stop.
async fn stopped(stopping: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stopping| *stopping).await;
}

/// Sends `service`'s status on `tx` as it changes: an unknown service
/// becomes `SERVING` when a component that defines it is uploaded; a
/// served one `NOT_SERVING` when the server begins to stop, and the watch
/// ends then (an unknown one ends without a last message). Also ends when
/// the client goes.
///
/// `seen` is the list of components taken before `first` was worked out:
/// one uploaded after that list and before the answer is a change the first
/// poll sees (a list taken after the answer would hold it, and it would
/// never be looked at).
async fn watch_status(
    shared: Shared,
    service: String,
    first: ServingStatus,
    mut seen: Vec<reprise_oplog::ComponentId>,
    tx: tokio::sync::mpsc::Sender<Result<HealthCheckResponse, Status>>,
) {
    let send = |status: ServingStatus| {
        tx.send(Ok(HealthCheckResponse {
            status: status as i32,
        }))
    };
    if send(first).await.is_err() || first == ServingStatus::NotServing {
        return;
    }
    let mut stopping = shared.stopping.clone();
    let mut known = first == ServingStatus::Serving;
    let components = || async { shared.executor.list_components().await.unwrap_or_default() };
    // Bounded by the client's stay and the server's life.
    while !known {
        tokio::select! {
            () = stopped(&mut stopping) => return,
            () = tx.closed() => return,
            () = tokio::time::sleep(WATCH_POLL) => {
                let now = components().await;
                if now == seen {
                    continue;
                }
                seen = now;
                if status(&shared, &service).await == ServingStatus::Serving {
                    if send(ServingStatus::Serving).await.is_err() {
                        return;
                    }
                    known = true;
                }
            }
        }
    }
    tokio::select! {
        () = stopped(&mut stopping) => {
            let _ = send(ServingStatus::NotServing).await;
        }
        () = tx.closed() => {}
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl tonic_health::pb::health_server::Health for Health {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = &request.get_ref().service;
        if !service.is_empty() {
            self.shared.authorize(request.metadata())?;
        }
        match status(&self.shared, service).await {
            ServingStatus::ServiceUnknown => {
                Err(Status::not_found(format!("unknown service `{service}`")))
            }
            status => Ok(Response::new(HealthCheckResponse {
                status: status as i32,
            })),
        }
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        if !request.get_ref().service.is_empty() {
            self.shared.authorize(request.metadata())?;
        }
        let service = request.into_inner().service;
        let seen = self
            .shared
            .executor
            .list_components()
            .await
            .unwrap_or_default();
        let first = status(&self.shared, &service).await;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(watch_status(self.shared.clone(), service, first, seen, tx));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_watch_sees_an_upload_made_while_its_first_answer_was_worked_out() {
        // The list the watch compared with was taken after the first
        // answer: an upload in between was in it, no poll saw a change,
        // and `SERVING` never came.
        let dir = tempfile::tempdir().unwrap();
        let (executor, _) = crate::test_support::executor_with_counter(&dir).await;
        let (shared, _stop) = Shared::for_tests(executor.clone());
        let seen = executor.list_components().await.unwrap();
        let service = "reprise_test.typed_exports.Shapes";
        assert_eq!(
            status(&shared, service).await,
            ServingStatus::ServiceUnknown
        );
        let wasm = std::fs::read(reprise_test_components::TYPED_EXPORTS).unwrap();
        executor.add_component(wasm, vec![]).await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(watch_status(
            shared,
            service.into(),
            ServingStatus::ServiceUnknown,
            seen,
            tx,
        ));
        for expected in [ServingStatus::ServiceUnknown, ServingStatus::Serving] {
            let answer = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no {expected:?} within 10 s"))
                .expect("the watch goes on")
                .expect("not an error");
            assert_eq!(answer.status, expected as i32);
        }
    }
}
