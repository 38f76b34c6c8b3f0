//! `wva estimate --perf-model tables` as a library call: a profile that points at
//! LLMServingSim's profiler tables, with the deployment (parallelism, link, GPU memory) from its
//! cluster config or from what the request gives. Nothing is fitted.

use super::Listener;
use crate::error::{Error, Field, request_error};
use crate::estimate::read::SourceFormat;
use crate::estimate::tables_profile::{TablesProfile, write};
use crate::perf::{Interconnect, Parallelism};
use crate::spec::tables::{find_model_config, read_cluster_config, read_model_config};
use std::path::{Path, PathBuf};

/// A `tables` profile to write.
#[derive(Clone, Debug)]
pub struct TablesRequest {
    /// The profiler folder (exactly one).
    pub files: Vec<PathBuf>,
    /// The format given, if any (only `llmservingsim-profile` fits).
    pub format: Option<SourceFormat>,
    /// LLMServingSim's cluster config of the deployment.
    pub cluster_config: Option<PathBuf>,
    /// The model's Hugging Face config.json (default: found in LLMServingSim's layout).
    pub model_config: Option<PathBuf>,
    /// The model's name (default: the cluster config's).
    pub model: Option<String>,
    /// The accelerator's name (default: the cluster config's hardware, else `unknown`).
    pub accelerator: Option<String>,
    /// Tensor-parallel degree (without a cluster config; with one, it must agree).
    pub tp: Option<u32>,
    /// Decoder layers of the model (the profiler times one).
    pub num_layers: Option<u32>,
    /// Max batch (default: the cluster config's, else 256).
    pub max_batch: Option<u32>,
    /// Token budget (default: the cluster config's, else the one profiled).
    pub max_num_batched_tokens: Option<u32>,
    /// vLLM's `--gpu-memory-utilization`.
    pub gpu_memory_utilization: f64,
    /// GPU memory, GB, without a cluster config.
    pub gpu_memory_gb: Option<f64>,
    /// The link between the GPUs (default: the cluster config's).
    pub interconnect: Option<Interconnect>,
    /// The folder the profile is written to: its paths are relative to it.
    pub out_dir: PathBuf,
}

fn usage(message: impl Into<String>) -> Error {
    Error::Usage(message.into())
}

/// The profile's YAML; notes on what the tables cannot give go to `listener`.
pub fn tables_profile(request: &TablesRequest, listener: &dyn Listener) -> Result<String, Error> {
    let a = request;
    if a.format
        .is_some_and(|f| f != SourceFormat::LlmservingsimProfile)
    {
        return Err(request_error!(
            "a `tables` profile reads an LLMServingSim profiler folder (",
            Field("format"),
            " llmservingsim-profile)"
        )
        .into());
    }
    let [tables] = a.files.as_slice() else {
        return Err(usage(format!(
            "a `tables` profile reads one profiler folder; {} given",
            a.files.len()
        )));
    };
    if !tables.is_dir() {
        return Err(usage(format!(
            "{}: not a folder (a `tables` profile reads an LLMServingSim profiler folder)",
            tables.display()
        )));
    }
    // The deployment: the cluster config, or the request.
    let cluster = match &a.cluster_config {
        Some(path) => Some(read_cluster_config(path, None)?),
        None => None,
    };
    let model = a
        .model
        .clone()
        .or_else(|| cluster.as_ref().map(|c| c.model.clone()))
        .ok_or_else(|| {
            request_error!(
                "give ",
                Field("model"),
                " (or ",
                Field("cluster_config"),
                ", which names it)"
            )
        })?;
    let profiled_budget = crate::spec::tables::profiled_budget(tables);
    let model_config = match &a.model_config {
        Some(p) => p.clone(),
        None => find_model_config(tables, &model).ok_or_else(|| {
            request_error!(
                format!(
                    "no config.json for `{model}` found above {} (LLMServingSim's configs/model/{model}.json); give ",
                    tables.display()
                ),
                Field("model_config")
            )
        })?,
    };
    let mut architecture = read_model_config(&model_config)?;
    if let Some(layers) = a.num_layers {
        if let Some(m) = architecture.moe.as_mut() {
            m.moe_layers = m.moe_layers.min(layers);
        }
        architecture.layers = layers;
    }
    let is_moe = architecture.moe.is_some();
    let (parallel, interconnect, memory, deployment) = match &cluster {
        Some(c) => {
            if let Some(tp) = a.tp
                && tp != c.tp
            {
                return Err(request_error!(
                    Field("tp"),
                    format!(" {tp} but the cluster config says tp_size {}", c.tp)
                )
                .into());
            }
            deployment_of_cluster(a, tables, is_moe)?
        }
        None => (
            Parallelism {
                tp: a.tp.unwrap_or(1),
                ep: 1,
                dp: 1,
            },
            a.interconnect,
            a.gpu_memory_gb,
            "flags".to_string(),
        ),
    };
    let profile = TablesProfile {
        accelerator: a
            .accelerator
            .clone()
            .or_else(|| cluster.as_ref().map(|c| c.hardware.clone()))
            .unwrap_or_else(|| "unknown".into()),
        model,
        tables: tables.clone(),
        model_config,
        architecture,
        num_layers: a.num_layers,
        parallel,
        interconnect,
        gpu_memory_gib: memory,
        gpu_memory_utilization: a.gpu_memory_utilization,
        max_batch: a
            .max_batch
            .or(cluster.as_ref().and_then(|c| c.max_num_seqs))
            .unwrap_or(256),
        // The request's budget wins, then the cluster config's, then the one profiled.
        max_num_batched_tokens: a
            .max_num_batched_tokens
            .or(cluster.as_ref().and_then(|c| c.max_num_batched_tokens))
            .or(profiled_budget)
            .unwrap_or(crate::perf::DEFAULT_MAX_NUM_BATCHED_TOKENS),
        deployment,
    };
    let written = write(&profile, Some(&a.out_dir))?;
    for note in written.model.notes() {
        listener.note(note);
    }
    let largest = written.model.largest_chunk_tokens();
    if f64::from(profile.max_num_batched_tokens) > largest {
        listener.note(&format!(
            "the token budget ({}) is above the largest prefill chunk the profiler measured ({largest:.0}); longer chunks are extrapolated from the grid's last points",
            profile.max_num_batched_tokens
        ));
    }
    if written.kv.is_none() {
        listener.note(
            "the GPU's memory is not known, so the profile has no KV capacity (unlimited); give --cluster-config or --gpu-memory-gb for kv_capacity_tokens: auto",
        );
    }
    Ok(written.yaml)
}

/// The deployment a cluster config describes: parallelism (expert parallelism's default
/// depends on whether the model is a mixture of experts), link, GPU memory, and the profile's
/// line on where they came from.
fn deployment_of_cluster(
    a: &TablesRequest,
    tables: &Path,
    is_moe: bool,
) -> Result<(Parallelism, Option<Interconnect>, Option<f64>, String), Error> {
    let c = read_cluster_config(a.cluster_config.as_deref().unwrap_or(tables), Some(is_moe))?;
    let mut notes = format!(
        "{} ({} replica{})",
        a.cluster_config
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        c.replicas,
        if c.replicas == 1 { "" } else { "s" }
    );
    if (c.gpu_memory_utilization - a.gpu_memory_utilization).abs() > 1e-9 {
        notes.push_str(&format!(
            "; its mem_util {} is LLMServingSim's calibration, vLLM's gpu_memory_utilization {} used instead",
            c.gpu_memory_utilization, a.gpu_memory_utilization
        ));
    }
    Ok((
        Parallelism {
            tp: c.tp,
            ep: c.ep,
            dp: c.dp,
        },
        Some(a.interconnect.unwrap_or(c.interconnect)),
        Some(c.gpu_memory_gib),
        notes,
    ))
}
