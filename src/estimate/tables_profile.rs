//! A `tables` profile from a profiler folder: nothing is fitted; the profile points at the
//! measured tables and the model's `config.json`, and carries the deployment (parallelism,
//! interconnect, GPU memory) from LLMServingSim's cluster config or flags. Writing it checks
//! that the model builds (every table present, the parallelism fits the model) and computes
//! the KV capacity `auto` resolves to, for the comment beside it.

use crate::perf::memory::{EngineSizing, GpuMemory, KvAccounting, kv_capacity};
use crate::perf::{Architecture, BatchShape, CostModel, Interconnect, Parallelism, TablesModel};
use crate::spec::SpecError;
use crate::spec::tables::read_profiler_tables;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// What a `tables` profile is made of.
#[derive(Clone, Debug)]
pub struct TablesProfile {
    /// Model name.
    pub model: String,
    /// Accelerator name.
    pub accelerator: String,
    /// The profiler folder (the one above the `tp<N>` folders, or one of them).
    pub tables: PathBuf,
    /// The model's `config.json`.
    pub model_config: PathBuf,
    /// The model's shape read from it (layers possibly overridden).
    pub architecture: Architecture,
    /// Layer count override, when given.
    pub num_layers: Option<u32>,
    /// Parallelism.
    pub parallel: Parallelism,
    /// The link between GPUs, when known.
    pub interconnect: Option<Interconnect>,
    /// GPU memory, GiB, when known.
    pub gpu_memory_gib: Option<f64>,
    /// vLLM `gpu_memory_utilization`.
    pub gpu_memory_utilization: f64,
    /// Max batch (`max_num_seqs`) per rank.
    pub max_batch: u32,
    /// vLLM `max_num_batched_tokens`.
    pub max_num_batched_tokens: u32,
    /// Where the deployment came from (for the profile's source).
    pub deployment: String,
}

/// The written profile and what was computed for it.
pub struct Written {
    /// The YAML.
    pub yaml: String,
    /// vLLM's memory accounting, when the GPU's memory is known.
    pub kv: Option<KvAccounting>,
    /// The model built from the tables.
    pub model: Arc<TablesModel>,
}

/// `path` relative to `base` (both made absolute), or absolute when they share nothing.
fn relative(path: &Path, base: Option<&Path>) -> PathBuf {
    let absolute = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let target = absolute(path);
    let Some(base) = base else {
        return target;
    };
    let base = absolute(base);
    let (t, b): (Vec<Component>, Vec<Component>) =
        (target.components().collect(), base.components().collect());
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common <= 1 {
        return target;
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c.as_os_str());
    }
    out
}

fn yaml_string(s: &str) -> String {
    serde_yaml::to_string(s)
        .unwrap_or_else(|_| format!("{s:?}"))
        .trim_end()
        .to_string()
}

/// Builds the model, computes the KV capacity, and writes the profile YAML with its paths
/// relative to `out_dir` (absolute when it is `None`).
///
/// # Errors
/// A table that cannot be read or a model that does not build, with the file or the reason.
pub fn write(p: &TablesProfile, out_dir: Option<&Path>) -> Result<Written, SpecError> {
    let data = read_profiler_tables(&p.tables, p.parallel.tp)?;
    let model = TablesModel::new(&data, p.architecture.clone(), p.parallel, p.interconnect)
        .map_err(|e| SpecError::file(&p.tables, e))?;
    let kv = match p.gpu_memory_gib {
        Some(memory_gib) => Some(
            kv_capacity(
                &p.architecture,
                &GpuMemory {
                    memory_gib,
                    utilization: p.gpu_memory_utilization,
                    reserve_gib: None,
                },
                &EngineSizing {
                    tp: p.parallel.tp,
                    ep: p.parallel.ep,
                    max_num_batched_tokens: p.max_num_batched_tokens,
                    max_num_seqs: p.max_batch,
                    block_size: crate::sim::DEFAULT_BLOCK_SIZE,
                },
            )
            .map_err(|e| SpecError::file(&p.model_config, e))?,
        ),
        None => None,
    };
    // A decode step of a full batch at 1,000 tokens of context, for the source.
    let model = Arc::new(model);
    let step = {
        let n = p.max_batch;
        let shape = BatchShape::decodes_at(n, 1000);
        let b = model.breakdown(&shape);
        (
            CostModel::Tables(Arc::clone(&model))
                .iteration_ms(&vec![shape; p.parallel.dp as usize]),
            b.communication_us / b.total_us().max(1e-9),
        )
    };
    let tables = relative(&p.tables, out_dir);
    let config = relative(&p.model_config, out_dir);
    let mut y = String::new();
    y.push_str(&format!(
        "# Written by `wva estimate`: a `tables` profile; the simulator composes every iteration from\n# the profiler's measured layer tables (see docs/formats.md).\nprofiles:\n  - model: {}\n    accelerator: {}\n    gpus_per_replica: {}\n    max_batch: {}\n",
        yaml_string(&p.model),
        yaml_string(&p.accelerator),
        p.parallel.gpus(),
        p.max_batch
    ));
    match &kv {
        Some(k) => y.push_str(&format!(
            "    # auto: {} tokens per GPU = ({} x {:.2} GiB visible - {:.2} GiB of weights - {:.2} GiB\n    # of activations and runtime) / {} KiB per token (vLLM's accounting)\n    kv_capacity_tokens: auto\n    memory:\n      gpu_memory_gb: {}\n      gpu_memory_utilization: {}\n",
            k.tokens,
            p.gpu_memory_utilization,
            k.visible_bytes / crate::perf::memory::GIB,
            k.weight_bytes / crate::perf::memory::GIB,
            k.reserve_bytes / crate::perf::memory::GIB,
            k.bytes_per_token / 1024,
            p.gpu_memory_gib.unwrap_or_default(),
            p.gpu_memory_utilization
        )),
        None => y.push_str(
            "    # kv_capacity_tokens: auto needs the GPU's memory (memory.gpu_memory_gb, or the catalog's memory_gb)\n",
        ),
    }
    match p.num_layers {
        // The shape with the layer count overridden: inline, since the config says otherwise.
        Some(_) => y.push_str(&architecture_yaml(&p.architecture, &config)),
        None => y.push_str(&format!(
            "    model_config: {}\n",
            yaml_string(&config.display().to_string())
        )),
    }
    y.push_str(&format!(
        "    perf:\n      model: tables\n      tables: {}\n      tp: {}\n      ep: {}\n      dp: {}\n      max_num_batched_tokens: {}\n",
        yaml_string(&tables.display().to_string()),
        p.parallel.tp,
        p.parallel.ep,
        p.parallel.dp,
        p.max_num_batched_tokens
    ));
    if let Some(i) = p.interconnect {
        y.push_str(&format!(
            "      interconnect:\n        bandwidth_gb_s: {}\n        latency_us: {}\n",
            (i.bandwidth_gb_s * 1e6).round() / 1e6,
            (i.latency_us * 1e6).round() / 1e6
        ));
    }
    let layers = match p.num_layers {
        Some(l) => format!("{l} layers (--num-layers)"),
        None => format!("{} layers", p.architecture.layers),
    };
    let source = format!(
        "LLMServingSim profiler tables ({} attention shapes) of {} on {}, {layers}, TP {} EP {} DP {}; deployment from {}. A decode step of {} requests at 1,000 tokens of context: {:.1} ms, {:.0}% of it communication.",
        model.attention_points(),
        p.model,
        p.accelerator,
        p.parallel.tp,
        p.parallel.ep,
        p.parallel.dp,
        p.deployment,
        p.max_batch,
        step.0,
        step.1 * 100.0
    );
    y.push_str(&format!(
        "    provenance: estimated\n    source: {}\n",
        yaml_string(&source)
    ));
    Ok(Written { yaml: y, kv, model })
}

/// The inline `architecture:` block of `a` (with `config.json`'s names), saying where it came
/// from.
fn architecture_yaml(a: &Architecture, config: &Path) -> String {
    let mut y = format!(
        "    # The shape of {}, with the layer count of --num-layers.\n    architecture:\n      model_type: {}\n      num_hidden_layers: {}\n      hidden_size: {}\n      num_attention_heads: {}\n      num_key_value_heads: {}\n      head_dim: {}\n      intermediate_size: {}\n      vocab_size: {}\n      tie_word_embeddings: {}\n      dtype_bytes: {}\n",
        config.display(),
        yaml_string(&a.model_type),
        a.layers,
        a.hidden_size,
        a.attention_heads,
        a.kv_heads,
        a.head_dim,
        a.intermediate_size,
        a.vocab_size,
        a.tied_embeddings,
        a.dtype_bytes
    );
    if let Some(m) = a.moe {
        y.push_str(&format!(
            "      num_experts: {}\n      num_experts_per_tok: {}\n      moe_intermediate_size: {}\n",
            m.experts, m.experts_per_token, m.expert_intermediate_size
        ));
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_written_relative_to_the_output_folder() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("data/perf/x");
        let out = dir.path().join("profiles");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        assert_eq!(relative(&a, Some(&out)), PathBuf::from("../data/perf/x"));
        assert!(relative(&a, None).is_absolute());
    }
}
