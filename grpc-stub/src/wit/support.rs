//! The fixed support package `reprise:grpc@0.1.0` (interface `types`).
//!
//! Every generated package uses it for call options, the error type
//! `rpc-status` and the well-known types timestamp, duration and any. The
//! value bridge builds and reads values of these types by the names below,
//! so the WIT text and those names live side by side here.

/// The support package name.
pub const SUPPORT_PACKAGE: &str = "reprise:grpc@0.1.0";

/// The support interface, as `use` statements spell it.
pub const SUPPORT_INTERFACE: &str = "reprise:grpc/types@0.1.0";

/// The directory of the support package in a `wit/deps` layout.
pub const SUPPORT_DIR: &str = "reprise-grpc";

/// The file name of the support package inside [`SUPPORT_DIR`].
pub const SUPPORT_FILE: &str = "grpc.wit";

/// The gRPC status codes in number order (0..=16), as WIT `status-code` cases.
pub const STATUS_CODES: [&str; 17] = [
    "ok",
    "cancelled",
    "unknown",
    "invalid-argument",
    "deadline-exceeded",
    "not-found",
    "already-exists",
    "permission-denied",
    "resource-exhausted",
    "failed-precondition",
    "aborted",
    "out-of-range",
    "unimplemented",
    "internal",
    "unavailable",
    "data-loss",
    "unauthenticated",
];

/// The WIT text of the support package.
pub const SUPPORT_WIT: &str = r#"// The Reprise gRPC support package: shared by every interface reprise-wit
// generates from .proto files. Do not edit.
package reprise:grpc@0.1.0;

/// Types shared by all generated gRPC interfaces.
interface types {
    /// `google.protobuf.Timestamp`: a point in time, seconds and nanoseconds
    /// since the Unix epoch (UTC).
    record timestamp {
        seconds: s64,
        nanos: s32,
    }

    /// `google.protobuf.Duration`: a signed span of time.
    record duration {
        seconds: s64,
        nanos: s32,
    }

    /// `google.protobuf.Any`: an encoded message and the URL naming its type.
    record any {
        type-url: string,
        value: list<u8>,
    }

    /// The gRPC status codes (numbers 0 to 16, in order).
    enum status-code {
        ok,
        cancelled,
        unknown,
        invalid-argument,
        deadline-exceeded,
        not-found,
        already-exists,
        permission-denied,
        resource-exhausted,
        failed-precondition,
        aborted,
        out-of-range,
        unimplemented,
        internal,
        unavailable,
        data-loss,
        unauthenticated,
    }

    /// A gRPC metadata value: text for ordinary keys, bytes for keys ending in `-bin`.
    variant metadata-value {
        text(string),
        binary(list<u8>),
    }

    /// One gRPC metadata (header or trailer) entry. Keys are lower-case.
    record metadata-entry {
        key: string,
        value: metadata-value,
    }

    /// `google.rpc.ErrorInfo`: the reason for an error, in a machine-readable form.
    record error-info {
        reason: string,
        domain: string,
        metadata: list<tuple<string, string>>,
    }

    /// `google.rpc.RetryInfo`: when the client may retry (e.g. rate limiting).
    record retry-info {
        retry-delay: option<duration>,
    }

    /// `google.rpc.QuotaFailure.Violation`.
    record quota-violation {
        subject: string,
        description: string,
        api-service: string,
        quota-metric: string,
        quota-id: string,
        quota-dimensions: list<tuple<string, string>>,
        quota-value: s64,
        future-quota-value: option<s64>,
    }

    /// `google.rpc.QuotaFailure`: which quota checks failed.
    record quota-failure {
        violations: list<quota-violation>,
    }

    /// `google.rpc.PreconditionFailure.Violation`.
    record precondition-violation {
        %type: string,
        subject: string,
        description: string,
    }

    /// `google.rpc.PreconditionFailure`: which preconditions failed.
    record precondition-failure {
        violations: list<precondition-violation>,
    }

    /// `google.rpc.LocalizedMessage`: an error message for end users.
    record localized-message {
        locale: string,
        message: string,
    }

    /// `google.rpc.BadRequest.FieldViolation`: one invalid request field.
    record field-violation {
        field: string,
        description: string,
        reason: string,
        localized-message: option<localized-message>,
    }

    /// `google.rpc.BadRequest`: validation errors in the request.
    record bad-request {
        field-violations: list<field-violation>,
    }

    /// `google.rpc.ResourceInfo`: the resource an error is about (e.g. the
    /// `resource-type` and `resource-name` of something not found).
    record resource-info {
        resource-type: string,
        resource-name: string,
        owner: string,
        description: string,
    }

    /// One typed error detail of a status (from `grpc-status-details-bin`).
    variant error-detail {
        bad-request(bad-request),
        retry-info(retry-info),
        error-info(error-info),
        resource-info(resource-info),
        quota-failure(quota-failure),
        precondition-failure(precondition-failure),
        /// Any other detail message, still encoded (also a detail whose bytes
        /// did not decode).
        other(any),
    }

    /// A failed call: the gRPC status code, its message, typed error details
    /// and the trailers the server sent.
    record rpc-status {
        code: status-code,
        message: string,
        details: list<error-detail>,
        trailers: list<metadata-entry>,
    }

    /// Per-call options.
    record call-options {
        /// How long the call may take, from when it starts; none = no deadline.
        deadline: option<duration>,
        /// Request metadata. Keys ending in `-bin` take `binary` values.
        metadata: list<metadata-entry>,
    }
}
"#;
