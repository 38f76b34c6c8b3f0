//! One sizing: the bisection over the replica's birth-death chain for a TTFT and an ITL target.
//! Target (issue 2): <= 50 us. Also the percentile sizing (issue 8: the tail approximation for
//! a p99 TTFT and a p90 ITL target on the measured Llama-3.1-8B/H100 profile).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use wva::perf::{Gen2Params, Gen3Params, PerfParams, RequestShape};
use wva::queueing::{ReplicaModel, Targets, size};
use wva::slo::Statistic;

fn bench(c: &mut Criterion) {
    let iteration = Gen2Params {
        alpha_ms: 12.0,
        beta_ms_per_token: 0.05,
        gamma_ms_per_kv_token: 0.0005,
    };
    let targets = Targets {
        ttft_ms: Some(60.0),
        itl_ms: Some(20.0),
        ..Default::default()
    };
    let golden = RequestShape {
        prompt_tokens: 128.0,
        output_tokens: 512.0,
    };
    c.bench_function("size/golden gen2 N=48 Q=128", |b| {
        b.iter(|| {
            let model = ReplicaModel::new(PerfParams::V2(iteration), golden, 48, 128).unwrap();
            black_box(size(&model, black_box(&targets)).unwrap())
        })
    });
    let chat = RequestShape {
        prompt_tokens: 1155.0,
        output_tokens: 211.0,
    };
    let loose = Targets {
        ttft_ms: Some(1000.0),
        itl_ms: Some(50.0),
        ..Default::default()
    };
    c.bench_function("size/gen2 N=256 Q=2560", |b| {
        b.iter(|| {
            let model = ReplicaModel::new(PerfParams::V2(iteration), chat, 256, 2560).unwrap();
            black_box(size(&model, black_box(&loose)).unwrap())
        })
    });
    let v3 = PerfParams::V3(Gen3Params {
        iteration,
        max_num_batched_tokens: 2048,
    });
    c.bench_function("size/gen3 N=256 Q=2560 M=2048", |b| {
        b.iter(|| {
            let model = ReplicaModel::new(v3, chat, 256, 2560).unwrap();
            black_box(size(&model, black_box(&loose)).unwrap())
        })
    });
    let h100 = PerfParams::V2(Gen2Params {
        alpha_ms: 6.49,
        beta_ms_per_token: 0.0219,
        gamma_ms_per_kv_token: 0.0000496,
    });
    let tail = Targets {
        ttft_ms: Some(150.0),
        itl_ms: Some(30.0),
        ttft_stat: Statistic::P99,
        itl_stat: Statistic::P90,
    };
    c.bench_function("size/percentiles gen2 N=128 p99 TTFT p90 ITL", |b| {
        b.iter(|| {
            let model = ReplicaModel::new(h100, chat, 128, 1280).unwrap();
            black_box(size(&model, black_box(&tail)).unwrap())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
