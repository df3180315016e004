//! Registers the host functions of a component's gRPC imports and checks,
//! at upload, that every import is either WASI or a method of a declared
//! gRPC dependency.

use std::collections::BTreeMap;
use std::sync::Arc;

use prost_reflect::DescriptorPool;
use reprise_grpc_stub::model::{CallKind, Exposure, InterfaceModel, ModelOptions, ServiceId};
use wasmtime::Engine;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, Linker};

use super::call::{MethodBinding, durable_unary};
use super::typecheck::check_unary;
use crate::deps::GrpcDependencyConfig;
use crate::error::{Error, Result};
use crate::worker::WorkerCtx;

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

/// Defines, in `linker`, every gRPC interface `component` imports, and
/// refuses imports nothing can satisfy.
pub fn link_grpc_imports(
    engine: &Engine,
    linker: &mut Linker<WorkerCtx>,
    component: &Component,
    dependencies: &[ModelledDependency],
) -> Result<()> {
    // Interface path -> (dependency, service); type-only interfaces too.
    let mut services: BTreeMap<String, (usize, ServiceId)> = BTreeMap::new();
    let mut type_interfaces: BTreeMap<String, usize> = BTreeMap::new();
    for (i, dep) in dependencies.iter().enumerate() {
        for id in dep.model.service_ids() {
            services.insert(dep.model.interface_path(id), (i, id));
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
    let support = reprise_grpc_stub::wit::support::SUPPORT_INTERFACE;

    let ty = component.component_type();
    let mut unknown = Vec::new();
    for (name, item) in ty.imports(engine) {
        if name.starts_with("wasi:") {
            continue; // WASI is linked separately; unknown WASI imports fail linking by name.
        }
        if name == support || type_interfaces.contains_key(name) {
            // Types only: an instance with no functions.
            linker.instance(name)?;
            continue;
        }
        let Some(&(dep_index, service_id)) = services.get(name) else {
            unknown.push(name.to_owned());
            continue;
        };
        let dep = &dependencies[dep_index];
        let service = dep.model.service(service_id);
        let ComponentItem::ComponentInstance(instance_ty) = item.ty else {
            return Err(Error::InvalidComponent(format!(
                "import `{name}` is not an interface instance"
            )));
        };
        let imported: Vec<(String, ComponentFunc)> = instance_ty
            .exports(engine)
            .filter_map(|(n, e)| match e.ty {
                ComponentItem::ComponentFunc(f) => Some((n.to_owned(), f)),
                _ => None,
            })
            .collect();
        let mut instance = linker.instance(name)?;
        for (method_index, method) in service.methods.iter().enumerate() {
            let Some((_, func_ty)) = imported.iter().find(|(n, _)| n == &method.wit_name) else {
                continue;
            };
            if method.kind != CallKind::Unary {
                return Err(Error::InvalidComponent(format!(
                    "import `{name}` includes `{}`, a {:?} method: streaming calls are not supported by \
                     this executor yet",
                    method.wit_name, method.kind
                )));
            }
            check_unary(&dep.model, method, func_ty).map_err(|e| {
                Error::InvalidComponent(format!(
                    "import `{name}` function `{}` does not match the descriptors of `{}`: {e}",
                    method.wit_name,
                    method.descriptor.full_name()
                ))
            })?;
            let binding = Arc::new(MethodBinding {
                dependency: dep.config.clone(),
                model: dep.model.clone(),
                service: service_id,
                method_index,
                journal_name: format!(
                    "{}/{}",
                    service.descriptor.full_name(),
                    method.descriptor.name()
                ),
            });
            instance.func_new_async(&method.wit_name, move |store, ty, params, results| {
                let binding = binding.clone();
                Box::new(async move { durable_unary(store, &binding, ty, params, results).await })
            })?;
        }
        for (export, _) in &imported {
            if !service.methods.iter().any(|m| &m.wit_name == export) {
                return Err(Error::InvalidComponent(format!(
                    "import `{name}` expects `{export}`, which service `{}` does not have",
                    service.descriptor.full_name()
                )));
            }
        }
    }
    if !unknown.is_empty() {
        let declared: Vec<&String> = services.keys().collect();
        return Err(Error::InvalidComponent(format!(
            "imports {} are neither WASI nor services of the component's gRPC dependencies \
             (declared service interfaces: {declared:?}); declare the proto files that define them \
             in the component's manifest",
            unknown
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}
