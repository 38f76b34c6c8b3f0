//! Unit tests of the tables model on small synthetic tables whose composition can be summed
//! by hand.

use super::*;
use crate::perf::arch::MoeShape;

/// A dense model of 2 layers whose every dense layer takes `1 + tokens/100` µs.
fn arch(moe: Option<MoeShape>) -> Architecture {
    Architecture {
        model_type: "qwen3".into(),
        layers: 2,
        hidden_size: 1000,
        attention_heads: 8,
        kv_heads: 2,
        head_dim: 125,
        intermediate_size: 4000,
        vocab_size: 10_000,
        tied_embeddings: false,
        dtype_bytes: 2,
        moe,
    }
}

fn line(per_100: f64) -> Vec<(f64, f64)> {
    [1.0, 100.0, 1000.0]
        .iter()
        .map(|&t| (t, 1.0 + per_100 * t / 100.0))
        .collect()
}

fn data(with_mlp: bool) -> TableData {
    let mut dense: Vec<(String, Vec<(f64, f64)>)> = [
        "embedding",
        "final_layernorm",
        "layernorm",
        "qkv_proj",
        "qk_norm",
        "rotary_emb",
        "o_proj",
    ]
    .iter()
    .map(|n| (n.to_string(), line(1.0)))
    .collect();
    if with_mlp {
        for n in MLP {
            dense.push((n.to_string(), line(1.0)));
        }
    }
    let mut attention = Vec::new();
    for pc in [0.0, 100.0, 1000.0] {
        for kp in [0.0, 1000.0] {
            for nd in [0.0, 10.0, 100.0] {
                for kd in [0.0, 1000.0] {
                    // 2 µs plus 1 per 100 chunk tokens, 1 per 1000 prefix, 1 per 1000 KV read.
                    let t = 2.0 + pc / 100.0 + kp / 1000.0 + nd * kd / 1000.0;
                    attention.push([pc, kp, nd, kd, t]);
                }
            }
        }
    }
    TableData {
        source: "synthetic".into(),
        dense,
        per_sequence: vec![
            ("lm_head".into(), vec![(1.0, 10.0), (100.0, 20.0)]),
            ("sampler".into(), vec![(1.0, 1.0), (100.0, 2.0)]),
        ],
        attention,
        moe: vec![
            [1.0, 8.0, 50.0],
            [1000.0, 8.0, 150.0],
            [1.0, 64.0, 400.0],
            [1000.0, 64.0, 500.0],
        ],
        skew: None,
    }
}

#[test]
fn a_decode_step_is_the_sum_of_its_layers() {
    let model = TablesModel::new(&data(true), arch(None), Parallelism::SINGLE, None).unwrap();
    // 10 decodes at 1000 tokens of KV: every dense layer 1.1 µs.
    let shape = BatchShape::decodes_at(10, 1000);
    let dense = 2.0 * 1.1 // embedding, final norm
        + 2.0 * (2.0 * 1.1 + 1.1 + 2.0 * 1.1 + 1.1 + 1.1) // norms x2, qkv, qk_norm x2, rotary, o_proj
        + 2.0 * 3.0 * 1.1; // MLP in both layers
    let attention = 2.0 * (2.0 + 10.0 * 1000.0 / 1000.0);
    let lm = 10.0 + 10.0 * 9.0 / 99.0 + 1.0 + 9.0 / 99.0;
    let want = dense + attention + lm;
    let got = model.iteration_us(&[shape]);
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    let b = model.breakdown(&shape);
    assert!((b.total_us() - want).abs() < 1e-9);
    assert_eq!(b.communication_us, 0.0);
}

#[test]
fn tensor_parallelism_adds_the_ring_all_reduces_and_the_logits_gather() {
    let link = Interconnect {
        bandwidth_gb_s: 10.0,
        latency_us: 5.0,
    };
    let tp2 = Parallelism {
        tp: 2,
        ep: 1,
        dp: 1,
    };
    let single = TablesModel::new(&data(true), arch(None), Parallelism::SINGLE, None).unwrap();
    let model = TablesModel::new(&data(true), arch(None), tp2, Some(link)).unwrap();
    let shape = BatchShape::decodes_at(10, 1000);
    // 10 tokens x 1000 hidden x 2 bytes = 20 KB; ring over 2: 2 steps of 10 KB (1 µs) + 5 µs.
    let all_reduce = 2.0 * (5.0 + 1.0);
    // After the embedding, both o_proj and both down_proj.
    let reduces = 5.0 * all_reduce;
    // Logits: 10 sequences x 5000 vocab x 2 bytes = 100 KB per rank: one step of 10 µs + 5.
    let gather = 15.0;
    let diff = model.iteration_us(&[shape]) - single.iteration_us(&[shape]);
    assert!((diff - reduces - gather).abs() < 1e-9, "{diff}");
    assert!((model.breakdown(&shape).communication_us - reduces - gather).abs() < 1e-9);
    // Without the link's figures the model is refused.
    let err = TablesModel::new(&data(true), arch(None), tp2, None)
        .err()
        .unwrap();
    assert!(err.contains("interconnect"), "{err}");
}

#[test]
fn several_chunks_are_read_at_the_prefix_of_equal_causal_work() {
    let model = TablesModel::new(&data(true), arch(None), Parallelism::SINGLE, None).unwrap();
    let mut one = BatchShape::default();
    one.add_chunk(100, 1000);
    one.running = 1;
    let mut two = BatchShape::default();
    // 50 tokens after 975 and 50 after 1050.
    two.add_chunk(50, 975);
    two.add_chunk(50, 1050);
    two.running = 2;
    let layer = |s: &BatchShape| model.breakdown(s).attention_us / 2.0;
    // Work: 50 x (975 + 25.5) + 50 x (1050 + 25.5) = 103,800 pairs; over 100 tokens, less
    // the chunk's own 50.5: a prefix of 987.5.
    let want = 2.0 + 1.0 + 987.5 / 1000.0;
    assert!((layer(&two) - want).abs() < 1e-9, "{}", layer(&two));
    assert!((layer(&one) - 4.0).abs() < 1e-9);
}

#[test]
fn data_parallel_moe_ranks_pad_to_the_largest_and_wait_for_the_slowest() {
    let moe = MoeShape {
        experts: 64,
        experts_per_token: 8,
        expert_intermediate_size: 500,
        moe_layers: 2,
    };
    let link = Interconnect {
        bandwidth_gb_s: 10.0,
        latency_us: 5.0,
    };
    let dp2 = Parallelism {
        tp: 1,
        ep: 2,
        dp: 2,
    };
    let model = TablesModel::new(&data(false), arch(Some(moe)), dp2, Some(link)).unwrap();
    let busy = BatchShape::decodes_at(100, 1000);
    let light = BatchShape::decodes_at(10, 1000);
    let idle = BatchShape::default();
    let both = model.iteration_us(&[busy, light]);
    let alone = model.iteration_us(&[busy, idle]);
    // Padded to 100 tokens either way: the light rank's attention is hidden by the busy one's.
    assert!((both - alone).abs() < 1e-9);
    // The order of the ranks does not matter.
    assert!((model.iteration_us(&[light, busy]) - both).abs() < 1e-9);
    // Two light ranks are padded to 10 tokens only.
    assert!(model.iteration_us(&[light, light]) < both);
    // A dense model cannot step its data-parallel ranks together.
    let err = TablesModel::new(&data(true), arch(None), dp2, Some(link))
        .err()
        .unwrap();
    assert!(err.contains("dense model"), "{err}");
    // MoE needs its table.
    let mut no_moe = data(false);
    no_moe.moe.clear();
    assert!(TablesModel::new(&no_moe, arch(Some(moe)), dp2, Some(link)).is_err());
}

#[test]
fn moe_time_grows_with_the_experts_a_batch_activates() {
    let moe = MoeShape {
        experts: 64,
        experts_per_token: 8,
        expert_intermediate_size: 500,
        moe_layers: 2,
    };
    let model = TablesModel::new(&data(false), arch(Some(moe)), Parallelism::SINGLE, None).unwrap();
    let one = model.breakdown(&BatchShape::decodes_at(1, 100)).moe_us;
    // One token activates 8 experts: 50 µs a layer.
    assert!((one - 2.0 * 50.0).abs() < 1e-9, "{one}");
    let many = model.breakdown(&BatchShape::decodes_at(64, 100)).moe_us;
    assert!(many > 3.0 * one, "{many}");
}
