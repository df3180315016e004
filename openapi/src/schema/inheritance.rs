//! Inheritance by `allOf` with a discriminator. A named schema with a
//! `discriminator` (and no `oneOf`/`anyOf` of its own) that other named
//! schemas extend — `Dog: allOf: [$ref: Pet, ...]`, directly or through
//! another schema that does — is a variant of those subtypes wherever it is
//! referenced: an answer typed `Pet` is read as the subtype its
//! discriminator names, with that subtype's own properties. The subtypes
//! stay records holding the base's properties (an `allOf` part merges the
//! base schema's properties, never the variant).
//!
//! Cases come from the discriminator's `mapping` first (in its order), then
//! every other subtype in document order, tagged with its schema name (the
//! value OpenAPI implies when no mapping names it). Only the outermost base
//! is a variant: a subtype with a discriminator of its own stays a record
//! (a case of the outer variant, as its own subtypes are).

use std::collections::{HashMap, HashSet};

use super::Types;
use crate::doc::{entries, get, items, str_of};
use crate::model::{Case, TypeRef};
use crate::names::{Scope, kebab};
use crate::yaml::{Node, Value};

const SCHEMAS: &str = "#/components/schemas/";

/// The name of the `components.schemas` entry a `$ref` (or a mapping's
/// bare name) names, if it names one.
fn schema_name(target: &str) -> Option<String> {
    match target.strip_prefix(SCHEMAS) {
        Some(name) => Some(name.replace("~1", "/").replace("~0", "~")),
        None if !target.contains('/') && !target.starts_with('#') => Some(target.to_owned()),
        None => None,
    }
}

/// Every base schema (by name) with the schemas extending it, in document
/// order. Only schemas that have a `discriminator` and are extended count.
pub(super) fn subtypes(root: &Node) -> HashMap<String, Vec<String>> {
    let Some(schemas) = get(root, "components").and_then(|c| get(c, "schemas")) else {
        return HashMap::new();
    };
    let all = entries(schemas);
    // Each schema's direct parents: the named schemas its `allOf` refers to.
    let parents: HashMap<&str, Vec<String>> = all
        .iter()
        .map(|(name, node)| {
            let refs = get(node, "allOf")
                .map(|parts| {
                    items(parts)
                        .iter()
                        .filter_map(|part| str_of(part, "$ref").and_then(schema_name))
                        .collect()
                })
                .unwrap_or_default();
            (name.as_str(), refs)
        })
        .collect();
    let mut bases = HashMap::new();
    for (base, node) in &all {
        let is_base = get(node, "discriminator").is_some()
            && get(node, "oneOf").is_none()
            && get(node, "anyOf").is_none();
        if !is_base {
            continue;
        }
        let extending: Vec<String> = all
            .iter()
            .filter(|(name, _)| name != base && descends(name, base, &parents))
            .map(|(name, _)| name.clone())
            .collect();
        if !extending.is_empty() {
            bases.insert(base.clone(), extending);
        }
    }
    // A base that extends another base (`Dog` with a discriminator of its
    // own, extending `Pet`) stays a record: it is a case of the outer
    // variant, beside its own subtypes, and a plain one (`petType: Dog`)
    // could not be held by a variant of its subtypes alone.
    let nested: Vec<String> = bases
        .keys()
        .filter(|base| {
            bases
                .keys()
                .any(|outer| outer != *base && descends(base, outer, &parents))
        })
        .cloned()
        .collect();
    for base in nested {
        bases.remove(&base);
    }
    bases
}

/// Whether schema `name` extends `base`, through any number of `allOf`s.
fn descends(name: &str, base: &str, parents: &HashMap<&str, Vec<String>>) -> bool {
    let mut seen = HashSet::new();
    let mut queue = vec![name.to_owned()];
    // Bounded: each schema is looked at once.
    while let Some(current) = queue.pop() {
        if !seen.insert(current.clone()) {
            continue;
        }
        for parent in parents.get(current.as_str()).into_iter().flatten() {
            if parent == base {
                return true;
            }
            queue.push(parent.clone());
        }
    }
    false
}

impl<'d, 'a> Types<'d, 'a> {
    /// Whether `part` (an `allOf` part) refers to a base schema.
    pub(super) fn extends_a_base(&self, part: &Node) -> bool {
        str_of(part, "$ref")
            .and_then(schema_name)
            .is_some_and(|name| self.bases.contains_key(&name))
    }

    /// The cases of base schema `base` (its node `schema`), which
    /// `extending` extend.
    pub(super) fn inherited_cases(
        &mut self,
        base: &str,
        schema: &'a Node,
        extending: &[String],
        path: &str,
    ) -> Vec<Case> {
        let discriminator = get(schema, "discriminator");
        let Some(property) = discriminator.and_then(|d| str_of(d, "propertyName")) else {
            self.doc.problem(
                &format!("{path}.discriminator"),
                discriminator,
                "a `discriminator` needs a `propertyName`: the property whose value names \
                 the subtype",
            );
            return Vec::new();
        };
        let mut members: Vec<(String, String)> = Vec::new();
        let mapping = discriminator.and_then(|d| get(d, "mapping"));
        for (tag, target) in mapping.map(entries).unwrap_or_default() {
            let at = format!("{path}.discriminator.mapping.{tag}");
            let named = match &target.value {
                Value::String(t) => schema_name(t).filter(|n| self.named.contains_key(n)),
                _ => None,
            };
            match named {
                Some(name) if name == base => self.doc.problem(
                    &at,
                    Some(target),
                    format!(
                        "the mapping names `{base}` itself: a base schema whose subtypes \
                         extend it is a variant of those subtypes, and cannot be one of its \
                         own cases; map `{tag}` to a schema extending `{base}`"
                    ),
                ),
                Some(name) => members.push((tag, name)),
                None => self.doc.problem(
                    &at,
                    Some(target),
                    "a mapping value names a schema of `components.schemas` \
                     (`#/components/schemas/Dog` or `Dog`)",
                ),
            }
        }
        for name in extending {
            if !members.iter().any(|(_, m)| m == name) {
                members.push((name.clone(), name.clone()));
            }
        }
        let schemas = get(self.doc.root, "components").and_then(|c| get(c, "schemas"));
        let mut scope = Scope::default();
        let mut cases = Vec::new();
        for (tag, name) in members {
            let Some(node) = schemas.and_then(|s| get(s, &name)) else {
                continue;
            };
            let wit = self.define_named(&name, node);
            cases.push(Case {
                name: scope.unique(&kebab(&tag)),
                ty: Some(TypeRef::Named(wit)),
                tag: Some(tag),
                discriminator: Some(property.to_owned()),
            });
        }
        cases
    }
}
