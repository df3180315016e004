//! Protobuf bytes -> `Val` directly, following the model (no
//! `DynamicMessage` in between).
//!
//! Gives the same value as decoding into a `DynamicMessage` and calling
//! [`super::to_val`]. Input this fast path does not handle — a singular
//! message field that occurs twice (protobuf merges those), groups, wire
//! types that do not match the field, malformed bytes, nesting deeper than
//! the decoder's limit, and any value that does not convert (an unknown enum
//! number, which a later occurrence may replace) — makes it give up with
//! [`Irregular`]; the caller then takes the general path, which merges,
//! converts the final values or reports the error.

use prost_reflect::{DynamicMessage, MessageDescriptor};
use wasmtime::component::Val;

use super::canonical::canonical_encode;
use super::support::{any_val, seconds_nanos_val};
use super::to_val::{bytes_val, value as proto_to_val};
use super::wire::{I32, I64, Irregular, LEN, Reader, VARINT, unzigzag32, unzigzag64};
use super::{BridgeError, json};
use crate::model::{
    FieldMapping, FieldModel, InterfaceModel, MemberModel, MessageId, Scalar, ValueType, WellKnown,
    WireKind,
};

/// A conversion error (an unknown enum number, a JSON value without a JSON
/// form) gives up too, rather than being reported: a later occurrence of
/// the same field may still replace the value (the last one wins), so the
/// general path, which converts only the final values, decides.
impl From<BridgeError> for Irregular {
    fn from(_: BridgeError) -> Self {
        Irregular
    }
}

type Result<T> = std::result::Result<T, Irregular>;

/// Nesting deeper than this goes to the general path (which enforces the
/// protobuf recursion limit).
const MAX_DEPTH: u32 = 64;

/// Decodes the body of a whole message of type `vt`.
pub(crate) fn decode_whole(model: &InterfaceModel, vt: ValueType, bytes: &[u8]) -> Result<Val> {
    match vt {
        ValueType::Message(id) => decode_record(model, id, bytes, 0),
        ValueType::WellKnown(wk) => decode_well_known(model, wk, bytes),
        _ => Err(Irregular),
    }
}

/// Records with more members than this go to the general path (the
/// fast path tracks which members were seen in a bit set).
const MAX_MEMBERS: usize = 128;

/// The value a member starts with before anything is read.
fn initial(member: &MemberModel) -> Val {
    match member {
        MemberModel::Oneof(_) => Val::Option(None),
        MemberModel::Field(f) => match f.mapping {
            FieldMapping::Plain(_) | FieldMapping::EmptyPresence => Val::Bool(false),
            FieldMapping::Optional(_) => Val::Option(None),
            FieldMapping::EmptyCount => Val::U32(0),
            FieldMapping::List(_)
            | FieldMapping::Map { .. }
            | FieldMapping::EmptyMapKeys { .. } => Val::List(Vec::new()),
        },
    }
}

fn decode_record(model: &InterfaceModel, id: MessageId, bytes: &[u8], depth: u32) -> Result<Val> {
    let m = model.message(id);
    if depth > MAX_DEPTH || m.members.len() > MAX_MEMBERS {
        return Err(Irregular);
    }
    let mut fields: Vec<(String, Val)> = m
        .members
        .iter()
        .map(|member| (member.wit_name().to_owned(), initial(member)))
        .collect();
    let mut seen: u128 = 0;
    let mut r = Reader::new(bytes);
    while !r.done() {
        let (number, wt) = r.key()?;
        let Some((mi, ci)) = m.member_of(number) else {
            if m.extendable {
                // Perhaps an extension: protobuf decodes (and checks) it.
                return Err(Irregular);
            }
            r.skip(wt)?;
            continue;
        };
        let bit = 1u128 << mi;
        let slot = &mut fields[mi].1;
        match &m.members[mi] {
            MemberModel::Field(f) => {
                read_field(model, f, wt, &mut r, slot, seen & bit != 0, depth)?;
            }
            MemberModel::Oneof(o) => {
                let case = &o.cases[ci];
                let payload = match case.payload {
                    None => {
                        // Groups take the general path.
                        expect_len(case.wire, wt)?;
                        empty_body(&case.descriptor, r.len_delimited()?)?;
                        None
                    }
                    Some(vt) => {
                        let same_case = seen & bit != 0
                            && matches!(&*slot, Val::Option(Some(v))
                                if matches!(&**v, Val::Variant(name, _) if *name == case.wit_name));
                        if same_case && vt_is_message(vt) {
                            return Err(Irregular);
                        }
                        Some(Box::new(read_value(
                            model, case.wire, vt, wt, &mut r, depth,
                        )?))
                    }
                };
                *slot = Val::Option(Some(Box::new(Val::Variant(case.wit_name.clone(), payload))));
            }
        }
        seen |= bit;
    }
    for (mi, member) in m.members.iter().enumerate() {
        if let MemberModel::Field(f) = member {
            let slot = &mut fields[mi].1;
            match f.mapping {
                FieldMapping::Plain(vt) if seen & (1u128 << mi) == 0 => {
                    *slot = proto_to_val(model, vt, &f.descriptor.default_value())?;
                }
                FieldMapping::Map { .. } | FieldMapping::EmptyMapKeys { .. } => {
                    if let Val::List(items) = slot {
                        sort_entries(items, matches!(f.mapping, FieldMapping::Map { .. }));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(Val::Record(fields))
}

/// Orders map entries (tuples) or keys by key, keeping the last occurrence
/// of a repeated key, as protobuf does.
fn sort_entries(items: &mut Vec<Val>, tuples: bool) {
    fn key(v: &Val, tuples: bool) -> &Val {
        match v {
            Val::Tuple(kv) if tuples && !kv.is_empty() => &kv[0],
            other => other,
        }
    }
    items.reverse();
    items.sort_by(|a, b| key_cmp(key(a, tuples), key(b, tuples)));
    items.dedup_by(|later, earlier| key_cmp(key(later, tuples), key(earlier, tuples)).is_eq());
}

/// The order of map keys (as `MapKey` orders them).
fn key_cmp(a: &Val, b: &Val) -> std::cmp::Ordering {
    match (a, b) {
        (Val::Bool(x), Val::Bool(y)) => x.cmp(y),
        (Val::S32(x), Val::S32(y)) => x.cmp(y),
        (Val::S64(x), Val::S64(y)) => x.cmp(y),
        (Val::U32(x), Val::U32(y)) => x.cmp(y),
        (Val::U64(x), Val::U64(y)) => x.cmp(y),
        (Val::String(x), Val::String(y)) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    }
}

fn vt_is_message(vt: ValueType) -> bool {
    matches!(
        vt,
        ValueType::Message(_) | ValueType::WellKnown(_) | ValueType::RecursionBreak(_)
    )
}

fn expect(actual: u8, wanted: u8) -> Result<()> {
    if actual == wanted {
        Ok(())
    } else {
        Err(Irregular)
    }
}

/// A length-delimited occurrence of a field written that way (a proto2
/// group is not: its occurrences take the general path).
fn expect_len(wire: WireKind, actual: u8) -> Result<()> {
    if wire == WireKind::Group {
        return Err(Irregular);
    }
    expect(actual, LEN)
}

fn read_field(
    model: &InterfaceModel,
    f: &FieldModel,
    wt: u8,
    r: &mut Reader<'_>,
    slot: &mut Val,
    seen: bool,
    depth: u32,
) -> Result<()> {
    match f.mapping {
        FieldMapping::Plain(vt) => {
            if seen && vt_is_message(vt) {
                return Err(Irregular);
            }
            *slot = read_value(model, f.wire, vt, wt, r, depth)?;
        }
        FieldMapping::Optional(vt) => {
            if seen && vt_is_message(vt) {
                return Err(Irregular);
            }
            *slot = Val::Option(Some(Box::new(read_value(model, f.wire, vt, wt, r, depth)?)));
        }
        FieldMapping::List(vt) => {
            let Val::List(items) = slot else {
                return Err(Irregular);
            };
            if wt == LEN && f.wire.packable() {
                let mut packed = Reader::new(r.len_delimited()?);
                while !packed.done() {
                    items.push(read_scalar(model, f.wire, vt, &mut packed)?);
                }
            } else {
                items.push(read_value(model, f.wire, vt, wt, r, depth)?);
            }
        }
        FieldMapping::Map { key, value: vt } => {
            let (kw, vw) = f.map_wire.ok_or(Irregular)?;
            expect(wt, LEN)?;
            let mut entry = Reader::new(r.len_delimited()?);
            let mut k: Option<Val> = None;
            let mut v: Option<Val> = None;
            while !entry.done() {
                match entry.key()? {
                    (1, ewt) => {
                        k = Some(read_value(
                            model,
                            kw,
                            ValueType::Scalar(key),
                            ewt,
                            &mut entry,
                            0,
                        )?)
                    }
                    (2, ewt) => {
                        if v.is_some() && vt_is_message(vt) {
                            return Err(Irregular);
                        }
                        v = Some(read_value(model, vw, vt, ewt, &mut entry, depth)?);
                    }
                    (_, ewt) => entry.skip(ewt)?,
                }
            }
            let k = k.unwrap_or_else(|| default_key(key));
            let v = match v {
                Some(v) => v,
                None => default_map_value(model, f, vt)?,
            };
            let Val::List(items) = slot else {
                return Err(Irregular);
            };
            items.push(Val::Tuple(vec![k, v]));
        }
        FieldMapping::EmptyPresence => {
            expect_len(f.wire, wt)?;
            empty_body(&f.descriptor, r.len_delimited()?)?;
            *slot = Val::Bool(true);
        }
        FieldMapping::EmptyCount => {
            expect_len(f.wire, wt)?;
            empty_body(&f.descriptor, r.len_delimited()?)?;
            let Val::U32(n) = slot else {
                return Err(Irregular);
            };
            *n = n.checked_add(1).ok_or(Irregular)?;
        }
        FieldMapping::EmptyMapKeys { key } => {
            let (kw, _) = f.map_wire.ok_or(Irregular)?;
            expect(wt, LEN)?;
            let mut entry = Reader::new(r.len_delimited()?);
            let mut k = None;
            while !entry.done() {
                match entry.key()? {
                    (1, ewt) => {
                        k = Some(read_value(
                            model,
                            kw,
                            ValueType::Scalar(key),
                            ewt,
                            &mut entry,
                            0,
                        )?)
                    }
                    (2, ewt) => {
                        expect(ewt, LEN)?;
                        let body = entry.len_delimited()?;
                        let value_field = match f.descriptor.kind() {
                            prost_reflect::Kind::Message(e) => e.map_entry_value_field(),
                            _ => return Err(Irregular),
                        };
                        empty_body(&value_field, body)?;
                    }
                    (_, ewt) => entry.skip(ewt)?,
                }
            }
            let Val::List(items) = slot else {
                return Err(Irregular);
            };
            items.push(k.unwrap_or_else(|| default_key(key)));
        }
    }
    Ok(())
}

/// Checks the body of a value of an empty message type (field `field`),
/// which the guest sees only as "set": well-formed fields, as protobuf
/// would find them; anything it might decode otherwise (an extension)
/// gives up.
fn empty_body(field: &prost_reflect::FieldDescriptor, body: &[u8]) -> Result<()> {
    if body.is_empty() {
        return Ok(());
    }
    if let prost_reflect::Kind::Message(m) = field.kind()
        && m.extension_ranges().next().is_some()
    {
        return Err(Irregular);
    }
    Reader::new(body).skip_fields()
}

fn default_key(key: Scalar) -> Val {
    match key {
        Scalar::Bool => Val::Bool(false),
        Scalar::S32 => Val::S32(0),
        Scalar::S64 => Val::S64(0),
        Scalar::U32 => Val::U32(0),
        Scalar::U64 => Val::U64(0),
        _ => Val::String(String::new()),
    }
}

fn default_map_value(model: &InterfaceModel, f: &FieldModel, vt: ValueType) -> Result<Val> {
    let prost_reflect::Kind::Message(entry) = f.descriptor.kind() else {
        return Err(Irregular);
    };
    let value_field = entry.map_entry_value_field();
    Ok(proto_to_val(model, vt, &value_field.default_value())?)
}

/// One occurrence of a value (its key already read). Inlined: returning a
/// `Val` through memory from a call costs a store-forwarding stall per
/// field, a large share of the whole decode.
#[inline(always)]
fn read_value(
    model: &InterfaceModel,
    wire: WireKind,
    vt: ValueType,
    wt: u8,
    r: &mut Reader<'_>,
    depth: u32,
) -> Result<Val> {
    match vt {
        ValueType::Scalar(_) | ValueType::Enum(_) => {
            let want = match wire {
                WireKind::Double | WireKind::Fixed64 | WireKind::Sfixed64 => I64,
                WireKind::Float | WireKind::Fixed32 | WireKind::Sfixed32 => I32,
                WireKind::String | WireKind::Bytes => LEN,
                _ => VARINT,
            };
            expect(wt, want)?;
            read_scalar(model, wire, vt, r)
        }
        ValueType::Message(id) => {
            if wire == WireKind::Group {
                return Err(Irregular);
            }
            expect(wt, LEN)?;
            decode_record(model, id, r.len_delimited()?, depth + 1)
        }
        ValueType::WellKnown(wk) => {
            expect(wt, LEN)?;
            decode_well_known(model, wk, r.len_delimited()?)
        }
        ValueType::RecursionBreak(id) => {
            expect_len(wire, wt)?;
            let body = r.len_delimited()?;
            let desc = model.message(id).descriptor.clone();
            let msg = DynamicMessage::decode(desc, body).map_err(|_| Irregular)?;
            Ok(bytes_val(&canonical_encode(&msg)))
        }
    }
}

/// A scalar or enum value (no key).
#[inline(always)]
fn read_scalar(
    model: &InterfaceModel,
    wire: WireKind,
    vt: ValueType,
    r: &mut Reader<'_>,
) -> Result<Val> {
    if let ValueType::Enum(id) = vt {
        let n = r.varint()? as i32;
        let e = model.enum_model(id);
        return e
            .case_by_number(n)
            .map(|c| Val::Enum(c.wit_name.clone()))
            .ok_or(Irregular);
    }
    Ok(match wire {
        WireKind::Double => Val::Float64(f64::from_bits(r.fixed64()?)),
        WireKind::Float => Val::Float32(f32::from_bits(r.fixed32()?)),
        WireKind::Int32 => Val::S32(r.varint()? as i32),
        WireKind::Int64 => Val::S64(r.varint()? as i64),
        WireKind::Uint32 => Val::U32(r.varint()? as u32),
        WireKind::Uint64 => Val::U64(r.varint()?),
        WireKind::Sint32 => Val::S32(unzigzag32(r.varint()?)),
        WireKind::Sint64 => Val::S64(unzigzag64(r.varint()?)),
        WireKind::Fixed32 => Val::U32(r.fixed32()?),
        WireKind::Fixed64 => Val::U64(r.fixed64()?),
        WireKind::Sfixed32 => Val::S32(r.fixed32()? as i32),
        WireKind::Sfixed64 => Val::S64(r.fixed64()? as i64),
        WireKind::Bool => Val::Bool(r.varint()? != 0),
        WireKind::String => {
            let raw = r.len_delimited()?;
            Val::String(std::str::from_utf8(raw).map_err(|_| Irregular)?.to_owned())
        }
        WireKind::Bytes => bytes_val(r.len_delimited()?),
        WireKind::Enum | WireKind::Message | WireKind::Group => return Err(Irregular),
    })
}

fn decode_well_known(model: &InterfaceModel, wk: WellKnown, bytes: &[u8]) -> Result<Val> {
    let mut r = Reader::new(bytes);
    match wk {
        WellKnown::Timestamp | WellKnown::Duration => {
            let (mut seconds, mut nanos) = (0i64, 0i32);
            while !r.done() {
                match r.key()? {
                    (1, VARINT) => seconds = r.varint()? as i64,
                    (2, VARINT) => nanos = r.varint()? as i32,
                    (1 | 2, _) => return Err(Irregular),
                    (_, wt) => r.skip(wt)?,
                }
            }
            Ok(seconds_nanos_val(seconds, nanos))
        }
        WellKnown::Any => {
            let (mut url, mut value): (&[u8], &[u8]) = (&[], &[]);
            while !r.done() {
                match r.key()? {
                    (1, LEN) => url = r.len_delimited()?,
                    (2, LEN) => value = r.len_delimited()?,
                    (1 | 2, _) => return Err(Irregular),
                    (_, wt) => r.skip(wt)?,
                }
            }
            let url = std::str::from_utf8(url).map_err(|_| Irregular)?;
            Ok(any_val(url.to_owned(), value))
        }
        WellKnown::FieldMask => {
            let mut paths = Vec::new();
            while !r.done() {
                match r.key()? {
                    (1, LEN) => {
                        let raw = r.len_delimited()?;
                        let s = std::str::from_utf8(raw).map_err(|_| Irregular)?;
                        paths.push(Val::String(s.to_owned()));
                    }
                    (1, _) => return Err(Irregular),
                    (_, wt) => r.skip(wt)?,
                }
            }
            Ok(Val::List(paths))
        }
        WellKnown::Struct | WellKnown::Value | WellKnown::ListValue => {
            let name = match wk {
                WellKnown::Struct => "google.protobuf.Struct",
                WellKnown::Value => "google.protobuf.Value",
                _ => "google.protobuf.ListValue",
            };
            let desc: MessageDescriptor =
                model.pool().get_message_by_name(name).ok_or(Irregular)?;
            let msg = DynamicMessage::decode(desc, bytes).map_err(|_| Irregular)?;
            Ok(Val::String(json::to_json(&msg)?))
        }
        WellKnown::Wrapper(s) => {
            let wire = match s {
                Scalar::Bool => WireKind::Bool,
                Scalar::S32 => WireKind::Int32,
                Scalar::S64 => WireKind::Int64,
                Scalar::U32 => WireKind::Uint32,
                Scalar::U64 => WireKind::Uint64,
                Scalar::F32 => WireKind::Float,
                Scalar::F64 => WireKind::Double,
                Scalar::String => WireKind::String,
                Scalar::Bytes => WireKind::Bytes,
            };
            let vt = ValueType::Scalar(s);
            let mut value = None;
            while !r.done() {
                match r.key()? {
                    (1, wt) => value = Some(read_value(model, wire, vt, wt, &mut r, 0)?),
                    (_, wt) => r.skip(wt)?,
                }
            }
            match value {
                Some(v) => Ok(v),
                None => Ok(match s {
                    Scalar::Bool => Val::Bool(false),
                    Scalar::S32 => Val::S32(0),
                    Scalar::S64 => Val::S64(0),
                    Scalar::U32 => Val::U32(0),
                    Scalar::U64 => Val::U64(0),
                    Scalar::F32 => Val::Float32(0.0),
                    Scalar::F64 => Val::Float64(0.0),
                    Scalar::String => Val::String(String::new()),
                    Scalar::Bytes => Val::List(Vec::new()),
                }),
            }
        }
    }
}
