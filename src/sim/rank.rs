//! The scheduler of one vLLM engine rank: a FCFS waiting queue, a running set bounded by
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
//! What the iteration runs is summed into a [`BatchShape`] (tokens, chunks and their prefixes,
//! decodes and their KV lengths) for the cost model; how long it takes is the engine's business
//! ([`super::engine`]), not the rank's.
//!
//! The hot loop does not visit every running request: decoding requests advance together, so
//! their total sequence length is a running sum, and when each finishes or needs its next KV
//! block is known in advance: finishes in a heap keyed by the decode-iteration count, block
//! needs in a ring of `block_size` buckets by that count (a need is never more than a block
//! away). The shortest and longest decoding sequences, which only the tables cost model reads,
//! are kept in an ordered multiset of `length - decode count` (constant while a request
//! decodes) when asked for.
//!
//! With prefix caching, a preempted request's blocks go back to the free pool but keep their
//! contents until an allocation reuses them. Free blocks are reused oldest first, and a
//! request's own are freed tail first, so its full blocks survive as many fresh allocations as
//! there were free blocks before them (and its partial block); on resuming, the survivors are
//! hits and only the rest is recomputed.

use super::engine::Completion;
use super::metrics::Histogram;
use crate::load::Request;
use crate::perf::BatchShape;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

/// The limits of one rank (vLLM's scheduler settings).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RankLimits {
    /// vLLM `--max-num-seqs`.
    pub max_num_seqs: u32,
    /// vLLM `--max-num-batched-tokens`.
    pub max_num_batched_tokens: u32,
    /// KV-cache capacity, tokens (`None`: unlimited).
    pub kv_capacity_tokens: Option<u64>,
    /// KV block size, tokens.
    pub block_size: u32,
    /// vLLM's prefix caching: a preempted request's blocks stay cached once freed, until
    /// other requests' allocations reuse them, and a resumed request recomputes only what was
    /// lost.
    pub prefix_caching: bool,
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
    /// Decode iterations completed by the rank when it joined decoding.
    join_d: u64,
    /// Its sequence length then.
    len_at_join: u32,
    first_scheduled_ms: f64,
    first_token_ms: f64,
    last_token_ms: f64,
    preemptions: u32,
    /// Full blocks of KV it had computed when last preempted (prefix caching).
    cached_blocks: u32,
    /// Blocks it held then beyond those (a partial block, the room for its next token): vLLM
    /// frees a request's blocks tail first, so these are reused before its cached ones.
    uncached_blocks: u32,
    /// The rank's fresh-block allocations after which its cached blocks start to be reused.
    evict_after: u64,
}

impl Seq {
    /// Its completion at `finish_ms`.
    fn completion(&self, finish_ms: f64) -> Completion {
        Completion {
            request: self.request,
            first_scheduled_ms: self.first_scheduled_ms,
            first_token_ms: self.first_token_ms,
            finish_ms,
            preemptions: self.preemptions,
            rejected: false,
        }
    }

    /// The key of a decoding sequence in the length multiset: its length less the decode count.
    fn length_key(&self) -> i64 {
        i64::from(self.len_at_join) - self.join_d as i64
    }
}

/// A prefill chunk in the current iteration.
#[derive(Clone, Copy, Debug)]
struct Chunk {
    slot: u32,
    tokens: u32,
}

/// One engine rank's scheduler state.
pub(crate) struct Rank {
    limits: RankLimits,
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
    /// `(decode count, slot, epoch)` at which a decoding request needs its next KV block, in a
    /// ring of `block_size` buckets by decode count: a request's next need is always within
    /// one block of the current count, so the bucket of `d` holds what is due at `d` (and what
    /// is due a whole ring later).
    block_ring: Vec<Vec<(u64, u32, u32)>>,
    /// Scratch for the due entries of a step.
    due: Vec<(u64, u32, u32)>,
    /// Decoding sequences by [`Seq::length_key`] (counts), when tracked.
    lengths: Option<BTreeMap<i64, u32>>,
    /// Fresh blocks taken from the free pool so far (prefix caching: free blocks are reused
    /// oldest first, so a freed block survives as many allocations as there were free blocks
    /// before it).
    allocated: u64,
    /// The iteration in flight.
    chunks: Vec<Chunk>,
    iteration_decodes: u32,
    iteration_decodes_counted: u32,
    last_end_ms: f64,
    /// Preemptions so far.
    pub preemptions: u64,
}

impl Rank {
    /// An idle rank; `track_lengths` keeps the shortest and longest decode for the shape.
    pub fn new(limits: RankLimits, track_lengths: bool) -> Self {
        let block = u64::from(limits.block_size.max(1));
        let total_blocks = limits
            .kv_capacity_tokens
            .map_or(u64::MAX / 4, |t| t / block);
        Rank {
            limits,
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
            block_ring: vec![Vec::new(); limits.block_size.max(1) as usize],
            due: Vec::new(),
            lengths: track_lengths.then(BTreeMap::new),
            allocated: 0,
            chunks: Vec::new(),
            iteration_decodes: 0,
            iteration_decodes_counted: 0,
            last_end_ms: 0.0,
            preemptions: 0,
        }
    }

    /// Requests in the rank (waiting or running).
    pub fn outstanding(&self) -> usize {
        self.waiting.len() + self.prefilling.len() + self.n_decode as usize
    }

    /// Requests running now.
    pub fn running(&self) -> u32 {
        self.n_decode + self.prefilling.len() as u32
    }

    /// Requests waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// KV blocks in use and in all (`None` for an unlimited cache).
    pub fn kv_blocks(&self) -> Option<(u64, u64)> {
        self.limits
            .kv_capacity_tokens
            .map(|_| (self.total_blocks - self.free_blocks, self.total_blocks))
    }

    fn block_u64(&self) -> u64 {
        u64::from(self.limits.block_size.max(1))
    }

    fn push_block(&mut self, key: u64, slot: u32, epoch: u32) {
        let i = (key % self.block_u64()) as usize;
        self.block_ring[i].push((key, slot, epoch));
    }

    fn blocks_for(&self, tokens: u32) -> u64 {
        u64::from(tokens).div_ceil(u64::from(self.limits.block_size.max(1)))
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
            cached_blocks: 0,
            uncached_blocks: 0,
            evict_after: 0,
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

    fn join_decode(&mut self, seq: &Seq) {
        if let Some(lengths) = self.lengths.as_mut() {
            *lengths.entry(seq.length_key()).or_insert(0) += 1;
        }
    }

    fn leave_decode(&mut self, slot: u32) {
        let seq = self.slots[slot as usize];
        let len = u64::from(seq.len_at_join) + (self.d - seq.join_d);
        self.sum_len -= len;
        self.n_decode -= 1;
        if seq.request.counted {
            self.n_decode_counted -= 1;
        }
        if let Some(lengths) = self.lengths.as_mut() {
            let key = seq.length_key();
            if let Some(n) = lengths.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    lengths.remove(&key);
                }
            }
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
            // KV it had computed: a decoding sequence all but its newest token.
            let computed_kv = match seq.phase {
                Phase::Decoding => {
                    (u64::from(seq.len_at_join) + (self.d - seq.join_d)).saturating_sub(1)
                }
                _ => u64::from(seq.computed),
            };
            let block = u64::from(self.limits.block_size.max(1));
            let (cached_blocks, evict_after) = (
                (computed_kv / block).min(u64::from(seq.blocks)) as u32,
                self.allocated + self.free_blocks,
            );
            self.free_blocks += u64::from(seq.blocks);
            let s = &mut self.slots[slot as usize];
            s.blocks = 0;
            s.epoch = s.epoch.wrapping_add(1);
            s.phase = Phase::Waiting;
            s.generated = generated;
            s.computed = 0;
            s.target = s.request.prompt_tokens + generated;
            s.last_token_ms = last_token_ms;
            if self.limits.prefix_caching {
                s.cached_blocks = cached_blocks;
                s.uncached_blocks = seq.blocks - cached_blocks;
                s.evict_after = evict_after;
            }
            s.preemptions += 1;
            self.preemptions += 1;
            self.waiting.push_front(slot);
            return true;
        }
        false
    }

    /// Plans the next iteration at `now_ms` and returns what it runs (an empty shape when there
    /// is nothing to run). Requests that can never fit are appended to `rejected`.
    pub fn schedule(&mut self, now_ms: f64, rejected: &mut Vec<Completion>) -> BatchShape {
        // 1. Decodes: new KV blocks for sequences that fill theirs, preempting when short, in
        // the order (decode count, slot) as a heap would give them.
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        let index = (self.d % self.block_u64()) as usize;
        let bucket = &mut self.block_ring[index];
        let mut k = 0;
        while k < bucket.len() {
            if bucket[k].0 <= self.d {
                due.push(bucket.swap_remove(k));
            } else {
                k += 1;
            }
        }
        // The order only decides who is preempted: with a block for each, any order will do.
        if due.len() as u64 > self.free_blocks {
            due.sort_unstable();
        }
        for &(key, slot, epoch) in &due {
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
                self.allocated += 1;
                self.slots[slot as usize].blocks += 1;
                let next = key + self.block_u64();
                if next < self.finish_d(&seq) {
                    self.push_block(next, slot, epoch);
                }
            }
        }
        self.due = due;
        let mut budget = self
            .limits
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
        while budget > 0 && self.running() < self.limits.max_num_seqs {
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
            // Prefix caching: the blocks of its own that no allocation has reused since it was
            // preempted are hits, whole blocks and at least its last token recomputed (vLLM).
            let hit_blocks = if seq.cached_blocks > 0 {
                let evicted = self
                    .allocated
                    .saturating_sub(seq.evict_after)
                    .saturating_sub(u64::from(seq.uncached_blocks))
                    .min(u64::from(seq.cached_blocks));
                let block = u64::from(self.limits.block_size.max(1));
                (u64::from(seq.cached_blocks) - evicted)
                    .min(u64::from(seq.target.saturating_sub(1)) / block)
            } else {
                0
            };
            self.free_blocks -= need;
            self.allocated += need - hit_blocks.min(need);
            let epoch = seq.epoch;
            let s = &mut self.slots[slot as usize];
            s.computed = (hit_blocks * u64::from(self.limits.block_size.max(1))) as u32;
            s.cached_blocks = 0;
            s.blocks = need as u32;
            s.phase = Phase::Prefilling;
            if s.first_scheduled_ms.is_nan() {
                s.first_scheduled_ms = now_ms;
            }
            let tokens = (s.target - s.computed).min(budget);
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
        self.iteration_decodes = self.n_decode;
        self.iteration_decodes_counted = self.n_decode_counted;
        let running = self.running();
        if running == 0 {
            return BatchShape::default();
        }
        let mut shape = BatchShape {
            decodes: self.n_decode,
            decode_kv_tokens: self.sum_len,
            running,
            ..BatchShape::default()
        };
        if let Some(lengths) = &self.lengths
            && let (Some((&lo, _)), Some((&hi, _))) =
                (lengths.first_key_value(), lengths.last_key_value())
        {
            let d = self.d as i64;
            shape.decode_kv_min = (lo + d).clamp(0, i64::from(u32::MAX)) as u32;
            shape.decode_kv_max = (hi + d).clamp(0, i64::from(u32::MAX)) as u32;
        }
        for c in &self.chunks {
            shape.add_chunk(c.tokens, self.slots[c.slot as usize].computed);
        }
        shape
    }

    /// Completes the iteration that started at `start_ms` and ends at `end_ms`: emits tokens,
    /// records inter-token gaps of counted requests in `itl`, and appends finished requests to
    /// `done`.
    pub fn finish(
        &mut self,
        start_ms: f64,
        end_ms: f64,
        itl: &mut Histogram,
        done: &mut Vec<Completion>,
    ) {
        let dt = end_ms - start_ms;
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
                done.push(seq.completion(end_ms));
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
                done.push(seq.completion(end_ms));
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
            let joined = *s;
            let epoch = joined.epoch;
            self.join_decode(&joined);
            self.n_decode += 1;
            if seq.request.counted {
                self.n_decode_counted += 1;
            }
            self.sum_len += u64::from(len);
            let remaining = u64::from(seq.request.output_tokens - seq.generated);
            self.finish_at
                .push(Reverse((self.d + remaining, slot, epoch)));
            let block = u64::from(self.limits.block_size.max(1));
            let first_need = (block - u64::from(len) % block) % block;
            if first_need < remaining {
                self.push_block(self.d + first_need, slot, epoch);
            }
        }
        self.last_end_ms = end_ms;
    }
}

#[cfg(test)]
impl Rank {
    /// Checks the block accounting between iterations: the blocks held add up to those in
    /// use, and every running request holds exactly what the rules give it (a prefilling one:
    /// its prompt and first token; a decoding one: its sequence and the token it computes next).
    pub(crate) fn check_blocks(&self) -> Result<(), String> {
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
