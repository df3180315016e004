//! The typed interface model: every protobuf -> WIT decision, made once.
//!
//! [`InterfaceModel::build`] walks a `DescriptorPool` from the exposed
//! files, services or messages and records packages, services, methods and
//! their call kinds, records, enums, oneof variants, naming decisions and
//! recursion breaks, and ([`shape`]) the call shape of every method. The WIT
//! renderer ([`crate::wit`]), the value bridge ([`crate::bridge`]) and the
//! executor's type check and linker all read this model; none re-derives a
//! decision.

mod assign;
mod build;
mod cycles;
mod identifiers;
pub mod limits;
pub mod naming;
pub mod package;
pub mod shape;
pub mod source;
pub mod types;

use std::collections::{BTreeSet, HashMap};

use prost_reflect::{DescriptorPool, MessageDescriptor};
use semver::Version;

pub use package::WitPackageName;
pub use shape::{FunctionShape, NextItem, OkValue, Param, Returns, StreamOp};
pub use types::{
    CallKind, CaseModel, EnumCase, EnumId, EnumModel, FieldMapping, FieldModel, ForeignUse,
    MemberModel, MessageId, MessageModel, MethodModel, OneofModel, PackageId, PackageModel, Scalar,
    ServiceId, ServiceModel, ServiceTypeUse, ValueType, ValueTypeKey, WellKnown, WireKind,
};

use crate::Error;

/// The name of the interface holding a package's records, enums and variants.
pub const TYPES_INTERFACE: &str = "types";

/// Options that change WIT package names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelOptions {
    /// Namespace for proto packages with a single segment (`routeguide` ->
    /// `<namespace>:routeguide`); without it they take `proto`. A namespace
    /// that no exposed package takes is refused.
    pub namespace: Option<String>,
    /// Version for the exposed packages, replacing the one derived from a
    /// trailing `vN` segment.
    pub version: Option<Version>,
}

/// What to expose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exposure {
    /// Every service of a file (by its name in the pool, e.g.
    /// `core/todo/v1/todo.proto`); a file without services exposes all its
    /// messages and enums instead.
    File(String),
    /// One service, by full name (`core.todo.v1.TodoService`).
    Service(String),
    /// One message (and what it reaches), by full name, without a service.
    Message(String),
}

// The executor shares one model between threads.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<InterfaceModel>();
};

/// The interface model. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct InterfaceModel {
    pool: DescriptorPool,
    packages: Vec<PackageModel>,
    messages: Vec<MessageModel>,
    enums: Vec<EnumModel>,
    services: Vec<ServiceModel>,
    message_ids: HashMap<String, MessageId>,
    enum_ids: HashMap<String, EnumId>,
    interfaces: HashMap<String, ServiceId>,
}

impl InterfaceModel {
    /// Builds the model of everything reachable from `exposures`.
    ///
    /// Output is deterministic: roots are visited in sorted order, and names
    /// are allocated over the pool's full content of each package.
    pub fn build(
        pool: &DescriptorPool,
        exposures: &[Exposure],
        options: &ModelOptions,
    ) -> Result<Self, Error> {
        if exposures.is_empty() {
            return Err(Error::InvalidOption {
                option: "exposures".to_owned(),
                reason: "nothing to expose: give at least one file, service or message".to_owned(),
            });
        }
        identifiers::check(pool)?;
        let mut services: BTreeSet<String> = BTreeSet::new();
        let mut messages: BTreeSet<String> = BTreeSet::new();
        let mut enums: BTreeSet<String> = BTreeSet::new();
        let mut exposed_packages: BTreeSet<String> = BTreeSet::new();
        for exposure in exposures {
            match exposure {
                Exposure::File(name) => {
                    let file = pool.get_file_by_name(name).ok_or_else(|| Error::NotFound {
                        kind: "file",
                        name: name.clone(),
                    })?;
                    exposed_packages.insert(file.package_name().to_owned());
                    if file.services().len() > 0 {
                        services.extend(file.services().map(|s| s.full_name().to_owned()));
                    } else {
                        for m in pool.all_messages() {
                            if m.parent_file() == file && !m.is_map_entry() {
                                messages.insert(m.full_name().to_owned());
                            }
                        }
                        for e in pool.all_enums() {
                            if e.parent_file() == file {
                                enums.insert(e.full_name().to_owned());
                            }
                        }
                    }
                }
                Exposure::Service(name) => {
                    let s = pool
                        .get_service_by_name(name)
                        .ok_or_else(|| Error::NotFound {
                            kind: "service",
                            name: name.clone(),
                        })?;
                    exposed_packages.insert(s.package_name().to_owned());
                    services.insert(name.clone());
                }
                Exposure::Message(name) => {
                    let m = pool
                        .get_message_by_name(name)
                        .ok_or_else(|| Error::NotFound {
                            kind: "message",
                            name: name.clone(),
                        })?;
                    exposed_packages.insert(m.package_name().to_owned());
                    messages.insert(name.clone());
                }
            }
        }

        let starts = services
            .iter()
            .filter_map(|name| pool.get_service_by_name(name))
            .flat_map(|s| {
                s.methods()
                    .flat_map(|m| [m.input(), m.output()])
                    .collect::<Vec<_>>()
            })
            .chain(messages.iter().filter_map(|n| pool.get_message_by_name(n)));
        let mut graph = build::Graph::new(cycles::Breaks::compute(starts));
        let mut roots = Vec::new();
        for name in &services {
            let Some(service) = pool.get_service_by_name(name) else {
                continue;
            };
            let mut methods = Vec::new();
            for m in service.methods() {
                let request = graph.visit_message(&m.input())?;
                let response = graph.visit_message(&m.output())?;
                methods.push((request, response));
            }
            roots.push(assign::RootService {
                descriptor: service,
                methods,
            });
        }
        for name in &messages {
            if let Some(m) = pool.get_message_by_name(name) {
                graph.visit_message(&m)?;
            }
        }
        for name in &enums {
            if let Some(e) = pool.get_enum_by_name(name) {
                graph.visit_enum(&e);
            }
        }

        let method_types: Vec<_> = roots
            .iter()
            .flat_map(|r| r.methods.iter().copied())
            .collect();
        limits::apply(&mut graph, &method_types)?;
        let assigned = assign::assign(pool, graph, roots, &exposed_packages, options)?;
        let message_ids = assigned
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| (m.full_name().to_owned(), MessageId::from_index(i)))
            .collect();
        let enum_ids = assigned
            .enums
            .iter()
            .enumerate()
            .map(|(i, e)| (e.full_name().to_owned(), EnumId::from_index(i)))
            .collect();
        let interfaces = assigned
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let path = assigned.packages[s.package.index()]
                    .wit
                    .interface_path(&s.wit_name);
                (path, ServiceId::from_index(i))
            })
            .collect();
        Ok(Self {
            pool: pool.clone(),
            packages: assigned.packages,
            messages: assigned.messages,
            enums: assigned.enums,
            services: assigned.services,
            message_ids,
            enum_ids,
            interfaces,
        })
    }

    /// The descriptor pool the model was built from.
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }

    /// All packages, sorted by WIT package name.
    pub fn packages(&self) -> &[PackageModel] {
        &self.packages
    }

    /// Refuses a namespace setting (`options.namespace`) that no exposed
    /// package of this model takes: it names the namespace of one-segment
    /// packages (`package helloworld;`), and a package of several segments
    /// brings its own. Accepting it would hand the guest packages it did
    /// not ask for. Not part of [`build`](Self::build), which also rebuilds
    /// the models of components stored before this check existed: called
    /// where a setting is given (an upload, the WIT generator).
    pub fn check_namespace(&self, options: &ModelOptions) -> Result<(), Error> {
        let Some(asked) = options.namespace.as_deref() else {
            return Ok(());
        };
        let mut exposed = self.packages.iter().filter(|p| p.exposed);
        if exposed.clone().any(|p| p.wit.namespace == asked) {
            return Ok(());
        }
        let Some(package) = exposed.next() else {
            return Ok(());
        };
        Err(Error::InvalidOption {
            option: "namespace".to_owned(),
            reason: format!(
                "`{asked}` applies to no exposed package: proto package `{}` has several \
                 segments and takes its WIT namespace from the first, giving `{}`; the \
                 namespace setting is for one-segment packages (`package helloworld;`). Leave \
                 it out or set it to `{}`",
                package.proto_package, package.wit, package.wit.namespace
            ),
        })
    }

    /// One package.
    pub fn package(&self, id: PackageId) -> &PackageModel {
        &self.packages[id.index()]
    }

    /// All records.
    pub fn messages(&self) -> &[MessageModel] {
        &self.messages
    }

    /// One record.
    pub fn message(&self, id: MessageId) -> &MessageModel {
        &self.messages[id.index()]
    }

    /// A record by proto full name.
    pub fn message_id(&self, full_name: &str) -> Option<MessageId> {
        self.message_ids.get(full_name).copied()
    }

    /// All enums.
    pub fn enums(&self) -> &[EnumModel] {
        &self.enums
    }

    /// One enum.
    pub fn enum_model(&self, id: EnumId) -> &EnumModel {
        &self.enums[id.index()]
    }

    /// An enum by proto full name.
    pub fn enum_id(&self, full_name: &str) -> Option<EnumId> {
        self.enum_ids.get(full_name).copied()
    }

    /// All exposed services, sorted by (package, interface name).
    pub fn services(&self) -> &[ServiceModel] {
        &self.services
    }

    /// The ids of all exposed services, in the order of [`Self::services`].
    pub fn service_ids(&self) -> impl Iterator<Item = ServiceId> + '_ {
        (0..self.services.len()).map(ServiceId::from_index)
    }

    /// One service.
    pub fn service(&self, id: ServiceId) -> &ServiceModel {
        &self.services[id.index()]
    }

    /// The fully qualified WIT interface of a service, as wasmtime names the
    /// import: `core:todo/todo-service@1.0.0`.
    pub fn interface_path(&self, id: ServiceId) -> String {
        let s = self.service(id);
        self.package(s.package).wit.interface_path(&s.wit_name)
    }

    /// The service behind a fully qualified WIT interface name.
    pub fn service_by_interface(&self, path: &str) -> Option<ServiceId> {
        self.interfaces.get(path).copied()
    }

    /// The method behind an imported function: interface path plus function
    /// name (`core:todo/todo-service@1.0.0`, `todo-add`).
    pub fn method(&self, interface: &str, function: &str) -> Option<(&ServiceModel, &MethodModel)> {
        let service = self.service(self.service_by_interface(interface)?);
        let method = service.methods.iter().find(|m| m.wit_name == function)?;
        Some((service, method))
    }

    /// How a whole message maps where it stands alone (a request, a
    /// response, a stream item): `None` for an empty message.
    pub fn value_type_of(&self, message: &MessageDescriptor) -> Result<Option<ValueType>, Error> {
        if let Some(wk) = WellKnown::from_full_name(message.full_name()) {
            return Ok(Some(ValueType::WellKnown(wk)));
        }
        if message.fields().len() == 0 {
            return Ok(None);
        }
        self.message_id(message.full_name())
            .map(|id| Some(ValueType::Message(id)))
            .ok_or_else(|| Error::NotFound {
                kind: "message in the interface model",
                name: message.full_name().to_owned(),
            })
    }
}
