//! WIT -> proto, the reverse of the dependency mapping: a component's
//! exports described as gRPC services, so any gRPC client can invoke a
//! worker (the executor's inbound front door serves them).
//!
//! One service per exported interface (named after it), and one service
//! for the root-level functions (named by the caller, `Worker` by default);
//! one unary rpc per function, whose request holds the parameters as fields
//! in order and whose response holds the result in field `result`. A
//! `result<T, E>` returns `T`; its error becomes a gRPC status carrying
//! `E` in a detail (see [`Reply`]). Functions the mapping cannot serve
//! (resources, futures, streams) are left out and listed in
//! [`ExportApi::skipped`] with the reason. Interfaces of the `wasi`
//! namespace are not the worker's API and are not served.

pub mod proto;
pub mod shape;
pub mod text;
pub mod values;

use std::collections::{BTreeSet, HashMap};

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use prost_types::{FileDescriptorProto, FileDescriptorSet};
use wasmtime::component::Val;
use wit_parser::{Function, Resolve, WorldItem, WorldKey};

use crate::error::Error;
use crate::status::Code;
use proto::{FunctionPlan, ServicePlan, build_file, pascal, snake};
pub use shape::{Shape, Unsupported};
pub use values::ValueError;

/// The proto package used when the exports do not come from exactly one
/// WIT package (for example a component with root-level functions only).
pub const DEFAULT_PACKAGE: &str = "reprise.worker";

/// The service name of root-level functions unless the caller names it.
pub const DEFAULT_ROOT_SERVICE: &str = "Worker";

/// A component's exports as gRPC services.
#[derive(Debug, Clone)]
pub struct ExportApi {
    package: String,
    file: FileDescriptorProto,
    pool: DescriptorPool,
    services: Vec<ServiceApi>,
    by_path: HashMap<String, (usize, usize)>,
    skipped: Vec<Skipped>,
}

/// One served service.
#[derive(Debug, Clone)]
pub struct ServiceApi {
    /// Full name, `package.Service`.
    pub full_name: String,
    /// Its rpcs.
    pub methods: Vec<MethodApi>,
}

/// One rpc and the export it invokes.
#[derive(Debug, Clone)]
pub struct MethodApi {
    /// The rpc's name.
    pub rpc: String,
    /// The HTTP/2 path, `/package.Service/Rpc`.
    pub path: String,
    /// The export it invokes: `name`, or `interface#name`.
    pub function: String,
    /// Parameters: WIT names and shapes.
    pub params: Vec<(String, Shape)>,
    /// The result's shape.
    pub result: Option<Shape>,
    /// The request message.
    pub input: MessageDescriptor,
    /// The response message.
    pub output: MessageDescriptor,
    /// The detail message carrying a `result`'s error.
    pub error: Option<MessageDescriptor>,
}

/// An export left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The export's invocable name.
    pub function: String,
    /// Why it is not served.
    pub reason: String,
}

/// What an invocation's result becomes.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The response message.
    Ok(DynamicMessage),
    /// The function returned the error case of its `result`.
    Err {
        /// The status code: the error's case name when it names a gRPC
        /// code (`not-found` -> `NOT_FOUND`), else `UNKNOWN`.
        code: Code,
        /// The error value, if the error type is not `_`.
        value: Option<Val>,
        /// The detail message holding the value (packed in the status).
        detail: Option<DynamicMessage>,
    },
}

impl ExportApi {
    /// The services of the component `wasm`; root-level functions go in a
    /// service named `root_service`.
    pub fn from_component(wasm: &[u8], root_service: &str) -> Result<ExportApi, Error> {
        let decoded = wit_parser::decoding::decode(wasm).map_err(|e| Error::Exports {
            reason: format!("the component's types could not be read: {e:#}"),
        })?;
        let (resolve, world) = match decoded {
            wit_parser::decoding::DecodedWasm::Component(resolve, world) => (resolve, world),
            wit_parser::decoding::DecodedWasm::WitPackage(..) => {
                return Err(Error::Exports {
                    reason: "this is a WIT package, not a component".into(),
                });
            }
        };
        ExportApi::from_world(&resolve, world, root_service)
    }

    /// The services of the exports of `world` in `resolve`; root-level
    /// functions go in a service named `root_service`.
    pub fn from_world(
        resolve: &Resolve,
        world: wit_parser::WorldId,
        root_service: &str,
    ) -> Result<ExportApi, Error> {
        let world = &resolve.worlds[world];
        let mut root = Vec::new();
        let mut interfaces = Vec::new();
        let mut packages = BTreeSet::new();
        for (key, item) in &world.exports {
            match item {
                WorldItem::Function(f) => root.push((f.name.clone(), f)),
                WorldItem::Interface { id, .. } => {
                    let iface = &resolve.interfaces[*id];
                    let package = iface.package.map(|p| &resolve.packages[p].name);
                    if package.is_some_and(|p| p.namespace == "wasi") {
                        continue;
                    }
                    // An inline interface's package is the component's
                    // own placeholder (`root:component`), not an API's.
                    if let Some(p) = package.filter(|_| iface.name.is_some()) {
                        packages.insert(p.clone());
                    }
                    let name = match key {
                        WorldKey::Name(n) => n.clone(),
                        WorldKey::Interface(_) => iface.name.clone().unwrap_or_default(),
                    };
                    let functions: Vec<_> = iface
                        .functions
                        .values()
                        .map(|f| (format!("{}#{}", resolve.name_world_key(key), f.name), f))
                        .collect();
                    interfaces.push((name, functions));
                }
                WorldItem::Type { .. } => {}
            }
        }
        let package = match packages.len() {
            1 => packages
                .first()
                .map(|p| {
                    let mut segments = vec![snake(&p.namespace), snake(&p.name)];
                    if let Some(v) = &p.version {
                        segments.push(format!("v{}", version_segment(v)));
                    }
                    segments.join(".")
                })
                .unwrap_or_else(|| DEFAULT_PACKAGE.to_owned()),
            _ => DEFAULT_PACKAGE.to_owned(),
        };
        let mut skipped = Vec::new();
        let mut plans = Vec::new();
        let mut functions = Vec::new();
        let mut plan_of = |name: String, fns: Vec<(String, &Function)>| {
            let mut plan = ServicePlan {
                name,
                functions: Vec::new(),
            };
            let mut invocable = Vec::new();
            for (function, f) in fns {
                match function_plan(resolve, f) {
                    Ok(p) => {
                        plan.functions.push(p);
                        invocable.push(function);
                    }
                    Err(reason) => skipped.push(Skipped {
                        function,
                        reason: reason.0,
                    }),
                }
            }
            if !plan.functions.is_empty() {
                plans.push(plan);
                functions.push(invocable);
            }
        };
        if !root.is_empty() {
            plan_of(root_service.to_owned(), root);
        }
        for (name, fns) in interfaces {
            plan_of(pascal(&name), fns);
        }
        let file_name = format!("{}.proto", package.replace('.', "/"));
        ExportApi::from_plans(&package, &file_name, &plans, &functions, skipped)
    }

    /// The services of `plans`; `functions[i][j]` is the invocable name of
    /// `plans[i].functions[j]`.
    pub fn from_plans(
        package: &str,
        file_name: &str,
        plans: &[ServicePlan],
        functions: &[Vec<String>],
        skipped: Vec<Skipped>,
    ) -> Result<ExportApi, Error> {
        let built = build_file(file_name, package, plans);
        let set = FileDescriptorSet {
            file: vec![built.file.clone()],
        };
        let pool = DescriptorPool::from_file_descriptor_set(set).map_err(|e| Error::Exports {
            reason: format!("the derived proto does not validate: {e}"),
        })?;
        let message = |name: &str| {
            pool.get_message_by_name(name)
                .ok_or_else(|| Error::Exports {
                    reason: format!("the derived proto lacks message {name}"),
                })
        };
        let mut services = Vec::new();
        let mut by_path = HashMap::new();
        for (i, ((full_name, names), plan)) in built.services.iter().zip(plans).enumerate() {
            let mut methods = Vec::new();
            for (j, (m, f)) in names.iter().zip(&plan.functions).enumerate() {
                let path = format!("/{full_name}/{}", m.rpc);
                by_path.insert(path.clone(), (i, j));
                methods.push(MethodApi {
                    rpc: m.rpc.clone(),
                    path,
                    function: functions[i][j].clone(),
                    params: f.params.clone(),
                    result: f.result.clone(),
                    input: message(&m.request)?,
                    output: message(&m.response)?,
                    error: m.error.as_deref().map(message).transpose()?,
                });
            }
            services.push(ServiceApi {
                full_name: full_name.clone(),
                methods,
            });
        }
        Ok(ExportApi {
            package: package.to_owned(),
            file: built.file,
            pool,
            services,
            by_path,
            skipped,
        })
    }

    /// The proto package.
    pub fn package(&self) -> &str {
        &self.package
    }

    /// The served services.
    pub fn services(&self) -> &[ServiceApi] {
        &self.services
    }

    /// Exports left out, with the reason.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// The rpc at HTTP/2 path `/package.Service/Rpc`.
    pub fn method(&self, path: &str) -> Option<&MethodApi> {
        let (i, j) = self.by_path.get(path)?;
        Some(&self.services[*i].methods[*j])
    }

    /// The descriptors (one file, no imports).
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }

    /// The file's descriptor.
    pub fn file(&self) -> &FileDescriptorProto {
        &self.file
    }

    /// The encoded `FileDescriptorSet`.
    pub fn descriptor_set(&self) -> Vec<u8> {
        FileDescriptorSet {
            file: vec![self.file.clone()],
        }
        .encode_to_vec()
    }

    /// The `.proto` source text.
    pub fn proto_text(&self) -> String {
        text::render(&self.file, &self.skipped)
    }
}

impl MethodApi {
    /// The export's parameters from a request.
    pub fn params(&self, request: &DynamicMessage) -> Result<Vec<Val>, ValueError> {
        values::message_to_vals(&self.params, request, "request")
    }

    /// A request holding `params` (the client side).
    pub fn request(&self, params: &[Val]) -> Result<DynamicMessage, ValueError> {
        values::vals_to_message(&self.params, params, &self.input)
    }

    /// What the export's `result` becomes.
    pub fn reply(&self, result: Option<&Val>) -> Result<Reply, ValueError> {
        let response = |fields: Vec<(String, Shape)>, vals: Vec<Val>| {
            values::vals_to_message(&fields, &vals, &self.output)
        };
        match (&self.result, result) {
            (None, _) => Ok(Reply::Ok(response(Vec::new(), Vec::new())?)),
            (Some(Shape::Result { ok, err }), Some(Val::Result(outcome))) => match outcome {
                Ok(value) => match (ok, value) {
                    (Some(shape), Some(value)) => Ok(Reply::Ok(response(
                        vec![("result".into(), shape.as_ref().clone())],
                        vec![value.as_ref().clone()],
                    )?)),
                    _ => Ok(Reply::Ok(response(Vec::new(), Vec::new())?)),
                },
                Err(value) => {
                    let value = value.as_deref().cloned();
                    let detail = match (err, &value, &self.error) {
                        (Some(shape), Some(v), Some(descriptor)) => Some(values::vals_to_message(
                            &[("error".into(), shape.as_ref().clone())],
                            std::slice::from_ref(v),
                            descriptor,
                        )?),
                        _ => None,
                    };
                    Ok(Reply::Err {
                        code: value.as_ref().map(code_of).unwrap_or(Code::Unknown),
                        value,
                        detail,
                    })
                }
            },
            (Some(shape), Some(value)) => Ok(Reply::Ok(response(
                vec![("result".into(), shape.clone())],
                vec![value.clone()],
            )?)),
            (Some(_), None) => Err(ValueError {
                path: "response".into(),
                message: "the function returned no value".into(),
            }),
        }
    }

    /// The success value a response holds (the client side): `None` for
    /// functions without a result (or whose `result`'s ok type is `_`).
    pub fn response_value(&self, response: &DynamicMessage) -> Result<Option<Val>, ValueError> {
        let shape = match &self.result {
            None => return Ok(None),
            Some(Shape::Result { ok: None, .. }) => return Ok(None),
            Some(Shape::Result { ok: Some(ok), .. }) => ok.as_ref().clone(),
            Some(other) => other.clone(),
        };
        let mut vals = values::message_to_vals(&[("result".into(), shape)], response, "response")?;
        Ok(vals.pop())
    }
}

/// The status code an error value asks for: a variant or enum case named
/// like a gRPC code (`not-found`, `invalid-argument`...), else `UNKNOWN`.
fn code_of(value: &Val) -> Code {
    let case = match value {
        Val::Variant(case, _) | Val::Enum(case) => case,
        _ => return Code::Unknown,
    };
    (1..=16)
        .map(Code::from_i32)
        .find(|code| code.name().to_ascii_lowercase().replace('_', "-") == *case)
        .unwrap_or(Code::Unknown)
}

/// A WIT version as a proto package segment: `1.2.0` -> `1_2_0`.
fn version_segment(version: &semver::Version) -> String {
    version
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn function_plan(resolve: &Resolve, f: &Function) -> Result<FunctionPlan, Unsupported> {
    use wit_parser::FunctionKind;
    let refused = match f.kind {
        FunctionKind::Freestanding => None,
        FunctionKind::AsyncFreestanding => Some("async functions are not served"),
        FunctionKind::Method(_) | FunctionKind::AsyncMethod(_) => {
            Some("resource methods are not served")
        }
        FunctionKind::Static(_) | FunctionKind::AsyncStatic(_) => {
            Some("static functions of resources are not served")
        }
        FunctionKind::Constructor(_) => Some("resource constructors are not served"),
    };
    if let Some(reason) = refused {
        return Err(Unsupported(reason.into()));
    }
    let params = f
        .params
        .iter()
        .map(|p| {
            Shape::of(resolve, &p.ty)
                .map(|s| (p.name.clone(), s))
                .map_err(|e| Unsupported(format!("parameter `{}`: {}", p.name, e.0)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let result = f
        .result
        .as_ref()
        .map(|t| Shape::of(resolve, t).map_err(|e| Unsupported(format!("result: {}", e.0))))
        .transpose()?;
    Ok(FunctionPlan {
        wit_name: f.name.clone(),
        params,
        result,
    })
}
