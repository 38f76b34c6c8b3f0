//! Traces: reading and characterising 1,000,000 rows (Azure format, written to a temporary
//! file first), and replaying the full Azure conversation trace (19,366 requests, from
//! `../shared/data`) through two Llama-3.1-8B/H100 replicas, reading included.
//! Targets (issue 5): 1M rows <= 1 s; the replay <= 0.5 s.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use wva::load::from_trace::requests;
use wva::load::synth::from_distributions;
use wva::queueing::Targets;
use wva::sim::setup::{EngineOverrides, engine_config};
use wva::sim::{GroupConfig, Horizon, Router, SimConfig, Traffic, run};
use wva::spec::{ArrivalProcess, LengthDist, load_profiles};
use wva::trace::stats::StatsBuilder;
use wva::trace::write::write;
use wva::trace::{Format, Trace, Transforms, read_all};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let million = dir.path().join("million.csv");
    let traffic = Traffic {
        rate_rps: 50.0,
        arrivals: ArrivalProcess::Poisson,
        prompt: LengthDist::Lognormal {
            mean: 1000.0,
            cv: 1.0,
        },
        output: LengthDist::Exponential { mean: 200.0 },
    };
    let records = from_distributions(&traffic, Horizon::Requests(1_000_000), 7);
    std::fs::write(&million, write(&records, Format::Azure).unwrap()).unwrap();
    drop(records);

    let mut group = c.benchmark_group("trace");
    group.sample_size(10);
    group.bench_function("stats of 1M Azure rows", |b| {
        b.iter(|| {
            let trace = Trace::open(&million, None, &Transforms::default(), false).unwrap();
            let mut stats = StatsBuilder::new();
            for r in trace {
                stats.add(&r.unwrap());
            }
            black_box(stats.finish())
        })
    });

    let conv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/azure_llm_2023/AzureLLMInferenceTrace_conv.csv");
    if conv.exists() {
        group.bench_function("replay Azure conv (19,366 requests), 2 replicas", |b| {
            b.iter(|| black_box(replay(&conv)))
        });
    } else {
        eprintln!(
            "notice: {} not found: replay benchmark skipped",
            conv.display()
        );
    }
    group.finish();
}

fn replay(path: &Path) -> u64 {
    let records = read_all(path, None, &Transforms::default(), false).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let profile = load_profiles(&root.join("profiles/llama-3.1-8b-instruct.yaml"))
        .unwrap()
        .remove(0);
    let engine = engine_config(&profile, profile.max_batch, &EngineOverrides::default());
    let config = SimConfig {
        groups: vec![GroupConfig {
            name: "conv".into(),
            engines: vec![engine; 2],
            router: Router::RoundRobin,
            targets: Targets::default(),
        }],
        seed: 1,
        timeline_bucket_ms: None,
        record_requests: false,
    };
    let assignment = vec![0; records.len()];
    let requests = requests(&records, &assignment, &[Some(0)], 0.0);
    run(&config, requests, &mut |_| {}).unwrap().groups[0].completed
}

criterion_group!(benches, bench);
criterion_main!(benches);
