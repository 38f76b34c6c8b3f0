//! `wva replay` as a library call: one workload's trace through a fleet whose size an
//! autoscaling policy sets every interval, every asked policy side by side (cost, SLO
//! attainment, replicas over time).

use super::Listener;
use super::simulate::TraceInput;
use crate::error::{Error, Field, request_error};
use crate::load::Request;
use crate::load::from_trace::{
    BUSY_RATE_QUANTILE, LoadTally, TraceLoad, assign_workloads, requests as requests_from_trace,
};
use crate::optimize::{PlanOptions, plan};
use crate::perf::RequestShape;
use crate::replay::policy::IntervalLoad;
use crate::replay::policy::controller;
use crate::replay::{
    Fleet, PeakSearch, PolicyKind, PolicyRun, PolicySettings, ReplayConfig, Sizer, VariantConfig,
    interval_loads, peak_replicas, replay as replay_policy,
};
use crate::report::{ReplayReport, ReplayVariant, StaticChoice};
use crate::sim::setup::{EngineOverrides, engine_config};
use crate::sim::{Router, SimError};
use crate::slo::Targets;
use crate::spec::{Scenario, Workload};
use crate::trace::TraceRecord;
use rayon::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// `wva replay`'s request.
#[derive(Clone, Debug)]
pub struct ReplayRequest {
    /// The scenario's file, for messages.
    pub source: PathBuf,
    /// The scenario (accelerators, profiles, the workload and its class).
    pub scenario: Scenario,
    /// The trace: one workload's requests.
    pub trace: TraceInput,
    /// The policies, each once, in this order.
    pub policies: Vec<PolicyKind>,
    /// Accelerators of the variants (empty: the plan's for the trace's busy minutes).
    pub accelerators: Vec<String>,
    /// Max batch of every variant (default: the plan's, or the workload's on each profile).
    pub max_batch: Option<u32>,
    /// Seconds between decisions.
    pub interval_s: f64,
    /// Seconds of metrics a decision sees (default: the interval).
    pub window_s: Option<f64>,
    /// Seconds from a scale-up to a ready replica.
    pub startup_s: f64,
    /// Seconds between metric scrapes.
    pub scrape_s: f64,
    /// Fewest replicas (default: the workload's, at least 1; 0 lets the fleet scale to zero).
    pub min_replicas: Option<u32>,
    /// Most replicas.
    pub max_replicas: u32,
    /// Idle seconds before a fleet at `min_replicas` 0 scales to zero.
    pub scale_to_zero_after_s: f64,
    /// The policies' settings; its `static_replicas` is the static policy's fleet when given
    /// (else searched by replaying), its `scale_to_zero_after_s` is set from the fields above.
    pub settings: PolicySettings,
    /// How requests are spread over replicas.
    pub router: Router,
    /// Iteration-time noise, coefficient of variation.
    pub noise_cv: f64,
    /// Seed of routing and noise.
    pub seed: u64,
}

impl ReplayRequest {
    /// A request with `wva replay`'s defaults: every policy, the plan's accelerator, decisions
    /// every 60 s on 60 s of metrics scraped every 15 s, replicas ready 120 s after a scale-up,
    /// at most 1,000, round robin, seed 1.
    pub fn new(source: impl Into<PathBuf>, scenario: Scenario, trace: TraceInput) -> Self {
        ReplayRequest {
            source: source.into(),
            scenario,
            trace,
            policies: PolicyKind::ALL.to_vec(),
            accelerators: Vec::new(),
            max_batch: None,
            interval_s: 60.0,
            window_s: None,
            startup_s: 120.0,
            scrape_s: 15.0,
            min_replicas: None,
            max_replicas: 1000,
            scale_to_zero_after_s: 600.0,
            settings: PolicySettings::default(),
            router: Router::RoundRobin,
            noise_cv: 0.0,
            seed: 1,
        }
    }
}

/// Replays `request`'s trace (taken whole) under each of its policies (in parallel); notes and
/// progress go to `listener`.
pub fn replay(mut request: ReplayRequest, listener: &dyn Listener) -> Result<ReplayReport, Error> {
    // The trace's records move into the run, not copied.
    let records = std::mem::take(&mut request.trace.records);
    let a = &request;
    let usage = Error::Usage;
    let (records, workload, load) = trace_workload(a, records, listener)?;
    let scenario = &a.scenario;
    let targets = scenario.slo_targets(&workload);

    let chosen = chosen_profiles(a, &workload, load.busy_rate_rps)?;
    let shape = RequestShape {
        prompt_tokens: load.prompt_tokens,
        output_tokens: load.output_tokens,
    };
    let (variants, sizers) = variants(a, &chosen, targets, shape)?;
    let max_batch = sizers[0].max_batch;
    let config = ReplayConfig {
        variants,
        targets,
        interval_s: a.interval_s,
        window_s: a.window_s.unwrap_or(a.interval_s),
        startup_s: a.startup_s,
        scrape_s: a.scrape_s,
        router: a.router,
        seed: a.seed,
        min_replicas: a.min_replicas.unwrap_or(workload.min_replicas.max(1)),
        max_replicas: a.max_replicas,
    };
    if config.inventory() == 0 {
        return Err(usage(format!(
            "{}: the accelerators' inventory_gpus hold no replica of `{}`",
            a.source.display(),
            workload.model
        )));
    }
    if config.min_replicas > config.max_replicas.min(config.inventory()) {
        return Err(request_error!(
            Field("min_replicas"),
            format!(" {} is above ", config.min_replicas),
            Field("max_replicas"),
            format!(
                " {} or the accelerators' inventory ({} replicas)",
                config.max_replicas,
                config.inventory()
            )
        )
        .into());
    }
    if let Some(n) = a.settings.static_replicas
        && !(config.min_replicas.max(1)..=config.max_replicas).contains(&n)
    {
        return Err(request_error!(
            Field("static_replicas"),
            format!(" {n} is outside "),
            Field("min_replicas"),
            format!(" {} .. ", config.min_replicas.max(1)),
            Field("max_replicas"),
            format!(" {}", config.max_replicas)
        )
        .into());
    }
    if records.last().map_or(0.0, |r| r.arrival_s) / a.interval_s
        > crate::replay::MAX_INTERVALS as f64
    {
        return Err(request_error!(
            format!(
                "{}: the trace spans more than {} intervals of {} s; use a longer ",
                a.trace.path.display(),
                crate::replay::MAX_INTERVALS,
                a.interval_s
            ),
            Field("interval_s")
        )
        .into());
    }
    let fleet = Fleet::new(&config, sizers);
    let requests = requests_from_trace(&records, &vec![0; records.len()], &[Some(0)], 0.0);
    let loads = interval_loads(&requests, config.interval_s);
    let mut policies: Vec<PolicyKind> = Vec::new();
    for &p in &a.policies {
        if !policies.contains(&p) {
            policies.push(p);
        }
    }
    let (static_replicas, static_choice) =
        static_fleet(a, &policies, &config, &requests, &fleet, &loads, listener)?;
    let settings = PolicySettings {
        static_replicas,
        scale_to_zero_after_s: (config.min_replicas == 0).then_some(a.scale_to_zero_after_s),
        ..a.settings
    };
    let v2 = &a.settings.saturation_v2;
    if v2.scale_up_threshold <= v2.scale_down_boundary {
        return Err(request_error!(
            Field("scale_up_threshold"),
            format!(" {} must be above ", v2.scale_up_threshold),
            Field("scale_down_boundary"),
            format!(" {}", v2.scale_down_boundary)
        )
        .into());
    }
    listener.start(Some(policies.len() as u64), "replaying", "policies");
    let done = AtomicU64::new(0);
    let runs: Vec<Result<PolicyRun, SimError>> = policies
        .par_iter()
        .map(|&kind| {
            let mut c = controller(kind, &settings, &fleet, &loads);
            let run = replay_policy(&config, &requests, &kind.to_string(), c.as_mut());
            listener.advance_to(done.fetch_add(1, Ordering::Relaxed) + 1);
            run
        })
        .collect();
    listener.finish();
    let runs: Vec<PolicyRun> = runs.into_iter().collect::<Result<_, _>>()?;
    Ok(ReplayReport {
        scenario: scenario.name.clone(),
        workload: workload.name.clone(),
        model: workload.model.clone(),
        accelerator: config.variants[0].name.clone(),
        max_batch,
        replica_cost_dollars_per_hour: config.variants[0].replica_cost_cents_per_hour / 100.0,
        variants: if config.variants.len() > 1 {
            config
                .variants
                .iter()
                .map(|v| ReplayVariant {
                    accelerator: v.name.clone(),
                    max_batch: v.engine.max_num_seqs,
                    replica_cost_dollars_per_hour: v.replica_cost_cents_per_hour / 100.0,
                    max_replicas: v.max_replicas,
                })
                .collect()
        } else {
            Vec::new()
        },
        ttft_target_ms: targets.ttft_ms,
        itl_target_ms: targets.itl_ms,
        ttft_target_statistic: targets.ttft_stat.to_string(),
        itl_target_statistic: targets.itl_stat.to_string(),
        requests: requests.len() as u64,
        duration_s: requests.last().map_or(0.0, |r| r.arrival_ms / 1000.0),
        interval_s: config.interval_s,
        startup_s: config.startup_s,
        seed: a.seed,
        static_replicas,
        static_choice,
        policies: runs,
    })
}

/// The trace's `records` (failed ones left out), its one workload with the trace's load (its
/// busy minutes' rate and token means), and that load.
fn trace_workload(
    a: &ReplayRequest,
    mut records: Vec<TraceRecord>,
    listener: &dyn Listener,
) -> Result<(Vec<TraceRecord>, Workload, TraceLoad), Error> {
    let usage = Error::Usage;
    let failed = records.iter().filter(|r| r.output_tokens == 0).count();
    if failed > 0 {
        records.retain(|r| r.output_tokens > 0);
        listener.note(&format!("{failed} failed requests are not replayed"));
    }
    if records.is_empty() {
        return Err(usage(format!(
            "{}: no requests to replay",
            a.trace.path.display()
        )));
    }
    let scenario = &a.scenario;
    let assignment = assign_workloads(&records, scenario, a.trace.workload.as_deref())
        .map_err(|e| e.after(format!("{}: ", a.trace.path.display())))?;
    let w = assignment[0];
    if assignment.iter().any(|&x| x != w) {
        return Err(request_error!(
            format!(
                "{}: the trace's requests belong to several workloads; replay drives one at a time: give ",
                a.trace.path.display()
            ),
            Field("workload"),
            " NAME"
        )
        .into());
    }
    // Every record is workload `w`'s.
    let load = LoadTally::of(&records)
        .finish(BUSY_RATE_QUANTILE)
        .ok_or_else(|| usage(format!("{}: no requests to replay", a.trace.path.display())))?;
    let mut workload = scenario.workloads[w].clone();
    workload.rate_rps = load.busy_rate_rps;
    workload.prompt_tokens = load.prompt_tokens;
    workload.output_tokens = load.output_tokens;
    Ok((records, workload, load))
}

/// The profiles (indices) and max batches of the variants: the accelerators asked, or the
/// plan's for the trace's busy minutes (`busy_rate_rps`).
fn chosen_profiles(
    a: &ReplayRequest,
    workload: &Workload,
    busy_rate_rps: f64,
) -> Result<Vec<(usize, u32)>, Error> {
    let usage = Error::Usage;
    let scenario = &a.scenario;
    // The accelerators and max batch: given, or the plan's for the busy minutes.
    Ok(if a.accelerators.is_empty() {
        let mut one = scenario.clone();
        one.workloads = vec![workload.clone()];
        let planned = plan(&one, &PlanOptions::default())?;
        let Some(alloc) = planned.allocations.first() else {
            let why = planned
                .unallocated
                .first()
                .map(|u| format!("{}: {}", u.reason, u.detail))
                .unwrap_or_default();
            return Err(Error::Infeasible(format!(
                "{}: workload `{}` cannot be planned for the trace's busy minutes ({:.2} req/s): {why}",
                a.source.display(),
                workload.name,
                busy_rate_rps
            )));
        };
        let p = scenario
            .profile_index(&workload.model, &alloc.accelerator)
            .ok_or_else(|| usage(format!("no profile for `{}`", alloc.accelerator)))?;
        vec![(p, a.max_batch.unwrap_or(alloc.max_batch))]
    } else {
        let mut chosen = Vec::new();
        for acc in &a.accelerators {
            let p = scenario
                .profile_index(&workload.model, acc)
                .ok_or_else(|| {
                    usage(format!(
                        "{}: no profile of `{}` on `{acc}`",
                        a.source.display(),
                        workload.model
                    ))
                })?;
            if chosen.iter().any(|&(q, _)| q == p) {
                return Err(
                    request_error!(Field("accelerators"), format!(" names `{acc}` twice")).into(),
                );
            }
            let profile = &a.scenario.profiles[p];
            let batch = a
                .max_batch
                .unwrap_or_else(|| workload.max_batch_on(profile));
            chosen.push((p, batch));
        }
        chosen
    })
}

/// Each chosen profile as a variant of the fleet with its sizer, cheapest capacity first.
fn variants(
    a: &ReplayRequest,
    chosen: &[(usize, u32)],
    targets: Targets,
    shape: RequestShape,
) -> Result<(Vec<VariantConfig>, Vec<Sizer>), Error> {
    let usage = Error::Usage;
    let scenario = &a.scenario;
    let mut variants: Vec<(VariantConfig, Sizer)> = Vec::new();
    for &(p, max_batch) in chosen {
        let profile = &a.scenario.profiles[p];
        let accelerator = scenario
            .accelerator(&profile.accelerator)
            .ok_or_else(|| usage(format!("unknown accelerator `{}`", profile.accelerator)))?;
        let engine = engine_config(
            profile,
            max_batch,
            &EngineOverrides {
                noise_cv: a.noise_cv,
                ..EngineOverrides::default()
            },
        );
        let inventory = accelerator.inventory_gpus.map_or(a.max_replicas, |gpus| {
            (gpus / u64::from(profile.gpus_per_replica.max(1))).min(u64::from(a.max_replicas))
                as u32
        });
        variants.push((
            VariantConfig {
                name: profile.accelerator.clone(),
                engine,
                replica_cost_cents_per_hour: accelerator.cost_cents_per_hour
                    * f64::from(profile.gpus_per_replica),
                gpus_per_replica: profile.gpus_per_replica,
                max_replicas: inventory,
            },
            Sizer::for_profile(profile, max_batch, targets, shape),
        ));
    }
    // Cheapest capacity first: cost per replica over the rate a replica holds within the
    // targets at the trace's token means (a variant the model cannot size goes last).
    if variants.len() > 1 {
        let per_rate = |(v, s): &(VariantConfig, Sizer)| {
            s.max_rate_rps(shape)
                .filter(|r| *r > 0.0)
                .map_or(f64::INFINITY, |r| v.replica_cost_cents_per_hour / r)
        };
        variants.sort_by(|x, y| per_rate(x).total_cmp(&per_rate(y)));
    }
    Ok(variants.into_iter().unzip())
}

/// The static policy's fleet when it runs: given, or the fewest replicas with no interval in
/// breach, searched by replaying from the plan's peak.
#[allow(clippy::too_many_arguments)]
fn static_fleet(
    a: &ReplayRequest,
    policies: &[PolicyKind],
    config: &ReplayConfig,
    requests: &[Request],
    fleet: &Fleet,
    loads: &[IntervalLoad],
    listener: &dyn Listener,
) -> Result<(Option<u32>, Option<StaticChoice>), Error> {
    let runs_static = policies.contains(&PolicyKind::Static);
    Ok(match a.settings.static_replicas {
        Some(n) if runs_static => (Some(n), Some(StaticChoice::Given)),
        None if runs_static => {
            let plan_peak = loads
                .iter()
                .filter_map(|l| fleet.fill_load(l))
                .map(|p| p.iter().sum::<u32>())
                .max()
                .unwrap_or(1);
            let (n, how) = peak_replicas(config, requests, plan_peak, &|n| fleet.first(n))?;
            if how == PeakSearch::Capped {
                listener.note(&format!(
                    "static: some interval stays over its SLO even with {n} replicas (more did not help, or --max-replicas)"
                ));
            }
            (
                Some(n),
                Some(match how {
                    PeakSearch::NoBreach => StaticChoice::NoBreach,
                    PeakSearch::Capped => StaticChoice::Capped,
                }),
            )
        }
        _ => (None, None),
    })
}
