//! A model's shape, as its Hugging Face `config.json` gives it: what the cost model needs to
//! size communication (hidden size), KV bytes per token (layers, KV heads, head dim), weights
//! (every matrix) and expert routing (experts, experts per token).
//!
//! Pure arithmetic; [`crate::spec`] reads the files.

use serde::{Deserialize, Serialize};

/// The mixture-of-experts part of a model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MoeShape {
    /// Routed experts per MoE layer (`num_experts`, `num_local_experts`).
    pub experts: u32,
    /// Experts each token is routed to (`num_experts_per_tok`, top-k).
    pub experts_per_token: u32,
    /// Intermediate size of one expert (`moe_intermediate_size`; Mixtral: `intermediate_size`).
    pub expert_intermediate_size: u32,
    /// Decoder layers whose MLP is a MoE block (the others are dense).
    pub moe_layers: u32,
}

/// The shape of a decoder-only transformer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    /// `model_type` (`llama`, `qwen3`, `qwen3_moe`, ...).
    pub model_type: String,
    /// Decoder layers (`num_hidden_layers`).
    pub layers: u32,
    /// Hidden size (`hidden_size`).
    pub hidden_size: u32,
    /// Query heads (`num_attention_heads`).
    pub attention_heads: u32,
    /// Key/value heads (`num_key_value_heads`).
    pub kv_heads: u32,
    /// Dimension of one head (`head_dim`, else hidden size over heads).
    pub head_dim: u32,
    /// Intermediate size of a dense MLP (`intermediate_size`).
    pub intermediate_size: u32,
    /// Vocabulary (`vocab_size`).
    pub vocab_size: u32,
    /// True when the LM head shares the embedding's weights (`tie_word_embeddings`).
    pub tied_embeddings: bool,
    /// Bytes per weight and per KV element (2 for bf16/fp16).
    pub dtype_bytes: u32,
    /// The experts, for a MoE model.
    pub moe: Option<MoeShape>,
}

impl Architecture {
    /// Checks every dimension is in the range of real models (which also keeps the byte counts
    /// far from overflow); the message names the field with `config.json`'s name.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let limits: [(&str, u32, u32); 8] = [
            ("num_hidden_layers", self.layers, 10_000),
            ("hidden_size", self.hidden_size, 1_000_000),
            ("num_attention_heads", self.attention_heads, 100_000),
            ("num_key_value_heads", self.kv_heads, 100_000),
            ("head_dim", self.head_dim, 65_536),
            ("intermediate_size", self.intermediate_size, 10_000_000),
            ("vocab_size", self.vocab_size, 100_000_000),
            ("dtype_bytes", self.dtype_bytes, 8),
        ];
        for (name, value, max) in limits {
            if value == 0 || value > max {
                return Err((name, format!("must be from 1 to {max}, got {value}")));
            }
        }
        if let Some(m) = self.moe {
            if m.experts > 1_000_000 {
                return Err((
                    "num_experts",
                    format!("{} is beyond any real model (at most 1000000)", m.experts),
                ));
            }
            if m.experts_per_token == 0 || m.experts_per_token > m.experts {
                return Err((
                    "num_experts_per_tok",
                    format!(
                        "must be from 1 to num_experts ({}), got {}",
                        m.experts, m.experts_per_token
                    ),
                ));
            }
            if m.expert_intermediate_size > 10_000_000 {
                return Err((
                    "moe_intermediate_size",
                    format!("{} is beyond any real model", m.expert_intermediate_size),
                ));
            }
        }
        Ok(())
    }

    /// Dimension of all query heads together.
    pub fn q_dim(&self) -> u64 {
        u64::from(self.attention_heads) * u64::from(self.head_dim)
    }

    /// Dimension of all key (or value) heads together.
    pub fn kv_dim(&self) -> u64 {
        u64::from(self.kv_heads) * u64::from(self.head_dim)
    }

    /// KV heads one of `tp` tensor-parallel ranks holds: the heads split over the ranks, and
    /// replicated when there are more ranks than heads (vLLM's rule).
    pub fn kv_heads_per_rank(&self, tp: u32) -> u32 {
        self.kv_heads.div_ceil(tp.max(1)).max(1)
    }

    /// Bytes one token's K and V take on one rank: `2 x layers x KV heads per rank x head dim x
    /// dtype bytes`.
    pub fn kv_bytes_per_token(&self, tp: u32) -> u64 {
        (2 * u64::from(self.layers))
            .saturating_mul(u64::from(self.kv_heads_per_rank(tp)))
            .saturating_mul(u64::from(self.head_dim))
            .saturating_mul(u64::from(self.dtype_bytes))
    }

    /// Parameters of one decoder layer's attention (QKV and output projections, two norms and,
    /// for Qwen3, the q/k norms).
    fn attention_parameters(&self) -> f64 {
        let h = f64::from(self.hidden_size);
        let (q, kv) = (self.q_dim() as f64, self.kv_dim() as f64);
        let qk_norm = if self.model_type.starts_with("qwen3") {
            2.0 * f64::from(self.head_dim)
        } else {
            0.0
        };
        h * (q + 2.0 * kv) + q * h + 2.0 * h + qk_norm
    }

    /// Parameters of the whole model.
    pub fn parameters(&self) -> u64 {
        (self.weight_bytes(1, 1) / f64::from(self.dtype_bytes.max(1))).round() as u64
    }

    /// Bytes of weights one rank holds with tensor-parallel degree `tp` and expert-parallel
    /// degree `ep`: attention and dense MLPs split over `tp`, routed experts over `ep` (and the
    /// rest of their split over `tp` when `ep` is smaller), embedding and LM head split over
    /// the vocabulary, norms and routers replicated.
    pub fn weight_bytes_per_rank(&self, tp: u32, ep: u32) -> u64 {
        // Saturates for absurd shapes rather than wrapping.
        self.weight_bytes(tp, ep) as u64
    }

    /// [`Architecture::weight_bytes_per_rank`] in floating point (whole numbers: every count
    /// here is far below 2^53 for real models).
    fn weight_bytes(&self, tp: u32, ep: u32) -> f64 {
        let (tp, ep) = (f64::from(tp.max(1)), f64::from(ep.max(1)));
        let h = f64::from(self.hidden_size);
        let layers = f64::from(self.layers);
        let embedding = (f64::from(self.vocab_size) / tp).ceil() * h;
        let lm_head = if self.tied_embeddings { 0.0 } else { embedding };
        let attention = (self.attention_parameters() / tp).ceil();
        let dense_mlp = 3.0 * h * (f64::from(self.intermediate_size) / tp).ceil();
        let (moe_layers, per_moe_layer) = match self.moe {
            Some(m) => {
                let experts = f64::from(m.experts);
                let one_expert = 3.0 * h * f64::from(m.expert_intermediate_size);
                // Experts split over ep ranks; within an expert, over the tp ranks ep leaves.
                let split = (tp / ep).floor().max(1.0);
                let routed = (experts / ep).ceil() * (one_expert / split).ceil();
                let router = h * experts;
                (f64::from(m.moe_layers.min(self.layers)), routed + router)
            }
            None => (0.0, 0.0),
        };
        let dense_layers = layers - moe_layers;
        let params = embedding
            + lm_head
            + layers * attention
            + dense_layers * dense_mlp
            + moe_layers * per_moe_layer
            + h;
        params * f64::from(self.dtype_bytes)
    }

    /// Peak activation memory of vLLM's profiling run, bytes, on one rank: `tokens` tokens
    /// through one decoder layer (hidden states in and out, QKV, the MLP's gate-up and its
    /// activation) and the sampler's logits for `sequences` sequences in fp32 (logits,
    /// probabilities and their sorted copy). An estimate; see `docs/formats.md`.
    pub fn activation_bytes(&self, tokens: u32, sequences: u32, tp: u32) -> u64 {
        let tp = f64::from(tp.max(1));
        let t = f64::from(tokens);
        let h = f64::from(self.hidden_size);
        let inter = (match self.moe {
            Some(m) => f64::from(m.expert_intermediate_size) * f64::from(m.experts_per_token),
            None => f64::from(self.intermediate_size),
        } / tp)
            .ceil();
        let qkv = ((self.q_dim() + 2 * self.kv_dim()) as f64 / tp).ceil();
        let per_token = 4.0 * h + qkv + 3.0 * inter;
        let layer = t * per_token * f64::from(self.dtype_bytes);
        let sampler = 3.0 * f64::from(sequences) * f64::from(self.vocab_size) * 4.0;
        (layer + sampler) as u64
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Llama-3.1-8B's `config.json` (Hugging Face).
    pub(crate) fn llama_8b() -> Architecture {
        Architecture {
            model_type: "llama".into(),
            layers: 32,
            hidden_size: 4096,
            attention_heads: 32,
            kv_heads: 8,
            head_dim: 128,
            intermediate_size: 14336,
            vocab_size: 128256,
            tied_embeddings: false,
            dtype_bytes: 2,
            moe: None,
        }
    }

    /// Qwen3-30B-A3B's `config.json`.
    pub(crate) fn qwen3_30b_a3b() -> Architecture {
        Architecture {
            model_type: "qwen3_moe".into(),
            layers: 48,
            hidden_size: 2048,
            attention_heads: 32,
            kv_heads: 4,
            head_dim: 128,
            intermediate_size: 6144,
            vocab_size: 151936,
            tied_embeddings: false,
            dtype_bytes: 2,
            moe: Some(MoeShape {
                experts: 128,
                experts_per_token: 8,
                expert_intermediate_size: 768,
                moe_layers: 48,
            }),
        }
    }

    #[test]
    fn llama_8b_has_eight_billion_parameters_and_128_kib_of_kv_per_token() {
        let a = llama_8b();
        // 8,030,261,248 parameters (Meta's model card: 8.03 B).
        assert_eq!(a.parameters(), 8_030_261_248);
        assert_eq!(a.kv_bytes_per_token(1), 128 * 1024);
        // Two ranks hold half the KV heads each.
        assert_eq!(a.kv_bytes_per_token(2), 64 * 1024);
        // Sixteen ranks of eight heads: each head replicated on two ranks.
        assert_eq!(a.kv_heads_per_rank(16), 1);
    }

    #[test]
    fn qwen3_moe_has_thirty_billion_parameters_and_experts_split_over_ep() {
        let a = qwen3_30b_a3b();
        let p = a.parameters() as f64 / 1e9;
        // Qwen's model card: 30.5 B parameters in all.
        assert!((p - 30.5).abs() < 0.2, "{p}");
        let one = a.weight_bytes_per_rank(1, 1) as f64;
        let half = a.weight_bytes_per_rank(1, 2) as f64;
        // The experts are ~95% of the weights: two EP ranks hold a little over half each.
        assert!(half / one > 0.5 && half / one < 0.55, "{}", half / one);
    }
}
