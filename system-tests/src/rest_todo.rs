//! A real HTTP server of the Todos REST API (`examples/openapi/todos.yaml`)
//! for tests, on axum: in-memory todos under `/api/v1`, `ETag` on answers
//! and `If-Match` honoured on changes (a stale version gets 412), creation
//! idempotent on the `Idempotency-Key` header (the same key returns the
//! todo made the first time), the `Error` schema on failures.
//!
//! It records what arrived (requests per route, the idempotency keys and
//! `Authorization` headers), can demand a bearer token, answer the next
//! requests with an injected status (with `Retry-After`), and hold requests
//! until released (for crash tests).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::Error;

/// A failure to answer with, instead of doing the work.
#[derive(Debug, Clone)]
pub struct RestFailure {
    /// The HTTP status.
    pub status: u16,
    /// A `Retry-After` value in seconds, if any.
    pub retry_after: Option<u32>,
}

#[derive(Debug, Default)]
struct Inner {
    todos: BTreeMap<String, Value>,
    by_key: HashMap<String, String>,
    next_id: u64,
    /// Bumped on every change: versions are `"<updatedAt>"`.
    clock: u64,
    requests: HashMap<String, u64>,
    keys: HashMap<String, Vec<String>>,
    authorizations: Vec<String>,
    failures: Vec<RestFailure>,
    token: Option<String>,
    hold: bool,
}

/// What the server saw and what it is told to do.
#[derive(Debug, Default)]
pub struct RestState {
    inner: Mutex<Inner>,
    released: Notify,
    arrived: Notify,
}

impl RestState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The Todo REST server, on `127.0.0.1:<ephemeral port>`; dropping it stops it.
#[derive(Debug)]
pub struct RestTodoServer {
    /// Its address.
    pub addr: SocketAddr,
    state: Arc<RestState>,
    task: JoinHandle<()>,
}

impl Drop for RestTodoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RestTodoServer {
    /// The base URL a client uses: `http://127.0.0.1:<port>/api/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    /// Requests received for `route` (`POST /todos`, `GET /todos/{id}`, ...).
    pub fn requests(&self, route: &str) -> u64 {
        self.state.lock().requests.get(route).copied().unwrap_or(0)
    }

    /// Every request received, whatever the route.
    pub fn total_requests(&self) -> u64 {
        self.state.lock().requests.values().sum()
    }

    /// The `Idempotency-Key` values received for `route`, in order (requests
    /// without one are not listed).
    pub fn idempotency_keys(&self, route: &str) -> Vec<String> {
        self.state
            .lock()
            .keys
            .get(route)
            .cloned()
            .unwrap_or_default()
    }

    /// Every `Authorization` header received.
    pub fn authorizations(&self) -> Vec<String> {
        self.state.lock().authorizations.clone()
    }

    /// Todos stored.
    pub fn todo_count(&self) -> usize {
        self.state.lock().todos.len()
    }

    /// Demands `Authorization: Bearer <token>` from now on.
    pub fn require_token(&self, token: &str) {
        self.state.lock().token = Some(token.to_owned());
    }

    /// Answers the next requests with `failures`, one each, in order.
    pub fn fail_next(&self, failures: Vec<RestFailure>) {
        self.state.lock().failures.extend(failures);
    }

    /// Holds every request (after recording it) until [`Self::release`].
    pub fn hold(&self) {
        self.state.lock().hold = true;
    }

    /// Lets held and later requests through.
    pub fn release(&self) {
        self.state.lock().hold = false;
        self.state.released.notify_waiters();
    }

    /// Waits (at most `timeout`) until `route` has received `n` requests.
    pub async fn wait_for(&self, route: &str, n: u64, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.state.arrived.notified();
            if self.requests(route) >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.requests(route) >= n;
            }
        }
    }
}

/// Starts the server on an ephemeral loopback port.
pub async fn spawn_rest_todo_server() -> Result<RestTodoServer, Error> {
    let state = Arc::new(RestState::default());
    let app = Router::new()
        .route("/api/v1/todos", get(list).post(create))
        .route(
            "/api/v1/todos/{id}",
            get(get_one).patch(update).delete(remove),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::Bind(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Serve(e.to_string()))?;
    let task = tokio::spawn(async move {
        // Ends when the test drops the server (the task is aborted).
        let _ = axum::serve(listener, app).await;
    });
    Ok(RestTodoServer { addr, state, task })
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

/// Records the request, then applies the token check, an injected failure
/// and the hold; `Some` is the answer to give instead of doing the work.
async fn admit(state: &RestState, route: &str, headers: &HeaderMap) -> Option<Response> {
    let failure = {
        let mut inner = state.lock();
        *inner.requests.entry(route.to_owned()).or_default() += 1;
        if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
            inner
                .keys
                .entry(route.to_owned())
                .or_default()
                .push(key.to_owned());
        }
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(value) = &authorization {
            inner.authorizations.push(value.clone());
        }
        if let Some(token) = &inner.token
            && authorization.as_deref() != Some(&format!("Bearer {token}"))
        {
            return Some(error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "a valid bearer token is required",
            ));
        }
        (!inner.failures.is_empty()).then(|| inner.failures.remove(0))
    };
    state.arrived.notify_waiters();
    if let Some(failure) = failure {
        let status = StatusCode::from_u16(failure.status).unwrap_or(StatusCode::IM_A_TEAPOT);
        let mut response = error(status, "INTERNAL_ERROR", "injected failure");
        if let Some(seconds) = failure.retry_after
            && let Ok(value) = seconds.to_string().parse()
        {
            response.headers_mut().insert("retry-after", value);
        }
        return Some(response);
    }
    // Bounded by the test, which releases or drops the server.
    loop {
        let released = state.released.notified();
        if !state.lock().hold {
            return None;
        }
        released.await;
    }
}

/// The `updatedAt` of the `n`-th change.
fn stamp(n: u64) -> String {
    format!(
        "2026-12-05T{:02}:{:02}:{:02}Z",
        n / 3600 % 24,
        n / 60 % 60,
        n % 60
    )
}

/// The version (`ETag`) of a stored todo.
fn version(todo: &Value) -> String {
    format!("\"{}\"", todo["updatedAt"].as_str().unwrap_or_default())
}

/// `Some(412 answer)` when `If-Match` names another version than `todo`'s.
fn stale(headers: &HeaderMap, todo: &Value) -> Option<Response> {
    let expected = headers.get("if-match")?.to_str().ok()?;
    (expected != version(todo)).then(|| {
        error(
            StatusCode::PRECONDITION_FAILED,
            "VERSION_MISMATCH",
            &format!("the todo is at version {}, not {expected}", version(todo)),
        )
    })
}

fn with_etag(todo: &Value, status: StatusCode) -> Response {
    let mut response = (status, Json(json!({ "data": todo }))).into_response();
    if let Ok(value) = version(todo).parse() {
        response.headers_mut().insert("etag", value);
    }
    response
}

async fn list(
    State(state): State<Arc<RestState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(answer) = admit(&state, "GET /todos", &headers).await {
        return answer;
    }
    let Some(user) = query.get("userId") else {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "userId is required",
        );
    };
    let inner = state.lock();
    let data: Vec<Value> = inner
        .todos
        .values()
        .filter(|t| t["userId"].as_str() == Some(user))
        .cloned()
        .collect();
    let total = data.len();
    Json(json!({ "data": data, "metadata": { "total": total, "limit": 50, "offset": 0 } }))
        .into_response()
}

async fn create(
    State(state): State<Arc<RestState>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(answer) = admit(&state, "POST /todos", &headers).await {
        return answer;
    }
    let title = body["title"].as_str().unwrap_or_default();
    if title.is_empty() || body["userId"].as_str().is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "title and userId are required",
        );
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut inner = state.lock();
    if let Some(id) = key.as_ref().and_then(|k| inner.by_key.get(k)).cloned()
        && let Some(todo) = inner.todos.get(&id)
    {
        return with_etag(todo, StatusCode::CREATED);
    }
    inner.next_id += 1;
    let id = format!("00000000-0000-4000-8000-{:012}", inner.next_id);
    inner.clock += 1;
    let stamp = stamp(inner.clock);
    let todo = json!({
        "id": id,
        "title": title,
        "completed": false,
        "userId": body["userId"],
        "createdAt": stamp,
        "updatedAt": stamp,
    });
    inner.todos.insert(id.clone(), todo.clone());
    if let Some(key) = key {
        inner.by_key.insert(key, id);
    }
    with_etag(&todo, StatusCode::CREATED)
}

async fn get_one(
    State(state): State<Arc<RestState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(answer) = admit(&state, "GET /todos/{id}", &headers).await {
        return answer;
    }
    match state.lock().todos.get(&id) {
        Some(todo) => with_etag(todo, StatusCode::OK),
        None => error(StatusCode::NOT_FOUND, "NOT_FOUND", &format!("no todo {id}")),
    }
}

async fn update(
    State(state): State<Arc<RestState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    if let Some(answer) = admit(&state, "PATCH /todos/{id}", &headers).await {
        return answer;
    }
    let mut inner = state.lock();
    inner.clock += 1;
    let now = stamp(inner.clock);
    let Some(todo) = inner.todos.get_mut(&id) else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", &format!("no todo {id}"));
    };
    if let Some(answer) = stale(&headers, todo) {
        return answer;
    }
    if let (Some(object), Some(changes)) = (todo.as_object_mut(), body.as_object()) {
        for (key, value) in changes {
            object.insert(key.clone(), value.clone());
        }
        object.insert("updatedAt".into(), json!(now));
    }
    with_etag(todo, StatusCode::OK)
}

async fn remove(
    State(state): State<Arc<RestState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(answer) = admit(&state, "DELETE /todos/{id}", &headers).await {
        return answer;
    }
    let mut inner = state.lock();
    let Some(todo) = inner.todos.get(&id) else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", &format!("no todo {id}"));
    };
    if let Some(answer) = stale(&headers, todo) {
        return answer;
    }
    inner.todos.remove(&id);
    StatusCode::NO_CONTENT.into_response()
}
