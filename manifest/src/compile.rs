//! Compiling a grpc dependency's proto files into descriptors.
//!
//! The result is self-contained: the encoded `FileDescriptorSet` includes
//! every imported file (well-known types and `google/api` annotations too),
//! so the executor can store it and rebuild the [`DescriptorPool`] later
//! without the `.proto` sources. Compiler errors are rendered as
//! `file:line:column: message` from protox's source spans.

use std::collections::HashSet;

use miette::{Diagnostic, SourceCode};
use prost_reflect::DescriptorPool;

use crate::error::{Error, ProtoDiagnostic};
use crate::grpc::GrpcDependency;
use crate::yaml::Position;

/// A grpc dependency compiled to descriptors.
#[derive(Clone, Debug)]
pub struct CompiledGrpcDependency {
    /// Encoded `google.protobuf.FileDescriptorSet` with the dependency's own
    /// files and all their imports, in dependency order, including source
    /// info (comments) and custom options. This is the artefact to store.
    pub descriptor_set_bytes: Vec<u8>,
    /// The same descriptors, ready to use.
    pub pool: DescriptorPool,
    /// Full names (`core.todo.v1.TodoService`) of the services defined in the
    /// dependency's own proto files (not in imports), sorted.
    pub services: Vec<String>,
}

impl GrpcDependency {
    /// Compiles the proto files with protox.
    ///
    /// Fails with [`Error::Proto`] (each problem with file:line:column where
    /// the compiler gives a span) or [`Error::NoServices`] when the own files
    /// define no service.
    pub fn compile(&self) -> Result<CompiledGrpcDependency, Error> {
        let proto_error = |err: protox::Error| Error::Proto {
            dependency: self.owner.clone(),
            diagnostics: self.render(&err),
        };
        let missing: Vec<ProtoDiagnostic> = self
            .protos
            .iter()
            .filter(|proto| self.locate(proto).is_none())
            .map(|proto| ProtoDiagnostic {
                file: Some(proto.clone()),
                position: None,
                message: format!(
                    "not found in the include directories {}",
                    self.include
                        .iter()
                        .map(|dir| format!("`{}`", dir.display()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
            .collect();
        if !missing.is_empty() {
            return Err(Error::Proto {
                dependency: self.owner.clone(),
                diagnostics: missing,
            });
        }
        let mut compiler = protox::Compiler::new(&self.include).map_err(proto_error)?;
        compiler.include_imports(true).include_source_info(true);
        for proto in &self.protos {
            compiler.open_file(proto).map_err(proto_error)?;
        }
        let pool = compiler.descriptor_pool();
        let own: HashSet<&str> = self.protos.iter().map(String::as_str).collect();
        let mut services: Vec<String> = pool
            .services()
            .filter(|service| own.contains(service.parent_file().name()))
            .map(|service| service.full_name().to_owned())
            .collect();
        services.sort();
        if services.is_empty() {
            return Err(Error::NoServices {
                dependency: self.owner.clone(),
                files: self.protos.clone(),
            });
        }
        Ok(CompiledGrpcDependency {
            descriptor_set_bytes: compiler.encode_file_descriptor_set(),
            pool,
            services,
        })
    }

    /// Flattens a protox error and its related errors into diagnostics.
    fn render(&self, err: &protox::Error) -> Vec<ProtoDiagnostic> {
        let mut out = Vec::new();
        let fallback_file = err.file().map(str::to_owned);
        self.collect(err, None, fallback_file.as_deref(), &mut out);
        out
    }

    fn collect<'a>(
        &self,
        diagnostic: &'a dyn Diagnostic,
        parent_source: Option<&'a dyn SourceCode>,
        fallback_file: Option<&str>,
        out: &mut Vec<ProtoDiagnostic>,
    ) {
        let source = diagnostic.source_code().or(parent_source);
        let mut message = diagnostic.to_string();
        let mut position = None;
        let mut file = fallback_file.map(str::to_owned);
        let first_label = diagnostic.labels().and_then(|mut labels| labels.next());
        if let (Some(label), Some(source)) = (first_label, source)
            && let Ok(contents) = source.read_span(label.inner(), 0, 0)
        {
            // miette counts lines and columns from 0.
            position = Some(Position {
                line: contents.line() as u64 + 1,
                column: contents.column() as u64 + 1,
            });
            if let Some(name) = contents.name() {
                file = Some(name.to_owned());
            }
        }
        if let Some(help) = diagnostic.help() {
            message.push_str(&format!("; help: {help}"));
        }
        let file = file.map(|name| match self.locate(&name) {
            Some(path) => path.display().to_string(),
            None => name,
        });
        out.push(ProtoDiagnostic {
            file: file.clone(),
            position,
            message,
        });
        if let Some(related) = diagnostic.related() {
            for inner in related {
                self.collect(inner, source, file.as_deref(), out);
            }
        }
    }
}
