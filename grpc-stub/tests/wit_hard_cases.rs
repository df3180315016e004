//! The hard cases of the proto -> WIT mapping, one small inline proto each.
//! Every generated package must also resolve (wit-parser) and encode
//! (wit-component), so a mapping that prints but is invalid WIT fails here.

#[path = "wit_util.rs"]
mod util;

use util::{assert_contains, field_names, mapping, record, wit};

use reprise_grpc_stub::model::{FieldMapping, Scalar, ValueType, WellKnown};

#[test]
fn keywords_are_escaped() {
    let (model, files) = wit(
        &[(
            "kw.proto",
            r#"syntax = "proto3";
            package t.kw.v1;
            message Type { string string = 1; int32 type = 2; bool list = 3; bytes result = 4; Record record = 5; }
            message Record { Option option = 1; }
            enum Option { OPTION_UNSPECIFIED = 0; OPTION_ENUM = 1; OPTION_FUNC = 2; }
            service Interface { rpc Use(Type) returns (Record); rpc Func(Record) returns (Type); }
            "#,
        )],
        None,
    );
    let text = util::package_text(&files, "t:kw@1.0.0");
    let _ = model;
    assert_contains(&text, "record %type {");
    assert_contains(&text, "%string: string,");
    assert_contains(&text, "%type: s32,");
    assert_contains(&text, "%list: bool,");
    assert_contains(&text, "%result: list<u8>,");
    assert_contains(&text, "%record: option<%record>,");
    assert_contains(&text, "enum %option {");
    assert_contains(&text, "unspecified,\n        %enum,\n        %func,");
    assert_contains(&text, "interface %interface {");
    assert_contains(
        &text,
        "%use: func(request: %type, options: option<call-options>) -> result<%record, rpc-status>;",
    );
}

#[test]
fn acronyms_stay_whole() {
    let (model, files) = wit(
        &[(
            "acr.proto",
            r#"syntax = "proto3";
            package t.acr.v1;
            message GRPCBin { string HTTPHeader = 1; int32 userID = 2; string http2_frame = 3; string field_1 = 4; }
            message HTTPRequest { GRPCBin bin = 1; }
            service IOService { rpc GetHTTPResponse(HTTPRequest) returns (GRPCBin); }
            "#,
        )],
        None,
    );
    assert_eq!(record(&model, "t.acr.v1.GRPCBin").wit_name, "grpc-bin");
    assert_eq!(
        record(&model, "t.acr.v1.HTTPRequest").wit_name,
        "http-request"
    );
    assert_eq!(
        field_names(&model, "t.acr.v1.GRPCBin"),
        ["http-header", "user-id", "http2-frame", "field1"]
    );
    let text = util::package_text(&files, "t:acr@1.0.0");
    assert_contains(&text, "interface io-service {");
    assert_contains(&text, "get-http-response: func(request: http-request,");
}

#[test]
fn collisions_get_deterministic_suffixes() {
    let src = r#"syntax = "proto3";
        package t.col.v1;
        message Foo { message Bar { int32 x = 1; } Bar bar = 1; }
        message FooBar { int32 y = 1; }
        message Timestamp { int64 when = 1; }
        message Check { string what = 1; }
        message ListStreamRequest { int32 n = 1; }
        service Types {
            rpc Check(Check) returns (Timestamp);
            rpc List(ListStreamRequest) returns (stream Foo);
            rpc ListStream(ListStreamRequest) returns (FooBar);
            rpc get_thing(Check) returns (Check);
            rpc GetThing(Check) returns (Check);
            rpc RpcStatus(Check) returns (Check);
        }
        "#;
    // proto3 refuses fields whose JSON names clash, so field collisions are
    // shown with proto2, which does not check.
    let fields = r#"syntax = "proto2";
        package t.fields.v1;
        message FooBar { optional string HTTPHeader = 1; optional string http_header = 2; optional string HttpHeader = 3;
                         oneof http_header_ { string a = 4; } }
        service S { rpc Get(FooBar) returns (FooBar); }
        "#;
    let (fmodel, _) = wit(&[("fields.proto", fields)], None);
    assert_eq!(
        field_names(&fmodel, "t.fields.v1.FooBar"),
        [
            "http-header",
            "http-header2",
            "http-header3",
            "http-header4"
        ]
    );
    let (model, files) = wit(&[("col.proto", src)], None);
    let (model2, files2) = wit(&[("col.proto", src)], None);
    assert_eq!(files, files2, "collision handling must be deterministic");
    let _ = model2;
    // Top-level `FooBar` wins over nested `Foo.Bar` (shallower first).
    assert_eq!(record(&model, "t.col.v1.FooBar").wit_name, "foo-bar");
    assert_eq!(record(&model, "t.col.v1.Foo.Bar").wit_name, "foo-bar2");
    // A user `Timestamp` must not shadow the support `timestamp`.
    assert_eq!(record(&model, "t.col.v1.Timestamp").wit_name, "timestamp2");
    let s = &model.services()[0];
    // The `types` interface name is reserved.
    assert_eq!(s.wit_name, "types2");
    let names: Vec<&str> = s.methods.iter().map(|m| m.wit_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "check",
            "list",
            "list-stream",
            "get-thing",
            "get-thing2",
            "rpc-status2"
        ]
    );
    // The streaming resource may not take the function's name.
    assert_eq!(s.methods[1].resource.as_deref(), Some("list-stream2"));
    // The request type `check` clashes with function `check`: aliased.
    let alias = s
        .type_uses
        .iter()
        .find(|u| u.name_in_types == "check")
        .map(|u| u.alias.as_str());
    assert_eq!(alias, Some("check-type"));
    let text = util::package_text(&files, "t:col@1.0.0");
    assert_contains(&text, "use types.{check as check-type,");
}

#[test]
fn enum_prefixes_stripped_only_when_safe() {
    let (model, _) = wit(
        &[(
            "en.proto",
            r#"syntax = "proto3";
            package t.en.v1;
            enum Color { COLOR_UNSPECIFIED = 0; COLOR_RED = 1; COLOR_DARK_BLUE = 2; }
            enum Level { LEVEL_1 = 0; LEVEL_2 = 1; }
            enum Mixed { MIXED_A = 0; OTHER = 1; }
            enum HTTPMethod { HTTP_METHOD_GET = 0; HTTP_METHOD_POST = 1; }
            enum Kind { KIND = 0; KIND_A = 1; }
            enum Aliased { option allow_alias = true; ALIASED_A = 0; ALIASED_B = 0; ALIASED_C = 1; }
            message M { Color c = 1; Level l = 2; Mixed m = 3; HTTPMethod h = 4; Kind k = 5; Aliased a = 6; }
            service S { rpc Do(M) returns (M); }
            "#,
        )],
        None,
    );
    let cases = |name: &str| -> (Vec<String>, bool) {
        let e = model.enum_model(model.enum_id(name).unwrap());
        (
            e.cases.iter().map(|c| c.wit_name.clone()).collect(),
            e.prefix_stripped,
        )
    };
    assert_eq!(
        cases("t.en.v1.Color"),
        (
            vec!["unspecified".into(), "red".into(), "dark-blue".into()],
            true
        )
    );
    // Stripping would leave names starting with a digit: kept whole.
    assert_eq!(
        cases("t.en.v1.Level"),
        (vec!["level1".into(), "level2".into()], false)
    );
    // Not every value has the prefix: kept whole.
    assert_eq!(
        cases("t.en.v1.Mixed"),
        (vec!["mixed-a".into(), "other".into()], false)
    );
    // Acronym enum names work too.
    assert_eq!(
        cases("t.en.v1.HTTPMethod"),
        (vec!["get".into(), "post".into()], true)
    );
    // Stripping would leave an empty name: kept whole.
    assert_eq!(
        cases("t.en.v1.Kind"),
        (vec!["kind".into(), "kind-a".into()], false)
    );
    // Aliases: one case per number, the first name.
    let aliased = model.enum_model(model.enum_id("t.en.v1.Aliased").unwrap());
    assert_eq!(aliased.cases.len(), 2);
    assert_eq!(aliased.case_by_number(0).unwrap().proto_name, "ALIASED_A");
}

#[test]
fn empty_messages_in_every_position() {
    let (model, files) = wit(
        &[(
            "em.proto",
            r#"syntax = "proto3";
            package t.em.v1;
            import "google/protobuf/empty.proto";
            message Nothing {}
            message Holder {
                Nothing one = 1;
                repeated Nothing many = 2;
                map<string, Nothing> keyed = 3;
                oneof choice { Nothing none = 4; int32 number = 5; }
                google.protobuf.Empty wkt = 6;
            }
            service S {
                rpc Ping(Nothing) returns (google.protobuf.Empty);
                rpc Put(Holder) returns (Nothing);
                rpc Get(Nothing) returns (Holder);
                rpc Watch(Nothing) returns (stream Nothing);
                rpc Upload(stream Nothing) returns (Nothing);
                rpc Chat(stream Nothing) returns (stream Nothing);
            }
            "#,
        )],
        None,
    );
    assert_eq!(
        mapping(&model, "t.em.v1.Holder", "one"),
        FieldMapping::EmptyPresence
    );
    assert_eq!(
        mapping(&model, "t.em.v1.Holder", "many"),
        FieldMapping::EmptyCount
    );
    assert_eq!(
        mapping(&model, "t.em.v1.Holder", "keyed"),
        FieldMapping::EmptyMapKeys {
            key: Scalar::String
        }
    );
    assert_eq!(
        mapping(&model, "t.em.v1.Holder", "wkt"),
        FieldMapping::EmptyPresence
    );
    assert!(
        model.message_id("t.em.v1.Nothing").is_none(),
        "empty records are not emitted"
    );
    let text = util::package_text(&files, "t:em@1.0.0");
    assert_contains(&text, "one: bool,");
    assert_contains(&text, "many: u32,");
    assert_contains(&text, "keyed: list<string>,");
    assert_contains(&text, "        none,\n        number(s32),");
    assert_contains(
        &text,
        "ping: func(options: option<call-options>) -> result<_, rpc-status>;",
    );
    assert_contains(
        &text,
        "put: func(request: holder, options: option<call-options>) -> result<_, rpc-status>;",
    );
    assert_contains(
        &text,
        "get: func(options: option<call-options>) -> result<holder, rpc-status>;",
    );
    assert_contains(&text, "next: func() -> result<bool, rpc-status>;");
    assert_contains(&text, "send: func() -> result<_, rpc-status>;");
    assert_contains(&text, "finish: func() -> result<_, rpc-status>;");
}

#[test]
fn recursion_is_broken_with_bytes() {
    let (model, files) = wit(
        &[(
            "rec.proto",
            r#"syntax = "proto3";
            package t.rec.v1;
            message Node { string name = 1; repeated Node children = 2; Node parent = 3; }
            message A { B b = 1; int32 depth = 2; }
            message B { A a = 1; map<string, A> by_name = 2; oneof pick { A first = 3; string label = 4; } }
            message Root { Node tree = 1; A chain = 2; }
            service S { rpc Walk(Root) returns (Root); }
            "#,
        )],
        None,
    );
    let node = model.message_id("t.rec.v1.Node").unwrap();
    assert_eq!(
        mapping(&model, "t.rec.v1.Node", "children"),
        FieldMapping::List(ValueType::RecursionBreak(node))
    );
    assert_eq!(
        mapping(&model, "t.rec.v1.Node", "parent"),
        FieldMapping::Optional(ValueType::RecursionBreak(node))
    );
    // Mutual recursion: A is expanded first (reached from Root.chain), so the
    // back-edges are in B.
    let a = model.message_id("t.rec.v1.A").unwrap();
    let b = model.message_id("t.rec.v1.B").unwrap();
    assert_eq!(
        mapping(&model, "t.rec.v1.A", "b"),
        FieldMapping::Optional(ValueType::Message(b))
    );
    assert_eq!(
        mapping(&model, "t.rec.v1.B", "a"),
        FieldMapping::Optional(ValueType::RecursionBreak(a))
    );
    assert_eq!(
        mapping(&model, "t.rec.v1.B", "by_name"),
        FieldMapping::Map {
            key: Scalar::String,
            value: ValueType::RecursionBreak(a)
        }
    );
    let text = util::package_text(&files, "t:rec@1.0.0");
    assert_contains(&text, "children: list<list<u8>>,");
    assert_contains(&text, "parent: option<list<u8>>,");
    assert_contains(&text, "first(list<u8>),");
    assert_contains(
        &text,
        "The protobuf encoding of `t.rec.v1.Node` (a recursive reference, or too deep or large to nest here).",
    );
}

#[test]
fn every_well_known_type() {
    let (model, files) = wit(
        &[(
            "wk.proto",
            r#"syntax = "proto3";
            package t.wk.v1;
            import "google/protobuf/timestamp.proto";
            import "google/protobuf/duration.proto";
            import "google/protobuf/wrappers.proto";
            import "google/protobuf/any.proto";
            import "google/protobuf/field_mask.proto";
            import "google/protobuf/struct.proto";
            import "google/protobuf/empty.proto";
            message All {
                google.protobuf.Timestamp ts = 1;
                google.protobuf.Duration dur = 2;
                google.protobuf.DoubleValue d = 3;
                google.protobuf.FloatValue f = 4;
                google.protobuf.Int64Value i64 = 5;
                google.protobuf.UInt64Value u64 = 6;
                google.protobuf.Int32Value i32 = 7;
                google.protobuf.UInt32Value u32 = 8;
                google.protobuf.BoolValue b = 9;
                google.protobuf.StringValue s = 10;
                google.protobuf.BytesValue by = 11;
                google.protobuf.Any any = 12;
                google.protobuf.FieldMask mask = 13;
                google.protobuf.Struct st = 14;
                google.protobuf.Value v = 15;
                google.protobuf.ListValue lv = 16;
                google.protobuf.Empty e = 17;
                repeated google.protobuf.Timestamp times = 18;
                map<string, google.protobuf.Value> values = 19;
                google.protobuf.NullValue null = 20;
            }
            service S {
                rpc Echo(All) returns (All);
                rpc Now(google.protobuf.Empty) returns (google.protobuf.Timestamp);
                rpc Name(google.protobuf.StringValue) returns (google.protobuf.Struct);
            }
            "#,
        )],
        None,
    );
    let wk = |f: &str| mapping(&model, "t.wk.v1.All", f);
    assert_eq!(
        wk("ts"),
        FieldMapping::Optional(ValueType::WellKnown(WellKnown::Timestamp))
    );
    assert_eq!(
        wk("s"),
        FieldMapping::Optional(ValueType::WellKnown(WellKnown::Wrapper(Scalar::String)))
    );
    let text = util::package_text(&files, "t:wk@1.0.0");
    for line in [
        "use reprise:grpc/types@0.1.0.{any, duration, timestamp};",
        "ts: option<timestamp>,",
        "dur: option<duration>,",
        "d: option<f64>,",
        "f: option<f32>,",
        "i64: option<s64>,",
        "u64: option<u64>,",
        "i32: option<s32>,",
        "u32: option<u32>,",
        "b: option<bool>,",
        "s: option<string>,",
        "by: option<list<u8>>,",
        "any: option<any>,",
        "mask: option<list<string>>,",
        "st: option<string>,",
        "v: option<string>,",
        "lv: option<string>,",
        "e: bool,",
        "times: list<timestamp>,",
        "values: list<tuple<string, string>>,",
        "null: null-value,",
        "use google:protobuf/types.{null-value};",
        "now: func(options: option<call-options>) -> result<timestamp, rpc-status>;",
        "name: func(request: string, options: option<call-options>) -> result<string, rpc-status>;",
    ] {
        assert_contains(&text, line);
    }
    // NullValue is an ordinary enum of package google.protobuf.
    let protobuf = util::package_text(&files, "google:protobuf");
    assert_contains(&protobuf, "enum null-value {");
}

#[test]
fn proto3_optional_maps_and_oneofs() {
    let (model, files) = wit(
        &[(
            "mo.proto",
            r#"syntax = "proto3";
            package t.mo.v1;
            enum E { E_ZERO = 0; E_ONE = 1; }
            message V { int32 x = 1; }
            message M {
                optional int32 maybe = 1;
                optional string maybe_text = 2;
                map<int32, string> k_int32 = 3;
                map<int64, bytes> k_int64 = 4;
                map<uint32, V> k_uint32 = 5;
                map<uint64, E> k_uint64 = 6;
                map<sint32, double> k_sint32 = 7;
                map<sint64, float> k_sint64 = 8;
                map<fixed32, bool> k_fixed32 = 9;
                map<fixed64, int32> k_fixed64 = 10;
                map<sfixed32, int64> k_sfixed32 = 11;
                map<sfixed64, uint32> k_sfixed64 = 12;
                map<bool, uint64> k_bool = 13;
                map<string, string> k_string = 14;
                oneof body { string text = 20; V value = 21; E kind = 22; bytes raw = 23; }
                int32 after = 24;
            }
            service S { rpc Do(M) returns (M); }
            "#,
        )],
        None,
    );
    assert_eq!(
        mapping(&model, "t.mo.v1.M", "maybe"),
        FieldMapping::Optional(ValueType::Scalar(Scalar::S32))
    );
    let text = util::package_text(&files, "t:mo@1.0.0");
    for line in [
        "maybe: option<s32>,",
        "maybe-text: option<string>,",
        "k-int32: list<tuple<s32, string>>,",
        "k-int64: list<tuple<s64, list<u8>>>,",
        "k-uint32: list<tuple<u32, v>>,",
        "k-uint64: list<tuple<u64, e>>,",
        "k-sint32: list<tuple<s32, f64>>,",
        "k-sint64: list<tuple<s64, f32>>,",
        "k-fixed32: list<tuple<u32, bool>>,",
        "k-fixed64: list<tuple<u64, s32>>,",
        "k-sfixed32: list<tuple<s32, s64>>,",
        "k-sfixed64: list<tuple<s64, u32>>,",
        "k-bool: list<tuple<bool, u64>>,",
        "k-string: list<tuple<string, string>>,",
        "body: option<m-body>,",
        "variant m-body {\n        text(string),\n        value(v),\n        kind(e),\n        raw(list<u8>),\n    }",
    ] {
        assert_contains(&text, line);
    }
    // The oneof sits at its lowest field number, before `after`.
    assert_eq!(
        field_names(&model, "t.mo.v1.M").last().map(String::as_str),
        Some("after")
    );
}

#[test]
fn deep_nesting_and_long_chains() {
    // Five levels of nesting.
    let nested = r#"syntax = "proto3";
        package t.deep.v1;
        message A { message B { message C { message D { message E { int32 leaf = 1; } E e = 1; } D d = 1; } C c = 1; } B b = 1; }
        service S { rpc Get(A) returns (A.B.C.D.E); }
        "#;
    let (model, _) = wit(&[("deep.proto", nested)], None);
    assert_eq!(record(&model, "t.deep.v1.A.B.C.D.E").wit_name, "a-b-c-d-e");

    // A chain of 400 messages: the walk must not overflow the stack.
    let mut chain = String::from("syntax = \"proto3\";\npackage t.chain.v1;\n");
    for i in 0..400 {
        chain.push_str(&format!(
            "message M{i} {{ M{} next = 1; int32 v = 2; }}\n",
            i + 1
        ));
    }
    chain.push_str("message M400 { M0 back = 1; }\nservice S { rpc Get(M0) returns (M0); }\n");
    let (model, _) = wit(&[("chain.proto", &chain)], None);
    let m0 = model.message_id("t.chain.v1.M0").unwrap();
    assert_eq!(
        mapping(&model, "t.chain.v1.M400", "back"),
        FieldMapping::Optional(ValueType::RecursionBreak(m0))
    );
    // The component model allows 100 levels of type nesting: the chain is
    // cut into bytes every so often, deterministically.
    let breaks: Vec<usize> = (0..400)
        .filter(|i| {
            matches!(
                mapping(&model, &format!("t.chain.v1.M{i}"), "next"),
                FieldMapping::Optional(ValueType::RecursionBreak(_))
            )
        })
        .collect();
    assert!(
        breaks.len() >= 7,
        "expected periodic depth breaks, got {breaks:?}"
    );
    assert!(breaks.windows(2).all(|w| w[1] - w[0] <= 48), "{breaks:?}");

    // A doubling tree: the effective type size explodes (2^30) without
    // recursion; the largest fields become bytes until it fits.
    let mut tree = String::from("syntax = \"proto3\";\npackage t.tree.v1;\n");
    for i in 0..30 {
        tree.push_str(&format!(
            "message T{i} {{ T{n} left = 1; T{n} right = 2; }}\n",
            n = i + 1
        ));
    }
    tree.push_str("message T30 { int32 leaf = 1; }\nservice S { rpc Get(T0) returns (T0); }\n");
    let (model, _) = wit(&[("tree.proto", &tree)], None);
    let broken = (0..30)
        .filter(|i| {
            matches!(
                mapping(&model, &format!("t.tree.v1.T{i}"), "left"),
                FieldMapping::Optional(ValueType::RecursionBreak(_))
            )
        })
        .count();
    assert!(broken > 0, "the size limit must break some fields");
}

#[test]
fn enum_values_colliding_after_kebab_case_get_suffixes() {
    // proto3 refuses such values; proto2 accepts them.
    let (model, files) = wit(
        &[(
            "ec.proto",
            r#"syntax = "proto2";
            package t.ec.v1;
            enum Shade { SHADE_DARK_RED = 0; SHADE_DarkRed = 1; SHADE_darkRed = 2; SHADE_TYPE = 3; }
            message M { optional Shade s = 1; }
            service S { rpc Do(M) returns (M); }
            "#,
        )],
        None,
    );
    let e = model.enum_model(model.enum_id("t.ec.v1.Shade").unwrap());
    let names: Vec<&str> = e.cases.iter().map(|c| c.wit_name.as_str()).collect();
    assert_eq!(names, ["dark-red", "dark-red2", "dark-red3", "type"]);
    assert!(e.prefix_stripped);
    let text = util::package_text(&files, "t:ec@1.0.0");
    assert_contains(&text, "dark-red3,\n        %type,");
}

#[test]
fn names_that_are_not_identifiers_are_refused() {
    // Descriptors from server reflection or an uploaded set are not checked
    // by a .proto grammar: a message named with a line break was printed
    // into a `///` comment of the generated WIT, and the rest of its name
    // was read as WIT.
    use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto};
    use reprise_grpc_stub::model::{Exposure, InterfaceModel, ModelOptions};
    for (message, field) in [("Foo\ninterface evil {}", "x"), ("Ok", "a\u{202E}b")] {
        let file = FileDescriptorProto {
            name: Some("odd.proto".into()),
            package: Some("t.odd.v1".into()),
            syntax: Some("proto3".into()),
            message_type: vec![DescriptorProto {
                name: Some(message.into()),
                field: vec![FieldDescriptorProto {
                    name: Some(field.into()),
                    number: Some(1),
                    label: Some(1),
                    r#type: Some(9),
                    json_name: Some("x".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let set = prost_types::FileDescriptorSet { file: vec![file] };
        let pool = prost_reflect::DescriptorPool::from_file_descriptor_set(set).unwrap();
        let error = InterfaceModel::build(
            &pool,
            &[Exposure::File("odd.proto".into())],
            &ModelOptions::default(),
        )
        .expect_err("refused")
        .to_string();
        assert!(error.contains("not a proto identifier"), "{error}");
        assert!(!error.contains('\n'), "the name is escaped: {error}");
    }
}

#[test]
fn types_with_more_members_than_a_component_type_may_have_are_refused() {
    // wasmparser refuses a record, variant or enum of more than 10 000
    // members; the model took them (an enum counts as one in the size
    // budget), wrote the WIT, and every component built on it failed.
    use reprise_grpc_stub::model::ModelOptions;
    let values: String = (0..10_001)
        .map(|i| format!("  BIG_V{i} = {i};\n"))
        .collect();
    let fields: String = (1..=10_001)
        .map(|i| format!("  int32 f{i} = {i};\n"))
        .collect();
    for (name, body, item) in [
        (
            "e.proto",
            format!("enum Big {{\n{values}}}\nmessage M {{ Big b = 1; }}\n"),
            "t.big.Big",
        ),
        ("m.proto", format!("message M {{\n{fields}}}\n"), "t.big.M"),
    ] {
        let text = format!(
            "syntax = \"proto3\";\npackage t.big;\n{body}service S {{ rpc Call(M) returns (M); }}\n"
        );
        let pool = util::inline_pool(&[(name, &text)]).unwrap();
        let error = util::model_for_files(&pool, &[name], &ModelOptions::default())
            .expect_err("refused")
            .to_string();
        assert!(error.contains(item) && error.contains("10000"), "{error}");
    }
}
