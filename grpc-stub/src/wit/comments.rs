//! Proto source comments, carried over to WIT `///` docs when the pool has
//! source info (protox keeps it; pools without it just get no comments).

use std::collections::HashMap;

use prost_reflect::FileDescriptor;

/// Leading comments of every element of the files seen so far, by file
/// name and source path.
#[derive(Default)]
pub(crate) struct Comments {
    files: HashMap<String, HashMap<Vec<i32>, String>>,
}

impl Comments {
    /// The leading comment of the element at `path` in `file`, trimmed.
    pub(crate) fn get(&mut self, file: &FileDescriptor, path: &[i32]) -> Option<&str> {
        let by_path = self
            .files
            .entry(file.name().to_owned())
            .or_insert_with(|| index(file));
        by_path.get(path).map(String::as_str)
    }
}

fn index(file: &FileDescriptor) -> HashMap<Vec<i32>, String> {
    let mut out = HashMap::new();
    let Some(info) = &file.file_descriptor_proto().source_code_info else {
        return out;
    };
    for location in &info.location {
        if let Some(text) = &location.leading_comments {
            let text = text.trim_end();
            if !text.trim().is_empty() {
                out.insert(location.path.clone(), text.to_owned());
            }
        }
    }
    out
}

/// Writes `text` as `///` doc lines at `indent`.
pub(crate) fn doc_lines(out: &mut String, indent: &str, text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    // Drop the common leading space most proto comments have after `//`.
    let common = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .min()
        .unwrap_or(0);
    for line in lines {
        let line = printable(line.get(common..).unwrap_or(""));
        let line = line.trim_end();
        if line.is_empty() {
            out.push_str(indent);
            out.push_str("///\n");
        } else {
            out.push_str(indent);
            out.push_str("/// ");
            out.push_str(line);
            out.push('\n');
        }
    }
}

/// Whether WIT (wit-parser) refuses `c` anywhere in a file, comments
/// included: control characters other than newline and tab (a form feed,
/// ESC, NEL), the bidirectional marks and overrides a "Trojan Source"
/// attack uses, and eight code points Unicode deprecates or discourages
/// (U+0149, U+0673, U+0F77, U+0F79, U+17A3, U+17A4, U+17B4, U+17B5).
pub fn refused_in_wit(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{0149}'
                | '\u{0673}'
                | '\u{0F77}'
                | '\u{0F79}'
                | '\u{17A3}'
                | '\u{17A4}'
                | '\u{17B4}'
                | '\u{17B5}'
        )
}

/// `line` with what WIT refuses ([`refused_in_wit`]) each replaced by a
/// space.
fn printable(line: &str) -> std::borrow::Cow<'_, str> {
    let refused = |c: char| c == '\t' || refused_in_wit(c);
    if line.contains(refused) {
        line.chars()
            .map(|c| if refused(c) { ' ' } else { c })
            .collect::<String>()
            .into()
    } else {
        line.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_become_spaces() {
        let mut out = String::new();
        doc_lines(
            &mut out,
            "",
            "a\u{c}b\u{1b}[31m c\u{85}d \u{202E}e\u{2066}f\tg",
        );
        assert_eq!(out, "/// a b [31m c d  e f g\n");
    }

    #[test]
    fn code_points_wit_deprecates_become_spaces() {
        // wit-parser refused the whole file for one of them in a comment.
        let mut out = String::new();
        doc_lines(&mut out, "", "Don\u{149}t \u{17B4}x\u{F77}");
        assert_eq!(out, "/// Don t  x\n");
        assert!(
            wit_parser::UnresolvedPackageGroup::parse(
                "c.wit",
                &format!("package a:b;\n{out}interface i {{}}\n")
            )
            .is_ok()
        );
    }
}
