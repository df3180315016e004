//! Helpers for walking the YAML tree while collecting problems.
//!
//! Every reader takes the node, its key path and the shared [`Ctx`]; when a
//! node is wrong it records a [`Problem`] and returns `None`, so the caller can
//! carry on and report further problems in the same pass.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Problem;
use crate::yaml::{Node, Position, Value};

/// The key path of a node, e.g. `components.app.dependencies.todo.protos[0]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(String);

impl KeyPath {
    /// The path of a mapping entry below this one.
    pub(crate) fn key(&self, key: &str) -> KeyPath {
        if self.0.is_empty() {
            KeyPath(key.to_owned())
        } else {
            KeyPath(format!("{}.{key}", self.0))
        }
    }

    /// The path of a list item below this one.
    pub(crate) fn index(&self, index: usize) -> KeyPath {
        KeyPath(format!("{}[{index}]", self.0))
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Collects problems while one manifest is being validated.
pub(crate) struct Ctx {
    file: PathBuf,
    base_dir: PathBuf,
    check_files: bool,
    problems: Vec<Problem>,
}

impl Ctx {
    /// A context for the manifest `file`, whose relative paths resolve
    /// against `base_dir`; `check_files` turns on existence checks.
    pub(crate) fn new(file: PathBuf, base_dir: PathBuf, check_files: bool) -> Self {
        Ctx {
            file,
            base_dir,
            check_files,
            problems: Vec::new(),
        }
    }

    /// The folder relative paths are resolved against.
    pub(crate) fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// Whether referenced files must exist.
    pub(crate) fn check_files(&self) -> bool {
        self.check_files
    }

    /// Resolves a path written in the manifest against its folder.
    pub(crate) fn resolve(&self, text: &str) -> PathBuf {
        let path = Path::new(text);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// Records a problem at `path`/`position`.
    pub(crate) fn report(
        &mut self,
        path: &KeyPath,
        position: Option<Position>,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            file: self.file.clone(),
            key_path: path.to_string(),
            position,
            message: message.into(),
        });
    }

    /// The problems recorded so far, sorted by position (stable).
    pub(crate) fn into_problems(mut self) -> Vec<Problem> {
        self.problems.sort_by_key(|p| {
            p.position
                .map_or((u64::MAX, u64::MAX), |p| (p.line, p.column))
        });
        self.problems
    }

    pub(crate) fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// Records "expected X, found Y" for `node`.
    pub(crate) fn wrong_type(&mut self, path: &KeyPath, node: &Node, expected: &str) {
        let found = node.value.kind_name();
        self.report(
            path,
            node.position,
            format!("expected {expected}, found {found}"),
        );
    }
}

/// A mapping's entries, keyed by string, with the mapping's own path.
pub(crate) struct Fields<'a> {
    pub(crate) path: KeyPath,
    pub(crate) position: Option<Position>,
    entries: Vec<(&'a str, &'a Node, &'a Node)>,
}

impl<'a> Fields<'a> {
    /// Reads `node` as a mapping with string keys. Non-string keys are
    /// reported and skipped.
    pub(crate) fn read(ctx: &mut Ctx, node: &'a Node, path: &KeyPath) -> Option<Fields<'a>> {
        let Value::Map(map) = &node.value else {
            ctx.wrong_type(path, node, "a mapping");
            return None;
        };
        let mut entries = Vec::with_capacity(map.len());
        for (key, value) in map {
            match &key.value {
                Value::String(name) => entries.push((name.as_str(), key, value)),
                _ => ctx.report(
                    path,
                    key.position,
                    format!("keys must be strings, found {}", key.value.kind_name()),
                ),
            }
        }
        Some(Fields {
            path: path.clone(),
            position: node.position,
            entries,
        })
    }

    /// Reports every key not in `allowed`, suggesting the closest allowed key.
    pub(crate) fn deny_unknown(&self, ctx: &mut Ctx, allowed: &[&str]) {
        for (name, key, _) in &self.entries {
            if allowed.contains(name) {
                continue;
            }
            let mut message = format!("unknown key `{name}`");
            if let Some(hint) = closest(name, allowed) {
                message.push_str(&format!(" (did you mean `{hint}`?)"));
            }
            message.push_str(&format!("; allowed keys: {}", backticked(allowed)));
            ctx.report(&self.path.key(name), key.position, message);
        }
    }

    /// The value for `key`, if present.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(name, _, _)| *name == key)
            .map(|(_, _, value)| *value)
    }

    /// The value for `key`, reporting its absence.
    pub(crate) fn require(&self, ctx: &mut Ctx, key: &str) -> Option<&'a Node> {
        let value = self.get(key);
        if value.is_none() {
            ctx.report(
                &self.path.key(key),
                self.position,
                format!("missing required key `{key}`"),
            );
        }
        value
    }

    /// All entries in document order: name, key node, value node.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&'a str, &'a Node, &'a Node)> + '_ {
        self.entries.iter().copied()
    }

    /// True when the mapping has no (string-keyed) entries.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Reads a string scalar.
pub(crate) fn string<'a>(ctx: &mut Ctx, node: &'a Node, path: &KeyPath) -> Option<&'a str> {
    match &node.value {
        Value::String(text) => Some(text),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
            let found = node.value.kind_name();
            ctx.report(
                path,
                node.position,
                format!("expected a string, found {found} (quote the value to make it a string)"),
            );
            None
        }
        _ => {
            ctx.wrong_type(path, node, "a string");
            None
        }
    }
}

/// Reads a list, returning each item with its path.
pub(crate) fn list<'a>(
    ctx: &mut Ctx,
    node: &'a Node,
    path: &KeyPath,
) -> Option<Vec<(&'a Node, KeyPath)>> {
    match &node.value {
        Value::Seq(items) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| (item, path.index(i)))
                .collect(),
        ),
        _ => {
            ctx.wrong_type(path, node, "a list");
            None
        }
    }
}

/// Formats names as "`a`, `b`, `c`".
pub(crate) fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The allowed name closest to `name` by edit distance, if it is close enough
/// to be a plausible typo.
pub(crate) fn closest<'b>(name: &str, allowed: &[&'b str]) -> Option<&'b str> {
    let lowered = name.to_ascii_lowercase().replace('_', "-");
    allowed
        .iter()
        .map(|candidate| (edit_distance(&lowered, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions
/// and swaps of adjacent characters each cost 1 (`gprc` -> `grpc` is 1).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    // rows[i * width + j] = distance between a[..i] and b[..j].
    let mut rows = vec![0usize; (a.len() + 1) * width];
    for (i, row) in rows.chunks_mut(width).enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[(i - 1) * width + j] + 1)
                .min(rows[i * width + j - 1] + 1)
                .min(rows[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[(i - 2) * width + j - 2] + 1);
            }
            rows[i * width + j] = best;
        }
    }
    rows[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_compose() {
        let root = KeyPath::default();
        let path = root.key("components").key("app").key("protos").index(2);
        assert_eq!(path.to_string(), "components.app.protos[2]");
    }

    #[test]
    fn closest_suggests_typos_only() {
        let allowed = ["timeout", "endpoint", "retry"];
        assert_eq!(closest("timout", &allowed), Some("timeout"));
        assert_eq!(closest("end_point", &allowed), Some("endpoint"));
        assert_eq!(closest("colour", &allowed), None);
    }

    #[test]
    fn edit_distance_counts_operations() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("gprc", "grpc"), 1);
    }
}
