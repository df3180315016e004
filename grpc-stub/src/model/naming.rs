//! Naming decisions: protobuf identifiers to WIT kebab-case identifiers.
//!
//! Every WIT name the model hands out comes from here, so the rules are in
//! one place: [`kebab`] turns a protobuf identifier into a valid WIT
//! identifier (acronyms kept whole, digits glued to the word before them),
//! [`NameAllocator`] makes a set of names unique with a deterministic numeric
//! suffix, and [`escape`] adds the `%` prefix WIT needs for keywords.

use std::collections::{BTreeSet, HashMap};

/// Every word the WIT lexer (wit-parser 0.254) treats as a keyword. A name
/// equal to one of these must be written `%name` in WIT text.
const WIT_KEYWORDS: &[&str] = &[
    "as",
    "async",
    "bool",
    "borrow",
    "char",
    "constructor",
    "enum",
    "error-context",
    "export",
    "f32",
    "f64",
    "flags",
    "from",
    "func",
    "future",
    "import",
    "include",
    "interface",
    "list",
    "map",
    "option",
    "own",
    "package",
    "record",
    "resource",
    "result",
    "s16",
    "s32",
    "s64",
    "s8",
    "static",
    "stream",
    "string",
    "tuple",
    "type",
    "u16",
    "u32",
    "u64",
    "u8",
    "use",
    "variant",
    "with",
    "world",
];

/// Returns true when `name` is a WIT keyword and so needs `%` in WIT text.
pub fn is_keyword(name: &str) -> bool {
    WIT_KEYWORDS.binary_search(&name).is_ok()
}

/// The WIT keyword in `version`'s pre-release or build part, if any:
/// `package x:y@1.0.0-stream;` does not parse, since WIT reads the words
/// there as its lexer does (`1u8` is the number 1, then the keyword `u8`;
/// `1-list` is 1, `-`, then `list`; `a-list` is one word).
pub fn version_keyword(version: &semver::Version) -> Option<String> {
    [version.pre.as_str(), version.build.as_str()]
        .into_iter()
        .find_map(|part| {
            let mut chars = part.chars().peekable();
            // Bounded by the part's length: every turn takes a character.
            while let Some(c) = chars.next() {
                if c.is_ascii_alphabetic() {
                    let mut word = String::from(c);
                    while let Some(&next) = chars.peek() {
                        if !(next.is_ascii_alphanumeric() || next == '-') {
                            break;
                        }
                        word.push(next);
                        chars.next();
                    }
                    if is_keyword(&word) {
                        return Some(word);
                    }
                }
                // A digit run, `-` or `.` is a token of its own.
            }
            None
        })
}

/// Writes `name` as WIT source text: `%name` for keywords, `name` otherwise.
pub fn escape(name: &str) -> String {
    if is_keyword(name) {
        format!("%{name}")
    } else {
        name.to_owned()
    }
}

/// Converts a protobuf identifier to a WIT kebab-case identifier.
///
/// Rules, in order:
/// - `_` separates words; a lower-case letter or digit followed by an
///   upper-case letter starts a new word (`fooBar` -> `foo-bar`); a run of
///   capitals is one word, except that its last capital starts the next word
///   when a lower-case letter follows (`HTTPRequest` -> `http-request`,
///   `GRPCBin` -> `grpc-bin`).
/// - Digits stay in the word before them (`http2`, `v1beta2`). A word that
///   would start with a digit (`field_1`) is glued to the previous word
///   (`field1`), because WIT words must start with a letter; if there is no
///   previous word the name gets an `x` prefix (`_1st` -> `x1st`).
/// - Everything is lower-cased; a name with no letters or digits becomes `x`.
pub fn kebab(ident: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for part in ident.split(|c: char| !c.is_ascii_alphanumeric()) {
        for word in split_case(part) {
            let starts_with_digit = word.chars().next().is_some_and(|c| c.is_ascii_digit());
            match words.last_mut() {
                Some(prev) if starts_with_digit => prev.push_str(&word),
                None if starts_with_digit => words.push(format!("x{word}")),
                _ => words.push(word),
            }
        }
    }
    if words.is_empty() {
        return "x".to_owned();
    }
    words.join("-")
}

/// Splits one underscore-free identifier part at case boundaries and lower-cases
/// each word.
fn split_case(part: &str) -> Vec<String> {
    let chars: Vec<char> = part.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_ascii_uppercase() {
            let prev = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let boundary = prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_is_lower);
            if boundary && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        }
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Returns true when `name` is a valid WIT identifier (kebab-case words, each
/// starting with a letter, each all lower-case or all upper-case).
pub fn is_valid_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').all(|word| {
            let mut chars = word.chars();
            let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
            let all_lower = word
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            let all_upper = word
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
            first_ok && (all_lower || all_upper)
        })
}

/// Makes a list of wanted names unique, deterministically.
///
/// Requests are resolved in the order given (the caller decides priority).
/// A name nobody else wants is granted as is. When several requests want
/// the same base name, the first keeps it and each later one gets the base
/// with the smallest numeric suffix `2`, `3`, ... that no request wants as
/// its base and that is not taken. Reserved names are never granted: a
/// request for a reserved name is suffixed too.
#[derive(Debug, Default)]
pub struct NameAllocator {
    reserved: BTreeSet<String>,
}

impl NameAllocator {
    /// An allocator that never grants any of `reserved`.
    pub fn with_reserved<I, S>(reserved: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            reserved: reserved.into_iter().map(Into::into).collect(),
        }
    }

    /// Resolves `bases` (in priority order) to unique names, index for index.
    pub fn allocate(&self, bases: &[String]) -> Vec<String> {
        let mut wanted: HashMap<&str, usize> = HashMap::new();
        for base in bases {
            *wanted.entry(base.as_str()).or_default() += 1;
        }
        let mut taken: BTreeSet<String> = self.reserved.clone();
        let mut out = Vec::with_capacity(bases.len());
        for base in bases {
            if !taken.contains(base) {
                taken.insert(base.clone());
                out.push(base.clone());
                continue;
            }
            let mut n = 2u64;
            let name = loop {
                let candidate = format!("{base}{n}");
                if !taken.contains(&candidate) && !wanted.contains_key(candidate.as_str()) {
                    break candidate;
                }
                n += 1;
            };
            taken.insert(name.clone());
            out.push(name);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_list_is_sorted_for_binary_search() {
        let mut sorted = WIT_KEYWORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, WIT_KEYWORDS);
    }

    #[test]
    fn kebab_cases() {
        let cases = [
            ("user_id", "user-id"),
            ("TodoAdd", "todo-add"),
            ("GRPCBin", "grpc-bin"),
            ("HTTPRequest", "http-request"),
            ("getHTTPResponseCode", "get-http-response-code"),
            ("IOError", "io-error"),
            ("http2", "http2"),
            ("HTTP2Request", "http2-request"),
            ("field_1", "field1"),
            ("_1st", "x1st"),
            ("__", "x"),
            ("v1beta2", "v1beta2"),
            ("fooV2", "foo-v2"),
            ("SERVING_STATUS", "serving-status"),
            ("already-kebab", "already-kebab"),
            ("A", "a"),
        ];
        for (input, want) in cases {
            let got = kebab(input);
            assert_eq!(got, want, "kebab({input})");
            assert!(is_valid_identifier(&got), "{got} must be a WIT identifier");
        }
    }

    #[test]
    fn escapes_keywords_only() {
        assert_eq!(escape("type"), "%type");
        assert_eq!(escape("string"), "%string");
        assert_eq!(escape("types"), "types");
    }

    #[test]
    fn allocator_suffixes_collisions_deterministically() {
        let alloc = NameAllocator::with_reserved(["types"]);
        let bases: Vec<String> = ["foo-bar", "foo-bar", "foo-bar2", "types", "foo-bar"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let got = alloc.allocate(&bases);
        assert_eq!(
            got,
            ["foo-bar", "foo-bar3", "foo-bar2", "types2", "foo-bar4"]
        );
    }
}
