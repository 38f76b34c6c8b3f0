//! `wva trace` and trace replay from the command line, on the real traces in `../shared/data`
//! (skipped with a notice when it is missing, failing under CI) and on small fixtures.

mod common;

use common::{root, shared, wva, wva_json};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn json(args: &[&str]) -> Value {
    wva_json(args)
}

fn stats(path: &Path) -> Value {
    json(&["trace", "stats", path.to_str().unwrap()])
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/traces").join(name)
}

#[test]
fn every_shared_trace_file_reads() {
    let Some(data) = shared("data") else { return };
    let mut files: Vec<(PathBuf, &str)> = vec![
        (
            data.join("azure_llm_2023/AzureLLMInferenceTrace_code.csv"),
            "azure",
        ),
        (
            data.join("azure_llm_2023/AzureLLMInferenceTrace_conv.csv"),
            "azure",
        ),
        (data.join("mooncake/conversation_trace.jsonl"), "mooncake"),
        (data.join("mooncake/synthetic_trace.jsonl"), "mooncake"),
    ];
    for dir in [
        "llm_d_benchmark/A100x2_TP2_llama3.1-70b_vllm_1replica",
        "llm_d_benchmark/GPU-unrecorded_llama3.1-8b_vllm_2replicas",
        "llmservingsim/workloads",
    ] {
        for entry in std::fs::read_dir(data.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let format = match path.extension().and_then(|e| e.to_str()) {
                Some("csv") => "lmbench",
                Some("jsonl") => "llmservingsim",
                _ => continue,
            };
            files.push((path, format));
        }
    }
    for run in ["RTX4090", "RTXPRO6000"] {
        files.push((
            data.join(format!(
                "llmservingsim/bench/examples/{run}/Llama-3.1-8B/vllm/requests.jsonl"
            )),
            "llmservingsim",
        ));
    }
    assert!(files.len() > 40, "{} files", files.len());
    for (path, format) in &files {
        let v = stats(path);
        assert_eq!(v["format"], *format, "{}", path.display());
        assert!(v["requests"].as_u64().unwrap() > 0, "{}", path.display());
        assert_eq!(v["skipped_rows"], 0, "{}", path.display());
    }
}

#[test]
fn azure_conversation_trace_matches_its_published_figures() {
    let Some(path) = shared("data/azure_llm_2023/AzureLLMInferenceTrace_conv.csv") else {
        return;
    };
    let v = stats(&path);
    assert_eq!(v["requests"], 19_366);
    assert_eq!(v["prompt_tokens"]["mean"].as_f64().unwrap().round(), 1155.0);
    assert_eq!(v["output_tokens"]["mean"].as_f64().unwrap().round(), 211.0);
    let minutes = v["duration_s"].as_f64().unwrap() / 60.0;
    assert!((57.0..59.0).contains(&minutes), "{minutes}");
    // Real traffic is burstier than Poisson over a minute.
    let d60 = v["dispersion"].as_array().unwrap().last().unwrap();
    assert!(d60["index"].as_f64().unwrap() > 2.0, "{d60}");
}

#[test]
fn measured_latencies_are_read_from_benchmark_files() {
    let Some(path) =
        shared("data/llmservingsim/bench/examples/RTX4090/Llama-3.1-8B/vllm/requests.jsonl")
    else {
        return;
    };
    let v = stats(&path);
    assert_eq!(v["requests"], 300);
    // The README: overloaded, TTFT mean ~65 s.
    let ttft_s = v["measured_ttft_ms"]["mean"].as_f64().unwrap() / 1000.0;
    assert!((60.0..70.0).contains(&ttft_s), "{ttft_s}");
}

#[test]
fn synthetic_look_alike_keeps_the_rate_curve_and_token_means() {
    let Some(source) = shared("data/azure_llm_2023/AzureLLMInferenceTrace_conv.csv") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("like.csv");
    for extra in [&[][..], &["--poisson-counts"][..]] {
        wva()
            .args(["trace", "synth", "--like"])
            .arg(&source)
            .args(extra)
            .args(["--seed", "5", "--out"])
            .arg(&copy)
            .assert()
            .success();
        let (a, b) = (stats(&source), stats(&copy));
        for key in ["prompt_tokens", "output_tokens"] {
            let ratio = b[key]["mean"].as_f64().unwrap() / a[key]["mean"].as_f64().unwrap();
            assert!((ratio - 1.0).abs() < 0.05, "{key}: {ratio}");
        }
        let total = b["requests"].as_f64().unwrap() / a["requests"].as_f64().unwrap();
        assert!((total - 1.0).abs() < 0.05, "{total}");
        // The per-minute curve: the same counts by default; with fresh Poisson counts, every
        // ten-minute span within 5% (3 standard deviations at this trace's ~3,300 requests per
        // span).
        let minutes = |v: &Value| -> Vec<f64> {
            v["requests_per_minute"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_f64().unwrap())
                .collect()
        };
        let (ma, mb) = (minutes(&a), minutes(&b));
        assert_eq!(ma.len(), mb.len());
        if extra.is_empty() {
            assert_eq!(ma, mb, "same minute counts");
        } else {
            for (x, y) in ma
                .chunks(10)
                .zip(mb.chunks(10))
                .filter(|(x, _)| x.len() == 10)
            {
                let ratio = y.iter().sum::<f64>() / x.iter().sum::<f64>();
                assert!((ratio - 1.0).abs() < 0.05, "{ratio}");
            }
        }
    }
}

#[test]
fn conversions_round_trip_through_every_format() {
    let Some(source) = shared("data/mooncake/synthetic_trace.jsonl") else {
        return;
    };
    let original = stats(&source);
    let dir = tempfile::tempdir().unwrap();
    for format in [
        "canonical",
        "azure",
        "mooncake",
        "burstgpt",
        "lmbench",
        "vidur",
        "llmservingsim",
    ] {
        let out = dir.path().join(format!("t.{format}"));
        wva()
            .args(["trace", "convert"])
            .arg(&source)
            .args(["--to", format, "--out"])
            .arg(&out)
            .assert()
            .success();
        let back = stats(&out);
        assert_eq!(back["format"], format);
        for key in ["requests", "prompt_tokens", "output_tokens"] {
            assert_eq!(back[key], original[key], "{format}: {key}");
        }
        let d = |v: &Value| v["duration_s"].as_f64().unwrap();
        assert!((d(&back) - d(&original)).abs() < 0.01, "{format}");
    }
}

#[test]
fn transformations_scale_cut_and_rename() {
    let Some(source) = shared("data/azure_llm_2023/AzureLLMInferenceTrace_code.csv") else {
        return;
    };
    let path = source.to_str().unwrap();
    let base = stats(&source);
    let n = |v: &Value| v["requests"].as_f64().unwrap();
    let doubled = json(&["trace", "stats", path, "--rate-scale", "2"]);
    assert!((n(&doubled) / n(&base) - 2.0).abs() < 0.05);
    let halved = json(&["trace", "stats", path, "--rate-scale", "0.5"]);
    assert!((n(&halved) / n(&base) - 0.5).abs() < 0.05);
    let fast = json(&["trace", "stats", path, "--time-scale", "0.5"]);
    let ratio = fast["mean_rate_rps"].as_f64().unwrap() / base["mean_rate_rps"].as_f64().unwrap();
    assert!((ratio - 2.0).abs() < 1e-6, "{ratio}");
    let window = json(&[
        "trace",
        "stats",
        path,
        "--window",
        "600..1200",
        "--model",
        "m",
    ]);
    assert!(window["duration_s"].as_f64().unwrap() <= 600.0);
    assert_eq!(window["models"]["m"], window["requests"]);
    let capped = json(&["trace", "stats", path, "--max-requests", "100"]);
    assert_eq!(capped["requests"], 100);
}

#[test]
fn fixtures_of_formats_absent_from_the_shared_data() {
    let v = stats(&fixture("burstgpt-sample.csv"));
    assert_eq!(v["format"], "burstgpt");
    assert_eq!(v["requests"], 3, "the failed request is left out");
    assert_eq!(v["failed_requests"], 1);
    assert_eq!(v["models"]["GPT-4"], 1);
    let v = stats(&fixture("vidur-sample.csv"));
    assert_eq!(v["format"], "vidur");
    assert_eq!(v["prompt_tokens"]["max"], 2048.0);
}

#[test]
fn a_malformed_row_is_a_one_line_error_or_skipped_on_request() {
    let path = fixture("malformed.csv");
    let out = wva().args(["trace", "stats"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("malformed.csv:3: prompt_tokens: `abc` is not a number"),
        "{err}"
    );
    let v = json(&["trace", "stats", path.to_str().unwrap(), "--skip-bad-rows"]);
    assert_eq!(
        (v["requests"].as_u64(), v["skipped_rows"].as_u64()),
        (Some(2), Some(1))
    );
    let out = wva()
        .args(["trace", "stats", "tests/fixtures/impossible-slo.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --trace-format"));
}

#[test]
fn replay_is_deterministic_and_writes_every_request() {
    let Some(source) = shared("data/azure_llm_2023/AzureLLMInferenceTrace_conv.csv") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = |threads: &str, out: &Path| {
        let o = wva()
            .env("RAYON_NUM_THREADS", threads)
            .args([
                "simulate",
                "--profile",
                "profiles/llama-3.1-8b-instruct.yaml",
                "--replicas",
                "2",
                "--trace",
            ])
            .arg(&source)
            .args(["--replications", "2", "--noise-cv", "0.05", "-o", "json"])
            .arg("--requests-out")
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    assert_eq!(run("1", &a), run("2", &b));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let text = std::fs::read_to_string(&a).unwrap();
    assert_eq!(text.lines().count(), 19_366 + 1);
    let v: Value = serde_json::from_slice(&run("2", &b)).unwrap();
    let w = &v["workloads"][0];
    assert_eq!(w["requests"], 19_366.0, "a replay counts every request");
    assert!((w["offered_rps"].as_f64().unwrap() - 5.53).abs() < 0.01);
}

#[test]
fn replay_sends_a_trace_to_the_workload_named() {
    let Some(source) = shared("data/azure_llm_2023/AzureLLMInferenceTrace_code.csv") else {
        return;
    };
    let out = wva()
        .args(["simulate", "scenarios/quickstart.yaml", "--trace"])
        .arg(&source)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --workload NAME"));
    let v = json(&[
        "simulate",
        "scenarios/quickstart.yaml",
        "--trace",
        source.to_str().unwrap(),
        "--workload",
        "code-completion",
        "--max-requests",
        "2000",
    ]);
    let workloads = v["workloads"].as_array().unwrap();
    assert_eq!(workloads.len(), 1);
    assert_eq!(workloads[0]["workload"], "code-completion");
    assert_eq!(workloads[0]["requests"], 2000.0);
}

#[test]
fn plan_takes_a_workloads_load_from_a_trace() {
    let Some(source) = shared("data/azure_llm_2023/AzureLLMInferenceTrace_conv.csv") else {
        return;
    };
    let trace = source.to_str().unwrap();
    let rate = |q: &str| {
        let v = json(&[
            "plan",
            "scenarios/quickstart.yaml",
            "--trace",
            trace,
            "--workload",
            "chat-standard",
            "--rate-quantile",
            q,
        ]);
        let a = v["allocations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["workload"] == "chat-standard")
            .unwrap()
            .clone();
        (
            a["rate_rps"].as_f64().unwrap(),
            a["prompt_tokens"].as_f64().unwrap(),
        )
    };
    let (p50, prompt) = rate("0.5");
    let (p95, _) = rate("0.95");
    let busiest = json(&["trace", "stats", trace])["rate_per_minute_rps"]["max"]
        .as_f64()
        .unwrap();
    assert!(p50 < p95 && p95 <= busiest, "{p50} {p95} {busiest}");
    assert_eq!(rate("1").0, busiest);
    assert_eq!(prompt.round(), 1155.0);
}

#[test]
fn shipped_traces_are_what_their_commands_make() {
    let readme = std::fs::read_to_string(root().join("traces/README.md")).unwrap();
    let commands: Vec<&str> = readme
        .lines()
        .filter_map(|l| {
            l.split('`')
                .nth(3)
                .filter(|c| c.starts_with("wva trace synth"))
        })
        .collect();
    assert_eq!(commands.len(), 3, "{commands:?}");
    if shared("data").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for command in commands {
        let mut words: Vec<String> = command
            .split_whitespace()
            .skip(1)
            .map(String::from)
            .collect();
        let out = words.iter().position(|w| w == "--out").unwrap() + 1;
        let shipped = root().join(&words[out]);
        let fresh = dir.path().join("fresh.csv");
        words[out] = fresh.to_str().unwrap().to_string();
        wva().args(&words).assert().success();
        assert_eq!(
            std::fs::read(&fresh).unwrap(),
            std::fs::read(&shipped).unwrap(),
            "{command}"
        );
    }
}

#[test]
fn unsorted_traces_are_sorted_and_start_at_zero() {
    let path = fixture("unsorted.csv");
    let out = wva()
        .args(["trace", "convert"])
        .arg(&path)
        .args(["--to", "canonical"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("1 record(s) arrive before the one above them")
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "arrival_s,prompt_tokens,output_tokens\n0.000000,200,20\n2.000000,300,30\n4.000000,100,10\n"
    );
    let v = json(&[
        "simulate",
        "--profile",
        "profiles/llama-3.1-8b-instruct.yaml",
        "--replicas",
        "1",
        "--trace",
        path.to_str().unwrap(),
    ]);
    assert_eq!(v["workloads"][0]["requests"], 3.0, "every request counts");
    let s = stats(&path);
    assert_eq!(s["out_of_order"], 1);
    // One pass, no sort: minutes stay aligned to the first record (t = 5 s), so the two
    // earlier records (1 s, 3 s) fall into the minute before it.
    assert_eq!(s["requests_per_minute"], serde_json::json!([2, 1]));
}

#[test]
fn hostile_traces_are_refused_cleanly() {
    for (args, expect) in [
        (
            vec![
                "trace",
                "convert",
                "tests/fixtures/traces/unsorted.csv",
                "--to",
                "vidur",
                "--rate-scale",
                "1e9",
                "--max-requests",
                "3",
            ],
            "--rate-scale must be at most 1000",
        ),
        (
            vec!["trace", "stats", "tests/fixtures/traces/far-apart.csv"],
            "the timestamps cannot be right",
        ),
        (
            vec![
                "simulate",
                "--profile",
                "profiles/llama-3.1-8b-instruct.yaml",
                "--replicas",
                "1",
                "--trace",
                "tests/fixtures/traces/far-apart.csv",
            ],
            "the timestamps cannot be right",
        ),
        (
            vec![
                "trace",
                "synth",
                "--rate-rps",
                "1",
                "--in-tokens",
                "10",
                "--out-tokens",
                "10",
                "--requests",
                "5",
                "--window",
                "0..5",
            ],
            "apply to --like FILE",
        ),
    ] {
        let out = wva().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn a_jsonl_trace_may_start_with_a_byte_order_mark() {
    let v = stats(&fixture("bom.jsonl"));
    assert_eq!(v["format"], "mooncake");
    assert_eq!(v["requests"], 2);
}

#[test]
fn models_are_renamed_and_failed_requests_kept_on_request() {
    let path = fixture("burstgpt-sample.csv");
    let p = path.to_str().unwrap();
    let v = json(&[
        "trace",
        "stats",
        p,
        "--model",
        "ChatGPT=llama,GPT-4=qwen",
        "--keep-failed",
    ]);
    assert_eq!(v["requests"], 4);
    assert_eq!(v["failed_requests"], 1);
    assert_eq!(v["models"]["llama"], 2);
    assert_eq!(v["models"]["qwen"], 2);
}
