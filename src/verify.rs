//! Checking a plan by simulation (`wva plan --verify`): each workload's planned fleet runs in
//! the simulator under the workload's own traffic (its arrival process and length
//! distributions; Poisson unless the scenario says otherwise), and the simulated latencies are
//! held against the service class's targets.
//!
//! It sits above both the optimizer ([`crate::optimize`], which makes plans) and the simulator
//! ([`crate::sim`], which runs fleets): [`fleets_of_plan`] is where a plan becomes fleets.

use crate::load::{Generator, Horizon};
use crate::optimize::Plan;
use crate::sim::metrics::Summary;
use crate::sim::setup::{EngineOverrides, Fleet, FleetPart, build};
use crate::sim::{Router, SloAttainment, run};
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

/// The fleets of a plan: one per workload with replicas (a mixed allocation gives several
/// parts), and a note for each workload left without one.
pub fn fleets_of_plan(scenario: &Scenario, planned: &Plan) -> (Vec<Fleet>, Vec<String>) {
    let mut notes = Vec::new();
    for u in &planned.unallocated {
        notes.push(format!(
            "workload `{}` is not simulated: the plan leaves it out ({}: {})",
            u.workload, u.reason, u.detail
        ));
    }
    let mut out: Vec<Fleet> = Vec::new();
    for alloc in &planned.allocations {
        let Some(w) = scenario
            .workloads
            .iter()
            .position(|w| w.name == alloc.workload)
        else {
            continue;
        };
        let model = &scenario.workloads[w].model;
        let Some(profile) = scenario.profile_index(model, &alloc.accelerator) else {
            continue;
        };
        if alloc.replicas == 0 {
            notes.push(format!(
                "workload `{}` is not simulated: the plan gives it no replicas",
                alloc.workload
            ));
            continue;
        }
        let part = FleetPart {
            profile,
            replicas: alloc.replicas,
            max_batch: alloc.max_batch,
        };
        match out.iter_mut().find(|f| f.workload == w) {
            Some(f) => f.parts.push(part),
            None => out.push(Fleet {
                workload: w,
                parts: vec![part],
            }),
        }
    }
    (out, notes)
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
            let overloaded = crate::sim::queue_grows(
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
            let ttft = g.ttft_ms.at(targets.ttft_stat);
            let itl = g.itl_ms.at(targets.itl_stat);
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
