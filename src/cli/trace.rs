//! `wva trace`: characterise, synthesise and convert request traces; and the trace flags that
//! `wva simulate` and `wva plan` share.

use super::args;
use super::load::ShapeArgs;
use super::output::{DocFormat, emit, render, write_out};
use crate::error::{Error, ExitCode};
use crate::load::synth::{Shape, from_distributions, like};
use crate::report::{TraceReport, trace_table};
use crate::sim::{Horizon, Traffic};
use crate::spec::Workload;
use crate::trace::stats::StatsBuilder;
use crate::trace::write::write;
use crate::trace::{Format, ModelMap, Trace, TraceRecord, Transforms, Window};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

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

/// Where a trace comes from and what to do to it, wherever one is read.
#[derive(Debug, Args, Clone)]
pub(super) struct TraceInputArgs {
    /// The trace's format (default: detected from its first line)
    #[arg(long, value_enum)]
    pub trace_format: Option<Format>,
    /// Skip malformed rows (and count them) instead of stopping at the first
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Keep only this window of the trace, seconds from its first arrival: START..END, START..
    /// or ..END
    #[arg(long, value_parser = parse_window)]
    pub window: Option<Window>,
    /// Scale the request rate: below 1 keeps each request with that probability, above 1 adds
    /// copies between consecutive arrivals (the rate curve keeps its shape)
    #[arg(long, value_parser = args::positive, default_value_t = 1.0)]
    pub rate_scale: f64,
    /// Multiply arrival times by this (0.5 replays twice as fast)
    #[arg(long, value_parser = args::time_scale, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Stop after this many requests
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: Option<u64>,
    /// Keep failed requests (zero output tokens) in the statistics instead of leaving them out
    #[arg(long)]
    pub keep_failed: bool,
}

fn parse_models(text: &str) -> Result<ModelMap, String> {
    text.parse()
}

fn parse_window(text: &str) -> Result<Window, String> {
    text.parse()
}

impl TraceInputArgs {
    /// Whether any of these flags differs from its default.
    pub fn is_set(&self) -> bool {
        self.trace_format.is_some()
            || self.skip_bad_rows
            || self.window.is_some()
            || self.rate_scale != 1.0
            || self.time_scale != 1.0
            || self.max_requests.is_some()
            || self.keep_failed
    }

    /// The transforms, with `model` names and `seed` for rate scaling.
    pub fn transforms(&self, model: Option<ModelMap>, seed: u64) -> Transforms {
        Transforms {
            window: self.window,
            rate_scale: self.rate_scale,
            time_scale: self.time_scale,
            max_requests: self.max_requests,
            model,
            seed,
            keep_failed: self.keep_failed,
        }
    }

    /// Opens `path` with these settings.
    pub fn open(&self, path: &Path, model: Option<ModelMap>, seed: u64) -> Result<Trace, Error> {
        Trace::open(
            path,
            self.trace_format,
            &self.transforms(model, seed),
            self.skip_bad_rows,
        )
        .map_err(|e| Error::Usage(e.to_string()))
    }

    /// Reads all of `path`, in arrival order, reporting what was left out on stderr.
    pub fn read(
        &self,
        path: &Path,
        model: Option<ModelMap>,
        seed: u64,
    ) -> Result<Vec<TraceRecord>, Error> {
        let mut trace = self.open(path, model, seed)?;
        let mut records = Vec::new();
        for r in trace.by_ref() {
            records.push(r.map_err(|e| Error::Usage(e.to_string()))?);
        }
        if records.is_empty() {
            return Err(no_requests(path, &trace));
        }
        note_left_out(path, &trace);
        // In arrival order (stable: equal arrivals keep file order), from 0.
        let unordered = records
            .windows(2)
            .filter(|w| w[1].arrival_s < w[0].arrival_s)
            .count();
        if unordered > 0 {
            super::say::note(format_args!(
                "{}: {unordered} record(s) arrive before the one above them; sorted by arrival",
                path.display()
            ));
            records.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
        }
        if let Some(first) = records.first().map(|r| r.arrival_s)
            && first != 0.0
        {
            for r in &mut records {
                r.arrival_s -= first;
            }
        }
        Ok(records)
    }
}

/// The error for a trace with nothing left to read: every row malformed (with
/// `--skip-bad-rows`), every request failed, or nothing in the window.
fn no_requests(path: &Path, trace: &Trace) -> Error {
    Error::Usage(format!(
        "{}: no requests to read ({} malformed rows skipped, {} failed requests left out)",
        path.display(),
        trace.skipped_rows(),
        trace.failed_requests()
    ))
}

fn note_left_out(path: &Path, trace: &Trace) {
    if trace.skipped_rows() > 0 || trace.failed_requests() > 0 {
        super::say::note(format_args!(
            "{}: left out {} malformed rows and {} failed requests (no output tokens)",
            path.display(),
            trace.skipped_rows(),
            trace.failed_requests()
        ));
    }
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
    let mut trace = a
        .input
        .open(&a.file, a.records.model.clone(), a.records.seed)?;
    let mut builder = StatsBuilder::new();
    let mut count = 0u64;
    for r in trace.by_ref() {
        builder.add(&r.map_err(|e| Error::Usage(e.to_string()))?);
        count += 1;
    }
    if count == 0 {
        return Err(no_requests(&a.file, &trace).into());
    }
    let report = TraceReport {
        file: a.file.display().to_string(),
        format: trace.format(),
        skipped_rows: trace.skipped_rows(),
        failed_requests: trace.failed_requests(),
        stats: builder.finish(),
    };
    if let Some(path) = &a.plot {
        crate::report::plot::trace_stats(path, &report.stats)
            .map_err(|e| Error::Usage(e.to_string()))?;
    }
    let text = render(a.output, &report, trace_table);
    emit(&text)?;
    Ok(ExitCode::Success)
}

fn synth(a: SynthArgs) -> anyhow::Result<ExitCode> {
    let overrides = a.shape.shape()?;
    let records = match &a.like {
        Some(path) => {
            let records = a.input.read(path, a.model.clone(), a.seed)?;
            let shape = Shape::of(records.into_iter().map(Ok), a.seed)
                .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
            like(&shape, a.poisson_counts, a.seed)
        }
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
            let (Some(rate_rps), Some(prompt), Some(output)) =
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
            let mut w = Workload::from_load(
                "synth",
                model.as_deref().unwrap_or_default(),
                "",
                rate_rps,
                prompt,
                output,
            );
            overrides.apply(&mut w);
            let traffic = Traffic {
                rate_rps,
                arrivals: w.arrivals,
                prompt: w.prompt_dist,
                output: w.output_dist,
            };
            let mut records = from_distributions(&traffic, horizon, a.seed);
            for r in &mut records {
                r.model.clone_from(&model);
            }
            records
        }
    };
    write_out(
        a.out.as_deref(),
        &write(&records, a.to).map_err(Error::Usage)?,
    )?;
    Ok(ExitCode::Success)
}

fn convert(a: ConvertArgs) -> anyhow::Result<ExitCode> {
    let records = a
        .input
        .read(&a.file, a.records.model.clone(), a.records.seed)?;
    write_out(
        a.out.as_deref(),
        &write(&records, a.to).map_err(Error::Usage)?,
    )?;
    Ok(ExitCode::Success)
}
