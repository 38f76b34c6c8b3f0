//! The plan as reported: one row per allocation (several for a mixed server), the servers left
//! out, GPU usage per type, and totals.

use super::candidates::{BatchPolicy, Candidate, Objective};
use super::problem::{Choice, Problem, Solution, SolveStatus};
use super::{PlanOptions, SolverKind, UnallocatedReason};
use crate::queueing::Binding;
use crate::slo::Statistic;
use crate::spec::Scenario;
use serde::Serialize;
use std::collections::BTreeMap;

/// One allocation row.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Allocation {
    /// Workload name (upstream's server name).
    pub workload: String,
    /// Service class.
    pub service_class: String,
    /// Class priority (1 = most important).
    pub priority: u32,
    /// Model.
    pub model: String,
    /// Accelerator.
    pub accelerator: String,
    /// Its GPU type (inventory pool).
    pub gpu_type: String,
    /// Replicas.
    pub replicas: u32,
    /// Max batch configured on each replica (vLLM `--max-num-seqs`).
    pub max_batch: u32,
    /// The largest max batch the profile allows for this workload (within the KV cache).
    pub max_batch_limit: u32,
    /// The most requests of this workload's shape one replica's KV cache holds (profiles that
    /// state `kv_capacity_tokens`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_batch_limit: Option<u32>,
    /// The KV cache, not compute, limits the batch: the max batch is the KV limit.
    pub kv_bound: bool,
    /// GPUs per replica.
    pub gpus_per_replica: u32,
    /// GPUs in all.
    pub gpus: u64,
    /// Cost, cents per hour (upstream's unit).
    pub cost: f64,
    /// Predicted mean TTFT at the planned load per replica, ms.
    pub ttft_ms: f64,
    /// Predicted mean ITL, ms.
    pub itl_ms: f64,
    /// TTFT target, ms.
    pub slo_ttft_ms: Option<f64>,
    /// ITL target, ms.
    pub slo_itl_ms: Option<f64>,
    /// The statistic the TTFT target bounds (`mean`, `p90`, `p99`, ...).
    pub slo_ttft_statistic: String,
    /// The statistic the ITL target bounds.
    pub slo_itl_statistic: String,
    /// Predicted TTFT for the target's statistic at the planned load (the mean, or the
    /// percentile by the tail approximation), ms.
    pub ttft_at_slo_statistic_ms: f64,
    /// Predicted ITL for the target's statistic, ms.
    pub itl_at_slo_statistic_ms: f64,
    /// Arrival rate this row serves, requests/s (the workload's, or its share when mixed).
    pub rate_rps: f64,
    /// The workload's mean prompt tokens.
    pub prompt_tokens: f64,
    /// The workload's mean output tokens.
    pub output_tokens: f64,
    /// Arrival rate per replica, requests/s.
    pub rate_per_replica_rps: f64,
    /// The highest rate the plan loads one replica with (the SLO-bound rate over
    /// `1 + headroom`), requests/s.
    pub max_rate_per_replica_rps: f64,
    /// The highest rate one replica sustains within the SLO, requests/s.
    pub slo_rate_per_replica_rps: f64,
    /// How much this row's load can grow, as a fraction, before the model says its first SLO
    /// breaks (replicas x SLO-bound rate / rate - 1; absent without load).
    pub load_growth_to_breach: Option<f64>,
    /// Mean batch over max batch at the planned load.
    pub utilization: f64,
    /// What limits the per-replica rate.
    pub binding: Binding,
    /// Fewer replicas than the load needs (a saturation policy's best effort): the SLO is not
    /// met.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// For a partial allocation: the replicas the load needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas_needed: Option<u32>,
}

/// A server left without an allocation.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Unallocated {
    /// Workload name.
    pub workload: String,
    /// Service class.
    pub service_class: String,
    /// Model.
    pub model: String,
    /// Category.
    pub reason: UnallocatedReason,
    /// Explanation.
    pub detail: String,
}

/// GPU usage of one GPU type.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AcceleratorUsage {
    /// GPU type.
    pub gpu_type: String,
    /// Accelerators of the type that the plan uses.
    pub accelerators: Vec<String>,
    /// GPUs used.
    pub gpus_used: u64,
    /// GPUs available (absent: unlimited).
    pub gpus_available: Option<u64>,
    /// Cost of the GPUs used, cents per hour.
    pub cost: f64,
}

/// The result of planning a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Plan {
    /// Scenario name.
    pub scenario: String,
    /// Solver used.
    pub solver: SolverKind,
    /// How good the answer is known to be.
    pub status: SolveStatus,
    /// How max batches were chosen.
    pub batch_policy: BatchPolicy,
    /// How per-replica rates were sized: `analytic` or `simulate`.
    pub sizing: &'static str,
    /// The queue model of the wait.
    pub queue_model: crate::queueing::QueueModel,
    /// What was minimised.
    pub objective: Objective,
    /// Unit of every `cost` field.
    pub cost_unit: &'static str,
    /// Allocation rows, in scenario order.
    pub allocations: Vec<Allocation>,
    /// Servers left out, with the reason.
    pub unallocated: Vec<Unallocated>,
    /// GPU usage per type.
    pub by_accelerator: Vec<AcceleratorUsage>,
    /// Spare capacity planned for (`--headroom`): replicas carry the SLO at `1 + headroom`
    /// times each workload's rate.
    pub headroom: f64,
    /// How much the load of every workload can grow together, as a fraction, before the
    /// model says the first SLO breaks (the smallest growth over the fully served rows).
    pub load_growth_to_breach: Option<f64>,
    /// The workload whose SLO breaks first.
    pub first_to_breach: Option<String>,
    /// Sum of allocation costs, cents per hour.
    pub total_cost: f64,
    /// Sum of allocated GPUs.
    pub total_gpus: u64,
    /// Things to know about this plan (time limits, fallbacks, partial allocations).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Plan {
    /// The JSON Schema of a plan as `wva plan -o json` writes it (`wva schema plan`).
    pub fn json_schema() -> serde_json::Value {
        crate::spec::schema::output_schema::<Plan>("wva plan (wva plan -o json)")
    }

    /// True when every server is fully allocated.
    pub fn is_complete(&self) -> bool {
        self.not_fully_served() == 0
    }

    /// How many workloads are not fully served: left unallocated, or allocated in part.
    pub fn not_fully_served(&self) -> usize {
        self.unallocated.len() + self.allocations.iter().filter(|a| a.partial).count()
    }
}

fn row(
    server: &super::ServerCandidates,
    cand: &Candidate,
    replicas: u32,
    rate_rps: f64,
    partial: bool,
) -> Allocation {
    let w = server.workload;
    let (ttft_ms, itl_ms, utilization) = if replicas == cand.replicas
        && (rate_rps - w.rate_rps).abs() <= 1e-12 * w.rate_rps.max(1.0)
    {
        (cand.ttft_ms, cand.itl_ms, cand.utilization)
    } else {
        cand.metrics_at(rate_rps, replicas)
            .map_or((f64::NAN, f64::NAN, f64::NAN), |m| {
                (m.ttft_ms, m.itl_ms, m.utilization)
            })
    };
    let per_replica = if replicas > 0 {
        rate_rps / f64::from(replicas)
    } else {
        0.0
    };
    let at_stat =
        |stat: Statistic, mean: f64, quantile: &dyn Fn(f64, f64) -> Option<f64>| match stat
            .quantile()
        {
            None => mean,
            Some(q) => {
                quantile(per_replica.max(cand.model.rate_range_rps().0), q).unwrap_or(f64::NAN)
            }
        };
    let targets = &server.targets;
    let ttft_at_stat = at_stat(targets.ttft_stat, ttft_ms, &|r, q| {
        cand.model.ttft_quantile_ms(r, q)
    });
    let itl_at_stat = at_stat(targets.itl_stat, itl_ms, &|r, q| {
        cand.model.itl_quantile_ms(r, q)
    });
    Allocation {
        slo_ttft_statistic: targets.ttft_stat.to_string(),
        slo_itl_statistic: targets.itl_stat.to_string(),
        ttft_at_slo_statistic_ms: ttft_at_stat,
        itl_at_slo_statistic_ms: itl_at_stat,
        workload: w.name.clone(),
        service_class: w.service_class.clone(),
        priority: server.priority,
        model: w.model.clone(),
        accelerator: cand.accelerator.clone(),
        gpu_type: cand.gpu_type.clone(),
        replicas,
        max_batch: cand.max_batch,
        max_batch_limit: cand.max_batch_limit,
        kv_batch_limit: cand.kv_batch_limit,
        kv_bound: cand.kv_bound,
        gpus_per_replica: cand.gpus_per_replica,
        gpus: u64::from(replicas) * u64::from(cand.gpus_per_replica),
        cost: cand.replica_cost() * f64::from(replicas),
        ttft_ms,
        itl_ms,
        slo_ttft_ms: server.targets.ttft_ms,
        slo_itl_ms: server.targets.itl_ms,
        rate_rps,
        prompt_tokens: w.prompt_tokens,
        output_tokens: w.output_tokens,
        rate_per_replica_rps: if replicas > 0 {
            rate_rps / f64::from(replicas)
        } else {
            0.0
        },
        max_rate_per_replica_rps: cand.max_rate_per_replica_rps,
        slo_rate_per_replica_rps: cand.slo_rate_per_replica_rps,
        load_growth_to_breach: (rate_rps > 0.0)
            .then(|| f64::from(replicas) * cand.slo_rate_per_replica_rps / rate_rps - 1.0),
        utilization,
        binding: cand.binding,
        partial,
        replicas_needed: partial.then_some(cand.replicas),
    }
}

/// Turns a solution into the reported plan.
pub(super) fn build(
    scenario: &Scenario,
    problem: &Problem,
    solution: &Solution,
    solver: SolverKind,
    options: &PlanOptions,
) -> Plan {
    let mut allocations = Vec::new();
    let mut unallocated = Vec::new();
    let mut notes = solution.notes.clone();
    for (server, choice) in problem.servers.iter().zip(&solution.choices) {
        let w = server.workload;
        match choice {
            Choice::Unplaced(u) => unallocated.push(Unallocated {
                workload: w.name.clone(),
                service_class: w.service_class.clone(),
                model: w.model.clone(),
                reason: u.reason,
                detail: u.detail.clone(),
            }),
            Choice::Single {
                candidate,
                replicas,
            } => {
                let cand = &server.candidates[*candidate];
                let partial = *replicas < cand.replicas;
                if partial {
                    notes.push(format!(
                        "{}: only {} of the {} replicas it needs fit in the inventory ({} saturation policy); its SLO is not met",
                        w.name, replicas, cand.replicas, options.saturation
                    ));
                }
                if let Some(line) = &cand.analytic_line {
                    notes.push(format!("{} on {}: {line}", w.name, cand.accelerator));
                }
                allocations.push(row(server, cand, *replicas, w.rate_rps, partial));
            }
            Choice::Mixed(parts) => {
                let capacity: f64 = parts
                    .iter()
                    .map(|&(c, n)| f64::from(n) * server.candidates[c].max_rate_per_replica_rps)
                    .sum();
                for &(c, n) in parts {
                    let cand = &server.candidates[c];
                    let share = if capacity > 0.0 {
                        w.rate_rps * f64::from(n) * cand.max_rate_per_replica_rps / capacity
                    } else {
                        0.0
                    };
                    allocations.push(row(server, cand, n, share, false));
                }
            }
        }
    }
    let mut usage: BTreeMap<String, AcceleratorUsage> = BTreeMap::new();
    for a in &scenario.accelerators {
        if let Some(n) = a.inventory_gpus {
            usage
                .entry(a.gpu_type.clone())
                .or_insert_with(|| AcceleratorUsage {
                    gpu_type: a.gpu_type.clone(),
                    accelerators: Vec::new(),
                    gpus_used: 0,
                    gpus_available: Some(n),
                    cost: 0.0,
                });
        }
    }
    for a in &allocations {
        let entry = usage
            .entry(a.gpu_type.clone())
            .or_insert_with(|| AcceleratorUsage {
                gpu_type: a.gpu_type.clone(),
                accelerators: Vec::new(),
                gpus_used: 0,
                gpus_available: problem.available(&a.gpu_type),
                cost: 0.0,
            });
        entry.gpus_used += a.gpus;
        entry.cost += a.cost;
        if !entry.accelerators.contains(&a.accelerator) {
            entry.accelerators.push(a.accelerator.clone());
        }
    }
    let total_cost = allocations.iter().map(|a| a.cost).sum();
    let total_gpus = allocations.iter().map(|a| a.gpus).sum();
    if options.mixing == super::Mixing::Mixed
        && options.candidates.objective == Objective::Transition
    {
        notes.push("mixed allocations minimise cost; the transition objective applies to single assignments".into());
    }
    let first = allocations
        .iter()
        .filter(|a| !a.partial)
        .filter_map(|a| a.load_growth_to_breach.map(|g| (g, a.workload.clone())))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    Plan {
        headroom: options.candidates.headroom,
        load_growth_to_breach: first.as_ref().map(|f| f.0),
        first_to_breach: first.map(|f| f.1),
        scenario: scenario.name.clone(),
        solver,
        status: solution.status,
        batch_policy: options.candidates.batch,
        queue_model: options.candidates.queue_model,
        sizing: match options.candidates.sizing {
            super::candidates::SizingMode::Analytic => "analytic",
            super::candidates::SizingMode::Simulate { .. } => "simulate",
        },
        objective: options.candidates.objective,
        cost_unit: "cents/hour",
        allocations,
        unallocated,
        by_accelerator: usage.into_values().collect(),
        total_cost,
        total_gpus,
        notes,
    }
}
