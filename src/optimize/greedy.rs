//! Upstream's limited-capacity greedy (inferno's `SolveGreedy`), for parity with WVA.
//!
//! Each server sorts its candidates by value; its *regret* is how much worse its second choice
//! is (the largest float when it has one choice). Servers are taken by priority (1 first), then
//! regret (largest first), then value (largest first); a server whose candidate does not fit
//! moves to its next candidate, with a new regret, and is re-inserted in order. Priority levels
//! are processed one after another, each level's leftovers getting best-effort capacity
//! ([`super::saturation`]) before the next level, unless best effort is [`super::BestEffort::Delayed`].
//!
//! Upstream breaks ties by Go's map order and an unstable sort (random); `wva` starts from
//! scenario order (candidates by value, then GPUs), so it is deterministic. A server moved to its
//! next candidate is re-inserted before the entries that compare equal to it, as upstream's
//! binary search does.

use super::BestEffort;
use super::problem::{
    Choice, Problem, Solution, SolveStatus, Solver, by_value, mark_unplaced,
    unplaced_without_candidates,
};
use super::saturation::{self, Available, SaturationPolicy};
use std::cmp::Ordering;

/// The greedy solver.
#[derive(Clone, Copy, Debug, Default)]
pub struct Greedy {
    /// What to do with servers that do not fit.
    pub saturation: SaturationPolicy,
    /// When best-effort servers are served.
    pub best_effort: BestEffort,
}

#[derive(Clone, Debug)]
struct Entry {
    server: usize,
    /// Candidate indices by value, ascending.
    order: Vec<usize>,
    current: usize,
    regret: f64,
    priority: u32,
}

impl Entry {
    fn value(&self, problem: &Problem) -> f64 {
        problem.servers[self.server].candidates[self.order[self.current]].value
    }
}

fn compare(a: &Entry, b: &Entry, problem: &Problem) -> Ordering {
    a.priority
        .cmp(&b.priority)
        .then(b.regret.total_cmp(&a.regret))
        .then(b.value(problem).total_cmp(&a.value(problem)))
}

/// Upstream clamps priorities to 1..=100 (out of range means 100).
fn upstream_priority(p: u32) -> u32 {
    if (1..=100).contains(&p) { p } else { 100 }
}

impl Solver for Greedy {
    fn solve(&self, problem: &Problem) -> Solution {
        let mut choices: Vec<Choice> = problem
            .servers
            .iter()
            .map(|s| Choice::Unplaced(unplaced_without_candidates(s)))
            .collect();
        let mut entries: Vec<Entry> = problem
            .servers
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.candidates.is_empty())
            .map(|(i, s)| {
                let order = by_value(s);
                let regret = if order.len() > 1 {
                    s.candidates[order[1]].value - s.candidates[order[0]].value
                } else {
                    f64::MAX
                };
                Entry {
                    server: i,
                    order,
                    current: 0,
                    regret,
                    priority: upstream_priority(s.priority),
                }
            })
            .collect();
        entries.sort_by(|a, b| compare(a, b, problem));

        let mut available: Available = problem.inventory.clone();
        let mut leftovers: Vec<Entry> = Vec::new();
        let mut start = 0;
        while start < entries.len() {
            let end = if self.best_effort == BestEffort::Delayed {
                entries.len()
            } else {
                start
                    + entries[start..]
                        .iter()
                        .take_while(|e| e.priority == entries[start].priority)
                        .count()
            };
            let unplaced = allocate(
                problem,
                entries[start..end].to_vec(),
                &mut available,
                &mut choices,
            );
            if self.best_effort == BestEffort::Delayed {
                leftovers = unplaced;
            } else {
                best_effort(
                    self.saturation,
                    problem,
                    &unplaced,
                    &mut available,
                    &mut choices,
                );
            }
            start = end;
        }
        if self.best_effort == BestEffort::Delayed {
            best_effort(
                self.saturation,
                problem,
                &leftovers,
                &mut available,
                &mut choices,
            );
        }
        // Servers still without anything are out of capacity.
        mark_unplaced(problem, &mut choices);
        Solution {
            choices,
            status: SolveStatus::Heuristic,
            notes: Vec::new(),
        }
    }
}

fn best_effort(
    policy: SaturationPolicy,
    problem: &Problem,
    unplaced: &[Entry],
    available: &mut Available,
    choices: &mut [Choice],
) {
    let list: Vec<(usize, Vec<usize>)> = unplaced
        .iter()
        .map(|e| (e.server, e.order.clone()))
        .collect();
    saturation::apply(policy, problem, &list, available, choices);
}

/// Allocates `entries` (sorted) in order; returns those that fit nowhere.
fn allocate(
    problem: &Problem,
    mut list: Vec<Entry>,
    available: &mut Available,
    choices: &mut [Choice],
) -> Vec<Entry> {
    let mut unplaced = Vec::new();
    while !list.is_empty() {
        let mut top = list.remove(0);
        let server = &problem.servers[top.server];
        let c = top.order[top.current];
        let cand = &server.candidates[c];
        let need = cand.gpus();
        let fits = match problem.available(&cand.gpu_type) {
            None => true,
            Some(_) => available.get(&cand.gpu_type).copied().unwrap_or(0) >= need,
        };
        if fits {
            if let Some(left) = available.get_mut(&cand.gpu_type) {
                *left -= need;
            }
            choices[top.server] = Choice::full(server, c);
            continue;
        }
        top.current += 1;
        if top.current + 1 < top.order.len() {
            top.regret = server.candidates[top.order[top.current + 1]].value
                - server.candidates[top.order[top.current]].value;
        } else if top.current == top.order.len() {
            top.current -= 1;
            unplaced.push(top);
            continue;
        } else {
            top.regret = f64::MAX;
        }
        let at = list.partition_point(|e| compare(e, &top, problem) == Ordering::Less);
        list.insert(at, top);
    }
    unplaced
}
