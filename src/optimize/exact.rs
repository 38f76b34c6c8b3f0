//! The exact solver: the allocation as a mixed-integer program, solved by a real MILP solver
//! through `good_lp` (the pure-Rust `microlp` by default; COIN-OR CBC with the `cbc` feature).
//!
//! Single assignment (default): a binary `x[i][c]` per server `i` and candidate `c`, a binary
//! `u[i]` for "unserved", `sum_c x[i][c] + u[i] = 1`, and per limited GPU type
//! `sum gpus[i][c] * x[i][c] <= inventory`. With `--allow-mixed`, integer replicas `n[i][c]` per
//! candidate instead, with `sum_c rate[i][c] * n[i][c] >= load[i]` (heterogeneous replicas).
//!
//! Priorities are lexicographic, solved as a sequence of programs: first try to serve
//! everything at the least value (cost or transition penalty); if the inventory cannot, minimise
//! the unserved load of priority level 1, fix that, then level 2, ..., then the value.
//!
//! Before building the program, servers whose best candidate is on an unlimited GPU type take it
//! (nothing can beat it), and candidates worse than the best unlimited one or dominated on their
//! own type (no cheaper and no fewer GPUs) are dropped. The greedy answer warm-starts the
//! solver, and is the fallback if the solver fails; a solve that hits the time limit keeps the
//! best feasible answer found and says so.

use super::candidates::ServerCandidates;
use super::greedy::Greedy;
use super::problem::{
    Choice, Problem, Solution, SolveStatus, Solver, unplaced_out_of_capacity,
    unplaced_without_candidates,
};
use super::saturation::{self, SaturationPolicy};
use super::unlimited::Unlimited;
use good_lp::{
    Expression, ProblemVariables, Solution as _, SolutionStatus, SolverModel, Variable,
    WithInitialSolution, WithTimeLimit, constraint, variable,
};
use std::collections::BTreeMap;

/// Default time limit per MILP solve, seconds.
pub const DEFAULT_TIME_LIMIT_S: f64 = 10.0;

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
    /// Allow several accelerator types per server.
    pub allow_mixed: bool,
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
            allow_mixed: false,
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
    slots: Vec<Slot>,
    /// Choices fixed before solving (servers whose best candidate is unlimited).
    fixed: BTreeMap<usize, Choice>,
    /// Servers in the program.
    free: Vec<usize>,
}

fn dominated(server: &ServerCandidates, c: usize, d: usize, mixed: bool) -> bool {
    let (a, b) = (&server.candidates[c], &server.candidates[d]);
    if a.gpu_type != b.gpu_type || c == d {
        return false;
    }
    let (cost_a, cost_b, size_a, size_b) = if mixed {
        (
            a.replica_cost() / a.max_rate_per_replica_rps,
            b.replica_cost() / b.max_rate_per_replica_rps,
            a.gpus_per_replica as f64 / a.max_rate_per_replica_rps,
            b.gpus_per_replica as f64 / b.max_rate_per_replica_rps,
        )
    } else {
        (a.value, b.value, a.gpus() as f64, b.gpus() as f64)
    };
    let no_worse = cost_b <= cost_a && size_b <= size_a;
    let better = cost_b < cost_a || size_b < size_a || d < c;
    no_worse && better
}

fn reduce(problem: &Problem, mixed: bool) -> Model {
    let mut slots = Vec::new();
    let mut fixed = BTreeMap::new();
    let mut free = Vec::new();
    for (i, server) in problem.servers.iter().enumerate() {
        if server.candidates.is_empty() {
            fixed.insert(i, Choice::Unplaced(unplaced_without_candidates(server)));
            continue;
        }
        let unlimited = |c: usize| problem.available(&server.candidates[c].gpu_type).is_none();
        let best_unlimited = (0..server.candidates.len())
            .filter(|&c| unlimited(c))
            .min_by(|&a, &b| {
                server.candidates[a]
                    .value
                    .total_cmp(&server.candidates[b].value)
            });
        let best = super::unlimited::cheapest(server);
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
    }
    Model { slots, fixed, free }
}

/// What one program minimises.
#[derive(Clone, Copy, Debug)]
enum Goal {
    /// Unserved load of servers at this priority.
    Unserved(u32),
    /// Total value.
    Value,
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

impl Exact {
    fn run(&self, problem: &Problem, model: &Model, phase: Phase) -> Result<Outcome, String> {
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
                let top = match (self.allow_mixed, slot.candidate) {
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
        let solve = |values: &mut Vec<f64>| -> Result<SolutionStatus, String> {
            macro_rules! finish {
                ($m:expr) => {{
                    let mut m = $m.with_time_limit(self.time_limit_s);
                    if let Some(w) = warm {
                        m = m.with_initial_solution(handles.iter().copied().zip(w.iter().copied()));
                    }
                    for c in constraints {
                        m.add_constraint(c);
                    }
                    let s = m.solve().map_err(|e| e.to_string())?;
                    *values = handles.iter().map(|&h| s.value(h)).collect();
                    Ok(s.status())
                }};
            }
            match self.backend {
                Backend::Microlp => finish!(vars.minimise(objective).using(good_lp::microlp)),
                #[cfg(feature = "cbc")]
                Backend::Cbc => {
                    let mut m = vars.minimise(objective).using(good_lp::coin_cbc);
                    m.set_parameter("log", "0");
                    finish!(m)
                }
            }
        };
        let mut values = Vec::new();
        let status = solve(&mut values)?;
        if !relaxed && !self.allow_mixed {
            // Trust, but verify: a backend's answer must satisfy the program.
            for v in &mut values {
                *v = v.round();
            }
            if !self.consistent(problem, model, &phase, &values) {
                return Err(
                    "the MILP backend returned an assignment that violates the constraints".into(),
                );
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
                if self.allow_mixed {
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

    /// Slots fixed so that servers less important than `level` are left unserved (or on their
    /// unlimited fallback): while a level's unserved load is minimised they can only take
    /// capacity away, so parking them changes nothing but the size of the program.
    fn park_below(&self, problem: &Problem, model: &Model, level: u32) -> Vec<Option<bool>> {
        model
            .slots
            .iter()
            .map(|slot| {
                let server = &problem.servers[slot.server];
                if server.priority <= level {
                    return None;
                }
                let has_unserved = model
                    .slots
                    .iter()
                    .any(|s| s.server == slot.server && s.candidate.is_none());
                Some(match slot.candidate {
                    None => true,
                    Some(c) => {
                        !has_unserved && problem.available(&server.candidates[c].gpu_type).is_none()
                    }
                })
            })
            .collect()
    }

    /// True when `values` (a 0/1 assignment) satisfies the phase: one choice per server, the
    /// fixings, the inventory and the caps.
    fn consistent(&self, problem: &Problem, model: &Model, phase: &Phase, values: &[f64]) -> bool {
        let fixings_hold = phase.fixed.is_none_or(|f| {
            f.iter()
                .zip(values)
                .all(|(fix, &v)| fix.is_none_or(|on| (v > 0.5) == on))
        });
        let one_each = model.free.iter().all(|&i| {
            model
                .slots
                .iter()
                .zip(values)
                .filter(|(s, v)| s.server == i && **v > 0.5)
                .count()
                == 1
        });
        let fits = self
            .used(problem, model, values)
            .iter()
            .all(|(t, &u)| problem.available(t).is_none_or(|a| u <= a));
        let caps_hold = phase.caps.iter().all(|&(level, cap)| {
            self.objective_of(problem, model, Goal::Unserved(level), values)
                <= cap + 1e-6 * cap.max(1.0)
        });
        let serve_all = !phase.serve_all
            || model
                .slots
                .iter()
                .zip(values)
                .all(|(s, v)| s.candidate.is_some() || *v < 0.5);
        fixings_hold && one_each && fits && caps_hold && serve_all
    }

    /// GPUs used per limited type by an assignment.
    fn used(&self, problem: &Problem, model: &Model, values: &[f64]) -> BTreeMap<String, u64> {
        let mut used = BTreeMap::new();
        for (slot, &v) in model.slots.iter().zip(values) {
            if let Some(c) = slot.candidate
                && v > 0.5
            {
                let cand = &problem.servers[slot.server].candidates[c];
                *used.entry(cand.gpu_type.clone()).or_insert(0) += cand.gpus();
            }
        }
        used
    }

    /// Serves, greedily, unserved servers at priority `level` (heaviest first, each on its
    /// candidate needing the fewest GPUs that still fits) in a feasible assignment.
    fn fill(&self, problem: &Problem, model: &Model, values: &mut [f64], level: u32) {
        let mut used = self.used(problem, model, values);
        let mut waiting: Vec<usize> = model
            .slots
            .iter()
            .enumerate()
            .filter(|(k, s)| {
                s.candidate.is_none()
                    && values[*k] > 0.5
                    && problem.servers[s.server].priority == level
            })
            .map(|(k, _)| k)
            .collect();
        waiting.sort_by(|&a, &b| {
            problem
                .unserved_weight(model.slots[b].server)
                .total_cmp(&problem.unserved_weight(model.slots[a].server))
        });
        for u in waiting {
            let server = model.slots[u].server;
            let best = model
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.server == server)
                .filter_map(|(k, s)| {
                    s.candidate
                        .map(|c| (k, &problem.servers[server].candidates[c]))
                })
                .filter(|(_, c)| {
                    problem
                        .available(&c.gpu_type)
                        .is_none_or(|a| used.get(&c.gpu_type).copied().unwrap_or(0) + c.gpus() <= a)
                })
                .min_by_key(|(_, c)| c.gpus());
            if let Some((k, c)) = best {
                values[u] = 0.0;
                values[k] = 1.0;
                *used.entry(c.gpu_type.clone()).or_insert(0) += c.gpus();
            }
        }
    }

    /// Solves one phase. Single assignments first get an incumbent by relax-and-fix: solve the
    /// LP relaxation, fix every server the LP serves integrally with one candidate, and solve the
    /// smaller program left for the others. When the incumbent (that one, or `warm`, whichever
    /// is better) reaches the LP bound it is optimal and the full program is skipped; otherwise
    /// the full program starts from it. Returns the outcome, whether it is proven optimal, and
    /// the LP bound.
    fn solve_phase(
        &self,
        problem: &Problem,
        model: &Model,
        phase: Phase,
    ) -> Result<(Outcome, bool, f64), String> {
        if self.allow_mixed {
            let outcome = self.run(problem, model, phase)?;
            let proven = matches!(outcome.status, SolutionStatus::Optimal);
            return Ok((outcome, proven, f64::NAN));
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
        let bound = self.objective_of(problem, model, phase.goal, &lp.values);
        let mut fixed: Vec<Option<bool>> = phase
            .fixed
            .map_or_else(|| vec![None; model.slots.len()], <[_]>::to_vec);
        for &i in &model.free {
            let mine: Vec<usize> = (0..model.slots.len())
                .filter(|&k| model.slots[k].server == i)
                .collect();
            if mine.iter().any(|&k| fixed[k] == Some(true)) {
                continue;
            }
            if let Some(&k) = mine.iter().find(|&&k| {
                fixed[k].is_none()
                    && model.slots[k].candidate.is_some()
                    && lp.values[k] >= 1.0 - 1e-7
            }) {
                for &m in &mine {
                    fixed[m] = Some(m == k);
                }
            }
        }
        let value_of = |v: &[f64]| self.objective_of(problem, model, phase.goal, v);
        let rounded = self
            .run(
                problem,
                model,
                Phase {
                    fixed: Some(&fixed),
                    warm: None,
                    relaxed: false,
                    ..phase
                },
            )
            .ok();
        let mut best: Option<Vec<f64>> = phase
            .warm
            .filter(|w| self.consistent(problem, model, &phase, w))
            .map(<[f64]>::to_vec);
        if let Some(alt) = phase.alternative
            && self.consistent(problem, model, &phase, alt)
            && best.as_ref().is_none_or(|w| value_of(alt) < value_of(w))
        {
            best = Some(alt.to_vec());
        }
        if let Some(r) = rounded
            && best
                .as_ref()
                .is_none_or(|w| value_of(&r.values) < value_of(w))
        {
            best = Some(r.values);
        }
        let tolerance = 1e-9 * bound.abs().max(1.0);
        if let Some(b) = &best
            && value_of(b) <= bound + tolerance
        {
            return Ok((
                Outcome {
                    values: b.clone(),
                    status: SolutionStatus::Optimal,
                },
                true,
                bound,
            ));
        }
        match (
            self.run(
                problem,
                model,
                Phase {
                    warm: best.as_deref(),
                    ..phase
                },
            ),
            best,
        ) {
            // A solver stopped early must not return worse than where it started.
            (Ok(outcome), Some(b)) if value_of(&b) < value_of(&outcome.values) - tolerance => Ok((
                Outcome {
                    values: b,
                    status: SolutionStatus::TimeLimit,
                },
                false,
                bound,
            )),
            (Ok(outcome), _) => {
                let proven = matches!(outcome.status, SolutionStatus::Optimal);
                Ok((outcome, proven, bound))
            }
            (Err(_), Some(b)) => Ok((
                Outcome {
                    values: b,
                    status: SolutionStatus::TimeLimit,
                },
                false,
                bound,
            )),
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
            let mine: Vec<(usize, &Slot)> = model
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.server == i)
                .collect();
            if self.allow_mixed {
                let rate = server.workload.rate_rps;
                let mut capacity = Expression::from(0.0);
                let mut count = Expression::from(0.0);
                let mut unserved = Expression::from(0.0);
                for (k, slot) in &mine {
                    match slot.candidate {
                        Some(c) => {
                            capacity += server.candidates[c].max_rate_per_replica_rps * handles[*k];
                            count += handles[*k];
                        }
                        None => unserved += handles[*k],
                    }
                }
                out.push(constraint!(capacity + rate * unserved.clone() >= rate));
                let floor = f64::from(server.workload.min_replicas.max(u32::from(rate > 0.0)));
                out.push(constraint!(count + floor * unserved >= floor));
            } else {
                let one: Expression = mine
                    .iter()
                    .map(|(k, _)| Expression::from(handles[*k]))
                    .sum();
                out.push(constraint!(one == 1.0));
            }
        }
        // Per limited GPU type: inventory.
        for (gpu_type, &inventory) in &problem.inventory {
            let mut used = Expression::from(0.0);
            let mut any = false;
            for (k, slot) in model.slots.iter().enumerate() {
                if let Some(c) = slot.candidate {
                    let cand = &problem.servers[slot.server].candidates[c];
                    if &cand.gpu_type == gpu_type {
                        let gpus = if self.allow_mixed {
                            f64::from(cand.gpus_per_replica)
                        } else {
                            cand.gpus() as f64
                        };
                        used += gpus * handles[k];
                        any = true;
                    }
                }
            }
            if any {
                out.push(constraint!(used <= inventory as f64));
            }
        }
        // Lexicographic caps on earlier levels' unserved load.
        for &(level, bound) in caps {
            let mut unserved = Expression::from(0.0);
            for (k, slot) in model.slots.iter().enumerate() {
                if slot.candidate.is_none() && problem.servers[slot.server].priority == level {
                    unserved += problem.unserved_weight(slot.server) * handles[k];
                }
            }
            out.push(constraint!(unserved <= bound + 1e-6 * bound.max(1.0)));
        }
        out
    }

    fn choices(&self, problem: &Problem, model: &Model, values: &[f64]) -> Vec<Choice> {
        let mut choices: Vec<Choice> = (0..problem.servers.len())
            .map(|i| {
                model.fixed.get(&i).cloned().unwrap_or(Choice::Unplaced(
                    unplaced_without_candidates(&problem.servers[i]),
                ))
            })
            .collect();
        for &i in &model.free {
            let mut parts = Vec::new();
            let mut unserved = false;
            for (slot, &v) in model.slots.iter().zip(values) {
                if slot.server != i {
                    continue;
                }
                match slot.candidate {
                    Some(c) if self.allow_mixed && v.round() >= 1.0 => {
                        parts.push((c, v.round() as u32))
                    }
                    Some(c) if !self.allow_mixed && v > 0.5 => {
                        parts.push((c, problem.servers[i].candidates[c].replicas))
                    }
                    None if v > 0.5 => unserved = true,
                    _ => {}
                }
            }
            choices[i] = match (unserved, parts.len()) {
                (true, _) | (false, 0) => {
                    Choice::Unplaced(unplaced_without_candidates(&problem.servers[i]))
                }
                (false, 1) => Choice::Single {
                    candidate: parts[0].0,
                    replicas: parts[0].1,
                },
                _ => Choice::Mixed(parts),
            };
        }
        choices
    }

    fn warm_start(&self, model: &Model, greedy: &Solution) -> Option<Vec<f64>> {
        if self.allow_mixed {
            return None;
        }
        let mut values = vec![0.0; model.slots.len()];
        for &i in &model.free {
            let chosen = match &greedy.choices[i] {
                Choice::Single { candidate, .. } => model
                    .slots
                    .iter()
                    .position(|s| s.server == i && s.candidate == Some(*candidate)),
                _ => None,
            };
            let slot = chosen.or_else(|| {
                model
                    .slots
                    .iter()
                    .position(|s| s.server == i && s.candidate.is_none())
            })?;
            values[slot] = 1.0;
        }
        Some(values)
    }

    fn solve_milp(
        &self,
        problem: &Problem,
        greedy: &Solution,
    ) -> Result<(Vec<Choice>, bool, f64), String> {
        let model = reduce(problem, self.allow_mixed);
        if model.free.is_empty() {
            return Ok((self.choices(problem, &model, &[]), true, 0.0));
        }
        let warm = self.warm_start(&model, greedy);
        let greedy_serves_all = problem
            .servers
            .iter()
            .zip(&greedy.choices)
            .all(|(s, c)| s.candidates.is_empty() || matches!(c, Choice::Single { candidate, replicas } if *replicas >= s.candidates[*candidate].replicas));
        let mut proven = true;
        let mut worst_gap: f64 = 0.0;
        let mut track = |ok: bool, value: f64, bound: f64| {
            if !ok {
                proven = false;
                if bound.is_finite() {
                    worst_gap = worst_gap.max((value - bound) / value.abs().max(1e-9));
                }
            }
        };
        let base = Phase {
            goal: Goal::Value,
            serve_all: true,
            caps: &[],
            warm: None,
            relaxed: false,
            fixed: None,
            alternative: warm.as_deref(),
        };
        // Everything served?
        match self.solve_phase(
            problem,
            &model,
            Phase {
                warm: warm.as_deref().filter(|_| greedy_serves_all),
                ..base
            },
        ) {
            Ok((outcome, ok, bound)) => {
                track(
                    ok,
                    self.objective_of(problem, &model, Goal::Value, &outcome.values),
                    bound,
                );
                return Ok((
                    self.choices(problem, &model, &outcome.values),
                    proven,
                    worst_gap,
                ));
            }
            Err(e) if e.to_ascii_lowercase().contains("infeasible") => {}
            Err(e) => return Err(e),
        }
        // Lexicographic: unserved load per level, then value.
        let mut caps: Vec<(u32, f64)> = Vec::new();
        let mut last = warm.clone();
        for level in problem.priority_levels() {
            if !model
                .slots
                .iter()
                .any(|s| s.candidate.is_none() && problem.servers[s.server].priority == level)
            {
                continue;
            }
            let goal = Goal::Unserved(level);
            let mut parked = self.park_below(problem, &model, level);
            // Levels already fully served stay fully served: fix their "unserved" to 0 rather
            // than bounding a sum (the same set, and far easier for the solver).
            for (k, slot) in model.slots.iter().enumerate() {
                let p = problem.servers[slot.server].priority;
                if slot.candidate.is_none() && caps.iter().any(|&(l, u)| l == p && u <= 1e-9) {
                    parked[k] = Some(false);
                }
            }
            // Starting points: the last answer and the greedy one, each with the less important
            // servers parked (which only frees capacity) and this level filled in greedily.
            let prepare = |values: &Vec<f64>| {
                let mut v: Vec<f64> = values
                    .iter()
                    .zip(&parked)
                    .map(|(&x, p)| match p {
                        Some(true) => 1.0,
                        Some(false) => 0.0,
                        None => x,
                    })
                    .collect();
                self.fill(problem, &model, &mut v, level);
                v
            };
            let start = last.as_ref().map(prepare);
            let from_greedy = warm.as_ref().map(prepare);
            let (outcome, ok, bound) = self.solve_phase(
                problem,
                &model,
                Phase {
                    goal,
                    serve_all: false,
                    caps: &caps,
                    warm: start.as_deref(),
                    fixed: Some(&parked),
                    alternative: from_greedy.as_deref(),
                    ..base
                },
            )?;
            let unserved = self.objective_of(problem, &model, goal, &outcome.values);
            track(ok, unserved, bound);
            caps.push((level, unserved));
            last = Some(outcome.values);
        }
        let (outcome, ok, bound) = self.solve_phase(
            problem,
            &model,
            Phase {
                serve_all: false,
                caps: &caps,
                warm: last.as_deref(),
                ..base
            },
        )?;
        track(
            ok,
            self.objective_of(problem, &model, Goal::Value, &outcome.values),
            bound,
        );
        Ok((
            self.choices(problem, &model, &outcome.values),
            proven,
            worst_gap,
        ))
    }
}

impl Solver for Exact {
    fn solve(&self, problem: &Problem) -> Solution {
        if !problem.is_limited() && !self.allow_mixed {
            return Unlimited.solve(problem);
        }
        let greedy = Greedy::default().solve(problem);
        let (mut choices, status, mut notes) = match self.solve_milp(problem, &greedy) {
            Ok((choices, true, _)) => (choices, SolveStatus::Optimal, Vec::new()),
            Ok((choices, false, gap)) => (
                choices,
                SolveStatus::TimeLimit,
                vec![format!(
                    "the exact solver could not prove this plan optimal within its time limit ({} s per solve): it is the best feasible answer found, within {:.3}% of the LP bound",
                    self.time_limit_s,
                    gap * 100.0
                )],
            ),
            Err(e) => (
                greedy.choices.clone(),
                SolveStatus::Fallback,
                vec![format!(
                    "the exact solver failed ({e}); the plan is the greedy solver's answer"
                )],
            ),
        };
        // Servers left out: out of capacity, then the saturation policy.
        let used = Solution {
            choices: choices.clone(),
            status,
            notes: Vec::new(),
        }
        .gpus_used(problem);
        let mut unplaced: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, server) in problem.servers.iter().enumerate() {
            if matches!(choices[i], Choice::Unplaced(_)) && !server.candidates.is_empty() {
                choices[i] = Choice::Unplaced(unplaced_out_of_capacity(server, problem, &used));
                let mut order: Vec<usize> = (0..server.candidates.len()).collect();
                order.sort_by(|&a, &b| {
                    server.candidates[a]
                        .value
                        .total_cmp(&server.candidates[b].value)
                });
                unplaced.push((i, order));
            }
        }
        if self.saturation != SaturationPolicy::None && !unplaced.is_empty() {
            unplaced.sort_by_key(|(i, _)| problem.servers[*i].priority);
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
        }
        notes.retain(|n| !n.is_empty());
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
            let tol = 1e-6 * x.abs().max(y.abs()).max(1.0);
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
            let mixed = Exact { allow_mixed: true, ..Exact::default() }.solve(&problem);
            prop_assert!(mixed.fits(&problem));
            let (ks, km) = (single.objective(&problem), mixed.objective(&problem));
            let levels = ks.len() - 1;
            prop_assert!(lex_le(&km[..levels], &ks[..levels]), "mixed serves less: {:?} vs {:?}", km, ks);
        }
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
