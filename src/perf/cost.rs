//! The cost seam: how long one engine iteration takes for the batch it runs.
//!
//! The simulator asks one question of a profile, whatever its kind: given what each engine
//! rank schedules in this iteration (prefill chunks with their KV prefixes, decodes with their
//! KV lengths), how long until the tokens come out? [`CostModel`] answers it:
//! - [`CostModel::Linear`]: the published analytic models (`wva-v1/v2/v3`), whose iteration
//!   cost is a line in tokens and KV reads ([`PerfParams::iteration_ms`]), unchanged;
//! - [`CostModel::Tables`]: the profiler's measured tables composed layer by layer, with the
//!   parallelism's communication ([`super::tables`]).
//!
//! A batch is described by [`BatchShape`], a handful of sums the engine keeps as it schedules,
//! so building one costs nothing per request. The analytic queue needs a line, not a table: a
//! tables model gives it one through [`super::surrogate`].

use super::tables::TablesModel;
use super::{IterationWork, PerfParams};
use std::fmt;
use std::sync::Arc;

/// What one engine rank runs in one iteration: the sums the cost models read.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BatchShape {
    /// Prompt tokens prefilled in this iteration, all chunks together.
    pub prefill_tokens: u64,
    /// Prefill chunks (requests prefilling in this iteration).
    pub prefill_chunks: u32,
    /// KV tokens the chunks' attention reads: each chunk's prefix and the chunk itself.
    pub prefill_kv_tokens: u64,
    /// Attention work of the chunks, in query-key pairs: a chunk of `q` tokens after a prefix
    /// of `k` computes `q * (k + (q + 1) / 2)` of them (causal).
    pub prefill_attention_pairs: f64,
    /// Decoding requests (one token each).
    pub decodes: u32,
    /// KV tokens the decodes read: the sum of their sequence lengths.
    pub decode_kv_tokens: u64,
    /// Shortest decoding sequence, tokens (0 without decodes).
    pub decode_kv_min: u32,
    /// Longest decoding sequence, tokens (0 without decodes).
    pub decode_kv_max: u32,
    /// Requests in the running batch.
    pub running: u32,
}

impl BatchShape {
    /// `n` decodes, each reading `kv_tokens` of KV (no prefill).
    pub fn decodes_at(n: u32, kv_tokens: u32) -> Self {
        BatchShape {
            decodes: n,
            decode_kv_tokens: u64::from(n) * u64::from(kv_tokens),
            decode_kv_min: kv_tokens,
            decode_kv_max: kv_tokens,
            running: n,
            ..BatchShape::default()
        }
    }

    /// Tokens the iteration computes: the prefill chunks and one per decode.
    pub fn tokens(&self) -> u64 {
        self.prefill_tokens + u64::from(self.decodes)
    }

    /// Sequences that sample a token or whose logits are computed: one per decode and one per
    /// prefill chunk (LLMServingSim's and vLLM's count for the LM head and the sampler).
    pub fn sequences(&self) -> u32 {
        self.decodes + self.prefill_chunks
    }

    /// True when the rank has nothing to run.
    pub fn is_empty(&self) -> bool {
        self.tokens() == 0
    }

    /// Adds a prefill chunk of `tokens` after a prefix of `prefix_tokens`.
    pub fn add_chunk(&mut self, tokens: u32, prefix_tokens: u32) {
        let (q, k) = (u64::from(tokens), u64::from(prefix_tokens));
        self.prefill_tokens += q;
        self.prefill_chunks += 1;
        self.prefill_kv_tokens += k + q;
        self.prefill_attention_pairs += q as f64 * (k as f64 + (q as f64 + 1.0) / 2.0);
    }

    /// The linear models' view of the batch.
    pub fn work(&self) -> IterationWork {
        IterationWork {
            prefill_tokens: self.prefill_tokens,
            decode_tokens: self.decodes,
            kv_tokens_read: self.decode_kv_tokens + self.prefill_kv_tokens,
            running_requests: self.running,
        }
    }
}

/// The per-iteration cost model of a profile.
#[derive(Clone)]
pub enum CostModel {
    /// One of the published linear models.
    Linear(PerfParams),
    /// Measured layer tables composed as the engine runs them.
    Tables(Arc<TablesModel>),
}

impl CostModel {
    /// Engine ranks that step together (data-parallel ranks of a MoE model); 1 otherwise.
    pub fn ranks(&self) -> u32 {
        match self {
            CostModel::Linear(_) => 1,
            CostModel::Tables(t) => t.lockstep_ranks(),
        }
    }

    /// True when the model reads the shortest and longest decode (the tables' skew
    /// correction), so the engine must track them.
    pub fn needs_decode_extremes(&self) -> bool {
        matches!(self, CostModel::Tables(t) if t.uses_skew())
    }

    /// Time of one iteration, ms, given what each rank runs (one shape per rank of
    /// [`CostModel::ranks`]; ranks with nothing to run pass an empty shape). Ranks that step
    /// together finish together: the iteration lasts as long as the slowest.
    pub fn iteration_ms(&self, ranks: &[BatchShape]) -> f64 {
        match self {
            CostModel::Linear(p) => ranks
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| p.iteration_ms(&s.work()))
                .fold(0.0, f64::max),
            CostModel::Tables(t) => t.iteration_us(ranks) / 1000.0,
        }
    }

    /// The linear parameters, for a linear model.
    pub fn linear(&self) -> Option<&PerfParams> {
        match self {
            CostModel::Linear(p) => Some(p),
            CostModel::Tables(_) => None,
        }
    }

    /// The name of the model kind as profiles write it (`wva-v2`, `tables`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            CostModel::Linear(p) => p.kind().name(),
            CostModel::Tables(_) => "tables",
        }
    }
}

impl From<PerfParams> for CostModel {
    fn from(p: PerfParams) -> Self {
        CostModel::Linear(p)
    }
}

impl PartialEq for CostModel {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (CostModel::Linear(a), CostModel::Linear(b)) => a == b,
            (CostModel::Tables(a), CostModel::Tables(b)) => Arc::ptr_eq(a, b) || a.same_as(b),
            _ => false,
        }
    }
}

impl fmt::Debug for CostModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CostModel::Linear(p) => f.debug_tuple("Linear").field(p).finish(),
            CostModel::Tables(t) => f.debug_tuple("Tables").field(&t.describe()).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::Gen2Params;

    #[test]
    fn linear_cost_is_the_published_line_on_the_batch_sums() {
        let p = PerfParams::V2(Gen2Params {
            alpha_ms: 10.0,
            beta_ms_per_token: 0.1,
            gamma_ms_per_kv_token: 0.001,
        });
        let mut shape = BatchShape {
            decodes: 20,
            decode_kv_tokens: 4000,
            running: 21,
            ..BatchShape::default()
        };
        shape.add_chunk(100, 900);
        let work = shape.work();
        assert_eq!(work.prefill_tokens, 100);
        assert_eq!(work.kv_tokens_read, 5000);
        let cost = CostModel::Linear(p);
        assert_eq!(cost.iteration_ms(&[shape]), p.iteration_ms(&work));
        assert!((cost.iteration_ms(&[shape]) - 27.0).abs() < 1e-12);
        // Ranks stepping together last as long as the slowest; an idle rank costs nothing.
        let idle = BatchShape::default();
        assert_eq!(
            cost.iteration_ms(&[idle, shape]),
            cost.iteration_ms(&[shape])
        );
        assert_eq!(cost.ranks(), 1);
    }

    #[test]
    fn attention_pairs_count_the_causal_work_of_each_chunk() {
        let mut shape = BatchShape::default();
        shape.add_chunk(4, 0);
        assert_eq!(shape.prefill_attention_pairs, 10.0); // 1 + 2 + 3 + 4
        shape.add_chunk(2, 3);
        assert_eq!(shape.prefill_attention_pairs, 10.0 + 9.0); // 4 + 5
        assert_eq!(shape.prefill_kv_tokens, 4 + 5);
        assert_eq!(shape.sequences(), 2);
        assert_eq!(shape.tokens(), 6);
    }
}
