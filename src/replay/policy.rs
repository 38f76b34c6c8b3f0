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
//! - `wva-predictive` ([`super::predictive`]) and `saturation-v2` ([`super::saturation_v2`])
//!   live in their own files.
//!
//! With several variants the capacity-based policies fill the cheapest capacity first
//! ([`Fleet::fill`]); the saturation rules add to the cheapest and remove from the most
//! expensive variant; the HPA runs one autoscaler per variant (one per Deployment).

use super::predictive::{Predictive, PredictiveSettings};
use super::saturation_v2::{SaturationV2, SaturationV2Settings};
use super::{Controller, Intervals, Observation, ReplayConfig};
use crate::optimize::candidates::replicas_for;
use crate::perf::{PerfParams, RequestShape};
use crate::queueing::{ReplicaModel, Targets, size};
use crate::sim::Request;
use serde::Serialize;
use std::fmt;

/// A policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// `wva`'s policy: the model sized for the forecast load at start-up lead, the recent
    /// bursts and the backlog, with damped scale-down.
    WvaPredictive,
    /// Upstream's model-based loop: the analytic model sized on the last window's load.
    WvaModel,
    /// Upstream's KV-cache and queue saturation rules (V1).
    Saturation,
    /// Upstream's token-based saturation engine (V2, WVA v0.5+).
    SaturationV2,
    /// A Kubernetes HPA on batch utilisation.
    HpaUtilisation,
    /// A fixed count (peak provisioning).
    Static,
    /// The plan for each interval's true load, in place as it starts: the cost lower bound.
    Oracle,
}

impl PolicyKind {
    /// Every policy, in report order.
    pub const ALL: [PolicyKind; 7] = [
        PolicyKind::Oracle,
        PolicyKind::WvaPredictive,
        PolicyKind::WvaModel,
        PolicyKind::Saturation,
        PolicyKind::SaturationV2,
        PolicyKind::HpaUtilisation,
        PolicyKind::Static,
    ];
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyKind::WvaPredictive => "wva-predictive",
            PolicyKind::WvaModel => "wva-model",
            PolicyKind::Saturation => "saturation",
            PolicyKind::SaturationV2 => "saturation-v2",
            PolicyKind::HpaUtilisation => "hpa-utilisation",
            PolicyKind::Static => "static",
            PolicyKind::Oracle => "oracle",
        })
    }
}

/// Which rate the model-based loop sizes for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
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
    /// `wva-predictive`'s knobs.
    pub predictive: PredictiveSettings,
    /// `saturation-v2`'s knobs.
    pub saturation_v2: SaturationV2Settings,
    /// With `min_replicas` 0: every policy but static and the oracle goes to zero after this
    /// long without arrivals, s (upstream's `retention_period`, 10 min); `None`: never.
    pub scale_to_zero_after_s: Option<f64>,
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
            predictive: PredictiveSettings::default(),
            saturation_v2: SaturationV2Settings::default(),
            scale_to_zero_after_s: None,
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

    /// The highest stable per-replica rate for requests of `shape`, whatever the latency
    /// (what a replica with a queue drains at), requests/s.
    pub fn max_throughput_rps(&self, shape: RequestShape) -> Option<f64> {
        let model = ReplicaModel::new(self.perf, shape, self.max_batch, self.max_queue).ok()?;
        size(&model, &Targets::default())
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
}

/// The variants of a fleet as the policies size them: per variant, in the config's order
/// (cheapest capacity first), its sizer, replica cost and limits.
#[derive(Clone, Debug, PartialEq)]
pub struct Fleet {
    /// The analytic sizer of each variant's replicas.
    pub sizers: Vec<Sizer>,
    /// Cost of one replica of each variant, cents per hour.
    pub cost_cents_per_hour: Vec<f64>,
    /// Most replicas of each variant.
    pub max_replicas: Vec<u32>,
    /// Each variant's `max_num_seqs`.
    pub max_num_seqs: Vec<u32>,
    /// Each variant's `max_num_batched_tokens`.
    pub max_num_batched_tokens: Vec<u32>,
    /// Each variant's KV cache per replica, tokens (`None`: unlimited).
    pub kv_capacity_tokens: Vec<Option<u64>>,
    /// Seconds from asking for a replica to its first request.
    pub startup_s: f64,
    /// Control period, s.
    pub interval_s: f64,
}

impl Fleet {
    /// The fleet of `config`, one sizer per variant (same order).
    pub fn new(config: &ReplayConfig, sizers: Vec<Sizer>) -> Self {
        let v = &config.variants;
        Fleet {
            sizers,
            cost_cents_per_hour: v.iter().map(|c| c.replica_cost_cents_per_hour).collect(),
            max_replicas: v.iter().map(|c| c.max_replicas).collect(),
            max_num_seqs: v.iter().map(|c| c.engine.max_num_seqs.max(1)).collect(),
            max_num_batched_tokens: v.iter().map(|c| c.engine.max_num_batched_tokens).collect(),
            kv_capacity_tokens: v.iter().map(|c| c.engine.kv_capacity_tokens).collect(),
            startup_s: config.startup_s,
            interval_s: config.interval_s,
        }
    }

    /// Number of variants.
    pub fn variants(&self) -> usize {
        self.sizers.len()
    }

    /// The default request shape (the first variant's sizer's).
    pub fn default_shape(&self) -> RequestShape {
        self.sizers[0].default_shape
    }

    /// Replicas per variant for `rate_rps` of requests of `shape`: the cheapest capacity
    /// first, each variant up to its inventory (one variant: the plan's count, at least 1).
    /// `None` when no variant's model can size that shape.
    pub fn fill(&self, rate_rps: f64, shape: RequestShape) -> Option<Vec<u32>> {
        if self.variants() == 1 {
            return self.sizers[0].replicas(rate_rps, shape).map(|n| vec![n]);
        }
        let mut out = vec![0u32; self.variants()];
        let mut remaining = rate_rps;
        let mut sized = false;
        for (v, sizer) in self.sizers.iter().enumerate() {
            let Some(mu) = sizer.max_rate_rps(shape).filter(|r| *r > 0.0) else {
                continue;
            };
            sized = true;
            if remaining <= 0.0 {
                break;
            }
            let need =
                replicas_for(remaining, mu, 0).unwrap_or(crate::optimize::candidates::MAX_REPLICAS);
            out[v] = need.min(self.max_replicas[v]);
            remaining -= f64::from(out[v]) * mu;
        }
        if !sized {
            return None;
        }
        if out.iter().all(|&n| n == 0) {
            out[0] = 1;
        }
        Some(out)
    }

    /// Replicas per variant for an interval's load (the default shape where it has none).
    pub fn fill_load(&self, load: &IntervalLoad) -> Option<Vec<u32>> {
        let d = self.default_shape();
        let shape = RequestShape {
            prompt_tokens: load.prompt_tokens.unwrap_or(d.prompt_tokens),
            output_tokens: load.output_tokens.unwrap_or(d.output_tokens).max(1.0),
        };
        self.fill(load.rate_rps, shape)
    }

    /// `n` replicas over the variants, the cheapest capacity first up to each inventory.
    pub fn first(&self, n: u32) -> Vec<u32> {
        let mut left = n;
        self.max_replicas
            .iter()
            .enumerate()
            .map(|(v, &max)| {
                let last = v + 1 == self.variants();
                let take = if last { left } else { left.min(max) };
                left -= take;
                take
            })
            .collect()
    }

    /// The variant to add a replica to: the first (cheapest capacity) with room under its
    /// inventory, given the current counts.
    pub fn cheapest_with_room(&self, counts: &[u32]) -> Option<usize> {
        (0..self.variants()).find(|&v| counts.get(v).copied().unwrap_or(0) < self.max_replicas[v])
    }

    /// The variant to remove a replica from: the most expensive replica with any left.
    pub fn most_expensive_with_replicas(&self, counts: &[u32]) -> Option<usize> {
        (0..self.variants())
            .filter(|&v| counts.get(v).copied().unwrap_or(0) > 0)
            .max_by(|&a, &b| {
                self.cost_cents_per_hour[a]
                    .total_cmp(&self.cost_cents_per_hour[b])
                    .then(a.cmp(&b))
            })
    }
}

/// The controller of policy `kind`. `loads` is the true load of every interval (for the
/// oracle, static provisioning and everyone's starting count).
pub fn controller(
    kind: PolicyKind,
    settings: &PolicySettings,
    fleet: &Fleet,
    loads: &[IntervalLoad],
) -> Box<dyn Controller + Send> {
    // Intervals the model cannot size keep the previous interval's count.
    let mut last = vec![0; fleet.variants()];
    last[0] = 1;
    let plan: Vec<Vec<u32>> = loads
        .iter()
        .map(|l| {
            if let Some(n) = fleet.fill_load(l) {
                last = n;
            }
            last.clone()
        })
        .collect();
    let first = plan.first().cloned().unwrap_or_else(|| fleet.first(1));
    let inner: Box<dyn Controller + Send> = match kind {
        PolicyKind::Oracle => {
            // An interval without requests needs no replica when the fleet may go to zero.
            let plan = if settings.scale_to_zero_after_s.is_some() {
                plan.into_iter()
                    .zip(loads)
                    .map(|(p, l)| {
                        if l.rate_rps > 0.0 {
                            p
                        } else {
                            vec![0; p.len()]
                        }
                    })
                    .collect()
            } else {
                plan
            };
            return Box::new(Oracle { plan });
        }
        PolicyKind::Static => {
            return Box::new(Static {
                replicas: match settings.static_replicas {
                    Some(n) => fleet.first(n),
                    None => {
                        let peak = plan.iter().map(|p| p.iter().sum::<u32>()).max();
                        fleet.first(peak.unwrap_or(1))
                    }
                },
            });
        }
        PolicyKind::WvaPredictive => {
            Box::new(Predictive::new(settings.predictive, fleet.clone(), first))
        }
        PolicyKind::WvaModel => Box::new(WvaModel {
            fleet: fleet.clone(),
            source: settings.rate_source,
            initial: first,
            shape: fleet.default_shape(),
        }),
        PolicyKind::Saturation => Box::new(Saturation {
            settings: *settings,
            fleet: fleet.clone(),
            initial: first,
        }),
        PolicyKind::SaturationV2 => Box::new(SaturationV2::new(
            settings.saturation_v2,
            fleet.clone(),
            first,
        )),
        PolicyKind::HpaUtilisation => Box::new(Hpa {
            settings: *settings,
            max_num_seqs: fleet.max_num_seqs.clone(),
            initial: first,
            history: vec![Vec::new(); fleet.variants()],
        }),
    };
    match settings.scale_to_zero_after_s {
        Some(after_s) => Box::new(ScaleToZero {
            inner,
            after_s,
            last_arrival_s: 0.0,
        }),
        None => inner,
    }
}

/// Upstream's scale-to-zero enforcer around a policy: no replicas once nothing has arrived
/// for `after_s`; the policy's own count otherwise (the run wakes an empty fleet on the next
/// arrival).
struct ScaleToZero {
    inner: Box<dyn Controller + Send>,
    after_s: f64,
    last_arrival_s: f64,
}

impl Controller for ScaleToZero {
    fn initial_replicas(&self) -> Vec<u32> {
        self.inner.initial_replicas()
    }
    fn decide(&mut self, obs: &Observation) -> Vec<u32> {
        let wanted = self.inner.decide(obs);
        let quiet = obs.arrival_rate_rps == 0.0
            && obs.gateway_waiting == 0
            && obs.replicas.iter().all(|g| g.waiting_last == 0.0);
        if !quiet {
            self.last_arrival_s = obs.time_s;
            return wanted;
        }
        // No arrival since the last tick that saw one.
        if obs.time_s - self.last_arrival_s >= self.after_s {
            vec![0; wanted.len()]
        } else {
            wanted
        }
    }
}

struct Oracle {
    plan: Vec<Vec<u32>>,
}

impl Controller for Oracle {
    fn initial_replicas(&self) -> Vec<u32> {
        self.plan.first().cloned().unwrap_or_else(|| vec![1])
    }
    fn instant_start(&self) -> bool {
        true
    }
    fn decide(&mut self, obs: &Observation) -> Vec<u32> {
        self.plan
            .get(obs.tick)
            .cloned()
            .unwrap_or_else(|| obs.variants.iter().map(|v| v.desired).collect())
    }
}

struct Static {
    replicas: Vec<u32>,
}

impl Controller for Static {
    fn initial_replicas(&self) -> Vec<u32> {
        self.replicas.clone()
    }
    fn decide(&mut self, _: &Observation) -> Vec<u32> {
        self.replicas.clone()
    }
}

/// The counts asked for now, per variant.
pub(crate) fn current(obs: &Observation) -> Vec<u32> {
    obs.variants.iter().map(|v| v.desired).collect()
}

struct WvaModel {
    fleet: Fleet,
    source: RateSource,
    initial: Vec<u32>,
    /// The last token means seen (kept through windows without completions).
    shape: RequestShape,
}

impl Controller for WvaModel {
    fn initial_replicas(&self) -> Vec<u32> {
        self.initial.clone()
    }
    fn decide(&mut self, obs: &Observation) -> Vec<u32> {
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
        self.fleet
            .fill(rate, self.shape)
            .unwrap_or_else(|| current(obs))
    }
}

struct Saturation {
    settings: PolicySettings,
    fleet: Fleet,
    initial: Vec<u32>,
}

/// What the V1 saturation rules decide, in replicas over the whole fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Up,
    Down,
    Hold,
}

impl Saturation {
    /// `None`: no decision (the counts asked for stay).
    fn step(&self, obs: &Observation) -> Option<Step> {
        let s = &self.settings;
        // A change under way (replicas starting) is kept, not compounded; no replica reported
        // metrics this interval (no scrape fell in it): nothing to judge.
        if obs.desired != obs.ready || obs.replicas.is_empty() {
            return None;
        }
        Some(self.judge(obs, s))
    }

    fn judge(&self, obs: &Observation, s: &PolicySettings) -> Step {
        let unsaturated: Vec<_> = obs
            .replicas
            .iter()
            .filter(|g| {
                g.kv_usage_max < s.kv_cache_threshold && g.waiting_max < s.queue_length_threshold
            })
            .collect();
        if unsaturated.is_empty() {
            return Step::Up;
        }
        let n = unsaturated.len() as f64;
        let kv_load: f64 = unsaturated.iter().map(|g| g.kv_usage_max).sum();
        let queue_load: f64 = unsaturated.iter().map(|g| g.waiting_max).sum();
        let spare_kv = s.kv_cache_threshold - kv_load / n;
        let spare_queue = s.queue_length_threshold - queue_load / n;
        if spare_kv < s.kv_spare_trigger || spare_queue < s.queue_spare_trigger {
            return Step::Up;
        }
        if unsaturated.len() >= 2 {
            let after_kv = s.kv_cache_threshold - kv_load / (n - 1.0);
            let after_queue = s.queue_length_threshold - queue_load / (n - 1.0);
            if after_kv >= s.kv_spare_trigger && after_queue >= s.queue_spare_trigger {
                return Step::Down;
            }
        }
        Step::Hold
    }
}

impl Controller for Saturation {
    fn initial_replicas(&self) -> Vec<u32> {
        self.initial.clone()
    }
    fn decide(&mut self, obs: &Observation) -> Vec<u32> {
        let Some(step) = self.step(obs) else {
            return current(obs);
        };
        // Upstream counts the replicas reporting metrics (its ready replicas).
        let mut counts = vec![0u32; self.fleet.variants()];
        for g in &obs.replicas {
            counts[g.variant] += 1;
        }
        match step {
            Step::Up => {
                if let Some(v) = self.fleet.cheapest_with_room(&counts) {
                    counts[v] += 1;
                }
            }
            Step::Down => {
                if let Some(v) = self.fleet.most_expensive_with_replicas(&counts) {
                    counts[v] -= 1;
                }
            }
            Step::Hold => {}
        }
        counts
    }
}

struct Hpa {
    settings: PolicySettings,
    max_num_seqs: Vec<u32>,
    initial: Vec<u32>,
    /// Per variant, recommendations (time s, replicas) within the stabilisation window.
    history: Vec<Vec<(f64, u32)>>,
}

impl Hpa {
    /// One variant's HPA: `current` replicas asked for, `usage` the sum of its ready
    /// replicas' utilisation, `ready` how many reported.
    fn recommend(&mut self, v: usize, time_s: f64, current: u32, ready: u32, usage: f64) -> u32 {
        let s = &self.settings;
        let recommendation = if ready == 0 {
            current
        } else {
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
        let history = &mut self.history[v];
        history.push((time_s, recommendation));
        let from = time_s - s.hpa_stabilization_s;
        history.retain(|&(t, _)| t >= from);
        if recommendation < current {
            history
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

impl Controller for Hpa {
    fn initial_replicas(&self) -> Vec<u32> {
        self.initial.clone()
    }
    fn decide(&mut self, obs: &Observation) -> Vec<u32> {
        (0..self.max_num_seqs.len())
            .map(|v| {
                let gauges = obs.replicas.iter().filter(|g| g.variant == v);
                let (usage, ready) = gauges.fold((0.0, 0u32), |(u, n), g| {
                    (u + g.running_mean / f64::from(self.max_num_seqs[v]), n + 1)
                });
                let current = obs.variants.get(v).map_or(0, |s| s.desired);
                // A variant with no replicas has no HPA signal (HPA does not scale from zero).
                if current == 0 {
                    return 0;
                }
                self.recommend(v, obs.time_s, current, ready, usage)
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::perf::Gen2Params;
    use crate::replay::{ReplicaGauges, VariantState};

    /// One variant's count, for rules tested on one variant.
    trait DecideOne {
        fn decide1(&mut self, obs: &Observation) -> u32;
    }
    impl<C: Controller> DecideOne for C {
        fn decide1(&mut self, obs: &Observation) -> u32 {
            self.decide(obs)[0]
        }
    }

    /// A fleet of `costs.len()` variants of the same replica (the given replica costs, up to
    /// `max` replicas each).
    pub(crate) fn test_fleet(costs: &[f64], max: u32) -> Fleet {
        let sizer = Sizer {
            perf: PerfParams::V2(Gen2Params {
                alpha_ms: 6.0,
                beta_ms_per_token: 0.02,
                gamma_ms_per_kv_token: 0.0001,
            }),
            max_batch: 64,
            max_queue: 640,
            targets: Targets {
                ttft_ms: Some(500.0),
                itl_ms: Some(40.0),
                ..Default::default()
            },
            default_shape: RequestShape {
                prompt_tokens: 1000.0,
                output_tokens: 200.0,
            },
        };
        Fleet {
            sizers: vec![sizer; costs.len()],
            cost_cents_per_hour: costs.to_vec(),
            max_replicas: vec![max; costs.len()],
            max_num_seqs: vec![100; costs.len()],
            max_num_batched_tokens: vec![2048; costs.len()],
            kv_capacity_tokens: vec![Some(100_000); costs.len()],
            startup_s: 120.0,
            interval_s: 60.0,
        }
    }

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
            scrape_rates_rps: Vec::new(),
            gateway_waiting: 0,
            desired,
            ready: gauges.len() as u32,
            starting: desired.saturating_sub(gauges.len() as u32),
            replicas: gauges
                .iter()
                .map(|&(kv, waiting, running)| ReplicaGauges {
                    variant: 0,
                    kv_usage_max: kv,
                    kv_usage_mean: kv,
                    waiting_max: waiting,
                    waiting_mean: waiting,
                    running_mean: running,
                    waiting_last: waiting,
                })
                .collect(),
            variants: vec![VariantState {
                desired,
                ready: gauges.len() as u32,
                starting: desired.saturating_sub(gauges.len() as u32),
            }],
        }
    }

    /// An observation at `time_s` of one variant: `rate_rps` arrivals, the scrape rates, and
    /// one ready replica per entry of `waiting` (its last and peak waiting requests).
    pub(crate) fn obs_at(
        time_s: f64,
        rate_rps: f64,
        scrape_rates: &[f64],
        waiting: &[f64],
    ) -> Observation {
        let mut o = obs(waiting.len() as u32, &vec![(0.0, 0.0, 0.0); waiting.len()]);
        o.time_s = time_s;
        o.tick = (time_s / 60.0) as usize;
        o.arrival_rate_rps = rate_rps;
        o.scrape_rates_rps = scrape_rates.to_vec();
        for (g, &w) in o.replicas.iter_mut().zip(waiting) {
            g.waiting_last = w;
            g.waiting_max = w;
        }
        o
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(100))]

        /// More load never asks for fewer replicas in total, no variant goes over its
        /// inventory, and a variant is used only once the cheaper ones before it are full.
        #[test]
        fn fill_is_monotone_and_cheapest_first(
            rate in 0.0f64..2000.0,
            more in 0.0f64..500.0,
            inventory in 1u32..30,
            variants in 1usize..4,
        ) {
            let costs: Vec<f64> = (0..variants).map(|v| 40.0 + 30.0 * v as f64).collect();
            let fleet = test_fleet(&costs, inventory);
            let shape = fleet.default_shape();
            let a = fleet.fill(rate, shape).unwrap();
            let b = fleet.fill(rate + more, shape).unwrap();
            proptest::prop_assert!(a.iter().sum::<u32>() <= b.iter().sum::<u32>(), "{:?} {:?}", a, b);
            for counts in [&a, &b] {
                for (v, &n) in counts.iter().enumerate() {
                    if variants > 1 {
                        proptest::prop_assert!(n <= inventory);
                    }
                    if n > 0 {
                        for &before in &counts[..v] {
                            proptest::prop_assert_eq!(before, inventory, "{:?}", counts);
                        }
                    }
                }
            }
        }
    }

    fn saturation() -> Saturation {
        Saturation {
            settings: PolicySettings::default(),
            fleet: test_fleet(&[100.0], 100),
            initial: vec![1],
        }
    }

    /// Upstream's documented cases: spare under the trigger scales up by one; enough spare
    /// after removing one scales down by one; a change under way is kept.
    #[test]
    fn saturation_follows_upstreams_rules() {
        let mut s = saturation();
        // Average spare KV 0.8 - 0.75 = 0.05 < 0.1: up.
        assert_eq!(s.decide1(&obs(2, &[(0.75, 0.0, 0.0), (0.75, 0.0, 0.0)])), 3);
        // Average spare queue 5 - 3 = 2 < 3: up.
        assert_eq!(s.decide1(&obs(2, &[(0.1, 3.0, 0.0), (0.1, 3.0, 0.0)])), 3);
        // Every replica saturated: up.
        assert_eq!(s.decide1(&obs(2, &[(0.9, 0.0, 0.0), (0.2, 6.0, 0.0)])), 3);
        // Light load: removing one leaves 0.8 - 0.6/2 = 0.5 spare KV: down.
        assert_eq!(
            s.decide1(&obs(
                3,
                &[(0.2, 0.0, 0.0), (0.2, 0.0, 0.0), (0.2, 0.0, 0.0)]
            )),
            2
        );
        // Removing one would leave 0.8 - 1.2/1 < 0.1: stay.
        assert_eq!(s.decide1(&obs(2, &[(0.6, 0.0, 0.0), (0.6, 0.0, 0.0)])), 2);
        // A replica still starting: keep the decision.
        assert_eq!(s.decide1(&obs(3, &[(0.75, 0.0, 0.0), (0.75, 0.0, 0.0)])), 3);
        // No replica reported metrics in the interval: no decision either way.
        let mut silent = obs(2, &[]);
        silent.ready = 2;
        silent.variants[0].ready = 2;
        assert_eq!(s.decide1(&silent), 2);
    }

    fn hpa() -> Hpa {
        Hpa {
            settings: PolicySettings::default(),
            max_num_seqs: vec![100],
            initial: vec![1],
            history: vec![Vec::new()],
        }
    }

    /// `ceil(sum of utilisation / target)` outside the tolerance, and scale-down held to the
    /// highest recommendation of the stabilisation window.
    #[test]
    fn hpa_scales_by_ratio_with_tolerance_and_stabilisation() {
        let mut h = hpa();
        // 2 replicas at 80 running of 100 = 0.8 each; target 0.5: ceil(1.6 / 0.5) = 4.
        assert_eq!(h.decide1(&obs(2, &[(0.0, 0.0, 80.0), (0.0, 0.0, 80.0)])), 4);
        // Within 10% of target: no change.
        let mut h = hpa();
        assert_eq!(h.decide1(&obs(2, &[(0.0, 0.0, 53.0), (0.0, 0.0, 53.0)])), 2);
        // Light load after a busy minute: the window's highest recommendation holds.
        let mut h = hpa();
        let mut o = obs(4, &[(0.0, 0.0, 50.0); 4]);
        assert_eq!(h.decide1(&o), 4);
        o = obs(4, &[(0.0, 0.0, 10.0); 4]);
        o.time_s = 120.0;
        assert_eq!(h.decide1(&o), 4, "held by the stabilisation window");
        o.time_s = 480.0;
        assert_eq!(h.decide1(&o), 1, "window passed: ceil(0.4 / 0.5) = 1");
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
