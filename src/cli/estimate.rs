//! `wva estimate`: checks which flags go together, lowers them into the request of a direct
//! fit, a calibration or a `tables` profile ([`crate::usecase::estimate`],
//! [`crate::usecase::tables_profile`]), and writes the profile, the report and the plot.

pub use super::estimate_args::{AFTER_HELP, EstimateArgs};
use super::estimate_args::{PerfModelArg, ProfileFormat};
use super::output::{emit, render, write_atomically};
use super::progress::Terminal;
use crate::error::{Error, ExitCode};
use crate::estimate::read::Filters;
use crate::estimate::{Errors, FitOptions, KindWeights, Loss};
use crate::perf::{DEFAULT_MAX_NUM_BATCHED_TOKENS, PerfModelKind};
use crate::report::{calibration_table, estimate_table};
use crate::usecase::estimate::{
    CalibrateRequest, DirectRequest, Estimate, ProfileLabel, SaturatedRuns, Sources, calibrate,
    fit_direct,
};
use crate::usecase::tables_profile::{TablesRequest, tables_profile};
use std::path::PathBuf;

/// `profile_yaml` in `format`.
fn profile_text(profile_yaml: &str, format: ProfileFormat) -> anyhow::Result<String> {
    match format {
        ProfileFormat::Yaml => Ok(profile_yaml.to_string()),
        ProfileFormat::Json => {
            let value: serde_json::Value = serde_yaml::from_str(profile_yaml)
                .map_err(|e| anyhow::anyhow!("converting the profile to JSON: {e}"))?;
            Ok(crate::report::to_json(&value))
        }
    }
}

impl EstimateArgs {
    /// `--out FILE`, with `-` (stdout) as no file.
    fn out_file(&self) -> Option<PathBuf> {
        super::output::out_file(self.out.as_deref()).map(PathBuf::from)
    }

    /// The rows to read.
    fn filters(&self) -> Filters {
        Filters {
            model: self.model.clone(),
            hardware: self.hardware.clone(),
            tp: self.tp,
            framework: self.framework.clone(),
            num_layers: self.num_layers,
            max_num_batched_tokens: self
                .max_num_batched_tokens
                .unwrap_or(DEFAULT_MAX_NUM_BATCHED_TOKENS),
            columns: self.columns.clone().unwrap_or_default(),
            replicas: self.replicas,
        }
    }

    /// The profile's names, and the row filters given, as `model llama2-70b, tp 4`.
    fn label(&self) -> ProfileLabel {
        let mut parts = Vec::new();
        for (name, value) in [
            ("framework", self.framework.clone()),
            ("model", self.model.clone()),
            ("hardware", self.hardware.clone()),
            ("tp", self.tp.map(|t| t.to_string())),
            ("layers", self.num_layers.map(|n| n.to_string())),
            (
                "replicas",
                (self.replicas > 1).then(|| self.replicas.to_string()),
            ),
        ] {
            if let Some(v) = value {
                parts.push(format!("{name} {v}"));
            }
        }
        ProfileLabel {
            model: self.model.clone(),
            accelerator: self.accelerator.clone().or_else(|| self.hardware.clone()),
            gpus_per_replica: self.tp.unwrap_or(1),
            selection: (!parts.is_empty()).then(|| parts.join(", ")),
        }
    }

    /// The flags given among `flags` (name, given).
    fn given<'a>(flags: &[(&'a str, bool)]) -> Vec<&'a str> {
        flags.iter().filter(|(_, g)| *g).map(|(n, _)| *n).collect()
    }
}

/// Runs `wva estimate`.
pub fn run(a: EstimateArgs) -> anyhow::Result<ExitCode> {
    let perf_model = match a.perf_model {
        Some(PerfModelArg::Tables) => return run_tables(&a),
        None if a.cluster_config.is_some() => return run_tables(&a),
        Some(PerfModelArg::Linear(kind)) => kind,
        None => PerfModelKind::V2,
    };
    if a.cluster_config.is_some() || a.model_config.is_some() {
        return Err(Error::Usage(
            "--cluster-config and --model-config describe a `tables` profile; they do not apply to fitting a linear model (drop them, or --perf-model tables)".into(),
        )
        .into());
    }
    let sources = Sources::open(&a.files, &a.validate, a.format, a.filters())?;
    // Load tests that record TTFT are calibrated through the simulator by default.
    let load_tests = sources.are_load_tests();
    if a.direct && !load_tests {
        return Err(Error::Usage(
            "--direct applies to per-request logs and sweep tables (the other formats are fitted directly already)".into(),
        )
        .into());
    }
    if a.calibrate || (load_tests && !a.direct) {
        let direct_only = EstimateArgs::given(&[
            ("--holdout", a.holdout.is_some()),
            ("--robust", a.robust),
            ("--absolute", a.absolute),
            ("--unbalanced", a.unbalanced),
            ("--strict", a.strict),
            ("--plot", a.plot.is_some()),
            ("--keep-saturated", a.keep_saturated),
        ]);
        if let Some(flag) = direct_only.first() {
            return Err(Error::Usage(format!(
                "{flag} applies to the direct fit; these files are calibrated through the simulator by default: add --direct"
            ))
            .into());
        }
        // Calibration chooses the token budget, which gen 3 carries into the profile.
        let request = CalibrateRequest {
            sources,
            model: a.perf_model.map_or(PerfModelKind::V3, |_| perf_model),
            max_num_batched_tokens: a.max_num_batched_tokens,
            max_num_seqs: a.max_batch,
            kv_capacity_tokens: a.kv_capacity_tokens,
            seed: a.seed,
            label: a.label(),
        };
        let estimate = calibrate(&request, &Terminal::default())?;
        deliver(&a, &estimate, false, || Ok(()), calibration_table)?;
        return Ok(ExitCode::Success);
    }
    if a.kv_capacity_tokens.is_some() {
        return Err(Error::Usage("--kv-capacity-tokens applies with --calibrate".into()).into());
    }
    let request = DirectRequest {
        sources,
        options: FitOptions {
            model: perf_model,
            loss: if a.robust { Loss::Huber } else { Loss::Squares },
            errors: if a.absolute {
                Errors::Absolute
            } else {
                Errors::Relative
            },
            kinds: if a.unbalanced {
                KindWeights::AsMeasured
            } else {
                KindWeights::Balanced
            },
            max_num_batched_tokens: a
                .max_num_batched_tokens
                .unwrap_or(DEFAULT_MAX_NUM_BATCHED_TOKENS),
        },
        holdout_share: a.holdout,
        seed: a.seed,
        saturated: if a.keep_saturated {
            SaturatedRuns::Fit
        } else {
            SaturatedRuns::Predict
        },
        max_batch: a.max_batch,
        label: a.label(),
    };
    let outcome = fit_direct(request, &Terminal::default())?;
    let fit = &outcome.estimate.report.fit;
    for w in &fit.warnings {
        super::say::warning(format_args!("{w}"));
    }
    for n in &fit.notes {
        super::say::note(format_args!("{n}"));
    }
    // Under --strict, parameters the data cannot determine are not written anywhere.
    let refused = a.strict && fit.unidentifiable();
    let plot = || match &a.plot {
        Some(path) => crate::report::fit_plot(path, &outcome.fitted, fit)
            .map_err(|e| Error::Usage(format!("{:#}", anyhow::Error::from(e))).into()),
        None => Ok(()),
    };
    deliver(&a, &outcome.estimate, refused, plot, estimate_table)?;
    if refused {
        return Err(Error::Infeasible(
            "the parameters are not identifiable from these data (--strict): no profile written"
                .into(),
        )
        .into());
    }
    Ok(ExitCode::Success)
}

/// Writes what a fit gives: unless `refused` (under `--strict`), the warnings on the profile's
/// names, the plot (`draw`) and the profile, to `--out` or (without `--report`) to stdout;
/// and the report with `--report`.
fn deliver<R: serde::Serialize>(
    a: &EstimateArgs,
    estimate: &Estimate<R>,
    refused: bool,
    draw: impl FnOnce() -> anyhow::Result<()>,
    table: fn(&R) -> String,
) -> anyhow::Result<()> {
    if !refused {
        if a.out_file().is_some() || a.report.is_none() {
            for w in &estimate.name_warnings {
                super::say::warning(w);
            }
        }
        draw()?;
        if let Some(path) = a.out_file() {
            write_atomically(
                &path,
                profile_text(&estimate.profile_yaml, a.output)?.as_bytes(),
            )?;
        }
    }
    match a.report {
        Some(format) => emit(&render(format, &estimate.report, table)),
        None if a.out_file().is_none() && !refused => {
            emit(&profile_text(&estimate.profile_yaml, a.output)?)
        }
        None => Ok(()),
    }
}

/// `wva estimate --perf-model tables`: a profile pointing at the profiler's tables.
fn run_tables(a: &EstimateArgs) -> anyhow::Result<ExitCode> {
    let fit_flags = EstimateArgs::given(&[
        ("--report", a.report.is_some()),
        ("--plot", a.plot.is_some()),
        ("--validate", !a.validate.is_empty()),
        ("--holdout", a.holdout.is_some()),
        ("--robust", a.robust),
        ("--absolute", a.absolute),
        ("--unbalanced", a.unbalanced),
        ("--strict", a.strict),
        ("--columns", a.columns.is_some()),
    ]);
    if !fit_flags.is_empty() {
        return Err(Error::Usage(format!(
            "{}: a `tables` profile is not fitted, so these do not apply",
            fit_flags.join(", ")
        ))
        .into());
    }
    let out = a.out_file();
    // Paths in the profile are relative to its file's folder (to the current one on stdout).
    let out_dir = out
        .as_ref()
        .and_then(|p| p.parent().map(PathBuf::from))
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let request = TablesRequest {
        files: a.files.clone(),
        format: a.format,
        cluster_config: a.cluster_config.clone(),
        model_config: a.model_config.clone(),
        model: a.model.clone(),
        accelerator: a.accelerator.clone().or_else(|| a.hardware.clone()),
        tp: a.tp,
        num_layers: a.num_layers,
        max_batch: a.max_batch,
        max_num_batched_tokens: a.max_num_batched_tokens,
        gpu_memory_utilization: a.gpu_memory_utilization,
        gpu_memory_gb: a.gpu_memory_gb,
        interconnect: a.interconnect,
        out_dir,
    };
    let yaml = tables_profile(&request, &Terminal::default())?;
    super::output::write_out(out.as_deref(), &profile_text(&yaml, a.output)?)?;
    Ok(ExitCode::Success)
}
