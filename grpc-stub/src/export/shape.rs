//! The WIT types of a component's exports, resolved into a self-contained
//! tree ([`Shape`]): aliases followed, named types carrying their names.
//! Both the proto builder and the value conversion walk this tree, so the
//! descriptor and the values can never disagree.

use wit_parser::{Resolve, Type, TypeDefKind, TypeOwner};

/// A WIT value type, as the gRPC front door sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// `bool`.
    Bool,
    /// `s8`.
    S8,
    /// `s16`.
    S16,
    /// `s32`.
    S32,
    /// `s64`.
    S64,
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `char`.
    Char,
    /// `string`.
    String,
    /// `list<u8>`.
    Bytes,
    /// `list<T>` of anything but `u8`.
    List(Box<Shape>),
    /// `option<T>`.
    Option(Box<Shape>),
    /// `tuple<...>`.
    Tuple(Vec<Shape>),
    /// `result<T, E>`; `None` for `_`.
    Result {
        /// The success type.
        ok: Option<Box<Shape>>,
        /// The error type.
        err: Option<Box<Shape>>,
    },
    /// A record.
    Record {
        /// Its name.
        name: TypeName,
        /// Fields in order: WIT name and type.
        fields: Vec<(String, Shape)>,
    },
    /// A variant.
    Variant {
        /// Its name.
        name: TypeName,
        /// Cases in order: WIT name and payload.
        cases: Vec<(String, Option<Shape>)>,
    },
    /// An enum.
    Enum {
        /// Its name.
        name: TypeName,
        /// Cases in order.
        cases: Vec<String>,
    },
    /// A flags type.
    Flags {
        /// Its name.
        name: TypeName,
        /// Flags in order.
        flags: Vec<String>,
    },
}

/// The name of a named WIT type: what it is called, and a key unique in
/// the component (two interfaces may both define a `point`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TypeName {
    /// A key unique among the component's types.
    pub key: String,
    /// The WIT name, kebab-case.
    pub wit: String,
}

/// Why a type cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl Shape {
    /// The shape of `ty` in `resolve`.
    pub fn of(resolve: &Resolve, ty: &Type) -> Result<Shape, Unsupported> {
        Ok(match ty {
            Type::Bool => Shape::Bool,
            Type::S8 => Shape::S8,
            Type::S16 => Shape::S16,
            Type::S32 => Shape::S32,
            Type::S64 => Shape::S64,
            Type::U8 => Shape::U8,
            Type::U16 => Shape::U16,
            Type::U32 => Shape::U32,
            Type::U64 => Shape::U64,
            Type::F32 => Shape::F32,
            Type::F64 => Shape::F64,
            Type::Char => Shape::Char,
            Type::String => Shape::String,
            Type::ErrorContext => {
                return Err(Unsupported("it uses `error-context`".into()));
            }
            Type::Id(id) => {
                let def = &resolve.types[*id];
                let name = || TypeName {
                    key: match def.owner {
                        TypeOwner::Interface(i) => {
                            let iface = &resolve.interfaces[i];
                            let package = iface
                                .package
                                .map(|p| resolve.packages[p].name.to_string())
                                .unwrap_or_default();
                            // Inline interfaces (`export foo: interface
                            // {...}`) have no name, and share a package:
                            // their arena index tells them apart.
                            let iface_name = match &iface.name {
                                Some(name) => name.clone(),
                                None => format!("<inline #{}>", i.index()),
                            };
                            format!(
                                "{package}/{iface_name}.{}",
                                def.name.as_deref().unwrap_or_default()
                            )
                        }
                        TypeOwner::World(w) => format!(
                            "world {}.{}",
                            resolve.worlds[w].name,
                            def.name.as_deref().unwrap_or_default()
                        ),
                        TypeOwner::None => format!("#{}", id.index()),
                    },
                    wit: def
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("type{}", id.index())),
                };
                match &def.kind {
                    TypeDefKind::Type(inner) => Shape::of(resolve, inner)?,
                    TypeDefKind::Record(r) => Shape::Record {
                        name: name(),
                        fields: r
                            .fields
                            .iter()
                            .map(|f| Ok((f.name.clone(), Shape::of(resolve, &f.ty)?)))
                            .collect::<Result<_, Unsupported>>()?,
                    },
                    TypeDefKind::Variant(v) => Shape::Variant {
                        name: name(),
                        cases: v
                            .cases
                            .iter()
                            .map(|c| {
                                let payload = match &c.ty {
                                    Some(t) => Some(Shape::of(resolve, t)?),
                                    None => None,
                                };
                                Ok((c.name.clone(), payload))
                            })
                            .collect::<Result<_, Unsupported>>()?,
                    },
                    TypeDefKind::Enum(e) => Shape::Enum {
                        name: name(),
                        cases: e.cases.iter().map(|c| c.name.clone()).collect(),
                    },
                    TypeDefKind::Flags(f) => Shape::Flags {
                        name: name(),
                        flags: f.flags.iter().map(|f| f.name.clone()).collect(),
                    },
                    TypeDefKind::Tuple(t) => Shape::Tuple(
                        t.types
                            .iter()
                            .map(|t| Shape::of(resolve, t))
                            .collect::<Result<_, _>>()?,
                    ),
                    TypeDefKind::Option(t) => Shape::Option(Box::new(Shape::of(resolve, t)?)),
                    TypeDefKind::Result(r) => Shape::Result {
                        ok: r
                            .ok
                            .as_ref()
                            .map(|t| Shape::of(resolve, t).map(Box::new))
                            .transpose()?,
                        err: r
                            .err
                            .as_ref()
                            .map(|t| Shape::of(resolve, t).map(Box::new))
                            .transpose()?,
                    },
                    TypeDefKind::List(t) => match Shape::of(resolve, t)? {
                        Shape::U8 => Shape::Bytes,
                        inner => Shape::List(Box::new(inner)),
                    },
                    TypeDefKind::FixedLengthList(..) => {
                        return Err(Unsupported("it uses a fixed-length list".into()));
                    }
                    TypeDefKind::Map(..) => {
                        return Err(Unsupported("it uses a map".into()));
                    }
                    TypeDefKind::Resource => {
                        return Err(Unsupported(format!(
                            "it uses the resource `{}`",
                            def.name.as_deref().unwrap_or("(anonymous)")
                        )));
                    }
                    TypeDefKind::Handle(
                        wit_parser::Handle::Own(resource) | wit_parser::Handle::Borrow(resource),
                    ) => {
                        return Err(Unsupported(format!(
                            "it uses the resource `{}`",
                            resolve.types[*resource]
                                .name
                                .as_deref()
                                .unwrap_or("(anonymous)")
                        )));
                    }
                    TypeDefKind::Future(_) => {
                        return Err(Unsupported("it uses a `future`".into()));
                    }
                    TypeDefKind::Stream(_) => {
                        return Err(Unsupported("it uses a `stream`".into()));
                    }
                    TypeDefKind::Unknown => {
                        return Err(Unsupported("it uses a type of unknown kind".into()));
                    }
                }
            }
        })
    }
}

/// The proto number of an enum's first case: 0 when that case is named
/// `unspecified` (the enum came from a proto whose zero value it is, and
/// maps back to it), else 1 (an `<ENUM>_UNSPECIFIED = 0` is added before
/// the cases).
pub fn first_enum_number(cases: &[String]) -> usize {
    usize::from(cases.first().is_none_or(|case| case != "unspecified"))
}
