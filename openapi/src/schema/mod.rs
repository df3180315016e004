//! JSON schemas -> WIT types. Named schemas (`components.schemas`) become
//! named types of the `types` interface; inline object, enum and
//! `oneOf`/`anyOf` schemas become named types too, named after where they
//! appear (`{parent}-{field}`, `{parent}-item`, `{context}-request-body`...).
//!
//! - object: record; required properties plain, the others `option<T>`;
//!   `nullable: true` or `type: [T, "null"]`: `option<T>`; a required
//!   nullable property is sent as `null` when `none` (an optional one is
//!   left out);
//! - string `enum`: enum (cases kebab-case, JSON values kept);
//! - `oneOf`/`anyOf`: variant, cases named after the referenced schema, the
//!   discriminator mapping's keys, or the alternative's type;
//! - a named schema with a `discriminator` that other named schemas extend
//!   by `allOf`: variant of those subtypes ([`inheritance`]);
//! - `allOf`: one record merging every part's properties (one part alone:
//!   that part's type); a part that is not an object, or parts disagreeing
//!   on a property's type or schema, are refused;
//! - an object without properties, or with properties and a schema as
//!   `additionalProperties`: the JSON value as text (no empty records);
//! - object with only `additionalProperties`: `list<tuple<string, T>>`;
//! - integer: `s32` (`format: int32`), else `s64`; number: `f32`
//!   (`format: float`), else `f64`; `format: binary`/`byte`: `list<u8>`;
//! - a schema without a type, or with several (`type: [integer, string]`):
//!   the JSON value as text (`string`); a `$ref` to something that is not
//!   a schema (`#/info`) is refused;
//! - recursion (a schema reaching itself) is broken the same way: the
//!   reference closing the cycle is the JSON value as text (an inline
//!   `allOf` of a schema being mapped too); an `allOf` including the
//!   schema it belongs to is refused;
//! - a schema named like a part of the error type (`Error`, `Validation`...)
//!   gets `-schema` appended (`error-schema`).

mod all_of;
mod inheritance;

use std::collections::{HashMap, HashSet};

use crate::doc::{Doc, bool_of, entries, get, items, number_of, str_of};
use crate::model::{Case, Constraints, EnumCase, Field, TypeDef, TypeKind, TypeRef};
use crate::names::{Scope, kebab};
use crate::yaml::{Node, Value};

/// Names the `types` interface reserves for the error type and its parts.
pub(crate) const RESERVED: &[&str] = &[
    "error",
    "error-response",
    "field-error",
    "validation",
    "rate-limit",
];

/// Most references followed inside one another while mapping a schema
/// (bounds the recursion, and so the stack, for any document).
const MAX_REF_DEPTH: usize = 100;

/// The named types being built.
pub(crate) struct Types<'d, 'a> {
    doc: &'d Doc<'a>,
    pub(crate) defs: Vec<TypeDef>,
    scope: Scope,
    /// Every name an interface gives one of its own types (`get-request`):
    /// no type of `types` takes one, so a name never means two types.
    local_names: Scope,
    /// Schema name -> WIT name (every `components.schemas` entry).
    named: HashMap<String, String>,
    defined: HashSet<String>,
    in_progress: Vec<String>,
    /// The `allOf` lists being merged, innermost last.
    merging: Vec<&'a Node>,
    /// The `allOf` parts being merged, innermost last.
    parts: Vec<&'a Node>,
    /// The targets of `$ref`s to places other than `components.schemas`
    /// being mapped, innermost last.
    unnamed: Vec<&'a Node>,
    /// Base schemas with a discriminator -> the schemas extending them.
    bases: HashMap<String, Vec<String>>,
}

impl<'d, 'a> Types<'d, 'a> {
    /// Reserves a WIT name for every named schema, in document order.
    pub(crate) fn new(doc: &'d Doc<'a>) -> Self {
        let mut scope = Scope::with(RESERVED);
        let mut named = HashMap::new();
        if let Some(schemas) = get(doc.root, "components").and_then(|c| get(c, "schemas")) {
            for (name, _) in entries(schemas) {
                // A schema named like the error type's parts (`Error`) keeps
                // its name readable: `error-schema`.
                let base = kebab(&name);
                let base = if RESERVED.contains(&base.as_str()) {
                    format!("{base}-schema")
                } else {
                    base
                };
                let wit = scope.unique(&base);
                named.insert(name, wit);
            }
        }
        Types {
            doc,
            defs: Vec::new(),
            scope,
            local_names: Scope::default(),
            named,
            defined: HashSet::new(),
            in_progress: Vec::new(),
            merging: Vec::new(),
            parts: Vec::new(),
            unnamed: Vec::new(),
            bases: inheritance::subtypes(doc.root),
        }
    }

    /// Defines every named schema (those not reached yet), in order.
    pub(crate) fn define_all(&mut self) {
        if let Some(schemas) = get(self.doc.root, "components").and_then(|c| get(c, "schemas")) {
            // Bases that others extend first: defining a subtype first
            // reached its base through a property, the base's cases then
            // named the subtype still being defined, and the two types
            // held each other (invalid WIT). Base first, the subtype's
            // reference back to its base is the one that closes the cycle
            // (JSON text), whatever order the document lists them in.
            let (bases, rest): (Vec<_>, Vec<_>) = entries(schemas)
                .into_iter()
                .partition(|(name, _)| self.bases.contains_key(name));
            for (name, node) in bases.into_iter().chain(rest) {
                self.define_named(&name, node);
            }
        }
    }

    /// A fresh type name from `hint` (for inline schemas).
    pub(crate) fn fresh(&mut self, hint: &str) -> String {
        self.scope.unique_among(&kebab(hint), &[&self.local_names])
    }

    /// A name for a type of one interface (`get-request`): `base` made
    /// unique in the interface (`local`), apart from its functions and
    /// from every type of `types`.
    pub(crate) fn fresh_local(
        &mut self,
        base: &str,
        local: &mut Scope,
        functions: &Scope,
    ) -> String {
        let name = local.unique_among(base, &[functions, &self.scope]);
        self.local_names.take(&name);
        name
    }

    fn define_named(&mut self, schema: &str, node: &'a Node) -> String {
        let wit = self.named[schema].clone();
        if self.defined.insert(schema.to_owned()) {
            self.in_progress.push(schema.to_owned());
            let path = format!("components.schemas.{schema}");
            let kind = match self.bases.get(schema).cloned() {
                Some(extending) => {
                    TypeKind::Variant(self.inherited_cases(schema, node, &extending, &path))
                }
                None => self.kind_of(node, &wit, &path),
            };
            let docs = str_of(node, "description").map(str::to_owned);
            self.defs.push(TypeDef {
                name: wit.clone(),
                docs,
                kind,
            });
            self.in_progress.pop();
        }
        wit
    }

    /// The kind of named type `schema` defines.
    fn kind_of(&mut self, schema: &'a Node, wit: &str, path: &str) -> TypeKind {
        if let Some(cases) = string_enum(schema) {
            return TypeKind::Enum(enum_cases(&cases));
        }
        if let Some(alternatives) = get(schema, "oneOf").or_else(|| get(schema, "anyOf")) {
            return TypeKind::Variant(self.cases(schema, alternatives, wit, path));
        }
        if let Some(parts) = get(schema, "allOf") {
            // A subtype adding nothing to its base (`Puppy: allOf: [$ref:
            // Dog]`) is a record of the base's properties, not the base's
            // variant (of which it is a case).
            if let (Some(only), false) = (single_part(parts), has_properties(schema))
                && !self.extends_a_base(only)
            {
                return self.kind_of(only, wit, &format!("{path}.allOf[0]"));
            }
            return match self.merged(schema, parts, wit, path, false) {
                Some(fields) => TypeKind::Record(fields),
                None => TypeKind::Alias(TypeRef::Json),
            };
        }
        if is_record(schema) {
            return TypeKind::Record(self.fields(schema, wit, path));
        }
        TypeKind::Alias(self.type_of(schema, wit, path, true))
    }

    /// The WIT type of `schema`; inline named types take their name from
    /// `hint`. `top` is set when `schema` is itself a named schema's body.
    pub(crate) fn type_of(
        &mut self,
        schema: &'a Node,
        hint: &str,
        path: &str,
        top: bool,
    ) -> TypeRef {
        if let Some(reference) = get(schema, "$ref") {
            if let Value::String(pointer) = &reference.value
                && !is_schema_pointer(pointer)
            {
                self.doc.problem(
                    path,
                    Some(reference),
                    format!(
                        "`$ref: {pointer}` does not point at a schema: a schema reference \
                         goes to `#/components/schemas/...` or to a `schema` in the document"
                    ),
                );
                return TypeRef::Json;
            }
            let Some((target, name)) = self.doc.resolve(schema, path) else {
                return TypeRef::Json;
            };
            return match name.filter(|n| self.named.contains_key(n)) {
                Some(name) if self.in_progress.contains(&name) => TypeRef::Json,
                Some(name) => {
                    if !self.defined.contains(&name) && self.too_deep(path, reference) {
                        return TypeRef::Json;
                    }
                    let wit = self.define_named(&name, target);
                    // A nullable record, enum or variant: its references are
                    // `option`s (a nullable scalar's alias is one already).
                    let alias = self
                        .defs
                        .iter()
                        .any(|d| d.name == wit && matches!(d.kind, TypeKind::Alias(_)));
                    if is_nullable(target) && !alias {
                        TypeRef::Option(Box::new(TypeRef::Named(wit)))
                    } else {
                        TypeRef::Named(wit)
                    }
                }
                // A reference into a schema (`#/components/schemas/A/properties/b`)
                // that is reached again closes a cycle too.
                None if self.unnamed.iter().any(|n| std::ptr::eq(*n, target)) => TypeRef::Json,
                None => {
                    if self.too_deep(path, reference) {
                        return TypeRef::Json;
                    }
                    self.unnamed.push(target);
                    let ty = self.type_of(target, hint, path, false);
                    self.unnamed.pop();
                    ty
                }
            };
        }
        let inner = self.non_null_type(schema, hint, path, top);
        if is_nullable(schema) && !matches!(inner, TypeRef::Option(_)) {
            TypeRef::Option(Box::new(inner))
        } else {
            inner
        }
    }

    /// Whether following one more reference to a type not mapped yet would
    /// pass [`MAX_REF_DEPTH`] (reported at `path`). Each nests the mapping
    /// one level deeper: a document chaining thousands of schemas would
    /// exhaust the stack (an abort, not an error). A reference to a type
    /// already mapped nests nothing, at any depth.
    fn too_deep(&self, path: &str, reference: &'a Node) -> bool {
        let deep = self.in_progress.len() + self.unnamed.len() >= MAX_REF_DEPTH;
        if deep {
            self.doc.problem(
                path,
                Some(reference),
                format!(
                    "schemas reach each other through more than {MAX_REF_DEPTH} nested \
                     references here; this mapping follows at most that many"
                ),
            );
        }
        deep
    }

    fn non_null_type(&mut self, schema: &'a Node, hint: &str, path: &str, top: bool) -> TypeRef {
        let inline = |this: &mut Self, kind: TypeKind, docs: Option<String>| {
            let name = this.fresh(hint);
            this.defs.push(TypeDef {
                name: name.clone(),
                docs,
                kind,
            });
            TypeRef::Named(name)
        };
        let docs = str_of(schema, "description").map(str::to_owned);
        if several_types(schema) {
            // `type: [integer, string]`: any of them, as JSON text.
            return TypeRef::Json;
        }
        if !top {
            if let Some(cases) = string_enum(schema) {
                return inline(self, TypeKind::Enum(enum_cases(&cases)), docs);
            }
            if let Some(alternatives) = get(schema, "oneOf").or_else(|| get(schema, "anyOf")) {
                let name = self.fresh(hint);
                let cases = self.cases(schema, alternatives, &name, path);
                self.defs.push(TypeDef {
                    name: name.clone(),
                    docs,
                    kind: TypeKind::Variant(cases),
                });
                return TypeRef::Named(name);
            }
            if let Some(parts) = get(schema, "allOf") {
                if let (Some(only), false) = (single_part(parts), has_properties(schema)) {
                    return self.type_of(only, hint, &format!("{path}.allOf[0]"), false);
                }
                let name = self.fresh(hint);
                let Some(fields) = self.merged(schema, parts, &name, path, true) else {
                    return TypeRef::Json;
                };
                self.defs.push(TypeDef {
                    name: name.clone(),
                    docs,
                    kind: TypeKind::Record(fields),
                });
                return TypeRef::Named(name);
            }
            if is_record(schema) {
                let name = self.fresh(hint);
                let fields = self.fields(schema, &name, path);
                self.defs.push(TypeDef {
                    name: name.clone(),
                    docs,
                    kind: TypeKind::Record(fields),
                });
                return TypeRef::Named(name);
            }
        }
        if has_properties(schema) && typed_additional(schema) {
            // Named properties and typed others: no record holds both.
            return TypeRef::Json;
        }
        match primary_type(schema).as_deref() {
            Some("boolean") => TypeRef::Bool,
            Some("integer") => match str_of(schema, "format") {
                Some("int32") => TypeRef::S32,
                _ => TypeRef::S64,
            },
            Some("number") => match str_of(schema, "format") {
                Some("float") => TypeRef::F32,
                _ => TypeRef::F64,
            },
            Some("string") => match str_of(schema, "format") {
                Some("binary" | "byte") => TypeRef::Bytes,
                _ => TypeRef::String,
            },
            Some("array") => match get(schema, "items") {
                Some(item) => {
                    let item = self.type_of(
                        item,
                        &format!("{hint}-item"),
                        &format!("{path}.items"),
                        false,
                    );
                    TypeRef::List(Box::new(item))
                }
                None => TypeRef::List(Box::new(TypeRef::Json)),
            },
            Some("object") | None if get(schema, "additionalProperties").is_some() => {
                match get(schema, "additionalProperties") {
                    Some(value) if matches!(value.value, Value::Map(_)) => {
                        let value = self.type_of(
                            value,
                            &format!("{hint}-value"),
                            &format!("{path}.additionalProperties"),
                            false,
                        );
                        TypeRef::Map(Box::new(value))
                    }
                    _ => TypeRef::Map(Box::new(TypeRef::Json)),
                }
            }
            Some("object") | Some("null") | None => TypeRef::Json,
            Some(other) => {
                self.doc.problem(
                    &format!("{path}.type"),
                    get(schema, "type"),
                    format!(
                        "unknown type `{other}` (expected string, number, integer, boolean, \
                         array or object)"
                    ),
                );
                TypeRef::Json
            }
        }
    }

    /// The fields of an object schema named `record`.
    fn fields(&mut self, schema: &'a Node, record: &str, path: &str) -> Vec<Field> {
        let required: Vec<String> = get(schema, "required")
            .map(|r| {
                items(r)
                    .iter()
                    .filter_map(|n| match &n.value {
                        Value::String(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut scope = Scope::default();
        let mut fields = Vec::new();
        let Some(properties) = get(schema, "properties") else {
            return fields;
        };
        for (wire, property) in entries(properties) {
            let name = scope.unique(&kebab(&wire));
            let property_path = format!("{path}.properties.{wire}");
            let ty = self.type_of(property, &format!("{record}-{name}"), &property_path, false);
            let resolved = self.doc.resolve(property, &property_path).map(|(n, _)| n);
            // On the property, or on the schema it refers to.
            let flag = |key: &str| {
                bool_of(property, key) == Some(true)
                    || resolved.is_some_and(|n| bool_of(n, key) == Some(true))
            };
            let required = required.contains(&wire);
            // An `option` here or behind aliases (a `$ref` to a nullable
            // plain-value schema): `none` is `null` on the wire when the
            // property is required.
            let null_when_none = required && self.is_option(&ty);
            // `writeOnly`: answers leave it out, `required` or not.
            let ty = if (required && !flag("writeOnly")) || matches!(ty, TypeRef::Option(_)) {
                ty
            } else {
                TypeRef::Option(Box::new(ty))
            };
            fields.push(Field {
                name,
                wire,
                ty,
                constraints: resolved
                    .map(|n| constraints(self.doc, n))
                    .unwrap_or_default(),
                docs: resolved
                    .and_then(|n| str_of(n, "description"))
                    .map(str::to_owned),
                null_when_none,
                read_only: flag("readOnly"),
            });
        }
        fields
    }

    /// Whether `ty` is an `option`, itself or through aliases defined so
    /// far.
    fn is_option(&self, ty: &TypeRef) -> bool {
        matches!(self.unaliased(ty), TypeRef::Option(_))
    }

    /// What `ty` is once the aliases defined so far are followed (alias
    /// chains are acyclic: a cycle maps to JSON text).
    pub(crate) fn unaliased<'t>(&'t self, ty: &'t TypeRef) -> &'t TypeRef {
        let mut ty = ty;
        // Bounded as `$ref` chains are.
        for _ in 0..64 {
            let TypeRef::Named(name) = ty else {
                return ty;
            };
            match self.defs.iter().find(|d| &d.name == name).map(|d| &d.kind) {
                Some(TypeKind::Alias(inner)) => ty = inner,
                _ => return ty,
            }
        }
        ty
    }

    /// The cases of a `oneOf`/`anyOf` schema named `variant`.
    fn cases(
        &mut self,
        schema: &'a Node,
        alternatives: &'a Node,
        variant: &str,
        path: &str,
    ) -> Vec<Case> {
        if has_properties(schema) {
            // A variant has no fields of its own: they would be dropped,
            // both when sending and when reading.
            self.doc.problem(
                path,
                get(schema, "properties"),
                "`properties` beside `oneOf`/`anyOf` are not supported (a variant has no \
                 fields of its own, so they would be lost); list them in each alternative, \
                 for example with `allOf`",
            );
        }
        let mapping: Vec<(String, String)> = get(schema, "discriminator")
            .and_then(|d| get(d, "mapping"))
            .map(|m| {
                entries(m)
                    .into_iter()
                    .filter_map(|(tag, target)| match &target.value {
                        Value::String(t) => Some((tag, t.clone())),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let discriminator = get(schema, "discriminator")
            .and_then(|d| str_of(d, "propertyName"))
            .map(str::to_owned);
        let mut scope = Scope::default();
        let mut cases = Vec::new();
        for (i, alternative) in items(alternatives).iter().enumerate() {
            let alt_path = format!("{path}.oneOf[{i}]");
            let reference = str_of(alternative, "$ref");
            let tag = reference.and_then(|r| {
                // A mapping names its schema by reference, or by its bare
                // name in `components.schemas`.
                mapping
                    .iter()
                    .find(|(_, target)| {
                        target == r
                            || (!target.contains('/')
                                && r.strip_prefix("#/components/schemas/") == Some(target))
                    })
                    .map(|(tag, _)| tag.clone())
                    .or_else(|| r.rsplit('/').next().map(str::to_owned))
            });
            let base = match (&tag, reference, str_of(alternative, "title")) {
                (Some(tag), _, _) => kebab(tag),
                (None, _, Some(title)) => kebab(title),
                _ => match primary_type(alternative).as_deref() {
                    Some(t) => kebab(t),
                    None => format!("option{}", i + 1),
                },
            };
            let name = scope.unique(&base);
            let ty = self.type_of(alternative, &format!("{variant}-{name}"), &alt_path, false);
            cases.push(Case {
                name,
                ty: Some(ty),
                tag,
                discriminator: discriminator.clone(),
            });
        }
        if cases.is_empty() {
            self.doc
                .problem(path, Some(schema), "`oneOf`/`anyOf` lists no alternatives");
        }
        cases
    }
}

/// The one part of an `allOf` that has one.
fn single_part(parts: &Node) -> Option<&Node> {
    match items(parts) {
        [only] => Some(only),
        _ => None,
    }
}

/// Whether `schema` is an object with at least one property.
fn has_properties(schema: &Node) -> bool {
    is_object(schema) && get(schema, "properties").is_some_and(|p| !entries(p).is_empty())
}

/// Whether `schema`'s `additionalProperties` is a schema (not `true`,
/// `false` or `{}`): keys beyond the named properties carry values.
fn typed_additional(schema: &Node) -> bool {
    get(schema, "additionalProperties")
        .is_some_and(|a| matches!(&a.value, Value::Map(m) if !m.is_empty()))
}

/// Whether `schema` maps to a record: an object with properties and no
/// typed `additionalProperties`.
fn is_record(schema: &Node) -> bool {
    has_properties(schema) && !typed_additional(schema)
}

/// The string values of a string `enum`, if the schema is one.
fn string_enum(schema: &Node) -> Option<Vec<String>> {
    // A nullable enum lists `null` among its values (OpenAPI 3.0.3 says it
    // must): that is the schema's `option`, not a case.
    let nullable = is_nullable(schema);
    let values: Vec<&Node> = items(get(schema, "enum")?)
        .iter()
        .filter(|v| !(nullable && matches!(v.value, Value::Null)))
        .collect();
    let strings: Vec<String> = values
        .iter()
        .filter_map(|v| match &v.value {
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    (!strings.is_empty() && strings.len() == values.len()).then_some(strings)
}

/// One case per distinct value (a repeated value is one case).
fn enum_cases(values: &[String]) -> Vec<EnumCase> {
    let mut scope = Scope::default();
    let mut seen = HashSet::new();
    values
        .iter()
        .filter(|value| seen.insert(value.as_str()))
        .map(|value| EnumCase {
            name: scope.unique(&kebab(value)),
            value: value.clone(),
        })
        .collect()
}

fn is_object(schema: &Node) -> bool {
    !several_types(schema) && matches!(primary_type(schema).as_deref(), Some("object") | None)
}

/// Whether `type` lists more than one type besides `null` (OpenAPI 3.1).
fn several_types(schema: &Node) -> bool {
    get(schema, "type").is_some_and(|t| {
        items(t)
            .iter()
            .filter(|v| !matches!(&v.value, Value::String(s) if s == "null"))
            .count()
            > 1
    })
}

/// Whether a `$ref` can point at a schema: into `components.schemas`, or
/// to a `schema` (or inside one) elsewhere in the document; local pointers
/// only (others are refused when resolved).
fn is_schema_pointer(pointer: &str) -> bool {
    match pointer.strip_prefix("#/") {
        Some(path) => {
            path.starts_with("components/schemas/") || path.split('/').any(|s| s == "schema")
        }
        None => true,
    }
}

/// `type`, or the first non-null entry of a `type` list (OpenAPI 3.1).
fn primary_type(schema: &Node) -> Option<String> {
    match &get(schema, "type")?.value {
        Value::String(s) => Some(s.clone()),
        Value::Seq(types) => types.iter().find_map(|t| match &t.value {
            Value::String(s) if s != "null" => Some(s.clone()),
            _ => None,
        }),
        _ => None,
    }
}

/// Whether `schema` admits `null`: `nullable: true` (3.0) or `null` among
/// its types (3.1).
fn is_nullable(schema: &Node) -> bool {
    bool_of(schema, "nullable") == Some(true) || type_list_has_null(schema)
}

fn type_list_has_null(schema: &Node) -> bool {
    get(schema, "type").is_some_and(|t| {
        items(t)
            .iter()
            .any(|v| matches!(&v.value, Value::String(s) if s == "null"))
    })
}

/// Most arrays (or maps) inside one another whose items' constraints are
/// kept: a schema whose items refer back to it would nest without end.
const MAX_ITEM_DEPTH: usize = 8;

/// The constraints a schema states, with those of its array items (or map
/// values), through references.
pub(crate) fn constraints<'a>(doc: &Doc<'a>, schema: &'a Node) -> Constraints {
    constraints_within(doc, schema, 0)
}

fn constraints_within<'a>(doc: &Doc<'a>, schema: &'a Node, depth: usize) -> Constraints {
    let mut found = own_constraints(schema);
    let inner = get(schema, "items").or_else(|| {
        get(schema, "additionalProperties").filter(|a| matches!(a.value, Value::Map(_)))
    });
    if depth < MAX_ITEM_DEPTH
        && let Some(inner) = inner.and_then(|n| doc.resolve_quietly(n, ""))
    {
        let items = constraints_within(doc, inner, depth + 1);
        found.items = (!items.is_empty()).then(|| Box::new(items));
    }
    found
}

/// The constraints `schema` itself states.
fn own_constraints(schema: &Node) -> Constraints {
    let unsigned = |key: &str| {
        number_of(schema, key).and_then(|n| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            (n >= 0.0).then_some(n as u64)
        })
    };
    // 3.1: the bound itself; 3.0: `true`, making `minimum` exclusive.
    let exclusive = |flag: &str, bound: &str| {
        number_of(schema, flag).or_else(|| {
            (bool_of(schema, flag) == Some(true))
                .then(|| number_of(schema, bound))
                .flatten()
        })
    };
    Constraints {
        exclusive_minimum: exclusive("exclusiveMinimum", "minimum"),
        exclusive_maximum: exclusive("exclusiveMaximum", "maximum"),
        min_length: unsigned("minLength"),
        max_length: unsigned("maxLength"),
        pattern: str_of(schema, "pattern").map(str::to_owned),
        minimum: number_of(schema, "minimum"),
        maximum: number_of(schema, "maximum"),
        min_items: unsigned("minItems"),
        max_items: unsigned("maxItems"),
        items: None,
    }
}
