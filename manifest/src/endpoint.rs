//! gRPC endpoint URLs (`http://host:port` or `https://host:port`).

use std::fmt;
use std::str::FromStr;

use http::Uri;

/// A validated gRPC endpoint: scheme `http` (plaintext HTTP/2) or `https`
/// (TLS), a host, an optional port, and nothing else (no path, query,
/// fragment or credentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    uri: Uri,
}

impl Endpoint {
    /// The endpoint as an [`http::Uri`] (what tonic's `Endpoint` takes).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// True for `https` endpoints.
    pub fn is_tls(&self) -> bool {
        self.uri.scheme_str() == Some("https")
    }

    /// The host (IPv6 addresses keep their brackets).
    pub fn host(&self) -> &str {
        self.uri.host().unwrap_or_default()
    }

    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        self.uri.port_u16()
    }
}

/// The port `text` names: digits only (`str::parse` also takes a leading
/// `+`, which URL parsers refuse) making a number from 1 to 65535.
pub fn port_number(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|p| *p != 0)
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Uri` renders an empty path as `/`; print the form users write.
        let text = self.uri.to_string();
        f.write_str(text.strip_suffix('/').unwrap_or(&text))
    }
}

/// Why an endpoint string was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid endpoint `{text}`: {reason}")]
pub struct InvalidEndpoint {
    text: String,
    reason: String,
}

impl FromStr for Endpoint {
    type Err = InvalidEndpoint;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| InvalidEndpoint {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = text
            .parse()
            .map_err(|err: http::uri::InvalidUri| InvalidEndpoint {
                text: text.to_owned(),
                reason: format!("not a URL ({err}); write e.g. `http://127.0.0.1:50051`"),
            })?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            Some(_) => return Err(fail("the scheme must be `http` or `https`")),
            None => {
                return Err(fail(
                    "missing scheme; write `http://host:port` or `https://host:port`",
                ));
            }
        }
        let Some(authority) = uri.authority() else {
            return Err(fail("missing host"));
        };
        if authority.as_str().contains('@') {
            return Err(fail(
                "credentials in the URL are not allowed; use the `auth` key",
            ));
        }
        if authority.host().is_empty() {
            return Err(fail("missing host"));
        }
        let after_host = authority
            .as_str()
            .strip_prefix(authority.host())
            .unwrap_or_default();
        if let Some(port) = after_host.strip_prefix(':') {
            if port.is_empty() {
                return Err(fail("empty port"));
            }
            if port_number(port).is_none() {
                return Err(fail("the port must be between 1 and 65535"));
            }
        }
        if !matches!(uri.path(), "" | "/") {
            return Err(fail(
                "a path is not allowed; gRPC endpoints are `scheme://host:port`",
            ));
        }
        if uri.query().is_some() {
            return Err(fail("a query string is not allowed"));
        }
        // `Uri` drops a fragment without a word.
        if text.contains('#') {
            return Err(fail("a fragment (`#...`) is not allowed"));
        }
        Ok(Endpoint { uri })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_http_and_https() {
        let plain: Endpoint = "http://127.0.0.1:50051".parse().unwrap();
        assert!(!plain.is_tls());
        assert_eq!(plain.host(), "127.0.0.1");
        assert_eq!(plain.port(), Some(50051));
        assert_eq!(plain.to_string(), "http://127.0.0.1:50051");

        let tls: Endpoint = "https://api.example.com".parse().unwrap();
        assert!(tls.is_tls());
        assert_eq!(tls.port(), None);
        assert_eq!(tls.to_string(), "https://api.example.com");

        let v6: Endpoint = "http://[::1]:8080/".parse().unwrap();
        assert_eq!(v6.host(), "[::1]");
    }

    #[test]
    fn rejects_with_reasons() {
        let cases = [
            ("127.0.0.1:50051", "missing scheme"),
            ("ftp://host:21", "scheme must be `http` or `https`"),
            (
                "http://user:pw@host:1",
                "credentials in the URL are not allowed",
            ),
            ("http://host:1/api", "a path is not allowed"),
            ("http://host:1?x=1", "query string"),
            ("http://host:1#f", "fragment"),
            ("http://host:1/#", "fragment"),
            ("http://host:99999", "port must be between 1 and 65535"),
            ("http://host:0", "port must be between 1 and 65535"),
            ("http://host:+80", "port must be between 1 and 65535"),
            ("http://host:", "empty port"),
            ("not a url", "not a URL"),
            ("", "not a URL"),
        ];
        for (text, expected) in cases {
            let message = text.parse::<Endpoint>().unwrap_err().to_string();
            assert!(message.contains(expected), "{text:?}: {message}");
            assert!(
                message.starts_with(&format!("invalid endpoint `{text}`")),
                "{message}"
            );
        }
    }
}
