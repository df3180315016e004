//! Helpers shared by the mapping tests: map a document, check its WIT with
//! wit-parser and against the component model's rules wit-parser does not
//! check (a record has a field, an enum or variant a case).

#![allow(dead_code)]

#[cfg(feature = "runtime")]
pub mod values;

use reprise_openapi::model::TypeKind;
use reprise_openapi::{ApiModel, Options, parse, wit};

/// Parses `text`, renders it twice, checks the WIT resolves and that no
/// type is empty.
pub fn wit_of(text: &str) -> (ApiModel, String) {
    let model = parse(text, "spec.yaml", &Options::default())
        .unwrap_or_else(|e| panic!("the document maps: {e}"));
    let wit = wit::render(&model);
    let again = wit::render(&parse(text, "spec.yaml", &Options::default()).unwrap());
    assert_eq!(wit, again, "rendering is deterministic");
    let mut resolve = wit_parser::Resolve::default();
    resolve
        .push_str("spec.wit", &wit)
        .unwrap_or_else(|e| panic!("invalid WIT: {e:?}\n{wit}"));
    let defs = model
        .types
        .iter()
        .chain(model.interfaces.iter().flat_map(|i| i.types.iter()));
    for def in defs {
        let empty = match &def.kind {
            TypeKind::Record(fields) => fields.is_empty(),
            TypeKind::Enum(cases) => cases.is_empty(),
            TypeKind::Variant(cases) => cases.is_empty(),
            TypeKind::Alias(_) => false,
        };
        assert!(
            !empty,
            "`{}` is empty, which components refuse:\n{wit}",
            def.name
        );
    }
    (model, wit)
}

/// The message refusing `text`.
pub fn error_of(text: &str) -> String {
    match parse(text, "spec.yaml", &Options::default()) {
        Ok(model) => panic!("accepted: {}", wit::render(&model)),
        Err(e) => e.to_string(),
    }
}
