//! Test guest: a todo client that calls the TodoService through the WIT
//! Reprise generates from `todo.proto`, and keeps a count in memory that only
//! replay can restore after a restart.

use std::sync::atomic::{AtomicU64, Ordering};

wit_bindgen::generate!({ world: "todo-client", path: "wit", generate_all });

use crate::core::todo::todo_service;
use crate::core::todo::types::{TodoAddRequest, TodoListRequest};
use reprise::grpc::types::RpcStatus;

static ADDED: AtomicU64 = AtomicU64::new(0);

fn describe(status: RpcStatus) -> String {
    format!("{:?}: {}", status.code, status.message)
}

struct TodoClient;

impl Guest for TodoClient {
    fn add_todos(user: String, prefix: String, count: u32) -> Result<Vec<String>, String> {
        let mut ids = Vec::new();
        for i in 0..count {
            let request = TodoAddRequest { user_id: user.clone(), task: format!("{prefix} {i}") };
            let response = todo_service::todo_add(&request, None).map_err(describe)?;
            let todo = response.todo.ok_or_else(|| "server returned no todo".to_string())?;
            ADDED.fetch_add(1, Ordering::SeqCst);
            ids.push(todo.id);
        }
        Ok(ids)
    }

    fn list_todos(user: String) -> Result<Vec<String>, String> {
        let response = todo_service::todo_list(&TodoListRequest { user_id: user }, None).map_err(describe)?;
        Ok(response.todos.into_iter().map(|t| t.task).collect())
    }

    fn list_todos_repeat(user: String, count: u32) -> Result<u64, String> {
        let mut seen = 0u64;
        for _ in 0..count {
            let request = TodoListRequest { user_id: user.clone() };
            let response = todo_service::todo_list(&request, None).map_err(describe)?;
            seen += response.todos.len() as u64;
        }
        Ok(seen)
    }

    fn add_random_todo(user: String) -> Result<String, String> {
        let task = format!("rand-{}", wasi::random::random::get_random_u64());
        let request = TodoAddRequest { user_id: user, task: task.clone() };
        todo_service::todo_add(&request, None).map_err(describe)?;
        ADDED.fetch_add(1, Ordering::SeqCst);
        Ok(task)
    }

    fn added() -> u64 {
        ADDED.load(Ordering::SeqCst)
    }
}

export!(TodoClient);
