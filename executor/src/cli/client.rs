//! A thin client of the admin API: sends a request, turns connection
//! failures and error responses into messages naming the server and the
//! server's own explanation.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::CliError;

/// How long a client waits for a connection to the executor.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client verb waits for the executor's answer unless
/// `--timeout` says otherwise (uploads compile the component first).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The API at one base URL.
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
    /// `--timeout`, when given.
    timeout: Option<Duration>,
}

impl Client {
    /// A client of the server `server` names, sending the admin token from
    /// the variable it names when that is set.
    pub fn new(server: &super::ServerArgs) -> anyhow::Result<Client> {
        let token = std::env::var(&server.admin_token_env)
            .ok()
            .filter(|t| !t.is_empty());
        if let Some(token) = &token
            && reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).is_err()
        {
            bail!(
                "the admin token in `{}` holds a character an HTTP header cannot carry (a line \
                 break or another control character, such as the `\\r` of a file saved with \
                 CRLF line ends); set the variable to the token alone",
                server.admin_token_env
            );
        }
        Self::with_token(&server.server, token, server.timeout)
    }

    /// A client of the server at `base` (`http://host:port`).
    fn with_token(
        base: &str,
        token: Option<String>,
        timeout: Option<Duration>,
    ) -> anyhow::Result<Client> {
        // Credentials in the URL are refused before anything else, and no
        // message repeats them.
        if let Some(shown) = without_credentials(base) {
            bail!(
                "--server `{shown}`: credentials in the URL are not sent; set the admin token's \
                 variable (--admin-token-env) instead"
            );
        }
        let given = base;
        let base = base.trim_end_matches('/').to_owned();
        if given == "http://" || given == "https://" {
            bail!("--server `{given}` has no host; write e.g. http://127.0.0.1:9090");
        }
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--server `{base}` must be an http:// URL such as http://127.0.0.1:9090");
        }
        if base.starts_with("https://") {
            bail!(
                "--server `{base}`: this client speaks plain http only; put TLS in front of the \
                 executor's API with a proxy and reach it over http on the same host"
            );
        }
        // Request paths are appended to the base: a query or fragment would
        // end up in the middle of each URL, credentials would be dropped.
        let uri: axum::http::Uri = base
            .parse()
            .map_err(|e| anyhow::anyhow!("--server `{base}` is not a URL: {e}"))?;
        match uri.authority() {
            None => bail!("--server `{base}` has no host; write e.g. http://127.0.0.1:9090"),
            Some(authority) if authority.host().is_empty() => {
                bail!("--server `{base}` has no host; write e.g. http://127.0.0.1:9090")
            }
            // (`Authority::port` is `None` for a port that is not a u16.)
            Some(authority)
                if authority
                    .as_str()
                    .rsplit_once(':')
                    .filter(|(_, port)| !port.contains(']'))
                    .is_some_and(|(_, port)| reprise_manifest::port_number(port).is_none()) =>
            {
                bail!("--server `{base}`: the port must be a number from 1 to 65535")
            }
            Some(_) => {}
        }
        if uri.query().is_some() || base.contains('#') {
            bail!("--server `{base}`: a query string or fragment is not allowed");
        }
        let http = reqwest::Client::builder()
            // `--server` is reached directly: a proxy from the environment
            // would see the admin token (and rarely reaches 127.0.0.1).
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Client {
            base,
            http,
            token,
            timeout,
        })
    }

    /// A request to `path` (starting with `/`), answered within `--timeout`
    /// (default 5 minutes).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_within(method, path, DEFAULT_TIMEOUT)
    }

    /// A request to `path` answered within `--timeout`, or `default`
    /// without one.
    pub fn request_within(&self, method: Method, path: &str, default: Duration) -> RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(self.timeout.unwrap_or(default));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends `request` and decodes a successful JSON response; an error
    /// status becomes an error carrying the server's message.
    pub async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> anyhow::Result<T> {
        let response = self.send_raw(request).await?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("reading the response from {}", self.base))?;
        serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "the server at {} answered {status} with a body that is not the expected JSON: {}",
                self.base,
                String::from_utf8_lossy(&bytes)
            )
        })
    }

    /// Sends `request`; returns the response if its status is a success.
    pub async fn send_raw(&self, request: RequestBuilder) -> anyhow::Result<Response> {
        let response = request.send().await.map_err(|e| {
            if e.is_connect() {
                anyhow!(
                    "cannot reach the executor at {}: {}; is `worker-executor serve` running \
                     there? (set the address with --server)",
                    self.base,
                    root_cause(&e)
                )
            } else if e.is_builder() {
                // Refused before anything left: no outcome to wonder about.
                anyhow!(
                    "the request to {} could not be made, so nothing was sent: {}",
                    self.base,
                    root_cause(&e)
                )
            } else if e.is_timeout() {
                anyhow::Error::new(CliError::NoAnswer(format!(
                    "the executor at {} did not answer in time (wait longer with --timeout)",
                    self.base
                )))
            } else {
                anyhow::Error::new(CliError::NoAnswer(format!(
                    "request to {} failed: {}",
                    self.base,
                    root_cause(&e)
                )))
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        let error = server_error(status, &body);
        if status == StatusCode::UNAUTHORIZED {
            return Err(error.context(
                "the executor requires its admin token: put it in REPRISE_ADMIN_TOKEN (or the \
                 variable --admin-token-env names)",
            ));
        }
        Err(error)
    }
}

/// Whether `error` carries an executor's answer with API error code `code`.
pub fn has_code(error: &anyhow::Error, code: &str) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<CliError>(),
            Some(CliError::Server { code: Some(c), .. }) if c == code
        )
    })
}

/// Whether `error` leaves the outcome of a request unknown: no answer came
/// (a timeout, a connection that broke), or the executor said so with the
/// `outcome_unknown` code (a commit it could not confirm, an owner that
/// stopped answering a forwarded request). Read from the code, not from the
/// message (a guest's own error may say anything), except from an executor
/// too old to send codes: a 503 without a code whose message is the one
/// those executors gave an unknown commit outcome (a guest's error is
/// never a 503).
pub fn outcome_unknown(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| match cause.downcast_ref::<CliError>() {
            Some(CliError::NoAnswer(_)) => true,
            Some(CliError::Server {
                code: Some(code), ..
            }) => code == reprise_executor::api::error::codes::OUTCOME_UNKNOWN,
            Some(CliError::Server {
                status,
                message,
                code: None,
            }) => {
                *status == StatusCode::SERVICE_UNAVAILABLE
                    && message.contains("the outcome of the")
                    && message.contains("is unknown")
            }
            Some(CliError::BadValue(_)) | None => false,
        })
}

/// The server's `{"error": ..., "code": ...}`, or the raw body.
fn server_error(status: StatusCode, body: &[u8]) -> anyhow::Error {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name).and_then(Value::as_str).map(str::to_owned))
    };
    let message = field("error").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    anyhow::Error::new(CliError::Server {
        status,
        message,
        code: field("code"),
    })
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// `base` with the credentials of its authority (`user:password@`) shown as
/// `***@`, when it has any; `None` when it has none.
fn without_credentials(base: &str) -> Option<String> {
    let (scheme, rest) = base.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let (_, host) = authority.rsplit_once('@')?;
    Some(format!("{scheme}://***@{host}{path}"))
}
