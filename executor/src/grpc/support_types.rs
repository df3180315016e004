//! The types of the support package `reprise:grpc` (`rpc-status`,
//! `call-options`, the well-known records) as its WIT declares them, and
//! the upload check that a component's imported type has exactly their
//! structure: the same fields, cases and element types all the way down,
//! not only the same top-level field names. The value bridge builds and
//! reads these values by that structure, so a component built against
//! another `reprise:grpc` of the same version (say, `code: u32` in
//! `rpc-status`) is refused at upload with the path of the difference,
//! instead of failing at its first call.

use std::collections::HashMap;
use std::sync::LazyLock;

use reprise_grpc_stub::wit::support::SUPPORT_WIT;
use wasmtime::component::Type;
use wit_parser::{Resolve, Type as WitType, TypeDefKind, TypeId};

use super::typecheck::{Checked, Mismatch, describe};

/// The support interface, parsed once.
struct Support {
    resolve: Resolve,
    /// The interface's named types.
    types: HashMap<String, TypeId>,
}

fn parse() -> Option<Support> {
    let mut resolve = Resolve::default();
    let package = resolve.push_str("reprise-grpc.wit", SUPPORT_WIT).ok()?;
    let interface = *resolve.packages[package].interfaces.get("types")?;
    let types = resolve.interfaces[interface]
        .types
        .iter()
        .map(|(name, id)| (name.clone(), *id))
        .collect();
    Some(Support { resolve, types })
}

static SUPPORT: LazyLock<Option<Support>> = LazyLock::new(parse);

/// Checks that `ty`, found at `path`, is the support type `name`
/// (`rpc-status`, `call-options`, `timestamp`, `duration`, `any`).
pub(super) fn check(name: &str, ty: &Type, path: &str) -> Checked {
    let support = SUPPORT
        .as_ref()
        .ok_or("internal: the reprise:grpc support WIT does not parse")?;
    let id = support
        .types
        .get(name)
        .ok_or_else(|| Mismatch::from(format!("internal: no support type `{name}`")))?;
    Compare {
        resolve: &support.resolve,
    }
    .same(&WitType::Id(*id), ty, path)
}

/// Walks a support type (a WIT type of [`SUPPORT`]) and a component's
/// type side by side. The walk follows the support type, which WIT keeps
/// finite and free of cycles, so it ends whatever the component declares.
struct Compare<'a> {
    resolve: &'a Resolve,
}

/// The same names in the same order, or a mismatch saying which `kind`
/// (`a record with fields`, ...) was expected.
fn same_names<'n>(
    kind: &str,
    want: impl Iterator<Item = &'n str>,
    have: impl Iterator<Item = &'n str>,
    path: &str,
) -> Checked {
    let (want, have): (Vec<&str>, Vec<&str>) = (want.collect(), have.collect());
    if want == have {
        Ok(())
    } else {
        Err(format!("{path}: expected {kind} {want:?}, found {have:?}").into())
    }
}

impl Compare<'_> {
    fn same(&self, want: &WitType, ty: &Type, path: &str) -> Checked {
        match (want, ty) {
            (WitType::Bool, Type::Bool)
            | (WitType::U8, Type::U8)
            | (WitType::U16, Type::U16)
            | (WitType::U32, Type::U32)
            | (WitType::U64, Type::U64)
            | (WitType::S8, Type::S8)
            | (WitType::S16, Type::S16)
            | (WitType::S32, Type::S32)
            | (WitType::S64, Type::S64)
            | (WitType::F32, Type::Float32)
            | (WitType::F64, Type::Float64)
            | (WitType::Char, Type::Char)
            | (WitType::String, Type::String) => Ok(()),
            (WitType::Id(id), _) => self.same_def(*id, ty, path),
            _ => Err(self.differs(want, ty, path)),
        }
    }

    fn same_def(&self, id: TypeId, ty: &Type, path: &str) -> Checked {
        match (&self.resolve.types[id].kind, ty) {
            (TypeDefKind::Type(alias), _) => self.same(alias, ty, path),
            (TypeDefKind::Record(record), Type::Record(found)) => {
                let fields: Vec<_> = found.fields().collect();
                same_names(
                    "a record with fields",
                    record.fields.iter().map(|f| f.name.as_str()),
                    fields.iter().map(|f| f.name),
                    path,
                )?;
                for (field, found) in record.fields.iter().zip(&fields) {
                    self.same(&field.ty, &found.ty, &format!("{path}.{}", field.name))?;
                }
                Ok(())
            }
            (TypeDefKind::Variant(variant), Type::Variant(found)) => {
                let cases: Vec<_> = found.cases().collect();
                same_names(
                    "a variant with cases",
                    variant.cases.iter().map(|c| c.name.as_str()),
                    cases.iter().map(|c| c.name),
                    path,
                )?;
                for (case, found) in variant.cases.iter().zip(&cases) {
                    let case_path = format!("{path}.{}", case.name);
                    self.same_payload(case.ty.as_ref(), found.ty.as_ref(), &case_path)?;
                }
                Ok(())
            }
            (TypeDefKind::Enum(enumeration), Type::Enum(found)) => same_names(
                "an enum with cases",
                enumeration.cases.iter().map(|c| c.name.as_str()),
                found.names(),
                path,
            ),
            (TypeDefKind::Flags(flags), Type::Flags(found)) => same_names(
                "flags",
                flags.flags.iter().map(|f| f.name.as_str()),
                found.names(),
                path,
            ),
            (TypeDefKind::Option(inner), Type::Option(found)) => {
                self.same(inner, &found.ty(), &format!("{path}?"))
            }
            (TypeDefKind::List(inner), Type::List(found)) => {
                self.same(inner, &found.ty(), &format!("{path}[]"))
            }
            (TypeDefKind::Tuple(tuple), Type::Tuple(found)) => {
                let types: Vec<Type> = found.types().collect();
                if types.len() != tuple.types.len() {
                    return Err(format!(
                        "{path}: expected a tuple of {}, found one of {}",
                        tuple.types.len(),
                        types.len()
                    )
                    .into());
                }
                for (i, (want, found)) in tuple.types.iter().zip(&types).enumerate() {
                    self.same(want, found, &format!("{path}.{i}"))?;
                }
                Ok(())
            }
            (TypeDefKind::Result(result), Type::Result(found)) => {
                self.same_payload(
                    result.ok.as_ref(),
                    found.ok().as_ref(),
                    &format!("{path}.ok"),
                )?;
                self.same_payload(
                    result.err.as_ref(),
                    found.err().as_ref(),
                    &format!("{path}.err"),
                )
            }
            _ => Err(self.differs(&WitType::Id(id), ty, path)),
        }
    }

    /// A case payload or a result side: both absent, or both the same type.
    fn same_payload(&self, want: Option<&WitType>, found: Option<&Type>, path: &str) -> Checked {
        match (want, found) {
            (None, None) => Ok(()),
            (Some(want), Some(found)) => self.same(want, found, path),
            (Some(want), None) => {
                Err(format!("{path}: expected {}, found no payload", self.name(want)).into())
            }
            (None, Some(found)) => {
                Err(format!("{path}: expected no payload, found {}", describe(found)).into())
            }
        }
    }

    fn differs(&self, want: &WitType, ty: &Type, path: &str) -> Mismatch {
        format!(
            "{path}: expected {}, found {}",
            self.name(want),
            describe(ty)
        )
        .into()
    }

    /// The WIT spelling of `want`, for messages.
    fn name(&self, want: &WitType) -> String {
        match want {
            WitType::Id(id) => {
                let def = &self.resolve.types[*id];
                match (&def.name, &def.kind) {
                    (Some(name), _) => name.clone(),
                    (None, TypeDefKind::List(_)) => "a list".into(),
                    (None, TypeDefKind::Option(_)) => "an option".into(),
                    (None, TypeDefKind::Result(_)) => "a result".into(),
                    (None, TypeDefKind::Tuple(_)) => "a tuple".into(),
                    (None, _) => "a compound type".into(),
                }
            }
            WitType::F32 => "f32".into(),
            WitType::F64 => "f64".into(),
            other => format!("{other:?}").to_lowercase(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::Engine;
    use wasmtime::component::Component;
    use wasmtime::component::types::ComponentItem;

    #[test]
    fn the_support_wit_parses_and_holds_the_checked_types() {
        let support = SUPPORT.as_ref().expect("the support WIT parses");
        for name in ["rpc-status", "call-options", "timestamp", "duration", "any"] {
            assert!(support.types.contains_key(name), "no support type {name}");
        }
    }

    /// The error sides and `options` parameters of every function the
    /// todo client imports from its gRPC dependency.
    fn todo_client_support_types(engine: &Engine) -> (Vec<Type>, Vec<Type>) {
        let bytes = std::fs::read(reprise_test_components::TODO_CLIENT).expect("todo-client.wasm");
        let component = Component::new(engine, bytes).expect("todo-client compiles");
        let (mut errors, mut options) = (Vec::new(), Vec::new());
        for (name, item) in component.component_type().imports(engine) {
            // The generated service interface, not WASI.
            if !name.starts_with("core:todo/") {
                continue;
            }
            let ComponentItem::ComponentInstance(instance) = item.ty else {
                continue;
            };
            for (_, export) in instance.exports(engine) {
                let ComponentItem::ComponentFunc(func) = export.ty else {
                    continue;
                };
                if let Some(Type::Result(result)) = func.results().next()
                    && let Some(err) = result.err()
                {
                    errors.push(err);
                }
                for (name, ty) in func.params() {
                    if let ("options", Type::Option(inner)) = (name, ty) {
                        options.push(inner.ty());
                    }
                }
            }
        }
        (errors, options)
    }

    #[test]
    fn the_generated_support_types_of_a_real_guest_pass() {
        let engine = Engine::default();
        let (errors, options) = todo_client_support_types(&engine);
        assert!(
            !errors.is_empty() && !options.is_empty(),
            "no gRPC imports found"
        );
        for err in &errors {
            check("rpc-status", err, "result.err").expect("the generated rpc-status");
        }
        for options in &options {
            check("call-options", options, "options").expect("the generated call-options");
        }
    }

    /// An `rpc-status` with the right field names but other field types:
    /// the check before this one compared the names only, and let it link.
    #[test]
    fn an_rpc_status_with_the_right_names_but_other_types_is_refused() {
        let engine = Engine::default();
        let wat = r#"(component
            (type $s0 (record (field "code" u32) (field "message" string)
                              (field "details" (list u8)) (field "trailers" (list u8))))
            (import "rpc-status" (type $s (eq $s0)))
            (type $f (func (result (result string (error $s)))))
            (import "call" (func (type $f))))"#;
        let bytes = wat::parse_str(wat).expect("valid component text");
        let component = Component::new(&engine, bytes).expect("the component compiles");
        let func = component
            .component_type()
            .imports(&engine)
            .find_map(|(_, item)| match item.ty {
                ComponentItem::ComponentFunc(func) => Some(func),
                _ => None,
            })
            .expect("the imported function");
        let Some(Type::Result(result)) = func.results().next() else {
            panic!("the function returns a result");
        };
        let err = result.err().expect("an error type");
        let mismatch = check("rpc-status", &err, "result.err").expect_err("refused");
        assert_eq!(
            mismatch.to_string(),
            "result.err.code: expected status-code, found u32"
        );
    }
}
