//! The simulator on 1,000,000 requests: Poisson arrivals at 80% of one replica's maximum rate
//! (from the analytic model), prompts ~1,000 and outputs ~200 tokens (log-normal, cv 0.5), max
//! batch 256, the measured Llama-3.1-8B/H100 cost model, KV capacity 400,000 tokens.
//! Single-threaded. Target (issue 4): <= 2 s. Also the same replica under a closed loop of 128
//! clients (fixed concurrency, as `wva validate` drives the Qwen curve), and the same load on
//! `tables` cost models (LLMServingSim's profiler tables in `../shared/data`: Llama-3.1-8B on
//! one RTX PRO 6000, Qwen3-32B on two over PCIe, Qwen3-30B-A3B on two data-parallel ranks;
//! target, issue 15: <= 2 s), skipped with a notice when the data is not there.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use wva::perf::{Gen2Params, PerfParams, RequestShape};
use wva::queueing::{ReplicaModel, Targets};
use wva::sim::closed_loop::{ClosedLoop, run_closed_loop};
use wva::sim::{
    EngineConfig, Generator, GroupConfig, Horizon, Request, Router, SimConfig, Traffic, run,
};
use wva::spec::{ArrivalProcess, LengthDist};

fn bench(c: &mut Criterion) {
    let perf = PerfParams::V2(Gen2Params {
        alpha_ms: 6.49,
        beta_ms_per_token: 0.0219,
        gamma_ms_per_kv_token: 0.0000496,
    });
    let shape = RequestShape {
        prompt_tokens: 1000.0,
        output_tokens: 200.0,
    };
    let max_rate = ReplicaModel::new(perf, shape, 256, 2560)
        .unwrap()
        .rate_range_rps()
        .1;
    let traffic = Traffic {
        rate_rps: 0.8 * max_rate,
        arrivals: ArrivalProcess::Poisson,
        prompt: LengthDist::Lognormal {
            mean: 1000.0,
            cv: 0.5,
        },
        output: LengthDist::Lognormal {
            mean: 200.0,
            cv: 0.5,
        },
    };
    let requests: Vec<Request> =
        Generator::new(&[traffic], Horizon::Requests(1_000_000), 0.1, 42).collect();
    let config = SimConfig {
        groups: vec![GroupConfig {
            name: "llama".into(),
            engines: vec![EngineConfig {
                cost: perf.into(),
                max_num_seqs: 256,
                max_num_batched_tokens: 8192,
                kv_capacity_tokens: Some(400_000),
                block_size: 16,
                prefix_caching: true,
                noise_cv: 0.0,
            }],
            router: Router::RoundRobin,
            targets: Targets {
                ttft_ms: Some(1000.0),
                itl_ms: Some(50.0),
                ..Default::default()
            },
        }],
        seed: 1,
        timeline_bucket_ms: None,
        record_requests: false,
    };
    let result = run(&config, requests.iter().copied(), &mut |_| {}).unwrap();
    let g = &result.groups[0];
    eprintln!(
        "rate {:.2} req/s (max {:.2}): {} iterations, mean batch {:.1}, TTFT mean {:.1} ms, ITL mean {:.2} ms, preemptions {}, simulated {:.0} s",
        traffic.rate_rps,
        max_rate,
        result.iterations,
        g.mean_batch,
        g.ttft_ms.mean,
        g.itl_ms.mean,
        g.preemptions,
        result.simulated_s
    );
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    group.bench_function("1M requests, 1 replica at 80% load, batch 256", |b| {
        b.iter(|| black_box(run(&config, requests.iter().copied(), &mut |_| {}).unwrap()))
    });
    group.bench_function("1M requests generated and simulated", |b| {
        b.iter(|| {
            let generator = Generator::new(&[traffic], Horizon::Requests(1_000_000), 0.1, 42);
            black_box(run(&config, generator, &mut |_| {}).unwrap())
        })
    });
    // Closed loop: 128 clients (fixed concurrency) on the same replica, 1M requests.
    let engine = config.groups[0].engines[0].clone();
    let load = ClosedLoop {
        concurrency: 128,
        prompt: traffic.prompt,
        output: traffic.output,
        requests: 1_000_000,
        warmup_fraction: 0.1,
        think_ms: 0.0,
        targets: Default::default(),
    };
    group.bench_function("1M requests, closed loop of 128 clients", |b| {
        b.iter(|| black_box(run_closed_loop(engine.clone(), &load, 1).unwrap()))
    });
    for (name, model, folder, parallel) in TABLES {
        let Some(cost) = tables_model(model, folder, parallel) else {
            eprintln!("notice: ../shared/data not found: skipping the {name} tables benchmark");
            continue;
        };
        let budget = 2048;
        let max_batch = 256 * cost.ranks();
        let line = wva::perf::surrogate::fit(&cost, &shape, max_batch, budget, true).unwrap();
        let max_rate = ReplicaModel::new(line.params, shape, max_batch, 10 * max_batch)
            .unwrap()
            .rate_range_rps()
            .1;
        let traffic = Traffic {
            rate_rps: 0.8 * max_rate,
            ..traffic
        };
        let requests: Vec<Request> =
            Generator::new(&[traffic], Horizon::Requests(1_000_000), 0.1, 42).collect();
        let mut config = config.clone();
        config.groups[0].engines[0] = EngineConfig {
            cost,
            max_num_seqs: 256,
            max_num_batched_tokens: budget,
            ..config.groups[0].engines[0].clone()
        };
        let result = run(&config, requests.iter().copied(), &mut |_| {}).unwrap();
        eprintln!(
            "{name}: rate {:.2} req/s, {} iterations, mean batch {:.1}, TTFT mean {:.1} ms, ITL mean {:.2} ms",
            traffic.rate_rps,
            result.iterations,
            result.groups[0].mean_batch,
            result.groups[0].ttft_ms.mean,
            result.groups[0].itl_ms.mean
        );
        group.bench_function(
            format!("1M requests, 1 replica at 80% load, tables: {name}"),
            |b| b.iter(|| black_box(run(&config, requests.iter().copied(), &mut |_| {}).unwrap())),
        );
    }
    group.finish();
}

/// A tables benchmark: name, model config and profiler folder under `llmservingsim/`,
/// parallelism `(tp, ep, dp)`.
type TablesBench = (&'static str, &'static str, &'static str, (u32, u32, u32));

const TABLES: [TablesBench; 3] = [
    (
        "Llama-3.1-8B, RTX PRO 6000",
        "meta-llama/Llama-3.1-8B",
        "RTXPRO6000/meta-llama/Llama-3.1-8B/bf16",
        (1, 1, 1),
    ),
    (
        "Qwen3-32B, TP 2 over PCIe",
        "Qwen/Qwen3-32B",
        "RTXPRO6000/Qwen/Qwen3-32B/bf16",
        (2, 1, 1),
    ),
    (
        "Qwen3-30B-A3B, DP 2 x EP 2",
        "Qwen/Qwen3-30B-A3B-Instruct-2507",
        "RTXPRO6000/Qwen/Qwen3-30B-A3B-Instruct-2507/bf16",
        (1, 2, 2),
    ),
];

/// A tables cost model from `../shared/data/llmservingsim`, or `None` without the data.
fn tables_model(
    model: &str,
    folder: &str,
    (tp, ep, dp): (u32, u32, u32),
) -> Option<wva::perf::CostModel> {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/llmservingsim");
    if !root.exists() {
        return None;
    }
    let arch = wva::spec::tables::read_model_config(
        &root.join("configs/model").join(format!("{model}.json")),
    )
    .unwrap();
    let data =
        wva::spec::tables::read_profiler_tables(&root.join("profiler/perf").join(folder), tp)
            .unwrap();
    let link = wva::perf::Interconnect {
        bandwidth_gb_s: 17.18,
        latency_us: 20.0,
    };
    let model = wva::perf::TablesModel::new(
        &data,
        arch,
        wva::perf::Parallelism { tp, ep, dp },
        Some(link),
    )
    .unwrap();
    Some(wva::perf::CostModel::Tables(std::sync::Arc::new(model)))
}

criterion_group!(benches, bench);
criterion_main!(benches);
