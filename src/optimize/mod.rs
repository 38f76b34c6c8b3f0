//! Allocation: which accelerator type, max batch and how many replicas each workload gets.
//!
//! A *server* is one workload (a model in a service class). Its *candidates* are the
//! accelerator types it has a profile for, each with a chosen max batch and sized by the
//! analytic replica model ([`candidates`]). A [`Solver`] picks a candidate per server under the
//! GPU inventory ([`mod@problem`]); [`plan`] runs the whole pipeline and reports it ([`Plan`]).
//!
//! Solvers: [`Unlimited`] (cheapest candidate each, upstream's unlimited mode), [`Greedy`]
//! (upstream's limited-mode greedy, for parity), [`Exact`] (a MILP: optimal, lexicographic in
//! priorities). Servers that do not fit can get what is left by a [`SaturationPolicy`].

pub mod candidates;
pub mod exact;
pub mod generate;
pub mod greedy;
mod output;
pub mod problem;
pub mod saturation;
mod unlimited;

pub use candidates::{
    BatchPolicy, Candidate, CandidateError, CandidateOptions, Objective, ServerCandidates,
    server_candidates,
};
pub use exact::{Backend, Exact};
pub use greedy::Greedy;
pub use output::{AcceleratorUsage, Allocation, Plan, Unallocated};
pub use problem::{Choice, Problem, Solution, SolveStatus, Solver};
pub use saturation::SaturationPolicy;
pub use unlimited::Unlimited;

use crate::error::{Error, Field, request_error};
use crate::spec::Scenario;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Which solver chooses among candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SolverKind {
    /// Cheapest candidate per server, ignoring inventory.
    Unlimited,
    /// Upstream's greedy under the inventory.
    Greedy,
    /// The optimal allocation under the inventory (a MILP).
    Exact,
}

impl fmt::Display for SolverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SolverKind::Unlimited => "unlimited",
            SolverKind::Greedy => "greedy",
            SolverKind::Exact => "exact",
        })
    }
}

/// When the greedy solver serves best-effort servers (priority levels below the first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BestEffort {
    /// In priority order with everything else (upstream's default).
    #[default]
    InOrder,
    /// Only after every priority level is allocated (upstream's `delayedBestEffort`).
    Delayed,
}

/// How many accelerator types one server may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mixing {
    /// One type per server.
    #[default]
    OneType,
    /// Several types per server (the exact solver only; upstream's `heterogeneous`).
    Mixed,
}

/// Options of [`plan`].
#[derive(Clone, Debug, PartialEq)]
pub struct PlanOptions {
    /// The solver; `None` picks `exact` when some accelerator has an inventory, else `unlimited`.
    pub solver: Option<SolverKind>,
    /// Candidate options (batch policy, objective, keep accelerator).
    pub candidates: CandidateOptions,
    /// What to do with servers that do not fit.
    pub saturation: SaturationPolicy,
    /// Greedy: when best-effort servers are served.
    pub best_effort: BestEffort,
    /// Exact: one accelerator type per server, or several.
    pub mixing: Mixing,
    /// Exact: time limit per MILP solve, seconds.
    pub time_limit_s: f64,
    /// Exact: the MILP backend.
    pub backend: Backend,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            solver: None,
            candidates: CandidateOptions::default(),
            saturation: SaturationPolicy::None,
            best_effort: BestEffort::InOrder,
            mixing: Mixing::OneType,
            time_limit_s: exact::DEFAULT_TIME_LIMIT_S,
            backend: Backend::default(),
        }
    }
}

/// Why a server has no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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

/// The inventory per GPU type (types without one are absent: unlimited).
pub fn inventory(scenario: &Scenario) -> BTreeMap<String, u64> {
    scenario
        .accelerators
        .iter()
        .filter_map(|a| a.inventory_gpus.map(|n| (a.gpu_type.clone(), n)))
        .collect()
}

/// Builds the problem: every server's candidates (in parallel) and the inventory.
pub fn problem<'a>(scenario: &'a Scenario, options: &CandidateOptions) -> Problem<'a> {
    Problem {
        servers: scenario
            .workloads
            .par_iter()
            .map(|w| server_candidates(scenario, w, options))
            .collect(),
        inventory: inventory(scenario),
    }
}

/// Plans a scenario: candidates for every workload, then the solver, then the report.
pub fn plan(scenario: &Scenario, options: &PlanOptions) -> Result<Plan, Error> {
    let problem = problem(scenario, &options.candidates);
    let solver = options.solver.unwrap_or(if problem.is_limited() {
        SolverKind::Exact
    } else {
        SolverKind::Unlimited
    });
    if options.mixing == Mixing::Mixed && solver != SolverKind::Exact {
        return Err(request_error!(
            Field("mixing"),
            " needs the exact solver (",
            Field("solver"),
            " exact)"
        )
        .into());
    }
    let solution = match solver {
        SolverKind::Unlimited => Unlimited.solve(&problem),
        SolverKind::Greedy => Greedy {
            saturation: options.saturation,
            best_effort: options.best_effort,
        }
        .solve(&problem),
        SolverKind::Exact => Exact {
            mixing: options.mixing,
            time_limit_s: options.time_limit_s,
            saturation: options.saturation,
            backend: options.backend,
        }
        .solve(&problem),
    };
    let mut solution = solution;
    if !solution.fits(&problem) {
        solution.notes.push(format!(
            "the {solver} solver ignores the inventory, and this plan exceeds it (see the GPU usage); use --solver exact or greedy to respect it"
        ));
    }
    Ok(output::build(
        scenario, &problem, &solution, solver, options,
    ))
}
