//! `wva plan`: size every workload of a scenario and choose accelerators, max batches and
//! replicas, under the GPU inventory when there is one.

use super::output::emit;
pub(super) use super::plan_args::{AFTER_HELP, PlanArgs};
use super::plan_args::{BackendArg, BatchArg, ObjectiveArg, SizingArg};
use super::progress::Terminal;
use crate::error::{Error, ExitCode};
use crate::optimize::candidates::SizingMode;
use crate::optimize::{
    Backend, BatchPolicy, BestEffort, CandidateOptions, Mixing, Objective, PlanOptions,
};
use crate::report::{OutputFormat, render_plan, render_verified_plan};
use crate::spec::cluster::{ClusterInput, DefaultLoad, load_cluster};
use crate::spec::inferno::load_inferno;
use crate::spec::load_profiles;
use crate::usecase::plan::{
    PlanRequest, UpstreamDefaults, plan, upstream_defaults, workload_index,
};
use crate::verify::VerifyOptions;
use anyhow::Context;
use std::path::PathBuf;

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

/// The plan's options: the flags, else the defaults of upstream's settings when the problem
/// came from its files.
fn options(a: &PlanArgs, upstream: Option<&UpstreamDefaults>) -> Result<PlanOptions, Error> {
    let batch = match a.batch_size {
        Some(BatchArg::Fixed) => BatchPolicy::Fixed,
        Some(BatchArg::Upstream) => BatchPolicy::Upstream,
        Some(BatchArg::Exact) => BatchPolicy::Exact,
        None => upstream.map_or(BatchPolicy::Exact, |d| d.batch),
    };
    let delayed = upstream.is_some_and(|d| d.best_effort == BestEffort::Delayed);
    // Upstream's `heterogeneous` only applies when the solver is left to upstream's choice.
    let upstream_mixed = upstream.is_some_and(|d| d.mixed)
        && a.solver
            .is_none_or(|s| s == crate::optimize::SolverKind::Exact);
    Ok(PlanOptions {
        solver: a.solver.or(upstream.map(|d| d.solver)),
        candidates: CandidateOptions {
            batch,
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
        saturation: a
            .saturation_policy
            .or(upstream.map(|d| d.saturation))
            .unwrap_or_default(),
        best_effort: if a.delayed_best_effort || delayed {
            BestEffort::Delayed
        } else {
            BestEffort::InOrder
        },
        mixing: if a.allow_mixed || upstream_mixed {
            Mixing::Mixed
        } else {
            Mixing::OneType
        },
        time_limit_s: a.time_limit_s,
        backend: backend(a.milp_backend)?,
    })
}

/// The live cluster's WVA objects (`--from-cluster` without files).
fn live_cluster(a: &PlanArgs) -> anyhow::Result<ClusterInput<'static>> {
    #[cfg(feature = "push")]
    {
        let timeout = std::time::Duration::from_secs_f64(a.timeout_s);
        let connection =
            crate::k8s::push::connect(a.context.as_deref(), timeout).map_err(Error::from)?;
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
        .map_err(|e| Error::from(e.with_exit_code(crate::error::ExitCode::Cluster)))?;
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

/// The problem of `--from-cluster`: the WVA objects of dumps or of the live cluster, with the
/// load given; the source to name in errors; notes on what was read.
fn cluster_problem(a: &PlanArgs) -> anyhow::Result<(crate::spec::Scenario, PathBuf, Vec<String>)> {
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
        live_cluster(a)?
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
    Ok((scenario, source, notes))
}

pub(super) fn run(a: PlanArgs) -> anyhow::Result<ExitCode> {
    let (mut scenario, upstream, source, notes) = match (&a.scenario, &a.from_inferno) {
        (Some(path), _) => (super::read_scenario(path)?, None, path.clone(), Vec::new()),
        (None, Some(dir)) => {
            let imported = load_inferno(dir)?;
            let defaults = upstream_defaults(&imported.optimizer)?;
            (
                imported.scenario,
                Some(defaults),
                dir.clone(),
                imported.notes,
            )
        }
        (None, None) if a.from_cluster.is_some() => {
            let (scenario, source, notes) = cluster_problem(&a)?;
            (scenario, None, source, notes)
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
    if let Some(path) = &a.trace {
        // Sets the load of the workload `--workload` (or the only one) from the trace.
        let w = workload_index(&scenario, a.workload.as_deref())?;
        let mut trace = a.trace_input.open(path, a.trace_model.clone(), 1)?;
        crate::usecase::plan::load_from_trace(
            &mut scenario.workloads[w],
            &mut trace,
            path,
            a.rate_quantile,
            &Terminal::default(),
        )?;
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
    let request = PlanRequest {
        options: options(&a, upstream.as_ref())?,
        scenario,
        verify: a.verify.then_some(VerifyOptions {
            requests: a.verify_requests,
            seed: a.seed,
            ..VerifyOptions::default()
        }),
    };
    let outcome =
        plan(&request, &Terminal::default()).with_context(|| source.display().to_string())?;
    match &outcome.checks {
        Some(checks) => {
            if matches!(a.output, OutputFormat::Csv | OutputFormat::InfernoJson) {
                super::say::note(
                    "-o csv and -o inferno-json carry the plan only; the simulated check is in -o table, json and yaml",
                );
            }
            emit(&render_verified_plan(&outcome.plan, checks, a.output))?;
            let missed = outcome.missed_in_simulation();
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
        }
        None => emit(&render_plan(&outcome.plan, a.output))?,
    }
    if outcome.plan.is_complete() {
        Ok(ExitCode::Success)
    } else {
        eprintln!(
            "wva: {} of {} workloads could not be fully allocated (exit code 3)",
            outcome.plan.not_fully_served(),
            request.scenario.workloads.len()
        );
        Ok(ExitCode::Infeasible)
    }
}
