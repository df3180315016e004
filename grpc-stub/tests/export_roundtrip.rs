//! Property: for random WIT types and random values of them, component
//! values -> protobuf message -> bytes -> message -> component values is
//! the identity, through the descriptor derived for a function taking and
//! returning that type.

use proptest::prelude::*;
use prost::Message;
use prost_reflect::DynamicMessage;
use reprise_grpc_stub::export::proto::{FunctionPlan, ServicePlan};
use reprise_grpc_stub::export::shape::TypeName;
use reprise_grpc_stub::export::{ExportApi, Reply, Shape};
use wasmtime::component::Val;

fn leaf() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Bool),
        Just(Shape::S8),
        Just(Shape::S16),
        Just(Shape::S32),
        Just(Shape::S64),
        Just(Shape::U8),
        Just(Shape::U16),
        Just(Shape::U32),
        Just(Shape::U64),
        Just(Shape::F32),
        Just(Shape::F64),
        Just(Shape::Char),
        Just(Shape::String),
        Just(Shape::Bytes),
        // Half of them start with `unspecified`, which is then value 0.
        (1usize..4, any::<bool>()).prop_map(|(n, zero)| Shape::Enum {
            name: name(),
            cases: (0..n)
                .map(|i| match i {
                    0 if zero => "unspecified".to_owned(),
                    i => format!("e-{i}"),
                })
                .collect(),
        }),
        (1usize..4).prop_map(|n| Shape::Flags {
            name: name(),
            flags: (0..n).map(|i| format!("g-{i}")).collect(),
        }),
    ]
}

/// A placeholder name; [`number`] makes the names unique.
fn name() -> TypeName {
    TypeName {
        key: String::new(),
        wit: String::new(),
    }
}

fn shape() -> impl Strategy<Value = Shape> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|s| Shape::List(Box::new(s))),
            inner.clone().prop_map(|s| Shape::Option(Box::new(s))),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Shape::Tuple),
            (
                prop::option::of(inner.clone()),
                prop::option::of(inner.clone())
            )
                .prop_map(|(ok, err)| Shape::Result {
                    ok: ok.map(Box::new),
                    err: err.map(Box::new),
                }),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|fields| Shape::Record {
                name: name(),
                fields: fields
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| (format!("field-{i}"), s))
                    .collect(),
            }),
            prop::collection::vec(prop::option::of(inner), 1..4).prop_map(|cases| {
                Shape::Variant {
                    name: name(),
                    cases: cases
                        .into_iter()
                        .enumerate()
                        .map(|(i, s)| (format!("case-{i}"), s))
                        .collect(),
                }
            }),
        ]
    })
}

/// Gives every named type in `shape` a unique name.
fn number(shape: &mut Shape, next: &mut usize) {
    let mut rename = |name: &mut TypeName| {
        *next += 1;
        name.key = format!("k{next}");
        name.wit = format!("t-{next}");
    };
    match shape {
        Shape::Enum { name, .. } | Shape::Flags { name, .. } => rename(name),
        Shape::Record { name, fields } => {
            rename(name);
            for (_, f) in fields {
                number(f, next);
            }
        }
        Shape::Variant { name, cases } => {
            rename(name);
            for s in cases.iter_mut().filter_map(|(_, s)| s.as_mut()) {
                number(s, next);
            }
        }
        Shape::List(s) | Shape::Option(s) => number(s, next),
        Shape::Tuple(items) => items.iter_mut().for_each(|s| number(s, next)),
        Shape::Result { ok, err } => {
            for s in [ok, err].into_iter().flatten() {
                number(s, next);
            }
        }
        _ => {}
    }
}

fn value(shape: &Shape) -> BoxedStrategy<Val> {
    match shape.clone() {
        Shape::Bool => any::<bool>().prop_map(Val::Bool).boxed(),
        Shape::S8 => any::<i8>().prop_map(Val::S8).boxed(),
        Shape::S16 => any::<i16>().prop_map(Val::S16).boxed(),
        Shape::S32 => any::<i32>().prop_map(Val::S32).boxed(),
        Shape::S64 => any::<i64>().prop_map(Val::S64).boxed(),
        Shape::U8 => any::<u8>().prop_map(Val::U8).boxed(),
        Shape::U16 => any::<u16>().prop_map(Val::U16).boxed(),
        Shape::U32 => any::<u32>().prop_map(Val::U32).boxed(),
        Shape::U64 => any::<u64>().prop_map(Val::U64).boxed(),
        Shape::F32 => prop::num::f32::NORMAL.prop_map(Val::Float32).boxed(),
        Shape::F64 => prop::num::f64::NORMAL.prop_map(Val::Float64).boxed(),
        Shape::Char => any::<char>().prop_map(Val::Char).boxed(),
        Shape::String => ".{0,8}".prop_map(Val::String).boxed(),
        Shape::Bytes => prop::collection::vec(any::<u8>(), 0..8)
            .prop_map(|b| Val::List(b.into_iter().map(Val::U8).collect()))
            .boxed(),
        Shape::List(inner) => prop::collection::vec(value(&inner), 0..4)
            .prop_map(Val::List)
            .boxed(),
        Shape::Option(inner) => prop::option::of(value(&inner))
            .prop_map(|v| Val::Option(v.map(Box::new)))
            .boxed(),
        Shape::Tuple(items) => items
            .iter()
            .map(value)
            .collect::<Vec<_>>()
            .prop_map(Val::Tuple)
            .boxed(),
        Shape::Result { ok, err } => {
            let side = |s: &Option<Box<Shape>>| match s {
                Some(s) => value(s).prop_map(|v| Some(Box::new(v))).boxed(),
                None => Just(None).boxed(),
            };
            prop_oneof![
                side(&ok).prop_map(|v| Val::Result(Ok(v))),
                side(&err).prop_map(|v| Val::Result(Err(v))),
            ]
            .boxed()
        }
        Shape::Record { fields, .. } => {
            let names: Vec<String> = fields.iter().map(|(n, _)| n.clone()).collect();
            fields
                .iter()
                .map(|(_, s)| value(s))
                .collect::<Vec<_>>()
                .prop_map(move |vals| Val::Record(names.iter().cloned().zip(vals).collect()))
                .boxed()
        }
        Shape::Variant { cases, .. } => (0..cases.len())
            .prop_flat_map(move |i| {
                let (case, payload) = cases[i].clone();
                match payload {
                    Some(s) => value(&s)
                        .prop_map(move |v| Val::Variant(case.clone(), Some(Box::new(v))))
                        .boxed(),
                    None => Just(Val::Variant(case, None)).boxed(),
                }
            })
            .boxed(),
        Shape::Enum { cases, .. } => prop::sample::select(cases).prop_map(Val::Enum).boxed(),
        Shape::Flags { flags, .. } => prop::collection::vec(any::<bool>(), flags.len())
            .prop_map(move |set| {
                Val::Flags(
                    flags
                        .iter()
                        .zip(set)
                        .filter(|(_, on)| *on)
                        .map(|(f, _)| f.clone())
                        .collect(),
                )
            })
            .boxed(),
    }
}

fn shape_and_value() -> impl Strategy<Value = (Shape, Val)> {
    shape().prop_flat_map(|mut s| {
        number(&mut s, &mut 0);
        let v = value(&s);
        (Just(s), v)
    })
}

fn api_for(shape: &Shape) -> ExportApi {
    let plan = ServicePlan {
        name: "Roundtrip".into(),
        functions: vec![FunctionPlan {
            wit_name: "f".into(),
            params: vec![("p".into(), shape.clone()), ("q".into(), Shape::U8)],
            result: Some(Shape::Tuple(vec![shape.clone()])),
        }],
    };
    ExportApi::from_plans(
        "prop.test",
        "prop/test.proto",
        &[plan],
        &[vec!["f".into()]],
        Vec::new(),
    )
    .expect("the derived proto validates")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn values_survive_protobuf((shape, val) in shape_and_value()) {
        let api = api_for(&shape);
        let method = api.method("/prop.test.Roundtrip/F").expect("the rpc exists");
        let params = vec![val.clone(), Val::U8(7)];
        let request = method.request(&params).expect("the values encode");
        let bytes = request.encode_to_vec();
        let decoded = DynamicMessage::decode(method.input.clone(), bytes.as_slice())
            .expect("the bytes decode");
        prop_assert_eq!(method.params(&decoded).expect("the message converts"), params);

        let result = Val::Tuple(vec![val.clone()]);
        let Reply::Ok(response) = method.reply(Some(&result)).expect("the result encodes") else {
            panic!("not a result type");
        };
        let bytes = response.encode_to_vec();
        let decoded = DynamicMessage::decode(method.output.clone(), bytes.as_slice())
            .expect("the bytes decode");
        prop_assert_eq!(method.response_value(&decoded).expect("converts"), Some(result));
    }
}
