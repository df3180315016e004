//! `routeguide.RouteGuide`: all four call kinds over a small fixed feature
//! database, with route notes kept in memory for the server's lifetime.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::Error;
use crate::frames::ParkOn;
use crate::proto::routeguide::route_guide_server::{RouteGuide, RouteGuideServer};
use crate::proto::routeguide::{Feature, Point, Rectangle, RouteNote, RouteSummary};
use crate::server::{TestServer, spawn};
use crate::state::ServerState;

/// Number of named features in the database.
pub const FEATURE_COUNT: i32 = 10;
const STREAM_BUFFER: usize = 4;

/// The `i`-th named feature of the fixed database (`0 <= i < FEATURE_COUNT`):
/// `"Feature i"` at latitude `400_000_000 + i * 1_000_000`, longitude
/// `-740_000_000 - i * 1_000_000` (E7 degrees).
pub fn feature(i: i32) -> Feature {
    Feature {
        name: format!("Feature {i}"),
        location: Some(Point {
            latitude: 400_000_000 + i * 1_000_000,
            longitude: -740_000_000 - i * 1_000_000,
        }),
    }
}

/// Starts a `routeguide.RouteGuide` server on loopback.
pub async fn spawn_route_guide_server() -> Result<TestServer, Error> {
    let state = Arc::new(ServerState::default());
    let service = RouteGuideImpl {
        state: state.clone(),
        features: (0..FEATURE_COUNT).map(feature).collect(),
        notes: Arc::new(Mutex::new(HashMap::new())),
    };
    spawn(RouteGuideServer::new(service), state).await
}

/// Which gRPC server reflection protocols a server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reflection {
    /// `grpc.reflection.v1` and `v1alpha`.
    Both,
    /// `grpc.reflection.v1alpha` only (older servers).
    V1AlphaOnly,
}

/// Starts a `routeguide.RouteGuide` server that also offers gRPC server
/// reflection (tonic-reflection over the test protos' descriptors).
pub async fn spawn_reflective_route_guide_server(
    reflection: Reflection,
) -> Result<TestServer, Error> {
    let state = Arc::new(ServerState::default());
    let service = RouteGuideImpl {
        state: state.clone(),
        features: (0..FEATURE_COUNT).map(feature).collect(),
        notes: Arc::new(Mutex::new(HashMap::new())),
    };
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::FILE_DESCRIPTOR_SET)
            .with_service_name("routeguide.RouteGuide")
    };
    let bad = |e: tonic_reflection::server::Error| Error::Serve(e.to_string());
    let mut routes = tonic::service::Routes::new(RouteGuideServer::new(service))
        .add_service(builder().build_v1alpha().map_err(bad)?);
    if reflection == Reflection::Both {
        routes = routes.add_service(builder().build_v1().map_err(bad)?);
    }
    crate::server::spawn_routes(routes, state).await
}

type NoteLog = Arc<Mutex<HashMap<(i32, i32), Vec<RouteNote>>>>;

struct RouteGuideImpl {
    state: Arc<ServerState>,
    features: Vec<Feature>,
    notes: NoteLog,
}

impl RouteGuideImpl {
    fn find(&self, point: &Point) -> Option<&Feature> {
        self.features
            .iter()
            .find(|f| f.location.as_ref() == Some(point))
    }
}

fn in_rectangle(rect: &Rectangle, point: &Point) -> bool {
    let (Some(lo), Some(hi)) = (rect.lo.as_ref(), rect.hi.as_ref()) else {
        return false;
    };
    let (left, right) = (
        lo.longitude.min(hi.longitude),
        lo.longitude.max(hi.longitude),
    );
    let (bottom, top) = (lo.latitude.min(hi.latitude), lo.latitude.max(hi.latitude));
    (left..=right).contains(&point.longitude) && (bottom..=top).contains(&point.latitude)
}

/// Great-circle distance in metres between two E7-degree points.
fn distance(a: &Point, b: &Point) -> f64 {
    const E7: f64 = 10_000_000.0;
    const EARTH_RADIUS_M: f64 = 6_371_000.0;
    let (lat1, lat2) = (
        (f64::from(a.latitude) / E7).to_radians(),
        (f64::from(b.latitude) / E7).to_radians(),
    );
    let dlat = lat2 - lat1;
    let dlon = (f64::from(b.longitude) / E7 - f64::from(a.longitude) / E7).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().atan2((1.0 - h).sqrt())
}

#[tonic::async_trait]
impl RouteGuide for RouteGuideImpl {
    async fn get_feature(&self, request: Request<Point>) -> Result<Response<Feature>, Status> {
        self.state.enter("GetFeature", request.metadata()).await?;
        let point = request.into_inner();
        let feature = self.find(&point).cloned().unwrap_or(Feature {
            name: String::new(),
            location: Some(point),
        });
        Ok(Response::new(feature))
    }

    type ListFeaturesStream = ReceiverStream<Result<Feature, Status>>;

    async fn list_features(
        &self,
        request: Request<Rectangle>,
    ) -> Result<Response<Self::ListFeaturesStream>, Status> {
        self.state.enter("ListFeatures", request.metadata()).await?;
        let mut frames = self.state.stream("ListFeatures", ParkOn::Sent);
        frames.received().await;
        let rect = request.into_inner();
        let matching: Vec<Feature> = self
            .features
            .iter()
            .filter(|f| f.location.as_ref().is_some_and(|p| in_rectangle(&rect, p)))
            .cloned()
            .collect();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(async move {
            for feature in matching {
                if !frames.send(&tx, feature).await {
                    return;
                }
            }
            frames.finish();
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn record_route(
        &self,
        request: Request<Streaming<Point>>,
    ) -> Result<Response<RouteSummary>, Status> {
        self.state.enter("RecordRoute", request.metadata()).await?;
        let mut frames = self.state.stream("RecordRoute", ParkOn::Received);
        let started = Instant::now();
        let mut stream = request.into_inner();
        let mut summary = RouteSummary::default();
        let mut distance_m = 0.0;
        let mut last: Option<Point> = None;
        while let Some(point) = frames.read(&mut stream).await? {
            summary.point_count = summary.point_count.saturating_add(1);
            if self.find(&point).is_some() {
                summary.feature_count = summary.feature_count.saturating_add(1);
            }
            if let Some(prev) = &last {
                distance_m += distance(prev, &point);
            }
            last = Some(point);
        }
        frames.finish();
        // Saturating float-to-int conversion; routes here are short.
        summary.distance = distance_m.round() as i32;
        summary.elapsed_time = i32::try_from(started.elapsed().as_secs()).unwrap_or(i32::MAX);
        Ok(Response::new(summary))
    }

    type RouteChatStream = ReceiverStream<Result<RouteNote, Status>>;

    async fn route_chat(
        &self,
        request: Request<Streaming<RouteNote>>,
    ) -> Result<Response<Self::RouteChatStream>, Status> {
        self.state.enter("RouteChat", request.metadata()).await?;
        let mut frames = self.state.stream("RouteChat", ParkOn::Sent);
        let mut inbound = request.into_inner();
        let notes = self.notes.clone();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(async move {
            loop {
                let note = match frames.read(&mut inbound).await {
                    Ok(Some(note)) => note,
                    Ok(None) => {
                        frames.finish();
                        return;
                    }
                    Err(status) => {
                        frames.send_status(&tx, status).await;
                        return;
                    }
                };
                let key = note
                    .location
                    .as_ref()
                    .map(|p| (p.latitude, p.longitude))
                    .unwrap_or_default();
                let earlier = {
                    let mut log = notes.lock().unwrap_or_else(|p| p.into_inner());
                    let at = log.entry(key).or_default();
                    let earlier = at.clone();
                    at.push(note);
                    earlier
                };
                for previous in earlier {
                    if !frames.send(&tx, previous).await {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
