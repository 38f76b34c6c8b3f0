//! Synthetic planning instances for benchmarks and property tests: `n` workloads over `m`
//! accelerator types, every model profiled on every type, deterministic from a seed.
//!
//! The numbers are in the range of the published profiles (alpha 5-40 ms, beta 0.01-0.1 ms per
//! token, gamma 1e-5-1e-3 ms per KV token; costs 5-120 cents per GPU-hour), so the sizing work
//! per candidate is representative.

use crate::perf::{Gen2Params, PerfParams};
use crate::spec::{
    Accelerator, ArrivalProcess, LatencyTarget, LengthDist, Profile, Scenario, ScenarioParts,
    ServiceClass, SloTarget, Statistic, Workload,
};

/// A tiny deterministic generator (SplitMix64), so instances do not depend on a crate's RNG.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeds the generator.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `lo..=hi`.
    pub fn int(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next_u64() % u64::from(hi - lo + 1)) as u32
    }
}

/// A scenario with `workloads` workloads (over `workloads/10 + 1` models and three service
/// classes) and `accelerators` accelerator types.
pub fn synthetic_scenario(workloads: usize, accelerators: usize, seed: u64) -> Scenario {
    let mut rng = SplitMix64::new(seed);
    let models = workloads / 10 + 1;
    let accs: Vec<Accelerator> = (0..accelerators)
        .map(|i| Accelerator {
            name: format!("acc{i}"),
            gpu_type: format!("acc{i}"),
            device: None,
            cost_cents_per_hour: rng.uniform(5.0, 120.0),
            inventory_gpus: None,
            memory_gb: None,
            interconnect: None,
        })
        .collect();
    let mut profiles = Vec::new();
    for m in 0..models {
        for (i, a) in accs.iter().enumerate() {
            // Faster (lower alpha/beta) accelerators tend to cost more.
            let speed = 0.5 + (i as f64 / accelerators.max(1) as f64) + rng.uniform(0.0, 0.5);
            let gpus_per_replica = [1, 1, 2, 4][rng.int(0, 3) as usize];
            let max_batch = [32, 64, 128, 256][rng.int(0, 3) as usize];
            let perf = PerfParams::V2(Gen2Params {
                alpha_ms: rng.uniform(5.0, 40.0) / speed,
                beta_ms_per_token: rng.uniform(0.01, 0.1) / speed,
                gamma_ms_per_kv_token: rng.uniform(1e-5, 1e-3) / speed,
            });
            profiles.push(Profile {
                model: format!("model{m}"),
                accelerator: a.name.clone(),
                gpus_per_replica,
                max_batch,
                max_queue: None,
                max_batch_at_output_tokens: None,
                perf,
                kv_capacity_tokens: None,
                kv_auto: None,
                architecture: None,
                cost: crate::perf::CostModel::Linear(perf),
                source: "synthetic benchmark instance".into(),
                provenance: None,
            });
        }
    }
    let classes: Vec<ServiceClass> = [
        ("premium", 1, 2000.0, 60.0),
        ("standard", 5, 5000.0, 120.0),
        ("batch", 10, 20000.0, 300.0),
    ]
    .iter()
    .map(|&(name, priority, ttft, itl)| ServiceClass {
        name: name.into(),
        priority,
        description: None,
        targets: vec![SloTarget {
            model: crate::spec::ANY_MODEL.into(),
            ttft: Some(LatencyTarget {
                statistic: Statistic::Mean,
                ms: ttft,
            }),
            itl: Some(LatencyTarget {
                statistic: Statistic::Mean,
                ms: itl,
            }),
        }],
    })
    .collect();
    let loads: Vec<Workload> = (0..workloads)
        .map(|i| Workload {
            name: format!("w{i}"),
            model: format!("model{}", i % models),
            service_class: classes[i % 3].name.clone(),
            rate_rps: rng.uniform(0.1, 50.0),
            prompt_tokens: 0.0,
            output_tokens: 0.0,
            prompt_dist: LengthDist::Fixed {
                mean: rng.uniform(100.0, 4000.0),
            },
            output_dist: LengthDist::Fixed {
                mean: rng.uniform(20.0, 800.0),
            },
            arrivals: ArrivalProcess::Poisson,
            min_replicas: 1,
            max_batch: None,
            current: None,
        })
        .map(|mut w| {
            w.prompt_tokens = w.prompt_dist.mean();
            w.output_tokens = w.output_dist.mean();
            w
        })
        .collect();
    let parts = ScenarioParts::in_memory("synthetic", accs, profiles, classes, loads);
    Scenario::from_parts(parts).unwrap_or_else(|e| unreachable!("generated scenario is valid: {e}"))
}

/// [`synthetic_scenario`] with an inventory on every accelerator type: `fraction` (per type,
/// drawn from `fraction.0..fraction.1`) of the GPUs the unlimited plan would use on that type,
/// so that the inventory binds and the solvers have choices to make.
pub fn synthetic_limited_scenario(
    workloads: usize,
    accelerators: usize,
    seed: u64,
    fraction: (f64, f64),
) -> Scenario {
    let mut scenario = synthetic_scenario(workloads, accelerators, seed);
    let options = super::CandidateOptions::default();
    let problem = super::problem(&scenario, &options);
    let unlimited = super::Solver::solve(&super::Unlimited, &problem);
    let used = unlimited.gpus_used(&problem);
    let mut rng = SplitMix64::new(seed ^ 0x5EED);
    let inventory: Vec<u64> = scenario
        .accelerators
        .iter()
        .map(|a| {
            let base = used.get(&a.gpu_type).copied().unwrap_or(0) as f64;
            (base * rng.uniform(fraction.0, fraction.1)).round() as u64 + u64::from(rng.int(0, 4))
        })
        .collect();
    for (a, n) in scenario.accelerators.iter_mut().zip(inventory) {
        a.inventory_gpus = Some(n);
    }
    scenario
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_instance() {
        assert_eq!(synthetic_scenario(30, 4, 1), synthetic_scenario(30, 4, 1));
        assert_ne!(synthetic_scenario(30, 4, 1), synthetic_scenario(30, 4, 2));
        let s = synthetic_scenario(1000, 9, 7);
        assert_eq!(s.workloads.len(), 1000);
        assert_eq!(s.accelerators.len(), 9);
        assert_eq!(s.profiles.len(), 101 * 9);
    }
}
