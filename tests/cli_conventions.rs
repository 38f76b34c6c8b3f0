//! The conventions every command shares (docs/cli.md): `-o` is a format and `--out` a file,
//! `-` reads standard input, `-q`/`-v` set how much goes to stderr, `--load-scale` asks what if
//! traffic changes, and nothing but the result reaches stdout.

mod common;

use common::wva;
use serde_json::Value;

fn json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_scenario_reads_from_stdin() {
    let file = wva()
        .args(["plan", "scenarios/quickstart.yaml", "-o", "json"])
        .output()
        .unwrap();
    let text = std::fs::read(common::root().join("scenarios/quickstart.yaml")).unwrap();
    // Paths inside are relative to the current folder: run from scenarios/.
    let piped = wva()
        .current_dir(common::root().join("scenarios"))
        .args(["plan", "-", "-o", "json"])
        .write_stdin(text)
        .output()
        .unwrap();
    let (mut a, mut b) = (json(&file), json(&piped));
    // The scenario's name comes from its file name when it has none.
    a["scenario"] = Value::Null;
    b["scenario"] = Value::Null;
    assert_eq!(a, b);
}

#[test]
fn load_scale_plans_for_the_scaled_rate_and_simulates_the_same_fleet() {
    let plan = |scale: &str| {
        json(
            &wva()
                .args(["plan", "scenarios/quickstart.yaml", "--load-scale", scale])
                .args(["-o", "json"])
                .output()
                .unwrap(),
        )
    };
    let (one, two) = (plan("1"), plan("2"));
    for (a, b) in one["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .zip(two["allocations"].as_array().unwrap())
    {
        let (ra, rb) = (
            a["rate_rps"].as_f64().unwrap(),
            b["rate_rps"].as_f64().unwrap(),
        );
        assert!((rb - 2.0 * ra).abs() < 1e-9 * ra, "{ra} -> {rb}");
        assert!(b["replicas"].as_u64() >= a["replicas"].as_u64());
    }
    assert!(two["total_cost"].as_f64() > one["total_cost"].as_f64());

    // simulate: the fleet planned for today's load, the arrivals scaled.
    let sim = |scale: &str| {
        json(
            &wva()
                .args([
                    "simulate",
                    "scenarios/quickstart.yaml",
                    "--requests",
                    "4000",
                ])
                .args(["--load-scale", scale, "-o", "json"])
                .output()
                .unwrap(),
        )
    };
    let (base, more) = (sim("1"), sim("1.5"));
    let fleet = |v: &Value| -> Vec<(Value, Value)> {
        v["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| (w["replicas"].clone(), w["offered_rps"].clone()))
            .collect()
    };
    for ((r1, o1), (r2, o2)) in fleet(&base).into_iter().zip(fleet(&more)) {
        assert_eq!(r1, r2, "the fleet changed with the load");
        let (o1, o2) = (o1.as_f64().unwrap(), o2.as_f64().unwrap());
        assert!((o2 - 1.5 * o1).abs() < 1e-9 * o1, "{o1} -> {o2}");
    }
    // A trace's arrivals are scaled with --rate-scale, not --load-scale.
    let out = wva()
        .args([
            "simulate",
            "scenarios/azure-chat-and-code.yaml",
            "--load-scale",
            "2",
        ])
        .args(["--trace", "traces/azure-conv-like-10min.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    for bad in ["0", "-1", "nan", "1001"] {
        let out = wva()
            .args([
                "plan",
                "scenarios/quickstart.yaml",
                &format!("--load-scale={bad}"),
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--load-scale {bad}");
    }
}

#[test]
fn quiet_hides_notes_and_verbose_adds_details() {
    let trace = "traces/azure-conv-like-10min.csv";
    let run = |flag: Option<&str>| {
        let mut cmd = wva();
        cmd.args([
            "plan",
            "scenarios/azure-chat-and-code.yaml",
            "--trace",
            trace,
        ]);
        cmd.args(["--workload", "conversation"]);
        if let Some(f) = flag {
            cmd.arg(f);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (stdout, stderr) = run(None);
    assert!(
        stderr.contains("wva: note: workload `conversation`"),
        "{stderr}"
    );
    let (quiet_out, quiet_err) = run(Some("-q"));
    assert_eq!(quiet_err, "");
    assert_eq!(quiet_out, stdout, "-q changes only stderr");
    let (verbose_out, verbose_err) = run(Some("-v"));
    assert_eq!(verbose_out, stdout, "-v changes only stderr");
    assert!(verbose_err.contains("wva: read scenarios/azure-chat-and-code.yaml:"));
    assert!(verbose_err.contains("wva: finished in "));
    let both = wva()
        .args(["-q", "-v", "plan", "scenarios/quickstart.yaml"])
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn progress_and_width_never_reach_a_pipe() {
    // replay runs over a second; its bar is for terminals only.
    let out = wva()
        .args(["replay", "scenarios/azure-chat-and-code.yaml"])
        .args([
            "--trace",
            "traces/azure-conv-like-10min.csv",
            "--workload",
            "conversation",
        ])
        .args(["--policy", "static,saturation", "-o", "json"])
        .output()
        .unwrap();
    json(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("replaying"), "{stderr}");
    // --wide: in a pipe tables are already as wide as their content.
    let plain = wva()
        .args(["plan", "scenarios/quickstart.yaml"])
        .output()
        .unwrap();
    let wide = wva()
        .args(["plan", "scenarios/quickstart.yaml", "--wide"])
        .output()
        .unwrap();
    assert_eq!(plain.stdout, wide.stdout);
}

#[test]
fn estimate_writes_the_profile_with_out_in_the_format_of_o() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "estimate",
        "tests/fixtures/estimate/generic.csv",
        "--columns",
        "batch=bs,time_ms=itl,context_tokens=ctx,prefill_tokens=prefill",
    ];
    let yaml_path = dir.path().join("p.yaml");
    let out = wva()
        .args(args)
        .args(["--model", "m", "--accelerator", "H100", "--out"])
        .arg(&yaml_path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "--out writes nothing to stdout");
    let json_out = wva()
        .args(args)
        .args(["--model", "m", "--accelerator", "H100", "-o", "json"])
        .output()
        .unwrap();
    let from_json = json(&json_out);
    let from_yaml: Value =
        serde_yaml::from_str(&std::fs::read_to_string(&yaml_path).unwrap()).unwrap();
    assert_eq!(from_json, from_yaml, "-o json is the YAML profile's data");
    // The JSON profile plans like the YAML one.
    let json_path = dir.path().join("p.json");
    std::fs::write(&json_path, &json_out.stdout).unwrap();
    for path in [&yaml_path, &json_path] {
        let a = wva()
            .args(["analyze", "--profile"])
            .arg(path)
            .args([
                "--in-tokens",
                "100",
                "--out-tokens",
                "100",
                "--rate-rps",
                "1",
                "-o",
                "json",
            ])
            .output()
            .unwrap();
        assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    }
    // `-o FILE`, the old spelling, is refused, not written to a file named `json`.
    let old = wva()
        .args(args)
        .arg("-o")
        .arg(dir.path().join("old.yaml"))
        .output()
        .unwrap();
    assert_eq!(old.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&old.stderr).contains("possible values: yaml, json"));
    // Without names the profile says `unknown`, and a warning says which flag to give.
    let unnamed = wva().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&unnamed.stderr);
    assert!(stderr.contains("give --model NAME"), "{stderr}");
    assert!(stderr.contains("give --accelerator NAME"), "{stderr}");
    // A report alone needs no names: no warning.
    let report = wva()
        .args(args)
        .args(["--report", "json"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&report.stderr), "");
}

#[test]
fn validate_prints_unless_told_where_to_write() {
    let out = wva()
        .args([
            "validate",
            "--section",
            "closed-forms",
            "--quick",
            "--commit",
            "t",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("# Validation"), "{text}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn a_negative_number_is_a_value_with_its_reason() {
    let out = wva()
        .args([
            "analyze", "--alpha", "-1", "--beta", "0.05", "--gamma", "0.0005",
        ])
        .args([
            "--max-batch",
            "48",
            "--in-tokens",
            "128",
            "--out-tokens",
            "512",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must be > 0, got -1"), "{stderr}");
}

#[test]
fn trace_formats_take_o_and_out_dash_is_stdout() {
    let run = |args: &[&str]| {
        let out = wva()
            .args(["trace", "convert", "traces/azure-conv-like-10min.csv"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        out.stdout
    };
    let to = run(&["--to", "vidur"]);
    assert!(!to.is_empty());
    assert_eq!(run(&["-o", "vidur"]), to);
    assert_eq!(run(&["--output", "vidur", "--out", "-"]), to);
}

#[test]
fn estimate_takes_the_model_name_the_files_give() {
    let out = wva()
        .args(["estimate", "--accelerator", "H100"])
        .args([
            "tests/fixtures/estimate/vllm-bench-1rps.json",
            "tests/fixtures/estimate/vllm-bench-2rps.json",
            "tests/fixtures/estimate/vllm-bench-4rps.json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let profile: Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(profile["profiles"][0]["model"], "example/model");
    assert_eq!(profile["profiles"][0]["accelerator"], "H100");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("--model NAME"), "{stderr}");
}
