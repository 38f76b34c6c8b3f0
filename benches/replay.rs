//! `wva replay` throughput: a whole hour of the Azure conversation trace (from
//! `../shared/data`; skipped with a notice when missing) through every policy, at the trace's
//! own rate (19,366 requests) and at 10x (193,660 requests, 3 to 11 Qwen2.5-14B/H100
//! replicas), plus the static policy's peak search. Target (issue 9): <= 5 s per policy for an
//! hour of the conv trace.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use wva::load::from_trace::requests;
use wva::perf::RequestShape;
use wva::queueing::Targets;
use wva::replay::policy::controller;
use wva::replay::{
    Fleet, PolicyKind, PolicySettings, ReplayConfig, Sizer, VariantConfig, interval_loads,
    peak_replicas, replay,
};
use wva::sim::setup::{EngineOverrides, engine_config};
use wva::sim::{Request, Router};
use wva::spec::load_profiles;
use wva::trace::{Transforms, read_all};

fn setup(path: &Path, rate_scale: f64) -> (ReplayConfig, Fleet, Vec<Request>) {
    let transforms = Transforms {
        rate_scale,
        ..Transforms::default()
    };
    let records = read_all(path, None, &transforms, false).unwrap();
    let reqs = requests(&records, &vec![0; records.len()], &[Some(0)], 0.0);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let profile = load_profiles(&root.join("profiles/qwen2.5-14b-instruct.yaml"))
        .unwrap()
        .remove(0);
    let max_batch = 128;
    let targets = Targets {
        ttft_ms: Some(800.0),
        itl_ms: Some(40.0),
        ..Default::default()
    };
    let config = ReplayConfig {
        variants: vec![VariantConfig {
            name: "H100".into(),
            engine: engine_config(&profile, max_batch, &EngineOverrides::default()),
            replica_cost_cents_per_hour: 100.0,
            gpus_per_replica: 1,
            max_replicas: 1000,
        }],
        targets,
        interval_s: 60.0,
        window_s: 60.0,
        startup_s: 120.0,
        scrape_s: 15.0,
        router: Router::RoundRobin,
        seed: 1,
        min_replicas: 1,
        max_replicas: 1000,
    };
    let sizer = Sizer::for_profile(
        &profile,
        max_batch,
        targets,
        RequestShape {
            prompt_tokens: 1155.0,
            output_tokens: 211.0,
        },
    );
    let fleet = Fleet::new(&config, vec![sizer]);
    (config, fleet, reqs)
}

fn bench(c: &mut Criterion) {
    let conv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/azure_llm_2023/AzureLLMInferenceTrace_conv.csv");
    if !conv.exists() {
        eprintln!(
            "notice: {} not found: replay benchmarks skipped",
            conv.display()
        );
        return;
    }
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    for scale in [1.0, 10.0] {
        let (config, fleet, reqs) = setup(&conv, scale);
        let loads = interval_loads(&reqs, config.interval_s);
        let settings = PolicySettings {
            static_replicas: Some(10),
            ..PolicySettings::default()
        };
        for kind in PolicyKind::ALL {
            let name = format!("conv hour x{scale} ({} requests), {kind}", reqs.len());
            group.bench_function(name, |b| {
                b.iter(|| {
                    let mut ctl = controller(kind, &settings, &fleet, &loads);
                    black_box(
                        replay(&config, &reqs, &kind.to_string(), ctl.as_mut())
                            .unwrap()
                            .gpu_hours,
                    )
                })
            });
        }
        if scale > 1.0 {
            group.bench_function(
                format!("conv hour x{scale}, static peak search from 8"),
                |b| b.iter(|| black_box(peak_replicas(&config, &reqs, 8, &|n| vec![n]).unwrap())),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
