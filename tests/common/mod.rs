//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod prometheus;

use std::io::Write;
use std::path::{Path, PathBuf};

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file or folder of the shared data beside the checkout (`../shared/<relative>`, or
/// `$WVA_SHARED_DIR/<relative>`). Under CI (`CI` set) a missing file fails the test with a clear
/// message; elsewhere the test is skipped with a notice (`None`).
pub fn shared(relative: &str) -> Option<PathBuf> {
    let base = std::env::var_os("WVA_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared"));
    let path = base.join(relative);
    if path.exists() {
        return Some(path);
    }
    let ci = std::env::var("CI")
        .map(|v| !v.is_empty() && v != "false" && v != "0")
        .unwrap_or(false);
    if ci {
        panic!(
            "shared data missing: {} does not exist. CI needs ../shared (the shared data and reference files) beside the checkout, or WVA_SHARED_DIR pointing at it.",
            path.display()
        );
    }
    // Written to stderr directly: libtest captures `eprintln!`, and the notice must show.
    let _ = writeln!(
        std::io::stderr(),
        "notice: skipping: {} not found (set WVA_SHARED_DIR or place ../shared beside the checkout)",
        path.display()
    );
    None
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Asserts `actual` is within `rel` relative error of `expected`.
pub fn assert_close(what: &str, actual: f64, expected: f64, rel: f64) {
    let err = ((actual - expected) / expected).abs();
    assert!(
        err <= rel,
        "{what}: got {actual}, expected {expected} (relative error {err:.2e} > {rel:.0e})"
    );
}

/// The `wva` binary, run from the project root.
pub fn wva() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("wva").unwrap();
    cmd.current_dir(root());
    cmd
}

/// `wva ARGS -o json`, which must succeed, as JSON.
pub fn wva_json(args: &[&str]) -> serde_json::Value {
    let out = wva().args(args).args(["-o", "json"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "wva {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The stdout the binary printed for a command of `tests/golden_outputs.rs`, captured in
/// `tests/fixtures/golden/NAME.txt`: what a use case called in process must reproduce.
pub fn golden_stdout(name: &str) -> String {
    let path = root().join(format!("tests/fixtures/golden/{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = text.find("--- stdout\n").expect("a stdout section") + "--- stdout\n".len();
    let end = text.find("--- stderr\n").expect("a stderr section");
    text[start..end].to_string()
}

/// A use-case listener that keeps the notes it hears (`.0.into_inner()` gives them).
#[derive(Default)]
pub struct Notes(pub std::sync::Mutex<Vec<String>>);

impl wva::usecase::Listener for Notes {
    fn note(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

/// The message of `err`, which must be a request error (a field that does not make sense), as
/// the library words it: fields by their names in the request, in backticks (the binary names
/// them by their flags).
pub fn request_message(err: &wva::error::Error) -> String {
    match err.downcast_ref::<wva::error::RequestError>() {
        Some(r) => r.to_string(),
        None => panic!("expected a request error, got {err:?}"),
    }
}
