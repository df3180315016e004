//! Sending one REST request: the HTTP(S) client of a dependency (rustls
//! with the ring provider, the system's roots and the dependency's CA, a
//! client certificate for mutual TLS) and the credentials added to a
//! request, read from the executor's environment at the time of the call.
//!
//! Credentials go only to the origin the component's manifest names: a
//! worker's endpoint override pointing elsewhere sends none.

use std::sync::Arc;
use std::time::Duration;

use reprise_grpc_stub::client::{ClientTls, resolve_auth};
use reprise_grpc_stub::config::{same_origin, tls::certificates};
use reprise_openapi::config::OpenApiDependencyConfig;
use reprise_openapi::runtime::{HttpRequest, HttpResponse};
use rustls::RootCertStore;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;

use crate::error::{Error, Result};

/// The header carrying a side-effecting request's idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// Largest response body read (larger ones fail the attempt).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Why a request brought no answer the guest can be given as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendFailure {
    /// No complete HTTP answer (refused, timed out, a TLS failure, a body
    /// that broke off): worth another attempt under a retry policy.
    #[error("{0}")]
    NoAnswer(String),
    /// The server answered, but its answer cannot be used (a body over
    /// [`MAX_BODY_BYTES`]): another attempt would get the same, so none is
    /// made.
    #[error("{0}")]
    Unusable(String),
    /// The request could not be made here (a credential variable is not
    /// set): nothing was sent and no attempt is retried. The message names
    /// the dependency.
    #[error("{0}")]
    Setup(String),
}

impl From<String> for SendFailure {
    fn from(message: String) -> Self {
        SendFailure::NoAnswer(message)
    }
}

/// Why a dependency's HTTP client could not be built (its TLS material),
/// in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
struct ClientSetup(String);

impl From<String> for ClientSetup {
    fn from(message: String) -> Self {
        ClientSetup(message)
    }
}

/// Makes ring the process's default rustls provider, once; later calls do
/// nothing. reqwest is built without a provider of its own (ring is the
/// workspace's one provider), so every process building a reqwest client
/// — the binary, tests, benches — calls this first.
pub fn install_crypto_provider() {
    #[allow(deprecated)] // ring lacks only post-quantum key exchange.
    let provider = rustls::crypto::ring::default_provider();
    // Err: a provider is installed already, which is what was wanted.
    let _ = provider.install_default();
}

/// The HTTP clients of one dependency: one with its client certificate,
/// for its own origin, one without, for endpoint overrides elsewhere.
#[derive(Debug, Clone)]
pub struct RestClient {
    config: Arc<OpenApiDependencyConfig>,
    /// The client for the configured origin: `Err` when its client key
    /// could not be read (the variable is unset, or holds no PEM key),
    /// refused at each call to that origin rather than at upload, so that
    /// an executor started without the variable still loads the component.
    own: std::result::Result<reqwest::Client, SendFailure>,
    anonymous: reqwest::Client,
}

impl RestClient {
    /// The clients of `config`; a bad TLS setting is refused naming the
    /// dependency (a client key that cannot be read is refused at each call
    /// instead).
    pub fn new(config: Arc<OpenApiDependencyConfig>) -> Result<RestClient> {
        let name = &config.name;
        let bad = |what: String| Error::InvalidComponent(format!("dependency `{name}`: {what}"));
        let tls = config.tls.clone().unwrap_or_default();
        if tls.server_name.is_some() {
            return Err(bad(
                "`tls.server-name` is not supported for OpenAPI dependencies; use a base URL \
                 whose host the server's certificate names"
                    .into(),
            ));
        }
        // The client key is read now, from the executor's environment; a
        // failure reaches the guest at its first call (as for gRPC).
        let own = ClientTls::resolve(name, &tls, |var| std::env::var(var).ok())
            .map_err(|e| e.to_string())
            .and_then(|resolved| build(&resolved, config.timeout_ms).map_err(|e| e.0))
            .map_err(|e| SendFailure::Setup(format!("dependency `{name}`: {e}")));
        let anonymous =
            build(&ClientTls::trust_only(&tls), config.timeout_ms).map_err(|e| bad(e.0))?;
        Ok(RestClient {
            config,
            own,
            anonymous,
        })
    }

    /// The dependency's configuration.
    pub fn config(&self) -> &OpenApiDependencyConfig {
        &self.config
    }

    /// Sends `request` to `base_url` (the configured one, or a worker's
    /// override) with `idempotency_key` when given, within `timeout`.
    /// `Err` is a failure without a usable HTTP answer, in words.
    /// Redirects are not followed: a 3xx is the answer.
    pub async fn send(
        &self,
        base_url: &str,
        request: &HttpRequest,
        idempotency_key: Option<&str>,
        timeout: Duration,
    ) -> std::result::Result<HttpResponse, SendFailure> {
        self.try_send(base_url, request, idempotency_key, timeout)
            .await
    }

    async fn try_send(
        &self,
        base_url: &str,
        request: &HttpRequest,
        idempotency_key: Option<&str>,
        timeout: Duration,
    ) -> std::result::Result<HttpResponse, SendFailure> {
        let config = &self.config;
        let own_origin = same_origin(base_url, &config.base_url);
        let client = if own_origin {
            self.own.as_ref().map_err(SendFailure::clone)?
        } else {
            &self.anonymous
        };
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| format!("`{}` is not an HTTP method", request.method))?;
        let url = format!(
            "{}{}",
            base_url.trim_end_matches('/'),
            request.path_and_query
        );
        let credential = match (&config.auth, own_origin) {
            // The operation says `security: []`.
            (Some(_), _) if request.anonymous => None,
            (Some(auth), true) => {
                let credential =
                    resolve_auth(&config.name, auth, &|var: &str| std::env::var(var).ok())
                        .and_then(|credential| credential.validate().map(|()| credential))
                        .map_err(|e| SendFailure::Setup(e.to_string()))?;
                Some(credential.header())
            }
            (Some(_), false) => {
                tracing::warn!(
                    dependency = %config.name,
                    base_url,
                    "endpoint override to another origin: the request carries no credentials"
                );
                None
            }
            (None, _) => None,
        };
        let mut builder = client.request(method, &url).timeout(timeout);
        for (name, value) in &request.headers {
            // A document that also declares its API-key header as a
            // parameter gives the guest a field for it: the manifest's
            // credential is the one sent, not a second header beside it.
            if credential
                .as_ref()
                .is_some_and(|(header, _)| header.eq_ignore_ascii_case(name))
            {
                continue;
            }
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(key) = idempotency_key {
            builder = builder.header(IDEMPOTENCY_KEY_HEADER, key);
        }
        if let Some((name, value)) = credential {
            builder = builder.header(name, value);
        }
        if let Some((content_type, body)) = &request.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                .body(body.clone());
        }
        let mut response = builder.send().await.map_err(|e| {
            // A request reqwest could not even build (a header name or
            // value HTTP cannot carry) never left: another attempt would
            // fail the same way.
            let builder = e.is_builder();
            let text = describe(e, &request.method, &url);
            if builder {
                SendFailure::Unusable(format!("{text} (nothing was sent)"))
            } else {
                SendFailure::NoAnswer(text)
            }
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let too_large = || {
            SendFailure::Unusable(format!(
                "{} {url}: the server answered {status} with a body larger than \
                 {MAX_BODY_BYTES} bytes (the limit); not retried",
                request.method
            ))
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(too_large());
        }
        // Read chunk by chunk, so a body without end stops at the limit
        // instead of filling memory until the timeout.
        let mut body = Vec::new();
        // Bounded by the body limit and the request's timeout.
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    let cause = describe(e, &request.method, &url);
                    return Err(SendFailure::NoAnswer(format!(
                        "{cause} (the server answered {status}, but its body broke off after \
                         {} bytes)",
                        body.len()
                    )));
                }
            }
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// A transport failure in words: the whole chain of causes, the URL once.
fn describe(error: reqwest::Error, method: &str, url: &str) -> String {
    let mut text = if error.is_timeout() {
        format!("{method} {url}: no answer within the timeout")
    } else if error.is_connect() {
        format!("{method} {url}: cannot connect")
    } else {
        format!("{method} {url}: the request failed")
    };
    let error = error.without_url();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A reqwest client trusting what `tls` says, with a `timeout_ms` default.
fn build(tls: &ClientTls, timeout_ms: u64) -> std::result::Result<reqwest::Client, ClientSetup> {
    let mut roots = RootCertStore::empty();
    if tls.system_roots {
        for cert in rustls_native_certs::load_native_certs().certs {
            // A system root rustls cannot use is skipped, as browsers do.
            let _ = roots.add(cert);
        }
    }
    if let Some(pem) = &tls.ca_pem {
        for cert in certificates(pem).map_err(|e| format!("tls.ca: {e}"))? {
            roots
                .add(cert)
                .map_err(|e| format!("tls.ca: a certificate is not usable as a root: {e}"))?;
        }
    }
    // ring is the one provider of the workspace (tonic's TLS uses it too);
    // rustls 0.23.48 deprecates it only for lacking post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots);
    let mut config = match &tls.identity {
        Some((cert, key)) => {
            let chain = certificates(cert).map_err(|e| format!("tls.client-cert: {e}"))?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| {
                format!(
                    "the client key is not a PEM private key: {}",
                    reprise_grpc_stub::config::tls::pem_problem(&e)
                )
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the client certificate and key do not fit: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    // This client speaks HTTP/1.1 (reqwest is built without HTTP/2).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        // A redirect would take the request, its idempotency key and the
        // client certificate to wherever the server says: the 3xx is the
        // answer instead (the guest sees it as an undeclared status).
        .redirect(reqwest::redirect::Policy::none())
        // Requests go to the manifest's origin only: a proxy named by the
        // environment (`HTTP_PROXY`, `ALL_PROXY`, ...) would see the
        // credentials and keys, and gRPC dependencies ignore it too.
        .no_proxy()
        .timeout(Duration::from_millis(timeout_ms))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| ClientSetup(format!("cannot build the HTTP client: {e}")))
}
