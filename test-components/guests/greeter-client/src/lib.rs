//! Test guest: calls the example Greeter service through generated WIT.

wit_bindgen::generate!({ world: "greeter-client", path: "wit", generate_all });

use demo::example::greeter;
use demo::example::types::{HelloRequest, NumberRequest};
use reprise::grpc::types::RpcStatus;

fn describe(status: RpcStatus) -> String {
    format!("{:?}: {}", status.code, status.message)
}

struct GreeterClient;

impl Guest for GreeterClient {
    fn greet(name: String) -> Result<String, String> {
        greeter::say_hello(&HelloRequest { name }, None).map(|r| r.message).map_err(describe)
    }

    fn process(value: i32) -> Result<i32, String> {
        greeter::process_number(NumberRequest { value }, None).map(|r| r.result).map_err(describe)
    }
}

export!(GreeterClient);
