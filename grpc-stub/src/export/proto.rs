//! WIT shapes -> proto: the messages, enums and services that describe a
//! component's exports, as one `FileDescriptorProto`.
//!
//! Naming rule (also in docs/mapping.md): services are named first, in
//! export order; then the named WIT types (records, variants, enums,
//! flags), in the order the functions' parameters and results reach them;
//! then per function its request, response and error detail messages, and
//! the helper messages (wrappers, tuples, results, `Unit`) as they are
//! first met. A name already given gets the smallest numeric suffix from 2
//! that makes it unique. Fields are
//! snake_case, messages, enums and services PascalCase, enum values
//! `ENUM_NAME_CASE` after an added `ENUM_NAME_UNSPECIFIED = 0`, unless the
//! first case is `unspecified` (then it is value 0 itself, as in the proto
//! such an enum comes from). Two fields of a message may not differ only in
//! underscores and case, and enum values are unique in the whole package
//! (proto's scoping rules); the suffix rule applies to both.

use std::collections::{HashMap, HashSet};

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
    FileDescriptorProto, MethodDescriptorProto, OneofDescriptorProto, ServiceDescriptorProto,
};

use super::shape::{Shape, first_enum_number};

/// One service to describe: its name and its functions.
#[derive(Debug, Clone)]
pub struct ServicePlan {
    /// The service's name (PascalCase, before collision suffixes).
    pub name: String,
    /// Its functions, in order.
    pub functions: Vec<FunctionPlan>,
}

/// One exported function to describe.
#[derive(Debug, Clone)]
pub struct FunctionPlan {
    /// The function's WIT name (kebab-case).
    pub wit_name: String,
    /// Parameters: WIT name and shape.
    pub params: Vec<(String, Shape)>,
    /// The result's shape, if any.
    pub result: Option<Shape>,
}

/// The names given to one function's rpc and messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodNames {
    /// The rpc's name.
    pub rpc: String,
    /// Full name of the request message.
    pub request: String,
    /// Full name of the response message.
    pub response: String,
    /// Full name of the error detail message, when the result is a
    /// `result` with an error type.
    pub error: Option<String>,
}

/// What [`build_file`] produces.
#[derive(Debug, Clone)]
pub struct BuiltFile {
    /// The file.
    pub file: FileDescriptorProto,
    /// Per plan, the service's full name and its methods' names.
    pub services: Vec<(String, Vec<MethodNames>)>,
}

/// The descriptor of `services` in proto package `package`, in a file
/// called `file_name`.
pub fn build_file(file_name: &str, package: &str, services: &[ServicePlan]) -> BuiltFile {
    let mut builder = Builder {
        package: package.to_owned(),
        taken: HashSet::new(),
        named: HashMap::new(),
        built: HashSet::new(),
        messages: Vec::new(),
        enums: Vec::new(),
        values: HashSet::new(),
    };
    let service_names: Vec<String> = services
        .iter()
        .map(|s| builder.unique(s.name.clone()))
        .collect();
    for function in services.iter().flat_map(|s| &s.functions) {
        for (_, shape) in &function.params {
            builder.reserve(shape);
        }
        if let Some(result) = &function.result {
            builder.reserve(result);
        }
    }
    let mut out_services = Vec::new();
    let mut descriptors = Vec::new();
    for (plan, service_name) in services.iter().zip(&service_names) {
        let mut rpc_names = HashSet::new();
        let mut methods = Vec::new();
        let mut names = Vec::new();
        for function in &plan.functions {
            let rpc = unique_in(&mut rpc_names, pascal(&function.wit_name));
            let m = builder.function(&rpc, function);
            methods.push(MethodDescriptorProto {
                name: Some(rpc.clone()),
                input_type: Some(builder.reference(&m.request)),
                output_type: Some(builder.reference(&m.response)),
                ..Default::default()
            });
            names.push(MethodNames {
                rpc,
                request: builder.full(&m.request),
                response: builder.full(&m.response),
                error: m.error.map(|e| builder.full(&e)),
            });
        }
        descriptors.push(ServiceDescriptorProto {
            name: Some(service_name.clone()),
            method: methods,
            ..Default::default()
        });
        out_services.push((builder.full(service_name), names));
    }
    let file = FileDescriptorProto {
        name: Some(file_name.to_owned()),
        package: Some(package.to_owned()),
        syntax: Some("proto3".to_owned()),
        message_type: builder.messages,
        enum_type: builder.enums,
        service: descriptors,
        ..Default::default()
    };
    BuiltFile {
        file,
        services: out_services,
    }
}

struct FunctionMessages {
    request: String,
    response: String,
    error: Option<String>,
}

struct Builder {
    package: String,
    taken: HashSet<String>,
    /// Type key (named types) or structural key -> proto name.
    named: HashMap<String, String>,
    /// Keys whose message or enum has been added.
    built: HashSet<String>,
    messages: Vec<DescriptorProto>,
    enums: Vec<EnumDescriptorProto>,
    /// Enum value names given so far: proto scopes them to the package
    /// (they are their enum's siblings), not to their enum.
    values: HashSet<String>,
}

impl Builder {
    fn unique(&mut self, base: String) -> String {
        unique_in(&mut self.taken, base)
    }

    /// Gives the named types reachable from `shape` their names.
    fn reserve(&mut self, shape: &Shape) {
        match shape {
            Shape::Record { name, fields } => {
                self.reserve_name(&key_of(shape), &name.wit);
                for (_, field) in fields {
                    self.reserve(field);
                }
            }
            Shape::Variant { name, cases } => {
                self.reserve_name(&key_of(shape), &name.wit);
                for payload in cases.iter().filter_map(|(_, p)| p.as_ref()) {
                    self.reserve(payload);
                }
            }
            Shape::Enum { name, .. } | Shape::Flags { name, .. } => {
                self.reserve_name(&key_of(shape), &name.wit);
            }
            Shape::List(inner) | Shape::Option(inner) => self.reserve(inner),
            Shape::Tuple(items) => items.iter().for_each(|i| self.reserve(i)),
            Shape::Result { ok, err } => {
                for side in [ok, err].into_iter().flatten() {
                    self.reserve(side);
                }
            }
            _ => {}
        }
    }

    fn reserve_name(&mut self, key: &str, wit: &str) {
        if !self.named.contains_key(key) {
            let name = self.unique(pascal(wit));
            self.named.insert(key.to_owned(), name);
        }
    }

    /// The name for `key` (given now from `base` if not reserved), and
    /// whether its message or enum still has to be added.
    fn name_for(&mut self, key: &str, base: impl FnOnce(&mut Self) -> String) -> (String, bool) {
        let name = match self.named.get(key) {
            Some(name) => name.clone(),
            None => {
                let base = base(self);
                let name = self.unique(base);
                self.named.insert(key.to_owned(), name.clone());
                name
            }
        };
        (name, self.built.insert(key.to_owned()))
    }

    fn full(&self, name: &str) -> String {
        format!("{}.{name}", self.package)
    }

    fn reference(&self, name: &str) -> String {
        format!(".{}.{name}", self.package)
    }

    fn function(&mut self, rpc: &str, function: &FunctionPlan) -> FunctionMessages {
        let request = self.unique(format!("{rpc}Request"));
        let mut message = empty_message(&request);
        let mut fields = HashSet::new();
        for (name, shape) in &function.params {
            let field = unique_field(&mut fields, snake(name));
            self.add_field(&mut message, &field, shape, None);
        }
        self.messages.push(message);

        let response = self.unique(format!("{rpc}Response"));
        let mut message = empty_message(&response);
        let mut error = None;
        match &function.result {
            None => {}
            Some(Shape::Result { ok, err }) => {
                if let Some(ok) = ok {
                    self.add_field(&mut message, "result", ok, None);
                }
                if let Some(err) = err {
                    let name = self.unique(format!("{rpc}Error"));
                    let mut detail = empty_message(&name);
                    self.add_field(&mut detail, "error", err, None);
                    self.messages.push(detail);
                    error = Some(name);
                }
            }
            Some(shape) => self.add_field(&mut message, "result", shape, None),
        }
        self.messages.push(message);
        FunctionMessages {
            request,
            response,
            error,
        }
    }

    /// Adds field `name` of `shape` to `message` (in oneof `oneof` when
    /// given: such fields are always singular).
    fn add_field(
        &mut self,
        message: &mut DescriptorProto,
        name: &str,
        shape: &Shape,
        oneof: Option<i32>,
    ) {
        let number = i32::try_from(message.field.len() + 1).unwrap_or(i32::MAX);
        let mut field = FieldDescriptorProto {
            name: Some(name.to_owned()),
            number: Some(number),
            label: Some(Label::Optional as i32),
            json_name: Some(json_name(name)),
            oneof_index: oneof,
            ..Default::default()
        };
        match (shape, oneof) {
            (Shape::List(inner), None) => {
                field.label = Some(Label::Repeated as i32);
                self.set_singular(&mut field, inner);
            }
            (Shape::Option(inner), None) if is_scalar(inner) => {
                self.set_singular(&mut field, inner);
                field.proto3_optional = Some(true);
                field.oneof_index = Some(synthetic_oneof(message, name));
            }
            (Shape::Option(inner), None) if is_message(inner) => {
                self.set_singular(&mut field, inner);
            }
            (Shape::Option(inner), None) => {
                // option<list<..>> / option<option<..>>: a wrapper message
                // whose presence is the `some`.
                let wrapper = self.wrapper(inner);
                field.r#type = Some(Type::Message as i32);
                field.type_name = Some(self.reference(&wrapper));
            }
            _ => self.set_singular(&mut field, shape),
        }
        message.field.push(field);
    }

    /// Sets the type of a singular (non-repeated, non-optional) field of `shape`.
    fn set_singular(&mut self, field: &mut FieldDescriptorProto, shape: &Shape) {
        let (ty, name) = match shape {
            Shape::Bool => (Type::Bool, None),
            Shape::S8 | Shape::S16 | Shape::S32 => (Type::Int32, None),
            Shape::U8 | Shape::U16 | Shape::U32 => (Type::Uint32, None),
            Shape::S64 => (Type::Int64, None),
            Shape::U64 => (Type::Uint64, None),
            Shape::F32 => (Type::Float, None),
            Shape::F64 => (Type::Double, None),
            Shape::Char | Shape::String => (Type::String, None),
            Shape::Bytes => (Type::Bytes, None),
            Shape::Enum { .. } => (Type::Enum, Some(self.enumeration(shape))),
            Shape::List(_) | Shape::Option(_) => (Type::Message, Some(self.wrapper(shape))),
            _ => (Type::Message, Some(self.message(shape))),
        };
        field.r#type = Some(ty as i32);
        field.type_name = name.map(|n| self.reference(&n));
    }

    fn enumeration(&mut self, shape: &Shape) -> String {
        let Shape::Enum { name, cases } = shape else {
            unreachable!("enumeration() of a non-enum");
        };
        let (proto, new) = self.name_for(&key_of(shape), |_| pascal(&name.wit));
        if !new {
            return proto;
        }
        let prefix = screaming(&proto);
        let first = first_enum_number(cases);
        let mut stripped = HashSet::new();
        let mut value: Vec<EnumValueDescriptorProto> = cases
            .iter()
            .enumerate()
            .map(|(i, case)| EnumValueDescriptorProto {
                name: Some(unique_value(
                    &mut self.values,
                    &mut stripped,
                    &prefix,
                    &snake(case).to_ascii_uppercase(),
                )),
                number: Some(i32::try_from(i + first).unwrap_or(i32::MAX)),
                ..Default::default()
            })
            .collect();
        if first == 1 {
            // Named after the cases: a case may take `<ENUM>_UNSPECIFIED`
            // where it is not first.
            value.insert(
                0,
                EnumValueDescriptorProto {
                    name: Some(unique_value(
                        &mut self.values,
                        &mut stripped,
                        &prefix,
                        "UNSPECIFIED",
                    )),
                    number: Some(0),
                    ..Default::default()
                },
            );
        }
        self.enums.push(EnumDescriptorProto {
            name: Some(proto.clone()),
            value,
            ..Default::default()
        });
        proto
    }

    /// The message standing for a record, variant, flags, tuple or result.
    fn message(&mut self, shape: &Shape) -> String {
        let (proto, new) = self.name_for(&key_of(shape), |this| match shape {
            Shape::Record { name, .. }
            | Shape::Variant { name, .. }
            | Shape::Flags { name, .. } => pascal(&name.wit),
            _ => this.structural(shape),
        });
        if !new {
            return proto;
        }
        let mut message = empty_message(&proto);
        match shape {
            Shape::Record { fields, .. } => {
                let mut names = HashSet::new();
                for (name, shape) in fields {
                    let field = unique_field(&mut names, snake(name));
                    self.add_field(&mut message, &field, shape, None);
                }
            }
            Shape::Flags { flags, .. } => {
                let mut names = HashSet::new();
                for flag in flags {
                    let field = unique_field(&mut names, snake(flag));
                    self.add_field(&mut message, &field, &Shape::Bool, None);
                }
            }
            Shape::Tuple(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.add_field(&mut message, &format!("f{i}"), item, None);
                }
            }
            Shape::Variant { cases, .. } => {
                let mut names = HashSet::new();
                let fields: Vec<String> = cases
                    .iter()
                    .map(|(case, _)| unique_field(&mut names, snake(case)))
                    .collect();
                let oneof = if names.contains(&field_key("value")) {
                    "value_"
                } else {
                    "value"
                };
                message.oneof_decl.push(OneofDescriptorProto {
                    name: Some(oneof.to_owned()),
                    ..Default::default()
                });
                for ((_, payload), field) in cases.iter().zip(&fields) {
                    let payload = payload.clone().unwrap_or_else(unit);
                    self.add_field(&mut message, field, &payload, Some(0));
                }
            }
            Shape::Result { ok, err } => {
                message.oneof_decl.push(OneofDescriptorProto {
                    name: Some("result".to_owned()),
                    ..Default::default()
                });
                let ok = ok.as_deref().cloned().unwrap_or_else(unit);
                let err = err.as_deref().cloned().unwrap_or_else(unit);
                self.add_field(&mut message, "ok", &ok, Some(0));
                self.add_field(&mut message, "err", &err, Some(0));
            }
            _ => unreachable!("message() of a shape without a message"),
        }
        self.messages.push(message);
        proto
    }

    /// The message wrapping a list or option where proto cannot nest it
    /// directly: one field, `value`.
    fn wrapper(&mut self, shape: &Shape) -> String {
        let key = format!("wrapper {}", key_of(shape));
        let (proto, new) = self.name_for(&key, |this| this.structural(shape));
        if !new {
            return proto;
        }
        let mut message = empty_message(&proto);
        self.add_field(&mut message, "value", shape, None);
        self.messages.push(message);
        proto
    }

    /// A readable name for an unnamed shape: `ListString`, `TupleU32String`...
    fn structural(&mut self, shape: &Shape) -> String {
        match shape {
            Shape::Bool => "Bool".into(),
            Shape::S8 => "S8".into(),
            Shape::S16 => "S16".into(),
            Shape::S32 => "S32".into(),
            Shape::S64 => "S64".into(),
            Shape::U8 => "U8".into(),
            Shape::U16 => "U16".into(),
            Shape::U32 => "U32".into(),
            Shape::U64 => "U64".into(),
            Shape::F32 => "F32".into(),
            Shape::F64 => "F64".into(),
            Shape::Char => "Char".into(),
            Shape::String => "String".into(),
            Shape::Bytes => "Bytes".into(),
            Shape::List(inner) => format!("List{}", self.structural(inner)),
            Shape::Option(inner) => format!("Option{}", self.structural(inner)),
            Shape::Tuple(items) if items.is_empty() => "Unit".into(),
            Shape::Tuple(items) => {
                let mut name = "Tuple".to_owned();
                for item in items {
                    name.push_str(&self.structural(item));
                }
                name
            }
            Shape::Result { ok, err } => {
                let ok = ok
                    .as_deref()
                    .map(|s| self.structural(s))
                    .unwrap_or_else(|| "Unit".into());
                let err = err
                    .as_deref()
                    .map(|s| self.structural(s))
                    .unwrap_or_else(|| "Unit".into());
                format!("Result{ok}{err}")
            }
            Shape::Enum { .. } => self.enumeration(shape),
            Shape::Record { .. } | Shape::Variant { .. } | Shape::Flags { .. } => {
                self.message(shape)
            }
        }
    }
}

/// The empty tuple: the payload-less case of a variant or result.
fn unit() -> Shape {
    Shape::Tuple(Vec::new())
}

/// Whether `shape` is a proto scalar or enum (proto3 `optional` applies).
fn is_scalar(shape: &Shape) -> bool {
    !matches!(
        shape,
        Shape::List(_)
            | Shape::Option(_)
            | Shape::Tuple(_)
            | Shape::Result { .. }
            | Shape::Record { .. }
            | Shape::Variant { .. }
            | Shape::Flags { .. }
    )
}

/// Whether `shape` is a message (its presence is the option's `some`).
fn is_message(shape: &Shape) -> bool {
    matches!(
        shape,
        Shape::Tuple(_)
            | Shape::Result { .. }
            | Shape::Record { .. }
            | Shape::Variant { .. }
            | Shape::Flags { .. }
    )
}

/// A key telling shapes apart: the type key for named types, the
/// structure otherwise.
fn key_of(shape: &Shape) -> String {
    match shape {
        Shape::Record { name, .. }
        | Shape::Variant { name, .. }
        | Shape::Enum { name, .. }
        | Shape::Flags { name, .. } => format!("named {}", name.key),
        Shape::List(inner) => format!("list<{}>", key_of(inner)),
        Shape::Option(inner) => format!("option<{}>", key_of(inner)),
        Shape::Tuple(items) => format!(
            "tuple<{}>",
            items.iter().map(key_of).collect::<Vec<_>>().join(",")
        ),
        Shape::Result { ok, err } => format!(
            "result<{},{}>",
            ok.as_deref().map(key_of).unwrap_or_else(|| "_".into()),
            err.as_deref().map(key_of).unwrap_or_else(|| "_".into())
        ),
        other => format!("{other:?}"),
    }
}

fn empty_message(name: &str) -> DescriptorProto {
    DescriptorProto {
        name: Some(name.to_owned()),
        ..Default::default()
    }
}

/// Adds the synthetic oneof a proto3 `optional` field lives in.
fn synthetic_oneof(message: &mut DescriptorProto, field: &str) -> i32 {
    message.oneof_decl.push(OneofDescriptorProto {
        name: Some(format!("_{field}")),
        ..Default::default()
    });
    i32::try_from(message.oneof_decl.len() - 1).unwrap_or(i32::MAX)
}

/// `base`, or `base2`, `base3`... whichever `taken` does not hold yet.
fn unique_in(taken: &mut HashSet<String>, base: String) -> String {
    if taken.insert(base.clone()) {
        return base;
    }
    let mut n = 2u32;
    loop {
        let candidate = format!("{base}{n}");
        if taken.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

/// An enum value name `{prefix}_{base}`, unique in the file (`values`,
/// enum values share their package's scope) and, within its enum, apart
/// from the others once the prefix is stripped and underscores and case
/// are ignored (`stripped`): protoc refuses `E_A_1` beside `E_A1` in a
/// proto3 enum, as both read `A1`.
fn unique_value(
    values: &mut HashSet<String>,
    stripped: &mut HashSet<String>,
    prefix: &str,
    base: &str,
) -> String {
    let mut suffix = String::new();
    // Bounded: each round tries a new numeric suffix, and the sets are
    // finite.
    for n in 2u32.. {
        let tail = format!("{base}{suffix}");
        let name = format!("{prefix}_{tail}");
        if !values.contains(&name) && !stripped.contains(&field_key(&tail)) {
            values.insert(name.clone());
            stripped.insert(field_key(&tail));
            return name;
        }
        suffix = n.to_string();
    }
    unreachable!("a free suffix among finitely many names")
}

/// [`unique_in`] for field names: proto also refuses two fields of a
/// message whose names differ only in underscores and case (`user_name`,
/// `username`: their JSON names clash), so `taken` holds
/// [`field_key`]s.
fn unique_field(taken: &mut HashSet<String>, base: String) -> String {
    if taken.insert(field_key(&base)) {
        return base;
    }
    let mut n = 2u32;
    loop {
        let candidate = format!("{base}{n}");
        if taken.insert(field_key(&candidate)) {
            return candidate;
        }
        n += 1;
    }
}

/// What two field names must not share: the name without underscores,
/// lowercased.
fn field_key(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `kebab-case` -> `PascalCase`.
pub fn pascal(kebab: &str) -> String {
    let mut out = String::with_capacity(kebab.len());
    for word in kebab.split(['-', '_']).filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'X');
    }
    out
}

/// `kebab-case` -> `snake_case`.
pub fn snake(kebab: &str) -> String {
    let mut out = kebab.replace('-', "_").to_ascii_lowercase();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// `PascalCase` -> `SCREAMING_SNAKE`.
fn screaming(pascal: &str) -> String {
    let mut out = String::new();
    let mut previous_lower = false;
    for c in pascal.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            out.push('_');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// protoc's JSON name: `snake_case` -> `lowerCamelCase`.
fn json_name(field: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}
