//! Checks, at upload, that the types a component imports for a gRPC method
//! are exactly what the interface model (and so the generated WIT) says —
//! so a component built against stale or foreign WIT is refused with the
//! path of the first mismatch, instead of failing at its first call.

use reprise_grpc_stub::model::{
    FieldMapping, FunctionShape, InterfaceModel, MemberModel, MethodModel, NextItem, OkValue,
    Param, Returns, Scalar, StreamOp, ValueType, WellKnown,
};
use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{ResourceType, Type};

use super::support_types;

/// Where and how an imported signature differs from the model, as a path
/// and a description (`request.todo.user-id: expected string, found u32`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch(String);

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for Mismatch {
    fn from(text: String) -> Self {
        Mismatch(text)
    }
}

impl From<&str> for Mismatch {
    fn from(text: &str) -> Self {
        Mismatch(text.to_owned())
    }
}

/// The outcome of a check.
pub type Checked = Result<(), Mismatch>;

/// Checks an imported unary method's signature. The error names the path of
/// the first mismatch (`request.todo.user-id: expected string, found u32`).
pub fn check_unary(model: &InterfaceModel, method: &MethodModel, func: &ComponentFunc) -> Checked {
    check_function(model, method, &method.opener_shape(), func, 0)
}

/// Checks the opener of a streaming method against its shape in the model.
pub fn check_stream_open(
    model: &InterfaceModel,
    method: &MethodModel,
    func: &ComponentFunc,
    stream: Option<&ResourceType>,
) -> Checked {
    check_function(model, method, &method.opener_shape(), func, 0)?;
    let Some(stream) = stream else {
        return Ok(());
    };
    // An `own` of exactly this method's stream resource: another one of
    // the interface passes the shape check, and the handle the host makes
    // would fail to lower at every call (and every replay).
    check_status_result(func, |ok| match ok {
        Some(Type::Own(found)) if found == *stream => Ok(()),
        _ => Err(format!(
            "result.ok: expected own<{}>, found another resource",
            method.resource.as_deref().unwrap_or("the stream")
        )
        .into()),
    })
}

/// Checks a method of a stream resource (`[method]<resource>.<op>`): the
/// borrowed handle, then the op's shape in the model.
pub fn check_stream_method(
    model: &InterfaceModel,
    method: &MethodModel,
    op: StreamOp,
    func: &ComponentFunc,
) -> Checked {
    match func.params().next() {
        Some((_, Type::Borrow(_))) => {}
        Some((name, other)) => {
            return Err(format!(
                "{name}: expected borrow<stream>, found {}",
                describe(&other)
            )
            .into());
        }
        None => return Err("expected the stream handle as first parameter".into()),
    }
    check_function(model, method, &method.stream_op_shape(op), func, 1)
}

/// Checks `func` (its parameters after the first `skip`, and its result)
/// against `shape`, the one the WIT renderer printed.
fn check_function(
    model: &InterfaceModel,
    method: &MethodModel,
    shape: &FunctionShape,
    func: &ComponentFunc,
    skip: usize,
) -> Checked {
    check_params(model, method, func, skip, &shape.params)?;
    let response = |ok: Option<Type>, path: &str| match (method.response, ok) {
        (Some(response), Some(ok)) => check_value(model, response, &ok, path),
        (None, None) => Ok(()),
        (Some(_), None) => Err(format!("{path}: expected the response record, found none").into()),
        (None, Some(ok)) => Err(format!(
            "{path}: the response message is empty, found {}",
            describe(&ok)
        )
        .into()),
    };
    let ok_value = match shape.returns {
        Returns::Nothing => {
            return match func.results().len() {
                0 => Ok(()),
                n => Err(format!("expected no result, found {n}").into()),
            };
        }
        Returns::Status(ok_value) => ok_value,
    };
    check_status_result(func, |ok| match ok_value {
        OkValue::Nothing => match ok {
            None => Ok(()),
            Some(other) => {
                Err(format!("result.ok: expected none, found {}", describe(&other)).into())
            }
        },
        OkValue::Response => response(ok, "result.ok"),
        OkValue::Resource => match ok {
            Some(Type::Own(_)) => Ok(()),
            Some(other) => Err(format!(
                "result.ok: expected the stream resource, found {}",
                describe(&other)
            )
            .into()),
            None => Err("result.ok: expected the stream resource, found none".into()),
        },
        OkValue::NextItem => match (method.next_item(), ok) {
            (NextItem::Flag, Some(Type::Bool)) => Ok(()),
            (NextItem::Response, Some(Type::Option(inner))) => {
                response(Some(inner.ty()), "result.ok.some")
            }
            (item, other) => Err(format!(
                "result.ok: expected {}, found {}",
                match item {
                    NextItem::Response => "option<response>",
                    NextItem::Flag => "bool",
                },
                other
                    .as_ref()
                    .map(describe)
                    .unwrap_or_else(|| "none".into())
            )
            .into()),
        },
    })
}

/// Checks the parameters after the first `skip` against `expected`.
fn check_params(
    model: &InterfaceModel,
    method: &MethodModel,
    func: &ComponentFunc,
    skip: usize,
    expected: &[Param],
) -> Checked {
    let params: Vec<(String, Type)> = func
        .params()
        .skip(skip)
        .map(|(n, t)| (n.to_owned(), t))
        .collect();
    if params.len() != expected.len() {
        return Err(format!(
            "expected {} parameter(s), found {}",
            expected.len() + skip,
            params.len() + skip
        )
        .into());
    }
    for (param, (name, ty)) in expected.iter().zip(params) {
        match param {
            Param::Request => {
                let request = method
                    .request
                    .ok_or("the model gives a request parameter to an empty request")?;
                check_value(model, request, &ty, &name)?;
            }
            Param::Options => match &ty {
                Type::Option(inner) => support_types::check("call-options", &inner.ty(), &name)?,
                other => {
                    return Err(format!(
                        "{name}: expected option<call-options>, found {}",
                        describe(other)
                    )
                    .into());
                }
            },
        }
    }
    Ok(())
}

/// Checks that the one result is `result<T, rpc-status>`, with `ok` judging `T`.
fn check_status_result(func: &ComponentFunc, ok: impl FnOnce(Option<Type>) -> Checked) -> Checked {
    let results: Vec<Type> = func.results().collect();
    let [Type::Result(result)] = results.as_slice() else {
        return Err("expected one result of type result<_, rpc-status>".into());
    };
    ok(result.ok())?;
    let err = result
        .err()
        .ok_or("result.err: expected rpc-status, found none")?;
    support_types::check("rpc-status", &err, "result.err")
}

fn check_scalar(scalar: Scalar, ty: &Type, path: &str) -> Checked {
    let ok = match (scalar, ty) {
        (Scalar::Bool, Type::Bool)
        | (Scalar::S32, Type::S32)
        | (Scalar::S64, Type::S64)
        | (Scalar::U32, Type::U32)
        | (Scalar::U64, Type::U64)
        | (Scalar::F32, Type::Float32)
        | (Scalar::F64, Type::Float64)
        | (Scalar::String, Type::String) => true,
        (Scalar::Bytes, Type::List(list)) => matches!(list.ty(), Type::U8),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{path}: expected {}, found {}", scalar.wit(), describe(ty)).into())
    }
}

fn check_value(model: &InterfaceModel, expected: ValueType, ty: &Type, path: &str) -> Checked {
    match expected {
        ValueType::Scalar(s) => check_scalar(s, ty, path),
        ValueType::RecursionBreak(_) => check_scalar(Scalar::Bytes, ty, path),
        ValueType::Enum(id) => {
            let model_enum = model.enum_model(id);
            let Type::Enum(found) = ty else {
                return Err(format!(
                    "{path}: expected enum {}, found {}",
                    model_enum.wit_name,
                    describe(ty)
                )
                .into());
            };
            let want: Vec<&str> = model_enum
                .cases
                .iter()
                .map(|c| c.wit_name.as_str())
                .collect();
            let have: Vec<&str> = found.names().collect();
            if want != have {
                return Err(format!(
                    "{path}: enum {} expects cases {want:?}, found {have:?}",
                    model_enum.wit_name
                )
                .into());
            }
            Ok(())
        }
        ValueType::WellKnown(wk) => match wk {
            WellKnown::Timestamp => support_types::check("timestamp", ty, path),
            WellKnown::Duration => support_types::check("duration", ty, path),
            WellKnown::Any => support_types::check("any", ty, path),
            WellKnown::FieldMask => match ty {
                Type::List(list) => check_scalar(Scalar::String, &list.ty(), &format!("{path}[]")),
                other => {
                    Err(format!("{path}: expected list<string>, found {}", describe(other)).into())
                }
            },
            WellKnown::Struct | WellKnown::Value | WellKnown::ListValue => {
                check_scalar(Scalar::String, ty, path)
            }
            WellKnown::Wrapper(s) => check_scalar(s, ty, path),
        },
        ValueType::Message(id) => {
            let message = model.message(id);
            let Type::Record(record) = ty else {
                return Err(format!(
                    "{path}: expected record {}, found {}",
                    message.wit_name,
                    describe(ty)
                )
                .into());
            };
            let fields: Vec<_> = record.fields().collect();
            if fields.len() != message.members.len() {
                return Err(format!(
                    "{path}: record {} expects {} field(s), found {}",
                    message.wit_name,
                    message.members.len(),
                    fields.len()
                )
                .into());
            }
            for (member, field) in message.members.iter().zip(fields) {
                let field_path = format!("{path}.{}", member.wit_name());
                if field.name != member.wit_name() {
                    return Err(
                        format!("{field_path}: found field `{}` instead", field.name).into(),
                    );
                }
                check_member(model, member, &field.ty, &field_path)?;
            }
            Ok(())
        }
    }
}

fn check_member(model: &InterfaceModel, member: &MemberModel, ty: &Type, path: &str) -> Checked {
    match member {
        MemberModel::Field(field) => match field.mapping {
            FieldMapping::Plain(vt) => check_value(model, vt, ty, path),
            FieldMapping::Optional(vt) => match ty {
                Type::Option(inner) => check_value(model, vt, &inner.ty(), path),
                other => {
                    Err(format!("{path}: expected option<..>, found {}", describe(other)).into())
                }
            },
            FieldMapping::List(vt) => match ty {
                Type::List(inner) => check_value(model, vt, &inner.ty(), &format!("{path}[]")),
                other => {
                    Err(format!("{path}: expected list<..>, found {}", describe(other)).into())
                }
            },
            FieldMapping::Map { key, value } => {
                let Type::List(list) = ty else {
                    return Err(format!(
                        "{path}: expected list<tuple<K, V>>, found {}",
                        describe(ty)
                    )
                    .into());
                };
                let Type::Tuple(tuple) = list.ty() else {
                    return Err(format!(
                        "{path}: expected list<tuple<K, V>>, found {}",
                        describe(ty)
                    )
                    .into());
                };
                let types: Vec<Type> = tuple.types().collect();
                let [k, v] = types.as_slice() else {
                    return Err(
                        format!("{path}: expected a pair, found a {}-tuple", types.len()).into(),
                    );
                };
                check_scalar(key, k, &format!("{path}.key"))?;
                check_value(model, value, v, &format!("{path}.value"))
            }
            FieldMapping::EmptyPresence => check_bool(ty, path),
            FieldMapping::EmptyCount => match ty {
                Type::U32 => Ok(()),
                other => Err(format!("{path}: expected u32, found {}", describe(other)).into()),
            },
            FieldMapping::EmptyMapKeys { key } => match ty {
                Type::List(list) => check_scalar(key, &list.ty(), &format!("{path}[]")),
                other => {
                    Err(format!("{path}: expected list<key>, found {}", describe(other)).into())
                }
            },
        },
        MemberModel::Oneof(oneof) => {
            let Type::Option(inner) = ty else {
                return Err(format!(
                    "{path}: expected option<variant {}>, found {}",
                    oneof.type_name,
                    describe(ty)
                )
                .into());
            };
            let Type::Variant(variant) = inner.ty() else {
                return Err(format!("{path}: expected variant {}", oneof.type_name).into());
            };
            let cases: Vec<_> = variant.cases().collect();
            if cases.len() != oneof.cases.len() {
                return Err(format!(
                    "{path}: variant {} expects {} case(s)",
                    oneof.type_name,
                    oneof.cases.len()
                )
                .into());
            }
            for (want, have) in oneof.cases.iter().zip(cases) {
                let case_path = format!("{path}.{}", want.wit_name);
                if have.name != want.wit_name {
                    return Err(format!("{case_path}: found case `{}` instead", have.name).into());
                }
                match (want.payload, have.ty) {
                    (Some(vt), Some(ty)) => check_value(model, vt, &ty, &case_path)?,
                    (None, None) => {}
                    _ => return Err(format!("{case_path}: payload presence differs").into()),
                }
            }
            Ok(())
        }
    }
}

fn check_bool(ty: &Type, path: &str) -> Checked {
    match ty {
        Type::Bool => Ok(()),
        other => Err(format!("{path}: expected bool, found {}", describe(other)).into()),
    }
}

pub(super) fn describe(ty: &Type) -> String {
    crate::components::type_name(ty)
}
