//! `wva simulate` as a library call: a scenario's workloads (or one profile under a given load)
//! through the discrete-event simulator, on the fleet a plan, a plan file or a replica count
//! gives, under synthetic traffic, a trace, or a closed loop of clients, with the analytic
//! model's prediction beside the result.

use super::Listener;
use crate::error::{Error, Field, request_error};
use crate::load::from_trace::{
    BUSY_RATE_QUANTILE, LoadTally, TraceLoad, assign_workloads, requests as requests_from_trace,
    trace_loads,
};
use crate::load::shape::Shape;
use crate::optimize::{PlanOptions, plan};
use crate::report::{ClosedLoopInfo, SimulationReport, WorkloadInfo, simulation_report};
use crate::sim::setup::{EngineOverrides, Fleet, FleetPart, build};
use crate::sim::{Generator, Horizon, Request, Router, SimConfig, SimResult, run};
use crate::spec::{
    Accelerator, LatencyTarget, Profile, Scenario, ServiceClass, SloTarget, SpecError, Statistic,
    Workload, matching_profiles,
};
use crate::trace::TraceRecord;
use crate::verify::fleets_of_plan;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Requests simulated when neither a count nor a duration is given.
pub const DEFAULT_REQUESTS: u64 = 100_000;

/// The load on one profile when no scenario states it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProfileLoad {
    /// The profile's model, when the file has several.
    pub model: Option<String>,
    /// The profile's accelerator, when the file has several.
    pub accelerator: Option<String>,
    /// Arrival rate, requests/s (not for a closed loop or a trace).
    pub rate_rps: Option<f64>,
    /// Mean prompt tokens.
    pub in_tokens: Option<f64>,
    /// Mean output tokens.
    pub out_tokens: Option<f64>,
    /// Mean TTFT target, ms.
    pub target_ttft_ms: Option<f64>,
    /// Mean ITL target, ms.
    pub target_itl_ms: Option<f64>,
}

/// What is simulated.
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    /// A scenario's workloads.
    Scenario(Scenario),
    /// One profile (of a profiles file) under a load.
    Profile {
        /// The profiles file's profiles.
        profiles: Vec<Profile>,
        /// The load.
        load: ProfileLoad,
    },
}

/// Which fleet serves the workloads.
#[derive(Clone, Debug, PartialEq)]
pub enum FleetChoice {
    /// The plan `wva plan` would make.
    Plan,
    /// `replicas` replicas of each workload's profile (on `accelerator` when its model has
    /// several).
    Replicas {
        /// Replicas per workload.
        replicas: u32,
        /// The accelerator, when a model has profiles on several.
        accelerator: Option<String>,
    },
    /// The allocations of a plan file (`wva plan -o json`).
    PlanFile {
        /// The file, for messages.
        path: PathBuf,
        /// Its allocations: `(workload, accelerator, replicas, max batch)`.
        allocations: Vec<(String, String, u32, u32)>,
    },
}

/// A trace as the load.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceInput {
    /// The file, for messages.
    pub path: PathBuf,
    /// Its records, in arrival order.
    pub records: Vec<TraceRecord>,
    /// The workload every request belongs to (else by model, or the only one).
    pub workload: Option<String>,
}

/// A closed loop of clients instead of arrivals at a rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClosedLoopLoad {
    /// Clients, each with one request in flight.
    pub concurrency: u32,
    /// Pause between a response and the client's next request, s.
    pub think_time_s: f64,
}

/// `wva simulate`'s request.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulateRequest {
    /// The scenario's or profiles' file, for messages.
    pub source: PathBuf,
    /// What is simulated.
    pub subject: Subject,
    /// The fleet.
    pub fleet: FleetChoice,
    /// A trace as the load (its requests; `requests` and `duration_s` cut it).
    pub trace: Option<TraceInput>,
    /// A closed loop of clients as the load (one replica).
    pub closed_loop: Option<ClosedLoopLoad>,
    /// Overrides of every workload's arrival process and length distributions.
    pub shape: Shape,
    /// Multiplies the traffic the sized fleet meets.
    pub load_scale: f64,
    /// Engine settings over the profiles'.
    pub overrides: EngineOverrides,
    /// How requests are spread over replicas.
    pub router: Router,
    /// Seed of replication 0.
    pub seed: u64,
    /// Independent runs (seeds `seed..seed + replications`), merged with intervals.
    pub replications: u32,
    /// Requests to simulate.
    pub requests: Option<u64>,
    /// Simulated time, s (instead of a request count).
    pub duration_s: Option<f64>,
    /// Share of the run not counted (default: 0 for a trace, 0.1 otherwise).
    pub warmup: Option<f64>,
    /// Width of timeline buckets, ms (`None`: no timeline).
    pub timeline_bucket_ms: Option<f64>,
    /// Keep every request's outcome ([`SimResult::requests`] of the first replication).
    pub record_requests: bool,
}

impl SimulateRequest {
    /// A request with `wva simulate`'s defaults for `subject` from `source`.
    pub fn new(source: impl Into<PathBuf>, subject: Subject) -> Self {
        SimulateRequest {
            source: source.into(),
            subject,
            fleet: FleetChoice::Plan,
            trace: None,
            closed_loop: None,
            shape: Shape::default(),
            load_scale: 1.0,
            overrides: EngineOverrides::default(),
            router: Router::default(),
            seed: 1,
            replications: 1,
            requests: None,
            duration_s: None,
            warmup: None,
            timeline_bucket_ms: None,
            record_requests: false,
        }
    }
}

/// What a simulation gives: the report, and what writing its side files needs.
#[derive(Clone, Debug)]
pub struct SimulateOutcome {
    /// The report (`-o json` prints it).
    pub report: SimulationReport,
    /// Each replication's result.
    pub results: Vec<SimResult>,
    /// The simulation's configuration (groups in the report's order).
    pub config: SimConfig,
    /// Each group's identity for reports and the twin.
    pub info: Vec<WorkloadInfo>,
    /// The trace's records (in arrival order), when a trace was the load.
    pub records: Option<Vec<TraceRecord>>,
}

/// Simulates `request` (taken whole: a trace's records move into the run, not copied); notes
/// and progress go to `listener`.
pub fn simulate(
    mut request: SimulateRequest,
    listener: &dyn Listener,
) -> Result<SimulateOutcome, Error> {
    let taken = request
        .trace
        .as_mut()
        .map(|t| std::mem::take(&mut t.records));
    let r = &request;
    let records = match (taken, &r.trace) {
        (Some(records), Some(t)) => Some(cut_trace(records, &t.path, r, listener)?),
        _ => None,
    };
    let mut scenario = match &r.subject {
        Subject::Scenario(s) => s.clone(),
        Subject::Profile { profiles, load } => {
            let trace_load = records
                .as_ref()
                .and_then(|rs| LoadTally::of(rs).finish(BUSY_RATE_QUANTILE));
            profile_scenario(
                profiles,
                load,
                &r.source,
                trace_load,
                r.closed_loop.is_some(),
            )?
        }
    };
    // Each request's workload; the trace-driven workloads take the trace's load, the others
    // are not simulated.
    let mut busy_rates: Vec<f64> = Vec::new();
    let assignment = match (&records, &r.trace) {
        (Some(records), Some(trace)) => Some(assign_trace(
            records,
            trace,
            &mut scenario,
            &mut busy_rates,
            listener,
        )?),
        _ => None,
    };
    for w in &mut scenario.workloads {
        r.shape.apply(w);
    }
    // A default plan for a trace carries its busy minutes (95th percentile of the per-minute
    // rate), as `wva plan --trace` does; the simulation and the analytic column, its load.
    let mut plan_scenario = scenario.clone();
    for (w, rate) in plan_scenario.workloads.iter_mut().zip(&busy_rates) {
        w.rate_rps = *rate;
    }
    let (fleets, notes) = fleets(&r.fleet, &plan_scenario, &r.source)?;
    for note in &notes {
        listener.note(note);
    }
    // The fleet is sized; the traffic it meets may be scaled.
    if r.load_scale != 1.0 {
        scenario.scale_load(r.load_scale).map_err(|e| {
            request_error!(
                format!("{}: ", r.source.display()),
                Field("load_scale"),
                format!(": {e}")
            )
        })?;
    }
    if fleets.is_empty() {
        return Err(Error::Usage(format!(
            "{}: nothing to simulate (no workload has replicas)",
            r.source.display()
        )));
    }
    let replicas: u64 = fleets
        .iter()
        .flat_map(|f| &f.parts)
        .map(|p| u64::from(p.replicas))
        .sum();
    if replicas > u64::from(crate::limits::MAX_REPLICAS) {
        return Err(Error::Usage(format!(
            "{}: {replicas} replicas to simulate; at most {} per run (each is a simulated engine; docs/cli.md, Limits)",
            r.source.display(),
            crate::limits::MAX_REPLICAS
        )));
    }
    if let Some(clients) = r.closed_loop {
        return closed_loop(r, clients, scenario, &fleets);
    }
    open_loop(r, scenario, &fleets, records, assignment, listener)
}

/// The trace's requests as the run replays them: failed ones (no output) left out, cut at
/// `duration_s` and `requests`.
fn cut_trace(
    mut records: Vec<TraceRecord>,
    path: &Path,
    r: &SimulateRequest,
    listener: &dyn Listener,
) -> Result<Vec<TraceRecord>, Error> {
    // Failed requests (kept with --keep-failed) generated nothing to replay.
    let failed = records.iter().filter(|r| r.output_tokens == 0).count();
    if failed > 0 {
        records.retain(|r| r.output_tokens > 0);
        listener.note(&format!("{failed} failed requests are not replayed"));
    }
    if let Some(d) = r.duration_s {
        records.retain(|r| r.arrival_s <= d);
    }
    if let Some(n) = r.requests {
        records.truncate(n as usize);
    }
    if records.is_empty() {
        return Err(Error::Usage(format!(
            "{}: no requests to replay",
            path.display()
        )));
    }
    Ok(records)
}

/// Assigns each record a workload, gives the workloads the trace drives its load (their busy
/// rates in `busy_rates`) and drops the others; the assignment in the remaining workloads'
/// indices (`usize::MAX` for a dropped one's records).
fn assign_trace(
    records: &[TraceRecord],
    trace: &TraceInput,
    scenario: &mut Scenario,
    busy_rates: &mut Vec<f64>,
    listener: &dyn Listener,
) -> Result<Vec<usize>, Error> {
    let assignment = assign_workloads(records, scenario, trace.workload.as_deref())
        .map_err(|e| e.after(format!("{}: ", trace.path.display())))?;
    let loads = trace_loads(records, &assignment, scenario.workloads.len());
    *busy_rates = loads
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
            None => listener.note(&format!(
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
    Ok(assignment
        .iter()
        .map(|&w| new_index[w].unwrap_or(usize::MAX))
        .collect())
}

/// A scenario of one profile (of `profiles`, chosen by model and accelerator) under `load` (or
/// a trace's), with its mean targets as a service class.
fn profile_scenario(
    profiles: &[Profile],
    load: &ProfileLoad,
    path: &Path,
    trace_load: Option<TraceLoad>,
    closed_loop: bool,
) -> Result<Scenario, Error> {
    let matching = matching_profiles(profiles, load.model.as_deref(), load.accelerator.as_deref());
    let profile = match matching.as_slice() {
        [one] => (*one).clone(),
        [] => {
            return Err(request_error!(
                format!("{}: no profile matches ", path.display()),
                Field("model"),
                "/",
                Field("accelerator")
            )
            .into());
        }
        _ => {
            return Err(request_error!(
                format!("{}: several profiles match; choose with ", path.display()),
                Field("model"),
                " and ",
                Field("accelerator")
            )
            .into());
        }
    };
    let (rate_rps, prompt, output) = match trace_load {
        Some(t) => (t.rate_rps, t.prompt_tokens, t.output_tokens),
        // A closed loop's rate is what its clients achieve; the analytic column is computed
        // at it once the run is done.
        None if closed_loop => match (load.in_tokens, load.out_tokens) {
            (Some(i), Some(o)) => (0.0, i, o),
            _ => {
                return Err(request_error!(
                    Field("concurrency"),
                    " needs ",
                    Field("in_tokens"),
                    " and ",
                    Field("out_tokens")
                )
                .into());
            }
        },
        None => {
            let rate_rps = load.rate_rps.ok_or_else(|| {
                request_error!(
                    Field("profile"),
                    " needs the load: ",
                    Field("rate_rps"),
                    ", ",
                    Field("in_tokens"),
                    " and ",
                    Field("out_tokens"),
                    ", or ",
                    Field("trace"),
                    " FILE"
                )
            })?;
            match (load.in_tokens, load.out_tokens) {
                (Some(i), Some(o)) => (rate_rps, i, o),
                _ => {
                    return Err(request_error!(
                        Field("profile"),
                        " needs ",
                        Field("in_tokens"),
                        " and ",
                        Field("out_tokens"),
                        " (or ",
                        Field("trace"),
                        " FILE)"
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
                ttft: mean(load.target_ttft_ms),
                itl: mean(load.target_itl_ms),
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

/// The fleets of a plan file's allocations.
fn fleets_from_plan_file(
    scenario: &Scenario,
    path: &Path,
    allocations: &[(String, String, u32, u32)],
) -> Result<Vec<Fleet>, Error> {
    let mut fleets: Vec<Fleet> = Vec::new();
    for (i, (workload, accelerator, replicas, max_batch)) in allocations.iter().enumerate() {
        let field = |f: &str| format!("allocations[{i}].{f}");
        let Some(w) = scenario.workloads.iter().position(|w| &w.name == workload) else {
            let known: Vec<&str> = scenario.workloads.iter().map(|w| w.name.as_str()).collect();
            return Err(SpecError::at(
                path,
                field("workload"),
                format!(
                    "the scenario has no workload `{workload}`; it has: {}",
                    known.join(", ")
                ),
            )
            .into());
        };
        let model = &scenario.workloads[w].model;
        let Some(p) = scenario.profile_index(model, accelerator) else {
            return Err(SpecError::at(
                path,
                field("accelerator"),
                format!("the scenario has no profile of `{model}` on `{accelerator}`"),
            )
            .into());
        };
        if *max_batch == 0 {
            return Err(SpecError::at(path, field("max_batch"), "must be at least 1").into());
        }
        let part = FleetPart {
            profile: p,
            replicas: *replicas,
            max_batch: *max_batch,
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

/// The fleets `choice` gives, with notes on workloads left without one.
fn fleets(
    choice: &FleetChoice,
    scenario: &Scenario,
    source: &Path,
) -> Result<(Vec<Fleet>, Vec<String>), Error> {
    let mut notes = Vec::new();
    match choice {
        FleetChoice::PlanFile { path, allocations } => {
            let fleets = fleets_from_plan_file(scenario, path, allocations)?;
            for (w, workload) in scenario.workloads.iter().enumerate() {
                if !fleets.iter().any(|f| f.workload == w) {
                    notes.push(format!(
                        "workload `{}` is not simulated: {} gives it no replicas",
                        workload.name,
                        path.display()
                    ));
                }
            }
            Ok((fleets, notes))
        }
        FleetChoice::Replicas {
            replicas,
            accelerator,
        } => {
            let mut out = Vec::new();
            for (w, workload) in scenario.workloads.iter().enumerate() {
                let p = one_profile(scenario, workload, accelerator.as_deref(), source)?;
                out.push(Fleet {
                    workload: w,
                    parts: vec![FleetPart {
                        profile: p,
                        replicas: *replicas,
                        max_batch: workload.max_batch_on(&scenario.profiles[p]),
                    }],
                });
            }
            Ok((out, notes))
        }
        FleetChoice::Plan => {
            let planned = plan(scenario, &PlanOptions::default())?;
            let (out, plan_notes) = fleets_of_plan(scenario, &planned);
            notes.extend(plan_notes);
            Ok((out, notes))
        }
    }
}

/// The index of `workload`'s one profile (on `accelerator` when given).
fn one_profile(
    scenario: &Scenario,
    workload: &Workload,
    accelerator: Option<&str>,
    source: &Path,
) -> Result<usize, Error> {
    let candidates: Vec<usize> = (0..scenario.profiles.len())
        .filter(|&p| scenario.profiles[p].model == workload.model)
        .filter(|&p| accelerator.is_none_or(|acc| scenario.profiles[p].accelerator == acc))
        .collect();
    match candidates.as_slice() {
        [p] => Ok(*p),
        [] => Err(Error::Usage(format!(
            "{}: workload `{}`: no profile of `{}`{}",
            source.display(),
            workload.name,
            workload.model,
            accelerator
                .map(|acc| format!(" on `{acc}`"))
                .unwrap_or_default()
        ))),
        _ => Err(request_error!(
            format!(
                "{}: workload `{}`: `{}` has profiles on several accelerators; choose one with ",
                source.display(),
                workload.name,
                workload.model
            ),
            Field("accelerator")
        )
        .into()),
    }
}

/// Arrivals at a rate (synthetic or a trace's), each replication in parallel.
fn open_loop(
    r: &SimulateRequest,
    scenario: Scenario,
    fleets: &[Fleet],
    records: Option<Vec<TraceRecord>>,
    assignment: Option<Vec<usize>>,
    listener: &dyn Listener,
) -> Result<SimulateOutcome, Error> {
    let (mut config, traffic, analytic) = build(
        &scenario,
        fleets,
        &r.overrides,
        r.router,
        r.seed,
        r.timeline_bucket_ms,
    );
    let horizon = match (r.requests, r.duration_s) {
        (_, Some(d)) => Horizon::Duration(d),
        (Some(n), None) => Horizon::Requests(n),
        (None, None) => Horizon::Requests(DEFAULT_REQUESTS),
    };
    if let Horizon::Duration(d) = horizon {
        let rate_rps: f64 = scenario.workloads.iter().map(|w| w.rate_rps).sum();
        crate::limits::check_drawn(rate_rps * d)
            .map_err(|e| request_error!(Field("duration_s"), format!(": {e}")))?;
    }
    // A replay counts every request unless asked; synthetic load starts empty and warms up.
    let warmup = r
        .warmup
        .unwrap_or(if records.is_some() { 0.0 } else { 0.1 });
    config.record_requests = r.record_requests;
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
    let expected = match (&replay, horizon) {
        (Some(r), _) => r.len() as u64,
        (None, Horizon::Requests(n)) => n,
        (None, Horizon::Duration(d)) => {
            (traffic.iter().map(|t| t.rate_rps).sum::<f64>() * d) as u64
        }
    } * u64::from(r.replications);
    listener.start(Some(expected), "simulating", "requests");
    let done = AtomicU64::new(0);
    let results: Vec<Result<SimResult, crate::sim::SimError>> = (0..r.replications)
        .into_par_iter()
        .map(|k| {
            let seed = crate::rng::replication_seed(r.seed, u64::from(k));
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
                listener.advance_to(total);
            })
        })
        .collect();
    listener.finish();
    let results: Vec<SimResult> = results.into_iter().collect::<Result<_, _>>()?;
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
    let report = simulation_report(&scenario.name, r.seed, &results, &info);
    Ok(SimulateOutcome {
        report,
        results,
        config,
        info,
        records,
    })
}

/// The clients against one replica, each replication in parallel, reported as an open-loop
/// run is, with the analytic column at the rate the clients achieved.
fn closed_loop(
    r: &SimulateRequest,
    clients: ClosedLoopLoad,
    mut scenario: Scenario,
    fleets: &[Fleet],
) -> Result<SimulateOutcome, Error> {
    use crate::sim::closed_loop::{ClosedLoop, run_closed_loop};
    let one_replica =
        fleets.len() == 1 && fleets[0].parts.len() == 1 && fleets[0].parts[0].replicas == 1;
    if !one_replica {
        return Err(request_error!(
            Field("concurrency"),
            " drives one replica, which its clients share: for several replicas, simulate one (",
            Field("replicas"),
            " 1) with the clients each of them would see"
        )
        .into());
    }
    let (config, _, _) = build(&scenario, fleets, &r.overrides, r.router, r.seed, None);
    let group = &config.groups[0];
    let workload = &scenario.workloads[fleets[0].workload];
    let load = ClosedLoop {
        concurrency: clients.concurrency,
        prompt: workload.prompt_dist,
        output: workload.output_dist,
        requests: r.requests.unwrap_or(DEFAULT_REQUESTS),
        warmup_fraction: r.warmup.unwrap_or(0.1),
        think_ms: clients.think_time_s * 1000.0,
        targets: group.targets,
    };
    let engine = group.engines[0].clone();
    let name = group.name.clone();
    let results: Vec<SimResult> = (0..r.replications)
        .into_par_iter()
        .map(|k| {
            run_closed_loop(
                engine.clone(),
                &load,
                crate::rng::replication_seed(r.seed, u64::from(k)),
            )
            .map(|res| res.into_sim_result(&name))
        })
        .collect::<Result<_, _>>()?;
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
    let (_, _, analytic) = build(&scenario, fleets, &r.overrides, r.router, r.seed, None);
    let part = &fleets[0].parts[0];
    let info = vec![WorkloadInfo {
        model: scenario.workloads[w].model.clone(),
        accelerators: vec![scenario.profiles[part.profile].accelerator.clone()],
        analytic: analytic[0].filter(|_| served_rps > 0.0),
        offered_rps: scenario.workloads[w].rate_rps,
        kv_limited: group.engines.iter().any(|e| e.kv_capacity_tokens.is_some()),
    }];
    let mut report = simulation_report(&scenario.name, r.seed, &results, &info);
    report.closed_loop = Some(ClosedLoopInfo {
        concurrency: clients.concurrency,
        think_time_s: clients.think_time_s,
    });
    Ok(SimulateOutcome {
        report,
        results,
        config,
        info,
        records: None,
    })
}
