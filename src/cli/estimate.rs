//! `wva estimate`: reads benchmark files, fits a perf model's parameters, and writes the
//! profile, the fit report, a plot, and how well the fit predicts held-out or other files.

use super::args;
use super::output::{DocFormat, emit, render, write_atomically};
use crate::error::{Error, ExitCode};
use crate::estimate::check::{evaluate, split};
use crate::estimate::profile::{ProfileInfo, profile_yaml};
use crate::estimate::read::{ColumnMap, Filters, MAX_BATCH, SourceFormat, read_all};
use crate::estimate::{Errors, Fit, FitOptions, Kind, KindWeights, Loss, Observation, fit};
use crate::perf::{DEFAULT_MAX_NUM_BATCHED_TOKENS, PerfModelKind};
use crate::report::{EstimateReport, estimate_table};
use clap::Args;
use std::path::PathBuf;

pub const AFTER_HELP: &str = "\
Formats (detected from the file name, header or JSON keys; or --format):
  lmbench                 llm-d-benchmark / LMBench per-request CSV, one file per request rate
  splitwise               Splitwise perf_model.csv (per-iteration prefill and decode times)
  llmservingsim-profile   LLMServingSim profiler folder (attention.csv, dense.csv; --num-layers),
                          or with --cluster-config / --perf-model tables: a `tables` profile
  argonne                 Argonne LLM-Inference-Bench All_results.csv (whole static batches)
  vllm-bench              vLLM benchmark_serving.py --save-result JSON
  guidellm                GuideLLM JSON report
  csv                     any CSV of iteration times (--columns batch=bs,time_ms=itl,...)
  sweep                   a load sweep's summary, one row per run: concurrency or rate_rps,
                          prompt_tokens, output_tokens (or shape 1024x512), ttft_ms (or
                          ttft_p50_ms, ...), tpot_ms or itl_ms (--columns concurrency=clients,...)
  prometheus              `wva observe --observations-out`: a variant's steps in production,
                          grouped into load levels (docs/observe.md)

Per-request logs (lmbench), sweep tables and observations are calibrated through the simulator
by default: every log is replayed and every row rerun as its benchmark ran, and the parameters
(with the token budget, unless --max-num-batched-tokens gives it, and the KV capacity where a
run fills it) are searched to match TTFT and TPOT; the profile is wva-v3, which carries the
budget.
--direct fits decode times instead (runs that look saturated are then left to validation).

Without -o the profile YAML goes to stdout; --report prints the fit table instead.
Exit codes: 0 fitted (warnings on stderr), 2 bad input, 3 parameters not identifiable with
--strict.

A `tables` profile (--perf-model tables, the default with --cluster-config) is not fitted:
it points at the profiler's tables and the model's config.json, with the deployment
(TP/EP/DP, interconnect, GPU memory) from LLMServingSim's cluster config, and the simulator
composes every iteration from the tables as the engine runs them.

Examples:
  wva estimate profiler/perf/RTXPRO6000/Qwen/Qwen3-32B/bf16 --format llmservingsim-profile \
      --cluster-config bench/examples/RTXPRO6000/Qwen3-32B/config.json -o qwen3-32b.yaml
  wva estimate perf_model.csv --model llama2-70b --hardware h100-80gb --tp 4 \\
      --accelerator H100 -o llama2-70b-h100.yaml --report
  wva estimate run_qps0.5.csv run_qps0.75.csv --validate run_qps1.0.csv run_qps1.25.csv \\
      --model meta-llama/Llama-3.1-70B-Instruct --accelerator A100 --tp 2 --report
  wva estimate sweep.csv --columns concurrency=clients,tpot_ms=mean_tpot --report
  wva estimate All_results.csv --framework vllm --model llama-3-8b --hardware h100 \\
      --tp 1 --holdout 0.3 --report";

/// Arguments of `wva estimate`.
#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// Benchmark files to fit (a folder of LMBench CSVs stands for its files; a folder for
    /// LLMServingSim profiles)
    #[arg(required = true, value_name = "FILES")]
    pub(super) files: Vec<PathBuf>,
    /// Format of the files (default: detected)
    #[arg(long, value_enum)]
    pub(super) format: Option<SourceFormat>,
    /// Perf model to fit: wva-v1, wva-v2 or wva-v3; or `tables` for a profile that composes
    /// the profiler's tables (default: tables with --cluster-config, else wva-v2)
    #[arg(long, value_parser = perf_model_arg)]
    pub(super) perf_model: Option<PerfModelArg>,
    /// LLMServingSim cluster config (config.json of a run): tensor, expert and data
    /// parallelism, GPU memory and interconnect of the deployment, for a `tables` profile
    #[arg(long, value_name = "FILE")]
    pub(super) cluster_config: Option<PathBuf>,
    /// The model's Hugging Face config.json, for a `tables` profile (default: found in
    /// LLMServingSim's layout, configs/model/<org>/<name>.json above the tables)
    #[arg(long, value_name = "FILE")]
    pub(super) model_config: Option<PathBuf>,
    /// vLLM's --gpu-memory-utilization, for the KV capacity of a `tables` profile (LLMServingSim's
    /// mem_util is a calibration of its own, not read)
    #[arg(long, value_parser = utilization, default_value_t = crate::perf::memory::DEFAULT_GPU_MEMORY_UTILIZATION)]
    pub(super) gpu_memory_utilization: f64,
    /// GPU memory, GB, for the KV capacity of a `tables` profile without --cluster-config
    #[arg(long, value_parser = args::positive)]
    pub(super) gpu_memory_gb: Option<f64>,
    /// The link between the GPUs of a `tables` profile without --cluster-config: a generation
    /// (nvlink3, nvlink4, nvlink5, pcie4, pcie5, infinity-fabric) or BANDWIDTH_GB_S,LATENCY_US
    #[arg(long, value_parser = interconnect_arg)]
    pub(super) interconnect: Option<crate::perf::Interconnect>,

    /// Rows of this model (multi-model files); also the profile's model name
    #[arg(long)]
    pub(super) model: Option<String>,
    /// Rows of this hardware (multi-hardware files)
    #[arg(long)]
    pub(super) hardware: Option<String>,
    /// Rows of this tensor-parallel degree / GPU count; also the profile's GPUs per replica
    #[arg(long, value_parser = args::positive_int)]
    pub(super) tp: Option<u32>,
    /// Rows of this serving framework (Argonne: vLLM, TensorRT-LLM, ...)
    #[arg(long)]
    pub(super) framework: Option<String>,
    /// LLMServingSim profiles: decoder layers of the model (the profiler times one layer)
    #[arg(long, value_parser = args::positive_int)]
    pub(super) num_layers: Option<u32>,
    /// Per-request logs of a fleet: replicas the requests were spread over
    #[arg(long, value_parser = args::replicas, default_value = "1")]
    pub(super) replicas: u32,
    /// Generic CSV: where each quantity is, quantity=column pairs (batch, time_ms,
    /// context_tokens, kv_tokens, prefill_tokens, iterations)
    #[arg(long)]
    pub(super) columns: Option<ColumnMap>,
    /// The engine's per-iteration token budget (vLLM --max-num-batched-tokens): how prefills
    /// of static batches split, and wva-v3's budget (default 8192); for a `tables` profile, the
    /// engine's budget (default: the cluster config's, else the one the tables were profiled at)
    #[arg(long, value_parser = args::positive_int)]
    pub(super) max_num_batched_tokens: Option<u32>,

    /// Down-weight outliers (Huber weights, iteratively reweighted)
    #[arg(long)]
    pub(super) robust: bool,
    /// Minimise absolute errors in ms (default: relative errors, so short and long
    /// measurements count alike)
    #[arg(long)]
    pub(super) absolute: bool,
    /// Weigh every observation alike (default: each kind of observation, such as decode,
    /// prefill and mixed iterations, carries the same total weight, however many of each the
    /// data has)
    #[arg(long)]
    pub(super) unbalanced: bool,
    /// Fit on a random share of the observations and report the error on the rest (0 < F < 1)
    #[arg(long, value_parser = holdout_share)]
    pub(super) holdout: Option<f64>,
    /// Files to predict with the fitted parameters, not fitted (e.g. higher request rates)
    #[arg(long, num_args = 1.., value_name = "FILES")]
    pub(super) validate: Vec<PathBuf>,
    /// Seed of the hold-out split
    #[arg(long, default_value = "1")]
    pub(super) seed: u64,
    /// Exit 3 when the parameters are not identifiable from the data
    #[arg(long)]
    pub(super) strict: bool,

    /// Fit through the simulator: replay every per-request log (its arrivals and tokens) and
    /// run every summary row as its benchmark did (closed loop at its concurrency, or arrivals
    /// at its rate), and search the parameters that match TTFT and TPOT together. The default
    /// for per-request logs and sweep tables; vllm-bench and guidellm results are fitted
    /// directly unless it is given
    #[arg(long, conflicts_with_all = ["holdout", "robust", "absolute", "unbalanced", "strict", "plot"])]
    pub(super) calibrate: bool,
    /// Per-request logs and sweep tables: fit decode times directly (a linear model of the
    /// iterations, no queueing, TTFT unused) instead of calibrating
    #[arg(long, conflicts_with = "calibrate")]
    pub(super) direct: bool,
    /// KV-cache capacity per replica, tokens, for calibration (default: fitted, and written
    /// only when the runs determine it)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub(super) kv_capacity_tokens: Option<u64>,
    /// Per-request logs: fit the runs that look saturated too (default: the direct fit leaves
    /// them out and predicts them as validation files; calibration keeps them)
    #[arg(long)]
    pub(super) keep_saturated: bool,

    /// Write the profile to this file instead of stdout (`-`: stdout)
    #[arg(long, value_name = "FILE")]
    pub(super) out: Option<PathBuf>,
    /// Format of the profile: yaml (commented) or json; `wva plan` and `wva simulate` read both
    #[arg(short = 'o', long, value_enum, default_value_t = ProfileFormat::Yaml)]
    pub(super) output: ProfileFormat,
    /// Print the fit report (parameters with uncertainty, fit quality, worst residuals)
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "table")]
    pub(super) report: Option<DocFormat>,
    /// Draw measured vs fitted times and the residuals (PNG, or SVG by extension)
    #[arg(long, value_name = "FILE", value_parser = args::plot_path)]
    pub(super) plot: Option<PathBuf>,
    /// The profile's accelerator name (default: --hardware, else `unknown`)
    #[arg(long)]
    pub(super) accelerator: Option<String>,
    /// The profile's max batch, vLLM --max-num-seqs (default: the largest batch in a table of
    /// batch sizes; 256, vLLM's default, for load tests, whose concurrency is not a limit)
    #[arg(long, value_parser = max_batch_value)]
    pub(super) max_batch: Option<u32>,
}

/// `--perf-model`: a linear model to fit, or `tables`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfModelArg {
    /// Fit this linear model.
    Linear(PerfModelKind),
    /// Write a `tables` profile.
    Tables,
}

fn perf_model_arg(text: &str) -> Result<PerfModelArg, String> {
    if text.trim().eq_ignore_ascii_case("tables") {
        return Ok(PerfModelArg::Tables);
    }
    PerfModelKind::parse(text)
        .map(PerfModelArg::Linear)
        .ok_or_else(|| {
            format!("unknown perf model `{text}`; known: wva-v1, wva-v2, wva-v3, tables")
        })
}

fn interconnect_arg(text: &str) -> Result<crate::perf::Interconnect, String> {
    if let Some(link) = crate::perf::Interconnect::named(text) {
        return Ok(link);
    }
    let parsed = text.split_once(',').and_then(|(b, l)| {
        let (b, l) = (b.trim().parse::<f64>().ok()?, l.trim().parse::<f64>().ok()?);
        (b.is_finite() && b > 0.0 && l.is_finite() && l >= 0.0).then_some((b, l))
    });
    parsed
        .map(|(bandwidth_gb_s, latency_us)| crate::perf::Interconnect {
            bandwidth_gb_s,
            latency_us,
        })
        .ok_or_else(|| {
            format!("`{text}`: a generation (nvlink3, nvlink4, nvlink5, pcie4, pcie5, infinity-fabric) or BANDWIDTH_GB_S,LATENCY_US (e.g. 40,5)")
        })
}

fn utilization(text: &str) -> Result<f64, String> {
    let v = args::positive(text)?;
    if v > 1.0 {
        return Err(format!("a fraction in (0, 1], got {text}"));
    }
    Ok(v)
}

fn max_batch_value(text: &str) -> Result<u32, String> {
    let v = args::positive_int(text)?;
    if v > MAX_BATCH {
        return Err(format!("at most {MAX_BATCH}, got {v}"));
    }
    Ok(v)
}

fn holdout_share(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!(
            "the held-out share must be between 0 and 1, got {text}"
        ))
    }
}

/// `-o/--output`: the format of the written profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileFormat {
    /// YAML, with comments on where the parameters came from.
    Yaml,
    /// JSON (the same fields; YAML readers read it too).
    Json,
}

/// `profile_yaml` in `format`.
pub(super) fn profile_text(profile_yaml: &str, format: ProfileFormat) -> anyhow::Result<String> {
    match format {
        ProfileFormat::Yaml => Ok(profile_yaml.to_string()),
        ProfileFormat::Json => {
            let value: serde_json::Value = serde_yaml::from_str(profile_yaml)
                .map_err(|e| anyhow::anyhow!("converting the profile to JSON: {e}"))?;
            Ok(crate::report::to_json(&value))
        }
    }
}

/// The profile's model and accelerator names: the flags, else what the files say, else
/// `unknown`. The warnings for `unknown` are returned, to be shown when a profile is written or
/// printed (a profile matches a scenario's models and accelerators by name; a report alone,
/// or a refused fit, needs no names).
pub(super) fn profile_names(
    a: &EstimateArgs,
    from_files: Option<String>,
    accelerator_from_files: Option<String>,
) -> (String, String, Vec<&'static str>) {
    let mut warnings = Vec::new();
    let model = a.model.clone().or(from_files).unwrap_or_else(|| {
        warnings.push("no --model and the files do not name one: the profile's model is `unknown`; give --model NAME (a scenario finds profiles by model name)");
        "unknown".into()
    });
    let accelerator = a
        .accelerator
        .clone()
        .or_else(|| a.hardware.clone())
        .or(accelerator_from_files)
        .unwrap_or_else(|| {
            warnings.push("no --accelerator (or --hardware): the profile's accelerator is `unknown`; give --accelerator NAME (a scenario finds profiles by accelerator name)");
            "unknown".into()
        });
    (model, accelerator, warnings)
}

/// What the first readable `prometheus` file among `files` says of the deployment: its model,
/// accelerator and KV capacity.
pub(super) fn observed(
    files: &[PathBuf],
    formats: &[SourceFormat],
    filters: &Filters,
) -> Option<crate::estimate::prometheus::Observations> {
    files
        .iter()
        .zip(formats)
        .filter(|(_, f)| **f == SourceFormat::Prometheus)
        .find_map(|(p, _)| crate::estimate::prometheus::observations(p, filters, 0).ok())
}

/// Shows the name warnings of [`profile_names`] when the profile goes out (to `--out`, or to
/// stdout without `--report`).
pub(super) fn warn_names(a: &EstimateArgs, warnings: &[&str]) {
    if a.out_file().is_some() || a.report.is_none() {
        for w in warnings {
            super::say::warning(w);
        }
    }
}

impl EstimateArgs {
    /// `--out FILE`, with `-` (stdout) as no file.
    pub(super) fn out_file(&self) -> Option<PathBuf> {
        super::output::out_file(self.out.as_deref()).map(PathBuf::from)
    }

    /// What a `tables` profile takes from the arguments.
    fn tables_args(&self) -> super::estimate_tables::TablesArgs {
        super::estimate_tables::TablesArgs {
            files: self.files.clone(),
            format: self.format,
            cluster_config: self.cluster_config.clone(),
            model_config: self.model_config.clone(),
            model: self.model.clone(),
            accelerator: self.accelerator.clone().or_else(|| self.hardware.clone()),
            tp: self.tp,
            num_layers: self.num_layers,
            max_batch: self.max_batch,
            max_num_batched_tokens: self.max_num_batched_tokens,
            gpu_memory_utilization: self.gpu_memory_utilization,
            gpu_memory_gb: self.gpu_memory_gb,
            interconnect: self.interconnect,
            out: self.out_file(),
            output: self.output,
            fit_flags: [
                ("--report", self.report.is_some()),
                ("--plot", self.plot.is_some()),
                ("--validate", !self.validate.is_empty()),
                ("--holdout", self.holdout.is_some()),
                ("--robust", self.robust),
                ("--absolute", self.absolute),
                ("--unbalanced", self.unbalanced),
                ("--strict", self.strict),
                ("--columns", self.columns.is_some()),
            ]
            .iter()
            .filter(|(_, given)| *given)
            .map(|(name, _)| *name)
            .collect(),
        }
    }
}

/// The row filters given, as `model llama2-70b, tp 4`.
pub(super) fn selection(a: &EstimateArgs) -> Option<String> {
    let mut parts = Vec::new();
    for (name, value) in [
        ("framework", a.framework.clone()),
        ("model", a.model.clone()),
        ("hardware", a.hardware.clone()),
        ("tp", a.tp.map(|t| t.to_string())),
        ("layers", a.num_layers.map(|n| n.to_string())),
        ("replicas", (a.replicas > 1).then(|| a.replicas.to_string())),
    ] {
        if let Some(v) = value {
            parts.push(format!("{name} {v}"));
        }
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

pub(super) fn display_names(paths: &[PathBuf]) -> Vec<String> {
    paths.iter().map(|p| p.display().to_string()).collect()
}

/// Runs `wva estimate`.
pub fn run(a: EstimateArgs) -> anyhow::Result<ExitCode> {
    let perf_model = match a.perf_model {
        Some(PerfModelArg::Tables) => return super::estimate_tables::run(&a.tables_args()),
        None if a.cluster_config.is_some() => {
            return super::estimate_tables::run(&a.tables_args());
        }
        Some(PerfModelArg::Linear(kind)) => kind,
        None => PerfModelKind::V2,
    };
    if a.cluster_config.is_some() || a.model_config.is_some() {
        return Err(Error::Usage(
            "--cluster-config and --model-config describe a `tables` profile; they do not apply to fitting a linear model (drop them, or --perf-model tables)".into(),
        )
        .into());
    }
    let filters = Filters {
        model: a.model.clone(),
        hardware: a.hardware.clone(),
        tp: a.tp,
        framework: a.framework.clone(),
        num_layers: a.num_layers,
        max_num_batched_tokens: a
            .max_num_batched_tokens
            .unwrap_or(DEFAULT_MAX_NUM_BATCHED_TOKENS),
        columns: a.columns.clone().unwrap_or_default(),
        replicas: a.replicas,
    };
    let mut a = a;
    a.files = expand_folders(&a.files, a.format).map_err(Error::Usage)?;
    a.validate = expand_folders(&a.validate, a.format).map_err(Error::Usage)?;
    let formats: Vec<SourceFormat> = a
        .files
        .iter()
        .map(|p| a.format.map_or_else(|| SourceFormat::detect(p), Ok))
        .collect::<Result<_, _>>()
        .map_err(Error::Usage)?;
    // Load tests that record TTFT are calibrated through the simulator by default.
    let load_tests = formats.iter().all(|f| {
        matches!(
            f,
            SourceFormat::Sweep | SourceFormat::Lmbench | SourceFormat::Prometheus
        )
    });
    if a.direct && !load_tests {
        return Err(Error::Usage(
            "--direct applies to per-request logs and sweep tables (the other formats are fitted directly already)".into(),
        )
        .into());
    }
    if a.calibrate || (load_tests && !a.direct) {
        let direct_only = [
            ("--holdout", a.holdout.is_some()),
            ("--robust", a.robust),
            ("--absolute", a.absolute),
            ("--unbalanced", a.unbalanced),
            ("--strict", a.strict),
            ("--plot", a.plot.is_some()),
            ("--keep-saturated", a.keep_saturated),
        ];
        if let Some((flag, _)) = direct_only.iter().find(|(_, given)| *given) {
            return Err(Error::Usage(format!(
                "{flag} applies to the direct fit; these files are calibrated through the simulator by default: add --direct"
            ))
            .into());
        }
        // Calibration chooses the token budget, which gen 3 carries into the profile.
        let model = match a.perf_model {
            None => PerfModelKind::V3,
            Some(_) => perf_model,
        };
        return super::estimate_calibrate::run(&a, model, &filters, &formats);
    }
    if a.kv_capacity_tokens.is_some() {
        return Err(Error::Usage("--kv-capacity-tokens applies with --calibrate".into()).into());
    }
    // Per-request runs that look saturated are left to validation.
    if !a.keep_saturated {
        let (kept, saturated) = crate::estimate::load_tests::split_saturated(&a.files, &formats)
            .map_err(Error::Usage)?;
        if !saturated.is_empty() && !kept.is_empty() {
            for (path, why) in &saturated {
                super::say::note(format_args!(
                    "{} looks saturated ({why}): left out of the fit and predicted as a validation file (--keep-saturated fits it, --calibrate fits through the simulator)",
                    path.display()
                ));
                a.validate.push(path.clone());
            }
            a.files = kept;
        }
    }
    let files = display_names(&a.files);
    let readings = read_all(&a.files, a.format, &filters).map_err(Error::Usage)?;
    for n in &readings.notes {
        super::say::note(format_args!("{n}"));
    }
    let observations = readings.observations;
    let (fitted, held) = match a.holdout {
        Some(_) if observations.len() < 2 => {
            return Err(Error::Usage(format!(
                "--holdout needs at least 2 observations; the files have {}",
                observations.len()
            ))
            .into());
        }
        Some(share) => {
            let (f, h) = split(observations, share, a.seed);
            (f, Some(h))
        }
        None => (observations, None),
    };
    let options = FitOptions {
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
    };
    let result = fit(&fitted, &options).map_err(|e| Error::Usage(e.to_string()))?;
    let in_sample = evaluate(&result.params, &fitted, &files);
    let holdout = held.map(|h| evaluate(&result.params, &h, &files));
    let validation = if a.validate.is_empty() {
        None
    } else {
        let names = display_names(&a.validate);
        let obs = read_all(&a.validate, a.format, &filters)
            .map_err(Error::Usage)?
            .observations;
        Some(evaluate(&result.params, &obs, &names))
    };

    let seen = observed(&a.files, &formats, &filters);
    let (model, accelerator, name_warnings) = profile_names(
        &a,
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
    let max_batch = a.max_batch.unwrap_or_else(|| {
        if from_load_tests {
            return 256;
        }
        let largest = fitted.iter().map(|o| o.batch).fold(1.0, f64::max);
        largest.ceil().min(f64::from(MAX_BATCH)) as u32
    });
    let yaml = profile_yaml(
        &result,
        &ProfileInfo {
            model,
            accelerator,
            gpus_per_replica: a.tp.unwrap_or(1),
            max_batch,
            files: files.clone(),
            selection: selection(&a),
        },
    );
    for w in &result.warnings {
        super::say::warning(format_args!("{w}"));
    }
    for n in &result.notes {
        super::say::note(format_args!("{n}"));
    }
    // Under --strict, parameters the data cannot determine are not written anywhere.
    let refused = a.strict && result.unidentifiable();
    if !refused {
        warn_names(&a, &name_warnings);
        if let Some(path) = &a.plot {
            draw(path, &fitted, &result).map_err(|e| Error::Usage(format!("{e:#}")))?;
        }
        if let Some(path) = a.out_file() {
            write_atomically(&path, profile_text(&yaml, a.output)?.as_bytes())?;
        }
    }
    let report = EstimateReport {
        files,
        fit: result,
        in_sample,
        holdout,
        validation,
    };
    match a.report {
        Some(format) => emit(&render(format, &report, estimate_table))?,
        None if a.out_file().is_none() && !refused => emit(&profile_text(&yaml, a.output)?)?,
        None => {}
    }
    if refused {
        return Err(Error::Infeasible(
            "the parameters are not identifiable from these data (--strict): no profile written"
                .into(),
        )
        .into());
    }
    Ok(ExitCode::Success)
}

/// Every folder of per-request logs (LMBench CSVs) replaced by its CSV files, in name order;
/// other paths (files, a profiler folder) as they are.
pub(super) fn expand_folders(
    paths: &[PathBuf],
    format: Option<SourceFormat>,
) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        let profiler = ["attention.csv", "dense.csv"]
            .iter()
            .any(|f| p.join(f).exists());
        if !p.is_dir() || profiler || format == Some(SourceFormat::LlmservingsimProfile) {
            out.push(p.clone());
            continue;
        }
        let mut csvs: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| format!("{}: {e}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| f.is_file() && f.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")))
            .collect();
        csvs.sort();
        if csvs.is_empty() {
            return Err(format!(
                "{}: a folder without benchmark CSV files (nor a profiler's attention.csv)",
                p.display()
            ));
        }
        out.extend(csvs);
    }
    Ok(out)
}

/// Measured and fitted mean time per batch size, for each kind, and the relative residuals.
fn draw(path: &std::path::Path, obs: &[Observation], f: &Fit) -> anyhow::Result<()> {
    use crate::report::plot::{Panel, Series, panels};
    use std::collections::BTreeMap;
    let mut kinds: Vec<Kind> = Vec::new();
    for o in obs {
        if !kinds.contains(&o.kind) {
            kinds.push(o.kind);
        }
    }
    let (mut times, mut residuals) = (Vec::new(), Vec::new());
    for (c, k) in kinds.iter().enumerate() {
        // Per batch size (rounded for measured concurrencies): mean measured, mean fitted.
        let mut by_batch: BTreeMap<i64, (f64, f64, f64)> = BTreeMap::new();
        for o in obs.iter().filter(|o| o.kind == *k) {
            let key = (o.batch * 10.0).round() as i64;
            let e = by_batch.entry(key).or_default();
            let fitted = crate::estimate::fit::predict(&f.params, &o.work);
            e.0 += o.time_ms / o.per_unit.max(1e-12);
            e.1 += fitted / o.per_unit.max(1e-12);
            e.2 += 1.0;
        }
        let name = k.name().to_string();
        let point = |(&b, &(m, p, n)): (&i64, &(f64, f64, f64))| (b as f64 / 10.0, m / n, p / n);
        let pts: Vec<(f64, f64, f64)> = by_batch.iter().map(point).collect();
        times.push(Series {
            name: format!("{name}: measured"),
            color: c,
            light: true,
            points: pts.iter().map(|&(b, m, _)| (b, m)).collect(),
        });
        times.push(Series {
            name: format!("{name}: fitted"),
            color: c,
            light: false,
            points: pts.iter().map(|&(b, _, p)| (b, p)).collect(),
        });
        residuals.push(Series {
            name,
            color: c,
            light: false,
            points: pts
                .iter()
                .map(|&(b, m, p)| (b, 100.0 * (p - m) / m))
                .collect(),
        });
    }
    panels(
        path,
        "batch size (or mean concurrency)",
        &[
            Panel {
                title: format!("{} fit: time per unit, ms", f.model.name()),
                y_label: "ms".into(),
                x_label: None,
                series: times,
            },
            Panel {
                title: "residuals (fitted - measured) / measured".into(),
                y_label: "%".into(),
                x_label: None,
                series: residuals,
            },
        ],
    )?;
    Ok(())
}
