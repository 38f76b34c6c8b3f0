//! Fitting perf-model parameters from 100,000 observations: plain and robust (Huber) wva-v2,
//! wva-v1, and reading plus fitting a 100,000-row CSV end to end. Target (issue 6): <= 1 s.

use criterion::{Criterion, criterion_group, criterion_main};
use rand::{RngExt, SeedableRng};
use std::hint::black_box;
use wva::estimate::read::{ColumnMap, Filters, SourceFormat, read_observations};
use wva::estimate::{FitOptions, Kind, Loss, Observation, Work, fit};
use wva::perf::PerfModelKind;

/// 100,000 decode and prefill iterations of a known model with 5% multiplicative noise.
fn observations() -> Vec<Observation> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    (0..100_000)
        .map(|i| {
            let (work, kind) = if i % 4 == 0 {
                let prompt = f64::from(rng.random_range(64..8192u32));
                (Work::prefill(1.0, prompt), Kind::Prefill)
            } else {
                let batch = f64::from(rng.random_range(1..=256u32));
                let context = f64::from(rng.random_range(128..4096u32));
                (Work::decode(batch, context), Kind::Decode)
            };
            let truth = 12.0 + 0.05 * work.tokens + 0.0005 * work.kv_tokens;
            Observation {
                work,
                time_ms: truth * (1.0 + 0.05 * (rng.random::<f64>() * 2.0 - 1.0)),
                kind,
                batch: work.running,
                origin: format!("bench:{i}"),
                file: 0,
                per_unit: 1.0,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let obs = observations();
    let mut group = c.benchmark_group("estimate");
    group.sample_size(20);
    for (name, model, robust) in [
        ("fit 100k wva-v2", PerfModelKind::V2, false),
        ("fit 100k wva-v2 robust", PerfModelKind::V2, true),
        ("fit 100k wva-v1", PerfModelKind::V1, false),
    ] {
        let options = FitOptions {
            model,
            loss: if robust { Loss::Huber } else { Loss::Squares },
            ..FitOptions::default()
        };
        group.bench_function(name, |b| {
            b.iter(|| black_box(fit(black_box(&obs), &options).unwrap()))
        });
    }
    // The same observations as a generic CSV, read and fitted.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iterations.csv");
    let mut text = String::from("batch,time_ms,kv_tokens,prefill_tokens\n");
    for o in &obs {
        let batch = o.work.tokens - o.work.prefill_tokens;
        text.push_str(&format!(
            "{batch},{:.4},{},{}\n",
            o.time_ms, o.work.kv_tokens, o.work.prefill_tokens
        ));
    }
    std::fs::write(&path, text).unwrap();
    let filters = Filters {
        columns: ColumnMap::default(),
        ..Filters::default()
    };
    let paths = [path];
    group.bench_function("read + fit 100k-row CSV wva-v2", |b| {
        b.iter(|| {
            let obs = read_observations(&paths, Some(SourceFormat::Csv), &filters).unwrap();
            black_box(fit(&obs, &FitOptions::default()).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
