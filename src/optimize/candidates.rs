//! Sizing one server on one accelerator type: the max batch to configure (fixed, upstream's
//! search, or exact), the per-replica SLO-bound rate from the analytic model, then replicas,
//! GPUs, cost, and the value a solver minimises (`domain.md` sections 3-4).

use crate::perf::RequestShape;
use crate::queueing::batch::{fewest_replicas, highest_rate_batch};
use crate::queueing::concurrency::{ConcurrencySearch, onset_search};
use crate::queueing::{
    Binding, InvalidModel, Metrics, QueueModel, ReplicaModel, SizingError, Targets, Variability,
    size,
};
use crate::spec::{Accelerator, Profile, Scenario, Workload};
use serde::Serialize;
use std::fmt;

/// More replicas than this for one server is treated as infeasible (the profile is far too
/// slow for the load).
pub const MAX_REPLICAS: u32 = 1_000_000;

/// Upstream's penalty factor for moving a server to another accelerator type.
pub const ACCELERATOR_CHANGE_PENALTY: f64 = 0.1;

/// How the max batch of each replica is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BatchPolicy {
    /// The profile's max batch (scaled by `max_batch_at_output_tokens` when set): what WVA does.
    Fixed,
    /// Upstream's onset search: the smallest max batch within 1% of the throughput at the
    /// profile's max batch (at most six probes).
    Upstream,
    /// The profile's max batch, unless a smaller one needs fewer replicas (searched exactly over
    /// every max batch); then the one of those with the highest SLO-bound rate per replica.
    #[default]
    Exact,
}

impl fmt::Display for BatchPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BatchPolicy::Fixed => "fixed",
            BatchPolicy::Upstream => "upstream",
            BatchPolicy::Exact => "exact",
        })
    }
}

/// What a solver minimises per candidate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// The cost.
    #[default]
    Cost,
    /// Upstream's transition penalty against the current allocation (cost when there is none).
    Transition,
}

/// Options for building candidates.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CandidateOptions {
    /// How to choose the max batch.
    pub batch: BatchPolicy,
    /// What the solvers minimise.
    pub objective: Objective,
    /// Only the current accelerator of a workload that has one (what WVA does in a cluster).
    pub keep_accelerator: bool,
    /// One candidate per distinct max batch of every policy (fixed, upstream, exact) instead of
    /// one per accelerator: the solver then also chooses the batch size.
    pub batch_variants: bool,
    /// Spare capacity to plan for: replicas carry the SLO at `(1 + headroom)` times the
    /// workload's rate (0: none).
    pub headroom: f64,
    /// How the per-replica SLO-bound rate is found.
    pub sizing: SizingMode,
    /// Which queue model gives the wait.
    pub queue_model: QueueModel,
}

/// How the per-replica SLO-bound rate is found.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum SizingMode {
    /// The analytic model (upstream's queue; the tail approximation for percentiles).
    #[default]
    Analytic,
    /// The analytic model's max batch, then the rate bisected with the simulator: one replica
    /// under the workload's own traffic, `requests` requests (plus a 10% warm-up) per probe.
    Simulate {
        /// Requests per probe.
        requests: u64,
        /// Seed of every probe.
        seed: u64,
    },
}

/// One way to serve a server: an accelerator type, a max batch and a replica count.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    /// Accelerator.
    pub accelerator: String,
    /// The accelerator's GPU type (its inventory pool).
    pub gpu_type: String,
    /// Index of the profile in the scenario.
    pub profile_index: usize,
    /// Max batch per replica.
    pub max_batch: u32,
    /// The largest max batch allowed (the profile's, scaled or overridden, and within the KV
    /// cache).
    pub max_batch_limit: u32,
    /// The most requests of this workload's shape the KV cache holds (profiles that state
    /// their capacity).
    pub kv_batch_limit: Option<u32>,
    /// The KV cache, not the engine's max batch, caps this candidate's batch.
    pub kv_bound: bool,
    /// Replicas.
    pub replicas: u32,
    /// For a `tables` profile: how its line for the queue model was fitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analytic_line: Option<String>,
    /// GPUs per replica.
    pub gpus_per_replica: u32,
    /// Cost of one GPU, cents per hour.
    pub gpu_cost_cents_per_hour: f64,
    /// Cost, cents per hour.
    pub cost_cents_per_hour: f64,
    /// What the solver minimises for this candidate (cost or transition penalty).
    pub value: f64,
    /// Predicted mean TTFT at the planned per-replica load, ms.
    pub ttft_ms: f64,
    /// Predicted mean ITL at the planned per-replica load, ms.
    pub itl_ms: f64,
    /// Planned arrival rate per replica, requests/s.
    pub rate_per_replica_rps: f64,
    /// Highest per-replica rate the plan loads a replica with: the SLO-bound rate over
    /// `1 + headroom`, requests/s.
    pub max_rate_per_replica_rps: f64,
    /// Highest per-replica rate within the SLO, requests/s.
    pub slo_rate_per_replica_rps: f64,
    /// Mean batch over max batch at the planned load.
    pub utilization: f64,
    /// What limits the per-replica rate.
    pub binding: Binding,
    /// The replica model at the chosen max batch (for re-evaluating other loads).
    #[serde(skip)]
    pub model: ReplicaModel,
}

impl Candidate {
    /// GPUs in all.
    pub fn gpus(&self) -> u64 {
        u64::from(self.replicas) * u64::from(self.gpus_per_replica)
    }

    /// Cost of one replica, cents per hour.
    pub fn replica_cost(&self) -> f64 {
        self.gpu_cost_cents_per_hour * f64::from(self.gpus_per_replica)
    }

    /// Predicted metrics when this candidate's accelerator serves `rate_rps` with `replicas`
    /// replicas (idle latencies at zero load).
    pub fn metrics_at(&self, rate_rps: f64, replicas: u32) -> Option<Metrics> {
        metrics_at(&self.model, rate_rps, replicas)
    }
}

/// Metrics of `model` serving `rate_rps` spread over `replicas` replicas; at zero load, the idle
/// latencies (at the lowest valid rate).
fn metrics_at(model: &ReplicaModel, rate_rps: f64, replicas: u32) -> Option<Metrics> {
    let per_replica = if replicas > 0 {
        rate_rps / f64::from(replicas)
    } else {
        0.0
    };
    model.analyze(per_replica.max(model.rate_range_rps().0))
}

/// Why an accelerator cannot serve a server.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CandidateError {
    /// The SLO cannot be met at any load.
    #[error(transparent)]
    Sizing(#[from] SizingError),
    /// The parameters do not form a usable model.
    #[error(transparent)]
    Model(#[from] InvalidModel),
    /// The simulator misses the targets even at the lowest rate.
    #[error(
        "in the simulator the targets are missed even at {rate_rps:.3} req/s per replica (the worst statistic is {ratio:.2}x its target)"
    )]
    SimulatedInfeasible {
        /// The lowest rate probed, requests/s.
        rate_rps: f64,
        /// Simulated statistic over target there.
        ratio: f64,
    },
    /// The load needs an absurd number of replicas.
    #[error("needs more than {MAX_REPLICAS} replicas ({max_rate_rps:.3e} req/s per replica)")]
    TooManyReplicas {
        /// Per-replica SLO-bound rate, requests/s.
        max_rate_rps: f64,
    },
}

/// Replicas for `rate_rps` at `max_rate_rps` per replica (upstream's ceiling, with a hair of
/// tolerance so that 3.0000000001 replicas' worth of load needs 3), at least `min_replicas`.
pub(crate) fn replicas_for(
    rate_rps: f64,
    max_rate_rps: f64,
    min_replicas: u32,
) -> Result<u32, CandidateError> {
    let needed = if rate_rps > 0.0 {
        (rate_rps / max_rate_rps - 1e-9).ceil()
    } else {
        0.0
    };
    if needed.is_nan() || needed > f64::from(MAX_REPLICAS) {
        return Err(CandidateError::TooManyReplicas { max_rate_rps });
    }
    Ok((needed as u32).max(min_replicas))
}

/// Sizes `workload` on `profile` (whose accelerator is `accelerator`) for `targets`, choosing
/// the max batch by `batch`, with replicas enough for `(1 + headroom)` times its rate. The
/// candidate's `value` is its cost.
pub fn size_candidate(
    profile_index: usize,
    profile: &Profile,
    accelerator: &Accelerator,
    workload: &Workload,
    targets: &Targets,
    batch: BatchPolicy,
    options: &CandidateOptions,
) -> Result<Candidate, CandidateError> {
    let headroom = options.headroom;
    // The rate replicas are counted for.
    let planned_rps = workload.rate_rps * (1.0 + headroom.max(0.0));
    let shape = RequestShape {
        prompt_tokens: workload.prompt_tokens,
        output_tokens: workload.output_tokens,
    };
    let compute_limit = workload.max_batch_on(profile);
    // The KV cache caps the batch where it holds fewer requests of this shape.
    let kv_limit = profile.kv_batch_limit(
        workload.prompt_tokens,
        workload.output_tokens,
        workload.output_dist.variance(),
    );
    let limit = kv_limit.map_or(compute_limit, |kv| kv.min(compute_limit));
    let queue = |m: u32| profile.queue_for(m);
    let budget = profile.max_num_batched_tokens().max(limit);
    let (perf, surrogate) = profile.analytic_for(&shape, limit, budget);
    let analytic_line = surrogate.map(|s| surrogate_note(&s, limit));
    let full = ReplicaModel::new(perf, shape, limit, queue(limit))?;
    let full = if options.queue_model == QueueModel::Mm1k {
        full
    } else {
        let variability = Variability {
            arrival_scv: workload.arrivals.scv(),
            service_scv: crate::queueing::waiting::service_scv(
                full.curve(),
                workload.prompt_dist.variance(),
                workload.output_dist.variance(),
            ),
        };
        full.with_queue_model(options.queue_model, variability)
    };
    let at_limit = size(&full, targets)?;
    // A workload's own max batch is forced (upstream's per-server maxBatchSize); percentile
    // targets keep the profile's max batch too (the batch searches judge means).
    let percentile = targets.has_percentile();
    let batch = if workload.max_batch.is_some() || percentile {
        BatchPolicy::Fixed
    } else {
        batch
    };
    let max_batch = match batch {
        BatchPolicy::Fixed => limit,
        BatchPolicy::Upstream => {
            let search = onset_search(&full, queue, targets, &ConcurrencySearch::upstream(limit));
            if search.feasible {
                search.max_batch
            } else {
                limit
            }
        }
        BatchPolicy::Exact => {
            let at_limit_replicas = replicas_for(
                planned_rps,
                at_limit.metrics.throughput_rps,
                workload.min_replicas,
            )?;
            fewest_replicas(
                &full,
                queue,
                targets,
                planned_rps,
                workload.min_replicas,
                at_limit_replicas,
            )
            .and_then(|choice| {
                let rate = planned_rps / f64::from(choice.replicas);
                highest_rate_batch(&full, queue, targets, rate)
            })
            .unwrap_or(limit)
        }
    };
    let at_limit_replicas = replicas_for(
        planned_rps,
        at_limit.metrics.throughput_rps,
        workload.min_replicas,
    )?;
    let (model, sizing) = if max_batch == limit {
        (full, at_limit)
    } else {
        let model = full.with_limits(max_batch, queue(max_batch));
        let sizing = size(&model, targets)?;
        // The exact policy keeps the profile's max batch unless the smaller one really needs
        // fewer replicas once sized (its search judges feasibility at the offered rate).
        let fewer = replicas_for(
            planned_rps,
            sizing.metrics.throughput_rps,
            workload.min_replicas,
        )? < at_limit_replicas;
        if batch == BatchPolicy::Exact && !fewer {
            (full, at_limit)
        } else {
            (model, sizing)
        }
    };
    let max_batch = model.max_batch();
    let slo_rate = match options.sizing {
        SizingMode::Analytic => sizing.metrics.throughput_rps,
        SizingMode::Simulate { requests, seed } => simulated_slo_rate(
            profile,
            max_batch,
            workload,
            targets,
            model.rate_range_rps(),
            requests,
            seed,
        )?,
    };
    let max_rate = slo_rate / (1.0 + headroom.max(0.0));
    let replicas = replicas_for(planned_rps, slo_rate, workload.min_replicas)?;
    let per_replica = if replicas > 0 {
        workload.rate_rps / f64::from(replicas)
    } else {
        0.0
    };
    let metrics =
        metrics_at(&model, workload.rate_rps, replicas).ok_or(SizingError::Unevaluable {
            rate_rps: per_replica,
        })?;
    let cost =
        accelerator.cost_cents_per_hour * f64::from(profile.gpus_per_replica) * f64::from(replicas);
    Ok(Candidate {
        accelerator: accelerator.name.clone(),
        gpu_type: accelerator.gpu_type.clone(),
        profile_index,
        max_batch,
        max_batch_limit: limit,
        kv_batch_limit: kv_limit,
        kv_bound: kv_limit.is_some_and(|kv| kv < compute_limit && max_batch == kv),
        replicas,
        gpus_per_replica: profile.gpus_per_replica,
        gpu_cost_cents_per_hour: accelerator.cost_cents_per_hour,
        cost_cents_per_hour: cost,
        value: cost,
        ttft_ms: metrics.ttft_ms,
        itl_ms: metrics.itl_ms,
        rate_per_replica_rps: per_replica,
        max_rate_per_replica_rps: max_rate,
        slo_rate_per_replica_rps: slo_rate,
        utilization: metrics.utilization,
        binding: sizing.binding,
        analytic_line,
        model,
    })
}

/// How a `tables` profile's line for the queue model was fitted (for the plan's notes).
fn surrogate_note(s: &crate::perf::surrogate::Surrogate, max_batch: u32) -> String {
    let named = s.params.named_values();
    let value = |name: &str| {
        named
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0.0, |(_, v)| *v)
    };
    format!(
        "the queue model uses a {} line fitted to the tables over this workload's batches 1-{max_batch} ({} iterations): alpha {:.3} ms, beta {:.3e} ms/token, gamma {:.3e} ms/KV token; mean error {:.1}%, worst {:.1}%",
        s.params.kind(),
        s.points,
        value("alpha"),
        value("beta"),
        value("gamma"),
        s.mean_error * 100.0,
        s.max_error * 100.0
    )
}

/// The highest per-replica rate at which the simulator keeps every target of `targets` (its
/// statistic) for one replica of `profile` with `max_batch` under `workload`'s traffic: a
/// bisection over `range` (the analytic model's valid rates), 10 probes of `requests`
/// requests. Infeasible when even the lowest rate misses.
fn simulated_slo_rate(
    profile: &Profile,
    max_batch: u32,
    workload: &Workload,
    targets: &Targets,
    range: (f64, f64),
    requests: u64,
    seed: u64,
) -> Result<f64, CandidateError> {
    use crate::sim::setup::{EngineOverrides, engine_config};
    use crate::sim::{Generator, Horizon, SimConfig, Traffic, queue_grows, run};
    let config = SimConfig::one_group(
        workload.name.clone(),
        vec![engine_config(
            profile,
            max_batch,
            &EngineOverrides::default(),
        )],
        *targets,
        seed,
    );
    let total = (requests as f64 / 0.9).ceil() as u64;
    // The worst ratio of a simulated statistic to its target (<= 1 meets every target).
    let worst = |rate_rps: f64| -> f64 {
        let traffic = Traffic {
            rate_rps,
            arrivals: workload.arrivals,
            prompt: workload.prompt_dist,
            output: workload.output_dist,
        };
        let Ok(result) = run(
            &config,
            Generator::new(&[traffic], Horizon::Requests(total), 0.1, seed),
            &mut |_| {},
        ) else {
            return f64::INFINITY;
        };
        let g = &result.groups[0];
        let overloaded = queue_grows(
            g.throughput_rps,
            rate_rps,
            g.waiting_at_end as f64 - g.waiting_at_start as f64,
            g.requests as f64,
        );
        if overloaded {
            return f64::INFINITY;
        }
        let ratio = |target: Option<f64>, value: f64| target.map_or(0.0, |t| value / t);
        let r = ratio(targets.ttft_ms, g.ttft_ms.at(targets.ttft_stat))
            .max(ratio(targets.itl_ms, g.itl_ms.at(targets.itl_stat)));
        if r.is_nan() { f64::INFINITY } else { r }
    };
    let (lo, hi) = range;
    if worst(hi) <= 1.0 {
        return Ok(hi);
    }
    let at_lo = worst(lo);
    if at_lo > 1.0 {
        return Err(CandidateError::SimulatedInfeasible {
            rate_rps: lo,
            ratio: at_lo,
        });
    }
    let (mut a, mut b) = (lo, hi);
    for _ in 0..10 {
        let mid = 0.5 * (a + b);
        if worst(mid) <= 1.0 {
            a = mid;
        } else {
            b = mid;
        }
    }
    Ok(a)
}

/// Upstream's transition penalty of moving from the current allocation to `candidate`:
/// 0 when nothing changes; the cost difference on the same accelerator; otherwise
/// `0.1 * (current + new) + (new - current)`.
pub fn transition_penalty(
    current_accelerator: &str,
    current_replicas: u32,
    current_cost: f64,
    candidate: &Candidate,
) -> f64 {
    if candidate.accelerator == current_accelerator {
        if candidate.replicas == current_replicas {
            0.0
        } else {
            candidate.cost_cents_per_hour - current_cost
        }
    } else {
        ACCELERATOR_CHANGE_PENALTY * (current_cost + candidate.cost_cents_per_hour)
            + (candidate.cost_cents_per_hour - current_cost)
    }
}

/// A server with its candidates and the accelerators that could not serve it.
#[derive(Clone, Debug)]
pub struct ServerCandidates<'a> {
    /// The workload.
    pub workload: &'a Workload,
    /// Its class's priority.
    pub priority: u32,
    /// Its mean targets.
    pub targets: Targets,
    /// Feasible candidates, in profile order.
    pub candidates: Vec<Candidate>,
    /// `(accelerator, reason)` for every profile that could not serve it.
    pub rejected: Vec<(String, String)>,
}

/// Sizes a workload on every accelerator it has a profile for (only its current one with
/// `keep_accelerator`), and sets each candidate's value for the objective.
pub fn server_candidates<'a>(
    scenario: &'a Scenario,
    workload: &'a Workload,
    options: &CandidateOptions,
) -> ServerCandidates<'a> {
    let targets = scenario.slo_targets(workload);
    let priority = scenario
        .service_class(&workload.service_class)
        .map_or(u32::MAX, |c| c.priority);
    let keep = workload
        .current
        .as_ref()
        .filter(|c| options.keep_accelerator || c.keep)
        .map(|c| c.accelerator.as_str());
    let mut candidates = Vec::new();
    let mut rejected = Vec::new();
    for (i, profile) in scenario.profiles.iter().enumerate() {
        if profile.model != workload.model || keep.is_some_and(|acc| acc != profile.accelerator) {
            continue;
        }
        let Some(accelerator) = scenario.accelerator(&profile.accelerator) else {
            continue;
        };
        let policies: &[BatchPolicy] = if options.batch_variants {
            &[
                BatchPolicy::Fixed,
                BatchPolicy::Upstream,
                BatchPolicy::Exact,
            ]
        } else {
            std::slice::from_ref(&options.batch)
        };
        let mut failure = None;
        let before = candidates.len();
        for &policy in policies {
            match size_candidate(i, profile, accelerator, workload, &targets, policy, options) {
                Ok(c) => {
                    if !candidates
                        .iter()
                        .any(|d: &Candidate| d.profile_index == i && d.max_batch == c.max_batch)
                    {
                        candidates.push(c);
                    }
                }
                Err(e) => failure = Some(e),
            }
        }
        if let (Some(e), true) = (failure, candidates.len() == before) {
            rejected.push((accelerator.name.clone(), e.to_string()));
        }
    }
    if options.objective == Objective::Transition
        && let Some(current) = &workload.current
    {
        let current_cost = current.cost_cents_per_hour.unwrap_or_else(|| {
            scenario
                .profile(&workload.model, &current.accelerator)
                .zip(scenario.accelerator(&current.accelerator))
                .map_or(0.0, |(p, a)| {
                    a.cost_cents_per_hour
                        * f64::from(p.gpus_per_replica)
                        * f64::from(current.replicas)
                })
        });
        for c in &mut candidates {
            c.value = transition_penalty(&current.accelerator, current.replicas, current_cost, c);
        }
    }
    ServerCandidates {
        workload,
        priority,
        targets,
        candidates,
        rejected,
    }
}

impl crate::error::ModuleError for CandidateError {}
