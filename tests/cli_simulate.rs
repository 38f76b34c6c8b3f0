//! `wva simulate` from the command line: output shape, determinism, fleets from plans and
//! flags, and bad input.

mod common;

use common::{wva, wva_json};
use serde_json::Value;

fn run_json(args: &[&str]) -> Value {
    wva_json(args)
}

/// Runs `wva` expecting failure; returns (exit code, stderr).
fn run_fail(args: &[&str]) -> (Option<i32>, String) {
    let out = wva().args(args).output().unwrap();
    assert!(out.stdout.is_empty(), "nothing on stdout when failing");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const LLAMA: &str = "profiles/llama-3.1-8b-instruct.yaml";

#[test]
fn json_has_every_documented_field() {
    let v = run_json(&[
        "simulate",
        "scenarios/quickstart.yaml",
        "--requests",
        "4000",
    ]);
    let workloads = v["workloads"].as_array().unwrap();
    assert_eq!(workloads.len(), 4, "quickstart has four workloads");
    let mut counted = 0.0;
    for w in workloads {
        for key in ["model", "requests", "completed", "throughput_rps"] {
            assert!(!w[key].is_null(), "{key} missing in {w}");
        }
        for key in ["ttft_ms", "itl_ms", "tpot_ms", "e2e_ms", "queue_wait_ms"] {
            for stat in ["mean", "p50", "p90", "p95", "p99"] {
                assert!(w[key][stat].as_f64().is_some(), "{key}.{stat} missing");
            }
            let s = &w[key];
            let p = |k: &str| s[k].as_f64().unwrap();
            assert!(
                p("p50") <= p("p90") && p("p90") <= p("p95") && p("p95") <= p("p99"),
                "{key} percentiles out of order: {s}"
            );
        }
        assert!(w["preemptions"].as_f64().is_some());
        assert!(w["slo_attainment"]["both"].as_f64().is_some());
        assert!(w["analytic"]["ttft_ms"].as_f64().is_some());
        assert!(w["analytic"]["itl_ms"].as_f64().is_some());
        assert_eq!(w["requests"], w["completed"], "nothing rejected here: {w}");
        counted += w["requests"].as_f64().unwrap();
    }
    // 10% warm-up left out by default.
    assert!((counted - 3600.0).abs() <= 1.0, "counted {counted}");
    assert_eq!(v["requests_simulated"], 4000);
    // The shipped H100 profiles have a KV capacity, the chart's gen-1 example has none.
    assert!(workloads[0]["kv_peak_fraction"].as_f64().unwrap() > 0.0);
    assert!(workloads[3]["kv_peak_fraction"].is_null());
}

#[test]
fn same_seed_same_bytes_whatever_the_thread_count() {
    let args = [
        "simulate",
        "scenarios/quickstart.yaml",
        "--requests",
        "3000",
        "--replications",
        "3",
        "--noise-cv",
        "0.1",
        "--router",
        "power-of-two",
        "-o",
        "json",
    ];
    let run = |threads: &str| {
        let out = wva()
            .env("RAYON_NUM_THREADS", threads)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    };
    let one = run("1");
    assert_eq!(one, run("2"));
    assert_eq!(one, run("1"));
    let v: Value = serde_json::from_slice(&one).unwrap();
    assert!(
        v["workloads"][0]["ci95"]["ttft_ms_mean"].as_f64().unwrap() > 0.0,
        "three replications give a confidence interval"
    );
    let other = wva()
        .args(args)
        .args(["--seed", "2"])
        .output()
        .unwrap()
        .stdout;
    assert_ne!(one, other, "another seed, another sample");
}

#[test]
fn simulates_the_fleet_of_a_plan_file() {
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dir.path().join("plan.json");
    let plan = wva()
        .args(["plan", "scenarios/quickstart.yaml", "-o", "json"])
        .output()
        .unwrap();
    assert!(plan.status.success());
    std::fs::write(&plan_path, &plan.stdout).unwrap();
    let planned: Value = serde_json::from_slice(&plan.stdout).unwrap();
    let v = run_json(&[
        "simulate",
        "scenarios/quickstart.yaml",
        "--plan",
        plan_path.to_str().unwrap(),
        "--requests",
        "2000",
    ]);
    for a in planned["allocations"].as_array().unwrap() {
        let w = v["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["workload"] == a["workload"])
            .unwrap_or_else(|| panic!("{} not simulated", a["workload"]));
        assert_eq!(w["replicas"], a["replicas"]);
        assert_eq!(w["accelerators"][0], a["accelerator"]);
    }
}

#[test]
fn a_plan_naming_an_unknown_workload_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dir.path().join("plan.json");
    std::fs::write(
        &plan_path,
        r#"{"allocations": [{"workload": "no-such", "accelerator": "H100", "replicas": 1, "max_batch": 8}]}"#,
    )
    .unwrap();
    let (code, err) = run_fail(&[
        "simulate",
        "scenarios/quickstart.yaml",
        "--plan",
        plan_path.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2));
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("plan.json")
            && err.contains("allocations[0].workload")
            && err.contains("no-such"),
        "{err}"
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        vec!["simulate", "scenarios/quickstart.yaml", "--replicas", "0"],
        vec![
            "simulate",
            "scenarios/quickstart.yaml",
            "--router",
            "fastest",
        ],
        vec!["simulate", "scenarios/quickstart.yaml", "--requests", "-5"],
        vec!["simulate", "--profile", LLAMA, "--rate-rps", "3"],
        vec![
            "simulate",
            "--profile",
            LLAMA,
            "--replicas",
            "1",
            "--in-tokens",
            "100",
        ],
        vec!["simulate", "scenarios/no-such.yaml"],
        vec!["simulate", "scenarios/quickstart.yaml", "--warmup", "0.95"],
        vec!["simulate", "scenarios/quickstart.yaml", "--arrival-cv", "2"],
        vec!["simulate", "scenarios/quickstart.yaml", "--model", "x"],
        vec!["simulate", "scenarios/quickstart.yaml", "--rate-rps", "3"],
        vec![
            "simulate",
            "scenarios/quickstart.yaml",
            "--accelerator",
            "H100",
        ],
        vec![
            "simulate",
            "scenarios/quickstart.yaml",
            "--prompt-dist",
            "fixed",
            "--prompt-cv",
            "0.3",
        ],
        vec![
            "simulate",
            "scenarios/quickstart.yaml",
            "--output-dist",
            "uniform",
            "--output-cv",
            "0.8",
        ],
        vec![
            "simulate",
            "--profile",
            LLAMA,
            "--replicas",
            "1",
            "--rate-rps",
            "1",
            "--in-tokens",
            "1e9",
            "--out-tokens",
            "10",
        ],
        vec![
            "simulate",
            "--profile",
            LLAMA,
            "--replicas",
            "1",
            "--rate-rps",
            "1",
            "--in-tokens",
            "10",
            "--out-tokens",
            "10",
            "--num-gpu-blocks",
            "18446744073709551615",
        ],
    ] {
        let (code, err) = run_fail(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn requests_that_can_never_fit_the_kv_cache_are_rejected_not_hung() {
    let v = run_json(&[
        "simulate",
        "--profile",
        LLAMA,
        "--replicas",
        "1",
        "--rate-rps",
        "5",
        "--in-tokens",
        "2000",
        "--out-tokens",
        "50",
        "--kv-capacity-tokens",
        "1000",
        "--requests",
        "500",
    ]);
    let w = &v["workloads"][0];
    assert_eq!(w["completed"], 0.0);
    assert_eq!(w["rejected"], w["requests"]);
    let table = wva()
        .args([
            "simulate",
            "--profile",
            LLAMA,
            "--replicas",
            "1",
            "--rate-rps",
            "5",
            "--in-tokens",
            "2000",
            "--out-tokens",
            "50",
            "--kv-capacity-tokens",
            "1000",
            "--requests",
            "500",
        ])
        .output()
        .unwrap();
    assert!(table.status.success());
    assert!(String::from_utf8_lossy(&table.stdout).contains("450 rejected"));
}

#[test]
fn kv_pressure_preempts_and_every_request_still_finishes() {
    let v = run_json(&[
        "simulate",
        "--profile",
        LLAMA,
        "--replicas",
        "1",
        "--rate-rps",
        "20",
        "--in-tokens",
        "1000",
        "--out-tokens",
        "400",
        "--output-dist",
        "exponential",
        "--num-gpu-blocks",
        "2000",
        "--requests",
        "3000",
    ]);
    let w = &v["workloads"][0];
    assert!(w["preemptions"].as_f64().unwrap() > 0.0, "{w}");
    assert_eq!(w["completed"], w["requests"]);
    assert!(w["kv_peak_fraction"].as_f64().unwrap() > 0.9);
}

#[test]
fn engine_flags_override_the_profile() {
    let base = [
        "simulate",
        "--profile",
        LLAMA,
        "--replicas",
        "1",
        "--rate-rps",
        "20",
        "--in-tokens",
        "500",
        "--out-tokens",
        "200",
        "--requests",
        "3000",
    ];
    let free = run_json(&base);
    let mut capped = base.to_vec();
    capped.extend(["--max-num-seqs", "4"]);
    let capped = run_json(&capped);
    let peak = |v: &Value| v["workloads"][0]["peak_batch"].as_f64().unwrap();
    assert!(peak(&capped) <= 4.0);
    assert!(peak(&free) > 4.0);
    let wait = |v: &Value| v["workloads"][0]["queue_wait_ms"]["mean"].as_f64().unwrap();
    assert!(wait(&capped) > wait(&free));
}

#[test]
fn timeline_and_plot_files() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("timeline.csv");
    let png = dir.path().join("timeline.png");
    let svg = dir.path().join("timeline.svg");
    for plot in [&png, &svg] {
        wva()
            .args([
                "simulate",
                "scenarios/quickstart.yaml",
                "--requests",
                "3000",
            ])
            .args(["--timeline-bucket-s", "2", "--timeline"])
            .arg(&csv)
            .arg("--plot")
            .arg(plot)
            .assert()
            .success();
    }
    let text = std::fs::read_to_string(&csv).unwrap();
    let header = text.lines().next().unwrap();
    for column in [
        "workload",
        "start_s",
        "arrivals",
        "completions",
        "running",
        "kv_fraction",
    ] {
        assert!(header.contains(column), "{column} missing from {header}");
    }
    assert!(text.lines().count() > 10);
    let png_bytes = std::fs::read(&png).unwrap();
    assert_eq!(&png_bytes[1..4], b"PNG");
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
}

#[test]
fn a_short_run_at_low_load_is_not_called_overloaded() {
    // The drain after the last arrival is not part of the throughput window.
    let out = wva()
        .args([
            "simulate",
            "scenarios/quickstart.yaml",
            "--duration-s",
            "60",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("OVERLOADED"), "{text}");
    let v = run_json(&[
        "simulate",
        "scenarios/quickstart.yaml",
        "--duration-s",
        "60",
    ]);
    for w in v["workloads"].as_array().unwrap() {
        // Requests much shorter than the run: completions keep up with arrivals.
        if w["e2e_ms"]["mean"].as_f64().unwrap() < 10_000.0 {
            let ratio = w["throughput_rps"].as_f64().unwrap() / w["offered_rps"].as_f64().unwrap();
            assert!((0.9..1.1).contains(&ratio), "{}: {ratio}", w["workload"]);
        }
    }
    // The gen-1 batch workload's requests last half a minute: not overloaded, not steady.
    assert!(text.contains("NOT STEADY"), "{text}");
}

#[test]
fn replications_without_data_do_not_poison_the_mean() {
    // Two seconds at 1 req/s: some replications count no request at all.
    let v = run_json(&[
        "simulate",
        "--profile",
        LLAMA,
        "--replicas",
        "1",
        "--rate-rps",
        "1",
        "--in-tokens",
        "100",
        "--out-tokens",
        "10",
        "--duration-s",
        "2",
        "--replications",
        "8",
    ]);
    let w = &v["workloads"][0];
    assert!(
        w["ttft_ms"]["mean"].as_f64().is_some_and(f64::is_finite),
        "{w}"
    );
}

#[test]
fn uniform_lengths_keep_their_mean() {
    let v = run_json(&[
        "simulate",
        "--profile",
        LLAMA,
        "--replicas",
        "1",
        "--rate-rps",
        "2",
        "--in-tokens",
        "1000",
        "--out-tokens",
        "100",
        "--prompt-dist",
        "uniform",
        "--output-dist",
        "uniform",
        "--output-cv",
        "0.577",
        "--requests",
        "20000",
    ]);
    let w = &v["workloads"][0];
    // E2E ~ TTFT + 99 x TPOT; the mean output length shows in the ratio.
    let tokens = (w["e2e_ms"]["mean"].as_f64().unwrap() - w["ttft_ms"]["mean"].as_f64().unwrap())
        / w["tpot_ms"]["mean"].as_f64().unwrap();
    assert!((95.0..103.0).contains(&tokens), "{tokens}");
}

#[test]
fn an_empty_timeline_still_has_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    wva()
        .args([
            "simulate",
            "--profile",
            LLAMA,
            "--replicas",
            "1",
            "--rate-rps",
            "0.001",
            "--in-tokens",
            "10",
            "--out-tokens",
            "10",
            "--duration-s",
            "1",
            "--timeline",
        ])
        .arg(&csv)
        .assert()
        .success();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.starts_with("start_s,workload,arrivals,arrivals_rps,"),
        "{text}"
    );
}
