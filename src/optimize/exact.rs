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

impl Exact {
    fn run(
        &self,
        problem: &Problem,
        model: &Model,
        goal: Goal,
        serve_all: bool,
        caps: &[(u32, f64)],
        warm: Option<&[f64]>,
    ) -> Result<Outcome, String> {
        let mut vars = ProblemVariables::new();
        let handles: Vec<Variable> = model
            .slots
            .iter()
            .map(|slot| match (self.allow_mixed, slot.candidate) {
                (true, Some(c)) => {
                    let server = &problem.servers[slot.server];
                    let top = server.candidates[c]
                        .replicas
                        .max(server.workload.min_replicas)
                        .max(1);
                    vars.add(variable().integer().min(0).max(top))
                }
                (_, None) if serve_all => vars.add(variable().binary().max(0)),
                _ => vars.add(variable().binary()),
            })
            .collect();
        let weight = |slot: &Slot, level: Option<u32>| -> f64 {
            let server = &problem.servers[slot.server];
            match (slot.candidate, level) {
                (None, Some(l)) if server.priority == l => problem.unserved_weight(slot.server),
                (None, _) | (Some(_), Some(_)) => 0.0,
                (Some(c), None) => {
                    let cand = &server.candidates[c];
                    if self.allow_mixed {
                        cand.replica_cost()
                    } else {
                        cand.value
                    }
                }
            }
        };
        let level = match goal {
            Goal::Unserved(l) => Some(l),
            Goal::Value => None,
        };
        let objective: Expression = model
            .slots
            .iter()
            .zip(&handles)
            .map(|(slot, &v)| weight(slot, level) * v)
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
        Ok(Outcome { values, status })
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
    ) -> Result<(Vec<Choice>, bool), String> {
        let model = reduce(problem, self.allow_mixed);
        if model.free.is_empty() {
            return Ok((self.choices(problem, &model, &[]), true));
        }
        let warm = self.warm_start(&model, greedy);
        let greedy_serves_all = problem
            .servers
            .iter()
            .zip(&greedy.choices)
            .all(|(s, c)| s.candidates.is_empty() || matches!(c, Choice::Single { candidate, replicas } if *replicas >= s.candidates[*candidate].replicas));
        let mut proven = true;
        let mut note = |status: SolutionStatus| {
            if !matches!(status, SolutionStatus::Optimal) {
                proven = false;
            }
        };
        // Everything served?
        match self.run(
            problem,
            &model,
            Goal::Value,
            true,
            &[],
            warm.as_deref().filter(|_| greedy_serves_all),
        ) {
            Ok(outcome) => {
                note(outcome.status);
                return Ok((self.choices(problem, &model, &outcome.values), proven));
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
            let outcome = self.run(
                problem,
                &model,
                Goal::Unserved(level),
                false,
                &caps,
                last.as_deref(),
            )?;
            note(outcome.status);
            let unserved: f64 = model
                .slots
                .iter()
                .zip(&outcome.values)
                .filter(|(s, _)| {
                    s.candidate.is_none() && problem.servers[s.server].priority == level
                })
                .map(|(s, v)| v * problem.unserved_weight(s.server))
                .sum();
            caps.push((level, unserved));
            last = Some(outcome.values);
        }
        let outcome = self.run(problem, &model, Goal::Value, false, &caps, last.as_deref())?;
        note(outcome.status);
        Ok((self.choices(problem, &model, &outcome.values), proven))
    }
}

impl Solver for Exact {
    fn solve(&self, problem: &Problem) -> Solution {
        if !problem.is_limited() && !self.allow_mixed {
            return Unlimited.solve(problem);
        }
        let greedy = Greedy::default().solve(problem);
        let (mut choices, status, mut notes) = match self.solve_milp(problem, &greedy) {
            Ok((choices, true)) => (choices, SolveStatus::Optimal, Vec::new()),
            Ok((choices, false)) => (
                choices,
                SolveStatus::TimeLimit,
                vec![format!(
                    "the exact solver stopped at its time limit ({} s per solve): the plan is the best feasible answer found, not proven optimal",
                    self.time_limit_s
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
