//! The library without the command line: a shipped profile driven at fixed concurrency (the
//! way `vllm bench serve --max-concurrency` drives a server), one closed loop per level, and
//! then the same levels' figures calibrated back into parameters through the simulator.
//!
//! Run from the project root: `cargo run --release --example concurrency_sweep`.

use std::path::Path;
use wva::estimate::calibrate::{Engine, Evidence, Search, calibrate};
use wva::estimate::sweep::{Drive, SweepRow, TokenStat, TtftStat};
use wva::perf::{Gen2Params, PerfModelKind, PerfParams};
use wva::queueing::Targets;
use wva::sim::closed_loop::{ClosedLoop, run_closed_loop};
use wva::sim::setup::{EngineOverrides, engine_config};
use wva::spec::{LengthDist, load_profiles};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let profiles = load_profiles(Path::new("profiles/qwen2.5-14b-instruct.yaml"))?;
    let profile = &profiles[0];
    let engine = engine_config(profile, profile.max_batch, &EngineOverrides::default());
    println!("{} on {}", profile.model, profile.accelerator);
    println!("clients  req/s  mean TTFT ms  mean TPOT ms");
    let mut rows = Vec::new();
    for clients in [1u32, 4, 16, 64] {
        let load = ClosedLoop {
            concurrency: clients,
            prompt: LengthDist::Fixed { mean: 1024.0 },
            output: LengthDist::Fixed { mean: 256.0 },
            requests: 2_000,
            warmup_fraction: 0.2,
            think_ms: 0.0,
            targets: Targets::default(),
        };
        let r = run_closed_loop(engine.clone(), &load, 1)?;
        println!(
            "{clients:>7}  {:>5.2}  {:>12.1}  {:>12.2}",
            r.throughput_rps, r.ttft_ms.mean, r.tpot_ms.mean
        );
        rows.push(Evidence::Row(SweepRow {
            origin: format!("example:{clients}"),
            file: 0,
            drive: Drive::Concurrency(clients),
            prompt_tokens: 1024.0,
            output_tokens: 256.0,
            ttft_ms: Some((TtftStat::Mean, r.ttft_ms.mean)),
            token_ms: Some((TokenStat::Tpot, r.tpot_ms.mean)),
            throughput_rps: Some(r.throughput_rps),
            replicas: 1,
            max_num_seqs: None,
            max_num_batched_tokens: None,
        }));
    }
    // Calibrate from a start three times off in every parameter, on the engine's own settings.
    let start = Gen2Params {
        alpha_ms: 30.0,
        beta_ms_per_token: 0.01,
        gamma_ms_per_kv_token: 2e-4,
    };
    let settings = Engine {
        max_num_seqs: engine.max_num_seqs,
        max_num_batched_tokens: engine.max_num_batched_tokens,
        block_size: engine.block_size,
        kv_capacity_tokens: engine.kv_capacity_tokens,
    };
    let c = calibrate(
        &rows,
        PerfModelKind::V2,
        start,
        settings,
        false,
        Search::default(),
    )?;
    if let (PerfParams::V2(fitted), PerfParams::V2(shipped)) = (c.params, profile.perf) {
        println!(
            "calibrated alpha {:.2} ms, beta {:.4} ms/token, gamma {:.2e} ms/KV token",
            fitted.alpha_ms, fitted.beta_ms_per_token, fitted.gamma_ms_per_kv_token
        );
        println!(
            "shipped    alpha {:.2} ms, beta {:.4} ms/token, gamma {:.2e} ms/KV token",
            shipped.alpha_ms, shipped.beta_ms_per_token, shipped.gamma_ms_per_kv_token
        );
    }
    for e in &c.in_sample {
        println!("{} {}: {:+.1}%", e.load, e.statistic, e.error * 100.0);
    }
    Ok(())
}
