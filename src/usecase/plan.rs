//! `wva plan` as library calls: the plan of a scenario, checked in the simulator when asked
//! ([`plan`]); upstream's optimizer settings as the plan's defaults ([`upstream_defaults`]);
//! and one workload's load from a trace ([`load_from_trace`]: by the one rule of
//! [`LoadTally`], streamed from a trace of any size).

use super::Listener;
use crate::error::{Error, Field, request_error};
use crate::load::from_trace::LoadTally;
use crate::optimize::candidates::BatchPolicy;
use crate::optimize::{BestEffort, Plan, PlanOptions, SaturationPolicy, SolverKind};
use crate::spec::inferno::InfernoOptimizer;
use crate::spec::{Scenario, Workload};
use crate::trace::Trace;
use crate::verify::{Verification, VerifyOptions, verify};
use std::collections::BTreeSet;
use std::path::Path;

/// Sets `workload`'s load from `trace` (read from `path`): its requests (those naming another
/// model left out), the `rate_quantile` of their per-minute rates (the mean rate under a
/// minute), their mean prompt and output tokens; what was left out and what was set are noted.
pub fn load_from_trace(
    workload: &mut Workload,
    trace: &mut Trace,
    path: &Path,
    rate_quantile: f64,
    listener: &dyn Listener,
) -> Result<(), Error> {
    let (model, name) = (workload.model.clone(), workload.name.clone());
    let mut tally = LoadTally::new();
    let (mut other_models, mut seen_models) = (0u64, BTreeSet::new());
    for r in trace.by_ref() {
        let r = r?;
        // A trace that names models: only this workload's requests.
        if let Some(m) = r.model.as_ref().filter(|m| **m != model && **m != name) {
            other_models += 1;
            seen_models.insert(m.clone());
            continue;
        }
        tally.add(&r);
    }
    if trace.skipped_rows() > 0 || trace.failed_requests() > 0 {
        listener.note(&format!(
            "{}: left out {} malformed rows and {} failed requests (no output tokens)",
            path.display(),
            trace.skipped_rows(),
            trace.failed_requests()
        ));
    }
    if tally.requests() == 0 && other_models > 0 {
        return Err(request_error!(
            format!(
                "{}: no request names `{model}` or `{name}`; the trace's models are {} (map them with ",
                path.display(),
                seen_models.into_iter().collect::<Vec<_>>().join(", ")
            ),
            Field("trace_model"),
            " OLD=NEW)"
        )
        .into());
    }
    if other_models > 0 {
        listener.note(&format!(
            "{}: {other_models} requests of other models left out",
            path.display()
        ));
    }
    let load = match tally.finish(rate_quantile) {
        Some(load) if load.requests >= 2 => load,
        _ => {
            return Err(Error::Usage(format!(
                "{}: {} request(s): a rate needs at least two",
                path.display(),
                tally.requests()
            )));
        }
    };
    let rate_rps = load.busy_rate_rps;
    let how = if load.busy_from_minutes {
        format!("quantile {rate_quantile} of its per-minute rates")
    } else {
        "its mean rate (under a minute of arrivals)".to_string()
    };
    if !(rate_rps.is_finite() && rate_rps >= 0.0) {
        return Err(Error::Usage(format!(
            "{}: no arrival rate can be read from it",
            path.display()
        )));
    }
    workload.rate_rps = rate_rps;
    workload.prompt_tokens = load.prompt_tokens;
    workload.output_tokens = load.output_tokens;
    listener.note(&format!(
        "workload `{}` from {}: {:.3} req/s ({how}), prompt {:.0} and output {:.0} tokens on average",
        workload.name,
        path.display(),
        rate_rps,
        workload.prompt_tokens,
        workload.output_tokens
    ));
    Ok(())
}

/// A plan to make.
#[derive(Clone, Debug)]
pub struct PlanRequest {
    /// The problem.
    pub scenario: Scenario,
    /// How to solve it.
    pub options: PlanOptions,
    /// Check the plan in the simulator (each workload's fleet under its own traffic).
    pub verify: Option<VerifyOptions>,
}

/// A plan, and its check in the simulator when one was asked for.
#[derive(Debug)]
pub struct PlanOutcome {
    /// The plan.
    pub plan: Plan,
    /// The simulated check, one per workload allocated.
    pub checks: Option<Vec<Verification>>,
}

impl PlanOutcome {
    /// The workloads whose simulated fleet misses an SLO.
    pub fn missed_in_simulation(&self) -> Vec<&str> {
        self.checks
            .iter()
            .flatten()
            .filter(|c| !c.misses.is_empty())
            .map(|c| c.workload.as_str())
            .collect()
    }
}

/// Plans `request.scenario` (and checks the plan in the simulator when asked); progress goes
/// to `listener`.
pub fn plan(request: &PlanRequest, listener: &dyn Listener) -> Result<PlanOutcome, Error> {
    listener.start(None, "planning", "");
    let planned = crate::optimize::plan(&request.scenario, &request.options);
    listener.finish();
    let plan = planned?;
    let checks = request.verify.as_ref().map(|options| {
        listener.start(None, "checking the plan in the simulator", "");
        let checks = verify(&request.scenario, &plan, options);
        listener.finish();
        checks
    });
    Ok(PlanOutcome { plan, checks })
}

/// Upstream's optimizer settings (`optimizer-data.json`), as the defaults of a plan of its
/// problem.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpstreamDefaults {
    /// Unlimited, greedy or exact, as its flags say.
    pub solver: SolverKind,
    /// Its saturation policy.
    pub saturation: SaturationPolicy,
    /// Upstream keeps each profile's max batch.
    pub batch: BatchPolicy,
    /// Best effort after every priority level, or in order.
    pub best_effort: BestEffort,
    /// `heterogeneous` (and limited): one workload may use several accelerator types, when
    /// the solver is left to upstream's choice.
    pub mixed: bool,
}

/// The defaults upstream's optimizer settings give.
pub fn upstream_defaults(o: &InfernoOptimizer) -> Result<UpstreamDefaults, Error> {
    let saturation = SaturationPolicy::parse(&o.saturation_policy).ok_or_else(|| {
        Error::Usage(format!(
            "optimizer-data.json: unknown saturationPolicy `{}`",
            o.saturation_policy
        ))
    })?;
    Ok(UpstreamDefaults {
        solver: if o.unlimited {
            SolverKind::Unlimited
        } else if o.milp_solver || o.heterogeneous {
            SolverKind::Exact
        } else {
            SolverKind::Greedy
        },
        saturation,
        batch: BatchPolicy::Fixed,
        best_effort: if o.delayed_best_effort {
            BestEffort::Delayed
        } else {
            BestEffort::InOrder
        },
        mixed: o.heterogeneous && !o.unlimited,
    })
}

/// The index of the workload named `name` in `scenario`, or of its only workload when no name
/// is given.
pub fn workload_index(scenario: &Scenario, name: Option<&str>) -> Result<usize, Error> {
    match name {
        Some(name) => scenario
            .workloads
            .iter()
            .position(|w| w.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = scenario.workloads.iter().map(|w| w.name.as_str()).collect();
                request_error!(
                    Field("workload"),
                    format!(
                        " {name}: the scenario has no such workload; it has: {}",
                        known.join(", ")
                    )
                )
                .into()
            }),
        None if scenario.workloads.len() == 1 => Ok(0),
        None => Err(request_error!(
            Field("trace"),
            " needs ",
            Field("workload"),
            " NAME: the scenario has several workloads"
        )
        .into()),
    }
}
