//! What a server or its connection did to a call, read off the HTTP/2
//! errors under tonic's status: a stream the server reset (with its reason
//! code mapped as gRPC's HTTP/2 transport spec maps it), a server going away
//! (`GOAWAY`), or a connection that closed before the call was sent.
//!
//! Some of these prove that the server never processed the call: a
//! `REFUSED_STREAM` reset, a `GOAWAY` whose last stream is below the call's
//! (h2 fails exactly those streams with the server's `GOAWAY`), and a
//! request hyper never handed to the connection. Such a call can be sent
//! again without any risk of doing its work twice, whatever the method
//! does; the unary call does so at once, a bounded number of times
//! ([`TRANSPARENT_RETRIES`]), as gRPC clients' "transparent retries" do.

use h2::Reason;

use crate::status::Code;

/// How many times a unary call that the server provably did not process is
/// sent again (within its deadline) before its failure is the answer.
pub const TRANSPARENT_RETRIES: u32 = 2;

/// A fault the server or the connection caused, in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    /// The gRPC code it stands for.
    pub(crate) code: Code,
    /// What happened, without the call or the endpoint.
    pub(crate) what: String,
    /// True when the server cannot have processed the call.
    pub(crate) unprocessed: bool,
}

/// The fault behind `error` (a tonic status's source chain), if it is one
/// the server or the connection caused: `None` for everything else (local
/// protocol errors, I/O errors, TLS), which keeps its existing wording.
pub(crate) fn classify(error: &(dyn std::error::Error + 'static)) -> Option<Fault> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(hyper) = e.downcast_ref::<hyper::Error>()
            && hyper.is_canceled()
        {
            // hyper cancels a request still queued for a connection that
            // closed: it never reached the wire.
            return Some(Fault {
                code: Code::Unavailable,
                what: "the connection closed before the call was sent".into(),
                unprocessed: true,
            });
        }
        if let Some(h2) = e.downcast_ref::<h2::Error>()
            && h2.is_remote()
            && let Some(reason) = h2.reason()
        {
            if h2.is_go_away() {
                return Some(Fault {
                    code: Code::Unavailable,
                    what: format!(
                        "the server is going away (GOAWAY {}) and did not take the call",
                        reason_name(reason)
                    ),
                    unprocessed: true,
                });
            }
            if h2.is_reset() {
                return Some(reset(reason));
            }
        }
        next = e.source();
    }
    None
}

/// A stream the server reset with `reason`, mapped as gRPC's HTTP/2
/// transport spec maps reset codes.
fn reset(reason: Reason) -> Fault {
    let name = reason_name(reason);
    let (code, what, unprocessed) = match reason {
        Reason::REFUSED_STREAM => (
            Code::Unavailable,
            format!("the server refused the call before processing it ({name})"),
            true,
        ),
        Reason::CANCEL => (
            Code::Cancelled,
            format!("the server cancelled the call ({name})"),
            false,
        ),
        Reason::ENHANCE_YOUR_CALM => (
            Code::ResourceExhausted,
            format!("the server asked its clients to slow down ({name})"),
            false,
        ),
        Reason::INADEQUATE_SECURITY => (
            Code::PermissionDenied,
            format!("the server finds the connection's security inadequate ({name})"),
            false,
        ),
        _ => (
            Code::Internal,
            format!("the server reset the call's stream ({name})"),
            false,
        ),
    };
    Fault {
        code,
        what,
        unprocessed,
    }
}

/// An HTTP/2 error code's name as RFC 9113 writes it (`REFUSED_STREAM`), or
/// its number when it has none.
fn reason_name(reason: Reason) -> String {
    let name = match reason {
        Reason::NO_ERROR => "NO_ERROR",
        Reason::PROTOCOL_ERROR => "PROTOCOL_ERROR",
        Reason::INTERNAL_ERROR => "INTERNAL_ERROR",
        Reason::FLOW_CONTROL_ERROR => "FLOW_CONTROL_ERROR",
        Reason::SETTINGS_TIMEOUT => "SETTINGS_TIMEOUT",
        Reason::STREAM_CLOSED => "STREAM_CLOSED",
        Reason::FRAME_SIZE_ERROR => "FRAME_SIZE_ERROR",
        Reason::REFUSED_STREAM => "REFUSED_STREAM",
        Reason::CANCEL => "CANCEL",
        Reason::COMPRESSION_ERROR => "COMPRESSION_ERROR",
        Reason::CONNECT_ERROR => "CONNECT_ERROR",
        Reason::ENHANCE_YOUR_CALM => "ENHANCE_YOUR_CALM",
        Reason::INADEQUATE_SECURITY => "INADEQUATE_SECURITY",
        Reason::HTTP_1_1_REQUIRED => "HTTP_1_1_REQUIRED",
        other => return format!("HTTP/2 error code {}", u32::from(other)),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_codes_map_as_grpc_says() {
        let code = |r| reset(r).code;
        assert_eq!(code(Reason::REFUSED_STREAM), Code::Unavailable);
        assert_eq!(code(Reason::CANCEL), Code::Cancelled);
        assert_eq!(code(Reason::ENHANCE_YOUR_CALM), Code::ResourceExhausted);
        assert_eq!(code(Reason::INADEQUATE_SECURITY), Code::PermissionDenied);
        assert_eq!(code(Reason::INTERNAL_ERROR), Code::Internal);
        assert_eq!(code(Reason::PROTOCOL_ERROR), Code::Internal);
        assert!(reset(Reason::REFUSED_STREAM).unprocessed);
        assert!(!reset(Reason::INTERNAL_ERROR).unprocessed);
        assert_eq!(reason_name(Reason::from(0x99)), "HTTP/2 error code 153");
    }

    #[test]
    fn local_protocol_errors_are_not_the_servers_faults() {
        // h2's own verdict on what the peer sent is not a reset by the peer.
        let local = h2::Error::from(Reason::PROTOCOL_ERROR);
        assert_eq!(classify(&local), None);
    }
}
