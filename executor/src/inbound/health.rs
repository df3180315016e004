//! `grpc.health.v1.Health` for the inbound server: the server as a whole
//! (service `""`), the reflection and health services, and every service
//! an uploaded component's exports define are `SERVING`; any other name is
//! unknown. Health checks need no admin token.

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
        if service.is_empty() {
            return ServingStatus::Serving;
        }
        let names = served_service_names(&self.shared, None).await;
        if names.iter().any(|n| n == service) {
            ServingStatus::Serving
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
        let status = self.status(&request.get_ref().service).await;
        // The status does not change while the server runs: send it, then
        // keep the stream open until the client leaves.
        let first = tokio_stream::once(Ok(HealthCheckResponse {
            status: status as i32,
        }));
        let stream = tokio_stream::StreamExt::chain(first, tokio_stream::pending());
        Ok(Response::new(Box::pin(stream)))
    }
}
