//! The vocabulary of the interface model: how each protobuf construct maps.
//!
//! These types record every mapping decision once. The WIT renderer prints
//! them and the value bridge follows them; neither looks at a descriptor to
//! decide a shape on its own.

use std::collections::HashMap;

use prost_reflect::{EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};

use super::package::WitPackageName;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) u32);

        impl $name {
            /// The position of the item in its table of the model.
            pub fn index(self) -> usize {
                self.0 as usize
            }

            pub(crate) fn from_index(index: usize) -> Self {
                Self(u32::try_from(index).unwrap_or(u32::MAX))
            }
        }
    };
}

id_type!(
    /// Identifies a message (a WIT record) in an [`super::InterfaceModel`].
    MessageId
);
id_type!(
    /// Identifies an enum in an [`super::InterfaceModel`].
    EnumId
);
id_type!(
    /// Identifies a proto package (a WIT package) in an [`super::InterfaceModel`].
    PackageId
);
id_type!(
    /// Identifies a service (a WIT interface) in an [`super::InterfaceModel`].
    ServiceId
);

/// A protobuf scalar and the WIT primitive it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scalar {
    /// `bool` -> `bool`.
    Bool,
    /// `int32`, `sint32`, `sfixed32` -> `s32`.
    S32,
    /// `int64`, `sint64`, `sfixed64` -> `s64`.
    S64,
    /// `uint32`, `fixed32` -> `u32`.
    U32,
    /// `uint64`, `fixed64` -> `u64`.
    U64,
    /// `float` -> `f32`.
    F32,
    /// `double` -> `f64`.
    F64,
    /// `string` -> `string`.
    String,
    /// `bytes` -> `list<u8>`.
    Bytes,
}

impl Scalar {
    /// The scalar for a protobuf field kind, or `None` for messages and enums.
    pub fn from_kind(kind: &Kind) -> Option<Self> {
        Some(match kind {
            Kind::Double => Self::F64,
            Kind::Float => Self::F32,
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Self::S32,
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Self::S64,
            Kind::Uint32 | Kind::Fixed32 => Self::U32,
            Kind::Uint64 | Kind::Fixed64 => Self::U64,
            Kind::Bool => Self::Bool,
            Kind::String => Self::String,
            Kind::Bytes => Self::Bytes,
            Kind::Message(_) | Kind::Enum(_) => return None,
        })
    }

    /// The WIT type text.
    pub fn wit(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::S32 => "s32",
            Self::S64 => "s64",
            Self::U32 => "u32",
            Self::U64 => "u64",
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::String => "string",
            Self::Bytes => "list<u8>",
        }
    }
}

/// A `google.protobuf` well-known type with a special mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WellKnown {
    /// `Timestamp` -> support record `timestamp`.
    Timestamp,
    /// `Duration` -> support record `duration`.
    Duration,
    /// `Any` -> support record `any` (`type-url`, `value`).
    Any,
    /// `FieldMask` -> `list<string>` (its `paths`).
    FieldMask,
    /// `Struct` -> `string` holding proto JSON (an object).
    Struct,
    /// `Value` -> `string` holding proto JSON (any JSON value).
    Value,
    /// `ListValue` -> `string` holding proto JSON (an array).
    ListValue,
    /// A wrapper (`StringValue`, `Int32Value`, ...) -> its primitive.
    Wrapper(Scalar),
}

impl WellKnown {
    /// The special mapping for a message full name, if it has one.
    /// `google.protobuf.Empty` is not listed: it is an ordinary empty message.
    pub fn from_full_name(name: &str) -> Option<Self> {
        Some(match name {
            "google.protobuf.Timestamp" => Self::Timestamp,
            "google.protobuf.Duration" => Self::Duration,
            "google.protobuf.Any" => Self::Any,
            "google.protobuf.FieldMask" => Self::FieldMask,
            "google.protobuf.Struct" => Self::Struct,
            "google.protobuf.Value" => Self::Value,
            "google.protobuf.ListValue" => Self::ListValue,
            "google.protobuf.DoubleValue" => Self::Wrapper(Scalar::F64),
            "google.protobuf.FloatValue" => Self::Wrapper(Scalar::F32),
            "google.protobuf.Int64Value" => Self::Wrapper(Scalar::S64),
            "google.protobuf.UInt64Value" => Self::Wrapper(Scalar::U64),
            "google.protobuf.Int32Value" => Self::Wrapper(Scalar::S32),
            "google.protobuf.UInt32Value" => Self::Wrapper(Scalar::U32),
            "google.protobuf.BoolValue" => Self::Wrapper(Scalar::Bool),
            "google.protobuf.StringValue" => Self::Wrapper(Scalar::String),
            "google.protobuf.BytesValue" => Self::Wrapper(Scalar::Bytes),
            _ => return None,
        })
    }

    /// The name of the support-package type this maps to, if any.
    pub fn support_type(self) -> Option<&'static str> {
        match self {
            Self::Timestamp => Some("timestamp"),
            Self::Duration => Some("duration"),
            Self::Any => Some("any"),
            _ => None,
        }
    }
}

/// The WIT type of one value (no presence, no repetition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// A scalar.
    Scalar(Scalar),
    /// An enum of the model.
    Enum(EnumId),
    /// A message of the model, as its record.
    Message(MessageId),
    /// A well-known type with a special mapping.
    WellKnown(WellKnown),
    /// A field breaking a cycle of messages (chosen from the message types
    /// alone, see `docs/mapping.md`) or kept within the type size limits:
    /// `list<u8>` holding the message's protobuf encoding.
    RecursionBreak(MessageId),
}

/// How one (non-oneof) message field maps to a record field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldMapping {
    /// Implicit presence (proto3 scalar/enum, proto2 `required`): `T`.
    Plain(ValueType),
    /// Explicit presence (`optional`, proto2 optional, message-typed): `option<T>`.
    Optional(ValueType),
    /// `repeated T`: `list<T>`.
    List(ValueType),
    /// `map<K, V>`: `list<tuple<K, V>>`, sorted by key when produced by the host.
    Map {
        /// The key scalar.
        key: Scalar,
        /// The value type.
        value: ValueType,
    },
    /// A singular field of an empty message type: `bool` (is it set?).
    EmptyPresence,
    /// A repeated field of an empty message type: `u32` (how many elements).
    EmptyCount,
    /// A map whose values are an empty message type: `list<K>` (the keys).
    EmptyMapKeys {
        /// The key scalar.
        key: Scalar,
    },
}

/// How a value is written on the protobuf wire (the proto type, which the
/// WIT type alone does not tell: `sint32` and `fixed32` are both `s32`/`u32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireKind {
    /// `double`.
    Double,
    /// `float`.
    Float,
    /// `int32`.
    Int32,
    /// `int64`.
    Int64,
    /// `uint32`.
    Uint32,
    /// `uint64`.
    Uint64,
    /// `sint32`.
    Sint32,
    /// `sint64`.
    Sint64,
    /// `fixed32`.
    Fixed32,
    /// `fixed64`.
    Fixed64,
    /// `sfixed32`.
    Sfixed32,
    /// `sfixed64`.
    Sfixed64,
    /// `bool`.
    Bool,
    /// `string`.
    String,
    /// `bytes`.
    Bytes,
    /// An enum (varint of the number).
    Enum,
    /// A length-delimited message.
    Message,
    /// A group (start/end tags around the message).
    Group,
}

impl WireKind {
    /// The wire kind of a field.
    pub fn of(field: &FieldDescriptor) -> Self {
        if field.is_group() {
            return Self::Group;
        }
        Self::of_kind(&field.kind())
    }

    /// The wire kind of a proto kind (messages as length-delimited).
    pub fn of_kind(kind: &Kind) -> Self {
        match kind {
            Kind::Double => Self::Double,
            Kind::Float => Self::Float,
            Kind::Int32 => Self::Int32,
            Kind::Int64 => Self::Int64,
            Kind::Uint32 => Self::Uint32,
            Kind::Uint64 => Self::Uint64,
            Kind::Sint32 => Self::Sint32,
            Kind::Sint64 => Self::Sint64,
            Kind::Fixed32 => Self::Fixed32,
            Kind::Fixed64 => Self::Fixed64,
            Kind::Sfixed32 => Self::Sfixed32,
            Kind::Sfixed64 => Self::Sfixed64,
            Kind::Bool => Self::Bool,
            Kind::String => Self::String,
            Kind::Bytes => Self::Bytes,
            Kind::Enum(_) => Self::Enum,
            Kind::Message(_) => Self::Message,
        }
    }

    /// Whether repeated values of this kind can be packed.
    pub fn packable(self) -> bool {
        !matches!(
            self,
            Self::String | Self::Bytes | Self::Message | Self::Group
        )
    }
}

/// A record field that comes from one proto field.
#[derive(Debug, Clone)]
pub struct FieldModel {
    /// The WIT field name (no `%`).
    pub wit_name: String,
    /// The proto field.
    pub descriptor: FieldDescriptor,
    /// How it maps.
    pub mapping: FieldMapping,
    /// How the field's values are written (for maps: the entry's key and
    /// value kinds are in `map_wire`).
    pub wire: WireKind,
    /// Repeated scalars written packed.
    pub packed: bool,
    /// For maps: the wire kinds of the entry's key and value.
    pub map_wire: Option<(WireKind, WireKind)>,
    /// Whether the field tracks presence (written even when default).
    pub has_presence: bool,
}

/// One case of a oneof variant.
#[derive(Debug, Clone)]
pub struct CaseModel {
    /// The WIT case name (no `%`).
    pub wit_name: String,
    /// The proto field of this case.
    pub descriptor: FieldDescriptor,
    /// The payload type; `None` when the field's type is an empty message
    /// (the case alone says the field is set).
    pub payload: Option<ValueType>,
    /// How the case's value is written.
    pub wire: WireKind,
}

/// A real (non-synthetic) oneof: a record field `option<variant>`.
#[derive(Debug, Clone)]
pub struct OneofModel {
    /// The record field name (no `%`).
    pub wit_name: String,
    /// The proto oneof name.
    pub proto_name: String,
    /// The variant type name in the package's `types` interface
    /// (`<message>-<oneof>`, made unique).
    pub type_name: String,
    /// The cases, in field-number order.
    pub cases: Vec<CaseModel>,
}

/// One member of a record, in WIT field order.
#[derive(Debug, Clone)]
pub enum MemberModel {
    /// A plain field.
    Field(FieldModel),
    /// A oneof group, placed at its lowest field number.
    Oneof(OneofModel),
}

impl MemberModel {
    /// The WIT record field name (no `%`).
    pub fn wit_name(&self) -> &str {
        match self {
            Self::Field(f) => &f.wit_name,
            Self::Oneof(o) => &o.wit_name,
        }
    }
}

/// A non-empty, non-well-known message: a WIT record.
#[derive(Debug, Clone)]
pub struct MessageModel {
    /// The proto message.
    pub descriptor: MessageDescriptor,
    /// The package it belongs to.
    pub package: PackageId,
    /// The record name in its package's `types` interface (no `%`).
    pub wit_name: String,
    /// The record fields, in field-number order.
    pub members: Vec<MemberModel>,
    /// Field number -> (member index, case index for oneofs), sorted by number.
    pub(crate) by_number: Vec<(u32, u32, u32)>,
    /// The message declares extension ranges: a field it does not declare
    /// may be an extension (which protobuf decodes and checks). Read by
    /// the bridge's direct decoder (the `runtime` feature).
    #[cfg_attr(not(feature = "runtime"), allow(dead_code))]
    pub(crate) extendable: bool,
}

impl MessageModel {
    /// The proto full name.
    pub fn full_name(&self) -> &str {
        self.descriptor.full_name()
    }

    /// The member (and oneof case) holding field `number`.
    #[inline]
    pub fn member_of(&self, number: u32) -> Option<(usize, usize)> {
        // Most messages number their fields 1, 2, 3, ...: field `n` is then
        // the `n`th entry, found without a search.
        let at = match self.by_number.get((number as usize).wrapping_sub(1)) {
            Some(e) if e.0 == number => (number - 1) as usize,
            _ => self.by_number.binary_search_by_key(&number, |e| e.0).ok()?,
        };
        let (_, member, case) = self.by_number[at];
        Some((member as usize, case as usize))
    }
}

/// One WIT enum case.
#[derive(Debug, Clone)]
pub struct EnumCase {
    /// The WIT case name (no `%`).
    pub wit_name: String,
    /// The proto value name.
    pub proto_name: String,
    /// The proto number.
    pub number: i32,
}

/// A proto enum: a WIT enum.
#[derive(Debug, Clone)]
pub struct EnumModel {
    /// The proto enum.
    pub descriptor: EnumDescriptor,
    /// The package it belongs to.
    pub package: PackageId,
    /// The enum name in its package's `types` interface (no `%`).
    pub wit_name: String,
    /// Whether the `ENUM_NAME_` prefix was stripped from the value names.
    pub prefix_stripped: bool,
    /// The cases in declaration order; for aliased numbers only the first name.
    pub cases: Vec<EnumCase>,
    pub(crate) by_number: HashMap<i32, usize>,
    pub(crate) by_name: HashMap<String, usize>,
}

impl EnumModel {
    /// The proto full name.
    pub fn full_name(&self) -> &str {
        self.descriptor.full_name()
    }

    /// The case for a proto number.
    pub fn case_by_number(&self, number: i32) -> Option<&EnumCase> {
        self.by_number.get(&number).map(|&i| &self.cases[i])
    }

    /// The case for a WIT case name.
    pub fn case_by_wit_name(&self, name: &str) -> Option<&EnumCase> {
        self.by_name.get(name).map(|&i| &self.cases[i])
    }
}

/// The four gRPC call kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStreaming,
    /// A stream of requests, one response.
    ClientStreaming,
    /// Streams both ways.
    Bidi,
}

impl CallKind {
    /// The kind of a method descriptor.
    pub fn of(method: &MethodDescriptor) -> Self {
        match (method.is_client_streaming(), method.is_server_streaming()) {
            (false, false) => Self::Unary,
            (false, true) => Self::ServerStreaming,
            (true, false) => Self::ClientStreaming,
            (true, true) => Self::Bidi,
        }
    }
}

/// A method: a WIT function (plus a resource for streaming kinds).
#[derive(Debug, Clone)]
pub struct MethodModel {
    /// The proto method.
    pub descriptor: MethodDescriptor,
    /// The WIT function name (no `%`).
    pub wit_name: String,
    /// The call kind.
    pub kind: CallKind,
    /// The request value type; `None` for an empty request message.
    pub request: Option<ValueType>,
    /// The response value type; `None` for an empty response message.
    pub response: Option<ValueType>,
    /// The resource name for streaming kinds (`<function>-stream` for server
    /// streaming, `<function>-call` for client streaming and bidi).
    pub resource: Option<String>,
}

impl MethodModel {
    /// Whether the proto declares the method free of side effects
    /// (`option idempotency_level = NO_SIDE_EFFECTS;`).
    pub fn declares_no_side_effects(&self) -> bool {
        // google.protobuf.MethodOptions.IdempotencyLevel.NO_SIDE_EFFECTS
        const NO_SIDE_EFFECTS: i32 = 1;
        self.descriptor
            .options()
            .get_field_by_name("idempotency_level")
            .is_some_and(|v| v.as_enum_number() == Some(NO_SIDE_EFFECTS))
    }
}

/// A type a service interface takes from its package's `types` interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTypeUse {
    /// The name in `types`.
    pub name_in_types: String,
    /// The name inside the service interface (differs when it would clash
    /// with a function or resource name).
    pub alias: String,
}

/// A service: a WIT interface.
#[derive(Debug, Clone)]
pub struct ServiceModel {
    /// The proto service.
    pub descriptor: prost_reflect::ServiceDescriptor,
    /// The package it belongs to.
    pub package: PackageId,
    /// The interface name (no `%`).
    pub wit_name: String,
    /// The methods in declaration order.
    pub methods: Vec<MethodModel>,
    /// Types used from `types`, sorted by name in `types`.
    pub type_uses: Vec<ServiceTypeUse>,
    /// Support-package types used (`call-options`, `rpc-status`, ...), sorted.
    pub support_uses: Vec<&'static str>,
    pub(crate) local_names: HashMap<ValueTypeKey, String>,
}

/// A type that is named in a WIT interface: a record or an enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueTypeKey {
    /// A record.
    Message(MessageId),
    /// An enum.
    Enum(EnumId),
}

/// A foreign type a package's `types` interface takes from another package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignUse {
    /// The package that defines it.
    pub package: PackageId,
    /// Its name there.
    pub name: String,
    /// Its name here.
    pub alias: String,
}

/// A proto package: a WIT package.
#[derive(Debug, Clone)]
pub struct PackageModel {
    /// The proto package name.
    pub proto_package: String,
    /// The WIT package name.
    pub wit: WitPackageName,
    /// The directory its WIT file goes to in a `wit/deps` layout:
    /// `namespace-name`, or `namespace-name-VERSION` when another version
    /// of the same package sits beside it.
    pub dir: String,
    /// Whether the package was exposed directly (a version override applies).
    pub exposed: bool,
    /// Records defined here, sorted by WIT name.
    pub messages: Vec<MessageId>,
    /// Enums defined here, sorted by WIT name.
    pub enums: Vec<EnumId>,
    /// Types taken from other packages, sorted by (package, name).
    pub foreign_uses: Vec<ForeignUse>,
    /// Support-package types the `types` interface uses, sorted.
    pub support_uses: Vec<&'static str>,
    /// Services exposed from this package, sorted by interface name.
    pub services: Vec<ServiceId>,
    pub(crate) local_names: HashMap<ValueTypeKey, String>,
}

impl PackageModel {
    /// The name a record or enum has inside this package's `types` interface.
    pub fn local_name(&self, key: ValueTypeKey) -> Option<&str> {
        self.local_names.get(&key).map(String::as_str)
    }
}
