//! Bearer-token authentication of the admin API.
//!
//! When the API is given an [`AdminToken`], every route but `/healthz`
//! requires `authorization: Bearer <token>`; a request without it, or with
//! another token, is refused with `401` and `www-authenticate: Bearer`
//! before any handler runs. The token is compared in constant time and is
//! never logged or shown.

use std::fmt;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::error::{Error, Result};

/// The secret a caller of the admin API must present.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// Shortest token accepted, in bytes.
    pub const MIN_LEN: usize = 16;

    /// Checks and wraps a token: at least [`Self::MIN_LEN`] visible ASCII
    /// characters (it travels in an HTTP header).
    pub fn new(token: impl Into<String>) -> Result<Self> {
        let token = token.into();
        if token.len() < Self::MIN_LEN {
            return Err(Error::InvalidConfig(format!(
                "the admin token must be at least {} characters long (it has {})",
                Self::MIN_LEN,
                token.len()
            )));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidConfig(
                "the admin token must be visible ASCII characters only (no spaces or control \
                 characters)"
                    .to_owned(),
            ));
        }
        Ok(AdminToken(token))
    }

    /// Whether `presented` is this token (constant time in its length).
    pub fn matches(&self, presented: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        if presented.len() != expected.len() {
            return false;
        }
        expected
            .iter()
            .zip(presented)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// The credentials of an `authorization` value in the `Bearer` scheme,
/// whose name is case-insensitive (RFC 9110), followed by one or more
/// spaces; `None` for another scheme.
pub(crate) fn bearer_credentials(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer";
    let (scheme, rest) = value.split_at_checked(SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) || rest.first() != Some(&b' ') {
        return None;
    }
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    Some(&rest[start..])
}

/// Middleware refusing requests that do not carry the admin token (when
/// the API has one).
pub(super) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &state.config.admin_token else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|value| value.as_bytes());
    let refusal = match presented {
        None => "this route requires `authorization: Bearer <admin token>`",
        Some(value) => match bearer_credentials(value) {
            Some(candidate) if token.matches(candidate) => return next.run(request).await,
            Some(_) => "the admin token presented is not the executor's",
            None => "the `authorization` header must be `Bearer <admin token>`",
        },
    };
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, refusal).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"reprise-admin\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_and_compared_exactly() {
        assert!(AdminToken::new("short").is_err());
        assert!(AdminToken::new("has a space in it, long").is_err());
        let token = AdminToken::new("0123456789abcdef").unwrap();
        assert!(token.matches(b"0123456789abcdef"));
        assert!(!token.matches(b"0123456789abcdeF"));
        assert!(!token.matches(b"0123456789abcdef0"));
        assert!(!token.matches(b""));
        assert_eq!(format!("{token:?}"), "AdminToken(<redacted>)");
    }

    #[test]
    fn the_bearer_scheme_name_is_case_insensitive() {
        assert_eq!(bearer_credentials(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_credentials(b"bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_credentials(b"BEARER  abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_credentials(b"Bearerabc"), None);
        assert_eq!(bearer_credentials(b"Basic abc"), None);
        assert_eq!(bearer_credentials(b"Bear"), None);
        assert_eq!(bearer_credentials(b""), None);
    }
}
