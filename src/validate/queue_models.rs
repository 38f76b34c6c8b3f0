//! The three queue models of `wva plan --queue-model` against the simulator: the mean wait
//! before the first scheduling, one Llama-3.1-8B/H100 replica, three output-length
//! distributions, from half load to near saturation.

use super::md::{Table, bold, ms, pct};
use super::{Options, Section, SectionId, ValidateError};
use crate::perf::RequestShape;
use crate::queueing::waiting::service_scv;
use crate::queueing::{QueueModel, ReplicaModel, Targets, Variability};
use crate::sim::setup::{EngineOverrides, engine_config};
use crate::sim::{Generator, Horizon, SimConfig, Traffic, run};
use crate::spec::{ArrivalProcess, LengthDist, Profile};
use rayon::prelude::*;

const PROMPT: f64 = 1155.0;
const OUTPUT: f64 = 211.0;
const LOADS: [f64; 4] = [0.5, 0.7, 0.85, 0.95];
const BATCHES: [u32; 2] = [16, 128];
const RUNS: u64 = 3;
const MODELS: [QueueModel; 3] = [QueueModel::Mm1k, QueueModel::Mg1, QueueModel::AllenCunneen];

struct Row {
    batch: u32,
    outputs: &'static str,
    scv: f64,
    load: f64,
    sim_ms: f64,
    models_ms: [f64; 3],
}

fn profile(options: &Options) -> Result<Profile, ValidateError> {
    super::sweep::shipped_profile(options, "meta-llama/Llama-3.1-8B-Instruct", "H100")
}

pub(super) fn section(options: &Options) -> Result<Section, ValidateError> {
    let profile = profile(options)?;
    let shape = RequestShape {
        prompt_tokens: PROMPT,
        output_tokens: OUTPUT,
    };
    let outputs = [
        ("fixed", LengthDist::Fixed { mean: OUTPUT }),
        ("exponential", LengthDist::Exponential { mean: OUTPUT }),
        (
            "log-normal cv 2",
            LengthDist::Lognormal {
                mean: OUTPUT,
                cv: 2.0,
            },
        ),
    ];
    let mut jobs = Vec::new();
    for batch in BATCHES {
        for (name, dist) in outputs {
            for load in LOADS {
                jobs.push((batch, name, dist, load));
            }
        }
    }
    let requests = options.requests(100_000);
    let rows: Vec<Row> = jobs
        .par_iter()
        .map(|&(batch, outputs, dist, load)| {
            let internal = |e: String| ValidateError::Internal(format!("queue models: {e}"));
            let base = ReplicaModel::new(profile.perf, shape, batch, profile.queue_for(batch))
                .map_err(|e| internal(e.to_string()))?;
            let variability = Variability {
                arrival_scv: 1.0,
                service_scv: service_scv(base.curve(), 0.0, dist.variance()),
            };
            let rate = load * base.rate_range_rps().1;
            let mut models_ms = [f64::NAN; 3];
            for (m, q) in MODELS.iter().enumerate() {
                models_ms[m] = base
                    .clone()
                    .with_queue_model(*q, variability)
                    .analyze(rate)
                    .map_or(f64::INFINITY, |x| x.wait_ms);
            }
            let engine = engine_config(&profile, batch, &EngineOverrides::default());
            let traffic = Traffic {
                rate_rps: rate,
                arrivals: ArrivalProcess::Poisson,
                prompt: LengthDist::Fixed { mean: PROMPT },
                output: dist,
            };
            let mut sum = 0.0;
            for k in 0..RUNS {
                let seed = crate::rng::replication_seed(options.seed, k);
                let cfg = SimConfig::one_group("w", vec![engine.clone()], Targets::default(), seed);
                let g = run(
                    &cfg,
                    Generator::new(&[traffic], Horizon::Requests(requests), 0.1, seed),
                    &mut |_| {},
                )
                .map_err(|e| internal(e.to_string()))?
                .groups
                .remove(0);
                sum += g.queue_wait_ms.mean;
            }
            Ok(Row {
                batch,
                outputs,
                scv: variability.service_scv,
                load,
                sim_ms: sum / RUNS as f64,
                models_ms,
            })
        })
        .collect::<Result<_, ValidateError>>()?;

    let mut t = Table::new(
        &[
            "max batch",
            "outputs (service Cs^2)",
            "load",
            "simulator ms",
            "M/M/1/K",
            "M/G/1",
            "Allen-Cunneen",
        ],
        "rlrrrrr",
    );
    // Which model is closest (in log ratio), per row.
    let closest = |r: &Row| -> usize {
        let d = |m: f64| (m / r.sim_ms).ln().abs();
        (0..3)
            .min_by(|&a, &b| d(r.models_ms[a]).total_cmp(&d(r.models_ms[b])))
            .unwrap_or(0)
    };
    let mut wins = [0usize; 3];
    let mut wins_high = [0usize; 3];
    for r in &rows {
        let best = closest(r);
        wins[best] += 1;
        if r.load >= 0.85 {
            wins_high[best] += 1;
        }
        let mut cells = vec![
            r.batch.to_string(),
            format!("{} ({:.2})", r.outputs, r.scv),
            format!("{:.0}%", r.load * 100.0),
            ms(r.sim_ms),
        ];
        for (m, v) in r.models_ms.iter().enumerate() {
            let cell = format!("{} ({})", ms(*v), pct(v / r.sim_ms - 1.0));
            cells.push(if m == best { bold(&cell) } else { cell });
        }
        t.row(cells);
    }
    let body = format!(
        "`wva plan --queue-model` chooses how the queueing wait is computed (the prefill and ITL \
come from the chain's mean batch whichever): upstream's state-dependent M/M/1/K chain \
(exponential service), Pollaczek-Khinchine's M/G/1 with the whole replica as one server at \
its full-batch rate, or Allen-Cunneen's M/G/c with the batch slots as servers; the last two \
take the service variance the length distributions imply (`src/queueing/waiting.rs`). Mean \
wait before the first scheduling, one {model}/{acc} replica, Poisson arrivals, {PROMPT:.0}-token \
prompts, outputs of mean {OUTPUT:.0} tokens, simulator mean of {RUNS} runs of {requests} \
requests; each model's difference from the simulator in brackets, the closest in bold.\n\n\
{table}\n\
Closest model, over all {n} rows: M/M/1/K {w0}, M/G/1 {w1}, Allen-Cunneen {w2}; at 85% and \
95% load: M/M/1/K {h0}, M/G/1 {h1}, Allen-Cunneen {h2}. Below 70% load none of the three \
sees the few milliseconds an arrival waits for the iteration in flight, which the simulator \
counts (the percentile model of [plan.md](plan.md#percentile-slos) does). M/G/1 treats the \
batch as one server and charges every request the full batch's service time, so it overstates \
the wait of small batches; at a large batch, where the others see almost no queue, that \
overstatement can land it closest to the simulator's few milliseconds.\n",
        model = profile.model,
        acc = profile.accelerator,
        table = t.render(),
        n = rows.len(),
        w0 = wins[0],
        w1 = wins[1],
        w2 = wins[2],
        h0 = wins_high[0],
        h1 = wins_high[1],
        h2 = wins_high[2],
    );
    Ok(Section {
        id: SectionId::QueueModels,
        title: "Queue models against the simulator".into(),
        body,
        checks: Vec::new(),
        figures: Vec::new(),
    })
}
