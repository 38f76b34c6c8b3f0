//! `wva trace`: characterise, synthesise and convert request traces.

use super::args;
use super::load::ShapeArgs;
use super::output::{DocFormat, emit, render, write_out};
use super::progress::Terminal;
use super::trace_input::TraceInputArgs;
use crate::error::{Error, ExitCode};
use crate::report::trace_table;
use crate::sim::Horizon;
use crate::trace::{Format, ModelMap};
use crate::usecase::trace::{self, ConvertRequest, SynthRequest, SynthSource};
use clap::{Args, Subcommand};
use std::path::PathBuf;

pub(super) const AFTER_HELP: &str = "\
Formats (detected from the first line, or given with --trace-format): canonical
(arrival_s,prompt_tokens,output_tokens[,model]), azure (Azure LLM inference 2023), mooncake
(JSONL), burstgpt, lmbench (llm-d-benchmark per-request CSV), vidur (processed trace CSV),
llmservingsim (workload or measured JSONL). Requests with zero output tokens are failed
requests: counted and left out.

Examples:
  wva trace stats ../shared/data/azure_llm_2023/AzureLLMInferenceTrace_conv.csv
  wva trace synth --like ../shared/data/azure_llm_2023/AzureLLMInferenceTrace_conv.csv \\
      --window 0..600 --out traces/azure-conv-like-10min.csv
  wva trace synth --rate-rps 5 --in-tokens 1000 --out-tokens 200 --duration-s 300 \\
      --output-dist exponential --out synthetic.csv
  wva trace convert trace.jsonl --to vidur --rate-scale 2 --out trace-2x.csv";

fn parse_models(text: &str) -> Result<ModelMap, String> {
    text.parse()
}

/// What `stats` and `convert` add to the records they read.
#[derive(Debug, Args)]
pub(super) struct RecordArgs {
    /// Model names: NAME gives every request that model; OLD=NEW[,OLD2=NEW2] renames models
    #[arg(long, value_parser = parse_models)]
    model: Option<ModelMap>,
    /// Seed of --rate-scale's random choices
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, Subcommand)]
pub(super) enum TraceCommand {
    /// Characterise a trace: volume, rate per minute, burstiness, token distributions
    Stats(StatsArgs),
    /// Write a synthetic trace, from distributions or like a real one
    Synth(Box<SynthArgs>),
    /// Convert a trace to another format (with the transformations applied)
    Convert(ConvertArgs),
}

#[derive(Debug, Args)]
pub(super) struct TraceArgs {
    #[command(subcommand)]
    command: TraceCommand,
}

#[derive(Debug, Args)]
pub(super) struct StatsArgs {
    /// The trace file
    file: PathBuf,
    #[command(flatten)]
    input: TraceInputArgs,
    #[command(flatten)]
    records: RecordArgs,
    /// Plot the rate over time and the token histograms (PNG, or SVG for a .svg name)
    #[arg(long, value_name = "FILE", value_parser = args::plot_path)]
    plot: Option<PathBuf>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = DocFormat::Table)]
    output: DocFormat,
}

#[derive(Debug, Args)]
pub(super) struct SynthArgs {
    /// Copy this trace's per-minute rate curve and its joint token distribution
    #[arg(long, value_name = "FILE", conflicts_with_all = ["rate_rps", "in_tokens", "out_tokens"])]
    like: Option<PathBuf>,
    #[command(flatten)]
    input: TraceInputArgs,
    /// With --like: draw each minute's count from a Poisson distribution around the source's
    /// (default: keep the source's counts, placing arrivals at random within each minute)
    #[arg(long, requires = "like")]
    poisson_counts: bool,
    /// Without --like: arrival rate, requests/s
    #[arg(long, value_parser = args::rate_rps)]
    rate_rps: Option<f64>,
    /// Without --like: mean prompt tokens
    #[arg(long, value_parser = args::tokens)]
    in_tokens: Option<f64>,
    /// Without --like: mean output tokens
    #[arg(long, value_parser = args::output_tokens)]
    out_tokens: Option<f64>,
    #[command(flatten)]
    shape: ShapeArgs,
    /// Without --like: requests to draw
    #[arg(long, value_parser = args::requests, conflicts_with = "duration_s")]
    requests: Option<u64>,
    /// Without --like: seconds of arrivals to draw
    #[arg(long, value_parser = args::positive)]
    duration_s: Option<f64>,
    /// Model names: NAME gives every request that model; with --like, OLD=NEW[,...] renames
    #[arg(long, value_parser = parse_models)]
    model: Option<ModelMap>,
    /// Seed of every random choice
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Format to write (-o/--output are the same flag, as in every command)
    #[arg(long, short = 'o', visible_alias = "output", value_enum, default_value_t = Format::Canonical)]
    to: Format,
    /// Write here (default: standard output; `-`: standard output)
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct ConvertArgs {
    /// The trace file
    file: PathBuf,
    #[command(flatten)]
    input: TraceInputArgs,
    #[command(flatten)]
    records: RecordArgs,
    /// Format to write (-o/--output are the same flag, as in every command)
    #[arg(long, short = 'o', visible_alias = "output", value_enum)]
    to: Format,
    /// Write here (default: standard output; `-`: standard output)
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Runs `wva trace ...`.
pub(super) fn run(a: TraceArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        TraceCommand::Stats(s) => stats(s),
        TraceCommand::Synth(s) => synth(*s),
        TraceCommand::Convert(c) => convert(c),
    }
}

fn stats(a: StatsArgs) -> anyhow::Result<ExitCode> {
    let report = trace::stats(&a.input.file(&a.file, a.records.model, a.records.seed))?;
    if let Some(path) = &a.plot {
        crate::report::plot::trace_stats(path, &report.stats).map_err(Error::from)?;
    }
    emit(&render(a.output, &report, trace_table))?;
    Ok(ExitCode::Success)
}

fn synth(a: SynthArgs) -> anyhow::Result<ExitCode> {
    let shape = a.shape.shape()?;
    let source = match &a.like {
        Some(path) => SynthSource::Like {
            trace: a.input.file(path, a.model.clone(), a.seed),
            poisson_counts: a.poisson_counts,
        },
        None => {
            if a.input.is_set() {
                return Err(Error::Usage(
                    "--trace-format, --window, --rate-scale, --time-scale, --max-requests, --skip-bad-rows and --keep-failed apply to --like FILE".into(),
                )
                .into());
            }
            let model = match &a.model {
                None => None,
                Some(ModelMap::Assign(m)) => Some(m.clone()),
                Some(ModelMap::Rename(_)) => {
                    return Err(Error::Usage(
                        "--model OLD=NEW renames the models of a --like trace; give a plain NAME here".into(),
                    )
                    .into());
                }
            };
            let (Some(rate_rps), Some(prompt_tokens), Some(output_tokens)) =
                (a.rate_rps, a.in_tokens, a.out_tokens)
            else {
                return Err(Error::Usage(
                    "give --like FILE, or --rate-rps, --in-tokens and --out-tokens".into(),
                )
                .into());
            };
            let horizon = match (a.requests, a.duration_s) {
                (Some(n), _) => Horizon::Requests(n),
                (None, Some(d)) => {
                    args::check_drawn(rate_rps * d, "--duration-s")?;
                    Horizon::Duration(d)
                }
                (None, None) => {
                    return Err(Error::Usage("give --requests N or --duration-s T".into()).into());
                }
            };
            SynthSource::Distributions {
                rate_rps,
                prompt_tokens,
                output_tokens,
                shape,
                horizon,
                model,
            }
        }
    };
    let request = SynthRequest {
        source,
        seed: a.seed,
        to: a.to,
    };
    write_out(
        a.out.as_deref(),
        &trace::synth(&request, &Terminal::default())?,
    )?;
    Ok(ExitCode::Success)
}

fn convert(a: ConvertArgs) -> anyhow::Result<ExitCode> {
    let request = ConvertRequest {
        trace: a.input.file(&a.file, a.records.model, a.records.seed),
        to: a.to,
    };
    write_out(
        a.out.as_deref(),
        &trace::convert(&request, &Terminal::default())?,
    )?;
    Ok(ExitCode::Success)
}
