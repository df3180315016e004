//! Package-level decisions: WIT package names, type and interface names,
//! cross-package `use`s, service function/resource names.
//!
//! Type and interface names are allocated over everything the descriptor
//! pool holds for a package (not only what is reachable), so exposing one
//! more service never renames an existing type.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use prost_reflect::{DescriptorPool, ServiceDescriptor};

use super::build::Graph;
use super::naming::{NameAllocator, kebab};
use super::package::wit_package_name;
use super::types::{
    CallKind, EnumId, FieldMapping, ForeignUse, MemberModel, MessageId, MessageModel, MethodModel,
    PackageId, PackageModel, ServiceId, ServiceModel, ServiceTypeUse, ValueType, ValueTypeKey,
    WellKnown,
};
use super::{ModelOptions, TYPES_INTERFACE};
use crate::Error;

/// Support-package type names a package's `types` interface may use; never
/// given to a proto type there.
pub(crate) const RESERVED_IN_TYPES: &[&str] = &["any", "duration", "timestamp"];
/// Support-package type names a service interface may use; never given to a
/// function, resource or alias there.
pub(crate) const RESERVED_IN_SERVICE: &[&str] =
    &["any", "call-options", "duration", "rpc-status", "timestamp"];

/// A service reached from the roots, with its request/response types mapped.
pub(crate) struct RootService {
    pub(crate) descriptor: ServiceDescriptor,
    pub(crate) methods: Vec<(Option<ValueType>, Option<ValueType>)>,
}

/// The finished tables the model is made of.
pub(crate) struct Assigned {
    pub(crate) packages: Vec<PackageModel>,
    pub(crate) messages: Vec<MessageModel>,
    pub(crate) enums: Vec<super::types::EnumModel>,
    pub(crate) services: Vec<ServiceModel>,
}

/// The name of a message or enum relative to its package: `Outer.Inner` ->
/// `outer-inner`.
fn nested_base(full_name: &str, package: &str) -> String {
    let relative = if package.is_empty() {
        full_name
    } else {
        full_name
            .strip_prefix(package)
            .and_then(|r| r.strip_prefix('.'))
            .unwrap_or(full_name)
    };
    relative.split('.').map(kebab).collect::<Vec<_>>().join("-")
}

/// The type names of every package in use.
#[derive(Default)]
struct TypeNames {
    /// Message or enum full name -> name in its package's `types`.
    types: HashMap<String, String>,
    /// (message full name, oneof name) -> variant type name.
    variants: HashMap<(String, String), String>,
    /// Proto package -> every name given out in its `types` (plus reserved).
    taken: HashMap<String, BTreeSet<String>>,
}

/// Allocates the type names of every message and enum (and oneof variant)
/// of every package in `packages`, over everything `pool` holds for them.
fn allocate_type_names(pool: &DescriptorPool, packages: &BTreeSet<String>) -> TypeNames {
    // (package) -> [(depth, full name, base)]
    let mut per_package: BTreeMap<String, Vec<(usize, String, String)>> = BTreeMap::new();
    let mut oneofs: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut add = |package: &str, full_name: &str| {
        if packages.contains(package) {
            let depth = full_name.matches('.').count();
            per_package.entry(package.to_owned()).or_default().push((
                depth,
                full_name.to_owned(),
                nested_base(full_name, package),
            ));
        }
    };
    for m in pool.all_messages() {
        if m.is_map_entry() || WellKnown::from_full_name(m.full_name()).is_some() {
            continue;
        }
        add(m.package_name(), m.full_name());
        for oneof in m.oneofs().filter(|o| !o.is_synthetic()) {
            oneofs
                .entry(m.package_name().to_owned())
                .or_default()
                .push((m.full_name().to_owned(), oneof.name().to_owned()));
        }
    }
    for e in pool.all_enums() {
        add(e.package_name(), e.full_name());
    }
    let mut out = TypeNames::default();
    for (package, mut items) in per_package {
        items.sort();
        let bases: Vec<String> = items.iter().map(|(_, _, b)| b.clone()).collect();
        let granted =
            NameAllocator::with_reserved(RESERVED_IN_TYPES.iter().copied()).allocate(&bases);
        let mut reserved: Vec<String> = RESERVED_IN_TYPES.iter().map(|s| s.to_string()).collect();
        reserved.extend(granted.iter().cloned());
        for ((_, full, _), name) in items.into_iter().zip(granted) {
            out.types.insert(full, name);
        }
        let mut variants = oneofs.remove(&package).unwrap_or_default();
        variants.sort();
        let bases: Vec<String> = variants
            .iter()
            .map(|(msg, oneof)| {
                let owner = out.types.get(msg).cloned().unwrap_or_else(|| kebab(msg));
                format!("{owner}-{}", kebab(oneof))
            })
            .collect();
        let granted = NameAllocator::with_reserved(reserved.clone()).allocate(&bases);
        reserved.extend(granted.iter().cloned());
        for (key, name) in variants.into_iter().zip(granted) {
            out.variants.insert(key, name);
        }
        out.taken.insert(package, reserved.into_iter().collect());
    }
    out
}

/// Collects the record/enum keys and support types one value type refers to.
fn note_value(
    v: ValueType,
    keys: &mut BTreeSet<ValueTypeKey>,
    support: &mut BTreeSet<&'static str>,
) {
    match v {
        ValueType::Message(id) => {
            keys.insert(ValueTypeKey::Message(id));
        }
        ValueType::Enum(id) => {
            keys.insert(ValueTypeKey::Enum(id));
        }
        ValueType::WellKnown(wk) => {
            if let Some(name) = wk.support_type() {
                support.insert(name);
            }
        }
        ValueType::Scalar(_) | ValueType::RecursionBreak(_) => {}
    }
}

fn note_mapping(
    m: FieldMapping,
    keys: &mut BTreeSet<ValueTypeKey>,
    support: &mut BTreeSet<&'static str>,
) {
    match m {
        FieldMapping::Plain(v) | FieldMapping::Optional(v) | FieldMapping::List(v) => {
            note_value(v, keys, support)
        }
        FieldMapping::Map { value, .. } => note_value(value, keys, support),
        FieldMapping::EmptyPresence
        | FieldMapping::EmptyCount
        | FieldMapping::EmptyMapKeys { .. } => {}
    }
}

/// Turns the reachable graph plus root services into the final model tables.
pub(crate) fn assign(
    pool: &DescriptorPool,
    graph: Graph,
    roots: Vec<RootService>,
    exposed_packages: &BTreeSet<String>,
    options: &ModelOptions,
) -> Result<Assigned, Error> {
    let mut messages: Vec<MessageModel> = graph.messages.into_iter().flatten().collect();
    let mut enums = graph.enums;

    // Packages in use, with their WIT names.
    let mut proto_packages: BTreeSet<String> = BTreeSet::new();
    proto_packages.extend(
        messages
            .iter()
            .map(|m| m.descriptor.package_name().to_owned()),
    );
    proto_packages.extend(enums.iter().map(|e| e.descriptor.package_name().to_owned()));
    proto_packages.extend(roots.iter().map(|s| s.descriptor.package_name().to_owned()));
    // An exposed file with nothing mappable (only extensions, say) still
    // yields its package, with an empty `types` interface.
    proto_packages.extend(exposed_packages.iter().cloned());
    let mut named: Vec<(String, super::package::WitPackageName, bool)> = Vec::new();
    for p in &proto_packages {
        let exposed = exposed_packages.contains(p);
        let version = if exposed {
            options.version.as_ref()
        } else {
            None
        };
        if p.is_empty() {
            // Which file: the error is about it, not about a package.
            let file = messages
                .iter()
                .map(|m| m.descriptor.parent_file())
                .chain(enums.iter().map(|e| e.descriptor.parent_file()))
                .chain(roots.iter().map(|s| s.descriptor.parent_file()))
                .find(|f| f.package_name().is_empty())
                .map(|f| f.name().to_owned());
            return Err(Error::Unmappable {
                item: file.map_or_else(|| "(no package)".to_owned(), |f| format!("file `{f}`")),
                reason: "a file without a `package` declaration has no WIT package name; add \
                         a `package` statement to the .proto file"
                    .to_owned(),
            });
        }
        let wit = wit_package_name(p, options.namespace.as_deref(), version)?;
        if wit.namespace == "wasi" {
            return Err(Error::Unmappable {
                item: p.clone(),
                reason: format!(
                    "it maps to WIT package `{wit}`, in WASI's own namespace `wasi` (the \
                     executor links `wasi:` imports as WASI, never to a gRPC service); rename \
                     the proto package"
                ),
            });
        }
        named.push((p.clone(), wit, exposed));
    }
    named.sort_by(|a, b| a.1.cmp(&b.1));
    // Two versions of one package (`v1` beside `v1beta1`) are two WIT
    // packages; they only need directories of their own.
    let mut versions: BTreeMap<String, usize> = BTreeMap::new();
    for (_, wit, _) in &named {
        *versions.entry(wit.unversioned()).or_default() += 1;
    }
    let dir_of = |wit: &super::package::WitPackageName| {
        if versions.get(&wit.unversioned()).copied().unwrap_or(0) > 1 {
            wit.versioned_dir_name()
        } else {
            wit.dir_name()
        }
    };
    let mut by_dir: BTreeMap<String, (&str, &super::package::WitPackageName)> = BTreeMap::new();
    for (proto, wit, _) in &named {
        if wit.dir_name() == crate::wit::support::SUPPORT_DIR {
            return Err(Error::Unmappable {
                item: proto.clone(),
                reason: format!(
                    "WIT package `{wit}` clashes with the support package `reprise:grpc`"
                ),
            });
        }
        let dir = dir_of(wit);
        if let Some((other, other_wit)) = by_dir.insert(dir.clone(), (proto, wit)) {
            let clash = if other_wit.to_string() == wit.to_string() {
                format!("map to the same WIT package `{wit}`")
            } else {
                format!(
                    "map to WIT packages `{other_wit}` and `{wit}`, which would share the \
                     directory `{dir}`"
                )
            };
            return Err(Error::Unmappable {
                item: proto.clone(),
                reason: format!(
                    "proto packages `{other}` and `{proto}` {clash}; rename one of the \
                     packages, or give the dependency that exposes one a `wit` namespace or \
                     version override"
                ),
            });
        }
    }
    let dirs: Vec<String> = named.iter().map(|(_, wit, _)| dir_of(wit)).collect();
    let package_id: HashMap<String, PackageId> = named
        .iter()
        .enumerate()
        .map(|(i, (p, _, _))| (p.clone(), PackageId::from_index(i)))
        .collect();
    let mut packages: Vec<PackageModel> = named
        .into_iter()
        .zip(dirs)
        .map(|((proto_package, wit, exposed), dir)| PackageModel {
            proto_package,
            wit,
            dir,
            exposed,
            messages: vec![],
            enums: vec![],
            foreign_uses: vec![],
            support_uses: vec![],
            services: vec![],
            local_names: HashMap::new(),
        })
        .collect();

    // Type names.
    let names = allocate_type_names(pool, &proto_packages);
    let name_of = |full: &str| {
        names
            .types
            .get(full)
            .cloned()
            .unwrap_or_else(|| kebab(full))
    };
    for (i, m) in messages.iter_mut().enumerate() {
        let pkg = package_id[m.descriptor.package_name()];
        m.package = pkg;
        m.wit_name = name_of(m.descriptor.full_name());
        for member in &mut m.members {
            if let MemberModel::Oneof(o) = member {
                o.type_name = names
                    .variants
                    .get(&(m.descriptor.full_name().to_owned(), o.proto_name.clone()))
                    .cloned()
                    .unwrap_or_else(|| format!("{}-{}", m.wit_name, kebab(&o.proto_name)));
            }
        }
        packages[pkg.index()]
            .messages
            .push(MessageId::from_index(i));
        packages[pkg.index()].local_names.insert(
            ValueTypeKey::Message(MessageId::from_index(i)),
            m.wit_name.clone(),
        );
    }
    for (i, e) in enums.iter_mut().enumerate() {
        let pkg = package_id[e.descriptor.package_name()];
        e.package = pkg;
        e.wit_name = name_of(e.descriptor.full_name());
        packages[pkg.index()].enums.push(EnumId::from_index(i));
        packages[pkg.index()].local_names.insert(
            ValueTypeKey::Enum(EnumId::from_index(i)),
            e.wit_name.clone(),
        );
    }
    for p in &mut packages {
        p.messages.sort_by(|a, b| {
            messages[a.index()]
                .wit_name
                .cmp(&messages[b.index()].wit_name)
        });
        p.enums
            .sort_by(|a, b| enums[a.index()].wit_name.cmp(&enums[b.index()].wit_name));
    }

    let owner_of = |key: ValueTypeKey| match key {
        ValueTypeKey::Message(id) => messages[id.index()].package,
        ValueTypeKey::Enum(id) => enums[id.index()].package,
    };
    let own_name = |key: ValueTypeKey| match key {
        ValueTypeKey::Message(id) => messages[id.index()].wit_name.clone(),
        ValueTypeKey::Enum(id) => enums[id.index()].wit_name.clone(),
    };

    // What each package's `types` interface refers to.
    let mut refs: Vec<(BTreeSet<ValueTypeKey>, BTreeSet<&'static str>)> =
        vec![Default::default(); packages.len()];
    for m in &messages {
        let (keys, support) = &mut refs[m.package.index()];
        for member in &m.members {
            match member {
                MemberModel::Field(f) => note_mapping(f.mapping, keys, support),
                MemberModel::Oneof(o) => {
                    for c in o.cases.iter().filter_map(|c| c.payload) {
                        note_value(c, keys, support);
                    }
                }
            }
        }
    }
    for s in &roots {
        let pkg = package_id[s.descriptor.package_name()];
        let (keys, _) = &mut refs[pkg.index()];
        for v in s.methods.iter().flat_map(|(a, b)| [*a, *b]).flatten() {
            note_value(v, keys, &mut BTreeSet::new());
        }
    }

    // Foreign uses and the package dependency graph.
    let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); packages.len()];
    for (pi, (keys, support)) in refs.into_iter().enumerate() {
        let mut foreign: Vec<(PackageId, String, ValueTypeKey)> = keys
            .into_iter()
            .filter(|k| owner_of(*k).index() != pi)
            .map(|k| (owner_of(k), own_name(k), k))
            .collect();
        foreign.sort_by(|a, b| {
            (&packages[a.0.index()].wit, &a.1).cmp(&(&packages[b.0.index()].wit, &b.1))
        });
        let taken: BTreeSet<String> = names
            .taken
            .get(&packages[pi].proto_package)
            .cloned()
            .unwrap_or_else(|| RESERVED_IN_TYPES.iter().map(|s| s.to_string()).collect());
        let bases: Vec<String> = foreign
            .iter()
            .map(|(pkg, name, _)| {
                if taken.contains(name) {
                    let w = &packages[pkg.index()].wit;
                    format!("{}-{}-{}", w.namespace, w.name, name)
                } else {
                    name.clone()
                }
            })
            .collect();
        let aliases = NameAllocator::with_reserved(taken).allocate(&bases);
        let mut uses = Vec::new();
        for ((pkg, name, key), alias) in foreign.into_iter().zip(aliases) {
            deps[pi].insert(pkg.index());
            packages[pi].local_names.insert(key, alias.clone());
            uses.push(ForeignUse {
                package: pkg,
                name,
                alias,
            });
        }
        packages[pi].foreign_uses = uses;
        packages[pi].support_uses = support.into_iter().collect();
    }
    check_package_cycles(&packages, &deps)?;

    let services = assign_services(pool, roots, &package_id, &mut packages)?;
    Ok(Assigned {
        packages,
        messages,
        enums,
        services,
    })
}

/// WIT packages must not depend on each other in a cycle.
fn check_package_cycles(packages: &[PackageModel], deps: &[BTreeSet<usize>]) -> Result<(), Error> {
    // 0 = unvisited, 1 = on path, 2 = done
    let mut state = vec![0u8; packages.len()];
    for start in 0..packages.len() {
        if state[start] != 0 {
            continue;
        }
        let mut path: Vec<(usize, Vec<usize>)> =
            vec![(start, deps[start].iter().copied().collect())];
        state[start] = 1;
        while let Some((node, pending)) = path.last_mut() {
            let node = *node;
            match pending.pop() {
                None => {
                    state[node] = 2;
                    path.pop();
                }
                Some(next) if state[next] == 1 => {
                    let from = path.iter().position(|(n, _)| *n == next).unwrap_or(0);
                    let mut cycle: Vec<&str> = path[from..]
                        .iter()
                        .map(|(n, _)| packages[*n].proto_package.as_str())
                        .collect();
                    cycle.push(&packages[next].proto_package);
                    return Err(Error::PackageCycle {
                        cycle: cycle.join(" -> "),
                    });
                }
                Some(next) if state[next] == 0 => {
                    state[next] = 1;
                    path.push((next, deps[next].iter().copied().collect()));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// Names service interfaces, functions, resources and the aliases of the
/// types each service interface uses.
fn assign_services(
    pool: &DescriptorPool,
    roots: Vec<RootService>,
    package_id: &HashMap<String, PackageId>,
    packages: &mut [PackageModel],
) -> Result<Vec<ServiceModel>, Error> {
    // Interface names, allocated over all services of each package in the pool.
    let mut per_package: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in pool.services() {
        if package_id.contains_key(s.package_name()) {
            per_package
                .entry(s.package_name().to_owned())
                .or_default()
                .push(s.full_name().to_owned());
        }
    }
    let mut interface_names: HashMap<String, String> = HashMap::new();
    for (package, mut full_names) in per_package {
        full_names.sort();
        let bases: Vec<String> = full_names
            .iter()
            .map(|f| nested_base(f, &package))
            .collect();
        let granted = NameAllocator::with_reserved([TYPES_INTERFACE]).allocate(&bases);
        interface_names.extend(full_names.into_iter().zip(granted));
    }

    let mut services = Vec::new();
    for root in roots {
        let pkg = package_id[root.descriptor.package_name()];
        let methods: Vec<_> = root.descriptor.methods().collect();
        let fn_bases: Vec<String> = methods.iter().map(|m| kebab(m.name())).collect();
        let fn_names =
            NameAllocator::with_reserved(RESERVED_IN_SERVICE.iter().copied()).allocate(&fn_bases);
        let mut reserved: Vec<String> = RESERVED_IN_SERVICE.iter().map(|s| s.to_string()).collect();
        reserved.extend(fn_names.iter().cloned());
        let streaming: Vec<(usize, String)> = methods
            .iter()
            .enumerate()
            .filter_map(|(i, m)| match CallKind::of(m) {
                CallKind::Unary => None,
                CallKind::ServerStreaming => Some((i, format!("{}-stream", fn_names[i]))),
                CallKind::ClientStreaming | CallKind::Bidi => {
                    Some((i, format!("{}-call", fn_names[i])))
                }
            })
            .collect();
        let res_bases: Vec<String> = streaming.iter().map(|(_, b)| b.clone()).collect();
        let res_names = NameAllocator::with_reserved(reserved.clone()).allocate(&res_bases);
        reserved.extend(res_names.iter().cloned());
        let mut resource_of: HashMap<usize, String> = HashMap::new();
        for ((i, _), name) in streaming.into_iter().zip(res_names) {
            resource_of.insert(i, name);
        }

        let mut support: BTreeSet<&'static str> = ["call-options", "rpc-status"].into();
        let mut keys: BTreeSet<ValueTypeKey> = BTreeSet::new();
        let mut method_models = Vec::new();
        for (i, (m, (request, response))) in methods.into_iter().zip(root.methods).enumerate() {
            for v in [request, response].into_iter().flatten() {
                note_value(v, &mut keys, &mut support);
            }
            method_models.push(MethodModel {
                kind: CallKind::of(&m),
                descriptor: m,
                wit_name: fn_names[i].clone(),
                request,
                response,
                resource: resource_of.remove(&i),
            });
        }
        let package = &packages[pkg.index()];
        let mut used: Vec<(String, ValueTypeKey)> =
            keys.into_iter()
                .map(|k| {
                    let name = package.local_name(k).map(str::to_owned).ok_or_else(|| {
                        Error::Unmappable {
                            item: root.descriptor.full_name().to_owned(),
                            reason: "internal: a request/response type has no name in `types`"
                                .to_owned(),
                        }
                    })?;
                    Ok((name, k))
                })
                .collect::<Result<_, Error>>()?;
        used.sort();
        let reserved_set: BTreeSet<String> = reserved.iter().cloned().collect();
        let alias_bases: Vec<String> = used
            .iter()
            .map(|(n, _)| {
                if reserved_set.contains(n) {
                    format!("{n}-type")
                } else {
                    n.clone()
                }
            })
            .collect();
        let aliases = NameAllocator::with_reserved(reserved).allocate(&alias_bases);
        let mut local_names = HashMap::new();
        let mut type_uses = Vec::new();
        for ((name, key), alias) in used.into_iter().zip(aliases) {
            local_names.insert(key, alias.clone());
            type_uses.push(ServiceTypeUse {
                name_in_types: name,
                alias,
            });
        }
        let wit_name = interface_names
            .get(root.descriptor.full_name())
            .cloned()
            .unwrap_or_else(|| kebab(root.descriptor.name()));
        services.push(ServiceModel {
            descriptor: root.descriptor,
            package: pkg,
            wit_name,
            methods: method_models,
            type_uses,
            support_uses: support.into_iter().collect(),
            local_names,
        });
    }
    services.sort_by(|a, b| {
        (&packages[a.package.index()].wit, &a.wit_name)
            .cmp(&(&packages[b.package.index()].wit, &b.wit_name))
    });
    for (i, s) in services.iter().enumerate() {
        packages[s.package.index()]
            .services
            .push(ServiceId::from_index(i));
    }
    Ok(services)
}
