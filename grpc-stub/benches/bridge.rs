//! Value bridge throughput on a ~1 KB message, next to prost-generated code
//! for the same message.
//!
//! - `val_to_bytes` / `bytes_to_val`: the direct paths
//!   (`bridge::val_to_bytes`, `bridge::bytes_to_val`), guest value <-> bytes;
//! - `*_via_dynamic`: the same through a `DynamicMessage`
//!   (`from_val` + encode, decode + `to_val`);
//! - `val_to_message` / `message_to_val`: the `DynamicMessage` conversions alone;
//! - `prost_encode` / `prost_decode`: the same message as hand-declared
//!   prost-derive structs (what code generation would give), for reference.
//!
//! Run with `cargo bench -p reprise-grpc-stub --bench bridge`.

/// The allocator the `worker-executor` binary runs with (the bridge runs
/// inside it).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use reprise_grpc_stub::bridge::{bytes_to_val, from_val, to_val, val_to_bytes};
use reprise_grpc_stub::model::source::compile_files;
use reprise_grpc_stub::model::{Exposure, InterfaceModel, ModelOptions};

const PROTO: &str = r#"syntax = "proto3";
package bench.shop.v1;
enum Status { STATUS_UNSPECIFIED = 0; STATUS_OPEN = 1; STATUS_PAID = 2; }
message Address { string street = 1; string city = 2; string zip = 3; string country = 4; }
message Item { string sku = 1; string title = 2; int64 quantity = 3; double price = 4; repeated string tags = 5; }
message Order {
  string id = 1;
  string customer = 2;
  int64 created_at = 3;
  Status status = 4;
  repeated Item items = 5;
  map<string, string> labels = 6;
  Address ship_to = 7;
}
"#;

/// The same messages as prost-derive structs.
mod generated {
    use std::collections::HashMap;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Address {
        #[prost(string, tag = "1")]
        pub street: String,
        #[prost(string, tag = "2")]
        pub city: String,
        #[prost(string, tag = "3")]
        pub zip: String,
        #[prost(string, tag = "4")]
        pub country: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Item {
        #[prost(string, tag = "1")]
        pub sku: String,
        #[prost(string, tag = "2")]
        pub title: String,
        #[prost(int64, tag = "3")]
        pub quantity: i64,
        #[prost(double, tag = "4")]
        pub price: f64,
        #[prost(string, repeated, tag = "5")]
        pub tags: Vec<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Order {
        #[prost(string, tag = "1")]
        pub id: String,
        #[prost(string, tag = "2")]
        pub customer: String,
        #[prost(int64, tag = "3")]
        pub created_at: i64,
        #[prost(int32, tag = "4")]
        pub status: i32,
        #[prost(message, repeated, tag = "5")]
        pub items: Vec<Item>,
        #[prost(map = "string, string", tag = "6")]
        pub labels: HashMap<String, String>,
        #[prost(message, optional, tag = "7")]
        pub ship_to: Option<Address>,
    }
}

fn sample() -> generated::Order {
    let items = (0..8)
        .map(|i| generated::Item {
            sku: format!("SKU-{i:06}"),
            title: format!("A reasonably descriptive product title #{i}"),
            quantity: i + 1,
            price: 9.99 * (i as f64 + 1.0),
            tags: vec!["new".into(), "sale".into(), format!("cat-{i}")],
        })
        .collect();
    let labels: HashMap<String, String> = (0..4)
        .map(|i| (format!("label-{i}"), format!("value-{i}")))
        .collect();
    generated::Order {
        id: "order-7f3a9c2e-4b1d-4e8f-9a6b-2c5d8e1f0a3b".into(),
        customer: "customer-1234567890@example.com".into(),
        created_at: 1_700_000_000_123,
        status: 2,
        items,
        labels,
        ship_to: Some(generated::Address {
            street: "221B Baker Street".into(),
            city: "London".into(),
            zip: "NW1 6XE".into(),
            country: "United Kingdom".into(),
        }),
    }
}

fn setup() -> (InterfaceModel, MessageDescriptor) {
    let dir = std::env::temp_dir().join(format!("reprise-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("shop.proto"), PROTO).expect("write proto");
    let compiled =
        compile_files(std::slice::from_ref(&dir), &[PathBuf::from("shop.proto")]).expect("compile");
    let _ = std::fs::remove_dir_all(&dir);
    let exposures = [Exposure::Message("bench.shop.v1.Order".to_owned())];
    let model =
        InterfaceModel::build(&compiled.pool, &exposures, &ModelOptions::default()).expect("model");
    let desc = compiled
        .pool
        .get_message_by_name("bench.shop.v1.Order")
        .expect("Order");
    (model, desc)
}

fn bench(c: &mut Criterion) {
    let (model, desc) = setup();
    let order = sample();
    let bytes = order.encode_to_vec();
    println!("message size: {} bytes", bytes.len());
    let msg = DynamicMessage::decode(desc.clone(), bytes.as_slice()).expect("decode");
    let val = to_val(&model, &msg).expect("to_val").expect("non-empty");

    let mut group = c.benchmark_group("order_1kb");
    group.bench_function("val_to_bytes", |b| {
        b.iter(|| black_box(val_to_bytes(&model, &desc, Some(black_box(&val))).expect("encode")))
    });
    group.bench_function("bytes_to_val", |b| {
        b.iter(|| {
            black_box(bytes_to_val(&model, &desc, black_box(bytes.as_slice())).expect("decode"))
        })
    });
    group.bench_function("val_to_bytes_via_dynamic", |b| {
        b.iter(|| {
            let m = from_val(&model, &desc, Some(black_box(&val))).expect("from_val");
            black_box(m.encode_to_vec())
        })
    });
    group.bench_function("bytes_to_val_via_dynamic", |b| {
        b.iter(|| {
            let m =
                DynamicMessage::decode(desc.clone(), black_box(bytes.as_slice())).expect("decode");
            black_box(to_val(&model, &m).expect("to_val"))
        })
    });
    group.bench_function("val_to_message", |b| {
        b.iter(|| black_box(from_val(&model, &desc, Some(black_box(&val))).expect("from_val")))
    });
    group.bench_function("message_to_val", |b| {
        b.iter(|| black_box(to_val(&model, black_box(&msg)).expect("to_val")))
    });
    group.bench_function("prost_encode", |b| {
        b.iter(|| black_box(black_box(&order).encode_to_vec()))
    });
    group.bench_function("prost_decode", |b| {
        b.iter(|| black_box(generated::Order::decode(black_box(bytes.as_slice())).expect("decode")))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
