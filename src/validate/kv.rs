//! KV-cache capacity from the model and the GPU (`kv_capacity_tokens: auto`): vLLM's memory
//! accounting against the two caches `../shared` records (the RTX 4090 run's block count, in
//! sample: the accounting's two constants were set on it; the Qwen2.5-14B/H100 run's KV
//! column, out of sample), its sensitivity to the reserve and the utilization, and the figure
//! for every shipped profile that states its architecture.

use super::md::{Table, pct, rel};
use super::{Check, Options, Section, SectionId, ValidateError, existing};
use crate::perf::Architecture;
use crate::perf::memory::{
    DEFAULT_GPU_MEMORY_UTILIZATION, DRIVER_RESERVED_GIB, EngineSizing, GIB, GpuMemory,
    KvAccounting, RUNTIME_RESERVE_GIB, kv_capacity,
};
use crate::spec::tables::read_model_config;
use serde_json::Value;
use std::path::Path;

fn accounting(
    arch: &Architecture,
    memory_gib: f64,
    utilization: f64,
    reserve_gib: Option<f64>,
    engine: EngineSizing,
) -> Result<KvAccounting, ValidateError> {
    kv_capacity(
        arch,
        &GpuMemory {
            memory_gib,
            utilization,
            reserve_gib,
        },
        &engine,
    )
    .map_err(ValidateError::Internal)
}

fn engine(tp: u32, max_num_batched_tokens: u32, max_num_seqs: u32) -> EngineSizing {
    EngineSizing {
        tp,
        ep: 1,
        max_num_batched_tokens,
        max_num_seqs,
        block_size: 16,
    }
}

/// The run's recorded block count and settings.
fn rtx4090(options: &Options) -> Result<(Architecture, u64, f64, u32, u32), ValidateError> {
    let root = existing(options.data_dir.join("llmservingsim"))?;
    let meta_path = existing(root.join("bench/examples/RTX4090/Llama-3.1-8B/vllm/meta.json"))?;
    let text =
        std::fs::read_to_string(&meta_path).map_err(|e| ValidateError::input(&meta_path, e))?;
    let meta: Value = serde_json::from_str(&text)
        .map_err(|e| ValidateError::input(&meta_path, format!("line {}: {e}", e.line())))?;
    let blocks = meta["kv_cache"]["num_gpu_blocks"]
        .as_u64()
        .ok_or_else(|| ValidateError::input(&meta_path, "kv_cache.num_gpu_blocks: missing"))?;
    let utilization = meta["kv_cache"]["gpu_memory_utilization"]
        .as_f64()
        .unwrap_or(DEFAULT_GPU_MEMORY_UTILIZATION);
    let kwargs = &meta["engine_kwargs"];
    let field = |name: &str| {
        kwargs[name].as_u64().map(|v| v as u32).ok_or_else(|| {
            ValidateError::input(&meta_path, format!("engine_kwargs.{name}: missing"))
        })
    };
    let arch = read_model_config(&existing(
        root.join("configs/model/meta-llama/Llama-3.1-8B.json"),
    )?)
    .map_err(|e| ValidateError::Input(e.to_string()))?;
    Ok((
        arch,
        blocks,
        utilization,
        field("max_num_seqs")?,
        field("max_num_batched_tokens")?,
    ))
}

fn gib(bytes: f64) -> String {
    format!("{:.2}", bytes / GIB)
}

pub(super) fn section(options: &Options) -> Result<Section, ValidateError> {
    let mut checks = Vec::new();
    let (llama, blocks, util, seqs, budget) = rtx4090(options)?;
    let on_4090 = accounting(&llama, 24.0, util, None, engine(1, budget, seqs))?;
    let auto_blocks = on_4090.tokens / 16;
    checks.push(Check::within(
        "KV auto vs the RTX 4090 run's recorded blocks (in sample)",
        rel(auto_blocks as f64, blocks as f64),
        0.05,
    ));
    // Qwen2.5-14B on one H100: the shipped profile's architecture, run16's KV column.
    let profiles =
        crate::spec::load_profiles(&options.profiles_dir.join("qwen2.5-14b-instruct.yaml"))
            .map_err(|e| ValidateError::Input(e.to_string()))?;
    let qwen = profiles
        .iter()
        .find_map(|p| p.architecture.clone())
        .ok_or_else(|| {
            ValidateError::Internal("the Qwen2.5-14B profile has no architecture".into())
        })?;
    let on_h100 = accounting(
        &qwen,
        80.0,
        DEFAULT_GPU_MEMORY_UTILIZATION,
        None,
        engine(1, crate::perf::DEFAULT_MAX_NUM_BATCHED_TOKENS, 128),
    )?;
    let (run16_lo, run16_hi) = (240_000.0, 270_000.0);
    let run16_mid = (run16_lo + run16_hi) / 2.0;
    checks.push(Check::within(
        "KV auto vs the Qwen2.5-14B/H100 run's cache (out of sample, 240-270k tokens)",
        rel(on_h100.tokens as f64, run16_mid),
        0.10,
    ));
    let mut t = Table::new(
        &[
            "run",
            "GPU GiB (visible)",
            "utilization",
            "weights GiB",
            "reserve GiB",
            "KV KiB per token",
            "auto, tokens",
            "recorded, tokens",
            "diff",
        ],
        "lrrrrrrrr",
    );
    for (name, a, recorded) in [
        (
            format!(
                "Llama-3.1-8B on RTX 4090 (`max_num_seqs` {seqs}, `max_num_batched_tokens` {budget}; in sample)"
            ),
            &on_4090,
            (blocks * 16) as f64,
        ),
        (
            "Qwen2.5-14B on H100 (vLLM's defaults assumed; run16's KV column: 240-270k)".into(),
            &on_h100,
            run16_mid,
        ),
    ] {
        t.row(vec![
            name,
            gib(a.visible_bytes),
            format!("{:.2}", a.budget_bytes / a.visible_bytes),
            gib(a.weight_bytes),
            gib(a.reserve_bytes),
            (a.bytes_per_token / 1024).to_string(),
            a.tokens.to_string(),
            format!("{recorded:.0}"),
            pct(rel(a.tokens as f64, recorded)),
        ]);
    }
    // Sensitivity.
    let qwen32 = read_model_config(&existing(
        options
            .data_dir
            .join("llmservingsim/configs/model/Qwen/Qwen3-32B.json"),
    )?)
    .map_err(|e| ValidateError::Input(e.to_string()))?;
    let mut s = Table::new(
        &[
            "deployment",
            "reserve GiB",
            "utilization",
            "auto, tokens per GPU",
            "vs the default",
        ],
        "lrrrr",
    );
    for (name, arch, memory, tp, base_budget, base_seqs) in [
        (
            "Llama-3.1-8B, RTX 4090 (24 GB)",
            &llama,
            24.0,
            1,
            budget,
            seqs,
        ),
        (
            "Qwen3-32B, TP 2 on RTX PRO 6000 (96 GB)",
            &qwen32,
            96.0,
            2,
            2048,
            128,
        ),
    ] {
        let base = accounting(arch, memory, 0.9, None, engine(tp, base_budget, base_seqs))?;
        for (reserve, utilization) in [
            (None, 0.9),
            (Some(0.5), 0.9),
            (Some(2.0), 0.9),
            (Some(4.0), 0.9),
            (None, 0.85),
            (None, 0.95),
        ] {
            let a = accounting(
                arch,
                memory,
                utilization,
                reserve,
                engine(tp, base_budget, base_seqs),
            )?;
            s.row(vec![
                name.into(),
                reserve.map_or(format!("{} (estimated)", gib(base.reserve_bytes)), |r| {
                    format!("{r:.1}")
                }),
                format!("{utilization:.2}"),
                a.tokens.to_string(),
                pct(rel(a.tokens as f64, base.tokens as f64)),
            ]);
        }
    }
    // Shipped profiles with an architecture.
    let mut shipped = Table::new(
        &[
            "profile",
            "GPU (catalog)",
            "weights GiB",
            "reserve GiB",
            "KV KiB per token",
            "auto, tokens",
            "the profile's kv_capacity_tokens",
        ],
        "llrrrrr",
    );
    let catalog = crate::spec::load_accelerators(&options.profiles_dir.join("accelerators.yaml"))
        .map_err(|e| ValidateError::Input(e.to_string()))?;
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&options.profiles_dir)
        .map_err(|e| ValidateError::input(&options.profiles_dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let Ok(list) = crate::spec::load_profiles(&file) else {
            continue; // not a profiles file (the catalog, the service classes)
        };
        for p in list {
            let Some(arch) = &p.architecture else {
                continue;
            };
            let Some(memory) = catalog
                .iter()
                .find(|a| a.name == p.accelerator)
                .and_then(|a| a.memory_gb)
            else {
                continue;
            };
            let a = accounting(
                arch,
                memory,
                DEFAULT_GPU_MEMORY_UTILIZATION,
                None,
                engine(p.gpus_per_replica, p.max_num_batched_tokens(), p.max_batch),
            )?;
            shipped.row(vec![
                format!(
                    "{} on {} ({})",
                    p.model,
                    p.accelerator,
                    Path::new(&file)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                ),
                format!("{memory:.0} GB"),
                gib(a.weight_bytes),
                gib(a.reserve_bytes),
                (a.bytes_per_token / 1024).to_string(),
                a.tokens.to_string(),
                p.kv_capacity_tokens
                    .map_or("unlimited".into(), |k| k.to_string()),
            ]);
        }
    }
    let body = format!(
        "`kv_capacity_tokens: auto` does vLLM's memory accounting \
([formats.md](formats.md#kv-capacity-auto)): the KV cache gets `gpu_memory_utilization` x the \
memory CUDA sees (the GPU's GiB less {DRIVER_RESERVED_GIB} GiB the driver keeps), less the \
weights one GPU holds, less the peak of vLLM's profiling pass (one layer's activations for \
`max_num_batched_tokens` tokens, the sampler's fp32 logits for `max_num_seqs` sequences, and \
{RUNTIME_RESERVE_GIB} GiB of non-torch memory), over the bytes one token's K and V take on one \
GPU. The two constants were set on the RTX 4090 run, the only one in `../shared` whose engine \
logged its block count, so that row is in sample; the Qwen2.5-14B/H100 run's cache (its KV \
column: 128 running requests of about 1,290 tokens filled 68.3%) is not:\n\n{}\n\
A KV cache only matters once a run fills it, and then by a lot (the RTX 4090 run preempts about \
190 times): how the figure moves with the reserve and the utilization:\n\n{}\n\
The shipped profiles that state their architecture (each keeps its own `kv_capacity_tokens`; \
`auto` would give):\n\n{}\n",
        t.render(),
        s.render(),
        shipped.render()
    );
    Ok(Section {
        id: SectionId::Kv,
        title: "KV capacity from the model and the GPU".into(),
        body,
        checks,
        figures: Vec::new(),
    })
}
