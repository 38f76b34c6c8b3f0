//! `wva plan` on a generated 1,000-workload x 9-accelerator scenario (9,000 candidates), the
//! whole pipeline: candidates (in parallel), solver, report. No inventory, so the solver is
//! `unlimited`; `exact` and `fixed` are the max-batch policies.
//! Target (issue 2): <= 1 s.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use wva::optimize::generate::synthetic_scenario;
use wva::optimize::{BatchPolicy, CandidateOptions, PlanOptions, plan};

fn bench(c: &mut Criterion) {
    let scenario = synthetic_scenario(1000, 9, 42);
    let mut group = c.benchmark_group("plan");
    group.sample_size(10);
    for batch in [BatchPolicy::Fixed, BatchPolicy::Exact] {
        let options = PlanOptions {
            candidates: CandidateOptions {
                batch,
                ..CandidateOptions::default()
            },
            ..PlanOptions::default()
        };
        group.bench_function(
            format!("1000 workloads x 9 accelerators, batch {batch}"),
            |b| b.iter(|| black_box(plan(black_box(&scenario), &options).unwrap())),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
