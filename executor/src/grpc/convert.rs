//! A streaming call's opening arguments as a request message and call
//! options, through the grpc-stub value bridge (driven by the same interface
//! model as the WIT). Unary calls go straight to bytes
//! ([`crate::grpc::journaled`]).

use prost_reflect::DynamicMessage;
use reprise_grpc_stub::bridge::{call_options_from_val, request_from_val};
use reprise_grpc_stub::client::CallOptions;
use reprise_grpc_stub::model::{InterfaceModel, MethodModel, Param};
use wasmtime::component::Val;

/// The request message and call options from the guest's arguments
/// (`request` is absent for an empty request message).
pub fn request_from_vals(
    model: &InterfaceModel,
    method: &MethodModel,
    params: &[Val],
) -> Result<(DynamicMessage, CallOptions), reprise_grpc_stub::Error> {
    let shape = method.opener_shape();
    let request = shape.position(Param::Request).and_then(|i| params.get(i));
    let options = shape.position(Param::Options).and_then(|i| params.get(i));
    let message = request_from_val(model, method, request)?;
    let options = match options {
        Some(value) => call_options_from_val(value)?,
        None => CallOptions::new(),
    };
    Ok((message, options))
}
