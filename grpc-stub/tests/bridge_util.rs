//! Helpers for the value-bridge tests: a seeded random message generator, a
//! semantic message comparison independent of the bridge, a `Val`
//! comparison that treats NaNs of equal bits as equal, and a check of a
//! `Val` against the wasmtime component type the generated WIT defines.
//! Included by other tests with `#[path = "bridge_util.rs"] mod bridge_util;`.
#![allow(dead_code)]

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow, bail};
use prost_reflect::{
    Cardinality, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage,
    Value,
};
use wasmtime::component::types::{ComponentItem, Type};
use wasmtime::component::{Component, Val};
use wasmtime::{Config, Engine};

/// SplitMix64: small, deterministic, good enough to pick shapes.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// How to fill messages.
#[derive(Clone, Copy)]
pub struct GenOptions {
    /// Nesting depth after which message fields stay unset.
    pub max_depth: u32,
    /// Emit enum numbers that have no name (open enums only).
    pub unknown_enum_numbers: bool,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            max_depth: 4,
            unknown_enum_numbers: false,
        }
    }
}

fn gen_string(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "", "a", "Zz", "héllo", "日本", "🦀", " ", "\"q\"", "\\", "\n", "x_y-z", "\u{0}",
    ];
    let n = rng.below(4);
    (0..n).map(|_| rng.pick(PIECES)).collect()
}

fn gen_bytes(rng: &mut Rng) -> Vec<u8> {
    let n = rng.below(6) as usize;
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

fn gen_f64(rng: &mut Rng, finite: bool) -> f64 {
    let specials = [
        0.0,
        -0.0,
        1.5,
        -2.25,
        f64::MAX,
        f64::MIN_POSITIVE,
        1e-300,
        123456789.0,
    ];
    let x = match rng.below(4) {
        0 => rng.pick(&specials),
        1 if !finite => rng.pick(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY]),
        _ => f64::from_bits(rng.next_u64()),
    };
    if finite && !x.is_finite() { 0.5 } else { x }
}

fn gen_scalar(rng: &mut Rng, kind: &Kind) -> Value {
    let edge = rng.one_in(3);
    match kind {
        Kind::Double => Value::F64(gen_f64(rng, false)),
        Kind::Float => Value::F32(if edge {
            rng.pick(&[0.0f32, -0.0, f32::NAN, f32::MAX])
        } else {
            f32::from_bits(rng.next_u64() as u32)
        }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(if edge {
            rng.pick(&[0, -1, i32::MIN, i32::MAX])
        } else {
            rng.next_u64() as i32
        }),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(if edge {
            rng.pick(&[0, -1, i64::MIN, i64::MAX])
        } else {
            rng.next_u64() as i64
        }),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(if edge {
            rng.pick(&[0, u32::MAX])
        } else {
            rng.next_u64() as u32
        }),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(if edge {
            rng.pick(&[0, u64::MAX])
        } else {
            rng.next_u64()
        }),
        Kind::Bool => Value::Bool(rng.one_in(2)),
        Kind::String => Value::String(gen_string(rng)),
        Kind::Bytes => Value::Bytes(gen_bytes(rng).into()),
        Kind::Message(_) | Kind::Enum(_) => unreachable!("not a scalar"),
    }
}

fn gen_map_key(rng: &mut Rng, kind: &Kind) -> MapKey {
    match gen_scalar(rng, kind) {
        Value::Bool(b) => MapKey::Bool(b),
        Value::I32(x) => MapKey::I32(x),
        Value::I64(x) => MapKey::I64(x),
        Value::U32(x) => MapKey::U32(x),
        Value::U64(x) => MapKey::U64(x),
        Value::String(s) => MapKey::String(s),
        other => unreachable!("not a map key: {other:?}"),
    }
}

/// A random value of `kind`; `None` when a message would be too deep.
fn gen_value(rng: &mut Rng, kind: &Kind, depth: u32, opts: GenOptions) -> Option<Value> {
    match kind {
        Kind::Message(m) => {
            if depth >= opts.max_depth {
                return None;
            }
            Some(Value::Message(gen_message(rng, m, depth + 1, opts)))
        }
        Kind::Enum(e) => {
            let closed = e.parent_file().syntax() == prost_reflect::Syntax::Proto2;
            if opts.unknown_enum_numbers && !closed && rng.one_in(3) {
                let mut n = rng.next_u64() as i32;
                while e.get_value(n).is_some() {
                    n = n.wrapping_add(1);
                }
                return Some(Value::EnumNumber(n));
            }
            let values: Vec<i32> = e.values().map(|v| v.number()).collect();
            Some(Value::EnumNumber(rng.pick(&values)))
        }
        scalar => Some(gen_scalar(rng, scalar)),
    }
}

/// A random `google.protobuf.Value` with a kind always set and finite numbers
/// (the JSON mapping has no form for the others).
fn gen_json_value(rng: &mut Rng, desc: &MessageDescriptor, depth: u32) -> DynamicMessage {
    let pool = desc.parent_pool();
    let value_desc = pool
        .get_message_by_name("google.protobuf.Value")
        .expect("Value");
    let struct_desc = pool
        .get_message_by_name("google.protobuf.Struct")
        .expect("Struct");
    let list_desc = pool
        .get_message_by_name("google.protobuf.ListValue")
        .expect("ListValue");
    let leaf = depth >= 3;
    let mut v = DynamicMessage::new(value_desc.clone());
    match rng.below(if leaf { 4 } else { 6 }) {
        0 => v.set_field_by_number(1, Value::EnumNumber(0)),
        1 => v.set_field_by_number(2, Value::F64(gen_f64(rng, true))),
        2 => v.set_field_by_number(3, Value::String(gen_string(rng))),
        3 => v.set_field_by_number(4, Value::Bool(rng.one_in(2))),
        4 => v.set_field_by_number(5, Value::Message(gen_struct(rng, &struct_desc, depth + 1))),
        _ => v.set_field_by_number(6, Value::Message(gen_list(rng, &list_desc, depth + 1))),
    }
    v
}

fn gen_struct(rng: &mut Rng, desc: &MessageDescriptor, depth: u32) -> DynamicMessage {
    let mut s = DynamicMessage::new(desc.clone());
    let mut map = HashMap::new();
    for _ in 0..rng.below(3) {
        map.insert(
            MapKey::String(gen_string(rng)),
            Value::Message(gen_json_value(rng, desc, depth)),
        );
    }
    if !map.is_empty() {
        s.set_field_by_number(1, Value::Map(map));
    }
    s
}

fn gen_list(rng: &mut Rng, desc: &MessageDescriptor, depth: u32) -> DynamicMessage {
    let mut l = DynamicMessage::new(desc.clone());
    let items: Vec<Value> = (0..rng.below(3))
        .map(|_| Value::Message(gen_json_value(rng, desc, depth)))
        .collect();
    if !items.is_empty() {
        l.set_field_by_number(1, Value::List(items));
    }
    l
}

/// A random message of `desc`.
pub fn gen_message(
    rng: &mut Rng,
    desc: &MessageDescriptor,
    depth: u32,
    opts: GenOptions,
) -> DynamicMessage {
    match desc.full_name() {
        "google.protobuf.Struct" => return gen_struct(rng, desc, depth),
        "google.protobuf.Value" => return gen_json_value(rng, desc, depth),
        "google.protobuf.ListValue" => return gen_list(rng, desc, depth),
        _ => {}
    }
    let mut msg = DynamicMessage::new(desc.clone());
    let mut oneof_done: Vec<String> = Vec::new();
    for fd in desc.fields() {
        let required = fd.cardinality() == Cardinality::Required;
        if !required && rng.one_in(2) {
            continue;
        }
        if let Some(oneof) = fd.containing_oneof().filter(|o| !o.is_synthetic()) {
            if oneof_done.contains(&oneof.name().to_owned()) {
                continue;
            }
            oneof_done.push(oneof.name().to_owned());
        }
        if let Some(v) = gen_field(rng, &fd, depth, opts) {
            msg.set_field(&fd, v);
        }
    }
    msg
}

fn gen_field(rng: &mut Rng, fd: &FieldDescriptor, depth: u32, opts: GenOptions) -> Option<Value> {
    if fd.is_map() {
        let Kind::Message(entry) = fd.kind() else {
            return None;
        };
        let kk = entry.map_entry_key_field().kind();
        let vk = entry.map_entry_value_field().kind();
        let mut map = HashMap::new();
        for _ in 0..rng.below(4) {
            if let Some(v) = gen_value(rng, &vk, depth, opts) {
                map.insert(gen_map_key(rng, &kk), v);
            }
        }
        Some(Value::Map(map))
    } else if fd.is_list() {
        let items: Vec<Value> = (0..rng.below(4))
            .filter_map(|_| gen_value(rng, &fd.kind(), depth, opts))
            .collect();
        Some(Value::List(items))
    } else {
        gen_value(rng, &fd.kind(), depth, opts)
    }
}

fn f32_eq(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits()
}

fn f64_eq(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits()
}

fn value_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => f32_eq(*x, *y),
        (Value::F64(x), Value::F64(y)) => f64_eq(*x, *y),
        (Value::Message(x), Value::Message(y)) => message_eq(x, y),
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| value_eq(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| value_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Semantic equality: same presence and same values for every field,
/// floats compared by bits, maps as maps. Independent of the bridge.
pub fn message_eq(a: &DynamicMessage, b: &DynamicMessage) -> bool {
    if a.descriptor().full_name() != b.descriptor().full_name() {
        return false;
    }
    a.descriptor()
        .fields()
        .all(|fd| match (a.has_field(&fd), b.has_field(&fd)) {
            (false, false) => true,
            (true, true) => value_eq(&a.get_field(&fd), &b.get_field(&fd)),
            _ => false,
        })
}

/// `Val` equality with NaNs of equal bits equal.
pub fn val_eq(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Float32(x), Val::Float32(y)) => f32_eq(*x, *y),
        (Val::Float64(x), Val::Float64(y)) => f64_eq(*x, *y),
        (Val::List(x), Val::List(y)) | (Val::Tuple(x), Val::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| val_eq(a, b))
        }
        (Val::Record(x), Val::Record(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((n, a), (m, b))| n == m && val_eq(a, b))
        }
        (Val::Variant(c, x), Val::Variant(d, y)) => c == d && opt_eq(x, y),
        (Val::Option(x), Val::Option(y)) => opt_eq(x, y),
        (Val::Result(Ok(x)), Val::Result(Ok(y))) | (Val::Result(Err(x)), Val::Result(Err(y))) => {
            opt_eq(x, y)
        }
        _ => a == b,
    }
}

/// The path of the first difference between two values, for messages.
pub fn val_diff(a: &Val, b: &Val, path: &str) -> Option<String> {
    match (a, b) {
        (Val::List(x), Val::List(y)) | (Val::Tuple(x), Val::Tuple(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (a, b))| val_diff(a, b, &format!("{path}[{i}]"))),
        (Val::Record(x), Val::Record(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .find_map(|((n, a), (_, b))| val_diff(a, b, &format!("{path}.{n}"))),
        (Val::Option(Some(x)), Val::Option(Some(y))) => val_diff(x, y, &format!("{path}?")),
        (Val::Variant(c, Some(x)), Val::Variant(d, Some(y))) if c == d => {
            val_diff(x, y, &format!("{path}.{c}"))
        }
        _ if val_eq(a, b) => None,
        _ => Some(format!("{path}: {a:?} vs {b:?}")),
    }
}

fn opt_eq(a: &Option<Box<Val>>, b: &Option<Box<Val>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => val_eq(a, b),
        _ => false,
    }
}

/// Checks that `v` is a value of component type `ty` (names, cases, shapes).
pub fn typecheck(v: &Val, ty: &Type, path: &str) -> Result<()> {
    let fail = || anyhow!("at {path}: value {v:?} is not of type {ty:?}");
    match (ty, v) {
        (Type::Bool, Val::Bool(_))
        | (Type::U8, Val::U8(_))
        | (Type::S32, Val::S32(_))
        | (Type::U32, Val::U32(_))
        | (Type::S64, Val::S64(_))
        | (Type::U64, Val::U64(_))
        | (Type::Float32, Val::Float32(_))
        | (Type::Float64, Val::Float64(_))
        | (Type::String, Val::String(_)) => Ok(()),
        (Type::List(l), Val::List(items)) => {
            let elem = l.ty();
            for (i, item) in items.iter().enumerate() {
                typecheck(item, &elem, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Type::Tuple(t), Val::Tuple(items)) => {
            let types: Vec<Type> = t.types().collect();
            if types.len() != items.len() {
                return Err(fail());
            }
            for (i, (item, ty)) in items.iter().zip(&types).enumerate() {
                typecheck(item, ty, &format!("{path}.{i}"))?;
            }
            Ok(())
        }
        (Type::Record(r), Val::Record(fields)) => {
            let want: Vec<_> = r.fields().map(|f| (f.name.to_owned(), f.ty)).collect();
            if want.len() != fields.len() {
                bail!(
                    "at {path}: record has fields {:?}, value has {:?}",
                    want.iter().map(|w| &w.0).collect::<Vec<_>>(),
                    fields.iter().map(|f| &f.0).collect::<Vec<_>>()
                );
            }
            for ((name, ty), (vname, value)) in want.iter().zip(fields) {
                if name != vname {
                    bail!("at {path}: field `{vname}` where the type has `{name}`");
                }
                typecheck(value, ty, &format!("{path}.{name}"))?;
            }
            Ok(())
        }
        (Type::Option(o), Val::Option(inner)) => match inner {
            None => Ok(()),
            Some(x) => typecheck(x, &o.ty(), &format!("{path}?")),
        },
        (Type::Enum(e), Val::Enum(case)) => {
            if e.names().any(|n| n == case) {
                Ok(())
            } else {
                Err(fail())
            }
        }
        (Type::Variant(var), Val::Variant(case, payload)) => {
            let c = var.cases().find(|c| c.name == case).ok_or_else(fail)?;
            match (&c.ty, payload) {
                (None, None) => Ok(()),
                (Some(t), Some(p)) => typecheck(p, t, &format!("{path}.{case}")),
                _ => Err(fail()),
            }
        }
        (Type::Result(r), Val::Result(res)) => match (res, r.ok(), r.err()) {
            (Ok(None), None, _) | (Err(None), _, None) => Ok(()),
            (Ok(Some(x)), Some(t), _) | (Err(Some(x)), _, Some(t)) => typecheck(x, &t, path),
            _ => Err(fail()),
        },
        _ => Err(fail()),
    }
}

/// A function's parameters (name, type) and result types.
pub type FuncTypes = (Vec<(String, Type)>, Vec<Type>);

/// The component types of a generated world: every exported type of every
/// imported interface, by (interface path, type name), and every imported
/// function, by (interface path, function name).
pub struct WitTypes {
    /// Types by (interface path, name).
    pub types: HashMap<(String, String), Type>,
    /// Functions' (params, results) by (interface path, name).
    pub funcs: HashMap<(String, String), FuncTypes>,
}

/// Compiles `component` (a dummy component from [`super::util`]) with
/// wasmtime and collects its import types.
pub fn wit_types(component: &[u8]) -> Result<WitTypes> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    let engine = Engine::new(&config).map_err(|e| anyhow!("{e:?}"))?;
    let component = Component::new(&engine, component)
        .map_err(|e| anyhow!("{e:?}"))
        .context("wasmtime accepts the component")?;
    let mut out = WitTypes {
        types: HashMap::new(),
        funcs: HashMap::new(),
    };
    for (name, item) in component.component_type().imports(&engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        for (export, item) in instance.exports(&engine) {
            match item.ty {
                ComponentItem::Type(t) => {
                    out.types.insert((name.to_owned(), export.to_owned()), t);
                }
                ComponentItem::ComponentFunc(f) => {
                    let params = f.params().map(|(n, t)| (n.to_owned(), t)).collect();
                    let results = f.results().collect();
                    out.funcs
                        .insert((name.to_owned(), export.to_owned()), (params, results));
                }
                _ => {}
            }
        }
    }
    Ok(out)
}
