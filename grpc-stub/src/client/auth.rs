//! Client credentials sent as request metadata on every call of a dependency.
//!
//! Secrets arrive already resolved (the manifest crate reads environment
//! variables; the executor passes the values in). `Debug` never prints them.

use std::fmt;

use base64::Engine as _;
use tonic::metadata::MetadataMap;

use crate::Error;
use crate::client::metadata::{MetadataEntry, MetadataValue, set_ascii};

/// How a client authenticates to a gRPC dependency.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// `authorization: Bearer <token>`.
    Bearer(String),
    /// `authorization: Basic base64(<user>:<password>)`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// `<header>: <value>`, e.g. `x-api-key`.
    ApiKey {
        /// The (lower-case) metadata key.
        header: String,
        /// The key itself.
        value: String,
    },
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HIDDEN: &str = "<redacted>";
        match self {
            ClientAuth::Bearer(_) => f.debug_tuple("Bearer").field(&HIDDEN).finish(),
            ClientAuth::Basic { user, .. } => f
                .debug_struct("Basic")
                .field("user", user)
                .field("password", &HIDDEN)
                .finish(),
            ClientAuth::ApiKey { header, .. } => f
                .debug_struct("ApiKey")
                .field("header", header)
                .field("value", &HIDDEN)
                .finish(),
        }
    }
}

impl ClientAuth {
    /// The metadata key (an HTTP header name) and value this credential sends.
    pub fn header(&self) -> (String, String) {
        match self {
            ClientAuth::Bearer(token) => ("authorization".into(), format!("Bearer {token}")),
            ClientAuth::Basic { user, password } => {
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                ("authorization".into(), format!("Basic {encoded}"))
            }
            ClientAuth::ApiKey { header, value } => (header.to_ascii_lowercase(), value.clone()),
        }
    }

    /// Checks that the credential can be sent as metadata. The error names
    /// the problem but never the secret.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |reason: &str| Error::InvalidAuth {
            reason: reason.to_owned(),
        };
        match self {
            ClientAuth::Bearer(token) if token.is_empty() => {
                return Err(bad("the bearer token is empty"));
            }
            ClientAuth::Basic { user, .. } if user.contains(':') => {
                return Err(bad("the basic-auth user name contains `:`"));
            }
            ClientAuth::ApiKey { value, .. } if value.is_empty() => {
                return Err(bad("the API key is empty"));
            }
            _ => {}
        }
        let (key, value) = self.header();
        if let ClientAuth::ApiKey { header, .. } = self {
            // Reuse the metadata key rules, with a placeholder value so a bad
            // secret is not echoed in the error.
            MetadataEntry::new(header.clone(), MetadataValue::Ascii(String::new())).map_err(
                |e| Error::InvalidAuth {
                    reason: format!("API key header: {e}"),
                },
            )?;
        }
        if value.chars().any(|c| !(' '..='~').contains(&c)) {
            return Err(bad(&format!(
                "the `{key}` credential contains characters that are not printable ASCII"
            )));
        }
        Ok(())
    }

    /// Sets the credential's header on a request, replacing any value the
    /// caller's metadata had for the same key.
    pub(crate) fn apply(&self, map: &mut MetadataMap) -> Result<(), Error> {
        let (key, value) = self.header();
        set_ascii(map, &key, &value).map_err(|_| Error::InvalidAuth {
            reason: format!("the `{key}` credential is not a valid metadata value"),
        })
    }
}
