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
//!   share with `wva plan` ([`policy::Sizer`]).
//!
//! Pure and deterministic: same requests, settings and seed, same result.

pub mod policy;
mod run;

pub use policy::{IntervalLoad, PolicyKind, PolicySettings, Sizer, interval_loads};
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
/// the peak takes. Doubles from `start` until no interval is in breach, then bisects (more
/// replicas never make an interval worse in practice; the search assumes it). When doubling
/// stops helping, or at the limit, it returns that count as [`PeakSearch::Capped`].
pub fn peak_replicas(
    config: &ReplayConfig,
    requests: &[Request],
    start: u32,
) -> Result<(u32, PeakSearch), crate::sim::SimError> {
    struct Fixed(u32);
    impl Controller for Fixed {
        fn initial_replicas(&self) -> u32 {
            self.0
        }
        fn decide(&mut self, _: &Observation) -> u32 {
            self.0
        }
    }
    let min = config.min_replicas.max(1);
    let max = config.max_replicas.max(min);
    let breaches = |n: u32| -> Result<u32, crate::sim::SimError> {
        Ok(replay(config, requests, "static", &mut Fixed(n))?.breach_intervals)
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

/// Settings of one replay (shared by every policy compared).
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayConfig {
    /// Engine settings of every replica.
    pub engine: EngineConfig,
    /// Cost of one replica (all its GPUs), cents per hour.
    pub replica_cost_cents_per_hour: f64,
    /// GPUs per replica.
    pub gpus_per_replica: u32,
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
    /// Fewest replicas any policy may ask for (at least 1).
    pub min_replicas: u32,
    /// Most replicas any policy may ask for.
    pub max_replicas: u32,
}

/// What one serving replica's gauges showed over the last control interval, as
/// `max_over_time` and `avg_over_time` of its scrapes would.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ReplicaGauges {
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
    /// Replicas asked for now (the controller's last decision).
    pub desired: u32,
    /// Replicas serving now.
    pub ready: u32,
    /// Replicas asked for that are still starting.
    pub starting: u32,
    /// Gauges of the replicas that served during the interval (draining ones left out).
    pub replicas: Vec<ReplicaGauges>,
}

/// A controller: the policy that sets the replica count.
pub trait Controller {
    /// Replicas running (and ready) when the replay starts.
    fn initial_replicas(&self) -> u32;
    /// Whether replicas it adds serve at once (the oracle's perfect foresight).
    fn instant_start(&self) -> bool {
        false
    }
    /// The replicas it asks for after observing `obs`.
    fn decide(&mut self, obs: &Observation) -> u32;
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
    /// Per control interval.
    pub intervals: Vec<IntervalRow>,
}
