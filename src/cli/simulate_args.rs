//! The flags of `wva simulate` and their checks: what is simulated (a scenario or a profile),
//! under which load and fleet, and what is written. [`super::simulate`] lowers them into a
//! request and runs it.

use super::args;
use super::load::ShapeArgs;
use super::output::DocFormat;
use super::trace_input::TraceInputArgs;
use crate::sim::Router;
use clap::Args;
use std::path::PathBuf;

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
    pub(super) scenario: Option<PathBuf>,
    /// Without a scenario: simulate this profile (a profiles file; --model/--accelerator pick
    /// one) with the load from flags
    #[arg(long, value_name = "FILE", conflicts_with_all = ["scenario", "plan"])]
    pub(super) profile: Option<PathBuf>,
    /// With --profile: the model to pick
    #[arg(long)]
    pub(super) model: Option<String>,
    /// The accelerator: with --profile, the profile to pick; with --replicas, the accelerator
    /// every workload runs on
    #[arg(long)]
    pub(super) accelerator: Option<String>,
    /// The fleet from a plan (`wva plan SCENARIO -o json`)
    #[arg(
        long,
        value_name = "FILE",
        requires = "scenario",
        conflicts_with = "replicas"
    )]
    pub(super) plan: Option<PathBuf>,
    /// Replicas per workload (with --profile, default 1)
    #[arg(long, value_parser = args::replicas)]
    pub(super) replicas: Option<u32>,

    /// Replay this trace instead of drawing synthetic load: its requests go to the workload
    /// their model names, or to --workload, or to the only one; each trace-driven workload's
    /// rate and token means (for the plan and the analytic column) are the trace's
    #[arg(long, value_name = "FILE")]
    pub(super) trace: Option<PathBuf>,
    #[command(flatten)]
    pub(super) trace_input: TraceInputArgs,
    /// With --trace: the workload every request of the trace belongs to
    #[arg(long, value_name = "NAME", requires = "trace")]
    pub(super) workload: Option<String>,
    /// With --trace: model names for the trace's requests: NAME for all, or OLD=NEW[,...]
    /// (requests go to the workload whose model or name they carry)
    #[arg(long, value_name = "MODELS", value_parser = |s: &str| s.parse::<crate::trace::ModelMap>(), requires = "trace")]
    pub(super) trace_model: Option<crate::trace::ModelMap>,
    /// Write every request's outcome (arrival, replica, TTFT, E2E, ...) to this CSV (first
    /// replication)
    #[arg(long, value_name = "FILE")]
    pub(super) requests_out: Option<PathBuf>,

    /// With --profile: arrival rate, requests/s
    #[arg(long, value_parser = args::rate_rps, conflicts_with = "rate_rpm")]
    pub(super) rate_rps: Option<f64>,
    /// With --profile: arrival rate, requests/min
    #[arg(long, value_parser = args::rate_rpm)]
    pub(super) rate_rpm: Option<f64>,
    /// What if traffic changes: every workload's arrivals at its rate times X (2: twice the
    /// traffic), on the fleet planned for the unscaled load (or given by --plan/--replicas):
    /// how today's fleet copes. `wva plan --load-scale X` sizes for the scaled load
    #[arg(long, value_name = "X", value_parser = args::load_scale, default_value_t = 1.0, conflicts_with_all = ["trace", "concurrency"])]
    pub(super) load_scale: f64,
    /// With --profile: a fixed number of clients instead of a rate (the benchmark tools'
    /// "max concurrency" mode): each client sends its next request when its last one
    /// completes (after --think-time-s), so a slow server sees fewer requests, not a queue.
    /// One replica; the report adds the concurrency, and the analytic column is at the rate
    /// the clients achieved
    #[arg(long, value_name = "N", value_parser = args::clients, conflicts_with_all = ["rate_rps", "rate_rpm", "trace", "duration_s", "plan", "scenario"])]
    pub(super) concurrency: Option<u32>,
    /// With --concurrency: each client's pause between a completion and its next request, s
    #[arg(long, value_parser = args::non_negative, requires = "concurrency")]
    pub(super) think_time_s: Option<f64>,
    /// With --profile: mean prompt tokens
    #[arg(long, value_parser = args::tokens)]
    pub(super) in_tokens: Option<f64>,
    /// With --profile: mean output tokens
    #[arg(long, value_parser = args::output_tokens)]
    pub(super) out_tokens: Option<f64>,
    /// With --profile: mean TTFT target for SLO attainment, ms
    #[arg(long, value_parser = args::positive)]
    pub(super) target_ttft_ms: Option<f64>,
    /// With --profile: mean ITL target for SLO attainment (checked per request on its TPOT), ms
    #[arg(long, value_parser = args::positive)]
    pub(super) target_itl_ms: Option<f64>,

    #[command(flatten)]
    pub(super) shape: ShapeArgs,

    /// Requests to simulate in all (default 100000)
    #[arg(long, value_parser = args::requests, conflicts_with = "duration_s")]
    pub(super) requests: Option<u64>,
    /// Simulate the arrivals of this many seconds instead
    #[arg(long, value_parser = args::positive)]
    pub(super) duration_s: Option<f64>,
    /// Share of the requests (or of the duration) at the start left out of the statistics,
    /// 0 to 0.9 (default 0.1; 0 with --trace)
    #[arg(long, value_parser = args::warmup_share)]
    pub(super) warmup: Option<f64>,
    /// Seed of every random draw (same seed, same result)
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Independent runs (seeds seed, seed+1, ...) run in parallel; the report gives their mean
    /// and a 95% confidence interval
    #[arg(long, value_parser = args::replications, default_value_t = 1)]
    pub(super) replications: u32,
    /// How each workload's requests are spread over its replicas
    #[arg(long, value_enum, default_value_t = Router::RoundRobin)]
    pub(super) router: Router,
    /// Multiplicative noise on iteration times (log-normal, mean 1), coefficient of variation
    #[arg(long, value_parser = args::noise_cv, default_value_t = 0.0)]
    pub(super) noise_cv: f64,

    /// Override the engines' max batch (vLLM --max-num-seqs)
    #[arg(long, value_parser = args::batch)]
    pub(super) max_num_seqs: Option<u32>,
    /// Override the per-iteration token budget (vLLM --max-num-batched-tokens; default the
    /// profile's, else 8192)
    #[arg(long, value_parser = args::positive_int)]
    pub(super) max_num_batched_tokens: Option<u32>,
    /// KV-cache capacity per engine (per GPU group of a replica; per rank of a data-parallel
    /// one), tokens (default the profile's, else unlimited)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "num_gpu_blocks")]
    pub(super) kv_capacity_tokens: Option<u64>,
    /// KV-cache capacity per engine in blocks (vLLM's num_gpu_blocks)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) num_gpu_blocks: Option<u64>,
    /// KV block size, tokens (vLLM --block-size)
    #[arg(long, value_parser = args::block_size, default_value_t = 16)]
    pub(super) block_size: u32,
    /// Turn off prefix caching (vLLM --no-enable-prefix-caching): a preempted request then
    /// recomputes its whole prefill when it resumes, instead of only the blocks other requests
    /// reused meanwhile
    #[arg(long)]
    pub(super) no_enable_prefix_caching: bool,

    /// Write a per-time-bucket timeline (CSV)
    #[arg(long, value_name = "FILE")]
    pub(super) timeline: Option<PathBuf>,
    /// Plot the timeline (PNG, or SVG for a .svg name)
    #[arg(long, value_name = "FILE", value_parser = args::plot_path)]
    pub(super) plot: Option<PathBuf>,
    /// Width of timeline buckets, s (at most a million buckets are kept)
    #[arg(long, value_parser = args::positive, default_value_t = 10.0)]
    pub(super) timeline_bucket_s: f64,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = DocFormat::Table)]
    pub(super) output: DocFormat,
    #[command(flatten)]
    pub(super) twin: super::simulate_twin::TwinArgs,
}
