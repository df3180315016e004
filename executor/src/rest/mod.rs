//! Dynamic REST imports: from a component's stored OpenAPI models, register
//! one async host function per imported operation (`Linker::func_new_async`),
//! each checked at upload against the signature the generated WIT gives it.
//! No code is generated: a new OpenAPI document is just new data.
//!
//! [`call`] performs one durable call (replay or live) and [`client`] sends
//! the HTTP request.

pub mod call;
pub mod client;

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, Type};

use crate::deps::{ImportKind, OpenApiDependencyConfig};
use crate::error::{Error, Result};
use crate::grpc::GrpcView;
use call::{RestBinding, durable_rest};
use client::RestClient;

/// The interface holding an OpenAPI package's shared types.
const TYPES_INTERFACE: &str = "types";

/// The OpenAPI import kind of one component: a client per dependency and
/// which import interface is which interface of which document.
pub struct RestImports {
    clients: Vec<Arc<RestClient>>,
    /// Interface path -> (dependency, interface index).
    interfaces: BTreeMap<String, (usize, usize)>,
    /// Types-only interface paths.
    type_interfaces: Vec<String>,
}

impl RestImports {
    /// The clients of `configs` (refusing TLS settings that cannot work).
    pub fn new(configs: &[OpenApiDependencyConfig]) -> Result<RestImports> {
        let mut clients = Vec::new();
        let mut interfaces = BTreeMap::new();
        let mut type_interfaces = Vec::new();
        for (i, config) in configs.iter().enumerate() {
            for (j, interface) in config.openapi.interfaces.iter().enumerate() {
                let path = config.interface_path(&interface.name);
                if interfaces.insert(path.clone(), (i, j)).is_some() {
                    return Err(Error::InvalidComponent(format!(
                        "dependency `{}`: interface `{path}` is also another OpenAPI \
                         dependency's; give one of them another `wit` name",
                        config.name
                    )));
                }
            }
            for pattern in reprise_openapi::runtime::unchecked_patterns(&config.openapi) {
                tracing::warn!(
                    dependency = %config.name,
                    pattern,
                    "a `pattern` of the OpenAPI document uses what the regex engine lacks \
                     (look-around, back-references): values are sent without that check"
                );
            }
            type_interfaces.push(config.interface_path(TYPES_INTERFACE));
            clients.push(Arc::new(RestClient::new(Arc::new(config.clone()))?));
        }
        Ok(RestImports {
            clients,
            interfaces,
            type_interfaces,
        })
    }
}

impl<T: GrpcView> ImportKind<T> for RestImports {
    fn serves(&self, name: &str) -> bool {
        self.interfaces.contains_key(name) || self.type_interfaces.iter().any(|t| t == name)
    }

    fn declared(&self) -> String {
        let declared: Vec<&String> = self.interfaces.keys().collect();
        format!("OpenAPI interfaces {declared:?}")
    }

    fn link(&self, engine: &Engine, linker: &mut Linker<T>, component: &Component) -> Result<()> {
        let ty = component.component_type();
        for (name, item) in ty.imports(engine) {
            if self.type_interfaces.iter().any(|t| t == name) {
                linker.instance(name)?;
                continue;
            }
            let Some(&(dep, interface_index)) = self.interfaces.get(name) else {
                continue;
            };
            let client = &self.clients[dep];
            let config = client.config();
            let interface = &config.openapi.interfaces[interface_index];
            let ComponentItem::ComponentInstance(instance_ty) = item.ty else {
                return Err(Error::InvalidComponent(format!(
                    "import `{name}` is not an interface instance"
                )));
            };
            let mut instance = linker.instance(name)?;
            for (export, item) in instance_ty.exports(engine) {
                let func = match item.ty {
                    ComponentItem::ComponentFunc(func) => func,
                    // Types the interface uses or defines: checked through
                    // the signatures of the functions using them.
                    ComponentItem::Type(_) => continue,
                    _ => {
                        return Err(Error::InvalidComponent(format!(
                            "import `{name}` expects `{export}`, which is neither a function \
                             nor a type; the OpenAPI interfaces have functions only"
                        )));
                    }
                };
                let Some(function_index) =
                    interface.functions.iter().position(|f| f.name == export)
                else {
                    let known: Vec<&str> = interface
                        .functions
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect();
                    return Err(Error::InvalidComponent(format!(
                        "import `{name}` expects function `{export}`, which the OpenAPI \
                         document of dependency `{}` does not have (it has: {})",
                        config.name,
                        known.join(", ")
                    )));
                };
                let function = &interface.functions[function_index];
                let params: Vec<Type> = func.params().map(|(_, t)| t).collect();
                let results: Vec<Type> = func.results().collect();
                reprise_openapi::runtime::check_signature(
                    &config.openapi,
                    interface,
                    function,
                    &params,
                    &results,
                )
                .map_err(|e| {
                    Error::InvalidComponent(format!(
                        "import `{name}` does not match the OpenAPI document of dependency \
                         `{}`: {e}",
                        config.name
                    ))
                })?;
                let binding = Arc::new(RestBinding {
                    client: client.clone(),
                    interface: interface_index,
                    function: function_index,
                    journal_name: format!("{} {} {}", config.name, function.method, function.path),
                });
                instance.func_new_async(export, move |store, ty, params, results| {
                    let binding = binding.clone();
                    Box::new(
                        async move { durable_rest(store, &binding, ty, params, results).await },
                    )
                })?;
            }
        }
        Ok(())
    }
}
