//! `wva estimate --calibrate` (the default for per-request logs and sweep tables): calibrates
//! the files through the simulator ([`crate::estimate::load_tests`]) and writes the profile,
//! the report and the validation errors.

use super::estimate::{EstimateArgs, display_names, selection};
use super::output::{emit, render, write_atomically};
use crate::error::{Error, ExitCode};
use crate::estimate::calibrate::{Engine, Search, evaluate};
use crate::estimate::load_tests::{DEFAULT_MAX_NUM_SEQS, calibrate_files, evidence};
use crate::estimate::profile::{ProfileInfo, calibrated_profile_yaml};
use crate::estimate::read::{Filters, SourceFormat};
use crate::perf::{DEFAULT_MAX_NUM_BATCHED_TOKENS, PerfModelKind};
use crate::report::{CalibrationReport, calibration_table};

/// Runs the calibration path of `wva estimate`.
pub(super) fn run(
    a: &EstimateArgs,
    model: PerfModelKind,
    filters: &Filters,
    formats: &[SourceFormat],
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
    // Observations from production carry the KV usage, which gives the capacity.
    let seen = super::estimate::observed(&a.files, formats, filters);
    let observed_kv = seen.as_ref().and_then(|o| o.kv_capacity);
    if let (None, Some((tokens, steps))) = (a.kv_capacity_tokens, observed_kv) {
        super::say::note(format_args!(
            "KV capacity {tokens} tokens per replica, from the observations' KV usage (median of {steps} steps); --kv-capacity-tokens overrides it"
        ));
    }
    let engine = Engine {
        max_num_seqs: a.max_batch.unwrap_or(DEFAULT_MAX_NUM_SEQS),
        max_num_batched_tokens: budget,
        block_size: crate::sim::DEFAULT_BLOCK_SIZE,
        kv_capacity_tokens: a.kv_capacity_tokens.or(observed_kv.map(|(t, _)| t)),
    };
    let held = if a.validate.is_empty() {
        None
    } else {
        Some(evidence(&a.validate, a.format, filters).map_err(Error::Usage)?)
    };
    let search = Search {
        seed: a.seed,
        ..Search::default()
    };
    let (calibration, notes) = calibrate_files(
        &a.files,
        a.format,
        filters,
        model,
        engine,
        a.max_num_batched_tokens.is_some(),
        search,
    )
    .map_err(Error::Usage)?;
    for n in &notes {
        super::say::note(format_args!("{n}"));
    }
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
    let (model, accelerator, name_warnings) = super::estimate::profile_names(
        a,
        seen.as_ref().map(|o| o.model.clone()),
        seen.as_ref().and_then(|o| o.accelerator.clone()),
    );
    super::estimate::warn_names(a, &name_warnings);
    let yaml = calibrated_profile_yaml(
        &calibration,
        &ProfileInfo {
            model,
            accelerator,
            gpus_per_replica: a.tp.unwrap_or(1),
            max_batch: engine.max_num_seqs,
            files: files.clone(),
            selection: selection(a),
        },
    );
    let text = super::estimate::profile_text(&yaml, a.output)?;
    if let Some(path) = a.out_file() {
        write_atomically(&path, text.as_bytes())?;
    }
    let report = CalibrationReport {
        files,
        calibration,
        validation,
    };
    match a.report {
        Some(format) => emit(&render(format, &report, calibration_table))?,
        None if a.out_file().is_none() => emit(&text)?,
        None => {}
    }
    Ok(ExitCode::Success)
}
