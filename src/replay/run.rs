//! The replay's event loop: arrivals, engine iterations, gauge scrapes, control ticks and
//! replicas becoming ready, in time order, between the fleet's lifecycle
//! ([`super::lifecycle`]) and the accounting of every request ([`super::accounting`]); then
//! the run's totals.

use super::accounting::{Ledger, share};
use super::lifecycle::Lifecycle;
use super::{
    Attainment, Controller, Intervals, MAX_INTERVALS, Observation, PolicyRun, ReplayConfig,
    VariantRun,
};
use crate::sim::metrics::{Histogram, summarize};
use crate::sim::{Completion, Request, SimError};

/// Checks the settings a replay runs with; the message says what is wrong.
fn check(config: &ReplayConfig, last_arrival_ms: f64) -> Result<(), String> {
    if config.inventory() == 0 {
        return Err("the fleet needs at least one variant with room for a replica".into());
    }
    for v in &config.variants {
        let e = &v.engine;
        if e.max_num_seqs == 0 || e.block_size == 0 || e.max_num_batched_tokens < e.max_num_seqs {
            return Err(format!(
                "variant `{}`: engine settings need max_num_seqs >= 1, block_size >= 1 and max_num_batched_tokens >= max_num_seqs",
                v.name
            ));
        }
    }
    let periods_ok = config.interval_s > 0.0
        && config.window_s > 0.0
        && config.scrape_s > 0.0
        && config.startup_s >= 0.0;
    if !periods_ok {
        return Err(
            "interval, window and scrape periods must be > 0 and the start-up delay >= 0".into(),
        );
    }
    if last_arrival_ms / (config.interval_s * 1000.0) > MAX_INTERVALS as f64 {
        return Err(format!(
            "the trace spans more than {MAX_INTERVALS} intervals of {} s; use a longer interval",
            config.interval_s
        ));
    }
    Ok(())
}

/// Replays `requests` (in arrival order, all of one workload) on a fleet that `controller`
/// sizes every `config.interval_s`. The cost window is the trace's span: from 0 to the last
/// arrival.
pub fn replay(
    config: &ReplayConfig,
    requests: &[Request],
    policy: &str,
    controller: &mut dyn Controller,
) -> Result<PolicyRun, SimError> {
    let last_arrival_ms = requests.last().map_or(0.0, |r| r.arrival_ms).max(0.0);
    check(config, last_arrival_ms).map_err(|message| SimError::Engine {
        group: policy.to_string(),
        message,
    })?;
    let span = Intervals::new(config.interval_s, last_arrival_ms);
    let (interval_ms, end_ms, intervals) = (span.interval_ms, span.end_ms, span.count);
    let total = |d: &[u32]| d.iter().sum::<u32>();

    let mut fleet = Lifecycle::new(config, config.clamp(&controller.initial_replicas()));
    let mut ledger = Ledger::new(config, span);
    let mut desired_at: Vec<u32> = vec![total(&fleet.desired); intervals];
    // The gateway's arrival rate over each scrape period since the last tick.
    let mut scrape_rates: Vec<f64> = Vec::new();
    let mut arrivals_at_scrape = 0usize;
    let mut itl_sink = Histogram::default();
    let mut done: Vec<Completion> = Vec::new();

    let scrape_ms = config.scrape_s * 1000.0;
    let window_ms = config.window_s * 1000.0;
    let mut next_scrape_ms = scrape_ms;
    let mut next_tick = 1usize;
    let mut next_arrival = 0usize;
    let mut last_event_ms = 0.0f64;

    loop {
        // The next event: a replica becoming ready, a scrape, a control tick, an arrival or an
        // iteration end (in that order on ties).
        let t_ready = fleet.next_ready_ms();
        let t_scrape = if next_scrape_ms <= end_ms {
            next_scrape_ms
        } else {
            f64::INFINITY
        };
        let t_tick = if next_tick < intervals {
            next_tick as f64 * interval_ms
        } else {
            f64::INFINITY
        };
        let t_arrival = requests
            .get(next_arrival)
            .map_or(f64::INFINITY, |r| r.arrival_ms);
        let t_end = fleet.next_iteration_end_ms();
        let now_ms = t_ready.min(t_scrape).min(t_tick).min(t_arrival).min(t_end);
        if now_ms == f64::INFINITY {
            break;
        }
        last_event_ms = now_ms;
        let started = if t_ready == now_ms {
            fleet.become_ready(now_ms, &mut done)
        } else if t_scrape == now_ms {
            fleet.scrape();
            scrape_rates.push((next_arrival - arrivals_at_scrape) as f64 / config.scrape_s);
            arrivals_at_scrape = next_arrival;
            next_scrape_ms += scrape_ms;
            None
        } else if t_tick == now_ms {
            let from_ms = (now_ms - window_ms).max(0.0);
            let view = ledger.window_since(from_ms);
            let span_s = (now_ms - from_ms) / 1000.0;
            let arrivals = requests[..next_arrival].partition_point(|r| r.arrival_ms < from_ms);
            let (gauges, states) = fleet.take_gauges();
            let starting = states.iter().map(|s| s.starting).sum();
            let obs = Observation {
                tick: next_tick,
                time_s: now_ms / 1000.0,
                window_s: span_s,
                arrival_rate_rps: (next_arrival - arrivals) as f64 / span_s,
                completion_rate_rps: view.completions / span_s,
                mean_prompt_tokens: view.mean_prompt_tokens,
                mean_output_tokens: view.mean_output_tokens,
                mean_ttft_ms: view.mean_ttft_ms,
                mean_tpot_ms: view.mean_tpot_ms,
                desired: total(&fleet.desired),
                ready: fleet.serving() as u32,
                starting,
                scrape_rates_rps: std::mem::take(&mut scrape_rates),
                gateway_waiting: fleet.gateway.len() as u32,
                replicas: gauges,
                variants: states,
            };
            let mut wanted = config.clamp(&controller.decide(&obs));
            // Never to zero while requests wait at the gateway for the replica they woke.
            if total(&wanted) == 0 && !fleet.gateway.is_empty() {
                wanted.clone_from(&fleet.desired);
            }
            if wanted != fleet.desired {
                let ready_ms = if controller.instant_start() {
                    now_ms
                } else {
                    now_ms + config.startup_s * 1000.0
                };
                fleet.resize(wanted, now_ms, ready_ms);
            }
            desired_at[next_tick] = total(&fleet.desired);
            next_tick += 1;
            None
        } else if t_arrival == now_ms {
            let request = requests[next_arrival];
            next_arrival += 1;
            fleet.arrive(request, now_ms, &mut done)
        } else {
            let Some(r) = fleet.end_iteration(now_ms, &mut itl_sink, &mut done) else {
                break;
            };
            Some(r)
        };
        if let Some(r) = started {
            for c in &done {
                ledger.record(c, fleet.variant_of(r));
            }
        }
    }

    // The run ends with the trace's span, or with the last completion when a backlog
    // outlasts it.
    let run_end_ms = end_ms.max(last_event_ms);
    let bill = fleet.bill(&span, run_end_ms);
    let rows = ledger.rows(requests, &desired_at, &bill);
    let (worst, worst_start) = rows
        .iter()
        .filter(|r| r.requests > 0)
        .map(|r| (r.attainment.both, r.start_s))
        .fold((f64::NAN, f64::NAN), |(w, s), (b, t)| {
            if w.is_nan() || b < w { (b, t) } else { (w, s) }
        });
    let total = requests.len() as u64;
    let per_variant: Vec<VariantRun> = config
        .variants
        .iter()
        .enumerate()
        .map(|(v, c)| VariantRun {
            variant: c.name.clone(),
            gpu_hours: bill.variant_ms[v] / 3_600_000.0 * f64::from(c.gpus_per_replica),
            cost_dollars: bill.variant_ms[v] / 3_600_000.0 * c.replica_cost_cents_per_hour / 100.0,
            mean_replicas: bill.variant_ms[v] / run_end_ms,
            peak_replicas: bill.variant_peaks[v],
            requests: ledger.served_by[v].0,
            slo_met: share(ledger.served_by[v].1, ledger.served_by[v].0),
        })
        .collect();
    Ok(PolicyRun {
        policy: policy.to_string(),
        gpu_hours: per_variant.iter().map(|v| v.gpu_hours).sum(),
        cost_dollars: per_variant.iter().map(|v| v.cost_dollars).sum(),
        mean_replicas: bill.replica_ms / run_end_ms,
        drain_tail_s: (run_end_ms - end_ms) / 1000.0,
        peak_replicas: bill.peak,
        scaling_actions: fleet.actions,
        scale_ups: fleet.ups,
        requests: total,
        completed: ledger.all_ttft.len() as u64,
        rejected: ledger.rejected,
        attainment: Attainment {
            ttft: share(ledger.met_ttft, total),
            itl: share(ledger.met_itl, total),
            both: share(ledger.met_both, total),
        },
        breach_intervals: rows.iter().filter(|r| r.breach).count() as u32,
        intervals_with_requests: rows.iter().filter(|r| r.requests > 0).count() as u32,
        worst_interval_attainment: worst,
        worst_interval_start_s: worst_start,
        ttft_ms: summarize(&mut ledger.all_ttft),
        tpot_ms: summarize(&mut ledger.all_tpot),
        preemptions: fleet.preemptions(),
        variants: if config.variants.len() > 1 {
            per_variant
        } else {
            Vec::new()
        },
        intervals: rows,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::perf::{Gen2Params, PerfParams};
    use crate::queueing::Targets;
    use crate::replay::VariantConfig;
    use crate::sim::{EngineConfig, Generator, Horizon, Router, SimConfig, Traffic, run};
    use crate::spec::{ArrivalProcess, LengthDist};

    /// A small engine whose KV cache binds under the tests' loads.
    pub(crate) fn engine() -> EngineConfig {
        EngineConfig {
            cost: PerfParams::V2(Gen2Params {
                alpha_ms: 6.0,
                beta_ms_per_token: 0.02,
                gamma_ms_per_kv_token: 0.0001,
            })
            .into(),
            max_num_seqs: 32,
            max_num_batched_tokens: 2048,
            kv_capacity_tokens: Some(16 * 1500),
            block_size: 16,
            prefix_caching: true,
            noise_cv: 0.2,
        }
    }

    fn config(interval_s: f64, startup_s: f64) -> ReplayConfig {
        ReplayConfig {
            variants: vec![VariantConfig {
                name: "H100".into(),
                engine: engine(),
                replica_cost_cents_per_hour: 300.0,
                gpus_per_replica: 2,
                max_replicas: 100,
            }],
            targets: Targets {
                ttft_ms: Some(500.0),
                itl_ms: Some(40.0),
                ..Default::default()
            },
            interval_s,
            window_s: interval_s,
            startup_s,
            scrape_s: 5.0,
            router: Router::RoundRobin,
            seed: 7,
            min_replicas: 1,
            max_replicas: 100,
        }
    }

    fn requests(rate_rps: f64, n: u64) -> Vec<Request> {
        let traffic = Traffic {
            rate_rps,
            arrivals: ArrivalProcess::Poisson,
            prompt: LengthDist::Uniform {
                min: 50.0,
                max: 1500.0,
            },
            output: LengthDist::Exponential { mean: 120.0 },
        };
        Generator::new(&[traffic], Horizon::Requests(n), 0.0, 3).collect()
    }

    /// A fixed script of decisions, one per tick (the last repeats).
    struct Script {
        initial: u32,
        steps: Vec<u32>,
    }

    impl Controller for Script {
        fn initial_replicas(&self) -> Vec<u32> {
            vec![self.initial]
        }
        fn decide(&mut self, obs: &Observation) -> Vec<u32> {
            let i = (obs.tick - 1).min(self.steps.len() - 1);
            vec![self.steps[i]]
        }
    }

    /// With a count that never changes, the replay is the fixed-fleet simulation: same
    /// engines, routing and noise streams, so the same latencies to the last bit.
    #[test]
    fn a_constant_fleet_replays_as_the_simulator_runs_it() {
        let reqs = requests(30.0, 6_000);
        let mut cfg = config(20.0, 60.0);
        cfg.variants[0].engine.kv_capacity_tokens = Some(16 * 400);
        let mut fixed = Script {
            initial: 3,
            steps: vec![3],
        };
        let replayed = replay(&cfg, &reqs, "static", &mut fixed).unwrap();
        let sim = run(
            &SimConfig::one_group(
                "w",
                vec![cfg.variants[0].engine.clone(); 3],
                cfg.targets,
                cfg.seed,
            ),
            reqs.clone(),
            &mut |_| {},
        )
        .unwrap();
        let g = &sim.groups[0];
        assert!(g.preemptions > 0, "the KV cache should bind in this test");
        assert_eq!(replayed.ttft_ms, g.ttft_ms);
        assert_eq!(replayed.tpot_ms, g.tpot_ms);
        assert_eq!(replayed.completed, g.completed);
        assert_eq!(replayed.preemptions, g.preemptions);
        assert_eq!(Some(replayed.attainment.both), g.slo_attainment.both);
        // Three replicas for the trace's span and the last requests' drain: 3 x 2 GPUs.
        assert!(replayed.drain_tail_s > 0.0, "{}", replayed.drain_tail_s);
        let span_h = (reqs.last().unwrap().arrival_ms / 1000.0 + replayed.drain_tail_s) / 3600.0;
        assert!((replayed.gpu_hours - 6.0 * span_h).abs() < 1e-9);
        assert!((replayed.cost_dollars - 9.0 * span_h).abs() < 1e-9);
        assert_eq!((replayed.scaling_actions, replayed.peak_replicas), (0, 3));
    }

    /// Scaling up and down every tick under KV pressure: every request completes (or is
    /// rejected) exactly once, and draining replicas finish what they hold.
    #[test]
    fn requests_are_conserved_while_the_fleet_changes() {
        let reqs = requests(40.0, 8_000);
        let cfg = config(10.0, 15.0);
        let mut c = Script {
            initial: 2,
            steps: vec![5, 1, 4, 2, 6, 1, 1, 3],
        };
        let r = replay(&cfg, &reqs, "script", &mut c).unwrap();
        assert_eq!(r.completed + r.rejected, reqs.len() as u64);
        assert!(r.scaling_actions >= 7 && r.scale_ups >= 4);
        let served: u64 = r.intervals.iter().map(|i| i.requests).sum();
        assert_eq!(served, reqs.len() as u64);
    }

    /// A replica asked for at a tick is paid for at once and serves after the start-up delay;
    /// one removed stops being paid for once it has drained.
    #[test]
    fn start_up_delay_and_billing() {
        // Light load over ~100 s.
        let reqs: Vec<Request> = (0..100)
            .map(|i| Request {
                id: i,
                group: 0,
                arrival_ms: i as f64 * 1000.0 + 500.0,
                prompt_tokens: 100,
                output_tokens: 5,
                counted: true,
            })
            .collect();
        let cfg = config(10.0, 30.0);
        let mut c = Script {
            initial: 1,
            steps: vec![2, 2, 2, 2, 2, 2, 2, 1],
        };
        let r = replay(&cfg, &reqs, "script", &mut c).unwrap();
        let row = |k: usize| &r.intervals[k];
        assert_eq!(r.intervals.len(), 10);
        // Asked for at 10 s: paid from then, serving from 40 s.
        assert!((row(1).replicas_mean - 2.0).abs() < 1e-9);
        assert!((row(1).ready_mean - 1.0).abs() < 1e-9);
        assert!((row(3).ready_mean - 1.0).abs() < 1e-9);
        assert!((row(4).ready_mean - 2.0).abs() < 1e-9);
        // Removed at 80 s while idle (requests take a few ms): one replica from then on.
        assert!((row(8).replicas_mean - 1.0).abs() < 1e-9);
        // Paid: one replica for 99.5 s and the last request's few milliseconds, a second from
        // 10 s to 80 s.
        assert!(r.drain_tail_s > 0.0 && r.drain_tail_s < 0.1);
        let expected_h = (99.5 + r.drain_tail_s + 70.0) / 3600.0 * 2.0;
        assert!(
            (r.gpu_hours - expected_h).abs() < 1e-9,
            "{} vs {expected_h}",
            r.gpu_hours
        );
        assert_eq!((r.scaling_actions, r.scale_ups, r.peak_replicas), (2, 1, 2));
    }

    fn light(times_s: &[f64]) -> Vec<Request> {
        times_s
            .iter()
            .enumerate()
            .map(|(i, &t)| Request {
                id: i as u64,
                group: 0,
                arrival_ms: t * 1000.0,
                prompt_tokens: 100,
                output_tokens: 5,
                counted: true,
            })
            .collect()
    }

    /// A trace of one instant is paid for over one interval, not over nothing.
    #[test]
    fn a_single_request_is_billed_for_an_interval() {
        let cfg = config(10.0, 30.0);
        let mut c = Script {
            initial: 1,
            steps: vec![1],
        };
        let r = replay(&cfg, &light(&[0.0]), "one", &mut c).unwrap();
        assert_eq!((r.completed, r.peak_replicas), (1, 1));
        assert!((r.gpu_hours - 10.0 / 3600.0 * 2.0).abs() < 1e-12);
        assert_eq!(r.intervals.len(), 1);
        assert!((r.intervals[0].arrivals_rps - 0.1).abs() < 1e-12);
    }

    /// Scaling down cancels replicas still starting before draining serving ones, and arrivals
    /// exactly on a tick are counted once, in the interval they open.
    #[test]
    fn scale_down_cancels_starting_replicas_first() {
        let times: Vec<f64> = (0..60).map(|i| f64::from(i) * 0.5).collect();
        let cfg = config(10.0, 100.0);
        let mut c = Script {
            initial: 2,
            steps: vec![5, 1],
        };
        let r = replay(&cfg, &light(&times), "script", &mut c).unwrap();
        assert_eq!(r.peak_replicas, 5);
        let row = |k: usize| &r.intervals[k];
        // Three asked for at 10 s (starting until 110 s), cancelled at 20 s with one of the two
        // serving ones drained (idle within milliseconds).
        assert!((row(1).replicas_mean - 5.0).abs() < 1e-9);
        assert!((row(1).ready_mean - 2.0).abs() < 1e-9);
        assert!((row(2).ready_mean - 1.0).abs() < 1e-3);
        assert!(row(2).replicas_mean < 1.01);
        // Arrivals at 10 s and 20 s sit on ticks: 20 per 10-s interval, none lost.
        assert_eq!(
            r.intervals.iter().map(|i| i.requests).collect::<Vec<_>>(),
            vec![20, 20, 20]
        );
        assert_eq!(r.completed, 60);
    }

    /// A script of decisions per variant.
    struct Plan {
        initial: Vec<u32>,
        steps: Vec<Vec<u32>>,
    }

    impl Controller for Plan {
        fn initial_replicas(&self) -> Vec<u32> {
            self.initial.clone()
        }
        fn decide(&mut self, obs: &Observation) -> Vec<u32> {
            self.steps[(obs.tick - 1).min(self.steps.len() - 1)].clone()
        }
    }

    fn two_variants() -> ReplayConfig {
        let mut cfg = config(10.0, 30.0);
        let mut cheap = cfg.variants[0].clone();
        cheap.name = "L40S".into();
        cheap.replica_cost_cents_per_hour = 100.0;
        cheap.gpus_per_replica = 1;
        cheap.max_replicas = 2;
        cfg.variants.insert(0, cheap);
        cfg
    }

    /// Each variant is billed at its own price and serves its share; the totals are the sums,
    /// and a variant's inventory caps what a policy gets.
    #[test]
    fn variants_are_billed_and_served_separately() {
        let cfg = two_variants();
        let reqs = requests(20.0, 3_000);
        let mut c = Plan {
            initial: vec![1, 1],
            // Asks for 5 of the cheap one: its inventory (2) holds.
            steps: vec![vec![5, 1], vec![2, 0]],
        };
        let r = replay(&cfg, &reqs, "plan", &mut c).unwrap();
        assert_eq!(r.variants.len(), 2);
        let (cheap, dear) = (&r.variants[0], &r.variants[1]);
        assert_eq!(
            (cheap.variant.as_str(), dear.variant.as_str()),
            ("L40S", "H100")
        );
        assert_eq!(cheap.peak_replicas, 2, "inventory of 2");
        assert_eq!(dear.peak_replicas, 1);
        assert_eq!(cheap.requests + dear.requests, reqs.len() as u64);
        assert!(
            cheap.requests > dear.requests,
            "{} vs {}",
            cheap.requests,
            dear.requests
        );
        assert!((r.cost_dollars - cheap.cost_dollars - dear.cost_dollars).abs() < 1e-9);
        assert!((r.gpu_hours - cheap.gpu_hours - dear.gpu_hours).abs() < 1e-9);
        // One replica of each at first: the dear one ($3/h) costs three times the cheap one
        // ($1/h) per hour; after the first tick the dear one drains and stops.
        assert!(
            dear.cost_dollars < cheap.cost_dollars * 1.5,
            "{dear:?} {cheap:?}"
        );
        assert_eq!(r.completed + r.rejected, reqs.len() as u64);
    }

    /// With no minimum a fleet told to go to zero stops paying; the next request wakes one
    /// replica of the first variant and waits for its start-up.
    #[test]
    fn scale_to_zero_and_the_cold_start() {
        let mut cfg = config(10.0, 30.0);
        cfg.min_replicas = 0;
        let mut times: Vec<f64> = (0..10).map(f64::from).collect();
        times.push(200.0);
        let reqs = light(&times);
        let mut c = Plan {
            initial: vec![1],
            steps: vec![vec![0]],
        };
        let r = replay(&cfg, &reqs, "zero", &mut c).unwrap();
        assert_eq!(r.completed, reqs.len() as u64);
        // The woken replica serves 30 s after the request that woke it.
        // (Ten requests served at once in a few ms, one after 30 s: their TTFTs sum to 30 s.)
        let sum_ms = r.ttft_ms.mean * 11.0;
        assert!((30_000.0..30_500.0).contains(&sum_ms), "{:?}", r.ttft_ms);
        // Paid: one replica from 0 to 10 s (the first tick), then from 200 s (the trace's
        // end) to the end of the last request (30 s start-up and a few ms); 2 GPUs.
        assert!(r.drain_tail_s >= 30.0 && r.drain_tail_s < 31.0);
        let hours = (10.0 + r.drain_tail_s) / 3600.0 * 2.0;
        assert!(
            (r.gpu_hours - hours).abs() < 1e-3,
            "{} vs {hours}",
            r.gpu_hours
        );
        assert_eq!(r.scale_ups, 1, "the wake-up");
        // The interval of the late request counts its one request.
        assert_eq!(r.intervals.iter().map(|i| i.requests).sum::<u64>(), 11);
    }
}
