//! Uploaded components: stored content-addressed (sha256 of the wasm) under
//! the data directory, compiled once (the engine's cache keeps compiled code
//! across restarts), linked once into an `InstancePre` that every worker of
//! the component instantiates from.
//!
//! Import checking happens here, at upload: a component whose imports the
//! executor cannot satisfy is refused with a message naming the import,
//! instead of failing at its first call.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use reprise_oplog::ComponentId;
use serde::{Deserialize, Serialize};
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre, Linker};

use crate::deps::GrpcDependencyConfig;
use crate::error::{Error, Result};
use crate::grpc::link::{link_grpc_imports, model_dependencies};
use crate::worker::WorkerCtx;

/// What the executor knows about a stored component, also served by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentInfo {
    /// Content address: sha256 of the wasm bytes.
    pub id: String,
    /// Size of the wasm in bytes.
    pub size: u64,
    /// Exported functions, as invocable names with their signatures.
    pub exports: Vec<ExportInfo>,
    /// Everything the component imports.
    pub imports: Vec<String>,
    /// Its gRPC dependencies: name, services and default endpoint.
    pub grpc_dependencies: Vec<GrpcDependencyInfo>,
}

/// A gRPC dependency as reported by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrpcDependencyInfo {
    /// Name in the manifest.
    pub name: String,
    /// Full names of its services.
    pub services: Vec<String>,
    /// Default endpoint.
    pub endpoint: String,
}

/// One invocable export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportInfo {
    /// `name` for a top-level function, `interface#name` inside an exported interface.
    pub name: String,
    /// Parameter names and WIT-like types.
    pub params: Vec<(String, String)>,
    /// Result types.
    pub results: Vec<String>,
}

/// A compiled, linked component ready to instantiate.
pub struct LoadedComponent {
    /// Its id.
    pub id: ComponentId,
    /// Metadata.
    pub info: ComponentInfo,
    /// Pre-linked instance.
    pub pre: InstancePre<WorkerCtx>,
    /// The gRPC dependencies it was uploaded with.
    pub dependencies: Vec<GrpcDependencyConfig>,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The component store under `<data-dir>/components`.
pub struct ComponentStore {
    dir: PathBuf,
    engine: Engine,
    loaded: Mutex<HashMap<ComponentId, Arc<LoadedComponent>>>,
}

impl std::fmt::Debug for ComponentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl ComponentStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path, engine: Engine) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            what: "creating the component folder",
            path: dir.to_owned(),
            source,
        })?;
        Ok(ComponentStore {
            dir: dir.to_owned(),
            engine,
            loaded: Mutex::new(HashMap::new()),
        })
    }

    fn wasm_path(&self, id: &ComponentId) -> PathBuf {
        self.dir.join(format!("{id}.wasm"))
    }

    fn deps_path(&self, id: &ComponentId) -> PathBuf {
        self.dir.join(format!("{id}.deps.json"))
    }

    /// Validates, compiles and links `wasm` with its gRPC `dependencies`,
    /// then stores both durably. The id is the sha256 of the wasm followed
    /// by the dependencies' JSON, so the same upload always gets the same id.
    pub fn add(
        &self,
        wasm: &[u8],
        dependencies: Vec<GrpcDependencyConfig>,
    ) -> Result<Arc<LoadedComponent>> {
        for dependency in &dependencies {
            dependency.check_supported()?;
        }
        let deps_json = serde_json::to_vec(&dependencies)
            .map_err(|e| Error::InvalidComponent(format!("cannot encode its dependencies: {e}")))?;
        let id = content_id(wasm, &deps_json);
        if let Some(loaded) = self.cached(&id) {
            return Ok(loaded);
        }
        let loaded = Arc::new(self.compile(id, wasm, dependencies)?);
        write_durably(&self.deps_path(&id), &deps_json)?;
        write_durably(&self.wasm_path(&id), wasm)?;
        self.insert(loaded.clone());
        Ok(loaded)
    }

    /// The component `id`, compiled on first use after a restart.
    pub fn get(&self, id: &ComponentId) -> Result<Arc<LoadedComponent>> {
        if let Some(loaded) = self.cached(id) {
            return Ok(loaded);
        }
        let path = self.wasm_path(id);
        let wasm = match std::fs::read(&path) {
            Ok(wasm) => wasm,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::UnknownComponent(*id));
            }
            Err(source) => {
                return Err(Error::Io {
                    what: "reading component",
                    path,
                    source,
                });
            }
        };
        let deps_path = self.deps_path(id);
        let deps_json = std::fs::read(&deps_path).map_err(|source| Error::Io {
            what: "reading component dependencies",
            path: deps_path.clone(),
            source,
        })?;
        if content_id(&wasm, &deps_json) != *id {
            return Err(Error::InvalidComponent(format!(
                "stored files {} and {} do not hash to their name; they were modified on disk",
                path.display(),
                deps_path.display()
            )));
        }
        let dependencies = serde_json::from_slice(&deps_json).map_err(|e| {
            Error::InvalidComponent(format!(
                "stored dependencies {} are unreadable: {e}",
                deps_path.display()
            ))
        })?;
        let loaded = Arc::new(self.compile(*id, &wasm, dependencies)?);
        self.insert(loaded.clone());
        Ok(loaded)
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
        dependencies: Vec<GrpcDependencyConfig>,
    ) -> Result<LoadedComponent> {
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

        let modelled = model_dependencies(&dependencies)?;
        let mut linker: Linker<WorkerCtx> = Linker::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        link_grpc_imports(&self.engine, &mut linker, &component, &modelled)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| Error::InvalidComponent(format!("cannot link its imports: {e:#}")))?;

        let mut info = describe_component(&self.engine, &id, wasm.len() as u64, &component);
        info.grpc_dependencies = dependencies
            .iter()
            .map(|d| GrpcDependencyInfo {
                name: d.name.clone(),
                services: d.services.clone(),
                endpoint: d.endpoint.clone(),
            })
            .collect();
        Ok(LoadedComponent {
            id,
            info,
            pre,
            dependencies,
        })
    }
}

/// The content address of an upload: sha256 over the wasm, a separator and
/// the dependencies' JSON.
fn content_id(wasm: &[u8], deps_json: &[u8]) -> ComponentId {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(wasm);
    hasher.update(b"\0reprise-dependencies\0");
    hasher.update(deps_json);
    ComponentId::from_digest(hasher.finalize().into())
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

/// A readable name for a component value type.
pub fn type_name(ty: &wasmtime::component::Type) -> String {
    use wasmtime::component::Type as T;
    match ty {
        T::Bool => "bool".into(),
        T::S8 => "s8".into(),
        T::U8 => "u8".into(),
        T::S16 => "s16".into(),
        T::U16 => "u16".into(),
        T::S32 => "s32".into(),
        T::U32 => "u32".into(),
        T::S64 => "s64".into(),
        T::U64 => "u64".into(),
        T::Float32 => "f32".into(),
        T::Float64 => "f64".into(),
        T::Char => "char".into(),
        T::String => "string".into(),
        T::List(l) => format!("list<{}>", type_name(&l.ty())),
        T::Option(o) => format!("option<{}>", type_name(&o.ty())),
        T::Tuple(t) => format!(
            "tuple<{}>",
            t.types()
                .map(|t| type_name(&t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        T::Result(r) => format!(
            "result<{}, {}>",
            r.ok().map(|t| type_name(&t)).unwrap_or_else(|| "_".into()),
            r.err().map(|t| type_name(&t)).unwrap_or_else(|| "_".into())
        ),
        T::Record(_) => "record".into(),
        T::Variant(_) => "variant".into(),
        T::Enum(_) => "enum".into(),
        T::Flags(_) => "flags".into(),
        T::Own(_) | T::Borrow(_) => "resource".into(),
        _ => "value".into(),
    }
}

/// Writes `bytes` to `path` so that either the old state or all of `bytes`
/// survives a crash: temp file, fsync, rename, fsync of the folder.
pub fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let io = |what: &'static str, source| Error::Io {
        what,
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(|e| io("creating", e))?;
    file.write_all(bytes).map_err(|e| io("writing", e))?;
    file.sync_all().map_err(|e| io("syncing", e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| io("renaming into place", e))?;
    if let Some(parent) = path.parent()
        && let Ok(dir) = std::fs::File::open(parent)
    {
        dir.sync_all().map_err(|e| io("syncing the folder of", e))?;
    }
    Ok(())
}
