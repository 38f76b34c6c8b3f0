//! The MoE block: its time measured by tokens and activated experts (`moe.csv`), and how
//! many experts a batch activates on one rank.
//!
//! Routing assumption (documented in `docs/formats.md`): every token picks its `k` experts
//! uniformly at random among the `E` experts, independently of the other tokens, and the
//! experts are split evenly over the `ep` ranks. Then on one rank, for `T` tokens entering the
//! MoE layer (all tokens of the expert-parallel group):
//! - each of its `E/ep` experts is hit with probability `1 - (1 - k/E)^T`, so the expected
//!   number of activated experts is `E/ep x (1 - (1 - k/E)^T)`;
//! - it computes `T x k / ep` token-expert pairs, which the table (measured with all experts on
//!   one GPU, `k` pairs per token) knows as `T / ep` tokens.
//!
//! LLMServingSim instead assumes balanced routing (`min(T x k / ep, E / ep)` experts, every
//! token's pairs on every rank it touches), which activates more experts at small batches
//! than random routing does: with 8 of 128 experts per token, 16 tokens activate 64 experts
//! by its rule and 41 in expectation. Real routers are skewed towards popular experts, which
//! activates fewer still; uniform routing is the neutral assumption.

use super::curve::{Curve, bracket};
use std::collections::BTreeMap;

/// Time of the MoE block by activated experts, each a curve by tokens.
#[derive(Clone, Debug)]
pub(crate) struct MoeTable {
    activated: Vec<f64>,
    rows: Vec<Curve>,
}

impl MoeTable {
    /// The table through `rows` of `[tokens, activated_experts, time_us]`.
    ///
    /// # Errors
    /// When there are no rows.
    pub fn new(rows: &[[f64; 3]]) -> Result<Self, String> {
        // By the bits of the (finite, >= 0) activated count: they sort as the numbers do.
        let mut by_activated: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
        for &[tokens, activated, t] in rows {
            by_activated
                .entry(activated.to_bits())
                .or_default()
                .push((tokens, t));
        }
        let mut table = MoeTable {
            activated: Vec::new(),
            rows: Vec::new(),
        };
        for (a, points) in by_activated {
            if let Some(curve) = Curve::new(points) {
                table.activated.push(f64::from_bits(a));
                table.rows.push(curve);
            }
        }
        if table.rows.is_empty() {
            return Err("no MoE rows".into());
        }
        Ok(table)
    }

    /// Time of the block, µs, for `tokens` tokens activating `activated` experts.
    pub fn at(&self, tokens: f64, activated: f64) -> f64 {
        let (lo, hi, t) = bracket(&self.activated, activated);
        let a = self.rows[lo].at(tokens);
        if t == 0.0 {
            return a;
        }
        (a + t * (self.rows[hi].at(tokens) - a)).max(0.0)
    }
}

/// Expected experts activated on one of `ep` ranks by `tokens` tokens, each routed to
/// `per_token` of `experts` experts uniformly at random.
pub(crate) fn expected_activated(tokens: f64, experts: u32, per_token: u32, ep: u32) -> f64 {
    let e = f64::from(experts.max(1));
    let k = f64::from(per_token.min(experts.max(1)));
    let local = e / f64::from(ep.max(1));
    if tokens <= 0.0 {
        return 0.0;
    }
    local * (1.0 - (1.0 - k / e).powf(tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activated_experts_grow_to_the_rank_share_of_all_experts() {
        // One token activates its k experts (k/ep on each of ep ranks, in expectation).
        assert!((expected_activated(1.0, 128, 8, 1) - 8.0).abs() < 1e-9);
        assert!((expected_activated(1.0, 128, 8, 2) - 4.0).abs() < 1e-9);
        // 16 tokens over two ranks: 64 x (1 - (15/16)^16) = 41.2 on each.
        let a = expected_activated(16.0, 128, 8, 2);
        assert!((a - 41.2).abs() < 0.1, "{a}");
        // Many tokens: every local expert.
        assert!((expected_activated(4096.0, 128, 8, 2) - 64.0).abs() < 1e-6);
        assert_eq!(expected_activated(0.0, 128, 8, 2), 0.0);
    }

    #[test]
    fn the_table_interpolates_between_activated_rows() {
        let table = MoeTable::new(&[
            [1.0, 8.0, 50.0],
            [64.0, 8.0, 70.0],
            [2.0, 16.0, 130.0],
            [64.0, 16.0, 134.0],
        ])
        .unwrap();
        assert!((table.at(64.0, 8.0) - 70.0).abs() < 1e-9);
        assert!((table.at(64.0, 12.0) - 102.0).abs() < 1e-9);
        assert!(MoeTable::new(&[]).is_err());
    }
}
