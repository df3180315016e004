//! How the client verbs read the executor's error answers: an unknown
//! outcome is recognised by the answer's machine-readable `code`, never by
//! the words of its message (a guest's own error text may say anything).
//! The executor is a scripted HTTP server here.

mod cli_common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A server answering every request (up to 8) with `status` and the JSON
/// `body`; its base URL.
fn scripted(status: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { continue };
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            // The request head (bounded), then its body.
            let mut length = 0usize;
            for _ in 0..100 {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(value) = lower.strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut request_body = vec![0u8; length];
            let _ = reader.read_exact(&mut request_body);
            let answer = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    url
}

/// `worker-executor invoke` against `server` with the idempotency key
/// `k-7`, bounded by 60 s: its exit code and stderr.
fn invoke(server: &str) -> (Option<i32>, String) {
    invoke_with_token(server, None)
}

/// [`invoke`] with `REPRISE_ADMIN_TOKEN` set to `token` (unset: `None`).
fn invoke_with_token(server: &str, token: Option<&str>) -> (Option<i32>, String) {
    let mut command = Command::new(cli_common::BIN);
    match token {
        Some(token) => command.env("REPRISE_ADMIN_TOKEN", token),
        None => command.env_remove("REPRISE_ADMIN_TOKEN"),
    };
    let mut child = command
        .args(["invoke", "w1", "add", "1", "--idempotency-key", "k-7"])
        .args(["--server", server, "--timeout", "10s"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "hung");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

#[test]
fn an_unknown_outcome_is_read_from_the_code_not_the_message() {
    // The CLI looked for "outcome of the ... is unknown" in the message:
    // an answer saying so in other words was a plain failure, and a
    // guest's error text using those words read as an unknown outcome.
    let coded = scripted(
        "503 Service Unavailable",
        r#"{"error":"the commit got no confirmation","code":"outcome_unknown"}"#,
    );
    let (code, stderr) = invoke(&coded);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("the outcome of the invocation is unknown")
            && stderr.contains("retry with `--idempotency-key k-7`")
            && stderr.contains("the commit got no confirmation"),
        "{stderr}"
    );

    let worded = scripted(
        "422 Unprocessable Entity",
        r#"{"error":"guest trapped in `add`: the outcome of the transfer is unknown"}"#,
    );
    let (code, stderr) = invoke(&worded);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("the outcome of the transfer is unknown"),
        "{stderr}"
    );
    assert!(!stderr.contains("--idempotency-key k-7"), "{stderr}");

    // A code this client does not know is a plain failure.
    let other = scripted(
        "409 Conflict",
        r#"{"error":"worker w1 is interrupted","code":"something_new"}"#,
    );
    let (code, stderr) = invoke(&other);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("409") && stderr.contains("is interrupted"),
        "{stderr}"
    );
    assert!(!stderr.contains("--idempotency-key k-7"), "{stderr}");

    // An executor from before codes: its 503 for an unknown commit outcome
    // still gets the retry advice (it lost it when codes came in).
    let older = scripted(
        "503 Service Unavailable",
        r#"{"error":"the outcome of the invocation on worker w1 is unknown: PostgreSQL did not answer"}"#,
    );
    let (code, stderr) = invoke(&older);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("retry with `--idempotency-key k-7`"),
        "{stderr}"
    );
    // Other 503s without a code are plain failures.
    let busy = scripted(
        "503 Service Unavailable",
        r#"{"error":"the executor is shutting down"}"#,
    );
    let (code, stderr) = invoke(&busy);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains("--idempotency-key k-7"), "{stderr}");
}

#[test]
fn a_request_that_cannot_be_made_is_not_an_unknown_outcome() {
    // A token with the `\r` of a CRLF file, or a port out of range, made
    // the HTTP client refuse the request before sending it; the CLI said
    // the invocation's outcome was unknown and advised a retry, and never
    // named the token's variable.
    let server = scripted("200 OK", r#"{"results":["1"]}"#);
    let (code, stderr) = invoke_with_token(&server, Some("0123456789abcdef\r"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("REPRISE_ADMIN_TOKEN") && stderr.contains("cannot carry"),
        "{stderr}"
    );
    assert!(!stderr.contains("unknown"), "{stderr}");

    let (code, stderr) = invoke("http://127.0.0.1:99999");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the port must be a number"), "{stderr}");
    assert!(!stderr.contains("unknown"), "{stderr}");
}

#[test]
fn dot_ids_are_refused_before_the_url_resolves_them_away() {
    // `worker delete ..` was sent as `DELETE /v1/` (the URL resolves `..`)
    // and answered "no route"; an id the server refuses is refused here,
    // with the server's reason, before any request. (The server scripted
    // here would answer every request with success.)
    let server = scripted("200 OK", r#"{"id":"w","changed":true}"#);
    for args in [
        &["worker", "delete", ".."][..],
        &["worker", "get", "."],
        &["oplog", ".."],
        &["invoke", "..", "add"],
        &["component", "get", ".."],
    ] {
        let output = cli_common::output_within(
            Command::new(cli_common::BIN)
                .args(args)
                .args(["--server", &server]),
            Duration::from_secs(60),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("must not start with `.`") || stderr.contains("component id"),
            "{args:?}: {stderr}"
        );
    }
}
