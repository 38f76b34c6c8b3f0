//! The dynamic fleet: one event loop over arrivals, engine iterations, gauge scrapes, control
//! ticks and replicas becoming ready, with replicas that start, serve, drain and stop.

use super::{
    Attainment, Controller, IntervalRow, Intervals, MAX_INTERVALS, Observation, PolicyRun,
    ReplayConfig, ReplicaGauges, VariantRun, VariantState,
};
use crate::events::EventQueue;
use crate::rng::Stream;
use crate::sim::fleet::pick;
use crate::sim::metrics::{Histogram, quantile, summarize};
use crate::sim::{Completion, Engine, Request, SimError};
use crate::slo::Statistic;
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

/// Where a replica is in its life.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Starting,
    Serving,
    Draining,
    Stopped,
}

/// Gauge samples of one replica since the last control tick.
#[derive(Clone, Copy, Debug, Default)]
struct Samples {
    n: u32,
    kv_max: f64,
    kv_sum: f64,
    waiting_max: f64,
    waiting_sum: f64,
    running_sum: f64,
    waiting_last: f64,
}

struct Replica {
    variant: usize,
    engine: Engine,
    rng: ChaCha8Rng,
    phase: Phase,
    asked_ms: f64,
    ready_ms: f64,
    /// When it stopped serving (drain began or cancelled), ms.
    unready_ms: f64,
    stopped_ms: f64,
    samples: Samples,
}

/// A completion as the controller's window keeps it.
#[derive(Clone, Copy)]
struct Done {
    finish_ms: f64,
    prompt: u32,
    output: u32,
    ttft_ms: f64,
    /// `None` for a one-token answer (no gap to time).
    tpot_ms: Option<f64>,
}

/// Per interval (by arrival), what its requests did.
#[derive(Clone, Default)]
struct IntervalAcc {
    rejected: u64,
    tpot_ms: Vec<f64>,
    met_ttft: u64,
    met_itl: u64,
    met_both: u64,
    ttft_ms: Vec<f64>,
}

/// A replica with nothing in flight and nothing queued.
fn drained(engine: &Engine) -> bool {
    !engine.is_busy() && engine.outstanding() == 0
}

/// Removes `excess` replicas of variant `variant`: those still starting first (newest first),
/// then the newest serving ones drain, as a ReplicaSet scales down.
fn scale_down(
    replicas: &mut [Replica],
    serving: &mut Vec<usize>,
    variant: usize,
    mut excess: u32,
    now_ms: f64,
) {
    for rep in replicas.iter_mut().rev() {
        if excess == 0 {
            return;
        }
        if rep.variant == variant && rep.phase == Phase::Starting {
            rep.phase = Phase::Stopped;
            rep.unready_ms = now_ms;
            rep.stopped_ms = now_ms;
            excess -= 1;
        }
    }
    while excess > 0 {
        let Some(pos) = serving
            .iter()
            .rposition(|&r| replicas[r].variant == variant)
        else {
            return;
        };
        let r = serving.remove(pos);
        let rep = &mut replicas[r];
        rep.unready_ms = now_ms;
        if drained(&rep.engine) {
            rep.phase = Phase::Stopped;
            rep.stopped_ms = now_ms;
        } else {
            rep.phase = Phase::Draining;
        }
        excess -= 1;
    }
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
    let invalid = |message: String| SimError::Engine {
        group: policy.to_string(),
        message,
    };
    if config.inventory() == 0 {
        return Err(invalid(
            "the fleet needs at least one variant with room for a replica".into(),
        ));
    }
    for v in &config.variants {
        let e = &v.engine;
        if e.max_num_seqs == 0 || e.block_size == 0 || e.max_num_batched_tokens < e.max_num_seqs {
            return Err(invalid(format!(
                "variant `{}`: engine settings need max_num_seqs >= 1, block_size >= 1 and max_num_batched_tokens >= max_num_seqs",
                v.name
            )));
        }
    }
    let periods_ok = config.interval_s > 0.0
        && config.window_s > 0.0
        && config.scrape_s > 0.0
        && config.startup_s >= 0.0;
    if !periods_ok {
        return Err(invalid(
            "interval, window and scrape periods must be > 0 and the start-up delay >= 0".into(),
        ));
    }
    let variants = config.variants.len();
    let clamp = |n: &[u32]| config.clamp(n);

    let last_arrival_ms = requests.last().map_or(0.0, |r| r.arrival_ms).max(0.0);
    if last_arrival_ms / (config.interval_s * 1000.0) > MAX_INTERVALS as f64 {
        return Err(invalid(format!(
            "the trace spans more than {MAX_INTERVALS} intervals of {} s; use a longer interval",
            config.interval_s
        )));
    }
    let span = Intervals::new(config.interval_s, last_arrival_ms);
    let (interval_ms, end_ms, intervals) = (span.interval_ms, span.end_ms, span.count);
    let interval_of = |t_ms: f64| span.index(t_ms);
    let bounds = |k: usize| span.bounds(k);

    let mut replicas: Vec<Replica> = Vec::new();
    let mut serving: Vec<usize> = Vec::new();
    let mut ready_queue: VecDeque<(f64, usize)> = VecDeque::new();
    let add = |replicas: &mut Vec<Replica>, variant: usize, now_ms: f64, ready_ms: f64| {
        let index = replicas.len();
        replicas.push(Replica {
            variant,
            engine: Engine::new(config.variants[variant].engine.clone()),
            rng: crate::rng::stream(config.seed, Stream::Noise, index as u64),
            phase: Phase::Starting,
            asked_ms: now_ms,
            ready_ms,
            unready_ms: f64::INFINITY,
            stopped_ms: f64::INFINITY,
            samples: Samples::default(),
        });
        index
    };
    let mut desired = clamp(&controller.initial_replicas());
    for (v, &n) in desired.iter().enumerate() {
        for _ in 0..n {
            let r = add(&mut replicas, v, 0.0, 0.0);
            replicas[r].phase = Phase::Serving;
            serving.push(r);
        }
    }
    let total = |d: &[u32]| d.iter().sum::<u32>();
    let mut desired_at: Vec<u32> = vec![total(&desired); intervals];
    let (mut actions, mut ups) = (0u32, 0u32);

    let mut router_rng = crate::rng::stream(config.seed, Stream::Router, 0);
    let mut turn = 0usize;
    // Iteration ends keyed by replica (ties: the lower replica first).
    let mut iteration_ends: EventQueue<usize> = EventQueue::new();
    let mut window: VecDeque<Done> = VecDeque::new();
    let mut acc = vec![IntervalAcc::default(); intervals];
    // Per variant: requests served and of those within both targets.
    let mut served_by = vec![(0u64, 0u64); variants];
    // Requests held at the gateway while no replica serves (scale to zero).
    let mut gateway: VecDeque<Request> = VecDeque::new();
    // The gateway's arrival rate over each scrape period since the last tick.
    let mut scrape_rates: Vec<f64> = Vec::new();
    let mut arrivals_at_scrape = 0usize;
    let (mut all_ttft, mut all_tpot) = (Vec::new(), Vec::new());
    let (mut met_ttft, mut met_itl, mut met_both, mut rejected) = (0u64, 0u64, 0u64, 0u64);
    let mut itl_sink = Histogram::default();
    let mut done: Vec<Completion> = Vec::new();

    let scrape_ms = config.scrape_s * 1000.0;
    let window_ms = config.window_s * 1000.0;
    let mut next_scrape_ms = scrape_ms;
    let mut next_tick = 1usize;
    let mut next_arrival = 0usize;
    let mut last_event_ms = 0.0f64;

    // What to do with finished or rejected requests.
    let mut record = |c: &Completion, variant: usize, window: &mut VecDeque<Done>| {
        let k = interval_of(c.request.arrival_ms);
        served_by[variant].0 += 1;
        if c.rejected {
            rejected += 1;
            acc[k].rejected += 1;
            return;
        }
        let (ttft, tpot) = (c.ttft_ms(), c.tpot_ms());
        let (ok_ttft, ok_itl) = config.targets.met_by(ttft, tpot);
        let a = &mut acc[k];
        a.met_ttft += u64::from(ok_ttft);
        a.met_itl += u64::from(ok_itl);
        a.met_both += u64::from(ok_ttft && ok_itl);
        a.ttft_ms.push(ttft);
        if c.request.output_tokens > 1 {
            a.tpot_ms.push(tpot);
        }
        met_ttft += u64::from(ok_ttft);
        met_itl += u64::from(ok_itl);
        met_both += u64::from(ok_ttft && ok_itl);
        served_by[variant].1 += u64::from(ok_ttft && ok_itl);
        all_ttft.push(ttft);
        if c.request.output_tokens > 1 {
            all_tpot.push(tpot);
        }
        window.push_back(Done {
            finish_ms: c.finish_ms,
            prompt: c.request.prompt_tokens,
            output: c.request.output_tokens,
            ttft_ms: ttft,
            tpot_ms: (c.request.output_tokens > 1).then_some(tpot),
        });
    };
    let start_iteration = |r: usize,
                           now_ms: f64,
                           replicas: &mut [Replica],
                           ends: &mut EventQueue<usize>,
                           out: &mut Vec<Completion>| {
        let rep = &mut replicas[r];
        if let Some(end) = rep.engine.start_iteration(now_ms, &mut rep.rng, out) {
            ends.push(end, r);
        }
    };

    loop {
        // The next event: a replica becoming ready, a scrape, a control tick, an arrival or an
        // iteration end (in that order on ties).
        let t_ready = ready_queue.front().map_or(f64::INFINITY, |&(t, _)| t);
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
        let t_end = iteration_ends.next_time_ms().unwrap_or(f64::INFINITY);
        let now_ms = t_ready.min(t_scrape).min(t_tick).min(t_arrival).min(t_end);
        if now_ms == f64::INFINITY {
            break;
        }
        last_event_ms = now_ms;
        if t_ready == now_ms {
            let (_, r) = ready_queue.pop_front().unwrap_or((0.0, 0));
            if replicas[r].phase == Phase::Starting {
                replicas[r].phase = Phase::Serving;
                serving.push(r);
                // Requests held at the gateway go to the first replica that serves.
                while let Some(request) = gateway.pop_front() {
                    replicas[r].engine.enqueue(request);
                }
                if !replicas[r].engine.is_busy() && replicas[r].engine.outstanding() > 0 {
                    done.clear();
                    start_iteration(r, now_ms, &mut replicas, &mut iteration_ends, &mut done);
                    for c in &done {
                        record(c, replicas[r].variant, &mut window);
                    }
                }
            }
        } else if t_scrape == now_ms {
            for &r in &serving {
                let rep = &mut replicas[r];
                let s = &mut rep.samples;
                let (kv, waiting) = (rep.engine.kv_fraction(), rep.engine.waiting() as f64);
                s.n += 1;
                s.kv_max = s.kv_max.max(kv);
                s.kv_sum += kv;
                s.waiting_max = s.waiting_max.max(waiting);
                s.waiting_sum += waiting;
                s.running_sum += f64::from(rep.engine.running());
                s.waiting_last = waiting;
            }
            scrape_rates.push((next_arrival - arrivals_at_scrape) as f64 / config.scrape_s);
            arrivals_at_scrape = next_arrival;
            next_scrape_ms += scrape_ms;
        } else if t_tick == now_ms {
            let from_ms = (now_ms - window_ms).max(0.0);
            while window.front().is_some_and(|d| d.finish_ms < from_ms) {
                window.pop_front();
            }
            let span_s = (now_ms - from_ms) / 1000.0;
            let arrivals = requests[..next_arrival].partition_point(|r| r.arrival_ms < from_ms);
            let n = window.len() as f64;
            let mean =
                |f: fn(&Done) -> f64| (n > 0.0).then(|| window.iter().map(f).sum::<f64>() / n);
            let gauges: Vec<ReplicaGauges> = serving
                .iter()
                .filter(|&&r| replicas[r].samples.n > 0)
                .map(|&r| {
                    let s = replicas[r].samples;
                    let n = f64::from(s.n);
                    ReplicaGauges {
                        variant: replicas[r].variant,
                        kv_usage_max: s.kv_max,
                        kv_usage_mean: s.kv_sum / n,
                        waiting_max: s.waiting_max,
                        waiting_mean: s.waiting_sum / n,
                        running_mean: s.running_sum / n,
                        waiting_last: s.waiting_last,
                    }
                })
                .collect();
            for rep in &mut replicas {
                rep.samples = Samples::default();
            }
            let mut states = vec![VariantState::default(); variants];
            for (v, s) in states.iter_mut().enumerate() {
                s.desired = desired[v];
            }
            for rep in &replicas {
                match rep.phase {
                    Phase::Starting => states[rep.variant].starting += 1,
                    Phase::Serving => states[rep.variant].ready += 1,
                    _ => {}
                }
            }
            let starting = states.iter().map(|s| s.starting).sum();
            let obs = Observation {
                tick: next_tick,
                time_s: now_ms / 1000.0,
                window_s: span_s,
                arrival_rate_rps: (next_arrival - arrivals) as f64 / span_s,
                completion_rate_rps: n / span_s,
                mean_prompt_tokens: mean(|d| f64::from(d.prompt)),
                mean_output_tokens: mean(|d| f64::from(d.output)),
                mean_ttft_ms: mean(|d| d.ttft_ms),
                mean_tpot_ms: {
                    let (sum, n) = window
                        .iter()
                        .filter_map(|d| d.tpot_ms)
                        .fold((0.0, 0u32), |(s, n), t| (s + t, n + 1));
                    (n > 0).then(|| sum / f64::from(n))
                },
                desired: total(&desired),
                ready: serving.len() as u32,
                starting,
                scrape_rates_rps: std::mem::take(&mut scrape_rates),
                gateway_waiting: gateway.len() as u32,
                replicas: gauges,
                variants: states,
            };
            let mut wanted = clamp(&controller.decide(&obs));
            // Never to zero while requests wait at the gateway for the replica they woke.
            if total(&wanted) == 0 && !gateway.is_empty() {
                wanted.clone_from(&desired);
            }
            if wanted != desired {
                actions += 1;
                if total(&wanted) > total(&desired) {
                    ups += 1;
                }
                let ready_ms = if controller.instant_start() {
                    now_ms
                } else {
                    now_ms + config.startup_s * 1000.0
                };
                for v in 0..variants {
                    for _ in desired[v]..wanted[v] {
                        let r = add(&mut replicas, v, now_ms, ready_ms);
                        if ready_ms <= now_ms {
                            replicas[r].phase = Phase::Serving;
                            serving.push(r);
                        } else {
                            ready_queue.push_back((ready_ms, r));
                        }
                    }
                    let excess = desired[v].saturating_sub(wanted[v]);
                    scale_down(&mut replicas, &mut serving, v, excess, now_ms);
                }
                desired = wanted;
            }
            desired_at[next_tick] = total(&desired);
            next_tick += 1;
        } else if t_arrival == now_ms {
            let request = requests[next_arrival];
            next_arrival += 1;
            if serving.is_empty() {
                // No replica serves (scaled to zero, or every one still starting): the gateway
                // holds the request, and an empty fleet asks for a replica of the first
                // variant at once (the activator's cold start).
                gateway.push_back(request);
                if total(&desired) == 0 {
                    let mut wake = vec![0; variants];
                    if let Some(v) = config.variants.iter().position(|c| c.max_replicas > 0) {
                        wake[v] = 1;
                    }
                    let wake = clamp(&wake);
                    for (v, &n) in wake.iter().enumerate() {
                        for _ in 0..n {
                            let r =
                                add(&mut replicas, v, now_ms, now_ms + config.startup_s * 1000.0);
                            ready_queue.push_back((replicas[r].ready_ms, r));
                        }
                    }
                    desired = wake;
                    actions += 1;
                    ups += 1;
                }
                continue;
            }
            let r = pick(
                config.router,
                |r| replicas[r].engine.outstanding(),
                &serving,
                &mut turn,
                &mut router_rng,
            );
            replicas[r].engine.enqueue(request);
            if !replicas[r].engine.is_busy() {
                done.clear();
                start_iteration(r, now_ms, &mut replicas, &mut iteration_ends, &mut done);
                for c in &done {
                    record(c, replicas[r].variant, &mut window);
                }
            }
        } else {
            let Some((_, r)) = iteration_ends.pop() else {
                break;
            };
            done.clear();
            replicas[r]
                .engine
                .finish_iteration(now_ms, &mut itl_sink, &mut done);
            start_iteration(r, now_ms, &mut replicas, &mut iteration_ends, &mut done);
            for c in &done {
                record(c, replicas[r].variant, &mut window);
            }
            let rep = &mut replicas[r];
            if rep.phase == Phase::Draining && drained(&rep.engine) {
                rep.phase = Phase::Stopped;
                rep.stopped_ms = now_ms;
            }
        }
    }

    // Billing: from the request for a replica until it stopped, or until the run's end (the
    // trace's span, or the last completion when a backlog outlasts it). The intervals cover the
    // span; a drain tail after it is billed but belongs to no interval.
    let run_end_ms = end_ms.max(last_event_ms);
    let mut paid_ms = vec![0.0f64; intervals];
    let mut ready_ms = vec![0.0f64; intervals];
    let overlap = |a: f64, b: f64, lo: f64, hi: f64| (b.min(hi) - a.max(lo)).max(0.0);
    let mut events: Vec<(f64, i32)> = Vec::new();
    let mut variant_events: Vec<Vec<(f64, i32)>> = vec![Vec::new(); variants];
    let mut replica_ms = 0.0;
    let mut variant_ms = vec![0.0f64; variants];
    for rep in &replicas {
        let stop = rep.stopped_ms.min(run_end_ms);
        if stop <= rep.asked_ms {
            continue;
        }
        replica_ms += stop - rep.asked_ms;
        variant_ms[rep.variant] += stop - rep.asked_ms;
        events.push((rep.asked_ms, 1));
        events.push((stop, -1));
        variant_events[rep.variant].push((rep.asked_ms, 1));
        variant_events[rep.variant].push((stop, -1));
        let unready = rep.unready_ms.min(rep.stopped_ms).min(end_ms);
        let first = interval_of(rep.asked_ms);
        let last = interval_of(stop.min(end_ms));
        for k in first..=last {
            let (lo, hi) = bounds(k);
            paid_ms[k] += overlap(rep.asked_ms, stop, lo, hi);
            if rep.ready_ms < unready {
                ready_ms[k] += overlap(rep.ready_ms, unready, lo, hi);
            }
        }
    }
    let peak = peak_of(events);

    let mut arrivals = vec![0u64; intervals];
    for r in requests {
        arrivals[interval_of(r.arrival_ms)] += 1;
    }
    let share = |met: u64, n: u64| {
        if n > 0 {
            met as f64 / n as f64
        } else {
            f64::NAN
        }
    };
    let mut rows = Vec::with_capacity(intervals);
    for (k, a) in acc.iter_mut().enumerate() {
        let (lo, hi) = bounds(k);
        let len_ms = (hi - lo).max(1e-9);
        let n = arrivals[k];
        a.ttft_ms.sort_unstable_by(f64::total_cmp);
        let mean_ttft = if a.ttft_ms.is_empty() {
            f64::NAN
        } else {
            a.ttft_ms.iter().sum::<f64>() / a.ttft_ms.len() as f64
        };
        let p99 = quantile(&a.ttft_ms, 0.99);
        a.tpot_ms.sort_unstable_by(f64::total_cmp);
        let mean_tpot = if a.tpot_ms.is_empty() {
            f64::NAN
        } else {
            a.tpot_ms.iter().sum::<f64>() / a.tpot_ms.len() as f64
        };
        // The target's statistic over the interval's requests (a percentile ITL target is
        // judged on the requests' time per output token).
        let at = |sorted: &[f64], mean: f64, stat: Statistic| match stat.quantile() {
            None => mean,
            Some(q) => quantile(sorted, q),
        };
        let ttft_stat = at(&a.ttft_ms, mean_ttft, config.targets.ttft_stat);
        let tpot_stat = at(&a.tpot_ms, mean_tpot, config.targets.itl_stat);
        let over = |value: f64, target: Option<f64>| target.is_some_and(|t| value > t);
        rows.push(IntervalRow {
            start_s: lo / 1000.0,
            duration_s: (hi - lo) / 1000.0,
            arrivals_rps: n as f64 / (len_ms / 1000.0),
            desired: desired_at[k],
            replicas_mean: paid_ms[k] / len_ms,
            ready_mean: ready_ms[k] / len_ms,
            requests: n,
            rejected: a.rejected,
            attainment: Attainment {
                ttft: share(a.met_ttft, n),
                itl: share(a.met_itl, n),
                both: share(a.met_both, n),
            },
            mean_ttft_ms: mean_ttft,
            p99_ttft_ms: p99,
            mean_tpot_ms: mean_tpot,
            breach: n > 0
                && (over(ttft_stat, config.targets.ttft_ms)
                    || over(tpot_stat, config.targets.itl_ms)),
        });
    }
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
        .zip(variant_events)
        .enumerate()
        .map(|(v, (c, events))| VariantRun {
            variant: c.name.clone(),
            gpu_hours: variant_ms[v] / 3_600_000.0 * f64::from(c.gpus_per_replica),
            cost_dollars: variant_ms[v] / 3_600_000.0 * c.replica_cost_cents_per_hour / 100.0,
            mean_replicas: variant_ms[v] / run_end_ms,
            peak_replicas: peak_of(events),
            requests: served_by[v].0,
            slo_met: share(served_by[v].1, served_by[v].0),
        })
        .collect();
    Ok(PolicyRun {
        policy: policy.to_string(),
        gpu_hours: per_variant.iter().map(|v| v.gpu_hours).sum(),
        cost_dollars: per_variant.iter().map(|v| v.cost_dollars).sum(),
        mean_replicas: replica_ms / run_end_ms,
        drain_tail_s: (run_end_ms - end_ms) / 1000.0,
        peak_replicas: peak,
        scaling_actions: actions,
        scale_ups: ups,
        requests: total,
        completed: all_ttft.len() as u64,
        rejected,
        attainment: Attainment {
            ttft: share(met_ttft, total),
            itl: share(met_itl, total),
            both: share(met_both, total),
        },
        breach_intervals: rows.iter().filter(|r| r.breach).count() as u32,
        intervals_with_requests: rows.iter().filter(|r| r.requests > 0).count() as u32,
        worst_interval_attainment: worst,
        worst_interval_start_s: worst_start,
        ttft_ms: summarize(&mut all_ttft),
        tpot_ms: summarize(&mut all_tpot),
        preemptions: replicas.iter().map(|r| r.engine.stats.preemptions).sum(),
        variants: if variants > 1 {
            per_variant
        } else {
            Vec::new()
        },
        intervals: rows,
    })
}

/// Most replicas alive at once, from their (start, +1) and (stop, -1) events.
fn peak_of(mut events: Vec<(f64, i32)>) -> u32 {
    // Stops before starts at the same instant: a replacement is not an extra replica.
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut live, mut peak) = (0i32, 0i32);
    for (_, d) in events {
        live += d;
        peak = peak.max(live);
    }
    peak.max(0) as u32
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
