//! Component values the run-time tests build over and over.

use wasmtime::component::Val;

/// A `string`.
pub fn s(text: &str) -> Val {
    Val::String(text.to_owned())
}

/// `none`.
pub fn none() -> Val {
    Val::Option(None)
}

/// `some(v)`.
pub fn some(v: Val) -> Val {
    Val::Option(Some(Box::new(v)))
}
