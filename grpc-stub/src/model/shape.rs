//! The call shape of every method, decided once here: which parameters a
//! function takes and in which order, what it returns, which methods a
//! stream resource has, and what `next` returns for an empty response
//! message. The WIT renderer prints these shapes; the executor's import
//! type check, its linker and its host functions read them. Nothing else
//! decides them again, so the WIT a guest imports and the functions the
//! executor serves cannot drift apart.

use super::types::{CallKind, MethodModel};

/// One parameter of a call function, after the stream handle of a
/// resource method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// The request message (`request: <request type>`).
    Request,
    /// `options: option<call-options>`.
    Options,
}

/// What the `ok` side of a `result<_, rpc-status>` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OkValue {
    /// Nothing (`result<_, rpc-status>`).
    Nothing,
    /// The response message; nothing for an empty response message.
    Response,
    /// The stream resource, owned.
    Resource,
    /// The next response: `option<response>`, or `bool` (whether another
    /// empty response arrived) for an empty response message.
    NextItem,
}

/// What a function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returns {
    /// `result<ok, rpc-status>`.
    Status(OkValue),
    /// No result at all (`cancel`).
    Nothing,
}

/// The shape of one function: a method's opener (or unary function), or a
/// method of its stream resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionShape {
    /// Its parameters, in order (after the handle of a resource method).
    pub params: Vec<Param>,
    /// What it returns.
    pub returns: Returns,
}

impl FunctionShape {
    /// The position of `param` among the parameters, if the function takes it.
    pub fn position(&self, param: Param) -> Option<usize> {
        self.params.iter().position(|p| *p == param)
    }
}

/// A method of a stream resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamOp {
    /// `next`: the next response.
    Next,
    /// `send(request)`.
    Send,
    /// `finish`: close the requests, wait for the response.
    Finish,
    /// `close-send`: half-close.
    CloseSend,
    /// `cancel`.
    Cancel,
}

impl StreamOp {
    /// The WIT name of the method.
    pub fn wit_name(self) -> &'static str {
        match self {
            StreamOp::Next => "next",
            StreamOp::Send => "send",
            StreamOp::Finish => "finish",
            StreamOp::CloseSend => "close-send",
            StreamOp::Cancel => "cancel",
        }
    }
}

/// What `next` returns for a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextItem {
    /// `option<response>`: `none` once the server has finished.
    Response,
    /// `bool`: whether another (empty) response arrived.
    Flag,
}

impl MethodModel {
    /// The shape of the method's function: the unary call, or the opener of
    /// a streaming call. Only unary and server-streaming calls take the
    /// request up front (when it is not empty); every opener takes options.
    pub fn opener_shape(&self) -> FunctionShape {
        let with_request = matches!(self.kind, CallKind::Unary | CallKind::ServerStreaming)
            && self.request.is_some();
        let mut params = Vec::with_capacity(2);
        if with_request {
            params.push(Param::Request);
        }
        params.push(Param::Options);
        let ok = match self.kind {
            CallKind::Unary => OkValue::Response,
            _ => OkValue::Resource,
        };
        FunctionShape {
            params,
            returns: Returns::Status(ok),
        }
    }

    /// The methods of the stream resource, in the order the WIT declares
    /// them (none for a unary call).
    pub fn stream_ops(&self) -> &'static [StreamOp] {
        match self.kind {
            CallKind::Unary => &[],
            CallKind::ServerStreaming => &[StreamOp::Next],
            CallKind::ClientStreaming => &[StreamOp::Send, StreamOp::Finish],
            CallKind::Bidi => &[
                StreamOp::Send,
                StreamOp::CloseSend,
                StreamOp::Next,
                StreamOp::Cancel,
            ],
        }
    }

    /// The shape of resource method `op` (after its stream handle).
    pub fn stream_op_shape(&self, op: StreamOp) -> FunctionShape {
        let (params, returns) = match op {
            StreamOp::Next => (vec![], Returns::Status(OkValue::NextItem)),
            StreamOp::Send if self.request.is_some() => {
                (vec![Param::Request], Returns::Status(OkValue::Nothing))
            }
            StreamOp::Send | StreamOp::CloseSend => (vec![], Returns::Status(OkValue::Nothing)),
            StreamOp::Finish => (vec![], Returns::Status(OkValue::Response)),
            StreamOp::Cancel => (vec![], Returns::Nothing),
        };
        FunctionShape { params, returns }
    }

    /// What `next` returns.
    pub fn next_item(&self) -> NextItem {
        match self.response {
            Some(_) => NextItem::Response,
            None => NextItem::Flag,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wit_names_are_distinct() {
        let all = [
            StreamOp::Next,
            StreamOp::Send,
            StreamOp::Finish,
            StreamOp::CloseSend,
            StreamOp::Cancel,
        ];
        let mut names: Vec<_> = all.iter().map(|op| op.wit_name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }

    #[test]
    fn positions_follow_the_parameter_order() {
        let shape = FunctionShape {
            params: vec![Param::Request, Param::Options],
            returns: Returns::Status(OkValue::Response),
        };
        assert_eq!(shape.position(Param::Request), Some(0));
        assert_eq!(shape.position(Param::Options), Some(1));
        let opener = FunctionShape {
            params: vec![Param::Options],
            returns: Returns::Status(OkValue::Resource),
        };
        assert_eq!(opener.position(Param::Request), None);
        assert_eq!(opener.position(Param::Options), Some(0));
    }
}
