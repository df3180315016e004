//! The gRPC dependency kind's configuration as this executor takes it: the
//! one shape defined in `reprise_grpc_stub::config` (which the manifest
//! produces and the client is configured from), and what of it this
//! executor cannot honour yet, refused at upload.
//!
//! The CLI (`worker-executor component add --manifest ...`) has the manifest
//! compile the protos and build the configuration, and sends it as JSON; the
//! executor never reads `.proto` files or the manifest itself.

pub use reprise_grpc_stub::config::{AuthConfig, GrpcDependencyConfig, RetryConfig};

use crate::error::{Error, Result};

/// Refuses, with a message naming the setting, what this executor cannot
/// honour in `dependency`: an endpoint that is neither `http` nor `https`,
/// TLS settings that cannot work (bad PEM, TLS settings on a plaintext
/// endpoint) and a retry policy that cannot work. Checked at upload, so
/// nothing is dropped silently.
pub fn check_supported(dependency: &GrpcDependencyConfig) -> Result<()> {
    check_endpoint_supported(&dependency.name, &dependency.endpoint)?;
    if let Some(tls) = &dependency.tls {
        tls.check(&dependency.name)
            .map_err(|e| Error::InvalidComponent(e.to_string()))?;
        if !is_https(&dependency.endpoint) {
            return Err(Error::InvalidComponent(format!(
                "dependency `{}`: TLS settings are given but endpoint `{}` is plaintext; use \
                 `https://`",
                dependency.name, dependency.endpoint
            )));
        }
    }
    if let Some(retry) = &dependency.retry {
        check_retry(&dependency.name, retry)?;
    }
    check_connection(dependency)?;
    check_namespace(dependency)
}

/// Refuses a `wit` namespace that none of the exposed proto packages takes
/// (see `InterfaceModel::check_namespace`). At upload only: components
/// stored before this check still load.
fn check_namespace(dependency: &GrpcDependencyConfig) -> Result<()> {
    let Some(namespace) = &dependency.wit_namespace else {
        return Ok(());
    };
    let options = reprise_grpc_stub::model::ModelOptions {
        namespace: Some(namespace.clone()),
        version: None,
    };
    for modelled in crate::grpc::link::model_dependencies(std::slice::from_ref(dependency))? {
        modelled.model.check_namespace(&options).map_err(|e| {
            Error::InvalidComponent(format!("gRPC dependency `{}`: {e}", dependency.name))
        })?;
    }
    Ok(())
}

/// Refuses connection settings that cannot work, as the manifest does: a
/// zero connect timeout (every connection attempt would time out), keepalive
/// pings every 0 ms or timing out after 0 ms, and a message size limit
/// outside 1 byte to 1 GiB.
fn check_connection(dependency: &GrpcDependencyConfig) -> Result<()> {
    let bad = |what: String| {
        Err(Error::InvalidComponent(format!(
            "dependency `{}`: {what}",
            dependency.name
        )))
    };
    if dependency.connect_timeout_ms == Some(0) {
        return bad("`connect-timeout-ms` must be at least 1".into());
    }
    if let Some(keepalive) = &dependency.keepalive {
        if keepalive.interval_ms == 0 {
            return bad("`keepalive.interval-ms` must be at least 1".into());
        }
        if keepalive.timeout_ms == 0 {
            return bad("`keepalive.timeout-ms` must be at least 1".into());
        }
    }
    if let Some(size) = dependency.max_message_bytes
        && !(1..=reprise_manifest::MAX_MESSAGE_SIZE_LIMIT).contains(&size)
    {
        return bad(format!(
            "`max-message-bytes` {size} is outside 1 byte to 1 GiB ({})",
            reprise_manifest::MAX_MESSAGE_SIZE_LIMIT
        ));
    }
    Ok(())
}

/// Refuses a retry policy that cannot work: no attempt at all, a
/// multiplier below 1, back-offs out of order, or a status code name that
/// is not one of gRPC's (kebab-case, as the manifest writes them).
pub(crate) fn check_retry(dependency: &str, retry: &RetryConfig) -> Result<()> {
    let bad = |what: String| {
        Err(Error::InvalidComponent(format!(
            "dependency `{dependency}`: retry policy: {what}"
        )))
    };
    if retry.max_attempts == 0 {
        return bad("max-attempts must be at least 1".into());
    }
    if !(retry.multiplier.is_finite() && retry.multiplier >= 1.0) {
        return bad(format!(
            "multiplier {} must be at least 1",
            retry.multiplier
        ));
    }
    if retry.initial_backoff_ms > retry.max_backoff_ms {
        return bad(format!(
            "initial back-off {} ms exceeds the maximum {} ms",
            retry.initial_backoff_ms, retry.max_backoff_ms
        ));
    }
    let known: Vec<String> = reprise_grpc_stub::status::Code::ALL
        .iter()
        .map(|c| c.name().to_ascii_lowercase().replace('_', "-"))
        .collect();
    if let Some(unknown) = retry.retryable_codes.iter().find(|c| !known.contains(c)) {
        return bad(format!(
            "`{unknown}` is not a gRPC status code; use kebab-case names such as `unavailable`"
        ));
    }
    Ok(())
}

/// Refuses an endpoint this executor cannot call: one that is neither
/// `http://` nor `https://`.
pub fn check_endpoint_supported(dependency: &str, endpoint: &str) -> Result<()> {
    if endpoint.contains(|c: char| c == '\\' || c.is_whitespace() || c.is_control()) {
        return Err(Error::Unsupported(format!(
            "dependency `{dependency}`: endpoint `{}` holds a backslash, whitespace or a \
             control character, which URL parsers read differently",
            endpoint.escape_debug()
        )));
    }
    let authority = endpoint
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default());
    if authority.is_some_and(|a| a.contains('@')) {
        return Err(Error::Unsupported(format!(
            "dependency `{dependency}`: endpoint `{endpoint}` holds user information \
             (`user@`); give credentials in the manifest instead"
        )));
    }
    let neither = || {
        Err(Error::Unsupported(format!(
            "dependency `{dependency}`: endpoint `{endpoint}` is neither `http://host:port` \
             nor `https://host:port`"
        )))
    };
    let scheme = endpoint.split_once("://").map(|(scheme, _)| scheme);
    match scheme {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
        _ => return neither(),
    }
    match authority.and_then(host_and_port) {
        Some(_) => Ok(()),
        None => Err(Error::Unsupported(format!(
            "dependency `{dependency}`: endpoint `{endpoint}` has no host, or a port that is \
             not a number from 1 to 65535"
        ))),
    }
}

/// The host and port of an authority (`host`, `host:port`, `[v6]:port`),
/// or `None` when the host is empty or the port is not 1..=65535.
fn host_and_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0)?),
    };
    Some((host, port))
}

/// Whether `endpoint` is an `https://` URL.
pub fn is_https(endpoint: &str) -> bool {
    endpoint
        .split_once("://")
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(endpoint: &str, retry: Option<u32>) -> GrpcDependencyConfig {
        GrpcDependencyConfig {
            timeout_ms: 5000,
            retry: retry.map(|max_attempts| RetryConfig {
                max_attempts,
                initial_backoff_ms: 100,
                max_backoff_ms: 5000,
                multiplier: 2.0,
                retryable_codes: vec!["unavailable".into()],
            }),
            ..GrpcDependencyConfig::new("todo", Vec::new(), Vec::new(), endpoint)
        }
    }

    #[test]
    fn settings_the_executor_cannot_honour_are_refused() {
        assert!(check_supported(&dep("http://127.0.0.1:1", None)).is_ok());
        assert!(check_supported(&dep("http://127.0.0.1:1", Some(1))).is_ok());
        assert!(check_supported(&dep("HTTPS://routes.internal:8443", None)).is_ok());
        let odd = check_supported(&dep("ftp://routes.internal", None))
            .unwrap_err()
            .to_string();
        assert!(odd.contains("`todo`") && odd.contains("https://"), "{odd}");
        let mut plain = dep("http://127.0.0.1:1", None);
        plain.tls = Some(Default::default());
        let plain = check_supported(&plain).unwrap_err().to_string();
        assert!(plain.contains("plaintext"), "{plain}");
        assert!(check_supported(&dep("http://127.0.0.1:1", Some(3))).is_ok());
        let retry = check_supported(&dep("http://127.0.0.1:1", Some(0)))
            .unwrap_err()
            .to_string();
        assert!(retry.contains("max-attempts must be at least 1"), "{retry}");
        let mut odd = dep("http://127.0.0.1:1", Some(3));
        if let Some(policy) = &mut odd.retry {
            policy.retryable_codes = vec!["UNAVAILABLE".into()];
        }
        let odd = check_supported(&odd).unwrap_err().to_string();
        assert!(odd.contains("`UNAVAILABLE`"), "{odd}");
    }

    #[test]
    fn endpoints_url_parsers_read_differently_are_refused() {
        // reqwest's parser ends the authority at the backslash and sends
        // the request to evil.example; the origin check read todo.internal
        // and added the dependency's credentials.
        let err = check_endpoint_supported("todo", "http://evil.example\\@todo.internal")
            .unwrap_err()
            .to_string();
        assert!(err.contains("backslash"), "{err}");
        let err = check_endpoint_supported("todo", "http://user@todo.internal/v1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("user information"), "{err}");
        assert!(check_endpoint_supported("todo", "http://todo.internal /x").is_err());
        assert!(check_endpoint_supported("todo", "http://todo.internal/v1/a@b").is_ok());
    }

    #[test]
    fn an_endpoint_needs_a_host_and_a_port_that_can_be_dialled() {
        // OpenAPI base URLs and their overrides only had their scheme
        // checked: these were stored, and every call failed in the guest.
        for bad in [
            "http://",
            "http://:8080",
            "http://h:99999",
            "http://h:0",
            "http://h:",
            "https://[::1]x",
            "http://[]:80",
        ] {
            let error = check_endpoint_supported("api", bad)
                .expect_err(bad)
                .to_string();
            assert!(error.contains("dependency `api`"), "{error}");
            assert!(error.contains(bad), "{error}");
        }
        for good in [
            "http://h",
            "http://h:1",
            "https://api.example.com:443/v1",
            "http://[::1]:8080/base/",
            "http://[::1]",
        ] {
            check_endpoint_supported("api", good).expect(good);
        }
    }
}
