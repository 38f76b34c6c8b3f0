//! `wva analyze` from the command line.

use assert_cmd::Command;
use serde_json::Value;

fn wva() -> Command {
    Command::cargo_bin("wva").unwrap()
}

const GOLDEN: [&str; 17] = [
    "analyze",
    "--perf-model",
    "wva-v2",
    "--alpha",
    "12",
    "--beta",
    "0.05",
    "--gamma",
    "0.0005",
    "--max-batch",
    "48",
    "--max-queue",
    "128",
    "--in-tokens",
    "128",
    "--out-tokens",
    "512",
];

fn json(args: &[&str]) -> Value {
    let out = wva().args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn close(v: &Value, key: &str, expected: f64) {
    let got = v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("missing {key} in {v}"));
    assert!(
        ((got - expected) / expected).abs() < 1e-3,
        "{key}: {got} vs {expected}"
    );
}

#[test]
fn analyze_at_a_rate_prints_the_golden_metrics() {
    let mut args = GOLDEN.to_vec();
    args.extend(["--rate-rps", "3", "-o", "json"]);
    let v = json(&args);
    for key in [
        "ttft_ms",
        "itl_ms",
        "wait_ms",
        "mean_batch",
        "throughput_rps",
        "utilization",
        "max_rate_rps",
    ] {
        assert!(v[key].is_number(), "{key} missing: {v}");
    }
    close(&v, "ttft_ms", 75.317);
    close(&v, "itl_ms", 20.5345);
    close(&v, "wait_ms", 28.275);
    close(&v, "mean_batch", 31.6205);
    close(&v, "max_rate_rps", 3.8208);
    close(&v, "throughput_rps", 3.0);
}

#[test]
fn analyze_with_targets_sizes_the_replica() {
    let mut args = GOLDEN.to_vec();
    args.extend([
        "--target-ttft-ms",
        "60",
        "--target-itl-ms",
        "20",
        "-o",
        "json",
    ]);
    let v = json(&args);
    close(&v, "rate_ttft_rps", 2.9106);
    close(&v, "rate_itl_rps", 2.8741);
    close(&v, "rate_rps", 2.8741);
    close(&v, "itl_ms", 20.0);
    assert!(v["ttft_ms"].as_f64().unwrap() <= 60.0);
}

#[test]
fn rate_in_requests_per_minute_equals_per_second() {
    let mut a = GOLDEN.to_vec();
    a.extend(["--rate-rpm", "180", "-o", "json"]);
    let mut b = GOLDEN.to_vec();
    b.extend(["--rate-rps", "3", "-o", "json"]);
    assert_eq!(json(&a)["ttft_ms"], json(&b)["ttft_ms"]);
}

#[test]
fn gen1_and_gen3_flags_work() {
    let v = json(&[
        "analyze",
        "--perf-model",
        "wva-v1",
        "--alpha",
        "7.47",
        "--beta",
        "0.044",
        "--gamma",
        "15.415",
        "--delta",
        "0.000337",
        "--max-batch",
        "512",
        "--in-tokens",
        "1000",
        "--out-tokens",
        "200",
        "--rate-rps",
        "2",
        "-o",
        "json",
    ]);
    assert_eq!(v["perf_model"], "wva-v1");
    assert_eq!(v["max_queue"], 5120, "default queue is 10x the max batch");
    let v = json(&[
        "analyze",
        "--perf-model",
        "wva-v3",
        "--alpha",
        "12",
        "--beta",
        "0.05",
        "--gamma",
        "0.0005",
        "--max-batch",
        "48",
        "--max-num-batched-tokens",
        "2048",
        "--in-tokens",
        "4000",
        "--out-tokens",
        "100",
        "--rate-rps",
        "0.5",
        "-o",
        "json",
    ]);
    assert_eq!(v["perf_model"], "wva-v3");
    assert!(v["ttft_ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn the_max_batch_search_matches_upstream() {
    let mut args = GOLDEN.to_vec();
    args[2] = "wva-v3";
    args.extend([
        "--target-ttft-ms",
        "60",
        "--target-itl-ms",
        "20",
        "--optimize-batch",
        "-o",
        "json",
    ]);
    let v = json(&args);
    assert_eq!(v["batch_search"]["max_batch"], 48);
    assert_eq!(v["batch_search"]["m_itl"], 31);
    assert_eq!(v["batch_search"]["oracle_calls"], 6);
}

#[test]
fn table_output_is_readable() {
    let mut args = GOLDEN.to_vec();
    args.extend(["--rate-rps", "3"]);
    let out = wva().args(&args).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("TTFT (ms)") && text.contains("75.317"),
        "{text}"
    );
}

#[test]
fn infeasible_targets_exit_3_with_a_clear_message() {
    let mut args = GOLDEN.to_vec();
    args.extend(["--target-ttft-ms", "5"]);
    let out = wva().args(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("TTFT target 5 ms is below the best achievable"),
        "{err}"
    );
}

#[test]
fn bad_flags_exit_2() {
    let cases: [&[&str]; 6] = [
        &[
            "analyze",
            "--alpha",
            "12",
            "--beta",
            "0.05",
            "--gamma",
            "0.0005",
            "--max-batch",
            "48",
            "--in-tokens",
            "128",
            "--out-tokens",
            "512",
        ],
        &[
            "analyze",
            "--alpha",
            "-1",
            "--beta",
            "0.05",
            "--gamma",
            "0.0005",
            "--max-batch",
            "48",
            "--in-tokens",
            "128",
            "--out-tokens",
            "512",
            "--rate-rps",
            "3",
        ],
        &[
            "analyze",
            "--perf-model",
            "wva-v1",
            "--alpha",
            "1",
            "--beta",
            "0.05",
            "--gamma",
            "1",
            "--max-batch",
            "48",
            "--in-tokens",
            "128",
            "--out-tokens",
            "512",
            "--rate-rps",
            "3",
        ],
        &[
            "analyze",
            "--alpha",
            "12",
            "--beta",
            "0.05",
            "--gamma",
            "0.0005",
            "--delta",
            "1",
            "--max-batch",
            "48",
            "--in-tokens",
            "128",
            "--out-tokens",
            "512",
            "--rate-rps",
            "3",
        ],
        &[
            "analyze",
            "--alpha",
            "12",
            "--beta",
            "0.05",
            "--gamma",
            "0.0005",
            "--max-batch",
            "0",
            "--in-tokens",
            "128",
            "--out-tokens",
            "512",
            "--rate-rps",
            "3",
        ],
        &[
            "analyze",
            "--alpha",
            "12",
            "--beta",
            "0.05",
            "--gamma",
            "0.0005",
            "--max-batch",
            "48",
            "--in-tokens",
            "128",
            "--out-tokens",
            "512",
            "--rate-rps",
            "3",
            "--target-itl-ms",
            "20",
        ],
    ];
    for args in cases {
        let out = wva().args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

#[test]
fn analyze_reads_a_profile_file() {
    let root = env!("CARGO_MANIFEST_DIR");
    let v = json(&[
        "analyze",
        "--profile",
        &format!("{root}/profiles/wva-v04-chart.yaml"),
        "--accelerator",
        "H100",
        "--in-tokens",
        "1000",
        "--out-tokens",
        "200",
        "--rate-rps",
        "2",
        "-o",
        "json",
    ]);
    assert_eq!(v["perf_model"], "wva-v1");
    assert_eq!(v["max_batch"], 512);
    let out = wva()
        .args([
            "analyze",
            "--profile",
            &format!("{root}/profiles/wva-v04-chart.yaml"),
            "--in-tokens",
            "1",
            "--out-tokens",
            "2",
            "--rate-rps",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("several profiles match"));
}
