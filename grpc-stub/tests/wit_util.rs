//! Shared helpers for the WIT and bridge tests: compile protos (from the
//! shared corpus or inline text), build models, and check generated WIT
//! with wit-parser and wit-component. Included by other tests with
//! `#[path = "wit_util.rs"] mod util;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use prost_reflect::DescriptorPool;
use reprise_grpc_stub::model::source::compile_files;
use reprise_grpc_stub::model::{Exposure, FieldMapping, InterfaceModel, MemberModel, ModelOptions};
use reprise_grpc_stub::wit::{WitFile, render, write_files};

/// The shared proto corpus (`<repo>/../shared/protos`).
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/protos"))
}

/// Every `.proto` file of the corpus, relative to [`corpus_dir`], sorted.
pub fn corpus_files() -> Vec<String> {
    let root = corpus_dir();
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).expect("corpus directory readable");
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "proto") {
                let rel = path.strip_prefix(&root).expect("under root");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// Compiles corpus files into a pool.
pub fn corpus_pool(files: &[&str]) -> DescriptorPool {
    let files: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    compile_files(&[corpus_dir()], &files)
        .expect("corpus compiles")
        .pool
}

/// Compiles inline `.proto` sources (name, text) written to a temp dir;
/// returns the pool (the temp dir is removed afterwards).
pub fn inline_pool(files: &[(&str, &str)]) -> Result<DescriptorPool> {
    let dir = tempfile::tempdir()?;
    for (name, text) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
    }
    let names: Vec<PathBuf> = files.iter().map(|(n, _)| PathBuf::from(n)).collect();
    Ok(compile_files(&[dir.path().to_path_buf()], &names)?.pool)
}

/// Builds the model exposing `files` of `pool`.
pub fn model_for_files(
    pool: &DescriptorPool,
    files: &[&str],
    options: &ModelOptions,
) -> Result<InterfaceModel> {
    let exposures: Vec<Exposure> = files
        .iter()
        .map(|f| Exposure::File(f.to_string()))
        .collect();
    Ok(InterfaceModel::build(pool, &exposures, options)?)
}

/// Renders a model and returns the WIT text of the package declaring
/// `package` (e.g. `core:todo@1.0.0`).
pub fn package_text(files: &[WitFile], package: &str) -> String {
    files
        .iter()
        .find(|f| f.package == package)
        .map(|f| f.text.clone())
        .unwrap_or_else(|| {
            let names: Vec<&str> = files.iter().map(|f| f.package.as_str()).collect();
            panic!("no package {package} among {names:?}")
        })
}

/// The world text importing every service interface and every `types`
/// interface of the model, plus a `probe` interface with one function per
/// record and enum (`f-p<package index>-<name>`), so that wit-component keeps
/// every type in the component (it drops types no function uses).
pub fn world_text(model: &InterfaceModel) -> String {
    use reprise_grpc_stub::model::naming::escape;
    let mut imports = Vec::new();
    for s in model.services() {
        imports.push(model.package(s.package).wit.wit_interface_ref(&s.wit_name));
    }
    let mut probe = String::from("interface probe {\n");
    for (pi, p) in model.packages().iter().enumerate() {
        imports.push(p.wit.wit_interface_ref("types"));
        let mut names: Vec<&str> = p
            .messages
            .iter()
            .map(|&id| model.message(id).wit_name.as_str())
            .chain(
                p.enums
                    .iter()
                    .map(|&id| model.enum_model(id).wit_name.as_str()),
            )
            .collect();
        names.sort();
        for name in names {
            probe.push_str(&format!(
                "    use {}.{{{} as t-p{pi}-{name}}};\n    f-p{pi}-{name}: func(v: t-p{pi}-{name});\n",
                p.wit.wit_interface_ref("types"),
                escape(name)
            ));
        }
    }
    probe.push_str("}\n");
    let mut text = String::from("package reprise-test:all;\n\n");
    text.push_str(&probe);
    text.push_str("\nworld all {\n");
    for i in imports {
        text.push_str(&format!("    import {i};\n"));
    }
    text.push_str("    import probe;\n}\n");
    text
}

/// The probe function of a record or enum (see [`world_text`]).
pub fn probe_function(model: &InterfaceModel, package: usize, name: &str) -> (String, String) {
    let _ = model;
    (
        "reprise-test:all/probe".to_owned(),
        format!("f-p{package}-{name}"),
    )
}

/// Writes the rendered files as `deps` of a world importing everything,
/// resolves it with wit-parser and encodes a (dummy) component for that
/// world with wit-component, validating it. Returns the component bytes.
pub fn resolve_and_encode(model: &InterfaceModel) -> Result<Vec<u8>> {
    let files = render(model);
    let dir = tempfile::tempdir()?;
    write_files(&dir.path().join("deps"), &files)?;
    std::fs::write(dir.path().join("world.wit"), world_text(model))?;
    encode_dir(dir.path())
}

/// Resolves the WIT package in `dir` (with `dir/deps`) and encodes a dummy
/// component for its world `all`.
pub fn encode_dir(dir: &Path) -> Result<Vec<u8>> {
    let mut resolve = wit_parser::Resolve::default();
    let (pkg, _) = resolve
        .push_dir(dir)
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("wit-parser rejected the generated WIT")?;
    let world = resolve
        .select_world(&[pkg], Some("all"))
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut module =
        wit_component::dummy_module(&resolve, world, wit_parser::ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )?;
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)?
        .encode()
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("wit-component could not encode a component for the generated WIT")?;
    if component.is_empty() {
        bail!("empty component");
    }
    Ok(component)
}

/// Compiles inline files, exposes all of them, checks the WIT resolves and
/// returns the model and rendered files (panics with the WIT otherwise).
pub fn wit(files: &[(&str, &str)], namespace: Option<&str>) -> (InterfaceModel, Vec<WitFile>) {
    let pool = inline_pool(files).expect("protos compile");
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    let options = ModelOptions {
        namespace: namespace.map(str::to_owned),
        version: None,
    };
    let model = model_for_files(&pool, &names, &options).expect("model builds");
    if let Err(e) = resolve_and_encode(&model) {
        let text: Vec<String> = render(&model).into_iter().map(|f| f.text).collect();
        panic!("generated WIT does not resolve: {e:#}\n{}", text.join("\n"));
    }
    let rendered = render(&model);
    (model, rendered)
}

/// Asserts `needle` is in `text`, showing the text otherwise.
pub fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected `{needle}` in:\n{text}");
}

/// The record of a message, by full name.
pub fn record<'a>(
    model: &'a InterfaceModel,
    full_name: &str,
) -> &'a reprise_grpc_stub::model::MessageModel {
    model.message(
        model
            .message_id(full_name)
            .unwrap_or_else(|| panic!("{full_name} not in model")),
    )
}

/// The WIT member names of a record.
pub fn field_names(model: &InterfaceModel, full_name: &str) -> Vec<String> {
    record(model, full_name)
        .members
        .iter()
        .map(|m| m.wit_name().to_owned())
        .collect()
}

/// The mapping of a plain (non-oneof) field.
pub fn mapping(model: &InterfaceModel, full_name: &str, field: &str) -> FieldMapping {
    record(model, full_name)
        .members
        .iter()
        .find_map(|m| match m {
            MemberModel::Field(f) if f.descriptor.name() == field => Some(f.mapping),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{full_name}.{field} not a plain member"))
}

#[test]
fn corpus_is_found() {
    let files = corpus_files();
    assert!(
        files.iter().any(|f| f == "core/todo/v1/todo.proto"),
        "corpus at {} lists {files:?}",
        corpus_dir().display()
    );
}
