//! Certificates generated in the test (rcgen) and gRPC servers speaking
//! TLS with them: a private CA, server certificates for loopback or for
//! another name, an expired one, and a client CA for mutual TLS.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::Error;
use crate::greeter::greeter_service;
use crate::server::{TestServer, spawn_with};
use crate::state::ServerState;

/// A certificate with its private key, PEM.
#[derive(Debug, Clone)]
pub struct CertifiedKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
}

/// A certificate authority able to sign server and client certificates.
pub struct TestCa {
    /// The CA's own certificate, PEM: what a client (or server) trusts.
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

fn rcgen_error(e: rcgen::Error) -> Error {
    Error::Serve(format!("cannot generate a test certificate: {e}"))
}

impl TestCa {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Result<TestCa, Error> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_error)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(rcgen_error)?;
        let cert = params.self_signed(&key).map_err(rcgen_error)?;
        Ok(TestCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[&str]) -> Result<CertifiedKey, Error> {
        self.sign(names, ExtendedKeyUsagePurpose::ServerAuth, false)
    }

    /// A server certificate for `names` that expired a year ago.
    pub fn expired_server(&self, names: &[&str]) -> Result<CertifiedKey, Error> {
        self.sign(names, ExtendedKeyUsagePurpose::ServerAuth, true)
    }

    /// A client certificate (for mutual TLS) named `name`.
    pub fn client(&self, name: &str) -> Result<CertifiedKey, Error> {
        self.sign(&[name], ExtendedKeyUsagePurpose::ClientAuth, false)
    }

    fn sign(
        &self,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
        expired: bool,
    ) -> Result<CertifiedKey, Error> {
        let mut params = CertificateParams::default();
        params.subject_alt_names = names
            .iter()
            .map(|name| match name.parse() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => (*name).try_into().map(SanType::DnsName),
            })
            .collect::<Result<_, _>>()
            .map_err(rcgen_error)?;
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().map_err(rcgen_error)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(rcgen_error)?;
        Ok(CertifiedKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Starts an `example.Greeter` server (as
/// [`spawn_greeter_server`](crate::spawn_greeter_server)) speaking TLS with
/// `identity`; with `client_ca`, it requires a client certificate signed by
/// that CA. Its [`TestServer::endpoint`] is `https://127.0.0.1:<port>`.
pub async fn spawn_tls_greeter_server(
    identity: &CertifiedKey,
    client_ca: Option<&str>,
) -> Result<TestServer, Error> {
    let state = Arc::new(ServerState::default());
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(
        identity.cert_pem.as_bytes(),
        identity.key_pem.as_bytes(),
    ));
    if let Some(ca) = client_ca {
        tls = tls.client_ca_root(Certificate::from_pem(ca));
    }
    spawn_with(greeter_service(state.clone(), false), state, Some(tls)).await
}
