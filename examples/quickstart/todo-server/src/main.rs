//! `quickstart-todo-server`: the quickstart's todo gRPC service
//! (`quickstart.todo.v1.TodoService`), keeping lists in memory.
//!
//! It listens on a free loopback port (or the address given as its only
//! argument), prints `todo-server listening on http://ADDR` on stdout and
//! serves until Ctrl-C or SIGTERM. A request whose `idempotency-key`
//! metadata it saw before gets the first answer again, so a call the
//! executor retries after a crash adds one item, not two.
//!
//! ```sh
//! cargo run -p reprise-quickstart-todo-server
//! ```

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Mutex;

use tonic::{Request, Response, Status};

mod proto {
    tonic::include_proto!("quickstart.todo.v1");
}

use proto::todo_service_server::{TodoService, TodoServiceServer};
use proto::{AddTodoRequest, AddTodoResponse, ListTodosRequest, ListTodosResponse, Todo};

/// The lists, and the answers given per idempotency key.
#[derive(Debug, Default)]
struct Todos {
    lists: Mutex<HashMap<String, Vec<Todo>>>,
    answered: Mutex<HashMap<String, Todo>>,
}

#[tonic::async_trait]
impl TodoService for Todos {
    async fn add_todo(
        &self,
        request: Request<AddTodoRequest>,
    ) -> Result<Response<AddTodoResponse>, Status> {
        let key = request
            .metadata()
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let AddTodoRequest { owner, title } = request.into_inner();
        if owner.is_empty() {
            return Err(Status::invalid_argument("`owner` is empty"));
        }
        let mut answered = self.answered.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(todo) = key.as_ref().and_then(|k| answered.get(k)) {
            return Ok(Response::new(AddTodoResponse {
                todo: Some(todo.clone()),
            }));
        }
        let mut lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        let list = lists.entry(owner.clone()).or_default();
        let todo = Todo {
            id: (list.len() + 1).to_string(),
            owner,
            title,
        };
        list.push(todo.clone());
        if let Some(key) = key {
            answered.insert(key, todo.clone());
        }
        Ok(Response::new(AddTodoResponse { todo: Some(todo) }))
    }

    async fn list_todos(
        &self,
        request: Request<ListTodosRequest>,
    ) -> Result<Response<ListTodosResponse>, Status> {
        let owner = request.into_inner().owner;
        let lists = self.lists.lock().unwrap_or_else(|p| p.into_inner());
        let todos = lists.get(&owner).cloned().unwrap_or_default();
        Ok(Response::new(ListTodosResponse { todos }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = match (args.next(), args.next()) {
        (None, _) => "127.0.0.1:0".parse()?,
        (Some(addr), None) => addr
            .parse()
            .map_err(|e| format!("`{addr}` is not an address such as 127.0.0.1:50051: {e}"))?,
        (Some(_), Some(_)) => {
            eprintln!("usage: quickstart-todo-server [ADDR]  (default 127.0.0.1:0, a free port)");
            std::process::exit(2);
        }
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    println!("todo-server listening on http://{bound}");
    std::io::stdout().flush()?;
    // `serve_with_incoming*` ignores the builder's `tcp_nodelay`; without it
    // a response written in two pieces can wait ~40 ms for a delayed ACK.
    let incoming = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        |accepted| {
            accepted.inspect(|stream| {
                let _ = stream.set_nodelay(true);
            })
        },
    );
    tonic::transport::Server::builder()
        .add_service(TodoServiceServer::new(Todos::default()))
        .serve_with_incoming_shutdown(incoming, shutdown())
        .await?;
    eprintln!("todo-server stopped");
    Ok(())
}

async fn shutdown() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
