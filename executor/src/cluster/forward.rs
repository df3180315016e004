//! Forwarding admin API requests about a worker this executor does not
//! serve to the executor that does.
//!
//! The middleware looks at requests under `/v1/workers/{id}` (and at the
//! `name` of a `POST /v1/workers` creation). When the worker's shard is
//! held by another executor, the request — method, path, query, headers
//! (the admin token included) and body — is sent to the address that
//! executor advertises, and its answer is returned as it is. A forwarded
//! request carries [`FORWARDED_HEADER`]; an executor that receives one for
//! a worker it does not serve answers 503 instead of forwarding again, so
//! requests never loop while leases move. When no executor holds the shard
//! (its lease expired and nobody took it yet) the answer is 503 with a
//! message to retry.
//!
//! An invocation forwarded without an idempotency key is given one, so
//! that if its outcome turns out unknown (the owner stopped answering) the
//! 503 names the key a retry is safe with.
//!
//! A `POST /v1/workers` without a name, received by an executor that
//! serves no shard, gets a generated name in a shard another executor
//! holds and is forwarded there like a named one.
//!
//! A forwarded request may run long (an invocation, for its whole time
//! budget), so it has no fixed deadline; instead, while it waits, the
//! lease of the worker's shard is read every third of the lease's
//! time-to-live. When the owner no longer holds it (it stopped or was
//! paused, and its lease ran out) the wait ends with a 503 naming the owner:
//! whether the request took effect there is unknown, and a retry (with the
//! same idempotency key, for an invocation) reaches the shard's next owner.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use reprise_oplog::{ShardOwner, WorkerId};

use crate::api::AppState;
use crate::api::error::ApiError;

/// Why a request could not be relayed to its worker's owner, in words,
/// and whether the owner may have received it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct NotRelayed {
    message: String,
    /// The request may have reached the owner (it failed after the
    /// connection was made): its outcome is unknown.
    maybe_sent: bool,
}

impl From<String> for NotRelayed {
    /// A failure before anything was sent.
    fn from(message: String) -> Self {
        NotRelayed {
            message,
            maybe_sent: false,
        }
    }
}

impl NotRelayed {
    /// A failure of sending the request or of reading its answer: only a
    /// failure to connect is known to have sent nothing.
    fn of_send(error: &reqwest::Error) -> Self {
        NotRelayed {
            message: error.to_string(),
            maybe_sent: !error.is_connect(),
        }
    }
}

/// Header marking a request forwarded by another executor (its value: the
/// forwarding executor's address).
pub const FORWARDED_HEADER: &str = "reprise-forwarded-by";

/// Headers not copied to a forwarded request or back from its answer.
const HOP_BY_HOP: [HeaderName; 5] = [
    header::HOST,
    header::CONTENT_LENGTH,
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The worker a request is about, from its path (percent-decoded, as the
/// handlers read it).
fn worker_in_path(path: &str) -> Option<WorkerId> {
    let rest = path.strip_prefix("/v1/workers/")?;
    let id = rest.split('/').next()?;
    let id = percent_encoding::percent_decode_str(id)
        .decode_utf8()
        .ok()?;
    WorkerId::new(id.as_ref()).ok()
}

/// The body of an invocation to forward, with an idempotency key of its
/// own when the client gave none (a JSON object without
/// `idempotency_key`), and that key. If the owner stops answering, the
/// outcome is unknown and the client is told the key to retry with: a
/// retry without it would run the function again wherever the first
/// attempt completed. Other bodies go as they are (the owner judges them).
fn keyed_invocation(path: &str, method: &Method, bytes: Bytes) -> (Bytes, Option<String>) {
    let invoke = *method == Method::POST && path.trim_end_matches('/').ends_with("/invoke");
    if !invoke {
        return (bytes, None);
    }
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_slice(&bytes) else {
        return (bytes, None);
    };
    // Rewritten, a key given twice would keep only its last value, and the
    // owner would not see what it refuses: such a body goes as it is.
    if crate::api::extract::no_duplicate_keys(&bytes).is_err() {
        return (bytes, None);
    }
    match fields.get("idempotency_key") {
        Some(serde_json::Value::String(key)) => {
            let key = key.clone();
            (bytes, Some(key))
        }
        None | Some(serde_json::Value::Null) => {
            let key = reprise_oplog::IdempotencyKey::generate().to_string();
            fields.insert("idempotency_key".into(), key.clone().into());
            match serde_json::to_vec(&fields) {
                Ok(keyed) => (Bytes::from(keyed), Some(key)),
                Err(_) => (bytes, None),
            }
        }
        Some(_) => (bytes, None),
    }
}

/// How to retry a request whose outcome is unknown.
fn retry_hint(key: Option<&str>) -> String {
    match key {
        Some(key) => format!(
            "retry the invocation with idempotency key `{key}` (safe: it runs once either way)"
        ),
        None => "retry an invocation with the same idempotency key (safe: it runs once either \
                 way); for another request, look at the worker first (did the creation or the \
                 deletion happen?)"
            .to_owned(),
    }
}

/// The admin API middleware (a no-op for an executor not in a cluster).
pub async fn forward_elsewhere(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(cluster) = state.executor.cluster().cloned() else {
        return next.run(request).await;
    };
    let creation = request.method() == Method::POST
        && request.uri().path().trim_end_matches('/') == "/v1/workers";
    let (request, worker) = if creation {
        // The worker's name is in the body.
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, state.config.body_limit).await {
            Ok(bytes) => bytes,
            Err(e) => {
                return crate::api::error::unreadable_body(&e, state.config.body_limit)
                    .into_response();
            }
        };
        let body = serde_json::from_slice::<serde_json::Value>(&bytes).ok();
        let name = body
            .as_ref()
            .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_owned))
            .and_then(|n| WorkerId::new(n).ok());
        match (name, body) {
            (Some(name), _) => (Request::from_parts(parts, Body::from(bytes)), Some(name)),
            (None, Some(serde_json::Value::Object(mut fields)))
                if fields.get("name").is_none_or(serde_json::Value::is_null)
                    // Rewritten, a key given twice would be one (see
                    // `keyed_invocation`): left for the owner to refuse.
                    && crate::api::extract::no_duplicate_keys(&bytes).is_ok()
                    && cluster.served().is_empty()
                    && !parts.headers.contains_key(FORWARDED_HEADER) =>
            {
                // Nothing served here to create it in: it is named in a
                // shard another executor holds, and created there.
                let named = match name_elsewhere(&cluster).await {
                    Ok(named) => named,
                    Err(response) => return *response,
                };
                fields.insert("name".into(), serde_json::Value::String(named.to_string()));
                let bytes = serde_json::to_vec(&fields).unwrap_or_default();
                (Request::from_parts(parts, Body::from(bytes)), Some(named))
            }
            (None, _) => (Request::from_parts(parts, Body::from(bytes)), None),
        }
    } else {
        let worker = worker_in_path(request.uri().path());
        (request, worker)
    };
    let Some(worker) = worker else {
        return next.run(request).await;
    };
    if cluster.owns(&worker) {
        return next.run(request).await;
    }
    if request.headers().contains_key(FORWARDED_HEADER) {
        return ApiError::from(cluster.not_served(&worker)).into_response();
    }
    let owner = match cluster.owner_of(&worker).await {
        Ok(Some(owner)) if owner.address != cluster.advertise() => owner,
        Ok(_) => return ApiError::from(cluster.not_served(&worker)).into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let method = request.method().clone();
    // Read here, not while relaying: a body over the limit is the client's
    // 413, not the owner's unavailability.
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, state.config.body_limit).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return crate::api::error::unreadable_body(&e, state.config.body_limit).into_response();
        }
    };
    let (keyed, key) = keyed_invocation(parts.uri.path(), &method, bytes.clone());
    // The key makes the body longer: one that no longer fits the owner's
    // limit goes as it came (the owner names its own key then).
    let (bytes, key) = if keyed.len() <= state.config.body_limit {
        (keyed, key)
    } else {
        (bytes, None)
    };
    let relayed = proxy(&cluster, &owner.address, parts, bytes);
    let lost = owner_lost(&cluster, &worker, &owner);
    let outcome = tokio::select! {
        outcome = relayed => outcome,
        () = lost => {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "worker {worker} was served by the executor at {} ({}), which did not \
                     answer and no longer holds the worker's shard (stopped, paused or cut \
                     off); the outcome of the request is unknown: {}, and the shard's next \
                     owner answers",
                    owner.address,
                    owner.member,
                    retry_hint(key.as_deref())
                ),
            )
            .with_code(crate::api::error::codes::OUTCOME_UNKNOWN)
            .into_response();
        }
    };
    match outcome {
        Ok(response) => response,
        Err(failed) if failed.maybe_sent && !is_read(&method) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "worker {worker} is served by the executor at {}, and relaying the request \
                 to it failed after it was sent: {failed}; the outcome of the request is \
                 unknown: {}",
                owner.address,
                retry_hint(key.as_deref())
            ),
        )
        .with_code(crate::api::error::codes::OUTCOME_UNKNOWN)
        .into_response(),
        Err(failed) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "worker {worker} is served by the executor at {}, {}: {failed}; retry in a few \
                 seconds",
                owner.address,
                if failed.maybe_sent {
                    "and relaying the request to it failed"
                } else {
                    "which could not be reached"
                }
            ),
        )
        .into_response(),
    }
}

/// Whether `method` only reads (repeating it changes nothing).
fn is_read(method: &axum::http::Method) -> bool {
    matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD)
}

/// Most names tried for a worker created on behalf of another executor.
const NAME_ATTEMPTS: usize = 16;

/// A new worker name in a shard another executor holds now (a boxed
/// response when there is none).
async fn name_elsewhere(cluster: &super::Cluster) -> Result<WorkerId, Box<Response>> {
    for _ in 0..NAME_ATTEMPTS {
        let id = WorkerId::generate();
        match cluster.owner_of(&id).await {
            Ok(Some(owner)) if owner.address != cluster.advertise() => return Ok(id),
            Ok(_) => continue,
            Err(e) => return Err(Box::new(ApiError::from(e).into_response())),
        }
    }
    Err(Box::new(
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no executor holds a shard to create the worker in right now (the executors are \
             starting, or their leases ran out); retry in a few seconds",
        )
        .into_response(),
    ))
}

/// Resolves once `owner` no longer holds the lease of `worker`'s shard
/// (checked every third of the lease time-to-live); never while it does.
async fn owner_lost(cluster: &super::Cluster, worker: &WorkerId, owner: &ShardOwner) {
    let mut tick = tokio::time::interval(cluster.lease_ttl() / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    // Bounded by the forwarded request it races with.
    loop {
        tick.tick().await;
        match cluster.owner_of(worker).await {
            Ok(Some(now)) if now.member == owner.member => {}
            // The database unreachable says nothing about the owner.
            Err(_) => {}
            Ok(_) => return,
        }
    }
}

/// Sends `request` to the executor at `address` and relays its answer.
async fn proxy(
    cluster: &super::Cluster,
    address: &str,
    parts: axum::http::request::Parts,
    bytes: Bytes,
) -> std::result::Result<Response, NotRelayed> {
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let url = format!("{}{path}", address.trim_end_matches('/'));
    let method =
        reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).map_err(|e| e.to_string())?;
    let mut headers = reqwest::header::HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    headers.insert(
        FORWARDED_HEADER,
        reqwest::header::HeaderValue::from_str(cluster.advertise()).map_err(|e| e.to_string())?,
    );
    let answer = cluster
        .http()
        .request(method, &url)
        .headers(headers)
        .body(bytes)
        .send()
        .await
        .map_err(|e| NotRelayed::of_send(&e))?;
    let status = StatusCode::from_u16(answer.status().as_u16()).map_err(|e| e.to_string())?;
    let mut answer_headers = HeaderMap::new();
    copy_headers(answer.headers(), &mut answer_headers);
    let body = answer.bytes().await.map_err(|e| NotRelayed {
        message: format!("reading its answer failed: {e}"),
        maybe_sent: true,
    })?;
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = answer_headers;
    Ok(response)
}

/// Copies end-to-end headers between the two header map types (the
/// http crate versions of axum and reqwest may differ).
fn copy_headers<A, B>(from: &A, to: &mut B)
where
    A: HeaderIter,
    B: HeaderInsert,
{
    for (name, value) in from.pairs() {
        if HOP_BY_HOP
            .iter()
            .any(|h| h.as_str().eq_ignore_ascii_case(&name))
        {
            continue;
        }
        to.put(&name, &value);
    }
}

/// Reads a header map as (name, value bytes) pairs.
trait HeaderIter {
    fn pairs(&self) -> Vec<(String, Vec<u8>)>;
}

/// Inserts a header given by name and value bytes (skipping invalid ones).
trait HeaderInsert {
    fn put(&mut self, name: &str, value: &[u8]);
}

impl HeaderIter for HeaderMap {
    fn pairs(&self) -> Vec<(String, Vec<u8>)> {
        self.iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect()
    }
}

impl HeaderInsert for HeaderMap {
    fn put(&mut self, name: &str, value: &[u8]) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_bytes(value),
        ) {
            self.extend(std::iter::once((name, value)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request to `url` with the forwarding client's settings.
    async fn send(url: &str) -> reqwest::Error {
        crate::rest::client::install_crypto_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(2))
            .build()
            .unwrap();
        client
            .post(url)
            .body("{}")
            .send()
            .await
            .expect_err("nothing answers")
    }

    #[tokio::test]
    async fn only_a_failed_connection_is_known_to_have_sent_nothing() {
        // A port nothing listens on: refused, nothing sent.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let refused = NotRelayed::of_send(&send(&format!("http://127.0.0.1:{port}/x")).await);
        assert!(!refused.maybe_sent, "{refused}");

        // An owner that takes the connection and the request, then closes
        // without answering: the request may have been acted on.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            // Read the request, then hang up.
            let _ = socket.read(&mut buf).await;
        });
        let dropped = NotRelayed::of_send(&send(&format!("http://{address}/x")).await);
        assert!(dropped.maybe_sent, "{dropped}");
        server.await.unwrap();
    }

    #[test]
    fn a_body_naming_a_key_twice_is_forwarded_as_it_is() {
        // Rewritten, `{"function":"add","function":"get"}` became a call
        // of `get` at the owner, which refuses the body sent to it directly.
        let path = "/v1/workers/w/invoke";
        let body = Bytes::from_static(br#"{"function": "add", "function": "get"}"#);
        let (sent, key) = keyed_invocation(path, &Method::POST, body.clone());
        assert_eq!(sent, body);
        assert_eq!(key, None);
    }

    #[test]
    fn an_invocation_without_a_key_is_forwarded_with_one() {
        let path = "/v1/workers/w/invoke";
        let body = Bytes::from_static(br#"{"function": "add", "params": ["1"]}"#);
        let (keyed, key) = keyed_invocation(path, &Method::POST, body);
        let key = key.expect("a key");
        let fields: serde_json::Value = serde_json::from_slice(&keyed).unwrap();
        assert_eq!(fields["idempotency_key"], key.as_str());
        assert_eq!(fields["params"][0], "1");
        assert!(retry_hint(Some(&key)).contains(&key));

        let given = Bytes::from_static(br#"{"function": "get", "idempotency_key": "mine"}"#);
        let (same, key) = keyed_invocation(path, &Method::POST, given.clone());
        assert_eq!((same, key.as_deref()), (given, Some("mine")));
        // Not an invocation, or not JSON: as it is, for the owner to judge.
        let other = Bytes::from_static(b"{}");
        let (same, key) = keyed_invocation("/v1/workers/w/interrupt", &Method::POST, other.clone());
        assert_eq!((same, key), (other, None));
        let broken = Bytes::from_static(b"{not json");
        let (same, key) = keyed_invocation(path, &Method::POST, broken.clone());
        assert_eq!((same, key), (broken, None));
    }

    #[test]
    fn a_percent_encoded_worker_id_is_read_as_the_handlers_read_it() {
        assert_eq!(
            worker_in_path("/v1/workers/w%2D1/invoke"),
            Some(WorkerId::new("w-1").unwrap())
        );
        assert_eq!(worker_in_path("/v1/workers/%ZZ"), None);
    }
}
