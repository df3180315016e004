//! `worker-executor describe`: what a gRPC server offers, read from its
//! server reflection — every service with its methods (request and
//! response types, streaming kinds), or one service or method in detail.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use prost_reflect::{MessageDescriptor, MethodDescriptor, ServiceDescriptor};
use reprise_grpc_stub::client::reflection;
use reprise_grpc_stub::client::{ClientConfig, ClientTls};

/// The server `describe` asks, and how.
#[derive(Debug)]
pub struct Target {
    /// `http://host:port` or `https://host:port`.
    pub endpoint: String,
    /// Extra trusted roots (PEM file), for `https`.
    pub ca: Option<PathBuf>,
    /// The name the certificate must carry, for `https`.
    pub server_name: Option<String>,
    /// How long to wait for answers (default 30 s).
    pub timeout: Option<Duration>,
}

/// Prints the server's services (or `symbol`) to stdout.
pub async fn run(target: &Target, symbol: Option<&str>) -> anyhow::Result<()> {
    let config = client_config(target)?;
    let endpoint = target.endpoint.as_str();
    let reflected = reflection::fetch(endpoint, config, None)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let pool = reflected.pool().map_err(|e| anyhow!("{e}"))?;
    let mut out = String::new();
    match symbol {
        None => {
            for name in &reflected.services {
                if let Some(service) = pool.get_service_by_name(name) {
                    write_service(&mut out, &service);
                }
            }
        }
        Some(symbol) => {
            if let Some(service) = pool.get_service_by_name(symbol) {
                write_service(&mut out, &service);
            } else if let Some(method) = find_method(&pool, symbol) {
                write_method(&mut out, &method);
                write_message(&mut out, &method.input());
                write_message(&mut out, &method.output());
            } else if let Some(message) = pool.get_message_by_name(symbol) {
                write_message(&mut out, &message);
            } else {
                bail!(
                    "`{symbol}` is not a service, method or message of the server at {endpoint} \
                     (its services: {})",
                    reflected.services.join(", ")
                );
            }
        }
    }
    print!("{out}");
    Ok(())
}

/// The client settings of `target`, refusing what cannot apply.
fn client_config(target: &Target) -> anyhow::Result<ClientConfig> {
    let endpoint: reprise_manifest::Endpoint = target
        .endpoint
        .parse()
        .map_err(|e| anyhow!("--endpoint: {e}"))?;
    if !endpoint.is_tls() && (target.ca.is_some() || target.server_name.is_some()) {
        bail!(
            "--ca and --server-name apply to an https:// endpoint; `{}` is plaintext",
            target.endpoint
        );
    }
    if let Some(name) = &target.server_name
        && rustls_pki_types::ServerName::try_from(name.as_str()).is_err()
    {
        bail!("--server-name `{name}` is not a DNS name or an IP address");
    }
    let tls = match &target.ca {
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --ca {}", path.display()))?;
            reprise_grpc_stub::config::tls::certificates(&pem)
                .map_err(|e| anyhow!("--ca {}: {e}", path.display()))?;
            Some(ClientTls {
                ca_pem: Some(pem),
                system_roots: true,
                server_name: target.server_name.clone(),
                identity: None,
            })
        }
        None => target.server_name.clone().map(|name| ClientTls {
            server_name: Some(name),
            ..ClientTls::system()
        }),
    };
    Ok(ClientConfig {
        tls,
        connect_timeout: Some(Duration::from_secs(10)),
        default_timeout: Some(target.timeout.unwrap_or(Duration::from_secs(30))),
        ..ClientConfig::default()
    })
}

fn find_method(pool: &prost_reflect::DescriptorPool, symbol: &str) -> Option<MethodDescriptor> {
    let (service, method) = symbol.rsplit_once(['.', '/'])?;
    pool.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)
}

fn write_service(out: &mut String, service: &ServiceDescriptor) {
    let _ = writeln!(out, "{}", service.full_name());
    for method in service.methods() {
        out.push_str("  ");
        write_method(out, &method);
    }
}

fn write_method(out: &mut String, method: &MethodDescriptor) {
    let stream = |yes: bool| if yes { "stream " } else { "" };
    let _ = writeln!(
        out,
        "rpc {}({}{}) returns ({}{})",
        method.name(),
        stream(method.is_client_streaming()),
        method.input().full_name(),
        stream(method.is_server_streaming()),
        method.output().full_name()
    );
}

fn write_message(out: &mut String, message: &MessageDescriptor) {
    let _ = writeln!(out, "message {} {{", message.full_name());
    let mut oneofs_written = Vec::new();
    for field in message.fields() {
        // A real `oneof` is written once, as a block of its fields; a
        // proto3 `optional` field sits in a synthetic one of its own.
        match field.containing_oneof().filter(|o| !o.is_synthetic()) {
            Some(oneof) => {
                if oneofs_written.contains(&oneof.name().to_owned()) {
                    continue;
                }
                oneofs_written.push(oneof.name().to_owned());
                let _ = writeln!(out, "  oneof {} {{", oneof.name());
                for member in oneof.fields() {
                    let _ = writeln!(out, "    {}", field_line(&member, ""));
                }
                out.push_str("  }\n");
            }
            None => {
                let label = if field.is_map() {
                    ""
                } else if field.is_list() {
                    "repeated "
                } else if field.containing_oneof().is_some()
                    || (field.supports_presence()
                        && !matches!(field.kind(), prost_reflect::Kind::Message(_)))
                {
                    // proto3 `optional`, or a proto2 optional scalar.
                    "optional "
                } else {
                    ""
                };
                let _ = writeln!(out, "  {}", field_line(&field, label));
            }
        }
    }
    out.push_str("}\n");
}

/// `label type name = number;` of one field, maps as `map<K, V>`.
fn field_line(field: &prost_reflect::FieldDescriptor, label: &str) -> String {
    let kind = match field.kind() {
        prost_reflect::Kind::Message(entry) if field.is_map() => format!(
            "map<{}, {}>",
            kind_name(&entry.map_entry_key_field().kind()),
            kind_name(&entry.map_entry_value_field().kind())
        ),
        other => kind_name(&other),
    };
    format!("{label}{kind} {} = {};", field.name(), field.number())
}

fn kind_name(kind: &prost_reflect::Kind) -> String {
    match kind {
        prost_reflect::Kind::Message(m) => m.full_name().to_owned(),
        prost_reflect::Kind::Enum(e) => e.full_name().to_owned(),
        other => format!("{other:?}").to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_show_optional_oneof_map_and_repeated_fields() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("shapes.proto"),
            r#"syntax = "proto3";
package demo;
message Inner { int32 n = 1; }
message Shape {
  optional string label = 1;
  string name = 2;
  oneof kind { double radius = 3; Inner box = 4; }
  map<string, int64> tags = 5;
  repeated Inner parts = 6;
  Inner main = 7;
}
"#,
        )
        .expect("write");
        let set = protox::compile(["shapes.proto"], [dir.path()]).expect("compiles");
        let pool = prost_reflect::DescriptorPool::from_file_descriptor_set(set).expect("pool");
        let mut out = String::new();
        write_message(
            &mut out,
            &pool.get_message_by_name("demo.Shape").expect("Shape"),
        );
        assert_eq!(
            out,
            "message demo.Shape {\n  optional string label = 1;\n  string name = 2;\n  \
             oneof kind {\n    double radius = 3;\n    demo.Inner box = 4;\n  }\n  \
             map<string, int64> tags = 5;\n  repeated demo.Inner parts = 6;\n  \
             demo.Inner main = 7;\n}\n"
        );
    }
}
