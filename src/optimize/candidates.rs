//! Sizing one server on one accelerator type: the per-replica SLO-bound rate from the analytic
//! model, then replicas, GPUs and cost (`domain.md` section 3).

use crate::perf::RequestShape;
use crate::queueing::{Binding, InvalidModel, ReplicaModel, SizingError, Targets, size};
use crate::spec::{Accelerator, Profile, Scenario, Statistic, Workload};
use serde::Serialize;

/// More replicas than this for one server is treated as infeasible (the profile is far too
/// slow for the load).
pub const MAX_REPLICAS: u32 = 1_000_000;

/// One way to serve a server: an accelerator type, a max batch and a replica count.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    /// Accelerator type.
    pub accelerator: String,
    /// Index of the profile in the scenario.
    pub profile_index: usize,
    /// Max batch per replica.
    pub max_batch: u32,
    /// Replicas.
    pub replicas: u32,
    /// GPUs per replica.
    pub gpus_per_replica: u32,
    /// Cost, cents per hour.
    pub cost_cents_per_hour: f64,
    /// Predicted mean TTFT at the planned per-replica load, ms.
    pub ttft_ms: f64,
    /// Predicted mean ITL at the planned per-replica load, ms.
    pub itl_ms: f64,
    /// Planned arrival rate per replica, requests/s.
    pub rate_per_replica_rps: f64,
    /// Highest per-replica rate within the SLO, requests/s.
    pub max_rate_per_replica_rps: f64,
    /// Mean batch over max batch at the planned load.
    pub utilization: f64,
    /// What limits the per-replica rate.
    pub binding: Binding,
}

impl Candidate {
    /// GPUs in all.
    pub fn gpus(&self) -> u64 {
        u64::from(self.replicas) * u64::from(self.gpus_per_replica)
    }
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
    /// The load needs an absurd number of replicas.
    #[error("needs more than {MAX_REPLICAS} replicas ({max_rate_rps:.3e} req/s per replica)")]
    TooManyReplicas {
        /// Per-replica SLO-bound rate, requests/s.
        max_rate_rps: f64,
    },
}

/// Mean latency targets of a workload's class for its model (percentiles are refused earlier).
pub fn mean_targets(scenario: &Scenario, workload: &Workload) -> Targets {
    let slo = scenario
        .service_class(&workload.service_class)
        .and_then(|c| c.targets_for(&workload.model));
    let mean = |t: Option<crate::spec::LatencyTarget>| {
        t.filter(|t| t.statistic == Statistic::Mean).map(|t| t.ms)
    };
    Targets {
        ttft_ms: slo.and_then(|s| mean(s.ttft)),
        itl_ms: slo.and_then(|s| mean(s.itl)),
    }
}

/// Sizes `workload` on `profile` (whose accelerator is `accelerator`) for `targets`.
pub fn size_candidate(
    profile_index: usize,
    profile: &Profile,
    accelerator: &Accelerator,
    workload: &Workload,
    targets: &Targets,
) -> Result<Candidate, CandidateError> {
    let shape = RequestShape {
        prompt_tokens: workload.prompt_tokens,
        output_tokens: workload.output_tokens,
    };
    let model = ReplicaModel::new(profile.perf, shape, profile.max_batch, profile.max_queue)?;
    let sizing = size(&model, targets)?;
    let max_rate = sizing.metrics.throughput_rps;
    let needed = if workload.rate_rps > 0.0 {
        // A hair of tolerance so that 3.0000000001 replicas' worth of load needs 3.
        (workload.rate_rps / max_rate - 1e-9).ceil()
    } else {
        0.0
    };
    if needed.is_nan() || needed > f64::from(MAX_REPLICAS) {
        return Err(CandidateError::TooManyReplicas {
            max_rate_rps: max_rate,
        });
    }
    let replicas = (needed as u32).max(workload.min_replicas);
    let per_replica = if replicas > 0 {
        workload.rate_rps / f64::from(replicas)
    } else {
        0.0
    };
    // At zero load, report the idle latencies (the lowest valid rate).
    let metrics = model
        .analyze(per_replica.max(model.rate_range_rps().0))
        .ok_or(SizingError::Unevaluable {
            rate_rps: per_replica,
        })?;
    Ok(Candidate {
        accelerator: accelerator.name.clone(),
        profile_index,
        max_batch: profile.max_batch,
        replicas,
        gpus_per_replica: profile.gpus_per_replica,
        cost_cents_per_hour: accelerator.cost_cents_per_hour
            * f64::from(profile.gpus_per_replica)
            * f64::from(replicas),
        ttft_ms: metrics.ttft_ms,
        itl_ms: metrics.itl_ms,
        rate_per_replica_rps: per_replica,
        max_rate_per_replica_rps: max_rate,
        utilization: metrics.utilization,
        binding: sizing.binding,
    })
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

/// Sizes a workload on every accelerator it has a profile for.
pub fn server_candidates<'a>(
    scenario: &'a Scenario,
    workload: &'a Workload,
) -> ServerCandidates<'a> {
    let targets = mean_targets(scenario, workload);
    let priority = scenario
        .service_class(&workload.service_class)
        .map_or(u32::MAX, |c| c.priority);
    let mut candidates = Vec::new();
    let mut rejected = Vec::new();
    for (i, profile) in scenario.profiles.iter().enumerate() {
        if profile.model != workload.model {
            continue;
        }
        let Some(accelerator) = scenario.accelerator(&profile.accelerator) else {
            continue;
        };
        match size_candidate(i, profile, accelerator, workload, &targets) {
            Ok(c) => candidates.push(c),
            Err(e) => rejected.push((accelerator.name.clone(), e.to_string())),
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
