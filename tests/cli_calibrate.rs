//! The calibration issue through the command line: `wva simulate --concurrency`, the served
//! rate of an overloaded run, `wva estimate` on sweep tables (calibrated through the
//! simulator), and the errors of its flags.

mod common;

use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

fn wva() -> Command {
    let mut c = Command::cargo_bin("wva").unwrap();
    c.current_dir(common::root());
    c
}

fn json(args: &[&str]) -> Value {
    let out = wva().args(args).args(["-o", "json"]).output().unwrap();
    assert!(
        out.status.success(),
        "wva {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const PROFILE: &str = "profiles/qwen2.5-14b-instruct.yaml";

/// One closed-loop run of the shipped Qwen profile: (throughput, mean TTFT, mean ITL, mean E2E).
fn closed_loop(concurrency: u32, requests: u32) -> (f64, f64, f64, f64) {
    let c = concurrency.to_string();
    let n = requests.to_string();
    let r = json(&[
        "simulate",
        "--profile",
        PROFILE,
        "--concurrency",
        &c,
        "--in-tokens",
        "512",
        "--out-tokens",
        "128",
        "--requests",
        &n,
    ]);
    assert_eq!(r["closed_loop"]["concurrency"], concurrency);
    let w = &r["workloads"][0];
    (
        w["throughput_rps"].as_f64().unwrap(),
        w["ttft_ms"]["mean"].as_f64().unwrap(),
        w["itl_ms"]["mean"].as_f64().unwrap(),
        w["e2e_ms"]["mean"].as_f64().unwrap(),
    )
}

#[test]
fn simulate_concurrency_keeps_its_clients_busy() {
    // Little's law for the clients: concurrency = throughput x cycle time (no think time).
    for c in [1, 8, 64] {
        let (x, _, _, e2e) = closed_loop(c, 4000);
        let implied = x * e2e / 1000.0;
        assert!(
            (implied / f64::from(c) - 1.0).abs() < 0.02,
            "{c} clients: throughput x E2E = {implied:.2}"
        );
    }
    // A think time lowers the rate the clients achieve.
    let busy = json(&[
        "simulate",
        "--profile",
        PROFILE,
        "--concurrency",
        "8",
        "--in-tokens",
        "512",
        "--out-tokens",
        "128",
        "--requests",
        "2000",
    ]);
    let idle = json(&[
        "simulate",
        "--profile",
        PROFILE,
        "--concurrency",
        "8",
        "--think-time-s",
        "5",
        "--in-tokens",
        "512",
        "--out-tokens",
        "128",
        "--requests",
        "2000",
    ]);
    let rate = |v: &Value| v["workloads"][0]["throughput_rps"].as_f64().unwrap();
    assert!(rate(&idle) < 0.5 * rate(&busy));
    assert_eq!(idle["closed_loop"]["think_time_s"], 5.0);
}

#[test]
fn simulate_concurrency_refuses_what_does_not_apply() {
    for (args, expected) in [
        (
            vec!["--concurrency", "8", "--rate-rps", "2"],
            "cannot be used with",
        ),
        (
            vec!["--concurrency", "8", "--replicas", "2"],
            "drives one replica",
        ),
        (vec!["--concurrency", "0"], "must be >= 1"),
        (vec!["--think-time-s", "1"], "--concurrency"),
    ] {
        let out = wva()
            .args([
                "simulate",
                "--profile",
                PROFILE,
                "--in-tokens",
                "512",
                "--out-tokens",
                "128",
            ])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn an_overloaded_burst_reports_what_it_served() {
    // Twenty thousand requests arrive in two seconds, far above capacity: the rate served is
    // the replica's capacity, not zero.
    let r = json(&[
        "simulate",
        "--profile",
        PROFILE,
        "--rate-rps",
        "10000",
        "--in-tokens",
        "1024",
        "--out-tokens",
        "512",
        "--requests",
        "20000",
    ]);
    let served = r["workloads"][0]["throughput_rps"].as_f64().unwrap();
    assert!(served > 3.0 && served < 20.0, "served {served} req/s");
}

#[test]
fn calibration_recovers_a_sweep_the_simulator_measured() {
    // A sweep measured on the simulator with the shipped profile (budget 8192, 128 sequences):
    // calibrating on it from the direct fit must reproduce every row.
    let d = tempfile::tempdir().unwrap();
    let mut csv = String::from("clients,isl,osl,mean_ttft,mean_itl\n");
    for c in [2, 8, 24, 64] {
        let (_, ttft, itl, _) = closed_loop(c, 3000);
        csv.push_str(&format!("{c},512,128,{ttft:.3},{itl:.4}\n"));
    }
    let path = d.path().join("sweep.csv");
    std::fs::write(&path, csv).unwrap();
    let profile = d.path().join("calibrated.yaml");
    let out = wva()
        .args([
        "estimate",
        path.to_str().unwrap(),
        "--format",
        "sweep",
        "--columns",
        "concurrency=clients,prompt_tokens=isl,output_tokens=osl,ttft_ms=mean_ttft,itl_ms=mean_itl",
        "--max-num-batched-tokens",
        "8192",
        "--max-batch",
        "128",
        "--model",
        "qwen",
        "--accelerator",
        "H100",
        "--report",
        "json",
        "--out",
        profile.to_str().unwrap(),
    ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stats = r["calibration"]["in_sample"].as_array().unwrap();
    assert_eq!(stats.len(), 8);
    for s in stats {
        let e = s["error"].as_f64().unwrap();
        assert!(e.abs() < 0.10, "{s}");
    }
    assert_eq!(r["calibration"]["budget_identified"], "given");
    // The profile it wrote is one `wva simulate` reads.
    let text = std::fs::read_to_string(&profile).unwrap();
    assert!(
        text.contains("model: wva-v3") && text.contains("max_num_batched_tokens: 8192"),
        "{text}"
    );
    json(&[
        "simulate",
        "--profile",
        profile.to_str().unwrap(),
        "--concurrency",
        "8",
        "--in-tokens",
        "512",
        "--out-tokens",
        "128",
        "--requests",
        "500",
    ]);
}

#[test]
fn sweep_and_calibration_errors_are_one_line_with_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let no_latency = write(
        "a.csv",
        "concurrency,prompt_tokens,output_tokens,ttft_ms\n4,100,50,x\n",
    );
    // Rows whose calibration would take hours are refused.
    let long = write(
        "b.csv",
        "concurrency,prompt_tokens,output_tokens,ttft_ms\n4,100,99999,10\n",
    );
    let crowd = write(
        "c.csv",
        "concurrency,prompt_tokens,output_tokens,ttft_ms\n200000,100,50,10\n",
    );
    let fixture = |name: &str| Path::new("tests/fixtures/estimate").join(name);
    let splitwise = fixture("generic.csv");
    for (args, expected) in [
        (
            vec![no_latency.to_str().unwrap().to_string()],
            "a.csv:2:4: ttft_ms".to_string(),
        ),
        (
            vec![long.to_str().unwrap().to_string()],
            "b.csv:2: a run's mean prompt is at most 1000000 tokens and its mean output at most 65536".into(),
        ),
        (
            vec![crowd.to_str().unwrap().to_string()],
            "c.csv:2:1: concurrency: expected a whole number from 1 to 100000".into(),
        ),
        (
            vec![splitwise.to_str().unwrap().to_string(), "--direct".into()],
            "--direct applies to per-request logs and sweep tables".into(),
        ),
        (
            vec![
                no_latency.to_str().unwrap().to_string(),
                "--holdout".into(),
                "0.3".into(),
            ],
            "add --direct".into(),
        ),
        (
            vec![
                no_latency.to_str().unwrap().to_string(),
                "--columns".into(),
                "clients=concurrency".into(),
            ],
            "unknown quantity `clients`".into(),
        ),
    ] {
        let out = wva().arg("estimate").args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&expected), "{args:?}: {err}");
        // Our messages are one line; clap adds a hint line under its own.
        let first = err.lines().next().unwrap_or_default();
        assert!(first.contains(&expected), "{err}");
    }
}
