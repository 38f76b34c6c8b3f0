//! `wva-predictive`: `wva`'s own controller, designed from what the replays of upstream's
//! policies show (a fleet sized for the minute just past is short while new replicas start,
//! minute means hide bursts of seconds, and a backlog built while short is never cleared by a
//! fleet sized for the arrival rate).
//!
//! Every tick it sizes, with the same analytic model as `wva plan`, for the largest of
//! - the **forecast**: the arrival rate a replica asked for now will meet when it serves, a
//!   Holt (level and trend) forecast of the observed per-window rate, `startup_s +
//!   interval_s` ahead; only a rising trend is projected (a falling one is left to the damped
//!   scale-down);
//! - the **burst rate**: a high quantile of the gateway's per-scrape rates over the last few
//!   minutes (`max_over_time`-style: what the fleet actually meets within a minute);
//! - the **rate just observed**,
//!
//! plus the **backlog** (requests waiting in the engines and at the gateway) that the serving
//! replicas will not have drained by the time a new one serves (their stable throughput over
//! the expected load, for `startup_s`), to be drained within `drain_s`. It scales up at once and scales down only to the highest count it
//! recommended over the last `down_stabilization_s`. Everything it uses is observable by a
//! real controller (the gateway's request counter and vLLM's gauges through Prometheus); it
//! never looks at the future.

use super::policy::{Fleet, current};
use super::{Controller, Observation};
use crate::perf::RequestShape;
use crate::sim::metrics::quantile;
use serde::Serialize;
use std::collections::VecDeque;

/// `wva-predictive`'s knobs (defaults chosen on the first 30 minutes of the Azure traces;
/// docs/replay.md says how).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PredictiveSettings {
    /// Holt smoothing of the rate's level (0 to 1; higher follows faster).
    pub level_smoothing: f64,
    /// Holt smoothing of the rate's trend (0 to 1).
    pub trend_smoothing: f64,
    /// The quantile of the per-scrape rates that stands for the bursts (0 to 1).
    pub burst_quantile: f64,
    /// How far back the burst quantile looks, s.
    pub burst_window_s: f64,
    /// The backlog is to be drained within this, s.
    pub drain_s: f64,
    /// Scale down only to the highest recommendation of this window, s.
    pub down_stabilization_s: f64,
}

impl Default for PredictiveSettings {
    fn default() -> Self {
        PredictiveSettings {
            level_smoothing: 0.5,
            trend_smoothing: 0.3,
            burst_quantile: 0.97,
            burst_window_s: 1200.0,
            drain_s: 600.0,
            down_stabilization_s: 120.0,
        }
    }
}

/// The rate a decision sizes for, and its parts (requests/s).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Demand {
    /// The Holt forecast at start-up lead.
    pub forecast_rps: f64,
    /// The burst quantile of recent per-scrape rates.
    pub burst_rps: f64,
    /// The backlog over the drain time.
    pub backlog_rps: f64,
    /// What the fleet is sized for: the largest of the forecast, the observed rate and the
    /// burst rate, plus the backlog's.
    pub total_rps: f64,
}

/// The controller.
pub struct Predictive {
    settings: PredictiveSettings,
    fleet: Fleet,
    initial: Vec<u32>,
    /// Holt level and trend of the per-window arrival rate (`None` before the first tick).
    level: Option<f64>,
    trend: f64,
    /// The token means it sizes for.
    shape: RequestShape,
    /// Recent completions' token sums (tick time, requests, prompt tokens, output tokens).
    tokens: VecDeque<(f64, f64, f64, f64)>,
    /// Recent per-scrape rates (time of the tick that reported them, rate).
    rates: VecDeque<(f64, f64)>,
    /// Recent recommendations (time, replicas per variant).
    recommendations: VecDeque<(f64, Vec<u32>)>,
    /// Requests waiting at the previous tick.
    backlog_before: f64,
}

impl Predictive {
    /// The controller for `fleet`, starting with `initial` replicas per variant.
    pub fn new(settings: PredictiveSettings, fleet: Fleet, initial: Vec<u32>) -> Self {
        let shape = fleet.default_shape();
        Predictive {
            settings,
            fleet,
            initial,
            level: None,
            trend: 0.0,
            shape,
            tokens: VecDeque::new(),
            rates: VecDeque::new(),
            recommendations: VecDeque::new(),
            backlog_before: 0.0,
        }
    }

    /// Updates the forecast, burst history and token means with `obs` and returns the rate
    /// to size for.
    pub fn demand(&mut self, obs: &Observation) -> Demand {
        let s = self.settings;
        // Token means weighted by completions over the burst window: a window of a few
        // requests does not swing the shape.
        if let (Some(p), Some(o)) = (obs.mean_prompt_tokens, obs.mean_output_tokens) {
            let n = obs.completion_rate_rps * obs.window_s;
            self.tokens.push_back((obs.time_s, n, p * n, o * n));
        }
        let from = obs.time_s - s.burst_window_s;
        while self.tokens.front().is_some_and(|&(t, ..)| t <= from) {
            self.tokens.pop_front();
        }
        let (n, p, o) = self
            .tokens
            .iter()
            .fold((0.0, 0.0, 0.0), |(n, p, o), &(_, m, pm, om)| {
                (n + m, p + pm, o + om)
            });
        if n > 0.0 {
            self.shape = RequestShape {
                prompt_tokens: p / n,
                output_tokens: (o / n).max(1.0),
            };
        }

        // Holt's level and trend of the per-window rate; only a rising trend is projected,
        // over the time until a replica asked for now has served an interval.
        let rate = obs.arrival_rate_rps;
        match self.level {
            None => self.level = Some(rate),
            Some(level) => {
                let next = (s.level_smoothing * rate
                    + (1.0 - s.level_smoothing) * (level + self.trend))
                    .max(0.0);
                self.trend =
                    s.trend_smoothing * (next - level) + (1.0 - s.trend_smoothing) * self.trend;
                self.level = Some(next);
            }
        }
        let lead_ticks = (self.fleet.startup_s + self.fleet.interval_s) / self.fleet.interval_s;
        let forecast_rps = self.level.unwrap_or(rate) + self.trend.max(0.0) * lead_ticks;

        // The bursts: a quantile of the per-scrape rates of the burst window.
        for &r in &obs.scrape_rates_rps {
            self.rates.push_back((obs.time_s, r));
        }
        while self.rates.front().is_some_and(|&(t, _)| t <= from) {
            self.rates.pop_front();
        }
        let mut recent: Vec<f64> = self.rates.iter().map(|&(_, r)| r).collect();
        recent.sort_unstable_by(f64::total_cmp);
        let burst_rps = if recent.is_empty() {
            0.0
        } else {
            quantile(&recent, s.burst_quantile)
        };

        // The backlog left when a replica asked for now serves. While a backlog persists the
        // serving replicas are saturated and the completion rate is what they drain at;
        // otherwise the model's stable throughput stands for it.
        let backlog: f64 = obs.replicas.iter().map(|g| g.waiting_last).sum::<f64>()
            + f64::from(obs.gateway_waiting);
        let load_rps = forecast_rps.max(rate);
        let serving_rps = if backlog > 0.0 && self.backlog_before > 0.0 {
            obs.completion_rate_rps
        } else {
            obs.variants
                .iter()
                .enumerate()
                .filter_map(|(v, st)| {
                    let per = self.fleet.sizers[v].max_throughput_rps(self.shape)?;
                    Some(f64::from(st.ready) * per)
                })
                .sum()
        };
        let left = backlog + (load_rps - serving_rps) * self.fleet.startup_s;
        let backlog_rps = left.max(0.0) / s.drain_s;
        self.backlog_before = backlog;
        Demand {
            forecast_rps,
            burst_rps,
            backlog_rps,
            total_rps: load_rps.max(burst_rps) + backlog_rps,
        }
    }
}

impl Controller for Predictive {
    fn initial_replicas(&self) -> Vec<u32> {
        self.initial.clone()
    }

    fn decide(&mut self, obs: &Observation) -> Vec<u32> {
        let demand = self.demand(obs);
        let now = current(obs);
        let Some(wanted) = self.fleet.fill(demand.total_rps, self.shape) else {
            return now;
        };
        self.recommendations.push_back((obs.time_s, wanted.clone()));
        let from = obs.time_s - self.settings.down_stabilization_s;
        while self.recommendations.front().is_some_and(|(t, _)| *t < from) {
            self.recommendations.pop_front();
        }
        let total = |v: &[u32]| v.iter().sum::<u32>();
        if total(&wanted) >= total(&now) {
            return wanted;
        }
        // Down only to the window's highest recommendation (the latest of equals), and never
        // above the count asked for now.
        let highest = self
            .recommendations
            .iter()
            .rev()
            .max_by_key(|(_, r)| total(r))
            .map_or(wanted, |(_, r)| r.clone());
        if total(&highest) >= total(&now) {
            now
        } else {
            highest
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::policy::tests::{obs_at, test_fleet};

    /// Settings the tests' figures follow (independent of the defaults).
    fn settings() -> PredictiveSettings {
        PredictiveSettings {
            level_smoothing: 0.5,
            trend_smoothing: 0.3,
            burst_quantile: 0.9,
            burst_window_s: 600.0,
            drain_s: 120.0,
            down_stabilization_s: 600.0,
        }
    }

    fn policy() -> Predictive {
        Predictive::new(settings(), test_fleet(&[100.0], 1000), vec![1])
    }

    /// A rising rate is projected over the start-up lead (120 s + 60 s = 3 ticks); a falling
    /// one is not.
    #[test]
    fn forecast_projects_a_rising_trend_over_the_start_up_lead() {
        let mut p = policy();
        let d0 = p.demand(&obs_at(60.0, 10.0, &[], &[0.0; 4]));
        assert_eq!(d0.forecast_rps, 10.0);
        let d1 = p.demand(&obs_at(120.0, 20.0, &[], &[0.0; 4]));
        // level 0.5*20 + 0.5*10 = 15, trend 0.3*5 = 1.5: 15 + 3 * 1.5.
        assert!((d1.forecast_rps - 19.5).abs() < 1e-12, "{d1:?}");
        assert_eq!(
            d1.total_rps, 20.0,
            "the observed rate is above the forecast"
        );
        let mut p = policy();
        p.demand(&obs_at(60.0, 20.0, &[], &[0.0]));
        let d = p.demand(&obs_at(120.0, 10.0, &[], &[0.0]));
        assert!(
            (d.forecast_rps - 15.0).abs() < 1e-12,
            "no downward projection: {d:?}"
        );
    }

    /// The burst rate is the quantile of the per-scrape rates of the burst window.
    #[test]
    fn bursts_raise_the_demand() {
        let mut p = policy();
        let scrapes: Vec<f64> = (1..=10).map(f64::from).collect();
        let d = p.demand(&obs_at(60.0, 1.0, &scrapes, &[0.0]));
        // p90 of 1..10 (interpolated): 9.1.
        assert!((d.burst_rps - 9.1).abs() < 1e-12, "{d:?}");
        assert_eq!(d.backlog_rps, 0.0);
        assert!((d.total_rps - 9.1).abs() < 1e-12);
        // Ten minutes later the burst has left the window.
        let d = p.demand(&obs_at(660.0, 1.0, &[1.0], &[0.0]));
        assert_eq!(d.burst_rps, 1.0);
    }

    /// A backlog the serving replicas drain before a new one could serve adds nothing; one
    /// that persists while they complete less than arrives adds what is left after the
    /// start-up, over the drain time.
    #[test]
    fn a_persisting_backlog_adds_its_drain_rate() {
        let settings = PredictiveSettings {
            drain_s: 60.0,
            ..settings()
        };
        let mut p = Predictive::new(settings, test_fleet(&[100.0], 1000), vec![1]);
        let d = p.demand(&obs_at(60.0, 1.0, &[], &[30.0, 30.0]));
        assert_eq!(
            d.backlog_rps, 0.0,
            "two replicas drain 60 requests in 120 s: {d:?}"
        );
        let mut o = obs_at(120.0, 1.0, &[], &[30.0, 30.0]);
        o.completion_rate_rps = 0.5;
        let d = p.demand(&o);
        // 60 waiting + (1 - 0.5) req/s x 120 s = 120 left, over 60 s.
        assert!((d.backlog_rps - 2.0).abs() < 1e-12, "{d:?}");
    }

    /// Up at once; down only to the highest recommendation of the stabilisation window.
    #[test]
    fn scales_up_at_once_and_down_after_the_window() {
        let mut p = policy();
        let mut o = obs_at(60.0, 200.0, &[200.0], &[]);
        o.variants[0].desired = 1;
        let up = p.decide(&o)[0];
        assert!(up > 5, "{up}");
        let quiet = obs_at(120.0, 1.0, &[1.0], &vec![0.0; up as usize]);
        assert_eq!(p.decide(&quiet)[0], up, "held by the window");
        // The busy recommendations leave the window one by one: the count steps down.
        let mut t = 120.0;
        let mut last = up;
        while t < 1500.0 {
            t += 60.0;
            let q = obs_at(t, 1.0, &[1.0], &vec![0.0; last as usize]);
            last = p.decide(&q)[0];
        }
        assert_eq!(last, 1);
    }

    /// With several variants it fills the cheapest capacity first and empties the most
    /// expensive first (the fill's tail).
    #[test]
    fn fills_cheapest_capacity_first() {
        let mut p = Predictive::new(settings(), test_fleet(&[40.0, 100.0], 3), vec![1, 0]);
        let mut o = obs_at(60.0, 200.0, &[200.0], &[]);
        o.variants = vec![Default::default(); 2];
        let wanted = p.decide(&o);
        assert_eq!(wanted[0], 3, "{wanted:?}");
        assert!(wanted[1] > 0, "{wanted:?}");
    }
}
