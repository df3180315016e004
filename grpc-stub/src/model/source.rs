//! The one proto front end: compiles `.proto` files into a descriptor pool
//! (protox) and reports problems as [`ProtoDiagnostic`]s that point at
//! `file:line:column`.
//!
//! Every caller goes through it: the `reprise-wit` command, the manifest
//! (`reprise-manifest` compiles a dependency's protos here), the test
//! components' build script. The result is self-contained: the encoded
//! `FileDescriptorSet` includes every imported file (well-known types and
//! `google/api` annotations too) with source info and custom options, so
//! the executor can rebuild the pool later without the `.proto` sources.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

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
    /// Encoded `google.protobuf.FileDescriptorSet` of every file and its
    /// imports, in dependency order, with source info (comments) and custom
    /// options: the artefact to store.
    pub descriptor_set: Vec<u8>,
}

impl CompiledProtos {
    /// Full names (`core.todo.v1.TodoService`) of the services defined in
    /// the files asked for (not in their imports), sorted.
    pub fn own_services(&self) -> Vec<String> {
        let own: HashSet<&str> = self.files.iter().map(String::as_str).collect();
        let mut services: Vec<String> = self
            .pool
            .services()
            .filter(|service| own.contains(service.parent_file().name()))
            .map(|service| service.full_name().to_owned())
            .collect();
        services.sort();
        services
    }
}

/// One problem found while compiling protos.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtoDiagnostic {
    /// The proto file, as a path on disk when it could be located in an
    /// include directory, else the name the compiler gave; `None` when the
    /// compiler did not attribute the problem to a file.
    pub file: Option<String>,
    /// 1-based line and column within `file`, when known.
    pub position: Option<LineColumn>,
    /// The compiler's message (with its label and help text when it has them).
    pub message: String,
}

/// A 1-based position in a proto file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineColumn {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

impl fmt::Display for ProtoDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}")?;
            if let Some(at) = self.position {
                write!(f, ":{}:{}", at.line, at.column)?;
            }
            write!(f, ": ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// Compiles `files` with `includes` as import roots (well-known
/// `google/protobuf/*.proto` files are built in). A file is named either by
/// its path relative to an include directory (`core/todo/v1/todo.proto`)
/// or by a path on disk inside one of them.
///
/// Fails with [`Error::ProtoCompile`] listing every problem found: files not
/// found, syntax errors, unresolved imports and names.
pub fn compile_files(includes: &[PathBuf], files: &[PathBuf]) -> Result<CompiledProtos, Error> {
    if files.is_empty() {
        return Err(Error::InvalidOption {
            option: "files".to_owned(),
            reason: "no .proto files given".to_owned(),
        });
    }
    let missing: Vec<ProtoDiagnostic> = files
        .iter()
        .filter(|file| !file.is_file() && locate(includes, file).is_none())
        .map(|file| ProtoDiagnostic {
            file: Some(file.display().to_string()),
            position: None,
            message: format!(
                "not found in the include directories {}",
                list_dirs(includes)
            ),
        })
        .collect();
    if !missing.is_empty() {
        return Err(Error::ProtoCompile {
            diagnostics: missing,
        });
    }
    let failed = |err: protox::Error| Error::ProtoCompile {
        diagnostics: diagnostics(includes, &err),
    };
    let mut compiler = protox::Compiler::with_file_resolver(SizeLimited::new(includes));
    compiler.include_imports(true).include_source_info(true);
    let mut names = Vec::new();
    for file in files {
        let before = non_imports(&compiler);
        compiler.open_file(file).map_err(failed)?;
        for name in non_imports(&compiler) {
            if !before.contains(&name) && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(CompiledProtos {
        pool: compiler.descriptor_pool(),
        files: names,
        descriptor_set: compiler.encode_file_descriptor_set(),
    })
}

/// The largest `.proto` file read. Parsing with source info takes about
/// 125 times a file's size in memory (a 4 MiB file peaks at about 500 MiB),
/// so a bigger file is refused before it is read; the largest public API
/// definitions are a few MiB.
pub const MAX_PROTO_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The most `.proto` source one compilation reads, imports included.
pub const MAX_PROTO_TOTAL_BYTES: u64 = 32 * 1024 * 1024;

/// protox's own resolution (the include directories in order, then the
/// built-in well-known files), refusing a file over
/// [`MAX_PROTO_FILE_BYTES`] or a compilation over [`MAX_PROTO_TOTAL_BYTES`]
/// before parsing it.
struct SizeLimited {
    includes: Vec<PathBuf>,
    inner: protox::file::ChainFileResolver,
    read: std::cell::Cell<u64>,
}

impl SizeLimited {
    fn new(includes: &[PathBuf]) -> Self {
        let mut inner = protox::file::ChainFileResolver::new();
        for include in includes {
            inner.add(protox::file::IncludeFileResolver::new(include.clone()));
        }
        inner.add(protox::file::GoogleFileResolver::new());
        SizeLimited {
            includes: includes.to_vec(),
            inner,
            read: std::cell::Cell::new(0),
        }
    }
}

impl protox::file::FileResolver for SizeLimited {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        self.inner.resolve_path(path)
    }

    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        // The file the include directories would give (the first holding
        // it, regular or not).
        if let Some(path) = self
            .includes
            .iter()
            .map(|dir| dir.join(name))
            .find(|path| path.exists())
            && let Ok(meta) = std::fs::metadata(&path)
        {
            if !meta.is_file() {
                // A FIFO or a device reports no size and may never end.
                return Err(protox::Error::new(format!(
                    "{}: not a regular file (a directory, a pipe or a device): a .proto file \
                     must be one",
                    path.display()
                )));
            }
            let size = meta.len();
            if size > MAX_PROTO_FILE_BYTES {
                return Err(protox::Error::new(format!(
                    "{}: the file is {size} bytes, more than the {MAX_PROTO_FILE_BYTES} bytes \
                     a .proto file may have (parsing one takes about 125 times its size in \
                     memory); split it into several files",
                    path.display()
                )));
            }
            let total = self.read.get() + size;
            if total > MAX_PROTO_TOTAL_BYTES {
                return Err(protox::Error::new(format!(
                    "{}: with this file the .proto sources read come to {total} bytes, more \
                     than the {MAX_PROTO_TOTAL_BYTES} bytes one dependency may have; import \
                     fewer files",
                    path.display()
                )));
            }
            self.read.set(total);
        }
        self.inner.open_file(name)
    }
}

/// Where `name` is found: the first include directory containing it.
fn locate(includes: &[PathBuf], name: &Path) -> Option<PathBuf> {
    includes
        .iter()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
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
        .map(|dir| format!("`{}`", dir.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Flattens a protox error and its related errors into diagnostics, one per
/// labelled location (the first label of each error when it has several).
fn diagnostics(includes: &[PathBuf], err: &protox::Error) -> Vec<ProtoDiagnostic> {
    let mut out = Vec::new();
    collect(includes, err, err.source_code(), err.file(), &mut out);
    if out.is_empty() {
        out.push(ProtoDiagnostic {
            file: err.file().map(str::to_owned),
            position: None,
            message: err.to_string(),
        });
    }
    out
}

fn collect(
    includes: &[PathBuf],
    diagnostic: &dyn Diagnostic,
    parent_source: Option<&dyn SourceCode>,
    fallback_file: Option<&str>,
    out: &mut Vec<ProtoDiagnostic>,
) {
    let source = diagnostic.source_code().or(parent_source);
    let mut message = diagnostic.to_string();
    let mut position = None;
    let mut file = fallback_file.map(str::to_owned);
    let first_label = diagnostic.labels().and_then(|mut labels| labels.next());
    if let Some(label) = &first_label
        && let Some(source) = source
        && let Ok(contents) = source.read_span(label.inner(), 0, 0)
    {
        // miette counts lines and columns from 0.
        position = Some(LineColumn {
            line: contents.line() as u64 + 1,
            column: contents.column() as u64 + 1,
        });
        if let Some(name) = contents.name() {
            file = Some(name.to_owned());
        }
    }
    if let Some(text) = first_label.as_ref().and_then(|label| label.label())
        && !message.contains(text)
    {
        message.push_str(&format!(" ({text})"));
    }
    if let Some(help) = diagnostic.help() {
        message.push_str(&format!("; help: {help}"));
    }
    let file = file.map(|name| match locate(includes, Path::new(&name)) {
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
            collect(includes, inner, source, file.as_deref(), out);
        }
    }
}
