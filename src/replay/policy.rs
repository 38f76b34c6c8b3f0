//! The controllers a replay compares, and the sizing they share with `wva plan`.
//!
//! - `wva-model`: upstream's model-based loop. From the last window's arrival rate (or, as
//!   upstream measured it, its completion rate) and mean token counts, the analytic model gives
//!   the highest per-replica rate within the targets; the replicas are the rate over that.
//! - `saturation`: upstream's KV/queue saturation rules: a replica is saturated when its peak
//!   KV usage or waiting queue over the interval reaches a threshold; one replica more when the
//!   unsaturated ones' average spare capacity falls under a trigger (or none is unsaturated);
//!   one fewer when spreading their load over one replica less still leaves the triggers'
//!   spare; nothing while a change is still under way.
//! - `hpa-utilisation`: a Kubernetes HPA on batch utilisation (running requests over
//!   `max_num_seqs`, averaged over the interval): `ceil(sum of utilisation / target)`, a 10%
//!   tolerance, replicas not yet ready counted as idle on the way up and at target on the way
//!   down, and a scale-down stabilisation window (300 s by default).
//! - `static`: a fixed count (peak provisioning: [`super::peak_replicas`] finds the fewest
//!   replicas with which no interval breaks its SLO).
//! - `oracle`: the plan for each interval's true load, in place the moment it starts (it knows
//!   the future and pays no start-up): a lower bound on what meeting the model's targets costs.

use super::{Controller, Intervals, Observation};
use crate::optimize::candidates::replicas_for;
use crate::perf::{PerfParams, RequestShape};
use crate::queueing::{ReplicaModel, Targets, size};
use crate::sim::Request;
use clap::ValueEnum;
use serde::Serialize;
use std::fmt;

/// A policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// Upstream's model-based loop: the analytic model sized on the last window's load.
    WvaModel,
    /// Upstream's KV-cache and queue saturation rules.
    Saturation,
    /// A Kubernetes HPA on batch utilisation.
    HpaUtilisation,
    /// A fixed count (peak provisioning).
    Static,
    /// The plan for each interval's true load, in place as it starts: the cost lower bound.
    Oracle,
}

impl PolicyKind {
    /// Every policy, in report order.
    pub const ALL: [PolicyKind; 5] = [
        PolicyKind::Oracle,
        PolicyKind::WvaModel,
        PolicyKind::Saturation,
        PolicyKind::HpaUtilisation,
        PolicyKind::Static,
    ];
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyKind::WvaModel => "wva-model",
            PolicyKind::Saturation => "saturation",
            PolicyKind::HpaUtilisation => "hpa-utilisation",
            PolicyKind::Static => "static",
            PolicyKind::Oracle => "oracle",
        })
    }
}

/// Which rate the model-based loop sizes for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RateSource {
    /// Requests arriving (what the gateway sees).
    #[default]
    Arrivals,
    /// Requests completing (`vllm:request_success_total`, as upstream measured it): lags, and
    /// under-counts an overloaded fleet.
    Completions,
}

/// Every policy's knobs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PolicySettings {
    /// `wva-model`: the rate it sizes for.
    pub rate_source: RateSource,
    /// `saturation`: a replica is saturated at this KV usage (0 to 1).
    pub kv_cache_threshold: f64,
    /// `saturation`: ... or this many waiting requests.
    pub queue_length_threshold: f64,
    /// `saturation`: scale up when the average spare KV falls under this.
    pub kv_spare_trigger: f64,
    /// `saturation`: ... or the average spare queue under this.
    pub queue_spare_trigger: f64,
    /// `hpa-utilisation`: target running requests over `max_num_seqs`.
    pub hpa_target: f64,
    /// `hpa-utilisation`: no change while the ratio to target is within this.
    pub hpa_tolerance: f64,
    /// `hpa-utilisation`: scale down only to the highest recommendation of this window, s.
    pub hpa_stabilization_s: f64,
    /// `static`: the count (`None`: the plan for the busiest interval; the command line
    /// searches for the fewest replicas that keep every interval within its SLO instead).
    pub static_replicas: Option<u32>,
}

impl Default for PolicySettings {
    fn default() -> Self {
        PolicySettings {
            rate_source: RateSource::Arrivals,
            kv_cache_threshold: 0.80,
            queue_length_threshold: 5.0,
            kv_spare_trigger: 0.1,
            queue_spare_trigger: 3.0,
            hpa_target: 0.5,
            hpa_tolerance: 0.1,
            hpa_stabilization_s: 300.0,
            static_replicas: None,
        }
    }
}

/// The load of one control interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct IntervalLoad {
    /// Arrival rate, requests/s.
    pub rate_rps: f64,
    /// Mean prompt tokens (`None`: no requests).
    pub prompt_tokens: Option<f64>,
    /// Mean output tokens.
    pub output_tokens: Option<f64>,
}

/// The true load of each control interval of `requests` ([`Intervals`]), as the replay
/// divides the trace.
pub fn interval_loads(requests: &[Request], interval_s: f64) -> Vec<IntervalLoad> {
    let span = Intervals::new(interval_s, requests.last().map_or(0.0, |r| r.arrival_ms));
    let mut sums = vec![(0u64, 0u64, 0u64); span.count];
    for r in requests {
        let k = span.index(r.arrival_ms);
        sums[k].0 += 1;
        sums[k].1 += u64::from(r.prompt_tokens);
        sums[k].2 += u64::from(r.output_tokens);
    }
    sums.iter()
        .enumerate()
        .map(|(k, &(count, prompt, output))| {
            let (start, stop) = span.bounds(k);
            let mean = |s: u64| (count > 0).then(|| s as f64 / count as f64);
            IntervalLoad {
                rate_rps: count as f64 / ((stop - start) / 1000.0),
                prompt_tokens: mean(prompt),
                output_tokens: mean(output),
            }
        })
        .collect()
}

/// Replicas for a load, by the analytic model `wva plan` uses, on one accelerator with a fixed
/// max batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sizer {
    /// The cost model.
    pub perf: PerfParams,
    /// Max batch per replica.
    pub max_batch: u32,
    /// Max queue of the analytic model.
    pub max_queue: u32,
    /// Targets (means or percentiles: a percentile target is sized by the tail approximation,
    /// about 30 ms per interval and policy).
    pub targets: Targets,
    /// Token means to use before any are observed.
    pub default_shape: RequestShape,
}

impl Sizer {
    /// The sizer of `profile`'s replicas with max batch `max_batch` (and the profile's queue
    /// allowance for it).
    pub fn for_profile(
        profile: &crate::spec::Profile,
        max_batch: u32,
        targets: Targets,
        default_shape: RequestShape,
    ) -> Self {
        let budget = profile.max_num_batched_tokens().max(max_batch);
        Sizer {
            perf: profile.analytic_for(&default_shape, max_batch, budget).0,
            max_batch,
            max_queue: profile.queue_for(max_batch),
            targets,
            default_shape,
        }
    }

    /// The highest per-replica rate within the targets for requests of `shape`, requests/s.
    /// When no rate meets them (the targets are below the idle latency), the highest stable
    /// rate: more replicas would not help.
    pub fn max_rate_rps(&self, shape: RequestShape) -> Option<f64> {
        let model = ReplicaModel::new(self.perf, shape, self.max_batch, self.max_queue).ok()?;
        size(&model, &self.targets)
            .or_else(|_| size(&model, &Targets::default()))
            .ok()
            .map(|s| s.metrics.throughput_rps)
    }

    /// Replicas for `rate_rps` of requests of `shape` (at least 1); `None` when the model
    /// cannot size that shape.
    pub fn replicas(&self, rate_rps: f64, shape: RequestShape) -> Option<u32> {
        let max_rate = self.max_rate_rps(shape).filter(|r| *r > 0.0)?;
        Some(
            replicas_for(rate_rps, max_rate, 1)
                .unwrap_or(crate::optimize::candidates::MAX_REPLICAS),
        )
    }

    /// Replicas for an interval's load (the default shape where it has no requests).
    pub fn replicas_for_load(&self, load: &IntervalLoad) -> Option<u32> {
        let shape = RequestShape {
            prompt_tokens: load
                .prompt_tokens
                .unwrap_or(self.default_shape.prompt_tokens),
            output_tokens: load
                .output_tokens
                .unwrap_or(self.default_shape.output_tokens)
                .max(1.0),
        };
        self.replicas(load.rate_rps, shape)
    }
}

/// The controller of policy `kind`. `loads` is the true load of every interval (for the
/// oracle, static provisioning and everyone's starting count); `max_num_seqs` is the engines'.
pub fn controller(
    kind: PolicyKind,
    settings: &PolicySettings,
    sizer: Sizer,
    loads: &[IntervalLoad],
    max_num_seqs: u32,
) -> Box<dyn Controller + Send> {
    // Intervals the model cannot size keep the previous interval's count.
    let mut last = 1;
    let plan: Vec<u32> = loads
        .iter()
        .map(|l| {
            last = sizer.replicas_for_load(l).unwrap_or(last);
            last
        })
        .collect();
    let first = plan.first().copied().unwrap_or(1);
    match kind {
        PolicyKind::Oracle => Box::new(Oracle { plan }),
        PolicyKind::Static => Box::new(Static {
            replicas: settings
                .static_replicas
                .unwrap_or_else(|| plan.iter().copied().max().unwrap_or(1)),
        }),
        PolicyKind::WvaModel => Box::new(WvaModel {
            sizer,
            source: settings.rate_source,
            initial: first,
            shape: sizer.default_shape,
        }),
        PolicyKind::Saturation => Box::new(Saturation {
            settings: *settings,
            initial: first,
        }),
        PolicyKind::HpaUtilisation => Box::new(Hpa {
            settings: *settings,
            max_num_seqs: max_num_seqs.max(1),
            initial: first,
            history: Vec::new(),
        }),
    }
}

struct Oracle {
    plan: Vec<u32>,
}

impl Controller for Oracle {
    fn initial_replicas(&self) -> u32 {
        self.plan.first().copied().unwrap_or(1)
    }
    fn instant_start(&self) -> bool {
        true
    }
    fn decide(&mut self, obs: &Observation) -> u32 {
        self.plan.get(obs.tick).copied().unwrap_or(obs.desired)
    }
}

struct Static {
    replicas: u32,
}

impl Controller for Static {
    fn initial_replicas(&self) -> u32 {
        self.replicas
    }
    fn decide(&mut self, _: &Observation) -> u32 {
        self.replicas
    }
}

struct WvaModel {
    sizer: Sizer,
    source: RateSource,
    initial: u32,
    /// The last token means seen (kept through windows without completions).
    shape: RequestShape,
}

impl Controller for WvaModel {
    fn initial_replicas(&self) -> u32 {
        self.initial
    }
    fn decide(&mut self, obs: &Observation) -> u32 {
        if let (Some(p), Some(o)) = (obs.mean_prompt_tokens, obs.mean_output_tokens) {
            self.shape = RequestShape {
                prompt_tokens: p,
                output_tokens: o.max(1.0),
            };
        }
        let rate = match self.source {
            RateSource::Arrivals => obs.arrival_rate_rps,
            RateSource::Completions => obs.completion_rate_rps,
        };
        self.sizer.replicas(rate, self.shape).unwrap_or(obs.desired)
    }
}

struct Saturation {
    settings: PolicySettings,
    initial: u32,
}

impl Controller for Saturation {
    fn initial_replicas(&self) -> u32 {
        self.initial
    }
    fn decide(&mut self, obs: &Observation) -> u32 {
        let s = &self.settings;
        // A change under way (replicas starting) is kept, not compounded.
        if obs.desired != obs.ready {
            return obs.desired;
        }
        // No replica reported metrics this interval (no scrape fell in it): nothing to judge.
        if obs.replicas.is_empty() {
            return obs.desired;
        }
        let unsaturated: Vec<_> = obs
            .replicas
            .iter()
            .filter(|g| {
                g.kv_usage_max < s.kv_cache_threshold && g.waiting_max < s.queue_length_threshold
            })
            .collect();
        // The replicas reporting metrics (upstream's ready replicas).
        let ready = obs.replicas.len() as u32;
        if unsaturated.is_empty() {
            return ready + 1;
        }
        let n = unsaturated.len() as f64;
        let kv_load: f64 = unsaturated.iter().map(|g| g.kv_usage_max).sum();
        let queue_load: f64 = unsaturated.iter().map(|g| g.waiting_max).sum();
        let spare_kv = s.kv_cache_threshold - kv_load / n;
        let spare_queue = s.queue_length_threshold - queue_load / n;
        if spare_kv < s.kv_spare_trigger || spare_queue < s.queue_spare_trigger {
            return ready + 1;
        }
        if unsaturated.len() >= 2 {
            let after_kv = s.kv_cache_threshold - kv_load / (n - 1.0);
            let after_queue = s.queue_length_threshold - queue_load / (n - 1.0);
            if after_kv >= s.kv_spare_trigger && after_queue >= s.queue_spare_trigger {
                return ready - 1;
            }
        }
        ready
    }
}

struct Hpa {
    settings: PolicySettings,
    max_num_seqs: u32,
    initial: u32,
    /// Recommendations (time s, replicas) within the stabilisation window.
    history: Vec<(f64, u32)>,
}

impl Controller for Hpa {
    fn initial_replicas(&self) -> u32 {
        self.initial
    }
    fn decide(&mut self, obs: &Observation) -> u32 {
        let s = &self.settings;
        let current = obs.desired;
        let ready = obs.replicas.len() as u32;
        let recommendation = if ready == 0 {
            current
        } else {
            let usage: f64 = obs
                .replicas
                .iter()
                .map(|g| g.running_mean / f64::from(self.max_num_seqs))
                .sum();
            let ratio = usage / f64::from(ready) / s.hpa_target;
            let unready = f64::from(current.saturating_sub(ready));
            if (ratio - 1.0).abs() <= s.hpa_tolerance {
                current
            } else if ratio > 1.0 {
                // Not-ready replicas count as idle on the way up.
                let r = usage / s.hpa_target;
                if r / f64::from(current) <= 1.0 + s.hpa_tolerance {
                    current
                } else {
                    (r - 1e-9).ceil() as u32
                }
            } else {
                // ... and as exactly at target on the way down; no change if that brings the
                // ratio back within tolerance.
                let r = usage / s.hpa_target + unready;
                if (r / f64::from(current) - 1.0).abs() <= s.hpa_tolerance {
                    current
                } else {
                    (r - 1e-9).ceil().max(1.0) as u32
                }
            }
        };
        self.history.push((obs.time_s, recommendation));
        let from = obs.time_s - s.hpa_stabilization_s;
        self.history.retain(|&(t, _)| t >= from);
        if recommendation < current {
            self.history
                .iter()
                .map(|&(_, r)| r)
                .max()
                .unwrap_or(recommendation)
                .min(current)
        } else {
            recommendation
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::ReplicaGauges;

    fn obs(desired: u32, gauges: &[(f64, f64, f64)]) -> Observation {
        Observation {
            tick: 1,
            time_s: 60.0,
            window_s: 60.0,
            arrival_rate_rps: 0.0,
            completion_rate_rps: 0.0,
            mean_prompt_tokens: None,
            mean_output_tokens: None,
            mean_ttft_ms: None,
            mean_tpot_ms: None,
            desired,
            ready: gauges.len() as u32,
            starting: desired.saturating_sub(gauges.len() as u32),
            replicas: gauges
                .iter()
                .map(|&(kv, waiting, running)| ReplicaGauges {
                    kv_usage_max: kv,
                    kv_usage_mean: kv,
                    waiting_max: waiting,
                    waiting_mean: waiting,
                    running_mean: running,
                })
                .collect(),
        }
    }

    fn saturation() -> Saturation {
        Saturation {
            settings: PolicySettings::default(),
            initial: 1,
        }
    }

    /// Upstream's documented cases: spare under the trigger scales up by one; enough spare
    /// after removing one scales down by one; a change under way is kept.
    #[test]
    fn saturation_follows_upstreams_rules() {
        let mut s = saturation();
        // Average spare KV 0.8 - 0.75 = 0.05 < 0.1: up.
        assert_eq!(s.decide(&obs(2, &[(0.75, 0.0, 0.0), (0.75, 0.0, 0.0)])), 3);
        // Average spare queue 5 - 3 = 2 < 3: up.
        assert_eq!(s.decide(&obs(2, &[(0.1, 3.0, 0.0), (0.1, 3.0, 0.0)])), 3);
        // Every replica saturated: up.
        assert_eq!(s.decide(&obs(2, &[(0.9, 0.0, 0.0), (0.2, 6.0, 0.0)])), 3);
        // Light load: removing one leaves 0.8 - 0.6/2 = 0.5 spare KV: down.
        assert_eq!(
            s.decide(&obs(
                3,
                &[(0.2, 0.0, 0.0), (0.2, 0.0, 0.0), (0.2, 0.0, 0.0)]
            )),
            2
        );
        // Removing one would leave 0.8 - 1.2/1 < 0.1: stay.
        assert_eq!(s.decide(&obs(2, &[(0.6, 0.0, 0.0), (0.6, 0.0, 0.0)])), 2);
        // A replica still starting: keep the decision.
        assert_eq!(s.decide(&obs(3, &[(0.75, 0.0, 0.0), (0.75, 0.0, 0.0)])), 3);
        // No replica reported metrics in the interval: no decision either way.
        let mut silent = obs(2, &[]);
        silent.ready = 2;
        assert_eq!(s.decide(&silent), 2);
    }

    fn hpa() -> Hpa {
        Hpa {
            settings: PolicySettings::default(),
            max_num_seqs: 100,
            initial: 1,
            history: Vec::new(),
        }
    }

    /// `ceil(sum of utilisation / target)` outside the tolerance, and scale-down held to the
    /// highest recommendation of the stabilisation window.
    #[test]
    fn hpa_scales_by_ratio_with_tolerance_and_stabilisation() {
        let mut h = hpa();
        // 2 replicas at 80 running of 100 = 0.8 each; target 0.5: ceil(1.6 / 0.5) = 4.
        assert_eq!(h.decide(&obs(2, &[(0.0, 0.0, 80.0), (0.0, 0.0, 80.0)])), 4);
        // Within 10% of target: no change.
        let mut h = hpa();
        assert_eq!(h.decide(&obs(2, &[(0.0, 0.0, 53.0), (0.0, 0.0, 53.0)])), 2);
        // Light load after a busy minute: the window's highest recommendation holds.
        let mut h = hpa();
        let mut o = obs(4, &[(0.0, 0.0, 50.0); 4]);
        assert_eq!(h.decide(&o), 4);
        o = obs(4, &[(0.0, 0.0, 10.0); 4]);
        o.time_s = 120.0;
        assert_eq!(h.decide(&o), 4, "held by the stabilisation window");
        o.time_s = 480.0;
        assert_eq!(h.decide(&o), 1, "window passed: ceil(0.4 / 0.5) = 1");
    }

    #[test]
    fn interval_loads_cover_the_trace() {
        let req = |t_s: f64, p: u32| Request {
            id: 0,
            group: 0,
            arrival_ms: t_s * 1000.0,
            prompt_tokens: p,
            output_tokens: 10,
            counted: true,
        };
        let requests = vec![
            req(0.0, 100),
            req(30.0, 300),
            req(61.0, 500),
            req(90.0, 700),
        ];
        let loads = interval_loads(&requests, 60.0);
        assert_eq!(loads.len(), 2);
        // A last piece under half an interval joins the one before: [0, 70 s].
        let short = interval_loads(
            &requests[..2]
                .iter()
                .chain(&[req(70.0, 900)])
                .copied()
                .collect::<Vec<_>>(),
            60.0,
        );
        assert_eq!(short.len(), 1);
        assert!((short[0].rate_rps - 3.0 / 70.0).abs() < 1e-12);
        // One request at 0: one interval, rated over its whole length.
        let one = interval_loads(&requests[..1], 60.0);
        assert_eq!(one.len(), 1);
        assert!((one[0].rate_rps - 1.0 / 60.0).abs() < 1e-12);
        assert!((loads[0].rate_rps - 2.0 / 60.0).abs() < 1e-12);
        assert_eq!(loads[0].prompt_tokens, Some(200.0));
        // The last interval runs from 60 s to the last arrival (90 s).
        assert!((loads[1].rate_rps - 2.0 / 30.0).abs() < 1e-12);
        assert_eq!(loads[1].prompt_tokens, Some(600.0));
    }
}
