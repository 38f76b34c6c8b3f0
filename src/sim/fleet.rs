//! The fleet: groups of replicas behind routers, and the event loop that interleaves arrivals
//! with the iterations of every engine.

use super::engine::{Completion, Engine};
use super::metrics::{Histogram, summarize};
use super::timeline::{Occupancy, Timeline};
use super::{GroupResult, RequestOutcome, SimConfig, SimError, SimResult, SloAttainment};
use crate::events::EventQueue;
use crate::load::Request;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::fmt;

/// How a group's router picks a replica for each request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Router {
    /// In turn. The default: it splits load evenly, as the analytic model assumes.
    #[default]
    RoundRobin,
    /// Uniformly at random.
    Random,
    /// The replica with the fewest requests in it (running + waiting); ties to the lowest index.
    /// Consecutive arrivals tend to land on the same replica and share its prefill iterations,
    /// so TTFT is often worse than round-robin (markedly so with fixed lengths, which keep
    /// replicas' completions in step).
    LeastOutstanding,
    /// The less loaded of two replicas drawn at random.
    PowerOfTwo,
}

impl fmt::Display for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Router::RoundRobin => "round-robin",
            Router::Random => "random",
            Router::LeastOutstanding => "least-outstanding",
            Router::PowerOfTwo => "power-of-two",
        })
    }
}

/// Per-group accumulators.
#[derive(Default)]
struct GroupAcc {
    requests: u64,
    completed: u64,
    rejected: u64,
    tokens_out: u64,
    ttft: Vec<f64>,
    tpot: Vec<f64>,
    e2e: Vec<f64>,
    wait: Vec<f64>,
    itl: Histogram,
    met_ttft: u64,
    met_itl: u64,
    met_both: u64,
    first_counted_arrival_ms: f64,
    last_counted_finish_ms: f64,
    last_arrival_ms: f64,
    waiting_at_start: Option<u64>,
    waiting_at_end: u64,
    /// Finish times of every completed request (warm-up included), for the throughput window.
    finishes_ms: Vec<f64>,
    round_robin: usize,
}

/// The replica (an element of `candidates`) that `router` sends the next request to, given
/// each replica's outstanding requests; `turn` is the round-robin counter. `candidates` must
/// not be empty.
pub(crate) fn pick(
    router: Router,
    outstanding: impl Fn(usize) -> usize,
    candidates: &[usize],
    turn: &mut usize,
    rng: &mut ChaCha8Rng,
) -> usize {
    let n = candidates.len();
    match router {
        Router::RoundRobin => {
            let r = candidates[*turn % n];
            *turn = turn.wrapping_add(1);
            r
        }
        Router::Random => candidates[rng.random_range(0..n)],
        Router::LeastOutstanding => candidates
            .iter()
            .copied()
            .min_by_key(|&r| outstanding(r))
            .unwrap_or(candidates[0]),
        Router::PowerOfTwo if n > 1 => {
            // Two distinct replicas.
            let i = rng.random_range(0..n);
            let j = (i + 1 + rng.random_range(0..n - 1)) % n;
            let (a, b) = (candidates[i], candidates[j]);
            if outstanding(b) < outstanding(a) {
                b
            } else {
                a
            }
        }
        Router::PowerOfTwo => candidates[0],
    }
}

/// What starting an iteration touches.
struct Starter<'a> {
    engines: &'a mut [Engine],
    noise_rngs: &'a mut [ChaCha8Rng],
    /// Iteration ends, keyed by replica (ties: the lower replica first).
    events: &'a mut EventQueue<u32>,
    timeline: &'a mut Option<Timeline>,
    last_preemptions: &'a mut [u64],
    group_of: &'a [u32],
}

impl Starter<'_> {
    /// Starts replica `r`'s next iteration at `now_ms` (if it has work), queues its end and
    /// records its occupancy; requests it rejects go to `out`.
    fn start(&mut self, r: usize, now_ms: f64, out: &mut Vec<Completion>) {
        let Some(end) = self.engines[r].start_iteration(now_ms, &mut self.noise_rngs[r], out)
        else {
            return;
        };
        self.events.push(end, r as u32);
        if let Some(tl) = self.timeline.as_mut() {
            let e = &self.engines[r];
            let state = Occupancy {
                running: e.running(),
                waiting: e.waiting(),
                kv_fraction: e.kv_fraction(),
                preemptions: e.stats.preemptions - self.last_preemptions[r],
            };
            self.last_preemptions[r] = e.stats.preemptions;
            tl.occupancy(self.group_of[r], now_ms, end - now_ms, state);
        }
    }
}

/// Runs a simulation of `requests` (in arrival order) on the fleet of `config`. `progress` is
/// called now and then with the number of requests finished so far.
pub fn run(
    config: &SimConfig,
    requests: impl IntoIterator<Item = Request>,
    progress: &mut dyn FnMut(u64),
) -> Result<SimResult, SimError> {
    let mut engines = Vec::new();
    let mut ranges = Vec::new();
    let mut group_of = Vec::new();
    for (g, group) in config.groups.iter().enumerate() {
        if group.engines.is_empty() {
            return Err(SimError::NoReplicas(group.name.clone()));
        }
        let start = engines.len();
        for e in &group.engines {
            if e.max_num_seqs == 0 {
                return Err(SimError::Engine {
                    group: group.name.clone(),
                    message: "max_num_seqs must be at least 1".into(),
                });
            }
            if e.block_size == 0 {
                return Err(SimError::Engine {
                    group: group.name.clone(),
                    message: "block_size must be at least 1".into(),
                });
            }
            if e.max_num_batched_tokens < e.max_num_seqs {
                return Err(SimError::Engine {
                    group: group.name.clone(),
                    message: format!(
                        "max_num_batched_tokens ({}) must be at least max_num_seqs ({}), as vLLM requires",
                        e.max_num_batched_tokens, e.max_num_seqs
                    ),
                });
            }
            engines.push(Engine::new(e.clone()));
            group_of.push(g as u32);
        }
        ranges.push(start..engines.len());
    }
    let names: Vec<String> = config.groups.iter().map(|g| g.name.clone()).collect();
    let members: Vec<Vec<usize>> = ranges.iter().map(|r| r.clone().collect()).collect();
    let mut timeline = config.timeline_bucket_ms.filter(|b| *b > 0.0).map(|b| {
        Timeline::new(
            b,
            config
                .groups
                .iter()
                .map(|g| g.engines.len() as u32)
                .collect(),
        )
    });
    let mut router_rng = crate::rng::stream(config.seed, crate::rng::Stream::Router, 0);
    let mut noise_rngs: Vec<ChaCha8Rng> = (0..engines.len())
        .map(|r| crate::rng::stream(config.seed, crate::rng::Stream::Noise, r as u64))
        .collect();
    let mut accs: Vec<GroupAcc> = config
        .groups
        .iter()
        .map(|_| GroupAcc {
            first_counted_arrival_ms: f64::INFINITY,
            ..GroupAcc::default()
        })
        .collect();
    let mut events: EventQueue<u32> = EventQueue::new();
    let mut done: Vec<Completion> = Vec::new();
    let mut requests = requests.into_iter().peekable();
    let (mut now_ms, mut simulated, mut finished) = (0.0f64, 0u64, 0u64);
    let mut last_preemptions = vec![0u64; engines.len()];

    let mut outcomes: Vec<RequestOutcome> = Vec::new();
    let record_requests = config.record_requests;
    let record = |c: &Completion,
                  replica: usize,
                  accs: &mut [GroupAcc],
                  timeline: &mut Option<Timeline>,
                  outcomes: &mut Vec<RequestOutcome>| {
        if record_requests {
            let since = |t: f64| t - c.request.arrival_ms;
            outcomes.push(RequestOutcome {
                id: c.request.id,
                group: c.request.group,
                replica: replica as u32,
                arrival_ms: c.request.arrival_ms,
                prompt_tokens: c.request.prompt_tokens,
                output_tokens: c.request.output_tokens,
                queue_wait_ms: since(c.first_scheduled_ms),
                ttft_ms: since(c.first_token_ms),
                e2e_ms: if c.rejected {
                    f64::NAN
                } else {
                    since(c.finish_ms)
                },
                preemptions: c.preemptions,
                rejected: c.rejected,
                counted: c.request.counted,
            });
        }
        let g = c.request.group as usize;
        let acc = &mut accs[g];
        if c.request.counted {
            if c.rejected {
                acc.rejected += 1;
            } else {
                let (ttft, tpot) = (c.ttft_ms(), c.tpot_ms());
                let (ok_ttft, ok_itl) = config.groups[g].targets.met_by(ttft, tpot);
                acc.met_ttft += u64::from(ok_ttft);
                acc.met_itl += u64::from(ok_itl);
                acc.met_both += u64::from(ok_ttft && ok_itl);
                acc.completed += 1;
                acc.tokens_out += u64::from(c.request.output_tokens);
                acc.ttft.push(ttft);
                if c.request.output_tokens > 1 {
                    acc.tpot.push(tpot);
                }
                acc.e2e.push(c.finish_ms - c.request.arrival_ms);
                acc.wait.push(c.first_scheduled_ms - c.request.arrival_ms);
                acc.last_counted_finish_ms = acc.last_counted_finish_ms.max(c.finish_ms);
            }
        }
        if !c.rejected {
            acc.finishes_ms.push(c.finish_ms);
        }
        if let Some(tl) = timeline.as_mut()
            && !c.rejected
        {
            tl.completion(
                c.request.group,
                c.finish_ms,
                c.first_token_ms - c.request.arrival_ms,
            );
        }
    };

    loop {
        let next_end = events.next_time_ms();
        let next_arrival = requests.peek().map(|r| r.arrival_ms);
        let take_arrival = match (next_arrival, next_end) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(e)) => a <= e,
        };
        if take_arrival {
            let Some(request) = requests.next() else {
                break;
            };
            let g = request.group as usize;
            if g >= ranges.len() {
                return Err(SimError::UnknownGroup {
                    id: request.id,
                    group: request.group,
                    groups: ranges.len(),
                });
            }
            now_ms = now_ms.max(request.arrival_ms);
            simulated += 1;
            let waiting: u64 = engines[ranges[g].clone()]
                .iter()
                .map(|e| e.waiting() as u64)
                .sum();
            let acc = &mut accs[g];
            if request.counted && acc.waiting_at_start.is_none() {
                acc.waiting_at_start = Some(waiting);
            }
            acc.waiting_at_end = waiting;
            if request.counted {
                acc.requests += 1;
                acc.first_counted_arrival_ms = acc.first_counted_arrival_ms.min(request.arrival_ms);
            }
            acc.last_arrival_ms = acc.last_arrival_ms.max(request.arrival_ms);
            if let Some(tl) = timeline.as_mut() {
                tl.arrival(request.group, request.arrival_ms);
            }
            let r = pick(
                config.groups[g].router,
                |r| engines[r].outstanding(),
                &members[g],
                &mut acc.round_robin,
                &mut router_rng,
            );
            engines[r].enqueue(request);
            if !engines[r].is_busy() {
                done.clear();
                let mut starter = Starter {
                    engines: &mut engines,
                    noise_rngs: &mut noise_rngs,
                    events: &mut events,
                    timeline: &mut timeline,
                    last_preemptions: &mut last_preemptions,
                    group_of: &group_of,
                };
                starter.start(r, now_ms, &mut done);
                finished += done.len() as u64;
                for c in &done {
                    record(c, r, &mut accs, &mut timeline, &mut outcomes);
                }
            }
            continue;
        }
        let Some((time_ms, replica)) = events.pop() else {
            break;
        };
        now_ms = time_ms;
        let r = replica as usize;
        let g = group_of[r] as usize;
        done.clear();
        engines[r].finish_iteration(time_ms, &mut accs[g].itl, &mut done);
        let mut starter = Starter {
            engines: &mut engines,
            noise_rngs: &mut noise_rngs,
            events: &mut events,
            timeline: &mut timeline,
            last_preemptions: &mut last_preemptions,
            group_of: &group_of,
        };
        starter.start(r, time_ms, &mut done);
        finished += done.len() as u64;
        for c in &done {
            record(c, r, &mut accs, &mut timeline, &mut outcomes);
        }
        if finished % 65_536 < done.len() as u64 {
            progress(finished);
        }
    }
    progress(finished);

    let mut groups = Vec::new();
    let mut iterations = 0;
    for (g, acc) in accs.iter_mut().enumerate() {
        let group_engines = &engines[ranges[g].clone()];
        let iters: u64 = group_engines.iter().map(|e| e.stats.iterations).sum();
        let batch_sum: u64 = group_engines.iter().map(|e| e.stats.batch_sum).sum();
        iterations += iters;
        // Throughput over the arrival window (first counted arrival to last arrival): the
        // completions in it, whichever request they belong to. Counting the drain after the last
        // arrival instead would make a short run look overloaded. An overloaded run (its queue
        // grew) whose arrivals all came before much was served (a short burst far above
        // capacity) serves at its capacity through the drain instead: the larger of the two
        // rates is what the replicas served.
        let (from_ms, to_ms) = (acc.first_counted_arrival_ms, acc.last_arrival_ms);
        let served_to_ms = acc.finishes_ms.iter().copied().fold(from_ms, f64::max);
        let rate_over = |to_ms: f64| {
            let n = acc
                .finishes_ms
                .iter()
                .filter(|&&t| t >= from_ms && t <= to_ms)
                .count();
            n as f64 / ((to_ms - from_ms) / 1000.0)
        };
        let throughput_rps = if to_ms > from_ms {
            let in_window = rate_over(to_ms);
            let growth = acc.waiting_at_end as f64 - acc.waiting_at_start.unwrap_or(0) as f64;
            let offered_rps = acc.requests as f64 / ((to_ms - from_ms) / 1000.0);
            let overloaded =
                super::queue_grows(in_window, offered_rps, growth, acc.requests as f64);
            if overloaded && served_to_ms > to_ms {
                in_window.max(rate_over(served_to_ms))
            } else {
                in_window
            }
        } else {
            let window_s = (acc.last_counted_finish_ms - from_ms) / 1000.0;
            if window_s > 0.0 {
                acc.completed as f64 / window_s
            } else {
                f64::NAN
            }
        };
        let share = |met: u64| {
            if acc.requests > 0 {
                met as f64 / acc.requests as f64
            } else {
                f64::NAN
            }
        };
        groups.push(GroupResult {
            name: config.groups[g].name.clone(),
            replicas: config.groups[g].engines.len() as u32,
            requests: acc.requests,
            completed: acc.completed,
            rejected: acc.rejected,
            tokens_out: acc.tokens_out,
            itl_samples: acc.itl.count(),
            throughput_rps,
            waiting_at_start: acc.waiting_at_start.unwrap_or(0),
            waiting_at_end: acc.waiting_at_end,
            ttft_ms: summarize(&mut acc.ttft),
            itl_ms: acc.itl.summary(),
            tpot_ms: summarize(&mut acc.tpot),
            e2e_ms: summarize(&mut acc.e2e),
            queue_wait_ms: summarize(&mut acc.wait),
            preemptions: group_engines.iter().map(|e| e.stats.preemptions).sum(),
            kv_peak_fraction: group_engines
                .iter()
                .map(|e| e.stats.kv_peak_fraction)
                .fold(0.0, f64::max),
            mean_batch: if iters > 0 {
                batch_sum as f64 / iters as f64
            } else {
                0.0
            },
            peak_batch: group_engines
                .iter()
                .map(|e| e.stats.batch_peak)
                .max()
                .unwrap_or(0),
            slo_attainment: {
                let t = &config.groups[g].targets;
                SloAttainment {
                    ttft: t.ttft_ms.map(|_| share(acc.met_ttft)),
                    itl: t.itl_ms.map(|_| share(acc.met_itl)),
                    both: (t.ttft_ms.is_some() || t.itl_ms.is_some()).then(|| share(acc.met_both)),
                }
            },
        });
    }
    Ok(SimResult {
        groups,
        timeline_truncated: timeline.as_ref().is_some_and(|t| t.truncated),
        timeline: timeline.map(|t| t.rows(&names)).unwrap_or_default(),
        simulated_s: now_ms / 1000.0,
        requests_simulated: simulated,
        requests: outcomes,
        iterations,
    })
}
