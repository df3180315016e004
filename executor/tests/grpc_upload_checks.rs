//! Imports of gRPC dependencies checked at upload, against the stored
//! descriptors: functions and types that do not match, streaming shapes,
//! stream resources, and WIT namespaces.

mod grpc_common;

use prost::Message as _;
use reprise_executor::Error;
use reprise_executor::deps::GrpcDependencyConfig;
use reprise_system_tests::spawn_todo_server;

use grpc_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_are_checked_at_upload() {
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let todo = wasm(reprise_test_components::TODO_CLIENT);

    let err = executor
        .add_component(todo.clone(), vec![])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("core:todo/todo-service@1.0.0"),
        "names the import: {err}"
    );

    let greeter = dependency(
        "greeter",
        "example/example.proto",
        "example.Greeter",
        &server.endpoint(),
        Some("demo"),
    );
    let err = executor
        .add_component(todo.clone(), vec![greeter])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("core:todo/todo-service@1.0.0"), "{err}");

    let mut broken = todo_dep(&server);
    broken.descriptor_set = vec![0xff, 0x01, 0x02];
    let err = executor
        .add_component(todo.clone(), vec![broken])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidComponent(_)));
    assert!(
        err.to_string().contains("`todo`") && err.to_string().contains("descriptor set"),
        "{err}"
    );

    let mut unknown = todo_dep(&server);
    unknown.services = vec!["core.todo.v1.NoSuchService".into()];
    let err = executor
        .add_component(todo, vec![unknown])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("NoSuchService"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_types_must_match_the_descriptors() {
    // Same package, service and method names as todo.proto, but `user_id` is
    // an int32: a component built against the real WIT must be refused.
    let dir = tempfile::tempdir().unwrap();
    let proto_dir = dir.path().join("protos/core/todo/v1");
    std::fs::create_dir_all(&proto_dir).unwrap();
    std::fs::write(
        proto_dir.join("todo.proto"),
        r#"syntax = "proto3";
package core.todo.v1;
message TodoObject { string user_id = 1; string id = 2; string task = 3; }
message TodoAddRequest { int32 user_id = 1; string task = 2; }
message TodoAddResponse { TodoObject todo = 1; }
message TodoListRequest { string user_id = 1; }
message TodoListResponse { repeated TodoObject todos = 1; }
message TodoDeleteRequest { string user_id = 1; string id = 2; }
message TodoDeleteResponse { string message = 1; }
service TodoService {
  rpc TodoAdd(TodoAddRequest) returns (TodoAddResponse);
  rpc TodoDelete(TodoDeleteRequest) returns (TodoDeleteResponse);
  rpc TodoList(TodoListRequest) returns (TodoListResponse);
}
"#,
    )
    .unwrap();
    let set = protox::compile(["core/todo/v1/todo.proto"], [dir.path().join("protos")]).unwrap();
    let dep = GrpcDependencyConfig {
        timeout_ms: 1000,
        ..GrpcDependencyConfig::new(
            "todo",
            set.encode_to_vec(),
            vec!["core.todo.v1.TodoService".into()],
            "http://127.0.0.1:1",
        )
    };
    let executor = open(&dir).await;
    let err = executor
        .add_component(wasm(reprise_test_components::TODO_CLIENT), vec![dep])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("todo-add"), "names the function: {err}");
    assert!(
        err.contains("request.user-id: expected s32, found string"),
        "names the path: {err}"
    );
}

/// A `routeguide` proto whose streaming methods differ from the real one in
/// one place each (given as the four `rpc` lines).
fn altered_route_guide(dir: &std::path::Path, rpcs: &str) -> GrpcDependencyConfig {
    let source = format!(
        r#"syntax = "proto3";
package routeguide;
message Point {{ int32 latitude = 1; int32 longitude = 2; }}
message Rectangle {{ Point lo = 1; Point hi = 2; }}
message Feature {{ string name = 1; Point location = 2; }}
message RouteNote {{ Point location = 1; string message = 2; }}
message RouteSummary {{ int32 point_count = 1; int32 feature_count = 2; int32 distance = 3; int32 elapsed_time = 4; }}
service RouteGuide {{
{rpcs}
}}
"#
    );
    std::fs::write(dir.join("route_guide.proto"), source).unwrap();
    let set = protox::compile(["route_guide.proto"], [dir]).expect("altered proto compiles");
    GrpcDependencyConfig {
        timeout_ms: 10_000,
        wit_namespace: Some("example".into()),
        ..GrpcDependencyConfig::new(
            "routes",
            set.encode_to_vec(),
            vec!["routeguide.RouteGuide".into()],
            "http://127.0.0.1:1",
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_imports_are_checked_at_upload() {
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let component = wasm(reprise_test_components::ROUTE_GUIDE_CLIENT);
    let protos = tempfile::tempdir().unwrap();

    // The real shapes link.
    let real = altered_route_guide(
        protos.path(),
        "rpc GetFeature(Point) returns (Feature);
         rpc ListFeatures(Rectangle) returns (stream Feature);
         rpc RecordRoute(stream Point) returns (RouteSummary);
         rpc RouteChat(stream RouteNote) returns (stream RouteNote);",
    );
    executor
        .add_component(component.clone(), vec![real])
        .await
        .expect("the real route guide links");

    // A server stream of another message: `next` no longer matches.
    let other_item = altered_route_guide(
        protos.path(),
        "rpc GetFeature(Point) returns (Feature);
         rpc ListFeatures(Rectangle) returns (stream Point);
         rpc RecordRoute(stream Point) returns (RouteSummary);
         rpc RouteChat(stream RouteNote) returns (stream RouteNote);",
    );
    let err = executor
        .add_component(component.clone(), vec![other_item])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidComponent(_)), "{err}");
    let err = err.to_string();
    assert!(
        err.contains("[method]list-features-stream.next") && err.contains("result.ok.some"),
        "names the function and the path: {err}"
    );

    // Client streaming turned bidi: the component's `finish` does not exist.
    let bidi = altered_route_guide(
        protos.path(),
        "rpc GetFeature(Point) returns (Feature);
         rpc ListFeatures(Rectangle) returns (stream Feature);
         rpc RecordRoute(stream Point) returns (stream RouteSummary);
         rpc RouteChat(stream RouteNote) returns (stream RouteNote);",
    );
    let err = executor
        .add_component(component, vec![bidi])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[method]record-route-call.finish"),
        "names the missing method: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wit_namespace_no_exposed_package_takes_is_refused_at_upload() {
    // `core.todo.v1` is `core:todo` whatever the setting says: the setting
    // was dropped silently. (Checked at upload only: a component stored
    // with it before still loads.)
    let server = spawn_todo_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let dep = |namespace| {
        dependency(
            "todo",
            "core/todo/v1/todo.proto",
            "core.todo.v1.TodoService",
            &server.endpoint(),
            Some(namespace),
        )
    };
    let err = executor
        .add_component(
            wasm(reprise_test_components::TODO_CLIENT),
            vec![dep("acme")],
        )
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("`acme` applies to no exposed package") && text.contains("core.todo.v1"),
        "{text}"
    );
    executor
        .add_component(
            wasm(reprise_test_components::TODO_CLIENT),
            vec![dep("core")],
        )
        .await
        .expect("the namespace the package has anyway");
}

/// The real route guide's dependency, and a component importing it whose
/// `list-features` is typed to return the chat's stream resource (made
/// with wit-component from the WIT the executor maps, altered there).
fn misdirected_opener(protos: &std::path::Path) -> (GrpcDependencyConfig, Vec<u8>) {
    use reprise_grpc_stub::model::{Exposure, InterfaceModel, ModelOptions};
    let real = altered_route_guide(
        protos,
        "rpc GetFeature(Point) returns (Feature);
         rpc ListFeatures(Rectangle) returns (stream Feature);
         rpc RecordRoute(stream Point) returns (RouteSummary);
         rpc RouteChat(stream RouteNote) returns (stream RouteNote);",
    );
    let pool = prost_reflect::DescriptorPool::decode(real.descriptor_set.as_slice()).unwrap();
    let options = ModelOptions {
        namespace: Some("example".into()),
        ..ModelOptions::default()
    };
    let model = InterfaceModel::build(
        &pool,
        &[Exposure::Service("routeguide.RouteGuide".into())],
        &options,
    )
    .unwrap();
    let wit = tempfile::tempdir().unwrap();
    let mut altered = false;
    for file in reprise_grpc_stub::wit::render(&model) {
        let path = wit.path().join("deps").join(&file.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text = file.text.replace(
            "-> result<list-features-stream, rpc-status>;",
            "-> result<route-chat-call, rpc-status>;",
        );
        altered |= text != file.text;
        std::fs::write(path, text).unwrap();
    }
    assert!(altered, "the opener's signature is where it was");
    std::fs::write(
        wit.path().join("world.wit"),
        "package reprise-test:odd;\nworld odd {\n  import example:routeguide/route-guide;\n  export run: func() -> u32;\n}\n",
    )
    .unwrap();
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(wit.path()).unwrap();
    let world = resolve.select_world(&[package], Some("odd")).unwrap();
    let mut module =
        wit_component::dummy_module(&resolve, world, wit_parser::ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .unwrap()
        .encode()
        .unwrap();
    (real, component)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opener_typed_to_return_another_stream_is_refused_at_upload() {
    // Any `own` passed as the opener's result: a component whose
    // `list-features` returns the chat's stream was taken, and the handle
    // the host made failed to lower at every call and every replay.
    let protos = tempfile::tempdir().unwrap();
    let (real, component) = misdirected_opener(protos.path());
    let dir = tempfile::tempdir().unwrap();
    let executor = open(&dir).await;
    let err = executor
        .add_component(component, vec![real])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidComponent(_)), "{err}");
    let err = err.to_string();
    assert!(
        err.contains("list-features") && err.contains("own<list-features-stream>"),
        "names the function and the resource: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn such_an_opener_stored_before_the_rule_still_loads() {
    // Checked on every load, the rule made a stored component (and every
    // worker of it) unusable, reported as damaged, its upload refused too.
    use reprise_executor::components::limits::StoredConfig;
    use reprise_executor::components::local::LocalComponentStore;
    use reprise_executor::components::{ComponentStore as _, StoredComponent, content_id};
    let protos = tempfile::tempdir().unwrap();
    let (real, wasm) = misdirected_opener(protos.path());
    let dir = tempfile::tempdir().unwrap();
    let config = StoredConfig {
        dependencies: vec![real.into()],
        limits: Default::default(),
    };
    let dependencies_json = config.to_json().unwrap();
    let id = content_id(&wasm, &dependencies_json);
    LocalComponentStore::open(&dir.path().join("components"))
        .unwrap()
        .put(
            &id,
            &StoredComponent {
                wasm,
                dependencies_json,
            },
        )
        .await
        .unwrap();
    let executor = open(&dir).await;
    executor
        .component(&id)
        .await
        .expect("the stored component loads");
}
