//! Component values <-> protobuf messages for one method, through the
//! grpc-stub value bridge (driven by the same interface model as the WIT).

use prost_reflect::DynamicMessage;
use reprise_grpc_stub::RpcStatus;
use reprise_grpc_stub::bridge::{
    call_options_from_val, request_from_val, response_to_val, rpc_status_to_val,
};
use reprise_grpc_stub::client::CallOptions;
use reprise_grpc_stub::model::{InterfaceModel, MethodModel, Param};
use reprise_grpc_stub::status::Code;
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

/// The guest's `result<response, rpc-status>` for a call's outcome. A
/// response that does not fit the model becomes an `internal` status.
pub fn outcome_to_val(
    model: &InterfaceModel,
    method: &MethodModel,
    outcome: Result<DynamicMessage, RpcStatus>,
) -> Val {
    let status = match outcome {
        Ok(message) => match response_to_val(model, method, &message) {
            Ok(value) => return Val::Result(Ok(value.map(Box::new))),
            Err(e) => RpcStatus::new(
                Code::Internal,
                format!("the response does not fit its WIT type: {e}"),
            ),
        },
        Err(status) => status,
    };
    Val::Result(Err(Some(Box::new(rpc_status_to_val(&status)))))
}
