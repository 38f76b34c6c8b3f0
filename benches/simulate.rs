//! The simulator on 1,000,000 requests: Poisson arrivals at 80% of one replica's maximum rate
//! (from the analytic model), prompts ~1,000 and outputs ~200 tokens (log-normal, cv 0.5), max
//! batch 256, the measured Llama-3.1-8B/H100 cost model, KV capacity 400,000 tokens.
//! Single-threaded. Target (issue 4): <= 2 s. Also the same replica under a closed loop of 128
//! clients (fixed concurrency, as `wva validate` drives the Qwen curve).

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
    let engine = config.groups[0].engines[0];
    let load = ClosedLoop {
        concurrency: 128,
        prompt: traffic.prompt,
        output: traffic.output,
        requests: 1_000_000,
        warmup_fraction: 0.1,
        think_ms: 0.0,
    };
    group.bench_function("1M requests, closed loop of 128 clients", |b| {
        b.iter(|| black_box(run_closed_loop(engine, &load, 1).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
