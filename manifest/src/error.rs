//! The crate's error type and the problem reports it carries.
//!
//! Validation does not stop at the first mistake: every problem found in a
//! manifest is collected into a [`Problem`] (file, key path, line/column,
//! message) and returned together in [`Error::Invalid`]. Proto compilation
//! problems are reported as [`ProtoDiagnostic`]s with `file:line:column`.

use std::fmt;
use std::path::PathBuf;

use crate::names::DependencyRef;
use crate::yaml::Position;

/// Everything that can go wrong while loading a manifest, resolving secrets
/// or compiling protos.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The manifest file could not be read.
    #[error("cannot read manifest `{}`: {source}", path.display())]
    Read {
        /// The manifest path as given.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The manifest is not valid; every problem found is listed.
    #[error("{0}")]
    Invalid(Problems),

    /// A secret's environment variable is not set.
    #[error("{dependency}: environment variable `{variable}` ({purpose}) is not set")]
    MissingSecret {
        /// The dependency whose auth needs the secret.
        dependency: DependencyRef,
        /// The environment variable name.
        variable: String,
        /// What the variable holds, e.g. `bearer token`.
        purpose: &'static str,
    },

    /// A secret's environment variable is set but its value is unusable
    /// (the value itself is never included in the message).
    #[error("{dependency}: environment variable `{variable}` ({purpose}) {reason}")]
    InvalidSecret {
        /// The dependency whose auth needs the secret.
        dependency: DependencyRef,
        /// The environment variable name.
        variable: String,
        /// What the variable holds, e.g. `bearer token`.
        purpose: &'static str,
        /// Why the value was rejected (never the value).
        reason: &'static str,
    },

    /// The dependency's proto files do not compile.
    #[error(
        "{dependency}: cannot compile proto files:\n{}",
        DiagnosticList(diagnostics)
    )]
    Proto {
        /// The dependency being compiled.
        dependency: DependencyRef,
        /// One entry per problem, each with file:line:column when known.
        diagnostics: Vec<ProtoDiagnostic>,
    },

    /// The dependency's TLS settings cannot be used (a PEM file that cannot
    /// be read or holds no certificate...).
    #[error("{dependency}: TLS: {reason}")]
    Tls {
        /// The dependency.
        dependency: DependencyRef,
        /// What is wrong.
        reason: String,
    },

    /// The dependency's descriptors come from server reflection, which
    /// the caller must fetch (the manifest crate does no network calls).
    #[error(
        "{dependency}: its descriptors come from the server's reflection (`reflection: true`); \
         fetch them and use `GrpcDependency::config_from`"
    )]
    NeedsReflection {
        /// The dependency.
        dependency: DependencyRef,
    },

    /// `read-only-methods` names no unary method of the dependency.
    #[error(
        "{dependency}: read-only-methods: `{method}` is not a unary method of its services \
         (unary methods: {})",
        known.join(", ")
    )]
    UnknownMethod {
        /// The dependency.
        dependency: DependencyRef,
        /// The name given.
        method: String,
        /// Its unary methods.
        known: Vec<String>,
    },

    /// The dependency's OpenAPI document cannot be read or mapped.
    #[error("{dependency}: {source}")]
    OpenApi {
        /// The dependency.
        dependency: DependencyRef,
        /// What is wrong with the document.
        #[source]
        source: reprise_openapi::Error,
    },

    /// An OpenAPI dependency's `auth` matches none of its document's
    /// `securitySchemes`.
    #[error("{dependency}: auth: {reason}")]
    AuthScheme {
        /// The dependency.
        dependency: DependencyRef,
        /// What the manifest gives and what the document takes.
        reason: String,
    },

    /// An OpenAPI dependency has no usable base URL.
    #[error("{dependency}: base URL: {reason}")]
    BaseUrl {
        /// The dependency.
        dependency: DependencyRef,
        /// What is missing or wrong.
        reason: String,
    },

    /// The dependency's own proto files compile but define no service.
    #[error("{dependency}: the proto files {files:?} define no service")]
    NoServices {
        /// The dependency being compiled.
        dependency: DependencyRef,
        /// The dependency's own proto files.
        files: Vec<String>,
    },
}

impl Error {
    /// The validation problems when this is [`Error::Invalid`], else empty.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Invalid(problems) => &problems.problems,
            _ => &[],
        }
    }
}

/// One validation problem in a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The manifest file (the origin path given to the parser).
    pub file: PathBuf,
    /// Dotted key path of the offending node, e.g.
    /// `components.todo-client.dependencies.todo.timeout`; list items are
    /// written `protos[1]`. Empty for problems with the document as a whole.
    pub key_path: String,
    /// Line and column of the offending node, when the YAML parser knows it.
    pub position: Option<Position>,
    /// What is wrong, and where possible how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(position) = self.position {
            write!(f, ":{position}")?;
        }
        if !self.key_path.is_empty() {
            write!(f, ": {}", self.key_path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// All problems found in one manifest, in document order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problems {
    /// The manifest file.
    pub file: PathBuf,
    /// The problems, at least one.
    pub problems: Vec<Problem>,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            f,
            "invalid manifest `{}` ({count} problem{}):",
            self.file.display(),
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

/// One problem reported by the proto compiler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtoDiagnostic {
    /// The proto file, as a path on disk when it could be located, else the
    /// import name; `None` when the compiler did not attribute the problem.
    pub file: Option<String>,
    /// 1-based line and column within `file`, when known.
    pub position: Option<Position>,
    /// The compiler's message (plus its help text when it has one).
    pub message: String,
}

impl fmt::Display for ProtoDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}")?;
            if let Some(position) = self.position {
                write!(f, ":{position}")?;
            }
            write!(f, ": ")?;
        }
        write!(f, "{}", self.message)
    }
}

struct DiagnosticList<'a>(&'a [ProtoDiagnostic]);

impl fmt::Display for DiagnosticList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  {diagnostic}")?;
        }
        Ok(())
    }
}
