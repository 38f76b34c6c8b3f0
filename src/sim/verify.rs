//! Checking a plan by simulation (`wva plan --verify`): each workload's planned fleet runs in
//! the simulator under the workload's own traffic (its arrival process and length
//! distributions; Poisson unless the scenario says otherwise), and the simulated latencies are
//! held against the service class's targets.

use super::fleet::run;
use super::metrics::Summary;
use super::setup::{EngineOverrides, build, fleets_of_plan};
use super::workload::{Generator, Horizon};
use super::{Router, SloAttainment};
use crate::optimize::Plan;
use crate::queueing::Stat;
use crate::spec::Scenario;
use rayon::prelude::*;
use serde::Serialize;

/// How to verify.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VerifyOptions {
    /// Requests simulated per workload (after a 10% warm-up, which is added).
    pub requests: u64,
    /// Seed.
    pub seed: u64,
    /// Router of every fleet.
    pub router: Router,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            requests: 20_000,
            seed: 1,
            router: Router::RoundRobin,
        }
    }
}

/// What the simulator says about one workload's planned fleet.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verification {
    /// Workload.
    pub workload: String,
    /// Replicas simulated (all rows of a mixed allocation).
    pub replicas: u32,
    /// Requests counted (after the warm-up).
    pub requests: u64,
    /// Offered rate, requests/s.
    pub offered_rps: f64,
    /// Completions per second.
    pub throughput_rps: f64,
    /// Simulated time to first token, ms.
    pub ttft_ms: Summary,
    /// Simulated inter-token latency (every gap), ms.
    pub itl_ms: Summary,
    /// Simulated time per output token of each request, ms.
    pub tpot_ms: Summary,
    /// TTFT target, ms.
    pub slo_ttft_ms: Option<f64>,
    /// ITL target, ms.
    pub slo_itl_ms: Option<f64>,
    /// The statistic the TTFT target bounds.
    pub slo_ttft_statistic: String,
    /// The statistic the ITL target bounds.
    pub slo_itl_statistic: String,
    /// Simulated TTFT for the target's statistic, ms.
    pub ttft_at_slo_statistic_ms: f64,
    /// Simulated ITL (every gap) for the target's statistic, ms.
    pub itl_at_slo_statistic_ms: f64,
    /// Share of requests meeting each target.
    pub attainment: SloAttainment,
    /// The queue grew over the run: the fleet cannot carry the load.
    pub overloaded: bool,
    /// What the simulation says the plan misses (empty: it holds).
    pub misses: Vec<String>,
}

/// Simulates every workload of `plan` (in parallel), `options.requests` requests each.
pub fn verify(scenario: &Scenario, plan: &Plan, options: &VerifyOptions) -> Vec<Verification> {
    let (fleets, _) = fleets_of_plan(scenario, plan);
    let warmup = 0.1;
    let total = (options.requests as f64 / (1.0 - warmup)).ceil() as u64;
    fleets
        .par_iter()
        .filter_map(|fleet| {
            let (config, traffic, _) = build(
                scenario,
                std::slice::from_ref(fleet),
                &EngineOverrides::default(),
                options.router,
                options.seed,
                None,
            );
            let requests = Generator::new(&traffic, Horizon::Requests(total), warmup, options.seed);
            let name = scenario.workloads[fleet.workload].name.clone();
            let g = match run(&config, requests, &mut |_| {}) {
                Ok(result) => result.groups.into_iter().next()?,
                Err(e) => {
                    return Some(Verification {
                        workload: name,
                        replicas: config.groups[0].engines.len() as u32,
                        requests: 0,
                        offered_rps: traffic[0].rate_rps,
                        throughput_rps: 0.0,
                        ttft_ms: Summary::default(),
                        itl_ms: Summary::default(),
                        tpot_ms: Summary::default(),
                        slo_ttft_ms: config.groups[0].targets.ttft_ms,
                        slo_itl_ms: config.groups[0].targets.itl_ms,
                        slo_ttft_statistic: config.groups[0].targets.ttft_stat.to_string(),
                        slo_itl_statistic: config.groups[0].targets.itl_stat.to_string(),
                        ttft_at_slo_statistic_ms: 0.0,
                        itl_at_slo_statistic_ms: 0.0,
                        attainment: SloAttainment::default(),
                        overloaded: false,
                        misses: vec![format!("the simulation failed: {e}")],
                    });
                }
            };
            let targets = config.groups[0].targets;
            let offered = traffic[0].rate_rps;
            let overloaded = super::queue_grows(
                g.throughput_rps,
                offered,
                g.waiting_at_end as f64 - g.waiting_at_start as f64,
                g.requests as f64,
            );
            let mut misses = Vec::new();
            if overloaded {
                misses.push(format!(
                    "overloaded: {:.2} of {:.2} req/s served, the queue grows",
                    g.throughput_rps, offered
                ));
            }
            let over = |value: f64, target: f64| value > target || value.is_nan();
            let ttft = statistic(&g.ttft_ms, targets.ttft_stat);
            let itl = statistic(&g.itl_ms, targets.itl_stat);
            if let Some(t) = targets.ttft_ms
                && over(ttft, t)
            {
                misses.push(format!("{} TTFT {ttft:.0} ms > {t} ms", targets.ttft_stat));
            }
            if let Some(t) = targets.itl_ms
                && over(itl, t)
            {
                misses.push(format!("{} ITL {itl:.1} ms > {t} ms", targets.itl_stat));
            }
            Some(Verification {
                workload: g.name.clone(),
                replicas: g.replicas,
                requests: g.requests,
                offered_rps: offered,
                throughput_rps: g.throughput_rps,
                ttft_ms: g.ttft_ms,
                itl_ms: g.itl_ms,
                tpot_ms: g.tpot_ms,
                slo_ttft_ms: targets.ttft_ms,
                slo_itl_ms: targets.itl_ms,
                slo_ttft_statistic: targets.ttft_stat.to_string(),
                slo_itl_statistic: targets.itl_stat.to_string(),
                ttft_at_slo_statistic_ms: ttft,
                itl_at_slo_statistic_ms: itl,
                attainment: g.slo_attainment,
                overloaded,
                misses,
            })
        })
        .collect()
}

/// The statistic `stat` of a latency summary (percentiles the summary keeps: p50, p90, p95,
/// p99; others round to the nearest of those).
pub fn statistic(summary: &Summary, stat: Stat) -> f64 {
    match stat {
        Stat::Mean => summary.mean,
        Stat::Quantile(q) if q <= 0.7 => summary.p50,
        Stat::Quantile(q) if q <= 0.925 => summary.p90,
        Stat::Quantile(q) if q <= 0.97 => summary.p95,
        Stat::Quantile(_) => summary.p99,
    }
}
