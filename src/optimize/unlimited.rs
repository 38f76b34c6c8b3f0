//! The unlimited solver: every server takes its lowest-value candidate (inventory ignored).

use super::candidates::ServerCandidates;
use super::problem::{Choice, Problem, Solution, SolveStatus, Solver, unplaced_without_candidates};

/// Lowest value per server; ties go to fewer GPUs, then to the earlier profile.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unlimited;

/// Index of the server's best candidate by value, then GPUs, then profile order.
pub fn cheapest(server: &ServerCandidates) -> Option<usize> {
    server
        .candidates
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| a.value.total_cmp(&b.value).then(a.gpus().cmp(&b.gpus())))
        .map(|(i, _)| i)
}

impl Solver for Unlimited {
    fn solve(&self, problem: &Problem) -> Solution {
        let choices = problem
            .servers
            .iter()
            .map(|s| match cheapest(s) {
                Some(i) => Choice::full(s, i),
                None => Choice::Unplaced(unplaced_without_candidates(s)),
            })
            .collect();
        Solution {
            choices,
            status: SolveStatus::Optimal,
            notes: Vec::new(),
        }
    }
}
