//! `wva simulate`: run a scenario's workloads (or one profile under flags) through the
//! discrete-event simulator of vLLM, beside the analytic model's predictions.

use super::args;
use super::load::ShapeArgs;
use super::output::{DocFormat, emit, render};
use super::progress::Progress;
use super::trace::TraceInputArgs;
use crate::error::{Error, ExitCode};
use crate::load::from_trace::{
    TraceLoad, assign_workloads, requests as requests_from_trace, trace_loads,
};
use crate::optimize::{PlanOptions, plan};
use crate::report::{WorkloadInfo, simulation_report, simulation_table};
use crate::sim::setup::{EngineOverrides, Fleet, FleetPart, build};
use crate::sim::{Generator, Horizon, Request, Router, SimResult, run};
use crate::spec::{
    Accelerator, LatencyTarget, Profile, Scenario, ServiceClass, SloTarget, SpecError, Statistic,
    Workload, load_profiles,
};
use crate::verify::fleets_of_plan;
use anyhow::Context;
use clap::Args;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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
fn profile_scenario(
    a: &SimulateArgs,
    path: &Path,
    trace_load: Option<TraceLoad>,
) -> anyhow::Result<Scenario> {
    let profiles = load_profiles(path)?;
    let matching: Vec<&Profile> = profiles
        .iter()
        .filter(|p| a.model.as_deref().is_none_or(|m| p.model == m))
        .filter(|p| {
            a.accelerator
                .as_deref()
                .is_none_or(|acc| p.accelerator == acc)
        })
        .collect();
    let profile = match matching.as_slice() {
        [one] => (*one).clone(),
        [] => {
            return Err(Error::Usage(format!(
                "{}: no profile matches --model/--accelerator",
                path.display()
            ))
            .into());
        }
        _ => {
            return Err(Error::Usage(format!(
                "{}: several profiles match; choose with --model and --accelerator",
                path.display()
            ))
            .into());
        }
    };
    let (rate_rps, prompt, output) = match trace_load {
        Some(t) => (t.rate_rps, t.prompt_tokens, t.output_tokens),
        // A closed loop's rate is what its clients achieve; the analytic column is computed
        // at it once the run is done.
        None if a.concurrency.is_some() => match (a.in_tokens, a.out_tokens) {
            (Some(i), Some(o)) => (0.0, i, o),
            _ => {
                return Err(Error::Usage(
                    "--concurrency needs --in-tokens and --out-tokens".into(),
                )
                .into());
            }
        },
        None => {
            let rate_rps = a.rate_rps.or(a.rate_rpm.map(|r| r / 60.0)).ok_or_else(|| {
                Error::Usage(
                    "--profile needs the load: --rate-rps (or --rate-rpm), --in-tokens and --out-tokens, or --trace FILE"
                        .into(),
                )
            })?;
            match (a.in_tokens, a.out_tokens) {
                (Some(i), Some(o)) => (rate_rps, i, o),
                _ => {
                    return Err(Error::Usage(
                        "--profile needs --in-tokens and --out-tokens (or --trace FILE)".into(),
                    )
                    .into());
                }
            }
        }
    };
    let mean = |ms: Option<f64>| {
        ms.map(|ms| LatencyTarget {
            statistic: Statistic::Mean,
            ms,
        })
    };
    Ok(Scenario {
        name: format!("{} on {}", profile.model, profile.accelerator),
        description: None,
        accelerators: vec![Accelerator {
            name: profile.accelerator.clone(),
            gpu_type: profile.accelerator.clone(),
            device: None,
            cost_cents_per_hour: 1.0,
            inventory_gpus: None,
            memory_gb: None,
            interconnect: None,
        }],
        service_classes: vec![ServiceClass {
            name: "flags".into(),
            priority: 1,
            description: None,
            targets: vec![SloTarget {
                model: profile.model.clone(),
                ttft: mean(a.target_ttft_ms),
                itl: mean(a.target_itl_ms),
            }],
        }],
        workloads: vec![Workload {
            min_replicas: 1,
            ..Workload::from_load(
                &profile.model,
                &profile.model,
                "flags",
                rate_rps,
                prompt,
                output,
            )
        }],
        profiles: vec![profile],
    })
}

/// The fleets of a plan file.
fn fleets_from_plan_file(scenario: &Scenario, path: &Path) -> anyhow::Result<Vec<Fleet>> {
    let doc = super::plan_file::read(path)?;
    let mut fleets: Vec<Fleet> = Vec::new();
    for (i, row) in doc.allocations.iter().enumerate() {
        let field = |f: &str| format!("allocations[{i}].{f}");
        let Some(w) = scenario
            .workloads
            .iter()
            .position(|w| w.name == row.workload)
        else {
            let known: Vec<&str> = scenario.workloads.iter().map(|w| w.name.as_str()).collect();
            return Err(SpecError::at(
                path,
                field("workload"),
                format!(
                    "the scenario has no workload `{}`; it has: {}",
                    row.workload,
                    known.join(", ")
                ),
            )
            .into());
        };
        let model = &scenario.workloads[w].model;
        let Some(p) = scenario.profile_index(model, &row.accelerator) else {
            return Err(SpecError::at(
                path,
                field("accelerator"),
                format!(
                    "the scenario has no profile of `{model}` on `{}`",
                    row.accelerator
                ),
            )
            .into());
        };
        if row.max_batch == 0 {
            return Err(SpecError::at(path, field("max_batch"), "must be at least 1").into());
        }
        let part = FleetPart {
            profile: p,
            replicas: row.replicas,
            max_batch: row.max_batch,
        };
        match fleets.iter_mut().find(|f| f.workload == w) {
            Some(f) => f.parts.push(part),
            None => fleets.push(Fleet {
                workload: w,
                parts: vec![part],
            }),
        }
    }
    fleets.retain(|f| f.parts.iter().any(|p| p.replicas > 0));
    Ok(fleets)
}

fn fleets(
    a: &SimulateArgs,
    scenario: &Scenario,
    source: &Path,
) -> anyhow::Result<(Vec<Fleet>, Vec<String>)> {
    let mut notes = Vec::new();
    if let Some(path) = &a.plan {
        let fleets = fleets_from_plan_file(scenario, path)?;
        for (w, workload) in scenario.workloads.iter().enumerate() {
            if !fleets.iter().any(|f| f.workload == w) {
                notes.push(format!(
                    "workload `{}` is not simulated: {} gives it no replicas",
                    workload.name,
                    path.display()
                ));
            }
        }
        return Ok((fleets, notes));
    }
    if let Some(n) = a.replicas {
        let mut out = Vec::new();
        for (w, workload) in scenario.workloads.iter().enumerate() {
            let candidates: Vec<usize> = (0..scenario.profiles.len())
                .filter(|&p| scenario.profiles[p].model == workload.model)
                .filter(|&p| {
                    a.accelerator
                        .as_deref()
                        .is_none_or(|acc| scenario.profiles[p].accelerator == acc)
                })
                .collect();
            let p = match candidates.as_slice() {
                [p] => *p,
                [] => {
                    return Err(Error::Usage(format!(
                        "{}: workload `{}`: no profile of `{}`{}",
                        source.display(),
                        workload.name,
                        workload.model,
                        a.accelerator
                            .as_deref()
                            .map(|acc| format!(" on `{acc}`"))
                            .unwrap_or_default()
                    ))
                    .into());
                }
                _ => {
                    return Err(Error::Usage(format!(
                        "{}: workload `{}`: `{}` has profiles on several accelerators; choose one with --accelerator",
                        source.display(),
                        workload.name, workload.model
                    ))
                    .into());
                }
            };
            let profile = &scenario.profiles[p];
            let max_batch = workload.max_batch_on(profile);
            out.push(Fleet {
                workload: w,
                parts: vec![FleetPart {
                    profile: p,
                    replicas: n,
                    max_batch,
                }],
            });
        }
        return Ok((out, notes));
    }
    // The plan `wva plan` would make.
    let planned = plan(scenario, &PlanOptions::default())?;
    let (out, plan_notes) = fleets_of_plan(scenario, &planned);
    notes.extend(plan_notes);
    Ok((out, notes))
}

pub(super) fn run_simulate(mut a: SimulateArgs) -> anyhow::Result<ExitCode> {
    // A profile alone is one replica unless told otherwise.
    if a.profile.is_some() && a.replicas.is_none() {
        a.replicas = Some(1);
    }
    // A trace, read whole and in arrival order (--requests and --duration-s cut it).
    let records = match &a.trace {
        Some(path) => {
            let mut records = a.trace_input.read(path, a.trace_model.clone(), a.seed)?;
            // Failed requests (kept with --keep-failed) generated nothing to replay.
            let failed = records.iter().filter(|r| r.output_tokens == 0).count();
            if failed > 0 {
                records.retain(|r| r.output_tokens > 0);
                super::say::note(format_args!("{failed} failed requests are not replayed"));
            }
            if let Some(d) = a.duration_s {
                records.retain(|r| r.arrival_s <= d);
            }
            if let Some(n) = a.requests {
                records.truncate(n as usize);
            }
            if records.is_empty() {
                return Err(
                    Error::Usage(format!("{}: no requests to replay", path.display())).into(),
                );
            }
            Some(records)
        }
        None => {
            if a.trace_input.is_set() {
                return Err(Error::Usage(
                    "--trace-format, --window, --rate-scale, --time-scale, --max-requests and --skip-bad-rows apply with --trace".into(),
                )
                .into());
            }
            None
        }
    };
    let (mut scenario, source) = match (&a.scenario, &a.profile) {
        (Some(path), _) => (super::read_scenario(path)?, path.clone()),
        (None, Some(path)) => {
            let load = records
                .as_ref()
                .and_then(|r| trace_loads(r, &vec![0; r.len()], 1)[0]);
            (profile_scenario(&a, path, load)?, path.clone())
        }
        (None, None) => return Err(Error::Usage("give a SCENARIO or --profile FILE".into()).into()),
    };
    // Each request's workload; the trace-driven workloads take the trace's load, the others
    // are not simulated.
    let mut busy_rates: Vec<f64> = Vec::new();
    let assignment = match &records {
        Some(records) => {
            let trace_path = a.trace.as_deref().unwrap_or(Path::new(""));
            let assignment = assign_workloads(records, &scenario, a.workload.as_deref())
                .map_err(|m| Error::Usage(format!("{}: {m}", trace_path.display())))?;
            let loads = trace_loads(records, &assignment, scenario.workloads.len());
            busy_rates = loads
                .iter()
                .filter_map(|l| l.map(|l| l.busy_rate_rps))
                .collect();
            let mut keep = Vec::new();
            for (w, load) in loads.iter().enumerate() {
                let workload = &mut scenario.workloads[w];
                match load {
                    Some(l) => {
                        workload.rate_rps = l.rate_rps;
                        workload.prompt_tokens = l.prompt_tokens;
                        workload.output_tokens = l.output_tokens;
                        keep.push(w);
                    }
                    None => super::say::note(format_args!(
                        "workload `{}` is not simulated: the trace has no requests for it",
                        workload.name
                    )),
                }
            }
            let new_index: Vec<Option<usize>> = (0..scenario.workloads.len())
                .map(|w| keep.iter().position(|&k| k == w))
                .collect();
            let mut w = 0;
            scenario.workloads.retain(|_| {
                w += 1;
                keep.contains(&(w - 1))
            });
            Some(
                assignment
                    .iter()
                    .map(|&w| new_index[w].unwrap_or(usize::MAX))
                    .collect::<Vec<usize>>(),
            )
        }
        None => None,
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
    if a.accelerator.is_some() && a.replicas.is_none() {
        return Err(Error::Usage(
            "--accelerator applies with --replicas (or --profile); a plan chooses its own".into(),
        )
        .into());
    }
    // Distribution overrides.
    for w in &mut scenario.workloads {
        a.shape.apply(w)?;
    }
    // A default plan for a trace carries its busy minutes (95th percentile of the per-minute
    // rate), as `wva plan --trace` does; the simulation and the analytic column, its load.
    let mut plan_scenario = scenario.clone();
    for (w, rate) in plan_scenario.workloads.iter_mut().zip(&busy_rates) {
        w.rate_rps = *rate;
    }
    let (fleets, notes) = fleets(&a, &plan_scenario, &source)?;
    for note in &notes {
        super::say::note(format_args!("{note}"));
    }
    // The fleet is sized; the traffic it meets may be scaled.
    if a.load_scale != 1.0 {
        scenario
            .scale_load(a.load_scale)
            .map_err(|e| Error::Usage(format!("{}: --load-scale: {e}", source.display())))?;
    }
    if fleets.is_empty() {
        return Err(Error::Usage(format!(
            "{}: nothing to simulate (no workload has replicas)",
            source.display()
        ))
        .into());
    }
    let replicas: u64 = fleets
        .iter()
        .flat_map(|f| &f.parts)
        .map(|p| u64::from(p.replicas))
        .sum();
    if replicas > u64::from(crate::limits::MAX_REPLICAS) {
        return Err(Error::Usage(format!(
            "{}: {replicas} replicas to simulate; at most {} per run (each is a simulated engine; docs/cli.md, Limits)",
            source.display(),
            crate::limits::MAX_REPLICAS
        ))
        .into());
    }
    let overrides = EngineOverrides {
        max_num_seqs: a.max_num_seqs,
        max_num_batched_tokens: a.max_num_batched_tokens,
        kv_capacity_tokens: match a.num_gpu_blocks {
            Some(blocks) => Some(blocks.checked_mul(u64::from(a.block_size)).ok_or_else(|| {
                Error::Usage(format!(
                    "--num-gpu-blocks {blocks} x --block-size {} is too large",
                    a.block_size
                ))
            })?),
            None => a.kv_capacity_tokens,
        },
        block_size: Some(a.block_size),
        prefix_caching: Some(!a.no_enable_prefix_caching),
        noise_cv: a.noise_cv,
    };
    if let Some(concurrency) = a.concurrency {
        return run_closed_loop(&a, scenario, &fleets, &overrides, concurrency);
    }
    let timeline_ms =
        (a.timeline.is_some() || a.plot.is_some()).then_some(a.timeline_bucket_s * 1000.0);
    let (config, traffic, analytic) = build(
        &scenario,
        &fleets,
        &overrides,
        a.router,
        a.seed,
        timeline_ms,
    );
    let horizon = match (a.requests, a.duration_s) {
        (_, Some(d)) => Horizon::Duration(d),
        (Some(n), None) => Horizon::Requests(n),
        (None, None) => Horizon::Requests(100_000),
    };
    if let Horizon::Duration(d) = horizon {
        let rate_rps: f64 = scenario.workloads.iter().map(|w| w.rate_rps).sum();
        args::check_drawn(rate_rps * d, "--duration-s")?;
    }
    // A replay counts every request unless asked; synthetic load starts empty and warms up.
    let warmup = a
        .warmup
        .unwrap_or(if records.is_some() { 0.0 } else { 0.1 });
    let mut config = config;
    config.record_requests = a.requests_out.is_some() || a.twin.serve_metrics.is_some();
    if a.twin.serve_metrics.is_some() && a.replications > 1 {
        return Err(
            Error::Usage("--serve-metrics serves one run: drop --replications".into()).into(),
        );
    }
    let replay: Option<Vec<Request>> = match (&records, &assignment) {
        (Some(records), Some(assignment)) => {
            let mut group_of = vec![None; scenario.workloads.len()];
            for (g, f) in fleets.iter().enumerate() {
                group_of[f.workload] = Some(g as u32);
            }
            let duration_s = records.last().map_or(0.0, |r| r.arrival_s);
            // Records of dropped workloads have index usize::MAX: give them no group.
            group_of.push(None);
            let assignment: Vec<usize> = assignment
                .iter()
                .map(|&w| w.min(group_of.len() - 1))
                .collect();
            Some(requests_from_trace(
                records,
                &assignment,
                &group_of,
                warmup * duration_s,
            ))
        }
        _ => None,
    };

    // Progress on stderr, for runs longer than a second, on a terminal only.
    let expected = match (&replay, horizon) {
        (Some(r), _) => r.len() as u64,
        (None, Horizon::Requests(n)) => n,
        (None, Horizon::Duration(d)) => {
            (traffic.iter().map(|t| t.rate_rps).sum::<f64>() * d) as u64
        }
    } * u64::from(a.replications);
    let bar = Progress::new(Some(expected), "simulating", "requests");
    let done = AtomicU64::new(0);
    let results: Vec<Result<SimResult, crate::sim::SimError>> = (0..a.replications)
        .into_par_iter()
        .map(|k| {
            let seed = crate::rng::replication_seed(a.seed, u64::from(k));
            let mut cfg = config.clone();
            cfg.seed = seed;
            let requests: Box<dyn Iterator<Item = Request>> = match &replay {
                Some(r) => Box::new(r.iter().copied()),
                None => Box::new(Generator::new(&traffic, horizon, warmup, seed)),
            };
            let mut last = 0u64;
            run(&cfg, requests, &mut |finished| {
                let total = done.fetch_add(finished - last, Ordering::Relaxed) + finished - last;
                last = finished;
                bar.set_position(total);
            })
        })
        .collect();
    drop(bar);
    let results: Vec<SimResult> = results
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Usage(e.to_string()))?;

    let info: Vec<WorkloadInfo> = fleets
        .iter()
        .zip(&analytic)
        .zip(&config.groups)
        .map(|((f, an), group)| WorkloadInfo {
            model: scenario.workloads[f.workload].model.clone(),
            accelerators: f
                .parts
                .iter()
                .flat_map(|p| {
                    std::iter::repeat_n(
                        scenario.profiles[p.profile].accelerator.clone(),
                        p.replicas as usize,
                    )
                })
                .collect(),
            analytic: *an,
            offered_rps: scenario.workloads[f.workload].rate_rps,
            kv_limited: group.engines.iter().any(|e| e.kv_capacity_tokens.is_some()),
        })
        .collect();
    let report = simulation_report(&scenario.name, a.seed, &results, &info);
    if results[0].timeline_truncated {
        super::say::note(format_args!(
            "the timeline stops after {} buckets; use a wider --timeline-bucket-s",
            crate::sim::MAX_BUCKETS
        ));
    }
    if let Some(path) = &a.requests_out {
        write_outcomes(path, &results[0], &config, records.as_deref())?;
    }
    if let Some(path) = &a.timeline {
        write_timeline(path, &results[0].timeline)?;
    }
    if let Some(path) = &a.plot {
        crate::report::plot::timeline(path, &results[0].timeline)
            .map_err(|e| Error::Usage(e.to_string()))?;
    }
    if let Some(addr) = a.twin.serve_metrics {
        super::simulate_twin::run(&a.twin, addr, &config, &info, &results[0])?;
    }
    let text = render(a.output, &report, simulation_table);
    emit(&text)?;
    Ok(ExitCode::Success)
}

/// `--concurrency`: the clients against one replica, each replication in parallel, reported
/// as an open-loop run is, with the analytic column at the rate the clients achieved.
fn run_closed_loop(
    a: &SimulateArgs,
    mut scenario: Scenario,
    fleets: &[Fleet],
    overrides: &EngineOverrides,
    concurrency: u32,
) -> anyhow::Result<ExitCode> {
    use crate::sim::closed_loop::{ClosedLoop, run_closed_loop as closed_loop};
    let one_replica =
        fleets.len() == 1 && fleets[0].parts.len() == 1 && fleets[0].parts[0].replicas == 1;
    if !one_replica {
        return Err(Error::Usage(
            "--concurrency drives one replica, which its clients share: for several replicas, simulate one (--replicas 1) with the clients each of them would see".into(),
        )
        .into());
    }
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
    let (config, _, _) = build(&scenario, fleets, overrides, a.router, a.seed, None);
    let group = &config.groups[0];
    let workload = &scenario.workloads[fleets[0].workload];
    let load = ClosedLoop {
        concurrency,
        prompt: workload.prompt_dist,
        output: workload.output_dist,
        requests: a.requests.unwrap_or(100_000),
        warmup_fraction: a.warmup.unwrap_or(0.1),
        think_ms: a.think_time_s.unwrap_or(0.0) * 1000.0,
        targets: group.targets,
    };
    let engine = group.engines[0].clone();
    let name = group.name.clone();
    let results: Vec<SimResult> = (0..a.replications)
        .into_par_iter()
        .map(|k| {
            closed_loop(
                engine.clone(),
                &load,
                crate::rng::replication_seed(a.seed, u64::from(k)),
            )
            .map(|r| r.into_sim_result(&name))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Usage(e.to_string()))?;
    // The analytic model at the rate the clients achieved.
    let served: Vec<f64> = results
        .iter()
        .map(|r| r.groups[0].throughput_rps)
        .filter(|x| x.is_finite())
        .collect();
    let served_rps = served.iter().sum::<f64>() / served.len().max(1) as f64;
    let w = fleets[0].workload;
    scenario.workloads[w].rate_rps = if served_rps.is_finite() {
        served_rps
    } else {
        0.0
    };
    let (_, _, analytic) = build(&scenario, fleets, overrides, a.router, a.seed, None);
    let part = &fleets[0].parts[0];
    let info = [WorkloadInfo {
        model: scenario.workloads[w].model.clone(),
        accelerators: vec![scenario.profiles[part.profile].accelerator.clone()],
        analytic: analytic[0].filter(|_| served_rps > 0.0),
        offered_rps: scenario.workloads[w].rate_rps,
        kv_limited: group.engines.iter().any(|e| e.kv_capacity_tokens.is_some()),
    }];
    let mut report = simulation_report(&scenario.name, a.seed, &results, &info);
    report.closed_loop = Some(crate::report::ClosedLoopInfo {
        concurrency,
        think_time_s: a.think_time_s.unwrap_or(0.0),
    });
    emit(&render(a.output, &report, simulation_table))?;
    Ok(ExitCode::Success)
}

/// Writes the timeline CSV atomically (temporary file, then rename).
fn write_timeline(path: &Path, rows: &[crate::sim::TimelineRow]) -> anyhow::Result<()> {
    // The header is written even when there are no rows.
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer
        .write_record(crate::sim::TIMELINE_COLUMNS)
        .context("writing the timeline")?;
    for row in rows {
        writer.serialize(row).context("writing the timeline")?;
    }
    let bytes = writer.into_inner().context("writing the timeline")?;
    super::output::write_atomically(path, &bytes)
}

/// Writes every request's outcome as CSV (atomically), with the trace's measured latencies
/// beside the simulated ones when it has them.
fn write_outcomes(
    path: &Path,
    result: &SimResult,
    config: &crate::sim::SimConfig,
    records: Option<&[crate::trace::TraceRecord]>,
) -> anyhow::Result<()> {
    let mut starts = Vec::new();
    let mut n = 0u32;
    for g in &config.groups {
        starts.push(n);
        n += g.engines.len() as u32;
    }
    let mut outcomes = result.requests.clone();
    outcomes.sort_by_key(|o| o.id);
    let mut text = String::from(
        "id,workload,replica,arrival_s,prompt_tokens,output_tokens,queue_wait_ms,ttft_ms,e2e_ms,preemptions,rejected,counted,measured_ttft_ms,measured_e2e_ms\n",
    );
    let num = |v: f64| {
        if v.is_finite() {
            format!("{v:.3}")
        } else {
            String::new()
        }
    };
    for o in &outcomes {
        let g = o.group as usize;
        let measured = records.and_then(|r| r.get(o.id as usize));
        let ms = |v: Option<f64>| v.map_or(String::new(), |s| num(s * 1000.0));
        text.push_str(&format!(
            "{},{},{},{:.6},{},{},{},{},{},{},{},{},{},{}\n",
            o.id,
            config.groups[g].name,
            o.replica - starts[g],
            o.arrival_ms / 1000.0,
            o.prompt_tokens,
            o.output_tokens,
            num(o.queue_wait_ms),
            num(o.ttft_ms),
            num(o.e2e_ms),
            o.preemptions,
            o.rejected,
            o.counted,
            ms(measured.and_then(|m| m.ttft_s)),
            ms(measured.and_then(|m| m.e2e_s)),
        ));
    }
    super::output::write_atomically(path, text.as_bytes())
}
