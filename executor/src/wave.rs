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
                message: format!("parameter `{name}`: {e} (in `{text}`)"),
            })
        })
        .collect()
}

/// Prints component values as WAVE text.
pub fn to_texts(values: &[Val]) -> Result<Vec<String>> {
    values
        .iter()
        .map(|v| {
            wasm_wave::to_string(v).map_err(|e| Error::Wasm(wasmtime::Error::msg(e.to_string())))
        })
        .collect()
}
