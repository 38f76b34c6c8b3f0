//! End to end on LLMServingSim's real vLLM 0.19 runs: a profile fitted by `wva estimate` on
//! that GPU's profiler tables, the engine settings of the run's `meta.json`, the run's
//! requests replayed; TTFT and TPOT against vLLM's, beside LLMServingSim's own published
//! errors on the same runs (`validation/summary.txt`).

use super::md::{Table, ms, pct, rel};
use super::measured::{RunStats, measured, read, replay};
use super::{Check, Options, Section, SectionId, ValidateError, existing};
use crate::estimate::{Filters, FitOptions, KindWeights, SourceFormat, fit, read_observations};
use crate::sim::metrics::Summary;
use crate::sim::{DEFAULT_BLOCK_SIZE, EngineConfig};
use crate::trace::Format;
use serde_json::Value;
use std::path::{Path, PathBuf};

const EXAMPLES: &str = "llmservingsim/bench/examples";
const PROFILES: &str = "llmservingsim/profiler/perf";

/// Decoder layers of the models the runs serve: the profiler times one layer, and the tables
/// do not say how many the real model has (this is the architecture's, from its
/// `config.json` on Hugging Face).
fn num_layers(model: &str) -> Option<u32> {
    match model {
        "meta-llama/Llama-3.1-8B" | "meta-llama/Llama-3.1-8B-Instruct" => Some(32),
        "meta-llama/Llama-3.1-70B" | "meta-llama/Llama-3.1-70B-Instruct" => Some(80),
        "Qwen/Qwen3-32B" => Some(64),
        _ => None,
    }
}

/// One run: where it is and its engine settings.
struct RunSpec {
    gpu: String,
    model: String,
    dir: PathBuf,
    tp: u32,
    max_num_seqs: u32,
    max_num_batched_tokens: u32,
    kv_capacity_tokens: Option<u64>,
    block_size: u32,
}

fn read_json(path: &Path) -> Result<Value, ValidateError> {
    let text = std::fs::read_to_string(path).map_err(|e| ValidateError::input(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| ValidateError::input(path, format!("line {}: {e}", e.line())))
}

fn spec(gpu: &str, dir: &Path) -> Result<RunSpec, ValidateError> {
    let path = dir.join("vllm/meta.json");
    let meta = read_json(&path)?;
    let field = |v: &Value, name: &str| -> Result<u64, ValidateError> {
        v.get(name).and_then(Value::as_u64).ok_or_else(|| {
            ValidateError::input(
                &path,
                format!("engine_kwargs.{name}: missing or not a count"),
            )
        })
    };
    let kwargs = &meta["engine_kwargs"];
    let model = meta["model"]
        .as_str()
        .ok_or_else(|| ValidateError::input(&path, "model: missing"))?
        .to_string();
    let kv = &meta["kv_cache"];
    let block_size = kv["block_size"]
        .as_u64()
        .map_or(DEFAULT_BLOCK_SIZE, |b| b as u32);
    Ok(RunSpec {
        gpu: gpu.into(),
        model,
        dir: dir.to_path_buf(),
        tp: field(kwargs, "tensor_parallel_size")? as u32,
        max_num_seqs: field(kwargs, "max_num_seqs")? as u32,
        max_num_batched_tokens: field(kwargs, "max_num_batched_tokens")? as u32,
        kv_capacity_tokens: kv["num_gpu_blocks"]
            .as_u64()
            .map(|b| b * u64::from(block_size)),
        block_size,
    })
}

/// The `<GPU>/<model>` folders under LLMServingSim's `examples` that `keep` accepts, in name
/// order.
pub(super) fn run_folders(
    examples: &Path,
    keep: impl Fn(&Path) -> bool,
) -> Result<Vec<PathBuf>, ValidateError> {
    let list = |p: &Path| -> Result<Vec<PathBuf>, ValidateError> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| ValidateError::input(p, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        v.sort();
        Ok(v)
    };
    let mut out = Vec::new();
    for gpu in list(examples)? {
        out.extend(list(&gpu)?.into_iter().filter(|m| keep(m)));
    }
    Ok(out)
}

/// Every run with a request log, in name order.
fn runs(options: &Options) -> Result<Vec<RunSpec>, ValidateError> {
    let root = existing(options.data_dir.join(EXAMPLES))?;
    let mut out = Vec::new();
    for model in run_folders(&root, |m| m.join("vllm/requests.jsonl").exists())? {
        let gpu = model.parent().unwrap_or(&root);
        let name = gpu.file_name().and_then(|n| n.to_str()).unwrap_or("");
        out.push(spec(name, &model)?);
    }
    if out.is_empty() {
        return Err(ValidateError::input(
            &root,
            "no run with vllm/requests.jsonl",
        ));
    }
    Ok(out)
}

/// LLMServingSim's published `(metric, vLLM, its simulation)` rows.
pub(super) fn published(path: &Path) -> Result<Vec<(String, f64, f64)>, ValidateError> {
    let text = std::fs::read_to_string(path).map_err(|e| ValidateError::input(path, e))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() == 5
            && let (Ok(v), Ok(s)) = (words[2].parse::<f64>(), words[3].parse::<f64>())
        {
            out.push((format!("{} {}", words[0], words[1]), v, s));
        }
    }
    if out.is_empty() {
        return Err(ValidateError::input(
            path,
            "no `Metric vLLM Sim Diff%` rows",
        ));
    }
    Ok(out)
}

struct Outcome {
    spec: RunSpec,
    observations: usize,
    fit_mape: f64,
    measured: RunStats,
    simulated: RunStats,
    /// The replay with a fit that weighs every observation alike (`--unbalanced`).
    count_weighted: RunStats,
    published: Vec<(String, f64, f64)>,
}

fn run_one(spec: RunSpec, options: &Options) -> Result<Outcome, ValidateError> {
    let tables = existing(
        options
            .data_dir
            .join(PROFILES)
            .join(&spec.gpu)
            .join(&spec.model)
            .join("bf16")
            .join(format!("tp{}", spec.tp)),
    )?;
    let layers = num_layers(&spec.model).ok_or_else(|| {
        ValidateError::input(
            &spec.dir,
            format!(
                "the layer count of {} is not known to wva validate",
                spec.model
            ),
        )
    })?;
    let filters = Filters {
        num_layers: Some(layers),
        max_num_batched_tokens: spec.max_num_batched_tokens,
        ..Filters::default()
    };
    let observations = read_observations(
        std::slice::from_ref(&tables),
        Some(SourceFormat::LlmservingsimProfile),
        &filters,
    )
    .map_err(|e| ValidateError::Input(e.to_string()))?;
    let fit_with = |kinds: KindWeights| {
        fit(
            &observations,
            &FitOptions {
                kinds,
                ..FitOptions::default()
            },
        )
        .map_err(|e| ValidateError::Internal(format!("fit on {}: {e}", tables.display())))
    };
    let fitted = fit_with(KindWeights::Balanced)?;
    let count_weighted = fit_with(KindWeights::AsMeasured)?;
    let engine = |perf: crate::perf::PerfParams| EngineConfig {
        cost: perf.into(),
        max_num_seqs: spec.max_num_seqs,
        max_num_batched_tokens: spec.max_num_batched_tokens,
        kv_capacity_tokens: spec.kv_capacity_tokens,
        block_size: spec.block_size,
        prefix_caching: true,
        noise_cv: 0.0,
    };
    let records = read(&spec.dir.join("vllm/requests.jsonl"), Format::Llmservingsim)?;
    let published = published(&spec.dir.join("validation/summary.txt"))?;
    Ok(Outcome {
        observations: fitted.observations,
        fit_mape: fitted.mape,
        measured: measured(&records),
        simulated: replay(&engine(fitted.params), &records, options.seed)?,
        count_weighted: replay(&engine(count_weighted.params), &records, options.seed)?,
        published,
        spec,
    })
}

pub(super) fn section(options: &Options) -> Result<Section, ValidateError> {
    let outcomes: Vec<Outcome> = runs(options)?
        .into_iter()
        .map(|s| run_one(s, options))
        .collect::<Result<_, _>>()?;
    let mut body = String::from(
        "LLMServingSim's real vLLM 0.19.0 runs (`../shared/data/llmservingsim/bench/examples`): \
300 ShareGPT requests at about 10 req/s, replayed with their own arrival times and token \
counts. For each run, `wva estimate` fits a `wva-v2` profile on that GPU's profiler tables \
(as `wva estimate <tables> --num-layers L` does), the engine settings come from the run's \
`vllm/meta.json` (`max_num_seqs`, `max_num_batched_tokens`, and the KV cache's \
`num_gpu_blocks` x `block_size` where recorded; unlimited where not), and the simulator \
replays `vllm/requests.jsonl` (as `wva simulate --trace requests.jsonl --trace-format \
llmservingsim` does). Measured values are computed from the same request log; \
LLMServingSim's column is its published prediction (`validation/summary.txt`).\n\n",
    );
    let mut checks = Vec::new();
    for o in &outcomes {
        let s = &o.spec;
        body.push_str(&format!(
            "### {} on {} (TP {})\n\n`max_num_seqs` {}, `max_num_batched_tokens` {}, KV cache {}; \
profile fitted on {} iteration shapes of the profiler tables (in-sample MAPE {:.1}%). \
Simulated preemptions: {}.\n\n",
            s.model,
            s.gpu,
            s.tp,
            s.max_num_seqs,
            s.max_num_batched_tokens,
            s.kv_capacity_tokens
                .map_or("not recorded (unlimited)".to_string(), |t| format!(
                    "{t} tokens"
                )),
            o.observations,
            o.fit_mape * 100.0,
            o.simulated.preemptions,
        ));
        let mut t = Table::new(
            &[
                "metric",
                "vLLM ms",
                "wva ms",
                "wva diff",
                "LLMServingSim ms",
                "LLMServingSim diff",
            ],
            "lrrrrr",
        );
        // Each statistic of each latency, with LLMServingSim's name for it.
        let mut rows = Vec::new();
        for (latency, measured, simulated) in [
            ("TTFT", o.measured.ttft_ms, o.simulated.ttft_ms),
            ("TPOT", o.measured.tpot_ms, o.simulated.tpot_ms),
        ] {
            for (stat, theirs, pick) in [
                (
                    "mean",
                    "Mean",
                    (|x: &Summary| x.mean) as fn(&Summary) -> f64,
                ),
                ("p50", "Median", |x| x.p50),
                ("p90", "P90", |x| x.p90),
                ("p99", "P99", |x| x.p99),
            ] {
                rows.push((
                    format!("{latency} {stat}"),
                    pick(&measured),
                    pick(&simulated),
                    format!("{latency} {theirs}"),
                ));
            }
        }
        for (name, m, w, key) in rows {
            let theirs = o.published.iter().find(|p| p.0 == key);
            t.row(vec![
                name,
                ms(m),
                ms(w),
                pct(rel(w, m)),
                theirs.map_or("n/a".into(), |p| ms(p.2)),
                theirs.map_or("n/a".into(), |p| pct(rel(p.2, p.1))),
            ]);
        }
        body.push_str(&t.render());
        body.push('\n');
        checks.push(Check::within(
            format!("LLMServingSim {}: mean TTFT, wva vs vLLM", s.gpu),
            rel(o.simulated.ttft_ms.mean, o.measured.ttft_ms.mean),
            0.10,
        ));
        checks.push(Check::within(
            format!("LLMServingSim {}: mean TPOT, wva vs vLLM", s.gpu),
            rel(o.simulated.tpot_ms.mean, o.measured.tpot_ms.mean),
            0.10,
        ));
    }
    let mut weighting = Table::new(&["run", "mean TTFT diff", "mean TPOT diff"], "lrr");
    for o in &outcomes {
        weighting.row(vec![
            o.spec.gpu.clone(),
            pct(rel(o.count_weighted.ttft_ms.mean, o.measured.ttft_ms.mean)),
            pct(rel(o.count_weighted.tpot_ms.mean, o.measured.tpot_ms.mean)),
        ]);
    }
    body.push_str(&format!(
        "**How the fit is weighted matters.** The profiler's grid is mostly mixed iterations \
(a prefill chunk beside decodes); served runs are mostly decodes. `wva estimate` gives each \
kind of iteration (decode, prefill, mixed) the same total weight by default; weighting every \
observation alike instead (`--unbalanced`), the line follows the mixed iterations, and the \
same replays come out:\n\n{}\n\
The `wva-v2` cost model is a line in tokens and KV reads; the profiler measures layers whose \
time is not quite linear (weights dominate small batches, compute large ones), so no line \
fits every kind of iteration at once. LLMServingSim interpolates the measured tables layer by \
layer instead, and so do `wva`'s `tables` profiles (next section). The profiler also ran in \
eager mode (no CUDA graphs), while the served runs used them.\n",
        weighting.render()
    ));
    Ok(Section {
        id: SectionId::Llmservingsim,
        title: "End to end against vLLM 0.19: LLMServingSim's runs".into(),
        body,
        checks,
        figures: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_llmservingsims_summary_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.txt");
        std::fs::write(
            &path,
            "Metric                           vLLM         Sim     Diff%\n\
             -----------------------------------------------------------\n\
             TTFT Mean                     65456.6     65820.2     +0.6%\n\n\
             TPOT P99                         56.0        56.5     +0.9%\n",
        )
        .unwrap();
        let rows = published(&path).unwrap();
        assert_eq!(
            rows,
            vec![
                ("TTFT Mean".to_string(), 65456.6, 65820.2),
                ("TPOT P99".to_string(), 56.0, 56.5)
            ]
        );
        std::fs::write(&path, "nothing here\n").unwrap();
        assert!(published(&path).is_err());
        assert_eq!(num_layers("meta-llama/Llama-3.1-8B"), Some(32));
        assert_eq!(num_layers("unknown/model"), None);
    }
}
