//! `wva estimate` as library calls: benchmark files in, a profile and its report out. Two ways
//! to fit a linear perf model: [`fit_direct`] (least squares on the iterations the files
//! record) and [`calibrate`] (the parameters, token budget and KV capacity that make the
//! simulator reproduce the runs' TTFT and TPOT). A `tables` profile, which is not fitted, is
//! [`super::tables_profile`].

use super::Listener;
use crate::error::{Error, Field, request_error};
use crate::estimate::calibrate::{Engine, Search, evaluate as evaluate_calibration};
use crate::estimate::check::{evaluate, split};
use crate::estimate::load_tests::{DEFAULT_MAX_NUM_SEQS, calibrate_files, evidence};
use crate::estimate::profile::{ProfileInfo, calibrated_profile_yaml, profile_yaml};
use crate::estimate::prometheus::Observations;
use crate::estimate::read::{Filters, MAX_BATCH, SourceFormat, expand_folders, read_all};
use crate::estimate::{FitOptions, Observation, fit};
use crate::perf::{DEFAULT_MAX_NUM_BATCHED_TOKENS, PerfModelKind};
use crate::report::{CalibrationReport, EstimateReport};
use std::path::PathBuf;

/// The benchmark files of an estimate: those fitted, those only predicted, and how to read
/// them.
#[derive(Clone, Debug)]
pub struct Sources {
    /// Files to fit (a folder of per-request logs stands for its CSV files).
    pub files: Vec<PathBuf>,
    /// Files to predict with the fitted parameters, not fitted.
    pub validate: Vec<PathBuf>,
    /// Their format, when given (else detected per file).
    pub format: Option<SourceFormat>,
    /// The format of each of `files`.
    pub formats: Vec<SourceFormat>,
    /// Which rows to read.
    pub filters: Filters,
}

impl Sources {
    /// The sources of `files` and `validate`: folders of per-request logs replaced by their
    /// CSV files, and each file's format detected unless `format` gives it.
    pub fn open(
        files: &[PathBuf],
        validate: &[PathBuf],
        format: Option<SourceFormat>,
        filters: Filters,
    ) -> Result<Self, Error> {
        let files = expand_folders(files, format)?;
        let validate = expand_folders(validate, format)?;
        let formats = files
            .iter()
            .map(|p| format.map_or_else(|| SourceFormat::detect(p), Ok))
            .collect::<Result<_, _>>()?;
        Ok(Sources {
            files,
            validate,
            format,
            formats,
            filters,
        })
    }

    /// Whether every file is a load test that records TTFT (per-request logs, sweep tables,
    /// production observations): those are calibrated through the simulator by default.
    pub fn are_load_tests(&self) -> bool {
        self.formats.iter().all(|f| {
            matches!(
                f,
                SourceFormat::Sweep | SourceFormat::Lmbench | SourceFormat::Prometheus
            )
        })
    }

    /// What the first readable production-observations file says of the deployment: its
    /// model, accelerator and KV capacity.
    fn observed(&self) -> Option<Observations> {
        self.files
            .iter()
            .zip(&self.formats)
            .filter(|(_, f)| **f == SourceFormat::Prometheus)
            .find_map(|(p, _)| crate::estimate::prometheus::observations(p, &self.filters, 0).ok())
    }
}

/// The paths as the report names them.
fn display_names(paths: &[PathBuf]) -> Vec<String> {
    paths.iter().map(|p| p.display().to_string()).collect()
}

/// What the profile says of itself besides its parameters.
#[derive(Clone, Debug, Default)]
pub struct ProfileLabel {
    /// The model's name (default: what the files say, else `unknown`).
    pub model: Option<String>,
    /// The accelerator's name (default: what the files say, else `unknown`).
    pub accelerator: Option<String>,
    /// GPUs per replica.
    pub gpus_per_replica: u32,
    /// Which rows of the files were read (`model llama2-70b, tp 4`), if filtered.
    pub selection: Option<String>,
}

impl ProfileLabel {
    /// The profile's model and accelerator names: the label's, else what the files say, else
    /// `unknown`, with a warning for each `unknown` (a scenario finds profiles by name).
    fn names(
        &self,
        model_from_files: Option<String>,
        accelerator_from_files: Option<String>,
    ) -> (String, String, Vec<&'static str>) {
        let mut warnings = Vec::new();
        let model = self.model.clone().or(model_from_files).unwrap_or_else(|| {
            warnings.push("no --model and the files do not name one: the profile's model is `unknown`; give --model NAME (a scenario finds profiles by model name)");
            "unknown".into()
        });
        let accelerator = self
            .accelerator
            .clone()
            .or(accelerator_from_files)
            .unwrap_or_else(|| {
                warnings.push("no --accelerator (or --hardware): the profile's accelerator is `unknown`; give --accelerator NAME (a scenario finds profiles by accelerator name)");
                "unknown".into()
            });
        (model, accelerator, warnings)
    }

    fn info(
        &self,
        model: String,
        accelerator: String,
        max_batch: u32,
        files: &[String],
    ) -> ProfileInfo {
        ProfileInfo {
            model,
            accelerator,
            gpus_per_replica: self.gpus_per_replica,
            max_batch,
            files: files.to_vec(),
            selection: self.selection.clone(),
        }
    }
}

/// Per-request logs that look saturated (a queue that grows through the run) mislead a fit of
/// iteration times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaturatedRuns {
    /// Leave them out of the fit and predict them as validation files.
    Predict,
    /// Fit them with the rest.
    Fit,
}

/// A direct fit of iteration times.
#[derive(Clone, Debug)]
pub struct DirectRequest {
    /// The files.
    pub sources: Sources,
    /// The model and the loss.
    pub options: FitOptions,
    /// Fit on a random share of the observations and report the error on the rest.
    pub holdout_share: Option<f64>,
    /// Seed of the hold-out split.
    pub seed: u64,
    /// What to do with saturated per-request logs.
    pub saturated: SaturatedRuns,
    /// The profile's max batch (default: the largest batch of a table of batch sizes; vLLM's
    /// 256 for load tests, whose concurrency is not a limit).
    pub max_batch: Option<u32>,
    /// The profile's names.
    pub label: ProfileLabel,
}

/// What a fit gives: the profile, its report, and what to warn about when the profile goes
/// out.
#[derive(Debug)]
pub struct Estimate<R> {
    /// The profile, YAML with comments.
    pub profile_yaml: String,
    /// The fit or calibration report.
    pub report: R,
    /// Warnings on the profile's names (`unknown`), to show when the profile is written.
    pub name_warnings: Vec<&'static str>,
}

/// A direct fit's result, and the observations it was fitted on (for a plot).
#[derive(Debug)]
pub struct DirectOutcome {
    /// The profile and the report.
    pub estimate: Estimate<EstimateReport>,
    /// The observations fitted.
    pub fitted: Vec<Observation>,
}

/// Fits `request.options.model` to the iterations the files record; notes (saturated runs
/// left out, rows dropped) go to `listener`, the fit's own warnings and notes are in the
/// report.
pub fn fit_direct(
    mut request: DirectRequest,
    listener: &dyn Listener,
) -> Result<DirectOutcome, Error> {
    let sources = &mut request.sources;
    if request.saturated == SaturatedRuns::Predict {
        let (kept, saturated) =
            crate::estimate::load_tests::split_saturated(&sources.files, &sources.formats)?;
        if !saturated.is_empty() && !kept.is_empty() {
            for (path, why) in &saturated {
                listener.note(&format!(
                    "{} looks saturated ({why}): left out of the fit and predicted as a validation file (--keep-saturated fits it, --calibrate fits through the simulator)",
                    path.display()
                ));
                sources.validate.push(path.clone());
            }
            sources.files = kept;
        }
    }
    let sources = &request.sources;
    let files = display_names(&sources.files);
    let readings = read_all(&sources.files, sources.format, &sources.filters)?;
    for n in &readings.notes {
        listener.note(n);
    }
    let observations = readings.observations;
    let (fitted, held) = match request.holdout_share {
        Some(_) if observations.len() < 2 => {
            return Err(request_error!(
                Field("holdout_share"),
                format!(
                    " needs at least 2 observations; the files have {}",
                    observations.len()
                )
            )
            .into());
        }
        Some(share) => {
            let (f, h) = split(observations, share, request.seed);
            (f, Some(h))
        }
        None => (observations, None),
    };
    let result = fit(&fitted, &request.options)?;
    let in_sample = evaluate(&result.params, &fitted, &files);
    let holdout = held.map(|h| evaluate(&result.params, &h, &files));
    let validation = if sources.validate.is_empty() {
        None
    } else {
        let names = display_names(&sources.validate);
        let obs = read_all(&sources.validate, sources.format, &sources.filters)?.observations;
        Some(evaluate(&result.params, &obs, &names))
    };

    let seen = sources.observed();
    let (model, accelerator, name_warnings) = request.label.names(
        readings
            .model
            .clone()
            .or(seen.as_ref().map(|o| o.model.clone())),
        seen.and_then(|o| o.accelerator),
    );
    // Load-test results show the concurrency the load produced, not the engine's limit: for
    // them the default is vLLM's own (`--max-num-seqs` 256); tables of batch sizes give theirs.
    let from_load_tests = readings.formats.iter().any(|f| {
        matches!(
            f,
            SourceFormat::Lmbench
                | SourceFormat::VllmBench
                | SourceFormat::Guidellm
                | SourceFormat::Prometheus
        )
    });
    let max_batch = request.max_batch.unwrap_or_else(|| {
        if from_load_tests {
            return DEFAULT_MAX_NUM_SEQS;
        }
        let largest = fitted.iter().map(|o| o.batch).fold(1.0, f64::max);
        largest.ceil().min(f64::from(MAX_BATCH)) as u32
    });
    let profile_yaml = profile_yaml(
        &result,
        &request.label.info(model, accelerator, max_batch, &files),
    );
    Ok(DirectOutcome {
        estimate: Estimate {
            profile_yaml,
            report: EstimateReport {
                files,
                fit: result,
                in_sample,
                holdout,
                validation,
            },
            name_warnings,
        },
        fitted,
    })
}

/// A calibration through the simulator.
#[derive(Clone, Debug)]
pub struct CalibrateRequest {
    /// The files.
    pub sources: Sources,
    /// The model to calibrate: gen 2 or gen 3.
    pub model: PerfModelKind,
    /// The engine's token budget (default: chosen among vLLM's defaults).
    pub max_num_batched_tokens: Option<u32>,
    /// The engine's max batch, vLLM `--max-num-seqs` (default 256).
    pub max_num_seqs: Option<u32>,
    /// KV capacity per replica, tokens (default: observed, else fitted where a run fills it).
    pub kv_capacity_tokens: Option<u64>,
    /// Seed of the search and of the simulated runs.
    pub seed: u64,
    /// The profile's names.
    pub label: ProfileLabel,
}

/// Calibrates the parameters (and the token budget and KV capacity, unless given) that make
/// the simulator reproduce the files' runs, and predicts the validation files with them.
pub fn calibrate(
    request: &CalibrateRequest,
    listener: &dyn Listener,
) -> Result<Estimate<CalibrationReport>, Error> {
    if request.model == PerfModelKind::V1 {
        return Err(request_error!(
            "calibration fits wva-v2 or wva-v3 parameters; drop ",
            Field("perf_model"),
            " wva-v1"
        )
        .into());
    }
    let sources = &request.sources;
    // Observations from production carry the KV usage, which gives the capacity.
    let seen = sources.observed();
    let observed_kv = seen.as_ref().and_then(|o| o.kv_capacity);
    if let (None, Some((tokens, steps))) = (request.kv_capacity_tokens, observed_kv) {
        listener.note(&format!(
            "KV capacity {tokens} tokens per replica, from the observations' KV usage (median of {steps} steps); --kv-capacity-tokens overrides it"
        ));
    }
    let engine = Engine {
        max_num_seqs: request.max_num_seqs.unwrap_or(DEFAULT_MAX_NUM_SEQS),
        max_num_batched_tokens: request
            .max_num_batched_tokens
            .unwrap_or(DEFAULT_MAX_NUM_BATCHED_TOKENS),
        block_size: crate::perf::DEFAULT_BLOCK_SIZE,
        kv_capacity_tokens: request.kv_capacity_tokens.or(observed_kv.map(|(t, _)| t)),
    };
    let held = if sources.validate.is_empty() {
        None
    } else {
        Some(evidence(
            &sources.validate,
            sources.format,
            &sources.filters,
        )?)
    };
    let search = Search {
        seed: request.seed,
        ..Search::default()
    };
    let (calibration, notes) = calibrate_files(
        &sources.files,
        sources.format,
        &sources.filters,
        request.model,
        engine,
        request.max_num_batched_tokens.is_some(),
        search,
    )?;
    for n in &notes {
        listener.note(n);
    }
    let validation = held.map(|h| {
        evaluate_calibration(
            &h,
            calibration.params,
            Engine {
                kv_capacity_tokens: calibration.kv_capacity_tokens,
                max_num_batched_tokens: calibration.max_num_batched_tokens,
                ..engine
            },
            request.seed,
        )
    });
    let files = display_names(&sources.files);
    let (model, accelerator, name_warnings) = request.label.names(
        seen.as_ref().map(|o| o.model.clone()),
        seen.as_ref().and_then(|o| o.accelerator.clone()),
    );
    let profile_yaml = calibrated_profile_yaml(
        &calibration,
        &request
            .label
            .info(model, accelerator, engine.max_num_seqs, &files),
    );
    Ok(Estimate {
        profile_yaml,
        report: CalibrationReport {
            files,
            calibration,
            validation,
        },
        name_warnings,
    })
}
