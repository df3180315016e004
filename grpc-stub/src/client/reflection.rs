//! Descriptors from gRPC server reflection: asks a server which services
//! it offers and for the files defining them (`grpc.reflection.v1`, and
//! `grpc.reflection.v1alpha` when the server offers only that), and builds
//! a self-contained descriptor set from the answers — what a dependency
//! declared with `reflection: true` stores with its component, so a worker
//! never needs reflection at run time.
//!
//! The reflection service's own messages are declared below (the subset
//! this client uses, with the wire numbers of the public protocol) and
//! compiled once; calls go through the dynamic client like any other.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};
use prost_types::{FileDescriptorProto, FileDescriptorSet};

use crate::Error;
use crate::client::{CallOptions, ClientConfig, GrpcClient};
use crate::status::{Code, RpcStatus};

/// The reflection protocol's messages, for package `{package}`.
const REFLECTION_PROTO: &str = r#"
syntax = "proto3";
package {package};
service ServerReflection {
  rpc ServerReflectionInfo(stream ServerReflectionRequest) returns (stream ServerReflectionResponse);
}
message ServerReflectionRequest {
  string host = 1;
  oneof message_request {
    string file_by_filename = 3;
    string file_containing_symbol = 4;
    string list_services = 7;
  }
}
message ServerReflectionResponse {
  string valid_host = 1;
  oneof message_response {
    FileDescriptorResponse file_descriptor_response = 4;
    ListServiceResponse list_services_response = 6;
    ErrorResponse error_response = 7;
  }
}
message FileDescriptorResponse { repeated bytes file_descriptor_proto = 1; }
message ListServiceResponse { repeated ServiceResponse service = 1; }
message ServiceResponse { string name = 1; }
message ErrorResponse { int32 error_code = 1; string error_message = 2; }
"#;

/// The two protocol versions, newest first.
const VERSIONS: [&str; 2] = ["grpc.reflection.v1", "grpc.reflection.v1alpha"];

/// Most files fetched for one server (bounds a server that keeps naming
/// new dependencies).
const MAX_FILES: usize = 2000;

struct OneFile(String);

impl protox::file::FileResolver for OneFile {
    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        if name == "reflection.proto" {
            protox::file::File::from_source(name, &self.0)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

/// The `ServerReflectionInfo` method of protocol `package`.
fn reflection_method(package: &str) -> MethodDescriptor {
    static POOLS: OnceLock<Vec<DescriptorPool>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| {
        VERSIONS
            .iter()
            .map(|package| {
                let source = REFLECTION_PROTO.replace("{package}", package);
                let mut compiler = protox::Compiler::with_file_resolver(OneFile(source));
                compiler
                    .open_files(["reflection.proto"])
                    .expect("the built-in reflection proto compiles");
                compiler.descriptor_pool()
            })
            .collect()
    });
    let index = VERSIONS.iter().position(|v| *v == package).unwrap_or(0);
    pools[index]
        .get_service_by_name(&format!("{package}.ServerReflection"))
        .and_then(|s| s.methods().next())
        .expect("the built-in reflection proto declares its method")
}

/// What a server told about itself.
#[derive(Debug, Clone)]
pub struct Reflected {
    /// The protocol it answered (`grpc.reflection.v1` or `...v1alpha`).
    pub protocol: &'static str,
    /// Full names of the services it lists, sorted.
    pub services: Vec<String>,
    /// Every file defining them, with their imports, dependencies first.
    pub files: FileDescriptorSet,
}

impl Reflected {
    /// The files as a descriptor pool.
    pub fn pool(&self) -> Result<DescriptorPool, Error> {
        DescriptorPool::from_file_descriptor_set(self.files.clone()).map_err(|e| {
            Error::Reflection {
                endpoint: String::new(),
                reason: format!("the server's descriptors do not fit together: {e}"),
            }
        })
    }
}

/// One open reflection stream.
struct Session {
    stream: crate::client::BidiStream,
    method: MethodDescriptor,
}

impl Session {
    async fn ask(&mut self, field: &str, value: &str) -> Result<DynamicMessage, RpcStatus> {
        let mut request = DynamicMessage::new(self.method.input());
        request.set_field_by_name(field, Value::String(value.to_owned()));
        if let Err(refused) = self.stream.send(request).await {
            // The call ended before the request went out (the server could
            // not be reached, say): its outcome says why, the refusal not.
            return match self.stream.next().await {
                Err(outcome) => Err(outcome),
                Ok(_) => Err(refused),
            };
        }
        match self.stream.next().await? {
            Some(response) => Ok(response),
            None => Err(RpcStatus::new(
                Code::Unavailable,
                "the server closed the reflection stream without answering",
            )),
        }
    }
}

/// Asks the server at `endpoint` for its services and their descriptors.
/// `services` restricts which (full names); by default every service it
/// lists except the reflection and health services themselves.
pub async fn fetch(
    endpoint: &str,
    config: ClientConfig,
    services: Option<&[String]>,
) -> Result<Reflected, Error> {
    let fail = |reason: String| Error::Reflection {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let client = GrpcClient::new(endpoint, config)?;
    let mut last = None;
    for protocol in VERSIONS {
        let method = reflection_method(protocol);
        let stream = client
            .bidi_streaming(&method, &CallOptions::new())
            .map_err(|s| fail(s.message))?;
        let mut session = Session { stream, method };
        match session.ask("list_services", "").await {
            Ok(listing) => {
                let reflected = collect(&mut session, protocol, listing, services)
                    .await
                    .map_err(|problem| fail(problem.0))?;
                session.stream.close_send();
                return Ok(reflected);
            }
            Err(status) if status.code == Code::Unimplemented => last = Some(status),
            Err(status) => return Err(fail(status.message)),
        }
    }
    Err(fail(format!(
        "the server does not offer gRPC server reflection (v1 or v1alpha): {}",
        last.map(|s| s.message).unwrap_or_default()
    )))
}

/// The error a response carries, if it is one.
fn error_of(response: &DynamicMessage) -> Option<String> {
    let error = response.get_field_by_name("error_response")?;
    let error = error.as_message()?;
    if !response.has_field_by_name("error_response") {
        return None;
    }
    let message = error
        .get_field_by_name("error_message")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Some(message)
}

/// What went wrong talking to the server, in words (the caller names the
/// server).
struct Problem(String);

async fn collect(
    session: &mut Session,
    protocol: &'static str,
    listing: DynamicMessage,
    wanted: Option<&[String]>,
) -> Result<Reflected, Problem> {
    if let Some(error) = error_of(&listing) {
        return Err(Problem(format!("listing services failed: {error}")));
    }
    let mut listed = BTreeSet::new();
    if let Some(list) = listing.get_field_by_name("list_services_response")
        && let Some(list) = list.as_message()
        && let Some(items) = list.get_field_by_name("service")
        && let Some(items) = items.as_list()
    {
        for item in items {
            if let Some(name) = item
                .as_message()
                .and_then(|m| m.get_field_by_name("name"))
                .and_then(|v| v.as_str().map(str::to_owned))
            {
                listed.insert(name);
            }
        }
    }
    let services: Vec<String> = match wanted {
        Some(wanted) => {
            if let Some(missing) = wanted.iter().find(|s| !listed.contains(*s)) {
                return Err(Problem(format!(
                    "it does not offer service `{missing}` (it offers: {})",
                    listed.iter().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            wanted.to_vec()
        }
        None => listed
            .iter()
            .filter(|s| !s.starts_with("grpc.reflection.") && !s.starts_with("grpc.health."))
            .cloned()
            .collect(),
    };
    if services.is_empty() {
        return Err(Problem(
            "it lists no service besides reflection and health".into(),
        ));
    }
    let mut files: BTreeMap<String, FileDescriptorProto> = BTreeMap::new();
    let mut wanted_files: Vec<(&str, String)> = services
        .iter()
        .map(|s| ("file_containing_symbol", s.clone()))
        .collect();
    while let Some((field, value)) = wanted_files.pop() {
        if files.len() > MAX_FILES {
            return Err(Problem(format!(
                "it names more than {MAX_FILES} descriptor files"
            )));
        }
        let response = session
            .ask(field, &value)
            .await
            .map_err(|s| Problem(format!("asking for `{value}`: {}", s.message)))?;
        if let Some(error) = error_of(&response) {
            return Err(Problem(format!("asking for `{value}`: {error}")));
        }
        let Some(list) = response
            .get_field_by_name("file_descriptor_response")
            .and_then(|r| r.as_message().cloned())
            .and_then(|r| {
                r.get_field_by_name("file_descriptor_proto")
                    .map(|v| v.into_owned())
            })
        else {
            return Err(Problem(format!(
                "asking for `{value}`: no file descriptors in the answer"
            )));
        };
        for bytes in list.as_list().unwrap_or_default() {
            let Some(bytes) = bytes.as_bytes() else {
                continue;
            };
            let file = FileDescriptorProto::decode(bytes.as_ref()).map_err(|e| {
                Problem(format!(
                    "a file descriptor for `{value}` does not decode: {e}"
                ))
            })?;
            for dependency in &file.dependency {
                if !files.contains_key(dependency)
                    && !wanted_files.iter().any(|(_, v)| v == dependency)
                {
                    wanted_files.push(("file_by_filename", dependency.clone()));
                }
            }
            files.insert(file.name().to_owned(), file);
        }
        wanted_files.retain(|(_, v)| !files.contains_key(v));
    }
    Ok(Reflected {
        protocol,
        services,
        files: FileDescriptorSet { file: order(files) },
    })
}

/// The files with every dependency before its dependents.
fn order(mut files: BTreeMap<String, FileDescriptorProto>) -> Vec<FileDescriptorProto> {
    let mut out = Vec::with_capacity(files.len());
    let mut placed: BTreeSet<String> = BTreeSet::new();
    // Bounded: each round places at least one file, or gives up.
    while !files.is_empty() {
        let ready: Vec<String> = files
            .iter()
            .filter(|(_, f)| {
                f.dependency
                    .iter()
                    .all(|d| placed.contains(d) || !files.contains_key(d))
            })
            .map(|(name, _)| name.clone())
            .collect();
        if ready.is_empty() {
            // A cycle: keep the rest as they are; the pool reports it.
            out.extend(std::mem::take(&mut files).into_values());
            break;
        }
        for name in ready {
            if let Some(file) = files.remove(&name) {
                placed.insert(name);
                out.push(file);
            }
        }
    }
    out
}

impl Reflected {
    /// The encoded descriptor set.
    pub fn descriptor_set_bytes(&self) -> Vec<u8> {
        self.files.encode_to_vec()
    }
}
