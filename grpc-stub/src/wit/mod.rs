//! Rendering WIT text from the interface model, in the `wit/deps` layout.
//!
//! One WIT package per proto package (interface `types` plus one interface
//! per exposed service) and the fixed support package `reprise:grpc@0.1.0`.
//! Everything is printed from [`crate::model::InterfaceModel`]; no mapping
//! decision is made here.

mod comments;

pub use comments::refused_in_wit;
mod render;
pub mod support;

use std::path::{Path, PathBuf};

use crate::Error;
use crate::model::InterfaceModel;

/// One generated WIT file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitFile {
    /// The WIT package it declares (`core:todo@1.0.0`).
    pub package: String,
    /// Where it goes, relative to a `wit/deps` directory:
    /// `<namespace>-<name>/<name>.wit`.
    pub path: PathBuf,
    /// The WIT text.
    pub text: String,
}

/// Renders every package of the model, plus the support package, sorted by
/// path. The text is a pure function of the model.
pub fn render(model: &InterfaceModel) -> Vec<WitFile> {
    let mut files = vec![WitFile {
        package: support::SUPPORT_PACKAGE.to_owned(),
        path: Path::new(support::SUPPORT_DIR).join(support::SUPPORT_FILE),
        text: support::SUPPORT_WIT.to_owned(),
    }];
    for package in model.packages() {
        files.push(WitFile {
            package: package.wit.to_string(),
            path: Path::new(&package.dir).join(format!("{}.wit", package.wit.name)),
            text: render::render_package(model, package),
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// Writes `files` under `out_dir` (creating directories), e.g. so that
/// `out_dir` can be a component's `wit/deps`. Returns the paths written.
pub fn write_files(out_dir: &Path, files: &[WitFile]) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    for file in files {
        let path = out_dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                path: parent.display().to_string(),
                source,
            })?;
        }
        // An unchanged file is left alone: rewriting it would make cargo
        // rebuild every guest that reads it.
        let unchanged = std::fs::read(&path).is_ok_and(|old| old == file.text.as_bytes());
        if !unchanged {
            std::fs::write(&path, &file.text).map_err(|source| Error::Io {
                path: path.display().to_string(),
                source,
            })?;
        }
        written.push(path);
    }
    Ok(written)
}
