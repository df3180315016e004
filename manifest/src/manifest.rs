//! The manifest itself: loading, parsing and the component list.

use std::path::{Path, PathBuf};

use crate::dependency::{self, Dependency};
use crate::error::{Error, Problems};
use crate::grpc::GrpcDependency;
use crate::limits::{self, Limits};
use crate::names::{ComponentName, DependencyName, DependencyRef};
use crate::read::{Ctx, Fields, KeyPath, string};
use crate::yaml::{self, Value};

/// A validated application manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    path: PathBuf,
    dir: PathBuf,
    components: Vec<Component>,
}

/// One component: a WebAssembly file and what it imports.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// The component's name.
    pub name: ComponentName,
    /// Path of the `.wasm` file, resolved against the manifest's folder.
    pub wasm: PathBuf,
    /// Dependencies in manifest order (names are unique).
    pub dependencies: Vec<Dependency>,
    /// The limits it sets for its workers (`limits`).
    pub limits: Limits,
}

impl Component {
    /// The dependency called `name`.
    pub fn dependency(&self, name: &str) -> Option<&Dependency> {
        self.dependencies.iter().find(|d| d.name.as_str() == name)
    }

    /// The grpc dependencies with their names.
    pub fn grpc_dependencies(&self) -> impl Iterator<Item = (&DependencyName, &GrpcDependency)> {
        self.dependencies
            .iter()
            .filter_map(|d| d.kind.as_grpc().map(|grpc| (&d.name, grpc)))
    }
}

/// How a manifest is parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// Check that referenced files exist: each component's wasm file, each
    /// include directory, each proto file. Default: `true`. Turn it off when
    /// the files arrive separately (e.g. uploaded after the manifest).
    pub check_files: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions { check_files: true }
    }
}

const TOP_KEYS: &[&str] = &["components"];
const COMPONENT_KEYS: &[&str] = &["wasm", "dependencies", "limits"];

impl Manifest {
    /// Reads and validates the manifest at `path`, checking that every
    /// referenced file exists.
    pub fn load(path: impl AsRef<Path>) -> Result<Manifest, Error> {
        Self::load_with(path, &ParseOptions::default())
    }

    /// Like [`Manifest::load`] with explicit options.
    pub fn load_with(path: impl AsRef<Path>, options: &ParseOptions) -> Result<Manifest, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse_with(&text, path, options)
    }

    /// Validates manifest `text` that came from `origin_path` (used in error
    /// messages and to resolve relative paths), checking that every
    /// referenced file exists.
    pub fn parse(text: &str, origin_path: impl AsRef<Path>) -> Result<Manifest, Error> {
        Self::parse_with(text, origin_path, &ParseOptions::default())
    }

    /// Like [`Manifest::parse`] with explicit options.
    pub fn parse_with(
        text: &str,
        origin_path: impl AsRef<Path>,
        options: &ParseOptions,
    ) -> Result<Manifest, Error> {
        let path = origin_path.as_ref().to_path_buf();
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
        let mut ctx = Ctx::new(path.clone(), dir.clone(), options.check_files);

        let components = match yaml::parse(text) {
            Ok(root) => read_root(&mut ctx, &root),
            Err(syntax) => {
                ctx.report(
                    &KeyPath::default(),
                    syntax.position,
                    format!("invalid YAML: {}", syntax.message),
                );
                None
            }
        };
        match components {
            Some(components) if !ctx.has_problems() => Ok(Manifest {
                path,
                dir,
                components,
            }),
            _ => Err(Error::Invalid(Problems {
                file: path,
                problems: ctx.into_problems(),
            })),
        }
    }

    /// The manifest path as given to `load`/`parse`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The absolute folder relative paths were resolved against.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// All components in manifest order.
    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// The component called `name`.
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name.as_str() == name)
    }
}

fn read_root(ctx: &mut Ctx, root: &yaml::Node) -> Option<Vec<Component>> {
    let top = KeyPath::default();
    if root.value == Value::Null {
        ctx.report(
            &top,
            root.position,
            "the manifest is empty; it needs a `components` mapping",
        );
        return None;
    }
    let fields = Fields::read(ctx, root, &top)?;
    fields.deny_unknown(ctx, TOP_KEYS);
    let node = fields.require(ctx, "components")?;
    let path = top.key("components");
    let components = Fields::read(ctx, node, &path)?;
    if components.is_empty() {
        ctx.report(&path, node.position, "declare at least one component");
        return None;
    }
    let mut result = Vec::new();
    let mut ok = true;
    for (name, key, value) in components.entries() {
        match read_component(ctx, name, key, value, &path.key(name)) {
            Some(component) => result.push(component),
            None => ok = false,
        }
    }
    ok.then_some(result)
}

fn read_component(
    ctx: &mut Ctx,
    name: &str,
    key: &yaml::Node,
    node: &yaml::Node,
    path: &KeyPath,
) -> Option<Component> {
    let name = name.parse::<ComponentName>().map_err(|err| {
        ctx.report(path, key.position, err.to_string());
    });
    let fields = Fields::read(ctx, node, path)?;
    fields.deny_unknown(ctx, COMPONENT_KEYS);
    let wasm = fields.require(ctx, "wasm").and_then(|node| {
        let wasm_path = path.key("wasm");
        let text = string(ctx, node, &wasm_path)?;
        if text.is_empty() {
            ctx.report(&wasm_path, node.position, "path is empty");
            return None;
        }
        let resolved = ctx.resolve(text);
        if ctx.check_files() && !resolved.is_file() {
            let what = if resolved.exists() {
                "is not a file"
            } else {
                "does not exist"
            };
            ctx.report(
                &wasm_path,
                node.position,
                format!("wasm file `{}` {what}", resolved.display()),
            );
        }
        Some(resolved)
    });
    // Check the dependencies even when the component name is invalid.
    let owner = name
        .clone()
        .unwrap_or_else(|()| ComponentName::placeholder());
    let dependencies = match fields.get("dependencies") {
        None => Some(Vec::new()),
        Some(node) if node.value == Value::Null => Some(Vec::new()),
        Some(node) => read_dependencies(ctx, &owner, node, &path.key("dependencies")),
    };
    let limits = match fields.get("limits") {
        None => Some(Limits::default()),
        Some(node) if node.value == Value::Null => Some(Limits::default()),
        Some(node) => limits::read(ctx, node, &path.key("limits")),
    };
    Some(Component {
        name: name.ok()?,
        wasm: wasm?,
        dependencies: dependencies?,
        limits: limits?,
    })
}

fn read_dependencies(
    ctx: &mut Ctx,
    component: &ComponentName,
    node: &yaml::Node,
    path: &KeyPath,
) -> Option<Vec<Dependency>> {
    let entries = Fields::read(ctx, node, path)?;
    let mut result = Vec::new();
    let mut ok = true;
    for (name, key, value) in entries.entries() {
        let dep_path = path.key(name);
        // An invalid name is reported, and the body is still checked under a
        // placeholder so that its problems are reported in the same pass.
        let name = name.parse::<DependencyName>().unwrap_or_else(|err| {
            ctx.report(&dep_path, key.position, err.to_string());
            ok = false;
            DependencyName::placeholder()
        });
        let owner = DependencyRef {
            component: component.clone(),
            dependency: name.clone(),
        };
        let kind = Fields::read(ctx, value, &dep_path)
            .and_then(|fields| dependency::read(ctx, &fields, &owner));
        match kind {
            Some(kind) => result.push(Dependency { name, kind }),
            None => ok = false,
        }
    }
    ok.then_some(result)
}
