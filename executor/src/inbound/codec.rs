//! The server-side codec of served exports: requests decoded into
//! `DynamicMessage`s of the rpc's input type, responses encoded as they are.

use prost_reflect::{DynamicMessage, MessageDescriptor};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Decodes requests of one type, encodes any `DynamicMessage`.
#[derive(Debug, Clone)]
pub(crate) struct ServerCodec {
    input: MessageDescriptor,
}

impl ServerCodec {
    /// A codec whose requests are `input` messages.
    pub(crate) fn new(input: MessageDescriptor) -> Self {
        ServerCodec { input }
    }
}

impl Codec for ServerCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = ResponseEncoder;
    type Decoder = RequestDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ResponseEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder {
            input: self.input.clone(),
        }
    }
}

/// Writes a response in protobuf binary form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResponseEncoder;

impl Encoder for ResponseEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        // Not `DynamicMessage::encode`: it leaves out a float of -0.0.
        use prost::bytes::BufMut as _;
        dst.put_slice(&reprise_grpc_stub::bridge::canonical_encode(&item));
        Ok(())
    }
}

/// Reads a request of the rpc's input type.
#[derive(Debug, Clone)]
pub(crate) struct RequestDecoder {
    input: MessageDescriptor,
}

impl Decoder for RequestDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        DynamicMessage::decode(self.input.clone(), src)
            .map(Some)
            .map_err(|e| {
                Status::invalid_argument(format!(
                    "the request is not a valid {} message: {e}",
                    self.input.full_name()
                ))
            })
    }
}
