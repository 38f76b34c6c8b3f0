//! The autoscaler in the loop: a trace replayed through the simulator while a controller,
//! every interval, observes what a real one would (rates, token means and latencies of the
//! last window, per-replica gauges as Prometheus scrapes them) and sets the replica count.
//!
//! New replicas serve only after a start-up delay (pulling the image, loading the weights);
//! removed replicas stop taking requests and drain the ones they hold. Cost is counted from
//! the moment a replica is asked for until it has drained, over the trace's span.
//!
//! - `run` is the dynamic fleet: vLLM engines ([`crate::sim::Engine`]) behind a router,
//!   replicas starting, serving, draining and stopping.
//! - [`policy`] holds the controllers: upstream's model-based loop, its saturation rules, a
//!   Kubernetes HPA utilisation rule, static provisioning and the oracle, and the sizing they
//!   share with `wva plan` ([`policy::Sizer`], [`policy::Fleet`] across variants);
//!   [`predictive`] is `wva`'s own policy and [`saturation_v2`] upstream's token-based engine.
//!
//! A fleet has one or more variants (accelerator types, each with its own engine, cost and
//! inventory limit); controllers return a replica count per variant.
//!
//! Pure and deterministic: same requests, settings and seed, same result.

mod accounting;
mod lifecycle;
pub mod policy;
pub mod predictive;
mod run;
pub mod saturation_v2;

pub use policy::{Fleet, IntervalLoad, PolicyKind, PolicySettings, Sizer, interval_loads};
pub use run::replay;

use crate::queueing::Targets;
use crate::sim::{EngineConfig, Request, Router, Summary};
use serde::Serialize;

/// Most control intervals a replay keeps (an hour at 1 s, a day at 1 s is refused).
pub const MAX_INTERVALS: usize = 100_000;

/// The control intervals of a trace: `interval_ms` long from 0, the last one ending with the
/// trace's span (its last arrival, and at least one interval). A last piece shorter than half
/// an interval joins the one before, so no interval is rated over a sliver of time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Intervals {
    /// Length of an interval, ms.
    pub interval_ms: f64,
    /// End of the span, ms.
    pub end_ms: f64,
    /// Number of intervals.
    pub count: usize,
}

impl Intervals {
    /// The intervals of a span ending at `last_arrival_ms`.
    pub fn new(interval_s: f64, last_arrival_ms: f64) -> Self {
        let interval_ms = interval_s * 1000.0;
        let end_ms = last_arrival_ms.max(interval_ms);
        let whole = (end_ms / interval_ms).floor();
        let rest = end_ms - whole * interval_ms;
        let count = if rest >= 0.5 * interval_ms {
            whole + 1.0
        } else {
            whole
        };
        Intervals {
            interval_ms,
            end_ms,
            count: (count.max(1.0) as usize).min(MAX_INTERVALS),
        }
    }

    /// The interval holding time `t_ms`.
    pub fn index(&self, t_ms: f64) -> usize {
        ((t_ms / self.interval_ms).max(0.0) as usize).min(self.count - 1)
    }

    /// Start and end of interval `k`, ms.
    pub fn bounds(&self, k: usize) -> (f64, f64) {
        let start = k as f64 * self.interval_ms;
        let stop = if k + 1 >= self.count {
            self.end_ms.max(start)
        } else {
            start + self.interval_ms
        };
        (start, stop)
    }
}

/// How the static policy's count was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeakSearch {
    /// The fewest replicas with which a fixed fleet keeps every interval's mean TTFT and mean
    /// time per output token within target (found by replaying the trace).
    NoBreach,
    /// Some interval stays in breach: at `max_replicas`, or where doubling the replicas no
    /// longer reduces the intervals in breach.
    Capped,
}

/// The fewest replicas (searched from `start`, within the config's replica limits) with
/// which a fixed fleet replays `requests` without an interval in breach: what provisioning for
/// the peak takes. `allocation(n)` spreads `n` replicas over the variants (one variant: all of
/// them). Doubles from `start` until no interval is in breach, then bisects (more replicas
/// never make an interval worse in practice; the search assumes it). When doubling stops
/// helping, or at the limit, it returns that count as [`PeakSearch::Capped`].
pub fn peak_replicas(
    config: &ReplayConfig,
    requests: &[Request],
    start: u32,
    allocation: &(dyn Fn(u32) -> Vec<u32> + Sync),
) -> Result<(u32, PeakSearch), crate::sim::SimError> {
    struct Fixed(Vec<u32>);
    impl Controller for Fixed {
        fn initial_replicas(&self) -> Vec<u32> {
            self.0.clone()
        }
        fn decide(&mut self, _: &Observation) -> Vec<u32> {
            self.0.clone()
        }
    }
    let min = config.min_replicas.max(1);
    let max = config.max_replicas.min(config.inventory()).max(min);
    let breaches = |n: u32| -> Result<u32, crate::sim::SimError> {
        Ok(replay(config, requests, "static", &mut Fixed(allocation(n)))?.breach_intervals)
    };
    let mut hi = start.clamp(min, max);
    let mut lo = min - 1;
    let mut last = breaches(hi)?;
    while last > 0 {
        if hi == max {
            return Ok((max, PeakSearch::Capped));
        }
        let next = hi.saturating_mul(2).min(max);
        let b = breaches(next)?;
        // Twice the replicas and no fewer intervals in breach: more will not fix them (a
        // target below the idle latency of some requests).
        if b >= last {
            return Ok((hi, PeakSearch::Capped));
        }
        (lo, hi, last) = (hi, next, b);
    }
    // lo is in breach (or below the minimum), hi is not.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if breaches(mid)? == 0 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok((hi, PeakSearch::NoBreach))
}

/// One variant of the fleet: replicas of the model on one accelerator type (a
/// VariantAutoscaling and its Deployment upstream).
#[derive(Clone, Debug, PartialEq)]
pub struct VariantConfig {
    /// Its name (the accelerator).
    pub name: String,
    /// Engine settings of its replicas.
    pub engine: EngineConfig,
    /// Cost of one replica (all its GPUs), cents per hour.
    pub replica_cost_cents_per_hour: f64,
    /// GPUs per replica.
    pub gpus_per_replica: u32,
    /// Most replicas of this variant (the accelerator's inventory over its GPUs per replica).
    pub max_replicas: u32,
}

/// Settings of one replay (shared by every policy compared).
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayConfig {
    /// The variants, cheapest capacity first (the order replicas are added in when the
    /// minimum binds and removed in, from the end, when the maximum binds).
    pub variants: Vec<VariantConfig>,
    /// Per-request targets: TTFT, and time per output token against the ITL target.
    pub targets: Targets,
    /// Control period: the controller decides every this many seconds.
    pub interval_s: f64,
    /// Window of the rates and means the controller sees, s (upstream: 60).
    pub window_s: f64,
    /// Delay from asking for a replica to its first request, s.
    pub startup_s: f64,
    /// Gauge sampling period (Prometheus scrape interval), s.
    pub scrape_s: f64,
    /// How requests are spread over the serving replicas.
    pub router: Router,
    /// Seed of routing and noise.
    pub seed: u64,
    /// Fewest replicas any policy may ask for, over all variants (0: scale to zero; a
    /// request arriving at an empty fleet asks for one replica of the first variant at once
    /// and waits for it to start).
    pub min_replicas: u32,
    /// Most replicas any policy may ask for, over all variants.
    pub max_replicas: u32,
}

impl ReplayConfig {
    /// Most replicas the variants' inventories allow together.
    pub fn inventory(&self) -> u32 {
        self.variants
            .iter()
            .fold(0u32, |n, v| n.saturating_add(v.max_replicas))
    }

    /// `wanted` within the limits: each variant within its inventory, the total within
    /// `min_replicas..=max_replicas` (the first variants filled first to reach the minimum,
    /// the last ones trimmed first to the maximum).
    pub fn clamp(&self, wanted: &[u32]) -> Vec<u32> {
        let mut out: Vec<u32> = self
            .variants
            .iter()
            .enumerate()
            .map(|(v, c)| wanted.get(v).copied().unwrap_or(0).min(c.max_replicas))
            .collect();
        let total = |o: &[u32]| o.iter().map(|&n| u64::from(n)).sum::<u64>();
        let mut excess = total(&out).saturating_sub(u64::from(self.max_replicas));
        for n in out.iter_mut().rev() {
            let cut = excess.min(u64::from(*n));
            *n -= cut as u32;
            excess -= cut;
        }
        let mut missing = u64::from(self.min_replicas).saturating_sub(total(&out));
        for (n, c) in out.iter_mut().zip(&self.variants) {
            let add = missing.min(u64::from(c.max_replicas - *n));
            *n += add as u32;
            missing -= add;
        }
        out
    }
}

/// What one serving replica's gauges showed over the last control interval, as
/// `max_over_time` and `avg_over_time` of its scrapes would.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ReplicaGauges {
    /// The replica's variant (index into the config's variants).
    #[serde(skip)]
    pub variant: usize,
    /// Peak `vllm:kv_cache_usage_perc` (0 to 1).
    pub kv_usage_max: f64,
    /// Mean KV usage.
    pub kv_usage_mean: f64,
    /// Peak `vllm:num_requests_waiting`.
    pub waiting_max: f64,
    /// Mean waiting requests.
    pub waiting_mean: f64,
    /// Mean `vllm:num_requests_running`.
    pub running_mean: f64,
    /// Waiting requests at the last scrape.
    #[serde(skip)]
    pub waiting_last: f64,
}

/// Replicas of one variant at a control tick (the Deployment's spec and status).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct VariantState {
    /// Replicas asked for.
    pub desired: u32,
    /// Replicas serving.
    pub ready: u32,
    /// Replicas asked for that are still starting.
    pub starting: u32,
}

/// What a controller sees at a control tick.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// Tick number (1 for the first decision after the start).
    pub tick: usize,
    /// Now, s.
    pub time_s: f64,
    /// The window the rates and means cover, s (shorter at the start of the trace).
    pub window_s: f64,
    /// Requests that arrived in the window, per second (what the gateway counts).
    pub arrival_rate_rps: f64,
    /// Requests that completed in the window, per second (`vllm:request_success_total`).
    pub completion_rate_rps: f64,
    /// Mean prompt tokens of the requests completed in the window (`None`: none completed).
    pub mean_prompt_tokens: Option<f64>,
    /// Mean output tokens of the requests completed in the window.
    pub mean_output_tokens: Option<f64>,
    /// Mean TTFT of the requests completed in the window, ms.
    pub mean_ttft_ms: Option<f64>,
    /// Mean time per output token of the requests completed in the window, ms.
    pub mean_tpot_ms: Option<f64>,
    /// The gateway's arrival rate over each scrape period that ended since the last tick,
    /// requests/s, oldest first (`rate(requests_total[scrape])` at every scrape: how bursty
    /// the interval was).
    pub scrape_rates_rps: Vec<f64>,
    /// Requests held at the gateway because no replica serves (scale to zero).
    pub gateway_waiting: u32,
    /// Replicas asked for now (the controller's last decision), over all variants.
    pub desired: u32,
    /// Replicas serving now.
    pub ready: u32,
    /// Replicas asked for that are still starting.
    pub starting: u32,
    /// Gauges of the replicas that served during the interval (draining ones left out).
    pub replicas: Vec<ReplicaGauges>,
    /// Per variant (one entry per variant of the config).
    pub variants: Vec<VariantState>,
}

/// A controller: the policy that sets the replica count of every variant.
pub trait Controller {
    /// Replicas per variant running (and ready) when the replay starts.
    fn initial_replicas(&self) -> Vec<u32>;
    /// Whether replicas it adds serve at once (the oracle's perfect foresight).
    fn instant_start(&self) -> bool {
        false
    }
    /// The replicas per variant it asks for after observing `obs`.
    fn decide(&mut self, obs: &Observation) -> Vec<u32>;
}

/// Share of requests meeting their targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Attainment {
    /// TTFT within its target.
    pub ttft: f64,
    /// Time per output token within the ITL target.
    pub itl: f64,
    /// Both.
    pub both: f64,
}

/// One control interval of one policy's replay.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntervalRow {
    /// Start, s.
    pub start_s: f64,
    /// Length, s (the last interval ends with the trace).
    pub duration_s: f64,
    /// Arrival rate, requests/s.
    pub arrivals_rps: f64,
    /// Replicas asked for at the start of the interval.
    pub desired: u32,
    /// Mean replicas paid for (starting, serving or draining).
    pub replicas_mean: f64,
    /// Mean replicas serving.
    pub ready_mean: f64,
    /// Requests that arrived in the interval.
    pub requests: u64,
    /// Of those, rejected (could never fit the KV cache; they miss their SLO but take no part
    /// in the interval's latencies).
    pub rejected: u64,
    /// Their SLO attainment (NaN without requests).
    pub attainment: Attainment,
    /// Their mean TTFT, ms.
    pub mean_ttft_ms: f64,
    /// Their 99th-percentile TTFT, ms.
    pub p99_ttft_ms: f64,
    /// Their mean time per output token, ms.
    pub mean_tpot_ms: f64,
    /// The interval's TTFT or time per output token, in the target's statistic (mean or
    /// percentile over the interval's requests), is over its target: the service class's SLO
    /// is broken for this interval.
    pub breach: bool,
}

/// The outcome of one policy over the whole trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyRun {
    /// Policy name.
    pub policy: String,
    /// GPU-hours paid for over the trace's span and the drain tail.
    pub gpu_hours: f64,
    /// Cost over the trace's span and the drain tail, dollars.
    pub cost_dollars: f64,
    /// Mean replicas paid for, over the trace's span and the drain tail.
    pub mean_replicas: f64,
    /// How long after the trace's span the last requests took to finish, s (paid for: a
    /// backlog costs its drain).
    pub drain_tail_s: f64,
    /// Most replicas paid for at once.
    pub peak_replicas: u32,
    /// Decisions that changed the replica count.
    pub scaling_actions: u32,
    /// Of those, increases.
    pub scale_ups: u32,
    /// Requests replayed.
    pub requests: u64,
    /// Of those, completed.
    pub completed: u64,
    /// Of those, rejected (could never fit the KV cache).
    pub rejected: u64,
    /// Share of all requests meeting their targets (rejected ones miss).
    pub attainment: Attainment,
    /// Intervals whose mean TTFT or mean time per output token is over its target.
    pub breach_intervals: u32,
    /// Intervals with requests.
    pub intervals_with_requests: u32,
    /// The worst interval's attainment of both targets (intervals with requests).
    pub worst_interval_attainment: f64,
    /// When that interval starts, s.
    pub worst_interval_start_s: f64,
    /// Time to first token, ms.
    pub ttft_ms: Summary,
    /// Time per output token, ms.
    pub tpot_ms: Summary,
    /// Preemptions over all replicas.
    pub preemptions: u64,
    /// Per variant, when the fleet has more than one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantRun>,
    /// Per control interval.
    pub intervals: Vec<IntervalRow>,
}

/// One variant's share of a policy's run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VariantRun {
    /// The variant (accelerator).
    pub variant: String,
    /// GPU-hours paid for.
    pub gpu_hours: f64,
    /// Cost, dollars.
    pub cost_dollars: f64,
    /// Mean replicas paid for.
    pub mean_replicas: f64,
    /// Most replicas paid for at once.
    pub peak_replicas: u32,
    /// Requests its replicas served (rejected ones included).
    pub requests: u64,
    /// Share of those meeting both targets (NaN without requests).
    pub slo_met: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config(inventories: &[u32], min: u32, max: u32) -> ReplayConfig {
        let engine = run::tests::engine();
        ReplayConfig {
            variants: inventories
                .iter()
                .enumerate()
                .map(|(i, &m)| VariantConfig {
                    name: format!("gpu{i}"),
                    engine: engine.clone(),
                    replica_cost_cents_per_hour: 100.0,
                    gpus_per_replica: 1,
                    max_replicas: m,
                })
                .collect(),
            targets: Targets::default(),
            interval_s: 60.0,
            window_s: 60.0,
            startup_s: 120.0,
            scrape_s: 15.0,
            router: Router::RoundRobin,
            seed: 1,
            min_replicas: min,
            max_replicas: max,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever a policy asks for, the fleet gets counts within every variant's inventory
        /// and the total's limits (when they can be met), and counts already within them are
        /// kept.
        #[test]
        fn clamp_keeps_every_limit(
            inventories in prop::collection::vec(0u32..20, 1..4),
            wanted in prop::collection::vec(0u32..40, 0..5),
            min in 0u32..10,
            extra in 0u32..30,
        ) {
            let c = config(&inventories, min, min + extra);
            let out = c.clamp(&wanted);
            prop_assert_eq!(out.len(), inventories.len());
            for (n, m) in out.iter().zip(&inventories) {
                prop_assert!(n <= m);
            }
            let total: u32 = out.iter().sum();
            prop_assert!(total <= c.max_replicas);
            prop_assert!(total >= c.min_replicas.min(c.inventory()));
            prop_assert_eq!(c.clamp(&out), out.clone(), "idempotent");
        }
    }
}
