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
        let line = line.get(common..).unwrap_or("").trim_end();
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
