//! The schema constraints a value is checked against before a request is
//! sent (lengths, bounds, patterns, item and property counts, through
//! records, lists, maps, options and aliases), and the patterns this regex
//! engine cannot check.

use wasmtime::component::Val;

use super::json::Lookup;
use crate::model::{ApiModel, Constraints, TypeDef, TypeKind, TypeRef};

/// Checks `value` against `constraints` (and, inside records, their
/// fields' constraints); each fault is recorded with its path.
pub(super) fn check(
    ty: &TypeRef,
    value: &Val,
    constraints: &Constraints,
    path: &str,
    types: &Lookup<'_>,
    faults: &mut Vec<(String, String)>,
) {
    // Through a named alias (an `allOf` of one part, say) to what it
    // names, and into the case a variant holds: their fields' constraints
    // hold there too. (Alias chains are acyclic: a cycle maps to JSON.)
    if let TypeRef::Named(name) = ty
        && let Ok(def) = types.get(name)
    {
        match (&def.kind, value) {
            (TypeKind::Alias(inner), _) => {
                return check(inner, value, constraints, path, types, faults);
            }
            (TypeKind::Variant(cases), Val::Variant(case, Some(payload))) => {
                if let Some(case_ty) = cases
                    .iter()
                    .find(|c| &c.name == case)
                    .and_then(|c| c.ty.as_ref())
                {
                    check(
                        case_ty,
                        payload,
                        &Constraints::default(),
                        path,
                        types,
                        faults,
                    );
                }
                return;
            }
            _ => {}
        }
    }
    // An untyped value is JSON text: a string's constraints would be
    // checked against the text, quotes included (refusing what the schema
    // allows), and the others not at all. It is sent unchecked.
    if matches!(ty, TypeRef::Json) {
        return;
    }
    let mut fault = |message: String| faults.push((path.to_owned(), message));
    match value {
        Val::Option(None) => {}
        Val::Option(Some(inner)) => {
            let inner_ty = match ty {
                TypeRef::Option(t) => t.as_ref(),
                other => other,
            };
            check(inner_ty, inner, constraints, path, types, faults);
        }
        Val::String(s) => {
            let length = s.chars().count() as u64;
            if constraints.min_length.is_some_and(|min| length < min) {
                fault(format!(
                    "must be at least {} characters long",
                    constraints.min_length.unwrap_or(0)
                ));
            }
            if constraints.max_length.is_some_and(|max| length > max) {
                fault(format!(
                    "must be at most {} characters long",
                    constraints.max_length.unwrap_or(0)
                ));
            }
            if let Some(pattern) = &constraints.pattern
                && let Some(regex) = compiled(pattern)
                && !regex.is_match(s)
            {
                fault(format!("must match the pattern `{pattern}`"));
            }
        }
        Val::S32(_) | Val::S64(_) | Val::U32(_) | Val::Float32(_) | Val::Float64(_) => {
            #[allow(clippy::cast_precision_loss)]
            let n = match value {
                Val::S32(n) => f64::from(*n),
                Val::S64(n) => *n as f64,
                Val::U32(n) => f64::from(*n),
                Val::Float32(n) => super::json::widen(*n),
                Val::Float64(n) => *n,
                _ => 0.0,
            };
            if let Some(min) = constraints.minimum.filter(|min| n < *min) {
                fault(format!("must be at least {min}"));
            }
            if let Some(max) = constraints.maximum.filter(|max| n > *max) {
                fault(format!("must be at most {max}"));
            }
            if let Some(min) = constraints.exclusive_minimum.filter(|min| n <= *min) {
                fault(format!("must be greater than {min}"));
            }
            if let Some(max) = constraints.exclusive_maximum.filter(|max| n >= *max) {
                fault(format!("must be less than {max}"));
            }
        }
        Val::List(items) if !matches!(ty, TypeRef::Bytes) => {
            let count = items.len() as u64;
            if constraints.min_items.is_some_and(|min| count < min) {
                fault(format!(
                    "needs at least {} items",
                    constraints.min_items.unwrap_or(0)
                ));
            }
            if constraints.max_items.is_some_and(|max| count > max) {
                fault(format!(
                    "takes at most {} items",
                    constraints.max_items.unwrap_or(0)
                ));
            }
            let unconstrained = Constraints::default();
            let each = constraints.items.as_deref().unwrap_or(&unconstrained);
            if let TypeRef::List(inner) = ty {
                for (i, item) in items.iter().enumerate() {
                    check(inner, item, each, &format!("{path}[{i}]"), types, faults);
                }
            }
            // A map (`additionalProperties`): each value by its schema.
            if let TypeRef::Map(inner) = ty {
                for item in items {
                    if let Val::Tuple(pair) = item
                        && let [Val::String(key), value] = pair.as_slice()
                    {
                        check(inner, value, each, &format!("{path}.{key}"), types, faults);
                    }
                }
            }
        }
        Val::Record(values) => {
            if let TypeRef::Named(name) = ty
                && let Ok(TypeDef {
                    kind: TypeKind::Record(fields),
                    ..
                }) = types.get(name)
            {
                // A `readOnly` property is not sent: its value is not
                // checked either.
                for (field, (_, value)) in fields.iter().zip(values).filter(|(f, _)| !f.read_only) {
                    check(
                        &field.ty,
                        value,
                        &field.constraints,
                        &format!("{path}.{}", field.wire),
                        types,
                        faults,
                    );
                }
            }
        }
        _ => {}
    }
}

/// The compiled form of a schema's `pattern`, cached; `None` when the
/// pattern uses what this regex engine lacks (look-around,
/// back-references), and such a pattern is not checked (see
/// [`unchecked_patterns`]).
///
/// The cache is bounded ([`PATTERN_CACHE`] entries; full, one makes room):
/// uploads, refused ones too, compile their patterns, and a process-wide
/// cache that only grew kept every one for good. Each compiled pattern is
/// bounded by the regex crate's own size limit (10 MiB).
fn compiled(pattern: &str) -> Option<regex::Regex> {
    static CACHE: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, Option<regex::Regex>>>,
    > = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = cache.get(pattern) {
        return found.clone();
    }
    if cache.len() >= PATTERN_CACHE
        && let Some(evicted) = cache.keys().next().cloned()
    {
        // Any one: the cache is a convenience, every pattern compiles
        // again when it is needed.
        cache.remove(&evicted);
    }
    let regex = regex::Regex::new(pattern).ok();
    cache.insert(pattern.to_owned(), regex.clone());
    regex
}

/// Most compiled patterns kept at once.
const PATTERN_CACHE: usize = 256;

/// The `pattern`s of `model` that cannot be checked (this regex engine has
/// no look-around or back-references); values are sent unchecked against
/// them, and the executor says so when it loads the dependency.
pub fn unchecked_patterns(model: &ApiModel) -> Vec<String> {
    let mut patterns = Vec::new();
    // With the patterns of array items and map values, nested as deep as
    // the model nests them (bounded by the document's depth).
    let mut note = |constraints: &Constraints| {
        let mut next = Some(constraints);
        while let Some(constraints) = next {
            if let Some(pattern) = &constraints.pattern
                && compiled(pattern).is_none()
                && !patterns.contains(pattern)
            {
                patterns.push(pattern.clone());
            }
            next = constraints.items.as_deref();
        }
    };
    let defs = model
        .types
        .iter()
        .chain(model.interfaces.iter().flat_map(|i| i.types.iter()));
    for def in defs {
        if let TypeKind::Record(fields) = &def.kind {
            fields.iter().for_each(|f| note(&f.constraints));
        }
    }
    for function in model.interfaces.iter().flat_map(|i| i.functions.iter()) {
        function
            .path_params
            .iter()
            .for_each(|p| note(&p.constraints));
        if let Some(request) = &function.request {
            request.params.iter().for_each(|p| note(&p.constraints));
            if let Some(body) = &request.body {
                note(&body.constraints);
            }
        }
    }
    patterns
}
