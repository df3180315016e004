//! TLS for the dynamic client: the rustls configuration of an `https`
//! endpoint built from [`ClientTls`], and the failures of a handshake told
//! in plain words (unknown CA, name mismatch, expired certificate, a server
//! that wants a client certificate, TLS spoken to a plaintext server or the
//! reverse) instead of the transport's chain of wrappers.

use rustls::CertificateError;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::Error;
use crate::client::options::ClientTls;

impl ClientTls {
    /// The system's roots, nothing else: what an `https` endpoint without
    /// TLS settings gets.
    pub fn system() -> Self {
        ClientTls {
            system_roots: true,
            ..ClientTls::default()
        }
    }
}

/// How long a TLS handshake may take when no connect timeout is set.
const DEFAULT_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The tonic TLS configuration for `tls`, verifying the server as `host`
/// unless `tls` names another server name; `endpoint` labels the error.
/// The handshake is bounded by `connect_timeout` (tonic bounds only the
/// TCP connection with it) or, without one, by 10 s.
pub(crate) fn client_tls_config(
    tls: &ClientTls,
    host: &str,
    endpoint: &str,
    connect_timeout: Option<std::time::Duration>,
) -> Result<ClientTlsConfig, Error> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut config = ClientTlsConfig::new()
        .domain_name(tls.server_name.as_deref().unwrap_or(host))
        .timeout(connect_timeout.unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT));
    if tls.system_roots {
        if !system_roots_available() {
            return Err(Error::InvalidEndpoint {
                endpoint: endpoint.to_owned(),
                reason: "the system's root certificates cannot be loaded on this machine; give \
                         the server's CA in the dependency's `tls.ca` (and `system-roots: false`)"
                    .into(),
            });
        }
        config = config.with_native_roots();
    }
    if let Some(ca) = &tls.ca_pem {
        config = config.ca_certificate(Certificate::from_pem(ca));
    }
    if let Some((cert, key)) = &tls.identity {
        config = config.identity(Identity::from_pem(cert, key));
    }
    Ok(config)
}

/// Whether the machine has root certificates to load (tonic refuses to
/// connect at all otherwise, with a less helpful message); looked up once,
/// where tonic looks.
fn system_roots_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| !rustls_native_certs::load_native_certs().certs.is_empty())
}

/// What a failed connection to `endpoint` means when TLS is (or may be)
/// involved, in plain words; `None` when `error` is not about TLS. A reset
/// or a protocol error from a plaintext endpoint gets a hint that the
/// server may speak TLS.
pub(crate) fn explain(error: &(dyn std::error::Error + 'static), endpoint: &str) -> Option<String> {
    let https = endpoint
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    let mut next = Some(error);
    let mut eof = false;
    let mut h2_protocol = false;
    let mut reset = false;
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(rustls_error(tls));
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                return Some(rustls_error(tls));
            }
            eof |= io.kind() == std::io::ErrorKind::UnexpectedEof;
            reset |= matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            );
        }
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            // h2 keeps the I/O error it saw without exposing it as a source.
            if let Some(tls) = h2
                .get_io()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                return Some(rustls_error(tls));
            }
            h2_protocol |= h2.is_go_away() || h2.reason().is_some();
        }
        let text = e.to_string();
        // An alert after the handshake (TLS 1.3 servers refuse a missing
        // client certificate then) reaches us as text only.
        if let Some(alert) = text.split("received fatal alert: ").nth(1) {
            let name: String = alert
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            return Some(alert_message(&name));
        }
        eof |= text.contains("eof") || text.contains("closed before");
        h2_protocol |= text.contains("frame with invalid size") || text.contains("protocol error");
        next = e.source();
    }
    if https && eof {
        return Some(
            "the TLS handshake failed: the server closed the connection (is it a plaintext \
             server? then use `http://`)"
                .into(),
        );
    }
    if !https && (eof || h2_protocol || reset) {
        let what = if reset {
            "the server reset the connection"
        } else {
            "the server does not speak plaintext HTTP/2"
        };
        return Some(format!("{what} (is it a TLS server? then use `https://`)"));
    }
    None
}

/// A rustls failure for people.
fn rustls_error(error: &rustls::Error) -> String {
    use rustls::Error as E;
    let cause = match error {
        E::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => {
                "the server's certificate is signed by an unknown CA (trust it with the \
                 dependency's `tls.ca`)"
                    .to_owned()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "the server's certificate is not valid for the name asked ({}); set \
                     `tls.server-name` to a name it carries",
                    describe_cert_error(cert)
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!(
                    "the server's certificate has expired ({})",
                    describe_cert_error(cert)
                )
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet".to_owned()
            }
            CertificateError::Revoked => "the server's certificate is revoked".to_owned(),
            // webpki's words, inside rustls' catch-all case.
            other if format!("{other:?}").contains("CaUsedAsEndEntity") => {
                "the server presents a CA certificate as its own (a self-signed CA?); give the \
                 server a certificate signed by a CA, and trust that CA"
                    .to_owned()
            }
            other => format!("the server's certificate is refused: {other}"),
        },
        E::AlertReceived(alert) => return alert_message(&format!("{alert:?}")),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            "the server did not answer the TLS handshake with TLS (is it a plaintext server? \
             then use `http://`)"
                .to_owned()
        }
        other => format!("TLS failed: {other}"),
    };
    format!("the TLS handshake failed: {cause}")
}

/// A fatal alert the server sent (named as rustls prints it), for people.
fn alert_message(alert: &str) -> String {
    let cause = match alert {
        "CertificateRequired" | "HandshakeFailure" | "BadCertificate" => {
            "the server requires a client certificate (mutual TLS) and got none or refused the \
             one given: set the dependency's `tls.client-cert` and `tls.client-key-env`"
                .to_owned()
        }
        "UnknownCA" => "the server does not trust the CA of the client certificate".to_owned(),
        "CertificateExpired" => "the server says the client certificate has expired".to_owned(),
        other => format!("the server refused the connection with TLS alert `{other}`"),
    };
    format!("the TLS handshake failed: {cause}")
}

/// The detail rustls gives about a certificate error, kept short.
fn describe_cert_error(error: &CertificateError) -> String {
    error.to_string()
}
