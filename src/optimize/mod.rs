//! Allocation: which accelerator type and how many replicas each workload gets.
//!
//! A *server* is one workload (a model in a service class). Its *candidates* are the
//! accelerator types it has a profile for, each sized by the analytic replica model
//! ([`candidates`]). A [`Solver`] picks one candidate per server. `wva plan` is
//! [`plan`]: candidates, then the solver, then the totals.
//!
//! Solvers: [`SolverKind::Unlimited`] (each server takes its cheapest candidate, upstream's
//! "unlimited" mode). Capacity-aware solvers plug in behind the same trait.

pub mod candidates;
pub mod generate;
mod unlimited;

pub use candidates::{Candidate, CandidateError, ServerCandidates, server_candidates};
pub use unlimited::Unlimited;

use crate::error::Error;
use crate::queueing::Binding;
use crate::spec::{Scenario, Statistic};
use rayon::prelude::*;
use serde::Serialize;
use std::fmt;

/// Which solver chooses among candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SolverKind {
    /// Cheapest candidate per server, ignoring inventory.
    Unlimited,
}

impl fmt::Display for SolverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SolverKind::Unlimited => "unlimited",
        })
    }
}

/// Options of [`plan`].
#[derive(Clone, Debug, PartialEq)]
pub struct PlanOptions {
    /// The solver.
    pub solver: SolverKind,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            solver: SolverKind::Unlimited,
        }
    }
}

/// Chooses one candidate (or none) per server.
pub trait Solver {
    /// For each server, the index of the chosen candidate in `servers[i].candidates`, or the
    /// reason it gets none.
    fn solve(&self, servers: &[ServerCandidates]) -> Vec<Result<usize, Unplaced>>;
}

/// Why a server has no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnallocatedReason {
    /// No accelerator has a profile for the model.
    NoProfile,
    /// No accelerator can meet the SLO at any load.
    SloInfeasible,
    /// Feasible candidates exist but the inventory cannot hold them.
    OutOfCapacity,
}

impl UnallocatedReason {
    /// The machine-readable name (as in JSON).
    pub fn code(self) -> &'static str {
        match self {
            UnallocatedReason::NoProfile => "no_profile",
            UnallocatedReason::SloInfeasible => "slo_infeasible",
            UnallocatedReason::OutOfCapacity => "out_of_capacity",
        }
    }
}

impl fmt::Display for UnallocatedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnallocatedReason::NoProfile => "no profile",
            UnallocatedReason::SloInfeasible => "SLO infeasible",
            UnallocatedReason::OutOfCapacity => "out of capacity",
        })
    }
}

/// A solver's reason for leaving a server out.
#[derive(Clone, Debug, PartialEq)]
pub struct Unplaced {
    /// Category.
    pub reason: UnallocatedReason,
    /// Human explanation.
    pub detail: String,
}

/// One server's allocation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Allocation {
    /// Workload name (upstream's server name).
    pub workload: String,
    /// Service class.
    pub service_class: String,
    /// Class priority (1 = most important).
    pub priority: u32,
    /// Model.
    pub model: String,
    /// Accelerator type.
    pub accelerator: String,
    /// Replicas.
    pub replicas: u32,
    /// Max batch configured on each replica (vLLM `--max-num-seqs`).
    pub max_batch: u32,
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
    /// TTFT target (mean), ms.
    pub slo_ttft_ms: Option<f64>,
    /// ITL target (mean), ms.
    pub slo_itl_ms: Option<f64>,
    /// The workload's total arrival rate, requests/s.
    pub rate_rps: f64,
    /// Arrival rate per replica, requests/s.
    pub rate_per_replica_rps: f64,
    /// The highest rate one replica sustains within the SLO, requests/s.
    pub max_rate_per_replica_rps: f64,
    /// Mean batch over max batch at the planned load.
    pub utilization: f64,
    /// What limits the per-replica rate.
    pub binding: Binding,
}

/// A server left without an allocation.
#[derive(Clone, Debug, PartialEq, Serialize)]
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

/// The result of planning a scenario.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    /// Scenario name.
    pub scenario: String,
    /// Solver used.
    pub solver: SolverKind,
    /// Unit of every `cost` field.
    pub cost_unit: &'static str,
    /// One entry per allocated server, in scenario order.
    pub allocations: Vec<Allocation>,
    /// Servers left out, with the reason.
    pub unallocated: Vec<Unallocated>,
    /// Sum of allocation costs, cents per hour.
    pub total_cost: f64,
    /// Sum of allocated GPUs.
    pub total_gpus: u64,
}

impl Plan {
    /// True when every server has an allocation.
    pub fn is_complete(&self) -> bool {
        self.unallocated.is_empty()
    }
}

/// Plans a scenario: sizes every workload on every accelerator it has a profile for, then lets
/// the solver choose.
///
/// Fails (as bad input) only for targets the analytic model cannot size yet (percentiles).
pub fn plan(scenario: &Scenario, options: &PlanOptions) -> Result<Plan, Error> {
    for w in &scenario.workloads {
        let class = scenario.service_class(&w.service_class);
        if let Some(t) = class.and_then(|c| c.targets_for(&w.model)) {
            for (name, target) in [("ttft_ms", t.ttft), ("itl_ms", t.itl)] {
                if let Some(target) = target
                    && target.statistic != Statistic::Mean
                {
                    return Err(Error::Usage(format!(
                        "service class `{}`, model `{}`: {name} target {} is a percentile; `wva plan` sizes for mean targets only so far",
                        w.service_class,
                        w.model,
                        target.statistic.name()
                    )));
                }
            }
        }
    }
    let servers: Vec<ServerCandidates> = scenario
        .workloads
        .par_iter()
        .map(|w| server_candidates(scenario, w))
        .collect();
    let choices = match options.solver {
        SolverKind::Unlimited => Unlimited.solve(&servers),
    };
    let mut allocations = Vec::new();
    let mut unallocated = Vec::new();
    for (server, choice) in servers.iter().zip(choices) {
        let w = server.workload;
        match choice {
            Ok(i) => {
                let c = &server.candidates[i];
                allocations.push(Allocation {
                    workload: w.name.clone(),
                    service_class: w.service_class.clone(),
                    priority: server.priority,
                    model: w.model.clone(),
                    accelerator: c.accelerator.clone(),
                    replicas: c.replicas,
                    max_batch: c.max_batch,
                    gpus_per_replica: c.gpus_per_replica,
                    gpus: c.gpus(),
                    cost: c.cost_cents_per_hour,
                    ttft_ms: c.ttft_ms,
                    itl_ms: c.itl_ms,
                    slo_ttft_ms: server.targets.ttft_ms,
                    slo_itl_ms: server.targets.itl_ms,
                    rate_rps: w.rate_rps,
                    rate_per_replica_rps: c.rate_per_replica_rps,
                    max_rate_per_replica_rps: c.max_rate_per_replica_rps,
                    utilization: c.utilization,
                    binding: c.binding,
                })
            }
            Err(Unplaced { reason, detail }) => unallocated.push(Unallocated {
                workload: w.name.clone(),
                service_class: w.service_class.clone(),
                model: w.model.clone(),
                reason,
                detail,
            }),
        }
    }
    let total_cost = allocations.iter().map(|a| a.cost).sum();
    let total_gpus = allocations.iter().map(|a| a.gpus).sum();
    Ok(Plan {
        scenario: scenario.name.clone(),
        solver: options.solver,
        cost_unit: "cents/hour",
        allocations,
        unallocated,
        total_cost,
        total_gpus,
    })
}
