//! The accept loop both front doors (the admin API and the inbound gRPC
//! door) serve their routers with.
//!
//! Each connection runs on a task of its own, owned by the serving future:
//! when the shutdown signal comes, the loop stops accepting, asks every
//! connection to finish what it has in flight and close, and waits for them.
//! Dropping that future aborts the connections still open, so a caller can
//! bound the wait — a client that sent half a request and went quiet would
//! otherwise hold shutdown (and the executor its connection's task keeps
//! alive) for as long as it likes.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How a front door's connections are set up.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ConnectionOptions {
    /// Set `TCP_NODELAY` (HTTP/2 writes its frames as they come).
    pub nodelay: bool,
}

/// Serves `router` on `listener` until `shutdown` completes and every
/// connection has finished its requests in flight. Dropping the returned
/// future closes the connections still open.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    options: ConnectionOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopping, stop_seen) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    // Bounded by the shutdown signal; each turn accepts one connection or
    // reaps a finished one.
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    if options.nodelay
                        && let Err(e) = stream.set_nodelay(true)
                    {
                        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                    }
                    connections.spawn(connection(stream, router.clone(), stop_seen.clone()));
                }
                Err(e) => accept_failed(e).await,
            },
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    // Bounded by the connections open at the signal.
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// One connection, HTTP/1.1 or HTTP/2, until it ends; on shutdown it
/// finishes its requests in flight and closes.
async fn connection(
    stream: tokio::net::TcpStream,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let service = TowerToHyperService::new(router);
    let builder = Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut asked = false;
    // At most two turns: the connection ends, or shutdown asks it to.
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            seen = stop.wait_for(|stopping| *stopping), if !asked => {
                asked = true;
                if seen.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// An accept that failed: a connection the peer gave up on is skipped; any
/// other error (out of file descriptors, say) is logged and the loop waits
/// a moment before it accepts again.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
