//! From a scenario and an allocation to a simulation: one group of engines per workload (with
//! each profile's cost model and engine settings), its synthetic traffic, and the analytic
//! model's prediction at the same load for comparison.

use super::engine::{DEFAULT_BLOCK_SIZE, EngineConfig};
use super::fleet::Router;
use super::{GroupConfig, SimConfig};
use crate::load::Traffic;
use crate::perf::{DEFAULT_MAX_NUM_BATCHED_TOKENS, PerfParams, RequestShape};
use crate::queueing::ReplicaModel;
use crate::spec::{Profile, Scenario};
use serde::Serialize;

/// Part of a workload's fleet: replicas of one profile with one max batch.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetPart {
    /// Index of the profile in the scenario.
    pub profile: usize,
    /// Replicas.
    pub replicas: u32,
    /// Max batch (`max_num_seqs`) of each replica.
    pub max_batch: u32,
}

/// A workload's fleet.
#[derive(Clone, Debug, PartialEq)]
pub struct Fleet {
    /// Index of the workload in the scenario.
    pub workload: usize,
    /// Its parts (one, or several for a mixed allocation).
    pub parts: Vec<FleetPart>,
}

/// Engine settings given on the command line (vLLM's names), overriding the profiles'.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EngineOverrides {
    /// `--max-num-seqs`.
    pub max_num_seqs: Option<u32>,
    /// `--max-num-batched-tokens`.
    pub max_num_batched_tokens: Option<u32>,
    /// KV-cache capacity, tokens.
    pub kv_capacity_tokens: Option<u64>,
    /// KV block size, tokens.
    pub block_size: Option<u32>,
    /// vLLM's prefix caching (`None`: on, vLLM's default).
    pub prefix_caching: Option<bool>,
    /// Iteration-time noise, coefficient of variation.
    pub noise_cv: f64,
}

/// The analytic model's mean latencies at the simulated per-replica load.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Analytic {
    /// Mean TTFT, ms.
    pub ttft_ms: f64,
    /// Mean ITL, ms.
    pub itl_ms: f64,
    /// Mean wait before service, ms.
    pub wait_ms: f64,
    /// Mean prefill time, ms. Upstream's TTFT is `wait + prefill + ITL` (one decode step
    /// more than vLLM, which emits the first token when the prefill ends); `wait + prefill` is
    /// the like-for-like figure for a simulated TTFT.
    pub prefill_ms: f64,
    /// Per-replica arrival rate, requests/s.
    pub rate_per_replica_rps: f64,
    /// The replica's maximum stable rate, requests/s.
    pub max_rate_rps: f64,
}

/// The engine settings of a replica of `profile` with max batch `max_batch`.
pub fn engine_config(profile: &Profile, max_batch: u32, o: &EngineOverrides) -> EngineConfig {
    // A replica of lockstep ranks: each rank runs its share of the replica's batch.
    let max_num_seqs = o
        .max_num_seqs
        .unwrap_or(max_batch.div_ceil(profile.cost.ranks().max(1)));
    let budget = match profile.perf {
        PerfParams::V3(p) => p.max_num_batched_tokens,
        _ => DEFAULT_MAX_NUM_BATCHED_TOKENS,
    };
    // vLLM requires the budget to hold a decode token per sequence.
    let max_num_batched_tokens = o.max_num_batched_tokens.unwrap_or(budget.max(max_num_seqs));
    let block_size = o.block_size.unwrap_or(DEFAULT_BLOCK_SIZE);
    EngineConfig {
        cost: profile.cost.clone(),
        max_num_seqs,
        max_num_batched_tokens,
        kv_capacity_tokens: o
            .kv_capacity_tokens
            .or_else(|| profile.kv_capacity_for(max_num_seqs, max_num_batched_tokens, block_size)),
        block_size,
        prefix_caching: o.prefix_caching.unwrap_or(true),
        noise_cv: o.noise_cv,
    }
}

/// The simulation of `fleets` on `scenario`: its configuration, each workload's traffic (in the
/// same order as the groups), and the analytic predictions (single-part fleets only).
pub fn build(
    scenario: &Scenario,
    fleets: &[Fleet],
    overrides: &EngineOverrides,
    router: Router,
    seed: u64,
    timeline_bucket_ms: Option<f64>,
) -> (SimConfig, Vec<Traffic>, Vec<Option<Analytic>>) {
    let mut groups = Vec::new();
    let mut traffic = Vec::new();
    let mut analytic = Vec::new();
    for fleet in fleets {
        let w = &scenario.workloads[fleet.workload];
        let mut engines = Vec::new();
        for part in &fleet.parts {
            let profile = &scenario.profiles[part.profile];
            engines.extend(std::iter::repeat_n(
                engine_config(profile, part.max_batch, overrides),
                part.replicas as usize,
            ));
        }
        groups.push(GroupConfig {
            name: w.name.clone(),
            engines,
            router,
            targets: scenario.slo_targets(w),
        });
        traffic.push(Traffic {
            rate_rps: w.rate_rps,
            arrivals: w.arrivals,
            prompt: w.prompt_dist,
            output: w.output_dist,
        });
        analytic.push(match fleet.parts.as_slice() {
            [part] if part.replicas > 0 => {
                let profile = &scenario.profiles[part.profile];
                let e = engine_config(profile, part.max_batch, overrides);
                let shape = RequestShape {
                    prompt_tokens: w.prompt_tokens,
                    output_tokens: w.output_tokens,
                };
                // A replica of several lockstep ranks is one queue with their batches.
                let max_batch = e.max_num_seqs.saturating_mul(e.cost.ranks());
                let (perf, _) = profile.analytic_for(&shape, max_batch, e.max_num_batched_tokens);
                // The engine's token budget, which flags may override, also shapes the
                // chunked-prefill (gen-3) analytic model.
                let perf = match perf {
                    PerfParams::V3(p) => PerfParams::V3(crate::perf::Gen3Params {
                        max_num_batched_tokens: e.max_num_batched_tokens,
                        ..p
                    }),
                    other => other,
                };
                ReplicaModel::new(perf, shape, max_batch, profile.queue_for(max_batch))
                    .ok()
                    .and_then(|m| {
                        let rate = w.rate_rps / f64::from(part.replicas);
                        m.analyze(rate.max(m.rate_range_rps().0)).map(|x| Analytic {
                            ttft_ms: x.ttft_ms,
                            itl_ms: x.itl_ms,
                            wait_ms: x.wait_ms,
                            prefill_ms: x.prefill_ms,
                            rate_per_replica_rps: rate,
                            max_rate_rps: x.max_rate_rps,
                        })
                    })
            }
            _ => None,
        });
    }
    (
        SimConfig {
            groups,
            seed,
            timeline_bucket_ms,
            record_requests: false,
        },
        traffic,
        analytic,
    )
}
