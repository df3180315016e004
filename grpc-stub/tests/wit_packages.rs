//! Package-level hard cases of the proto -> WIT mapping: package names and
//! versions, namespaces, cross-package types and cycles, proto2, files with
//! nothing to map, bad exposures. Each generated package must resolve.

#[path = "wit_util.rs"]
mod util;

use util::{assert_contains, mapping, wit};

use reprise_grpc_stub::model::{FieldMapping, InterfaceModel, ModelOptions, Scalar, ValueType};

#[test]
fn keyword_package_names_are_escaped() {
    let (_, files) = wit(
        &[(
            "pk.proto",
            r#"syntax = "proto3"; package record.type.v1; message Use { int32 a = 1; }
            service Func { rpc Own(Use) returns (Use); }"#,
        )],
        None,
    );
    let text = util::package_text(&files, "record:type@1.0.0");
    assert_contains(&text, "package %record:%type@1.0.0;");
    assert_contains(&text, "interface %func {");
}

#[test]
fn one_segment_packages_get_the_default_namespace_or_the_given_one() {
    let src = [(
        "hello.proto",
        r#"syntax = "proto3"; package hello; message R { string s = 1; } service Greeter { rpc Hi(R) returns (R); }"#,
    )];
    let (_, files) = wit(&src, None);
    let text = util::package_text(&files, "proto:hello");
    assert_contains(&text, "package proto:hello;");
    assert_contains(&text, "interface greeter {");
    let (_, files) = wit(&src, Some("acme"));
    let text = util::package_text(&files, "acme:hello");
    assert_contains(&text, "interface greeter {");

    // A versioned package with one name segment keeps its version.
    let versioned = [(
        "legacy.proto",
        r#"syntax = "proto3"; package legacy.v2; message R { string s = 1; } service S { rpc Hi(R) returns (R); }"#,
    )];
    let (model, _) = wit(&versioned, None);
    assert_eq!(model.packages()[0].wit.to_string(), "proto:legacy@2.0.0");
}

#[test]
fn a_namespace_no_exposed_package_takes_is_refused() {
    // `core.todo.v1` is `core:todo@1.0.0` whatever the setting says: a
    // namespace that only one-segment packages take was dropped silently.
    let src = [(
        "todo.proto",
        r#"syntax = "proto3"; package core.todo.v1; message R { string s = 1; } service Todo { rpc Add(R) returns (R); }"#,
    )];
    let pool = util::inline_pool(&src).unwrap();
    let options = |namespace: &str| ModelOptions {
        namespace: Some(namespace.to_owned()),
        version: None,
    };
    let model = util::model_for_files(&pool, &["todo.proto"], &options("acme")).unwrap();
    let err = model.check_namespace(&options("acme")).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("`acme`") && msg.contains("core.todo.v1") && msg.contains("`core`"),
        "{msg}"
    );
    // The namespace the package has anyway is not an error.
    let model = util::model_for_files(&pool, &["todo.proto"], &options("core")).unwrap();
    model.check_namespace(&options("core")).unwrap();
    assert_eq!(model.packages()[0].wit.to_string(), "core:todo@1.0.0");
    // A one-segment package beside it takes the setting: not refused.
    let both = [
        src[0],
        (
            "hello.proto",
            r#"syntax = "proto3"; package hello; message H { string s = 1; } service Greeter { rpc Hi(H) returns (H); }"#,
        ),
    ];
    let pool = util::inline_pool(&both).unwrap();
    let model =
        util::model_for_files(&pool, &["todo.proto", "hello.proto"], &options("acme")).unwrap();
    model.check_namespace(&options("acme")).unwrap();
    let names: Vec<String> = model.packages().iter().map(|p| p.wit.to_string()).collect();
    assert!(names.contains(&"acme:hello".to_owned()), "{names:?}");
}

#[test]
fn version_suffixes_and_overrides() {
    let src = [(
        "b.proto",
        r#"syntax = "proto3"; package store.inventory.v1beta2; message R { string s = 1; } service Stock { rpc Get(R) returns (R); }"#,
    )];
    let (model, _) = wit(&src, None);
    assert_eq!(
        model.packages()[0].wit.to_string(),
        "store:inventory@1.0.0-beta.2"
    );
    let id = model.service_ids().next().unwrap();
    assert_eq!(
        model.interface_path(id),
        "store:inventory/stock@1.0.0-beta.2"
    );
    assert_eq!(
        model.service_by_interface("store:inventory/stock@1.0.0-beta.2"),
        Some(id)
    );
    assert!(
        model
            .method("store:inventory/stock@1.0.0-beta.2", "get")
            .is_some()
    );

    let pool = util::inline_pool(&src).unwrap();
    let options = ModelOptions {
        namespace: None,
        version: Some(semver::Version::new(2, 1, 0)),
    };
    let model = util::model_for_files(&pool, &["b.proto"], &options).unwrap();
    assert_eq!(model.packages()[0].wit.to_string(), "store:inventory@2.1.0");
}

#[test]
fn proto2_required_optional_defaults_groups() {
    let (model, files) = wit(
        &[(
            "p2.proto",
            r#"syntax = "proto2";
            package t.ptwo.v1;
            enum Mode { MODE_A = 1; MODE_B = 2; }
            message Req {
                required string id = 1;
                optional int32 limit = 2 [default = 10];
                optional Mode mode = 3 [default = MODE_B];
                repeated int64 ids = 4;
                optional group Extra = 5 { optional string note = 6; }
                extensions 100 to 200;
            }
            extend Req { optional string tag = 100; }
            service S { rpc Get(Req) returns (Req); }
            "#,
        )],
        None,
    );
    assert_eq!(
        mapping(&model, "t.ptwo.v1.Req", "id"),
        FieldMapping::Plain(ValueType::Scalar(Scalar::String))
    );
    assert_eq!(
        mapping(&model, "t.ptwo.v1.Req", "limit"),
        FieldMapping::Optional(ValueType::Scalar(Scalar::S32))
    );
    let text = util::package_text(&files, "t:ptwo@1.0.0");
    assert_contains(&text, "id: string,");
    assert_contains(&text, "limit: option<s32>,");
    assert_contains(&text, "mode: option<mode>,");
    assert_contains(&text, "ids: list<s64>,");
    // Groups map like message fields; extensions are not part of the record.
    assert_contains(&text, "extra: option<req-extra>,");
    assert!(
        !text.contains("tag"),
        "extension fields are ignored:\n{text}"
    );
}

#[test]
fn cross_package_types_are_used_from_their_package() {
    let (model, files) = wit(
        &[
            (
                "shared/v1/shared.proto",
                r#"syntax = "proto3"; package shared.v1;
                message Money { int64 units = 1; string currency = 2; }
                message Order { string id = 1; }
                enum Unit { UNIT_UNSPECIFIED = 0; UNIT_KG = 1; }"#,
            ),
            (
                "shop/v1/shop.proto",
                r#"syntax = "proto3"; package shop.v1;
                import "shared/v1/shared.proto";
                message Order { shared.v1.Order remote = 1; shared.v1.Money price = 2; shared.v1.Unit unit = 3; }
                service Shop { rpc Buy(Order) returns (shared.v1.Money); rpc Find(shared.v1.Order) returns (Order); }"#,
            ),
        ],
        Some("co"),
    );
    let shop = util::package_text(&files, "co:shop@1.0.0");
    assert_contains(
        &shop,
        "use co:shared/types@1.0.0.{money, order as co-shared-order, unit};",
    );
    assert_contains(&shop, "remote: option<co-shared-order>,");
    assert_contains(&shop, "use types.{co-shared-order, money, order};");
    assert_contains(&shop, "find: func(request: co-shared-order,");
    let _ = model;
}

#[test]
fn package_cycles_are_refused() {
    let pool = util::inline_pool(&[
        (
            "a/one.proto",
            r#"syntax = "proto3"; package a.v1; message X { int32 v = 1; }"#,
        ),
        (
            "b/b.proto",
            r#"syntax = "proto3"; package b.v1; import "a/one.proto"; message Y { a.v1.X x = 1; }"#,
        ),
        (
            "a/two.proto",
            r#"syntax = "proto3"; package a.v1; import "b/b.proto"; message Z { b.v1.Y y = 1; }
            service S { rpc Get(Z) returns (Z); }"#,
        ),
    ])
    .unwrap();
    let options = ModelOptions {
        namespace: Some("co".to_owned()),
        version: None,
    };
    let err = util::model_for_files(&pool, &["a/two.proto"], &options).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("a.v1") && msg.contains("b.v1") && msg.contains("cycle"),
        "{msg}"
    );
}

#[test]
fn files_with_only_extensions_give_an_empty_types_interface() {
    let (_, files) = wit(
        &[(
            "opts.proto",
            r#"syntax = "proto3"; package t.opts.v1; import "google/protobuf/descriptor.proto";
            extend google.protobuf.MethodOptions { string label = 50001; }"#,
        )],
        None,
    );
    let text = util::package_text(&files, "t:opts@1.0.0");
    assert_contains(&text, "interface types {\n}");
}

#[test]
fn unknown_exposures_are_clear_errors() {
    let pool = util::inline_pool(&[(
        "x.proto",
        r#"syntax = "proto3"; package x.v1; message M { int32 a = 1; }"#,
    )])
    .unwrap();
    for (exposure, needle) in [
        (
            reprise_grpc_stub::model::Exposure::File("nope.proto".into()),
            "file `nope.proto` not found",
        ),
        (
            reprise_grpc_stub::model::Exposure::Service("x.v1.Nope".into()),
            "service `x.v1.Nope` not found",
        ),
        (
            reprise_grpc_stub::model::Exposure::Message("x.v1.Nope".into()),
            "message `x.v1.Nope` not found",
        ),
    ] {
        let err = InterfaceModel::build(&pool, &[exposure], &ModelOptions::default()).unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
}

#[test]
fn two_versions_of_one_api_sit_side_by_side() {
    let src = [
        (
            "things/v1/things.proto",
            r#"syntax = "proto3"; package api.things.v1; message R { string s = 1; } service Things { rpc Get(R) returns (R); }"#,
        ),
        (
            "things/v1beta1/things.proto",
            r#"syntax = "proto3"; package api.things.v1beta1; message R { string s = 1; int32 n = 2; } service Things { rpc Get(R) returns (R); rpc Put(R) returns (R); }"#,
        ),
    ];
    // `wit` also resolves one world importing both packages.
    let (model, files) = wit(&src, None);
    let names: Vec<String> = model.packages().iter().map(|p| p.wit.to_string()).collect();
    assert_eq!(names, ["api:things@1.0.0-beta.1", "api:things@1.0.0"]);
    let paths: Vec<String> = files.iter().map(|f| f.path.display().to_string()).collect();
    assert!(
        paths.contains(&"api-things-1.0.0/things.wit".to_owned())
            && paths.contains(&"api-things-1.0.0-beta.1/things.wit".to_owned()),
        "{paths:?}"
    );
    let beta = util::package_text(&files, "api:things@1.0.0-beta.1");
    assert_contains(&beta, "put: func(");

    // One version alone keeps the plain directory name.
    let (_, files) = wit(&src[..1], None);
    assert!(
        files
            .iter()
            .any(|f| f.path.display().to_string() == "api-things/things.wit"),
        "{:?}",
        files.iter().map(|f| f.path.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn methods_declared_free_of_side_effects_are_known() {
    let src = [(
        "kv.proto",
        r#"syntax = "proto3"; package kv.v1; message R { string s = 1; }
           service Store {
             rpc Get(R) returns (R) { option idempotency_level = NO_SIDE_EFFECTS; }
             rpc Put(R) returns (R) { option idempotency_level = IDEMPOTENT; }
             rpc Touch(R) returns (R);
           }"#,
    )];
    let (model, _) = wit(&src, None);
    let service = model.service(model.service_ids().next().unwrap());
    let flags: Vec<(String, bool)> = service
        .methods
        .iter()
        .map(|m| (m.descriptor.name().to_owned(), m.declares_no_side_effects()))
        .collect();
    assert_eq!(
        flags,
        [
            ("Get".to_owned(), true),
            ("Put".to_owned(), false),
            ("Touch".to_owned(), false)
        ]
    );
}

#[test]
fn package_refusals_name_the_file_and_what_clashes() {
    let refused = |files: &[(&str, &str)], expose: &str| {
        let pool = util::inline_pool(files).unwrap();
        util::model_for_files(&pool, &[expose], &ModelOptions::default())
            .unwrap_err()
            .to_string()
    };
    // No package: the file is named.
    let msg = refused(
        &[(
            "nopkg.proto",
            r#"syntax = "proto3"; message M { int32 a = 1; } service S { rpc Get(M) returns (M); }"#,
        )],
        "nopkg.proto",
    );
    assert!(
        msg.contains("file `nopkg.proto`") && msg.contains("`package`"),
        "{msg}"
    );
    // WASI's namespace is not for gRPC services.
    let msg = refused(
        &[(
            "w.proto",
            r#"syntax = "proto3"; package wasi.http.v0p2; message M { int32 a = 1; }"#,
        )],
        "w.proto",
    );
    assert!(
        msg.contains("wasi.http.v0p2") && msg.contains("WASI's own"),
        "{msg}"
    );
    // Two packages whose WIT names differ but whose directories do not:
    // both names are given, and the directory.
    let msg = refused(
        &[
            (
                "a.proto",
                r#"syntax = "proto3"; package x.a_b.v1; message A { int32 a = 1; }"#,
            ),
            (
                "b.proto",
                r#"syntax = "proto3"; package x_a.b.v1; import "a.proto"; message B { x.a_b.v1.A a = 1; }"#,
            ),
        ],
        "b.proto",
    );
    assert!(
        msg.contains("`x:a-b@1.0.0`") && msg.contains("`x-a:b@1.0.0`") && msg.contains("directory"),
        "{msg}"
    );
}
