//! The `tables` cost model end to end on LLMServingSim's four vLLM 0.19 runs: each run's
//! profile built as `wva estimate <profiler folder> --cluster-config <run>/config.json` builds
//! it, its request set replayed as `wva simulate --profile ... --trace <workload>
//! --max-num-seqs N --max-num-batched-tokens M` replays it. Measured runs are compared with
//! vLLM and with LLMServingSim's published prediction; the two blind runs (their measurements
//! are not in `../shared`, by design) get `wva`'s prediction alone.
//!
//! Also: where an iteration's time goes on each deployment, what prefix caching on resume and
//! the measured block count change on the measured runs, and the analytic line of each tables
//! model against its simulator.

use super::llmservingsim::{published, run_folders};
use super::md::{Table, ms, pct, rel};
use super::measured::{measured, read, replay};
use super::{Check, Options, Section, SectionId, ValidateError, existing};
use crate::estimate::tables_profile::{TablesProfile, write};
use crate::perf::{BatchShape, CostModel, Parallelism, RequestShape, TablesModel};
use crate::queueing::ReplicaModel;
use crate::sim::metrics::Summary;
use crate::sim::{DEFAULT_BLOCK_SIZE, EngineConfig, Generator, Horizon, SimConfig, Traffic, run};
use crate::spec::tables::{find_model_config, read_cluster_config, read_model_config};
use crate::trace::{Format, TraceRecord, Transforms};
use rayon::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const ROOT: &str = "llmservingsim";

/// One run of LLMServingSim's examples.
struct Run {
    /// `RTXPRO6000/Qwen3-32B`.
    name: String,
    dir: PathBuf,
    model: String,
    hardware: String,
    parallel: Parallelism,
    max_num_seqs: u32,
    max_num_batched_tokens: u32,
    /// Blocks the engine allocated, when its log recorded them.
    recorded_blocks: Option<u64>,
    prefix_caching: bool,
    workload: PathBuf,
    /// Built as `wva estimate` builds it.
    model_built: Arc<TablesModel>,
    /// `kv_capacity_tokens: auto` at the run's settings.
    auto_kv_tokens: Option<u64>,
    interconnect: String,
}

fn json(path: &Path) -> Result<Value, ValidateError> {
    let text = std::fs::read_to_string(path).map_err(|e| ValidateError::input(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| ValidateError::input(path, format!("line {}: {e}", e.line())))
}

fn count(v: &Value, path: &Path, field: &str) -> Result<u32, ValidateError> {
    v[field]
        .as_u64()
        .filter(|&n| n >= 1 && n <= u64::from(u32::MAX))
        .map(|n| n as u32)
        .ok_or_else(|| {
            ValidateError::input(
                path,
                format!("engine_kwargs.{field}: missing or not a count"),
            )
        })
}

fn load_run(root: &Path, dir: &Path) -> Result<Run, ValidateError> {
    let meta_path = dir.join("vllm/meta.json");
    let meta = json(&meta_path)?;
    let kwargs = &meta["engine_kwargs"];
    let config_path = dir.join("config.json");
    let cluster =
        read_cluster_config(&config_path, None).map_err(|e| ValidateError::Input(e.to_string()))?;
    let variant = match kwargs["dtype"].as_str() {
        Some("bfloat16") | None => "bf16",
        Some("float16") => "fp16",
        Some(other) => other,
    };
    let tables = existing(
        root.join("profiler/perf")
            .join(&cluster.hardware)
            .join(&cluster.model)
            .join(variant),
    )?;
    let model_config = find_model_config(&tables, &cluster.model).ok_or_else(|| {
        ValidateError::input(
            &tables,
            format!("no configs/model/{}.json above", cluster.model),
        )
    })?;
    let architecture =
        read_model_config(&model_config).map_err(|e| ValidateError::Input(e.to_string()))?;
    let cluster = read_cluster_config(&config_path, Some(architecture.moe.is_some()))
        .map_err(|e| ValidateError::Input(e.to_string()))?;
    let max_num_seqs = count(kwargs, &meta_path, "max_num_seqs")?;
    let max_num_batched_tokens = count(kwargs, &meta_path, "max_num_batched_tokens")?;
    let parallel = Parallelism {
        tp: cluster.tp,
        ep: cluster.ep,
        dp: cluster.dp,
    };
    let profile = TablesProfile {
        model: cluster.model.clone(),
        accelerator: cluster.hardware.clone(),
        tables,
        model_config,
        architecture,
        num_layers: None,
        parallel,
        interconnect: Some(cluster.interconnect),
        gpu_memory_gib: Some(cluster.gpu_memory_gib),
        // vLLM's setting where the run's log recorded it (0.9, its default, otherwise).
        gpu_memory_utilization: meta["kv_cache"]["gpu_memory_utilization"]
            .as_f64()
            .filter(|u| *u > 0.0 && *u <= 1.0)
            .unwrap_or(crate::perf::memory::DEFAULT_GPU_MEMORY_UTILIZATION),
        max_batch: max_num_seqs,
        max_num_batched_tokens,
        deployment: config_path.display().to_string(),
    };
    let written = write(&profile, None).map_err(|e| ValidateError::Input(e.to_string()))?;
    let dataset = meta["dataset_path"]
        .as_str()
        .ok_or_else(|| ValidateError::input(&meta_path, "dataset_path: missing"))?;
    let name = format!(
        "{}/{}",
        dir.parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let kv = &meta["kv_cache"];
    let block = kv["block_size"]
        .as_u64()
        .unwrap_or(u64::from(DEFAULT_BLOCK_SIZE));
    Ok(Run {
        name,
        dir: dir.to_path_buf(),
        model: cluster.model.clone(),
        hardware: cluster.hardware.clone(),
        parallel,
        max_num_seqs,
        max_num_batched_tokens,
        recorded_blocks: kv["num_gpu_blocks"].as_u64().filter(|_| block == 16),
        prefix_caching: kv["enable_prefix_caching"].as_bool().unwrap_or(true),
        workload: existing(root.join(dataset))?,
        model_built: written.model,
        auto_kv_tokens: written.kv.map(|k| k.tokens),
        interconnect: format!(
            "{:.1} GB/s, {:.0} us per step",
            cluster.interconnect.bandwidth_gb_s, cluster.interconnect.latency_us
        ),
    })
}

/// Every run with a cluster config and engine settings, in name order.
fn runs(options: &Options) -> Result<Vec<Run>, ValidateError> {
    let root = existing(options.data_dir.join(ROOT))?;
    let examples = existing(root.join("bench/examples"))?;
    let mut out = Vec::new();
    for model in run_folders(&examples, |m| {
        m.join("config.json").is_file() && m.join("vllm/meta.json").is_file()
    })? {
        out.push(load_run(&root, &model)?);
    }
    if out.is_empty() {
        return Err(ValidateError::input(
            &examples,
            "no run with config.json and vllm/meta.json",
        ));
    }
    Ok(out)
}

impl Run {
    fn engine(&self, kv_capacity_tokens: Option<u64>, prefix_caching: bool) -> EngineConfig {
        EngineConfig {
            cost: CostModel::Tables(Arc::clone(&self.model_built)),
            max_num_seqs: self.max_num_seqs,
            max_num_batched_tokens: self.max_num_batched_tokens,
            kv_capacity_tokens,
            block_size: DEFAULT_BLOCK_SIZE,
            prefix_caching,
            noise_cv: 0.0,
        }
    }

    /// The KV capacity the replay uses: the engine's recorded blocks, else `auto`.
    fn kv_tokens(&self) -> Option<u64> {
        self.recorded_blocks
            .map(|b| b * u64::from(DEFAULT_BLOCK_SIZE))
            .or(self.auto_kv_tokens)
    }

    fn measured_path(&self) -> PathBuf {
        self.dir.join("vllm/requests.jsonl")
    }
}

fn workload(path: &Path) -> Result<Vec<TraceRecord>, ValidateError> {
    let records = crate::trace::read_all(
        path,
        Some(Format::Llmservingsim),
        &Transforms::default(),
        false,
    )
    .map_err(|e| ValidateError::Input(e.to_string()))?;
    if records.is_empty() {
        return Err(ValidateError::input(path, "no requests"));
    }
    Ok(records)
}

const STATS: [(&str, &str); 4] = [
    ("mean", "Mean"),
    ("p50", "Median"),
    ("p90", "P90"),
    ("p99", "P99"),
];

fn stat(s: &Summary, name: &str) -> f64 {
    match name {
        "mean" => s.mean,
        "p50" => s.p50,
        "p90" => s.p90,
        _ => s.p99,
    }
}

/// Where a decode step of `n` decodes at 1,000 tokens and a 2,048-token prefill go, per run.
fn breakdown_table(runs: &[Run]) -> String {
    let mut t = Table::new(
        &[
            "run",
            "iteration",
            "ms",
            "dense",
            "attention",
            "MoE",
            "LM head + sampler",
            "communication",
        ],
        "llrrrrrr",
    );
    for r in runs {
        let decode = BatchShape::decodes_at(64, 1000);
        let mut prefill = BatchShape {
            running: 1,
            ..BatchShape::default()
        };
        prefill.add_chunk(2048, 0);
        for (what, shape) in [
            ("64 decodes at 1,000 tokens", decode),
            ("one 2,048-token prefill chunk", prefill),
        ] {
            let b = r.model_built.breakdown(&shape);
            let total = b.total_us();
            let share = |x: f64| format!("{:.0}%", 100.0 * x / total);
            t.row(vec![
                r.name.clone(),
                what.into(),
                format!("{:.1}", total / 1000.0),
                share(b.dense_us),
                share(b.attention_us),
                share(b.moe_us),
                share(b.per_sequence_us),
                share(b.communication_us),
            ]);
        }
    }
    t.render()
}

/// The analytic line of each run's tables model against its simulator: mean ITL over load,
/// Poisson arrivals of the run's mean request.
/// A decode step of the (first) MoE run with `per_rank` requests at 1,000 tokens on each rank,
/// ms (NaN without a MoE run).
fn moe_step(runs: &[Run], per_rank: u32) -> f64 {
    runs.iter()
        .find(|r| r.model_built.architecture().moe.is_some())
        .map_or(f64::NAN, |r| {
            let shape = BatchShape::decodes_at(per_rank, 1000);
            let ranks = vec![shape; r.parallel.dp as usize];
            CostModel::Tables(Arc::clone(&r.model_built)).iteration_ms(&ranks)
        })
}

/// The table and the errors of the dense runs and of the MoE runs.
type SurrogateRows = (String, Vec<f64>, Vec<f64>);

fn surrogate_rows(runs: &[Run], options: &Options) -> Result<SurrogateRows, ValidateError> {
    let mut t = Table::new(
        &[
            "run",
            "request",
            "load",
            "simulated ms",
            "analytic ms",
            "diff",
        ],
        "llrrrr",
    );
    let (mut dense, mut moe) = (Vec::new(), Vec::new());
    for r in runs {
        let records = workload(&r.workload)?;
        let errors = if r.model_built.architecture().moe.is_some() {
            &mut moe
        } else {
            &mut dense
        };
        let n = records.len() as f64;
        let shape = RequestShape {
            prompt_tokens: (records
                .iter()
                .map(|x| f64::from(x.prompt_tokens))
                .sum::<f64>()
                / n)
                .round(),
            output_tokens: (records
                .iter()
                .map(|x| f64::from(x.output_tokens))
                .sum::<f64>()
                / n)
                .round(),
        };
        let engine = r.engine(None, true);
        let cost = engine.cost.clone();
        let max_batch = r.max_num_seqs * cost.ranks();
        let surrogate =
            crate::perf::surrogate::fit(&cost, &shape, max_batch, r.max_num_batched_tokens, true)
                .ok_or_else(|| ValidateError::Internal(format!("{}: no analytic line", r.name)))?;
        let model = ReplicaModel::new(surrogate.params, shape, max_batch, 10 * max_batch)
            .map_err(|e| ValidateError::Internal(format!("{}: {e}", r.name)))?;
        let max_rate = model.rate_range_rps().1;
        let requests = options.requests(20_000);
        let loads = [0.1, 0.3, 0.5, 0.7];
        let points: Vec<Result<(f64, f64, f64), ValidateError>> = loads
            .par_iter()
            .map(|&load| {
                let rate = load * max_rate;
                let traffic = Traffic {
                    rate_rps: rate,
                    arrivals: crate::spec::ArrivalProcess::Poisson,
                    prompt: crate::spec::LengthDist::Fixed {
                        mean: shape.prompt_tokens,
                    },
                    output: crate::spec::LengthDist::Fixed {
                        mean: shape.output_tokens,
                    },
                };
                let generator =
                    Generator::new(&[traffic], Horizon::Requests(requests), 0.1, options.seed);
                let config = SimConfig::one_group(
                    "surrogate",
                    vec![engine.clone()],
                    Default::default(),
                    options.seed,
                );
                let g = run(&config, generator, &mut |_| {})
                    .map_err(|e| ValidateError::Internal(format!("{}: {e}", r.name)))?
                    .groups
                    .remove(0);
                let analytic = model.analyze(rate).ok_or_else(|| {
                    ValidateError::Internal(format!("{}: analytic at {rate}", r.name))
                })?;
                Ok((load, g.itl_ms.mean, analytic.itl_ms))
            })
            .collect();
        for p in points {
            let (load, sim, ana) = p?;
            let e = rel(ana, sim);
            errors.push(e);
            t.row(vec![
                r.name.clone(),
                format!("{:.0} x {:.0}", shape.prompt_tokens, shape.output_tokens),
                format!("{:.0}%", load * 100.0),
                ms(sim),
                ms(ana),
                pct(e),
            ]);
        }
    }
    Ok((t.render(), dense, moe))
}

pub(super) fn section(options: &Options) -> Result<Section, ValidateError> {
    let runs = runs(options)?;
    let mut body = String::from(
        "The `tables` cost model ([formats.md](formats.md#tables-profiles)) on LLMServingSim's four \
real vLLM 0.19.0 runs (`../shared/data/llmservingsim/bench/examples`, 300 ShareGPT requests at \
about 10 req/s each). For each run, the profile is what\n\n\
```\n\
wva estimate profiler/perf/<GPU>/<model>/bf16 --format llmservingsim-profile \\\n    \
--cluster-config bench/examples/<GPU>/<model>/config.json -o profile.yaml\n\
```\n\n\
writes (parallelism, interconnect and GPU memory from the run's cluster config, layers from \
the model's `config.json`), and the replay is\n\n\
```\n\
wva simulate --profile profile.yaml --trace workloads/<the run's request set>.jsonl \\\n    \
--trace-format llmservingsim --max-num-seqs N --max-num-batched-tokens M\n\
```\n\n\
with the engine settings of the run's `vllm/meta.json` (and `--num-gpu-blocks` where its log \
recorded the KV cache's blocks; `kv_capacity_tokens: auto` otherwise). Nothing is fitted: the \
times come from the profiler's tables and the communication model. Two of the runs are blind \
tests: their measurements are not in `../shared` (by design), and `wva`'s prediction is \
stated alone, to be scored elsewhere.\n\n",
    );
    let mut checks = Vec::new();
    let mut measured_runs = Vec::new();
    for r in &runs {
        let records = workload(&r.workload)?;
        let kv = r.kv_tokens();
        let sim = replay(&r.engine(kv, r.prefix_caching), &records, options.seed)?;
        let kv_text = match (r.recorded_blocks, r.auto_kv_tokens) {
            (Some(b), Some(a)) => format!(
                "{} blocks as the engine recorded ({} tokens; `auto` gives {} tokens, {})",
                b,
                b * 16,
                a,
                pct(rel(a as f64, (b * 16) as f64))
            ),
            (Some(b), None) => format!("{b} blocks as the engine recorded"),
            (None, Some(a)) => format!("`auto`: {a} tokens per GPU"),
            (None, None) => "unlimited".into(),
        };
        body.push_str(&format!(
            "### {} on {} (TP {}, EP {}, DP {})\n\n`max_num_seqs` {}, `max_num_batched_tokens` {}, \
interconnect {}, KV cache {}. Simulated preemptions: {}.\n\n",
            r.model,
            r.hardware,
            r.parallel.tp,
            r.parallel.ep,
            r.parallel.dp,
            r.max_num_seqs,
            r.max_num_batched_tokens,
            r.interconnect,
            kv_text,
            sim.preemptions
        ));
        if r.measured_path().is_file() {
            let vllm = measured(&read(&r.measured_path(), Format::Llmservingsim)?);
            let theirs = published(&r.dir.join("validation/summary.txt"))?;
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
            for (latency, m, s) in [
                ("TTFT", &vllm.ttft_ms, &sim.ttft_ms),
                ("TPOT", &vllm.tpot_ms, &sim.tpot_ms),
            ] {
                for (name, their_name) in STATS {
                    let key = format!("{latency} {their_name}");
                    let p = theirs.iter().find(|p| p.0 == key);
                    t.row(vec![
                        format!("{latency} {name}"),
                        ms(stat(m, name)),
                        ms(stat(s, name)),
                        pct(rel(stat(s, name), stat(m, name))),
                        p.map_or("n/a".into(), |p| ms(p.2)),
                        p.map_or("n/a".into(), |p| pct(rel(p.2, p.1))),
                    ]);
                }
            }
            body.push_str(&t.render());
            body.push('\n');
            for (latency, m, s) in [
                ("TTFT", vllm.ttft_ms.mean, sim.ttft_ms.mean),
                ("TPOT", vllm.tpot_ms.mean, sim.tpot_ms.mean),
            ] {
                checks.push(Check::within(
                    format!("tables model, {}: mean {latency}, wva vs vLLM", r.name),
                    rel(s, m),
                    0.03,
                ));
            }
            measured_runs.push((r, vllm, sim));
        } else {
            let mut t = Table::new(&["metric", "wva's prediction, ms"], "lr");
            for (latency, s) in [("TTFT", &sim.ttft_ms), ("TPOT", &sim.tpot_ms)] {
                for (name, _) in STATS {
                    t.row(vec![format!("{latency} {name}"), ms(stat(s, name))]);
                }
            }
            body.push_str(
                "Blind: the run's measurements are not in `../shared`; this is `wva`'s prediction.\n\n",
            );
            body.push_str(&t.render());
            body.push('\n');
        }
    }
    body.push_str(&format!(
        "### Where an iteration's time goes\n\nThe composed iteration of each deployment (per GPU; \
communication is the tensor-parallel all-reduces and logits gather, or the expert-parallel \
all-gather and reduce-scatter), for a decode step and a prefill step:\n\n{}\n",
        breakdown_table(&runs)
    ));
    // What the mechanisms change on the measured runs.
    let mut ablation = Table::new(
        &[
            "run",
            "variant",
            "mean TTFT diff",
            "mean TPOT diff",
            "preemptions",
        ],
        "llrrr",
    );
    for (r, vllm, sim) in &measured_runs {
        let records = workload(&r.workload)?;
        let mut rows = vec![("as above".to_string(), *sim)];
        rows.push((
            "prefix caching off (a preempted request recomputes all)".into(),
            replay(&r.engine(r.kv_tokens(), false), &records, options.seed)?,
        ));
        if r.recorded_blocks.is_some() && r.auto_kv_tokens.is_some() {
            rows.push((
                "KV capacity `auto` instead of the recorded blocks".into(),
                replay(
                    &r.engine(r.auto_kv_tokens, r.prefix_caching),
                    &records,
                    options.seed,
                )?,
            ));
        }
        for (variant, s) in rows {
            ablation.row(vec![
                r.name.clone(),
                variant,
                pct(rel(s.ttft_ms.mean, vllm.ttft_ms.mean)),
                pct(rel(s.tpot_ms.mean, vllm.tpot_ms.mean)),
                s.preemptions.to_string(),
            ]);
        }
    }
    body.push_str(&format!(
        "### What the engine's details change\n\nOn the measured runs, against vLLM:\n\n{}\n\
The RTX 4090 run fills its KV cache and preempts about 190 times; vLLM keeps a preempted \
request's blocks in its prefix cache until other allocations reuse them, so a resumed request \
recomputes only what was lost. Without that, the replay overestimates both latencies.\n\n",
        ablation.render()
    ));
    let (surrogate_table, dense_errors, moe_errors) = surrogate_rows(&runs, options)?;
    checks.push(Check::worst(
        "tables model, dense runs: analytic line vs the tables-driven simulator, mean ITL at 10-70% load",
        &dense_errors,
        0.05,
    ));
    checks.push(Check::worst(
        "tables model, MoE run: analytic line vs the tables-driven simulator, mean ITL at 10-70% load",
        &moe_errors,
        0.05,
    ));
    body.push_str(&format!(
        "### The analytic line of a tables profile\n\nThe queue model (`wva plan`, `wva analyze`, \
the simulator's analytic column) takes a line `alpha + beta x tokens + gamma x KV tokens`; a \
tables profile gives it one fitted to the tables over the workload's operating region \
([formats.md](formats.md#tables-profiles)). Against the tables-driven simulator, one replica, \
Poisson arrivals of each run's mean request at a share of the line's maximum rate, {} requests \
per point:\n\n{}\n\
On the dense models the line follows the simulator. A MoE step's cost is concave in the batch \
(the experts a batch activates saturate: on this deployment a decode step takes {:.1} ms with \
one request per rank, {:.1} ms with 8 and {:.1} ms with 64), which no line follows: the \
analytic model of a MoE profile is rough, and the simulator (`wva simulate`, `wva plan \
--sizing simulate`) is the tool to size one.\n",
        options.requests(20_000),
        surrogate_table,
        moe_step(&runs, 1),
        moe_step(&runs, 8),
        moe_step(&runs, 64),
    ));
    Ok(Section {
        id: SectionId::Tables,
        title: "The tables cost model against vLLM 0.19: LLMServingSim's four runs".into(),
        body,
        checks,
        figures: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_are_read_by_name() {
        let s = Summary {
            mean: 1.0,
            p50: 2.0,
            p90: 3.0,
            p95: 4.0,
            p99: 5.0,
        };
        let got: Vec<f64> = STATS.iter().map(|(n, _)| stat(&s, n)).collect();
        assert_eq!(got, vec![1.0, 2.0, 3.0, 5.0]);
    }
}
