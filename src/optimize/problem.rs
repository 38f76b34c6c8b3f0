//! The allocation problem every solver sees, and the shape of its answer.
//!
//! A [`Problem`] is the servers with their candidates plus the GPU inventory per type (types
//! absent from it are unlimited). A [`Solver`] returns one [`Choice`] per server. Solutions are
//! compared lexicographically by [`Solution::objective`]: unserved load of the most important
//! priority level first, then the next level, ..., then the total value (cost or transition
//! penalty).

use super::candidates::ServerCandidates;
use super::{UnallocatedReason, Unplaced};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Added to a server's rate in its unserved weight (requests/s): far above any solver
/// tolerance, so leaving even a zero-load server out is never "free".
pub const UNSERVED_SLIVER: f64 = 1e-3;

/// The servers and the inventory.
#[derive(Clone, Debug)]
pub struct Problem<'a> {
    /// One entry per workload, in scenario order.
    pub servers: Vec<ServerCandidates<'a>>,
    /// GPUs available per GPU type; a type not listed is unlimited.
    pub inventory: BTreeMap<String, u64>,
}

impl Problem<'_> {
    /// True when some GPU type is limited.
    pub fn is_limited(&self) -> bool {
        !self.inventory.is_empty()
    }

    /// GPUs available of `gpu_type` (`None` = unlimited).
    pub fn available(&self, gpu_type: &str) -> Option<u64> {
        self.inventory.get(gpu_type).copied()
    }

    /// Distinct priorities, most important first.
    pub fn priority_levels(&self) -> Vec<u32> {
        let mut levels: Vec<u32> = self.servers.iter().map(|s| s.priority).collect();
        levels.sort_unstable();
        levels.dedup();
        levels
    }

    /// The weight of leaving server `i` unserved: its arrival rate, plus
    /// [`UNSERVED_SLIVER`] so that a server with no load but a replica floor still counts.
    pub fn unserved_weight(&self, i: usize) -> f64 {
        self.servers[i].workload.rate_rps + UNSERVED_SLIVER
    }
}

/// What a solver gives one server.
#[derive(Clone, Debug, PartialEq)]
pub enum Choice {
    /// Nothing, with the reason.
    Unplaced(Unplaced),
    /// One candidate, with `replicas` replicas (fewer than the candidate's when a saturation
    /// policy gave it what was left).
    Single {
        /// Index into the server's candidates.
        candidate: usize,
        /// Replicas given.
        replicas: u32,
    },
    /// Several candidates at once (`--allow-mixed`), each with its replicas.
    Mixed(Vec<(usize, u32)>),
}

impl Choice {
    /// The full allocation of candidate `i`.
    pub fn full(server: &ServerCandidates, i: usize) -> Choice {
        Choice::Single {
            candidate: i,
            replicas: server.candidates[i].replicas,
        }
    }

    /// `(candidate, replicas)` pairs of this choice.
    pub fn parts(&self) -> Vec<(usize, u32)> {
        match self {
            Choice::Unplaced(_) => Vec::new(),
            Choice::Single {
                candidate,
                replicas,
            } => vec![(*candidate, *replicas)],
            Choice::Mixed(parts) => parts.clone(),
        }
    }
}

/// How good the solver's answer is known to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SolveStatus {
    /// Proven optimal (or trivially so, without inventory limits).
    Optimal,
    /// A heuristic's answer (greedy).
    Heuristic,
    /// The exact solver hit its time limit: the best feasible answer found, not proven optimal.
    TimeLimit,
    /// The exact solver failed; the greedy answer is used instead.
    Fallback,
}

impl fmt::Display for SolveStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SolveStatus::Optimal => "optimal",
            SolveStatus::Heuristic => "heuristic",
            SolveStatus::TimeLimit => "time limit reached, best found",
            SolveStatus::Fallback => "exact solver failed, greedy answer",
        })
    }
}

/// A solver's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Solution {
    /// One choice per server.
    pub choices: Vec<Choice>,
    /// How good it is known to be.
    pub status: SolveStatus,
    /// Things the user should know (time limits, fallbacks).
    pub notes: Vec<String>,
}

/// GPUs used per type by `choices` (one per server of `problem`).
pub fn gpus_used(problem: &Problem, choices: &[Choice]) -> BTreeMap<String, u64> {
    let mut used = BTreeMap::new();
    for (server, choice) in problem.servers.iter().zip(choices) {
        for (c, replicas) in choice.parts() {
            let cand = &server.candidates[c];
            *used.entry(cand.gpu_type.clone()).or_insert(0) +=
                u64::from(replicas) * u64::from(cand.gpus_per_replica);
        }
    }
    used
}

/// Candidate indices of a server, by value (then GPUs), ascending: the order solvers try them.
pub fn by_value(server: &ServerCandidates) -> Vec<usize> {
    let mut order: Vec<usize> = (0..server.candidates.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&server.candidates[a], &server.candidates[b]);
        x.value.total_cmp(&y.value).then(x.gpus().cmp(&y.gpus()))
    });
    order
}

/// A server left without an allocation, with its candidate indices by value.
pub type Leftover = (usize, Vec<usize>);

/// Marks every server with candidates but no allocation as out of capacity; returns the GPUs
/// used and those servers with their candidates by value, by priority (stable).
pub fn mark_unplaced(
    problem: &Problem,
    choices: &mut [Choice],
) -> (BTreeMap<String, u64>, Vec<Leftover>) {
    let used = gpus_used(problem, choices);
    let mut left = Vec::new();
    for (i, server) in problem.servers.iter().enumerate() {
        if matches!(choices[i], Choice::Unplaced(_)) && !server.candidates.is_empty() {
            choices[i] = Choice::Unplaced(unplaced_out_of_capacity(server, problem, &used));
            left.push((i, by_value(server)));
        }
    }
    left.sort_by_key(|(i, _)| problem.servers[*i].priority);
    (used, left)
}

/// Capacity of a mixed choice's parts, requests/s.
pub fn capacity_rps(server: &ServerCandidates, parts: &[(usize, u32)]) -> f64 {
    parts
        .iter()
        .map(|&(c, n)| f64::from(n) * server.candidates[c].max_rate_per_replica_rps)
        .sum()
}

impl Solution {
    /// GPUs used per type.
    pub fn gpus_used(&self, problem: &Problem) -> BTreeMap<String, u64> {
        gpus_used(problem, &self.choices)
    }

    /// True when no limited type is over its inventory.
    pub fn fits(&self, problem: &Problem) -> bool {
        self.gpus_used(problem)
            .iter()
            .all(|(t, &used)| problem.available(t).is_none_or(|avail| used <= avail))
    }

    /// The lexicographic objective: unserved load per priority level (most important first),
    /// then the total value. A server is served when it has all the replicas its candidate
    /// needs (or, mixed, enough capacity for its load); partial allocations count as unserved
    /// for the share they lack.
    pub fn objective(&self, problem: &Problem) -> Vec<f64> {
        let levels = problem.priority_levels();
        let mut key = vec![0.0; levels.len() + 1];
        for (i, (server, choice)) in problem.servers.iter().zip(&self.choices).enumerate() {
            let level = levels
                .iter()
                .position(|&p| p == server.priority)
                .unwrap_or(0);
            let weight = problem.unserved_weight(i);
            let served_share = match choice {
                Choice::Unplaced(_) => 0.0,
                Choice::Single {
                    candidate,
                    replicas,
                } => {
                    let full = server.candidates[*candidate].replicas;
                    if full == 0 {
                        1.0
                    } else {
                        (f64::from(*replicas) / f64::from(full)).min(1.0)
                    }
                }
                Choice::Mixed(parts) => {
                    let capacity = capacity_rps(server, parts);
                    let rate = server.workload.rate_rps;
                    if rate <= 0.0 {
                        1.0
                    } else {
                        (capacity / rate).min(1.0)
                    }
                }
            };
            key[level] += weight * (1.0 - served_share);
            for (c, n) in choice.parts() {
                let cand = &server.candidates[c];
                let full = cand.replicas.max(1);
                key[levels.len()] += match choice {
                    Choice::Mixed(_) => cand.replica_cost() * f64::from(n),
                    _ => cand.value * f64::from(n) / f64::from(full),
                };
            }
        }
        key
    }
}

/// Chooses among candidates.
pub trait Solver {
    /// One choice per server of `problem`.
    fn solve(&self, problem: &Problem) -> Solution;
}

/// Why a server without candidates gets nothing.
pub fn unplaced_without_candidates(server: &ServerCandidates) -> Unplaced {
    if server.rejected.is_empty() {
        Unplaced {
            reason: UnallocatedReason::NoProfile,
            detail: format!(
                "no accelerator has a profile for model `{}`",
                server.workload.model
            ),
        }
    } else {
        let detail = server
            .rejected
            .iter()
            .map(|(acc, why)| format!("{acc}: {why}"))
            .collect::<Vec<_>>()
            .join("; ");
        Unplaced {
            reason: UnallocatedReason::SloInfeasible,
            detail,
        }
    }
}

/// Why a server with candidates did not fit.
pub fn unplaced_out_of_capacity(
    server: &ServerCandidates,
    problem: &Problem,
    used: &BTreeMap<String, u64>,
) -> Unplaced {
    let detail = server
        .candidates
        .iter()
        .map(|c| {
            let left = problem
                .available(&c.gpu_type)
                .map_or("unlimited".to_string(), |a| {
                    a.saturating_sub(used.get(&c.gpu_type).copied().unwrap_or(0))
                        .to_string()
                });
            format!(
                "{}: needs {} GPUs of type {}, {} left",
                c.accelerator,
                c.gpus(),
                c.gpu_type,
                left
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Unplaced {
        reason: UnallocatedReason::OutOfCapacity,
        detail,
    }
}
