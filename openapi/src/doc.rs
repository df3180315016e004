//! Reading an OpenAPI document's YAML tree: typed accessors that record a
//! [`Problem`] (key path, position, message) instead of failing, and local
//! `$ref` resolution (`#/components/...`).

use std::cell::RefCell;

use crate::error::Problem;
use crate::yaml::{Node, Value};

/// Most `$ref` hops followed from one reference (a longer chain is a cycle).
const MAX_REF_HOPS: usize = 32;

/// The document being read and the problems found so far.
pub(crate) struct Doc<'a> {
    pub(crate) root: &'a Node,
    problems: RefCell<Vec<Problem>>,
}

impl<'a> Doc<'a> {
    pub(crate) fn new(root: &'a Node) -> Self {
        Doc {
            root,
            problems: RefCell::new(Vec::new()),
        }
    }

    /// Records a problem at `node` (key path `path`).
    pub(crate) fn problem(&self, path: &str, node: Option<&Node>, message: impl Into<String>) {
        self.problems.borrow_mut().push(Problem {
            path: path.to_owned(),
            position: node.and_then(|n| n.position),
            message: message.into(),
        });
    }

    /// [`resolve`](Self::resolve), reporting nothing: for a second look at
    /// a reference the mapping followed (and reported on) already.
    pub(crate) fn resolve_quietly(&self, node: &'a Node, path: &str) -> Option<&'a Node> {
        let before = self.problems.borrow().len();
        let found = self.resolve(node, path).map(|(n, _)| n);
        self.problems.borrow_mut().truncate(before);
        found
    }

    /// The problems found.
    pub(crate) fn into_problems(self) -> Vec<Problem> {
        self.problems.into_inner()
    }

    /// Whether any problem was found.
    pub(crate) fn has_problems(&self) -> bool {
        !self.problems.borrow().is_empty()
    }

    /// [`resolve`](Self::resolve) for a node resolved once already, whose
    /// problems are reported: the node referred to, reporting nothing
    /// again.
    pub(crate) fn follow(&self, node: &'a Node) -> Option<&'a Node> {
        let reported = self.problems.borrow().len();
        let found = self.resolve(node, "");
        self.problems.borrow_mut().truncate(reported);
        found.map(|(target, _)| target)
    }

    /// Follows `$ref`s from `node`: the node referred to, and the name of
    /// the component the last reference names (`#/components/schemas/Todo`
    /// -> `Todo`; none for a pointer into a component). A reference that
    /// does not resolve is a problem.
    pub(crate) fn resolve(&self, node: &'a Node, path: &str) -> Option<(&'a Node, Option<String>)> {
        let mut current = node;
        let mut name = None;
        for _ in 0..MAX_REF_HOPS {
            let Some(reference) = get(current, "$ref") else {
                return Some((current, name));
            };
            let Value::String(reference) = &reference.value else {
                self.problem(path, Some(reference), "`$ref` must be a string");
                return None;
            };
            let Some(pointer) = reference.strip_prefix("#/") else {
                self.problem(
                    path,
                    Some(current),
                    format!(
                        "`$ref: {reference}` points outside this document; only local \
                         references (`#/components/...`) are supported: inline the definition"
                    ),
                );
                return None;
            };
            let mut target = self.root;
            for segment in pointer.split('/') {
                let segment = segment.replace("~1", "/").replace("~0", "~");
                match get(target, &segment) {
                    Some(next) => target = next,
                    None => {
                        self.problem(
                            path,
                            Some(current),
                            format!("`$ref: {reference}` does not resolve: `{segment}` is missing"),
                        );
                        return None;
                    }
                }
            }
            // Only a component itself has a name (`components/schemas/Todo`);
            // a pointer into one (`.../Todo/properties/owner`) has none, or
            // its last segment would be taken for another component's name.
            let segments: Vec<&str> = pointer.split('/').collect();
            name = match segments.as_slice() {
                ["components", _, last] => Some(last.replace("~1", "/").replace("~0", "~")),
                _ => None,
            };
            current = target;
        }
        self.problem(path, Some(node), "`$ref`s refer to each other in a cycle");
        None
    }
}

/// The value of `key` in mapping `node`.
pub(crate) fn get<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| matches!(&k.value, Value::String(s) if s == key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// The entries of a mapping (empty for other kinds), keys as text.
pub(crate) fn entries(node: &Node) -> Vec<(String, &Node)> {
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| {
                let key = match &k.value {
                    Value::String(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Float(f) => f.to_string(),
                    _ => String::new(),
                };
                (key, v)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The string value of `key`, if it is one.
pub(crate) fn str_of<'n>(node: &'n Node, key: &str) -> Option<&'n str> {
    match &get(node, key)?.value {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// The boolean value of `key`, if it is one.
pub(crate) fn bool_of(node: &Node, key: &str) -> Option<bool> {
    match &get(node, key)?.value {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

/// The numeric value of `key`, if it is one.
pub(crate) fn number_of(node: &Node, key: &str) -> Option<f64> {
    match &get(node, key)?.value {
        #[allow(clippy::cast_precision_loss)]
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// The items of a sequence (empty for other kinds).
pub(crate) fn items(node: &Node) -> &[Node] {
    match &node.value {
        Value::Seq(items) => items,
        _ => &[],
    }
}
