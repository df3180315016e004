//! Validated names: component and dependency names, WIT namespaces and
//! environment variable names.
//!
//! Component and dependency names follow WIT's lowercase kebab-case rule so
//! they can appear in generated WIT and in URLs unchanged: one or more words
//! separated by single `-`, each word a lowercase ASCII letter followed by
//! lowercase letters or digits (`todo-client`, `store-v2`).

use std::fmt;
use std::str::FromStr;

/// Longest accepted component or dependency name.
pub const MAX_NAME_LEN: usize = 64;

/// Why a string is not a valid kebab-case name (used in error messages).
pub(crate) fn kebab_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!("is longer than {MAX_NAME_LEN} characters"));
    }
    for word in name.split('-') {
        let mut chars = word.chars();
        match chars.next() {
            None => return Some("must not start or end with `-` or contain `--`".into()),
            Some(first) if !first.is_ascii_lowercase() => {
                return Some(format!(
                    "word `{word}` must start with a lowercase letter a-z"
                ));
            }
            Some(_) => {}
        }
        if let Some(bad) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit())) {
            return Some(format!(
                "contains `{bad}`; use lowercase letters, digits and single `-` (e.g. `todo-client`)"
            ));
        }
    }
    None
}

macro_rules! kebab_name {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// A valid stand-in used while collecting problems under an
            /// invalid name; never part of a successful result.
            #[allow(dead_code)]
            pub(crate) fn placeholder() -> Self {
                $name("invalid-name".to_owned())
            }
        }

        impl FromStr for $name {
            type Err = InvalidName;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match kebab_problem(text) {
                    None => Ok($name(text.to_owned())),
                    Some(reason) => Err(InvalidName {
                        what: $what,
                        name: text.to_owned(),
                        reason,
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

kebab_name!(
    /// The name of a component in the manifest (`todo-client`).
    ComponentName,
    "component name"
);
kebab_name!(
    /// The name of one dependency of a component (`todo`).
    DependencyName,
    "dependency name"
);
kebab_name!(
    /// A WIT package namespace override (`core` in `core:todo@1.0.0`).
    WitNamespace,
    "WIT namespace"
);

/// Why a WIT namespace override cannot be used, if it cannot: `wasi` is
/// WASI's own, whose interfaces the executor links as WASI.
pub(crate) fn reserved_namespace_problem(namespace: &str) -> Option<String> {
    (namespace == "wasi").then(|| {
        "`wasi` is WASI's own namespace, whose interfaces the executor links as WASI, not as \
         this dependency; choose another (your organisation's name, say)"
            .to_owned()
    })
}

/// A string that is not a valid name. An environment variable name is
/// quoted only when it looks like an attempt at one (short, letters,
/// digits, `_` and `-`): a value pasted where its variable's name belongs
/// may be the secret itself, and is not echoed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}{}: {reason}", self.quoted())]
pub struct InvalidName {
    what: &'static str,
    name: String,
    reason: String,
}

impl InvalidName {
    /// The rejected text.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// ` `name`` when it may be shown, else how long it is.
    fn quoted(&self) -> String {
        let name_like = self.name.len() <= 32
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if self.what != ENV_VAR_NAME || name_like {
            format!(" `{}`", self.name)
        } else {
            format!(
                " ({} characters, not shown: it may be a secret)",
                self.name.chars().count()
            )
        }
    }
}

/// What an invalid [`EnvVarName`] is called in errors.
const ENV_VAR_NAME: &str = "environment variable name";

/// Names one dependency of one component, for error messages:
/// `dependency `todo` of component `todo-client``.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DependencyRef {
    /// The component declaring the dependency.
    pub component: ComponentName,
    /// The dependency's name within the component.
    pub dependency: DependencyName,
}

impl fmt::Display for DependencyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dependency `{}` of component `{}`",
            self.dependency, self.component
        )
    }
}

/// The name of an environment variable holding a secret.
///
/// Must be a portable shell identifier: ASCII letters, digits and `_`, not
/// starting with a digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnvVarName(String);

impl EnvVarName {
    /// The variable name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EnvVarName {
    type Err = InvalidName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let reason = match text.chars().next() {
            None => Some("must not be empty".to_owned()),
            Some(first) if first.is_ascii_digit() => Some("must not start with a digit".into()),
            _ => text
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
                .map(|bad| format!("contains `{bad}`; use ASCII letters, digits and `_`")),
        };
        match reason {
            None => Ok(EnvVarName(text.to_owned())),
            Some(reason) => Err(InvalidName {
                what: ENV_VAR_NAME,
                name: text.to_owned(),
                reason,
            }),
        }
    }
}

impl fmt::Display for EnvVarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_pasted_as_a_variable_name_is_not_echoed() {
        for secret in [
            "sk-live.SECRETVALUE",
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
        ] {
            let err = secret.parse::<EnvVarName>().unwrap_err().to_string();
            assert!(
                !err.contains("SECRET") && !err.contains("MII") && !err.contains("eyJ"),
                "{err}"
            );
            assert!(err.contains("not shown"), "{err}");
        }
        // A name with a slip in it is still quoted.
        let err = "my-key".parse::<EnvVarName>().unwrap_err().to_string();
        assert!(
            err.starts_with("invalid environment variable name `my-key`"),
            "{err}"
        );
    }

    #[test]
    fn kebab_names_accept_wit_style() {
        for ok in ["a", "todo", "todo-client", "store-v2", "x1-y2-z3"] {
            assert!(ok.parse::<ComponentName>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn kebab_names_reject_with_reason() {
        let cases = [
            ("", "must not be empty"),
            ("Todo", "word `Todo` must start with a lowercase letter"),
            ("todo_client", "contains `_`"),
            ("todo--client", "`--`"),
            ("-todo", "must not start or end"),
            ("todo-", "must not start or end"),
            ("todo-2", "word `2` must start with a lowercase letter"),
        ];
        for (text, expected) in cases {
            let err = text.parse::<DependencyName>().unwrap_err();
            let message = err.to_string();
            assert!(message.contains(expected), "{text}: {message}");
            assert!(message.starts_with("invalid dependency name"), "{message}");
        }
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert!(long.parse::<ComponentName>().is_err());
    }

    #[test]
    fn env_var_names() {
        assert!("TODO_TOKEN".parse::<EnvVarName>().is_ok());
        assert!("_x1".parse::<EnvVarName>().is_ok());
        let err = "1ABC".parse::<EnvVarName>().unwrap_err().to_string();
        assert!(err.contains("must not start with a digit"), "{err}");
        let err = "MY-TOKEN".parse::<EnvVarName>().unwrap_err().to_string();
        assert!(err.contains("contains `-`"), "{err}");
    }

    #[test]
    fn dependency_ref_display() {
        let r = DependencyRef {
            component: "todo-client".parse().unwrap(),
            dependency: "todo".parse().unwrap(),
        };
        assert_eq!(
            r.to_string(),
            "dependency `todo` of component `todo-client`"
        );
    }
}
