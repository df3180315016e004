//! Component values <-> JSON, driven by the model's types: records as
//! objects keyed by their JSON property names (absent optional fields
//! omitted), enums as their JSON strings, `oneOf` variants untagged (when
//! decoding: the case its discriminator names, else the case that fits
//! leaving the fewest properties unread, the first of equals), maps as
//! objects, bytes as base64, untyped values as their JSON text.

use std::cell::Cell;
use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{Map, Number, Value as Json};
use wasmtime::component::Val;

use crate::model::{ApiModel, Interface, TypeDef, TypeKind, TypeRef};

/// Why a value does not convert: a message naming the place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault(pub(crate) String);

impl From<String> for Fault {
    fn from(message: String) -> Self {
        Fault(message)
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Most component values one answer's body may decode to. Each value (a
/// byte of a `bytes` field included, as wasmtime's dynamic API lowers a
/// `list<u8>` one value per byte) takes about 40 bytes of host memory
/// outside the guests' memory budget, so a 16 MiB body of numbers or
/// binary would take more than half a gigabyte; with this bound an answer
/// takes at most about 170 MB while it is handed to the guest.
pub const MAX_ANSWER_VALUES: usize = 4 << 20;

/// The named types visible from one interface: its own and `types`, and
/// the count of values decoded so far from the answer being read.
pub(crate) struct Lookup<'m> {
    types: HashMap<&'m str, &'m TypeDef>,
    values: Cell<usize>,
}

impl<'m> Lookup<'m> {
    pub(crate) fn new(model: &'m ApiModel, interface: &'m Interface) -> Self {
        let mut types: HashMap<&str, &TypeDef> =
            model.types.iter().map(|t| (t.name.as_str(), t)).collect();
        types.extend(interface.types.iter().map(|t| (t.name.as_str(), t)));
        Lookup {
            types,
            values: Cell::new(0),
        }
    }

    /// Starts counting the values of another body (or header) from zero.
    pub(crate) fn restart_count(&self) {
        self.values.set(0);
    }

    /// Counts `n` more decoded values, refusing to go past
    /// [`MAX_ANSWER_VALUES`].
    pub(crate) fn count(&self, n: usize, path: &str) -> Result<(), Fault> {
        let total = self.values.get().saturating_add(n);
        if total > MAX_ANSWER_VALUES {
            return Err(Fault(format!(
                "{path}: the answer decodes to more than {MAX_ANSWER_VALUES} values (each \
                 byte of binary data is one), the most one answer may hold"
            )));
        }
        self.values.set(total);
        Ok(())
    }

    /// How many types it holds.
    pub(crate) fn len(&self) -> usize {
        self.types.len()
    }

    pub(crate) fn get(&self, name: &str) -> Result<&'m TypeDef, Fault> {
        self.types
            .get(name)
            .copied()
            .ok_or_else(|| Fault(format!("the model has no type `{name}`")))
    }
}

/// `val` of type `ty` as JSON.
pub(crate) fn to_json(ty: &TypeRef, val: &Val, types: &Lookup<'_>) -> Result<Json, Fault> {
    let mismatch = || Fault(format!("{val:?} is not a {ty:?}"));
    Ok(match (ty, val) {
        (TypeRef::Bool, Val::Bool(b)) => Json::Bool(*b),
        (TypeRef::S32, Val::S32(n)) => Json::from(*n),
        (TypeRef::S64, Val::S64(n)) => Json::from(*n),
        (TypeRef::U16, Val::U16(n)) => Json::from(*n),
        (TypeRef::U32, Val::U32(n)) => Json::from(*n),
        (TypeRef::F32, Val::Float32(n)) => finite(widen(*n))?,
        (TypeRef::F64, Val::Float64(n)) => finite(*n)?,
        (TypeRef::String, Val::String(s)) => Json::String(s.clone()),
        (TypeRef::Json, Val::String(s)) => {
            serde_json::from_str(s).map_err(|e| format!("{s:?} is not JSON text: {e}"))?
        }
        (TypeRef::Bytes, Val::List(items)) => {
            let bytes: Vec<u8> = items
                .iter()
                .map(|v| match v {
                    Val::U8(b) => Ok(*b),
                    _ => Err(mismatch()),
                })
                .collect::<Result<_, _>>()?;
            Json::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        (TypeRef::List(inner), Val::List(items)) => Json::Array(
            items
                .iter()
                .map(|v| to_json(inner, v, types))
                .collect::<Result<_, _>>()?,
        ),
        (TypeRef::Option(_), Val::Option(None)) => Json::Null,
        (TypeRef::Option(inner), Val::Option(Some(v))) => to_json(inner, v, types)?,
        (TypeRef::Map(inner), Val::List(entries)) => {
            let mut object = Map::new();
            for entry in entries {
                let Val::Tuple(pair) = entry else {
                    return Err(mismatch());
                };
                let [Val::String(key), value] = pair.as_slice() else {
                    return Err(mismatch());
                };
                object.insert(key.clone(), to_json(inner, value, types)?);
            }
            Json::Object(object)
        }
        (TypeRef::Named(name), _) => named_to_json(types.get(name)?, val, types)?,
        _ => return Err(mismatch()),
    })
}

/// A number JSON can hold: NaN and the infinities it cannot (they were
/// sent as `null`, or as no parameter at all).
/// The `f64` whose shortest text is the `f32`'s own (`0.1f32` is `0.1`,
/// not `0.10000000149011612`): what the guest's value reads as, written and
/// checked against the schema's bounds as such.
pub(crate) fn widen(n: f32) -> f64 {
    n.to_string().parse().unwrap_or(f64::from(n))
}

fn finite(n: f64) -> Result<Json, Fault> {
    Number::from_f64(n)
        .map(Json::Number)
        .ok_or_else(|| Fault(format!("{n} cannot be sent: JSON has no NaN or infinity")))
}

fn named_to_json(def: &TypeDef, val: &Val, types: &Lookup<'_>) -> Result<Json, Fault> {
    let mismatch = || Fault(format!("{val:?} is not a `{}`", def.name));
    Ok(match (&def.kind, val) {
        (TypeKind::Alias(ty), _) => to_json(ty, val, types)?,
        (TypeKind::Record(fields), Val::Record(values)) => {
            let mut object = Map::new();
            for (field, (_, value)) in fields.iter().zip(values) {
                // `readOnly`: the server's to set, never sent.
                if field.read_only || (matches!(value, Val::Option(None)) && !field.null_when_none)
                {
                    continue;
                }
                object.insert(field.wire.clone(), to_json(&field.ty, value, types)?);
            }
            Json::Object(object)
        }
        (TypeKind::Enum(cases), Val::Enum(case)) => Json::String(
            cases
                .iter()
                .find(|c| &c.name == case)
                .ok_or_else(mismatch)?
                .value
                .clone(),
        ),
        (TypeKind::Variant(cases), Val::Variant(case, payload)) => {
            let case = cases
                .iter()
                .find(|c| &c.name == case)
                .ok_or_else(mismatch)?;
            match (&case.ty, payload) {
                (Some(ty), Some(payload)) => {
                    let mut json = to_json(ty, payload, types)?;
                    // The case decides the discriminator's value: a payload
                    // saying another would be read back as another case.
                    if let (Some(property), Some(tag), Json::Object(object)) =
                        (&case.discriminator, &case.tag, &mut json)
                    {
                        object.insert(property.clone(), Json::String(tag.clone()));
                    }
                    json
                }
                _ => Json::Null,
            }
        }
        _ => return Err(mismatch()),
    })
}

/// The value of type `ty` that `json` holds; `path` names the place in
/// errors (`body.data.title`).
pub(crate) fn from_json(
    ty: &TypeRef,
    json: &Json,
    types: &Lookup<'_>,
    path: &str,
) -> Result<Val, Fault> {
    let wrong = |what: &str| Fault(format!("{path}: expected {what}, found {}", kind(json)));
    types.count(1, path)?;
    Ok(match ty {
        TypeRef::Bool => Val::Bool(json.as_bool().ok_or_else(|| wrong("a boolean"))?),
        TypeRef::S32 => Val::S32(
            whole_i64(json)
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| wrong("a 32-bit integer"))?,
        ),
        TypeRef::S64 => Val::S64(whole_i64(json).ok_or_else(|| wrong("an integer"))?),
        TypeRef::U16 => Val::U16(
            whole_u64(json)
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| wrong("an integer from 0 to 65535"))?,
        ),
        TypeRef::U32 => Val::U32(
            whole_u64(json)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| wrong("an unsigned 32-bit integer"))?,
        ),
        #[allow(clippy::cast_possible_truncation)]
        TypeRef::F32 => {
            let wide = json.as_f64().ok_or_else(|| wrong("a number"))?;
            // Past f32's range the conversion gives infinity, which JSON
            // cannot hold and the guest could not send back.
            let narrow = wide as f32;
            if narrow.is_infinite() {
                return Err(wrong("a number within a 32-bit float's range"));
            }
            Val::Float32(narrow)
        }
        TypeRef::F64 => Val::Float64(json.as_f64().ok_or_else(|| wrong("a number"))?),
        TypeRef::String => Val::String(json.as_str().ok_or_else(|| wrong("a string"))?.to_owned()),
        TypeRef::Json => Val::String(json.to_string()),
        TypeRef::Bytes => {
            let text = json.as_str().ok_or_else(|| wrong("a base64 string"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| format!("{path}: not base64: {e}"))?;
            types.count(bytes.len(), path)?;
            Val::List(bytes.into_iter().map(Val::U8).collect())
        }
        TypeRef::List(inner) => Val::List(
            json.as_array()
                .ok_or_else(|| wrong("an array"))?
                .iter()
                .enumerate()
                .map(|(i, item)| from_json(inner, item, types, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        TypeRef::Option(inner) => match json {
            Json::Null => Val::Option(None),
            other => Val::Option(Some(Box::new(from_json(inner, other, types, path)?))),
        },
        TypeRef::Map(inner) => Val::List(
            json.as_object()
                .ok_or_else(|| wrong("an object"))?
                .iter()
                .map(|(k, v)| {
                    Ok(Val::Tuple(vec![
                        Val::String(k.clone()),
                        from_json(inner, v, types, &format!("{path}.{k}"))?,
                    ]))
                })
                .collect::<Result<_, Fault>>()?,
        ),
        TypeRef::Named(name) => named_from_json(types.get(name)?, json, types, path)?,
    })
}

/// An integer written as such, or as a number with no fraction (`1.0`,
/// which JSON Schema counts as the integer 1).
fn whole_i64(json: &Json) -> Option<i64> {
    json.as_i64().or_else(|| {
        let f = json.as_f64()?;
        // The range an i64 holds exactly at this magnitude (2^63 excluded).
        (f.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f))
            .then(|| {
                #[allow(clippy::cast_possible_truncation)]
                let n = f as i64;
                n
            })
    })
}

/// [`whole_i64`] for unsigned integers.
fn whole_u64(json: &Json) -> Option<u64> {
    json.as_u64().or_else(|| {
        let f = json.as_f64()?;
        (f.fract() == 0.0 && (0.0..1.844_674_407_370_955_2e19).contains(&f)).then(|| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = f as u64;
            n
        })
    })
}

fn named_from_json(
    def: &TypeDef,
    json: &Json,
    types: &Lookup<'_>,
    path: &str,
) -> Result<Val, Fault> {
    Ok(match &def.kind {
        TypeKind::Alias(ty) => from_json(ty, json, types, path)?,
        TypeKind::Record(fields) => {
            let object = json
                .as_object()
                .ok_or_else(|| format!("{path}: expected an object, found {}", kind(json)))?;
            let mut values = Vec::new();
            for field in fields {
                let at = format!("{path}.{}", field.wire);
                let value = match object.get(&field.wire) {
                    Some(value) => from_json(&field.ty, value, types, &at)?,
                    None if matches!(field.ty, TypeRef::Option(_)) => Val::Option(None),
                    None => return Err(Fault(format!("{at}: missing"))),
                };
                values.push((field.name.clone(), value));
            }
            Val::Record(values)
        }
        TypeKind::Enum(cases) => {
            let text = json
                .as_str()
                .ok_or_else(|| format!("{path}: expected a string, found {}", kind(json)))?;
            let case = cases.iter().find(|c| c.value == text).ok_or_else(|| {
                format!(
                    "{path}: `{text}` is not one of the values of `{}`",
                    def.name
                )
            })?;
            Val::Enum(case.name.clone())
        }
        TypeKind::Variant(cases) => {
            // With a discriminator, its value picks the case: the first
            // that fits could be another one (extra properties are
            // ignored), losing what only the right one reads.
            if let Some(property) = cases.iter().find_map(|c| c.discriminator.as_deref()) {
                let tag = json.get(property).and_then(Json::as_str).ok_or_else(|| {
                    format!("{path}: the discriminator `{property}` is missing or not a string")
                })?;
                let case = cases
                    .iter()
                    .find(|c| c.tag.as_deref() == Some(tag))
                    .ok_or_else(|| {
                        format!(
                            "{path}: the discriminator `{property}` is `{tag}`, which names no \
                             case of `{}`",
                            def.name
                        )
                    })?;
                let value = match &case.ty {
                    Some(ty) => Some(Box::new(from_json(ty, json, types, path)?)),
                    None => None,
                };
                return Ok(Val::Variant(case.name.clone(), value));
            }
            // Without one, the case that fits best: the first that reads
            // every property of an object, else the one that leaves the
            // fewest unread. The first that fits at all could drop what
            // only a later one reads (`{name, bark}` read as a `cat`
            // with a `name`, not as the `dog` it is).
            let mut reasons = Vec::new();
            let mut best: Option<(usize, &str, Val, usize)> = None;
            // Each case is tried from the same count; the one kept is
            // counted once.
            let before = types.values.get();
            for case in cases {
                let Some(ty) = &case.ty else {
                    continue;
                };
                types.values.set(before);
                match from_json(ty, json, types, path) {
                    Ok(value) => {
                        let unread = unread(ty, json, &value, types, 0);
                        if best.as_ref().is_none_or(|(least, ..)| unread < *least) {
                            best = Some((unread, &case.name, value, types.values.get()));
                        }
                        if unread == 0 {
                            break;
                        }
                    }
                    Err(e) => reasons.push(e.0),
                }
            }
            if let Some((_, case, value, counted)) = best {
                types.values.set(counted);
                return Ok(Val::Variant(case.to_owned(), Some(Box::new(value))));
            }
            return Err(Fault(format!(
                "{path}: fits no case of `{}` ({})",
                def.name,
                reasons.join("; ")
            )));
        }
    })
}

/// How many properties of `json` (an object) `val`, its decoding as type
/// `ty`, does not read: those its record (or the record of the variant
/// case it was decoded as) has no field for. Zero for anything else.
fn unread(ty: &TypeRef, json: &Json, val: &Val, types: &Lookup<'_>, depth: usize) -> usize {
    let Some(object) = json.as_object() else {
        return 0;
    };
    // Bounded: aliases are checked for loops when the model is built, and
    // this stops after as many steps as there are types.
    if depth > types.len() {
        return 0;
    }
    match (ty, val) {
        (TypeRef::Option(inner), Val::Option(Some(val))) => {
            unread(inner, json, val, types, depth + 1)
        }
        (TypeRef::Named(name), _) => match (types.get(name).map(|def| &def.kind), val) {
            (Ok(TypeKind::Alias(inner)), _) => unread(inner, json, val, types, depth + 1),
            (Ok(TypeKind::Record(fields)), _) => object
                .keys()
                .filter(|key| !fields.iter().any(|f| &f.wire == *key))
                .count(),
            (Ok(TypeKind::Variant(cases)), Val::Variant(case, Some(payload))) => cases
                .iter()
                .find(|c| &c.name == case)
                .and_then(|c| c.ty.as_ref())
                .map_or(0, |ty| unread(ty, json, payload, types, depth + 1)),
            _ => 0,
        },
        _ => 0,
    }
}

fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
