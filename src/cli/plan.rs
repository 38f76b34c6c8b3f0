//! `wva plan`: size every workload of a scenario and choose accelerators, max batches and
//! replicas, under the GPU inventory when there is one.

use super::args;
use super::output::emit;
use super::progress::Terminal;
use crate::error::{Error, ExitCode};
use crate::optimize::candidates::SizingMode;
use crate::optimize::{
    Backend, BatchPolicy, BestEffort, CandidateOptions, Mixing, Objective, PlanOptions,
    SaturationPolicy, SolverKind, plan,
};
use crate::queueing::QueueModel;
use crate::report::{OutputFormat, render_plan, render_verified_plan};
use crate::spec::cluster::{ClusterInput, DefaultLoad, load_cluster};
use crate::spec::inferno::{InfernoOptimizer, load_inferno};
use crate::spec::load_profiles;
use crate::verify::{VerifyOptions, verify};
use anyhow::Context;
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
    scenario: Option<PathBuf>,
    /// Read upstream's inferno optimizer inputs instead: a folder of *-data.json files
    /// (accelerator, capacity, model, serviceclass, server, optimizer) or a system-data.json.
    /// Upstream's settings (solver, saturation policy) and its fixed max batch become the
    /// defaults
    #[arg(long, value_name = "DIR", conflicts_with_all = ["scenario", "from_cluster"])]
    from_inferno: Option<PathBuf>,
    /// Read what WVA users have in the cluster instead: files or folders of `kubectl get -o
    /// yaml` dumps with the accelerator-unit-costs and service-classes-config ConfigMaps and
    /// VariantAutoscaling objects (v0.4, with modelProfile; v0.5 ones with --profiles); with
    /// no file, the live cluster of the kubeconfig (--context, --namespace or
    /// --all-namespaces, --config-namespace)
    #[arg(long, value_name = "FILE_OR_DIR", num_args = 0.., conflicts_with = "scenario")]
    from_cluster: Option<Vec<PathBuf>>,
    /// With --from-cluster: profiles (a profiles file) for VariantAutoscalings of the v0.5
    /// schema, which carry no performance parameters: by model and their
    /// inference.optimization/acceleratorName label
    #[arg(long, value_name = "FILE", requires = "from_cluster")]
    profiles: Option<PathBuf>,
    /// With --from-cluster and no file: the kubeconfig context (default: the current one)
    #[arg(long, requires = "from_cluster")]
    context: Option<String>,
    /// With --from-cluster and no file: the variants' namespace (default: the context's)
    #[arg(
        long,
        short = 'n',
        requires = "from_cluster",
        conflicts_with = "all_namespaces"
    )]
    namespace: Option<String>,
    /// With --from-cluster and no file: the variants of every namespace
    #[arg(long, short = 'A', requires = "from_cluster")]
    all_namespaces: bool,
    /// With --from-cluster and no file: the namespace of the controller's ConfigMaps
    #[arg(
        long,
        requires = "from_cluster",
        default_value = "workload-variant-autoscaler-system"
    )]
    config_namespace: String,
    /// With --from-cluster and no file: how long to wait for the API server, s
    #[arg(long, value_parser = super::args::positive, default_value_t = 30.0, requires = "from_cluster")]
    timeout_s: f64,
    /// With --from-cluster: the load of each variant, a YAML file
    /// `workloads: [{variant, rate_rps|rate_rpm, prompt_tokens, output_tokens}]`
    #[arg(long, value_name = "FILE", requires = "from_cluster")]
    workloads: Option<PathBuf>,
    /// Take one workload's load from this trace: the rate at --rate-quantile of its per-minute
    /// rates, and its mean prompt and output tokens
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    #[command(flatten)]
    trace_input: super::trace_input::TraceInputArgs,
    /// With --trace: the workload it describes (default: the scenario's only one); when the
    /// trace names models, only that workload's model's requests count
    #[arg(long, value_name = "NAME", requires = "trace")]
    workload: Option<String>,
    /// With --trace: model names for the trace's requests: NAME for all, or OLD=NEW[,...]
    #[arg(long, value_name = "MODELS", value_parser = |s: &str| s.parse::<crate::trace::ModelMap>(), requires = "trace")]
    trace_model: Option<crate::trace::ModelMap>,
    /// With --trace: size for this quantile of the per-minute arrival rate (1 = the busiest
    /// minute; the mean rate for traces shorter than two minutes)
    #[arg(long, value_parser = quantile, default_value_t = 0.95, requires = "trace")]
    rate_quantile: f64,
    /// With --from-cluster: arrival rate of every variant not in --workloads, requests/s
    #[arg(long, value_parser = super::args::rate_rps_or_zero, requires = "from_cluster", conflicts_with = "rate_rpm")]
    rate_rps: Option<f64>,
    /// With --from-cluster: the same in requests per minute
    #[arg(long, value_parser = super::args::rate_rpm_or_zero, requires = "from_cluster")]
    rate_rpm: Option<f64>,
    /// With --from-cluster: mean prompt tokens of every variant not in --workloads
    #[arg(long, value_parser = super::args::tokens, requires = "from_cluster")]
    in_tokens: Option<f64>,
    /// With --from-cluster: mean output tokens of every variant not in --workloads
    #[arg(long, value_parser = super::args::output_tokens, requires = "from_cluster")]
    out_tokens: Option<f64>,
    /// How to choose among accelerators (default: exact with an inventory, else unlimited)
    #[arg(long, value_enum)]
    solver: Option<SolverKind>,
    /// What servers that do not fit get: none (default), or upstream's best-effort policies
    #[arg(long, value_enum)]
    saturation_policy: Option<SaturationPolicy>,
    /// Greedy: give best-effort capacity only after every priority level is allocated
    #[arg(long)]
    delayed_best_effort: bool,
    /// How to choose each replica's max batch (default: exact; fixed with --from-inferno)
    #[arg(long, value_enum)]
    batch_size: Option<BatchArg>,
    /// What the solver minimises
    #[arg(long, value_enum, default_value_t = ObjectiveArg::Cost)]
    objective: ObjectiveArg,
    /// Keep each workload on its current accelerator (`current:` in the scenario), as WVA does
    #[arg(long)]
    keep_accelerator: bool,
    /// How the per-replica rate is sized: `analytic` (the queue model; the tail approximation
    /// for percentile targets) or `simulate` (the analytic max batch, then the rate bisected
    /// with the simulator: one replica under the workload's own traffic)
    #[arg(long, value_enum, default_value_t = SizingArg::Analytic)]
    sizing: SizingArg,
    /// The queue model of the wait: mm1k (upstream's state-dependent M/M/1/K), mg1
    /// (Pollaczek-Khinchine with the service variance the length distributions imply) or
    /// allen-cunneen (M/G/c over the batch slots)
    #[arg(long, value_enum, default_value_t = QueueModel::Mm1k)]
    queue_model: QueueModel,
    /// With --sizing simulate: requests per probe (10 probes per candidate)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(500..=1_000_000), default_value_t = 5000)]
    sizing_requests: u64,
    /// What if traffic changes: plan for every workload's rate times X (2: twice the traffic;
    /// with --trace, the trace's rate times X)
    #[arg(long, value_name = "X", value_parser = args::load_scale, default_value_t = 1.0)]
    load_scale: f64,
    /// Check the plan in the simulator: each workload's fleet under its own traffic, with the
    /// simulated latencies and SLO attainment beside the plan
    #[arg(long)]
    verify: bool,
    /// With --verify: requests simulated per workload (after a 10% warm-up)
    #[arg(long, value_name = "N", requires = "verify", value_parser = clap::value_parser!(u64).range(1000..=10_000_000), default_value_t = 20_000)]
    verify_requests: u64,
    /// With --verify: exit 3 when the simulation misses an SLO
    #[arg(long, requires = "verify")]
    strict: bool,
    /// Seed of the simulated check
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Plan spare capacity for bursts: replicas enough to keep the SLO at (1 + H) times each
    /// workload's rate (0.2 = 20% more load)
    #[arg(long, value_name = "H", value_parser = headroom_value, conflicts_with = "target_utilization")]
    headroom: Option<f64>,
    /// The same as a target utilisation of the SLO-bound capacity: --target-utilization 0.8 is
    /// --headroom 0.25
    #[arg(long, value_name = "U", value_parser = utilization_value)]
    target_utilization: Option<f64>,
    /// Exact solver: let one workload use several accelerator types
    #[arg(long)]
    allow_mixed: bool,
    /// Exact solver: time limit per MILP solve, seconds (the best answer found is kept)
    #[arg(long, value_parser = super::args::time_limit, default_value_t = crate::optimize::exact::DEFAULT_TIME_LIMIT_S)]
    time_limit_s: f64,
    /// Exact solver: MILP backend
    #[arg(long, value_enum, default_value_t = BackendArg::Microlp)]
    milp_backend: BackendArg,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

fn backend(arg: BackendArg) -> Result<Backend, Error> {
    match arg {
        BackendArg::Microlp => Ok(Backend::Microlp),
        #[cfg(feature = "cbc")]
        BackendArg::Cbc => Ok(Backend::Cbc),
        #[cfg(not(feature = "cbc"))]
        BackendArg::Cbc => Err(Error::Usage(
            "--milp-backend cbc needs wva built with `--features cbc` (and the CBC library: apt-get install coinor-libcbc-dev)".into(),
        )),
    }
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
enum SizingArg {
    /// The analytic model.
    Analytic,
    /// Bisect the per-replica rate with the simulator.
    Simulate,
}

/// Defaults that depend on where the problem came from.
#[derive(Debug, Default)]
struct Defaults {
    solver: Option<SolverKind>,
    saturation: Option<SaturationPolicy>,
    batch: Option<BatchArg>,
    delayed_best_effort: bool,
    allow_mixed: bool,
}

fn options(a: &PlanArgs, d: &Defaults) -> Result<PlanOptions, Error> {
    Ok(PlanOptions {
        solver: a.solver.or(d.solver),
        candidates: CandidateOptions {
            batch: match a.batch_size.or(d.batch).unwrap_or(BatchArg::Exact) {
                BatchArg::Fixed => BatchPolicy::Fixed,
                BatchArg::Upstream => BatchPolicy::Upstream,
                BatchArg::Exact => BatchPolicy::Exact,
            },
            objective: match a.objective {
                ObjectiveArg::Cost => Objective::Cost,
                ObjectiveArg::Transition => Objective::Transition,
            },
            keep_accelerator: a.keep_accelerator,
            batch_variants: false,
            queue_model: a.queue_model,
            sizing: match a.sizing {
                SizingArg::Analytic => SizingMode::Analytic,
                SizingArg::Simulate => SizingMode::Simulate {
                    requests: a.sizing_requests,
                    seed: a.seed,
                },
            },
            headroom: match (a.headroom, a.target_utilization) {
                (Some(h), _) => h,
                (None, Some(u)) => 1.0 / u - 1.0,
                (None, None) => 0.0,
            },
        },
        saturation: a.saturation_policy.or(d.saturation).unwrap_or_default(),
        best_effort: if a.delayed_best_effort || d.delayed_best_effort {
            BestEffort::Delayed
        } else {
            BestEffort::InOrder
        },
        // Upstream's `heterogeneous` only applies when the solver is left to upstream's choice.
        mixing: if a.allow_mixed
            || (d.allow_mixed && a.solver.is_none_or(|s| s == SolverKind::Exact))
        {
            Mixing::Mixed
        } else {
            Mixing::OneType
        },
        time_limit_s: a.time_limit_s,
        backend: backend(a.milp_backend)?,
    })
}

fn inferno_defaults(o: &InfernoOptimizer) -> Result<Defaults, Error> {
    let saturation = SaturationPolicy::parse(&o.saturation_policy).ok_or_else(|| {
        Error::Usage(format!(
            "optimizer-data.json: unknown saturationPolicy `{}`",
            o.saturation_policy
        ))
    })?;
    Ok(Defaults {
        solver: Some(if o.unlimited {
            SolverKind::Unlimited
        } else if o.milp_solver || o.heterogeneous {
            SolverKind::Exact
        } else {
            SolverKind::Greedy
        }),
        saturation: Some(saturation),
        batch: Some(BatchArg::Fixed),
        delayed_best_effort: o.delayed_best_effort,
        allow_mixed: o.heterogeneous && !o.unlimited,
    })
}

/// The live cluster's WVA objects (`--from-cluster` without files).
fn live_cluster(a: &PlanArgs) -> anyhow::Result<ClusterInput<'static>> {
    #[cfg(feature = "push")]
    {
        let timeout = std::time::Duration::from_secs_f64(a.timeout_s);
        let connection =
            crate::k8s::push::connect(a.context.as_deref(), timeout).map_err(Error::Cluster)?;
        let namespace = if a.all_namespaces {
            None
        } else {
            Some(
                a.namespace
                    .clone()
                    .unwrap_or_else(|| connection.namespace.clone()),
            )
        };
        let objects = crate::k8s::push::read_wva_objects(
            &connection,
            namespace.as_deref(),
            &a.config_namespace,
        )
        .map_err(Error::Cluster)?;
        Ok(ClusterInput::Live {
            source: format!("cluster {}", connection.server),
            objects,
        })
    }
    #[cfg(not(feature = "push"))]
    {
        let _ = a;
        Err(Error::Usage(
            "this wva was built without the `push` feature, which reads a live cluster; give --from-cluster FILES (kubectl get -o yaml)".into(),
        )
        .into())
    }
}

pub(super) fn run(a: PlanArgs) -> anyhow::Result<ExitCode> {
    let (scenario, defaults, source, notes) = match (&a.scenario, &a.from_inferno) {
        (Some(path), _) => (
            super::read_scenario(path)?,
            Defaults::default(),
            path.clone(),
            Vec::new(),
        ),
        (None, Some(dir)) => {
            let imported = load_inferno(dir)?;
            let defaults = inferno_defaults(&imported.optimizer)?;
            (imported.scenario, defaults, dir.clone(), imported.notes)
        }
        (None, None) if a.from_cluster.is_some() => {
            let defaults = DefaultLoad {
                rate_rps: a.rate_rps.or(a.rate_rpm.map(|r| r / 60.0)),
                prompt_tokens: a.in_tokens,
                output_tokens: a.out_tokens,
            };
            let extra = match &a.profiles {
                Some(path) => load_profiles(path)?,
                None => Vec::new(),
            };
            let files = a.from_cluster.clone().unwrap_or_default();
            let input = if files.is_empty() {
                live_cluster(&a)?
            } else {
                for (flag, given) in [
                    ("--context", a.context.is_some()),
                    ("--namespace", a.namespace.is_some()),
                    ("--all-namespaces", a.all_namespaces),
                ] {
                    if given {
                        return Err(Error::Usage(format!(
                            "{flag} reads the live cluster: give --from-cluster without files"
                        ))
                        .into());
                    }
                }
                ClusterInput::Files(&files)
            };
            let source = match &input {
                ClusterInput::Files(f) => f[0].clone(),
                ClusterInput::Live { source, .. } => PathBuf::from(source),
            };
            let (scenario, notes) = load_cluster(input, a.workloads.as_deref(), &defaults, &extra)?;
            (scenario, Defaults::default(), source, notes)
        }
        (None, None) => {
            return Err(Error::Usage(
                "give a SCENARIO, --from-inferno DIR or --from-cluster FILES".into(),
            )
            .into());
        }
    };
    for note in &notes {
        super::say::note(format_args!("{note}"));
    }
    let mut scenario = scenario;
    if let Some(path) = &a.trace {
        load_from_trace(&a, path, &mut scenario)?;
    } else if a.trace_input.is_set() {
        return Err(Error::Usage(
            "--trace-format, --window, --rate-scale, --time-scale, --max-requests and --skip-bad-rows apply with --trace".into(),
        )
        .into());
    }
    if a.load_scale != 1.0 {
        scenario
            .scale_load(a.load_scale)
            .map_err(|e| Error::Usage(format!("{}: --load-scale: {e}", source.display())))?;
    }
    let options = options(&a, &defaults)?;
    let planning = super::progress::Progress::new(None, "planning", "");
    let plan = plan(&scenario, &options).with_context(|| source.display().to_string())?;
    drop(planning);
    if a.verify {
        let checking =
            super::progress::Progress::new(None, "checking the plan in the simulator", "");
        let checks = verify(
            &scenario,
            &plan,
            &VerifyOptions {
                requests: a.verify_requests,
                seed: a.seed,
                ..VerifyOptions::default()
            },
        );
        drop(checking);
        if matches!(a.output, OutputFormat::Csv | OutputFormat::InfernoJson) {
            super::say::note(
                "-o csv and -o inferno-json carry the plan only; the simulated check is in -o table, json and yaml",
            );
        }
        emit(&render_verified_plan(&plan, &checks, a.output))?;
        let missed: Vec<&str> = checks
            .iter()
            .filter(|c| !c.misses.is_empty())
            .map(|c| c.workload.as_str())
            .collect();
        if !missed.is_empty() {
            eprintln!(
                "wva: the simulation misses the SLO of {} ({})",
                missed.join(", "),
                if a.strict {
                    "exit code 3"
                } else {
                    "--strict makes this exit 3"
                }
            );
            if a.strict {
                return Ok(ExitCode::Infeasible);
            }
        }
    } else {
        emit(&render_plan(&plan, a.output))?;
    }
    if plan.is_complete() {
        Ok(ExitCode::Success)
    } else {
        let partial = plan.allocations.iter().filter(|x| x.partial).count();
        eprintln!(
            "wva: {} of {} workloads could not be fully allocated (exit code 3)",
            plan.unallocated.len() + partial,
            scenario.workloads.len()
        );
        Ok(ExitCode::Infeasible)
    }
}

fn quantile(text: &str) -> Result<f64, String> {
    let v = super::args::non_negative(text)?;
    if v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("must be from 0 to 1, got {v}"))
    }
}

/// Sets the load of the workload `a.workload` (or the only one) from the trace at `path`.
fn load_from_trace(
    a: &PlanArgs,
    path: &std::path::Path,
    scenario: &mut crate::spec::Scenario,
) -> anyhow::Result<()> {
    let w = match &a.workload {
        Some(name) => scenario
            .workloads
            .iter()
            .position(|w| &w.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = scenario.workloads.iter().map(|w| w.name.as_str()).collect();
                Error::Usage(format!(
                    "--workload {name}: the scenario has no such workload; it has: {}",
                    known.join(", ")
                ))
            })?,
        None if scenario.workloads.len() == 1 => 0,
        None => {
            return Err(Error::Usage(
                "--trace needs --workload NAME: the scenario has several workloads".into(),
            )
            .into());
        }
    };
    let mut trace = a.trace_input.open(path, a.trace_model.clone(), 1)?;
    crate::usecase::plan::load_from_trace(
        &mut scenario.workloads[w],
        &mut trace,
        path,
        a.rate_quantile,
        &Terminal::default(),
    )?;
    Ok(())
}
