//! Checks a component's import of a function against the model: the
//! parameter and result types must be exactly the ones the generated WIT
//! gives it (names of record fields, enum and variant cases included), so
//! a component built against another version of the document is refused
//! at upload, naming the first difference, instead of sending requests
//! built from misread values.

use std::collections::HashSet;

use wasmtime::component::Type;

use super::json::Lookup;
use crate::error::Error;
use crate::model::{ApiModel, Function, Interface, TypeDef, TypeKind, TypeRef};

/// Checks that `params` and `results` (the imported function's types) are
/// those of `function`.
pub fn check_signature(
    model: &ApiModel,
    interface: &Interface,
    function: &Function,
    params: &[Type],
    results: &[Type],
) -> Result<(), Error> {
    let fail = |message: String| Error::Signature {
        function: format!("{}.{}", interface.name, function.name),
        message,
    };
    let types = Lookup::new(model, interface);
    let mut expected: Vec<(String, TypeRef)> = function
        .path_params
        .iter()
        .map(|p| (p.name.clone(), p.ty.clone()))
        .collect();
    if let Some(request) = &function.request {
        expected.push((
            "request".to_owned(),
            TypeRef::Named(request.type_name.clone()),
        ));
    }
    if params.len() != expected.len() {
        return Err(fail(format!(
            "takes {} parameters, the document gives it {} ({})",
            params.len(),
            expected.len(),
            expected
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut checker = Checker {
        types: &types,
        seen: HashSet::new(),
    };
    for ((name, ty), actual) in expected.iter().zip(params) {
        checker
            .same(ty, actual, name)
            .map_err(|m| fail(format!("parameter `{name}`: {m}")))?;
    }
    let [result] = results else {
        return Err(fail(format!(
            "returns {} values; the document gives it one `result<_, error>`",
            results.len()
        )));
    };
    let Type::Result(result) = result else {
        return Err(fail(format!(
            "returns {}, not `result<_, error>`",
            describe(result)
        )));
    };
    match (&function.ok, result.ok()) {
        (None, None) => {}
        (Some(ty), Some(actual)) => checker
            .same(ty, &actual, "result")
            .map_err(|m| fail(format!("the result: {m}")))?,
        (None, Some(_)) => return Err(fail("the document's result has no value".to_owned())),
        (Some(_), None) => return Err(fail("the document's result has a value".to_owned())),
    }
    let error = TypeRef::Named("error".to_owned());
    match result.err() {
        Some(actual) => checker
            .same(&error, &actual, "error")
            .map_err(|m| fail(format!("the error: {m}")))?,
        None => return Err(fail("the result has no `error` type".to_owned())),
    }
    Ok(())
}

/// Where the component's type differs from the document's, in words.
#[derive(Debug)]
struct Mismatch(String);

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

struct Checker<'a, 'm> {
    types: &'a Lookup<'m>,
    /// Named types being checked (recursive types end here).
    seen: HashSet<String>,
}

impl Checker<'_, '_> {
    fn same(&mut self, expected: &TypeRef, actual: &Type, at: &str) -> Result<(), Mismatch> {
        let wrong = || {
            Err(Mismatch(format!(
                "at `{at}`: expected {}, found {}",
                crate::wit::type_text(expected),
                describe(actual)
            )))
        };
        match (expected, actual) {
            (TypeRef::Bool, Type::Bool)
            | (TypeRef::S32, Type::S32)
            | (TypeRef::S64, Type::S64)
            | (TypeRef::U16, Type::U16)
            | (TypeRef::U32, Type::U32)
            | (TypeRef::F32, Type::Float32)
            | (TypeRef::F64, Type::Float64)
            | (TypeRef::String | TypeRef::Json, Type::String) => Ok(()),
            (TypeRef::Bytes, Type::List(list)) if list.ty() == Type::U8 => Ok(()),
            (TypeRef::List(inner), Type::List(list)) => {
                self.same(inner, &list.ty(), &format!("{at}[]"))
            }
            (TypeRef::Option(inner), Type::Option(option)) => self.same(inner, &option.ty(), at),
            (TypeRef::Map(inner), Type::List(list)) => match list.ty() {
                Type::Tuple(tuple) => {
                    let parts: Vec<Type> = tuple.types().collect();
                    match parts.as_slice() {
                        [Type::String, value] => self.same(inner, value, &format!("{at}{{}}")),
                        _ => wrong(),
                    }
                }
                _ => wrong(),
            },
            (TypeRef::Named(name), _) => {
                let def = self.types.get(name).map_err(|f| Mismatch(f.0))?;
                if let TypeKind::Alias(ty) = &def.kind {
                    return self.same(ty, actual, at);
                }
                if !self.seen.insert(name.clone()) {
                    return Ok(());
                }
                let checked = self.named(def, actual, at);
                self.seen.remove(name);
                checked
            }
            _ => wrong(),
        }
    }

    fn named(&mut self, def: &TypeDef, actual: &Type, at: &str) -> Result<(), Mismatch> {
        let wrong = || {
            Err(Mismatch(format!(
                "at `{at}`: expected `{}`, found {}",
                def.name,
                describe(actual)
            )))
        };
        match (&def.kind, actual) {
            (TypeKind::Record(fields), Type::Record(record)) => {
                let actual: Vec<_> = record.fields().collect();
                if actual.len() != fields.len() {
                    return Err(Mismatch(format!(
                        "at `{at}`: record `{}` has {} fields, the component's has {}",
                        def.name,
                        fields.len(),
                        actual.len()
                    )));
                }
                for (field, found) in fields.iter().zip(actual) {
                    if field.name != found.name {
                        return Err(Mismatch(format!(
                            "at `{at}`: record `{}` has field `{}` where the component's has `{}`",
                            def.name, field.name, found.name
                        )));
                    }
                    self.same(&field.ty, &found.ty, &format!("{at}.{}", field.name))?;
                }
                Ok(())
            }
            (TypeKind::Enum(cases), Type::Enum(found)) => {
                let found: Vec<&str> = found.names().collect();
                let expected: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
                if found == expected {
                    Ok(())
                } else {
                    Err(Mismatch(format!(
                        "at `{at}`: enum `{}` has cases {expected:?}, the component's {found:?}",
                        def.name
                    )))
                }
            }
            (TypeKind::Variant(cases), Type::Variant(found)) => {
                let found: Vec<_> = found.cases().collect();
                if found.len() != cases.len() {
                    return Err(Mismatch(format!(
                        "at `{at}`: variant `{}` has {} cases, the component's has {}",
                        def.name,
                        cases.len(),
                        found.len()
                    )));
                }
                for (case, other) in cases.iter().zip(found) {
                    if case.name != other.name {
                        return Err(Mismatch(format!(
                            "at `{at}`: variant `{}` has case `{}` where the component's has `{}`",
                            def.name, case.name, other.name
                        )));
                    }
                    match (&case.ty, &other.ty) {
                        (None, None) => {}
                        (Some(ty), Some(found)) => {
                            self.same(ty, found, &format!("{at}.{}", case.name))?;
                        }
                        _ => {
                            return Err(Mismatch(format!(
                                "at `{at}`: case `{}` of `{}` differs in having a payload",
                                case.name, def.name
                            )));
                        }
                    }
                }
                Ok(())
            }
            _ => wrong(),
        }
    }
}

/// A short description of a component type, for messages.
fn describe(ty: &Type) -> String {
    match ty {
        Type::Record(_) => "a record".to_owned(),
        Type::Variant(_) => "a variant".to_owned(),
        Type::Enum(_) => "an enum".to_owned(),
        Type::List(list) => format!("list<{}>", describe(&list.ty())),
        Type::Option(option) => format!("option<{}>", describe(&option.ty())),
        Type::Result(_) => "a result".to_owned(),
        Type::Tuple(_) => "a tuple".to_owned(),
        Type::Flags(_) => "flags".to_owned(),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}
