//! Text bodies and their `charset`: an answer read as text is decoded by
//! the charset its `Content-Type` names (UTF-8 when it names none or one
//! that is not known), and a text body sent says which charset it is in,
//! `utf-8` unless the document's media type names another, into which it
//! is then encoded. Labels are WHATWG's (`latin1` is windows-1252, ...).

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

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
    // encoding_rs writes UTF-16 as UTF-8 (what the WHATWG encoder does):
    // written here; a plain `utf-16` gets a byte-order mark (RFC 2781 reads
    // one without as big-endian, WHATWG as little-endian).
    if encoding == UTF_16LE || encoding == UTF_16BE {
        let plain = name.eq_ignore_ascii_case("utf-16");
        let mut bytes = Vec::with_capacity(2 * text.len() + 2);
        let units = plain
            .then_some(0xFEFF)
            .into_iter()
            .chain(text.encode_utf16());
        for unit in units {
            bytes.extend_from_slice(&if encoding == UTF_16BE {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        return Ok((content_type.to_owned(), bytes));
    }
    // Any other label encoding_rs cannot write (`replacement`, for ISO-2022-KR
    // and the like) it writes as UTF-8: refused, as the body would not say
    // what it is.
    if encoding.output_encoding() != encoding {
        return Err(Fault(format!(
            "the document's media type `{content_type}` names charset `{name}`, which a body \
             cannot be written in"
        )));
    }
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

    #[test]
    fn utf_16_bodies_are_written_in_utf_16() {
        // encoding_rs wrote them as UTF-8 under a utf-16 content type.
        let (ty, bytes) = encode("text/plain; charset=utf-16le", "hé").unwrap();
        assert_eq!(ty, "text/plain; charset=utf-16le");
        assert_eq!(bytes, [0x68, 0, 0xe9, 0]);
        let (_, bytes) = encode("text/plain; charset=UTF-16BE", "h").unwrap();
        assert_eq!(bytes, [0, 0x68]);
        let (_, bytes) = encode("text/plain; charset=utf-16", "h").unwrap();
        assert_eq!(bytes, [0xff, 0xfe, 0x68, 0]);
        assert_eq!(decode(Some("text/plain; charset=utf-16"), &bytes), "h");
        let err = encode("text/plain; charset=iso-2022-kr", "x").unwrap_err();
        assert!(err.0.contains("cannot be written in"), "{}", err.0);
    }
}
