//! A gRPC server written frame by frame, for the faults a real server
//! library never shows: a refused or reset stream, a `GOAWAY`, a server
//! that never grants flow-control window, an answer before the request
//! stream ended, a message cut short before the trailers.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// HTTP/2 frame types used here.
pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const RST_STREAM: u8 = 3;
pub const SETTINGS: u8 = 4;
pub const PING: u8 = 6;
pub const GOAWAY: u8 = 7;

/// Frame flags.
pub const END_STREAM: u8 = 1;
pub const ACK: u8 = 1;
pub const END_HEADERS: u8 = 4;

/// One HTTP/2 frame.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = len[1..].to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A header block of literal fields (HPACK, no indexing, no Huffman),
/// after `:status 200` from the static table when `status` is set.
pub fn headers(status: bool, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = if status { vec![0x88] } else { Vec::new() };
    for (name, value) in fields {
        block.push(0);
        block.push(u8::try_from(name.len()).unwrap());
        block.extend_from_slice(name.as_bytes());
        block.push(u8::try_from(value.len()).unwrap());
        block.extend_from_slice(value.as_bytes());
    }
    block
}

/// The response headers of a gRPC call on `stream`.
pub fn response_headers(stream: u32) -> Vec<u8> {
    frame(
        HEADERS,
        END_HEADERS,
        stream,
        &headers(true, &[("content-type", "application/grpc")]),
    )
}

/// A `DATA` frame holding one length-prefixed gRPC message.
pub fn message(stream: u32, bytes: &[u8]) -> Vec<u8> {
    let mut body = vec![0];
    body.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_be_bytes());
    body.extend_from_slice(bytes);
    frame(DATA, 0, stream, &body)
}

/// The trailers ending `stream` with `code` (and `text`, if any).
pub fn trailers(stream: u32, code: u32, text: &str) -> Vec<u8> {
    let code = code.to_string();
    let mut fields = vec![("grpc-status", code.as_str())];
    if !text.is_empty() {
        fields.push(("grpc-message", text));
    }
    frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        stream,
        &headers(false, &fields),
    )
}

/// `RST_STREAM` of `stream` with error `code`.
pub fn reset(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// What a scripted server writes when a call's headers arrive on a stream.
pub type Respond = Arc<dyn Fn(u32) -> Vec<u8> + Send + Sync>;

/// A server that answers every call with `respond(stream)` the moment its
/// headers arrive, and then only reads: it never grants flow-control
/// window, so a client can send at most the 65 535 bytes of HTTP/2's
/// initial window. Counts the request payload bytes it read.
pub struct ScriptedServer {
    /// `http://127.0.0.1:port`.
    pub endpoint: String,
    received: Arc<AtomicU64>,
    calls: Arc<AtomicU64>,
}

impl ScriptedServer {
    /// Serves on a free loopback port until the test ends.
    pub async fn start(respond: Respond) -> Self {
        Self::serve(respond, false).await
    }

    /// Like [`Self::start`], but closes the connection (TCP, no `GOAWAY`)
    /// 200 ms after writing the answer to the first call.
    pub async fn start_closing(respond: Respond) -> Self {
        Self::serve(respond, true).await
    }

    async fn serve(respond: Respond, close: bool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(AtomicU64::new(0));
        let calls = Arc::new(AtomicU64::new(0));
        let (r, c) = (received.clone(), calls.clone());
        tokio::spawn(async move {
            // Bounded by the test's lifetime.
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(scripted(
                    socket,
                    respond.clone(),
                    (r.clone(), c.clone()),
                    close,
                ));
            }
        });
        Self {
            endpoint,
            received,
            calls,
        }
    }

    /// Request payload bytes (`DATA` frames) read so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }

    /// Calls whose headers arrived.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

async fn scripted(
    mut socket: TcpStream,
    respond: Respond,
    (received, calls): (Arc<AtomicU64>, Arc<AtomicU64>),
    close: bool,
) -> std::io::Result<()> {
    let mut preface = [0u8; 24];
    socket.read_exact(&mut preface).await?;
    socket.write_all(&frame(SETTINGS, 0, 0, &[])).await?;
    // Bounded by the client, which closes the connection.
    loop {
        let (head, payload) = read_frame(&mut socket).await?;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        match head[3] {
            SETTINGS if head[4] & ACK == 0 => {
                socket.write_all(&frame(SETTINGS, ACK, 0, &[])).await?
            }
            PING if head[4] & ACK == 0 => socket.write_all(&frame(PING, ACK, 0, &payload)).await?,
            HEADERS => {
                calls.fetch_add(1, Ordering::SeqCst);
                socket.write_all(&respond(stream)).await?;
                if close {
                    // The client gets the answer first; what it sends
                    // meanwhile is read, so that the close is a clean end
                    // of the connection (FIN), not a reset for unread bytes
                    // that could overtake the answer.
                    let drain = async {
                        // Bounded by the timeout below.
                        while read_frame(&mut socket).await.is_ok() {}
                    };
                    let _ =
                        tokio::time::timeout(std::time::Duration::from_millis(200), drain).await;
                    socket.shutdown().await?;
                    return Ok(());
                }
            }
            DATA => {
                received.fetch_add(payload.len() as u64, Ordering::SeqCst);
            }
            _ => {}
        }
    }
}

/// Reads one frame: its 9-byte head and its payload.
pub async fn read_frame(socket: &mut TcpStream) -> std::io::Result<([u8; 9], Vec<u8>)> {
    let mut head = [0u8; 9];
    socket.read_exact(&mut head).await?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]);
    let mut payload = vec![0u8; usize::try_from(len).unwrap()];
    socket.read_exact(&mut payload).await?;
    Ok((head, payload))
}
