//! `saturation-v2`: upstream's token-based saturation engine (WVA v0.5+, the `saturation`
//! analyzer with its cost-aware optimizer; llm-d-workload-variant-autoscaler
//! `internal/engines/analyzers/saturation_v2` and `internal/engines/pipeline`, read at
//! b08b1c7, 2026-02).
//!
//! Per replica, capacity in KV tokens is min(k1, k2): k1 = the KV cache's tokens x the KV
//! threshold (0.80); k2 = the tokens in use when the replica's queue is at its threshold (5,
//! and such samples feed a rolling mean of 10 per variant and output-length bucket), else
//! that mean, else `min(B*O/(I+O), S) * (I + O/2)` from the engine's settings (B max batched
//! tokens, S max sequences, I and O the mean prompt and output tokens), else k1. A variant's
//! capacity per replica is the median over its replicas that reported. Demand is the tokens
//! in use plus the waiting queue times the mean prompt, over all replicas. Then
//! `required = demand / 0.85 - anticipated supply` (starting replicas included) and
//! `spare = supply - demand / 0.70` (ready replicas only). Required capacity goes to the
//! variant with the lowest cost per unit of capacity (`ceil(required / capacity)` replicas;
//! here spilling to the next variant when its inventory binds); spare comes off the most
//! expensive variants first (`floor(spare / capacity)`), keeping one replica on the
//! cheapest when it is the last variant with any. No decision when no replica reported.
//!
//! Upstream reads the 1-minute peaks of KV usage and queue length; so does this (the
//! gauges' `max_over_time`). Upstream's scheduler-queue term is not wired in upstream (0).

use super::policy::{Fleet, current};
use super::{Controller, Observation};
use serde::Serialize;
use std::collections::VecDeque;

/// Upstream's thresholds (`wva-saturation-scaling-config`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SaturationV2Settings {
    /// `kvCacheThreshold`: the share of the KV cache a replica may fill.
    pub kv_cache_threshold: f64,
    /// `queueLengthThreshold`: a queue this long marks a replica at capacity.
    pub queue_length_threshold: f64,
    /// `scaleUpThreshold`: demand over capacity above which replicas are added.
    pub scale_up_threshold: f64,
    /// `scaleDownBoundary`: demand over capacity under which replicas are removed.
    pub scale_down_boundary: f64,
}

impl Default for SaturationV2Settings {
    fn default() -> Self {
        SaturationV2Settings {
            kv_cache_threshold: 0.80,
            queue_length_threshold: 5.0,
            scale_up_threshold: 0.85,
            scale_down_boundary: 0.70,
        }
    }
}

/// Samples kept per variant and bucket (upstream's `RollingAverageWindowSize`).
const HISTORY: usize = 10;

/// Output-length bucket of the rolling capacity history: under 100, under 500, longer.
fn bucket(output_tokens: f64) -> usize {
    if output_tokens < 100.0 {
        0
    } else if output_tokens < 500.0 {
        1
    } else {
        2
    }
}

/// The controller.
pub struct SaturationV2 {
    settings: SaturationV2Settings,
    fleet: Fleet,
    initial: Vec<u32>,
    /// Mean prompt and output tokens last seen.
    prompt_tokens: f64,
    output_tokens: f64,
    /// Per variant and bucket, tokens in use observed at a full queue.
    history: Vec<[VecDeque<f64>; 3]>,
}

impl SaturationV2 {
    /// The controller for `fleet`, starting with `initial` replicas per variant.
    pub fn new(settings: SaturationV2Settings, fleet: Fleet, initial: Vec<u32>) -> Self {
        let shape = fleet.default_shape();
        let variants = fleet.variants();
        SaturationV2 {
            settings,
            fleet,
            initial,
            prompt_tokens: shape.prompt_tokens,
            output_tokens: shape.output_tokens,
            history: (0..variants).map(|_| Default::default()).collect(),
        }
    }

    /// The KV tokens of one replica of variant `v` (infinite when unlimited).
    fn kv_tokens(&self, v: usize) -> f64 {
        self.fleet.kv_capacity_tokens[v].map_or(f64::INFINITY, |t| t as f64)
    }

    /// k2 from the engine's settings: `min(B*O/(I+O), S) * (I + O/2)`.
    fn k2_from_settings(&self, v: usize) -> f64 {
        let (i, o) = (self.prompt_tokens, self.output_tokens);
        let b = f64::from(self.fleet.max_num_batched_tokens[v]);
        let s = f64::from(self.fleet.max_num_seqs[v]);
        if i + o <= 0.0 {
            return f64::INFINITY;
        }
        (b * o / (i + o)).min(s) * (i + o / 2.0)
    }

    /// The rolling mean of full-queue samples of variant `v`, if any.
    fn history_mean(&self, v: usize) -> Option<f64> {
        let h = &self.history[v][bucket(self.output_tokens)];
        let mean = h.iter().sum::<f64>() / h.len() as f64;
        (!h.is_empty() && mean > 0.0).then_some(mean)
    }

    /// Per-replica capacity of each variant (tokens) and the fleet's demand (tokens).
    fn capacity_and_demand(&mut self, obs: &Observation) -> (Vec<f64>, f64) {
        let s = self.settings;
        let variants = self.fleet.variants();
        let mut per_replica: Vec<Vec<f64>> = vec![Vec::new(); variants];
        let mut demand = 0.0;
        for g in &obs.replicas {
            let v = g.variant;
            let total = self.kv_tokens(v);
            let in_use = if total.is_finite() {
                (g.kv_usage_max * total).round().min(total)
            } else {
                0.0
            };
            demand += in_use + g.waiting_max * self.prompt_tokens;
            let k1 = total * s.kv_cache_threshold;
            let k2 = if g.waiting_max >= s.queue_length_threshold && in_use > 0.0 {
                let h = &mut self.history[v][bucket(self.output_tokens)];
                h.push_back(in_use);
                if h.len() > HISTORY {
                    h.pop_front();
                }
                in_use
            } else if let Some(mean) = self.history_mean(v) {
                mean
            } else {
                self.k2_from_settings(v)
            };
            per_replica[v].push(k1.min(k2));
        }
        let capacity = per_replica
            .into_iter()
            .enumerate()
            .map(|(v, mut caps)| {
                if caps.is_empty() {
                    // No replica reported: what the Deployment's settings give.
                    let k1 = self.kv_tokens(v) * s.kv_cache_threshold;
                    return self
                        .history_mean(v)
                        .unwrap_or_else(|| self.k2_from_settings(v))
                        .min(k1);
                }
                caps.sort_unstable_by(f64::total_cmp);
                let n = caps.len();
                if n % 2 == 1 {
                    caps[n / 2]
                } else {
                    (caps[n / 2 - 1] + caps[n / 2]) / 2.0
                }
            })
            .collect();
        (capacity, demand)
    }
}

impl Controller for SaturationV2 {
    fn initial_replicas(&self) -> Vec<u32> {
        self.initial.clone()
    }

    fn decide(&mut self, obs: &Observation) -> Vec<u32> {
        let mut target = current(obs);
        if obs.replicas.is_empty() {
            return target;
        }
        if let (Some(p), Some(o)) = (obs.mean_prompt_tokens, obs.mean_output_tokens) {
            self.prompt_tokens = p;
            self.output_tokens = o;
        }
        let s = self.settings;
        let (capacity, demand) = self.capacity_and_demand(obs);
        let supply: f64 = obs
            .variants
            .iter()
            .zip(&capacity)
            .map(|(st, c)| f64::from(st.ready) * c)
            .sum();
        let anticipated: f64 = obs
            .variants
            .iter()
            .zip(&capacity)
            .map(|(st, c)| f64::from(st.ready + st.starting) * c)
            .sum();
        let required = (demand / s.scale_up_threshold - anticipated).max(0.0);
        let spare = (supply - demand / s.scale_down_boundary).max(0.0);
        let usable = |v: usize| capacity[v].is_finite() && capacity[v] > 0.0;
        if required > 0.0 {
            // Lowest cost per unit of capacity first.
            let mut order: Vec<usize> = (0..capacity.len()).filter(|&v| usable(v)).collect();
            order.sort_by(|&a, &b| {
                let per = |v: usize| self.fleet.cost_cents_per_hour[v] / capacity[v];
                per(a).total_cmp(&per(b)).then(a.cmp(&b))
            });
            let mut remaining = required;
            for v in order {
                if remaining <= 0.0 {
                    break;
                }
                let room = self.fleet.max_replicas[v].saturating_sub(target[v]);
                let add = ((remaining / capacity[v]).ceil() as u32).min(room);
                target[v] += add;
                remaining -= f64::from(add) * capacity[v];
            }
        } else if spare > 0.0 {
            // Most expensive (per replica) first.
            let mut order: Vec<usize> = (0..capacity.len()).filter(|&v| usable(v)).collect();
            order.sort_by(|&a, &b| {
                let cost = |v: usize| self.fleet.cost_cents_per_hour[v];
                cost(b).total_cmp(&cost(a)).then(a.cmp(&b))
            });
            let cheapest = order.last().copied();
            let mut remaining = spare;
            for &v in &order {
                let others = (0..target.len()).any(|u| u != v && target[u] > 0);
                let floor = u32::from(Some(v) == cheapest && !others);
                let remove =
                    ((remaining / capacity[v]).floor() as u32).min(target[v].saturating_sub(floor));
                target[v] -= remove;
                remaining -= f64::from(remove) * capacity[v];
            }
        }
        target
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::policy::tests::{obs_at, test_fleet};

    fn v2(costs: &[f64]) -> SaturationV2 {
        SaturationV2::new(
            SaturationV2Settings::default(),
            test_fleet(costs, 100),
            vec![1; costs.len()],
        )
    }

    /// Capacity from the settings (no full queue seen): I = 1000, O = 200, B = 2048,
    /// S = 100: N = min(2048 * 200 / 1200, 100) = 100, k2 = 100 * 1100 = 110,000 > k1 =
    /// 80,000. Demand at 90% KV on two replicas: 180,000 tokens; required = 180,000 / 0.85 -
    /// 160,000 = 51,765: one replica more.
    #[test]
    fn adds_replicas_for_the_token_demand_over_the_up_threshold() {
        let mut p = v2(&[100.0]);
        let mut o = obs_at(60.0, 1.0, &[], &[0.0, 0.0]);
        o.mean_prompt_tokens = Some(1000.0);
        o.mean_output_tokens = Some(200.0);
        for g in &mut o.replicas {
            g.kv_usage_max = 0.9;
        }
        o.variants[0].desired = 2;
        o.variants[0].ready = 2;
        assert_eq!(p.decide(&o), vec![3]);
        // A replica already starting is anticipated supply: no more.
        o.variants[0].desired = 3;
        o.variants[0].starting = 1;
        assert_eq!(p.decide(&o), vec![3]);
    }

    /// Spare = supply - demand / 0.70, removed in whole replicas of capacity, never the last.
    #[test]
    fn removes_spare_capacity_but_keeps_one_replica() {
        let mut p = v2(&[100.0]);
        let mut o = obs_at(60.0, 1.0, &[], &[0.0; 4]);
        for g in &mut o.replicas {
            g.kv_usage_max = 0.1;
        }
        o.variants[0].desired = 4;
        o.variants[0].ready = 4;
        // Demand 40,000; capacity 80,000 each; spare = 320,000 - 57,143 = 262,857: 3 off.
        assert_eq!(p.decide(&o), vec![1]);
        let mut idle = obs_at(60.0, 0.0, &[], &[0.0]);
        idle.variants[0].ready = 1;
        assert_eq!(p.decide(&idle), vec![1], "the cheapest keeps one");
    }

    /// A full queue makes the tokens in use the capacity (and feeds the rolling mean).
    #[test]
    fn a_full_queue_sets_the_capacity_from_tokens_in_use() {
        let mut p = v2(&[100.0]);
        let mut o = obs_at(60.0, 1.0, &[], &[6.0]);
        o.replicas[0].waiting_max = 6.0;
        o.replicas[0].kv_usage_max = 0.5;
        let (cap, demand) = p.capacity_and_demand(&o);
        assert_eq!(cap, vec![50_000.0]);
        assert_eq!(demand, 50_000.0 + 6.0 * 1000.0);
        // Later, without a full queue, the rolling mean stands.
        o.replicas[0].waiting_max = 0.0;
        let (cap, _) = p.capacity_and_demand(&o);
        assert_eq!(cap, vec![50_000.0]);
    }

    /// Up on the cheapest capacity, down from the most expensive.
    #[test]
    fn variants_cheapest_up_most_expensive_down() {
        let mut p = v2(&[40.0, 100.0]);
        let mut o = obs_at(60.0, 1.0, &[], &[0.0, 0.0]);
        o.replicas[1].variant = 1;
        for g in &mut o.replicas {
            g.kv_usage_max = 0.95;
        }
        o.variants = vec![Default::default(); 2];
        for st in &mut o.variants {
            (st.desired, st.ready) = (1, 1);
        }
        let up = p.decide(&o);
        assert!(up[0] > 1 && up[1] == 1, "{up:?}");
        for g in &mut o.replicas {
            g.kv_usage_max = 0.05;
        }
        let down = p.decide(&o);
        assert_eq!(down, vec![1, 0], "the expensive variant goes first");
    }
}
