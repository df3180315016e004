//! Text bodies and their `charset`: an answer read as text is decoded by
//! the charset its `Content-Type` names (UTF-8 when it names none or one
//! that is not known), and a text body sent says which charset it is in,
//! `utf-8` unless the document's media type names another, into which it
//! is then encoded. Labels are WHATWG's (`latin1` is windows-1252, ...).

use encoding_rs::{Encoding, UTF_8};

use super::json::Fault;

/// The charset parameter of a `Content-Type` value, if any.
fn label(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// The text of an answer's body whose `Content-Type` is `content_type`:
/// decoded by its charset (a byte-order mark wins over it, as on the web),
/// UTF-8 when it names none or an unknown one; what does not decode is
/// U+FFFD.
pub(crate) fn decode(content_type: Option<&str>, body: &[u8]) -> String {
    let encoding = content_type
        .and_then(label)
        .and_then(|l| Encoding::for_label(l.as_bytes()))
        .unwrap_or(UTF_8);
    encoding.decode(body).0.into_owned()
}

/// The `Content-Type` and bytes of a text body: `text` encoded into the
/// charset `content_type` names, or UTF-8, saying so, when it names none.
/// A charset that is not known, or that cannot write a character of
/// `text`, is a fault naming it (nothing would read the body back right).
pub(crate) fn encode(content_type: &str, text: &str) -> Result<(String, Vec<u8>), Fault> {
    let Some(name) = label(content_type) else {
        return Ok((
            format!("{content_type}; charset=utf-8"),
            text.as_bytes().to_vec(),
        ));
    };
    let encoding = Encoding::for_label(name.as_bytes()).ok_or_else(|| {
        Fault(format!(
            "the document's media type `{content_type}` names charset `{name}`, which is not \
             known: the body cannot be written in it"
        ))
    })?;
    // encoding_rs writes UTF-16 as UTF-8 (what the WHATWG encoder does).
    let (bytes, _, unmappable) = encoding.encode(text);
    if unmappable {
        return Err(Fault(format!(
            "the body has characters charset `{name}` (of the media type `{content_type}`) \
             cannot write"
        )));
    }
    Ok((content_type.to_owned(), bytes.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_decoded_by_their_charset() {
        let latin1 = b"caf\xe9";
        assert_eq!(
            decode(Some("text/plain; charset=ISO-8859-1"), latin1),
            "café"
        );
        assert_eq!(
            decode(Some("text/plain;charset=\"latin1\""), latin1),
            "café"
        );
        assert_eq!(decode(Some("text/plain"), "café".as_bytes()), "café");
        assert_eq!(decode(None, "café".as_bytes()), "café");
        // Unknown: UTF-8, lossily.
        assert_eq!(
            decode(Some("text/plain; charset=nope"), latin1),
            "caf\u{FFFD}"
        );
    }

    #[test]
    fn bodies_say_their_charset_and_are_written_in_it() {
        let (ty, bytes) = encode("text/plain", "café").unwrap();
        assert_eq!(ty, "text/plain; charset=utf-8");
        assert_eq!(bytes, "café".as_bytes());
        let (ty, bytes) = encode("text/plain; charset=iso-8859-1", "café").unwrap();
        assert_eq!(ty, "text/plain; charset=iso-8859-1");
        assert_eq!(bytes, b"caf\xe9");
        let err = encode("text/plain; charset=iso-8859-1", "日本").unwrap_err();
        assert!(err.0.contains("cannot write"), "{}", err.0);
        let err = encode("text/plain; charset=nope", "x").unwrap_err();
        assert!(err.0.contains("not known"), "{}", err.0);
    }
}
