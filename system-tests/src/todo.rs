//! `core.todo.v1.TodoService`: an in-memory todo list that cooperates with
//! durable clients — a repeated `idempotency-key` returns the first answer
//! instead of acting twice — and reports errors with rich details.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use tonic::{Request, Response, Status};

use crate::Error;
use crate::proto::core::todo::v1::todo_service_server::{TodoService, TodoServiceServer};
use crate::proto::core::todo::v1::{
    TodoAddRequest, TodoAddResponse, TodoDeleteRequest, TodoDeleteResponse, TodoListRequest,
    TodoListResponse, TodoObject,
};
use crate::proto::google::rpc::{BadRequest, ResourceInfo, bad_request::FieldViolation};
use crate::rich::{any, rich_status};
use crate::server::{TestServer, spawn};
use crate::state::{IDEMPOTENCY_KEY, ServerState};

/// Starts a `core.todo.v1.TodoService` server on loopback with an empty list.
///
/// * `TodoAdd` assigns ids `"1"`, `"2"`, … in order; an empty `user_id` or
///   `task` is INVALID_ARGUMENT with a `google.rpc.BadRequest` detail naming
///   each empty field.
/// * `TodoDelete` of an unknown id is NOT_FOUND with a `google.rpc.ResourceInfo`
///   detail (`resource_type` `"core.todo.v1.TodoObject"`, `resource_name` the
///   id, `owner` the user); on success the message is `"deleted <id>"`.
/// * `TodoList` returns the user's todos in insertion order.
/// * The task of every `TodoAdd` request is noted as it arrives
///   ([`crate::ServerState::requests`]).
/// * `TodoAdd` and `TodoDelete` with an `idempotency-key` already seen return
///   the first response without changing the list again.
pub async fn spawn_todo_server() -> Result<TestServer, Error> {
    let state = Arc::new(ServerState::default());
    let service = TodoImpl {
        state: state.clone(),
        store: Mutex::new(Store::default()),
    };
    spawn(TodoServiceServer::new(service), state).await
}

#[derive(Default)]
struct Store {
    next_id: u64,
    todos: BTreeMap<String, Vec<TodoObject>>,
    added: HashMap<String, TodoAddResponse>,
    deleted: HashMap<String, TodoDeleteResponse>,
}

struct TodoImpl {
    state: Arc<ServerState>,
    store: Mutex<Store>,
}

impl TodoImpl {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn idempotency_key<T>(request: &Request<T>) -> Option<String> {
    request
        .metadata()
        .get(IDEMPOTENCY_KEY)
        .map(|v| String::from_utf8_lossy(v.as_encoded_bytes()).into_owned())
}

fn require(fields: &[(&str, &str)]) -> Result<(), Status> {
    let violations: Vec<FieldViolation> = fields
        .iter()
        .filter(|(_, value)| value.is_empty())
        .map(|(field, _)| FieldViolation {
            field: (*field).to_owned(),
            description: format!("{field} must not be empty"),
            reason: "REQUIRED".into(),
            localized_message: None,
        })
        .collect();
    if violations.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    Err(rich_status(
        tonic::Code::InvalidArgument,
        &format!("missing required field(s): {}", names.join(", ")),
        vec![any(
            "google.rpc.BadRequest",
            &BadRequest {
                field_violations: violations,
            },
        )],
    ))
}

#[tonic::async_trait]
impl TodoService for TodoImpl {
    async fn todo_add(
        &self,
        request: Request<TodoAddRequest>,
    ) -> Result<Response<TodoAddResponse>, Status> {
        self.state.note_request("TodoAdd", &request.get_ref().task);
        self.state.enter("TodoAdd", request.metadata()).await?;
        let key = idempotency_key(&request);
        let request = request.into_inner();
        require(&[("user_id", &request.user_id), ("task", &request.task)])?;
        let mut store = self.store();
        if let Some(done) = key.as_ref().and_then(|k| store.added.get(k)) {
            return Ok(Response::new(done.clone()));
        }
        store.next_id += 1;
        let todo = TodoObject {
            user_id: request.user_id.clone(),
            id: store.next_id.to_string(),
            task: request.task,
        };
        store
            .todos
            .entry(request.user_id)
            .or_default()
            .push(todo.clone());
        let response = TodoAddResponse { todo: Some(todo) };
        if let Some(key) = key {
            store.added.insert(key, response.clone());
        }
        Ok(Response::new(response))
    }

    async fn todo_delete(
        &self,
        request: Request<TodoDeleteRequest>,
    ) -> Result<Response<TodoDeleteResponse>, Status> {
        self.state.enter("TodoDelete", request.metadata()).await?;
        let key = idempotency_key(&request);
        let request = request.into_inner();
        require(&[("user_id", &request.user_id), ("id", &request.id)])?;
        let mut store = self.store();
        if let Some(done) = key.as_ref().and_then(|k| store.deleted.get(k)) {
            return Ok(Response::new(done.clone()));
        }
        let list = store.todos.entry(request.user_id.clone()).or_default();
        let Some(pos) = list.iter().position(|t| t.id == request.id) else {
            let message = format!("todo {} of user {} not found", request.id, request.user_id);
            return Err(rich_status(
                tonic::Code::NotFound,
                &message,
                vec![any(
                    "google.rpc.ResourceInfo",
                    &ResourceInfo {
                        resource_type: "core.todo.v1.TodoObject".into(),
                        resource_name: request.id.clone(),
                        owner: request.user_id.clone(),
                        description: message.clone(),
                    },
                )],
            ));
        };
        list.remove(pos);
        let response = TodoDeleteResponse {
            message: format!("deleted {}", request.id),
        };
        if let Some(key) = key {
            store.deleted.insert(key, response.clone());
        }
        Ok(Response::new(response))
    }

    async fn todo_list(
        &self,
        request: Request<TodoListRequest>,
    ) -> Result<Response<TodoListResponse>, Status> {
        self.state.enter("TodoList", request.metadata()).await?;
        let user = request.into_inner().user_id;
        let todos = self.store().todos.get(&user).cloned().unwrap_or_default();
        Ok(Response::new(TodoListResponse { todos }))
    }
}
