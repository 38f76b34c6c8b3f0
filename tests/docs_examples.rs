//! The worked examples in `README.md` and `docs/*.md` are real: every ```console block's
//! `$ wva ...` command is run from the project root and its output (stdout, then stderr) must
//! match the text below it. `$ echo $?` checks the previous command's exit code.
//!
//! After a deliberate change of output, regenerate the examples with
//! `WVA_BLESS=1 cargo test --test docs_examples`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Example {
    /// Line index of the first command line.
    start: usize,
    /// Line index one past the expected output.
    end: usize,
    /// Command arguments after `wva` (empty for `echo $?`).
    args: Option<Vec<String>>,
    /// Expected output lines.
    expected: Vec<String>,
}

fn parse(lines: &[String]) -> Vec<Example> {
    let mut examples = Vec::new();
    let mut i = 0;
    let mut in_console = false;
    while i < lines.len() {
        let line = &lines[i];
        if line.trim_start().starts_with("```") {
            in_console = !in_console && line.trim() == "```console";
            i += 1;
            continue;
        }
        if !in_console || !line.starts_with("$ ") {
            i += 1;
            continue;
        }
        let start = i;
        let mut command = line[2..].to_string();
        while command.ends_with('\\') && i + 1 < lines.len() {
            command.pop();
            i += 1;
            command.push(' ');
            command.push_str(lines[i].trim());
        }
        i += 1;
        let mut expected = Vec::new();
        while i < lines.len()
            && !lines[i].starts_with("$ ")
            && !lines[i].trim_start().starts_with("```")
        {
            expected.push(lines[i].clone());
            i += 1;
        }
        let words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
        let args = match words.first().map(String::as_str) {
            Some("wva") => Some(words[1..].to_vec()),
            Some("echo") if words.get(1).map(String::as_str) == Some("$?") => None,
            _ => continue,
        };
        examples.push(Example {
            start,
            end: i,
            args,
            expected,
        });
    }
    examples
}

fn run(root: &Path, args: &[String]) -> (String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_wva"))
        .current_dir(root)
        .args(args)
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (text, out.status.code().unwrap_or(-1))
}

fn normalise(lines: &[String]) -> Vec<String> {
    let mut v: Vec<String> = lines.iter().map(|l| l.trim_end().to_string()).collect();
    while v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v
}

#[test]
fn documented_examples_match_the_binary() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var_os("WVA_BLESS").is_some();
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files.sort();
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let examples = parse(&lines);
        let mut replacements: Vec<(usize, usize, Vec<String>)> = Vec::new();
        let mut last_code = 0;
        for ex in &examples {
            // Examples that read the shared data need it beside the checkout.
            if let Some(args) = &ex.args
                && args.iter().any(|a| a.starts_with("../shared"))
                && !root.join("../shared").exists()
            {
                assert!(
                    std::env::var("CI")
                        .map(|v| v.is_empty() || v == "false" || v == "0")
                        .unwrap_or(true),
                    "{}:{}: this example needs ../shared beside the checkout (CI must provide it)",
                    file.display(),
                    ex.start + 1
                );
                // Written to stderr directly: libtest captures `eprintln!`.
                let _ = writeln!(
                    std::io::stderr(),
                    "notice: skipping {}:{}: ../shared not found",
                    file.display(),
                    ex.start + 1
                );
                continue;
            }
            let actual: Vec<String> = match &ex.args {
                Some(args) => {
                    let (out, code) = run(&root, args);
                    last_code = code;
                    out.lines().map(str::to_string).collect()
                }
                None => vec![last_code.to_string()],
            };
            checked += 1;
            if normalise(&actual) != normalise(&ex.expected) {
                if bless {
                    let first_output = ex.end - ex.expected.len();
                    let mut new = normalise(&actual);
                    if ex.expected.last().is_some_and(|l| l.trim().is_empty()) {
                        new.push(String::new());
                    }
                    replacements.push((first_output, ex.end, new));
                } else {
                    failures.push(format!(
                        "{}:{}: output differs\n--- documented\n{}\n--- actual\n{}",
                        file.display(),
                        ex.start + 1,
                        normalise(&ex.expected).join("\n"),
                        normalise(&actual).join("\n")
                    ));
                }
            }
        }
        if bless && !replacements.is_empty() {
            for (from, to, new) in replacements.into_iter().rev() {
                lines.splice(from..to, new);
            }
            std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        }
    }
    assert!(checked > 0, "no documented examples found");
    assert!(
        failures.is_empty(),
        "{} documented example(s) are stale (WVA_BLESS=1 to regenerate):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
