//! Shared helpers of the client tests: the descriptor pool compiled from the
//! shared proto corpus, method lookup, and conversion between the generated
//! prost types of the test servers and `DynamicMessage`s; a [`scripted`]
//! server for faults no real server shows.

#![allow(dead_code)]

pub mod scripted;

use std::sync::OnceLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};

/// The shared proto corpus, relative to this crate.
pub const PROTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/protos");

/// The pool of the test services, compiled once per test binary with protox
/// (as the executor does at run time).
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut compiler = protox::Compiler::new([PROTOS]).expect("shared protos include root");
        compiler
            .open_files([
                "grpc/testing/test.proto",
                "routeguide/route_guide.proto",
                "core/todo/v1/todo.proto",
                "example/example.proto",
            ])
            .expect("test protos compile");
        compiler.descriptor_pool()
    })
}

/// The method `service`/`name` (service by full name).
pub fn method(service: &str, name: &str) -> MethodDescriptor {
    pool()
        .get_service_by_name(service)
        .unwrap_or_else(|| panic!("service {service} in pool"))
        .methods()
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("method {service}/{name}"))
}

/// A generated message as a `DynamicMessage` of type `full_name`.
pub fn dynamic<M: Message>(full_name: &str, message: &M) -> DynamicMessage {
    let desc = pool()
        .get_message_by_name(full_name)
        .unwrap_or_else(|| panic!("message {full_name} in pool"));
    DynamicMessage::decode(desc, message.encode_to_vec().as_slice()).expect("decodes")
}

/// A `DynamicMessage` as a generated message.
pub fn typed<M: Message + Default>(message: &DynamicMessage) -> M {
    M::decode(message.encode_to_vec().as_slice()).expect("generated type decodes")
}
