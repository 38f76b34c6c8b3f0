//! `wva simulate`: run a scenario's workloads (or one profile under flags) through the
//! discrete-event simulator of vLLM, beside the analytic model's predictions.

use super::args;
use super::output::emit;
use crate::error::{Error, ExitCode};
use crate::optimize::{PlanOptions, plan};
use crate::report::{WorkloadInfo, simulation_report, simulation_table, to_json, to_yaml};
use crate::sim::setup::{EngineOverrides, Fleet, FleetPart, build};
use crate::sim::{Generator, Horizon, Router, SimResult, run};
use crate::spec::{
    Accelerator, ArrivalProcess, LatencyTarget, LengthDist, Profile, Scenario, ServiceClass,
    SloTarget, SpecError, Statistic, Workload, load_profiles, load_scenario,
};
use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

pub(super) const AFTER_HELP: &str = "\
The simulator runs vLLM's scheduler iteration by iteration on every replica: continuous
batching up to --max-num-seqs, chunked prefill under --max-num-batched-tokens (decodes first),
a KV cache of --block-size-token blocks (16) with preemption when it fills, and iteration times from the
profile's cost model. Requests arrive as the scenario says (Poisson by default), are routed to
replicas, and their TTFT, every inter-token gap, TPOT and end-to-end latency are measured after a
warm-up. The analytic model's prediction at the same load is printed beside the result.

The fleet is, in order of precedence: --plan FILE (`wva plan -o json`), --replicas N (of the
profile on --accelerator), or the plan `wva plan` would make for the scenario.

Examples:
  wva simulate scenarios/quickstart.yaml
  wva simulate scenarios/quickstart.yaml --requests 100000 --replications 5 -o json
  wva simulate --profile profiles/qwen2.5-14b-instruct.yaml --replicas 2 --rate-rps 12 \\
      --in-tokens 1155 --out-tokens 211 --prompt-dist lognormal --prompt-cv 1.0";

/// Output formats of `wva simulate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum SimFormat {
    /// Tables for people.
    Table,
    /// One JSON object.
    Json,
    /// YAML.
    Yaml,
}

/// Token-length distributions for flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum DistArg {
    /// Every request the same.
    Fixed,
    /// Exponential.
    Exponential,
    /// Log-normal (give --*-cv).
    Lognormal,
    /// Uniform over mean x (1 -/+ sqrt(3) cv) (give --*-cv).
    Uniform,
}

/// Arrival processes for flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum ArrivalArg {
    /// Exponential gaps.
    Poisson,
    /// Evenly spaced.
    Deterministic,
    /// Gamma gaps with --arrival-cv.
    Gamma,
}

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
    /// Replicas per workload (with --profile, required)
    #[arg(long, value_parser = args::positive_int)]
    replicas: Option<u32>,

    /// With --profile: arrival rate, requests/s
    #[arg(long, value_parser = args::positive, conflicts_with = "rate_rpm")]
    rate_rps: Option<f64>,
    /// With --profile: arrival rate, requests/min
    #[arg(long, value_parser = args::positive)]
    rate_rpm: Option<f64>,
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

    /// Arrival process of every workload (default: the scenario's, else Poisson)
    #[arg(long, value_enum)]
    arrivals: Option<ArrivalArg>,
    /// Coefficient of variation of gamma inter-arrival times (default 1: Poisson-like)
    #[arg(long, value_parser = args::positive)]
    arrival_cv: Option<f64>,
    /// Prompt-length distribution of every workload around its mean (default: the scenario's)
    #[arg(long, value_enum)]
    prompt_dist: Option<DistArg>,
    /// Coefficient of variation for --prompt-dist lognormal (default 1) or uniform (default 0.5,
    /// at most 0.577)
    #[arg(long, value_parser = args::positive, requires = "prompt_dist")]
    prompt_cv: Option<f64>,
    /// Output-length distribution of every workload around its mean (default: the scenario's)
    #[arg(long, value_enum)]
    output_dist: Option<DistArg>,
    /// Coefficient of variation for --output-dist lognormal (default 1) or uniform (default 0.5,
    /// at most 0.577)
    #[arg(long, value_parser = args::positive, requires = "output_dist")]
    output_cv: Option<f64>,

    /// Requests to simulate in all (default 100000)
    #[arg(long, value_parser = args::positive_int, conflicts_with = "duration_s")]
    requests: Option<u32>,
    /// Simulate the arrivals of this many seconds instead
    #[arg(long, value_parser = args::positive)]
    duration_s: Option<f64>,
    /// Share of the requests (or of the duration) at the start left out of the statistics,
    /// 0 to 0.9
    #[arg(long, value_parser = args::warmup_share, default_value_t = 0.1)]
    warmup: f64,
    /// Seed of every random draw (same seed, same result)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Independent runs (seeds seed, seed+1, ...) run in parallel; the report gives their mean
    /// and a 95% confidence interval
    #[arg(long, value_parser = args::positive_int, default_value_t = 1)]
    replications: u32,
    /// How each workload's requests are spread over its replicas
    #[arg(long, value_enum, default_value_t = Router::RoundRobin)]
    router: Router,
    /// Multiplicative noise on iteration times (log-normal, mean 1), coefficient of variation
    #[arg(long, value_parser = args::non_negative, default_value_t = 0.0)]
    noise_cv: f64,

    /// Override the engines' max batch (vLLM --max-num-seqs)
    #[arg(long, value_parser = args::positive_int)]
    max_num_seqs: Option<u32>,
    /// Override the per-iteration token budget (vLLM --max-num-batched-tokens; default the
    /// profile's, else 8192)
    #[arg(long, value_parser = args::positive_int)]
    max_num_batched_tokens: Option<u32>,
    /// KV-cache capacity per replica, tokens (default the profile's, else unlimited)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), conflicts_with = "num_gpu_blocks")]
    kv_capacity_tokens: Option<u64>,
    /// KV-cache capacity per replica in blocks (vLLM's num_gpu_blocks)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    num_gpu_blocks: Option<u64>,
    /// KV block size, tokens (vLLM --block-size)
    #[arg(long, value_parser = args::positive_int, default_value_t = 16)]
    block_size: u32,

    /// Write a per-time-bucket timeline (CSV)
    #[arg(long, value_name = "FILE")]
    timeline: Option<PathBuf>,
    /// Plot the timeline (PNG, or SVG for a .svg name)
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Width of timeline buckets, s (at most a million buckets are kept)
    #[arg(long, value_parser = args::positive, default_value_t = 10.0)]
    timeline_bucket_s: f64,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = SimFormat::Table)]
    output: SimFormat,
}

/// The largest coefficient of variation of a uniform distribution on `[0, 2 mean]`.
const UNIFORM_MAX_CV: f64 = 0.577_350_269_189_625_7;

/// A length distribution around `mean`; `cv` only for lognormal and uniform.
fn dist(flag: &str, arg: DistArg, mean: f64, cv: Option<f64>) -> Result<LengthDist, Error> {
    let no_cv = |name: &str| match cv {
        Some(_) => Err(Error::Usage(format!(
            "--{flag}-cv applies to lognormal and uniform lengths, not {name}"
        ))),
        None => Ok(()),
    };
    Ok(match arg {
        DistArg::Fixed => {
            no_cv("fixed")?;
            LengthDist::Fixed { mean }
        }
        DistArg::Exponential => {
            no_cv("exponential")?;
            LengthDist::Exponential { mean }
        }
        DistArg::Lognormal => LengthDist::Lognormal {
            mean,
            cv: cv.unwrap_or(1.0),
        },
        DistArg::Uniform => {
            let cv = cv.unwrap_or(0.5);
            if cv > UNIFORM_MAX_CV {
                return Err(Error::Usage(format!(
                    "--{flag}-cv must be at most 0.577 for uniform lengths (a uniform distribution around its mean spreads no further), got {cv}"
                )));
            }
            // Symmetric around the mean, which it keeps.
            let half = mean * cv * 3f64.sqrt();
            LengthDist::Uniform {
                min: (mean - half).max(0.0),
                max: mean + half,
            }
        }
    })
}

/// A one-workload scenario for `--profile` (not validated as a file would be: its parts come
/// from a checked profile and checked flags).
fn profile_scenario(a: &SimulateArgs, path: &Path) -> anyhow::Result<Scenario> {
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
    let rate_rps = a.rate_rps.or(a.rate_rpm.map(|r| r / 60.0)).ok_or_else(|| {
        Error::Usage(
            "--profile needs the load: --rate-rps (or --rate-rpm), --in-tokens, --out-tokens"
                .into(),
        )
    })?;
    let (prompt, output) = match (a.in_tokens, a.out_tokens) {
        (Some(i), Some(o)) => (i, o),
        _ => {
            return Err(Error::Usage("--profile needs --in-tokens and --out-tokens".into()).into());
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
            name: profile.model.clone(),
            model: profile.model.clone(),
            service_class: "flags".into(),
            rate_rps,
            prompt_tokens: prompt,
            output_tokens: output,
            prompt_dist: LengthDist::Fixed { mean: prompt },
            output_dist: LengthDist::Fixed { mean: output },
            arrivals: ArrivalProcess::Poisson,
            min_replicas: 1,
            max_batch: None,
            current: None,
        }],
        profiles: vec![profile],
    })
}

#[derive(serde::Deserialize)]
struct PlanFile {
    allocations: Vec<PlanRow>,
}

#[derive(serde::Deserialize)]
struct PlanRow {
    workload: String,
    accelerator: String,
    replicas: u32,
    max_batch: u32,
}

/// The fleets of a plan file.
fn fleets_from_plan_file(scenario: &Scenario, path: &Path) -> anyhow::Result<Vec<Fleet>> {
    let text = crate::spec::read_text(path)?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| SpecError {
        file: path.to_path_buf(),
        field: String::new(),
        line: Some(e.line()),
        column: Some(e.column()),
        message: format!(
            "not a plan (JSON from `wva plan -o json`): {}",
            e.to_string().split(" at line ").next().unwrap_or_default()
        ),
    })?;
    let doc: PlanFile = serde_path_to_error::deserialize(value).map_err(|e| {
        SpecError::at(
            path,
            e.path().to_string(),
            format!(
                "not a plan (JSON from `wva plan -o json`): {}",
                e.into_inner()
            ),
        )
    })?;
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
        let Some(p) = scenario
            .profiles
            .iter()
            .position(|p| &p.model == model && p.accelerator == row.accelerator)
        else {
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
            let max_batch = workload
                .max_batch
                .unwrap_or_else(|| profile.max_batch_for(workload.output_tokens));
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
    for u in &planned.unallocated {
        notes.push(format!(
            "workload `{}` is not simulated: the plan leaves it out ({}: {})",
            u.workload, u.reason, u.detail
        ));
    }
    let mut out: Vec<Fleet> = Vec::new();
    for alloc in &planned.allocations {
        let Some(w) = scenario
            .workloads
            .iter()
            .position(|w| w.name == alloc.workload)
        else {
            continue;
        };
        let model = &scenario.workloads[w].model;
        let Some(profile) = scenario
            .profiles
            .iter()
            .position(|p| &p.model == model && p.accelerator == alloc.accelerator)
        else {
            continue;
        };
        if alloc.replicas == 0 {
            notes.push(format!(
                "workload `{}` is not simulated: the plan gives it no replicas",
                alloc.workload
            ));
            continue;
        }
        let part = FleetPart {
            profile,
            replicas: alloc.replicas,
            max_batch: alloc.max_batch,
        };
        match out.iter_mut().find(|f| f.workload == w) {
            Some(f) => f.parts.push(part),
            None => out.push(Fleet {
                workload: w,
                parts: vec![part],
            }),
        }
    }
    Ok((out, notes))
}

pub(super) fn run_simulate(a: SimulateArgs) -> anyhow::Result<ExitCode> {
    let (mut scenario, source) = match (&a.scenario, &a.profile) {
        (Some(path), _) => (load_scenario(path)?, path.clone()),
        (None, Some(path)) => {
            if a.replicas.is_none() {
                return Err(Error::Usage("--profile needs --replicas N".into()).into());
            }
            (profile_scenario(&a, path)?, path.clone())
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
    if a.arrival_cv.is_some() && a.arrivals != Some(ArrivalArg::Gamma) {
        return Err(Error::Usage("--arrival-cv applies to --arrivals gamma".into()).into());
    }
    if a.accelerator.is_some() && a.replicas.is_none() {
        return Err(Error::Usage(
            "--accelerator applies with --replicas (or --profile); a plan chooses its own".into(),
        )
        .into());
    }
    // Distribution overrides.
    for w in &mut scenario.workloads {
        if let Some(arg) = a.prompt_dist {
            w.prompt_dist = dist("prompt", arg, w.prompt_tokens, a.prompt_cv)?;
        }
        if let Some(arg) = a.output_dist {
            w.output_dist = dist("output", arg, w.output_tokens, a.output_cv)?;
        }
        if let Some(arg) = a.arrivals {
            w.arrivals = match arg {
                ArrivalArg::Poisson => ArrivalProcess::Poisson,
                ArrivalArg::Deterministic => ArrivalProcess::Deterministic,
                ArrivalArg::Gamma => ArrivalProcess::Gamma {
                    cv: a.arrival_cv.unwrap_or(1.0),
                },
            };
        }
    }
    let (fleets, notes) = fleets(&a, &scenario, &source)?;
    for note in &notes {
        eprintln!("wva: note: {note}");
    }
    if fleets.is_empty() {
        return Err(Error::Usage(format!(
            "{}: nothing to simulate (no workload has replicas)",
            source.display()
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
        noise_cv: a.noise_cv,
    };
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
        (Some(n), None) => Horizon::Requests(u64::from(n)),
        (None, None) => Horizon::Requests(100_000),
    };
    let warmup = a.warmup;

    // Progress on stderr, for runs longer than a second, on a terminal only.
    let expected = match horizon {
        Horizon::Requests(n) => n,
        Horizon::Duration(d) => (traffic.iter().map(|t| t.rate_rps).sum::<f64>() * d) as u64,
    } * u64::from(a.replications);
    let bar = ProgressBar::with_draw_target(Some(expected), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} simulating {pos}/{len} requests [{elapsed}] eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let shown = std::sync::atomic::AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let results: Vec<Result<SimResult, crate::sim::SimError>> = (0..a.replications)
        .into_par_iter()
        .map(|k| {
            let seed = a.seed.wrapping_add(u64::from(k));
            let mut cfg = config.clone();
            cfg.seed = seed;
            let requests = Generator::new(&traffic, horizon, warmup, seed);
            let mut last = 0u64;
            run(&cfg, requests, &mut |finished| {
                let total = done.fetch_add(finished - last, Ordering::Relaxed) + finished - last;
                last = finished;
                if !shown.load(Ordering::Relaxed)
                    && started.elapsed().as_secs_f64() > 1.0
                    && std::io::stderr().is_terminal()
                {
                    shown.store(true, Ordering::Relaxed);
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                }
                bar.set_position(total);
            })
        })
        .collect();
    bar.finish_and_clear();
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
        eprintln!(
            "wva: note: the timeline stops after {} buckets; use a wider --timeline-bucket-s",
            crate::sim::MAX_BUCKETS
        );
    }
    if let Some(path) = &a.timeline {
        write_timeline(path, &results[0].timeline)?;
    }
    if let Some(path) = &a.plot {
        crate::report::plot::timeline(path, &results[0].timeline)
            .map_err(|e| Error::Usage(e.to_string()))?;
    }
    let text = match a.output {
        SimFormat::Table => simulation_table(&report),
        SimFormat::Json => to_json(&report),
        SimFormat::Yaml => to_yaml(&report),
    };
    emit(&text)?;
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
