//! A tonic codec over prost-reflect `DynamicMessage`s: requests are encoded
//! as they are, responses are decoded against the method's output message
//! descriptor. No generated code is involved.
//!
//! The request side also carries [`Outgoing::Abort`]: encoding it fails the
//! request body, which makes the transport reset the HTTP/2 stream with
//! `CANCEL` — a cancelled call must never look to the server like a request
//! stream that ended normally.

use prost_reflect::{DynamicMessage, MessageDescriptor};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Encodes `DynamicMessage` requests and decodes responses of one type.
#[derive(Debug, Clone)]
pub struct DynamicCodec {
    output: MessageDescriptor,
}

impl DynamicCodec {
    /// A codec whose decoder produces messages of type `output`.
    pub fn new(output: MessageDescriptor) -> Self {
        Self { output }
    }
}

/// One item of a call's request stream.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A request message.
    Request(DynamicMessage),
    /// A request message already encoded as protobuf bytes (of the method's
    /// input type; the caller vouches for that), written as they are.
    Encoded(prost::bytes::Bytes),
    /// Abort the call: reset the stream instead of ending it.
    Abort,
}

impl Codec for DynamicCodec {
    type Encode = Outgoing;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        DynamicDecoder {
            output: self.output.clone(),
        }
    }
}

/// Encodes `DynamicMessage` requests and hands responses over as their raw
/// protobuf bytes, undecoded: for callers that decode (or store) the bytes
/// themselves and should not pay for a `DynamicMessage` in between.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Outgoing;
    type Decode = Vec<u8>;
    type Encoder = DynamicEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

/// Copies a response's protobuf bytes out, undecoded.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        use prost::bytes::Buf as _;
        let mut bytes = vec![0; src.remaining()];
        src.copy_to_slice(&mut bytes);
        Ok(Some(bytes))
    }
}

/// Writes a `DynamicMessage` in protobuf binary form (or already encoded
/// bytes as they are).
#[derive(Debug, Clone, Copy, Default)]
pub struct DynamicEncoder;

impl Encoder for DynamicEncoder {
    type Item = Outgoing;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        let item = match item {
            Outgoing::Request(message) => message,
            Outgoing::Encoded(bytes) => {
                use prost::bytes::BufMut as _;
                dst.put_slice(&bytes);
                return Ok(());
            }
            Outgoing::Abort => {
                let mut status = Status::cancelled("the client cancelled the call");
                // The transport resets the stream with the h2 reason it finds
                // in the body error's sources.
                status.set_source(std::sync::Arc::new(h2::Error::from(h2::Reason::CANCEL)));
                return Err(status);
            }
        };
        // Not `DynamicMessage::encode`: it leaves out a float of -0.0.
        use prost::bytes::BufMut as _;
        dst.put_slice(&crate::bridge::canonical_encode(&item));
        Ok(())
    }
}

/// Reads protobuf binary into a `DynamicMessage` of a fixed type.
#[derive(Debug, Clone)]
pub struct DynamicDecoder {
    output: MessageDescriptor,
}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        DynamicMessage::decode(self.output.clone(), src)
            .map(Some)
            .map_err(|e| {
                Status::internal(format!(
                    "response is not a valid {} message: {e}",
                    self.output.full_name()
                ))
            })
    }
}
