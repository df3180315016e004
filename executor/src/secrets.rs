//! Which environment variables of the executor a component may name for
//! its credentials.
//!
//! A dependency's auth names variables (`token-env: …`) that the executor
//! reads when it calls. Without a rule, whoever uploads a component could
//! name any variable of the executor's environment (`HOME`, a cloud key, the
//! admin token) and have its value sent to an endpoint of their choosing.
//! So by default only names starting with [`SecretEnvPolicy::DEFAULT_PREFIX`]
//! are accepted; the operator may choose another prefix or list extra names
//! (`serve --secret-env-prefix`, `--secret-env-allow`). Anything else is
//! refused at upload, naming the variable and the rule; the admin token's
//! variable is refused whatever the rule says.

use std::collections::BTreeSet;

use crate::error::{Error, Result};

/// The rule for credential variable names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEnvPolicy {
    /// Names starting with this are accepted (an empty prefix accepts all).
    pub prefix: String,
    /// Names accepted whatever their prefix.
    pub allowed: BTreeSet<String>,
    /// Names refused whatever the prefix and the allowed names say: the
    /// executor's own secrets (the admin token's variable).
    pub denied: BTreeSet<String>,
}

impl SecretEnvPolicy {
    /// The prefix credential variables must have by default.
    pub const DEFAULT_PREFIX: &'static str = "REPRISE_SECRET_";

    /// Whether a component may read `variable` for its credentials.
    pub fn permits(&self, variable: &str) -> bool {
        !self.denied.contains(variable)
            && (variable.starts_with(&self.prefix) || self.allowed.contains(variable))
    }

    /// Refuses `variable`, named by `dependency`'s auth, unless permitted.
    pub fn check(&self, dependency: &str, variable: &str) -> Result<()> {
        if self.permits(variable) {
            return Ok(());
        }
        if self.denied.contains(variable) {
            return Err(Error::Unsupported(format!(
                "dependency `{dependency}`: its credentials name the environment variable \
                 `{variable}`, which holds the executor's own admin token: components may never \
                 read it (give the dependency a variable of its own)"
            )));
        }
        let mut rule = format!("names must start with `{}`", self.prefix);
        if !self.allowed.is_empty() {
            let names: Vec<&str> = self.allowed.iter().map(String::as_str).collect();
            rule.push_str(&format!(" or be one of {}", names.join(", ")));
        }
        Err(Error::Unsupported(format!(
            "dependency `{dependency}`: its credentials name the environment variable \
             `{variable}`, which components may not read: {rule} (rename the variable, e.g. \
             `{}{variable}`, or have the operator allow it with `serve --secret-env-allow \
             {variable}`)",
            self.prefix
        )))
    }
}

impl Default for SecretEnvPolicy {
    fn default() -> Self {
        SecretEnvPolicy {
            prefix: Self::DEFAULT_PREFIX.to_owned(),
            allowed: BTreeSet::new(),
            denied: BTreeSet::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_prefixed_or_listed_names_pass() {
        let mut policy = SecretEnvPolicy::default();
        assert!(policy.check("todo", "REPRISE_SECRET_TODO_TOKEN").is_ok());
        let err = policy.check("todo", "HOME").unwrap_err().to_string();
        assert!(
            err.contains("`HOME`") && err.contains("REPRISE_SECRET_") && err.contains("`todo`"),
            "{err}"
        );
        policy.allowed.insert("LEGACY_TOKEN".into());
        assert!(policy.check("todo", "LEGACY_TOKEN").is_ok());
        assert!(policy.check("todo", "HOME").is_err());
        policy.prefix = "ACME_".into();
        assert!(policy.check("todo", "ACME_KEY").is_ok());
        assert!(policy.check("todo", "REPRISE_SECRET_X").is_err());
    }

    #[test]
    fn a_denied_name_is_refused_whatever_the_prefix_and_the_allowed_names() {
        let mut policy = SecretEnvPolicy::default();
        policy.allowed.insert("REPRISE_SECRET_ADMIN".into());
        policy.denied.insert("REPRISE_SECRET_ADMIN".into());
        let err = policy
            .check("todo", "REPRISE_SECRET_ADMIN")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("admin token") && err.contains("`todo`"),
            "{err}"
        );
        assert!(policy.check("todo", "REPRISE_SECRET_TODO").is_ok());
    }
}
