//! The crate's single error type.

use std::fmt;

use crate::model::source::ProtoDiagnostic;

/// Everything that can go wrong in the mapping, the value bridge or the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- interface model and WIT (model/, wit/) ---
    /// A proto construct that has no WIT mapping.
    #[error("cannot map `{item}` to WIT: {reason}")]
    Unmappable {
        /// The proto element (full name).
        item: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// An option value is unusable.
    #[error("invalid {option}: {reason}")]
    InvalidOption {
        /// Which option.
        option: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Something named in the input does not exist.
    #[error("{kind} `{name}` not found")]
    NotFound {
        /// What kind of thing (file, service, message...).
        kind: &'static str,
        /// The name looked up.
        name: String,
    },
    /// Proto packages that would become mutually dependent WIT packages.
    #[error(
        "proto packages reference each other in a cycle ({cycle}); WIT packages cannot depend \
         on each other cyclically: move the shared messages into one package"
    )]
    PackageCycle {
        /// The cycle, `a -> b -> a`.
        cycle: String,
    },
    /// `.proto` compilation failed: one diagnostic per problem, each
    /// `file:line:col: ...` where known, one per line.
    #[error("{}", DiagnosticLines(diagnostics))]
    ProtoCompile {
        /// The problems found.
        diagnostics: Vec<ProtoDiagnostic>,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    // --- served exports (export/) ---
    /// A component's exports cannot be described as gRPC services.
    #[error("cannot serve the component's exports: {reason}")]
    Exports {
        /// What went wrong.
        reason: String,
    },
    // --- value bridge (bridge/) ---
    /// A component value does not have the shape the mapping expects.
    #[error("at `{path}`: expected {expected}, found {found}")]
    ValueMismatch {
        /// Where, as WIT names (`todo-add-request.todo.user-id`, `todos[2]`).
        path: String,
        /// The expected WIT (or protobuf) type.
        expected: String,
        /// What was there instead.
        found: String,
    },
    /// A protobuf enum number the WIT enum has no case for.
    #[error(
        "at `{path}`: enum `{enum_name}` has no value numbered {number} \
         (the peer may use a newer version of the .proto)"
    )]
    UnknownEnumNumber {
        /// Where.
        path: String,
        /// The proto enum's full name.
        enum_name: String,
        /// The number received.
        number: i32,
    },
    /// A WIT enum case name the enum does not have.
    #[error("at `{path}`: enum `{enum_name}` has no case `{case}`")]
    UnknownEnumCase {
        /// Where.
        path: String,
        /// The proto enum's full name.
        enum_name: String,
        /// The case name given.
        case: String,
    },
    /// A value of the right shape that still cannot be converted.
    #[error("at `{path}`: {reason}")]
    InvalidValue {
        /// Where.
        path: String,
        /// What is wrong.
        reason: String,
    },
    // --- dynamic client and statuses (client/, status.rs) ---
    /// A metadata key or value that gRPC cannot carry.
    #[error("invalid metadata `{key}`: {reason}")]
    InvalidMetadata {
        /// The (lower-cased) key.
        key: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// An endpoint URI the client cannot use.
    #[error("invalid endpoint `{endpoint}`: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Credentials that cannot be sent (the secret itself is never shown).
    #[error("invalid client credentials: {reason}")]
    InvalidAuth {
        /// What is wrong.
        reason: String,
    },
    /// An environment variable naming a dependency's credentials is not set.
    #[error(
        "dependency `{dependency}`: environment variable `{variable}` holding its credentials \
         is not set in the executor's environment"
    )]
    MissingCredential {
        /// The dependency's name.
        dependency: String,
        /// The variable.
        variable: String,
    },
    /// TLS settings of a dependency that cannot work (bad PEM, a client
    /// certificate without its key...); key material is never shown.
    #[error("dependency `{dependency}`: TLS: {reason}")]
    InvalidTls {
        /// The dependency's name.
        dependency: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A PEM text that holds no usable certificate.
    #[error("{reason}")]
    InvalidPem {
        /// What is wrong with it.
        reason: String,
    },
    /// Server reflection could not provide a server's descriptors.
    #[error("server reflection at `{endpoint}`: {reason}")]
    Reflection {
        /// The server asked.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// A client configuration that cannot work.
    #[error("invalid client configuration: {reason}")]
    InvalidClientConfig {
        /// What is wrong.
        reason: String,
    },
    /// A number that is not one of the 17 gRPC status codes.
    #[error("{code} is not a gRPC status code (0..=16)")]
    InvalidStatusCode {
        /// The number.
        code: i32,
    },
    /// Stored status bytes that do not decode.
    #[error("cannot decode a stored gRPC status: {reason}")]
    StatusDecode {
        /// The decoder's complaint.
        reason: String,
    },
}

/// Diagnostics rendered one per line.
struct DiagnosticLines<'a>(&'a [ProtoDiagnostic]);

impl fmt::Display for DiagnosticLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}
