//! A loopback TCP relay in front of a test server whose connections a test
//! can cut at once, so a server sees its client vanish mid-call the way it
//! does when the client process is killed.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

use crate::Error;

/// A relay listening on `127.0.0.1:<ephemeral port>` that forwards every
/// connection to a target address. Dropping it stops the relay and closes
/// every relayed connection.
#[derive(Debug)]
pub struct CutProxy {
    /// The address clients connect to.
    pub addr: SocketAddr,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    accept: JoinHandle<()>,
}

impl CutProxy {
    /// Starts relaying connections made to a fresh loopback port to `target`.
    pub async fn spawn(target: SocketAddr) -> Result<CutProxy, Error> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Error::Bind(e.to_string()))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Bind(e.to_string()))?;
        let connections = Arc::new(Mutex::new(Vec::new()));
        let tracked = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let relay = tokio::spawn(relay(client, target));
                lock(&tracked).push(relay.abort_handle());
            }
        });
        Ok(CutProxy {
            addr,
            connections,
            accept,
        })
    }

    /// The `http://127.0.0.1:<port>` URI a client connects to.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes every connection relayed so far on both sides (new
    /// connections are still accepted); returns how many were open.
    pub fn cut(&self) -> usize {
        let cut: Vec<AbortHandle> = std::mem::take(&mut *lock(&self.connections));
        let open = cut.iter().filter(|c| !c.is_finished()).count();
        for connection in cut {
            connection.abort();
        }
        open
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

fn lock(connections: &Mutex<Vec<AbortHandle>>) -> std::sync::MutexGuard<'_, Vec<AbortHandle>> {
    // Only abort handles live here; a poisoned list is still usable.
    connections
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Copies bytes both ways until either side closes; aborting the task drops
/// (closes) both sockets.
async fn relay(mut client: TcpStream, target: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
