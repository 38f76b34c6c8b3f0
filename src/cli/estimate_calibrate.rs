//! `wva estimate --calibrate` (and sweep tables by default): reads load-test results as
//! evidence the simulator can rerun, calibrates through it, and writes the profile, the report
//! and the validation errors; also which per-request runs look saturated, for the direct fit.

use super::estimate::{EstimateArgs, display_names, selection};
use super::output::{emit, render, write_atomically};
use crate::error::{Error, ExitCode};
use crate::estimate::calibrate::{
    Engine, Evidence, Run, Search, calibrate, calibrate_budget, evaluate, saturation,
};
use crate::estimate::profile::{ProfileInfo, calibrated_profile_yaml};
use crate::estimate::read::{Filters, SourceFormat, read_all};
use crate::estimate::{FitOptions, fit, sweep};
use crate::perf::{DEFAULT_MAX_NUM_BATCHED_TOKENS, Gen2Params, PerfModelKind, PerfParams};
use crate::report::{CalibrationReport, calibration_table};
use crate::sim::measured::measured;
use crate::trace::{Format, TraceRecord, Transforms};
use std::path::{Path, PathBuf};

/// vLLM's default `--max-num-seqs`, for load tests that do not record theirs.
const DEFAULT_MAX_NUM_SEQS: u32 = 256;

/// A generic start when the direct fit has nothing to go on.
const GENERIC_START: Gen2Params = Gen2Params {
    alpha_ms: 10.0,
    beta_ms_per_token: 0.05,
    gamma_ms_per_kv_token: 1e-4,
};

/// The requests of a per-request log that completed with measured latencies.
fn records(path: &Path) -> Result<Vec<TraceRecord>, String> {
    let all = crate::trace::read_all(path, Some(Format::Lmbench), &Transforms::default(), false)
        .map_err(|e| e.to_string())?;
    let kept: Vec<TraceRecord> = all
        .into_iter()
        .filter(|r| r.output_tokens > 0 && r.ttft_s.is_some() && r.e2e_s.is_some())
        .collect();
    if kept.is_empty() {
        return Err(format!(
            "{}: no request with a measured TTFT and latency",
            path.display()
        ));
    }
    Ok(kept)
}

/// Files that look saturated, each with why.
pub(super) type Saturated = Vec<(PathBuf, String)>;

/// The per-request logs among `files` that look saturated, with why; the others.
pub(super) fn split_saturated(
    files: &[PathBuf],
    formats: &[SourceFormat],
) -> Result<(Vec<PathBuf>, Saturated), String> {
    let (mut kept, mut saturated) = (Vec::new(), Vec::new());
    for (path, format) in files.iter().zip(formats) {
        if *format != SourceFormat::Lmbench {
            kept.push(path.clone());
            continue;
        }
        let r = records(path)?;
        match saturation(&r, &measured(&r)) {
            Some(why) => saturated.push((path.clone(), why)),
            None => kept.push(path.clone()),
        }
    }
    Ok((kept, saturated))
}

/// The evidence of `paths` (file `i` tagged `i`).
fn evidence(
    paths: &[PathBuf],
    format: Option<SourceFormat>,
    filters: &Filters,
) -> Result<Vec<Evidence>, String> {
    let mut out = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let f = format.map_or_else(|| SourceFormat::detect(path), Ok)?;
        match f {
            SourceFormat::Lmbench => {
                let records = records(path)?;
                out.push(Evidence::Run(Run {
                    origin: path.display().to_string(),
                    file: i,
                    measured: measured(&records),
                    records,
                    replicas: filters.replicas.max(1),
                }));
            }
            SourceFormat::Sweep => out.extend(
                sweep::read_csv(path, &filters.columns, i)?
                    .into_iter()
                    .map(Evidence::Row),
            ),
            SourceFormat::VllmBench => out.push(Evidence::Row(sweep::vllm_bench(path, i)?)),
            SourceFormat::Guidellm => {
                out.extend(sweep::guidellm(path, i)?.into_iter().map(Evidence::Row));
            }
            other => {
                return Err(format!(
                    "{}: calibration reruns load tests (lmbench, sweep, vllm-bench, guidellm); this is {}",
                    path.display(),
                    serde_json::to_value(other)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ));
            }
        }
    }
    Ok(out)
}

/// The start of the search: the direct fit of the unsaturated files, else a generic guess.
fn start(
    paths: &[PathBuf],
    format: Option<SourceFormat>,
    filters: &Filters,
    budget: u32,
) -> Gen2Params {
    let formats: Vec<SourceFormat> = paths
        .iter()
        .filter_map(|p| format.map_or_else(|| SourceFormat::detect(p), Ok).ok())
        .collect();
    let fitted = split_saturated(paths, &formats)
        .ok()
        .map(|(kept, _)| {
            if kept.is_empty() {
                paths.to_vec()
            } else {
                kept
            }
        })
        .and_then(|kept| read_all(&kept, format, filters).ok())
        .filter(|r| !r.observations.is_empty())
        .and_then(|r| {
            fit(
                &r.observations,
                &FitOptions {
                    model: PerfModelKind::V2,
                    max_num_batched_tokens: budget,
                    ..FitOptions::default()
                },
            )
            .ok()
        });
    match fitted.map(|f| f.params) {
        Some(PerfParams::V2(p)) if p.alpha_ms > 0.0 && p.beta_ms_per_token > 0.0 => p,
        _ => GENERIC_START,
    }
}

/// Runs the calibration path of `wva estimate`.
pub(super) fn run(
    a: &EstimateArgs,
    model: PerfModelKind,
    filters: &Filters,
) -> anyhow::Result<ExitCode> {
    if model == PerfModelKind::V1 {
        return Err(Error::Usage(
            "calibration fits wva-v2 or wva-v3 parameters; drop --perf-model wva-v1".into(),
        )
        .into());
    }
    let budget = a
        .max_num_batched_tokens
        .unwrap_or(DEFAULT_MAX_NUM_BATCHED_TOKENS);
    let engine = Engine {
        max_num_seqs: a.max_batch.unwrap_or(DEFAULT_MAX_NUM_SEQS),
        max_num_batched_tokens: budget,
        block_size: crate::sim::DEFAULT_BLOCK_SIZE,
        kv_capacity_tokens: a.kv_capacity_tokens,
    };
    let fit_on = evidence(&a.files, a.format, filters).map_err(Error::Usage)?;
    let held = if a.validate.is_empty() {
        None
    } else {
        Some(evidence(&a.validate, a.format, filters).map_err(Error::Usage)?)
    };
    let from = start(&a.files, a.format, filters, budget);
    let search = Search {
        seed: a.seed,
        ..Search::default()
    };
    // The cache is fitted only where a run shows it filling.
    let mut fit_kv = false;
    for e in &fit_on {
        if let Evidence::Run(r) = e
            && let Some(why) = saturation(&r.records, &r.measured)
        {
            eprintln!(
                "wva: note: {} looks saturated ({why}): calibrated through the simulator's queue and KV cache",
                r.origin
            );
            fit_kv = true;
        }
    }
    let has_ttft = fit_on.iter().any(|e| match e {
        Evidence::Row(r) => r.ttft_ms.is_some(),
        Evidence::Run(_) => true,
    });
    let calibration = if a.max_num_batched_tokens.is_none() && has_ttft {
        calibrate_budget(&fit_on, model, from, engine, fit_kv, search)
    } else {
        calibrate(&fit_on, model, from, engine, fit_kv, search)
    }
    .map_err(Error::Usage)?;
    let validation = held.map(|h| {
        evaluate(
            &h,
            calibration.params,
            Engine {
                kv_capacity_tokens: calibration.kv_capacity_tokens,
                max_num_batched_tokens: calibration.max_num_batched_tokens,
                ..engine
            },
            a.seed,
        )
    });
    let files = display_names(&a.files);
    let yaml = calibrated_profile_yaml(
        &calibration,
        &ProfileInfo {
            model: a.model.clone().unwrap_or_else(|| "unknown".into()),
            accelerator: a
                .accelerator
                .clone()
                .or_else(|| a.hardware.clone())
                .unwrap_or_else(|| "unknown".into()),
            gpus_per_replica: a.tp.unwrap_or(1),
            max_batch: engine.max_num_seqs,
            files: files.clone(),
            selection: selection(a),
        },
    );
    if let Some(path) = &a.output {
        write_atomically(path, yaml.as_bytes())?;
    }
    let report = CalibrationReport {
        files,
        calibration,
        validation,
    };
    match a.report {
        Some(format) => emit(&render(format, &report, calibration_table))?,
        None if a.output.is_none() => emit(&yaml)?,
        None => {}
    }
    Ok(ExitCode::Success)
}
