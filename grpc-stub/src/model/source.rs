//! Compiling `.proto` files into a descriptor pool (protox), with errors that
//! point at `file:line:col`.

use std::path::PathBuf;

use miette::{Diagnostic, SourceCode};
use prost_reflect::DescriptorPool;

use crate::Error;

/// A compiled set of `.proto` files.
#[derive(Debug, Clone)]
pub struct CompiledProtos {
    /// Every file and its imports.
    pub pool: DescriptorPool,
    /// The names (relative to an include directory) of the files asked for,
    /// in the order given.
    pub files: Vec<String>,
}

/// Compiles `files` with `includes` as import roots (well-known
/// `google/protobuf/*.proto` files are built in).
pub fn compile_files(includes: &[PathBuf], files: &[PathBuf]) -> Result<CompiledProtos, Error> {
    if files.is_empty() {
        return Err(Error::InvalidOption {
            option: "files".to_owned(),
            reason: "no .proto files given".to_owned(),
        });
    }
    for file in files {
        let found = file.is_file() || includes.iter().any(|inc| inc.join(file).is_file());
        if !found {
            return Err(Error::ProtoCompile {
                message: format!(
                    "{}: file not found (looked in the current directory and in the include directories {})",
                    file.display(),
                    list_dirs(includes)
                ),
            });
        }
    }
    let mut compiler = protox::Compiler::new(includes).map_err(|e| describe(&e))?;
    compiler.include_imports(true).include_source_info(true);
    let mut names = Vec::new();
    for file in files {
        let before = non_imports(&compiler);
        compiler.open_file(file).map_err(|e| describe(&e))?;
        for name in non_imports(&compiler) {
            if !before.contains(&name) && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(CompiledProtos {
        pool: compiler.descriptor_pool(),
        files: names,
    })
}

fn non_imports(compiler: &protox::Compiler) -> Vec<String> {
    compiler
        .files()
        .filter(|f| !f.is_import())
        .map(|f| f.name().to_owned())
        .collect()
}

fn list_dirs(includes: &[PathBuf]) -> String {
    if includes.is_empty() {
        return "(none)".to_owned();
    }
    includes
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders a protox error as `file:line:col: message` lines (one per labelled
/// location, plus related errors), falling back to the plain message.
pub fn describe(err: &protox::Error) -> Error {
    let mut lines = Vec::new();
    describe_diagnostic(err, err.source_code(), err.file(), &mut lines);
    if lines.is_empty() {
        lines.push(match err.file() {
            Some(file) => format!("{file}: {err}"),
            None => err.to_string(),
        });
    }
    Error::ProtoCompile {
        message: lines.join("\n"),
    }
}

fn describe_diagnostic(
    diag: &dyn Diagnostic,
    parent_source: Option<&dyn SourceCode>,
    file: Option<&str>,
    lines: &mut Vec<String>,
) {
    let source = diag.source_code().or(parent_source);
    let mut located = false;
    if let (Some(source), Some(labels)) = (source, diag.labels()) {
        for label in labels {
            if let Ok(contents) = source.read_span(label.inner(), 0, 0) {
                let name = contents.name().or(file).unwrap_or("<input>");
                let what = match label.label() {
                    Some(l) => format!("{diag} ({l})"),
                    None => diag.to_string(),
                };
                lines.push(format!(
                    "{name}:{}:{}: {what}",
                    contents.line() + 1,
                    contents.column() + 1
                ));
                located = true;
            }
        }
    }
    if !located
        && lines.is_empty()
        && let Some(file) = file
    {
        lines.push(format!("{file}: {diag}"));
    }
    if let Some(related) = diag.related() {
        for r in related {
            describe_diagnostic(r, source, file, lines);
        }
    }
}
