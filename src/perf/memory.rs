//! KV-cache capacity from the model and the GPU: vLLM's memory accounting.
//!
//! vLLM gives the KV cache what is left of `gpu_memory_utilization` x the GPU's memory once the
//! weights and the peak of a profiling forward pass are in (`Worker.determine_available_memory`
//! and `memory_profiling` in vLLM 0.8-0.20):
//!
//! ```text
//! kv_bytes   = utilization x visible - weights per rank - reserve
//! visible    = memory_gib x 2^30 - driver reservation (0.5 GiB)
//! reserve    = activations of max_num_batched_tokens tokens through one layer
//!            + the sampler's fp32 logits for max_num_seqs sequences (three copies)
//!            + 0.5 GiB of non-torch memory the profiling run adds (cuBLAS workspaces, ...)
//! tokens     = floor(kv_bytes / (block_size x bytes per token per rank)) x block_size
//! ```
//!
//! The two constants are set from one measured run (vLLM 0.19, Llama-3.1-8B on an RTX 4090:
//! 2,588 blocks, where this gives 2,598) and the CUDA-visible memory of an H100 and an RTX 4090;
//! `docs/formats.md` states every assumption and the sensitivity to the reserve. CUDA graphs,
//! NCCL buffers and the CUDA context live in the `1 - utilization` headroom and are not
//! counted, as vLLM does not count them.

use super::arch::Architecture;

/// Bytes in a GiB.
pub const GIB: f64 = 1_073_741_824.0;
/// Memory the driver keeps from CUDA, GiB (an H100 80 GB shows 79.2 GiB to CUDA, an RTX 4090
/// 24 GB 23.5 GiB).
pub const DRIVER_RESERVED_GIB: f64 = 0.5;
/// Non-torch memory vLLM's profiling run adds, GiB.
pub const RUNTIME_RESERVE_GIB: f64 = 0.5;
/// vLLM's default `gpu_memory_utilization`.
pub const DEFAULT_GPU_MEMORY_UTILIZATION: f64 = 0.9;

/// The GPU memory of one rank, as a profile or the accelerator catalog gives it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GpuMemory {
    /// The GPU's memory, GB as marketed, read as GiB (an "80 GB" H100 has 80 GiB).
    pub memory_gib: f64,
    /// vLLM's `gpu_memory_utilization`.
    pub utilization: f64,
    /// Activation and runtime reserve, GiB; `None` to estimate it from the model.
    pub reserve_gib: Option<f64>,
}

/// The engine settings that size the profiling run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EngineSizing {
    /// Tensor-parallel degree.
    pub tp: u32,
    /// Expert-parallel degree.
    pub ep: u32,
    /// vLLM `--max-num-batched-tokens`.
    pub max_num_batched_tokens: u32,
    /// vLLM `--max-num-seqs`.
    pub max_num_seqs: u32,
    /// KV block size, tokens.
    pub block_size: u32,
}

/// vLLM's memory accounting for one rank, bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KvAccounting {
    /// Memory CUDA sees.
    pub visible_bytes: f64,
    /// `utilization` x visible.
    pub budget_bytes: f64,
    /// Weights on the rank.
    pub weight_bytes: f64,
    /// Activation and runtime reserve.
    pub reserve_bytes: f64,
    /// Left for the KV cache.
    pub kv_bytes: f64,
    /// One token's K and V on the rank.
    pub bytes_per_token: u64,
    /// KV-cache capacity, tokens (whole blocks).
    pub tokens: u64,
}

/// The KV-cache capacity of one rank of `arch` on `memory` with `engine`'s settings.
///
/// # Errors
/// When the weights and the reserve do not fit the budget (the message says by how much), or
/// an input is out of range.
pub fn kv_capacity(
    arch: &Architecture,
    memory: &GpuMemory,
    engine: &EngineSizing,
) -> Result<KvAccounting, String> {
    if !(memory.utilization > 0.0 && memory.utilization <= 1.0) {
        return Err(format!(
            "gpu_memory_utilization must be in (0, 1], got {}",
            memory.utilization
        ));
    }
    if !(memory.memory_gib.is_finite() && memory.memory_gib > DRIVER_RESERVED_GIB) {
        return Err(format!(
            "the GPU's memory must be more than {DRIVER_RESERVED_GIB} GB, got {}",
            memory.memory_gib
        ));
    }
    let visible_bytes = (memory.memory_gib - DRIVER_RESERVED_GIB) * GIB;
    let budget_bytes = memory.utilization * visible_bytes;
    let weight_bytes = arch.weight_bytes_per_rank(engine.tp, engine.ep) as f64;
    let reserve_bytes = match memory.reserve_gib {
        Some(r) => r * GIB,
        None => {
            arch.activation_bytes(
                engine.max_num_batched_tokens,
                engine.max_num_seqs,
                engine.tp,
            ) as f64
                + RUNTIME_RESERVE_GIB * GIB
        }
    };
    let kv_bytes = budget_bytes - weight_bytes - reserve_bytes;
    let bytes_per_token = arch.kv_bytes_per_token(engine.tp);
    let block = u64::from(engine.block_size.max(1));
    let block_bytes = (bytes_per_token * block) as f64;
    if kv_bytes < block_bytes {
        return Err(format!(
            "no room for the KV cache: {:.1} GiB of weights and {:.1} GiB of reserve per GPU against {:.1} GiB ({} x {:.1} GiB visible)",
            weight_bytes / GIB,
            reserve_bytes / GIB,
            budget_bytes / GIB,
            memory.utilization,
            visible_bytes / GIB
        ));
    }
    let tokens = (kv_bytes / block_bytes).floor() as u64 * block;
    Ok(KvAccounting {
        visible_bytes,
        budget_bytes,
        weight_bytes,
        reserve_bytes,
        kv_bytes,
        bytes_per_token,
        tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::arch::tests::llama_8b;

    fn rtx4090_run() -> (GpuMemory, EngineSizing) {
        (
            GpuMemory {
                memory_gib: 24.0,
                utilization: 0.9,
                reserve_gib: None,
            },
            EngineSizing {
                tp: 1,
                ep: 1,
                max_num_batched_tokens: 2048,
                max_num_seqs: 256,
                block_size: 16,
            },
        )
    }

    #[test]
    fn the_rtx4090_run_gets_within_one_percent_of_its_measured_blocks() {
        let (memory, engine) = rtx4090_run();
        let kv = kv_capacity(&llama_8b(), &memory, &engine).unwrap();
        let blocks = kv.tokens / 16;
        // vLLM 0.19 allocated 2,588 blocks on this run (meta.json, num_gpu_blocks).
        let err = blocks as f64 / 2588.0 - 1.0;
        assert!(err.abs() < 0.01, "{blocks} blocks ({:+.2}%)", err * 100.0);
        assert_eq!(kv.tokens % 16, 0);
    }

    #[test]
    fn capacity_falls_with_the_reserve_and_rises_with_utilization() {
        let (mut memory, engine) = rtx4090_run();
        let base = kv_capacity(&llama_8b(), &memory, &engine).unwrap().tokens;
        memory.reserve_gib = Some(3.0);
        let reserved = kv_capacity(&llama_8b(), &memory, &engine).unwrap().tokens;
        assert!(reserved < base);
        memory.reserve_gib = None;
        memory.utilization = 0.95;
        assert!(kv_capacity(&llama_8b(), &memory, &engine).unwrap().tokens > base);
    }

    #[test]
    fn a_model_too_large_for_the_gpu_is_refused_with_the_figures() {
        let (mut memory, engine) = rtx4090_run();
        memory.memory_gib = 16.0;
        let err = kv_capacity(&llama_8b(), &memory, &engine).unwrap_err();
        assert!(err.contains("15.0 GiB of weights"), "{err}");
        memory.utilization = 1.5;
        assert!(kv_capacity(&llama_8b(), &memory, &engine).is_err());
    }
}
