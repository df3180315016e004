//! `application/x-www-form-urlencoded` request bodies. The body's schema is
//! an object whose properties are the form's fields; each is written as a
//! query parameter of that name would be (`style: form`, exploded), unless
//! the media type's `encoding` gives the property another `style` and
//! `explode`, or a JSON `contentType` (its JSON text). A schema that is not
//! an object with properties, and `encoding` the request could not honour
//! (a property the schema does not have, `allowReserved: true`, another
//! content type), are refused.

use crate::doc::{Doc, bool_of, entries, get, str_of};
use crate::model::{Encoding, Field, Location, TypeDef, TypeKind, TypeRef};
use crate::yaml::Node;

/// Whether `media` is the form media type.
pub(crate) fn is_form(media: &str) -> bool {
    media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

/// The fields of the record type `ty` names (through options and
/// aliases), if it names one.
fn record_fields<'t>(ty: &TypeRef, defs: &'t [TypeDef]) -> Option<&'t [Field]> {
    let mut ty = ty;
    // Bounded: one step per option or alias, and an alias chain is no
    // longer than the types there are.
    for _ in 0..=defs.len() + 1 {
        match ty {
            TypeRef::Option(inner) => ty = inner,
            TypeRef::Named(name) => match &defs.iter().find(|d| d.name == *name)?.kind {
                TypeKind::Record(fields) => return Some(fields),
                TypeKind::Alias(inner) => ty = inner,
                _ => return None,
            },
            _ => return None,
        }
    }
    None
}

/// The encodings `media` (a form media type object) gives the fields of
/// `ty`, by property name (fields it says nothing of are `form`, exploded);
/// `None` when the body cannot be sent as a form, each problem reported
/// at `at` (`paths./token.post.requestBody.content.{media}`).
pub(crate) fn encodings(
    doc: &Doc<'_>,
    defs: &[TypeDef],
    ty: &TypeRef,
    media: &Node,
    at: &str,
) -> Option<Vec<(String, Encoding)>> {
    let Some(fields) = record_fields(ty, defs) else {
        doc.problem(
            &format!("{at}.schema"),
            get(media, "schema"),
            "a form body's schema must be an object with properties: they are the form's \
             fields",
        );
        return None;
    };
    let mut out = Vec::new();
    let mut fine = true;
    for (property, encoding) in get(media, "encoding").map(entries).unwrap_or_default() {
        let here = format!("{at}.encoding.{property}");
        if !fields.iter().any(|f| f.wire == property) {
            doc.problem(
                &here,
                Some(encoding),
                format!("`encoding` names `{property}`, which the body's schema does not have"),
            );
            fine = false;
            continue;
        }
        if bool_of(encoding, "allowReserved") == Some(true) {
            doc.problem(
                &here,
                get(encoding, "allowReserved"),
                "`allowReserved: true` is not supported: reserved characters are always \
                 percent-encoded",
            );
            fine = false;
            continue;
        }
        let content = str_of(encoding, "contentType");
        let json = content.is_some_and(|c| {
            let essence = c
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        });
        let chosen = if get(encoding, "style").is_none() && json {
            Ok(Encoding::Json)
        } else if let (Some(other), None) = (content.filter(|_| !json), get(encoding, "style")) {
            Err(format!(
                "`contentType: {other}` is not supported for a form field (JSON is, or a \
                 `style`)"
            ))
        } else {
            // `style` and `explode` as a query parameter takes them (the
            // `contentType` is ignored beside a `style`, as OpenAPI says).
            crate::styles::encoding(encoding, Location::Query, &property).map(|(e, _)| e)
        };
        match chosen {
            Ok(chosen) => out.push((property, chosen)),
            Err(message) => {
                doc.problem(&here, Some(encoding), message);
                fine = false;
            }
        }
    }
    fine.then_some(out)
}
