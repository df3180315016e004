//! One durable unary gRPC call made by a guest.
//!
//! Replay: the oplog holds the call — check that the guest sends the same
//! request (function name and request hash) and return the recorded result.
//!
//! Live: the durable path commits `BeginRemoteWrite` first (its index gives
//! the `idempotency-key` sent to the server); the call is performed, then the
//! request, the result (a response or an `rpc-status`) and `EndRemoteWrite`
//! are committed before the guest sees the result. If the executor dies in between, replay
//! finds the `BeginRemoteWrite` without a result and performs the call again
//! with the same key, so a cooperating server can drop the duplicate.
//!
//! Requests and results are journaled as WAVE text of the component values:
//! deterministic (unlike protobuf encodings of maps), readable in the oplog
//! API, and decoded on replay with the function's own result type.

use std::sync::Arc;

use reprise_grpc_stub::RpcStatus;
use reprise_grpc_stub::model::{InterfaceModel, MethodModel, ServiceId};
use reprise_grpc_stub::status::Code;
use reprise_oplog::{IdempotencyKey, Payload};
use wasmtime::StoreContextMut;
use wasmtime::component::types::ComponentFunc;
use wasmtime::component::{Type, Val, wasm_wave};

use crate::deps::GrpcDependencyConfig;
use crate::durable::Begun;
use crate::grpc::{GrpcContext, GrpcView};

/// Everything a host function needs to know about the method it implements.
pub struct MethodBinding {
    /// The dependency serving it.
    pub dependency: Arc<GrpcDependencyConfig>,
    /// The interface model built from the dependency's descriptors.
    pub model: Arc<InterfaceModel>,
    /// The service in the model.
    pub service: ServiceId,
    /// The method's position in the service.
    pub method_index: usize,
    /// The name journaled in the oplog: `package.Service/Method`.
    pub journal_name: String,
}

impl MethodBinding {
    /// The method's model.
    pub fn method(&self) -> &MethodModel {
        &self.model.service(self.service).methods[self.method_index]
    }
}

/// A host function failure (it traps the guest) with `message`.
pub(crate) fn host_error(message: String) -> wasmtime::Error {
    wasmtime::Error::msg(message)
}

/// The type of a gRPC host function's one result (`result<_, rpc-status>`),
/// checking there is exactly one result slot.
pub fn single_result(
    binding: &MethodBinding,
    ty: &ComponentFunc,
    results: &[Val],
) -> wasmtime::Result<Type> {
    let name = &binding.journal_name;
    let result_ty = ty
        .results()
        .next()
        .ok_or_else(|| host_error(format!("`{name}` must return a result")))?;
    if results.len() != 1 {
        return Err(host_error(format!(
            "`{name}` must return exactly one value"
        )));
    }
    Ok(result_ty)
}

/// The journaled form of a call's parameters: their WAVE text, joined.
pub fn request_text(params: &[Val]) -> wasmtime::Result<String> {
    Ok(params
        .iter()
        .map(|v| {
            wasm_wave::to_string(v)
                .map_err(|e| host_error(format!("cannot journal the request: {e}")))
        })
        .collect::<wasmtime::Result<Vec<_>>>()?
        .join(", "))
}

/// A recorded result (WAVE text) decoded with the function's result type.
pub fn recorded_result(
    binding: &MethodBinding,
    result_ty: &Type,
    payload: &Payload,
) -> wasmtime::Result<Val> {
    let name = &binding.journal_name;
    let text = std::str::from_utf8(payload.as_bytes()).map_err(|_| {
        host_error(format!(
            "recorded result of `{name}` is not UTF-8 WAVE text"
        ))
    })?;
    wasm_wave::from_str::<Val>(result_ty, text).map_err(|e| {
        host_error(format!(
            "recorded result of `{name}` does not fit the function's result type: {e}"
        ))
    })
}

/// Implements the host function of a unary method.
pub async fn durable_unary<T: GrpcView>(
    mut store: StoreContextMut<'_, T>,
    binding: &MethodBinding,
    ty: ComponentFunc,
    params: &[Val],
    results: &mut [Val],
) -> wasmtime::Result<()> {
    let result_ty = single_result(binding, &ty, results)?;
    let request_text = request_text(params)?;
    let ctx = store.data_mut().grpc();
    let durable = ctx.durable.clone();
    let function = &binding.journal_name;
    let (begin, key) = match durable
        .begin_call(function, request_text.as_bytes())
        .await?
    {
        Begun::Replayed(payload) => {
            results[0] = recorded_result(binding, &result_ty, &payload)?;
            return Ok(());
        }
        Begun::Live { begin, key } => (begin, key),
    };
    let outcome = perform(ctx, binding, params, key).await;
    let value = crate::grpc::convert::outcome_to_val(&binding.model, binding.method(), outcome);
    let response_text = wasm_wave::to_string(&value)
        .map_err(|e| host_error(format!("cannot journal the result: {e}")))?;
    durable
        .end_call(
            function,
            request_text.into_bytes(),
            begin,
            response_text.into_bytes(),
        )
        .await?;
    results[0] = value;
    Ok(())
}

/// Performs the call on the network.
async fn perform(
    ctx: &mut GrpcContext,
    binding: &MethodBinding,
    params: &[Val],
    key: IdempotencyKey,
) -> Result<prost_reflect::DynamicMessage, RpcStatus> {
    let (request, mut options) =
        crate::grpc::convert::request_from_vals(&binding.model, binding.method(), params).map_err(
            |e| {
                RpcStatus::new(
                    Code::InvalidArgument,
                    format!("cannot encode the request: {e}"),
                )
            },
        )?;
    options.idempotency_key = Some(key.to_string());
    let client = ctx.client(&binding.dependency)?;
    client
        .unary(&binding.method().descriptor, request, &options)
        .await
        .map(|response| response.message)
}
