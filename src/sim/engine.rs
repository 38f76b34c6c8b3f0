//! One vLLM replica, iteration by iteration: a FCFS waiting queue, a running set bounded by
//! `max_num_seqs`, a per-iteration token budget with chunked prefill (decodes first), and a KV
//! cache of fixed-size blocks with preemption by recomputation.
//!
//! Scheduling an iteration (as vLLM's scheduler does):
//! 1. every decoding request gets one token; a request whose sequence fills its last block needs
//!    a new one, and when none is free the most recently admitted running request is preempted
//!    (its blocks freed, back to the front of the queue, its prefill recomputed);
//! 2. requests part-way through their prefill continue it, in admission order, within the budget
//!    left;
//! 3. waiting requests are admitted in order while the running set and the budget allow and the
//!    KV cache holds their whole prompt (a request whose prompt and output could never fit the
//!    cache together, even alone, is rejected).
//!
//! The iteration's duration comes from the shared cost model ([`PerfParams::iteration_ms`]) on
//! its real work: tokens processed and KV tokens read. A prefill chunk reads the KV of its
//! prefix and itself; a decode reads its whole sequence.
//!
//! The hot loop does not visit every running request: decoding requests advance together, so
//! their total sequence length is a running sum, and when each finishes or needs its next KV
//! block is known in advance and kept in heaps keyed by the decode-iteration count.

use super::metrics::Histogram;
use super::workload::Request;
use crate::perf::{IterationWork, PerfParams};
use rand::RngExt;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// vLLM's KV-cache block size, tokens.
pub const DEFAULT_BLOCK_SIZE: u32 = 16;

/// Settings of one engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EngineConfig {
    /// The cost model.
    pub perf: PerfParams,
    /// vLLM `--max-num-seqs`.
    pub max_num_seqs: u32,
    /// vLLM `--max-num-batched-tokens` (at least `max_num_seqs`).
    pub max_num_batched_tokens: u32,
    /// KV-cache capacity in tokens (`None`: unlimited).
    pub kv_capacity_tokens: Option<u64>,
    /// KV block size, tokens.
    pub block_size: u32,
    /// Coefficient of variation of a multiplicative (log-normal, mean 1) noise on iteration
    /// times; 0 for none.
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

/// Where a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Waiting,
    Prefilling,
    Decoding,
    Free,
}

#[derive(Clone, Copy, Debug)]
struct Seq {
    request: Request,
    phase: Phase,
    /// Tokens emitted so far (at the last change of phase, for decoding requests).
    generated: u32,
    /// Prefill progress: tokens computed, and the tokens to compute (prompt + tokens generated
    /// before a preemption).
    computed: u32,
    target: u32,
    blocks: u32,
    /// Bumped whenever the request leaves a phase, so stale heap entries are skipped.
    epoch: u32,
    /// Decode iterations completed by the engine when it joined decoding.
    join_d: u64,
    /// Its sequence length then.
    len_at_join: u32,
    first_scheduled_ms: f64,
    first_token_ms: f64,
    last_token_ms: f64,
    preemptions: u32,
}

/// A prefill chunk in the current iteration.
#[derive(Clone, Copy, Debug)]
struct Chunk {
    slot: u32,
    tokens: u32,
}

/// Per-engine counters for the report.
#[derive(Clone, Debug, Default)]
pub struct EngineStats {
    /// Iterations run.
    pub iterations: u64,
    /// Sum over iterations of the running batch size.
    pub batch_sum: u64,
    /// Largest running batch.
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
    total_blocks: u64,
    free_blocks: u64,
    slots: Vec<Seq>,
    free_slots: Vec<u32>,
    waiting: VecDeque<u32>,
    prefilling: Vec<u32>,
    /// `(slot, epoch)` in admission order; stale entries are skipped.
    admitted: Vec<(u32, u32)>,
    n_decode: u32,
    /// Decoding requests that count towards the statistics.
    n_decode_counted: u32,
    sum_len: u64,
    /// Decode iterations completed.
    d: u64,
    finish_at: BinaryHeap<Reverse<(u64, u32, u32)>>,
    block_at: BinaryHeap<Reverse<(u64, u32, u32)>>,
    /// The iteration in flight.
    chunks: Vec<Chunk>,
    iteration_decodes: u32,
    iteration_decodes_counted: u32,
    iteration_start_ms: f64,
    busy: bool,
    last_end_ms: f64,
    /// Statistics.
    pub stats: EngineStats,
    noise: Option<rand_distr::LogNormal<f64>>,
}

impl Engine {
    /// An idle engine.
    pub fn new(config: EngineConfig) -> Self {
        let block = u64::from(config.block_size.max(1));
        let total_blocks = config
            .kv_capacity_tokens
            .map_or(u64::MAX / 4, |t| t / block);
        let noise = (config.noise_cv > 0.0).then(|| {
            let sigma2 = (1.0 + config.noise_cv * config.noise_cv).ln();
            rand_distr::LogNormal::new(-sigma2 / 2.0, sigma2.sqrt())
                .unwrap_or_else(|_| unreachable!("finite sigma"))
        });
        Engine {
            config,
            total_blocks,
            free_blocks: total_blocks,
            slots: Vec::new(),
            free_slots: Vec::new(),
            waiting: VecDeque::new(),
            prefilling: Vec::new(),
            admitted: Vec::new(),
            n_decode: 0,
            n_decode_counted: 0,
            sum_len: 0,
            d: 0,
            finish_at: BinaryHeap::new(),
            block_at: BinaryHeap::new(),
            chunks: Vec::new(),
            iteration_decodes: 0,
            iteration_decodes_counted: 0,
            iteration_start_ms: 0.0,
            busy: false,
            last_end_ms: 0.0,
            stats: EngineStats::default(),
            noise,
        }
    }

    /// Requests in the engine (waiting or running): what `least-outstanding` routing compares.
    pub fn outstanding(&self) -> usize {
        self.waiting.len() + self.prefilling.len() + self.n_decode as usize
    }

    /// True while an iteration is in flight.
    pub fn is_busy(&self) -> bool {
        self.busy
    }

    /// Requests running now.
    pub fn running(&self) -> u32 {
        self.n_decode + self.prefilling.len() as u32
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Fraction of KV blocks in use.
    pub fn kv_fraction(&self) -> f64 {
        if self.config.kv_capacity_tokens.is_none() || self.total_blocks == 0 {
            return 0.0;
        }
        (self.total_blocks - self.free_blocks) as f64 / self.total_blocks as f64
    }

    fn blocks_for(&self, tokens: u32) -> u64 {
        u64::from(tokens).div_ceil(u64::from(self.config.block_size.max(1)))
    }

    /// Adds an arrived request to the waiting queue.
    pub fn enqueue(&mut self, request: Request) {
        let seq = Seq {
            request,
            phase: Phase::Waiting,
            generated: 0,
            computed: 0,
            target: request.prompt_tokens,
            blocks: 0,
            // Set below: a reused slot keeps its epoch, which `release` moved past every entry
            // its previous request left in the heaps.
            epoch: 0,
            join_d: 0,
            len_at_join: 0,
            first_scheduled_ms: f64::NAN,
            first_token_ms: f64::NAN,
            last_token_ms: f64::NAN,
            preemptions: 0,
        };
        let slot = match self.free_slots.pop() {
            Some(s) => {
                let epoch = self.slots[s as usize].epoch;
                self.slots[s as usize] = Seq { epoch, ..seq };
                s
            }
            None => {
                self.slots.push(seq);
                (self.slots.len() - 1) as u32
            }
        };
        self.waiting.push_back(slot);
    }

    fn release(&mut self, slot: u32) {
        let seq = &mut self.slots[slot as usize];
        self.free_blocks += u64::from(seq.blocks);
        seq.blocks = 0;
        seq.epoch = seq.epoch.wrapping_add(1);
        seq.phase = Phase::Free;
        self.free_slots.push(slot);
    }

    /// The decode count at which a decoding request finishes.
    fn finish_d(&self, seq: &Seq) -> u64 {
        seq.join_d + u64::from(seq.request.output_tokens - seq.generated)
    }

    /// Tokens generated by a decoding request so far.
    fn generated_now(&self, seq: &Seq) -> u32 {
        seq.generated + (self.d - seq.join_d) as u32
    }

    fn leave_decode(&mut self, slot: u32) {
        let seq = self.slots[slot as usize];
        let len = u64::from(seq.len_at_join) + (self.d - seq.join_d);
        self.sum_len -= len;
        self.n_decode -= 1;
        if seq.request.counted {
            self.n_decode_counted -= 1;
        }
    }

    /// Preempts the most recently admitted running request.
    fn preempt_newest(&mut self) -> bool {
        while let Some((slot, epoch)) = self.admitted.pop() {
            let seq = self.slots[slot as usize];
            if seq.epoch != epoch || !matches!(seq.phase, Phase::Prefilling | Phase::Decoding) {
                continue;
            }
            let generated = match seq.phase {
                Phase::Decoding => {
                    self.leave_decode(slot);
                    self.generated_now(&seq)
                }
                _ => {
                    self.prefilling.retain(|&s| s != slot);
                    seq.generated
                }
            };
            let last_token_ms = if seq.phase == Phase::Decoding {
                self.last_end_ms
            } else {
                seq.last_token_ms
            };
            self.free_blocks += u64::from(seq.blocks);
            let s = &mut self.slots[slot as usize];
            s.blocks = 0;
            s.epoch = s.epoch.wrapping_add(1);
            s.phase = Phase::Waiting;
            s.generated = generated;
            s.computed = 0;
            s.target = s.request.prompt_tokens + generated;
            s.last_token_ms = last_token_ms;
            s.preemptions += 1;
            self.stats.preemptions += 1;
            self.waiting.push_front(slot);
            return true;
        }
        false
    }

    /// Plans the next iteration at `now_ms` and returns when it ends, or `None` when there is
    /// nothing to run. Requests that can never fit are appended to `rejected`.
    pub fn start_iteration<R: rand::Rng>(
        &mut self,
        now_ms: f64,
        rng: &mut R,
        rejected: &mut Vec<Completion>,
    ) -> Option<f64> {
        // 1. Decodes: new KV blocks for sequences that fill theirs, preempting when short.
        while let Some(&Reverse((key, slot, epoch))) = self.block_at.peek() {
            if key > self.d {
                break;
            }
            self.block_at.pop();
            let seq = self.slots[slot as usize];
            if seq.epoch != epoch || seq.phase != Phase::Decoding {
                continue;
            }
            while self.free_blocks == 0 {
                if !self.preempt_newest() {
                    break;
                }
            }
            let seq = self.slots[slot as usize];
            if seq.epoch != epoch || seq.phase != Phase::Decoding {
                continue; // it was the one preempted
            }
            if self.free_blocks > 0 {
                self.free_blocks -= 1;
                self.slots[slot as usize].blocks += 1;
                let next = key + u64::from(self.config.block_size.max(1));
                if next < self.finish_d(&seq) {
                    self.block_at.push(Reverse((next, slot, epoch)));
                }
            }
        }
        let mut budget = self
            .config
            .max_num_batched_tokens
            .saturating_sub(self.n_decode);
        self.chunks.clear();
        // 2. Prefills in progress.
        for &slot in &self.prefilling {
            if budget == 0 {
                break;
            }
            let seq = &self.slots[slot as usize];
            let tokens = (seq.target - seq.computed).min(budget);
            if tokens > 0 {
                self.chunks.push(Chunk { slot, tokens });
                budget -= tokens;
            }
        }
        // 3. Admissions, in order.
        while budget > 0 && self.running() < self.config.max_num_seqs {
            let Some(&slot) = self.waiting.front() else {
                break;
            };
            let seq = self.slots[slot as usize];
            // Blocks for the whole prompt and the token the prefill produces.
            let need = self.blocks_for(seq.target + 1);
            // A request whose whole sequence cannot fit even alone would never finish: it is
            // rejected, as vLLM refuses requests longer than its cache can hold. Any other
            // request can always run once the others are preempted.
            let whole = self.blocks_for(seq.request.prompt_tokens + seq.request.output_tokens);
            if whole > self.total_blocks {
                self.waiting.pop_front();
                rejected.push(Completion {
                    request: seq.request,
                    first_scheduled_ms: f64::NAN,
                    first_token_ms: f64::NAN,
                    finish_ms: now_ms,
                    preemptions: seq.preemptions,
                    rejected: true,
                });
                self.release(slot);
                continue;
            }
            if self.free_blocks < need {
                break;
            }
            self.waiting.pop_front();
            self.free_blocks -= need;
            let epoch = seq.epoch;
            let s = &mut self.slots[slot as usize];
            s.blocks = need as u32;
            s.phase = Phase::Prefilling;
            if s.first_scheduled_ms.is_nan() {
                s.first_scheduled_ms = now_ms;
            }
            let tokens = s.target.min(budget);
            budget -= tokens;
            self.chunks.push(Chunk { slot, tokens });
            self.prefilling.push(slot);
            self.admitted.push((slot, epoch));
        }
        if self.admitted.len() > 4 * (self.running() as usize + 16) {
            let slots = &self.slots;
            self.admitted.retain(|&(s, e)| {
                let q = &slots[s as usize];
                q.epoch == e && matches!(q.phase, Phase::Prefilling | Phase::Decoding)
            });
        }
        let running = self.running();
        if running == 0 {
            self.busy = false;
            return None;
        }
        // Cost of the iteration's work.
        let mut prefill_tokens = 0u64;
        let mut kv = self.sum_len;
        for c in &self.chunks {
            let seq = &self.slots[c.slot as usize];
            prefill_tokens += u64::from(c.tokens);
            kv += u64::from(seq.computed + c.tokens);
        }
        let work = IterationWork {
            prefill_tokens,
            decode_tokens: self.n_decode,
            kv_tokens_read: kv,
            running_requests: running,
        };
        let mut dt = self.config.perf.iteration_ms(&work);
        if let Some(noise) = &self.noise {
            dt *= rng.sample(noise);
        }
        self.iteration_decodes = self.n_decode;
        self.iteration_decodes_counted = self.n_decode_counted;
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
        let dt = end_ms - self.iteration_start_ms;
        if self.iteration_decodes > 0 {
            self.d += 1;
            self.sum_len += u64::from(self.iteration_decodes);
            itl.add(dt, u64::from(self.iteration_decodes_counted));
            while let Some(&Reverse((key, slot, epoch))) = self.finish_at.peek() {
                if key > self.d {
                    break;
                }
                self.finish_at.pop();
                let seq = self.slots[slot as usize];
                if seq.epoch != epoch || seq.phase != Phase::Decoding {
                    continue;
                }
                self.leave_decode(slot);
                done.push(Completion {
                    request: seq.request,
                    first_scheduled_ms: seq.first_scheduled_ms,
                    first_token_ms: seq.first_token_ms,
                    finish_ms: end_ms,
                    preemptions: seq.preemptions,
                    rejected: false,
                });
                self.release(slot);
            }
        }
        for i in 0..self.chunks.len() {
            let Chunk { slot, tokens } = self.chunks[i];
            let seq = &mut self.slots[slot as usize];
            if seq.phase != Phase::Prefilling {
                continue; // preempted meanwhile (cannot happen within an iteration, but be safe)
            }
            seq.computed += tokens;
            if seq.computed < seq.target {
                continue;
            }
            // Prefill complete: it emits a token.
            if seq.generated == 0 {
                seq.first_token_ms = end_ms;
            } else if seq.request.counted {
                itl.add(end_ms - seq.last_token_ms, 1);
            }
            seq.generated += 1;
            seq.last_token_ms = end_ms;
            let seq = *seq;
            self.prefilling.retain(|&s| s != slot);
            if seq.generated >= seq.request.output_tokens {
                done.push(Completion {
                    request: seq.request,
                    first_scheduled_ms: seq.first_scheduled_ms,
                    first_token_ms: seq.first_token_ms,
                    finish_ms: end_ms,
                    preemptions: seq.preemptions,
                    rejected: false,
                });
                self.release(slot);
                continue;
            }
            // Join the decoders.
            let len = seq.target + 1;
            // Same epoch: its admission entry stays valid for preemption.
            let s = &mut self.slots[slot as usize];
            s.phase = Phase::Decoding;
            s.join_d = self.d;
            s.len_at_join = len;
            let epoch = s.epoch;
            self.n_decode += 1;
            if seq.request.counted {
                self.n_decode_counted += 1;
            }
            self.sum_len += u64::from(len);
            let remaining = u64::from(seq.request.output_tokens - seq.generated);
            self.finish_at
                .push(Reverse((self.d + remaining, slot, epoch)));
            let block = u64::from(self.config.block_size.max(1));
            let first_need = (block - u64::from(len) % block) % block;
            if first_need < remaining {
                self.block_at
                    .push(Reverse((self.d + first_need, slot, epoch)));
            }
        }
        self.last_end_ms = end_ms;
        self.busy = false;
    }
}

#[cfg(test)]
impl Engine {
    /// Checks the block accounting between iterations: the blocks held add up to those in
    /// use, and every running request holds exactly what the rules give it (a prefilling one:
    /// its prompt and first token; a decoding one: its sequence and the token it computes next).
    fn check_blocks(&self) -> Result<(), String> {
        let mut held = 0u64;
        for (i, seq) in self.slots.iter().enumerate() {
            let expected = match seq.phase {
                Phase::Prefilling => self.blocks_for(seq.target + 1),
                Phase::Decoding => {
                    let len = u64::from(seq.len_at_join) + (self.d - seq.join_d);
                    self.blocks_for(len as u32 + 1)
                }
                Phase::Waiting | Phase::Free => 0,
            };
            if u64::from(seq.blocks) != expected {
                return Err(format!(
                    "slot {i} ({:?}) holds {} blocks, should hold {expected}",
                    seq.phase, seq.blocks
                ));
            }
            held += u64::from(seq.blocks);
        }
        if self.total_blocks < u64::MAX / 4 && held != self.total_blocks - self.free_blocks {
            return Err(format!(
                "{held} blocks held but {} in use",
                self.total_blocks - self.free_blocks
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::Gen2Params;
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
                perf: PerfParams::V2(Gen2Params {
                    alpha_ms: 5.0,
                    beta_ms_per_token: 0.02,
                    gamma_ms_per_kv_token: 0.0001,
                }),
                max_num_seqs,
                max_num_batched_tokens: budget.max(max_num_seqs),
                kv_capacity_tokens: kv_blocks.map(|b| b * 16),
                block_size: 16,
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
