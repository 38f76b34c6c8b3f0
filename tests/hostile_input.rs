//! Hostile input and interrupted runs: one regression test per finding of the hostile-input
//! review (each row of the table), on inputs generated here. None may panic, hang,
//! answer NaN or leave a half-written output; each is exit 2 (or 130 for an interrupt) with a
//! short message naming the flag or the file.

mod common;

use common::{root, wva};
use std::path::Path;
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 2, one short stderr line containing every one of `expect`, nothing on stdout.
#[track_caller]
fn refused(o: &Output, expect: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        o.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(
        err.len() < 600,
        "{} bytes of stderr: {}",
        err.len(),
        &err[..300.min(err.len())]
    );
    for e in expect {
        assert!(err.contains(e), "want `{e}` in: {err}");
    }
}

fn run(args: &[&str]) -> Output {
    wva().args(args).output().unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

// Row 1: an absurd noise coefficient.
#[test]
fn noise_beyond_its_range_is_refused() {
    let o = run(&[
        "simulate",
        "scenarios/quickstart.yaml",
        "--requests",
        "300",
        "--noise-cv",
        "1e200",
    ]);
    refused(&o, &["--noise-cv", "out of range", "max 10"]);
    let o = run(&["replay", "--noise-cv", "1e154", "--help"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

// Row 2: deep nesting is stopped before the parser, with a line and column.
#[test]
fn deep_yaml_nesting_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!(
        "workloads: {}{}\n",
        "[".repeat(160_000),
        "]".repeat(160_000)
    );
    let path = write(dir.path(), "deep.yaml", &deep);
    for args in [
        vec!["plan", path.as_str()],
        vec!["apply", path.as_str()],
        vec![
            "analyze",
            "--profile",
            path.as_str(),
            "--in-tokens",
            "100",
            "--out-tokens",
            "10",
            "--rate-rps",
            "1",
        ],
    ] {
        let o = run(&args);
        refused(&o, &["deep.yaml:1:", "nested deeper than 128 levels"]);
    }
    let o = run(&[
        "plan",
        "--from-cluster",
        "tests/fixtures/cluster/dump.yaml",
        "--workloads",
        &path,
    ]);
    refused(&o, &["deep.yaml:1:", "nested deeper than 128 levels"]);
}

// Row 3: no input is loaded without bound.
#[test]
fn endless_and_huge_inputs_are_capped() {
    #[cfg(unix)]
    {
        let o = run(&["plan", "/dev/zero"]);
        refused(&o, &["/dev/zero", "larger than 64 MiB"]);
    }
    let dir = tempfile::tempdir().unwrap();
    let z = dir.path().join("z.csv");
    std::fs::File::create(&z).unwrap().set_len(2 << 30).unwrap(); // sparse: no disk used
    let o = run(&[
        "trace",
        "stats",
        z.to_str().unwrap(),
        "--trace-format",
        "canonical",
    ]);
    refused(&o, &["z.csv", "longer than 67108864 bytes"]);
}

// Row 4: a huge bad field is quoted short.
#[test]
fn a_huge_bad_field_is_quoted_short() {
    let dir = tempfile::tempdir().unwrap();
    let digits = "7".repeat(1 << 20);
    let path = write(
        dir.path(),
        "t.csv",
        &format!("arrival_s,prompt_tokens,output_tokens\n0,10,10\n1,{digits}x,10\n"),
    );
    let o = run(&["trace", "stats", &path]);
    refused(&o, &["t.csv:3", "prompt_tokens", "bytes)"]);
}

// Row 5: counts past their bound, in flags and in YAML.
#[test]
fn counts_past_their_bound_are_refused() {
    for (args, flag) in [
        (
            vec![
                "simulate",
                "scenarios/quickstart.yaml",
                "--max-num-seqs",
                "2147483648",
            ],
            "--max-num-seqs",
        ),
        (
            vec![
                "simulate",
                "scenarios/quickstart.yaml",
                "--replications",
                "2147483648",
            ],
            "--replications",
        ),
        (
            vec![
                "simulate",
                "scenarios/quickstart.yaml",
                "--replicas",
                "4294967295",
            ],
            "--replicas",
        ),
        (
            vec![
                "replay",
                "--trace",
                "traces/azure-conv-like-10min.csv",
                "--max-batch",
                "2147483648",
            ],
            "--max-batch",
        ),
    ] {
        let o = run(&args);
        refused(&o, &[flag, "out of range"]);
    }
    let dir = tempfile::tempdir().unwrap();
    let scenario = std::fs::read_to_string(root().join("scenarios/quickstart.yaml"))
        .unwrap()
        .replace("../profiles/", &format!("{}/profiles/", root().display()));
    let with_min = scenario.replacen(
        "    rate_rps:",
        "    min_replicas: 4294967295\n    rate_rps:",
        1,
    );
    assert_ne!(
        with_min, scenario,
        "the quickstart's first workload has rate_rps"
    );
    let path = write(dir.path(), "big.yaml", &with_min);
    for command in ["plan", "simulate"] {
        let o = run(&[command, &path]);
        refused(
            &o,
            &["big.yaml", "min_replicas", "out of range", "max 10000"],
        );
    }
}

// Row 6: synthesis does not buffer without bound.
#[test]
fn synthesis_past_the_request_bound_is_refused() {
    let base = [
        "trace",
        "synth",
        "--rate-rps",
        "10",
        "--in-tokens",
        "100",
        "--out-tokens",
        "10",
        "--out",
        "/dev/null",
    ];
    let o = run(&[&base[..], &["--requests", "1000000000000"]].concat());
    refused(&o, &["--requests", "out of range", "max 50000000"]);
    let o = run(&[&base[..], &["--duration-s", "1e9"]].concat());
    refused(&o, &["--duration-s", "at most 50000000"]);
}

// Row 7: `apply --out-dir` is all or nothing.
#[test]
fn out_dir_is_replaced_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let args = [
        "apply",
        "scenarios/quickstart.yaml",
        "--autoscaler",
        "hpa",
        "--include-crd",
        "--out-dir",
        out.to_str().unwrap(),
    ];
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let listing = |d: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = listing(&out);
    let contents: Vec<String> = before
        .iter()
        .map(|f| std::fs::read_to_string(out.join(f)).unwrap())
        .collect();
    // One target file replaced by a folder.
    let victim = out.join(&before[2]);
    std::fs::remove_file(&victim).unwrap();
    std::fs::create_dir(&victim).unwrap();
    let o = run(&args);
    refused(&o, &["is a folder", "nothing written"]);
    assert_eq!(listing(&out), before);
    for (f, text) in before.iter().zip(&contents) {
        if out.join(f).is_file() {
            assert_eq!(&std::fs::read_to_string(out.join(f)).unwrap(), text, "{f}");
        }
    }
    assert_eq!(
        listing(dir.path()),
        vec!["m".to_string()],
        "temporaries left"
    );
}

// Row 8: an interrupt leaves no temporary, and the old output.
#[cfg(unix)]
#[test]
fn an_interrupted_write_leaves_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("req.csv");
    std::fs::write(&out, "old\n").unwrap();
    let bin = assert_cmd::cargo::cargo_bin("wva");
    let mut child = std::process::Command::new(bin)
        .current_dir(root())
        .args([
            "simulate",
            "scenarios/quickstart.yaml",
            "--requests",
            "3000000",
            "--requests-out",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the temporary to appear (the simulation is done, the write under way), then
    // interrupt.
    let start = std::time::Instant::now();
    let temp_exists = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().contains("wva-tmp"))
    };
    while !temp_exists() {
        assert!(start.elapsed().as_secs() < 300, "no temporary appeared");
        if child.try_wait().unwrap().is_some() {
            panic!("wva finished before it could be interrupted");
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(stderr(&o).contains("interrupted"));
    assert!(!temp_exists(), "a temporary was left");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n");
}

// Row 9: never a NaN answer.
#[test]
fn no_answer_is_nan() {
    let base = [
        "analyze",
        "--alpha",
        "12",
        "--gamma",
        "0.0005",
        "--max-batch",
        "48",
        "--in-tokens",
        "128",
        "--out-tokens",
        "512",
    ];
    let o = run(&[&base[..], &["--beta", "0.05", "--rate-rps", "1e100"]].concat());
    refused(&o, &["--rate-rps", "out of range"]);
    // At the largest rate allowed the replica is swamped, not NaN.
    let o = run(&[
        &base[..],
        &["--beta", "0.05", "--rate-rps", "1e6", "-o", "json"],
    ]
    .concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in ["throughput_rps", "ttft_ms", "itl_ms", "response_ms"] {
        assert!(v[key].as_f64().is_some_and(f64::is_finite), "{key}: {v}");
    }
    assert!(
        (v["throughput_rps"].as_f64().unwrap() - v["max_rate_rps"].as_f64().unwrap()).abs() < 0.01,
        "{v}"
    );
    // Coefficients beyond any hardware are refused, in flags and in profiles.
    let o = run(&[&base[..], &["--beta", "1.8e19", "--rate-rps", "1"]].concat());
    refused(&o, &["--beta", "out of range"]);
    let dir = tempfile::tempdir().unwrap();
    let profile =
        std::fs::read_to_string(root().join("profiles/llama-3.1-8b-instruct.yaml")).unwrap();
    let huge = profile.replacen("gamma: ", "gamma: 9.2e18 #", 1);
    assert_ne!(huge, profile);
    let path = write(dir.path(), "p.yaml", &huge);
    let o = run(&[
        "analyze",
        "--profile",
        &path,
        "--in-tokens",
        "128",
        "--out-tokens",
        "512",
        "--rate-rps",
        "1",
    ]);
    refused(&o, &["p.yaml", "perf.gamma", "at most 1e6"]);
}

// Row 10: a time scale that sends arrivals past any sense.
#[test]
fn a_time_scale_out_of_range_is_refused() {
    let o = run(&[
        "trace",
        "stats",
        "traces/azure-conv-like-10min.csv",
        "--time-scale",
        "1e308",
        "-o",
        "json",
    ]);
    refused(&o, &["--time-scale", "out of range"]);
    let o = run(&[
        "simulate",
        "scenarios/quickstart.yaml",
        "--trace",
        "traces/azure-conv-like-10min.csv",
        "--workload",
        "chat-premium",
        "--time-scale",
        "1e308",
    ]);
    refused(&o, &["--time-scale", "out of range"]);
}

// Row 11: measured times that run backwards.
#[test]
fn times_that_run_backwards_are_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "w.jsonl",
        "{\"input_toks\": 10, \"output_toks\": 5, \"arrival_time_ns\": 0, \"queued_ts\": 0.0, \"first_token_ts\": 0.1, \"last_token_ts\": 0.5}\n\
         {\"input_toks\": 10, \"output_toks\": 5, \"arrival_time_ns\": 1000, \"queued_ts\": 1.0, \"first_token_ts\": 3.0, \"last_token_ts\": 1.5}\n",
    );
    let o = run(&["trace", "stats", &path]);
    refused(&o, &["w.jsonl:2", "last_token_ts is before first_token_ts"]);
    let o = run(&["trace", "stats", &path, "--skip-bad-rows", "-o", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["skipped_rows"], 1);
    assert!(
        v["measured_e2e_ms"]["mean"].as_f64().unwrap_or(0.0) >= 0.0,
        "{v}"
    );
}

// Row 12: Kubernetes fields past int32, and an empty Prometheus URL.
#[test]
fn manifest_values_are_checked() {
    let o = run(&[
        "apply",
        "scenarios/quickstart.yaml",
        "--autoscaler",
        "hpa",
        "--max-replicas",
        "2147483648",
    ]);
    refused(&o, &["--max-replicas", "out of range", "max 2147483647"]);
    let o = run(&[
        "apply",
        "scenarios/quickstart.yaml",
        "--autoscaler",
        "keda",
        "--prometheus-url",
        "",
    ]);
    refused(&o, &["--prometheus-url", "not an http:// or https:// URL"]);
}

// Row 13: a trace of nothing but bad rows.
#[test]
fn a_trace_of_bad_rows_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "bad.csv",
        "arrival_s,prompt_tokens,output_tokens\nx,1,1\n1,y,1\n",
    );
    for args in [
        vec!["trace", "stats", path.as_str(), "--skip-bad-rows"],
        vec![
            "trace",
            "convert",
            path.as_str(),
            "--skip-bad-rows",
            "--to",
            "canonical",
            "--out",
            "/dev/null",
        ],
    ] {
        let o = run(&args);
        refused(
            &o,
            &["bad.csv: no requests to read (2 malformed rows skipped"],
        );
    }
}

// Row 14: an arrival far from the others names its line.
#[test]
fn a_far_arrival_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "far.csv",
        "arrival_s,prompt_tokens,output_tokens\n0,10,10\n1e12,10,10\n",
    );
    let o = run(&["trace", "stats", &path]);
    refused(&o, &["far.csv:3", "arrival_s", "beyond 1e10 s"]);
}

// Row 15: a flag's bad value is blamed on the flag, not on the file.
#[test]
fn a_flag_value_is_blamed_on_the_flag() {
    let o = run(&[
        "plan",
        "--from-cluster",
        "tests/fixtures/cluster/dump.yaml",
        "--in-tokens",
        "1e9",
    ]);
    refused(&o, &["--in-tokens"]);
    assert!(!stderr(&o).contains("dump.yaml"), "{}", stderr(&o));
}

// Row 16: a count too large for its type is out of range, not "not a whole number".
#[test]
fn a_huge_count_is_out_of_range() {
    let o = run(&[
        "simulate",
        "scenarios/quickstart.yaml",
        "--requests",
        "4294967296",
    ]);
    refused(
        &o,
        &["--requests", "out of range: 4294967296 (max 50000000)"],
    );
}

// Row 17: a folder that cannot be read says why, as the OS did.
#[cfg(unix)]
#[test]
fn an_unreadable_folder_says_why() {
    let dir = tempfile::tempdir().unwrap();
    // A symbolic link loop: unreadable even for root (permissions are not).
    let inferno = dir.path().join("inferno");
    std::fs::create_dir(&inferno).unwrap();
    std::os::unix::fs::symlink(
        "accelerator-data.json",
        inferno.join("accelerator-data.json"),
    )
    .unwrap();
    let o = run(&["plan", "--from-inferno", inferno.to_str().unwrap()]);
    refused(&o, &["accelerator-data.json", "symbolic links"]);
    let tables = dir.path().join("tables");
    std::fs::create_dir(&tables).unwrap();
    std::os::unix::fs::symlink("tables", dir.path().join("loop")).unwrap();
    let looped = dir.path().join("loop");
    std::fs::remove_file(&looped).unwrap();
    std::os::unix::fs::symlink("loop", &looped).unwrap();
    let o = run(&[
        "estimate",
        "--format",
        "llmservingsim-profile",
        looped.to_str().unwrap(),
        "--model",
        "m",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("symbolic links"), "{}", stderr(&o));
}
