//! Calibration through the simulator (`wva estimate`'s default for load tests): the six
//! llm-d-benchmark files (1,512 requests replayed per evaluation, KV capacity and token budget
//! unknown) and a 100-row concurrency sweep. Targets (issue 16): under 10 s and under 30 s on
//! 2 cores.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use wva::estimate::calibrate::{Engine, Evidence, Run, Search, calibrate_budget};
use wva::estimate::sweep::{Drive, SweepRow, TokenStat, TtftStat};
use wva::perf::{Gen2Params, PerfModelKind};
use wva::sim::measured::measured;
use wva::trace::{Format, Transforms};

const LLMD: &str = "../shared/data/llm_d_benchmark/A100x2_TP2_llama3.1-70b_vllm_1replica";

const START: Gen2Params = Gen2Params {
    alpha_ms: 47.5,
    beta_ms_per_token: 0.23,
    gamma_ms_per_kv_token: 4e-4,
};

const ENGINE: Engine = Engine {
    max_num_seqs: 256,
    max_num_batched_tokens: 8192,
    block_size: 16,
    kv_capacity_tokens: None,
};

fn llmd() -> Option<Vec<Evidence>> {
    let mut files: Vec<_> = std::fs::read_dir(LLMD)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    Some(
        files
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let records: Vec<_> =
                    wva::trace::read_all(p, Some(Format::Lmbench), &Transforms::default(), false)
                        .unwrap()
                        .into_iter()
                        .filter(|r| r.output_tokens > 0)
                        .collect();
                Evidence::Run(Run {
                    origin: p.display().to_string(),
                    file: i,
                    measured: measured(&records),
                    records,
                    replicas: 1,
                })
            })
            .collect(),
    )
}

/// 100 rows, concurrency 1 to 100, of a server that slows with load.
fn summary() -> Vec<Evidence> {
    (1..=100u32)
        .map(|c| {
            Evidence::Row(SweepRow {
                origin: format!("bench:{c}"),
                file: 0,
                drive: Drive::Concurrency(c),
                prompt_tokens: 1024.0,
                output_tokens: 256.0,
                ttft_ms: Some((TtftStat::Mean, 60.0 + 8.0 * f64::from(c))),
                token_ms: Some((TokenStat::Tpot, 12.0 + 0.15 * f64::from(c))),
                throughput_rps: None,
                replicas: 1,
                max_num_seqs: None,
                max_num_batched_tokens: None,
            })
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("calibrate");
    group.sample_size(10);
    match llmd() {
        Some(evidence) => {
            group.bench_function("llm-d sweep, 6 files", |b| {
                b.iter(|| {
                    black_box(
                        calibrate_budget(
                            &evidence,
                            PerfModelKind::V3,
                            START,
                            ENGINE,
                            true,
                            Search::default(),
                        )
                        .unwrap(),
                    )
                })
            });
        }
        None => eprintln!("notice: ../shared/data not found: skipping the llm-d calibration"),
    }
    let rows = summary();
    let start = Gen2Params {
        alpha_ms: 10.0,
        beta_ms_per_token: 0.05,
        gamma_ms_per_kv_token: 1e-4,
    };
    group.bench_function("100-row concurrency summary", |b| {
        b.iter(|| {
            black_box(
                calibrate_budget(
                    &rows,
                    PerfModelKind::V3,
                    start,
                    ENGINE,
                    false,
                    Search::default(),
                )
                .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
