//! How a durable unary gRPC call is written to the oplog: protobuf bytes,
//! not text, so a live call encodes its request once (the bytes journaled
//! are the bytes sent) and keeps the response as it came off the wire, and
//! replay decodes a result straight from protobuf.
//!
//! - Request payload: [`MARK`], the request message's length (`u32`,
//!   little-endian), the message's canonical protobuf bytes (deterministic:
//!   fields by number, map entries by key), then the WAVE text of the call
//!   options when the guest passed some (nothing for `none`). Its SHA-256 is
//!   the entry's `request_hash`.
//! - Result payload: [`MARK`] then the response message's bytes as the
//!   server sent them, when the call answered with a message that fits its
//!   WIT type; otherwise (a status, or a response that did not fit) the WAVE
//!   text of the guest's whole `result` value, errors being rare and
//!   readable that way.
//!
//! Executors before this format journaled both as WAVE text. Text is UTF-8
//! and `0xFF` never occurs in UTF-8, so the first byte tells the forms apart:
//! recorded results of either form are decoded, and a request recorded as
//! text is checked against the text form of the request
//! ([`legacy_request_text`]), so workers recorded by an older executor
//! replay unchanged.

use std::collections::HashMap;
use std::sync::Arc;

use prost_reflect::{MethodDescriptor, ServiceDescriptor};
use reprise_grpc_stub::bridge::{
    bytes_to_val, call_options_from_val, request_val_to_bytes, response_bytes_to_val,
    rpc_status_to_val,
};
use reprise_grpc_stub::client::CallOptions;
use reprise_grpc_stub::model::{InterfaceModel, MethodModel, Param, ServiceId};
use reprise_grpc_stub::status::Code;
use reprise_grpc_stub::{Error as BridgeError, RpcStatus};
use wasmtime::component::{Type, Val, wasm_wave};

use crate::grpc::call::{MethodBinding, host_error};
use crate::grpc::link::ModelledDependency;

/// First byte of a payload in this format (never the first byte of UTF-8 text).
pub const MARK: u8 = 0xFF;

/// Bytes before the request message in a request payload.
const REQUEST_HEADER: usize = 5;

/// A request ready to send and to journal.
#[derive(Debug)]
pub struct EncodedRequest {
    /// The journaled request payload (see the module docs).
    pub payload: Vec<u8>,
    /// The call options the guest passed (defaults when `none`).
    pub options: CallOptions,
}

impl EncodedRequest {
    /// The request message's protobuf bytes, as sent.
    pub fn message(&self) -> &[u8] {
        message_of(&self.payload).unwrap_or_default()
    }
}

/// Encodes the guest's arguments of a unary call: the request message (no
/// `DynamicMessage` in between) and the call options.
#[inline]
pub fn encode_request(
    model: &InterfaceModel,
    method: &MethodModel,
    params: &[Val],
) -> Result<EncodedRequest, reprise_grpc_stub::Error> {
    let shape = method.opener_shape();
    let request = shape.position(Param::Request).and_then(|i| params.get(i));
    let options_val = shape.position(Param::Options).and_then(|i| params.get(i));
    let message = request_val_to_bytes(model, method, request)?;
    let len = u32::try_from(message.len()).map_err(|_| reprise_grpc_stub::Error::InvalidValue {
        path: "request".into(),
        reason: format!(
            "the {} message is {} bytes, over the 4 GiB a journal entry can hold",
            method.descriptor.input().full_name(),
            message.len()
        ),
    })?;
    let mut payload = Vec::with_capacity(REQUEST_HEADER + message.len());
    payload.push(MARK);
    payload.extend_from_slice(&len.to_le_bytes());
    payload.extend_from_slice(&message);
    let options = match options_val {
        Some(value) => {
            if !matches!(value, Val::Option(None)) {
                let text = wasm_wave::to_string(value).map_err(|e| {
                    reprise_grpc_stub::Error::InvalidValue {
                        path: "options".into(),
                        reason: format!("cannot journal the call options: {e}"),
                    }
                })?;
                payload.extend_from_slice(text.as_bytes());
            }
            call_options_from_val(value)?
        }
        None => CallOptions::new(),
    };
    Ok(EncodedRequest { payload, options })
}

/// The request message inside a request payload of this format; `None` for
/// a payload of another form, or one cut short.
pub fn message_of(payload: &[u8]) -> Option<&[u8]> {
    let (&MARK, rest) = payload.split_first()? else {
        return None;
    };
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    rest.get(4..4usize.checked_add(len)?)
}

/// The call options' WAVE text after the message in a request payload
/// (empty when the guest passed `none`).
pub fn options_text_of(payload: &[u8]) -> Option<&[u8]> {
    let message = message_of(payload)?;
    payload.get(REQUEST_HEADER + message.len()..)
}

/// The request as executors before this format journaled it: the WAVE text
/// of every argument, joined with `, `.
pub fn legacy_request_text(params: &[Val]) -> Vec<u8> {
    crate::grpc::call::request_text(params)
        .map(String::into_bytes)
        // A value WAVE cannot write cannot have been journaled as text: an
        // empty text never matches a recorded request.
        .unwrap_or_default()
}

/// A response decoded to the guest's value, with its bytes as received.
#[derive(Debug)]
pub struct Response {
    /// The guest's value (`None` for an empty message).
    pub value: Option<Val>,
    /// The protobuf bytes the server sent.
    pub bytes: Vec<u8>,
}

/// Decodes a response the server sent; bytes that are not a valid message,
/// or do not fit the method's WIT type, are an `internal` status (which a
/// retry policy may retry, like any status).
pub fn decode_response(
    model: &InterfaceModel,
    method: &MethodModel,
    endpoint: &str,
    bytes: Vec<u8>,
) -> Result<Response, RpcStatus> {
    match response_bytes_to_val(model, method, &bytes) {
        Ok(value) => Ok(Response { value, bytes }),
        Err(e) => Err(undecodable(method, endpoint, &e)),
    }
}

/// The `internal` status of a response (unary or streamed) that is not a
/// valid message of the method's output type or does not fit its WIT type,
/// naming the method and the endpoint that sent it.
pub fn undecodable(method: &MethodModel, endpoint: &str, error: &BridgeError) -> RpcStatus {
    RpcStatus::new(
        Code::Internal,
        format!(
            "calling {} at {endpoint}: a response does not decode: {error}",
            method.descriptor.full_name()
        ),
    )
}

/// The guest's `result<response, rpc-status>` for a call's outcome and its
/// journaled payload.
pub fn outcome(outcome: Result<Response, RpcStatus>) -> wasmtime::Result<(Val, Vec<u8>)> {
    let status = match outcome {
        Ok(Response { value, bytes }) => {
            let mut payload = Vec::with_capacity(1 + bytes.len());
            payload.push(MARK);
            payload.extend_from_slice(&bytes);
            return Ok((Val::Result(Ok(value.map(Box::new))), payload));
        }
        Err(status) => status,
    };
    let value = Val::Result(Err(Some(Box::new(rpc_status_to_val(&status)))));
    let text = wasm_wave::to_string(&value)
        .map_err(|e| host_error(format!("cannot journal the result: {e}")))?;
    Ok((value, text.into_bytes()))
}

/// A recorded result, in either form, as the guest's value.
pub fn recorded_result(
    binding: &MethodBinding,
    result_ty: &Type,
    payload: &[u8],
) -> wasmtime::Result<Val> {
    let Some((&MARK, bytes)) = payload.split_first() else {
        return crate::grpc::call::recorded_result(binding, result_ty, payload);
    };
    let value = response_bytes_to_val(&binding.model, binding.method(), bytes).map_err(|e| {
        crate::Error::UnreadableRecord {
            function: binding.journal_name.clone(),
            message: format!(
                "the response does not decode as {}: {e}",
                binding.method().descriptor.output().full_name()
            ),
        }
    })?;
    Ok(Val::Result(Ok(value.map(Box::new))))
}

/// Reads the unary calls of one component's gRPC dependencies back from the
/// oplog as WAVE text (what the oplog API shows), in either form.
pub struct CallDecoder {
    /// Journal name (`package.Service/Method`) -> the model and method.
    methods: HashMap<String, (Arc<InterfaceModel>, ServiceId, usize)>,
}

impl CallDecoder {
    /// A decoder for the methods of `dependencies`.
    pub fn new(dependencies: &[ModelledDependency]) -> Self {
        let mut methods = HashMap::new();
        for dep in dependencies {
            for id in dep.model.service_ids() {
                let service = dep.model.service(id);
                for (i, method) in service.methods.iter().enumerate() {
                    methods.insert(
                        journal_name(&service.descriptor, &method.descriptor),
                        (dep.model.clone(), id, i),
                    );
                }
            }
        }
        CallDecoder { methods }
    }

    fn method(&self, function: &str) -> Option<(&InterfaceModel, &MethodModel)> {
        let (model, service, index) = self.methods.get(function)?;
        Some((model, model.service(*service).methods.get(*index)?))
    }

    /// A journaled request of `function` as the WAVE text of the guest's
    /// arguments, joined with `, ` (the form older executors journaled);
    /// `None` when it is not a protobuf request of a known method, or does
    /// not decode.
    pub fn request_text(&self, function: &str, payload: &[u8]) -> Option<String> {
        let (model, method) = self.method(function)?;
        let message = message_of(payload)?;
        let options = std::str::from_utf8(options_text_of(payload)?).ok()?;
        let mut parts = Vec::with_capacity(2);
        if method.opener_shape().position(Param::Request).is_some() {
            let value = bytes_to_val(model, &method.descriptor.input(), message).ok()??;
            parts.push(wasm_wave::to_string(&value).ok()?);
        }
        parts.push(if options.is_empty() {
            "none".to_owned()
        } else {
            options.to_owned()
        });
        Some(parts.join(", "))
    }

    /// A journaled result of `function` as the WAVE text of the guest's
    /// `result` value; `None` when it is not a protobuf result of a known
    /// method, or does not decode.
    pub fn result_text(&self, function: &str, payload: &[u8]) -> Option<String> {
        let (model, method) = self.method(function)?;
        let (&MARK, bytes) = payload.split_first()? else {
            return None;
        };
        let value = response_bytes_to_val(model, method, bytes).ok()?;
        wasm_wave::to_string(&Val::Result(Ok(value.map(Box::new)))).ok()
    }
}

/// The name a method's calls are journaled under: `package.Service/Method`.
pub fn journal_name(service: &ServiceDescriptor, method: &MethodDescriptor) -> String {
    format!("{}/{}", service.full_name(), method.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_of_reads_the_framed_message_and_refuses_other_forms() {
        let mut payload = vec![MARK, 3, 0, 0, 0, 8, 1, 2];
        assert_eq!(message_of(&payload), Some(&[8u8, 1, 2][..]));
        assert_eq!(options_text_of(&payload), Some(&[][..]));
        payload.extend_from_slice(b"some({})");
        assert_eq!(message_of(&payload), Some(&[8u8, 1, 2][..]));
        assert_eq!(options_text_of(&payload), Some(&b"some({})"[..]));
        // Cut short, text, empty.
        assert_eq!(message_of(&[MARK, 9, 0, 0, 0, 1]), None);
        assert_eq!(message_of(b"{id: 1}"), None);
        assert_eq!(message_of(&[]), None);
    }
}
