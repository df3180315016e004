//! The test servers answer real tonic clients and their switches work.

use std::time::Duration;

use reprise_system_tests::proto::core::todo::v1::todo_service_client::TodoServiceClient;
use reprise_system_tests::proto::core::todo::v1::{
    TodoAddRequest, TodoDeleteRequest, TodoListRequest,
};
use reprise_system_tests::proto::example::HelloRequest;
use reprise_system_tests::proto::example::greeter_client::GreeterClient;
use reprise_system_tests::{
    FILE_DESCRIPTOR_SET, IDEMPOTENCY_KEY, InjectedFailure, spawn_greeter_server, spawn_todo_server,
};

const LIMIT: Duration = Duration::from_secs(20);

fn add(user: &str, task: &str, key: Option<&str>) -> tonic::Request<TodoAddRequest> {
    let mut request = tonic::Request::new(TodoAddRequest {
        user_id: user.into(),
        task: task.into(),
    });
    if let Some(key) = key {
        request
            .metadata_mut()
            .insert(IDEMPOTENCY_KEY, key.parse().expect("ascii"));
    }
    request
}

#[tokio::test]
async fn todo_server_keeps_state_dedups_and_parks() {
    let server = spawn_todo_server().await.expect("server");
    let mut client = TodoServiceClient::connect(server.endpoint())
        .await
        .expect("connect");
    let first = client
        .todo_add(add("u", "a", Some("k1")))
        .await
        .expect("add");
    let again = client
        .todo_add(add("u", "a", Some("k1")))
        .await
        .expect("retry");
    assert_eq!(first.get_ref(), again.get_ref());
    client.todo_add(add("u", "b", None)).await.expect("add b");
    let list = client
        .todo_list(TodoListRequest {
            user_id: "u".into(),
        })
        .await
        .expect("list")
        .into_inner();
    let tasks: Vec<&str> = list.todos.iter().map(|t| t.task.as_str()).collect();
    assert_eq!(tasks, ["a", "b"]);
    assert_eq!(server.calls("TodoAdd"), 3);
    assert_eq!(server.idempotency_keys("TodoAdd"), ["k1", "k1"]);

    let missing = client
        .todo_delete(TodoDeleteRequest {
            user_id: "u".into(),
            id: "nope".into(),
        })
        .await
        .expect_err("not found");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    assert!(!missing.details().is_empty(), "rich details attached");

    // Park: the call is held until released.
    server.state.park_method("TodoList");
    let mut parked_client = client.clone();
    let held = tokio::spawn(async move {
        parked_client
            .todo_list(TodoListRequest {
                user_id: "u".into(),
            })
            .await
    });
    server.state.wait_parked(1, LIMIT).await.expect("parked");
    assert!(!held.is_finished());
    server.state.release();
    let released = tokio::time::timeout(LIMIT, held)
        .await
        .expect("in time")
        .expect("joined")
        .expect("ok");
    assert_eq!(released.into_inner().todos.len(), 2);

    // Injected failure, used once.
    server.state.fail_next(
        "TodoList",
        InjectedFailure::new(tonic::Code::Unavailable, "injected"),
    );
    let err = client
        .todo_list(TodoListRequest {
            user_id: "u".into(),
        })
        .await
        .expect_err("injected");
    assert_eq!(err.code(), tonic::Code::Unavailable);
    client
        .todo_list(TodoListRequest {
            user_id: "u".into(),
        })
        .await
        .expect("next call is normal");
    server.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn greeter_answers_and_descriptors_are_exported() {
    let server = spawn_greeter_server().await.expect("server");
    let mut client = GreeterClient::connect(server.endpoint())
        .await
        .expect("connect");
    let reply = client
        .say_hello(HelloRequest { name: "Ada".into() })
        .await
        .expect("hello");
    assert_eq!(reply.into_inner().message, "Hello, Ada!");
    let err = client
        .say_hello(HelloRequest::default())
        .await
        .expect_err("empty name");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let fds = <prost_types::FileDescriptorSet as prost::Message>::decode(FILE_DESCRIPTOR_SET)
        .expect("descriptor set decodes");
    let names: Vec<&str> = fds.file.iter().filter_map(|f| f.name.as_deref()).collect();
    for expected in [
        "grpc/testing/test.proto",
        "routeguide/route_guide.proto",
        "core/todo/v1/todo.proto",
        "example/example.proto",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
}
