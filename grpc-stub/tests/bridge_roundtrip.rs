//! Property: for every message type of the shared corpus (plus a kitchen
//! sink of the constructs the corpus lacks), a random message converted to a
//! component value and back is the same message; the value has exactly the
//! component type the generated WIT declares (checked against wasmtime's own
//! view of a component built from that WIT); and converting again gives the
//! same value.

#[path = "bridge_util.rs"]
mod bridge_util;
#[path = "wit_util.rs"]
mod util;

use std::path::PathBuf;
use std::sync::OnceLock;

use bridge_util::{GenOptions, Rng, WitTypes, gen_message, message_eq, typecheck, val_eq};
use proptest::prelude::*;
use prost::Message as _;
use prost_reflect::{DescriptorPool, MessageDescriptor, ReflectMessage};
use reprise_grpc_stub::Error;
use reprise_grpc_stub::bridge::{bytes_to_val, from_val, to_val, val_to_bytes};
use reprise_grpc_stub::model::source::compile_files;
use reprise_grpc_stub::model::{Exposure, InterfaceModel, ModelOptions};

/// Constructs the corpus does not cover.
const SINK: &str = r#"syntax = "proto3";
package sink.v1;
import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

enum Color { COLOR_UNSPECIFIED = 0; COLOR_RED = 1; COLOR_GREEN = 2; }

message Wkt {
  google.protobuf.Timestamp ts = 1;
  google.protobuf.Duration dur = 2;
  google.protobuf.Any any = 3;
  google.protobuf.FieldMask mask = 4;
  google.protobuf.Struct st = 5;
  google.protobuf.Value val = 6;
  google.protobuf.ListValue list = 7;
  google.protobuf.Empty empty = 8;
  google.protobuf.DoubleValue d = 9;
  google.protobuf.FloatValue f = 10;
  google.protobuf.Int64Value i64 = 11;
  google.protobuf.UInt64Value u64 = 12;
  google.protobuf.Int32Value i32 = 13;
  google.protobuf.UInt32Value u32 = 14;
  google.protobuf.BoolValue b = 15;
  google.protobuf.StringValue s = 16;
  google.protobuf.BytesValue by = 17;
  repeated google.protobuf.Timestamp times = 18;
  map<string, google.protobuf.Value> values = 19;
  repeated google.protobuf.Empty empties = 20;
  map<int32, google.protobuf.Empty> empty_map = 21;
  repeated google.protobuf.StringValue names = 22;
}

message Maps {
  map<int32, string> k_int32 = 1;
  map<int64, bytes> k_int64 = 2;
  map<uint32, Wkt> k_uint32 = 3;
  map<uint64, Color> k_uint64 = 4;
  map<sint32, double> k_sint32 = 5;
  map<sint64, float> k_sint64 = 6;
  map<fixed32, bool> k_fixed32 = 7;
  map<fixed64, int32> k_fixed64 = 8;
  map<sfixed32, int64> k_sfixed32 = 9;
  map<sfixed64, uint32> k_sfixed64 = 10;
  map<bool, uint64> k_bool = 11;
  map<string, string> k_string = 12;
}

message Scalars {
  double d = 1; float f = 2; int32 i32 = 3; int64 i64 = 4; uint32 u32 = 5; uint64 u64 = 6;
  sint32 s32 = 7; sint64 s64 = 8; fixed32 fx32 = 9; fixed64 fx64 = 10; sfixed32 sf32 = 11;
  sfixed64 sf64 = 12; bool b = 13; string s = 14; bytes by = 15; Color color = 16;
  optional int32 maybe = 17; optional Color maybe_color = 18; optional string maybe_text = 19;
  repeated double ds = 20; repeated Color colors = 21; repeated bytes blobs = 22;
}

message Node {
  string name = 1;
  repeated Node children = 2;
  Node parent = 3;
  map<string, Node> by_name = 4;
  oneof link { Node next = 5; string label = 6; google.protobuf.Empty end = 7; Color color = 8; }
}

message Ping { Pong pong = 1; int32 n = 2; }
message Pong { Ping ping = 1; oneof back { Ping again = 2; bytes raw = 3; } }

message Holder {
  Scalars scalars = 1;
  Maps maps = 2;
  Wkt wkt = 3;
  Node node = 4;
  Ping ping = 5;
}

service Sink { rpc Echo(Holder) returns (Holder); }
"#;

/// proto2: required/optional with defaults, closed enums, groups.
const SINK2: &str = r#"syntax = "proto2";
package sinktwo.v1;
enum Mode { MODE_A = 1; MODE_B = 2; }
message Old {
  required string id = 1;
  optional int32 limit = 2 [default = 10];
  optional Mode mode = 3 [default = MODE_B];
  repeated int64 ids = 4;
  optional group Extra = 5 { optional string note = 6; }
  required Mode must = 7;
}
"#;

struct Fixture {
    model: InterfaceModel,
    types: WitTypes,
    messages: Vec<MessageDescriptor>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("sink.proto"), SINK).unwrap();
        std::fs::write(dir.path().join("sink2.proto"), SINK2).unwrap();
        let mut files: Vec<PathBuf> = util::corpus_files()
            .into_iter()
            .map(PathBuf::from)
            .collect();
        files.push("sink.proto".into());
        files.push("sink2.proto".into());
        let compiled = compile_files(&[util::corpus_dir(), dir.path().to_path_buf()], &files)
            .expect("compile");
        let pool: DescriptorPool = compiled.pool;
        let messages: Vec<MessageDescriptor> = pool
            .all_messages()
            .filter(|m| {
                !m.is_map_entry() && compiled.files.contains(&m.parent_file().name().to_owned())
            })
            .collect();
        let mut exposures: Vec<Exposure> =
            compiled.files.iter().cloned().map(Exposure::File).collect();
        exposures.extend(
            messages
                .iter()
                .map(|m| Exposure::Message(m.full_name().to_owned())),
        );
        let options = ModelOptions {
            namespace: Some("corpus".to_owned()),
            version: None,
        };
        let model = InterfaceModel::build(&pool, &exposures, &options).expect("model");
        let component = util::resolve_and_encode(&model).expect("component");
        let types = bridge_util::wit_types(&component).expect("types");
        Fixture {
            model,
            types,
            messages,
        }
    })
}

/// Round-trips one message; returns a description of the first problem.
fn check_round_trip(f: &Fixture, msg: &prost_reflect::DynamicMessage) -> Result<(), String> {
    let name = msg.descriptor().full_name().to_owned();
    let val = to_val(&f.model, msg).map_err(|e| format!("{name}: to_val: {e}"))?;
    if let (Some(v), Some(id)) = (&val, f.model.message_id(&name)) {
        let m = f.model.message(id);
        let key = util::probe_function(&f.model, m.package.index(), &m.wit_name);
        let (params, _) = f
            .types
            .funcs
            .get(&key)
            .ok_or_else(|| format!("{name}: no probe function {key:?}"))?;
        typecheck(v, &params[0].1, &m.wit_name).map_err(|e| format!("{name}: {e:#}"))?;
    }
    let back = from_val(&f.model, &msg.descriptor(), val.as_ref())
        .map_err(|e| format!("{name}: from_val: {e}"))?;
    if !message_eq(msg, &back) {
        return Err(format!(
            "{name}: round trip changed the message\n  before: {msg:?}\n  after:  {back:?}"
        ));
    }
    let again = to_val(&f.model, &back).map_err(|e| format!("{name}: to_val again: {e}"))?;
    let same = match (&val, &again) {
        (None, None) => true,
        (Some(a), Some(b)) => val_eq(a, b),
        _ => false,
    };
    if !same {
        let diff = match (&val, &again) {
            (Some(a), Some(b)) => bridge_util::val_diff(a, b, "").unwrap_or_default(),
            _ => String::new(),
        };
        return Err(format!(
            "{name}: value differs on the second conversion: {diff}"
        ));
    }
    Ok(())
}

#[test]
fn every_corpus_message_type_is_covered() {
    let f = fixture();
    assert!(
        f.messages.len() > 100,
        "only {} message types",
        f.messages.len()
    );
    for m in &f.messages {
        assert!(
            f.model.value_type_of(m).is_ok(),
            "{} is not in the model",
            m.full_name()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 40,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_messages_round_trip(seed in any::<u64>()) {
        let f = fixture();
        let mut rng = Rng::new(seed);
        for desc in &f.messages {
            let msg = gen_message(&mut rng, desc, 0, GenOptions::default());
            if let Err(problem) = check_round_trip(f, &msg) {
                prop_assert!(false, "seed {seed}: {problem}");
            }
        }
    }

    #[test]
    fn unknown_enum_numbers_are_errors_never_guesses(seed in any::<u64>()) {
        let f = fixture();
        let mut rng = Rng::new(seed);
        let opts = GenOptions { unknown_enum_numbers: true, ..GenOptions::default() };
        for desc in &f.messages {
            let msg = gen_message(&mut rng, desc, 0, opts);
            match to_val(&f.model, &msg) {
                Ok(_) => {
                    // No unknown number in a mapped position (they may sit
                    // inside recursion-break bytes, which carry them as is).
                    if let Err(problem) = check_round_trip(f, &msg) {
                        prop_assert!(false, "seed {seed}: {problem}");
                    }
                }
                Err(Error::UnknownEnumNumber { path, number, enum_name }) => {
                    prop_assert!(!path.is_empty());
                    let unknown = f
                        .model
                        .enum_id(&enum_name)
                        .map(|id| f.model.enum_model(id).case_by_number(number).is_none());
                    prop_assert_eq!(unknown, Some(true), "{} {}", enum_name, number);
                }
                Err(other) => prop_assert!(false, "seed {seed}: {}: unexpected error {other}", desc.full_name()),
            }
        }
    }

    #[test]
    fn direct_byte_paths_match_the_dynamic_message_paths(seed in any::<u64>()) {
        let f = fixture();
        let mut rng = Rng::new(seed);
        let opts = GenOptions { unknown_enum_numbers: rng.one_in(2), ..GenOptions::default() };
        for desc in &f.messages {
            let msg = gen_message(&mut rng, desc, 0, opts);
            let bytes = msg.encode_to_vec();
            let name = desc.full_name();
            let slow = to_val(&f.model, &prost_reflect::DynamicMessage::decode(desc.clone(), bytes.as_slice()).unwrap());
            let fast = bytes_to_val(&f.model, desc, &bytes);
            match (&slow, &fast) {
                (Ok(a), Ok(b)) => {
                    let same = match (a, b) {
                        (None, None) => true,
                        (Some(a), Some(b)) => val_eq(a, b),
                        _ => false,
                    };
                    prop_assert!(same, "seed {seed}: {name}: bytes_to_val differs: {:?}",
                        a.as_ref().zip(b.as_ref()).and_then(|(a, b)| bridge_util::val_diff(a, b, "")));
                }
                (Err(a), Err(b)) => prop_assert_eq!(
                    std::mem::discriminant(a), std::mem::discriminant(b),
                    "seed {}: {}: {} vs {}", seed, name, a, b
                ),
                _ => prop_assert!(false, "seed {seed}: {name}: {slow:?} vs {fast:?}"),
            }
            if let Ok(v) = slow {
                let encoded = val_to_bytes(&f.model, desc, v.as_ref())
                    .map_err(|e| TestCaseError::fail(format!("{name}: val_to_bytes: {e}")))?;
                let direct = prost_reflect::DynamicMessage::decode(desc.clone(), encoded.as_slice())
                    .map_err(|e| TestCaseError::fail(format!("{name}: undecodable: {e}")))?;
                let via = from_val(&f.model, desc, v.as_ref()).unwrap();
                prop_assert!(message_eq(&direct, &via), "seed {seed}: {name}: val_to_bytes gives another message");
                prop_assert_eq!(&encoded, &val_to_bytes(&f.model, desc, v.as_ref()).unwrap());
            }
        }
    }
}

#[test]
fn negative_zero_floats_keep_their_sign_on_the_wire() {
    // proto3 leaves out an implicit-presence float only when it is +0.0.
    let f = fixture();
    let desc = f
        .messages
        .iter()
        .find(|m| m.name() == "Scalars")
        .expect("Scalars")
        .clone();
    let mut msg = prost_reflect::DynamicMessage::new(desc.clone());
    msg.set_field_by_name("d", prost_reflect::Value::F64(-0.0));
    msg.set_field_by_name("f", prost_reflect::Value::F32(-0.0));
    let val = to_val(&f.model, &msg).unwrap();
    let bytes = val_to_bytes(&f.model, &desc, val.as_ref()).unwrap();
    let back = prost_reflect::DynamicMessage::decode(desc, bytes.as_slice()).unwrap();
    let d = back.get_field_by_name("d").unwrap().as_f64().unwrap();
    let x = back.get_field_by_name("f").unwrap().as_f32().unwrap();
    assert!(d == 0.0 && d.is_sign_negative(), "{d}");
    assert!(x == 0.0 && x.is_sign_negative(), "{x}");
}
