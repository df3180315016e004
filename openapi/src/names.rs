//! WIT identifiers from OpenAPI names: `operationId`s, schema and property
//! names, path segments and header names become kebab-case words; WIT
//! keywords are `%`-escaped when rendered; names longer than
//! [`MAX_LEN`] characters are shortened deterministically; collisions in one
//! scope get the smallest numeric suffix from 2 (`todo`, `todo2`); the
//! scopes and which name gives way are in docs/openapi.md ("Names").

use std::collections::HashSet;

use reprise_grpc_stub::model::naming::is_keyword;

/// The longest identifier produced, in characters.
pub const MAX_LEN: usize = 64;

/// `name` as a kebab-case WIT identifier: words split at non-alphanumeric
/// characters and at lower-to-upper case changes (`dueDate`, `X-Request-ID`
/// and `due_date` all give `due-date`-like words), lower-cased; a word
/// starting with a digit is glued to the previous word (WIT words start
/// with a letter), and a name starting with a digit gets an `n` in front
/// (`2fa` -> `n2fa`); an empty result becomes `unnamed`.
pub fn kebab(name: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let boundary = c.is_ascii_uppercase()
            && i > 0
            && (chars[i - 1].is_ascii_lowercase()
                || chars[i - 1].is_ascii_digit()
                || (chars[i - 1].is_ascii_uppercase()
                    && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())));
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    let mut out = String::new();
    for word in words {
        if out.is_empty() {
            if word.starts_with(|c: char| c.is_ascii_digit()) {
                out.push('n');
            }
            out.push_str(&word);
        } else if word.starts_with(|c: char| c.is_ascii_digit()) {
            out.push_str(&word);
        } else {
            out.push('-');
            out.push_str(&word);
        }
    }
    if out.is_empty() {
        out.push_str("unnamed");
    }
    shorten(out)
}

/// `name` cut to [`MAX_LEN`] characters: its first 56 (mid-word if need
/// be, a trailing `-` dropped), then `-h` and six hex digits of a hash of
/// the whole name, so different long names stay apart.
fn shorten(name: String) -> String {
    if name.len() <= MAX_LEN {
        return name;
    }
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let suffix = format!("h{:06x}", hash & 0xff_ffff);
    let mut cut = MAX_LEN - suffix.len() - 1;
    while cut > 0 && !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = name[..cut].trim_end_matches('-');
    format!("{head}-{suffix}")
}

/// How an identifier is written in WIT: `%name` for keywords.
pub fn escaped(name: &str) -> String {
    if is_keyword(name) {
        format!("%{name}")
    } else {
        name.to_owned()
    }
}

/// Names given in one scope (an interface's types, a record's fields...).
#[derive(Debug, Default, Clone)]
pub struct Scope {
    taken: HashSet<String>,
}

impl Scope {
    /// A scope where `reserved` are already taken.
    pub fn with(reserved: &[&str]) -> Scope {
        Scope {
            taken: reserved.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// `base`, or `base2`, `base3`... whichever is free; now taken.
    pub fn unique(&mut self, base: &str) -> String {
        self.unique_among(base, &[])
    }

    /// `base`, or `base2`, `base3`... whichever is free here and taken in
    /// none of `others`; now taken here.
    pub fn unique_among(&mut self, base: &str, others: &[&Scope]) -> String {
        let free = |this: &Scope, name: &str| {
            !this.taken.contains(name) && others.iter().all(|o| !o.contains(name))
        };
        let mut candidate = base.to_owned();
        let mut n = 2u32;
        while !free(self, &candidate) {
            candidate = format!("{base}{n}");
            n += 1;
        }
        self.taken.insert(candidate.clone());
        candidate
    }

    /// Marks `name` taken.
    pub fn take(&mut self, name: &str) {
        self.taken.insert(name.to_owned());
    }

    /// Whether `name` is taken.
    pub fn contains(&self, name: &str) -> bool {
        self.taken.contains(name)
    }
}

/// Whether `name` is a valid kebab-case WIT identifier (before escaping).
pub fn is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LEN
        && name.split('-').all(|word| {
            word.starts_with(|c: char| c.is_ascii_lowercase())
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_kebab_case() {
        assert_eq!(kebab("dueDate"), "due-date");
        assert_eq!(kebab("X-Request-ID"), "x-request-id");
        assert_eq!(kebab("due_date"), "due-date");
        assert_eq!(kebab("TodoCreate"), "todo-create");
        assert_eq!(kebab("HTTPServer"), "http-server");
        assert_eq!(kebab("v2Items"), "v2-items");
        assert_eq!(kebab("item 2"), "item2");
        assert_eq!(kebab("2fa"), "n2fa");
        assert_eq!(kebab("§§"), "unnamed");
        assert_eq!(kebab("Last-Modified"), "last-modified");
    }

    #[test]
    fn long_names_are_shortened_apart() {
        let a = kebab(&"very-long-name-".repeat(10));
        let b = kebab(&format!("{}x", "very-long-name-".repeat(10)));
        assert!(a.len() <= MAX_LEN && b.len() <= MAX_LEN, "{a} {b}");
        assert_ne!(a, b);
        assert!(is_valid(&a), "{a}");
        // Cut after 56 characters, mid-word, then `-h` and six hex digits.
        let long = kebab(&"abcdefghij".repeat(8));
        assert_eq!(long.len(), MAX_LEN);
        assert!(long.starts_with(&"abcdefghij".repeat(5)), "{long}");
        assert_eq!(&long[50..58], "abcdef-h", "{long}");
    }

    #[test]
    fn keywords_are_escaped_and_collisions_suffixed() {
        assert_eq!(escaped("list"), "%list");
        assert_eq!(escaped("offset"), "offset");
        assert_eq!(escaped("map"), "%map");
        let mut scope = Scope::with(&["error"]);
        assert_eq!(scope.unique("error"), "error2");
        assert_eq!(scope.unique("todo"), "todo");
        assert_eq!(scope.unique("todo"), "todo2");
        let other = Scope::with(&["item", "item2"]);
        assert_eq!(scope.unique_among("item", &[&other]), "item3");
        assert_eq!(scope.unique_among("item", &[&other]), "item4");
    }
}
