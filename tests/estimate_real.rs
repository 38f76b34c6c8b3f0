//! `wva estimate` on real measurements (`../shared/data`): the acceptance criteria of the
//! estimate issue. Each test fits through the command line (`--report json`) and checks the
//! prediction errors it reports, or fits through the library where two fits are compared.

mod common;

use assert_cmd::Command;
use common::shared;
use serde_json::Value;
use wva::estimate::fit::predict;
use wva::estimate::{Filters, FitOptions, fit, read_observations};

fn estimate(args: &[&str]) -> Value {
    let out = Command::cargo_bin("wva")
        .unwrap()
        .arg("estimate")
        .args(args)
        .args(["--report", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "wva estimate {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn kind_mape(report: &Value, section: &str, kind: &str) -> f64 {
    report[section]["by_kind"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} observations in {section}"))["mape"]
        .as_f64()
        .unwrap()
}

#[test]
fn splitwise_llama2_70b_h100_tp4_decode_and_prefill() {
    let Some(csv) = shared("data/splitwise_sim/perf_model.csv") else {
        return;
    };
    let csv = csv.to_str().unwrap();
    // `--hardware h100-80gb` matches exactly, so the synthetic `h100-80gb-pcap` rows stay out.
    let r = estimate(&[
        csv,
        "--model",
        "llama2-70b",
        "--hardware",
        "h100-80gb",
        "--tp",
        "4",
    ]);
    assert!(r["files"].as_array().unwrap().len() == 1);
    let decode = kind_mape(&r, "in_sample", "decode");
    let prefill = kind_mape(&r, "in_sample", "prefill");
    eprintln!("splitwise llama2-70b h100 tp4: decode MAPE {decode:.4}, prefill MAPE {prefill:.4}");
    assert_eq!(r["in_sample"]["by_kind"][0]["observations"], 105);
    assert!(decode <= 0.10, "decode token_time MAPE {decode:.3} > 10%");
    assert!(
        prefill <= 0.15,
        "prefill prompt_time MAPE {prefill:.3} > 15%"
    );
    assert!(r["fit"]["warnings"].as_array().unwrap().is_empty());
}

#[test]
fn lmbench_70b_fit_on_two_lowest_rates_predicts_all_six() {
    let Some(dir) = shared("data/llm_d_benchmark/A100x2_TP2_llama3.1-70b_vllm_1replica") else {
        return;
    };
    let file = |qps: &str| {
        dir.join(format!("LMBench_sharegpt_output_{qps}.csv"))
            .to_str()
            .unwrap()
            .to_string()
    };
    let all: Vec<String> = ["0.5", "0.67", "0.84", "1", "1.17", "1.34"]
        .iter()
        .map(|q| file(q))
        .collect();
    let mut args: Vec<&str> = vec!["--direct", &all[0], &all[1], "--validate"];
    args.extend(all.iter().map(String::as_str));
    let r = estimate(&args);
    let files = r["validation"]["by_file"].as_array().unwrap();
    assert_eq!(files.len(), 6);
    for f in files {
        let err = f["relative_error"].as_f64().unwrap();
        eprintln!(
            "{}: mean TPOT measured {:.2} ms, predicted {:.2} ms ({:+.1}%)",
            f["file"],
            f["measured_ms"],
            f["predicted_ms"],
            err * 100.0
        );
        assert_eq!(f["unit"], "TPOT");
        assert!(
            err.abs() <= 0.15,
            "{}: mean TPOT off by {err:.3}",
            f["file"]
        );
    }
}

#[test]
fn argonne_vllm_llama3_8b_ranks_h100_faster_and_fits_batches_up_to_64() {
    let Some(csv) = shared("data/argonne_llm_inference_bench/All_results.csv") else {
        return;
    };
    let paths = [csv];
    let fitted = |hardware: &str| {
        let filters = Filters {
            model: Some("Meta-Llama-3-8B".into()),
            hardware: Some(hardware.into()),
            tp: Some(1),
            framework: Some("vLLM".into()),
            max_num_batched_tokens: wva::perf::DEFAULT_MAX_NUM_BATCHED_TOKENS,
            ..Filters::default()
        };
        let obs = read_observations(&paths, None, &filters).unwrap();
        assert!(obs.iter().all(|o| o.batch <= 64.0));
        let f = fit(&obs, &FitOptions::default()).unwrap();
        (obs, f)
    };
    let (a100_obs, a100) = fitted("A100");
    let (h100_obs, h100) = fitted("H100");
    for (name, obs, f) in [("A100", &a100_obs, &a100), ("H100", &h100_obs, &h100)] {
        let worst = obs
            .iter()
            .map(|o| ((predict(&f.params, &o.work) - o.time_ms) / o.time_ms).abs())
            .fold(0.0, f64::max);
        eprintln!(
            "argonne vLLM Llama-3-8B {name}: {} batches, MAPE {:.4}, worst {:.4}",
            obs.len(),
            f.mape,
            worst
        );
        assert!(
            f.mape <= 0.15,
            "{name}: whole-batch latency MAPE {:.3}",
            f.mape
        );
    }
    // On every configuration either was measured at, the H100 fit predicts less time.
    for o in a100_obs.iter().chain(&h100_obs) {
        let (ta, th) = (
            predict(&a100.params, &o.work),
            predict(&h100.params, &o.work),
        );
        assert!(th < ta, "{}: H100 {th:.1} ms, A100 {ta:.1} ms", o.origin);
    }
}

#[test]
fn estimated_profile_plans() {
    let Some(csv) = shared("data/splitwise_sim/perf_model.csv") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("llama2-70b-h100.yaml");
    Command::cargo_bin("wva")
        .unwrap()
        .arg("estimate")
        .arg(&csv)
        .args([
            "--model",
            "llama2-70b",
            "--hardware",
            "h100-80gb",
            "--tp",
            "4",
        ])
        .args(["--accelerator", "H100", "--out"])
        .arg(&profile)
        .assert()
        .success();
    let text = std::fs::read_to_string(&profile).unwrap();
    assert!(text.contains("provenance: estimated"), "{text}");
    assert!(
        text.contains("perf_model.csv"),
        "the source names the file: {text}"
    );
    // `wva analyze --profile` reads it back.
    Command::cargo_bin("wva")
        .unwrap()
        .args(["analyze", "--profile"])
        .arg(&profile)
        .args([
            "--in-tokens",
            "512",
            "--out-tokens",
            "128",
            "--rate-rps",
            "0.5",
        ])
        .assert()
        .success();
}

/// The calibration issue's visible target on the llm-d sweep: the default command (calibration
/// through the simulator) on five rates predicts the sixth, for every rate below saturation:
/// TTFT p50 within 20% and mean TPOT within 15%.
#[test]
fn lmbench_70b_calibration_predicts_each_held_out_rate_below_saturation() {
    let Some(dir) = shared("data/llm_d_benchmark/A100x2_TP2_llama3.1-70b_vllm_1replica") else {
        return;
    };
    let rates = ["0.5", "0.67", "0.84", "1", "1.17", "1.34"];
    let file = |qps: &str| {
        dir.join(format!("LMBench_sharegpt_output_{qps}.csv"))
            .to_str()
            .unwrap()
            .to_string()
    };
    // The three lowest rates are below saturation (the others served less than offered, or
    // their TTFT grew through the run).
    for held in &rates[..3] {
        let others: Vec<String> = rates
            .iter()
            .filter(|q| *q != held)
            .map(|q| file(q))
            .collect();
        let target = file(held);
        let mut args: Vec<&str> = others.iter().map(String::as_str).collect();
        args.extend(["--validate", &target]);
        let r = estimate(&args);
        let stats = r["validation"].as_array().unwrap();
        assert_eq!(stats.len(), 2, "{stats:?}");
        for s in stats {
            let err = s["error"].as_f64().unwrap();
            eprintln!(
                "held out {held}: {} measured {:.1} ms, predicted {:.1} ms ({:+.1}%)",
                s["statistic"],
                s["measured_ms"].as_f64().unwrap(),
                s["predicted_ms"].as_f64().unwrap(),
                err * 100.0
            );
            let bound = if s["statistic"] == "TTFT p50" {
                0.20
            } else {
                0.15
            };
            assert!(err.abs() <= bound, "held out {held}: {s}");
        }
    }
}
