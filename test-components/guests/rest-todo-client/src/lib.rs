//! Test guest: a client of the Todos REST API (examples/openapi/todos.yaml)
//! through the WIT Reprise generates from its OpenAPI document. Errors come back as text naming the
//! error case (`not-found: 404 ...`) so tests can check the mapping; a count
//! kept in memory shows replay restored the worker.

use std::sync::atomic::{AtomicU64, Ordering};

wit_bindgen::generate!({ world: "rest-todo-client", path: "wit", generate_all });

use crate::api::todos::todos_collection::{self, CreateRequest, ListRequest};
use crate::api::todos::todos_resource::{self, DeleteRequest, UpdateRequest};
use crate::api::todos::types::{Error, ErrorResponse, TodoCreate, TodoUpdate};

static CREATED: AtomicU64 = AtomicU64::new(0);

fn answer(case: &str, response: &ErrorResponse) -> String {
    let message = response
        .error
        .as_ref()
        .and_then(|e| e.error.as_ref())
        .map(|e| format!(" {:?}: {}", e.code, e.message))
        .unwrap_or_default();
    format!("{case}: {}{message}", response.status)
}

fn describe(error: Error) -> String {
    match error {
        Error::Unauthorized(r) => answer("unauthorized", &r),
        Error::Forbidden(r) => answer("forbidden", &r),
        Error::NotFound(r) => answer("not-found", &r),
        Error::Conflict(r) => answer("conflict", &r),
        Error::PreconditionFailed(r) => answer("precondition-failed", &r),
        Error::ServerError(r) => answer("server-error", &r),
        Error::Other(r) => format!("{} {}", answer("other", &r), r.body),
        Error::ValidationError(v) => {
            let fields: Vec<String> = v.fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
            match v.response {
                Some(r) => format!("validation-error: {} [{}]", answer("answer", &r), fields.join("; ")),
                None => format!("validation-error: [{}]", fields.join("; ")),
            }
        }
        Error::RateLimited(r) => format!("rate-limited: retry-after {:?}", r.retry_after),
        Error::Transport(message) => format!("transport: {message}"),
    }
}

fn create(user: &str, title: String) -> Result<String, String> {
    let request = CreateRequest {
        body: TodoCreate { title, description: None, due_date: None, user_id: user.to_owned() },
    };
    let created = todos_collection::create(&request).map_err(describe)?;
    CREATED.fetch_add(1, Ordering::SeqCst);
    Ok(created.body.data.id)
}

struct RestTodoClient;

impl Guest for RestTodoClient {
    fn create_todos(user: String, prefix: String, count: u32) -> Result<Vec<String>, String> {
        (0..count).map(|i| create(&user, format!("{prefix} {i}"))).collect()
    }

    fn create_one(user: String, title: String) -> Result<String, String> {
        create(&user, title)
    }

    fn list_titles(user: String) -> Result<Vec<String>, String> {
        let request = ListRequest { user_id: user, completed: None, limit: None };
        let list = todos_collection::list(&request).map_err(describe)?;
        Ok(list.body.data.into_iter().map(|t| t.title).collect())
    }

    fn get_title(id: String) -> Result<String, String> {
        let got = todos_resource::get(&id).map_err(describe)?;
        Ok(format!("{}@{}", got.body.data.title, got.version.unwrap_or_default()))
    }

    fn complete(id: String, expected_version: Option<String>) -> Result<String, String> {
        let request = UpdateRequest {
            expected_version,
            body: TodoUpdate { title: None, description: None, completed: Some(true), due_date: None },
        };
        let updated = todos_resource::update(&id, &request).map_err(describe)?;
        Ok(format!("{}@{}", updated.body.data.title, updated.version.unwrap_or_default()))
    }

    fn delete(id: String) -> Result<(), String> {
        todos_resource::delete(&id, &DeleteRequest { expected_version: None }).map_err(describe)
    }

    fn created() -> u64 {
        CREATED.load(Ordering::SeqCst)
    }
}

export!(RestTodoClient);
