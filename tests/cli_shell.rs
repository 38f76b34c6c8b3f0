//! `wva completions`, `wva man` and `wva --version` from the command line, and the plot-name
//! rule every `--plot` shares.

mod common;

use common::{root, wva};

#[test]
fn completion_scripts_generate_for_every_shell() {
    for (shell, marker) in [
        ("bash", "_wva()"),
        ("zsh", "#compdef wva"),
        ("fish", "complete -c wva"),
        ("elvish", "edit:completion:arg-completer[wva]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = wva().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: no {marker}");
        // Subcommands and their flags are completed.
        for word in ["replay", "burst-quantile", "estimate"] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let out = wva().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'tcsh'"));
}

#[test]
fn man_pages_generate() {
    let out = wva().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.contains(".TH wva 1"),
        "{}",
        &page[..page.len().min(300)]
    );
    assert!(page.contains("Capacity planner and offline simulator"));

    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("man1");
    let out = wva()
        .args(["man", "--out-dir", target.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8(out.stdout).unwrap();
    for name in [
        "wva",
        "wva-plan",
        "wva-replay",
        "wva-trace",
        "wva-trace-stats",
        "wva-man",
    ] {
        let page = std::fs::read_to_string(target.join(format!("{name}.1")))
            .unwrap_or_else(|e| panic!("{name}.1: {e}"));
        assert!(page.contains(&format!(".TH {name} 1")), "{name}");
        assert!(said.contains(&format!("{name}.1")), "{said}");
    }
    // The replay page carries its flags and their help.
    let replay = std::fs::read_to_string(target.join("wva-replay.1")).unwrap();
    assert!(
        replay.contains("scale\\-to\\-zero\\-after\\-s"),
        "escaped flag names"
    );

    // A directory that cannot be created: a one-line usage error.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = wva()
        .args(["man", "--out-dir", file.join("sub").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot create the directory"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn version_names_the_commit_in_a_checkout() {
    let out = wva().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!("wva {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    if root().join(".git").exists() {
        assert!(text.contains("(commit "), "{text}");
    }
}

/// A plot is PNG or SVG by its name; another extension is refused before any work is done,
/// instead of PNG bytes under a `.jpg` name.
#[test]
fn plot_names_say_png_or_svg() {
    for (args, flag) in [
        (
            vec!["simulate", "scenarios/quickstart.yaml", "--plot", "sim.jpg"],
            "--plot",
        ),
        (
            vec![
                "replay",
                "scenarios/azure-chat-and-code.yaml",
                "--trace",
                "traces/azure-conv-like-10min.csv",
                "--pareto",
                "p.pdf",
            ],
            "--pareto",
        ),
        (
            vec![
                "trace",
                "stats",
                "traces/azure-conv-like-10min.csv",
                "--plot",
                "t.JPEG",
            ],
            "--plot",
        ),
    ] {
        let out = wva().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("plots are written as PNG (.png) or SVG (.svg)"),
            "{err}"
        );
        assert!(err.contains(flag), "{err}");
    }
}
