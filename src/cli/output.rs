//! Writing results to stdout in one piece.

use clap::ValueEnum;
use serde::Serialize;
use std::io::Write;

/// Output formats of the commands that print one document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DocFormat {
    /// A table for people.
    Table,
    /// One JSON object.
    Json,
    /// YAML.
    Yaml,
}

/// `value` in `format`, `table` rendering it for people.
pub fn render<T: Serialize>(format: DocFormat, value: &T, table: fn(&T) -> String) -> String {
    match format {
        DocFormat::Table => table(value),
        DocFormat::Json => crate::report::to_json(value),
        DocFormat::Yaml => crate::report::to_yaml(value),
    }
}

/// Writes `text` to stdout at once. A closed pipe (`wva plan ... | head`) is not an error.
pub fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing to stdout"))
        }
        _ => Ok(()),
    }
}

/// The file `--out` names: none without `--out` or with `--out -` (stdout).
pub fn out_file(out: Option<&std::path::Path>) -> Option<&std::path::Path> {
    out.filter(|p| p.as_os_str() != "-")
}

/// Writes `text` to `--out FILE`, or to stdout without `--out` or with `--out -`.
pub fn write_out(out: Option<&std::path::Path>, text: &str) -> anyhow::Result<()> {
    match out_file(out) {
        Some(path) => write_atomically(path, text.as_bytes()),
        None => emit(text),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so the
/// file is either the old one or the whole new one. A symlink's target is written (the link
/// stays); a path that is not a regular file (`/dev/null`, a pipe) is written directly.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let write_error = |cause| crate::error::Error::Write {
        path: path.to_path_buf(),
        cause,
    };
    // A symlink: replace what it points to, not the link.
    let resolved;
    let path = if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        resolved = std::fs::canonicalize(path).map_err(write_error)?;
        resolved.as_path()
    } else {
        path
    };
    // Not a regular file (a device such as /dev/null, a pipe): a rename would replace it.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return std::fs::write(path, bytes).map_err(|e| write_error(e).into());
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.wva-tmp-{}", std::process::id()));
    // Removed if anything fails, or on SIGINT/SIGTERM (the old file stays as it was).
    crate::tempfiles::TempPath::create(tmp, |p| std::fs::File::create(p).map(drop))
        .and_then(|tmp| {
            std::fs::write(tmp.path(), bytes)?;
            tmp.persist(path)
        })
        .map_err(|e| write_error(e).into())
}
