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
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How a front door's connections are set up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionOptions {
    /// Set `TCP_NODELAY` (HTTP/2 writes its frames as they come).
    pub nodelay: bool,
    /// How long an HTTP/1.1 client may take to send a request's headers,
    /// counted from the connection's start or the previous response; a
    /// connection that stalls longer is closed, so clients that trickle
    /// headers cannot hold connections for ever (an idle kept-alive
    /// connection closes after as long).
    pub header_read_timeout: Duration,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        ConnectionOptions {
            nodelay: false,
            header_read_timeout: HEADER_READ_TIMEOUT,
        }
    }
}

/// The default of [`ConnectionOptions::header_read_timeout`].
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

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
                    connections.spawn(connection(
                        stream,
                        router.clone(),
                        options,
                        stop_seen.clone(),
                    ));
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
    options: ConnectionOptions,
    mut stop: watch::Receiver<bool>,
) {
    // hyper's header timer starts only once it knows the protocol: until
    // then (no byte yet, or part of the HTTP/2 preface) the same bound
    // holds here, so a silent client cannot hold a connection either.
    tokio::select! {
        known = protocol_known(&stream, options.header_read_timeout) => {
            if !known {
                return;
            }
        }
        _ = stop.wait_for(|stopping| *stopping) => return,
    }
    let service = TowerToHyperService::new(router);
    let mut builder = Builder::new(TokioExecutor::new());
    // hyper enforces the header timeout only with a timer.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
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

/// What an HTTP/2 client sends first; any other first bytes are HTTP/1.1.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the client's first bytes, read within `within`, say which HTTP
/// it speaks (they stay unread for hyper): false when it closed, failed or
/// said too little in time.
async fn protocol_known(stream: &tokio::net::TcpStream, within: Duration) -> bool {
    let mut first = [0u8; H2_PREFACE.len()];
    let known = async {
        // Bounded by the timeout around it.
        loop {
            match stream.peek(&mut first).await {
                Ok(0) | Err(_) => return false,
                Ok(n) if n == H2_PREFACE.len() || first[..n] != H2_PREFACE[..n] => return true,
                // Part of the preface: peek again once more may have come.
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    };
    tokio::time::timeout(within, known).await.unwrap_or(false)
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    async fn start(header_read_timeout: Duration) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let router = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let options = ConnectionOptions {
            nodelay: false,
            header_read_timeout,
        };
        tokio::spawn(serve(listener, router, options, std::future::pending()));
        addr
    }

    #[tokio::test]
    async fn a_client_that_says_nothing_or_part_of_the_http2_preface_is_disconnected() {
        let addr = start(Duration::from_millis(300)).await;
        for first in [&b""[..], &b"PRI * HTTP/2.0\r\n"[..]] {
            let mut silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
            silent.write_all(first).await.expect("write");
            let started = std::time::Instant::now();
            let mut rest = Vec::new();
            let read =
                tokio::time::timeout(Duration::from_secs(10), silent.read_to_end(&mut rest)).await;
            assert!(read.is_ok(), "still open after 10 s having sent {first:?}");
            assert!(rest.is_empty(), "{rest:?}");
            assert!(
                started.elapsed() >= Duration::from_millis(250),
                "{:?}",
                started.elapsed()
            );
        }
        // An HTTP/2 client that sends its preface in two parts is served.
        let mut split = tokio::net::TcpStream::connect(addr).await.expect("connect");
        split.write_all(&H2_PREFACE[..10]).await.expect("write");
        tokio::time::sleep(Duration::from_millis(50)).await;
        split.write_all(&H2_PREFACE[10..]).await.expect("write");
        // An empty SETTINGS frame: the server answers with its own.
        split
            .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
            .await
            .expect("write");
        let mut header = [0u8; 9];
        tokio::time::timeout(Duration::from_secs(10), split.read_exact(&mut header))
            .await
            .expect("answered")
            .expect("read");
        assert_eq!(header[3], 4, "a SETTINGS frame first: {header:?}");
    }

    #[tokio::test]
    async fn a_client_that_stalls_in_its_headers_is_disconnected() {
        let addr = start(Duration::from_millis(300)).await;
        let mut stalled = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stalled
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
            .await
            .expect("write");
        let started = std::time::Instant::now();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut rest))
            .await
            .expect("the server closes the connection well before 10 s");
        // Closed (with or without a 408 first), not answered.
        assert!(read.is_ok() || rest.is_empty(), "{read:?}");
        assert!(
            !String::from_utf8_lossy(&rest).contains("200 OK"),
            "{rest:?}"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "{:?}",
            started.elapsed()
        );

        // A client that sends its request whole is answered as before.
        let mut whole = tokio::net::TcpStream::connect(addr).await.expect("connect");
        whole
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), whole.read_to_end(&mut answer))
            .await
            .expect("answered")
            .expect("read");
        assert!(
            String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200 OK"),
            "{answer:?}"
        );
    }
}
