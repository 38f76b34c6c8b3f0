//! `wva simulate`: run a scenario's workloads (or one profile under flags) through the
//! discrete-event simulator of vLLM, beside the analytic model's predictions.

use super::args;
use super::load::ShapeArgs;
use super::output::{DocFormat, emit, render};
use super::progress::Terminal;
use super::trace_input::TraceInputArgs;
use crate::error::{Error, ExitCode};
use crate::report::simulation_table;
use crate::sim::setup::EngineOverrides;
use crate::sim::{Router, SimResult};
use crate::spec::load_profiles;
use crate::usecase::simulate::ClosedLoopLoad;
use crate::usecase::{FleetChoice, ProfileLoad, SimulateRequest, Subject, TraceInput, simulate};
use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};

pub(super) const AFTER_HELP: &str = "\
The simulator runs vLLM's scheduler iteration by iteration on every replica: continuous
batching up to --max-num-seqs, chunked prefill under --max-num-batched-tokens (decodes first),
a KV cache of --block-size-token blocks (16) with preemption when it fills, and iteration times from the
profile's cost model. Requests arrive as the scenario says (Poisson by default), are routed to
replicas, and their TTFT, every inter-token gap, TPOT and end-to-end latency are measured after a
warm-up. The analytic model's prediction at the same load is printed beside the result.

The fleet is, in order of precedence: --plan FILE (`wva plan -o json`), --replicas N (of the
profile on --accelerator), or the plan `wva plan` would make for the scenario.

With --trace FILE the load is a trace's (see `wva trace --help` for the formats and the
transformations); --requests-out writes every request's outcome.

Examples:
  wva simulate scenarios/quickstart.yaml
  wva simulate scenarios/quickstart.yaml --requests 100000 --replications 5 -o json
  wva simulate --profile profiles/qwen2.5-14b-instruct.yaml --replicas 2 --rate-rps 12 \\
      --in-tokens 1155 --out-tokens 211 --prompt-dist lognormal --prompt-cv 1.0
  wva simulate scenarios/quickstart.yaml --trace traces/azure-conv-like-10min.csv \\
      --workload chat-standard --rate-scale 3 --requests-out requests.csv";

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["scenario", "profile"])))]
pub(super) struct SimulateArgs {
    /// Scenario file (YAML), as for `wva plan`
    #[arg(value_name = "SCENARIO")]
    scenario: Option<PathBuf>,
    /// Without a scenario: simulate this profile (a profiles file; --model/--accelerator pick
    /// one) with the load from flags
    #[arg(long, value_name = "FILE", conflicts_with_all = ["scenario", "plan"])]
    profile: Option<PathBuf>,
    /// With --profile: the model to pick
    #[arg(long)]
    model: Option<String>,
    /// The accelerator: with --profile, the profile to pick; with --replicas, the accelerator
    /// every workload runs on
    #[arg(long)]
    accelerator: Option<String>,
    /// The fleet from a plan (`wva plan SCENARIO -o json`)
    #[arg(
        long,
        value_name = "FILE",
        requires = "scenario",
        conflicts_with = "replicas"
    )]
    plan: Option<PathBuf>,
    /// Replicas per workload (with --profile, default 1)
    #[arg(long, value_parser = args::replicas)]
    replicas: Option<u32>,

    /// Replay this trace instead of drawing synthetic load: its requests go to the workload
    /// their model names, or to --workload, or to the only one; each trace-driven workload's
    /// rate and token means (for the plan and the analytic column) are the trace's
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    #[command(flatten)]
    trace_input: TraceInputArgs,
    /// With --trace: the workload every request of the trace belongs to
    #[arg(long, value_name = "NAME", requires = "trace")]
    workload: Option<String>,
    /// With --trace: model names for the trace's requests: NAME for all, or OLD=NEW[,...]
    /// (requests go to the workload whose model or name they carry)
    #[arg(long, value_name = "MODELS", value_parser = |s: &str| s.parse::<crate::trace::ModelMap>(), requires = "trace")]
    trace_model: Option<crate::trace::ModelMap>,
    /// Write every request's outcome (arrival, replica, TTFT, E2E, ...) to this CSV (first
    /// replication)
    #[arg(long, value_name = "FILE")]
    requests_out: Option<PathBuf>,

    /// With --profile: arrival rate, requests/s
    #[arg(long, value_parser = args::rate_rps, conflicts_with = "rate_rpm")]
    rate_rps: Option<f64>,
    /// With --profile: arrival rate, requests/min
    #[arg(long, value_parser = args::rate_rpm)]
    rate_rpm: Option<f64>,
    /// What if traffic changes: every workload's arrivals at its rate times X (2: twice the
    /// traffic), on the fleet planned for the unscaled load (or given by --plan/--replicas):
    /// how today's fleet copes. `wva plan --load-scale X` sizes for the scaled load
    #[arg(long, value_name = "X", value_parser = args::load_scale, default_value_t = 1.0, conflicts_with_all = ["trace", "concurrency"])]
    load_scale: f64,
    /// With --profile: a fixed number of clients instead of a rate (the benchmark tools'
    /// "max concurrency" mode): each client sends its next request when its last one
    /// completes (after --think-time-s), so a slow server sees fewer requests, not a queue.
    /// One replica; the report adds the concurrency, and the analytic column is at the rate
    /// the clients achieved
    #[arg(long, value_name = "N", value_parser = args::clients, conflicts_with_all = ["rate_rps", "rate_rpm", "trace", "duration_s", "plan", "scenario"])]
    concurrency: Option<u32>,
    /// With --concurrency: each client's pause between a completion and its next request, s
    #[arg(long, value_parser = args::non_negative, requires = "concurrency")]
    think_time_s: Option<f64>,
    /// With --profile: mean prompt tokens
    #[arg(long, value_parser = args::tokens)]
    in_tokens: Option<f64>,
    /// With --profile: mean output tokens
    #[arg(long, value_parser = args::output_tokens)]
    out_tokens: Option<f64>,
    /// With --profile: mean TTFT target for SLO attainment, ms
    #[arg(long, value_parser = args::positive)]
    target_ttft_ms: Option<f64>,
    /// With --profile: mean ITL target for SLO attainment (checked per request on its TPOT), ms
    #[arg(long, value_parser = args::positive)]
    target_itl_ms: Option<f64>,

    #[command(flatten)]
    shape: ShapeArgs,

    /// Requests to simulate in all (default 100000)
    #[arg(long, value_parser = args::requests, conflicts_with = "duration_s")]
    requests: Option<u64>,
    /// Simulate the arrivals of this many seconds instead
    #[arg(long, value_parser = args::positive)]
    duration_s: Option<f64>,
    /// Share of the requests (or of the duration) at the start left out of the statistics,
    /// 0 to 0.9 (default 0.1; 0 with --trace)
    #[arg(long, value_parser = args::warmup_share)]
    warmup: Option<f64>,
    /// Seed of every random draw (same seed, same result)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Independent runs (seeds seed, seed+1, ...) run in parallel; the report gives their mean
    /// and a 95% confidence interval
    #[arg(long, value_parser = args::replications, default_value_t = 1)]
    replications: u32,
    /// How each workload's requests are spread over its replicas
    #[arg(long, value_enum, default_value_t = Router::RoundRobin)]
    router: Router,
    /// Multiplicative noise on iteration times (log-normal, mean 1), coefficient of variation
    #[arg(long, value_parser = args::noise_cv, default_value_t = 0.0)]
    noise_cv: f64,

    /// Override the engines' max batch (vLLM --max-num-seqs)
    #[arg(long, value_parser = args::batch)]
    max_num_seqs: Option<u32>,
    /// Override the per-iteration token budget (vLLM --max-num-batched-tokens; default the
    /// profile's, else 8192)
    #[arg(long, value_parser = args::positive_int)]
    max_num_batched_tokens: Option<u32>,
    /// KV-cache capacity per engine (per GPU group of a replica; per rank of a data-parallel
    /// one), tokens (default the profile's, else unlimited)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "num_gpu_blocks")]
    kv_capacity_tokens: Option<u64>,
    /// KV-cache capacity per engine in blocks (vLLM's num_gpu_blocks)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    num_gpu_blocks: Option<u64>,
    /// KV block size, tokens (vLLM --block-size)
    #[arg(long, value_parser = args::block_size, default_value_t = 16)]
    block_size: u32,
    /// Turn off prefix caching (vLLM --no-enable-prefix-caching): a preempted request then
    /// recomputes its whole prefill when it resumes, instead of only the blocks other requests
    /// reused meanwhile
    #[arg(long)]
    no_enable_prefix_caching: bool,

    /// Write a per-time-bucket timeline (CSV)
    #[arg(long, value_name = "FILE")]
    timeline: Option<PathBuf>,
    /// Plot the timeline (PNG, or SVG for a .svg name)
    #[arg(long, value_name = "FILE", value_parser = args::plot_path)]
    plot: Option<PathBuf>,
    /// Width of timeline buckets, s (at most a million buckets are kept)
    #[arg(long, value_parser = args::positive, default_value_t = 10.0)]
    timeline_bucket_s: f64,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = DocFormat::Table)]
    output: DocFormat,
    #[command(flatten)]
    twin: super::simulate_twin::TwinArgs,
}

/// A one-workload scenario for `--profile` (not validated as a file would be: its parts come
/// from a checked profile and checked flags).
/// Lowers the flags into a request (reading the files they name) and refuses flags that do
/// not apply together.
fn request(a: &SimulateArgs) -> anyhow::Result<SimulateRequest> {
    if a.trace.is_none() && a.trace_input.is_set() {
        return Err(Error::Usage(
            "--trace-format, --window, --rate-scale, --time-scale, --max-requests and --skip-bad-rows apply with --trace".into(),
        )
        .into());
    }
    let trace = match &a.trace {
        Some(path) => Some(TraceInput {
            path: path.clone(),
            records: a.trace_input.read(path, a.trace_model.clone(), a.seed)?,
            workload: a.workload.clone(),
        }),
        None => None,
    };
    let (subject, source) = match (&a.scenario, &a.profile) {
        (Some(path), _) => (Subject::Scenario(super::read_scenario(path)?), path.clone()),
        (None, Some(path)) => {
            let load = ProfileLoad {
                model: a.model.clone(),
                accelerator: a.accelerator.clone(),
                rate_rps: a.rate_rps.or(a.rate_rpm.map(|r| r / 60.0)),
                in_tokens: a.in_tokens,
                out_tokens: a.out_tokens,
                target_ttft_ms: a.target_ttft_ms,
                target_itl_ms: a.target_itl_ms,
            };
            let profiles = load_profiles(path)?;
            (Subject::Profile { profiles, load }, path.clone())
        }
        (None, None) => return Err(Error::Usage("give a SCENARIO or --profile FILE".into()).into()),
    };
    if a.profile.is_none() {
        let profile_only = [
            ("--model", a.model.is_some()),
            ("--rate-rps", a.rate_rps.is_some()),
            ("--rate-rpm", a.rate_rpm.is_some()),
            ("--in-tokens", a.in_tokens.is_some()),
            ("--out-tokens", a.out_tokens.is_some()),
            ("--target-ttft-ms", a.target_ttft_ms.is_some()),
            ("--target-itl-ms", a.target_itl_ms.is_some()),
        ];
        if let Some((flag, _)) = profile_only.iter().find(|(_, given)| *given) {
            return Err(Error::Usage(format!(
                "{flag} applies with --profile; a scenario states its own workloads"
            ))
            .into());
        }
    }
    // A profile alone is one replica unless told otherwise.
    let replicas = a.replicas.or(a.profile.is_some().then_some(1));
    if a.accelerator.is_some() && replicas.is_none() {
        return Err(Error::Usage(
            "--accelerator applies with --replicas (or --profile); a plan chooses its own".into(),
        )
        .into());
    }
    let fleet = match (&a.plan, replicas) {
        (Some(path), _) => FleetChoice::PlanFile {
            path: path.clone(),
            allocations: crate::usecase::plan_file::read(path)?
                .allocations
                .into_iter()
                .map(|r| (r.workload, r.accelerator, r.replicas, r.max_batch))
                .collect(),
        },
        (None, Some(replicas)) => FleetChoice::Replicas {
            replicas,
            accelerator: a.accelerator.clone(),
        },
        (None, None) => FleetChoice::Plan,
    };
    if a.concurrency.is_some() {
        let open_loop_only = [
            ("--requests-out", a.requests_out.is_some()),
            ("--timeline", a.timeline.is_some()),
            ("--plot", a.plot.is_some()),
        ];
        if let Some((flag, _)) = open_loop_only.iter().find(|(_, given)| *given) {
            return Err(Error::Usage(format!(
                "{flag} applies to arrivals at a rate, not to --concurrency"
            ))
            .into());
        }
    }
    if a.twin.serve_metrics.is_some() && a.replications > 1 {
        return Err(
            Error::Usage("--serve-metrics serves one run: drop --replications".into()).into(),
        );
    }
    Ok(SimulateRequest {
        source,
        subject,
        fleet,
        trace,
        closed_loop: a.concurrency.map(|concurrency| ClosedLoopLoad {
            concurrency,
            think_time_s: a.think_time_s.unwrap_or(0.0),
        }),
        shape: a.shape.shape()?,
        load_scale: a.load_scale,
        overrides: EngineOverrides {
            max_num_seqs: a.max_num_seqs,
            max_num_batched_tokens: a.max_num_batched_tokens,
            kv_capacity_tokens: match a.num_gpu_blocks {
                Some(blocks) => {
                    Some(blocks.checked_mul(u64::from(a.block_size)).ok_or_else(|| {
                        Error::Usage(format!(
                            "--num-gpu-blocks {blocks} x --block-size {} is too large",
                            a.block_size
                        ))
                    })?)
                }
                None => a.kv_capacity_tokens,
            },
            block_size: Some(a.block_size),
            prefix_caching: Some(!a.no_enable_prefix_caching),
            noise_cv: a.noise_cv,
        },
        router: a.router,
        seed: a.seed,
        replications: a.replications,
        requests: a.requests,
        duration_s: a.duration_s,
        warmup: a.warmup,
        timeline_bucket_ms: (a.timeline.is_some() || a.plot.is_some())
            .then_some(a.timeline_bucket_s * 1000.0),
        record_requests: a.requests_out.is_some() || a.twin.serve_metrics.is_some(),
    })
}

pub(super) fn run_simulate(a: SimulateArgs) -> anyhow::Result<ExitCode> {
    let request = request(&a)?;
    let out = simulate(request, &Terminal::default())?;
    let first = &out.results[0];
    if first.timeline_truncated {
        super::say::note(format_args!(
            "the timeline stops after {} buckets; use a wider --timeline-bucket-s",
            crate::sim::MAX_BUCKETS
        ));
    }
    if let Some(path) = &a.requests_out {
        write_outcomes(path, first, &out.config, out.records.as_deref())?;
    }
    if let Some(path) = &a.timeline {
        write_timeline(path, &first.timeline)?;
    }
    if let Some(path) = &a.plot {
        crate::report::plot::timeline(path, &first.timeline)
            .map_err(|e| Error::Usage(e.to_string()))?;
    }
    if let Some(addr) = a.twin.serve_metrics {
        super::simulate_twin::run(&a.twin, addr, &out.config, &out.info, first)?;
    }
    emit(&render(a.output, &out.report, simulation_table))?;
    Ok(ExitCode::Success)
}

/// Writes the timeline CSV atomically (temporary file, then rename).
fn write_timeline(path: &Path, rows: &[crate::sim::TimelineRow]) -> anyhow::Result<()> {
    let bytes = crate::report::simulation_csv::timeline(rows).context("writing the timeline")?;
    super::output::write_atomically(path, &bytes)
}

/// Writes every request's outcome as CSV (atomically).
fn write_outcomes(
    path: &Path,
    result: &SimResult,
    config: &crate::sim::SimConfig,
    records: Option<&[crate::trace::TraceRecord]>,
) -> anyhow::Result<()> {
    let text = crate::report::simulation_csv::request_outcomes(result, config, records);
    super::output::write_atomically(path, text.as_bytes())
}
