//! TLS settings of a gRPC dependency (`tls:` in the manifest), as carried
//! from the manifest through the admin API into the executor's store: the
//! PEM texts of extra trusted roots and of the client certificate chain are
//! embedded; the client's private key is only the name of an environment
//! variable of the executor, read when a call is made, never stored.
//!
//! [`TlsConfig::check`] is the one validation of these settings (the
//! manifest runs it on the files it embeds, the executor again at upload):
//! every PEM block must parse, a client certificate needs its key and the
//! reverse, and trusting no root at all is refused.

use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use crate::Error;

/// How a dependency's TLS connections are verified and authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TlsConfig {
    /// Extra trusted root certificates, PEM text (one or more blocks).
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// Whether the system's root certificates are trusted (default true).
    #[serde(default = "yes")]
    pub system_roots: bool,
    /// The name the server's certificate must carry, and the SNI sent,
    /// when it differs from the endpoint's host.
    #[serde(default)]
    pub server_name: Option<String>,
    /// The client certificate chain for mutual TLS, PEM text.
    #[serde(default)]
    pub client_cert_pem: Option<String>,
    /// The environment variable of the executor holding the client's
    /// private key (PEM text) for mutual TLS.
    #[serde(default)]
    pub client_key_env: Option<String>,
}

fn yes() -> bool {
    true
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca_pem: None,
            system_roots: true,
            server_name: None,
            client_cert_pem: None,
            client_key_env: None,
        }
    }
}

impl TlsConfig {
    /// Refuses settings that cannot work, naming `dependency` and the
    /// setting: unparsable PEM, a client certificate without its key (or
    /// the reverse), no trusted root at all, a bad server name.
    pub fn check(&self, dependency: &str) -> Result<(), Error> {
        let bad = |reason: String| Error::InvalidTls {
            dependency: dependency.to_owned(),
            reason,
        };
        if let Some(pem) = &self.ca_pem {
            certificates(pem).map_err(|e| bad(format!("`ca`: {e}")))?;
        } else if !self.system_roots {
            return Err(bad(
                "`system-roots: false` without `ca` would trust no server at all; give the CA \
                 that signed the server's certificate in `ca`"
                    .into(),
            ));
        }
        if let Some(pem) = &self.client_cert_pem {
            certificates(pem).map_err(|e| bad(format!("`client-cert`: {e}")))?;
        }
        match (&self.client_cert_pem, &self.client_key_env) {
            (Some(_), None) => {
                return Err(bad(
                    "`client-cert` is given without `client-key-env` naming the variable that \
                     holds its private key"
                        .into(),
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "`client-key-env` is given without the `client-cert` it belongs to".into(),
                ));
            }
            _ => {}
        }
        if let Some(name) = &self.server_name
            && rustls_pki_types::ServerName::try_from(name.as_str()).is_err()
        {
            return Err(bad(format!(
                "`server-name` `{name}` is not a DNS name or IP address"
            )));
        }
        Ok(())
    }
}

/// The certificates of a PEM text: at least one, every block parsable,
/// and no private key among them (a file holding a certificate and its key
/// would otherwise be embedded, key included, in the stored dependency).
/// The error ([`Error::InvalidPem`]) says what is wrong with the text
/// without quoting it.
pub fn certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let mut out = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem.as_bytes()) {
        let (kind, der) = section.map_err(|e| Error::InvalidPem {
            reason: format!("not valid PEM: {}", pem_problem(&e)),
        })?;
        match kind {
            SectionKind::Certificate => out.push(CertificateDer::from(der)),
            SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey => {
                return Err(Error::InvalidPem {
                    reason: "holds a private key block; only certificates belong here \
                             (the client's key is read from the variable `client-key-env` names)"
                        .into(),
                });
            }
            _ => {}
        }
    }
    if out.is_empty() {
        return Err(Error::InvalidPem {
            reason: "holds no `-----BEGIN CERTIFICATE-----` block".into(),
        });
    }
    Ok(out)
}

/// What is wrong with a PEM text, in words that never quote it: the
/// parser's own messages carry the offending line or block as bytes, which
/// for a private key is the key.
pub fn pem_problem(e: &rustls_pki_types::pem::Error) -> &'static str {
    use rustls_pki_types::pem::Error as Pem;
    match e {
        Pem::NoItemsFound => "no PEM block of the expected kind",
        Pem::MissingSectionEnd { .. } => {
            "a `-----BEGIN ...-----` line has no matching `-----END ...-----` line \
             (PEM needs its line breaks: a value written on one line, or with `\\n` \
             in place of line breaks, is not PEM)"
        }
        Pem::IllegalSectionStart { .. } => {
            "a `-----BEGIN ...-----` line is malformed \
             (PEM needs its line breaks: a value written on one line, or with `\\n` \
             in place of line breaks, is not PEM)"
        }
        Pem::Base64Decode(_) => "the body of a block is not valid base64",
        Pem::SectionTooLarge => "a block is larger than 256 MB",
        _ => "the text cannot be read as PEM",
    }
}

/// Checks that `pem` (a client key read from `variable`) holds a private
/// key; neither the key nor any part of it appears in the message.
pub fn check_private_key(dependency: &str, variable: &str, pem: &str) -> Result<(), Error> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map(drop)
        .map_err(|e| Error::InvalidTls {
            dependency: dependency.to_owned(),
            reason: format!(
                "environment variable `{variable}` does not hold a PEM private key ({})",
                match e {
                    rustls_pki_types::pem::Error::NoItemsFound =>
                        "no `-----BEGIN ... PRIVATE KEY-----` block",
                    other => pem_problem(&other),
                }
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOT_A_CERT: &str = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";

    #[test]
    fn bad_settings_are_refused_with_the_setting_named() {
        let check = |tls: TlsConfig| tls.check("routes").unwrap_err().to_string();
        let err = check(TlsConfig {
            system_roots: false,
            ..TlsConfig::default()
        });
        assert!(
            err.contains("`routes`") && err.contains("trust no server"),
            "{err}"
        );
        let err = check(TlsConfig {
            ca_pem: Some("hello".into()),
            ..TlsConfig::default()
        });
        assert!(
            err.contains("`ca`") && err.contains("no `-----BEGIN"),
            "{err}"
        );
        let err = check(TlsConfig {
            ca_pem: Some(NOT_A_CERT.into()),
            ..TlsConfig::default()
        });
        assert!(
            err.contains("`ca`") && err.contains("not valid PEM"),
            "{err}"
        );
        let err = check(TlsConfig {
            client_key_env: Some("REPRISE_SECRET_KEY".into()),
            ..TlsConfig::default()
        });
        assert!(err.contains("without the `client-cert`"), "{err}");
        let err = check(TlsConfig {
            server_name: Some("not a name!".into()),
            ..TlsConfig::default()
        });
        assert!(err.contains("`server-name`"), "{err}");
        assert!(TlsConfig::default().check("routes").is_ok());
    }

    #[test]
    fn a_key_variable_without_a_key_is_named_not_shown() {
        let err = check_private_key("routes", "REPRISE_SECRET_KEY", "s3cret-not-a-key")
            .unwrap_err()
            .to_string();
        assert!(err.contains("REPRISE_SECRET_KEY"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    /// A key written on one line (literal `\n`, as `--env-file` keeps it)
    /// or with a broken block: the parser's messages quote the line or the
    /// block as bytes, which must not reach the error.
    #[test]
    fn a_malformed_key_is_not_quoted_in_any_form() {
        let body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC";
        let bytes_of_body = format!("{:?}", &body.as_bytes()[..6]);
        let bytes_of_body = bytes_of_body.trim_matches(|c| c == '[' || c == ']');
        for pem in [
            format!("-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----\\n"),
            format!("-----BEGIN PRIVATE KEY-----\n{body}\n"),
            format!("-----BEGIN PRIVATE KEY-----\n{body}!!\n-----END PRIVATE KEY-----\n"),
            format!("-----BEGIN PRIVATE KEY {body}\n{body}\n-----END PRIVATE KEY-----\n"),
        ] {
            let err = check_private_key("routes", "REPRISE_SECRET_KEY", &pem)
                .unwrap_err()
                .to_string();
            assert!(err.contains("REPRISE_SECRET_KEY"), "{err}");
            assert!(
                !err.contains(body) && !err.contains(&body[..8]) && !err.contains(bytes_of_body),
                "the key leaked: {err}"
            );
        }
        for one_line in [
            format!("-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----"),
            format!("-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----\\n"),
        ] {
            let err = check_private_key("routes", "REPRISE_SECRET_KEY", &one_line)
                .unwrap_err()
                .to_string();
            assert!(err.contains("line breaks"), "{err}");
        }
    }

    /// A certificate file that also holds the key is refused: embedding it
    /// would store and upload the key.
    #[test]
    fn a_certificate_file_holding_a_key_is_refused() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let bundle = format!("{}{}", cert.cert.pem(), cert.signing_key.serialize_pem());
        assert!(certificates(&cert.cert.pem()).is_ok());
        let err = certificates(&bundle).unwrap_err().to_string();
        assert!(err.contains("private key"), "{err}");
        for tls in [
            TlsConfig {
                ca_pem: Some(bundle.clone()),
                ..TlsConfig::default()
            },
            TlsConfig {
                client_cert_pem: Some(bundle.clone()),
                client_key_env: Some("REPRISE_SECRET_KEY".into()),
                ..TlsConfig::default()
            },
        ] {
            let err = tls.check("routes").unwrap_err().to_string();
            assert!(err.contains("private key"), "{err}");
        }
    }
}
