//! What a profile says about its deployment beyond the linear parameters: the model's shape
//! (`model_config` or `architecture`), a `tables` cost model (the profiler folder, the
//! parallelism and the interconnect), and `kv_capacity_tokens: auto` (vLLM's memory accounting
//! on the GPU's memory from the profile's `memory` block or the accelerator catalog).

use super::SpecError;
use super::load::{Located, Origin};
use super::raw::{ArchitectureDoc, KvCapacityDoc, MemoryDoc, PerfDoc};
use super::tables::{read_model_config, read_profiler_tables};
use super::{Accelerator, KvAuto};
use crate::perf::memory::{DEFAULT_GPU_MEMORY_UTILIZATION, EngineSizing, GpuMemory, kv_capacity};
use crate::perf::surrogate;
use crate::perf::{
    Architecture, CostModel, DEFAULT_MAX_NUM_BATCHED_TOKENS, MoeShape, Parallelism, PerfParams,
    RequestShape, TablesModel,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The request shape of a `tables` profile's generic analytic line (the one `wva plan` reports
/// when no workload is at hand; a workload's own line is fitted to its shape).
pub const GENERIC_SHAPE: RequestShape = RequestShape {
    prompt_tokens: 1024.0,
    output_tokens: 256.0,
};

/// A path as written in a file: relative to the file's folder.
pub(super) fn relative_to(origin: &Origin, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    origin
        .file
        .parent()
        .map_or_else(|| p.to_path_buf(), |dir| dir.join(p))
}

/// The model's shape from `model_config` (a `config.json`, relative to the file) or an inline
/// `architecture` block; `None` when neither is given.
pub(super) fn architecture(
    model_config: Option<&str>,
    inline: Option<&ArchitectureDoc>,
    origin: &Origin,
) -> Result<Option<Architecture>, SpecError> {
    match (model_config, inline) {
        (Some(_), Some(_)) => Err(origin.error(
            "architecture",
            "give the model's shape once: model_config or architecture, not both",
        )),
        (Some(path), None) => {
            let file = relative_to(origin, path);
            if !file.is_file() {
                return Err(origin.error("model_config", format!("{}: not found", file.display())));
            }
            read_model_config(&file).map(Some)
        }
        (None, Some(a)) => {
            let small = |v: u64, field: &str| -> Result<u32, SpecError> {
                u32::try_from(v).map_err(|_| {
                    origin.error(&format!("architecture.{field}"), format!("too large: {v}"))
                })
            };
            let heads = small(a.num_attention_heads.get(), "num_attention_heads")?;
            let hidden = small(a.hidden_size.get(), "hidden_size")?;
            let moe = match (a.num_experts, a.num_experts_per_tok) {
                (Some(e), Some(k)) => Some(MoeShape {
                    experts: small(e.get(), "num_experts")?,
                    experts_per_token: small(k.get(), "num_experts_per_tok")?,
                    expert_intermediate_size: small(
                        a.moe_intermediate_size.unwrap_or(a.intermediate_size).get(),
                        "moe_intermediate_size",
                    )?,
                    moe_layers: small(a.num_hidden_layers.get(), "num_hidden_layers")?,
                }),
                (None, None) => None,
                _ => {
                    return Err(origin.error(
                        "architecture.num_experts",
                        "a MoE model needs both num_experts and num_experts_per_tok",
                    ));
                }
            };
            let arch = Architecture {
                model_type: a.model_type.clone().unwrap_or_else(|| "unknown".into()),
                layers: small(a.num_hidden_layers.get(), "num_hidden_layers")?,
                hidden_size: hidden,
                attention_heads: heads,
                kv_heads: match a.num_key_value_heads {
                    Some(k) => small(k.get(), "num_key_value_heads")?,
                    None => heads,
                },
                head_dim: match a.head_dim {
                    Some(h) => small(h.get(), "head_dim")?,
                    None => hidden / heads.max(1),
                },
                intermediate_size: small(a.intermediate_size.get(), "intermediate_size")?,
                vocab_size: small(a.vocab_size.get(), "vocab_size")?,
                tied_embeddings: a.tie_word_embeddings,
                dtype_bytes: small(a.dtype_bytes.map_or(2, |b| b.get()), "dtype_bytes")?,
                moe,
            };
            arch.check().map_err(|(field, message)| {
                origin.error(&format!("architecture.{field}"), message)
            })?;
            Ok(Some(arch))
        }
        (None, None) => Ok(None),
    }
}

fn catalog_entry<'a>(
    catalog: Option<&'a [Located<Accelerator>]>,
    name: &str,
) -> Option<&'a Accelerator> {
    catalog?.iter().map(|a| &a.item).find(|a| a.name == name)
}

/// A `tables` profile's cost model and its generic analytic line, and its parallelism.
pub(super) struct Tables {
    pub cost: CostModel,
    pub perf: PerfParams,
    pub parallel: Parallelism,
}

/// Builds a `tables` profile's cost model.
pub(super) fn tables(
    doc: &PerfDoc,
    arch: Option<&Architecture>,
    accelerator: &str,
    max_batch: u32,
    catalog: Option<&[Located<Accelerator>]>,
    origin: &Origin,
) -> Result<Tables, SpecError> {
    for (name, present) in [
        ("alpha", doc.alpha.is_some()),
        ("beta", doc.beta.is_some()),
        ("gamma", doc.gamma.is_some()),
        ("delta", doc.delta.is_some()),
    ] {
        if present {
            return Err(origin.error(
                &format!("perf.{name}"),
                "not a parameter of tables (it takes tables, tp, ep, dp, interconnect, max_num_batched_tokens)",
            ));
        }
    }
    let folder = doc.tables.as_deref().ok_or_else(|| {
        origin.error(
            "perf.tables",
            "missing: the profiler folder (attention.csv, dense.csv, per_sequence.csv, ...)",
        )
    })?;
    let arch = arch.ok_or_else(|| {
        origin.error(
            "model_config",
            "a tables profile needs the model's shape (layers, hidden size, ...): give model_config (its config.json) or architecture",
        )
    })?;
    let degree = |v: Option<super::numbers::PositiveInt>, field: &str| -> Result<u32, SpecError> {
        match v {
            None => Ok(1),
            Some(n) if n.get() <= 1024 => Ok(n.get() as u32),
            Some(n) => Err(origin.error(
                &format!("perf.{field}"),
                format!("must be from 1 to 1024, got {}", n.get()),
            )),
        }
    };
    let parallel = Parallelism {
        tp: degree(doc.tp, "tp")?,
        ep: degree(doc.ep, "ep")?,
        dp: degree(doc.dp, "dp")?,
    };
    let path = relative_to(origin, folder);
    if !path.is_dir() {
        return Err(origin.error("perf.tables", format!("{}: not a folder", path.display())));
    }
    let data = read_profiler_tables(&path, parallel.tp)?;
    let interconnect = match doc.interconnect {
        Some(i) => Some(i.0),
        None => catalog_entry(catalog, accelerator).and_then(|a| a.interconnect),
    };
    let model = TablesModel::new(&data, arch.clone(), parallel, interconnect).map_err(|e| {
        if e.contains("interconnect") {
            let hint = if catalog.is_some() {
                format!("; give perf.interconnect, or interconnect on accelerator `{accelerator}` in the catalog")
            } else {
                "; give perf.interconnect (a profile file read on its own has no catalog)".into()
            };
            origin.error("perf.interconnect", format!("{e}{hint}"))
        } else {
            origin.error("perf", e)
        }
    })?;
    let budget = match doc.max_num_batched_tokens {
        Some(t) => u32::try_from(t.get()).map_err(|_| {
            origin.error(
                "perf.max_num_batched_tokens",
                format!("too large: {}", t.get()),
            )
        })?,
        None => DEFAULT_MAX_NUM_BATCHED_TOKENS,
    };
    let cost = CostModel::Tables(Arc::new(model));
    let perf = surrogate::fit(
        &cost,
        &GENERIC_SHAPE,
        max_batch.saturating_mul(cost.ranks()),
        budget.max(max_batch),
        true,
    )
    .map(|s| s.params)
    .ok_or_else(|| origin.error("perf.tables", "the tables give no finite iteration time"))?;
    Ok(Tables {
        cost,
        perf,
        parallel,
    })
}

/// Resolves `kv_capacity_tokens`: a number as given, or `auto` from the model's shape and the
/// GPU's memory (the profile's `memory` block, else the catalog's `memory_gb`).
#[allow(clippy::too_many_arguments)]
pub(super) fn kv_capacity_tokens(
    doc: Option<KvCapacityDoc>,
    memory: Option<&MemoryDoc>,
    arch: Option<&Architecture>,
    parallel: Parallelism,
    accelerator: &str,
    engine: (u32, u32),
    catalog: Option<&[Located<Accelerator>]>,
    origin: &Origin,
) -> Result<(Option<u64>, Option<KvAuto>), SpecError> {
    match doc {
        None => Ok((None, None)),
        Some(KvCapacityDoc::Tokens(t)) => Ok((Some(t), None)),
        Some(KvCapacityDoc::Auto) => {
            let arch = arch.ok_or_else(|| {
                origin.error(
                    "kv_capacity_tokens",
                    "auto needs the model's shape: give model_config (its config.json) or architecture",
                )
            })?;
            let memory_gib = memory
                .and_then(|m| m.gpu_memory_gb)
                .map(|g| g.get())
                .or_else(|| catalog_entry(catalog, accelerator).and_then(|a| a.memory_gb))
                .ok_or_else(|| {
                    origin.error(
                        "kv_capacity_tokens",
                        if catalog.is_some() {
                            format!(
                                "auto needs the GPU's memory: give memory.gpu_memory_gb, or memory_gb on accelerator `{accelerator}` in the catalog"
                            )
                        } else {
                            "auto needs the GPU's memory: give memory.gpu_memory_gb (a profile file read on its own has no catalog)".into()
                        },
                    )
                })?;
            let utilization = memory
                .and_then(|m| m.gpu_memory_utilization)
                .map_or(DEFAULT_GPU_MEMORY_UTILIZATION, |u| u.get());
            if utilization > 1.0 {
                return Err(origin.error(
                    "memory.gpu_memory_utilization",
                    format!("must be a fraction in (0, 1], got {utilization}"),
                ));
            }
            let (max_num_batched_tokens, max_num_seqs) = engine;
            let gpu = GpuMemory {
                memory_gib,
                utilization,
                reserve_gib: memory.and_then(|m| m.reserve_gb).map(|r| r.get()),
            };
            let accounting = kv_capacity(
                arch,
                &gpu,
                &EngineSizing {
                    tp: parallel.tp,
                    ep: parallel.ep,
                    max_num_batched_tokens,
                    max_num_seqs,
                    block_size: crate::perf::DEFAULT_BLOCK_SIZE,
                },
            )
            .map_err(|e| origin.error("kv_capacity_tokens", format!("auto: {e}")))?;
            Ok((
                Some(accounting.tokens),
                Some(KvAuto {
                    memory: gpu,
                    architecture: arch.clone(),
                    tp: parallel.tp,
                    ep: parallel.ep,
                    accounting,
                }),
            ))
        }
    }
}
