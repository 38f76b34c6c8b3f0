//! Closed-loop load on one replica: a fixed number of clients, each sending its next request
//! when its previous one completes (after an optional think time). This is how benchmarks
//! "by concurrency" drive a server (inferno's run16 curve, `vllm bench --max-concurrency`,
//! guidellm's concurrent mode): the load adapts to the server, so a slow server sees fewer
//! requests per second instead of a growing queue.
//!
//! The replica is the simulator's [`Engine`], run iteration by iteration as in
//! [`super::run`]; only the arrival process differs. Requests completed during the warm-up do
//! not count.

use super::engine::{Completion, Engine, EngineConfig};
use super::metrics::{Histogram, Summary, summarize};
use super::{GroupResult, SimError, SimResult, SloAttainment};
use crate::events::EventQueue;
use crate::load::{Lengths, Request};
use crate::queueing::Targets;
use crate::rng::Stream;
use crate::spec::LengthDist;
use serde::Serialize;

/// A closed-loop load.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClosedLoop {
    /// Clients, each with at most one request in the server.
    pub concurrency: u32,
    /// Prompt lengths.
    pub prompt: LengthDist,
    /// Output lengths.
    pub output: LengthDist,
    /// Requests to complete in all (warm-up included). Every client keeps sending until then,
    /// so the load stays at `concurrency` to the end; requests still in flight at the end are
    /// not counted.
    pub requests: u64,
    /// Share of `requests` completed before measuring starts.
    pub warmup_fraction: f64,
    /// Time between a completion and the client's next request, ms.
    pub think_ms: f64,
    /// Latency targets each measured request is checked against (per request, as in
    /// [`super::run`]).
    pub targets: Targets,
}

/// What a closed-loop run measured (after the warm-up).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ClosedLoopResult {
    /// Clients.
    pub concurrency: u32,
    /// Requests measured (completed after the warm-up).
    pub completed: u64,
    /// Requests the engine rejected (they could never fit the KV cache).
    pub rejected: u64,
    /// Completions per second over the measured window.
    pub throughput_rps: f64,
    /// Time to first token, ms (from the client's send).
    pub ttft_ms: Summary,
    /// Inter-token gaps, ms.
    pub itl_ms: Summary,
    /// Time per output token of each request, ms.
    pub tpot_ms: Summary,
    /// End-to-end latency, ms.
    pub e2e_ms: Summary,
    /// Mean running requests over the measured window (time-weighted).
    pub mean_running: f64,
    /// Mean waiting requests over the measured window (time-weighted).
    pub mean_waiting: f64,
    /// Mean fraction of the KV cache in use (time-weighted; 0 without a cache size).
    pub mean_kv_fraction: f64,
    /// Largest fraction of the KV cache in use.
    pub kv_peak_fraction: f64,
    /// Preemptions during the measured window.
    pub preemptions: u64,
    /// Wait from the send to the first scheduling, ms.
    pub queue_wait_ms: Summary,
    /// Output tokens of the measured requests.
    pub tokens_out: u64,
    /// Inter-token gaps measured.
    pub itl_samples: u64,
    /// Largest running batch over the measured window.
    pub peak_running: u32,
    /// Share of measured requests meeting the load's targets.
    pub slo_attainment: SloAttainment,
    /// Requests sent in all (warm-up included).
    pub requests_sent: u64,
    /// Engine iterations in all (warm-up included).
    pub iterations: u64,
    /// Simulated time, s.
    pub simulated_s: f64,
}

impl ClosedLoopResult {
    /// The run as a one-group [`SimResult`] (one replica named `name`), the shape open-loop
    /// runs report in. There is no arrival queue outside the server in a closed loop, so the
    /// waiting counts are 0, and the measured requests are the completed ones.
    pub fn into_sim_result(self, name: &str) -> SimResult {
        let group = GroupResult {
            name: name.to_string(),
            replicas: 1,
            requests: self.completed + self.rejected,
            completed: self.completed,
            rejected: self.rejected,
            tokens_out: self.tokens_out,
            itl_samples: self.itl_samples,
            throughput_rps: self.throughput_rps,
            waiting_at_start: 0,
            waiting_at_end: 0,
            ttft_ms: self.ttft_ms,
            itl_ms: self.itl_ms,
            tpot_ms: self.tpot_ms,
            e2e_ms: self.e2e_ms,
            queue_wait_ms: self.queue_wait_ms,
            preemptions: self.preemptions,
            kv_peak_fraction: self.kv_peak_fraction,
            mean_batch: self.mean_running,
            peak_batch: self.peak_running,
            slo_attainment: self.slo_attainment,
        };
        SimResult {
            groups: vec![group],
            timeline: Vec::new(),
            timeline_truncated: false,
            simulated_s: self.simulated_s,
            requests_simulated: self.requests_sent,
            iterations: self.iterations,
            requests: Vec::new(),
        }
    }
}

/// Runs `load` against one replica with `engine`'s settings. Deterministic in `seed`.
pub fn run_closed_loop(
    engine: EngineConfig,
    load: &ClosedLoop,
    seed: u64,
) -> Result<ClosedLoopResult, SimError> {
    let bad = |message: String| SimError::Engine {
        group: "closed loop".into(),
        message,
    };
    if load.concurrency == 0 {
        return Err(bad("concurrency must be at least 1".into()));
    }
    if engine.max_num_seqs == 0 || engine.block_size == 0 {
        return Err(bad("max_num_seqs and block_size must be at least 1".into()));
    }
    if engine.max_num_batched_tokens < engine.max_num_seqs {
        return Err(bad(format!(
            "max_num_batched_tokens ({}) must be at least max_num_seqs ({}), as vLLM requires",
            engine.max_num_batched_tokens, engine.max_num_seqs
        )));
    }
    if !(load.think_ms >= 0.0 && load.think_ms.is_finite()) {
        return Err(bad(format!(
            "think time must be finite and >= 0, got {}",
            load.think_ms
        )));
    }
    let mut lengths_rng = crate::rng::stream(seed, Stream::Arrivals, 0);
    let mut noise_rng = crate::rng::stream(seed, Stream::Noise, 0);
    let (prompt, output) = (Lengths::new(&load.prompt), Lengths::new(&load.output));
    let warmup = (load.warmup_fraction.clamp(0.0, 0.99) * load.requests as f64) as u64;

    let mut engine_state = Engine::new(engine);
    // Every client sends its first request at time 0.
    let mut clients = Clients::default();
    for _ in 0..load.concurrency {
        clients.send(0.0);
    }
    let mut itl = Histogram::default();
    let mut ignored = Histogram::default();
    let mut done: Vec<Completion> = Vec::new();
    let mut now_ms = 0.0f64;
    let mut measuring_since: Option<(f64, u64)> = None;
    while clients.finished < load.requests {
        // Requests sent by now join the waiting queue.
        while let Some((t, id)) = clients.sends.peek() {
            if t > now_ms {
                break;
            }
            clients.sends.pop();
            engine_state.enqueue(Request {
                id,
                group: 0,
                arrival_ms: t,
                prompt_tokens: prompt.sample(&mut lengths_rng),
                output_tokens: output.sample(&mut lengths_rng),
                counted: measuring_since.is_some(),
            });
        }
        done.clear();
        let Some(end_ms) = engine_state.start_iteration(now_ms, &mut noise_rng, &mut done) else {
            // Idle: the rejected requests' clients send again; then wait for the next send.
            clients.finish(&mut done, load, now_ms, measuring_since.is_some());
            match clients.sends.next_time_ms() {
                Some(t) => {
                    now_ms = now_ms.max(t);
                    continue;
                }
                None => break,
            }
        };
        // State over the iteration, for the time-weighted means.
        if measuring_since.is_some() {
            let dt = end_ms - now_ms;
            clients.acc.running_ms += f64::from(engine_state.running()) * dt;
            clients.acc.waiting_ms += engine_state.waiting() as f64 * dt;
            clients.acc.kv_ms += engine_state.kv_fraction() * dt;
            clients.acc.kv_peak = clients.acc.kv_peak.max(engine_state.kv_fraction());
            clients.acc.peak_running = clients.acc.peak_running.max(engine_state.running());
        }
        let hist = if measuring_since.is_some() {
            &mut itl
        } else {
            &mut ignored
        };
        engine_state.finish_iteration(end_ms, hist, &mut done);
        now_ms = end_ms;
        clients.finish(&mut done, load, now_ms, measuring_since.is_some());
        if measuring_since.is_none() && clients.finished >= warmup {
            measuring_since = Some((now_ms, engine_state.stats.preemptions));
        }
    }
    let (from_ms, preemptions_before) = measuring_since.unwrap_or((now_ms, 0));
    let window_ms = now_ms - from_ms;
    let per_ms = |x: f64| {
        if window_ms > 0.0 {
            x / window_ms
        } else {
            f64::NAN
        }
    };
    let acc = &clients.acc;
    let share = |met: u64| {
        let n = acc.ttft.len() as u64 + acc.rejected;
        if n > 0 {
            met as f64 / n as f64
        } else {
            f64::NAN
        }
    };
    let t = &load.targets;
    let slo_attainment = SloAttainment {
        ttft: t.ttft_ms.map(|_| share(acc.met_ttft)),
        itl: t.itl_ms.map(|_| share(acc.met_itl)),
        both: (t.ttft_ms.is_some() || t.itl_ms.is_some()).then(|| share(acc.met_both)),
    };
    let itl_samples = itl.count();
    Ok(ClosedLoopResult {
        concurrency: load.concurrency,
        completed: clients.acc.ttft.len() as u64,
        rejected: clients.acc.rejected,
        throughput_rps: per_ms(clients.acc.completions as f64) * 1000.0,
        ttft_ms: summarize(&mut clients.acc.ttft),
        itl_ms: itl.summary(),
        tpot_ms: summarize(&mut clients.acc.tpot),
        e2e_ms: summarize(&mut clients.acc.e2e),
        mean_running: per_ms(clients.acc.running_ms),
        mean_waiting: per_ms(clients.acc.waiting_ms),
        mean_kv_fraction: per_ms(clients.acc.kv_ms),
        kv_peak_fraction: clients.acc.kv_peak,
        preemptions: engine_state.stats.preemptions - preemptions_before,
        queue_wait_ms: summarize(&mut clients.acc.queue_wait),
        tokens_out: clients.acc.tokens_out,
        peak_running: clients.acc.peak_running,
        slo_attainment,
        requests_sent: clients.next_id,
        iterations: engine_state.stats.iterations,
        simulated_s: now_ms / 1000.0,
        itl_samples,
    })
}

/// Time-weighted sums and per-request latencies of the measured window.
#[derive(Default)]
struct Acc {
    /// Every completion in the window (also of requests sent before it started).
    completions: u64,
    ttft: Vec<f64>,
    tpot: Vec<f64>,
    e2e: Vec<f64>,
    rejected: u64,
    running_ms: f64,
    waiting_ms: f64,
    kv_ms: f64,
    kv_peak: f64,
    peak_running: u32,
    queue_wait: Vec<f64>,
    tokens_out: u64,
    met_ttft: u64,
    met_itl: u64,
    met_both: u64,
}

/// The clients: sends not yet made (time, request id), and what their requests measured.
#[derive(Default)]
struct Clients {
    sends: EventQueue<u64>,
    next_id: u64,
    finished: u64,
    acc: Acc,
}

impl Clients {
    /// A new request, sent at `at_ms`.
    fn send(&mut self, at_ms: f64) {
        self.sends.push(at_ms, self.next_id);
        self.next_id += 1;
    }

    /// Records the requests in `done` (when `measuring`) and sends each client's next
    /// request.
    fn finish(
        &mut self,
        done: &mut Vec<Completion>,
        load: &ClosedLoop,
        now_ms: f64,
        measuring: bool,
    ) {
        for c in done.drain(..) {
            self.finished += 1;
            let acc = &mut self.acc;
            if measuring && !c.rejected {
                acc.completions += 1;
            }
            if measuring && c.request.counted {
                if c.rejected {
                    acc.rejected += 1;
                } else {
                    let (ttft, tpot) = (c.ttft_ms(), c.tpot_ms());
                    let (ok_ttft, ok_itl) = load.targets.met_by(ttft, tpot);
                    acc.met_ttft += u64::from(ok_ttft);
                    acc.met_itl += u64::from(ok_itl);
                    acc.met_both += u64::from(ok_ttft && ok_itl);
                    acc.tokens_out += u64::from(c.request.output_tokens);
                    acc.queue_wait
                        .push(c.first_scheduled_ms - c.request.arrival_ms);
                    acc.ttft.push(ttft);
                    if c.request.output_tokens > 1 {
                        acc.tpot.push(tpot);
                    }
                    acc.e2e.push(c.finish_ms - c.request.arrival_ms);
                }
            }
            self.send(now_ms + load.think_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::{Gen2Params, PerfParams};

    fn engine(kv: Option<u64>) -> EngineConfig {
        EngineConfig {
            cost: PerfParams::V2(Gen2Params {
                alpha_ms: 10.0,
                beta_ms_per_token: 0.04,
                gamma_ms_per_kv_token: 0.00006,
            })
            .into(),
            max_num_seqs: 64,
            max_num_batched_tokens: 2048,
            kv_capacity_tokens: kv,
            block_size: 16,
            prefix_caching: true,
            noise_cv: 0.0,
        }
    }

    fn load(concurrency: u32, think_ms: f64) -> ClosedLoop {
        ClosedLoop {
            concurrency,
            prompt: LengthDist::Fixed { mean: 512.0 },
            output: LengthDist::Exponential { mean: 128.0 },
            requests: 20_000,
            warmup_fraction: 0.1,
            think_ms,
            targets: Targets::default(),
        }
    }

    #[test]
    fn littles_law_holds_for_the_clients() {
        // N clients = throughput x (response time + think time).
        for (n, think) in [(1, 0.0), (8, 0.0), (32, 0.0), (96, 0.0), (16, 500.0)] {
            let r = run_closed_loop(engine(None), &load(n, think), 3).unwrap();
            let implied = r.throughput_rps * (r.e2e_ms.mean + think) / 1000.0;
            assert!(
                (implied / f64::from(n) - 1.0).abs() < 0.01,
                "{n} clients: throughput x cycle = {implied:.2}"
            );
            assert_eq!(r.rejected, 0);
        }
    }

    #[test]
    fn below_max_num_seqs_nobody_waits_and_above_it_the_excess_does() {
        let r = run_closed_loop(engine(None), &load(32, 0.0), 1).unwrap();
        assert!(r.mean_waiting < 0.5, "waiting {}", r.mean_waiting);
        assert!(r.mean_running > 30.0 && r.mean_running <= 32.0);
        let r = run_closed_loop(engine(None), &load(96, 0.0), 1).unwrap();
        assert!(
            r.mean_running > 60.0 && r.mean_running <= 64.0,
            "{}",
            r.mean_running
        );
        assert!((r.mean_running + r.mean_waiting - 96.0).abs() < 1.0);
    }

    #[test]
    fn more_clients_more_throughput_and_slower_tokens() {
        let mut last: Option<ClosedLoopResult> = None;
        for n in [1, 4, 16, 48] {
            let r = run_closed_loop(engine(None), &load(n, 0.0), 5).unwrap();
            if let Some(p) = last {
                assert!(r.throughput_rps > p.throughput_rps);
                assert!(r.itl_ms.mean > p.itl_ms.mean);
            }
            last = Some(r);
        }
    }

    #[test]
    fn a_small_cache_fills_and_preempts() {
        // 64 clients of ~640 tokens need ~41k tokens; 16k fit.
        let r = run_closed_loop(engine(Some(16_384)), &load(64, 0.0), 2).unwrap();
        assert!(r.kv_peak_fraction > 0.95, "{}", r.kv_peak_fraction);
        assert!(r.mean_running < 40.0, "{}", r.mean_running);
        let free = run_closed_loop(engine(Some(1 << 30)), &load(64, 0.0), 2).unwrap();
        assert!(free.kv_peak_fraction < 0.1);
        assert!(r.ttft_ms.mean > free.ttft_ms.mean);
    }

    #[test]
    fn same_seed_same_result_and_bad_settings_are_refused() {
        let a = run_closed_loop(engine(None), &load(8, 0.0), 9).unwrap();
        let b = run_closed_loop(engine(None), &load(8, 0.0), 9).unwrap();
        assert_eq!(a, b);
        assert!(run_closed_loop(engine(None), &load(0, 0.0), 9).is_err());
        assert!(run_closed_loop(engine(None), &load(8, f64::NAN), 9).is_err());
    }
}
