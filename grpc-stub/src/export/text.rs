//! `.proto` source text for a derived file: what
//! `GET /v1/components/{id}/proto` serves and `worker-executor proto`
//! writes. It covers exactly what `proto.rs` produces (proto3, top-level
//! messages and enums, oneofs, `optional`, `repeated`, unary rpcs).

use std::fmt::Write as _;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto};

use super::Skipped;

/// The source text of `file`, with a comment naming the `skipped` exports.
pub fn render(file: &FileDescriptorProto, skipped: &[Skipped]) -> String {
    let mut out = String::new();
    out.push_str("// Derived by Reprise from a component's exports; do not edit.\n");
    for s in skipped {
        let _ = writeln!(out, "// Not served: `{}`: {}.", s.function, s.reason);
    }
    out.push_str("syntax = \"proto3\";\n\n");
    let package = file.package();
    let _ = writeln!(out, "package {package};\n");
    for service in &file.service {
        let _ = writeln!(out, "service {} {{", service.name());
        for method in &service.method {
            let _ = writeln!(
                out,
                "  rpc {}({}) returns ({});",
                method.name(),
                local(package, method.input_type()),
                local(package, method.output_type())
            );
        }
        out.push_str("}\n\n");
    }
    for message in &file.message_type {
        render_message(&mut out, package, message);
    }
    for e in &file.enum_type {
        let _ = writeln!(out, "enum {} {{", e.name());
        for v in &e.value {
            let _ = writeln!(out, "  {} = {};", v.name(), v.number());
        }
        out.push_str("}\n\n");
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn render_message(out: &mut String, package: &str, message: &DescriptorProto) {
    let _ = writeln!(out, "message {} {{", message.name());
    let mut open_oneof: Option<i32> = None;
    for field in &message.field {
        let real_oneof = field.oneof_index.filter(|_| !field.proto3_optional());
        if open_oneof.is_some() && open_oneof != real_oneof {
            out.push_str("  }\n");
            open_oneof = None;
        }
        if let Some(index) = real_oneof
            && open_oneof != Some(index)
        {
            let name = usize::try_from(index)
                .ok()
                .and_then(|i| message.oneof_decl.get(i))
                .map(|o| o.name())
                .unwrap_or("value");
            let _ = writeln!(out, "  oneof {name} {{");
            open_oneof = Some(index);
        }
        let indent = if open_oneof.is_some() { "    " } else { "  " };
        let label = if field.label() == Label::Repeated {
            "repeated "
        } else if field.proto3_optional() {
            "optional "
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{indent}{label}{} {} = {};",
            type_text(package, field),
            field.name(),
            field.number()
        );
    }
    if open_oneof.is_some() {
        out.push_str("  }\n");
    }
    out.push_str("}\n\n");
}

fn type_text(package: &str, field: &FieldDescriptorProto) -> String {
    match field.r#type() {
        Type::Message | Type::Enum => local(package, field.type_name()),
        Type::Bool => "bool".into(),
        Type::Int32 => "int32".into(),
        Type::Uint32 => "uint32".into(),
        Type::Int64 => "int64".into(),
        Type::Uint64 => "uint64".into(),
        Type::Float => "float".into(),
        Type::Double => "double".into(),
        Type::String => "string".into(),
        Type::Bytes => "bytes".into(),
        Type::Sint32 => "sint32".into(),
        Type::Sint64 => "sint64".into(),
        Type::Fixed32 => "fixed32".into(),
        Type::Fixed64 => "fixed64".into(),
        Type::Sfixed32 => "sfixed32".into(),
        Type::Sfixed64 => "sfixed64".into(),
        Type::Group => "group".into(),
    }
}

/// A type reference relative to `package` (`.pkg.Point` -> `Point`).
fn local(package: &str, reference: &str) -> String {
    let full = reference.trim_start_matches('.');
    full.strip_prefix(package)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or(full)
        .to_owned()
}
