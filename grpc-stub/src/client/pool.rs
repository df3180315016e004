//! Connections shared between clients: one HTTP/2 connection (a tonic
//! channel, which reconnects, and resolves the host name again, when the
//! connection drops) per endpoint and connection settings, whatever number
//! of clients (workers) call it. Calls are multiplexed on it as HTTP/2
//! streams. Credentials are per client, not per connection, so clients with
//! different `auth` share one; different TLS settings (another CA, another
//! client certificate) never do.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tonic::transport::Channel;

use crate::Error;
use crate::client::options::{ClientConfig, ClientTls, Keepalive};
use crate::client::{GrpcClient, connect_lazy};

/// Most channels a pool keeps; beyond it, an arbitrary one is dropped
/// (its clients keep it alive while they use it). Bounds what endpoint
/// overrides pointing at ever new addresses can make it hold.
pub const MAX_CHANNELS: usize = 1024;

/// What makes two clients' connections interchangeable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ChannelKey {
    endpoint: String,
    ca_pem: Option<String>,
    system_roots: bool,
    server_name: Option<String>,
    identity: Option<(String, String)>,
    connect_timeout: Option<Duration>,
    stream_window: Option<u32>,
    keepalive: Option<Keepalive>,
}

impl ChannelKey {
    fn of(endpoint: &str, config: &ClientConfig) -> Self {
        let tls = config.tls.clone().unwrap_or_else(ClientTls::system);
        ChannelKey {
            endpoint: endpoint.trim_end_matches('/').to_ascii_lowercase(),
            ca_pem: tls.ca_pem,
            system_roots: tls.system_roots,
            server_name: tls.server_name,
            identity: tls.identity,
            connect_timeout: config.connect_timeout,
            stream_window: config.stream_window,
            keepalive: config.keepalive,
        }
    }
}

/// The channels of an executor, shared by its workers.
#[derive(Default)]
pub struct ChannelPool {
    channels: Mutex<HashMap<ChannelKey, Channel>>,
}

impl std::fmt::Debug for ChannelPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelPool")
            .field("channels", &self.len())
            .finish()
    }
}

impl ChannelPool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// A client for `endpoint` with `config`, over the pool's connection
    /// for that endpoint and those connection settings (made, lazily, on
    /// first use). Must be called within the Tokio runtime the pool's
    /// connections run on.
    pub fn client(&self, endpoint: &str, config: ClientConfig) -> Result<GrpcClient, Error> {
        let key = ChannelKey::of(endpoint, &config);
        let channel = {
            let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
            match channels.get(&key) {
                Some(channel) => channel.clone(),
                None => {
                    let channel = connect_lazy(endpoint, &config)?;
                    if channels.len() >= MAX_CHANNELS
                        && let Some(evicted) = channels.keys().next().cloned()
                    {
                        channels.remove(&evicted);
                    }
                    channels.insert(key, channel.clone());
                    channel
                }
            }
        };
        GrpcClient::from_channel(channel, endpoint, config)
    }

    /// How many connections the pool holds.
    pub fn len(&self) -> usize {
        self.channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
