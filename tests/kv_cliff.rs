//! The analytic model's KV-cache limit against the KV cliff of a real vLLM run: upstream's
//! Qwen2.5-14B / H100 curve (`run16`), where 1024x2048 requests fill the cache at ~116-128
//! running requests and TTFT jumps to tens of seconds, while 1024x512 requests never fill it.

mod common;

use common::{shared, wva_json};
use std::path::Path;
use wva::spec::load_profiles;

struct Row {
    shape: String,
    running: f64,
    kv_pct: f64,
}

fn rows(path: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Row {
                shape: f[0].to_string(),
                running: f[5].parse().unwrap(),
                kv_pct: f[6].parse().unwrap(),
            }
        })
        .collect()
}

#[test]
fn kv_limit_matches_the_measured_cliff() {
    let Some(curve) =
        shared("reference/wva/inferno-control-loop/run16-curve-qwen2.5-14b-H100-real-vllm.csv")
    else {
        return;
    };
    let rows = rows(&curve);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let qwen = load_profiles(&root.join("profiles/qwen2.5-14b-instruct.yaml"))
        .unwrap()
        .remove(0);
    // 1024x2048: the cache is full (>= 99%) first with this many running requests.
    let full_at = rows
        .iter()
        .filter(|r| r.shape == "1024x2048" && r.kv_pct >= 99.0)
        .map(|r| r.running)
        .fold(f64::INFINITY, f64::min);
    let long = f64::from(qwen.kv_batch_limit(1024.0, 2048.0, 0.0).unwrap());
    eprintln!("1024x2048: KV limit {long} requests, measured full at {full_at} running");
    assert!(
        ((long - full_at) / full_at).abs() < 0.10,
        "predicted {long} vs measured {full_at}"
    );
    // 1024x512: never full; the busiest row's usage extrapolated to 100%.
    let busiest = rows
        .iter()
        .filter(|r| r.shape == "1024x512")
        .max_by(|a, b| a.running.total_cmp(&b.running))
        .unwrap();
    let extrapolated = busiest.running / (busiest.kv_pct / 100.0);
    let short = f64::from(qwen.kv_batch_limit(1024.0, 512.0, 0.0).unwrap());
    eprintln!(
        "1024x512: KV limit {short} requests, measured usage extrapolates to {extrapolated:.0}"
    );
    assert!(((short - extrapolated) / extrapolated).abs() < 0.10);
    assert!(
        short > f64::from(qwen.max_batch),
        "1024x512 is not KV-bound at max batch 128"
    );
}

/// A plan for the long shape says the KV cache binds and caps the batch there; the short one
/// keeps the profile's max batch.
#[test]
fn plans_say_when_kv_binds() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scenario = dir.path().join("kv.yaml");
    std::fs::write(
        &scenario,
        format!(
            "name: kv\naccelerators: {root}/profiles/accelerators.yaml\nservice_classes: {root}/profiles/service-classes.yaml\nprofiles:\n  - {root}/profiles/qwen2.5-14b-instruct.yaml\nworkloads:\n  - name: long\n    model: Qwen/Qwen2.5-14B-Instruct\n    service_class: batch\n    rate_rps: 0.5\n    prompt_tokens: 1024\n    output_tokens: 2048\n  - name: short\n    model: Qwen/Qwen2.5-14B-Instruct\n    service_class: batch\n    rate_rps: 2\n    prompt_tokens: 1024\n    output_tokens: 512\n",
            root = root.display()
        ),
    )
    .unwrap();
    let plan = wva_json(&["plan", scenario.to_str().unwrap(), "--batch-size", "fixed"]);
    let rows = plan["allocations"].as_array().unwrap();
    assert_eq!(rows[0]["workload"], "long");
    assert_eq!(rows[0]["kv_bound"], true);
    assert_eq!(rows[0]["max_batch"], 122);
    assert_eq!(rows[0]["kv_batch_limit"], 122);
    assert_eq!(rows[1]["kv_bound"], false);
    assert_eq!(rows[1]["max_batch"], 128);
}
