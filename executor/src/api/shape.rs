//! What a route accepts besides its path: only the oplog route reads a
//! query string, and only the routes that create, invoke or upload read a
//! body. Anything else sent is refused with a 400 naming it, rather than
//! ignored (a client sending `?limit=5` to a route without paging would
//! otherwise believe it was honoured).

use axum::body::{Body, HttpBody as _};
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;

/// The one route that reads a query string.
const QUERY_ROUTES: &[&str] = &["/v1/workers/{id}/oplog"];

/// Whether `method` on `route` reads a request body.
fn takes_body(method: &Method, route: &str) -> bool {
    *method == Method::POST && !route.ends_with("/interrupt") && !route.ends_with("/resume")
}

/// Whether a body says nothing: empty, blank, an empty JSON object or JSON
/// `null` (as clients that always send JSON do).
fn is_empty(body: &[u8]) -> bool {
    let text: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    text.is_empty() || text == b"{}" || text == b"null"
}

/// Refuses a query string or a body the matched route does not read.
pub(super) async fn refuse_unread_parts(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let method = request.method().clone();
    if let Some(query) = request.uri().query()
        && !query.is_empty()
        && !QUERY_ROUTES.contains(&route.as_str())
    {
        return ApiError::bad_request(format!(
            "{method} {route} takes no query parameters (got `?{query}`); see docs/admin-api.md"
        ))
        .into_response();
    }
    if takes_body(&method, &route) || request.body().size_hint().exact() == Some(0) {
        return next.run(request).await;
    }
    // A body of unknown length (chunked) may still be empty.
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, state.config.body_limit).await {
        Ok(bytes) if is_empty(&bytes) => next.run(Request::from_parts(parts, Body::empty())).await,
        Ok(bytes) => ApiError::bad_request(format!(
            "{method} {route} takes no request body (got {} bytes); see docs/admin-api.md",
            bytes.len()
        ))
        .into_response(),
        Err(_) => ApiError::bad_request(format!(
            "{method} {route} takes no request body (got more than {} bytes)",
            state.config.body_limit
        ))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_bodies_and_empty_objects_say_nothing() {
        assert!(is_empty(b""));
        assert!(is_empty(b" \n"));
        assert!(is_empty(b"{ }"));
        assert!(is_empty(b"null"));
        assert!(!is_empty(b"{\"reason\": 1}"));
        assert!(!is_empty(b"[]"));
    }

    #[test]
    fn only_creating_invoking_and_uploading_take_a_body() {
        assert!(takes_body(&Method::POST, "/v1/workers"));
        assert!(takes_body(&Method::POST, "/v1/workers/{id}/invoke"));
        assert!(takes_body(&Method::POST, "/v1/components"));
        assert!(!takes_body(&Method::POST, "/v1/workers/{id}/interrupt"));
        assert!(!takes_body(&Method::POST, "/v1/workers/{id}/resume"));
        assert!(!takes_body(&Method::DELETE, "/v1/workers/{id}"));
        assert!(!takes_body(&Method::GET, "/v1/workers"));
    }
}
