//! `wva replay`: a trace through the simulator with an autoscaling policy in the loop, every
//! policy side by side.

use super::output::{emit, render, write_atomically};
use super::progress::Terminal;
use crate::error::{Error, ExitCode};
use crate::replay::predictive::PredictiveSettings;
use crate::replay::saturation_v2::SaturationV2Settings;
use crate::replay::{PolicyKind, PolicySettings};
use crate::report::{
    ReplayReport, replay_pareto_plot, replay_plot, replay_table, replay_timeline_csv,
};
use crate::usecase::{ReplayRequest, TraceInput, replay};
use std::path::Path;

pub(super) use super::replay_args::{AFTER_HELP, ReplayArgs};

pub(super) fn run(a: ReplayArgs) -> anyhow::Result<ExitCode> {
    let usage = |m: String| -> anyhow::Error { Error::Usage(m).into() };
    if a.trace_input.keep_failed {
        return Err(usage(
            "--keep-failed does not apply to replay: a failed request has nothing to replay".into(),
        ));
    }
    if a.scrape_s > a.interval_s {
        return Err(usage(format!(
            "--scrape-s {} is longer than --interval-s {}: some decisions would see no metrics",
            a.scrape_s, a.interval_s
        )));
    }
    let records = a
        .trace_input
        .read(&a.trace, a.trace_model.clone(), a.seed)?;
    let request = ReplayRequest {
        source: a.scenario.clone(),
        scenario: super::read_scenario(&a.scenario)?,
        trace: TraceInput {
            path: a.trace.clone(),
            records,
            workload: a.workload.clone(),
        },
        policies: if a.policy.iter().any(Option::is_none) {
            PolicyKind::ALL.to_vec()
        } else {
            a.policy.iter().flatten().copied().collect()
        },
        accelerators: a.accelerator.clone(),
        max_batch: a.max_batch,
        interval_s: a.interval_s,
        window_s: a.window_s,
        startup_s: a.startup_s,
        scrape_s: a.scrape_s,
        min_replicas: a.min_replicas,
        max_replicas: a.max_replicas,
        scale_to_zero_after_s: a.scale_to_zero_after_s,
        settings: PolicySettings {
            rate_source: a.rate_from,
            kv_cache_threshold: a.kv_cache_threshold,
            queue_length_threshold: a.queue_length_threshold,
            kv_spare_trigger: a.kv_spare_trigger,
            queue_spare_trigger: a.queue_spare_trigger,
            hpa_target: a.hpa_target.max(1e-6),
            hpa_tolerance: 0.1,
            hpa_stabilization_s: a.hpa_stabilization_s,
            static_replicas: a.static_replicas,
            predictive: PredictiveSettings {
                level_smoothing: a.smoothing.0,
                trend_smoothing: a.smoothing.1,
                burst_quantile: a.burst_quantile,
                burst_window_s: a.burst_window_s,
                drain_s: a.drain_s,
                down_stabilization_s: a.down_stabilization_s,
            },
            saturation_v2: SaturationV2Settings {
                kv_cache_threshold: a.kv_cache_threshold,
                queue_length_threshold: a.queue_length_threshold,
                scale_up_threshold: a.scale_up_threshold,
                scale_down_boundary: a.scale_down_boundary,
            },
            scale_to_zero_after_s: None,
        },
        router: a.router,
        noise_cv: a.noise_cv,
        seed: a.seed,
    };
    let report = replay(request, &Terminal::default())?;
    if let Some(path) = &a.timeline {
        write_atomically(path, replay_timeline_csv(&report).as_bytes())?;
    }
    if let Some(path) = &a.plot {
        write_plot(path, &report)?;
    }
    if let Some(path) = &a.pareto {
        replay_pareto_plot(path, &report).map_err(Error::from)?;
    }
    emit(&render(a.output, &report, replay_table))?;
    Ok(ExitCode::Success)
}

fn write_plot(path: &Path, report: &ReplayReport) -> anyhow::Result<()> {
    replay_plot(path, report).map_err(|e| Error::from(e).into())
}
