//! `allOf`: merging the parts' properties into one record, refusing
//! parts that disagree on a property's type or schema (inline objects
//! defined alike count as one schema), and breaking cycles.

use super::{Types, has_properties, is_nullable, primary_type, typed_additional};
use crate::doc::{get, items, str_of};
use crate::model::{Field, TypeKind, TypeRef};
use crate::yaml::{Node, Value};

/// How many named types deep two `allOf` parts' inline objects are
/// compared before they count as different.
const SAME_SHAPE_DEPTH: usize = 8;

impl<'d, 'a> Types<'d, 'a> {
    /// One record merging every `allOf` part; `None` when the `allOf`
    /// closes a cycle (an `inline` one whose part refers to a schema being
    /// defined, or a part reached again while it is merged), which is
    /// mapped as recursion is: the JSON value as text.
    pub(super) fn merged(
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
        self.require_across_parts(&mut fields, owner, parts);
        Some(fields)
    }

    /// Applies a `required` list of one part (or of the owner) to the
    /// properties another part defines (`allOf: [$ref: Base, {required:
    /// [name]}]`): each part's own fields only saw its own list. A nullable
    /// property stays an `option`, sent as `null` for `none`; a `writeOnly`
    /// one stays an `option` (answers leave it out).
    fn require_across_parts(&self, fields: &mut [Field], owner: &'a Node, parts: &'a Node) {
        // Parts were resolved when merged; one that did not resolve is
        // left out here (its problem is reported already).
        let schemas: Vec<&Node> = std::iter::once(owner)
            .chain(items(parts).iter().filter_map(|part| self.doc.follow(part)))
            .collect();
        let required: Vec<&str> = schemas
            .iter()
            .filter_map(|schema| get(schema, "required"))
            .flat_map(|list| {
                items(list).iter().filter_map(|n| match &n.value {
                    Value::String(name) => Some(name.as_str()),
                    _ => None,
                })
            })
            .collect();
        for field in fields.iter_mut() {
            if !required.contains(&field.wire.as_str()) {
                continue;
            }
            let TypeRef::Option(inner) = &field.ty else {
                continue;
            };
            // The property's schema in whichever part defines it.
            let definitions: Vec<&Node> = schemas
                .iter()
                .filter_map(|schema| get(schema, "properties").and_then(|p| get(p, &field.wire)))
                .flat_map(|property| std::iter::once(property).chain(self.doc.follow(property)))
                .collect();
            if definitions.iter().any(|d| is_nullable(d)) {
                field.null_when_none = true;
            } else if !definitions
                .iter()
                .any(|d| crate::doc::bool_of(d, "writeOnly") == Some(true))
            {
                field.ty = (**inner).clone();
            }
        }
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
        for mut field in more {
            let Some(existing) = fields.iter_mut().find(|f| f.wire == field.wire) else {
                // Each part names its fields on its own: `due_date` in one
                // and `dueDate` in another are both `due-date` there, and
                // one record cannot have the name twice.
                if fields.iter().any(|f| f.name == field.name) {
                    let mut taken = crate::names::Scope::default();
                    for f in fields.iter() {
                        taken.take(&f.name);
                    }
                    field.name = taken.unique(&field.name);
                }
                fields.push(field);
                continue;
            };
            // Required and nullable in any part: `null` is sent for `none`.
            // Both parts hold: `readOnly` in either, and the stricter of
            // each bound. (Set on both: a later part may replace the
            // field below, when it makes it required.)
            existing.null_when_none |= field.null_when_none;
            existing.read_only |= field.read_only;
            existing.constraints = existing.constraints.both(&field.constraints);
            if existing.docs.is_none() {
                existing.docs = field.docs.clone();
            }
            field.null_when_none = existing.null_when_none;
            field.read_only = existing.read_only;
            field.constraints = existing.constraints.clone();
            field.docs = existing.docs.clone();
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
            } else if a != b && self.same_type(a, b, SAME_SHAPE_DEPTH) {
                // A list or map of inline objects defined alike: the first
                // part's stays, the second's copies go.
                let (keep, copy) = (a.clone(), b.clone());
                let mut copies = Vec::new();
                named_in(&copy, &mut copies);
                for name in copies {
                    self.drop_inline(&name, SAME_SHAPE_DEPTH);
                }
                if !matches!(field.ty, TypeRef::Option(_)) {
                    *existing = Field { ty: keep, ..field };
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

/// The named types `ty` refers to, added to `out`.
fn named_in(ty: &TypeRef, out: &mut Vec<String>) {
    match ty {
        TypeRef::Named(name) => out.push(name.clone()),
        TypeRef::List(inner) | TypeRef::Option(inner) | TypeRef::Map(inner) => named_in(inner, out),
        _ => {}
    }
}

/// `ty` without its `option`.
fn unoptional(ty: &TypeRef) -> &TypeRef {
    match ty {
        TypeRef::Option(inner) => inner,
        other => other,
    }
}
