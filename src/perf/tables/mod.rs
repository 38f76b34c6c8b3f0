//! The `tables` cost model: an iteration's time composed from a profiler's measured layer
//! tables, as the engine runs the model, with the communication its parallelism adds.
//!
//! The tables are LLMServingSim's profiler's (`attention.csv`, `dense.csv`, `per_sequence.csv`,
//! `moe.csv`, `skew_fit.csv`): one decoder layer's kernels timed on one GPU at the shapes a
//! tensor-parallel rank computes, without any communication. An iteration of a rank that
//! computes `T` tokens (prefill chunks and one per decode) for `S` sequences costs:
//!
//! ```text
//! embedding(T) + final_layernorm(T)                                   once
//! + layers x [ 2 x layernorm(T) + qkv_proj(T) + 2 x qk_norm(T) + rotary_emb(T) + o_proj(T)
//!              + attention(batch) ]                                   every layer
//! + dense layers x [ gate_up_proj(T) + act_fn(T) + down_proj(T) ]     dense MLP layers
//! + MoE layers x moe(tokens, activated experts)                       MoE layers
//! + lm_head(S) + sampler(S)                                           once
//! + communication:
//!     TP > 1: an all-reduce of T x hidden after the embedding, every o_proj, every dense
//!             down_proj and every MoE block, and a gather of the logits (S x vocab / TP)
//!     EP over data-parallel ranks: an all-gather of every rank's hidden states and router
//!             logits before each MoE block and a reduce-scatter after it
//! ```
//!
//! Layers are read by name from `dense.csv`: any layer it times other than `embedding` and
//! `final_layernorm` runs once per decoder layer (the two RMS norms and Qwen3's q and k norms
//! twice), `gate_up_proj`, `act_fn` and `down_proj` only in the dense-MLP layers. Attention is
//! read off the measured grid (`attention`) at the batch's total chunk, the prefix that gives
//! the chunks' causal work, the decode count and their mean KV length, corrected for the spread
//! of the decodes' lengths where the profiler measured it ([`skew`]). Data-parallel ranks of a
//! MoE model step together ([`TablesModel::iteration_us`]).
//!
//! Where `wva` differs from LLMServingSim's composition, `docs/formats.md` says why; in short:
//! several chunks are read at the prefix that gives their causal work (LLMServingSim sums the
//! prefixes, as if they were one long chunk); the q/k norms count twice (they are two calls);
//! the embedding's all-reduce and the logits gather are counted; experts are activated as
//! random routing activates them (`moe`).

mod attention;
mod curve;
mod moe;
pub mod skew;

use super::arch::Architecture;
use super::comm::Interconnect;
use super::cost::BatchShape;
use attention::AttentionGrid;
use curve::Curve;
use moe::{MoeTable, expected_activated};
use skew::{SkewAlpha, SkewFit};

/// Layers timed once per iteration.
const ONCE: [&str; 2] = ["embedding", "final_layernorm"];
/// Layers of a dense MLP (absent from MoE layers).
const MLP: [&str; 3] = ["gate_up_proj", "act_fn", "down_proj"];
/// Layers called twice per decoder layer.
const TWICE: [&str; 2] = ["layernorm", "qk_norm"];
/// Per-sequence layers.
const PER_SEQUENCE: [&str; 2] = ["lm_head", "sampler"];

/// The tables as read: every time in µs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableData {
    /// Where they come from (a folder), for messages and notes.
    pub source: String,
    /// `dense.csv`: per layer name, `(tokens, time)` points.
    pub dense: Vec<(String, Vec<(f64, f64)>)>,
    /// `per_sequence.csv`: per layer name, `(sequences, time)` points.
    pub per_sequence: Vec<(String, Vec<(f64, f64)>)>,
    /// `attention.csv`: `[prefill_chunk, kv_prefill, n_decode, kv_decode, time]` rows.
    pub attention: Vec<[f64; 5]>,
    /// `moe.csv`: `[tokens, activated_experts, time]` rows (empty for a dense model).
    pub moe: Vec<[f64; 3]>,
    /// `skew_fit.csv` with `meta.yaml`'s axes, when the profiler measured the skew.
    pub skew: Option<SkewFit>,
}

/// How a replica's GPUs share the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parallelism {
    /// Tensor-parallel degree (GPUs sharing each layer).
    pub tp: u32,
    /// Expert-parallel degree (GPUs sharing the experts of a MoE layer).
    pub ep: u32,
    /// Data-parallel ranks that step together (a MoE model's attention-DP group).
    pub dp: u32,
}

impl Parallelism {
    /// One GPU.
    pub const SINGLE: Parallelism = Parallelism {
        tp: 1,
        ep: 1,
        dp: 1,
    };

    /// GPUs of one replica.
    pub fn gpus(&self) -> u32 {
        self.tp * self.dp
    }
}

/// Where one iteration's time goes, µs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Breakdown {
    /// Dense layers (norms, projections, MLP, embedding).
    pub dense_us: f64,
    /// Attention, all layers.
    pub attention_us: f64,
    /// MoE blocks' compute, all layers.
    pub moe_us: f64,
    /// LM head and sampler.
    pub per_sequence_us: f64,
    /// Collectives (all-reduce, all-gather, reduce-scatter).
    pub communication_us: f64,
}

impl Breakdown {
    /// The whole iteration.
    pub fn total_us(&self) -> f64 {
        self.dense_us
            + self.attention_us
            + self.moe_us
            + self.per_sequence_us
            + self.communication_us
    }
}

/// The `tables` cost model of one model on one GPU type with one parallelism.
pub struct TablesModel {
    source: String,
    arch: Architecture,
    parallel: Parallelism,
    interconnect: Option<Interconnect>,
    /// Per decoder layer: curve and calls.
    every_layer: Vec<(Curve, f64)>,
    /// Dense-MLP layers only.
    mlp: Vec<Curve>,
    once: Vec<Curve>,
    per_sequence: Vec<Curve>,
    attention: AttentionGrid,
    skew: Option<SkewAlpha>,
    moe: Option<MoeTable>,
    /// Dense compute, MoE blocks and their communication by a rank's (padded) token count,
    /// precomputed up to the tables' size.
    common_us: Vec<f64>,
    /// LM head, sampler and logits gather by sequence count, precomputed.
    per_sequence_us: Vec<f64>,
    notes: Vec<String>,
}

impl TablesModel {
    /// The model of `data` for `arch` split as `parallel` over GPUs joined by `interconnect`.
    ///
    /// # Errors
    /// When a table the model needs is missing or the parallelism does not fit the model (the
    /// message says which).
    pub fn new(
        data: &TableData,
        arch: Architecture,
        parallel: Parallelism,
        interconnect: Option<Interconnect>,
    ) -> Result<Self, String> {
        let mut notes = Vec::new();
        if parallel.tp == 0 || parallel.ep == 0 || parallel.dp == 0 {
            return Err("tp, ep and dp must be at least 1".into());
        }
        let moe_layers = arch.moe.map_or(0, |m| m.moe_layers.min(arch.layers));
        let dense_layers = arch.layers - moe_layers;
        if parallel.dp > 1 && arch.moe.is_none() {
            return Err(format!(
                "dp {}: data-parallel ranks step together only for a MoE model; a dense model's data-parallel ranks are independent replicas (give replicas instead)",
                parallel.dp
            ));
        }
        if let Some(m) = arch.moe {
            if parallel.ep > 1 && m.experts % parallel.ep != 0 {
                return Err(format!(
                    "ep {} does not divide the model's {} experts",
                    parallel.ep, m.experts
                ));
            }
            // vLLM's expert parallelism spans every GPU of the replica, or none.
            if parallel.ep != 1 && parallel.ep != parallel.tp * parallel.dp {
                return Err(format!(
                    "ep {}: vLLM splits the experts over all the replica's GPUs (tp x dp = {}) or none (ep 1)",
                    parallel.ep,
                    parallel.tp * parallel.dp
                ));
            }
        } else if parallel.ep > 1 {
            return Err(format!(
                "ep {}: expert parallelism needs a MoE model ({} has no experts)",
                parallel.ep, arch.model_type
            ));
        }
        let communicates = parallel.tp > 1 || (arch.moe.is_some() && parallel.ep > parallel.tp);
        if communicates && interconnect.is_none() {
            return Err(format!(
                "TP {} / EP {} / DP {} needs the interconnect between the GPUs (bandwidth_gb_s, latency_us)",
                parallel.tp, parallel.ep, parallel.dp
            ));
        }

        if data.dense.len() > 256 || data.per_sequence.len() > 256 {
            return Err(format!(
                "{}: {} dense and {} per-sequence layer names: more than any model has",
                data.source,
                data.dense.len(),
                data.per_sequence.len()
            ));
        }
        let mut every_layer = Vec::new();
        let mut mlp = Vec::new();
        let mut once = Vec::new();
        let mut dense_max: f64 = 1.0;
        for (name, points) in &data.dense {
            let Some(curve) = Curve::new(points.clone()) else {
                continue;
            };
            dense_max = dense_max.max(curve.max_x());
            if ONCE.contains(&name.as_str()) {
                once.push(curve);
            } else if MLP.contains(&name.as_str()) {
                mlp.push(curve);
            } else {
                let calls = if TWICE.contains(&name.as_str()) {
                    2.0
                } else {
                    1.0
                };
                every_layer.push((curve, calls));
            }
        }
        if every_layer.is_empty() {
            return Err(format!(
                "{}: dense.csv times no decoder-layer operation (layernorm, qkv_proj, o_proj, ...)",
                data.source
            ));
        }
        if dense_layers > 0 && mlp.len() < MLP.len() {
            return Err(format!(
                "{}: dense.csv lacks the MLP layers ({}) the model's {dense_layers} dense layers need",
                data.source,
                MLP.join(", ")
            ));
        }
        let mut per_sequence = Vec::new();
        let mut seq_max: f64 = 1.0;
        for (name, points) in &data.per_sequence {
            if let Some(curve) = Curve::new(points.clone()) {
                if !PER_SEQUENCE.contains(&name.as_str()) {
                    notes.push(format!(
                        "per-sequence layer `{name}` counted once per iteration"
                    ));
                }
                seq_max = seq_max.max(curve.max_x());
                per_sequence.push(curve);
            }
        }
        if per_sequence.is_empty() {
            return Err(format!(
                "{}: per_sequence.csv has no rows (lm_head, sampler)",
                data.source
            ));
        }
        let attention = AttentionGrid::new(&data.attention)
            .map_err(|e| format!("{}: attention.csv: {e}", data.source))?;
        let moe = match arch.moe {
            Some(_) => Some(MoeTable::new(&data.moe).map_err(|_| {
                format!(
                    "{}: the model has experts but there is no moe.csv (tokens, activated_experts, time_us)",
                    data.source
                )
            })?),
            None => None,
        };
        if arch.moe.is_some() && parallel.ep == 1 && parallel.tp > 1 {
            notes.push(format!(
                "experts split over TP {} without EP: the MoE block is taken as the one-GPU table over {}",
                parallel.tp, parallel.tp
            ));
        }
        let mut model = TablesModel {
            source: data.source.clone(),
            arch,
            parallel,
            interconnect,
            every_layer,
            mlp,
            once,
            per_sequence,
            attention,
            skew: data.skew.as_ref().map(SkewAlpha::new),
            moe,
            common_us: Vec::new(),
            per_sequence_us: Vec::new(),
            notes,
        };
        // Precomputed up to the tables' size (at most 65,536 tokens; beyond, computed directly).
        model.common_us = (0..=dense_max.min(65_536.0) as usize)
            .map(|t| model.common_direct(t as f64))
            .collect();
        model.per_sequence_us = (0..=seq_max.min(65_536.0) as usize)
            .map(|s| {
                let (compute, comm) = model.per_sequence_parts(s as f64);
                compute + comm
            })
            .collect();
        Ok(model)
    }

    /// Data-parallel ranks that step together.
    pub fn lockstep_ranks(&self) -> u32 {
        self.parallel.dp
    }

    /// True when the skew correction is in use.
    pub fn uses_skew(&self) -> bool {
        self.skew.is_some()
    }

    /// The model's shape.
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    /// The parallelism.
    pub fn parallelism(&self) -> Parallelism {
        self.parallel
    }

    /// The interconnect, when the parallelism communicates.
    pub fn interconnect(&self) -> Option<Interconnect> {
        self.interconnect
    }

    /// Where the tables come from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What the model assumed beyond the tables (for reports).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The largest prefill chunk the attention grid measured, tokens.
    pub fn largest_chunk_tokens(&self) -> f64 {
        self.attention.largest_chunk()
    }

    /// Attention grid rows.
    pub fn attention_points(&self) -> usize {
        self.attention.points()
    }

    /// One line saying what this is.
    pub fn describe(&self) -> String {
        format!(
            "tables {} ({} layers, TP {}, EP {}, DP {})",
            self.source, self.arch.layers, self.parallel.tp, self.parallel.ep, self.parallel.dp
        )
    }

    /// True when `other` models the same tables, model and deployment.
    pub fn same_as(&self, other: &TablesModel) -> bool {
        self.source == other.source
            && self.arch == other.arch
            && self.parallel == other.parallel
            && self.interconnect == other.interconnect
    }

    fn hidden_bytes(&self, tokens: f64) -> f64 {
        tokens * f64::from(self.arch.hidden_size) * f64::from(self.arch.dtype_bytes)
    }

    fn link(&self) -> Interconnect {
        self.interconnect.unwrap_or(Interconnect {
            bandwidth_gb_s: f64::INFINITY,
            latency_us: 0.0,
        })
    }

    /// Dense compute of `tokens` tokens, and the tensor-parallel all-reduces after the
    /// embedding, every `o_proj` and every dense `down_proj`, µs.
    fn dense_parts(&self, tokens: f64) -> (f64, f64) {
        let layers = f64::from(self.arch.layers);
        let moe_layers = f64::from(
            self.arch
                .moe
                .map_or(0, |m| m.moe_layers.min(self.arch.layers)),
        );
        let dense_layers = layers - moe_layers;
        let compute = self.once.iter().map(|c| c.at(tokens)).sum::<f64>()
            + layers
                * self
                    .every_layer
                    .iter()
                    .map(|(c, calls)| calls * c.at(tokens))
                    .sum::<f64>()
            + dense_layers * self.mlp.iter().map(|c| c.at(tokens)).sum::<f64>();
        let all_reduces = 1.0 + layers + dense_layers;
        let comm = if self.parallel.tp > 1 {
            all_reduces
                * self
                    .link()
                    .all_reduce_us(self.hidden_bytes(tokens), self.parallel.tp)
        } else {
            0.0
        };
        (compute, comm)
    }

    /// LM head and sampler for `sequences`, and the logits gather, µs.
    fn per_sequence_parts(&self, sequences: f64) -> (f64, f64) {
        if sequences <= 0.0 {
            return (0.0, 0.0);
        }
        let compute = self.per_sequence.iter().map(|c| c.at(sequences)).sum();
        let comm = if self.parallel.tp > 1 {
            let shard = f64::from(self.arch.vocab_size.div_ceil(self.parallel.tp));
            self.link().all_gather_us(
                sequences * shard * f64::from(self.arch.dtype_bytes),
                self.parallel.tp,
            )
        } else {
            0.0
        };
        (compute, comm)
    }

    /// The MoE blocks of all layers for `tokens` tokens per rank: compute and communication, µs.
    fn moe_parts(&self, tokens: f64) -> (f64, f64) {
        let (Some(shape), Some(table)) = (self.arch.moe, &self.moe) else {
            return (0.0, 0.0);
        };
        if tokens <= 0.0 {
            return (0.0, 0.0);
        }
        let Parallelism { tp, ep, .. } = self.parallel;
        // Data-parallel ranks in the expert-parallel group gather their tokens.
        let gathered_ranks = (ep / tp).max(1);
        let moe_tokens = f64::from(gathered_ranks) * tokens;
        let activated = expected_activated(moe_tokens, shape.experts, shape.experts_per_token, ep);
        let mut compute = table.at(moe_tokens / f64::from(ep), activated);
        if ep == 1 && tp > 1 {
            compute /= f64::from(tp);
        }
        let link = self.link();
        let mut comm = 0.0;
        if gathered_ranks > 1 {
            let dispatch = tokens
                * f64::from(self.arch.hidden_size + shape.experts)
                * f64::from(self.arch.dtype_bytes);
            comm += link.all_gather_us(dispatch, gathered_ranks)
                + link.reduce_scatter_us(self.hidden_bytes(moe_tokens), gathered_ranks);
        }
        if tp > 1 {
            comm += link.all_reduce_us(self.hidden_bytes(tokens), tp);
        }
        let layers = f64::from(shape.moe_layers.min(self.arch.layers));
        (layers * compute, layers * comm)
    }

    /// One layer's attention for the batch of one rank, µs.
    fn attention_us(&self, s: &BatchShape) -> f64 {
        if s.is_empty() {
            return 0.0;
        }
        let pc = s.prefill_tokens as f64;
        // The single chunk of pc tokens with the same causal work as the batch's chunks.
        let kp = if pc > 0.0 {
            (s.prefill_attention_pairs / pc - (pc + 1.0) / 2.0).max(0.0)
        } else {
            0.0
        };
        let nd = f64::from(s.decodes);
        let mean = if s.decodes > 0 {
            s.decode_kv_tokens as f64 / nd
        } else {
            0.0
        };
        let t_mean = self.attention.at(pc, kp, nd, mean);
        let (min, max) = (f64::from(s.decode_kv_min), f64::from(s.decode_kv_max));
        match &self.skew {
            Some(skew) if s.decodes > 1 && max > mean => {
                let t_max = self.attention.at(pc, kp, nd, max);
                if t_max <= t_mean {
                    return t_mean;
                }
                let alpha = skew.alpha(pc, kp, nd, mean, min, max);
                (t_mean + alpha * (t_max - t_mean)).max(0.0)
            }
            _ => t_mean,
        }
    }

    /// Dense layers, MoE blocks and their communication for `tokens` tokens per rank, µs.
    fn common_direct(&self, tokens: f64) -> f64 {
        let (dense, dense_comm) = self.dense_parts(tokens);
        let (moe, moe_comm) = self.moe_parts(tokens);
        dense + dense_comm + moe + moe_comm
    }

    fn common_at(&self, tokens: u64) -> f64 {
        match self.common_us.get(tokens as usize) {
            Some(&t) => t,
            None => self.common_direct(tokens as f64),
        }
    }

    fn per_sequence_at(&self, sequences: u32) -> f64 {
        match self.per_sequence_us.get(sequences as usize) {
            Some(&t) => t,
            None => {
                let (compute, comm) = self.per_sequence_parts(f64::from(sequences));
                compute + comm
            }
        }
    }

    /// Time of one iteration, µs, given what each rank runs. The ranks of a data-parallel group
    /// step together: each pads its tokens to the group's largest (vLLM pads every rank's batch
    /// so that their collectives match; an idle rank runs a dummy batch), so dense layers and
    /// MoE blocks run at the padded count, while attention, the LM head and the sampler run on
    /// each rank's own requests; the iteration lasts as long as the slowest rank.
    pub fn iteration_us(&self, ranks: &[BatchShape]) -> f64 {
        let padded = ranks.iter().map(BatchShape::tokens).max().unwrap_or(0);
        if padded == 0 {
            return 0.0;
        }
        let layers = f64::from(self.arch.layers);
        let own = ranks
            .iter()
            .map(|s| layers * self.attention_us(s) + self.per_sequence_at(s.sequences()))
            .fold(0.0, f64::max);
        self.common_at(padded) + own
    }

    /// Where the time of one rank's iteration goes (no data-parallel padding).
    pub fn breakdown(&self, shape: &BatchShape) -> Breakdown {
        let tokens = shape.tokens() as f64;
        if tokens == 0.0 {
            return Breakdown::default();
        }
        let (dense, dense_comm) = self.dense_parts(tokens);
        let (per_sequence, logits_comm) = self.per_sequence_parts(f64::from(shape.sequences()));
        let (moe, moe_comm) = self.moe_parts(tokens);
        Breakdown {
            dense_us: dense,
            attention_us: f64::from(self.arch.layers) * self.attention_us(shape),
            moe_us: moe,
            per_sequence_us: per_sequence,
            communication_us: dense_comm + logits_comm + moe_comm,
        }
    }
}

#[cfg(test)]
mod tests;
