//! A gRPC server written frame by frame, for what a server library never
//! does on purpose: it answers each call with the bytes a test gives, then
//! closes the TCP connection without ending the stream or saying `GOAWAY`.

use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const ACK: u8 = 1;
const END_HEADERS: u8 = 4;
const END_STREAM: u8 = 1;

/// One HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len())
        .expect("a small frame")
        .to_be_bytes();
    let mut out = len[1..].to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The response headers of a gRPC call on `stream`: `:status 200` (HPACK
/// static index 8) and a literal `content-type: application/grpc`.
pub fn response_headers(stream: u32) -> Vec<u8> {
    let mut block = vec![0x88, 0];
    for text in ["content-type", "application/grpc"] {
        block.push(u8::try_from(text.len()).expect("short"));
        block.extend_from_slice(text.as_bytes());
    }
    frame(HEADERS, END_HEADERS, stream, &block)
}

/// A `HEADERS` frame on `stream` holding `pairs` as literal fields (after
/// `:status 200` when `status` is set); `end` ends the stream (trailers,
/// or a trailers-only answer).
pub fn headers(stream: u32, status: bool, end: bool, pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut block = if status { vec![0x88] } else { Vec::new() };
    for (name, value) in pairs {
        // A literal field, not indexed, with a new name.
        block.push(0);
        for text in [name, value] {
            block.push(u8::try_from(text.len()).expect("short"));
            block.extend_from_slice(text.as_bytes());
        }
    }
    let flags = END_HEADERS | if end { END_STREAM } else { 0 };
    frame(HEADERS, flags, stream, &block)
}

/// A `DATA` frame holding one length-prefixed gRPC message.
pub fn message(stream: u32, bytes: &[u8]) -> Vec<u8> {
    let mut body = vec![0];
    body.extend_from_slice(&u32::try_from(bytes.len()).expect("short").to_be_bytes());
    body.extend_from_slice(bytes);
    frame(DATA, 0, stream, &body)
}

/// What the server writes when a call's headers arrive on a stream.
pub type Respond = Arc<dyn Fn(u32) -> Vec<u8> + Send + Sync>;

/// Serves on a free loopback port until the test ends: each call gets
/// `respond(stream)`, then its connection is closed. Answers the
/// `http://127.0.0.1:port` endpoint.
pub async fn start_closing(respond: Respond) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let endpoint = format!("http://{}", listener.local_addr().expect("bound"));
    tokio::spawn(async move {
        // Bounded by the test's lifetime.
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(answer_then_close(socket, respond.clone()));
        }
    });
    endpoint
}

async fn answer_then_close(mut socket: TcpStream, respond: Respond) -> std::io::Result<()> {
    let mut preface = [0u8; 24];
    socket.read_exact(&mut preface).await?;
    socket.write_all(&frame(SETTINGS, 0, 0, &[])).await?;
    // Bounded by the client, which ends the connection, or the first call.
    loop {
        let (head, payload) = read_frame(&mut socket).await?;
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        match head[3] {
            SETTINGS if head[4] & ACK == 0 => {
                socket.write_all(&frame(SETTINGS, ACK, 0, &[])).await?;
            }
            PING if head[4] & ACK == 0 => {
                socket.write_all(&frame(PING, ACK, 0, &payload)).await?;
            }
            HEADERS => {
                socket.write_all(&respond(stream)).await?;
                // What the client sends meanwhile is read, so that the close
                // is a clean end of the connection (FIN), not a reset for
                // unread bytes that could overtake the answer.
                let drain = async {
                    // Bounded by the timeout below.
                    while read_frame(&mut socket).await.is_ok() {}
                };
                let _ = tokio::time::timeout(std::time::Duration::from_millis(200), drain).await;
                socket.shutdown().await?;
                return Ok(());
            }
            _ => {}
        }
    }
}

/// Reads one frame: its 9-byte head and its payload.
async fn read_frame(socket: &mut TcpStream) -> std::io::Result<([u8; 9], Vec<u8>)> {
    let mut head = [0u8; 9];
    socket.read_exact(&mut head).await?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]);
    let mut payload = vec![0u8; usize::try_from(len).expect("a frame length fits")];
    socket.read_exact(&mut payload).await?;
    Ok((head, payload))
}

/// A plain HTTP answer (not gRPC) on `stream`: `:status` (a literal with
/// the static table's name), `content-type: text/html` and `body` in one
/// `DATA` frame ending the stream, as a proxy's error page.
pub fn http_answer(stream: u32, status: u16, body: &str) -> Vec<u8> {
    let mut block = vec![0x08];
    let status = status.to_string();
    block.push(u8::try_from(status.len()).expect("short"));
    block.extend_from_slice(status.as_bytes());
    block.push(0);
    for text in ["content-type", "text/html"] {
        block.push(u8::try_from(text.len()).expect("short"));
        block.extend_from_slice(text.as_bytes());
    }
    let mut out = frame(HEADERS, END_HEADERS, stream, &block);
    out.extend(frame(DATA, END_STREAM, stream, body.as_bytes()));
    out
}
