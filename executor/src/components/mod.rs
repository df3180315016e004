//! Stored components, at the bottom of the executor's layers beside the
//! oplog store: the [`ComponentStore`] trait (where uploaded wasm and its
//! dependencies live, by content id), the local-files store
//! ([`local::LocalComponentStore`], the embedded default), the PostgreSQL
//! store shared by executors ([`postgres::PostgresComponentStore`]), and the
//! descriptions of a component the API serves.
//!
//! Compiling and linking a stored component is the worker layer's job
//! (`worker/component.rs`).

pub mod limits;
pub mod local;
pub mod postgres;

use async_trait::async_trait;
use reprise_oplog::ComponentId;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// An uploaded component as stored: the wasm and its dependencies' JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredComponent {
    /// The component's bytes.
    pub wasm: Vec<u8>,
    /// Its dependencies (and limits, if it sets any), as the JSON the
    /// executor wrote ([`limits::StoredConfig`]).
    pub dependencies_json: Vec<u8>,
}

/// Where uploaded components live, by content id. Implementations check
/// nothing about the bytes; the id is computed by the caller
/// ([`content_id`]) and verified again on every read.
#[async_trait]
pub trait ComponentStore: Send + Sync + std::fmt::Debug {
    /// Stores a component durably under `id` (idempotent: storing the same
    /// id again is a no-op or rewrites the same bytes).
    async fn put(&self, id: &ComponentId, component: &StoredComponent) -> Result<()>;

    /// The component stored under `id`, if any.
    async fn get(&self, id: &ComponentId) -> Result<Option<StoredComponent>>;

    /// The ids of every stored component, sorted.
    async fn list(&self) -> Result<Vec<ComponentId>>;

    /// Where component `id` is kept, for messages about damage (a file
    /// path, a table row).
    fn location(&self, id: &ComponentId) -> String;
}

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
    /// Its OpenAPI dependencies: name, interfaces and base URL.
    #[serde(default)]
    pub openapi_dependencies: Vec<OpenApiDependencyInfo>,
    /// The limits the component sets for its workers (absent ones are the
    /// executor's defaults).
    #[serde(default)]
    pub limits: limits::ComponentLimits,
}

/// An OpenAPI dependency as reported by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenApiDependencyInfo {
    /// Name in the manifest.
    pub name: String,
    /// The WIT interfaces it serves (`api:todo-rest-api/todos-collection@1.0.0`).
    pub interfaces: Vec<String>,
    /// Where requests go.
    pub base_url: String,
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

/// The content address of an upload: sha256 over the wasm, a separator and
/// the dependencies' JSON.
pub fn content_id(wasm: &[u8], deps_json: &[u8]) -> ComponentId {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(wasm);
    hasher.update(b"\0reprise-dependencies\0");
    hasher.update(deps_json);
    ComponentId::from_digest(hasher.finalize().into())
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
        T::Record(r) => format!(
            "record {{ {} }}",
            r.fields()
                .map(|f| format!("{}: {}", f.name, type_name(&f.ty)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        T::Variant(v) => format!(
            "variant {{ {} }}",
            v.cases()
                .map(|c| match c.ty {
                    Some(ty) => format!("{}({})", c.name, type_name(&ty)),
                    None => c.name.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        T::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        T::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        T::Own(_) | T::Borrow(_) => "resource".into(),
        _ => "value".into(),
    }
}
