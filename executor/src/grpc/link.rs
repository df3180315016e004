//! Registers the host functions of a component's gRPC imports — one per
//! unary method; for a streaming method its opener, its resource (with a
//! destructor that cancels the call) and the resource's methods — and
//! checks, at upload, that every import is either WASI or a method of a
//! declared gRPC dependency, with exactly the generated signature.

use std::collections::BTreeMap;
use std::sync::Arc;

use prost_reflect::DescriptorPool;
use reprise_grpc_stub::model::{CallKind, Exposure, InterfaceModel, ModelOptions, ServiceId};
use wasmtime::Engine;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, Linker, ResourceType};

use crate::kinds::Checks;

use super::call::{MethodBinding, durable_unary};
use super::stream::next_resource_type;
use super::stream::open::open_stream;
use super::stream::steps::{drop_stream, stream_method};
use super::typecheck::{Mismatch, check_stream_method, check_stream_open, check_unary};
use crate::deps::{GrpcDependencyConfig, ImportKind};
use crate::error::{Error, Result};
use crate::grpc::GrpcView;

/// A dependency with its interface model built.
pub struct ModelledDependency {
    /// The stored configuration.
    pub config: Arc<GrpcDependencyConfig>,
    /// The model built from its descriptors, exactly as the WIT generator builds it.
    pub model: Arc<InterfaceModel>,
}

/// Builds the interface model of every dependency. Bad descriptor sets,
/// unknown services and bad WIT options are refused naming the dependency.
pub fn model_dependencies(
    dependencies: &[GrpcDependencyConfig],
) -> Result<Vec<ModelledDependency>> {
    dependencies
        .iter()
        .map(|dep| {
            let bad = |what: String| {
                Error::InvalidComponent(format!("gRPC dependency `{}`: {what}", dep.name))
            };
            let pool = DescriptorPool::decode(dep.descriptor_set.as_slice())
                .map_err(|e| bad(format!("the descriptor set does not decode: {e}")))?;
            if dep.services.is_empty() {
                return Err(bad("it names no service".into()));
            }
            let version = dep
                .wit_version
                .as_deref()
                .map(semver::Version::parse)
                .transpose()
                .map_err(|e| bad(format!("wit version: {e}")))?;
            let options = ModelOptions {
                namespace: dep.wit_namespace.clone(),
                version,
            };
            let exposures: Vec<Exposure> = dep
                .services
                .iter()
                .cloned()
                .map(Exposure::Service)
                .collect();
            let model = InterfaceModel::build(&pool, &exposures, &options)
                .map_err(|e| bad(e.to_string()))?;
            Ok(ModelledDependency {
                config: Arc::new(dep.clone()),
                model: Arc::new(model),
            })
        })
        .collect()
}

/// The gRPC import kind of one component: the interface models of its gRPC
/// dependencies and which import interface each service or types
/// interface is.
pub struct GrpcImports {
    dependencies: Vec<ModelledDependency>,
    /// Interface path -> (dependency, service).
    services: BTreeMap<String, (usize, ServiceId)>,
    /// Types-only interface path -> dependency.
    type_interfaces: BTreeMap<String, usize>,
    /// The rules the component is held to (an upload to all of them).
    checks: Checks,
}

impl GrpcImports {
    /// Models `configs` (refusing bad descriptor sets, naming the dependency).
    pub fn new(configs: &[GrpcDependencyConfig], checks: Checks) -> Result<GrpcImports> {
        let dependencies = model_dependencies(configs)?;
        let mut services = BTreeMap::new();
        let mut type_interfaces = BTreeMap::new();
        for (i, dep) in dependencies.iter().enumerate() {
            for id in dep.model.service_ids() {
                let path = dep.model.interface_path(id);
                // Two dependencies behind one import: the guest's calls
                // would all go to one of them, the other's endpoint,
                // credentials and overrides silently unused.
                // Refused at upload since this rule came; a component
                // stored before it links the later one, as it did then.
                if let Some((earlier, _)) = services.insert(path.clone(), (i, id))
                    && checks == Checks::Upload
                {
                    return Err(Error::InvalidComponent(format!(
                        "gRPC dependencies `{}` and `{}` both serve interface `{path}`; a \
                         component can import it from one dependency only (give one of them \
                         another `wit` namespace or version, or drop it)",
                        dependencies[earlier].config.name, dep.config.name
                    )));
                }
            }
            for package in dep.model.packages() {
                type_interfaces.insert(
                    package
                        .wit
                        .interface_path(reprise_grpc_stub::model::TYPES_INTERFACE),
                    i,
                );
            }
        }
        Ok(GrpcImports {
            dependencies,
            services,
            type_interfaces,
            checks,
        })
    }
}

const SUPPORT_INTERFACE: &str = reprise_grpc_stub::wit::support::SUPPORT_INTERFACE;

impl<T: GrpcView> ImportKind<T> for GrpcImports {
    fn serves(&self, name: &str) -> bool {
        self.services.contains_key(name)
            || self.type_interfaces.contains_key(name)
            || name == SUPPORT_INTERFACE
    }

    fn declared(&self) -> String {
        let declared: Vec<&String> = self.services.keys().collect();
        format!("gRPC service interfaces {declared:?}")
    }

    /// Defines, in `linker`, every gRPC interface `component` imports,
    /// each checked against the descriptors.
    fn link(&self, engine: &Engine, linker: &mut Linker<T>, component: &Component) -> Result<()> {
        let ty = component.component_type();
        for (name, item) in ty.imports(engine) {
            if name.starts_with("wasi:") {
                continue; // WASI is linked separately; unknown WASI imports fail linking by name.
            }
            if name == SUPPORT_INTERFACE || self.type_interfaces.contains_key(name) {
                // Types only: an instance with no functions.
                linker.instance(name)?;
                continue;
            }
            let Some(&(dep_index, service_id)) = self.services.get(name) else {
                continue; // Not ours: the component layer reports imports nobody serves.
            };
            let dep = &self.dependencies[dep_index];
            let service = dep.model.service(service_id);
            let ComponentItem::ComponentInstance(instance_ty) = item.ty else {
                return Err(Error::InvalidComponent(format!(
                    "import `{name}` is not an interface instance"
                )));
            };
            let mut imported: Vec<(String, ComponentFunc)> = Vec::new();
            let mut imported_resources: Vec<(String, ResourceType)> = Vec::new();
            for (export, item) in instance_ty.exports(engine) {
                match item.ty {
                    ComponentItem::ComponentFunc(f) => imported.push((export.to_owned(), f)),
                    ComponentItem::Resource(r) => imported_resources.push((export.to_owned(), r)),
                    _ => {}
                }
            }
            let mut instance = linker.instance(name)?;
            let mut known: Vec<String> = Vec::new();
            for (method_index, method) in service.methods.iter().enumerate() {
                let mismatch = |function: &str, e: Mismatch| {
                    Error::InvalidComponent(format!(
                        "import `{name}` function `{function}` does not match the descriptors of `{}`: {e}",
                        method.descriptor.full_name()
                    ))
                };
                let find =
                    |function: &str| imported.iter().find(|(n, _)| n == function).map(|(_, f)| f);
                let binding = Arc::new(MethodBinding {
                    dependency: dep.config.clone(),
                    model: dep.model.clone(),
                    service: service_id,
                    method_index,
                    journal_name: super::journaled::journal_name(
                        &service.descriptor,
                        &method.descriptor,
                    ),
                    read_only: method.kind == CallKind::Unary
                        && (method.declares_no_side_effects()
                            || dep.config.read_only_methods.iter().any(|m| {
                                m == method.descriptor.name() || m == method.descriptor.full_name()
                            })),
                });
                known.push(method.wit_name.clone());
                if method.kind == CallKind::Unary {
                    let Some(func_ty) = find(&method.wit_name) else {
                        continue;
                    };
                    check_unary(&dep.model, method, func_ty)
                        .map_err(|e| mismatch(&method.wit_name, e))?;
                    instance.func_new_async(
                        &method.wit_name,
                        move |store, ty, params, results| {
                            let binding = binding.clone();
                            Box::new(async move {
                                durable_unary(store, &binding, ty, params, results).await
                            })
                        },
                    )?;
                    continue;
                }
                let resource = method.resource.clone().ok_or_else(|| {
                    Error::InvalidComponent(format!(
                        "streaming method `{}` has no resource in the model",
                        method.wit_name
                    ))
                })?;
                known.push(resource.clone());
                let ops = method.stream_ops();
                for op in ops {
                    known.push(format!("[method]{resource}.{}", op.wit_name()));
                }
                let Some(stream_type) = imported_resources
                    .iter()
                    .find(|(name, _)| *name == resource)
                    .map(|(_, ty)| *ty)
                else {
                    continue;
                };
                let resource_type = next_resource_type();
                instance.resource_async(
                    &resource,
                    ResourceType::host_dynamic(resource_type),
                    |store, rep| Box::new(async move { drop_stream(store, rep).await }),
                )?;
                if let Some(func_ty) = find(&method.wit_name) {
                    // The exact resource is checked since this rule came; a
                    // component stored before it loads as it did then.
                    let exact = (self.checks == Checks::Upload).then_some(&stream_type);
                    check_stream_open(&dep.model, method, func_ty, exact)
                        .map_err(|e| mismatch(&method.wit_name, e))?;
                    let binding = binding.clone();
                    instance.func_new_async(
                        &method.wit_name,
                        move |store, ty, params, results| {
                            let binding = binding.clone();
                            Box::new(async move {
                                open_stream(store, &binding, resource_type, ty, params, results)
                                    .await
                            })
                        },
                    )?;
                }
                for &op in ops {
                    let function = format!("[method]{resource}.{}", op.wit_name());
                    let Some(func_ty) = find(&function) else {
                        continue;
                    };
                    check_stream_method(&dep.model, method, op, func_ty)
                        .map_err(|e| mismatch(&function, e))?;
                    instance.func_new_async(&function, move |store, _ty, params, results| {
                        Box::new(async move {
                            stream_method(store, op, resource_type, params, results).await
                        })
                    })?;
                }
            }
            for export in imported
                .iter()
                .map(|(n, _)| n)
                .chain(imported_resources.iter().map(|(n, _)| n))
            {
                if !known.contains(export) {
                    return Err(Error::InvalidComponent(format!(
                        "import `{name}` expects `{export}`, which service `{}` does not have",
                        service.descriptor.full_name()
                    )));
                }
            }
        }
        Ok(())
    }
}
