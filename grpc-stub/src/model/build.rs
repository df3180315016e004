//! Walking the descriptor graph: which messages and enums are reachable from
//! the exposed roots, how each field maps, and where recursion is broken.
//!
//! The walk is an explicit-stack depth-first search (no Rust recursion, so
//! deeply nested protos cannot overflow the stack). Messages are expanded
//! when first reached. Which fields break recursion
//! ([`ValueType::RecursionBreak`]) is decided beforehand from the message
//! types alone ([`super::cycles`]), not by the walk: removing those edges
//! leaves an acyclic type graph, which is what WIT requires, and the same
//! records whichever roots are exposed. A message first reached through a
//! break is expanded once the walk from the current root is done.

use std::collections::{HashMap, VecDeque};

use prost_reflect::{Cardinality, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};

use super::cycles::Breaks;
use super::naming::{NameAllocator, kebab};
use super::types::{
    CaseModel, EnumCase, EnumId, EnumModel, FieldMapping, FieldModel, MemberModel, MessageId,
    MessageModel, OneofModel, PackageId, Scalar, ValueType, WellKnown, WireKind,
};
use crate::Error;

/// What a message type turns into where it is used.
enum Class {
    /// A message with no fields: elided.
    Empty,
    /// Maps to this value type (already known, well-known, or a back-edge).
    Value(ValueType),
    /// A message seen for the first time: it must be expanded.
    New(MessageId, MessageDescriptor),
}

/// What one field resolved to, before grouping oneofs.
enum Resolved {
    Field(FieldMapping),
    Case(Option<ValueType>),
}

struct Frame {
    id: MessageId,
    descriptor: MessageDescriptor,
    fields: Vec<FieldDescriptor>,
    next: usize,
    resolved: Vec<(FieldDescriptor, Resolved)>,
}

impl Frame {
    fn new(id: MessageId, descriptor: MessageDescriptor) -> Self {
        let mut fields: Vec<FieldDescriptor> = descriptor.fields().collect();
        fields.sort_by_key(FieldDescriptor::number);
        Self {
            id,
            descriptor,
            fields,
            next: 0,
            resolved: Vec::new(),
        }
    }
}

/// Accumulates the reachable messages and enums.
pub(crate) struct Graph {
    /// Expanded messages; `None` until finished.
    pub(crate) messages: Vec<Option<MessageModel>>,
    pub(crate) message_ids: HashMap<String, MessageId>,
    pub(crate) enums: Vec<EnumModel>,
    pub(crate) enum_ids: HashMap<String, EnumId>,
    /// Messages in the order they were finished (post-order: every message
    /// comes after the messages it contains, except through breaks).
    pub(crate) finished: Vec<MessageId>,
    /// Whether each registered message's expansion has begun.
    started: Vec<bool>,
    /// Messages registered through a break, to expand later.
    pending: VecDeque<(MessageId, MessageDescriptor)>,
    breaks: Breaks,
}

impl Graph {
    /// An empty graph whose walk breaks recursion at `breaks`.
    pub(crate) fn new(breaks: Breaks) -> Self {
        Self {
            messages: Vec::new(),
            message_ids: HashMap::new(),
            enums: Vec::new(),
            enum_ids: HashMap::new(),
            finished: Vec::new(),
            started: Vec::new(),
            pending: VecDeque::new(),
            breaks,
        }
    }

    /// The value type a message has where it is used as a whole (a method's
    /// request or response), expanding it if needed. `None` for empty messages.
    pub(crate) fn visit_message(
        &mut self,
        descriptor: &MessageDescriptor,
    ) -> Result<Option<ValueType>, Error> {
        match self.classify(None, descriptor) {
            Class::Empty => Ok(None),
            Class::Value(v) => Ok(Some(v)),
            Class::New(id, desc) => {
                self.expand(id, desc)?;
                Ok(Some(ValueType::Message(id)))
            }
        }
    }

    /// Registers an enum (computing its cases) and returns its id.
    pub(crate) fn visit_enum(&mut self, descriptor: &EnumDescriptor) -> EnumId {
        if let Some(&id) = self.enum_ids.get(descriptor.full_name()) {
            return id;
        }
        let id = EnumId::from_index(self.enums.len());
        self.enums.push(enum_model(descriptor));
        self.enum_ids.insert(descriptor.full_name().to_owned(), id);
        id
    }

    /// What `descriptor` maps to as the type of a field of message `from`
    /// (`None` for a root). A `New` message must be expanded right away.
    fn classify(&mut self, from: Option<&str>, descriptor: &MessageDescriptor) -> Class {
        if let Some(wk) = WellKnown::from_full_name(descriptor.full_name()) {
            return Class::Value(ValueType::WellKnown(wk));
        }
        if descriptor.fields().len() == 0 {
            return Class::Empty;
        }
        let broken = from.is_some_and(|from| self.breaks.contains(from, descriptor.full_name()));
        let id = match self.message_ids.get(descriptor.full_name()) {
            Some(&id) => id,
            None => {
                let id = MessageId::from_index(self.messages.len());
                self.messages.push(None);
                self.started.push(false);
                self.message_ids
                    .insert(descriptor.full_name().to_owned(), id);
                if broken {
                    self.pending.push_back((id, descriptor.clone()));
                }
                id
            }
        };
        if broken {
            return Class::Value(ValueType::RecursionBreak(id));
        }
        if self.messages[id.index()].is_some() {
            return Class::Value(ValueType::Message(id));
        }
        if self.started[id.index()] {
            // On the stack, reached again without a break: impossible, as
            // the edges left once the breaks are removed are acyclic. Stay
            // valid WIT anyway.
            debug_assert!(false, "unbroken cycle through {}", descriptor.full_name());
            return Class::Value(ValueType::RecursionBreak(id));
        }
        self.started[id.index()] = true;
        Class::New(id, descriptor.clone())
    }

    /// Expands `root` and everything newly reachable from it (through
    /// breaks too).
    fn expand(&mut self, root: MessageId, descriptor: MessageDescriptor) -> Result<(), Error> {
        let mut stack = vec![Frame::new(root, descriptor)];
        loop {
            let Some(frame) = stack.last_mut() else {
                let Some((id, descriptor)) = self.pending.pop_front() else {
                    return Ok(());
                };
                if !self.started[id.index()] {
                    self.started[id.index()] = true;
                    stack.push(Frame::new(id, descriptor));
                }
                continue;
            };
            if frame.next == frame.fields.len() {
                let Some(done) = stack.pop() else { continue };
                let id = done.id;
                self.messages[id.index()] = Some(finish_message(done));
                self.finished.push(id);
                continue;
            }
            let field = frame.fields[frame.next].clone();
            frame.next += 1;
            let (resolved, push) = self.resolve_field(&field)?;
            frame.resolved.push((field, resolved));
            if let Some((id, desc)) = push {
                stack.push(Frame::new(id, desc));
            }
        }
    }

    /// Maps a field; returns a message to expand next when the field's type
    /// is reached for the first time.
    fn resolve_field(
        &mut self,
        field: &FieldDescriptor,
    ) -> Result<(Resolved, Option<(MessageId, MessageDescriptor)>), Error> {
        let mut push = None;
        let from = field.parent_message().full_name();
        let resolved = if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return Err(internal(field, "map field without an entry message"));
            };
            let key_field = entry.map_entry_key_field();
            let key = Scalar::from_kind(&key_field.kind())
                .filter(|s| !matches!(s, Scalar::F32 | Scalar::F64 | Scalar::Bytes))
                .ok_or_else(|| Error::Unmappable {
                    item: field.full_name().to_owned(),
                    reason: "map keys must be integral, bool or string".to_owned(),
                })?;
            match self.value_of(from, &entry.map_entry_value_field().kind(), &mut push) {
                None => Resolved::Field(FieldMapping::EmptyMapKeys { key }),
                Some(value) => Resolved::Field(FieldMapping::Map { key, value }),
            }
        } else if field.is_list() {
            match self.value_of(from, &field.kind(), &mut push) {
                None => Resolved::Field(FieldMapping::EmptyCount),
                Some(v) => Resolved::Field(FieldMapping::List(v)),
            }
        } else if field
            .containing_oneof()
            .is_some_and(|oneof| !oneof.is_synthetic())
        {
            Resolved::Case(self.value_of(from, &field.kind(), &mut push))
        } else {
            let value = self.value_of(from, &field.kind(), &mut push);
            let is_message = matches!(field.kind(), Kind::Message(_));
            Resolved::Field(match value {
                None => FieldMapping::EmptyPresence,
                Some(v) if field.cardinality() == Cardinality::Required => FieldMapping::Plain(v),
                Some(v) if is_message || field.supports_presence() => FieldMapping::Optional(v),
                Some(v) => FieldMapping::Plain(v),
            })
        };
        Ok((resolved, push))
    }

    /// The value type of a field kind; `None` for an empty message.
    fn value_of(
        &mut self,
        from: &str,
        kind: &Kind,
        push: &mut Option<(MessageId, MessageDescriptor)>,
    ) -> Option<ValueType> {
        match kind {
            Kind::Message(m) => match self.classify(Some(from), m) {
                Class::Empty => None,
                Class::Value(v) => Some(v),
                Class::New(id, desc) => {
                    *push = Some((id, desc));
                    Some(ValueType::Message(id))
                }
            },
            Kind::Enum(e) => Some(ValueType::Enum(self.visit_enum(e))),
            other => Scalar::from_kind(other).map(ValueType::Scalar),
        }
    }
}

fn internal(field: &FieldDescriptor, what: &str) -> Error {
    Error::Unmappable {
        item: field.full_name().to_owned(),
        reason: what.to_owned(),
    }
}

/// Groups oneof cases, orders members by field number and names them.
fn finish_message(frame: Frame) -> MessageModel {
    enum Pending {
        Field(FieldDescriptor, FieldMapping),
        Oneof(String, Vec<(FieldDescriptor, Option<ValueType>)>),
    }
    let mut pending: Vec<Pending> = Vec::new();
    let mut oneof_slot: HashMap<String, usize> = HashMap::new();
    for (field, resolved) in frame.resolved {
        match resolved {
            Resolved::Field(mapping) => pending.push(Pending::Field(field, mapping)),
            Resolved::Case(payload) => {
                let Some(oneof) = field.containing_oneof() else {
                    continue;
                };
                let slot = *oneof_slot
                    .entry(oneof.name().to_owned())
                    .or_insert_with(|| {
                        pending.push(Pending::Oneof(oneof.name().to_owned(), vec![]));
                        pending.len() - 1
                    });
                if let Pending::Oneof(_, cases) = &mut pending[slot] {
                    cases.push((field, payload));
                }
            }
        }
    }
    let bases: Vec<String> = pending
        .iter()
        .map(|p| match p {
            Pending::Field(f, _) => kebab(f.name()),
            Pending::Oneof(name, _) => kebab(name),
        })
        .collect();
    let names = NameAllocator::default().allocate(&bases);
    let members = pending
        .into_iter()
        .zip(names)
        .map(|(p, wit_name)| match p {
            Pending::Field(descriptor, mapping) => {
                let map_wire = match descriptor.kind() {
                    Kind::Message(entry) if descriptor.is_map() => Some((
                        WireKind::of(&entry.map_entry_key_field()),
                        WireKind::of(&entry.map_entry_value_field()),
                    )),
                    _ => None,
                };
                MemberModel::Field(FieldModel {
                    wit_name,
                    wire: WireKind::of(&descriptor),
                    packed: descriptor.is_packed(),
                    map_wire,
                    has_presence: descriptor.supports_presence(),
                    descriptor,
                    mapping,
                })
            }
            Pending::Oneof(proto_name, cases) => {
                let case_bases: Vec<String> = cases.iter().map(|(f, _)| kebab(f.name())).collect();
                let case_names = NameAllocator::default().allocate(&case_bases);
                MemberModel::Oneof(OneofModel {
                    wit_name,
                    proto_name,
                    type_name: String::new(),
                    cases: cases
                        .into_iter()
                        .zip(case_names)
                        .map(|((descriptor, payload), wit_name)| CaseModel {
                            wit_name,
                            wire: WireKind::of(&descriptor),
                            descriptor,
                            payload,
                        })
                        .collect(),
                })
            }
        })
        .collect();
    let members: Vec<MemberModel> = members;
    let mut by_number = Vec::new();
    for (mi, member) in members.iter().enumerate() {
        match member {
            MemberModel::Field(f) => by_number.push((f.descriptor.number(), mi as u32, 0)),
            MemberModel::Oneof(o) => {
                for (ci, c) in o.cases.iter().enumerate() {
                    by_number.push((c.descriptor.number(), mi as u32, ci as u32));
                }
            }
        }
    }
    by_number.sort_unstable();
    let extendable = frame.descriptor.extension_ranges().next().is_some();
    MessageModel {
        extendable,
        descriptor: frame.descriptor,
        package: PackageId(0),
        wit_name: String::new(),
        members,
        by_number,
    }
}

/// Names an enum's cases: kebab-case, `ENUM_NAME_` prefix stripped when every
/// value has it and stripping leaves distinct names; aliases (a number seen
/// before) are skipped.
fn enum_model(descriptor: &EnumDescriptor) -> EnumModel {
    // Declaration order (the raw descriptor), keeping the first name of
    // each number.
    let mut seen = HashMap::new();
    let mut values = Vec::new();
    for value in &descriptor.enum_descriptor_proto().value {
        let number = value.number();
        if seen.insert(number, ()).is_none() {
            values.push((value.name().to_owned(), number));
        }
    }
    let full: Vec<String> = values.iter().map(|(n, _)| kebab(n)).collect();
    let prefix = format!("{}-", kebab(descriptor.name()));
    let stripped: Option<Vec<String>> = full
        .iter()
        .map(|n| {
            n.strip_prefix(&prefix)
                .filter(|rest| !rest.is_empty())
                .map(str::to_owned)
        })
        .collect();
    let distinct = |names: &[String]| {
        let mut sorted = names.to_vec();
        sorted.sort();
        sorted.dedup();
        sorted.len()
    };
    let (bases, prefix_stripped) = match stripped {
        Some(s) if distinct(&s) == distinct(&full) => (s, true),
        _ => (full, false),
    };
    let names = NameAllocator::default().allocate(&bases);
    let cases: Vec<EnumCase> = values
        .into_iter()
        .zip(names)
        .map(|((proto_name, number), wit_name)| EnumCase {
            wit_name,
            proto_name,
            number,
        })
        .collect();
    let by_number = cases
        .iter()
        .enumerate()
        .map(|(i, c)| (c.number, i))
        .collect();
    let by_name = cases
        .iter()
        .enumerate()
        .map(|(i, c)| (c.wit_name.clone(), i))
        .collect();
    EnumModel {
        descriptor: descriptor.clone(),
        package: PackageId(0),
        wit_name: String::new(),
        prefix_stripped,
        cases,
        by_number,
        by_name,
    }
}
