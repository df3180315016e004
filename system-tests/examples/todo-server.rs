//! `todo-server`: the in-memory `core.todo.v1.TodoService` of the system
//! tests as a standalone process, for the quickstart and manual tours.
//!
//! It listens on a free loopback port, prints
//! `todo-server listening on http://127.0.0.1:PORT` on stdout and serves until
//! Ctrl-C or SIGTERM. It honours the `idempotency-key` metadata, so a call
//! the executor retries after a crash is applied once.
//!
//! ```sh
//! cargo run -p reprise-system-tests --example todo-server
//! ```

use std::io::Write as _;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().len() > 1 {
        eprintln!("usage: todo-server (no arguments; it picks a free loopback port)");
        std::process::exit(2);
    }
    let server = reprise_system_tests::spawn_todo_server().await?;
    println!("todo-server listening on {}", server.endpoint());
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await?;
    let calls = server.state.all_calls();
    server.shutdown().await?;
    eprintln!("todo-server stopped; calls per method: {calls:?}");
    Ok(())
}
