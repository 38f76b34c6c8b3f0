//! The exact solver: the allocation as a mixed-integer program, solved by a real MILP solver
//! through `good_lp` (the pure-Rust `microlp` by default; COIN-OR CBC with the `cbc` feature).
//!
//! Single assignment (default): a binary `x[i][c]` per server `i` and candidate `c`, a binary
//! `u[i]` for "unserved", `sum_c x[i][c] + u[i] = 1`, and per limited GPU type
//! `sum gpus[i][c] * x[i][c] <= inventory`. With `--allow-mixed`, integer replicas `n[i][c]` per
//! candidate instead, with `sum_c rate[i][c] * n[i][c] >= load[i] * (1 - u[i])` and the replica
//! floor (heterogeneous replicas).
//!
//! Priorities are lexicographic, solved as a sequence of programs: first try to serve
//! everything at the least value (cost or transition penalty); if the inventory cannot, minimise
//! the unserved load of priority level 1, fix that, then level 2, ..., then the value. A server's
//! unserved weight is its rate plus [`UNSERVED_SLIVER`]; the slack on earlier levels' bounds is
//! kept far below it, so no phase can trade a more important server away.
//!
//! Presolve: servers whose best candidate is on an unlimited GPU type take it (nothing beats
//! it); candidates worse than the best unlimited one, or dominated on their own type (no better
//! in value, GPUs, and, when mixed, rate per replica), are dropped. Each phase starts from the
//! best of the greedy answer (made consistent with the phase) and a relax-and-fix incumbent,
//! and stops early when that reaches a proven LP bound. Every backend answer is checked against
//! the program before it is used; a solve that ends at the time limit keeps the best answer and
//! says so, with the gap to the LP bound.

use super::Mixing;
use super::candidates::ServerCandidates;
use super::greedy::Greedy;
use super::problem::{
    Choice, Problem, Solution, SolveStatus, Solver, UNSERVED_SLIVER, by_value, capacity_rps,
    mark_unplaced, unplaced_without_candidates,
};
use super::saturation::{self, SaturationPolicy};
use super::unlimited::{Unlimited, cheapest};
use good_lp::{
    Expression, ProblemVariables, ResolutionError, Solution as _, SolutionStatus, SolverModel,
    Variable, WithInitialSolution, WithTimeLimit, constraint, variable,
};
use std::collections::BTreeMap;
use std::ops::Range;

/// Default time limit per MILP solve, seconds.
pub const DEFAULT_TIME_LIMIT_S: f64 = 10.0;
/// Largest time limit accepted, seconds.
pub const MAX_TIME_LIMIT_S: f64 = 1e6;

/// Relative slack on an earlier level's unserved-load bound (solver tolerance)...
const CAP_SLACK_RELATIVE: f64 = 1e-9;
/// ...never more than this, which is far below [`UNSERVED_SLIVER`].
const CAP_SLACK_MAX: f64 = UNSERVED_SLIVER / 100.0;
/// An LP value at least this close to 1 counts as integral.
const INTEGRAL: f64 = 1e-7;

fn cap_slack(cap: f64) -> f64 {
    (CAP_SLACK_RELATIVE * cap.max(1.0)).min(CAP_SLACK_MAX)
}

/// Which MILP backend solves the programs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// microlp: pure Rust, always available.
    #[default]
    Microlp,
    /// COIN-OR CBC (cargo feature `cbc`).
    #[cfg(feature = "cbc")]
    Cbc,
}

/// The exact solver.
#[derive(Clone, Copy, Debug)]
pub struct Exact {
    /// One accelerator type per server, or several.
    pub mixing: Mixing,
    /// Time limit per MILP solve, seconds.
    pub time_limit_s: f64,
    /// What to do with servers left unserved.
    pub saturation: SaturationPolicy,
    /// The MILP backend.
    pub backend: Backend,
}

impl Default for Exact {
    fn default() -> Self {
        Exact {
            mixing: Mixing::OneType,
            time_limit_s: DEFAULT_TIME_LIMIT_S,
            saturation: SaturationPolicy::None,
            backend: Backend::default(),
        }
    }
}

/// One decision variable: server, candidate (or `None` for "unserved").
#[derive(Clone, Copy, Debug)]
struct Slot {
    server: usize,
    candidate: Option<usize>,
}

/// The reduced program.
struct Model {
    /// Variables, contiguous per server.
    slots: Vec<Slot>,
    /// Per server: its slots, when it is in the program.
    ranges: Vec<Option<Range<usize>>>,
    /// Choices fixed before solving (servers whose best candidate is unlimited, or without
    /// candidates).
    fixed: BTreeMap<usize, Choice>,
    /// Servers in the program.
    free: Vec<usize>,
}

impl Model {
    fn slots_of(&self, server: usize) -> Range<usize> {
        self.ranges[server].clone().unwrap_or(0..0)
    }

    fn unserved_slot(&self, server: usize) -> Option<usize> {
        self.slots_of(server)
            .find(|&k| self.slots[k].candidate.is_none())
    }
}

/// Whether candidate `d` makes `c` useless for the server (same GPU type, never worse).
fn dominated(server: &ServerCandidates, c: usize, d: usize, mixed: bool) -> bool {
    let (a, b) = (&server.candidates[c], &server.candidates[d]);
    if a.gpu_type != b.gpu_type || c == d {
        return false;
    }
    if mixed {
        // Replica by replica: no costlier, no bigger, no slower.
        let no_worse = b.replica_cost() <= a.replica_cost()
            && b.gpus_per_replica <= a.gpus_per_replica
            && b.max_rate_per_replica_rps >= a.max_rate_per_replica_rps;
        let better = b.replica_cost() < a.replica_cost()
            || b.gpus_per_replica < a.gpus_per_replica
            || b.max_rate_per_replica_rps > a.max_rate_per_replica_rps
            || d < c;
        return no_worse && better;
    }
    let no_worse = b.value <= a.value && b.gpus() <= a.gpus();
    let better = b.value < a.value || b.gpus() < a.gpus() || d < c;
    no_worse && better
}

fn reduce(problem: &Problem, mixed: bool) -> Model {
    let mut slots = Vec::new();
    let mut ranges = vec![None; problem.servers.len()];
    let mut fixed = BTreeMap::new();
    let mut free = Vec::new();
    for (i, server) in problem.servers.iter().enumerate() {
        if server.candidates.is_empty() {
            fixed.insert(i, Choice::Unplaced(unplaced_without_candidates(server)));
            continue;
        }
        let unlimited = |c: usize| problem.available(&server.candidates[c].gpu_type).is_none();
        let best_unlimited = by_value(server).into_iter().find(|&c| unlimited(c));
        let best = cheapest(server);
        if !mixed && best.is_some() && best == best_unlimited {
            fixed.insert(i, Choice::full(server, best.unwrap_or_default()));
            continue;
        }
        let keep: Vec<usize> = (0..server.candidates.len())
            .filter(|&c| {
                if mixed {
                    return true;
                }
                if unlimited(c) {
                    return Some(c) == best_unlimited;
                }
                best_unlimited
                    .is_none_or(|u| server.candidates[c].value < server.candidates[u].value)
            })
            .filter(|&c| !(0..server.candidates.len()).any(|d| dominated(server, c, d, mixed)))
            .collect();
        free.push(i);
        let start = slots.len();
        for c in keep {
            slots.push(Slot {
                server: i,
                candidate: Some(c),
            });
        }
        if best_unlimited.is_none() {
            slots.push(Slot {
                server: i,
                candidate: None,
            });
        }
        ranges[i] = Some(start..slots.len());
    }
    Model {
        slots,
        ranges,
        fixed,
        free,
    }
}

/// What one program minimises.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Goal {
    /// Unserved load of servers at this priority.
    Unserved(u32),
    /// Total value.
    Value,
}

/// Why a program produced no answer.
#[derive(Clone, Debug, PartialEq)]
enum RunError {
    /// No assignment satisfies it.
    Infeasible,
    /// The time limit passed before any feasible assignment was found.
    NoIncumbent,
    /// The backend failed (or returned an assignment that breaks the constraints).
    Failed(String),
}

impl From<ResolutionError> for RunError {
    fn from(e: ResolutionError) -> Self {
        match e {
            ResolutionError::Infeasible => RunError::Infeasible,
            other => {
                let text = other.to_string();
                if text.contains("Time limit") {
                    RunError::NoIncumbent
                } else {
                    RunError::Failed(text)
                }
            }
        }
    }
}

/// One program's result: the value of each slot's variable.
struct Outcome {
    values: Vec<f64>,
    status: SolutionStatus,
}

/// One program of the sequence.
#[derive(Clone, Copy)]
struct Phase<'a> {
    goal: Goal,
    /// Every server must be served (no "unserved" variable may be 1).
    serve_all: bool,
    /// Bounds on earlier priority levels' unserved load.
    caps: &'a [(u32, f64)],
    /// A feasible starting point.
    warm: Option<&'a [f64]>,
    /// Solve the LP relaxation instead.
    relaxed: bool,
    /// Per slot: forced to 1 (`Some(true)`), to 0 (`Some(false)`), or free.
    fixed: Option<&'a [Option<bool>]>,
    /// Another starting point, used when it satisfies the phase and is better than `warm`.
    alternative: Option<&'a [f64]>,
}

/// A phase that ended without a proof of optimality.
struct Unproven {
    what: String,
    gap: Option<f64>,
}

impl Exact {
    fn run(&self, problem: &Problem, model: &Model, phase: Phase) -> Result<Outcome, RunError> {
        let Phase {
            goal,
            serve_all,
            caps,
            warm,
            relaxed,
            fixed,
            ..
        } = phase;
        let mut vars = ProblemVariables::new();
        let handles: Vec<Variable> = model
            .slots
            .iter()
            .enumerate()
            .map(|(k, slot)| {
                let top = match (self.mixing == Mixing::Mixed, slot.candidate) {
                    (true, Some(c)) => {
                        let server = &problem.servers[slot.server];
                        f64::from(
                            server.candidates[c]
                                .replicas
                                .max(server.workload.min_replicas)
                                .max(1),
                        )
                    }
                    (_, None) if serve_all => 0.0,
                    _ => 1.0,
                };
                let (lo, hi) = match fixed.and_then(|f| f[k]) {
                    Some(true) => (top.min(1.0), top),
                    Some(false) => (0.0, 0.0),
                    None => (0.0, top),
                };
                let def = variable().min(lo).max(hi);
                vars.add(if relaxed { def } else { def.integer() })
            })
            .collect();
        let objective: Expression = model
            .slots
            .iter()
            .zip(&handles)
            .map(|(slot, &v)| self.weight(problem, slot, goal) * v)
            .sum();
        let constraints = self.constraints(problem, model, &handles, caps);
        let time_limit = self.time_limit_s.clamp(1e-3, MAX_TIME_LIMIT_S);
        let mut values: Vec<f64>;
        macro_rules! solve {
            ($m:expr) => {{
                let mut m = $m.with_time_limit(time_limit);
                if let Some(w) = warm {
                    m = m.with_initial_solution(handles.iter().copied().zip(w.iter().copied()));
                }
                for c in constraints {
                    m.add_constraint(c);
                }
                let s = m.solve()?;
                values = handles.iter().map(|&h| s.value(h)).collect();
                s.status()
            }};
        }
        let status = match self.backend {
            Backend::Microlp => solve!(vars.minimise(objective).using(good_lp::microlp)),
            #[cfg(feature = "cbc")]
            Backend::Cbc => {
                let mut m = vars.minimise(objective).using(good_lp::coin_cbc);
                m.set_parameter("log", "0");
                solve!(m)
            }
        };
        if !relaxed {
            // Trust, but verify: a backend's answer must satisfy the program.
            for v in &mut values {
                *v = v.round();
            }
            if !self.consistent(problem, model, &phase, &values) {
                return Err(RunError::Failed(
                    "the MILP backend returned an assignment that violates the constraints".into(),
                ));
            }
        }
        Ok(Outcome { values, status })
    }

    /// The objective coefficient of a slot's variable.
    fn weight(&self, problem: &Problem, slot: &Slot, goal: Goal) -> f64 {
        let server = &problem.servers[slot.server];
        match (slot.candidate, goal) {
            (None, Goal::Unserved(l)) if server.priority == l => {
                problem.unserved_weight(slot.server)
            }
            (None, _) | (Some(_), Goal::Unserved(_)) => 0.0,
            (Some(c), Goal::Value) => {
                let cand = &server.candidates[c];
                if self.mixing == Mixing::Mixed {
                    cand.replica_cost()
                } else {
                    cand.value
                }
            }
        }
    }

    fn objective_of(&self, problem: &Problem, model: &Model, goal: Goal, values: &[f64]) -> f64 {
        model
            .slots
            .iter()
            .zip(values)
            .map(|(slot, v)| self.weight(problem, slot, goal) * v)
            .sum()
    }

    /// GPUs used per limited type by an assignment.
    fn used(&self, problem: &Problem, model: &Model, values: &[f64]) -> BTreeMap<String, u64> {
        let mut used = BTreeMap::new();
        for (slot, &v) in model.slots.iter().zip(values) {
            if let Some(c) = slot.candidate
                && v > 0.5
            {
                let cand = &problem.servers[slot.server].candidates[c];
                let gpus = if self.mixing == Mixing::Mixed {
                    v.round() as u64 * u64::from(cand.gpus_per_replica)
                } else {
                    cand.gpus()
                };
                *used.entry(cand.gpu_type.clone()).or_insert(0) += gpus;
            }
        }
        used
    }

    /// True when `values` (an integral assignment) satisfies the phase: one choice per server
    /// (single) or enough capacity and the replica floor (mixed), the fixings, the inventory and
    /// the caps.
    fn consistent(&self, problem: &Problem, model: &Model, phase: &Phase, values: &[f64]) -> bool {
        let fixings_hold = phase.fixed.is_none_or(|f| {
            f.iter()
                .zip(values)
                .all(|(fix, &v)| fix.is_none_or(|on| (v > 0.5) == on))
        });
        let per_server = model.free.iter().all(|&i| {
            let range = model.slots_of(i);
            let unserved = model.unserved_slot(i).is_some_and(|k| values[k] > 0.5);
            if phase.serve_all && unserved {
                return false;
            }
            if self.mixing == Mixing::OneType {
                return range.filter(|&k| values[k] > 0.5).count() == 1;
            }
            if unserved {
                return true;
            }
            let server = &problem.servers[i];
            let parts: Vec<(usize, u32)> = range
                .filter_map(|k| {
                    model.slots[k]
                        .candidate
                        .map(|c| (c, values[k].round().max(0.0) as u32))
                })
                .collect();
            let rate = server.workload.rate_rps;
            let floor = server.workload.min_replicas.max(u32::from(rate > 0.0));
            capacity_rps(server, &parts) >= rate * (1.0 - 1e-9)
                && parts.iter().map(|p| p.1).sum::<u32>() >= floor
        });
        let fits = self
            .used(problem, model, values)
            .iter()
            .all(|(t, &u)| problem.available(t).is_none_or(|a| u <= a));
        let caps_hold = phase.caps.iter().all(|&(level, cap)| {
            self.objective_of(problem, model, Goal::Unserved(level), values) <= cap + cap_slack(cap)
        });
        fixings_hold && per_server && fits && caps_hold
    }

    /// Slots fixed so that servers less important than `level` are left unserved (or on their
    /// unlimited fallback), and servers of levels already fully served stay served. While a
    /// level's unserved load is minimised, the former can only take capacity away.
    fn pin(
        &self,
        problem: &Problem,
        model: &Model,
        level: Option<u32>,
        caps: &[(u32, f64)],
    ) -> Vec<Option<bool>> {
        let mut fixed = vec![None; model.slots.len()];
        for &i in &model.free {
            let priority = problem.servers[i].priority;
            let range = model.slots_of(i);
            let unserved = model.unserved_slot(i);
            if level.is_some_and(|l| priority > l) && self.mixing == Mixing::OneType {
                for k in range {
                    fixed[k] = Some(match model.slots[k].candidate {
                        None => true,
                        Some(c) => {
                            unserved.is_none()
                                && problem
                                    .available(&problem.servers[i].candidates[c].gpu_type)
                                    .is_none()
                        }
                    });
                }
            } else if let Some(u) = unserved
                && caps
                    .iter()
                    .any(|&(l, cap)| l == priority && cap <= cap_slack(0.0))
            {
                fixed[u] = Some(false);
            }
        }
        fixed
    }

    /// Serves, greedily, unserved servers at priority `level` (heaviest first, each on its
    /// candidate needing the fewest GPUs that still fits) in a feasible single assignment.
    fn fill(&self, problem: &Problem, model: &Model, values: &mut [f64], level: u32) {
        let mut used = self.used(problem, model, values);
        let mut waiting: Vec<usize> = model
            .free
            .iter()
            .copied()
            .filter(|&i| {
                problem.servers[i].priority == level
                    && model.unserved_slot(i).is_some_and(|k| values[k] > 0.5)
            })
            .collect();
        waiting.sort_by(|&a, &b| {
            problem
                .unserved_weight(b)
                .total_cmp(&problem.unserved_weight(a))
        });
        for i in waiting {
            let best = model
                .slots_of(i)
                .filter_map(|k| {
                    model.slots[k]
                        .candidate
                        .map(|c| (k, &problem.servers[i].candidates[c]))
                })
                .filter(|(_, c)| {
                    problem
                        .available(&c.gpu_type)
                        .is_none_or(|a| used.get(&c.gpu_type).copied().unwrap_or(0) + c.gpus() <= a)
                })
                .min_by_key(|(_, c)| c.gpus());
            if let (Some((k, c)), Some(u)) = (best, model.unserved_slot(i)) {
                values[u] = 0.0;
                values[k] = 1.0;
                *used.entry(c.gpu_type.clone()).or_insert(0) += c.gpus();
            }
        }
    }

    /// Solves one phase. Single assignments first get an incumbent by relax-and-fix: solve the
    /// LP relaxation, fix every server the LP serves integrally with one candidate, and solve the
    /// smaller program left for the others. When the best starting point (that one, `warm` or
    /// `alternative`) reaches the LP bound it is optimal and the full program is skipped;
    /// otherwise the full program starts from it. Returns the outcome and, unless proven
    /// optimal, the relative gap to the LP bound (when there is one).
    fn solve_phase(
        &self,
        problem: &Problem,
        model: &Model,
        phase: Phase,
    ) -> Result<(Outcome, Option<Option<f64>>), RunError> {
        let value_of = |v: &[f64]| self.objective_of(problem, model, phase.goal, v);
        let gap = |value: f64, bound: Option<f64>| {
            bound.map(|b| ((value - b) / value.abs().max(1e-9)).max(0.0))
        };
        if self.mixing == Mixing::Mixed {
            let outcome = self.run(problem, model, phase)?;
            let proven = matches!(outcome.status, SolutionStatus::Optimal);
            return Ok((outcome, (!proven).then_some(None)));
        }
        let lp = self.run(
            problem,
            model,
            Phase {
                relaxed: true,
                warm: None,
                alternative: None,
                ..phase
            },
        )?;
        // Only a finished LP gives a bound.
        let bound = matches!(lp.status, SolutionStatus::Optimal).then(|| value_of(&lp.values));
        let mut fixed: Vec<Option<bool>> = phase
            .fixed
            .map_or_else(|| vec![None; model.slots.len()], <[_]>::to_vec);
        for &i in &model.free {
            let range = model.slots_of(i);
            if range.clone().any(|k| fixed[k] == Some(true)) {
                continue;
            }
            if let Some(k) = range.clone().find(|&k| {
                fixed[k].is_none()
                    && model.slots[k].candidate.is_some()
                    && lp.values[k] >= 1.0 - INTEGRAL
            }) {
                for m in range {
                    fixed[m] = Some(m == k);
                }
            }
        }
        let rounded = self
            .run(
                problem,
                model,
                Phase {
                    fixed: Some(&fixed),
                    warm: None,
                    alternative: None,
                    ..phase
                },
            )
            .ok();
        let mut best: Option<Vec<f64>> = None;
        let candidates = [
            phase.warm,
            phase.alternative,
            rounded.as_ref().map(|r| r.values.as_slice()),
        ];
        for start in candidates.into_iter().flatten() {
            if self.consistent(problem, model, &phase, start)
                && best.as_ref().is_none_or(|b| value_of(start) < value_of(b))
            {
                best = Some(start.to_vec());
            }
        }
        if let (Some(b), Some(lp_bound)) = (&best, bound)
            && value_of(b) <= lp_bound + 1e-9 * lp_bound.abs().max(1.0)
        {
            return Ok((
                Outcome {
                    values: b.clone(),
                    status: SolutionStatus::Optimal,
                },
                None,
            ));
        }
        match (
            self.run(
                problem,
                model,
                Phase {
                    warm: best.as_deref(),
                    alternative: None,
                    ..phase
                },
            ),
            best,
        ) {
            // A solver stopped early must not return worse than where it started.
            (Ok(outcome), Some(b)) if value_of(&b) < value_of(&outcome.values) => {
                let g = gap(value_of(&b), bound);
                Ok((
                    Outcome {
                        values: b,
                        status: SolutionStatus::TimeLimit,
                    },
                    Some(g),
                ))
            }
            (Ok(outcome), _) => {
                let proven = matches!(outcome.status, SolutionStatus::Optimal);
                let g = gap(value_of(&outcome.values), bound);
                Ok((outcome, (!proven).then_some(g)))
            }
            (Err(RunError::Infeasible), _) => Err(RunError::Infeasible),
            (Err(_), Some(b)) => {
                let g = gap(value_of(&b), bound);
                Ok((
                    Outcome {
                        values: b,
                        status: SolutionStatus::TimeLimit,
                    },
                    Some(g),
                ))
            }
            (Err(e), None) => Err(e),
        }
    }

    fn constraints(
        &self,
        problem: &Problem,
        model: &Model,
        handles: &[Variable],
        caps: &[(u32, f64)],
    ) -> Vec<good_lp::Constraint> {
        let mut out = Vec::new();
        // Per server: one choice (single), or enough capacity and the replica floor (mixed).
        for &i in &model.free {
            let server = &problem.servers[i];
            let range = model.slots_of(i);
            if self.mixing == Mixing::Mixed {
                let rate = server.workload.rate_rps;
                let mut capacity = Expression::from(0.0);
                let mut count = Expression::from(0.0);
                let mut unserved = Expression::from(0.0);
                for k in range {
                    match model.slots[k].candidate {
                        Some(c) => {
                            capacity += server.candidates[c].max_rate_per_replica_rps * handles[k];
                            count += handles[k];
                        }
                        None => unserved += handles[k],
                    }
                }
                out.push(constraint!(capacity + rate * unserved.clone() >= rate));
                let floor = f64::from(server.workload.min_replicas.max(u32::from(rate > 0.0)));
                out.push(constraint!(count + floor * unserved >= floor));
            } else {
                let one: Expression = range.map(|k| Expression::from(handles[k])).sum();
                out.push(constraint!(one == 1.0));
            }
        }
        // Per limited GPU type: inventory.
        let mut used: BTreeMap<&str, Expression> = BTreeMap::new();
        for (k, slot) in model.slots.iter().enumerate() {
            if let Some(c) = slot.candidate {
                let cand = &problem.servers[slot.server].candidates[c];
                if problem.available(&cand.gpu_type).is_some() {
                    let gpus = if self.mixing == Mixing::Mixed {
                        f64::from(cand.gpus_per_replica)
                    } else {
                        cand.gpus() as f64
                    };
                    *used
                        .entry(cand.gpu_type.as_str())
                        .or_insert_with(|| Expression::from(0.0)) += gpus * handles[k];
                }
            }
        }
        for (gpu_type, expr) in used {
            let inventory = problem.available(gpu_type).unwrap_or(u64::MAX) as f64;
            out.push(constraint!(expr <= inventory));
        }
        // Lexicographic caps on earlier levels' unserved load.
        for &(level, cap) in caps {
            let mut unserved = Expression::from(0.0);
            for &i in &model.free {
                if problem.servers[i].priority == level
                    && let Some(u) = model.unserved_slot(i)
                {
                    unserved += problem.unserved_weight(i) * handles[u];
                }
            }
            out.push(constraint!(unserved <= cap + cap_slack(cap)));
        }
        out
    }

    fn choices(&self, problem: &Problem, model: &Model, values: &[f64]) -> Vec<Choice> {
        let mut choices: Vec<Choice> = (0..problem.servers.len())
            .map(|i| {
                model.fixed.get(&i).cloned().unwrap_or_else(|| {
                    Choice::Unplaced(unplaced_without_candidates(&problem.servers[i]))
                })
            })
            .collect();
        for &i in &model.free {
            let server = &problem.servers[i];
            let mut parts = Vec::new();
            let mut unserved = false;
            for k in model.slots_of(i) {
                let v = values[k];
                match model.slots[k].candidate {
                    Some(c) if self.mixing == Mixing::Mixed && v.round() >= 1.0 => {
                        parts.push((c, v.round() as u32))
                    }
                    Some(c) if self.mixing == Mixing::OneType && v > 0.5 => {
                        parts.push((c, server.candidates[c].replicas))
                    }
                    None if v > 0.5 => unserved = true,
                    _ => {}
                }
            }
            choices[i] = match (unserved, parts.len()) {
                (true, _) => Choice::Unplaced(unplaced_without_candidates(server)),
                // Served with nothing: a workload without load or replica floor.
                (false, 0) => Choice::Single {
                    candidate: cheapest(server).unwrap_or_default(),
                    replicas: 0,
                },
                (false, 1) => Choice::Single {
                    candidate: parts[0].0,
                    replicas: parts[0].1,
                },
                _ => Choice::Mixed(parts),
            };
        }
        choices
    }

    /// The greedy answer as slot values (single assignment only).
    fn warm_start(&self, model: &Model, greedy: &Solution) -> Option<Vec<f64>> {
        if self.mixing == Mixing::Mixed {
            return None;
        }
        let mut values = vec![0.0; model.slots.len()];
        for &i in &model.free {
            let range = model.slots_of(i);
            let chosen = match &greedy.choices[i] {
                Choice::Single { candidate, .. } => range
                    .clone()
                    .find(|&k| model.slots[k].candidate == Some(*candidate)),
                _ => None,
            };
            let slot = chosen.or_else(|| model.unserved_slot(i))?;
            values[slot] = 1.0;
        }
        Some(values)
    }

    /// The slot values with `fixed` applied and, for an unserved-load phase, that level filled
    /// in greedily.
    fn prepare(
        &self,
        problem: &Problem,
        model: &Model,
        values: &[f64],
        fixed: &[Option<bool>],
        level: Option<u32>,
    ) -> Vec<f64> {
        let mut v: Vec<f64> = values
            .iter()
            .zip(fixed)
            .map(|(&x, f)| match f {
                Some(true) => 1.0,
                Some(false) => 0.0,
                None => x,
            })
            .collect();
        if let Some(level) = level {
            self.fill(problem, model, &mut v, level);
        }
        v
    }

    fn solve_milp(
        &self,
        problem: &Problem,
        greedy: &Solution,
    ) -> Result<(Vec<Choice>, Vec<Unproven>), RunError> {
        let model = reduce(problem, self.mixing == Mixing::Mixed);
        if model.free.is_empty() {
            return Ok((self.choices(problem, &model, &[]), Vec::new()));
        }
        let greedy_values = self.warm_start(&model, greedy);
        let mut unproven = Vec::new();
        let base = Phase {
            goal: Goal::Value,
            serve_all: true,
            caps: &[],
            warm: None,
            relaxed: false,
            fixed: None,
            alternative: greedy_values.as_deref(),
        };
        // Everything served?
        match self.solve_phase(problem, &model, base) {
            Ok((outcome, gap)) => {
                if let Some(gap) = gap {
                    unproven.push(Unproven {
                        what: "cost".into(),
                        gap,
                    });
                }
                return Ok((self.choices(problem, &model, &outcome.values), unproven));
            }
            Err(RunError::Infeasible | RunError::NoIncumbent) => {}
            Err(e) => return Err(e),
        }
        // Lexicographic: unserved load per level, then value.
        let mut caps: Vec<(u32, f64)> = Vec::new();
        let mut last = greedy_values.clone();
        for level in problem.priority_levels() {
            if !model
                .free
                .iter()
                .any(|&i| problem.servers[i].priority == level && model.unserved_slot(i).is_some())
            {
                continue;
            }
            let goal = Goal::Unserved(level);
            let fixed = self.pin(problem, &model, Some(level), &caps);
            let start = last
                .as_ref()
                .map(|v| self.prepare(problem, &model, v, &fixed, Some(level)));
            let from_greedy = greedy_values
                .as_ref()
                .map(|v| self.prepare(problem, &model, v, &fixed, Some(level)));
            let phase = Phase {
                goal,
                serve_all: false,
                caps: &caps,
                warm: start.as_deref(),
                fixed: Some(&fixed),
                alternative: from_greedy.as_deref(),
                ..base
            };
            let (outcome, gap) = self.solve_phase(problem, &model, phase)?;
            let unserved = self.objective_of(problem, &model, goal, &outcome.values);
            if let Some(gap) = gap {
                unproven.push(Unproven {
                    what: format!("unserved load of priority {level}"),
                    gap,
                });
            }
            caps.push((level, unserved));
            last = Some(outcome.values);
        }
        let fixed = self.pin(problem, &model, None, &caps);
        let start = last
            .as_ref()
            .map(|v| self.prepare(problem, &model, v, &fixed, None));
        let phase = Phase {
            serve_all: false,
            caps: &caps,
            warm: start.as_deref(),
            fixed: Some(&fixed),
            ..base
        };
        let (outcome, gap) = self.solve_phase(problem, &model, phase)?;
        if let Some(gap) = gap {
            unproven.push(Unproven {
                what: "cost".into(),
                gap,
            });
        }
        Ok((self.choices(problem, &model, &outcome.values), unproven))
    }
}

impl Solver for Exact {
    fn solve(&self, problem: &Problem) -> Solution {
        if !problem.is_limited() && self.mixing == Mixing::OneType {
            return Unlimited.solve(problem);
        }
        let greedy = Greedy::default().solve(problem);
        let (mut choices, status, mut notes) = match self.solve_milp(problem, &greedy) {
            Ok((choices, unproven)) if unproven.is_empty() => {
                (choices, SolveStatus::Optimal, Vec::new())
            }
            Ok((choices, unproven)) => {
                let detail = unproven
                    .iter()
                    .map(|u| match u.gap {
                        Some(g) => format!("{}: within {:.3}% of the LP bound", u.what, g * 100.0),
                        None => format!("{}: no bound available", u.what),
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                (
                    choices,
                    SolveStatus::TimeLimit,
                    vec![format!(
                        "the exact solver could not prove this plan optimal within its time limit ({} s per solve); it is the best feasible answer found ({detail})",
                        self.time_limit_s
                    )],
                )
            }
            Err(e) => {
                let why = match e {
                    RunError::Infeasible => "no feasible program".to_string(),
                    RunError::NoIncumbent => "no answer within the time limit".to_string(),
                    RunError::Failed(m) => m,
                };
                (
                    greedy.choices.clone(),
                    SolveStatus::Fallback,
                    vec![format!(
                        "the exact solver failed ({why}); the plan is the greedy solver's answer"
                    )],
                )
            }
        };
        // Servers left out: out of capacity, then the saturation policy.
        let (used, unplaced) = mark_unplaced(problem, &mut choices);
        if self.saturation != SaturationPolicy::None && !unplaced.is_empty() {
            let mut available: BTreeMap<String, u64> = problem
                .inventory
                .iter()
                .map(|(t, &a)| {
                    (
                        t.clone(),
                        a.saturating_sub(used.get(t).copied().unwrap_or(0)),
                    )
                })
                .collect();
            saturation::apply(
                self.saturation,
                problem,
                &unplaced,
                &mut available,
                &mut choices,
            );
            if unplaced
                .iter()
                .any(|(i, _)| !matches!(choices[*i], Choice::Unplaced(_)))
                && status == SolveStatus::Optimal
            {
                notes.push(format!(
                    "optimal for full allocations; the partial ones were added afterwards by the {} saturation policy",
                    self.saturation
                ));
            }
        }
        Solution {
            choices,
            status,
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimize::generate::synthetic_limited_scenario;
    use crate::optimize::{CandidateOptions, problem};
    use proptest::prelude::*;

    /// Lexicographic `a <= b` with a relative tolerance per component.
    fn lex_le(a: &[f64], b: &[f64]) -> bool {
        for (x, y) in a.iter().zip(b) {
            let tol = 1e-9 * x.abs().max(y.abs()).max(1.0);
            if *x < y - tol {
                return true;
            }
            if *x > y + tol {
                return false;
            }
        }
        true
    }

    /// Every assignment (each server: one candidate or nothing) that fits; the best objective.
    fn brute_force(problem: &Problem) -> Vec<f64> {
        let n = problem.servers.len();
        let sizes: Vec<usize> = problem
            .servers
            .iter()
            .map(|s| s.candidates.len() + 1)
            .collect();
        let mut pick = vec![0usize; n];
        let mut best: Option<Vec<f64>> = None;
        loop {
            let choices: Vec<Choice> = pick
                .iter()
                .zip(&problem.servers)
                .map(|(&p, s)| {
                    if p == s.candidates.len() {
                        Choice::Unplaced(unplaced_without_candidates(s))
                    } else {
                        Choice::full(s, p)
                    }
                })
                .collect();
            let solution = Solution {
                choices,
                status: SolveStatus::Optimal,
                notes: Vec::new(),
            };
            if solution.fits(problem) {
                let key = solution.objective(problem);
                if best.as_ref().is_none_or(|b| !lex_le(b, &key)) {
                    best = Some(key);
                }
            }
            let mut i = 0;
            loop {
                if i == n {
                    return best.unwrap_or_default();
                }
                pick[i] += 1;
                if pick[i] < sizes[i] {
                    break;
                }
                pick[i] = 0;
                i += 1;
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// The exact solver finds the brute-force optimum, and never does worse than greedy.
        #[test]
        fn exact_equals_brute_force_and_beats_greedy(seed in 0u64..10_000, servers in 2usize..6, types in 2usize..4, low in 0.2f64..0.9) {
            let scenario = synthetic_limited_scenario(servers, types, seed, (low, low + 0.4));
            let problem = problem(&scenario, &CandidateOptions::default());
            let exact = Exact::default().solve(&problem);
            prop_assert!(exact.fits(&problem));
            prop_assert_eq!(exact.status, SolveStatus::Optimal);
            let key = exact.objective(&problem);
            let best = brute_force(&problem);
            prop_assert!(lex_le(&key, &best) && lex_le(&best, &key), "exact {:?} vs brute force {:?}", key, best);
            #[cfg(feature = "cbc")]
            {
                let cbc = Exact { backend: Backend::Cbc, ..Exact::default() }.solve(&problem);
                let k = cbc.objective(&problem);
                prop_assert!(lex_le(&k, &best) && lex_le(&best, &k), "cbc {:?} vs brute force {:?}", k, best);
            }
            let greedy = Greedy::default().solve(&problem);
            prop_assert!(greedy.fits(&problem));
            prop_assert!(lex_le(&key, &greedy.objective(&problem)), "exact {:?} worse than greedy {:?}", key, greedy.objective(&problem));
        }

        /// Mixed allocations are feasible, serve at least what single assignments do, and cost no
        /// more when both serve everything.
        #[test]
        fn mixed_is_never_worse(seed in 0u64..10_000, servers in 2usize..5, types in 2usize..4) {
            let scenario = synthetic_limited_scenario(servers, types, seed, (0.5, 1.2));
            let problem = problem(&scenario, &CandidateOptions::default());
            let single = Exact::default().solve(&problem);
            let mixed = Exact { mixing: Mixing::Mixed, ..Exact::default() }.solve(&problem);
            prop_assert!(mixed.fits(&problem));
            let (ks, km) = (single.objective(&problem), mixed.objective(&problem));
            let levels = ks.len() - 1;
            prop_assert!(lex_le(&km[..levels], &ks[..levels]), "mixed serves less: {:?} vs {:?}", km, ks);
        }
    }

    /// A zero-load workload with a replica floor is never traded away for a less important
    /// one (its unserved weight is a sliver far above the solver's slack).
    #[test]
    fn a_zero_load_workload_of_a_higher_priority_keeps_its_replica() {
        use crate::perf::{Gen2Params, PerfParams};
        use crate::spec::{
            Accelerator, ArrivalProcess, LatencyTarget, LengthDist, Profile, Scenario,
            ScenarioParts, ServiceClass, SloTarget, Statistic, Workload,
        };
        let profile = Profile {
            model: "m".into(),
            accelerator: "H100".into(),
            gpus_per_replica: 1,
            max_batch: 16,
            max_queue: None,
            max_batch_at_output_tokens: None,
            perf: PerfParams::V2(Gen2Params {
                alpha_ms: 10.0,
                beta_ms_per_token: 0.01,
                gamma_ms_per_kv_token: 0.0,
            }),
            kv_capacity_tokens: None,
            kv_auto: None,
            architecture: None,
            cost: crate::perf::CostModel::Linear(PerfParams::V2(Gen2Params {
                alpha_ms: 10.0,
                beta_ms_per_token: 0.01,
                gamma_ms_per_kv_token: 0.0,
            })),
            source: "test".into(),
            provenance: None,
        };
        let class = |name: &str, priority| ServiceClass {
            name: name.into(),
            priority,
            description: None,
            targets: vec![SloTarget {
                model: "*".into(),
                ttft: Some(LatencyTarget {
                    statistic: Statistic::Mean,
                    ms: 5000.0,
                }),
                itl: None,
            }],
        };
        let workload = |name: &str, class: &str, rate_rps: f64, min_replicas| Workload {
            name: name.into(),
            model: "m".into(),
            service_class: class.into(),
            rate_rps,
            prompt_tokens: 100.0,
            output_tokens: 10.0,
            prompt_dist: LengthDist::Fixed { mean: 100.0 },
            output_dist: LengthDist::Fixed { mean: 10.0 },
            arrivals: ArrivalProcess::Poisson,
            min_replicas,
            max_batch: None,
            current: None,
        };
        let build = |rates: (f64, f64)| {
            Scenario::from_parts(ScenarioParts::in_memory(
                "t",
                vec![Accelerator {
                    name: "H100".into(),
                    gpu_type: "H100".into(),
                    device: None,
                    cost_cents_per_hour: 100.0,
                    inventory_gpus: Some(5),
                    memory_gb: None,
                    interconnect: None,
                }],
                vec![profile.clone()],
                vec![class("p1", 1), class("p2", 2)],
                vec![
                    workload("a", "p1", rates.0, 1),
                    workload("b", "p1", 0.0, 1),
                    workload("c", "p2", rates.1, 1),
                ],
            ))
            .unwrap()
        };
        // Size one replica to set the loads: A needs 10 replicas, C needs 5.
        let probe = build((1.0, 1.0));
        let per_replica = problem(&probe, &CandidateOptions::default()).servers[0].candidates[0]
            .max_rate_per_replica_rps;
        let scenario = build((9.5 * per_replica, 4.5 * per_replica));
        let problem = problem(&scenario, &CandidateOptions::default());
        assert_eq!(problem.servers[0].candidates[0].replicas, 10);
        assert_eq!(problem.servers[2].candidates[0].replicas, 5);
        let exact = Exact::default().solve(&problem);
        assert!(
            matches!(exact.choices[1], Choice::Single { replicas: 1, .. }),
            "b keeps its replica: {:?}",
            exact.choices[1]
        );
        assert!(
            matches!(exact.choices[2], Choice::Unplaced(_)),
            "c cannot take b's GPU"
        );
        let key = exact.objective(&problem);
        let best = brute_force(&problem);
        assert!(
            lex_le(&key, &best) && lex_le(&best, &key),
            "{key:?} vs {best:?}"
        );
    }

    #[test]
    fn priorities_are_served_first() {
        // Enough GPUs for only part of the load: level 1 (premium) must be fully served before
        // any lower level gets anything it could take from it.
        let scenario = synthetic_limited_scenario(9, 2, 11, (0.3, 0.4));
        let problem = problem(&scenario, &CandidateOptions::default());
        let exact = Exact::default().solve(&problem);
        let key = exact.objective(&problem);
        let best = brute_force(&problem);
        assert!(
            lex_le(&key, &best) && lex_le(&best, &key),
            "{key:?} vs {best:?}"
        );
    }
}
