//! Test guest: the official gRPC interop test cases for streaming
//! (server/client streaming, ping-pong, empty stream, cancel after first
//! response), run against `grpc.testing.TestService` through the WIT Reprise
//! generates from `grpc/testing/test.proto`, plus a few streaming probes
//! (`count-stream`, `hold-stream`, `drop-stream`) that tests and benches use to
//! observe flow control, parking and cancellation.

wit_bindgen::generate!({ world: "interop-client", path: "wit", generate_all });

use grpc::testing::test_service::{self, StreamingOutputCallStream};
use grpc::testing::types::{
    Payload, PayloadType, ResponseParameters, SimpleRequest, StreamingInputCallRequest,
    StreamingOutputCallRequest, StreamingOutputCallResponse,
};
use reprise::grpc::types::{RpcStatus, StatusCode};

/// Response payload sizes of the server-streaming and ping-pong cases.
const RESPONSE_SIZES: [i32; 4] = [31415, 9, 2653, 58979];

/// Request payload sizes of the client-streaming and ping-pong cases.
const REQUEST_SIZES: [usize; 4] = [27182, 8, 1828, 45904];

/// The sum of [`REQUEST_SIZES`], which the server must report back.
const AGGREGATED_SIZE: i32 = 74922;

/// The error string for a failed RPC: `"<Code:?>: <message>"`.
fn describe(status: RpcStatus) -> String {
    format!("{:?}: {}", status.code, status.message)
}

/// A payload of `size` zero bytes, as the interop cases send.
fn zeros(size: usize) -> Payload {
    Payload {
        type_: PayloadType::Compressable,
        body: vec![0; size],
    }
}

/// Parameters asking for one response of `size` payload bytes.
fn response_of(size: i32) -> ResponseParameters {
    ResponseParameters {
        size,
        interval_us: 0,
        compressed: None,
        fill_peer_socket_address: None,
    }
}

/// A `StreamingOutputCallRequest` asking for one response per entry of `sizes`,
/// carrying `payload` if given.
fn output_request(sizes: &[i32], payload: Option<Payload>) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_type: PayloadType::Compressable,
        response_parameters: sizes.iter().copied().map(response_of).collect(),
        payload,
        response_status: None,
        orca_oob_report: None,
    }
}

/// `size` as the proto's `int32`.
fn to_size(size: u32) -> Result<i32, String> {
    i32::try_from(size).map_err(|_| format!("size {size} does not fit a proto int32"))
}

/// Checks that response number `index` carries exactly `expected` zero bytes.
fn check_payload(
    index: usize,
    response: &StreamingOutputCallResponse,
    expected: i32,
) -> Result<(), String> {
    let body = match &response.payload {
        Some(payload) => payload.body.as_slice(),
        None => &[],
    };
    if usize::try_from(expected).ok() != Some(body.len()) {
        return Err(format!(
            "response {index}: payload of {} bytes, expected {expected}",
            body.len()
        ));
    }
    if body.iter().any(|&byte| byte != 0) {
        return Err(format!("response {index}: payload is not all zero bytes"));
    }
    Ok(())
}

/// Payload bytes of one response (0 without a payload).
fn payload_len(response: &StreamingOutputCallResponse) -> usize {
    response
        .payload
        .as_ref()
        .map_or(0, |payload| payload.body.len())
}

/// Opens `StreamingOutputCall` for `frames` responses of `size` bytes each.
fn open_frames(frames: u32, size: u32) -> Result<StreamingOutputCallStream, String> {
    let size = to_size(size)?;
    let sizes: Vec<i32> = (0..frames).map(|_| size).collect();
    test_service::streaming_output_call(&output_request(&sizes, None), None).map_err(describe)
}

/// The next response of `stream`, which must exist (`what` names it in errors).
fn expect_response(
    stream: &StreamingOutputCallStream,
    what: &str,
) -> Result<StreamingOutputCallResponse, String> {
    stream
        .next()
        .map_err(describe)?
        .ok_or_else(|| format!("the stream ended before {what}"))
}

/// Reads `stream` to its end, expecting at most `limit` more responses;
/// returns (responses, payload bytes).
fn drain(stream: &StreamingOutputCallStream, limit: u32) -> Result<(u32, u64), String> {
    let mut count = 0;
    let mut bytes = 0;
    // One round more than `limit`, to see the end of the stream.
    for _ in 0..=limit {
        match stream.next().map_err(describe)? {
            Some(response) => {
                if count == limit {
                    return Err(format!(
                        "the server sent more than the {limit} responses asked for"
                    ));
                }
                count += 1;
                bytes += payload_len(&response) as u64;
            }
            None => return Ok((count, bytes)),
        }
    }
    Err(format!("the stream did not end after {limit} responses"))
}

struct InteropClient;

impl Guest for InteropClient {
    fn server_streaming() -> Result<(), String> {
        let stream =
            test_service::streaming_output_call(&output_request(&RESPONSE_SIZES, None), None)
                .map_err(describe)?;
        for (index, &size) in RESPONSE_SIZES.iter().enumerate() {
            let response = expect_response(&stream, &format!("response {index}"))?;
            check_payload(index, &response, size)?;
        }
        match stream.next().map_err(describe)? {
            None => Ok(()),
            Some(_) => Err(format!("more than {} responses", RESPONSE_SIZES.len())),
        }
    }

    fn client_streaming() -> Result<(), String> {
        let call = test_service::streaming_input_call(None).map_err(describe)?;
        for size in REQUEST_SIZES {
            let request = StreamingInputCallRequest {
                payload: Some(zeros(size)),
                expect_compressed: None,
            };
            call.send(&request).map_err(describe)?;
        }
        let response = call.finish().map_err(describe)?;
        if response.aggregated_payload_size == AGGREGATED_SIZE {
            Ok(())
        } else {
            Err(format!(
                "aggregated payload size {}, expected {AGGREGATED_SIZE}",
                response.aggregated_payload_size
            ))
        }
    }

    fn ping_pong() -> Result<(), String> {
        let call = test_service::full_duplex_call(None).map_err(describe)?;
        for (index, (&response_size, &request_size)) in
            RESPONSE_SIZES.iter().zip(REQUEST_SIZES.iter()).enumerate()
        {
            call.send(&output_request(&[response_size], Some(zeros(request_size))))
                .map_err(describe)?;
            let response = call
                .next()
                .map_err(describe)?
                .ok_or_else(|| format!("the stream ended before response {index}"))?;
            check_payload(index, &response, response_size)?;
        }
        call.close_send().map_err(describe)?;
        match call.next().map_err(describe)? {
            None => Ok(()),
            Some(_) => {
                Err("a response after close-send, expected the end of the stream".to_owned())
            }
        }
    }

    fn empty_stream() -> Result<(), String> {
        let call = test_service::full_duplex_call(None).map_err(describe)?;
        call.close_send().map_err(describe)?;
        match call.next().map_err(describe)? {
            None => Ok(()),
            Some(_) => Err("a response on an empty stream".to_owned()),
        }
    }

    fn cancel_after_first_response() -> Result<(), String> {
        let call = test_service::full_duplex_call(None).map_err(describe)?;
        call.send(&output_request(
            &RESPONSE_SIZES[..1],
            Some(zeros(REQUEST_SIZES[0])),
        ))
        .map_err(describe)?;
        let response = call
            .next()
            .map_err(describe)?
            .ok_or_else(|| "the stream ended before the first response".to_owned())?;
        check_payload(0, &response, RESPONSE_SIZES[0])?;
        call.cancel();
        match call.next() {
            Err(status) if status.code == StatusCode::Cancelled => Ok(()),
            Err(status) => Err(format!(
                "after cancel: {}, expected Cancelled",
                describe(status)
            )),
            Ok(Some(_)) => Err("after cancel: a response, expected Cancelled".to_owned()),
            Ok(None) => Err("after cancel: the end of the stream, expected Cancelled".to_owned()),
        }
    }

    fn count_stream(frames: u32, size: u32) -> Result<u64, String> {
        let stream = open_frames(frames, size)?;
        let (_, bytes) = drain(&stream, frames)?;
        Ok(bytes)
    }

    fn hold_stream(frames: u32, size: u32) -> Result<u32, String> {
        let stream = open_frames(frames, size)?;
        expect_response(&stream, "the first response")?;
        let request = SimpleRequest {
            response_type: PayloadType::Compressable,
            response_size: 1,
            payload: None,
            fill_username: false,
            fill_oauth_scope: false,
            response_compressed: None,
            response_status: None,
            expect_compressed: None,
            fill_server_id: false,
            fill_grpclb_route_type: false,
            orca_per_query_report: None,
        };
        test_service::unary_call(&request, None).map_err(describe)?;
        let (rest, _) = drain(&stream, frames.saturating_sub(1))?;
        Ok(rest + 1)
    }

    fn drop_stream(frames: u32, size: u32) -> Result<u32, String> {
        let stream = open_frames(frames, size)?;
        expect_response(&stream, "the first response")?;
        // Dropping the resource while the server still sends cancels the call.
        drop(stream);
        Ok(1)
    }
}

export!(InteropClient);
