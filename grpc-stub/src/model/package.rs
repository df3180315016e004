//! Proto package names to WIT package names (`core.todo.v1` -> `core:todo@1.0.0`).

use std::fmt;

use semver::Version;

use super::naming::{escape, is_valid_identifier, kebab};
use crate::Error;

/// A WIT package name: `namespace:name@version`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WitPackageName {
    /// The namespace (`core` in `core:todo@1.0.0`).
    pub namespace: String,
    /// The package name (`todo` in `core:todo@1.0.0`).
    pub name: String,
    /// The version, if the proto package had a version segment or one was
    /// given as an override.
    pub version: Option<Version>,
}

impl WitPackageName {
    /// `namespace:name` without the version.
    pub fn unversioned(&self) -> String {
        format!("{}:{}", self.namespace, self.name)
    }

    /// The fully qualified name of interface `interface` in this package, as
    /// wasmtime and `use` statements spell it: `core:todo/todo-service@1.0.0`.
    pub fn interface_path(&self, interface: &str) -> String {
        match &self.version {
            Some(v) => format!("{}:{}/{}@{}", self.namespace, self.name, interface, v),
            None => format!("{}:{}/{}", self.namespace, self.name, interface),
        }
    }

    /// This package name as WIT source text, with `%` on keyword parts.
    pub fn wit_text(&self) -> String {
        let mut out = format!("{}:{}", escape(&self.namespace), escape(&self.name));
        if let Some(v) = &self.version {
            out.push_str(&format!("@{v}"));
        }
        out
    }

    /// A reference to interface `interface` of this package as WIT source
    /// text (`use` paths, world imports), with `%` on keyword parts.
    pub fn wit_interface_ref(&self, interface: &str) -> String {
        let mut out = format!(
            "{}:{}/{}",
            escape(&self.namespace),
            escape(&self.name),
            escape(interface)
        );
        if let Some(v) = &self.version {
            out.push_str(&format!("@{v}"));
        }
        out
    }

    /// The directory name this package gets in a `wit/deps` layout:
    /// `namespace-name`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.namespace, self.name)
    }

    /// The directory name of this package when another version of it sits
    /// beside it: `namespace-name-VERSION` (`namespace-name-unversioned`
    /// for a package without a version).
    pub fn versioned_dir_name(&self) -> String {
        match &self.version {
            Some(v) => format!("{}-{}-{v}", self.namespace, self.name),
            None => format!("{}-{}-unversioned", self.namespace, self.name),
        }
    }
}

impl fmt::Display for WitPackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)?;
        if let Some(v) = &self.version {
            write!(f, "@{v}")?;
        }
        Ok(())
    }
}

/// Parses a trailing proto version segment: `v1` -> `1.0.0`, `v1beta2` ->
/// `1.0.0-beta.2`, `v2alpha` -> `2.0.0-alpha`, `v1p1beta1` -> `1.1.0-beta.1`.
/// Returns `None` for anything that is not a version segment.
pub fn parse_version_segment(segment: &str) -> Option<Version> {
    let rest = segment.strip_prefix('v')?;
    let (major, rest) = take_digits(rest)?;
    let (minor, rest) = match rest.strip_prefix('p') {
        Some(after) => take_digits(after)?,
        None => (0, rest),
    };
    let pre = if rest.is_empty() {
        None
    } else {
        let (label, num) = if let Some(n) = rest.strip_prefix("alpha") {
            ("alpha", n)
        } else if let Some(n) = rest.strip_prefix("beta") {
            ("beta", n)
        } else {
            return None;
        };
        if num.is_empty() {
            Some(label.to_owned())
        } else if num.bytes().all(|b| b.is_ascii_digit()) {
            let n: u64 = num.parse().ok()?;
            Some(format!("{label}.{n}"))
        } else {
            return None;
        }
    };
    let mut version = Version::new(major, minor, 0);
    if let Some(pre) = pre {
        version.pre = semver::Prerelease::new(&pre).ok()?;
    }
    Some(version)
}

fn take_digits(s: &str) -> Option<(u64, &str)> {
    let end = s.bytes().take_while(u8::is_ascii_digit).count();
    if end == 0 {
        return None;
    }
    let n = s[..end].parse().ok()?;
    Some((n, &s[end..]))
}

/// The namespace of a one-segment proto package (`package helloworld;`)
/// when none is given: `proto:helloworld`.
pub const DEFAULT_NAMESPACE: &str = "proto";

/// Derives the WIT package name of proto package `proto_package`.
///
/// - A trailing version segment gives the version (see
///   [`parse_version_segment`]); `version_override` replaces it when given.
/// - The first remaining segment is the namespace, the others joined with
///   `-` are the name (`google.cloud.pubsub.v1` -> `google:cloud-pubsub@1.0.0`).
/// - A package with one remaining segment takes `namespace` from the
///   options, or [`DEFAULT_NAMESPACE`] without one (`helloworld` ->
///   `proto:helloworld`).
pub fn wit_package_name(
    proto_package: &str,
    namespace: Option<&str>,
    version_override: Option<&Version>,
) -> Result<WitPackageName, Error> {
    if proto_package.is_empty() {
        return Err(Error::Unmappable {
            item: "(no package)".to_owned(),
            reason: "files without a `package` declaration have no WIT package name; \
                     add a `package` statement to the .proto file"
                .to_owned(),
        });
    }
    let mut segments: Vec<&str> = proto_package.split('.').collect();
    let mut version = None;
    if segments.len() > 1
        && let Some(v) = segments.last().and_then(|s| parse_version_segment(s))
    {
        version = Some(v);
        segments.pop();
    }
    if let Some(v) = version_override {
        version = Some(v.clone());
    }
    let (ns, name) = if segments.len() == 1 {
        let ns = namespace.unwrap_or(DEFAULT_NAMESPACE);
        if !is_valid_identifier(ns) {
            return Err(Error::InvalidOption {
                option: "namespace".to_owned(),
                reason: format!(
                    "`{ns}` is not a WIT identifier (lower-case kebab-case words starting with a letter)"
                ),
            });
        }
        (ns.to_owned(), kebab(segments[0]))
    } else {
        let name = segments[1..]
            .iter()
            .map(|s| kebab(s))
            .collect::<Vec<_>>()
            .join("-");
        (kebab(segments[0]), name)
    };
    Ok(WitPackageName {
        namespace: ns,
        name,
        version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let v = |s: &str| parse_version_segment(s).map(|v| v.to_string());
        assert_eq!(v("v1").as_deref(), Some("1.0.0"));
        assert_eq!(v("v1beta2").as_deref(), Some("1.0.0-beta.2"));
        assert_eq!(v("v2alpha").as_deref(), Some("2.0.0-alpha"));
        assert_eq!(v("v1p1beta1").as_deref(), Some("1.1.0-beta.1"));
        assert_eq!(v("v1gamma"), None);
        assert_eq!(v("version"), None);
        assert_eq!(v("v"), None);
    }

    #[test]
    fn package_names() {
        let n = |p: &str, ns: Option<&str>| wit_package_name(p, ns, None).map(|n| n.to_string());
        assert_eq!(n("core.todo.v1", None).unwrap(), "core:todo@1.0.0");
        assert_eq!(n("grpc.testing", None).unwrap(), "grpc:testing");
        assert_eq!(
            n("google.cloud.pub_sub.v1beta2", None).unwrap(),
            "google:cloud-pub-sub@1.0.0-beta.2"
        );
        assert_eq!(n("routeguide", Some("acme")).unwrap(), "acme:routeguide");
        assert_eq!(
            n("helloworld.v3", Some("acme")).unwrap(),
            "acme:helloworld@3.0.0"
        );
        assert_eq!(n("routeguide", None).unwrap(), "proto:routeguide");
        assert_eq!(n("helloworld.v3", None).unwrap(), "proto:helloworld@3.0.0");
        assert!(n("routeguide", Some("Not Valid")).is_err());
        let over = Version::parse("2.3.4").unwrap();
        let named = wit_package_name("core.todo.v1", None, Some(&over)).unwrap();
        assert_eq!(named.to_string(), "core:todo@2.3.4");
        assert_eq!(named.interface_path("types"), "core:todo/types@2.3.4");
    }
}
