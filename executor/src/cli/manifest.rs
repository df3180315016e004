//! What the CLI takes from an application manifest: the gRPC dependency
//! configurations uploaded with a component (protos compiled to a
//! self-contained descriptor set; auth as environment variable names, never
//! secret values), and the WIT those dependencies import, rendered by the
//! grpc-stub crate's one generator.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use reprise_executor::deps::{AuthConfig, GrpcDependencyConfig, RetryConfig};
use reprise_grpc_stub::model::{Exposure, InterfaceModel, ModelOptions};
use reprise_manifest::{AuthScheme, Component, GrpcDependency, Manifest, RetryPolicy, Username};

/// Loads `manifest` and returns the wasm path of `component` and its gRPC
/// dependencies, compiled.
pub fn dependencies_of(
    manifest: &Path,
    component: &str,
) -> anyhow::Result<(PathBuf, Vec<GrpcDependencyConfig>)> {
    let manifest = Manifest::load(manifest).map_err(|e| anyhow!("{e}"))?;
    let found = find(&manifest, component)?;
    let mut dependencies = Vec::new();
    for (name, grpc) in found.grpc_dependencies() {
        let compiled = grpc.compile().map_err(|e| anyhow!("{e}"))?;
        dependencies.push(GrpcDependencyConfig {
            name: name.as_str().to_owned(),
            descriptor_set: compiled.descriptor_set_bytes,
            services: compiled.services,
            endpoint: grpc.endpoint.to_string(),
            timeout_ms: u64::try_from(grpc.timeout.as_millis()).unwrap_or(u64::MAX),
            auth: grpc
                .auth
                .as_ref()
                .map(|auth| auth_config(&auth.scheme))
                .transpose()
                .with_context(|| format!("dependency `{name}`"))?,
            wit_namespace: grpc.wit.namespace.as_ref().map(|n| n.as_str().to_owned()),
            wit_version: grpc.wit.version.as_ref().map(ToString::to_string),
            retry: grpc.retry_declared.then(|| retry_config(&grpc.retry)),
        });
    }
    Ok((found.wasm.clone(), dependencies))
}

fn retry_config(policy: &RetryPolicy) -> RetryConfig {
    let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    RetryConfig {
        max_attempts: policy.max_attempts,
        initial_backoff_ms: millis(policy.initial_backoff),
        max_backoff_ms: millis(policy.max_backoff),
        multiplier: policy.multiplier,
        retryable_codes: policy
            .retryable_codes
            .iter()
            .map(|code| code.name().to_owned())
            .collect(),
    }
}

fn find<'m>(manifest: &'m Manifest, component: &str) -> anyhow::Result<&'m Component> {
    manifest.component(component).ok_or_else(|| {
        let names: Vec<_> = manifest
            .components()
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        anyhow!(
            "{} declares no component `{component}` (it declares: {})",
            manifest.path().display(),
            names.join(", ")
        )
    })
}

fn auth_config(scheme: &AuthScheme) -> anyhow::Result<AuthConfig> {
    Ok(match scheme {
        AuthScheme::Bearer { token_env } => AuthConfig::Bearer {
            token_env: token_env.to_string(),
        },
        AuthScheme::Basic {
            username,
            password_env,
        } => {
            let (username, username_env) = match username {
                Username::Inline(name) => (Some(name.clone()), None),
                Username::Env(var) => (None, Some(var.to_string())),
            };
            AuthConfig::Basic {
                username,
                username_env,
                password_env: password_env.to_string(),
            }
        }
        AuthScheme::ApiKey { header, value_env } => AuthConfig::ApiKey {
            header: header.clone(),
            value_env: value_env.to_string(),
        },
        other => bail!("auth scheme {other:?} is not supported by this executor"),
    })
}

/// `worker-executor wit`: writes the WIT packages of every gRPC dependency
/// of `component` under `out`, and lists the files written.
pub fn write_wit(manifest: &Path, component: &str, out: &Path) -> anyhow::Result<()> {
    let manifest = Manifest::load(manifest).map_err(|e| anyhow!("{e}"))?;
    let found = find(&manifest, component)?;
    let grpc: Vec<_> = found.grpc_dependencies().collect();
    if grpc.is_empty() {
        bail!("component `{component}` has no gRPC dependencies; there is no WIT to generate");
    }
    for (name, dependency) in grpc {
        let written = wit_of(dependency, out).with_context(|| format!("dependency `{name}`"))?;
        for path in written {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

fn wit_of(dependency: &GrpcDependency, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let compiled = dependency.compile().map_err(|e| anyhow!("{e}"))?;
    let exposures: Vec<Exposure> = compiled
        .services
        .iter()
        .cloned()
        .map(Exposure::Service)
        .collect();
    let options = ModelOptions {
        namespace: dependency
            .wit
            .namespace
            .as_ref()
            .map(|n| n.as_str().to_owned()),
        version: dependency.wit.version.clone(),
    };
    let model =
        InterfaceModel::build(&compiled.pool, &exposures, &options).map_err(|e| anyhow!("{e}"))?;
    let files = reprise_grpc_stub::wit::render(&model);
    reprise_grpc_stub::wit::write_files(out, &files).map_err(|e| anyhow!("{e}"))
}
