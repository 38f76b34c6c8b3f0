//! `wva simulate`: run a scenario's workloads (or one profile under flags) through the
//! discrete-event simulator of vLLM, beside the analytic model's predictions.

use super::output::{emit, render};
use super::progress::Terminal;
use crate::error::{Error, ExitCode};
use crate::report::simulation_table;
use crate::sim::SimResult;
use crate::sim::setup::EngineOverrides;
use crate::spec::load_profiles;
use crate::usecase::simulate::ClosedLoopLoad;
use crate::usecase::{FleetChoice, ProfileLoad, SimulateRequest, Subject, TraceInput, simulate};
use anyhow::Context;
use std::path::Path;

pub(super) use super::simulate_args::{AFTER_HELP, SimulateArgs};

/// Lowers the flags into a request (reading the files they name) and refuses flags that do
/// not apply together.
fn request(a: &SimulateArgs) -> anyhow::Result<SimulateRequest> {
    if a.trace.is_none() && a.trace_input.is_set() {
        return Err(Error::Usage(
            "--trace-format, --window, --rate-scale, --time-scale, --max-requests and --skip-bad-rows apply with --trace".into(),
        )
        .into());
    }
    let trace = match &a.trace {
        Some(path) => Some(TraceInput {
            path: path.clone(),
            records: a.trace_input.read(path, a.trace_model.clone(), a.seed)?,
            workload: a.workload.clone(),
        }),
        None => None,
    };
    let (subject, source) = match (&a.scenario, &a.profile) {
        (Some(path), _) => (Subject::Scenario(super::read_scenario(path)?), path.clone()),
        (None, Some(path)) => {
            let load = ProfileLoad {
                model: a.model.clone(),
                accelerator: a.accelerator.clone(),
                rate_rps: a.rate_rps.or(a.rate_rpm.map(|r| r / 60.0)),
                in_tokens: a.in_tokens,
                out_tokens: a.out_tokens,
                target_ttft_ms: a.target_ttft_ms,
                target_itl_ms: a.target_itl_ms,
            };
            let profiles = load_profiles(path)?;
            (Subject::Profile { profiles, load }, path.clone())
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
    // A profile alone is one replica unless told otherwise.
    let replicas = a.replicas.or(a.profile.is_some().then_some(1));
    if a.accelerator.is_some() && replicas.is_none() {
        return Err(Error::Usage(
            "--accelerator applies with --replicas (or --profile); a plan chooses its own".into(),
        )
        .into());
    }
    let fleet = match (&a.plan, replicas) {
        (Some(path), _) => FleetChoice::PlanFile {
            path: path.clone(),
            allocations: crate::usecase::plan_file::read(path)?
                .allocations
                .into_iter()
                .map(|r| (r.workload, r.accelerator, r.replicas, r.max_batch))
                .collect(),
        },
        (None, Some(replicas)) => FleetChoice::Replicas {
            replicas,
            accelerator: a.accelerator.clone(),
        },
        (None, None) => FleetChoice::Plan,
    };
    if a.concurrency.is_some() {
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
    }
    if a.twin.serve_metrics.is_some() && a.replications > 1 {
        return Err(
            Error::Usage("--serve-metrics serves one run: drop --replications".into()).into(),
        );
    }
    Ok(SimulateRequest {
        source,
        subject,
        fleet,
        trace,
        closed_loop: a.concurrency.map(|concurrency| ClosedLoopLoad {
            concurrency,
            think_time_s: a.think_time_s.unwrap_or(0.0),
        }),
        shape: a.shape.shape()?,
        load_scale: a.load_scale,
        overrides: EngineOverrides {
            max_num_seqs: a.max_num_seqs,
            max_num_batched_tokens: a.max_num_batched_tokens,
            kv_capacity_tokens: match a.num_gpu_blocks {
                Some(blocks) => {
                    Some(blocks.checked_mul(u64::from(a.block_size)).ok_or_else(|| {
                        Error::Usage(format!(
                            "--num-gpu-blocks {blocks} x --block-size {} is too large",
                            a.block_size
                        ))
                    })?)
                }
                None => a.kv_capacity_tokens,
            },
            block_size: Some(a.block_size),
            prefix_caching: Some(!a.no_enable_prefix_caching),
            noise_cv: a.noise_cv,
        },
        router: a.router,
        seed: a.seed,
        replications: a.replications,
        requests: a.requests,
        duration_s: a.duration_s,
        warmup: a.warmup,
        timeline_bucket_ms: (a.timeline.is_some() || a.plot.is_some())
            .then_some(a.timeline_bucket_s * 1000.0),
        record_requests: a.requests_out.is_some() || a.twin.serve_metrics.is_some(),
    })
}

pub(super) fn run_simulate(a: SimulateArgs) -> anyhow::Result<ExitCode> {
    let request = request(&a)?;
    let out = simulate(request, &Terminal::default())?;
    let first = &out.results[0];
    if first.timeline_truncated {
        super::say::note(format_args!(
            "the timeline stops after {} buckets; use a wider --timeline-bucket-s",
            crate::sim::MAX_BUCKETS
        ));
    }
    if let Some(path) = &a.requests_out {
        write_outcomes(path, first, &out.config, out.records.as_deref())?;
    }
    if let Some(path) = &a.timeline {
        write_timeline(path, &first.timeline)?;
    }
    if let Some(path) = &a.plot {
        crate::report::plot::timeline(path, &first.timeline).map_err(Error::from)?;
    }
    if let Some(addr) = a.twin.serve_metrics {
        super::simulate_twin::run(&a.twin, addr, &out.config, &out.info, first)?;
    }
    emit(&render(a.output, &out.report, simulation_table))?;
    Ok(ExitCode::Success)
}

/// Writes the timeline CSV atomically (temporary file, then rename).
fn write_timeline(path: &Path, rows: &[crate::sim::TimelineRow]) -> anyhow::Result<()> {
    let bytes = crate::report::simulation_csv::timeline(rows).context("writing the timeline")?;
    super::output::write_atomically(path, &bytes)
}

/// Writes every request's outcome as CSV (atomically).
fn write_outcomes(
    path: &Path,
    result: &SimResult,
    config: &crate::sim::SimConfig,
    records: Option<&[crate::trace::TraceRecord]>,
) -> anyhow::Result<()> {
    let text = crate::report::simulation_csv::request_outcomes(result, config, records);
    super::output::write_atomically(path, text.as_bytes())
}
