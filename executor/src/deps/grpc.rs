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
    check_auth(&dependency.name, dependency.auth.as_ref())?;
    check_read_only_methods(dependency)?;
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
    // The bounds a manifest's `retry` is read with.
    let attempts = reprise_manifest::RetryPolicy::MAX_ATTEMPTS_LIMIT;
    if !(1..=attempts).contains(&retry.max_attempts) {
        return bad(format!(
            "max-attempts must be between 1 and {attempts}, got {}",
            retry.max_attempts
        ));
    }
    let multiplier = reprise_manifest::RetryPolicy::MAX_MULTIPLIER;
    if !(retry.multiplier.is_finite() && (1.0..=multiplier).contains(&retry.multiplier)) {
        return bad(format!(
            "multiplier must be between 1.0 and {multiplier:.1}, got {}",
            retry.multiplier
        ));
    }
    if retry.initial_backoff_ms == 0 || retry.max_backoff_ms == 0 {
        return bad(
            "back-offs must be at least 1 ms (retrying at once would hammer a server that \
             is down)"
                .into(),
        );
    }
    if retry.initial_backoff_ms > retry.max_backoff_ms {
        return bad(format!(
            "initial back-off {} ms exceeds the maximum {} ms",
            retry.initial_backoff_ms, retry.max_backoff_ms
        ));
    }
    let mut seen = Vec::new();
    for code in &retry.retryable_codes {
        // Kebab-case, as stored; `ok` is no failure to retry.
        let parsed = code
            .parse::<reprise_manifest::StatusCode>()
            .ok()
            .filter(|parsed| parsed.to_string() == *code);
        let Some(parsed) = parsed else {
            return bad(format!(
                "`{code}` is not a gRPC error status code; use kebab-case names such as \
                 `unavailable`"
            ));
        };
        if seen.contains(&parsed) {
            return bad(format!("status code `{code}` is listed twice"));
        }
        seen.push(parsed);
    }
    Ok(())
}

/// Refuses credentials a manifest's `auth` would refuse (see
/// [`reprise_manifest::auth_config_problem`]).
pub(crate) fn check_auth(dependency: &str, auth: Option<&AuthConfig>) -> Result<()> {
    match auth.and_then(reprise_manifest::auth_config_problem) {
        Some(problem) => Err(Error::InvalidComponent(format!(
            "dependency `{dependency}`: auth: {problem}"
        ))),
        None => Ok(()),
    }
}

/// Refuses `read-only-methods` naming no unary method of the dependency's
/// services, as a manifest does: the setting would silently do nothing.
fn check_read_only_methods(dependency: &GrpcDependencyConfig) -> Result<()> {
    if dependency.read_only_methods.is_empty() {
        return Ok(());
    }
    let pool = prost_reflect::DescriptorPool::decode(dependency.descriptor_set.as_slice())
        .map_err(|e| {
            Error::InvalidComponent(format!(
                "dependency `{}`: its descriptor set does not decode: {e}",
                dependency.name
            ))
        })?;
    let unary: Vec<(String, String)> = dependency
        .services
        .iter()
        .filter_map(|service| pool.get_service_by_name(service))
        .flat_map(|service| service.methods().collect::<Vec<_>>())
        .filter(|m| !m.is_client_streaming() && !m.is_server_streaming())
        .map(|m| (m.name().to_owned(), m.full_name().to_owned()))
        .collect();
    for name in &dependency.read_only_methods {
        if !unary
            .iter()
            .any(|(short, full)| short == name || full == name)
        {
            let known: Vec<&str> = unary.iter().map(|(short, _)| short.as_str()).collect();
            return Err(Error::InvalidComponent(format!(
                "dependency `{}`: read-only method `{name}` is not a unary method of its \
                 services (they have: {})",
                dependency.name,
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
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
        Some(p) => Some(reprise_manifest::port_number(p)?),
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
        assert!(
            retry.contains("max-attempts must be between 1 and 100"),
            "{retry}"
        );
        let mut odd = dep("http://127.0.0.1:1", Some(3));
        if let Some(policy) = &mut odd.retry {
            policy.retryable_codes = vec!["UNAVAILABLE".into()];
        }
        let odd = check_supported(&odd).unwrap_err().to_string();
        assert!(odd.contains("`UNAVAILABLE`"), "{odd}");
    }

    /// What a manifest refuses is refused in an upload too (the admin API
    /// takes these settings as JSON, without the manifest's reader).
    #[test]
    fn uploads_get_the_manifest_s_checks_of_retries_credentials_and_read_only_methods() {
        let refused = |change: &dyn Fn(&mut GrpcDependencyConfig), expected: &str| {
            let mut dependency = dep("http://127.0.0.1:1", Some(3));
            change(&mut dependency);
            let message = check_supported(&dependency)
                .expect_err(expected)
                .to_string();
            assert!(message.contains(expected), "{expected}: {message}");
        };
        let retry = |change: fn(&mut RetryConfig)| {
            move |d: &mut GrpcDependencyConfig| change(d.retry.as_mut().unwrap())
        };
        refused(
            &retry(|r| r.max_attempts = u32::MAX),
            "max-attempts must be between 1 and 100",
        );
        refused(
            &retry(|r| r.multiplier = 1e300),
            "multiplier must be between",
        );
        refused(
            &retry(|r| {
                r.initial_backoff_ms = 0;
                r.max_backoff_ms = 0;
            }),
            "at least 1 ms",
        );
        refused(
            &retry(|r| r.retryable_codes = vec!["ok".into()]),
            "`ok` is not a gRPC error status code",
        );
        refused(
            &retry(|r| r.retryable_codes = vec!["unavailable".into(), "unavailable".into()]),
            "listed twice",
        );
        let auth =
            |auth: AuthConfig| move |d: &mut GrpcDependencyConfig| d.auth = Some(auth.clone());
        refused(
            &auth(AuthConfig::ApiKey {
                header: "idempotency-key".into(),
                value_env: "REPRISE_SECRET_K".into(),
            }),
            "the executor sets",
        );
        refused(
            &auth(AuthConfig::ApiKey {
                header: "Content-Type".into(),
                value_env: "REPRISE_SECRET_K".into(),
            }),
            "invalid API-key header `Content-Type`",
        );
        refused(
            &auth(AuthConfig::Basic {
                username: Some("me".into()),
                username_env: Some("REPRISE_SECRET_U".into()),
                password_env: "REPRISE_SECRET_P".into(),
            }),
            "not both",
        );
        refused(
            &auth(AuthConfig::Basic {
                username: None,
                username_env: None,
                password_env: "REPRISE_SECRET_P".into(),
            }),
            "missing `username`",
        );
        refused(
            &auth(AuthConfig::Basic {
                username: Some("a:b".into()),
                username_env: None,
                password_env: "REPRISE_SECRET_P".into(),
            }),
            "must not be empty or contain `:`",
        );
        refused(
            &|d: &mut GrpcDependencyConfig| d.read_only_methods = vec!["GetFeatur".into()],
            "read-only method `GetFeatur` is not a unary method",
        );
        let mut fine = dep("http://127.0.0.1:1", Some(3));
        fine.auth = Some(AuthConfig::ApiKey {
            header: "x-api-key".into(),
            value_env: "REPRISE_SECRET_K".into(),
        });
        check_supported(&fine).expect("a valid API key");
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
            // `str::parse` takes the sign; reqwest's URL parser does not.
            "http://h:+80",
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
