//! What to do with servers that did not fit: upstream's saturation policies, which hand out the
//! capacity that is left as partial allocations (fewer replicas than the load needs).
//!
//! - `none`: nothing; they stay unallocated.
//! - `priority-exhaustive`: in order, each server takes as many replicas as fit on its first
//!   candidate (by value) that has room for at least one.
//! - `round-robin`: every server fixes its first candidate with room for one replica, then
//!   rounds give each one more replica until nothing fits.
//! - `priority-round-robin`: round-robin within each priority level, most important first.

use super::problem::{Choice, Problem};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Upstream's saturation policies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SaturationPolicy {
    /// Leave them unallocated.
    #[default]
    None,
    /// Each in turn takes all it can.
    PriorityExhaustive,
    /// Round-robin within each priority level.
    PriorityRoundRobin,
    /// Round-robin over all of them.
    RoundRobin,
}

impl SaturationPolicy {
    /// Parses upstream's names (`PriorityExhaustive`, ...) and `wva`'s (`priority-exhaustive`).
    pub fn parse(text: &str) -> Option<Self> {
        let key: String = text
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match key.as_str() {
            "" | "none" => Some(SaturationPolicy::None),
            "priorityexhaustive" => Some(SaturationPolicy::PriorityExhaustive),
            "priorityroundrobin" => Some(SaturationPolicy::PriorityRoundRobin),
            "roundrobin" => Some(SaturationPolicy::RoundRobin),
            _ => None,
        }
    }
}

impl fmt::Display for SaturationPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SaturationPolicy::None => "none",
            SaturationPolicy::PriorityExhaustive => "priority-exhaustive",
            SaturationPolicy::PriorityRoundRobin => "priority-round-robin",
            SaturationPolicy::RoundRobin => "round-robin",
        })
    }
}

/// GPUs left per limited type.
pub type Available = BTreeMap<String, u64>;

/// How many replicas of `candidate` fit in what is left (`u64::MAX` when unlimited).
fn room(problem: &Problem, available: &Available, gpu_type: &str, gpus_per_replica: u32) -> u64 {
    if problem.available(gpu_type).is_none() {
        return u64::MAX;
    }
    available.get(gpu_type).copied().unwrap_or(0) / u64::from(gpus_per_replica.max(1))
}

fn take(problem: &Problem, available: &mut Available, gpu_type: &str, gpus: u64) {
    if problem.available(gpu_type).is_some()
        && let Some(left) = available.get_mut(gpu_type)
    {
        *left = left.saturating_sub(gpus);
    }
}

/// Applies `policy` to the servers in `unplaced` (indices, in the order the policy should visit
/// them), each with its candidate indices in value order, giving partial allocations in
/// `choices` out of `available`.
pub fn apply(
    policy: SaturationPolicy,
    problem: &Problem,
    unplaced: &[(usize, Vec<usize>)],
    available: &mut Available,
    choices: &mut [Choice],
) {
    match policy {
        SaturationPolicy::None => {}
        SaturationPolicy::PriorityExhaustive => {
            for (server, order) in unplaced {
                let cands = &problem.servers[*server].candidates;
                for &c in order {
                    let cand = &cands[c];
                    let fit = room(problem, available, &cand.gpu_type, cand.gpus_per_replica)
                        .min(u64::from(cand.replicas));
                    if fit > 0 {
                        let fit = fit as u32;
                        take(
                            problem,
                            available,
                            &cand.gpu_type,
                            u64::from(fit) * u64::from(cand.gpus_per_replica),
                        );
                        choices[*server] = Choice::Single {
                            candidate: c,
                            replicas: fit,
                        };
                        break;
                    }
                }
            }
        }
        SaturationPolicy::RoundRobin => round_robin(problem, unplaced, available, choices),
        SaturationPolicy::PriorityRoundRobin => {
            let mut start = 0;
            while start < unplaced.len() {
                let priority = problem.servers[unplaced[start].0].priority;
                let end = start
                    + unplaced[start..]
                        .iter()
                        .take_while(|(s, _)| problem.servers[*s].priority == priority)
                        .count();
                round_robin(problem, &unplaced[start..end], available, choices);
                start = end;
            }
        }
    }
}

fn round_robin(
    problem: &Problem,
    unplaced: &[(usize, Vec<usize>)],
    available: &mut Available,
    choices: &mut [Choice],
) {
    // (server, candidate once fixed, replicas so far, still active)
    let mut tickets: Vec<(usize, Option<usize>, u32, bool)> =
        unplaced.iter().map(|(s, _)| (*s, None, 0, true)).collect();
    loop {
        let mut progressed = false;
        for (t, (server, order)) in tickets.iter_mut().zip(unplaced) {
            if !t.3 {
                continue;
            }
            let cands = &problem.servers[*server].candidates;
            if t.1.is_none() {
                t.1 = order.iter().copied().find(|&c| {
                    room(
                        problem,
                        available,
                        &cands[c].gpu_type,
                        cands[c].gpus_per_replica,
                    ) > 0
                });
                if t.1.is_none() {
                    t.3 = false;
                    continue;
                }
            }
            let cand = &cands[t.1.unwrap_or_default()];
            if t.2 < cand.replicas
                && room(problem, available, &cand.gpu_type, cand.gpus_per_replica) > 0
            {
                take(
                    problem,
                    available,
                    &cand.gpu_type,
                    u64::from(cand.gpus_per_replica),
                );
                t.2 += 1;
                progressed = true;
            } else {
                t.3 = false;
            }
        }
        if !progressed {
            break;
        }
    }
    for (server, candidate, replicas, _) in tickets {
        if let (Some(candidate), true) = (candidate, replicas > 0) {
            choices[server] = Choice::Single {
                candidate,
                replicas,
            };
        }
    }
}
