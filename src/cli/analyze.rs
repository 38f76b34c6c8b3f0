//! `wva analyze`: one replica, from flags or a profile file: metrics at a rate, or the largest
//! rate meeting TTFT/ITL targets.

use super::args;
use super::output::emit;
use crate::error::{Error, ExitCode};
use crate::perf::NamedParams;
use crate::perf::{PerfModelKind, PerfParams, RequestShape};
use crate::queueing::DEFAULT_QUEUE_PER_BATCH;
use crate::report::{analysis_table, to_json, to_yaml};
use crate::spec::{Profile, load_profiles, matching_profiles};
use crate::usecase::analyze::{AnalyzeRequest, Question, analyze};
use anyhow::Context;
use clap::{ArgGroup, Args, ValueEnum};
use std::path::PathBuf;

pub(super) const AFTER_HELP: &str = "\
Give the load either as a rate (--rate-rps/--rate-rpm: predict latencies at that rate) or as
targets (--target-ttft-ms and/or --target-itl-ms: find the largest rate one replica sustains
within them). Times are in ms; the perf parameters are those of the chosen model:
  wva-v1: ITL = alpha + beta*batch, prefill = gamma + delta*prompt*batch      (--delta needed)
  wva-v2: iteration = alpha + beta*tokens + gamma*kv_tokens
  wva-v3: as wva-v2, with chunked prefill under --max-num-batched-tokens (default 8192)

Examples:
  wva analyze --perf-model wva-v2 --alpha 12 --beta 0.05 --gamma 0.0005 --max-batch 48 \\
      --max-queue 128 --in-tokens 128 --out-tokens 512 --rate-rps 3 -o json
  wva analyze --alpha 12 --beta 0.05 --gamma 0.0005 --max-batch 48 --in-tokens 128 \\
      --out-tokens 512 --target-ttft-ms 60 --target-itl-ms 20
  wva analyze --profile profiles/qwen2.5-14b.yaml --accelerator H100 --in-tokens 1024 \\
      --out-tokens 512 --rate-rps 2";

/// Output formats of `wva analyze`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum AnalyzeFormat {
    /// A table for people.
    Table,
    /// One JSON object.
    Json,
    /// YAML.
    Yaml,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("load").required(true).multiple(true).args(["rate_rps", "rate_rpm", "target_ttft_ms", "target_itl_ms"])))]
#[command(group(ArgGroup::new("targets").multiple(true).args(["target_ttft_ms", "target_itl_ms"])))]
pub(super) struct AnalyzeArgs {
    /// Read the perf parameters, max batch and max queue from a profiles file
    #[arg(long, value_name = "FILE", conflicts_with_all = ["alpha", "beta", "gamma", "delta", "perf_model"])]
    profile: Option<PathBuf>,
    /// With --profile: the model to pick (when the file has several)
    #[arg(long, requires = "profile")]
    model: Option<String>,
    /// With --profile: the accelerator to pick (when the file has several)
    #[arg(long, requires = "profile")]
    accelerator: Option<String>,

    /// Perf model of the parameters: wva-v1, wva-v2 or wva-v3
    #[arg(long, value_parser = args::perf_model, default_value = "wva-v2")]
    perf_model: PerfModelKind,
    /// Fixed time per iteration, ms (wva-v1: ITL at an empty batch)
    #[arg(long, value_parser = args::perf_alpha)]
    alpha: Option<f64>,
    /// Time per token processed, ms (wva-v1: ITL increase per request in the batch)
    #[arg(long, value_parser = args::perf_coefficient)]
    beta: Option<f64>,
    /// Time per KV-cache token read, ms (wva-v1: fixed prefill time)
    #[arg(long, value_parser = args::perf_coefficient)]
    gamma: Option<f64>,
    /// wva-v1 only: prefill time per prompt token per request in the batch, ms
    #[arg(long, value_parser = args::perf_coefficient)]
    delta: Option<f64>,
    /// wva-v3 only: the engine's per-iteration token budget (vLLM --max-num-batched-tokens)
    #[arg(long, value_parser = args::positive_int)]
    max_num_batched_tokens: Option<u32>,

    /// Max batch (vLLM --max-num-seqs); required without --profile
    #[arg(long, value_parser = args::batch)]
    max_batch: Option<u32>,
    /// Requests that may wait beyond the max batch (default: 10 x max batch)
    #[arg(long, value_parser = args::queue_or_zero)]
    max_queue: Option<u32>,

    /// Mean prompt tokens per request
    #[arg(long, value_parser = args::tokens)]
    in_tokens: f64,
    /// Mean output tokens per request
    #[arg(long, value_parser = args::output_tokens)]
    out_tokens: f64,

    /// Arrival rate, requests per second
    #[arg(long, value_parser = args::rate_rps, conflicts_with_all = ["rate_rpm", "target_ttft_ms", "target_itl_ms"])]
    rate_rps: Option<f64>,
    /// Arrival rate, requests per minute (WVA's unit)
    #[arg(long, value_parser = args::rate_rpm, conflicts_with_all = ["target_ttft_ms", "target_itl_ms"])]
    rate_rpm: Option<f64>,
    /// Size for this mean time-to-first-token, ms
    #[arg(long, value_parser = args::positive)]
    target_ttft_ms: Option<f64>,
    /// Size for this mean inter-token latency, ms
    #[arg(long, value_parser = args::positive)]
    target_itl_ms: Option<f64>,

    /// Also search the smallest max batch with near-peak throughput under the targets
    /// (upstream's optimal-concurrency search over [1, max batch])
    #[arg(long, requires = "targets")]
    optimize_batch: bool,

    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = AnalyzeFormat::Table)]
    output: AnalyzeFormat,
}

fn perf_from_flags(a: &AnalyzeArgs) -> Result<PerfParams, Error> {
    let kind = a.perf_model;
    let need = |v: Option<f64>, flag: &str| {
        v.ok_or_else(|| {
            Error::Usage(format!(
                "--{flag} is required for {kind} (it takes {})",
                kind.parameter_names().join(", ")
            ))
        })
    };
    let refuse = |present: bool, flag: &str| {
        if present {
            Err(Error::Usage(format!(
                "--{flag} is not a parameter of {kind}"
            )))
        } else {
            Ok(())
        }
    };
    let mut named = NamedParams::new(
        need(a.alpha, "alpha")?,
        need(a.beta, "beta")?,
        need(a.gamma, "gamma")?,
    );
    match kind {
        PerfModelKind::V1 => {
            refuse(a.max_num_batched_tokens.is_some(), "max-num-batched-tokens")?;
            named.delta = need(a.delta, "delta")?;
        }
        PerfModelKind::V2 => {
            refuse(a.delta.is_some(), "delta")?;
            refuse(a.max_num_batched_tokens.is_some(), "max-num-batched-tokens")?;
        }
        PerfModelKind::V3 => {
            refuse(a.delta.is_some(), "delta")?;
            if let Some(budget) = a.max_num_batched_tokens {
                named.max_num_batched_tokens = budget;
            }
        }
    }
    Ok(PerfParams::from_named(kind, named))
}

fn pick_profile(a: &AnalyzeArgs, path: &std::path::Path) -> anyhow::Result<Profile> {
    let profiles = load_profiles(path)?;
    match matching_profiles(&profiles, a.model.as_deref(), a.accelerator.as_deref()).as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::Usage(format!(
            "{}: no profile matches{}{}; it has: {}",
            path.display(),
            a.model
                .as_deref()
                .map(|m| format!(" --model {m}"))
                .unwrap_or_default(),
            a.accelerator
                .as_deref()
                .map(|m| format!(" --accelerator {m}"))
                .unwrap_or_default(),
            list(&profiles)
        ))
        .into()),
        _ => Err(Error::Usage(format!(
            "{}: several profiles match; choose with --model and --accelerator: {}",
            path.display(),
            list(&profiles)
        ))
        .into()),
    }
}

fn list(profiles: &[Profile]) -> String {
    profiles
        .iter()
        .map(|p| format!("{} on {}", p.model, p.accelerator))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn run(a: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let (perf, max_batch, max_queue) = match &a.profile {
        Some(path) => {
            if a.max_num_batched_tokens.is_some() {
                return Err(Error::Usage("--max-num-batched-tokens cannot override a profile's perf block; edit the profile".into()).into());
            }
            let p = pick_profile(&a, path)
                .with_context(|| format!("reading profile {}", path.display()))?;
            let max_batch = a.max_batch.unwrap_or(p.replica_max_batch());
            let max_queue = a.max_queue.unwrap_or_else(|| p.queue_for(max_batch));
            // A tables profile's line, fitted over this request shape's operating region.
            let shape = RequestShape {
                prompt_tokens: a.in_tokens,
                output_tokens: a.out_tokens,
            };
            let budget = p.max_num_batched_tokens().max(max_batch);
            (
                p.analytic_for(&shape, max_batch, budget).0,
                max_batch,
                max_queue,
            )
        }
        None => {
            let perf = perf_from_flags(&a)?;
            let max_batch = a.max_batch.ok_or_else(|| {
                Error::Usage("--max-batch is required (or take it from --profile)".into())
            })?;
            (
                perf,
                max_batch,
                a.max_queue
                    .unwrap_or(max_batch.saturating_mul(DEFAULT_QUEUE_PER_BATCH)),
            )
        }
    };
    let analysis = analyze(&AnalyzeRequest {
        perf,
        max_batch,
        max_queue,
        shape: RequestShape {
            prompt_tokens: a.in_tokens,
            output_tokens: a.out_tokens,
        },
        question: match a.rate_rps.or(a.rate_rpm.map(|r| r / 60.0)) {
            Some(rate) => Question::AtRate(rate),
            None => Question::Size {
                ttft_ms: a.target_ttft_ms,
                itl_ms: a.target_itl_ms,
                search_batch: a.optimize_batch,
            },
        },
    })?;
    let text = match a.output {
        AnalyzeFormat::Table => analysis_table(&analysis),
        AnalyzeFormat::Json => to_json(&analysis),
        AnalyzeFormat::Yaml => to_yaml(&analysis),
    };
    emit(&text)?;
    Ok(ExitCode::Success)
}
