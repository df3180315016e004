//! JSON schemas -> WIT types. Named schemas (`components.schemas`) become
//! named types of the `types` interface; inline object, enum and
//! `oneOf`/`anyOf` schemas become named types too, named after where they
//! appear (`{parent}-{field}`, `{parent}-item`, `{context}-request-body`...).
//!
//! - object: record; required properties plain, the others `option<T>`;
//!   `nullable: true` or `type: [T, "null"]`: `option<T>`;
//! - string `enum`: enum (cases kebab-case, JSON values kept);
//! - `oneOf`/`anyOf`: variant, cases named after the referenced schema, the
//!   discriminator mapping's keys, or the alternative's type;
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

use std::collections::{HashMap, HashSet};

use crate::doc::{Doc, bool_of, entries, get, items, number_of, str_of};
use crate::model::{Case, Constraints, EnumCase, Field, TypeDef, TypeKind, TypeRef};
use crate::names::{Scope, kebab};
use crate::yaml::{Node, Value};

/// How many named types deep two `allOf` parts' inline objects are
/// compared before they count as different.
const SAME_SHAPE_DEPTH: usize = 8;

/// Names the `types` interface reserves for the error type and its parts.
pub(crate) const RESERVED: &[&str] = &[
    "error",
    "error-response",
    "field-error",
    "validation",
    "rate-limit",
];

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
        }
    }

    /// Defines every named schema (those not reached yet), in order.
    pub(crate) fn define_all(&mut self) {
        if let Some(schemas) = get(self.doc.root, "components").and_then(|c| get(c, "schemas")) {
            for (name, node) in entries(schemas) {
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
            let kind = self.kind_of(node, &wit, &path);
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
            if let (Some(only), false) = (single_part(parts), has_properties(schema)) {
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
                Some(name) => TypeRef::Named(self.define_named(&name, target)),
                // A reference into a schema (`#/components/schemas/A/properties/b`)
                // that is reached again closes a cycle too.
                None if self.unnamed.iter().any(|n| std::ptr::eq(*n, target)) => TypeRef::Json,
                None => {
                    self.unnamed.push(target);
                    let ty = self.type_of(target, hint, path, false);
                    self.unnamed.pop();
                    ty
                }
            };
        }
        let nullable = bool_of(schema, "nullable") == Some(true) || type_list_has_null(schema);
        let inner = self.non_null_type(schema, hint, path, top);
        if nullable && !matches!(inner, TypeRef::Option(_)) {
            TypeRef::Option(Box::new(inner))
        } else {
            inner
        }
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
            let ty = if required.contains(&wire) || matches!(ty, TypeRef::Option(_)) {
                ty
            } else {
                TypeRef::Option(Box::new(ty))
            };
            let resolved = self.doc.resolve(property, &property_path).map(|(n, _)| n);
            fields.push(Field {
                name,
                wire,
                ty,
                constraints: resolved.map(constraints).unwrap_or_default(),
                docs: resolved
                    .and_then(|n| str_of(n, "description"))
                    .map(str::to_owned),
            });
        }
        fields
    }

    /// One record merging every `allOf` part; `None` when the `allOf`
    /// closes a cycle (an `inline` one whose part refers to a schema being
    /// defined, or a part reached again while it is merged), which is
    /// mapped as recursion is: the JSON value as text.
    fn merged(
        &mut self,
        owner: &'a Node,
        parts: &'a Node,
        record: &str,
        path: &str,
        inline: bool,
    ) -> Option<Vec<Field>> {
        let fields = self.merged_fields(owner, parts, record, path, inline)?;
        // Nothing to merge (`allOf: []`, parts without properties): a
        // free-form object.
        (!fields.is_empty()).then_some(fields)
    }

    /// The fields an `allOf` merges; `None` when it closes a cycle.
    fn merged_fields(
        &mut self,
        owner: &'a Node,
        parts: &'a Node,
        record: &str,
        path: &str,
        inline: bool,
    ) -> Option<Vec<Field>> {
        self.merging.push(parts);
        let fields = self.merged_parts(parts, record, path, inline);
        self.merging.pop();
        let mut fields = fields?;
        // Properties beside the `allOf` are one more part.
        if has_properties(owner) {
            let own = self.fields(owner, record, path);
            self.merge_into(&mut fields, own, path, get(owner, "properties"));
        }
        Some(fields)
    }

    /// Adds the fields of one `allOf` part to `fields`: a property in both
    /// must have one type (a part may make it required).
    fn merge_into(
        &mut self,
        fields: &mut Vec<Field>,
        more: Vec<Field>,
        path: &str,
        at: Option<&Node>,
    ) {
        for field in more {
            let Some(existing) = fields.iter_mut().find(|f| f.wire == field.wire) else {
                fields.push(field);
                continue;
            };
            let (a, b) = (unoptional(&existing.ty), unoptional(&field.ty));
            if let (TypeRef::Named(first), TypeRef::Named(second)) = (a, b) {
                let (first, second) = (first.clone(), second.clone());
                // Two schemas for one property (two `$ref`s, or an inline
                // object in each part): one record cannot hold both, and
                // keeping one would drop the other's properties.
                if first != second && !self.same_shape(&first, &second) {
                    self.doc.problem(
                        path,
                        at,
                        format!(
                            "the `allOf` parts give property `{}` two different schemas \
                             (`{first}` in one, `{second}` in another); give it one schema \
                             (a `$ref` both parts share)",
                            field.wire
                        ),
                    );
                    continue;
                }
                if first != second {
                    // Defined alike: the second part's inline copy goes.
                    self.drop_inline(&second, SAME_SHAPE_DEPTH);
                }
                if !matches!(field.ty, TypeRef::Option(_)) {
                    // A later part may make it required; the first
                    // part's name stays (the other is defined alike).
                    *existing = Field {
                        ty: TypeRef::Named(first),
                        ..field
                    };
                }
            } else if a != b {
                self.doc.problem(
                    path,
                    at,
                    format!(
                        "the `allOf` parts disagree on property `{}`: `{}` in one, `{}` in \
                         another; give it one type",
                        field.wire,
                        crate::wit::type_text(a),
                        crate::wit::type_text(b)
                    ),
                );
            } else if !matches!(field.ty, TypeRef::Option(_)) {
                // A later part may make an optional property required.
                *existing = field;
            }
        }
    }

    /// Whether the named types `a` and `b` are defined alike (their
    /// documentation aside); a type not defined yet (recursion) is not.
    fn same_shape(&self, a: &str, b: &str) -> bool {
        self.same_shape_within(a, b, SAME_SHAPE_DEPTH)
    }

    /// [`same_shape`](Self::same_shape), looking at most `depth` named
    /// types deep (inline objects nested in both get names of their own).
    fn same_shape_within(&self, a: &str, b: &str, depth: usize) -> bool {
        let def = |name: &str| self.defs.iter().find(|d| d.name == name).map(|d| &d.kind);
        match (def(a), def(b)) {
            (Some(TypeKind::Record(x)), Some(TypeKind::Record(y))) => {
                x.len() == y.len()
                    && x.iter().zip(y).all(|(f, g)| {
                        f.wire == g.wire
                            && f.constraints == g.constraints
                            && self.same_type(&f.ty, &g.ty, depth)
                    })
            }
            (Some(TypeKind::Alias(x)), Some(TypeKind::Alias(y))) => self.same_type(x, y, depth),
            (Some(x), Some(y)) => x == y,
            _ => false,
        }
    }

    /// Removes the type `name` defined for an inline schema (not a
    /// `components.schemas` entry), and the inline types only it used (at
    /// most `depth` deep): an `allOf` part's copy of a type merged away.
    fn drop_inline(&mut self, name: &str, depth: usize) {
        if self.named.values().any(|n| n == name) {
            return;
        }
        let Some(at) = self.defs.iter().position(|d| d.name == name) else {
            return;
        };
        let def = self.defs.remove(at);
        if depth == 0 {
            return;
        }
        let mut used = Vec::new();
        match &def.kind {
            TypeKind::Record(fields) => fields.iter().for_each(|f| named_in(&f.ty, &mut used)),
            TypeKind::Alias(ty) => named_in(ty, &mut used),
            TypeKind::Enum(_) | TypeKind::Variant(_) => {}
        }
        for inner in used {
            self.drop_inline(&inner, depth - 1);
        }
    }

    /// Whether `a` and `b` are the same type, named types compared by
    /// their definitions (at most `depth` deep).
    fn same_type(&self, a: &TypeRef, b: &TypeRef, depth: usize) -> bool {
        match (a, b) {
            (TypeRef::Named(x), TypeRef::Named(y)) => {
                x == y || (depth > 0 && self.same_shape_within(x, y, depth - 1))
            }
            (TypeRef::List(x), TypeRef::List(y))
            | (TypeRef::Option(x), TypeRef::Option(y))
            | (TypeRef::Map(x), TypeRef::Map(y)) => self.same_type(x, y, depth),
            _ => a == b,
        }
    }

    fn merged_parts(
        &mut self,
        parts: &'a Node,
        record: &str,
        path: &str,
        inline: bool,
    ) -> Option<Vec<Field>> {
        let mut fields: Vec<Field> = Vec::new();
        for (i, part) in items(parts).iter().enumerate() {
            let part_path = format!("{path}.allOf[{i}]");
            let Some((schema, name)) = self.doc.resolve(part, &part_path) else {
                continue;
            };
            let nested = get(schema, "allOf");
            if let Some(nested) = nested
                && self.merging.iter().any(|m| std::ptr::eq(*m, nested))
            {
                self.doc.problem(
                    &part_path,
                    Some(part),
                    format!(
                        "`allOf` includes the schema it is part of{}: a schema cannot \
                         extend itself; remove this part",
                        str_of(part, "$ref")
                            .map(|r| format!(" (`{r}`)"))
                            .unwrap_or_default()
                    ),
                );
                continue;
            }
            let in_progress =
                name.is_some_and(|n| self.named.contains_key(&n) && self.in_progress.contains(&n));
            if (inline && in_progress) || self.parts.iter().any(|p| std::ptr::eq(*p, schema)) {
                return None;
            }
            if let Some(kind) = not_mergeable(schema) {
                self.doc.problem(
                    &part_path,
                    Some(part),
                    format!(
                        "this `allOf` part is {kind}, not an object: only objects' properties \
                         merge into one record"
                    ),
                );
                continue;
            }
            self.parts.push(schema);
            let more = match nested {
                Some(nested) => self.merged_fields(schema, nested, record, &part_path, inline),
                None => Some(self.fields(schema, record, &part_path)),
            };
            self.parts.pop();
            let more = more?;
            self.merge_into(&mut fields, more, &part_path, Some(part));
        }
        Some(fields)
    }

    /// The cases of a `oneOf`/`anyOf` schema named `variant`.
    fn cases(
        &mut self,
        schema: &'a Node,
        alternatives: &'a Node,
        variant: &str,
        path: &str,
    ) -> Vec<Case> {
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
        let mut scope = Scope::default();
        let mut cases = Vec::new();
        for (i, alternative) in items(alternatives).iter().enumerate() {
            let alt_path = format!("{path}.oneOf[{i}]");
            let reference = str_of(alternative, "$ref");
            let tag = reference.and_then(|r| {
                mapping
                    .iter()
                    .find(|(_, target)| target == r)
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

/// What an `allOf` part is when it is not an object whose properties can
/// merge (`a \`string\``, `a \`oneOf\``, `an enum`).
fn not_mergeable(schema: &Node) -> Option<String> {
    if get(schema, "oneOf").is_some() {
        return Some("a `oneOf`".into());
    }
    if get(schema, "anyOf").is_some() {
        return Some("an `anyOf`".into());
    }
    if get(schema, "enum").is_some() {
        return Some("an enum".into());
    }
    if has_properties(schema) && typed_additional(schema) {
        return Some("an object with typed `additionalProperties`".into());
    }
    match primary_type(schema).as_deref() {
        Some("object") | None => None,
        Some(other) => Some(format!("a `{other}`")),
    }
}

/// `ty` without its `option`.
/// The named types `ty` refers to, added to `out`.
fn named_in(ty: &TypeRef, out: &mut Vec<String>) {
    match ty {
        TypeRef::Named(name) => out.push(name.clone()),
        TypeRef::List(inner) | TypeRef::Option(inner) | TypeRef::Map(inner) => named_in(inner, out),
        _ => {}
    }
}

fn unoptional(ty: &TypeRef) -> &TypeRef {
    match ty {
        TypeRef::Option(inner) => inner,
        other => other,
    }
}

/// The string values of a string `enum`, if the schema is one.
fn string_enum(schema: &Node) -> Option<Vec<String>> {
    let values = items(get(schema, "enum")?);
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

fn type_list_has_null(schema: &Node) -> bool {
    get(schema, "type").is_some_and(|t| {
        items(t)
            .iter()
            .any(|v| matches!(&v.value, Value::String(s) if s == "null"))
    })
}

/// The constraints a schema states.
pub(crate) fn constraints(schema: &Node) -> Constraints {
    let unsigned = |key: &str| {
        number_of(schema, key).and_then(|n| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            (n >= 0.0).then_some(n as u64)
        })
    };
    Constraints {
        min_length: unsigned("minLength"),
        max_length: unsigned("maxLength"),
        pattern: str_of(schema, "pattern").map(str::to_owned),
        minimum: number_of(schema, "minimum"),
        maximum: number_of(schema, "maximum"),
        min_items: unsigned("minItems"),
        max_items: unsigned("maxItems"),
    }
}
