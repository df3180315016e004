//! How a parameter of a document is written on the wire: its `style` and
//! `explode` checked against its place, or its `content` (a JSON media
//! type), read into the model's [`Encoding`].
//!
//! OpenAPI's places take these styles: the query `form` (the default,
//! exploded unless `explode: false`), `spaceDelimited` and `pipeDelimited`
//! (not exploded) and `deepObject` (exploded); the path `simple` (the
//! default), `label` and `matrix`; headers `simple`. Any other combination
//! is refused: the request would not be what the document describes.

use crate::doc::{bool_of, entries, get, str_of};
use crate::model::{Encoding, Location, Style};
use crate::yaml::Node;

/// The schema of a parameter's value and its key path below the
/// parameter (`schema`, or `content.{media}.schema`).
pub(crate) type ValueSchema<'a> = Option<(&'a Node, String)>;

/// How `parameter` (named `name`, in `location`) is written, and the
/// schema of its value; `Err` says what the document asks for that cannot
/// be honoured.
pub(crate) fn encoding<'a>(
    parameter: &'a Node,
    location: Location,
    name: &str,
) -> Result<(Encoding, ValueSchema<'a>), String> {
    if let Some(content) = get(parameter, "content") {
        return content_encoding(parameter, content, name);
    }
    let styles: &[Style] = match location {
        Location::Query => &[
            Style::Form,
            Style::SpaceDelimited,
            Style::PipeDelimited,
            Style::DeepObject,
        ],
        Location::Path => &[Style::Simple, Style::Label, Style::Matrix],
        Location::Header => &[Style::Simple],
    };
    let place = match location {
        Location::Query => "query",
        Location::Path => "path",
        Location::Header => "header",
    };
    let style = match get(parameter, "style") {
        None => styles[0],
        Some(_) => {
            let Some(text) = str_of(parameter, "style") else {
                return Err(format!(
                    "parameter `{name}` has a `style` that is not a string"
                ));
            };
            let style = Style::parse(text).ok_or_else(|| {
                format!("parameter `{name}` has `style: {text}`, which OpenAPI does not define")
            })?;
            if !styles.contains(&style) {
                let allowed: Vec<&str> = styles.iter().map(|s| s.name()).collect();
                return Err(format!(
                    "{place} parameter `{name}` has `style: {text}`; a {place} parameter takes {}",
                    allowed.join(", ")
                ));
            }
            style
        }
    };
    let explode = match get(parameter, "explode") {
        // OpenAPI's default is `false` but for `form`; `deepObject` is
        // only defined exploded, and documents often leave it unsaid.
        None => matches!(style, Style::Form | Style::DeepObject),
        Some(_) => bool_of(parameter, "explode").ok_or_else(|| {
            format!("parameter `{name}` has an `explode` that is not true or false")
        })?,
    };
    match (style, explode) {
        (Style::DeepObject, false) => Err(format!(
            "parameter `{name}` has `style: deepObject` with `explode: false`, which OpenAPI \
             does not define (deepObject is always exploded)"
        )),
        (Style::SpaceDelimited | Style::PipeDelimited, true) => Err(format!(
            "parameter `{name}` has `style: {}` with `explode: true`, which OpenAPI does not \
             define (use `form` for a repeated parameter)",
            style.name()
        )),
        _ => Ok((
            Encoding::Style { style, explode },
            get(parameter, "schema").map(|s| (s, "schema".to_owned())),
        )),
    }
}

/// A parameter described by `content`: one JSON media type, whose value is
/// sent as its JSON text.
fn content_encoding<'a>(
    parameter: &'a Node,
    content: &'a Node,
    name: &str,
) -> Result<(Encoding, ValueSchema<'a>), String> {
    if get(parameter, "schema").is_some() {
        return Err(format!(
            "parameter `{name}` has both `schema` and `content`; OpenAPI allows one of them"
        ));
    }
    let media = entries(content);
    let [(media_type, media)] = media.as_slice() else {
        return Err(format!(
            "parameter `{name}` has {} media types in `content`; OpenAPI allows exactly one",
            media.len()
        ));
    };
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(format!(
            "parameter `{name}` has `content: {media_type}`; only a JSON media type is \
             supported in a parameter's `content`"
        ));
    }
    Ok((
        Encoding::Json,
        get(media, "schema").map(|s| (s, format!("content.{media_type}.schema"))),
    ))
}
