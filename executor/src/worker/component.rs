//! Compiled, linked components: [`ComponentCache`] compiles a stored
//! component once (the engine's cache keeps compiled code across restarts),
//! links it once into an `InstancePre` of the worker's store type, and keeps
//! it for every worker of that component.
//!
//! Import checking happens here, at upload: a component whose imports the
//! executor cannot satisfy is refused with a message naming the import,
//! instead of failing at its first call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reprise_oplog::ComponentId;
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre, Linker};

use super::WorkerCtx;
use crate::components::limits::{ComponentLimits, StoredConfig};
use crate::components::{
    ComponentInfo, ComponentStore, ExportInfo, StoredComponent, content_id, type_name,
};
use crate::deps::DependencyConfig;
use crate::error::{Error, Result};
use crate::kinds::{Checks, import_kinds};
use crate::secrets::SecretEnvPolicy;
use reprise_grpc_stub::export::{DEFAULT_ROOT_SERVICE, ExportApi};

/// A compiled, linked component ready to instantiate.
pub struct LoadedComponent {
    /// Its id.
    pub id: ComponentId,
    /// Metadata.
    pub info: ComponentInfo,
    /// Pre-linked instance.
    pub pre: InstancePre<WorkerCtx>,
    /// The dependencies it was uploaded with.
    pub dependencies: Vec<DependencyConfig>,
    /// The limits it sets for its workers.
    pub limits: ComponentLimits,
    /// Its exports as gRPC services (the inbound front door), or why they
    /// cannot be described.
    pub served: std::result::Result<Arc<ExportApi>, Arc<reprise_grpc_stub::Error>>,
    /// What reads its workers' journaled gRPC calls back as text, built on
    /// first use (by the oplog API).
    pub call_decoder: std::sync::OnceLock<Arc<crate::grpc::journaled::CallDecoder>>,
}

impl LoadedComponent {
    /// What reads its workers' journaled gRPC calls back as text, built
    /// from its gRPC dependencies on first use.
    pub fn call_decoder(&self) -> Result<Arc<crate::grpc::journaled::CallDecoder>> {
        if let Some(decoder) = self.call_decoder.get() {
            return Ok(decoder.clone());
        }
        let grpc: Vec<crate::deps::GrpcDependencyConfig> = self
            .dependencies
            .iter()
            .filter_map(|d| match d {
                DependencyConfig::Grpc(g) => Some(g.clone()),
                DependencyConfig::OpenApi(_) => None,
            })
            .collect();
        let modelled = crate::grpc::link::model_dependencies(&grpc)?;
        let decoder = Arc::new(crate::grpc::journaled::CallDecoder::new(&modelled));
        Ok(self.call_decoder.get_or_init(|| decoder).clone())
    }
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Compiled components by id, over a [`ComponentStore`].
pub struct ComponentCache {
    engine: Engine,
    store: Arc<dyn ComponentStore>,
    /// Checked at upload: which variables credentials may name.
    secrets: SecretEnvPolicy,
    loaded: Mutex<HashMap<ComponentId, Arc<LoadedComponent>>>,
}

impl std::fmt::Debug for ComponentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentCache")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl ComponentCache {
    /// A cache compiling with `engine` the components of `store`.
    pub fn new(engine: Engine, store: Arc<dyn ComponentStore>, secrets: SecretEnvPolicy) -> Self {
        ComponentCache {
            engine,
            store,
            secrets,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// Validates, compiles and links `wasm` with its `dependencies`, then
    /// stores it durably with them and its `limits` (checked by the caller).
    /// The id is the sha256 of the wasm followed by the stored JSON of the
    /// dependencies and limits, so the same upload always gets the same id.
    pub async fn add(
        &self,
        wasm: Vec<u8>,
        dependencies: Vec<DependencyConfig>,
        limits: ComponentLimits,
    ) -> Result<Arc<LoadedComponent>> {
        for dependency in &dependencies {
            dependency.check_supported()?;
            dependency.check_secrets(&self.secrets)?;
        }
        let config = StoredConfig {
            dependencies,
            limits,
        };
        let dependencies_json = config.to_json()?;
        let id = content_id(&wasm, &dependencies_json);
        if let Some(loaded) = self.cached(&id) {
            return Ok(loaded);
        }
        // Compilation is CPU-heavy: keep it off the async workers.
        let loaded = Arc::new(tokio::task::block_in_place(|| {
            self.compile(id, &wasm, config, Checks::Upload)
        })?);
        if loaded.info.exports.is_empty() {
            return Err(Error::InvalidComponent(
                "it exports no functions, so a worker of it could never be invoked; export at \
                 least one function (or an interface of functions)"
                    .to_owned(),
            ));
        }
        let stored = StoredComponent {
            wasm,
            dependencies_json,
        };
        self.store.put(&id, &stored).await?;
        self.insert(loaded.clone());
        Ok(loaded)
    }

    /// The component `id`, compiled on first use after a restart.
    pub async fn get(&self, id: &ComponentId) -> Result<Arc<LoadedComponent>> {
        if let Some(loaded) = self.cached(id) {
            return Ok(loaded);
        }
        let stored = self
            .store
            .get(id)
            .await?
            .ok_or(Error::UnknownComponent(*id))?;
        let damaged = |message: String| Error::DamagedComponent {
            id: *id,
            location: self.store.location(id),
            message,
        };
        if content_id(&stored.wasm, &stored.dependencies_json) != *id {
            return Err(damaged(
                "its bytes do not hash to its id: they were modified in the component store".into(),
            ));
        }
        let config = StoredConfig::from_json(&stored.dependencies_json)
            .map_err(|e| damaged(format!("its stored dependencies are unreadable: {e}")))?;
        // Stored before this executor's admin token variable was denied (by
        // an older build, or by another executor sharing the store): its
        // credentials may not read it, whatever the upload allowed.
        let denied_only = SecretEnvPolicy {
            prefix: String::new(),
            allowed: Default::default(),
            denied: self.secrets.denied.clone(),
        };
        for dependency in &config.dependencies {
            dependency.check_secrets(&denied_only)?;
        }
        let loaded = Arc::new(
            tokio::task::block_in_place(|| self.compile(*id, &stored.wasm, config, Checks::Stored))
                .map_err(|e| match e {
                    Error::InvalidComponent(message) => damaged(message),
                    other => other,
                })?,
        );
        self.insert(loaded.clone());
        Ok(loaded)
    }

    /// The ids of every stored component.
    pub async fn list(&self) -> Result<Vec<ComponentId>> {
        self.store.list().await
    }

    fn cached(&self, id: &ComponentId) -> Option<Arc<LoadedComponent>> {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    fn insert(&self, loaded: Arc<LoadedComponent>) {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(loaded.id, loaded);
    }

    fn compile(
        &self,
        id: ComponentId,
        wasm: &[u8],
        config: StoredConfig,
        checks: Checks,
    ) -> Result<LoadedComponent> {
        let StoredConfig {
            dependencies,
            limits,
        } = config;
        if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
            return Err(Error::InvalidComponent(
                "the bytes are not WebAssembly (no `\\0asm` header)".into(),
            ));
        }
        if wasm[4..8] != [0x0d, 0x00, 0x01, 0x00] {
            return Err(Error::InvalidComponent(
                "this is a core WebAssembly module, not a component; build with a component target \
                 (e.g. `cargo build --target wasm32-wasip2`)"
                    .into(),
            ));
        }
        let started = std::time::Instant::now();
        tracing::info!(component = %id, bytes = wasm.len(), "compiling component");
        let component = Component::new(&self.engine, wasm)
            .map_err(|e| Error::InvalidComponent(format!("{e:#}")))?;
        tracing::info!(component = %id, elapsed_ms = started.elapsed().as_millis() as u64, "compiled component");

        let kinds = import_kinds::<WorkerCtx>(&dependencies, checks)?;
        // An interface two kinds of dependency define (a proto package and
        // an OpenAPI document mapped to one WIT name) would be linked to
        // one of them at random.
        let doubly: Vec<String> = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name)
            .filter(|name| kinds.iter().filter(|k| k.serves(name)).count() > 1)
            .map(|name| format!("`{name}`"))
            .collect();
        if !doubly.is_empty() {
            return Err(Error::InvalidComponent(format!(
                "imports {} are defined both by a gRPC and by an OpenAPI dependency; give \
                 one of them another WIT name (its `wit` override in the manifest)",
                doubly.join(", ")
            )));
        }
        let mut linker: Linker<WorkerCtx> = Linker::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        super::sleeps::link(&mut linker)?;
        super::polls::link(&mut linker)?;
        super::random::link(&mut linker)?;
        for kind in &kinds {
            kind.link(&self.engine, &mut linker, &component)?;
        }
        let unserved: Vec<String> = component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name)
            // WASI is linked above; an unknown WASI import fails linking by name.
            .filter(|name| !name.starts_with("wasi:") && !kinds.iter().any(|k| k.serves(name)))
            .map(|name| format!("`{name}`"))
            .collect();
        if !unserved.is_empty() {
            let declared: Vec<String> = kinds.iter().map(|k| k.declared()).collect();
            return Err(Error::InvalidComponent(format!(
                "imports {} are neither WASI nor served by the component's dependencies \
                 (declared: {}); declare the dependency that defines them in the component's \
                 manifest (`type: grpc` with its proto files, or `type: openapi` with its \
                 document) and upload with `component add --manifest`",
                unserved.join(", "),
                declared.join("; ")
            )));
        }
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| Error::InvalidComponent(format!("cannot link its imports: {e:#}")))?;

        let mut info = describe_component(&self.engine, &id, wasm.len() as u64, &component);
        for dependency in &dependencies {
            dependency.describe(&mut info);
        }
        info.limits = limits;
        let served = ExportApi::from_component(wasm, DEFAULT_ROOT_SERVICE)
            .map(Arc::new)
            .map_err(Arc::new);
        if let Err(e) = &served {
            tracing::warn!(component = %id, error = %e, "its exports cannot be served over gRPC");
        }
        Ok(LoadedComponent {
            id,
            info,
            pre,
            dependencies,
            limits,
            served,
            call_decoder: std::sync::OnceLock::new(),
        })
    }
}

fn describe_component(
    engine: &Engine,
    id: &ComponentId,
    size: u64,
    component: &Component,
) -> ComponentInfo {
    let ty = component.component_type();
    let mut exports = Vec::new();
    for (name, item) in ty.exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(func) => exports.push(export_info(name.to_owned(), &func)),
            ComponentItem::ComponentInstance(instance) => {
                for (inner, inner_item) in instance.exports(engine) {
                    if let ComponentItem::ComponentFunc(func) = inner_item.ty {
                        exports.push(export_info(format!("{name}#{inner}"), &func));
                    }
                }
            }
            _ => {}
        }
    }
    let imports = ty
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    ComponentInfo {
        id: id.to_string(),
        size,
        exports,
        imports,
        grpc_dependencies: Vec::new(),
        openapi_dependencies: Vec::new(),
        limits: ComponentLimits::default(),
    }
}

fn export_info(name: String, func: &wasmtime::component::types::ComponentFunc) -> ExportInfo {
    ExportInfo {
        name,
        params: func
            .params()
            .map(|(n, t)| (n.to_owned(), type_name(&t)))
            .collect(),
        results: func.results().map(|t| type_name(&t)).collect(),
    }
}
