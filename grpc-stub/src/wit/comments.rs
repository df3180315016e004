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

/// `line` with what WIT refuses in a comment (control characters such as
/// a form feed, ESC or NEL, and the bidirectional overrides a "Trojan
/// Source" attack uses) each replaced by a space.
fn printable(line: &str) -> std::borrow::Cow<'_, str> {
    let refused = |c: char| {
        c.is_control()
            || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
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
}
