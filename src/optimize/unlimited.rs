//! The unlimited solver: every server takes its cheapest candidate (inventory ignored).

use super::{ServerCandidates, Solver, UnallocatedReason, Unplaced};

/// Cheapest candidate per server; ties go to fewer GPUs, then to the earlier profile.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unlimited;

impl Solver for Unlimited {
    fn solve(&self, servers: &[ServerCandidates]) -> Vec<Result<usize, Unplaced>> {
        servers
            .iter()
            .map(|s| {
                s.candidates
                    .iter()
                    .enumerate()
                    .min_by(|(_, a), (_, b)| {
                        a.cost_cents_per_hour
                            .total_cmp(&b.cost_cents_per_hour)
                            .then(a.gpus().cmp(&b.gpus()))
                    })
                    .map(|(i, _)| i)
                    .ok_or_else(|| s.unplaced_without_candidates())
            })
            .collect()
    }
}

impl ServerCandidates<'_> {
    /// Why this server has no candidate at all.
    pub fn unplaced_without_candidates(&self) -> Unplaced {
        if self.rejected.is_empty() {
            Unplaced {
                reason: UnallocatedReason::NoProfile,
                detail: format!(
                    "no accelerator has a profile for model `{}`",
                    self.workload.model
                ),
            }
        } else {
            let detail = self
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
}
