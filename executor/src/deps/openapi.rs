//! The OpenAPI dependency kind's configuration as this executor takes it:
//! the one shape defined in `reprise_openapi::config` (the CLI builds it
//! from the manifest and the document; the executor never reads either),
//! and what of it this executor cannot honour, refused at upload.

pub use reprise_openapi::config::OpenApiDependencyConfig;

use super::grpc::{check_endpoint_supported, check_retry};
use crate::error::{Error, Result};

/// Refuses what this executor cannot honour in `dependency`: a base URL
/// that is neither `http` nor `https` (or carries a query), a zero
/// timeout, a retry policy that cannot work, and a model without an
/// interface (nothing a component could import).
pub fn check_supported(dependency: &OpenApiDependencyConfig) -> Result<()> {
    let name = &dependency.name;
    check_endpoint_supported(name, &dependency.base_url)?;
    if dependency.base_url.contains(['?', '#']) {
        return Err(Error::InvalidComponent(format!(
            "dependency `{name}`: base URL `{}` has a query or fragment",
            dependency.base_url
        )));
    }
    if dependency.timeout_ms == 0 {
        return Err(Error::InvalidComponent(format!(
            "dependency `{name}`: the timeout must be positive"
        )));
    }
    super::grpc::check_auth(name, dependency.auth.as_ref())?;
    if dependency.openapi.interfaces.is_empty() {
        return Err(Error::InvalidComponent(format!(
            "dependency `{name}`: the OpenAPI document has no operations"
        )));
    }
    dependency
        .openapi
        .check_aliases()
        .map_err(|e| Error::InvalidComponent(format!("dependency `{name}`: {e}")))?;
    if let Some(tls) = &dependency.tls {
        tls.check(name)
            .map_err(|e| Error::InvalidComponent(e.to_string()))?;
        if !super::grpc::is_https(&dependency.base_url) {
            return Err(Error::InvalidComponent(format!(
                "dependency `{name}`: TLS settings are given but base URL `{}` is plaintext; \
                 use `https://`",
                dependency.base_url
            )));
        }
        if tls.server_name.is_some() {
            return Err(Error::Unsupported(format!(
                "dependency `{name}`: `tls.server-name` is not supported for OpenAPI \
                 dependencies; use a base URL whose host the server's certificate names"
            )));
        }
    }
    if let Some(retry) = &dependency.retry {
        check_retry(name, retry)?;
    }
    Ok(())
}
