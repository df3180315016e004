//! The WIT text of an [`ApiModel`]: one package with a `types` interface
//! (schemas and the error type) and one interface per resource, each
//! function returning `result<T, error>`. The output is deterministic: the
//! same document always renders the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::model::{ApiModel, Function, Interface, TypeDef, TypeKind, TypeRef};
use crate::names::{Scope, escaped};

/// The package's WIT text (one file).
pub fn render(model: &ApiModel) -> String {
    let mut out = String::new();
    let version = model
        .version
        .as_deref()
        .map(|v| format!("@{v}"))
        .unwrap_or_default();
    if let Some(docs) = &model.docs {
        doc_lines(&mut out, "", docs);
    }
    let _ = writeln!(
        out,
        "package {}:{}{version};\n",
        escaped(&model.namespace),
        escaped(&model.name)
    );
    out.push_str("/// The API's schemas and the error every function may return.\n");
    out.push_str("interface types {\n");
    for (i, def) in model.types.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_type(&mut out, def, &Renames::new());
    }
    out.push_str("}\n");
    for interface in &model.interfaces {
        out.push('\n');
        let _ = writeln!(out, "interface {} {{", escaped(&interface.name));
        let mut used = BTreeSet::new();
        used.insert("error".to_owned());
        for def in &interface.types {
            collect_def(def, &mut used);
        }
        for function in &interface.functions {
            for p in &function.path_params {
                collect(&p.ty, &mut used);
            }
            if let Some(ok) = &function.ok {
                collect(ok, &mut used);
            }
        }
        // The interface's own types are not `use`d (no type of `types` has
        // their names).
        used.retain(|n| !interface.types.iter().any(|t| &t.name == n));
        let renames = aliases(interface, &used);
        let used: Vec<String> = used
            .iter()
            .map(|n| match renames.get(n) {
                Some(alias) => format!("{} as {}", escaped(n), escaped(alias)),
                None => escaped(n),
            })
            .collect();
        let _ = writeln!(out, "    use types.{{{}}};", used.join(", "));
        for def in &interface.types {
            out.push('\n');
            render_type(&mut out, def, &renames);
        }
        for function in &interface.functions {
            out.push('\n');
            render_function(&mut out, function, &renames);
        }
        out.push_str("}\n");
    }
    out
}

fn render_type(out: &mut String, def: &TypeDef, renames: &Renames) {
    if let Some(docs) = &def.docs {
        doc_lines(out, "    ", docs);
    }
    let name = escaped(&def.name);
    match &def.kind {
        TypeKind::Record(fields) => {
            let _ = writeln!(out, "    record {name} {{");
            for field in fields {
                if let Some(docs) = &field.docs {
                    doc_lines(out, "        ", docs);
                }
                let _ = writeln!(
                    out,
                    "        {}: {},",
                    escaped(&field.name),
                    type_in(&field.ty, renames)
                );
            }
            out.push_str("    }\n");
        }
        TypeKind::Enum(cases) => {
            let _ = writeln!(out, "    enum {name} {{");
            for case in cases {
                let _ = writeln!(out, "        {},", escaped(&case.name));
            }
            out.push_str("    }\n");
        }
        TypeKind::Variant(cases) => {
            let _ = writeln!(out, "    variant {name} {{");
            for case in cases {
                match &case.ty {
                    Some(ty) => {
                        let _ = writeln!(
                            out,
                            "        {}({}),",
                            escaped(&case.name),
                            type_in(ty, renames)
                        );
                    }
                    None => {
                        let _ = writeln!(out, "        {},", escaped(&case.name));
                    }
                }
            }
            out.push_str("    }\n");
        }
        TypeKind::Alias(ty) => {
            let _ = writeln!(out, "    type {name} = {};", type_in(ty, renames));
        }
    }
}

fn render_function(out: &mut String, function: &Function, renames: &Renames) {
    if let Some(docs) = &function.docs {
        doc_lines(out, "    ", docs);
    }
    // The path key is the document's text: cleaned as docs are.
    let path: String = function
        .path
        .chars()
        .map(|c| if is_unprintable(c) { ' ' } else { c })
        .collect();
    let _ = writeln!(out, "    /// `{} {path}`", function.method);
    let mut params: Vec<String> = function
        .path_params
        .iter()
        .map(|p| format!("{}: {}", escaped(&p.name), type_in(&p.ty, renames)))
        .collect();
    if let Some(request) = &function.request {
        params.push(format!("request: {}", escaped(&request.type_name)));
    }
    let ok = function
        .ok
        .as_ref()
        .map_or_else(|| "_".to_owned(), |ty| type_in(ty, renames));
    let _ = writeln!(
        out,
        "    {}: func({}) -> result<{ok}, {}>;",
        escaped(&function.name),
        params.join(", "),
        type_in(&TypeRef::Named("error".into()), renames)
    );
}

/// Names of `types` written otherwise in one interface (`item` as
/// `item-type`).
type Renames = BTreeMap<String, String>;

/// The types `used` from `types` that an interface must rename: those named
/// like one of its functions become `{name}-type` (or
/// `{name}-type2`... whichever no other name of the interface has).
fn aliases(interface: &Interface, used: &BTreeSet<String>) -> Renames {
    let mut taken = Scope::default();
    for name in interface
        .functions
        .iter()
        .map(|f| &f.name)
        .chain(interface.types.iter().map(|t| &t.name))
        .chain(used)
    {
        taken.take(name);
    }
    let mut renames = Renames::new();
    for name in used {
        if interface.functions.iter().any(|f| &f.name == name) {
            renames.insert(name.clone(), taken.unique(&format!("{name}-type")));
        }
    }
    renames
}

/// A type reference as WIT text.
pub fn type_text(ty: &TypeRef) -> String {
    type_in(ty, &Renames::new())
}

/// A type reference as WIT text in an interface renaming `renames`.
fn type_in(ty: &TypeRef, renames: &Renames) -> String {
    match ty {
        TypeRef::Bool => "bool".into(),
        TypeRef::S32 => "s32".into(),
        TypeRef::S64 => "s64".into(),
        TypeRef::U16 => "u16".into(),
        TypeRef::U32 => "u32".into(),
        TypeRef::F32 => "f32".into(),
        TypeRef::F64 => "f64".into(),
        TypeRef::String | TypeRef::Json => "string".into(),
        TypeRef::Bytes => "list<u8>".into(),
        TypeRef::List(inner) => format!("list<{}>", type_in(inner, renames)),
        TypeRef::Option(inner) => format!("option<{}>", type_in(inner, renames)),
        TypeRef::Map(inner) => format!("list<tuple<string, {}>>", type_in(inner, renames)),
        TypeRef::Named(name) => escaped(renames.get(name).unwrap_or(name)),
    }
}

fn collect(ty: &TypeRef, used: &mut BTreeSet<String>) {
    match ty {
        TypeRef::List(inner) | TypeRef::Option(inner) | TypeRef::Map(inner) => collect(inner, used),
        TypeRef::Named(name) => {
            used.insert(name.clone());
        }
        _ => {}
    }
}

fn collect_def(def: &TypeDef, used: &mut BTreeSet<String>) {
    match &def.kind {
        TypeKind::Record(fields) => fields.iter().for_each(|f| collect(&f.ty, used)),
        TypeKind::Variant(cases) => cases
            .iter()
            .filter_map(|c| c.ty.as_ref())
            .for_each(|t| collect(t, used)),
        TypeKind::Alias(ty) => collect(ty, used),
        TypeKind::Enum(_) => {}
    }
}

/// `text` as `///` lines at `indent`; what WIT refuses in a file
/// ([`reprise_grpc_stub::wit::refused_in_wit`]: control characters such as
/// a lone `\r`, form feed, ESC, DEL or U+0085, bidirectional marks, the
/// code points Unicode deprecates), and tabs, become spaces.
fn doc_lines(out: &mut String, indent: &str, text: &str) {
    let text: String = text
        .replace("\r\n", "\n")
        .chars()
        .map(|c| {
            if c != '\n' && is_unprintable(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    for line in text.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            let _ = writeln!(out, "{indent}///");
        } else {
            let _ = writeln!(out, "{indent}/// {line}");
        }
    }
}

/// Whether `c` may not stand in a WIT comment (a tab is kept as a space
/// too, as before).
fn is_unprintable(c: char) -> bool {
    c == '\t' || reprise_grpc_stub::wit::refused_in_wit(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_comments_drop_control_and_bidi_characters() {
        let mut out = String::new();
        doc_lines(
            &mut out,
            "",
            "pkg\u{c} doc \u{202e} evil \u{7}\u{1b}\u{7f}\u{85}\u{2066}x\r\nline1\rline2\tend",
        );
        assert_eq!(out, "/// pkg  doc   evil      x\n/// line1 line2 end\n");
        // Marks and the code points Unicode deprecates, which wit-parser
        // refuses anywhere in a file, too.
        let mut out = String::new();
        doc_lines(&mut out, "", "a\u{200e}b\u{149}c\u{17b5}d");
        assert_eq!(out, "/// a b c d\n");
    }
}
