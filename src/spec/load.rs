//! Reading input files: text checks, YAML parsing with positioned errors, and following a
//! scenario's references to catalog files.

use super::SpecError;
use super::raw::{Entry, Refs};
use crate::error::Error;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where an entry was written: the file and the field path of the entry in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub file: Arc<PathBuf>,
    /// The entry's field path, e.g. `profiles[2]`.
    pub path: String,
}

impl Origin {
    /// An origin for entries built in code rather than read from a file.
    pub fn memory(path: impl Into<String>) -> Self {
        Origin {
            file: Arc::new(PathBuf::from("<memory>")),
            path: path.into(),
        }
    }

    /// An error about `field` of this entry (`field` may be empty for the entry itself).
    pub fn error(&self, field: &str, message: impl Into<String>) -> SpecError {
        SpecError::at(&self.file, crate::error::join(&self.path, field), message)
    }
}

/// An entry with its origin.
#[derive(Debug)]
pub struct Located<T> {
    /// The entry.
    pub item: T,
    /// Where it was written.
    pub origin: Origin,
}

/// Reads a file as text: an unreadable file is [`Error::Read`]; an empty or binary file is a
/// [`SpecError`].
pub fn read_text(path: &Path) -> Result<String, Error> {
    let bytes = crate::limits::read_document(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        cause: source,
    })?;
    text_of(path, bytes).map_err(Error::from)
}

fn text_of(path: &Path, bytes: Vec<u8>) -> Result<String, SpecError> {
    if bytes.contains(&0) {
        return Err(SpecError::file(
            path,
            "not a text file (contains NUL bytes)",
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        SpecError::file(
            path,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    if text.trim().is_empty()
        || text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(SpecError::file(path, "file is empty"));
    }
    Ok(text)
}

/// Parses a YAML document into `T`, turning any error into a [`SpecError`] with the field path
/// and, where the parser knows it, the line and column.
pub fn parse_yaml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, SpecError> {
    if let Some((line, column)) = crate::limits::too_deep(text) {
        return Err(SpecError {
            file: path.to_path_buf(),
            field: String::new(),
            line: Some(line),
            column: Some(column),
            message: format!("nested deeper than {} levels", crate::limits::MAX_NESTING),
        });
    }
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let field = err.path().to_string();
        // `?` marks a segment the parser could not name (inside broken syntax): drop it.
        let field = field
            .trim_end_matches(".?")
            .trim_end_matches("?")
            .to_string();
        let field = if field == "." { String::new() } else { field };
        let inner = err.into_inner();
        let location = inner.location();
        let mut message = inner.to_string();
        if let Some(loc) = &location {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_string();
            } else {
                message = message.replacen(&suffix, "", 1);
            }
        }
        // The YAML library prefixes its own (shorter) path; ours is printed separately.
        if let Some((prefix, rest)) = message.split_once(": ")
            && !prefix.contains(' ')
            && field.starts_with(prefix)
        {
            message = rest.to_string();
        }
        SpecError {
            file: path.to_path_buf(),
            field,
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            message,
        }
    })
}

/// Reads and parses a YAML file.
pub fn load_yaml<T: DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let text = read_text(path)?;
    Ok(parse_yaml(path, &text)?)
}

/// Expands a catalog block: inline entries keep the scenario as origin; each path is read
/// (relative to the scenario's folder) as a file whose entries `extract` returns.
pub fn expand<T, F: DeserializeOwned>(
    refs: Option<Refs<T>>,
    key: &str,
    scenario: &Arc<PathBuf>,
    extract: impl Fn(F) -> Vec<T>,
) -> Result<Vec<Located<T>>, Error> {
    let mut out = Vec::new();
    let Some(Refs(entries)) = refs else {
        return Ok(out);
    };
    let base = scenario.parent().map(Path::to_path_buf).unwrap_or_default();
    for (i, entry) in entries.into_iter().enumerate() {
        match entry {
            Entry::Inline(item) => out.push(Located {
                item,
                origin: Origin {
                    file: Arc::clone(scenario),
                    path: format!("{key}[{i}]"),
                },
            }),
            Entry::Path(relative) => {
                let path = base.join(&relative);
                let file = Arc::new(path.clone());
                let text = crate::limits::read_document(&path)
                    .map_err(|e| {
                        SpecError::at(
                            scenario,
                            format!("{key}[{i}]"),
                            format!("cannot read `{}`: {e}", path.display()),
                        )
                    })
                    .and_then(|bytes| text_of(&path, bytes))?;
                let doc: F = parse_yaml(&path, &text)?;
                for (j, item) in extract(doc).into_iter().enumerate() {
                    out.push(Located {
                        item,
                        origin: Origin {
                            file: Arc::clone(&file),
                            path: format!("{key}[{j}]"),
                        },
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[allow(dead_code)]
        items: Vec<Item>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Item {
        #[allow(dead_code)]
        rate_rps: crate::spec::numbers::PositiveF64,
    }

    #[test]
    fn errors_carry_field_line_and_column() {
        let err = parse_yaml::<Doc>(
            Path::new("s.yaml"),
            "items:\n  - rate_rps: 1\n  - rate_rps: -2\n",
        )
        .unwrap_err();
        assert_eq!(err.field, "items[1].rate_rps");
        assert_eq!((err.line, err.column), (Some(3), Some(15)));
        assert_eq!(
            err.to_string(),
            "s.yaml:3:15: items[1].rate_rps: must be a positive number, got -2"
        );
    }

    #[test]
    fn unknown_fields_name_the_field() {
        let err = parse_yaml::<Doc>(Path::new("s.yaml"), "items:\n  - rate_rpz: 1\n").unwrap_err();
        assert_eq!(err.field, "items[0].rate_rpz");
        assert!(
            err.message
                .starts_with("unknown field `rate_rpz`, expected `rate_rps`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn empty_and_binary_files_are_refused() {
        assert_eq!(
            text_of(Path::new("e"), b"  \n# only a comment\n".to_vec())
                .unwrap_err()
                .message,
            "file is empty"
        );
        assert!(
            text_of(Path::new("b"), vec![0x7f, 0x45, 0x4c, 0x46, 0, 1])
                .unwrap_err()
                .message
                .contains("NUL")
        );
        assert!(
            text_of(Path::new("b"), vec![0xff, 0xfe, 0x41])
                .unwrap_err()
                .message
                .contains("UTF-8")
        );
    }
}
