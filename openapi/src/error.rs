//! The crate's single error type: a document that cannot be read, or the
//! problems found in it, each named by key path and line.

use std::fmt;

use crate::yaml::Position;

/// One problem in an OpenAPI document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key path (`paths./todos.get.responses.200`).
    pub path: String,
    /// Where, when known.
    pub position: Option<Position>,
    /// What is wrong.
    pub message: String,
}

/// Everything that can go wrong reading an OpenAPI document.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML (or JSON).
    #[error("{file}{}: {message}", .position.map(|p| format!(":{p}")).unwrap_or_default())]
    Syntax {
        /// The file.
        file: String,
        /// Where.
        position: Option<Position>,
        /// The parser's message.
        message: String,
    },
    /// The document is YAML but not an OpenAPI 3 document this mapping
    /// supports: every problem found, one per line.
    #[error("{}", ProblemLines { file, problems })]
    Invalid {
        /// The file.
        file: String,
        /// The problems.
        problems: Vec<Problem>,
    },
    /// A model handed over as data (an upload) that the runtime cannot use.
    #[error("the OpenAPI model is not usable: {message}")]
    Model {
        /// What is wrong.
        message: String,
    },
    /// A component's import of a function does not have the signature the
    /// document gives it (the component was built against other WIT).
    #[error("function `{function}`: {message}")]
    Signature {
        /// The function (`interface.function`).
        function: String,
        /// What differs.
        message: String,
    },
}

struct ProblemLines<'a> {
    file: &'a str,
    problems: &'a [Problem],
}

impl fmt::Display for ProblemLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file)?;
            if let Some(position) = p.position {
                write!(f, ":{position}")?;
            }
            if p.path.is_empty() {
                write!(f, ": {}", p.message)?;
            } else {
                write!(f, ": at `{}`: {}", p.path, p.message)?;
            }
        }
        Ok(())
    }
}
