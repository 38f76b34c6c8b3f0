//! One vLLM replica: its engine ranks (one, or the data-parallel ranks of a MoE model that
//! step together), the cost model that times their iterations, and the noise on those times.
//!
//! Each rank schedules as vLLM's scheduler does (`sim::rank`); the engine asks the cost
//! model how long the iteration of all its ranks takes ([`CostModel::iteration_ms`]) and
//! finishes them together. A request that arrives is given to a rank the way vLLM's
//! data-parallel front end does: the lowest `4 x waiting + running` (`DPLBAsyncMPClient` in
//! `vllm/v1/engine/core_client.py`; `wva` reads the counts as they are, where vLLM's front end
//! sees them refreshed every 100 ms and counts its own assignments in between), ties to the
//! lowest rank.

use super::metrics::Histogram;
use super::rank::{Rank, RankLimits};
use crate::load::Request;
use crate::perf::{BatchShape, CostModel};
use rand::RngExt;

pub use crate::perf::DEFAULT_BLOCK_SIZE;

/// Settings of one engine (one replica).
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// The cost model; its [`CostModel::ranks`] says how many ranks step together.
    pub cost: CostModel,
    /// vLLM `--max-num-seqs`, per rank.
    pub max_num_seqs: u32,
    /// vLLM `--max-num-batched-tokens` (at least `max_num_seqs`), per rank.
    pub max_num_batched_tokens: u32,
    /// KV-cache capacity in tokens, per rank (`None`: unlimited).
    pub kv_capacity_tokens: Option<u64>,
    /// KV block size, tokens.
    pub block_size: u32,
    /// vLLM's prefix caching (on by default since vLLM 0.8): a preempted request resumes
    /// with the blocks of its own that are still cached.
    pub prefix_caching: bool,
    /// Coefficient of variation of a multiplicative (log-normal, mean 1) noise on iteration
    /// times; 0 for none, at most [`crate::limits::MAX_NOISE_CV`] (larger values count as it).
    pub noise_cv: f64,
}

/// What happened to one request, reported when it leaves the engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Completion {
    /// The request.
    pub request: Request,
    /// First time it was scheduled, ms (`NaN` if rejected).
    pub first_scheduled_ms: f64,
    /// First token time, ms.
    pub first_token_ms: f64,
    /// Last token time (completion), ms.
    pub finish_ms: f64,
    /// Times it was preempted.
    pub preemptions: u32,
    /// True when it could never fit in the KV cache.
    pub rejected: bool,
}

impl Completion {
    /// Time to first token, ms.
    pub fn ttft_ms(&self) -> f64 {
        self.first_token_ms - self.request.arrival_ms
    }

    /// Time per output token after the first, ms (0 for a one-token answer).
    pub fn tpot_ms(&self) -> f64 {
        if self.request.output_tokens > 1 {
            (self.finish_ms - self.first_token_ms) / f64::from(self.request.output_tokens - 1)
        } else {
            0.0
        }
    }
}

/// Per-engine counters for the report.
#[derive(Clone, Debug, Default)]
pub struct EngineStats {
    /// Iterations run.
    pub iterations: u64,
    /// Sum over iterations of the running batch size (all ranks).
    pub batch_sum: u64,
    /// Largest running batch (all ranks).
    pub batch_peak: u32,
    /// Largest fraction of KV blocks in use.
    pub kv_peak_fraction: f64,
    /// Preemptions.
    pub preemptions: u64,
    /// Busy time, ms.
    pub busy_ms: f64,
}

/// One replica.
pub struct Engine {
    config: EngineConfig,
    ranks: Vec<Rank>,
    /// What each rank runs in the iteration in flight.
    shapes: Vec<BatchShape>,
    iteration_start_ms: f64,
    busy: bool,
    /// Statistics.
    pub stats: EngineStats,
    noise: Option<rand_distr::LogNormal<f64>>,
}

impl Engine {
    /// An idle engine.
    pub fn new(config: EngineConfig) -> Self {
        let noise = (config.noise_cv > 0.0).then(|| {
            // Capped (the flags refuse more), so sigma stays finite.
            let cv = config.noise_cv.min(crate::limits::MAX_NOISE_CV);
            let sigma2 = (1.0 + cv * cv).ln();
            rand_distr::LogNormal::new(-sigma2 / 2.0, sigma2.sqrt())
                .unwrap_or_else(|_| unreachable!("finite sigma"))
        });
        let limits = RankLimits {
            max_num_seqs: config.max_num_seqs,
            max_num_batched_tokens: config.max_num_batched_tokens,
            kv_capacity_tokens: config.kv_capacity_tokens,
            block_size: config.block_size,
            prefix_caching: config.prefix_caching,
        };
        let n = config.cost.ranks().max(1) as usize;
        let track = config.cost.needs_decode_extremes();
        Engine {
            ranks: (0..n).map(|_| Rank::new(limits, track)).collect(),
            shapes: vec![BatchShape::default(); n],
            iteration_start_ms: 0.0,
            busy: false,
            stats: EngineStats::default(),
            noise,
            config,
        }
    }

    /// Requests in the engine (waiting or running): what `least-outstanding` routing compares.
    pub fn outstanding(&self) -> usize {
        self.ranks.iter().map(Rank::outstanding).sum()
    }

    /// True while an iteration is in flight.
    pub fn is_busy(&self) -> bool {
        self.busy
    }

    /// Requests running now.
    pub fn running(&self) -> u32 {
        self.ranks.iter().map(Rank::running).sum()
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.ranks.iter().map(Rank::waiting).sum()
    }

    /// Fraction of KV blocks in use (over all ranks).
    pub fn kv_fraction(&self) -> f64 {
        let (mut used, mut total) = (0u64, 0u64);
        for r in &self.ranks {
            if let Some((u, t)) = r.kv_blocks() {
                used += u;
                total += t;
            }
        }
        if total == 0 {
            0.0
        } else {
            used as f64 / total as f64
        }
    }

    /// Adds an arrived request to a rank's waiting queue.
    pub fn enqueue(&mut self, request: Request) {
        let rank = if self.ranks.len() == 1 {
            0
        } else {
            // vLLM's data-parallel load balancing: the lowest 4 x waiting + running.
            (0..self.ranks.len())
                .min_by_key(|&i| 4 * self.ranks[i].waiting() + self.ranks[i].running() as usize)
                .unwrap_or(0)
        };
        self.ranks[rank].enqueue(request);
    }

    /// Plans the next iteration at `now_ms` and returns when it ends, or `None` when there is
    /// nothing to run. Requests that can never fit are appended to `rejected`.
    pub fn start_iteration<R: rand::Rng>(
        &mut self,
        now_ms: f64,
        rng: &mut R,
        rejected: &mut Vec<Completion>,
    ) -> Option<f64> {
        let mut running = 0u32;
        for (rank, shape) in self.ranks.iter_mut().zip(self.shapes.iter_mut()) {
            *shape = rank.schedule(now_ms, rejected);
            running += shape.running;
        }
        self.stats.preemptions = self.ranks.iter().map(|r| r.preemptions).sum();
        if running == 0 {
            self.busy = false;
            return None;
        }
        let mut dt = self.config.cost.iteration_ms(&self.shapes);
        if let Some(noise) = &self.noise {
            dt *= rng.sample(noise);
        }
        self.iteration_start_ms = now_ms;
        self.busy = true;
        self.stats.iterations += 1;
        self.stats.batch_sum += u64::from(running);
        self.stats.batch_peak = self.stats.batch_peak.max(running);
        self.stats.kv_peak_fraction = self.stats.kv_peak_fraction.max(self.kv_fraction());
        self.stats.busy_ms += dt;
        Some(now_ms + dt)
    }

    /// Completes the iteration in flight at `end_ms`: emits tokens, records inter-token gaps
    /// of counted requests in `itl`, and appends finished requests to `done`.
    pub fn finish_iteration(
        &mut self,
        end_ms: f64,
        itl: &mut Histogram,
        done: &mut Vec<Completion>,
    ) {
        let start_ms = self.iteration_start_ms;
        for rank in &mut self.ranks {
            rank.finish(start_ms, end_ms, itl, done);
        }
        self.busy = false;
    }
}

#[cfg(test)]
impl Engine {
    /// Checks every rank's block accounting (see [`Rank::check_blocks`]).
    fn check_blocks(&self) -> Result<(), String> {
        self.ranks.iter().try_for_each(Rank::check_blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::{Gen2Params, PerfParams};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Drives one engine over `requests` (in arrival order) and returns every completion.
    fn drive(config: EngineConfig, requests: &[Request]) -> (Vec<Completion>, u64) {
        let mut engine = Engine::new(config);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut itl = Histogram::default();
        let mut out = Vec::new();
        let mut next = 0;
        let mut iteration_end: Option<f64> = None;
        loop {
            let arrival = requests.get(next).map(|r| r.arrival_ms);
            match (arrival, iteration_end) {
                (None, None) => break,
                (Some(a), end) if end.is_none_or(|e| a <= e) => {
                    engine.enqueue(requests[next]);
                    next += 1;
                    if iteration_end.is_none() {
                        iteration_end = engine.start_iteration(a, &mut rng, &mut out);
                        engine.check_blocks().unwrap();
                    }
                }
                (_, Some(e)) => {
                    engine.finish_iteration(e, &mut itl, &mut out);
                    iteration_end = engine.start_iteration(e, &mut rng, &mut out);
                    engine.check_blocks().unwrap();
                }
                (Some(_), None) => unreachable!(),
            }
        }
        (out, engine.stats.preemptions)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the load, lengths, budget and KV capacity: every request leaves exactly
        /// once (completed or rejected), is never scheduled before it arrives, emits its first
        /// token after it is scheduled and finishes after that; a request is rejected only if
        /// its whole sequence can never fit the cache.
        #[test]
        fn every_request_leaves_once_and_in_order(
            gaps in prop::collection::vec(0.0f64..50.0, 1..300),
            lengths in prop::collection::vec((1u32..3000, 1u32..400), 300),
            max_num_seqs in 1u32..64,
            budget in 64u32..4096,
            kv_blocks in prop::option::of(8u64..600),
        ) {
            let mut t = 0.0;
            let requests: Vec<Request> = gaps
                .iter()
                .zip(&lengths)
                .enumerate()
                .map(|(i, (gap, (prompt, output)))| {
                    t += gap;
                    Request {
                        id: i as u64,
                        group: 0,
                        arrival_ms: t,
                        prompt_tokens: *prompt,
                        output_tokens: *output,
                        counted: true,
                    }
                })
                .collect();
            let config = EngineConfig {
                cost: CostModel::Linear(PerfParams::V2(Gen2Params {
                    alpha_ms: 5.0,
                    beta_ms_per_token: 0.02,
                    gamma_ms_per_kv_token: 0.0001,
                })),
                max_num_seqs,
                max_num_batched_tokens: budget.max(max_num_seqs),
                kv_capacity_tokens: kv_blocks.map(|b| b * 16),
                block_size: 16,
                prefix_caching: true,
                noise_cv: 0.0,
            };
            let (done, _) = drive(config, &requests);
            let mut seen = vec![0u32; requests.len()];
            for c in &done {
                seen[c.request.id as usize] += 1;
                let whole = u64::from(c.request.prompt_tokens + c.request.output_tokens);
                let fits = kv_blocks.is_none_or(|b| whole.div_ceil(16) <= b);
                if c.rejected {
                    prop_assert!(!fits, "request {} rejected though it fits", c.request.id);
                } else {
                    prop_assert!(c.first_scheduled_ms >= c.request.arrival_ms);
                    prop_assert!(c.first_token_ms > c.first_scheduled_ms);
                    prop_assert!(c.finish_ms >= c.first_token_ms);
                }
            }
            prop_assert!(seen.iter().all(|&n| n == 1), "not exactly once: {seen:?}");
        }
    }
}
