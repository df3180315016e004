//! The PostgreSQL store's health check on a connection that a NAT or a
//! firewall dropped silently while it was idle: no reset arrives, so the
//! connection does not look closed, and a `SELECT 1` on it never gets an
//! answer. The check must not report the database unreachable for that:
//! it gives the kept connection half its time, then a new one.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reprise_oplog::{OplogStore, StoreOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use common::pg::{open, shared};

/// A loopback TCP relay to `target` whose connections opened before a
/// call to [`Relay::drop_silently`] stop relaying in both directions,
/// without closing: what a forgotten NAT mapping looks like.
struct Relay {
    port: u16,
    /// Connections numbered below this one are dropped.
    cut_below: Arc<AtomicU64>,
    next: Arc<AtomicU64>,
}

impl Relay {
    async fn start(target: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut_below = Arc::new(AtomicU64::new(0));
        let next = Arc::new(AtomicU64::new(0));
        let (cut, counter) = (cut_below.clone(), next.clone());
        tokio::spawn(async move {
            // Ends with the test's runtime.
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let number = counter.fetch_add(1, Ordering::SeqCst);
                let server = TcpStream::connect(("127.0.0.1", target)).await.unwrap();
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pipe(client_read, server_write, number, cut.clone()));
                tokio::spawn(pipe(server_read, client_write, number, cut.clone()));
            }
        });
        Relay {
            port,
            cut_below,
            next,
        }
    }

    /// Every connection open now stops relaying, silently.
    fn drop_silently(&self) {
        self.cut_below
            .store(self.next.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// Copies `from` to `to` until either ends or connection `number` is cut
/// (then holds both ends open, relaying nothing).
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    number: u64,
    cut_below: Arc<AtomicU64>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if number < cut_below.load(Ordering::SeqCst) {
            // Silence: keep the sockets, relay nothing, for the test's life.
            std::future::pending::<()>().await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_connection_dropped_silently_is_replaced_within_the_limit() {
    let server = shared();
    let url = server.create_database().await;
    let relay = Relay::start(server.port()).await;
    let relayed = url.replace(
        &format!("127.0.0.1:{}", server.port()),
        &format!("127.0.0.1:{}", relay.port),
    );
    assert_ne!(relayed, url);
    let store = open(&relayed, StoreOptions::default()).await;
    let limit = Duration::from_secs(2);
    store.check_reachable(limit).await.unwrap();

    relay.drop_silently();
    let started = Instant::now();
    let checked = store.check_reachable(limit).await;
    assert!(
        checked.is_ok(),
        "a silently dropped connection failed the check after {:?}: {checked:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < limit, "{:?}", started.elapsed());
    // The new connection is kept: the next check answers on it, opening
    // no other (neither in place of a dropped one nor beside the silent
    // one after waiting half the limit on it).
    let opened = relay.next.load(Ordering::SeqCst);
    store.check_reachable(limit).await.unwrap();
    assert_eq!(
        relay.next.load(Ordering::SeqCst),
        opened,
        "the next check opened a new connection"
    );
}
