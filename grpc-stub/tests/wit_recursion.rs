//! Recursion breaks do not depend on what is exposed: the record a message
//! maps to is the same whichever services or messages are the roots, so one
//! WIT package means one thing across dependencies (the executor builds one
//! model per dependency, `worker-executor wit` one merged model).

#[path = "wit_util.rs"]
mod util;

use std::collections::BTreeMap;

use proptest::prelude::*;
use reprise_grpc_stub::model::{
    Exposure, FieldMapping, InterfaceModel, MemberModel, ModelOptions, ValueType,
};
use reprise_grpc_stub::wit::render;

/// Every field (and oneof case) of every record, by proto full name, with
/// message references spelled by full name (ids differ between models).
fn shapes(model: &InterfaceModel) -> BTreeMap<String, Vec<String>> {
    let name = |v: &ValueType| match v {
        ValueType::Message(id) => format!("msg {}", model.message(*id).full_name()),
        ValueType::RecursionBreak(id) => format!("BREAK {}", model.message(*id).full_name()),
        other => format!("{other:?}"),
    };
    let mapping = |m: &FieldMapping| match m {
        FieldMapping::Plain(v) => format!("plain {}", name(v)),
        FieldMapping::Optional(v) => format!("optional {}", name(v)),
        FieldMapping::List(v) => format!("list {}", name(v)),
        FieldMapping::Map { key, value } => format!("map {key:?} {}", name(value)),
        other => format!("{other:?}"),
    };
    let mut out = BTreeMap::new();
    for m in model.messages() {
        let mut members = Vec::new();
        for member in &m.members {
            match member {
                MemberModel::Field(f) => {
                    members.push(format!("{}: {}", f.wit_name, mapping(&f.mapping)))
                }
                MemberModel::Oneof(o) => {
                    for c in &o.cases {
                        let payload = c.payload.as_ref().map(name);
                        members.push(format!("{}.{}: {payload:?}", o.wit_name, c.wit_name));
                    }
                }
            }
        }
        out.insert(m.full_name().to_owned(), members);
    }
    out
}

fn build(pool: &prost_reflect::DescriptorPool, exposures: &[Exposure]) -> InterfaceModel {
    InterfaceModel::build(pool, exposures, &ModelOptions::default()).expect("model builds")
}

/// The WIT text of the package of proto package `proto`.
fn package_wit(model: &InterfaceModel, proto: &str) -> String {
    let package = model
        .packages()
        .iter()
        .find(|p| p.proto_package == proto)
        .expect("package in the model");
    util::package_text(&render(model), &package.wit.to_string())
}

#[test]
fn shared_cycle_is_broken_the_same_whichever_service_is_exposed() {
    let pool = util::inline_pool(&[
        (
            "t/shared/v1/s.proto",
            r#"syntax = "proto3";
            package t.shared.v1;
            message A { B b = 1; }
            message B { A a = 1; }
            "#,
        ),
        (
            "t/x/v1/x.proto",
            r#"syntax = "proto3";
            package t.x.v1;
            import "t/shared/v1/s.proto";
            service SX { rpc Go(t.shared.v1.A) returns (t.shared.v1.A); }
            "#,
        ),
        (
            "t/y/v1/y.proto",
            r#"syntax = "proto3";
            package t.y.v1;
            import "t/shared/v1/s.proto";
            service SY { rpc Go(t.shared.v1.B) returns (t.shared.v1.B); }
            "#,
        ),
    ])
    .expect("protos compile");
    let sx = Exposure::Service("t.x.v1.SX".to_owned());
    let sy = Exposure::Service("t.y.v1.SY".to_owned());
    let x = build(&pool, std::slice::from_ref(&sx));
    let y = build(&pool, std::slice::from_ref(&sy));
    let both = build(&pool, &[sx, sy]);

    // The canonical break: DFS from the smallest name (A), so B.a breaks.
    let expected = BTreeMap::from([
        (
            "t.shared.v1.A".to_owned(),
            vec!["b: optional msg t.shared.v1.B".to_owned()],
        ),
        (
            "t.shared.v1.B".to_owned(),
            vec!["a: optional BREAK t.shared.v1.A".to_owned()],
        ),
    ]);
    for (label, model) in [("SX", &x), ("SY", &y), ("both", &both)] {
        assert_eq!(shapes(model), expected, "exposing {label}");
        util::resolve_and_encode(model).expect("the WIT resolves");
    }
    let text = package_wit(&x, "t.shared.v1");
    assert_eq!(package_wit(&y, "t.shared.v1"), text);
    assert_eq!(package_wit(&both, "t.shared.v1"), text);
    util::assert_contains(&text, "a: option<list<u8>>,");
    util::assert_contains(&text, "b: option<b>,");
}

/// Builds the model once per message as the only root and once with all
/// messages; every record must look the same in each (restricted to what a
/// root reaches).
fn assert_root_independent(proto: &str) -> Result<(), TestCaseError> {
    let pool = util::inline_pool(&[("t/cyc/v1/c.proto", proto)]).expect("protos compile");
    let names: Vec<String> = pool
        .all_messages()
        .filter(|m| !m.is_map_entry())
        .map(|m| m.full_name().to_owned())
        .collect();
    let all: Vec<Exposure> = names.iter().cloned().map(Exposure::Message).collect();
    let whole = shapes(&build(&pool, &all));
    for root in &names {
        let one = shapes(&build(&pool, &[Exposure::Message(root.clone())]));
        for (message, members) in &one {
            prop_assert_eq!(
                Some(members),
                whole.get(message),
                "record {} differs with root {}\n{}",
                message,
                root,
                proto
            );
        }
    }
    // Reversed exposure order changes nothing either.
    let reversed: Vec<Exposure> = all.iter().rev().cloned().collect();
    prop_assert_eq!(shapes(&build(&pool, &reversed)), whole);
    Ok(())
}

#[test]
fn cycle_shapes_break_the_same_from_every_root() {
    let cases = [
        // A 3-cycle.
        "message A { B b = 1; } message B { C c = 1; } message C { A a = 1; }",
        // A 3-cycle entered from outside, fields out of number order.
        "message R { C c = 1; } message A { int32 n = 2; B b = 1; }
         message B { C c = 3; string s = 1; } message C { repeated A a = 1; }",
        // Two cycles sharing a node (M), through map values and oneofs.
        "message M { X x = 1; map<string, Y> y = 2; }
         message X { M m = 1; } message Y { oneof o { M m = 1; string s = 2; } }",
        // Two cycles sharing a node (Y), the shared node not the smallest.
        "message A { Y y = 1; } message Y { A a = 1; Z z = 2; } message Z { Y y = 1; }",
        // Self-loops, alone and inside a cycle.
        "message N { repeated N kids = 1; N parent = 2; }
         message P { P self = 1; Q q = 2; } message Q { P p = 1; Q q = 2; }",
        // Nested cycles: two SCCs joined by a plain edge.
        "message A { B b = 1; D d = 2; } message B { A a = 1; }
         message D { E e = 1; } message E { D d = 1; A a = 2; }",
    ];
    for body in cases {
        let proto = format!("syntax = \"proto3\";\npackage t.cyc.v1;\n{body}\n");
        assert_root_independent(&proto).unwrap();
        let pool = util::inline_pool(&[("t/cyc/v1/c.proto", &proto)]).expect("protos compile");
        let model = util::model_for_files(&pool, &["t/cyc/v1/c.proto"], &ModelOptions::default())
            .expect("model builds");
        util::resolve_and_encode(&model).expect("the WIT resolves");
    }
}

#[test]
fn the_smallest_name_of_a_cycle_keeps_its_record() {
    // DFS from A (smallest), fields by number: A.b -> B, B.c -> C, C.a -> A
    // is the back edge; B.a (number 2) is also a back edge to A.
    let proto = "syntax = \"proto3\";\npackage t.cyc.v1;\n
        message C { A a = 1; } message B { C c = 1; A a = 2; } message A { B b = 1; }";
    let pool = util::inline_pool(&[("t/cyc/v1/c.proto", proto)]).expect("protos compile");
    let model = build(&pool, &[Exposure::Message("t.cyc.v1.C".to_owned())]);
    let s = shapes(&model);
    assert_eq!(s["t.cyc.v1.A"], ["b: optional msg t.cyc.v1.B"]);
    assert_eq!(
        s["t.cyc.v1.B"],
        ["c: optional msg t.cyc.v1.C", "a: optional BREAK t.cyc.v1.A"]
    );
    assert_eq!(s["t.cyc.v1.C"], ["a: optional BREAK t.cyc.v1.A"]);
}

/// A random message graph: `edges[i]` are (kind, target) fields of message
/// `Mi`; kind 0 singular, 1 repeated, 2 map value, 3 oneof case.
fn graph() -> impl Strategy<Value = Vec<Vec<(u8, usize)>>> {
    (2usize..=6)
        .prop_flat_map(|n| prop::collection::vec(prop::collection::vec((0u8..4, 0..n), 0..4), n))
}

fn proto_of(edges: &[Vec<(u8, usize)>]) -> String {
    let mut out = String::from("syntax = \"proto3\";\npackage t.cyc.v1;\n");
    for (i, fields) in edges.iter().enumerate() {
        out.push_str(&format!("message M{i} {{\n  int32 id = 100;\n"));
        // Field numbers reversed against declaration order.
        for (j, (kind, target)) in fields.iter().enumerate() {
            let number = 10 - j;
            let line = match kind {
                0 => format!("  M{target} f{j} = {number};\n"),
                1 => format!("  repeated M{target} f{j} = {number};\n"),
                2 => format!("  map<string, M{target}> f{j} = {number};\n"),
                _ => format!("  oneof o{j} {{ M{target} f{j} = {number}; }}\n"),
            };
            out.push_str(&line);
        }
        out.push_str("}\n");
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_graphs_break_the_same_from_every_root(edges in graph()) {
        assert_root_independent(&proto_of(&edges))?;
    }
}
