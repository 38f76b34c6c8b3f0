//! Build script: records the git commit of a build made from a checkout, so that
//! `wva --version` says which source it was built from ("0.1.0 (commit 1e2f068abcde)"); a build
//! from a source archive without `.git` says the version alone.

use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit()));
    let suffix = commit.map_or(String::new(), |c| format!(" (commit {c})"));
    println!("cargo:rustc-env=WVA_VERSION_SUFFIX={suffix}");
    println!("cargo:rerun-if-changed=build.rs");
    // A new commit moves HEAD or the branch it names; watch them only where they exist (a
    // missing path would rerun this script on every build).
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
