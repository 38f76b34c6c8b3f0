//! Load-test files as calibration evidence: per-request logs (LMBench) and summary results
//! (sweep tables, vLLM bench, GuideLLM) read as runs the simulator can rerun, which of the
//! logs look saturated, the direct fit that starts the search, and the whole default use case
//! ([`calibrate_files`]) that `wva estimate` and `wva validate` share.

use super::calibrate::{
    Calibration, Engine, Evidence, Run, Search, calibrate, calibrate_budget, saturation,
};
use super::read::{Filters, SourceFormat, read_all};
use super::{FitOptions, fit, sweep};
use crate::estimate::EstimateError;
use crate::perf::{Gen2Params, PerfModelKind, PerfParams};
use crate::sim::measured::measured;
use crate::trace::{Format, TraceRecord, Transforms};
use std::path::{Path, PathBuf};

/// vLLM's default `--max-num-seqs`, for load tests that do not record theirs.
pub const DEFAULT_MAX_NUM_SEQS: u32 = 256;

/// A generic start when the direct fit has nothing to go on.
const GENERIC_START: Gen2Params = Gen2Params {
    alpha_ms: 10.0,
    beta_ms_per_token: 0.05,
    gamma_ms_per_kv_token: 1e-4,
};

/// The requests of a per-request log that completed with measured latencies.
pub fn records(path: &Path) -> Result<Vec<TraceRecord>, EstimateError> {
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
        )
        .into());
    }
    Ok(kept)
}

/// Files that look saturated, each with why.
pub type Saturated = Vec<(PathBuf, String)>;

/// The per-request logs among `files` that look saturated, with why; the others.
pub fn split_saturated(
    files: &[PathBuf],
    formats: &[SourceFormat],
) -> Result<(Vec<PathBuf>, Saturated), EstimateError> {
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
pub fn evidence(
    paths: &[PathBuf],
    format: Option<SourceFormat>,
    filters: &Filters,
) -> Result<Vec<Evidence>, EstimateError> {
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
            SourceFormat::Prometheus => out.extend(
                super::prometheus::read(path, filters, i)?
                    .into_iter()
                    .map(Evidence::Row),
            ),
            SourceFormat::VllmBench => out.push(Evidence::Row(sweep::vllm_bench(path, i)?)),
            SourceFormat::Guidellm => {
                out.extend(sweep::guidellm(path, i)?.into_iter().map(Evidence::Row));
            }
            other => {
                return Err(format!(
                    "{}: calibration reruns load tests (lmbench, sweep, vllm-bench, guidellm, prometheus); this is {}",
                    path.display(),
                    serde_json::to_value(other)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ).into());
            }
        }
    }
    Ok(out)
}

/// The start of the search: the direct fit of `paths` (the caller leaves out saturated logs),
/// else a generic guess.
pub fn start(
    paths: &[PathBuf],
    format: Option<SourceFormat>,
    filters: &Filters,
    budget: u32,
) -> Gen2Params {
    let fitted = read_all(paths, format, filters)
        .ok()
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
        // A gamma held at 0 says the direct fit could not see it (decode times alone at one
        // context length), not that it is 0: the search, in log space and within a factor of
        // 10 of its start, would never leave the floor. Start it from the generic guess.
        Some(PerfParams::V2(p)) if p.alpha_ms > 0.0 && p.beta_ms_per_token > 0.0 => Gen2Params {
            gamma_ms_per_kv_token: if p.gamma_ms_per_kv_token > 0.0 {
                p.gamma_ms_per_kv_token
            } else {
                GENERIC_START.gamma_ms_per_kv_token
            },
            ..p
        },
        _ => GENERIC_START,
    }
}

/// The default calibration of `paths`: their evidence, started from the direct fit of the
/// unsaturated logs, the token budget chosen among vLLM's defaults unless `budget_given`
/// (then `engine`'s), and the KV capacity fitted where a log saturates (unless `engine` gives
/// it). Also the notes on saturated logs.
pub fn calibrate_files(
    paths: &[PathBuf],
    format: Option<SourceFormat>,
    filters: &Filters,
    kind: PerfModelKind,
    engine: Engine,
    budget_given: bool,
    search: Search,
) -> Result<(Calibration, Vec<String>), EstimateError> {
    let fit_on = evidence(paths, format, filters)?;
    // The cache is fitted only where a run shows it filling; the direct fit that starts the
    // search leaves such runs out.
    let mut notes = Vec::new();
    let mut saturated = vec![false; paths.len()];
    for e in &fit_on {
        if let Evidence::Run(r) = e
            && let Some(why) = saturation(&r.records, &r.measured)
        {
            saturated[r.file] = true;
            notes.push(format!(
                "{} looks saturated ({why}): calibrated through the simulator's queue and KV cache",
                r.origin
            ));
        }
    }
    let fit_kv = !notes.is_empty();
    let has_ttft = fit_on.iter().any(|e| match e {
        Evidence::Row(r) => r.ttft_ms.is_some(),
        Evidence::Run(_) => true,
    });
    let unsaturated: Vec<PathBuf> = paths
        .iter()
        .zip(&saturated)
        .filter(|(_, s)| !**s)
        .map(|(p, _)| p.clone())
        .collect();
    let direct = if unsaturated.is_empty() {
        paths
    } else {
        &unsaturated
    };
    let from = start(direct, format, filters, engine.max_num_batched_tokens);
    let calibration = if !budget_given && has_ttft {
        calibrate_budget(&fit_on, kind, from, engine, fit_kv, search)
    } else {
        calibrate(&fit_on, kind, from, engine, fit_kv, search)
    }?;
    Ok((calibration, notes))
}
