//! llm-d-benchmark, Llama-3.1-70B on 2xA100 (TP 2), one replica: parameters fitted by
//! `wva estimate` on the two lowest rates, then every file's real requests (arrivals and token
//! counts) replayed in the simulator, against what vLLM measured: TTFT p50/p99, mean TPOT,
//! and the rate at which the replica saturates.

use super::md::{Table, ms, pct, rel};
use super::measured::{RunStats, measured, read, replay};
use super::{Check, Figure, Options, Section, SectionId, ValidateError, existing};
use crate::estimate::{Filters, FitOptions, SourceFormat, fit, read_observations};
use crate::perf::{DEFAULT_MAX_NUM_BATCHED_TOKENS, PerfParams};
use crate::queueing::Targets;
use crate::report::plot::{Panel, Series};
use crate::sim::{DEFAULT_BLOCK_SIZE, EngineConfig, Request, SimConfig, queue_grows, run};
use crate::trace::{Format, TraceRecord};
use rayon::prelude::*;
use std::path::PathBuf;

const FOLDER: &str = "llm_d_benchmark/A100x2_TP2_llama3.1-70b_vllm_1replica";
/// vLLM's default `--max-num-seqs`; the benchmark does not record its engine settings.
const MAX_NUM_SEQS: u32 = 256;
/// What vLLM's memory accounting leaves for the KV cache, from the model and the GPUs (the
/// benchmark does not record the cache's size): per GPU, `gpu_memory_utilization` (vLLM's
/// default 0.9) of its memory, less its shard of the bf16 weights and a reserve for
/// activations and the runtime, over the bytes one token's keys and values take on it.
struct KvEstimate {
    gpus: f64,
    gpu_memory_bytes: f64,
    utilization: f64,
    params: f64,
    layers: f64,
    kv_heads: f64,
    head_dim: f64,
}

/// Llama-3.1-70B (80 layers, 8 KV heads of 128, 70.55e9 parameters) on 2x A100-80GB.
const LLAMA_70B_ON_2XA100: KvEstimate = KvEstimate {
    gpus: 2.0,
    gpu_memory_bytes: 80.0 * GIB,
    utilization: 0.9,
    params: 70.55e9,
    layers: 80.0,
    kv_heads: 8.0,
    head_dim: 128.0,
};
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
/// The activation and runtime reserve per GPU of the main estimate, and the range shown.
const RESERVE_GIB: f64 = 2.0;
const RESERVES_GIB: [f64; 3] = [1.0, 2.0, 3.0];

impl KvEstimate {
    /// KV-cache tokens with `reserve_gib` GiB per GPU set aside.
    fn tokens(&self, reserve_gib: f64) -> u64 {
        let per_gpu = self.gpu_memory_bytes * self.utilization
            - 2.0 * self.params / self.gpus
            - reserve_gib * GIB;
        (per_gpu / self.bytes_per_token_per_gpu()).max(0.0) as u64
    }

    /// Bytes of one token's keys and values (bf16) on each GPU.
    fn bytes_per_token_per_gpu(&self) -> f64 {
        2.0 * 2.0 * self.layers * (self.kv_heads / self.gpus) * self.head_dim
    }
}

/// Rates below this share of the measured saturation are where the TTFT targets apply.
const BELOW_SATURATION: f64 = 0.8;

/// The benchmark files, by offered rate (the number ending the name), lowest first.
pub(super) fn files(options: &Options) -> Result<Vec<(f64, PathBuf)>, ValidateError> {
    let dir = existing(options.data_dir.join(FOLDER))?;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| ValidateError::input(&dir, e))? {
        let path = entry.map_err(|e| ValidateError::input(&dir, e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(qps) = name
            .strip_prefix("LMBench_")
            .and_then(|n| n.strip_suffix(".csv"))
            .and_then(|n| n.rsplit('_').next())
            .and_then(|q| q.parse::<f64>().ok())
        {
            out.push((qps, path));
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    if out.len() < 3 {
        return Err(ValidateError::input(
            &dir,
            "expected LMBench_*_<qps>.csv files at three rates or more",
        ));
    }
    Ok(out)
}

/// The engine of the fitted replica.
fn engine(perf: PerfParams, kv_capacity_tokens: Option<u64>) -> EngineConfig {
    EngineConfig {
        cost: perf.into(),
        max_num_seqs: MAX_NUM_SEQS,
        max_num_batched_tokens: DEFAULT_MAX_NUM_BATCHED_TOKENS,
        kv_capacity_tokens,
        block_size: DEFAULT_BLOCK_SIZE,
        prefix_caching: true,
        noise_cv: 0.0,
    }
}

/// The highest rate of evenly spaced arrivals (as the benchmark sends them) of `records`'
/// requests, cycled, that the replica serves without its queue growing: bisection over
/// `requests`-request runs.
fn capacity_rps(
    engine: &EngineConfig,
    records: &[TraceRecord],
    requests: u64,
    seed: u64,
) -> Result<f64, ValidateError> {
    if records.is_empty() {
        return Err(ValidateError::Internal(
            "capacity search: no requests to send".into(),
        ));
    }
    let serves = |rate: f64| -> Result<bool, ValidateError> {
        let list: Vec<Request> = (0..requests)
            .map(|i| {
                let r = &records[i as usize % records.len()];
                Request {
                    id: i,
                    group: 0,
                    arrival_ms: i as f64 * 1000.0 / rate,
                    prompt_tokens: r.prompt_tokens.max(1),
                    output_tokens: r.output_tokens.max(1),
                    counted: i >= requests / 10,
                }
            })
            .collect();
        let config =
            SimConfig::one_group("capacity", vec![engine.clone()], Targets::default(), seed);
        let g = run(&config, list, &mut |_| {})
            .map_err(|e| ValidateError::Internal(format!("capacity search: {e}")))?
            .groups
            .remove(0);
        let growth = g.waiting_at_end as f64 - g.waiting_at_start as f64;
        Ok(!queue_grows(
            g.throughput_rps,
            rate,
            growth,
            g.requests as f64,
        ))
    };
    let (mut lo, mut hi) = (0.01, 1.0);
    while serves(hi)? {
        lo = hi;
        hi *= 2.0;
        if hi > 1e4 {
            return Ok(f64::INFINITY);
        }
    }
    for _ in 0..20 {
        let mid = (lo * hi).sqrt();
        if serves(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// The replays of every file and the capacity, for one engine.
struct Evaluation {
    simulated: Vec<RunStats>,
    capacity_rps: f64,
    p50_errors: Vec<f64>,
    p99_errors: Vec<f64>,
    tpot_errors: Vec<f64>,
}

fn evaluate(
    engine: EngineConfig,
    records: &[(f64, Vec<TraceRecord>)],
    measured: &[RunStats],
    below_rps: f64,
    options: &Options,
) -> Result<Evaluation, ValidateError> {
    let simulated: Vec<RunStats> = records
        .par_iter()
        .map(|(_, r)| replay(&engine, r, options.seed))
        .collect::<Result<_, _>>()?;
    let capacity_rps = capacity_rps(
        &engine,
        &records[0].1,
        options.requests(5_000),
        options.seed,
    )?;
    let (mut p50_errors, mut p99_errors, mut tpot_errors) = (Vec::new(), Vec::new(), Vec::new());
    for (((qps, _), m), s) in records.iter().zip(measured).zip(&simulated) {
        if *qps < below_rps {
            p50_errors.push(rel(s.ttft_ms.p50, m.ttft_ms.p50));
            p99_errors.push(rel(s.ttft_ms.p99, m.ttft_ms.p99));
        }
        tpot_errors.push(rel(s.tpot_ms.mean, m.tpot_ms.mean));
    }
    Ok(Evaluation {
        simulated,
        capacity_rps,
        p50_errors,
        p99_errors,
        tpot_errors,
    })
}

pub(super) fn section(options: &Options) -> Result<Section, ValidateError> {
    let files = files(options)?;
    let fit_on: Vec<PathBuf> = files.iter().take(2).map(|f| f.1.clone()).collect();
    let filters = Filters {
        replicas: 1,
        max_num_batched_tokens: DEFAULT_MAX_NUM_BATCHED_TOKENS,
        ..Filters::default()
    };
    let observations = read_observations(&fit_on, Some(SourceFormat::Lmbench), &filters)
        .map_err(|e| ValidateError::Input(e.to_string()))?;
    let fitted = fit(&observations, &FitOptions::default())
        .map_err(|e| ValidateError::Internal(format!("fit on {}: {e}", fit_on[0].display())))?;
    let perf = fitted.params;
    let records: Vec<(f64, Vec<TraceRecord>)> = files
        .iter()
        .map(|(qps, path)| Ok((*qps, read(path, Format::Lmbench)?)))
        .collect::<Result<_, ValidateError>>()?;
    let measured_runs: Vec<RunStats> = records.iter().map(|r| measured(&r.1)).collect();
    let measured_saturation = measured_runs
        .iter()
        .map(|r| r.served_rps)
        .fold(0.0, f64::max);
    let below = BELOW_SATURATION * measured_saturation;
    // The replays and the capacity, for an unlimited cache and each estimate of its size.
    let mut settings: Vec<(String, Option<u64>)> = vec![("unlimited".into(), None)];
    for reserve in RESERVES_GIB {
        let tokens = LLAMA_70B_ON_2XA100.tokens(reserve);
        settings.push((
            format!("{tokens} tokens ({reserve:.0} GiB reserve)"),
            Some(tokens),
        ));
    }
    let evaluations: Vec<Evaluation> = settings
        .par_iter()
        .map(|(_, kv)| evaluate(engine(perf, *kv), &records, &measured_runs, below, options))
        .collect::<Result<_, _>>()?;
    let main_kv = LLAMA_70B_ON_2XA100.tokens(RESERVE_GIB);
    let main = settings
        .iter()
        .position(|s| s.1 == Some(main_kv))
        .map_or(&evaluations[0], |i| &evaluations[i]);
    let runs: Vec<(f64, RunStats, RunStats)> = records
        .iter()
        .zip(&measured_runs)
        .zip(&main.simulated)
        .map(|((r, m), s)| (r.0, *m, *s))
        .collect();
    let capacity = main.capacity_rps;
    let replayed_plateau = main
        .simulated
        .iter()
        .map(|r| r.served_rps)
        .fold(0.0, f64::max);
    let mut sensitivity = Table::new(
        &[
            "KV cache",
            "capacity req/s",
            "vs measured",
            "TTFT p50, worst below 80%",
            "TTFT p99, worst below 80%",
            "mean TPOT, worst",
        ],
        "lrrrrr",
    );
    for ((name, _), e) in settings.iter().zip(&evaluations) {
        sensitivity.row(vec![
            name.clone(),
            format!("{:.3}", e.capacity_rps),
            pct(rel(e.capacity_rps, measured_saturation)),
            pct(super::sweep::worst(&e.p50_errors)),
            pct(super::sweep::worst(&e.p99_errors)),
            pct(super::sweep::worst(&e.tpot_errors)),
        ]);
    }

    let mut t = Table::new(
        &[
            "QPS",
            "served req/s measured",
            "simulated",
            "TTFT p50 measured ms",
            "simulated",
            "diff",
            "TTFT p99 measured",
            "simulated",
            "diff",
            "mean TPOT measured ms",
            "simulated",
            "diff",
        ],
        "rrrrrrrrrrrr",
    );
    for (i, (qps, m, s)) in runs.iter().enumerate() {
        let e50 = rel(s.ttft_ms.p50, m.ttft_ms.p50);
        let e99 = rel(s.ttft_ms.p99, m.ttft_ms.p99);
        let etpot = rel(s.tpot_ms.mean, m.tpot_ms.mean);
        t.row(vec![
            format!("{qps}{}", if i < 2 { " (fit)" } else { "" }),
            format!("{:.3}", m.served_rps),
            format!("{:.3}", s.served_rps),
            ms(m.ttft_ms.p50),
            ms(s.ttft_ms.p50),
            pct(e50),
            ms(m.ttft_ms.p99),
            ms(s.ttft_ms.p99),
            pct(e99),
            ms(m.tpot_ms.mean),
            ms(s.tpot_ms.mean),
            pct(etpot),
        ]);
    }
    let checks = vec![
        Check::within(
            "llm-d 70B/A100: saturation rate, simulated steady-state capacity vs measured plateau",
            rel(capacity, measured_saturation),
            0.10,
        ),
        Check::within(
            "llm-d 70B/A100: saturation rate, replays' served plateau vs measured plateau (same definition)",
            rel(replayed_plateau, measured_saturation),
            0.10,
        ),
        Check::worst(
            format!(
                "llm-d 70B/A100: TTFT p50, simulated vs measured, offered rates below {below:.2} req/s"
            ),
            &main.p50_errors,
            0.20,
        ),
        Check::worst(
            format!(
                "llm-d 70B/A100: TTFT p99, simulated vs measured, offered rates below {below:.2} req/s"
            ),
            &main.p99_errors,
            0.20,
        ),
        Check::worst(
            "llm-d 70B/A100: mean TPOT, simulated vs measured, every rate",
            &main.tpot_errors,
            0.15,
        ),
    ];
    let param = |name: &str| {
        fitted
            .parameters
            .iter()
            .find(|p| p.name == name)
            .map_or("n/a".into(), |p| format!("{:.6} {}", p.value, p.unit))
    };

    let series = |name: &str,
                  color: usize,
                  light: bool,
                  f: &dyn Fn(&(f64, RunStats, RunStats)) -> f64| Series {
        name: name.into(),
        color,
        light,
        points: runs.iter().map(|r| (r.0, f(r))).collect(),
    };
    let panels = vec![
        Panel {
            title: "Llama-3.1-70B, 2xA100: TTFT".into(),
            y_label: "ms".into(),
            x_label: None,
            series: vec![
                series("p50 measured", 0, false, &|r| r.1.ttft_ms.p50),
                series("p50 simulated", 0, true, &|r| r.2.ttft_ms.p50),
                series("p99 measured", 2, false, &|r| r.1.ttft_ms.p99),
                series("p99 simulated", 2, true, &|r| r.2.ttft_ms.p99),
            ],
        },
        Panel {
            title: "Llama-3.1-70B, 2xA100: mean time per output token".into(),
            y_label: "ms".into(),
            x_label: None,
            series: vec![
                series("measured", 1, false, &|r| r.1.tpot_ms.mean),
                series("simulated", 1, true, &|r| r.2.tpot_ms.mean),
            ],
        },
        Panel {
            title: "Llama-3.1-70B, 2xA100: served rate".into(),
            y_label: "req/s".into(),
            x_label: None,
            series: vec![
                series("measured", 3, false, &|r| r.1.served_rps),
                series("simulated", 3, true, &|r| r.2.served_rps),
                series("offered", 4, true, &|r| r.0),
            ],
        },
    ];

    let k = &LLAMA_70B_ON_2XA100;
    let body = format!(
        "Real vLLM serving Llama-3.1-70B-Instruct on one replica of 2x A100-80GB (TP 2), \
ShareGPT requests (the same {n} in every file) sent at evenly spaced arrivals, one file per \
rate (`../shared/data/{FOLDER}`). `wva estimate` fits the `wva-v2` parameters on the two \
lowest rates only (as `wva estimate FILE1 FILE2 --replicas 1` does): alpha {alpha}, beta \
{beta}, gamma {gamma} (fit MAPE {mape:.1}% over {obs} decode spans). The simulator then \
replays every file's requests (their arrival times and token counts, as `wva simulate \
--profile P --trace FILE --trace-format lmbench --replicas 1` does) with vLLM's defaults for \
what the benchmark does not record: `max_num_seqs` {MAX_NUM_SEQS}, `max_num_batched_tokens` \
{budget}, and the KV cache that vLLM's memory accounting leaves: per GPU, {util:.0}% \
(`gpu_memory_utilization`) of {gib:.0} GiB, less its share of the {weights_gb:.1} GB of bf16 \
weights and {RESERVE_GIB:.0} GiB for activations and the runtime, over the {kib:.0} KiB a \
token's keys and values take on each GPU ({layers:.0} layers, {heads:.0} of the {all_heads:.0} \
KV heads of {dim:.0}): {main_kv} tokens.\n\n{table}\n\
**Saturation.** The served rate (completions over the time from the first arrival to the \
last completion) levels off at the replica's capacity once the offered rate passes it: \
measured, it reaches {meas:.3} req/s at most. The simulated replica's capacity (the highest \
rate of evenly spaced arrivals of these requests that it serves without its queue growing, \
{cap_requests} requests per trial) is {cap:.3} req/s ({cap_err}). Measured the same way as \
vLLM's (the replays' served rate), it reaches {plateau:.3} req/s ({plateau_err}). The \
replays are as short as the measured runs and start as empty, so the second figure is the \
like-for-like one; the first is what a long run at a steady rate would sustain.\n\n\
**What the KV cache does.** The benchmark does not record the cache's size, and the \
reserve is an assumption, so here is every figure for an unlimited cache and for reserves \
of 1 to 3 GiB per GPU:\n\n{sensitivity}\n\
Without a KV limit the fitted replica would serve {unlimited:.2} req/s: on this server the \
cache, not compute, saturates first, and the TTFT tail at the higher rates comes from \
requests waiting for cache space, which an unlimited cache never makes them do. The figures move a lot with the cache size, which is why \
a profile should state `kv_capacity_tokens` (`wva plan` then caps the batch by it).\n\n\
The TTFT targets apply below 80% of the measured saturation ({below:.2} req/s). The fit \
sees only the decode spans of the two lowest rates, so the TPOT at higher rates and every \
TTFT are predictions. The measured TTFT also includes the API server's own latency, which \
the engine does not see.\n",
        n = runs.first().map_or(0, |r| r.1.requests),
        alpha = param("alpha"),
        beta = param("beta"),
        gamma = param("gamma"),
        mape = fitted.mape * 100.0,
        obs = fitted.observations,
        budget = DEFAULT_MAX_NUM_BATCHED_TOKENS,
        table = t.render(),
        meas = measured_saturation,
        cap_requests = options.requests(5_000),
        cap = capacity,
        cap_err = pct(rel(capacity, measured_saturation)),
        plateau = replayed_plateau,
        plateau_err = pct(rel(replayed_plateau, measured_saturation)),
        sensitivity = sensitivity.render(),
        unlimited = evaluations[0].capacity_rps,
        util = k.utilization * 100.0,
        gib = k.gpu_memory_bytes / GIB,
        weights_gb = 2.0 * k.params / 1e9,
        kib = k.bytes_per_token_per_gpu() / 1024.0,
        layers = k.layers,
        heads = k.kv_heads / k.gpus,
        all_heads = k.kv_heads,
        dim = k.head_dim,
    );
    Ok(Section {
        id: SectionId::Lmbench,
        title: "Simulator against vLLM: llm-d-benchmark, Llama-3.1-70B on 2xA100".into(),
        body,
        checks,
        figures: vec![Figure {
            file: "validate-lmbench-70b.svg".into(),
            x_label: "offered rate (req/s)".into(),
            panels,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_estimate_follows_vllms_memory_accounting() {
        // 0.9 x 80 GiB - 70.55e9 bytes of weights - 2 GiB = 4.61e9 bytes per GPU; a token's
        // keys and values take 2 x 2 bytes x 80 layers x 4 heads x 128 = 163,840 bytes.
        assert_eq!(LLAMA_70B_ON_2XA100.tokens(2.0), 28_148);
        assert!(LLAMA_70B_ON_2XA100.tokens(1.0) > LLAMA_70B_ON_2XA100.tokens(2.0));
        assert_eq!(LLAMA_70B_ON_2XA100.tokens(10.0), 0);
    }
}
