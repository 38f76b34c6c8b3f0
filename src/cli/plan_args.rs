//! The flags of `wva plan` and their checks: where the problem comes from, how it is solved,
//! and what is printed. [`super::plan`] lowers them into a request and runs it.

use super::args;
use crate::optimize::{SaturationPolicy, SolverKind};
use crate::queueing::QueueModel;
use crate::report::OutputFormat;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

pub(super) const AFTER_HELP: &str = "\
For every workload (a model's traffic in a service class), wva sizes one replica on every
accelerator type the model has a profile for: the max batch to configure, the largest
per-replica rate that meets the class's TTFT and ITL targets (means, or percentiles such as
`ttft_ms: {p99: 500}`), replicas and cost. A solver
then picks one accelerator per workload:
  unlimited  the cheapest for each workload (inventory ignored);
  greedy     upstream WVA's greedy under the inventory (priority, regret, value order);
  exact      the optimum under the inventory (a MILP): higher-priority classes are served
             first, then the unserved load of each priority level is minimised, then the cost.
The default is exact when an accelerator states `inventory_gpus`, else unlimited.

Costs are per hour; files use cents per GPU-hour as WVA does.

Exit code 3 when a workload cannot be fully served (it is listed as unallocated, or as a partial
allocation, with the reason); 2 when the input is invalid.

Examples:
  wva plan scenarios/quickstart.yaml
  wva plan scenarios/gpu-shortage.yaml --solver greedy --saturation-policy priority-exhaustive
  wva plan scenarios/quickstart.yaml -o json > plan.json";

/// MILP backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum BackendArg {
    /// microlp (pure Rust, always built in)
    Microlp,
    /// COIN-OR CBC (needs wva built with `--features cbc`)
    Cbc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum BatchArg {
    /// The profile's max batch (WVA's behaviour)
    Fixed,
    /// Upstream's search: the smallest max batch within 1% of full throughput
    Upstream,
    /// The profile's max batch unless a smaller one needs fewer replicas (exact search; default)
    Exact,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum ObjectiveArg {
    /// Minimise cost
    Cost,
    /// Minimise upstream's transition penalty against each workload's current allocation
    Transition,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["scenario", "from_inferno", "from_cluster"])))]
pub(super) struct PlanArgs {
    /// Scenario file (YAML): workloads plus the accelerators, profiles and service classes,
    /// inline or as paths relative to it
    #[arg(value_name = "SCENARIO")]
    pub(super) scenario: Option<PathBuf>,
    /// Read upstream's inferno optimizer inputs instead: a folder of *-data.json files
    /// (accelerator, capacity, model, serviceclass, server, optimizer) or a system-data.json.
    /// Upstream's settings (solver, saturation policy) and its fixed max batch become the
    /// defaults
    #[arg(long, value_name = "DIR", conflicts_with_all = ["scenario", "from_cluster"])]
    pub(super) from_inferno: Option<PathBuf>,
    /// Read what WVA users have in the cluster instead: files or folders of `kubectl get -o
    /// yaml` dumps with the accelerator-unit-costs and service-classes-config ConfigMaps and
    /// VariantAutoscaling objects (v0.4, with modelProfile; v0.5 ones with --profiles); with
    /// no file, the live cluster of the kubeconfig (--context, --namespace or
    /// --all-namespaces, --config-namespace)
    #[arg(long, value_name = "FILE_OR_DIR", num_args = 0.., conflicts_with = "scenario")]
    pub(super) from_cluster: Option<Vec<PathBuf>>,
    /// With --from-cluster: profiles (a profiles file) for VariantAutoscalings of the v0.5
    /// schema, which carry no performance parameters: by model and their
    /// inference.optimization/acceleratorName label
    #[arg(long, value_name = "FILE", requires = "from_cluster")]
    pub(super) profiles: Option<PathBuf>,
    /// With --from-cluster and no file: the kubeconfig context (default: the current one)
    #[arg(long, requires = "from_cluster")]
    pub(super) context: Option<String>,
    /// With --from-cluster and no file: the variants' namespace (default: the context's)
    #[arg(
        long,
        short = 'n',
        requires = "from_cluster",
        conflicts_with = "all_namespaces"
    )]
    pub(super) namespace: Option<String>,
    /// With --from-cluster and no file: the variants of every namespace
    #[arg(long, short = 'A', requires = "from_cluster")]
    pub(super) all_namespaces: bool,
    /// With --from-cluster and no file: the namespace of the controller's ConfigMaps
    #[arg(
        long,
        requires = "from_cluster",
        default_value = "workload-variant-autoscaler-system"
    )]
    pub(super) config_namespace: String,
    /// With --from-cluster and no file: how long to wait for the API server, s
    #[arg(long, value_parser = super::args::positive, default_value_t = 30.0, requires = "from_cluster")]
    pub(super) timeout_s: f64,
    /// With --from-cluster: the load of each variant, a YAML file
    /// `workloads: [{variant, rate_rps|rate_rpm, prompt_tokens, output_tokens}]`
    #[arg(long, value_name = "FILE", requires = "from_cluster")]
    pub(super) workloads: Option<PathBuf>,
    /// Take one workload's load from this trace: the rate at --rate-quantile of its per-minute
    /// rates, and its mean prompt and output tokens
    #[arg(long, value_name = "FILE")]
    pub(super) trace: Option<PathBuf>,
    #[command(flatten)]
    pub(super) trace_input: super::trace_input::TraceInputArgs,
    /// With --trace: the workload it describes (default: the scenario's only one); when the
    /// trace names models, only that workload's model's requests count
    #[arg(long, value_name = "NAME", requires = "trace")]
    pub(super) workload: Option<String>,
    /// With --trace: model names for the trace's requests: NAME for all, or OLD=NEW[,...]
    #[arg(long, value_name = "MODELS", value_parser = |s: &str| s.parse::<crate::trace::ModelMap>(), requires = "trace")]
    pub(super) trace_model: Option<crate::trace::ModelMap>,
    /// With --trace: size for this quantile of the per-minute arrival rate (1 = the busiest
    /// minute; the mean rate for traces shorter than two minutes)
    #[arg(long, value_parser = quantile, default_value_t = 0.95, requires = "trace")]
    pub(super) rate_quantile: f64,
    /// With --from-cluster: arrival rate of every variant not in --workloads, requests/s
    #[arg(long, value_parser = super::args::rate_rps_or_zero, requires = "from_cluster", conflicts_with = "rate_rpm")]
    pub(super) rate_rps: Option<f64>,
    /// With --from-cluster: the same in requests per minute
    #[arg(long, value_parser = super::args::rate_rpm_or_zero, requires = "from_cluster")]
    pub(super) rate_rpm: Option<f64>,
    /// With --from-cluster: mean prompt tokens of every variant not in --workloads
    #[arg(long, value_parser = super::args::tokens, requires = "from_cluster")]
    pub(super) in_tokens: Option<f64>,
    /// With --from-cluster: mean output tokens of every variant not in --workloads
    #[arg(long, value_parser = super::args::output_tokens, requires = "from_cluster")]
    pub(super) out_tokens: Option<f64>,
    /// How to choose among accelerators (default: exact with an inventory, else unlimited)
    #[arg(long, value_enum)]
    pub(super) solver: Option<SolverKind>,
    /// What servers that do not fit get: none (default), or upstream's best-effort policies
    #[arg(long, value_enum)]
    pub(super) saturation_policy: Option<SaturationPolicy>,
    /// Greedy: give best-effort capacity only after every priority level is allocated
    #[arg(long)]
    pub(super) delayed_best_effort: bool,
    /// How to choose each replica's max batch (default: exact; fixed with --from-inferno)
    #[arg(long, value_enum)]
    pub(super) batch_size: Option<BatchArg>,
    /// What the solver minimises
    #[arg(long, value_enum, default_value_t = ObjectiveArg::Cost)]
    pub(super) objective: ObjectiveArg,
    /// Keep each workload on its current accelerator (`current:` in the scenario), as WVA does
    #[arg(long)]
    pub(super) keep_accelerator: bool,
    /// How the per-replica rate is sized: `analytic` (the queue model; the tail approximation
    /// for percentile targets) or `simulate` (the analytic max batch, then the rate bisected
    /// with the simulator: one replica under the workload's own traffic)
    #[arg(long, value_enum, default_value_t = SizingArg::Analytic)]
    pub(super) sizing: SizingArg,
    /// The queue model of the wait: mm1k (upstream's state-dependent M/M/1/K), mg1
    /// (Pollaczek-Khinchine with the service variance the length distributions imply) or
    /// allen-cunneen (M/G/c over the batch slots)
    #[arg(long, value_enum, default_value_t = QueueModel::Mm1k)]
    pub(super) queue_model: QueueModel,
    /// With --sizing simulate: requests per probe (10 probes per candidate)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(500..=1_000_000), default_value_t = 5000)]
    pub(super) sizing_requests: u64,
    /// What if traffic changes: plan for every workload's rate times X (2: twice the traffic;
    /// with --trace, the trace's rate times X)
    #[arg(long, value_name = "X", value_parser = args::load_scale, default_value_t = 1.0)]
    pub(super) load_scale: f64,
    /// Check the plan in the simulator: each workload's fleet under its own traffic, with the
    /// simulated latencies and SLO attainment beside the plan
    #[arg(long)]
    pub(super) verify: bool,
    /// With --verify: requests simulated per workload (after a 10% warm-up)
    #[arg(long, value_name = "N", requires = "verify", value_parser = clap::value_parser!(u64).range(1000..=10_000_000), default_value_t = 20_000)]
    pub(super) verify_requests: u64,
    /// With --verify: exit 3 when the simulation misses an SLO
    #[arg(long, requires = "verify")]
    pub(super) strict: bool,
    /// Seed of the simulated check
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Plan spare capacity for bursts: replicas enough to keep the SLO at (1 + H) times each
    /// workload's rate (0.2 = 20% more load)
    #[arg(long, value_name = "H", value_parser = headroom_value, conflicts_with = "target_utilization")]
    pub(super) headroom: Option<f64>,
    /// The same as a target utilisation of the SLO-bound capacity: --target-utilization 0.8 is
    /// --headroom 0.25
    #[arg(long, value_name = "U", value_parser = utilization_value)]
    pub(super) target_utilization: Option<f64>,
    /// Exact solver: let one workload use several accelerator types
    #[arg(long)]
    pub(super) allow_mixed: bool,
    /// Exact solver: time limit per MILP solve, seconds (the best answer found is kept)
    #[arg(long, value_parser = super::args::time_limit, default_value_t = crate::optimize::exact::DEFAULT_TIME_LIMIT_S)]
    pub(super) time_limit_s: f64,
    /// Exact solver: MILP backend
    #[arg(long, value_enum, default_value_t = BackendArg::Microlp)]
    pub(super) milp_backend: BackendArg,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    pub(super) output: OutputFormat,
}

fn headroom_value(text: &str) -> Result<f64, String> {
    let v = args::non_negative(text)?;
    if v <= 10.0 {
        Ok(v)
    } else {
        Err(format!("must be from 0 to 10 (1000% more load), got {v}"))
    }
}

fn utilization_value(text: &str) -> Result<f64, String> {
    let v = args::positive(text)?;
    // 1/11: the same bound as --headroom 10.
    if (1.0 / 11.0 - 1e-12..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be from 0.091 (1/11) to 1, got {v}"))
    }
}

/// `--sizing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum SizingArg {
    /// The analytic model.
    Analytic,
    /// Bisect the per-replica rate with the simulator.
    Simulate,
}

fn quantile(text: &str) -> Result<f64, String> {
    let v = super::args::non_negative(text)?;
    if v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("must be from 0 to 1, got {v}"))
    }
}
