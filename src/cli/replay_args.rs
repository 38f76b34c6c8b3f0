//! The flags of `wva replay` and their checks: the trace, the policies and their settings,
//! and what is written. [`super::replay`] lowers them into a request and runs it.

use super::args;
use super::output::DocFormat;
use super::trace_input::TraceInputArgs;
use crate::replay::PolicyKind;
use crate::replay::policy::RateSource;
use crate::replay::predictive::PredictiveSettings;
use crate::sim::Router;
use clap::Args;
use std::path::PathBuf;

pub(super) const AFTER_HELP: &str = "\
The trace's requests arrive at a fleet of simulated vLLM replicas (the same engine model as
`wva simulate`) while a controller, every --interval-s, looks at what a real one would see (the
last window's arrival and completion rates, mean prompt and output tokens, mean TTFT and time per
output token, and each replica's KV-cache usage, waiting and running requests as Prometheus
scrapes them every --scrape-s) and sets the replica count. A new replica serves after
--startup-s; a removed one takes no new requests and finishes those it holds. Every replica runs
the accelerator and max batch the plan chooses for the trace's busy minutes (or --accelerator).

Policies (--policy, comma-separated, default all; they run in parallel):
  oracle           the plan for each interval's true load, in place as it starts (cost floor)
  wva-predictive   wva's own: the model sized for the load forecast at start-up lead, the
                   recent bursts (a quantile of per-scrape rates) and the backlog to drain,
                   scaling down only after --down-stabilization-s
  wva-model        upstream's model-based loop: the analytic model on the last window's load
  saturation       upstream's KV/queue saturation rules (V1; thresholds as upstream's ConfigMap)
  saturation-v2    upstream's token-based saturation engine (WVA v0.5+) and its cost-aware
                   variant choice
  hpa-utilisation  a Kubernetes HPA on running requests over max-num-seqs (target 0.5)
  static           a fixed count: the fewest replicas with which no interval breaks its SLO
                   (found by replaying the trace), or --static-replicas

Several accelerators (--accelerator H100,L40S) make a fleet of variants, one per type, each
with its profile, cost and inventory (the scenario's inventory_gpus): the policies choose how
many replicas of each (cheapest capacity first on the way up, the most expensive first on the
way down). --min-replicas 0 lets the fleet scale to zero after --scale-to-zero-after-s without
arrivals; the next request wakes one replica and waits for it to start.

Cost is paid from the moment a replica is asked for until it has drained, over the trace's
span. A request meets its SLO when its TTFT and its time per output token are within the
workload's service-class targets.

Examples:
  wva replay scenarios/azure-chat-and-code.yaml --trace traces/azure-conv-like-10min.csv \\
      --workload conversation --rate-scale 10
  wva replay scenarios/azure-chat-and-code.yaml \\
      --trace ../shared/data/azure_llm_2023/AzureLLMInferenceTrace_code.csv \\
      --workload code-completion --rate-scale 10 --policy wva-predictive,saturation-v2 \\
      --timeline timeline.csv --plot replay.png --pareto pareto.png";

/// `wva replay` arguments.
#[derive(Debug, Args)]
pub(super) struct ReplayArgs {
    /// Scenario YAML (accelerators, profiles, service classes, workloads)
    pub(super) scenario: PathBuf,
    /// The trace to replay (any format `wva trace` reads)
    #[arg(long, value_name = "FILE")]
    pub(super) trace: PathBuf,
    #[command(flatten)]
    pub(super) trace_input: TraceInputArgs,
    /// The workload every request of the trace belongs to (default: the one the trace's model
    /// names, or the scenario's only one)
    #[arg(long, value_name = "NAME")]
    pub(super) workload: Option<String>,
    /// Model names for the trace's requests: NAME for all, or OLD=NEW[,...]
    #[arg(long, value_name = "MODELS", value_parser = |s: &str| s.parse::<crate::trace::ModelMap>())]
    pub(super) trace_model: Option<crate::trace::ModelMap>,
    /// Policies to compare, comma-separated: all, oracle, wva-predictive, wva-model,
    /// saturation, saturation-v2, hpa-utilisation, static
    #[arg(long, value_delimiter = ',', value_parser = parse_policy, default_value = "all")]
    pub(super) policy: Vec<Option<PolicyKind>>,
    /// Control period: a decision every this many seconds (at least 1)
    #[arg(long, value_parser = args::at_least_one, default_value_t = 60.0)]
    pub(super) interval_s: f64,
    /// Delay from asking for a replica to its first request, s
    #[arg(long, value_parser = args::non_negative, default_value_t = 120.0)]
    pub(super) startup_s: f64,
    /// Window of the rates and token means the controller sees, s (default: the interval)
    #[arg(long, value_parser = args::at_least_one)]
    pub(super) window_s: Option<f64>,
    /// Prometheus scrape period of the replicas' gauges, s (1 to the interval)
    #[arg(long, value_parser = args::at_least_one, default_value_t = 15.0)]
    pub(super) scrape_s: f64,
    /// The accelerator of the replicas, or several (comma-separated) for a fleet of variants
    /// (default: the plan's for the trace's busy minutes)
    #[arg(long, value_delimiter = ',', value_name = "NAME[,NAME...]")]
    pub(super) accelerator: Vec<String>,
    /// Max batch of every replica (vLLM --max-num-seqs; default: the plan's, or each
    /// profile's)
    #[arg(long, value_parser = args::batch)]
    pub(super) max_batch: Option<u32>,
    /// Fewest replicas a policy may ask for, over all variants (default: the workload's
    /// min_replicas, at least 1; 0 lets the fleet scale to zero)
    #[arg(long, value_parser = min_replicas)]
    pub(super) min_replicas: Option<u32>,
    /// With --min-replicas 0: no replicas after this long without arrivals, s (upstream's
    /// retention_period)
    #[arg(long, value_parser = args::non_negative, default_value_t = 600.0)]
    pub(super) scale_to_zero_after_s: f64,
    /// Most replicas a policy may ask for (at most 10000)
    #[arg(long, value_parser = args::replicas, default_value_t = 1000)]
    pub(super) max_replicas: u32,
    /// wva-model: size for the arrival rate, or the completion rate (upstream's measure)
    #[arg(long, value_enum, default_value_t = RateSource::Arrivals)]
    pub(super) rate_from: RateSource,
    /// saturation: a replica is saturated at this KV-cache usage (0 to 1)
    #[arg(long, value_parser = positive_share, default_value_t = 0.8)]
    pub(super) kv_cache_threshold: f64,
    /// saturation: ... or at this many waiting requests
    #[arg(long, value_parser = args::positive, default_value_t = 5.0)]
    pub(super) queue_length_threshold: f64,
    /// saturation: scale up when the unsaturated replicas' average spare KV is under this
    #[arg(long, value_parser = share, default_value_t = 0.1)]
    pub(super) kv_spare_trigger: f64,
    /// saturation: ... or their average spare queue under this
    #[arg(long, value_parser = args::non_negative, default_value_t = 3.0)]
    pub(super) queue_spare_trigger: f64,
    /// saturation-v2: add capacity when token demand over capacity exceeds this (0 to 1)
    #[arg(long, value_parser = positive_share, default_value_t = 0.85)]
    pub(super) scale_up_threshold: f64,
    /// saturation-v2: remove capacity while token demand over capacity stays under this
    #[arg(long, value_parser = positive_share, default_value_t = 0.70)]
    pub(super) scale_down_boundary: f64,
    /// wva-predictive: the quantile of the per-scrape arrival rates it sizes bursts for
    #[arg(long, value_parser = share, default_value_t = PredictiveSettings::default().burst_quantile)]
    pub(super) burst_quantile: f64,
    /// wva-predictive: how far back the burst quantile looks, s
    #[arg(long, value_parser = args::at_least_one, default_value_t = PredictiveSettings::default().burst_window_s)]
    pub(super) burst_window_s: f64,
    /// wva-predictive: drain the observed backlog within this, s
    #[arg(long, value_parser = args::at_least_one, default_value_t = PredictiveSettings::default().drain_s)]
    pub(super) drain_s: f64,
    /// wva-predictive: scale down only to the highest recommendation of this window, s
    #[arg(long, value_parser = args::non_negative, default_value_t = PredictiveSettings::default().down_stabilization_s)]
    pub(super) down_stabilization_s: f64,
    /// wva-predictive: Holt smoothing of the rate's level and trend (0 to 1 each)
    #[arg(long, value_parser = smoothing, value_name = "LEVEL,TREND",
          default_value = "0.5,0.3")]
    pub(super) smoothing: (f64, f64),
    /// hpa-utilisation: target running requests over max-num-seqs (0 to 1)
    #[arg(long, value_parser = positive_share, default_value_t = 0.5)]
    pub(super) hpa_target: f64,
    /// hpa-utilisation: scale down only to the highest recommendation of this window, s
    #[arg(long, value_parser = args::non_negative, default_value_t = 300.0)]
    pub(super) hpa_stabilization_s: f64,
    /// static: the replica count (default: the fewest with which no interval's mean TTFT or
    /// time per output token is over target, found by replaying the trace)
    #[arg(long, value_parser = args::replicas)]
    pub(super) static_replicas: Option<u32>,
    /// How requests are spread over the serving replicas
    #[arg(long, value_enum, default_value_t = Router::RoundRobin)]
    pub(super) router: Router,
    /// Multiplicative noise on iteration times (log-normal, mean 1), coefficient of variation
    #[arg(long, value_parser = args::noise_cv, default_value_t = 0.0)]
    pub(super) noise_cv: f64,
    /// Seed of every random draw (same seed, same result)
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Write every policy's per-interval timeline (CSV)
    #[arg(long, value_name = "FILE")]
    pub(super) timeline: Option<PathBuf>,
    /// Plot load, replicas, p99 TTFT and attainment per interval (PNG, or SVG for a .svg name)
    #[arg(long, value_name = "FILE", value_parser = args::plot_path)]
    pub(super) plot: Option<PathBuf>,
    /// Plot cost against intervals in breach, one point per policy (PNG, or SVG)
    #[arg(long, value_name = "FILE", value_parser = args::plot_path)]
    pub(super) pareto: Option<PathBuf>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = DocFormat::Table)]
    pub(super) output: DocFormat,
}

fn parse_policy(text: &str) -> Result<Option<PolicyKind>, String> {
    if text.trim() == "all" {
        return Ok(None);
    }
    <PolicyKind as clap::ValueEnum>::from_str(text.trim(), false)
        .map(Some)
        .map_err(|_| {
            format!(
                "unknown policy `{text}`; known: all, {}",
                PolicyKind::ALL.map(|p| p.to_string()).join(", ")
            )
        })
}

fn min_replicas(text: &str) -> Result<u32, String> {
    if text.trim() == "0" {
        Ok(0)
    } else {
        args::replicas(text)
    }
}

fn smoothing(text: &str) -> Result<(f64, f64), String> {
    let (level, trend) = text
        .split_once(',')
        .ok_or_else(|| format!("expected LEVEL,TREND (two shares from 0 to 1), got `{text}`"))?;
    Ok((positive_share(level.trim())?, share(trend.trim())?))
}

fn positive_share(text: &str) -> Result<f64, String> {
    let v = share(text)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err("must be > 0".into())
    }
}

fn share(text: &str) -> Result<f64, String> {
    let v = args::non_negative(text)?;
    if v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("must be from 0 to 1, got {v}"))
    }
}
