//! Where recursion is broken, decided by the message types alone.
//!
//! WIT types cannot be recursive, so on every cycle of the message graph
//! some message-typed field must carry the message's protobuf encoding
//! instead ([`ValueType::RecursionBreak`](super::types::ValueType)). Which
//! fields those are must not depend on what is exposed or on the order the
//! roots are walked: two dependencies sharing a proto package would
//! otherwise render that WIT package in two different shapes.
//!
//! The rule: the message graph has an edge from a message to the message
//! type of each of its fields (map values and oneof cases included;
//! well-known types and empty messages are leaves). It is split into
//! strongly connected components. Within each component a depth-first
//! search starts at the member with the lexicographically smallest full
//! name and follows fields in field-number order, staying inside the
//! component; an edge to a message on the search's stack is a break (so a
//! message referring to itself is always one). Every member of a component
//! reaches every other, so the components, and the breaks, of the messages
//! a model reaches are the same whichever roots it starts from. Removing the
//! breaks leaves an acyclic graph.
//!
//! Both searches use explicit stacks, so deeply nested protos cannot
//! overflow the Rust stack.

use std::collections::{HashMap, HashSet};

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

use super::types::WellKnown;

/// The message-typed fields that break recursion, as (containing message,
/// field type) full names: every field of the first type whose (map value)
/// type is the second is a break.
#[derive(Debug, Default)]
pub(crate) struct Breaks {
    /// Containing message -> field types whose fields there are breaks.
    edges: HashMap<String, HashSet<String>>,
}

impl Breaks {
    /// The breaks among every message reachable from `roots`.
    pub(crate) fn compute(roots: impl IntoIterator<Item = MessageDescriptor>) -> Self {
        let graph = MessageGraph::reachable(roots);
        let component = graph.components();
        let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
        for (node, &c) in component.iter().enumerate() {
            members.entry(c).or_default().push(node);
        }
        let mut edges: HashMap<String, HashSet<String>> = HashMap::new();
        for nodes in members.values() {
            let Some(&start) = nodes
                .iter()
                .min_by(|&&a, &&b| graph.names[a].cmp(&graph.names[b]))
            else {
                continue;
            };
            for (from, to) in graph.back_edges(start, &component) {
                edges
                    .entry(graph.names[from].clone())
                    .or_default()
                    .insert(graph.names[to].clone());
            }
        }
        Self { edges }
    }

    /// Whether a field of message `from` whose (map value) type is message
    /// `to` breaks recursion.
    pub(crate) fn contains(&self, from: &str, to: &str) -> bool {
        self.edges
            .get(from)
            .is_some_and(|targets| targets.contains(to))
    }
}

/// The message type a field refers to, as a graph edge: the map value for
/// maps; none for scalars, enums, well-known types and empty messages.
fn edge_target(field: &FieldDescriptor) -> Option<MessageDescriptor> {
    let kind = if field.is_map() {
        match field.kind() {
            Kind::Message(entry) => entry.map_entry_value_field().kind(),
            _ => return None,
        }
    } else {
        field.kind()
    };
    match kind {
        Kind::Message(m)
            if WellKnown::from_full_name(m.full_name()).is_none() && m.fields().len() > 0 =>
        {
            Some(m)
        }
        _ => None,
    }
}

/// The reachable messages, with successors in field-number order.
struct MessageGraph {
    names: Vec<String>,
    successors: Vec<Vec<usize>>,
}

impl MessageGraph {
    fn reachable(roots: impl IntoIterator<Item = MessageDescriptor>) -> Self {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut descriptors: Vec<MessageDescriptor> = Vec::new();
        let mut add = |m: MessageDescriptor, descriptors: &mut Vec<MessageDescriptor>| {
            let next = index.len();
            *index.entry(m.full_name().to_owned()).or_insert_with(|| {
                descriptors.push(m);
                next
            })
        };
        for root in roots {
            if WellKnown::from_full_name(root.full_name()).is_none() && root.fields().len() > 0 {
                add(root, &mut descriptors);
            }
        }
        let mut successors: Vec<Vec<usize>> = Vec::new();
        // `descriptors` grows while it is scanned: a breadth-first closure.
        while successors.len() < descriptors.len() {
            let mut fields: Vec<FieldDescriptor> = descriptors[successors.len()].fields().collect();
            fields.sort_by_key(FieldDescriptor::number);
            let mut out: Vec<usize> = Vec::new();
            for target in fields.iter().filter_map(edge_target) {
                let t = add(target, &mut descriptors);
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            successors.push(out);
        }
        let names = descriptors
            .iter()
            .map(|m| m.full_name().to_owned())
            .collect();
        Self { names, successors }
    }

    /// The strongly connected component of every node (Tarjan's algorithm,
    /// iterative); the numbering itself carries no meaning.
    fn components(&self) -> Vec<usize> {
        let n = self.successors.len();
        let mut t = Tarjan {
            index: vec![UNSEEN; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            stack: Vec::new(),
            calls: Vec::new(),
            next_index: 0,
        };
        let mut component = vec![UNSEEN; n];
        let mut next_component = 0;
        for start in 0..n {
            if t.index[start] != UNSEEN {
                continue;
            }
            t.enter(start);
            while let Some(top) = t.calls.last_mut() {
                let v = top.0;
                if let Some(&w) = self.successors[v].get(top.1) {
                    top.1 += 1;
                    if t.index[w] == UNSEEN {
                        t.enter(w);
                    } else if t.on_stack[w] {
                        t.low[v] = t.low[v].min(t.index[w]);
                    }
                    continue;
                }
                t.calls.pop();
                if let Some(&(parent, _)) = t.calls.last() {
                    t.low[parent] = t.low[parent].min(t.low[v]);
                }
                if t.low[v] == t.index[v] {
                    while let Some(w) = t.stack.pop() {
                        t.on_stack[w] = false;
                        component[w] = next_component;
                        if w == v {
                            break;
                        }
                    }
                    next_component += 1;
                }
            }
        }
        component
    }

    /// The back edges of a depth-first search from `start` that stays inside
    /// `start`'s component.
    fn back_edges(&self, start: usize, component: &[usize]) -> Vec<(usize, usize)> {
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            Unseen,
            OnStack,
            Done,
        }
        let mut state: HashMap<usize, State> = HashMap::new();
        let mut out = Vec::new();
        let mut calls: Vec<(usize, usize)> = vec![(start, 0)];
        state.insert(start, State::OnStack);
        while let Some(top) = calls.last_mut() {
            let v = top.0;
            let Some(&w) = self.successors[v].get(top.1) else {
                state.insert(v, State::Done);
                calls.pop();
                continue;
            };
            top.1 += 1;
            if component[w] != component[start] {
                continue;
            }
            match state.get(&w).copied().unwrap_or(State::Unseen) {
                State::Unseen => {
                    state.insert(w, State::OnStack);
                    calls.push((w, 0));
                }
                State::OnStack => out.push((v, w)),
                State::Done => {}
            }
        }
        out
    }
}

const UNSEEN: usize = usize::MAX;

/// The state of Tarjan's algorithm.
struct Tarjan {
    index: Vec<usize>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    /// (node, next successor to look at): the simulated call stack.
    calls: Vec<(usize, usize)>,
    next_index: usize,
}

impl Tarjan {
    fn enter(&mut self, v: usize) {
        self.index[v] = self.next_index;
        self.low[v] = self.next_index;
        self.next_index += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        self.calls.push((v, 0));
    }
}
