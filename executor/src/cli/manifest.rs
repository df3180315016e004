//! What the CLI takes from an application manifest: the dependency
//! configurations uploaded with a component, built by the manifest crate
//! (gRPC: protos compiled to a self-contained descriptor set; OpenAPI: the
//! document read into its model; auth as environment variable names, never
//! secret values), and the WIT those dependencies import, rendered by the
//! grpc-stub and openapi crates' generators.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use prost_reflect::DescriptorPool;
use reprise_executor::components::limits::ComponentLimits;
use reprise_executor::deps::{DependencyConfig, GrpcDependencyConfig, OpenApiDependencyConfig};
use reprise_grpc_stub::client::reflection;
use reprise_grpc_stub::client::{ClientConfig, ClientTls};
use reprise_grpc_stub::model::{Exposure, InterfaceModel, ModelOptions};
use reprise_grpc_stub::wit::WitFile;
use reprise_manifest::{CompiledGrpcDependency, Component, GrpcDependency, Manifest, ParseOptions};

/// What `component add --manifest` uploads for one component.
#[derive(Debug)]
pub struct Upload {
    /// Path of the wasm file.
    pub wasm: PathBuf,
    /// Its dependencies, ready to send.
    pub dependencies: Vec<DependencyConfig>,
    /// The limits it sets for its workers.
    pub limits: ComponentLimits,
}

/// Loads `manifest` and returns the wasm path of `component`, its limits
/// and its dependencies: gRPC ones with their protos compiled (or fetched
/// by reflection), OpenAPI ones with their documents read into models.
pub async fn upload_of(manifest: &Path, component: &str) -> anyhow::Result<Upload> {
    let manifest = Manifest::load(manifest).map_err(|e| anyhow!("{e}"))?;
    let found = find(&manifest, component)?;
    let mut dependencies = Vec::new();
    for dependency in &found.dependencies {
        if let Some(grpc) = dependency.kind.as_grpc() {
            let compiled = compiled(grpc)
                .await
                .with_context(|| format!("dependency `{}`", dependency.name))?;
            let config: GrpcDependencyConfig =
                grpc.config_from(compiled).map_err(|e| anyhow!("{e}"))?;
            dependencies.push(config.into());
        } else if let Some(api) = dependency.kind.as_openapi() {
            let config: OpenApiDependencyConfig = api.config().map_err(|e| anyhow!("{e}"))?;
            dependencies.push(config.into());
        }
    }
    let limits = ComponentLimits {
        time_budget_ms: found
            .limits
            .time_budget
            .map(|budget| u64::try_from(budget.as_millis()).unwrap_or(u64::MAX)),
        memory_bytes: found.limits.memory,
    };
    Ok(Upload {
        wasm: found.wasm.clone(),
        dependencies,
        limits,
    })
}

/// The dependency's descriptors: its protos compiled, or, with
/// `reflection: true`, fetched from its endpoint's server reflection (over
/// TLS with its `tls` settings, the client key read from this process's
/// environment).
async fn compiled(dependency: &GrpcDependency) -> anyhow::Result<CompiledGrpcDependency> {
    if !dependency.reflection {
        return dependency.compile().map_err(|e| anyhow!("{e}"));
    }
    let name = dependency.owner.dependency.as_str();
    let tls = match &dependency.tls {
        Some(tls) => {
            let config = tls.config(&dependency.owner).map_err(|e| anyhow!("{e}"))?;
            Some(
                ClientTls::resolve(name, &config, |var| std::env::var(var).ok())
                    .map_err(|e| anyhow!("{e}"))?,
            )
        }
        None => None,
    };
    let config = ClientConfig {
        tls,
        connect_timeout: Some(std::time::Duration::from_secs(10)),
        default_timeout: Some(std::time::Duration::from_secs(30)),
        ..ClientConfig::default()
    };
    let endpoint = dependency.endpoint.to_string();
    let owner = &dependency.owner;
    let reflected = reflection::fetch(&endpoint, config, dependency.services.as_deref())
        .await
        .map_err(|e| anyhow!("{owner}: {e}"))?;
    let pool = reflected.pool().map_err(|e| anyhow!("{owner}: {e}"))?;
    Ok(CompiledGrpcDependency {
        descriptor_set_bytes: reflected.descriptor_set_bytes(),
        pool,
        services: reflected.services,
    })
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
pub async fn write_wit(manifest: &Path, component: &str, out: &Path) -> anyhow::Result<()> {
    // The WIT is generated before the component is built: its wasm need not
    // exist yet (missing protos are still reported, by the compiler).
    let options = ParseOptions { check_files: false };
    let manifest = Manifest::load_with(manifest, &options).map_err(|e| anyhow!("{e}"))?;
    let found = find(&manifest, component)?;
    let grpc: Vec<_> = found.grpc_dependencies().collect();
    let openapi: Vec<_> = found
        .dependencies
        .iter()
        .filter_map(|d| Some((&d.name, d.kind.as_openapi()?)))
        .collect();
    if grpc.is_empty() && openapi.is_empty() {
        bail!(
            "component `{component}` has no gRPC or OpenAPI dependencies; there is no WIT to generate"
        );
    }
    // Every file is rendered before any is written, so that no package
    // overwrites another's (two dependencies mapped to one WIT package).
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    let mut rest_files = Vec::new();
    for (name, dependency) in &openapi {
        let model = dependency
            .model()
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("dependency `{name}`"))?;
        let package = format!("{}:{}", model.namespace, model.name);
        claim(&mut owners, &package, name.as_str())?;
        let path = PathBuf::from(format!("{}-{}", model.namespace, model.name))
            .join(format!("{}.wit", model.name));
        rest_files.push((path, reprise_openapi::wit::render(&model)));
    }
    let mut grpc_files = Vec::new();
    if !grpc.is_empty() {
        let mut parts = Vec::new();
        for (name, dependency) in grpc {
            // Its errors name the dependency and the component already.
            parts.push(WitPart::compile(name.as_str(), dependency).await?);
        }
        grpc_files = wit_files(&parts)?;
        let grpc_names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
        for file in &grpc_files {
            let package = file.package.split('@').next().unwrap_or(&file.package);
            if let Some(rest) = owners.get(package) {
                bail!(
                    "OpenAPI dependency `{rest}` and the gRPC dependencies ({}) both generate \
                     WIT package `{package}`; give one of them another WIT name (its `wit` \
                     override in the manifest)",
                    grpc_names.join(", ")
                );
            }
        }
    }
    for (path, text) in rest_files {
        let path = out.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if !grpc_files.is_empty() {
        let written =
            reprise_grpc_stub::wit::write_files(out, &grpc_files).map_err(|e| anyhow!("{e}"))?;
        for path in written {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// Notes that OpenAPI dependency `name` generates WIT `package`; refuses a
/// package another one generates already.
fn claim(owners: &mut BTreeMap<String, String>, package: &str, name: &str) -> anyhow::Result<()> {
    if let Some(other) = owners.insert(package.to_owned(), name.to_owned()) {
        bail!(
            "dependencies `{other}` and `{name}` both generate WIT package `{package}`; give one \
             of them another WIT name (its `wit` override in the manifest)"
        );
    }
    Ok(())
}

/// One dependency's descriptors, services and WIT options.
struct WitPart {
    name: String,
    pool: DescriptorPool,
    services: Vec<String>,
    options: ModelOptions,
}

impl WitPart {
    async fn compile(name: &str, dependency: &GrpcDependency) -> anyhow::Result<WitPart> {
        let compiled = compiled(dependency).await?;
        Ok(WitPart {
            name: name.to_owned(),
            pool: compiled.pool,
            services: compiled.services,
            options: ModelOptions {
                namespace: dependency
                    .wit
                    .namespace
                    .as_ref()
                    .map(|n| n.as_str().to_owned()),
                version: dependency.wit.version.clone(),
            },
        })
    }
}

fn render(
    pool: &DescriptorPool,
    services: &[String],
    options: &ModelOptions,
) -> anyhow::Result<Vec<WitFile>> {
    let exposures: Vec<Exposure> = services.iter().cloned().map(Exposure::Service).collect();
    let model = InterfaceModel::build(pool, &exposures, options).map_err(|e| anyhow!("{e}"))?;
    model.check_namespace(options).map_err(|e| anyhow!("{e}"))?;
    Ok(reprise_grpc_stub::wit::render(&model))
}

/// The WIT files of all `parts`. Dependencies whose files do not overlap
/// (or overlap with the same text, like the support package) are rendered
/// one by one. When two generate the same file differently (one proto
/// package spread over two dependencies, or two versions of one API), all
/// are rendered from one model over their merged descriptors instead, so
/// no package overwrites another; that needs the same `wit` overrides.
fn wit_files(parts: &[WitPart]) -> anyhow::Result<Vec<WitFile>> {
    let mut by_path: BTreeMap<PathBuf, (&str, WitFile)> = BTreeMap::new();
    let mut clash = None;
    for part in parts {
        let files = render(&part.pool, &part.services, &part.options)
            .with_context(|| format!("dependency `{}`", part.name))?;
        for file in files {
            match by_path.get(&file.path) {
                Some((other, existing)) if existing.text != file.text => {
                    clash.get_or_insert((
                        other.to_string(),
                        part.name.clone(),
                        file.package.clone(),
                    ));
                }
                Some(_) => {}
                None => {
                    by_path.insert(file.path.clone(), (part.name.as_str(), file));
                }
            }
        }
    }
    let Some((first, second, package)) = clash else {
        return Ok(by_path.into_values().map(|(_, file)| file).collect());
    };
    let options = &parts[0].options;
    if let Some(odd) = parts.iter().find(|p| p.options != *options) {
        bail!(
            "dependencies `{first}` and `{second}` both generate WIT package `{package}`, \
             differently, so it must be generated once for both; that needs every dependency \
             to have the same `wit` overrides, and `{}` differs from `{}`",
            odd.name,
            parts[0].name
        );
    }
    let mut merged = DescriptorPool::new();
    for part in parts {
        for file in part.pool.file_descriptor_protos() {
            match merged.get_file_by_name(file.name()) {
                Some(existing) if existing.file_descriptor_proto() != file => bail!(
                    "dependencies `{first}` and `{second}` both generate WIT package \
                     `{package}`, but `{}` differs between the dependencies' protos, so they \
                     cannot be merged; use one copy of the file",
                    file.name()
                ),
                Some(_) => {}
                None => merged
                    .add_file_descriptor_proto(file.clone())
                    .with_context(|| {
                        format!("merging `{}` of dependency `{}`", file.name(), part.name)
                    })?,
            }
        }
    }
    let services: Vec<String> = parts
        .iter()
        .flat_map(|p| p.services.iter().cloned())
        .collect();
    render(&merged, &services, options).context("rendering the dependencies' WIT together")
}
