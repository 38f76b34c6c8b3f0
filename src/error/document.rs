//! The error of an invalid input document: which file, which field, where, and what is wrong.

use std::fmt;
use std::path::{Path, PathBuf};

/// An invalid input document. Displays on one line as
/// `file:line:column: field.path: message` (line and column when known).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    /// The file (as given by the user, or `<memory>` for documents built in code).
    pub file: PathBuf,
    /// The field path, e.g. `workloads[3].rate_rps` (empty for the whole document).
    pub field: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl SpecError {
    /// An error about a field, without a position.
    pub fn at(file: &Path, field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError {
            file: file.to_path_buf(),
            field: field.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// An error about the whole file.
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        SpecError::at(file, "", message)
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if !self.field.is_empty() {
            // Field paths carry object names, which come from the input: cut a huge one.
            match crate::limits::prefix(&self.field, crate::limits::MAX_QUOTED_IN_MESSAGE) {
                None => write!(f, ": {}", self.field)?,
                Some(head) => write!(f, ": {head}...({} bytes)", self.field.len())?,
            }
        }
        write!(f, ": {}", crate::limits::shorten(&self.message))
    }
}

impl std::error::Error for SpecError {}

/// Joins a field path and a sub-field: `join("profiles[2]", "perf.alpha")`.
pub(crate) fn join(base: &str, field: &str) -> String {
    match (base.is_empty(), field.is_empty()) {
        (true, _) => field.to_string(),
        (_, true) => base.to_string(),
        _ => format!("{base}.{field}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_on_one_line_with_position() {
        let mut e = SpecError::at(
            Path::new("s.yaml"),
            "workloads[3].rate_rps",
            "must be a positive number, got -1",
        );
        assert_eq!(
            e.to_string(),
            "s.yaml: workloads[3].rate_rps: must be a positive number, got -1"
        );
        e.line = Some(12);
        e.column = Some(15);
        assert_eq!(
            e.to_string(),
            "s.yaml:12:15: workloads[3].rate_rps: must be a positive number, got -1"
        );
        assert_eq!(
            SpecError::file(Path::new("x"), "file is empty").to_string(),
            "x: file is empty"
        );
        // Input quoted back (object names in the field, values in the message) is cut short.
        let huge = SpecError::at(
            Path::new("d.yaml"),
            format!("VariantAutoscaling {}.prompt_tokens", "9".repeat(5000)),
            format!("invalid type: string \"{}\"", "8".repeat(5000)),
        );
        assert!(huge.to_string().len() < 400, "{huge}");
    }
}
