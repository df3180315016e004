//! The client verbs: each builds one (or, for `oplog`, a bounded series of)
//! API request(s) and prints the answer for people and scripts: ids and
//! WAVE values one per line, descriptions as pretty JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use reprise_executor::api::error::codes;
use reprise_executor::api::oplog::OplogPage;
use reprise_executor::api::workers::{
    CreateWorkerRequest, InvokeRequest, InvokeResponse, WorkerChange, WorkerList, WorkerRef,
};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use super::client::Client;
use super::manifest::{Upload, upload_of};
use super::{Command, ComponentCommand, ServerArgs, WorkerCommand};

/// The longest time budget an invocation may have.
const MAX_TIME_BUDGET: Duration =
    Duration::from_millis(reprise_executor::components::limits::MAX_TIME_BUDGET_MS);

/// Upper bound on oplog pages fetched by one `oplog` command.
const MAX_PAGES: usize = 100_000;

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Component(command) => component(command).await,
        Command::Worker(command) => worker(command).await,
        Command::Invoke {
            server,
            worker,
            function,
            args,
            idempotency_key,
            time_budget,
            create,
        } => {
            let client = Client::new(&server)?;
            // A key of our own when none is given: if the outcome turns out
            // unknown, the user can retry with it safely.
            let idempotency_key = idempotency_key
                .unwrap_or_else(|| reprise_oplog::IdempotencyKey::generate().to_string());
            // The invocation may run for its whole time budget.
            let patience = time_budget.unwrap_or(MAX_TIME_BUDGET) + Duration::from_secs(60);
            let request = client
                .request_within(
                    Method::POST,
                    &format!("/v1/workers/{}/invoke", worker_segment(&worker)?),
                    patience,
                )
                .json(&InvokeRequest {
                    function,
                    params: args,
                    idempotency_key: Some(idempotency_key.clone()),
                    time_budget_ms: time_budget
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                    create: create.map(|component_id| CreateWorkerRequest {
                        component_id,
                        ..CreateWorkerRequest::default()
                    }),
                });
            let response: InvokeResponse = match client.send(request).await {
                Ok(response) => response,
                Err(e) if super::client::has_code(&e, codes::INVOCATION_PENDING) => {
                    return Err(e.context(format!(
                        "the executor shut down before the invocation finished; it finishes when \
                         the executor starts again: get its result with `--idempotency-key \
                         {idempotency_key}` (without it, the function runs again)"
                    )));
                }
                Err(e) if super::client::outcome_unknown(&e) => {
                    return Err(e.context(format!(
                        "the outcome of the invocation is unknown (it may have taken effect or \
                         not); its idempotency key was {idempotency_key}: retry with \
                         `--idempotency-key {idempotency_key}`, which is safe (it takes effect \
                         at most once)"
                    )));
                }
                Err(e) => return Err(e),
            };
            for value in response.result {
                println!("{value}");
            }
            Ok(())
        }
        Command::Oplog {
            server,
            worker,
            from,
            limit,
        } => oplog(&server, &worker, from, limit).await,
        Command::Proto {
            server,
            component,
            out,
        } => proto(&server, &component, &out).await,
        Command::Serve(_)
        | Command::Wit { .. }
        | Command::Describe { .. }
        | Command::Repair { .. } => {
            bail!("internal: `serve`, `wit`, `describe` and `repair` are not client verbs")
        }
    }
}

/// `proto`: fetches the derived `.proto` of a component and writes it
/// under `out` at its package path; prints the file written.
async fn proto(
    server: &super::ServerArgs,
    component: &str,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let client = Client::new(server)?;
    let request = client.request(
        Method::GET,
        &format!("/v1/components/{}/proto", component_segment(component)?),
    );
    let response = client.send_raw(request).await?;
    let name = response
        .headers()
        .get("x-proto-file")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .context("the server's answer does not name the proto file (no x-proto-file header)")?;
    if name
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        bail!("the server named the proto file {name:?}, which is not a safe relative path");
    }
    let text = response.text().await.context("reading the proto text")?;
    let path = out.join(&name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}

async fn component(command: ComponentCommand) -> anyhow::Result<()> {
    match command {
        ComponentCommand::Add {
            server,
            manifest,
            component,
            wasm,
            json,
        } => {
            let client = Client::new(&server)?;
            let upload = match (manifest, component, wasm) {
                (Some(manifest), Some(component), None) => upload_of(&manifest, &component).await?,
                (None, None, Some(wasm)) => Upload {
                    wasm,
                    dependencies: Vec::new(),
                    limits: Default::default(),
                },
                _ => bail!("give either --manifest FILE --component NAME, or --wasm FILE"),
            };
            let bytes = std::fs::read(&upload.wasm)
                .with_context(|| format!("cannot read component {}", upload.wasm.display()))?;
            let dependencies =
                serde_json::to_vec(&upload.dependencies).context("encoding the dependencies")?;
            let mut form = Form::new()
                .part(
                    "wasm",
                    Part::bytes(bytes)
                        .file_name("component.wasm")
                        .mime_str("application/wasm")?,
                )
                .part(
                    "dependencies",
                    Part::bytes(dependencies).mime_str("application/json")?,
                );
            if !upload.limits.is_empty() {
                let limits = serde_json::to_vec(&upload.limits).context("encoding the limits")?;
                form = form.part("limits", Part::bytes(limits).mime_str("application/json")?);
            }
            let request = client
                .request(Method::POST, "/v1/components")
                .multipart(form);
            let info: Value = client.send(request).await?;
            if json {
                print_json(&info)?;
            } else {
                let id = info
                    .get("id")
                    .and_then(Value::as_str)
                    .context("the server's answer has no component id")?;
                println!("{id}");
            }
            Ok(())
        }
        ComponentCommand::Get { server, id } => {
            let client = Client::new(&server)?;
            let path = format!("/v1/components/{}", component_segment(&id)?);
            let request = client.request(Method::GET, &path);
            let info: Value = client.send(request).await?;
            print_json(&info)
        }
    }
}

async fn worker(command: WorkerCommand) -> anyhow::Result<()> {
    match command {
        WorkerCommand::Create {
            server,
            component,
            name,
            env,
            args,
            endpoints,
        } => {
            let client = Client::new(&server)?;
            let body = CreateWorkerRequest {
                component_id: component,
                name,
                env: pairs(&env, "--env", "KEY=VALUE")?,
                args,
                endpoint_overrides: pairs(&endpoints, "--endpoint", "DEPENDENCY=URL")?,
            };
            let request = client.request(Method::POST, "/v1/workers").json(&body);
            let created: WorkerRef = client.send(request).await?;
            println!("{}", created.id);
            Ok(())
        }
        WorkerCommand::Get { server, id } => {
            let client = Client::new(&server)?;
            let request = client.request(
                Method::GET,
                &format!("/v1/workers/{}", worker_segment(&id)?),
            );
            let info: Value = client.send(request).await?;
            print_json(&info)
        }
        WorkerCommand::List { server } => {
            let client = Client::new(&server)?;
            let list: WorkerList = client
                .send(client.request(Method::GET, "/v1/workers"))
                .await?;
            for worker in list.workers {
                println!("{}", worker.id);
            }
            Ok(())
        }
        WorkerCommand::Delete { server, id } => {
            change(&server, Method::DELETE, &id, "", "deleted").await
        }
        WorkerCommand::Interrupt { server, id } => {
            change(&server, Method::POST, &id, "/interrupt", "interrupted").await
        }
        WorkerCommand::Resume { server, id } => {
            change(&server, Method::POST, &id, "/resume", "resumed").await
        }
    }
}

async fn change(
    server: &ServerArgs,
    method: Method,
    id: &str,
    suffix: &str,
    done: &str,
) -> anyhow::Result<()> {
    let client = Client::new(server)?;
    let path = format!("/v1/workers/{}{suffix}", worker_segment(id)?);
    let request = client.request(method, &path);
    let change: WorkerChange = client.send(request).await?;
    if change.changed {
        println!("{done} {}", change.id);
    } else {
        println!("{} was already {done}", change.id);
    }
    Ok(())
}

async fn oplog(
    server: &ServerArgs,
    worker: &str,
    from: u64,
    limit: Option<u64>,
) -> anyhow::Result<()> {
    let client = Client::new(server)?;
    let mut next = Some(from);
    let mut remaining = limit.unwrap_or(u64::MAX);
    for _ in 0..MAX_PAGES {
        let Some(from) = next else { break };
        if remaining == 0 {
            break;
        }
        let mut request = client
            .request(
                Method::GET,
                &format!("/v1/workers/{}/oplog", worker_segment(worker)?),
            )
            .query(&[("from", from)]);
        if remaining != u64::MAX {
            request = request.query(&[("limit", remaining)]);
        }
        let page: OplogPage = client.send(request).await?;
        for entry in &page.entries {
            println!("{}", serde_json::to_string(entry)?);
        }
        remaining = remaining.saturating_sub(page.entries.len() as u64);
        next = page.next;
    }
    if let Some(from) = next.filter(|_| remaining > 0) {
        bail!("stopped after {MAX_PAGES} pages; continue with `--from {from}`");
    }
    Ok(())
}

/// `KEY=VALUE` arguments as a map, with a message naming the flag otherwise.
fn pairs(items: &[String], flag: &str, shape: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for item in items {
        let Some((key, value)) = item.split_once('=') else {
            bail!("{flag} `{item}` must have the form {shape}");
        };
        if map.insert(key.to_owned(), value.to_owned()).is_some() {
            bail!("{flag} `{key}` is given twice");
        }
    }
    Ok(map)
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Percent-encodes `text` for use as one URL path segment.
/// A worker id as a path segment, checked first: `.` and `..` would be
/// resolved away by the URL (`worker delete ..` became `DELETE /v1/`), and
/// any other id the server would refuse is refused here with its reason.
fn worker_segment(id: &str) -> anyhow::Result<String> {
    let id = reprise_oplog::WorkerId::new(id).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(segment(id.as_str()))
}

/// A component id as a path segment, checked first (as [`worker_segment`]).
fn component_segment(id: &str) -> anyhow::Result<String> {
    let id: reprise_oplog::ComponentId = id.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(id.to_string())
}

fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
