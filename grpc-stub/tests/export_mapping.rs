//! WIT -> proto for served exports: the derived proto of the typed-exports
//! guest against a golden file (and against protox compiling that text),
//! the naming and collision rules, refused functions, and the checks made
//! on incoming messages.
//!
//! Run with `REPRISE_BLESS=1` to rewrite `tests/golden/typed_exports.proto`.

use std::path::Path;

use prost_reflect::{DynamicMessage, ReflectMessage, Value};
use reprise_grpc_stub::Code;
use reprise_grpc_stub::export::{ExportApi, Reply};
use wasmtime::component::Val;
use wit_parser::Resolve;

/// The API of the world `world` in WIT source `wit`.
fn api_of(wit: &str, world: &str) -> ExportApi {
    let mut resolve = Resolve::default();
    let package = resolve.push_str("test.wit", wit).expect("the WIT parses");
    let world = resolve
        .select_world(&[package], Some(world))
        .expect("the world exists");
    ExportApi::from_world(&resolve, world, "Worker").expect("the exports map")
}

fn typed_exports() -> ExportApi {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../test-components/guests/typed-exports/wit/world.wit");
    let wit = std::fs::read_to_string(&path).expect("the guest's WIT is readable");
    api_of(&wit, "typed-exports")
}

#[test]
fn the_typed_exports_proto_matches_its_golden_file() {
    let api = typed_exports();
    let text = api.proto_text();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/typed_exports.proto");
    if std::env::var("REPRISE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&golden, &text).unwrap();
        panic!(
            "rewrote {}: review the diff, then run again without REPRISE_BLESS",
            golden.display()
        );
    }
    let expected = std::fs::read_to_string(&golden).expect("golden file (REPRISE_BLESS=1)");
    assert_eq!(
        text, expected,
        "the derived proto changed (run with REPRISE_BLESS=1 to update)"
    );
    assert_eq!(api.package(), "reprise_test.typed_exports");
    let services: Vec<&str> = api
        .services()
        .iter()
        .map(|s| s.full_name.as_str())
        .collect();
    assert_eq!(
        services,
        [
            "reprise_test.typed_exports.Worker",
            "reprise_test.typed_exports.Shapes"
        ]
    );
}

/// The text we serve compiles with an independent proto compiler into the
/// same messages and fields as the descriptor we serve.
#[test]
fn the_proto_text_compiles_to_the_served_descriptor() {
    let api = typed_exports();
    let dir = tempfile::tempdir().unwrap();
    let name = api.file().name().to_owned();
    let path = dir.path().join(&name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, api.proto_text()).unwrap();
    let compiled = protox::compile([&name], [dir.path()]).expect("protox compiles the text");
    let pool = prost_reflect::DescriptorPool::from_file_descriptor_set(compiled).unwrap();
    let mut checked = 0;
    for ours in api.pool().all_messages() {
        let theirs = pool
            .get_message_by_name(ours.full_name())
            .unwrap_or_else(|| panic!("{} missing from the text", ours.full_name()));
        for field in ours.fields() {
            let other = theirs
                .get_field(field.number())
                .unwrap_or_else(|| panic!("{}.{} missing", ours.full_name(), field.name()));
            assert_eq!(field.name(), other.name());
            assert_eq!(
                kind(&field.kind()),
                kind(&other.kind()),
                "{}",
                field.full_name()
            );
            assert_eq!(
                field.cardinality(),
                other.cardinality(),
                "{}",
                field.full_name()
            );
            assert_eq!(
                field.supports_presence(),
                other.supports_presence(),
                "{}",
                field.full_name()
            );
            assert_eq!(
                field.containing_oneof().map(|o| o.name().to_owned()),
                other.containing_oneof().map(|o| o.name().to_owned()),
                "{}",
                field.full_name()
            );
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} fields compared");
    for service in api.pool().services() {
        let theirs = pool.get_service_by_name(service.full_name()).unwrap();
        assert_eq!(service.methods().len(), theirs.methods().len());
    }
}

/// A field kind, comparable across pools.
fn kind(kind: &prost_reflect::Kind) -> String {
    match kind {
        prost_reflect::Kind::Message(m) => m.full_name().to_owned(),
        prost_reflect::Kind::Enum(e) => e.full_name().to_owned(),
        other => format!("{other:?}"),
    }
}

#[test]
fn names_collide_by_numeric_suffix_in_walk_order() {
    let api = api_of(
        r#"package t:names;
interface api {
  record add-request { a: u32 }
  enum value { value, other }
  variant choice { value(u32), none }
  add: func(r: add-request) -> u32;
  pick: func(c: choice, v: value) -> value;
}
world w {
  export api;
  export add: func(a: u32) -> u32;
}"#,
        "w",
    );
    let text = api.proto_text();
    // The WIT record keeps its name; generated requests yield, in walk
    // order (root `add` first).
    assert!(
        text.contains("message AddRequest {\n  uint32 a = 1;\n}"),
        "{text}"
    );
    assert!(
        text.contains("rpc Add(AddRequest2) returns (AddResponse);"),
        "{text}"
    );
    assert!(
        text.contains("rpc Add(AddRequest3) returns (AddResponse2);"),
        "{text}"
    );
    assert!(
        text.contains("message AddRequest3 {\n  AddRequest r = 1;\n}"),
        "{text}"
    );
    // A variant with a case called `value` puts its cases in oneof `value_`.
    assert!(text.contains("oneof value_ {"), "{text}");
    // Enums start with an UNSPECIFIED value.
    assert!(
        text.contains("VALUE_UNSPECIFIED = 0;\n  VALUE_VALUE = 1;"),
        "{text}"
    );
}

#[test]
fn resources_and_streams_are_left_out_with_the_function_named() {
    let api = api_of(
        r#"package t:res;
interface api {
  resource counter { get: func() -> u32; }
  make: func() -> counter;
  ticks: func() -> stream<u32>;
  later: async func() -> u32;
  ok: func() -> u32;
}
world w { export api; }"#,
        "w",
    );
    let skipped: Vec<(String, String)> = api
        .skipped()
        .iter()
        .map(|s| (s.function.clone(), s.reason.clone()))
        .collect();
    assert!(
        skipped
            .iter()
            .any(|(f, r)| f == "t:res/api#make" && r.contains("resource `counter`")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|(f, r)| f == "t:res/api#ticks" && r.contains("stream")),
        "{skipped:?}"
    );
    // An async function was refused as a resource method.
    assert!(
        skipped
            .iter()
            .any(|(f, r)| f == "t:res/api#later" && r == "async functions are not served"),
        "{skipped:?}"
    );
    assert_eq!(api.services()[0].methods.len(), 1);
    assert!(api.proto_text().contains("// Not served: `t:res/api#make`"));
}

fn method<'a>(api: &'a ExportApi, path: &str) -> &'a reprise_grpc_stub::export::MethodApi {
    api.method(path)
        .unwrap_or_else(|| panic!("no method {path}"))
}

#[test]
fn incoming_values_are_checked_and_named_by_path() {
    let api = typed_exports();
    let add = method(&api, "/reprise_test.typed_exports.Shapes/Add");
    let mut request = DynamicMessage::new(add.input.clone());
    request.set_field_by_name("a", Value::I32(300));
    request.set_field_by_name("b", Value::U32(1));
    let e = add.params(&request).unwrap_err();
    assert_eq!(e.path, "request.a");
    assert!(e.message.contains("300 is out of range for s8"), "{e}");
    request.set_field_by_name("a", Value::I32(-5));
    request.set_field_by_name("b", Value::U32(70_000));
    let e = add.params(&request).unwrap_err();
    assert!(e.message.contains("out of range for u16"), "{e}");
    request.set_field_by_name("b", Value::U32(7));
    assert_eq!(
        add.params(&request).unwrap(),
        vec![Val::S8(-5), Val::U16(7)]
    );

    let letter = method(&api, "/reprise_test.typed_exports.Shapes/Letter");
    let mut request = DynamicMessage::new(letter.input.clone());
    request.set_field_by_name("c", Value::String("ab".into()));
    let e = letter.params(&request).unwrap_err();
    assert!(e.message.contains("exactly one character"), "{e}");
    request.set_field_by_name("c", Value::String("é".into()));
    assert_eq!(letter.params(&request).unwrap(), vec![Val::Char('é')]);

    let describe = method(&api, "/reprise_test.typed_exports.Shapes/Describe");
    let request = DynamicMessage::new(describe.input.clone());
    let e = describe.params(&request).unwrap_err();
    assert!(e.message.contains("no case of shape is set"), "{e}");
}

#[test]
fn a_refused_value_is_named_by_its_proto_field() {
    // The path was built from the WIT name (`request.username`), not the
    // proto field the client set (`username2`, after the collision).
    let api = api_of(
        r#"package t:paths;
world w {
  export f: func(user-name: u8, username: u8) -> u8;
}"#,
        "w",
    );
    let f = &api.services()[0].methods[0];
    let text = api.proto_text();
    assert!(text.contains("uint32 username2 = 2;"), "{text}");
    let mut request = DynamicMessage::new(f.input.clone());
    request.set_field_by_name("user_name", Value::U32(1));
    request.set_field_by_name("username2", Value::U32(300));
    let e = f.params(&request).unwrap_err();
    assert_eq!(e.path, "request.username2", "{e}");
}

#[test]
fn an_enum_left_unspecified_is_refused() {
    let api = typed_exports();
    let describe = method(&api, "/reprise_test.typed_exports.Shapes/Describe");
    let mut request = describe
        .request(&[
            Val::Variant("empty".into(), None),
            Val::Enum("green".into()),
            Val::Flags(vec!["read".into()]),
        ])
        .unwrap();
    assert_eq!(
        describe.params(&request).unwrap()[1],
        Val::Enum("green".into())
    );
    request.set_field_by_name("c", Value::EnumNumber(0));
    let e = describe.params(&request).unwrap_err();
    assert!(e.message.contains("UNSPECIFIED"), "{e}");
    request.set_field_by_name("c", Value::EnumNumber(9));
    let e = describe.params(&request).unwrap_err();
    assert!(e.message.contains("9 is not a value of enum color"), "{e}");
}

#[test]
fn result_errors_become_statuses_with_the_error_as_detail() {
    let api = typed_exports();
    let lookup = method(&api, "/reprise_test.typed_exports.Shapes/Lookup");
    let not_found = Val::Result(Err(Some(Box::new(Val::Variant(
        "not-found".into(),
        Some(Box::new(Val::String("gone".into()))),
    )))));
    match lookup.reply(Some(&not_found)).unwrap() {
        Reply::Err { code, detail, .. } => {
            assert_eq!(code, Code::NotFound);
            let detail = detail.expect("a detail message");
            assert_eq!(
                detail.descriptor().full_name(),
                "reprise_test.typed_exports.LookupError"
            );
        }
        Reply::Ok(m) => panic!("expected an error, got {m:?}"),
    }
    let other = Val::Result(Err(Some(Box::new(Val::Variant(
        "other".into(),
        Some(Box::new(Val::String("x".into()))),
    )))));
    assert!(matches!(
        lookup.reply(Some(&other)).unwrap(),
        Reply::Err {
            code: Code::Unknown,
            ..
        }
    ));
    let found = Val::Result(Ok(Some(Box::new(Val::String("found".into())))));
    let Reply::Ok(response) = lookup.reply(Some(&found)).unwrap() else {
        panic!("expected a response");
    };
    assert_eq!(
        lookup.response_value(&response).unwrap(),
        Some(Val::String("found".into()))
    );
    let check = method(&api, "/reprise_test.typed_exports.Shapes/Check");
    assert!(check.error.is_some());
    let Reply::Ok(empty) = check.reply(Some(&Val::Result(Ok(None)))).unwrap() else {
        panic!("expected a response");
    };
    assert_eq!(empty.descriptor().fields().len(), 0);
}

/// A component exporting functions over records generated from a proto
/// (by the forward mapping) serves them as messages of the same shape:
/// same names, field names, types and numbers as the original.
#[test]
fn records_generated_from_protos_map_back_to_their_messages() {
    use reprise_grpc_stub::model::source::compile_files;
    use reprise_grpc_stub::model::{Exposure, InterfaceModel, ModelOptions};
    use reprise_grpc_stub::wit::{render, write_files};

    let protos = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/protos");
    let file = protos.join("core/todo/v1/todo.proto");
    let compiled = compile_files(std::slice::from_ref(&protos), &[file]).unwrap();
    let exposures: Vec<Exposure> = compiled.files.iter().cloned().map(Exposure::File).collect();
    let model =
        InterfaceModel::build(&compiled.pool, &exposures, &ModelOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_files(&dir.path().join("deps"), &render(&model)).unwrap();
    std::fs::write(
        dir.path().join("world.wit"),
        "package test:exporter;\n\
         interface api {\n\
           use core:todo/types@1.0.0.{todo-object, todo-add-request};\n\
           store: func(todo: todo-object) -> todo-object;\n\
           add: func(request: todo-add-request) -> list<todo-object>;\n\
         }\n\
         world w { export api; }\n",
    )
    .unwrap();
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_dir(dir.path()).unwrap();
    let world = resolve.select_world(&[package], Some("w")).unwrap();
    let api = ExportApi::from_world(&resolve, world, "Worker").unwrap();
    for name in ["TodoObject", "TodoAddRequest"] {
        let ours = api
            .pool()
            .get_message_by_name(&format!("test.exporter.{name}"))
            .unwrap_or_else(|| panic!("{name} is served"));
        let original = compiled
            .pool
            .get_message_by_name(&format!("core.todo.v1.{name}"))
            .unwrap();
        let shape = |m: &prost_reflect::MessageDescriptor| -> Vec<(u32, String, String)> {
            m.fields()
                .map(|f| (f.number(), f.name().to_owned(), kind(&f.kind())))
                .collect()
        };
        assert_eq!(shape(&ours), shape(&original), "{name}");
    }
}

#[test]
fn enums_from_protos_keep_their_zero_value_and_names_stay_valid_proto() {
    // An enum whose first case is `unspecified` (what the forward mapping
    // makes of `COLOR_UNSPECIFIED = 0`) got a second `COLOR_UNSPECIFIED`,
    // enum values clashed across enums (proto scopes them to the package)
    // and fields differing only in underscores clashed: the derived proto
    // did not validate and none of the component's functions was served.
    let api = api_of(
        r#"package t:clash;
interface api {
  enum color { unspecified, red }
  enum status { code-ok, unspecified }
  enum status-code { ok }
  record user { user-name: string, username: string, a-bc: u32, ab-c: u32 }
  variant pick { first-one(u32), firstone }
  paint: func(c: color, s: status, code: status-code, u: user, p: pick) -> color;
}
world w { export api; }"#,
        "w",
    );
    let text = api.proto_text();
    assert!(
        text.contains("enum Color {\n  COLOR_UNSPECIFIED = 0;\n  COLOR_RED = 1;\n}"),
        "{text}"
    );
    assert!(
        text.contains(
            "enum Status {\n  STATUS_UNSPECIFIED2 = 0;\n  STATUS_CODE_OK = 1;\n  STATUS_UNSPECIFIED = 2;\n}"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "enum StatusCode {\n  STATUS_CODE_UNSPECIFIED = 0;\n  STATUS_CODE_OK2 = 1;\n}"
        ),
        "{text}"
    );
    for field in ["user_name = 1", "username2 = 2", "a_bc = 3", "ab_c2 = 4"] {
        assert!(text.contains(field), "{field}: {text}");
    }
    assert!(
        text.contains("first_one") && text.contains("firstone2"),
        "{text}"
    );

    // Value 0 of `color` is its `unspecified` case, as in the proto.
    let paint = method(&api, "/t.clash.Api/Paint");
    let vals = [
        Val::Enum("unspecified".into()),
        Val::Enum("unspecified".into()),
        Val::Enum("ok".into()),
        Val::Record(vec![
            ("user-name".into(), Val::String("a".into())),
            ("username".into(), Val::String("b".into())),
            ("a-bc".into(), Val::U32(1)),
            ("ab-c".into(), Val::U32(2)),
        ]),
        Val::Variant("firstone".into(), None),
    ];
    let mut request = paint.request(&vals).unwrap();
    assert_eq!(
        request.get_field_by_name("c").unwrap().as_enum_number(),
        Some(0)
    );
    assert_eq!(
        request.get_field_by_name("s").unwrap().as_enum_number(),
        Some(2)
    );
    assert_eq!(paint.params(&request).unwrap(), vals);
    request.clear_field_by_name("c");
    assert_eq!(
        paint.params(&request).unwrap()[0],
        Val::Enum("unspecified".into())
    );
    request.set_field_by_name("s", Value::EnumNumber(0));
    let e = paint.params(&request).unwrap_err();
    assert!(e.message.contains("UNSPECIFIED"), "{e}");
}

/// Two inline exported interfaces may each define a type of the same name:
/// they shared one message (the second interface's fields dropped, its
/// reply a panic), as both were keyed `<inline>`.
#[test]
fn same_named_types_of_two_inline_interfaces_are_two_messages() {
    let api = api_of(
        r#"package t:x;
world w {
    export foo: interface {
        record point { x: u32, y: u32 }
        f: func(p: point) -> point;
    }
    export bar: interface {
        record point { x: string }
        g: func(p: point) -> point;
    }
}"#,
        "w",
    );
    // Inline interfaces have no package of their own.
    assert_eq!(api.package(), "reprise.worker");
    let f = method(&api, "/reprise.worker.Foo/F");
    let g = method(&api, "/reprise.worker.Bar/G");
    let point_of = |m: &reprise_grpc_stub::export::MethodApi| {
        let field = m.input.get_field_by_name("p").expect("field p");
        let prost_reflect::Kind::Message(point) = field.kind() else {
            panic!("p is not a message");
        };
        point
    };
    let (foo_point, bar_point) = (point_of(f), point_of(g));
    assert_ne!(foo_point.full_name(), bar_point.full_name());
    assert_eq!(foo_point.fields().len(), 2);
    let x = bar_point.get_field_by_name("x").unwrap();
    assert_eq!(x.kind(), prost_reflect::Kind::String);
    let reply = g
        .reply(Some(&Val::Record(vec![(
            "x".into(),
            Val::String("here".into()),
        )])))
        .expect("the reply converts");
    let Reply::Ok(response) = reply else {
        panic!("expected a response");
    };
    assert_eq!(
        g.response_value(&response).unwrap(),
        Some(Val::Record(vec![("x".into(), Val::String("here".into()))]))
    );
}

/// Enum cases whose values read alike once the enum's prefix is stripped
/// (`a-b` and `ab`: `E_A_B` and `E_AB`, both `AB`) get distinct values:
/// protoc refuses such a pair in a proto3 enum.
#[test]
fn enum_values_stay_apart_once_the_prefix_is_stripped() {
    let api = api_of(
        r#"package t:x;
world w {
    export api: interface {
        enum e { a-b, ab, unspecified }
        f: func(v: e) -> e;
    }
}"#,
        "w",
    );
    let e = api
        .pool()
        .all_enums()
        .find(|e| e.name() == "E")
        .expect("enum E");
    let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
    let mut keys: Vec<String> = names
        .iter()
        .map(|n| {
            n.strip_prefix("E_")
                .unwrap_or(n)
                .replace('_', "")
                .to_ascii_lowercase()
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), names.len(), "{names:?}");
    assert_eq!(names.len(), 4, "{names:?}");
    // The values still map to the cases, in order.
    let f = method(&api, "/reprise.worker.Api/F");
    let field = f.input.get_field_by_name("v").unwrap();
    let prost_reflect::Kind::Enum(kind) = field.kind() else {
        panic!("v is not an enum");
    };
    assert_eq!(kind.name(), "E");
}
