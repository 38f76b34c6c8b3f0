//! Upstream's measured Qwen2.5-14B/H100 curve (`run16`): a real vLLM driven at fixed
//! concurrency with two request shapes. The simulator runs the same closed loop with the
//! shipped profile (whose parameters upstream fitted on this curve, so this is in sample for
//! the cost model and out of sample for the batching, queueing and KV cache), and the analytic
//! KV limit is set against the measured cliff.

use super::md::{Table, ms, pct, rel};
use super::{Check, Figure, Options, Section, SectionId, ValidateError, existing};
use crate::report::plot::{Panel, Series};
use crate::sim::closed_loop::{ClosedLoop, ClosedLoopResult, run_closed_loop};
use crate::sim::setup::{EngineOverrides, engine_config};
use crate::spec::LengthDist;
use rayon::prelude::*;
use std::path::Path;

pub(super) const CURVE: &str = "inferno-control-loop/run16-curve-qwen2.5-14b-H100-real-vllm.csv";
/// KV usage from which the cache counts as full.
pub(super) const FULL_KV_PCT: f64 = 99.0;

/// One measured row.
#[derive(Clone, Debug)]
pub(super) struct Row {
    shape: String,
    prompt: f64,
    output: f64,
    pub(super) concurrency: u32,
    rpm: f64,
    itl_ms: f64,
    ttft_ms: f64,
    running: f64,
    kv_pct: f64,
}

impl Row {
    /// Sampled in a steady state before the cache filled: no more requests running than there
    /// are clients (a closed loop cannot have more), and the cache not full.
    pub(super) fn steady(&self) -> bool {
        self.kv_pct < FULL_KV_PCT && self.running <= f64::from(self.concurrency)
    }
}

pub(super) fn read_curve(path: &Path) -> Result<Vec<Row>, ValidateError> {
    let text = std::fs::read_to_string(path).map_err(|e| ValidateError::input(path, e))?;
    // Comment lines (`# --- shape ... ---`) mark the shapes; fields may carry blanks.
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ValidateError::input(path, e))?;
        let line = record.position().map_or(0, csv::Position::line);
        let bad = |what: &str| ValidateError::input(path, format!("line {line}: {what}"));
        if record.len() != 7 {
            return Err(bad("expected 7 fields"));
        }
        let num = |k: usize, name: &str| -> Result<f64, ValidateError> {
            record[k].parse::<f64>().map_err(|_| bad(name))
        };
        let (prompt, output) = record[0]
            .split_once('x')
            .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
            .filter(|(a, b)| *a >= 1 && *b >= 1)
            .ok_or_else(|| bad("shape: expected PROMPTxOUTPUT, whole token counts >= 1"))?;
        let concurrency = record[1]
            .parse::<u32>()
            .ok()
            .filter(|c| *c >= 1)
            .ok_or_else(|| bad("concurrency: expected a whole number >= 1"))?;
        out.push(Row {
            shape: record[0].to_string(),
            prompt: f64::from(prompt),
            output: f64::from(output),
            concurrency,
            rpm: num(2, "achieved_rpm")?,
            itl_ms: num(3, "itl_ms")?,
            ttft_ms: num(4, "ttft_ms")?,
            running: num(5, "running")?,
            kv_pct: num(6, "kv_pct")?,
        });
    }
    if out.is_empty() {
        return Err(ValidateError::input(path, "no rows"));
    }
    Ok(out)
}

pub(super) fn section(options: &Options) -> Result<Section, ValidateError> {
    let path = existing(options.reference_dir.join(CURVE))?;
    let rows = read_curve(&path)?;
    let qwen = super::sweep::shipped_profile(options, "Qwen/Qwen2.5-14B-Instruct", "H100")?;
    let engine = engine_config(&qwen, qwen.max_batch, &EngineOverrides::default());
    let requests = options.requests(3_000);
    let sims: Vec<ClosedLoopResult> = rows
        .par_iter()
        .map(|r| {
            run_closed_loop(
                engine.clone(),
                &ClosedLoop {
                    concurrency: r.concurrency,
                    prompt: LengthDist::Fixed { mean: r.prompt },
                    output: LengthDist::Fixed { mean: r.output },
                    requests: requests.max(u64::from(r.concurrency) * 10),
                    warmup_fraction: 0.2,
                    think_ms: 0.0,
                    targets: Default::default(),
                },
                options.seed,
            )
            .map_err(|e| ValidateError::Internal(format!("run16 closed loop: {e}")))
        })
        .collect::<Result<_, _>>()?;

    let mut t = Table::new(
        &[
            "shape",
            "concurrency",
            "req/min measured",
            "simulated",
            "ITL measured ms",
            "simulated",
            "diff",
            "TTFT measured ms",
            "simulated",
            "diff",
            "running measured",
            "simulated",
            "KV % measured",
            "simulated",
        ],
        "lrrrrrrrrrrrrr",
    );
    let (mut itl_errors, mut ttft_errors) = (Vec::new(), Vec::new());
    for (r, s) in rows.iter().zip(&sims) {
        let e_itl = rel(s.itl_ms.mean, r.itl_ms);
        let e_ttft = rel(s.ttft_ms.mean, r.ttft_ms);
        // The targets apply before the cache fills (the cliff is checked apart), and to
        // steady states: in a closed loop no more requests run than there are clients.
        if r.steady() && s.kv_peak_fraction * 100.0 < FULL_KV_PCT {
            if r.itl_ms.is_finite() {
                itl_errors.push(e_itl);
            }
            if r.ttft_ms.is_finite() {
                ttft_errors.push(e_ttft);
            }
        }
        t.row(vec![
            r.shape.clone(),
            r.concurrency.to_string(),
            format!("{:.0}", r.rpm),
            format!("{:.0}", s.throughput_rps * 60.0),
            ms(r.itl_ms),
            ms(s.itl_ms.mean),
            pct(e_itl),
            ms(r.ttft_ms),
            ms(s.ttft_ms.mean),
            pct(e_ttft),
            format!("{:.0}", r.running),
            format!("{:.1}", s.mean_running),
            format!("{:.1}", r.kv_pct),
            format!("{:.1}", s.mean_kv_fraction * 100.0),
        ]);
    }

    // The KV cliff: the analytic limit against the running requests when the cache was first
    // measured full, per shape that filled it.
    let mut cliff = Table::new(
        &[
            "shape",
            "analytic KV limit (requests)",
            "measured: running when the cache first filled",
            "diff",
            "simulated: mean running at the highest concurrency",
        ],
        "lrrrr",
    );
    let mut checks = Vec::new();
    let mut shapes: Vec<&Row> = Vec::new();
    for r in &rows {
        if !shapes.iter().any(|s| s.shape == r.shape) {
            shapes.push(r);
        }
    }
    for shape in &shapes {
        let limit = qwen
            .kv_batch_limit(shape.prompt, shape.output, 0.0)
            .map_or(f64::NAN, f64::from);
        let of_shape = || {
            rows.iter()
                .zip(&sims)
                .filter(|(r, _)| r.shape == shape.shape)
        };
        let full = of_shape()
            .filter(|(r, _)| r.kv_pct >= FULL_KV_PCT)
            .min_by_key(|(r, _)| r.concurrency)
            .map(|(r, _)| r.running);
        let top = of_shape()
            .max_by_key(|(r, _)| r.concurrency)
            .map_or(f64::NAN, |(_, s)| s.mean_running);
        let (measured, diff) = match full {
            Some(m) => (format!("{m:.0}"), pct(rel(limit, m))),
            None => ("never full".into(), "".into()),
        };
        cliff.row(vec![
            shape.shape.clone(),
            format!("{limit:.0}"),
            measured,
            diff,
            format!("{top:.1}"),
        ]);
        if let Some(m) = full {
            checks.push(Check::within(
                format!(
                    "Qwen2.5-14B/H100 {}: analytic KV limit vs measured cliff",
                    shape.shape
                ),
                rel(limit, m),
                0.10,
            ));
        }
    }
    checks.push(Check::worst(
        "Qwen2.5-14B/H100 curve: mean ITL, simulated vs measured, before the KV cliff",
        &itl_errors,
        0.15,
    ));
    checks.push(Check::worst(
        "Qwen2.5-14B/H100 curve: mean TTFT, simulated vs measured, before the KV cliff",
        &ttft_errors,
        0.20,
    ));

    let mut panels = Vec::new();
    for shape in &shapes {
        let pts = |f: &dyn Fn(&Row, &ClosedLoopResult) -> f64| -> Vec<(f64, f64)> {
            rows.iter()
                .zip(&sims)
                .filter(|(r, _)| r.shape == shape.shape)
                .map(|(r, s)| (f64::from(r.concurrency), f(r, s)))
                .collect()
        };
        let line = |name: &str, color: usize, light: bool, points| Series {
            name: name.into(),
            color,
            light,
            points,
        };
        panels.push(Panel {
            title: format!("Qwen2.5-14B/H100, {}: ITL", shape.shape),
            y_label: "ms".into(),
            x_label: None,
            series: vec![
                line("measured", 1, false, pts(&|r, _| r.itl_ms)),
                line("simulated", 1, true, pts(&|_, s| s.itl_ms.mean)),
            ],
        });
        panels.push(Panel {
            title: format!("Qwen2.5-14B/H100, {}: TTFT", shape.shape),
            y_label: "ms".into(),
            x_label: None,
            series: vec![
                line("measured", 0, false, pts(&|r, _| r.ttft_ms)),
                line("simulated", 0, true, pts(&|_, s| s.ttft_ms.mean)),
            ],
        });
        panels.push(Panel {
            title: format!("Qwen2.5-14B/H100, {}: KV cache in use", shape.shape),
            y_label: "%".into(),
            x_label: None,
            series: vec![
                line("measured", 2, false, pts(&|r, _| r.kv_pct)),
                line(
                    "simulated",
                    2,
                    true,
                    pts(&|_, s| s.mean_kv_fraction * 100.0),
                ),
            ],
        });
    }

    let unsteady: Vec<&Row> = rows
        .iter()
        .filter(|r| r.running > f64::from(r.concurrency))
        .collect();
    let body = format!(
        "Upstream's measured curve of Qwen2.5-14B-Instruct on one H100 \
(`../shared/reference/wva/{CURVE}`): a real vLLM driven at fixed concurrency (each client \
sends its next request when the last completes) with fixed 1024-token prompts and 512- or \
2048-token outputs. The simulator runs the same closed loop (`wva::sim::closed_loop`: \
{requests} requests or ten per client, whichever is more, the first 20% left out) with the \
shipped profile: upstream's fit to this same run, `max_batch` {max_batch}, a KV cache of \
{kv} tokens (from the run's KV column). The cost model is in sample here; batching, queueing \
and the KV cache are not. Each measured row is one short sampling of a live server \
(`nan` where it recorded none), and some rows are not steady states: {unsteady} report more \
running requests than there are clients ({examples}), which a closed loop cannot have; the \
targets leave those out, and rows where either cache is full.\n\n{table}\n\
### The KV cliff\n\n\
The analytic model caps the batch at the requests whose prompt and half their output fit the \
cache (16-token blocks; `wva plan` marks such rows `(KV)`). On the 1024x2048 shape vLLM's \
cache fills, running requests stop growing with concurrency and TTFT jumps to tens of \
seconds:\n\n{cliff}\n\
The measured figure is the running count of the first row sampled with the cache full; where \
that row is one of those above with more running requests than clients, it says how many \
requests fill the cache, not what the closed loop settles to.\n\n\
A closed loop's TTFT depends on what the curve does not record: how many prompts share an \
iteration (the token budget: the gen-2 default of 8,192 tokens lets eight 1,024-token \
prompts share one; with 2,048 they would queue in pairs) and how the clients line up (they start together, \
and with fixed lengths they finish together, so their prompts arrive together). Measured \
TTFTs also include the API server and the client, which the engine does not see.\n",
        requests = requests,
        unsteady = unsteady.len(),
        examples = unsteady
            .iter()
            .map(|r| format!(
                "{} at concurrency {}: {:.0} running",
                r.shape, r.concurrency, r.running
            ))
            .collect::<Vec<_>>()
            .join("; "),
        max_batch = qwen.max_batch,
        kv = qwen
            .kv_capacity_tokens
            .map_or("unlimited".to_string(), |k| k.to_string()),
        table = t.render(),
        cliff = cliff.render(),
    );
    Ok(Section {
        id: SectionId::Qwen,
        title: "Simulator against vLLM: the Qwen2.5-14B/H100 concurrency curve".into(),
        body,
        checks,
        figures: vec![Figure {
            file: "validate-qwen-run16.svg".into(),
            x_label: "concurrency (clients)".into(),
            panels,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_curve_and_refuses_bad_rows_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curve.csv");
        let header = "shape,concurrency,achieved_rpm,itl_ms,ttft_ms,running,kv_pct\n";
        std::fs::write(
            &path,
            format!("{header}# comment\n1024x512,4,160.0,15.56,nan,4,2.4\n"),
        )
        .unwrap();
        let rows = read_curve(&path).unwrap();
        assert_eq!(
            (rows[0].prompt, rows[0].output, rows[0].concurrency),
            (1024.0, 512.0, 4)
        );
        assert!(rows[0].ttft_ms.is_nan());
        for (bad, field) in [
            ("0x512,4,1,1,1,1,1", "shape"),
            ("nanx512,4,1,1,1,1,1", "shape"),
            ("1024x512,0,1,1,1,1,1", "concurrency"),
            ("1024x512,2.5,1,1,1,1,1", "concurrency"),
            ("1024x512,4,1,1,1", "7 fields"),
            ("1024x512,4,x,1,1,1,1", "achieved_rpm"),
        ] {
            std::fs::write(&path, format!("{header}{bad}\n")).unwrap();
            let e = read_curve(&path).unwrap_err().to_string();
            assert!(e.contains("line 2") && e.contains(field), "{bad}: {e}");
        }
    }
}
