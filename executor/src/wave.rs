//! WAVE text, the admin API's encoding of component values, at the edge
//! only: parameters are parsed into component values with the export's own
//! types before anything runs, and results are printed after it returns.
//! Workers run on component values ([`wasmtime::component::Val`]).

use wasmtime::component::{Type, Val, wasm_wave};

use crate::error::{Error, Result};

/// The parameter names and types, and the result types, of an export.
#[derive(Debug, Clone)]
pub struct Signature {
    /// Parameter names and types, in order.
    pub params: Vec<(String, Type)>,
    /// Result types.
    pub results: Vec<Type>,
}

/// Whether a value of `ty` can be written as WAVE text (and so journaled):
/// not when it holds a resource handle (`own`, `borrow`), a future or a
/// stream anywhere inside.
pub fn is_textual(ty: &Type) -> bool {
    match ty {
        Type::List(l) => is_textual(&l.ty()),
        Type::Option(o) => is_textual(&o.ty()),
        Type::Tuple(t) => t.types().all(|t| is_textual(&t)),
        Type::Result(r) => {
            r.ok().is_none_or(|t| is_textual(&t)) && r.err().is_none_or(|t| is_textual(&t))
        }
        Type::Record(r) => r.fields().all(|f| is_textual(&f.ty)),
        Type::Variant(v) => v.cases().all(|c| c.ty.is_none_or(|t| is_textual(&t))),
        Type::Bool
        | Type::S8
        | Type::U8
        | Type::S16
        | Type::U16
        | Type::S32
        | Type::U32
        | Type::S64
        | Type::U64
        | Type::Float32
        | Type::Float64
        | Type::Char
        | Type::String
        | Type::Enum(_)
        | Type::Flags(_) => true,
        _ => false,
    }
}

/// Parses WAVE `texts` as the parameters of `function`.
pub fn parse_params(function: &str, signature: &Signature, texts: &[String]) -> Result<Vec<Val>> {
    if signature.params.len() != texts.len() {
        return Err(Error::BadParams {
            function: function.to_owned(),
            message: format!(
                "expected {} parameter(s), got {}",
                signature.params.len(),
                texts.len()
            ),
        });
    }
    signature
        .params
        .iter()
        .zip(texts)
        .map(|((name, ty), text)| {
            wasm_wave::from_str::<Val>(ty, text).map_err(|e| Error::BadParams {
                function: function.to_owned(),
                message: format!(
                    "parameter `{name}` of type `{}`{}: {}",
                    crate::components::type_name(ty),
                    range_of(ty),
                    parse_problem(&e, text)
                ),
            })
        })
        .collect()
}

/// The values an integer type holds (` (0 to 255)`), or nothing.
fn range_of(ty: &Type) -> String {
    let (min, max): (i128, i128) = match ty {
        Type::U8 => (0, u8::MAX.into()),
        Type::U16 => (0, u16::MAX.into()),
        Type::U32 => (0, u32::MAX.into()),
        Type::U64 => (0, u64::MAX.into()),
        Type::S8 => (i8::MIN.into(), i8::MAX.into()),
        Type::S16 => (i16::MIN.into(), i16::MAX.into()),
        Type::S32 => (i32::MIN.into(), i32::MAX.into()),
        Type::S64 => (i64::MIN.into(), i64::MAX.into()),
        _ => return String::new(),
    };
    format!(" ({min} to {max})")
}

/// What is wrong with WAVE `text`, quoting the part at fault instead of
/// giving its byte offsets.
fn parse_problem(error: &wasm_wave::parser::ParserError, text: &str) -> String {
    let mut why = error.kind().to_string();
    if let Some(detail) = error.detail() {
        why = format!("{why} ({detail})");
    } else if let Some(source) = std::error::Error::source(error) {
        why = format!("{why} ({source})");
    }
    let span = error.span();
    match text.get(span.clone()) {
        Some(part) if !part.is_empty() && part.len() < text.len() => {
            format!("{why} at `{part}` in `{text}`")
        }
        _ if span.start >= text.len() && !text.is_empty() => format!("{why} after `{text}`"),
        _ => format!("{why}: `{text}`"),
    }
}

/// Prints component values as WAVE text. A value holding a resource handle
/// (which text cannot hold, and WAVE's writer would panic on) is an error.
pub fn to_texts(values: &[Val]) -> Result<Vec<String>> {
    values
        .iter()
        .map(|v| {
            if !is_plain(v) {
                return Err(Error::Unsupported(
                    "a value holding a resource handle cannot be written as text (nor \
                     journaled)"
                        .into(),
                ));
            }
            wasm_wave::to_string(v).map_err(|e| Error::Wasm(wasmtime::Error::msg(e.to_string())))
        })
        .collect()
}

/// Whether `value` holds no resource handle anywhere inside.
fn is_plain(value: &Val) -> bool {
    match value {
        Val::Resource(_) | Val::Future(_) | Val::Stream(_) | Val::ErrorContext(_) => false,
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            items.iter().all(is_plain)
        }
        Val::Map(pairs) => pairs.iter().all(|(k, v)| is_plain(k) && is_plain(v)),
        Val::Record(fields) => fields.iter().all(|(_, v)| is_plain(v)),
        Val::Variant(_, payload) | Val::Option(payload) => payload.as_deref().is_none_or(is_plain),
        Val::Result(result) => match result {
            Ok(v) | Err(v) => v.as_deref().is_none_or(is_plain),
        },
        _ => true,
    }
}
