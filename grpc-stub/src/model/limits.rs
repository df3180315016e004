//! Keeping every record within the component model's type limits.
//!
//! wasmparser (and so wasmtime) rejects a component whose types nest deeper
//! than 100 levels or whose "effective size" (the type tree with shared
//! types counted at every use) reaches 1,000,000. Long chains of nested
//! messages or messages reused many times over can exceed either, even
//! without recursion. After the walk, records are checked bottom-up and,
//! where a record is over budget, its deepest (or largest) message-typed
//! value is replaced by the message's protobuf encoding (`list<u8>`, the
//! same fallback as for recursion). The choice is deterministic.

use super::build::Graph;
use super::types::{FieldMapping, MemberModel, MessageModel, Scalar, ValueType, WellKnown};
use crate::Error;

/// The deepest a record may nest. The component model allows 100; the
/// largest wrapper the generated functions put around a record is
/// `result<option<record>, ...>` (two levels), and a little headroom stays.
pub const MAX_RECORD_DEPTH: u32 = 96;

/// The largest effective type size one record may have.
pub const MAX_RECORD_SIZE: u64 = 100_000;

/// The largest estimated effective size of everything a model contributes
/// to a component's imports. The component model's limit (1,000,000) counts
/// all imports of a component together, so half is left for the rest.
pub const MAX_MODEL_SIZE: u64 = 500_000;

/// The most fields a record, cases a variant and cases an enum may have
/// (wasmparser refuses a component type with more).
pub const MAX_TYPE_MEMBERS: usize = 10_000;

/// Depth and effective size of a WIT type, as wasmparser counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Metrics {
    depth: u32,
    size: u64,
}

const LEAF: Metrics = Metrics { depth: 1, size: 1 };

impl Metrics {
    /// A one-child wrapper (`option`, `list`).
    fn wrap(self) -> Metrics {
        Metrics {
            depth: self.depth.saturating_add(1),
            size: self.size.saturating_add(1),
        }
    }

    /// An aggregate (`record`, `tuple`, `variant`) of `children`.
    fn aggregate(children: impl IntoIterator<Item = Metrics>) -> Metrics {
        children.into_iter().fold(LEAF, |acc, c| Metrics {
            depth: acc.depth.max(c.depth.saturating_add(1)),
            size: acc.size.saturating_add(c.size),
        })
    }
}

fn scalar(s: Scalar) -> Metrics {
    match s {
        Scalar::Bytes => LEAF.wrap(),
        _ => LEAF,
    }
}

fn value(v: ValueType, done: &[Option<Metrics>]) -> Metrics {
    match v {
        ValueType::Scalar(s) => scalar(s),
        ValueType::Enum(_) => LEAF,
        ValueType::Message(id) => done.get(id.index()).copied().flatten().unwrap_or(LEAF),
        ValueType::WellKnown(wk) => match wk {
            WellKnown::Timestamp | WellKnown::Duration => Metrics::aggregate([LEAF, LEAF]),
            WellKnown::Any => Metrics::aggregate([LEAF, LEAF.wrap()]),
            WellKnown::FieldMask => LEAF.wrap(),
            WellKnown::Struct | WellKnown::Value | WellKnown::ListValue => LEAF,
            WellKnown::Wrapper(s) => scalar(s),
        },
        ValueType::RecursionBreak(_) => LEAF.wrap(),
    }
}

fn mapping(m: &FieldMapping, done: &[Option<Metrics>]) -> Metrics {
    match *m {
        FieldMapping::Plain(v) => value(v, done),
        FieldMapping::Optional(v) | FieldMapping::List(v) => value(v, done).wrap(),
        FieldMapping::Map { key, value: v } => {
            Metrics::aggregate([scalar(key), value(v, done)]).wrap()
        }
        FieldMapping::EmptyPresence | FieldMapping::EmptyCount => LEAF,
        FieldMapping::EmptyMapKeys { key } => scalar(key).wrap(),
    }
}

fn record(m: &MessageModel, done: &[Option<Metrics>]) -> Metrics {
    Metrics::aggregate(m.members.iter().map(|member| {
        match member {
            MemberModel::Field(f) => mapping(&f.mapping, done),
            MemberModel::Oneof(o) => Metrics::aggregate(
                o.cases
                    .iter()
                    .filter_map(|c| c.payload)
                    .map(|p| value(p, done)),
            )
            .wrap(),
        }
    }))
}

/// Every message-typed value slot of a record, in member order.
fn message_slots(m: &mut MessageModel) -> Vec<&mut ValueType> {
    let mut slots = Vec::new();
    for member in &mut m.members {
        match member {
            MemberModel::Field(f) => match &mut f.mapping {
                FieldMapping::Plain(v) | FieldMapping::Optional(v) | FieldMapping::List(v) => {
                    slots.push(v)
                }
                FieldMapping::Map { value, .. } => slots.push(value),
                FieldMapping::EmptyPresence
                | FieldMapping::EmptyCount
                | FieldMapping::EmptyMapKeys { .. } => {}
            },
            MemberModel::Oneof(o) => {
                slots.extend(o.cases.iter_mut().filter_map(|c| c.payload.as_mut()));
            }
        }
    }
    slots.retain(|v| matches!(v, ValueType::Message(_)));
    slots
}

/// Depth and size of every finished record, bottom-up, as things stand.
fn all_metrics(graph: &Graph) -> Vec<Option<Metrics>> {
    let mut done: Vec<Option<Metrics>> = vec![None; graph.messages.len()];
    for &id in &graph.finished {
        if let Some(m) = &graph.messages[id.index()] {
            done[id.index()] = Some(record(m, &done));
        }
    }
    done
}

/// A generous estimate of the effective size of everything the model puts
/// into a component's imports: each record counted twice (its definition in
/// `types` and a possible re-use in another interface), and each method
/// with its request, response, `rpc-status` and `call-options`.
fn estimate_total(
    graph: &Graph,
    done: &[Option<Metrics>],
    methods: &[(Option<ValueType>, Option<ValueType>)],
) -> u64 {
    const PER_METHOD: u64 = 200;
    let records: u64 = done.iter().flatten().map(|m| m.size).sum();
    let calls: u64 = methods
        .iter()
        .map(|(req, resp)| {
            let size = |v: &Option<ValueType>| v.map(|v| value(v, done).size).unwrap_or(0);
            PER_METHOD + size(req) + size(resp)
        })
        .sum();
    let _ = graph;
    records.saturating_mul(2).saturating_add(calls)
}

/// Replaces the slot of `message` with the deepest (or largest) message by
/// bytes. Returns false when the record has no message slot left.
fn break_one(message: &mut MessageModel, done: &[Option<Metrics>], by_depth: bool) -> bool {
    let mut slots = message_slots(message);
    let mut best: Option<(usize, Metrics)> = None;
    for (i, slot) in slots.iter().enumerate() {
        let m = value(**slot, done);
        let better = match best {
            None => true,
            Some((_, b)) if by_depth => m.depth > b.depth,
            Some((_, b)) => m.size > b.size,
        };
        if better {
            best = Some((i, m));
        }
    }
    let Some((i, _)) = best else {
        return false;
    };
    if let ValueType::Message(target) = *slots[i] {
        *slots[i] = ValueType::RecursionBreak(target);
    }
    true
}

/// Refuses a record, variant or enum with more members than a component
/// type may have ([`MAX_TYPE_MEMBERS`]), naming it: the WIT would be
/// written, and every component built on it refused.
fn check_counts(graph: &Graph) -> Result<(), Error> {
    let over = |item: &str, count: usize, what: &str| Error::Unmappable {
        item: item.to_owned(),
        reason: format!(
            "its {count} {what} are more than the {MAX_TYPE_MEMBERS} a component type may have"
        ),
    };
    for e in &graph.enums {
        if e.cases.len() > MAX_TYPE_MEMBERS {
            return Err(over(e.descriptor.full_name(), e.cases.len(), "enum values"));
        }
    }
    for message in graph.messages.iter().flatten() {
        if message.members.len() > MAX_TYPE_MEMBERS {
            return Err(over(
                message.full_name(),
                message.members.len(),
                "fields (a WIT record's)",
            ));
        }
        for member in &message.members {
            if let MemberModel::Oneof(oneof) = member
                && oneof.cases.len() > MAX_TYPE_MEMBERS
            {
                return Err(over(
                    &format!("{}.{}", message.full_name(), oneof.proto_name),
                    oneof.cases.len(),
                    "oneof cases (a WIT variant's)",
                ));
            }
        }
    }
    Ok(())
}

/// Applies the limits to every record of `graph` (bottom-up), then to the
/// model as a whole. `methods` are the request/response types of the
/// exposed methods.
pub(crate) fn apply(
    graph: &mut Graph,
    methods: &[(Option<ValueType>, Option<ValueType>)],
) -> Result<(), Error> {
    check_counts(graph)?;
    let mut done: Vec<Option<Metrics>> = vec![None; graph.messages.len()];
    for &id in &graph.finished.clone() {
        let Some(message) = graph.messages[id.index()].as_mut() else {
            continue;
        };
        loop {
            let metrics = record(message, &done);
            let too_deep = metrics.depth > MAX_RECORD_DEPTH;
            if !too_deep && metrics.size <= MAX_RECORD_SIZE {
                done[id.index()] = Some(metrics);
                break;
            }
            if !break_one(message, &done, too_deep) {
                return Err(Error::Unmappable {
                    item: message.full_name().to_owned(),
                    reason: format!(
                        "its WIT record exceeds the component model's type limits (depth {}, \
                         size {}) even with every nested message passed as bytes",
                        metrics.depth, metrics.size
                    ),
                });
            }
        }
    }
    // The whole model: break the largest slot of the largest record until
    // the estimate fits.
    loop {
        let done = all_metrics(graph);
        let total = estimate_total(graph, &done, methods);
        if total <= MAX_MODEL_SIZE {
            return Ok(());
        }
        let mut order: Vec<(u64, usize)> = done
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.map(|m| (m.size, i)))
            .collect();
        order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut changed = false;
        for (_, i) in order {
            if let Some(message) = graph.messages[i].as_mut()
                && break_one(message, &done, false)
            {
                changed = true;
                break;
            }
        }
        if !changed {
            return Err(Error::Unmappable {
                item: "(interface model)".to_owned(),
                reason: format!(
                    "the exposed messages and services are too large for the component \
                     model's type size limit (estimated {total}, over {} message types) even \
                     with every nested message passed as bytes; expose fewer services or \
                     files (a dependency's `services`, or fewer `protos`)",
                    graph.messages.iter().flatten().count()
                ),
            });
        }
    }
}
