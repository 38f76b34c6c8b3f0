//! The round trip against a real Prometheus: the simulator's twin (`wva simulate
//! --serve-metrics`) serves vLLM's metrics for half an hour of traffic at 60x, Prometheus
//! scrapes it on loopback, and `wva observe` must recover what the twin simulated (rate and
//! token means within 2%), a profile fitted from its observations must give back the twin's
//! alpha and beta within 10% (and its KV capacity within 5%), and the scenario and trace it writes must be read by `wva plan`
//! and `wva simulate`.

mod common;

use common::prometheus::{Prometheus, binary, free_port};
use common::wva;
use rand::{RngExt, SeedableRng};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The tests of this file run one at a time: the twin runs in real time, and a second
/// Prometheus starting beside it on two cores would delay its scrapes.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The twin's clock: simulated seconds per real second.
const SPEEDUP: f64 = 60.0;

/// The load: six levels of five minutes (requests/s over the two replicas), up and down, so
/// the fit sees the batch grow and the last step is quiet.
const LEVELS_RPS: [f64; 6] = [2.0, 8.0, 16.0, 26.0, 12.0, 3.0];
const LEVEL_S: f64 = 300.0;

/// The profile the twin runs (profiles/llama-3.1-8b-instruct.yaml, H100).
const ALPHA_MS: f64 = 6.49;
const BETA_MS: f64 = 0.0219;
const KV_TOKENS: f64 = 400_000.0;

/// Poisson arrivals at each level, prompts uniform in 800..1200 and outputs in 150..250.
fn write_trace(path: &Path) -> (usize, f64, f64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut text = String::from("arrival_s,prompt_tokens,output_tokens\n");
    let (mut n, mut prompt, mut output) = (0usize, 0.0, 0.0);
    let mut t: f64 = 0.0;
    for (k, rate) in LEVELS_RPS.iter().enumerate() {
        let end = (k + 1) as f64 * LEVEL_S;
        loop {
            t += -(1.0 - rng.random::<f64>()).ln() / rate;
            if t >= end {
                t = end;
                break;
            }
            let p: u32 = rng.random_range(800..=1200);
            let o: u32 = rng.random_range(150..=250);
            text.push_str(&format!("{t:.6},{p},{o}\n"));
            n += 1;
            prompt += f64::from(p);
            output += f64::from(o);
        }
    }
    std::fs::write(path, text).unwrap();
    (n, prompt / n as f64, output / n as f64)
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn observe_recovers_what_the_twin_served() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(prometheus_bin) = binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("load.csv");
    let (requests, prompt_mean, output_mean) = write_trace(&trace);
    let duration_s = LEVEL_S * LEVELS_RPS.len() as f64;

    let twin_port = free_port();
    let prom = Prometheus::start(
        &prometheus_bin,
        dir.path(),
        &format!(
            "global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: twin\n    static_configs:\n      - targets: ['127.0.0.1:{twin_port}']\n"
        ),
    );
    prom.wait_for_scrape_loop("twin");

    // The twin: simulate, then serve for duration/speedup seconds and 2 s more.
    let mut twin = Command::new(assert_cmd::cargo::cargo_bin("wva"))
        .current_dir(common::root())
        .args([
            "simulate",
            "--profile",
            "profiles/llama-3.1-8b-instruct.yaml",
            "--accelerator",
            "H100",
            "--replicas",
            "2",
            "--trace",
        ])
        .arg(&trace)
        .args([
            "--serve-metrics",
            &format!("127.0.0.1:{twin_port}"),
            "--speedup",
            &SPEEDUP.to_string(),
            "--linger-s",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(twin.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let start_s = now_s();
    assert!(line.contains("serving the twin of 2 replicas"), "{line}");
    let deadline = Instant::now() + Duration::from_secs_f64(duration_s / SPEEDUP + 60.0);
    while twin.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = twin.kill();
            panic!("the twin did not stop");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(twin.wait().unwrap().success());

    // Observe exactly the twin's traffic: steps of 0.5 s (30 s of traffic).
    let end_s = start_s + duration_s / SPEEDUP;
    let obs = dir.path().join("obs.csv");
    let scenario = dir.path().join("observed.yaml");
    let look_alike = dir.path().join("observed.csv");
    let out = wva()
        .args(["observe", "--prometheus", &prom.url])
        .args([
            "--start",
            &format!("{start_s:.3}"),
            "--end",
            &format!("{end_s:.3}"),
        ])
        .args([
            "--step",
            "500ms",
            "--time-scale",
            &SPEEDUP.to_string(),
            "-o",
            "json",
        ])
        .arg("--observations-out")
        .arg(&obs)
        .arg("--scenario-out")
        .arg(&scenario)
        .args([
            "--base",
            "scenarios/quickstart.yaml",
            "--rate-quantile",
            "1",
        ])
        .arg("--trace-out")
        .arg(&look_alike)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let variants = report["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 1, "{report}");
    let v = &variants[0];
    assert_eq!(v["model"], "meta-llama/Llama-3.1-8B-Instruct");
    assert_eq!(v["accelerator"], "H100");
    assert_eq!(v["pods"], 2);
    let twin_rate = requests as f64 / duration_s;
    let observed_rate = v["rate_mean_rps"].as_f64().unwrap();
    eprintln!(
        "rate: twin {twin_rate:.4} req/s, observed {observed_rate:.4} ({:+.2}%); requests {} of {requests}",
        100.0 * (observed_rate / twin_rate - 1.0),
        v["requests"]
    );
    common::assert_close("rate", observed_rate, twin_rate, 0.02);
    common::assert_close(
        "prompt tokens",
        v["prompt_tokens"].as_f64().unwrap(),
        prompt_mean,
        0.02,
    );
    common::assert_close(
        "output tokens",
        v["output_tokens"].as_f64().unwrap(),
        output_mean,
        0.02,
    );

    // A profile from the observations: the twin's alpha and beta within 10%.
    let profile = dir.path().join("fitted.yaml");
    wva()
        .args([
            "estimate",
            "--format",
            "prometheus",
            "--perf-model",
            "wva-v2",
        ])
        .args(["--max-num-batched-tokens", "8192", "-q", "--out"])
        .arg(&profile)
        .arg(&obs)
        .assert()
        .success();
    let text = std::fs::read_to_string(&profile).unwrap();
    let param = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    let (alpha, beta) = (param("alpha"), param("beta"));
    eprintln!(
        "fit: alpha {alpha:.4} ms ({:+.1}%), beta {beta:.6} ms/token ({:+.1}%)",
        100.0 * (alpha / ALPHA_MS - 1.0),
        100.0 * (beta / BETA_MS - 1.0)
    );
    common::assert_close("alpha", alpha, ALPHA_MS, 0.10);
    common::assert_close("beta", beta, BETA_MS, 0.10);
    // The KV capacity from the KV usage gauge: the profile's 400,000 tokens within 5%.
    let kv = param("kv_capacity_tokens");
    eprintln!(
        "KV capacity {kv} tokens ({:+.2}%)",
        100.0 * (kv / KV_TOKENS - 1.0)
    );
    common::assert_close("KV capacity", kv, KV_TOKENS, 0.05);
    assert!(
        text.contains("model: meta-llama/Llama-3.1-8B-Instruct"),
        "{text}"
    );
    assert!(text.contains("accelerator: H100"), "{text}");

    // The scenario plans as it is; the look-alike trace replays.
    wva().arg("plan").arg(&scenario).assert().success();
    let sim = wva()
        .arg("simulate")
        .arg(&scenario)
        .arg("--trace")
        .arg(&look_alike)
        .args(["--workload", "chat-standard", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let sim: serde_json::Value = serde_json::from_slice(&sim.stdout).unwrap();
    let simulated = sim["workloads"][0]["requests"].as_f64().unwrap();
    common::assert_close(
        "look-alike requests",
        simulated,
        v["requests"].as_f64().unwrap(),
        0.001,
    );
    wva()
        .arg("replay")
        .arg(&scenario)
        .arg("--trace")
        .arg(&look_alike)
        .args([
            "--workload",
            "chat-standard",
            "--policy",
            "oracle,static",
            "-q",
        ])
        .assert()
        .success();
}

#[test]
fn observe_names_what_is_wrong() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Nothing listens: exit 4, the server named.
    let port = free_port();
    let out = wva()
        .args([
            "observe",
            "--prometheus",
            &format!("http://127.0.0.1:{port}"),
        ])
        .args(["--since", "1h", "--timeout-s", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot reach Prometheus at http://127.0.0.1:{port}"
        )),
        "{err}"
    );
    // A range Prometheus would refuse, before asking it.
    wva()
        .args([
            "observe",
            "--prometheus",
            "http://127.0.0.1:1",
            "--since",
            "30d",
        ])
        .args(["--step", "60s"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("at most 11000 points"));
    wva()
        .args(["observe", "--prometheus", "http://127.0.0.1:1"])
        .args([
            "--start",
            "2026-12-02T00:00:00Z",
            "--end",
            "2026-12-01T00:00:00Z",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is not before --end"));
    wva()
        .args([
            "observe",
            "--prometheus",
            "http://127.0.0.1:1",
            "--scenario-out",
            "x.yaml",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--base"));

    // The twin's flags.
    let profile = [
        "simulate",
        "--profile",
        "profiles/llama-3.1-8b-instruct.yaml",
    ];
    let load = [
        "--accelerator",
        "H100",
        "--rate-rps",
        "1",
        "--in-tokens",
        "100",
    ];
    wva()
        .args(profile)
        .args(load)
        .args(["--out-tokens", "10", "--speedup", "10"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--serve-metrics"));
    wva()
        .args(profile)
        .args(load)
        .args([
            "--out-tokens",
            "10",
            "--requests",
            "100",
            "--replications",
            "2",
        ])
        .args(["--serve-metrics", "127.0.0.1:0"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("drop --replications"));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    wva()
        .args(profile)
        .args(load)
        .args([
            "--out-tokens",
            "10",
            "--requests",
            "100",
            "--serve-metrics",
            &addr,
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(format!(
            "cannot listen on {addr}"
        )));

    // A real Prometheus with nothing scraped: which metric, which selector.
    let Some(prometheus_bin) = binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let prom = Prometheus::start(
        &prometheus_bin,
        dir.path(),
        "global:\n  scrape_interval: 1s\nscrape_configs: []\n",
    );
    wva()
        .args(["observe", "--prometheus", &prom.url, "--since", "10m"])
        .args(["--namespace", "llm"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "no `vllm:request_success_total` series matching {namespace=\"llm\"}",
        ));
    // A query Prometheus refuses: its own message.
    wva()
        .args(["observe", "--prometheus", &prom.url, "--since", "10m"])
        .args(["--selector", "model_name=~\"(\""])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("bad_data"));
}
