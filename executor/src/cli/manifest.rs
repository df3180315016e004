//! What the CLI takes from an application manifest: the gRPC dependency
//! configurations uploaded with a component (built by the manifest crate:
//! protos compiled to a self-contained descriptor set, auth as environment
//! variable names, never secret values), and the WIT those dependencies
//! import, rendered by the grpc-stub crate's one generator.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use reprise_executor::deps::GrpcDependencyConfig;
use reprise_grpc_stub::model::{Exposure, InterfaceModel, ModelOptions};
use reprise_manifest::{Component, GrpcDependency, Manifest, ParseOptions};

/// Loads `manifest` and returns the wasm path of `component` and its gRPC
/// dependencies, compiled.
pub fn dependencies_of(
    manifest: &Path,
    component: &str,
) -> anyhow::Result<(PathBuf, Vec<GrpcDependencyConfig>)> {
    let manifest = Manifest::load(manifest).map_err(|e| anyhow!("{e}"))?;
    let found = find(&manifest, component)?;
    let mut dependencies = Vec::new();
    for (_, grpc) in found.grpc_dependencies() {
        dependencies.push(grpc.config().map_err(|e| anyhow!("{e}"))?);
    }
    Ok((found.wasm.clone(), dependencies))
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

/// `worker-executor wit`: writes the WIT packages of every gRPC dependency
/// of `component` under `out`, and lists the files written.
pub fn write_wit(manifest: &Path, component: &str, out: &Path) -> anyhow::Result<()> {
    // The WIT is generated before the component is built: its wasm need not
    // exist yet (missing protos are still reported, by the compiler).
    let options = ParseOptions { check_files: false };
    let manifest = Manifest::load_with(manifest, &options).map_err(|e| anyhow!("{e}"))?;
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
