//! The bad-input corpus (`tests/bad-inputs/*.yaml`): `wva plan` on each must exit 2 with one
//! clear line on stderr naming the file and the field, print nothing on stdout, and not panic.
//!
//! Each text file's first line says what the message must contain: `# expect: <text>`.

use assert_cmd::Command;
use std::path::Path;

/// Expectations for files that cannot carry a comment.
const UNCOMMENTED: [(&str, &str); 3] = [
    ("empty.yaml", "empty.yaml: file is empty"),
    ("binary-junk.yaml", "binary-junk.yaml: not a text file"),
    ("latin1.yaml", "latin1.yaml: not UTF-8 text"),
];

fn expectation(path: &Path) -> String {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    if let Some((_, e)) = UNCOMMENTED.iter().find(|(f, _)| *f == name) {
        return e.to_string();
    }
    let text = std::fs::read_to_string(path).unwrap_or_default();
    match text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# expect: "))
    {
        Some(e) => e.to_string(),
        // A text file without an expectation: at least the file must be named.
        None => name,
    }
}

#[test]
fn every_bad_input_is_a_clear_one_line_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-inputs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "the corpus must hold at least 20 files, has {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let out = Command::cargo_bin("wva")
            .unwrap()
            .current_dir(&dir)
            .args(["plan", &name])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let expect = expectation(path);
        let mut problems = Vec::new();
        if out.status.code() != Some(2) {
            problems.push(format!("exit code {:?}, want 2", out.status.code()));
        }
        if !stdout.is_empty() {
            problems.push(format!("stdout not empty: {stdout:?}"));
        }
        if stderr.contains("panicked") {
            problems.push("panicked".into());
        }
        if lines.len() != 1 {
            problems.push(format!("{} stderr lines, want 1", lines.len()));
        }
        if !lines
            .first()
            .is_some_and(|l| l.starts_with("error: ") && l.contains(&expect))
        {
            problems.push(format!("stderr lacks `{expect}`"));
        }
        if !stderr.contains(name.as_str()) && !stderr.contains("broken-profiles.yaml") {
            problems.push("stderr does not name the file".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{name}: {} -- stderr: {}",
                problems.join("; "),
                stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "bad inputs not handled:\n{}",
        failures.join("\n")
    );
}
