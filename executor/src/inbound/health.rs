//! `grpc.health.v1.Health` for the inbound server: the server as a whole
//! (service `""`), the reflection and health services, and every service
//! an uploaded component's exports define are `SERVING`; any other name is
//! unknown. Once the server begins to shut down, every name known is
//! `NOT_SERVING`, and `Watch` streams send that and end (a stream left open
//! would hold the shutdown until its grace period ran out). A check of the
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

impl Health {
    pub(crate) fn new(shared: Shared) -> Self {
        Health { shared }
    }

    async fn status(&self, service: &str) -> ServingStatus {
        let serving = if *self.shared.stopping.borrow() {
            ServingStatus::NotServing
        } else {
            ServingStatus::Serving
        };
        if service.is_empty() {
            return serving;
        }
        let names = served_service_names(&self.shared).await;
        if names.iter().any(|n| n == service) {
            serving
        } else {
            ServingStatus::ServiceUnknown
        }
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
        match self.status(service).await {
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
        let status = self.status(&request.get_ref().service).await;
        let first = tokio_stream::once(Ok(HealthCheckResponse {
            status: status as i32,
        }));
        if matches!(
            status,
            ServingStatus::NotServing | ServingStatus::ServiceUnknown
        ) {
            // Unknown names stay unknown while the server runs: send it,
            // then keep the stream open until the client leaves or the
            // server stops (as below, without a last message).
            let mut stopping = self.shared.stopping.clone();
            let stopped = futures::stream::once(async move {
                let _ = stopping.wait_for(|stopping| *stopping).await;
            });
            let ends = futures::StreamExt::filter_map(stopped, |()| async { None });
            let stream = tokio_stream::StreamExt::chain(first, ends);
            return Ok(Response::new(Box::pin(stream)));
        }
        // The status changes only when the server begins to stop: then
        // `NOT_SERVING` is sent and the stream ends.
        let mut stopping = self.shared.stopping.clone();
        let last = futures::stream::once(async move {
            let _ = stopping.wait_for(|stopping| *stopping).await;
            Ok(HealthCheckResponse {
                status: ServingStatus::NotServing as i32,
            })
        });
        let stream = tokio_stream::StreamExt::chain(first, last);
        Ok(Response::new(Box::pin(stream)))
    }
}
