//! `wva estimate --perf-model tables` (the default with `--cluster-config`): writes a profile
//! that points at LLMServingSim's profiler tables, with the deployment from its cluster config.

use crate::error::{Error, ExitCode};
use crate::estimate::read::SourceFormat;
use crate::estimate::tables_profile::{TablesProfile, write};
use crate::perf::Parallelism;
use crate::spec::tables::{find_model_config, read_cluster_config, read_model_config};
use std::path::PathBuf;

/// What a `tables` profile takes from `wva estimate`'s arguments.
pub(super) struct TablesArgs {
    pub files: Vec<PathBuf>,
    pub format: Option<SourceFormat>,
    pub cluster_config: Option<PathBuf>,
    pub model_config: Option<PathBuf>,
    pub model: Option<String>,
    pub accelerator: Option<String>,
    pub tp: Option<u32>,
    pub num_layers: Option<u32>,
    pub max_batch: Option<u32>,
    pub max_num_batched_tokens: Option<u32>,
    pub gpu_memory_utilization: f64,
    pub gpu_memory_gb: Option<f64>,
    pub interconnect: Option<crate::perf::Interconnect>,
    pub out: Option<PathBuf>,
    pub output: super::estimate::ProfileFormat,
    /// Flags of a fit given anyway (refused: nothing is fitted).
    pub fit_flags: Vec<&'static str>,
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    Error::Usage(message.into()).into()
}

pub(super) fn run(a: &TablesArgs) -> anyhow::Result<ExitCode> {
    if !a.fit_flags.is_empty() {
        return Err(usage(format!(
            "{}: a `tables` profile is not fitted, so these do not apply",
            a.fit_flags.join(", ")
        )));
    }
    if a.format
        .is_some_and(|f| f != SourceFormat::LlmservingsimProfile)
    {
        return Err(usage(
            "a `tables` profile reads an LLMServingSim profiler folder (--format llmservingsim-profile)",
        ));
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
    // The deployment: the cluster config, or flags.
    let cluster = match &a.cluster_config {
        Some(path) => Some(read_cluster_config(path, None)?),
        None => None,
    };
    let model = a
        .model
        .clone()
        .or_else(|| cluster.as_ref().map(|c| c.model.clone()))
        .ok_or_else(|| usage("give --model (or --cluster-config, which names it)"))?;
    let profiled_budget = crate::spec::tables::profiled_budget(tables);
    let model_config = match &a.model_config {
        Some(p) => p.clone(),
        None => find_model_config(tables, &model).ok_or_else(|| {
            usage(format!(
                "no config.json for `{model}` found above {} (LLMServingSim's configs/model/{model}.json); give --model-config",
                tables.display()
            ))
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
                return Err(usage(format!(
                    "--tp {tp} but the cluster config says tp_size {}",
                    c.tp
                )));
            }
            // Re-read for the expert-parallel default, which depends on the model.
            let c2 =
                read_cluster_config(a.cluster_config.as_deref().unwrap_or(tables), Some(is_moe))?;
            let mut notes = format!(
                "{} ({} replica{})",
                a.cluster_config
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                c2.replicas,
                if c2.replicas == 1 { "" } else { "s" }
            );
            if (c2.gpu_memory_utilization - a.gpu_memory_utilization).abs() > 1e-9 {
                notes.push_str(&format!(
                    "; its mem_util {} is LLMServingSim's calibration, vLLM's gpu_memory_utilization {} used instead",
                    c2.gpu_memory_utilization, a.gpu_memory_utilization
                ));
            }
            (
                Parallelism {
                    tp: c2.tp,
                    ep: c2.ep,
                    dp: c2.dp,
                },
                Some(a.interconnect.unwrap_or(c2.interconnect)),
                Some(c2.gpu_memory_gib),
                notes,
            )
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
        // A flag wins, then the cluster config, then the budget the tables were profiled at.
        max_num_batched_tokens: a
            .max_num_batched_tokens
            .or(cluster.as_ref().and_then(|c| c.max_num_batched_tokens))
            .or(profiled_budget)
            .unwrap_or(crate::perf::DEFAULT_MAX_NUM_BATCHED_TOKENS),
        deployment,
    };
    // Paths in the profile are relative to its file's folder (to the current one on stdout).
    let out_dir = a
        .out
        .as_ref()
        .and_then(|p| p.parent().map(PathBuf::from))
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let written = write(&profile, Some(&out_dir))?;
    for note in written.model.notes() {
        super::say::note(format_args!("{note}"));
    }
    let largest = written.model.largest_chunk_tokens();
    if f64::from(profile.max_num_batched_tokens) > largest {
        super::say::note(format_args!(
            "the token budget ({}) is above the largest prefill chunk the profiler measured ({largest:.0}); longer chunks are extrapolated from the grid's last points",
            profile.max_num_batched_tokens
        ));
    }
    if written.kv.is_none() {
        super::say::note(
            "the GPU's memory is not known, so the profile has no KV capacity (unlimited); give --cluster-config or --gpu-memory-gb for kv_capacity_tokens: auto",
        );
    }
    super::output::write_out(
        a.out.as_deref(),
        &super::estimate::profile_text(&written.yaml, a.output)?,
    )?;
    Ok(ExitCode::Success)
}
