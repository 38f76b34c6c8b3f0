//! Upstream's queue-analysis golden vectors (`../shared/reference/wva/inferno-queue-analysis/`):
//! `wva`'s analytic model must reproduce every number to 1e-3 relative.
//!
//! - `solution-solve.json`: metrics at the problem's rate (gen-2 model, upstream's 2026 analyzer
//!   before chunked prefill);
//! - `solution-target.json`: sizing for the TTFT/ITL targets (gen 2);
//! - `solution-optimize.json`: the max-batch search (gen 3, upstream's current analyzer).

mod common;

use common::{assert_close, read_json, shared};
use serde_json::Value;
use wva::perf::{DEFAULT_MAX_NUM_BATCHED_TOKENS, Gen2Params, Gen3Params, PerfParams, RequestShape};
use wva::queueing::concurrency::{ConcurrencySearch, optimal_max_batch};
use wva::queueing::{ReplicaModel, Targets, size};

const TOLERANCE: f64 = 1e-3;

struct Problem {
    rate_rps: f64,
    max_batch: u32,
    max_queue: u32,
    shape: RequestShape,
    iteration: Gen2Params,
    targets: Targets,
}

fn load(name: &str) -> Option<(Problem, Value)> {
    let dir = shared("reference/wva/inferno-queue-analysis")?;
    let p = read_json(&dir.join("problem-data.json"));
    let f = |k: &str| {
        p[k].as_f64()
            .unwrap_or_else(|| panic!("problem-data.json: {k}"))
    };
    let problem = Problem {
        rate_rps: f("RPS"),
        max_batch: f("maxBatchSize") as u32,
        max_queue: f("maxQueueSize") as u32,
        shape: RequestShape {
            prompt_tokens: f("AvgInputTokens"),
            output_tokens: f("AvgOutputTokens"),
        },
        iteration: Gen2Params {
            alpha_ms: f("alpha"),
            beta_ms_per_token: f("beta"),
            gamma_ms_per_kv_token: f("gamma"),
        },
        targets: Targets {
            ttft_ms: Some(f("targetTTFT")),
            itl_ms: Some(f("targetITL")),
            ..Default::default()
        },
    };
    Some((problem, read_json(&dir.join(name))))
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("missing {key}"))
}

#[test]
fn solve_matches_upstream() {
    let Some((p, expected)) = load("solution-solve.json") else {
        return;
    };
    let model = ReplicaModel::new(
        PerfParams::V2(p.iteration),
        p.shape,
        p.max_batch,
        p.max_queue,
    )
    .unwrap();
    let m = model.analyze(p.rate_rps).unwrap();
    assert_close(
        "throughput",
        m.throughput_rps,
        num(&expected, "throughput"),
        TOLERANCE,
    );
    assert_close(
        "avgRespTime",
        m.response_ms,
        num(&expected, "avgRespTime"),
        TOLERANCE,
    );
    assert_close(
        "avgWaitTime",
        m.wait_ms,
        num(&expected, "avgWaitTime"),
        TOLERANCE,
    );
    assert_close(
        "avgNumInServ",
        m.mean_batch,
        num(&expected, "avgNumInServ"),
        TOLERANCE,
    );
    assert_close("avgTTFT", m.ttft_ms, num(&expected, "avgTTFT"), TOLERANCE);
    assert_close("avgITL", m.itl_ms, num(&expected, "avgITL"), TOLERANCE);
    assert_close(
        "maxRPS",
        m.max_rate_rps,
        num(&expected, "maxRPS"),
        TOLERANCE,
    );
}

#[test]
fn target_sizing_matches_upstream() {
    let Some((p, expected)) = load("solution-target.json") else {
        return;
    };
    let model = ReplicaModel::new(
        PerfParams::V2(p.iteration),
        p.shape,
        p.max_batch,
        p.max_queue,
    )
    .unwrap();
    let s = size(&model, &p.targets).unwrap();
    assert_close(
        "RPSTargetTTFT",
        s.rate_ttft_rps,
        num(&expected, "RPSTargetTTFT"),
        TOLERANCE,
    );
    assert_close(
        "RPSTargetITL",
        s.rate_itl_rps,
        num(&expected, "RPSTargetITL"),
        TOLERANCE,
    );
    assert_close(
        "throughput",
        s.metrics.throughput_rps,
        num(&expected, "throughput"),
        TOLERANCE,
    );
    assert_close(
        "avgRespTime",
        s.metrics.response_ms,
        num(&expected, "avgRespTime"),
        TOLERANCE,
    );
    assert_close(
        "avgWaitTime",
        s.metrics.wait_ms,
        num(&expected, "avgWaitTime"),
        TOLERANCE,
    );
    assert_close(
        "avgNumInServ",
        s.metrics.mean_batch,
        num(&expected, "avgNumInServ"),
        TOLERANCE,
    );
    assert_close(
        "avgTTFT",
        s.metrics.ttft_ms,
        num(&expected, "avgTTFT"),
        TOLERANCE,
    );
    assert_close(
        "avgITL",
        s.metrics.itl_ms,
        num(&expected, "avgITL"),
        TOLERANCE,
    );
    assert_close(
        "maxRPS",
        s.metrics.max_rate_rps,
        num(&expected, "maxRPS"),
        TOLERANCE,
    );
}

#[test]
fn max_batch_search_matches_upstream() {
    let Some((p, expected)) = load("solution-optimize.json") else {
        return;
    };
    let params = PerfParams::V3(Gen3Params {
        iteration: p.iteration,
        max_num_batched_tokens: DEFAULT_MAX_NUM_BATCHED_TOKENS,
    });
    let r = optimal_max_batch(
        params,
        p.shape,
        p.max_queue,
        &p.targets,
        &ConcurrencySearch::upstream(p.max_batch),
    );
    assert_eq!(
        i64::from(r.max_batch),
        expected["concurrency"].as_i64().unwrap(),
        "concurrency"
    );
    assert_eq!(
        i64::from(r.m_itl),
        expected["M_ITL"].as_i64().unwrap(),
        "M_ITL"
    );
    assert_eq!(
        i64::from(r.m_tpf),
        expected["M_TPF"].as_i64().unwrap(),
        "M_TPF"
    );
    assert_eq!(
        r.oracle_calls as i64,
        expected["oracleCalls"].as_i64().unwrap(),
        "oracleCalls"
    );
    assert_eq!(r.feasible, expected["feasible"].as_bool().unwrap());
    let s = r.sizing.expect("feasible search has a sizing");
    assert_close(
        "throughput",
        r.throughput_rps,
        num(&expected, "throughput"),
        TOLERANCE,
    );
    assert_close(
        "avgRespTime",
        s.metrics.response_ms,
        num(&expected, "avgRespTime"),
        TOLERANCE,
    );
    assert_close(
        "avgWaitTime",
        s.metrics.wait_ms,
        num(&expected, "avgWaitTime"),
        TOLERANCE,
    );
    assert_close(
        "avgNumInServ",
        s.metrics.mean_batch,
        num(&expected, "avgNumInServ"),
        TOLERANCE,
    );
    assert_close(
        "avgTTFT",
        s.metrics.ttft_ms,
        num(&expected, "avgTTFT"),
        TOLERANCE,
    );
    assert_close(
        "avgITL",
        s.metrics.itl_ms,
        num(&expected, "avgITL"),
        TOLERANCE,
    );
    assert_close(
        "maxRPS",
        s.metrics.max_rate_rps,
        num(&expected, "maxRPS"),
        TOLERANCE,
    );
}
