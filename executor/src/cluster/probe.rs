//! Whether an advertised address reaches this very process.
//!
//! A joining executor is refused when a live member of the database
//! advertises the same address: forwarded requests could reach either. But
//! an executor restarted at once after a crash finds its previous self's
//! row still alive (seen within one lease time-to-live), at its own
//! address. The two cases differ in what the address reaches: while
//! joining, the new process answers every connection on its (already
//! bound, not yet serving) admin listener with a token of its own
//! ([`answer_probes`]) and sends a request to the advertised address
//! ([`probe`]). If the answer carries the token, the address leads to this
//! process. That is necessary but not enough (a shared name or a NAT rule
//! can reach several machines, each reaching itself): the join
//! then also waits to see whether the old member renews its row (see
//! `Cluster::join_at`). Any other outcome (another server answers, nothing
//! answers, the address routes elsewhere) proves nothing, and the join is
//! refused as before.

use std::convert::Infallible;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The response header carrying the probe's token.
const PROBE_HEADER: &str = "reprise-join-probe";

/// How long a probe waits for an answer, and a probe's connection for its
/// request.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The most of a request read before answering.
const MAX_REQUEST: usize = 8 << 10;

/// What the advertised address answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProbeAnswer {
    /// This process: the address reaches it (perhaps others too).
    Us,
    /// Something else answered, or nothing did: what happened.
    NotUs(String),
}

/// Answers every connection on `listener` with `token` until dropped.
pub(crate) async fn answer_probes(listener: &TcpListener, token: &str) -> Infallible {
    let mut answering = tokio::task::JoinSet::new();
    // Runs until the caller drops it (its probe ended); each answer is
    // bounded by PROBE_TIMEOUT, and dropping the set aborts the others.
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    answering.spawn(answer(stream, token.to_owned()));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "accepting a join probe failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = answering.join_next(), if !answering.is_empty() => {}
        }
    }
}

/// Reads the request head (bounded in size and time) and closes after
/// answering: `200` with the token to the probe (a request carrying the
/// token), `503` to anything else (a client early for the admin API).
async fn answer(mut stream: TcpStream, token: String) {
    let mut head = Vec::new();
    let read_head = async {
        let mut buffer = [0u8; 1024];
        while head.len() < MAX_REQUEST && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(PROBE_TIMEOUT, read_head).await;
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let asked = format!("{PROBE_HEADER}: {}", token.to_ascii_lowercase());
    let response = if head.contains(&asked) {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\
             {PROBE_HEADER}: {token}\r\n\r\n"
        )
    } else {
        let body = "the executor is starting; retry in a moment\n";
        format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let _ = tokio::time::timeout(PROBE_TIMEOUT, async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Sends `GET {address}/healthz` and tells whether the answer carries
/// `token` while `listener` answers probes with it.
pub(crate) async fn probe(
    http: &reqwest::Client,
    listener: &TcpListener,
    address: &str,
    token: &str,
) -> ProbeAnswer {
    let asking = async {
        let sent = http
            .get(format!("{}/healthz", address.trim_end_matches('/')))
            .header(PROBE_HEADER, token)
            .timeout(PROBE_TIMEOUT)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let carried = response
                    .headers()
                    .get(PROBE_HEADER)
                    .and_then(|v| v.to_str().ok());
                if carried == Some(token) {
                    ProbeAnswer::Us
                } else {
                    ProbeAnswer::NotUs(format!(
                        "another server answered it ({})",
                        response.status()
                    ))
                }
            }
            Err(e) => ProbeAnswer::NotUs(format!("it did not answer this process ({e})")),
        }
    };
    tokio::select! {
        answer = asking => answer,
        never = answer_probes(listener, token) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_listener_answering_with_the_token_is_us() {
        let ours = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", ours.local_addr().unwrap());
        crate::rest::client::install_crypto_provider();
        let http = reqwest::Client::new();
        assert_eq!(probe(&http, &ours, &address, "t-1").await, ProbeAnswer::Us);

        // Another process's listener: its answer does not carry our token.
        let theirs = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let elsewhere = format!("http://{}", theirs.local_addr().unwrap());
        let other = tokio::spawn(async move {
            let _ = answer_probes(&theirs, "t-other").await;
        });
        let answer = probe(&http, &ours, &elsewhere, "t-1").await;
        assert!(matches!(answer, ProbeAnswer::NotUs(_)), "{answer:?}");
        other.abort();
    }
}
