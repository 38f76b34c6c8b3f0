//! The flags of `wva estimate` and their checks: what each means, its default, and the values
//! it takes. [`super::estimate`] lowers them into a request and runs it.

use super::args;
use super::output::DocFormat;
use crate::estimate::read::{ColumnMap, MAX_BATCH, SourceFormat};
use crate::perf::PerfModelKind;
use clap::Args;
use std::path::PathBuf;

pub const AFTER_HELP: &str = "\
Formats (detected from the file name, header or JSON keys; or --format):
  lmbench                 llm-d-benchmark / LMBench per-request CSV, one file per request rate
  splitwise               Splitwise perf_model.csv (per-iteration prefill and decode times)
  llmservingsim-profile   LLMServingSim profiler folder (attention.csv, dense.csv; --num-layers),
                          or with --cluster-config / --perf-model tables: a `tables` profile
  argonne                 Argonne LLM-Inference-Bench All_results.csv (whole static batches)
  vllm-bench              vLLM benchmark_serving.py --save-result JSON
  guidellm                GuideLLM JSON report
  csv                     any CSV of iteration times (--columns batch=bs,time_ms=itl,...)
  sweep                   a load sweep's summary, one row per run: concurrency or rate_rps,
                          prompt_tokens, output_tokens (or shape 1024x512), ttft_ms (or
                          ttft_p50_ms, ...), tpot_ms or itl_ms (--columns concurrency=clients,...)
  prometheus              `wva observe --observations-out`: a variant's steps in production,
                          grouped into load levels (docs/observe.md)

Per-request logs (lmbench), sweep tables and observations are calibrated through the simulator
by default: every log is replayed and every row rerun as its benchmark ran, and the parameters
(with the token budget, unless --max-num-batched-tokens gives it, and the KV capacity where a
run fills it) are searched to match TTFT and TPOT; the profile is wva-v3, which carries the
budget.
--direct fits decode times instead (runs that look saturated are then left to validation).

Without -o the profile YAML goes to stdout; --report prints the fit table instead.
Exit codes: 0 fitted (warnings on stderr), 2 bad input, 3 parameters not identifiable with
--strict.

A `tables` profile (--perf-model tables, the default with --cluster-config) is not fitted:
it points at the profiler's tables and the model's config.json, with the deployment
(TP/EP/DP, interconnect, GPU memory) from LLMServingSim's cluster config, and the simulator
composes every iteration from the tables as the engine runs them.

Examples:
  wva estimate profiler/perf/RTXPRO6000/Qwen/Qwen3-32B/bf16 --format llmservingsim-profile \
      --cluster-config bench/examples/RTXPRO6000/Qwen3-32B/config.json -o qwen3-32b.yaml
  wva estimate perf_model.csv --model llama2-70b --hardware h100-80gb --tp 4 \\
      --accelerator H100 -o llama2-70b-h100.yaml --report
  wva estimate run_qps0.5.csv run_qps0.75.csv --validate run_qps1.0.csv run_qps1.25.csv \\
      --model meta-llama/Llama-3.1-70B-Instruct --accelerator A100 --tp 2 --report
  wva estimate sweep.csv --columns concurrency=clients,tpot_ms=mean_tpot --report
  wva estimate All_results.csv --framework vllm --model llama-3-8b --hardware h100 \\
      --tp 1 --holdout 0.3 --report";

/// Arguments of `wva estimate`.
#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// Benchmark files to fit (a folder of LMBench CSVs stands for its files; a folder for
    /// LLMServingSim profiles)
    #[arg(required = true, value_name = "FILES")]
    pub(super) files: Vec<PathBuf>,
    /// Format of the files (default: detected)
    #[arg(long, value_enum)]
    pub(super) format: Option<SourceFormat>,
    /// Perf model to fit: wva-v1, wva-v2 or wva-v3; or `tables` for a profile that composes
    /// the profiler's tables (default: tables with --cluster-config, else wva-v2)
    #[arg(long, value_parser = perf_model_arg)]
    pub(super) perf_model: Option<PerfModelArg>,
    /// LLMServingSim cluster config (config.json of a run): tensor, expert and data
    /// parallelism, GPU memory and interconnect of the deployment, for a `tables` profile
    #[arg(long, value_name = "FILE")]
    pub(super) cluster_config: Option<PathBuf>,
    /// The model's Hugging Face config.json, for a `tables` profile (default: found in
    /// LLMServingSim's layout, configs/model/<org>/<name>.json above the tables)
    #[arg(long, value_name = "FILE")]
    pub(super) model_config: Option<PathBuf>,
    /// vLLM's --gpu-memory-utilization, for the KV capacity of a `tables` profile (LLMServingSim's
    /// mem_util is a calibration of its own, not read)
    #[arg(long, value_parser = utilization, default_value_t = crate::perf::memory::DEFAULT_GPU_MEMORY_UTILIZATION)]
    pub(super) gpu_memory_utilization: f64,
    /// GPU memory, GB, for the KV capacity of a `tables` profile without --cluster-config
    #[arg(long, value_parser = args::positive)]
    pub(super) gpu_memory_gb: Option<f64>,
    /// The link between the GPUs of a `tables` profile without --cluster-config: a generation
    /// (nvlink3, nvlink4, nvlink5, pcie4, pcie5, infinity-fabric) or BANDWIDTH_GB_S,LATENCY_US
    #[arg(long, value_parser = crate::perf::Interconnect::parse)]
    pub(super) interconnect: Option<crate::perf::Interconnect>,

    /// Rows of this model (multi-model files); also the profile's model name
    #[arg(long)]
    pub(super) model: Option<String>,
    /// Rows of this hardware (multi-hardware files)
    #[arg(long)]
    pub(super) hardware: Option<String>,
    /// Rows of this tensor-parallel degree / GPU count; also the profile's GPUs per replica
    #[arg(long, value_parser = args::positive_int)]
    pub(super) tp: Option<u32>,
    /// Rows of this serving framework (Argonne: vLLM, TensorRT-LLM, ...)
    #[arg(long)]
    pub(super) framework: Option<String>,
    /// LLMServingSim profiles: decoder layers of the model (the profiler times one layer)
    #[arg(long, value_parser = args::positive_int)]
    pub(super) num_layers: Option<u32>,
    /// Per-request logs of a fleet: replicas the requests were spread over
    #[arg(long, value_parser = args::replicas, default_value = "1")]
    pub(super) replicas: u32,
    /// Generic CSV: where each quantity is, quantity=column pairs (batch, time_ms,
    /// context_tokens, kv_tokens, prefill_tokens, iterations)
    #[arg(long)]
    pub(super) columns: Option<ColumnMap>,
    /// The engine's per-iteration token budget (vLLM --max-num-batched-tokens): how prefills
    /// of static batches split, and wva-v3's budget (default 8192); for a `tables` profile, the
    /// engine's budget (default: the cluster config's, else the one the tables were profiled at)
    #[arg(long, value_parser = args::positive_int)]
    pub(super) max_num_batched_tokens: Option<u32>,

    /// Down-weight outliers (Huber weights, iteratively reweighted)
    #[arg(long)]
    pub(super) robust: bool,
    /// Minimise absolute errors in ms (default: relative errors, so short and long
    /// measurements count alike)
    #[arg(long)]
    pub(super) absolute: bool,
    /// Weigh every observation alike (default: each kind of observation, such as decode,
    /// prefill and mixed iterations, carries the same total weight, however many of each the
    /// data has)
    #[arg(long)]
    pub(super) unbalanced: bool,
    /// Fit on a random share of the observations and report the error on the rest (0 < F < 1)
    #[arg(long, value_parser = holdout_share)]
    pub(super) holdout: Option<f64>,
    /// Files to predict with the fitted parameters, not fitted (e.g. higher request rates)
    #[arg(long, num_args = 1.., value_name = "FILES")]
    pub(super) validate: Vec<PathBuf>,
    /// Seed of the hold-out split
    #[arg(long, default_value = "1")]
    pub(super) seed: u64,
    /// Exit 3 when the parameters are not identifiable from the data
    #[arg(long)]
    pub(super) strict: bool,

    /// Fit through the simulator: replay every per-request log (its arrivals and tokens) and
    /// run every summary row as its benchmark did (closed loop at its concurrency, or arrivals
    /// at its rate), and search the parameters that match TTFT and TPOT together. The default
    /// for per-request logs and sweep tables; vllm-bench and guidellm results are fitted
    /// directly unless it is given
    #[arg(long, conflicts_with_all = ["holdout", "robust", "absolute", "unbalanced", "strict", "plot"])]
    pub(super) calibrate: bool,
    /// Per-request logs and sweep tables: fit decode times directly (a linear model of the
    /// iterations, no queueing, TTFT unused) instead of calibrating
    #[arg(long, conflicts_with = "calibrate")]
    pub(super) direct: bool,
    /// KV-cache capacity per replica, tokens, for calibration (default: fitted, and written
    /// only when the runs determine it)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) kv_capacity_tokens: Option<u64>,
    /// Per-request logs: fit the runs that look saturated too (default: the direct fit leaves
    /// them out and predicts them as validation files; calibration keeps them)
    #[arg(long)]
    pub(super) keep_saturated: bool,

    /// Write the profile to this file instead of stdout (`-`: stdout)
    #[arg(long, value_name = "FILE")]
    pub(super) out: Option<PathBuf>,
    /// Format of the profile: yaml (commented) or json; `wva plan` and `wva simulate` read both
    #[arg(short = 'o', long, value_enum, default_value_t = ProfileFormat::Yaml)]
    pub(super) output: ProfileFormat,
    /// Print the fit report (parameters with uncertainty, fit quality, worst residuals)
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "table")]
    pub(super) report: Option<DocFormat>,
    /// Draw measured vs fitted times and the residuals (PNG, or SVG by extension)
    #[arg(long, value_name = "FILE", value_parser = args::plot_path)]
    pub(super) plot: Option<PathBuf>,
    /// The profile's accelerator name (default: --hardware, else `unknown`)
    #[arg(long)]
    pub(super) accelerator: Option<String>,
    /// The profile's max batch, vLLM --max-num-seqs (default: the largest batch in a table of
    /// batch sizes; 256, vLLM's default, for load tests, whose concurrency is not a limit)
    #[arg(long, value_parser = max_batch_value)]
    pub(super) max_batch: Option<u32>,
}

/// `--perf-model`: a linear model to fit, or `tables`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfModelArg {
    /// Fit this linear model.
    Linear(PerfModelKind),
    /// Write a `tables` profile.
    Tables,
}

fn perf_model_arg(text: &str) -> Result<PerfModelArg, String> {
    if text.trim().eq_ignore_ascii_case("tables") {
        return Ok(PerfModelArg::Tables);
    }
    PerfModelKind::parse(text)
        .map(PerfModelArg::Linear)
        .ok_or_else(|| {
            format!("unknown perf model `{text}`; known: wva-v1, wva-v2, wva-v3, tables")
        })
}

fn utilization(text: &str) -> Result<f64, String> {
    let v = args::positive(text)?;
    if v > 1.0 {
        return Err(format!("a fraction in (0, 1], got {text}"));
    }
    Ok(v)
}

fn max_batch_value(text: &str) -> Result<u32, String> {
    let v = args::positive_int(text)?;
    if v > MAX_BATCH {
        return Err(format!("at most {MAX_BATCH}, got {v}"));
    }
    Ok(v)
}

fn holdout_share(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!(
            "the held-out share must be between 0 and 1, got {text}"
        ))
    }
}

/// `-o/--output`: the format of the written profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileFormat {
    /// YAML, with comments on where the parameters came from.
    Yaml,
    /// JSON (the same fields; YAML readers read it too).
    Json,
}
