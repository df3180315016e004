//! The quickstart's guest: adds and lists todos through the typed WIT that
//! Reprise generates from the quickstart's `todo.proto`, and counts what it
//! added in guest memory (which only replay can restore after a crash).

use std::sync::atomic::{AtomicU64, Ordering};

wit_bindgen::generate!({ world: "todo-client", path: "wit", generate_all });

use crate::quickstart::todo::todo_service;
use crate::quickstart::todo::types::{AddTodoRequest, ListTodosRequest};
use reprise::grpc::types::RpcStatus;

static ADDED: AtomicU64 = AtomicU64::new(0);

fn describe(status: RpcStatus) -> String {
    format!("{:?}: {}", status.code, status.message)
}

struct TodoClient;

impl Guest for TodoClient {
    fn add_todos(owner: String, title: String, count: u32) -> Result<Vec<String>, String> {
        let mut ids = Vec::new();
        for i in 0..count {
            let request = AddTodoRequest {
                owner: owner.clone(),
                title: format!("{title} {i}"),
            };
            let response = todo_service::add_todo(&request, None).map_err(describe)?;
            let todo = response
                .todo
                .ok_or_else(|| "the server returned no todo".to_string())?;
            ADDED.fetch_add(1, Ordering::SeqCst);
            ids.push(todo.id);
        }
        Ok(ids)
    }

    fn list_todos(owner: String) -> Result<Vec<String>, String> {
        let response =
            todo_service::list_todos(&ListTodosRequest { owner }, None).map_err(describe)?;
        Ok(response.todos.into_iter().map(|t| t.title).collect())
    }

    fn added() -> u64 {
        ADDED.load(Ordering::SeqCst)
    }
}

export!(TodoClient);
