//! A running test server on loopback and the plumbing that starts one.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::body::Body;
use tonic::codegen::{Service, http};
use tonic::server::NamedService;
use tonic::transport::{Server, ServerTlsConfig};

use crate::Error;
use crate::state::ServerState;

/// A gRPC server running in this process on `127.0.0.1:<ephemeral port>`.
///
/// Dropping it aborts the server at once (in-flight calls are cut, as if the
/// process died); [`TestServer::shutdown`] stops it gracefully instead.
#[derive(Debug)]
pub struct TestServer {
    /// The address the server listens on.
    pub addr: SocketAddr,
    /// Call counters, recorded idempotency keys and metadata, park switch.
    pub state: Arc<ServerState>,
    tls: bool,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl TestServer {
    /// The `http://127.0.0.1:<port>` URI a client connects to
    /// (`https://` for a server speaking TLS).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// How many calls of `method` arrived (short method name, e.g. `"TodoAdd"`).
    pub fn calls(&self, method: &str) -> u64 {
        self.state.calls(method)
    }

    /// The `idempotency-key` values received for `method`, in arrival order.
    pub fn idempotency_keys(&self, method: &str) -> Vec<String> {
        self.state.idempotency_keys(method)
    }

    /// What the handlers noted about each request of `method`, in arrival
    /// order (the todo server: each `TodoAdd`'s task).
    pub fn requests(&self, method: &str) -> Vec<String> {
        self.state.requests(method)
    }

    /// Releases parked calls, stops accepting connections, waits for in-flight
    /// calls to finish and reports how the server ended.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        self.state.release();
        if let Some(tx) = self.shutdown.take() {
            // The server may already have stopped; nothing to signal then.
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => match task.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(Error::Serve(e.to_string())),
                Err(e) => Err(Error::Serve(format!("server task failed: {e}"))),
            },
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Binds `127.0.0.1:0` and serves `service` there until shut down.
pub(crate) async fn spawn<S>(service: S, state: Arc<ServerState>) -> Result<TestServer, Error>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    spawn_with(service, state, None).await
}

/// Binds `127.0.0.1:0` and serves every service of `routes` (plaintext).
pub(crate) async fn spawn_routes(
    routes: tonic::service::Routes,
    state: Arc<ServerState>,
) -> Result<TestServer, Error> {
    serve(Server::builder(), routes, state, false).await
}

/// [`spawn`], speaking TLS as `tls` says when given.
pub(crate) async fn spawn_with<S>(
    service: S,
    state: Arc<ServerState>,
    tls: Option<ServerTlsConfig>,
) -> Result<TestServer, Error>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let has_tls = tls.is_some();
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder
            .tls_config(tls)
            .map_err(|e| Error::Serve(format!("bad TLS configuration: {e}")))?;
    }
    serve(
        builder,
        tonic::service::Routes::new(service),
        state,
        has_tls,
    )
    .await
}

/// Binds `127.0.0.1:0` and serves `routes` with `builder` until shut down.
async fn serve(
    mut builder: Server,
    routes: tonic::service::Routes,
    state: Arc<ServerState>,
    tls: bool,
) -> Result<TestServer, Error> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| Error::Bind(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Bind(e.to_string()))?;
    let (tx, rx) = oneshot::channel::<()>();
    // `serve_with_incoming*` ignores the builder's `tcp_nodelay`: set it on
    // each accepted connection, or a response written in two pieces waits
    // for the client's delayed ACK (about 40 ms) before its second piece.
    let incoming = TcpListenerStream::new(listener).map(|accepted| {
        accepted.inspect(|stream| {
            // Best effort: a socket that refuses it still serves, only slower.
            let _ = stream.set_nodelay(true);
        })
    });
    let router = builder.add_routes(routes);
    let task = tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(incoming, async {
                // Either an explicit shutdown or the handle being gone ends it.
                let _ = rx.await;
            })
            .await
    });
    Ok(TestServer {
        addr,
        state,
        tls,
        shutdown: Some(tx),
        task: Some(task),
    })
}
