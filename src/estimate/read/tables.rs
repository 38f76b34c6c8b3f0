//! Tables of measured configurations: Splitwise's per-iteration prefill and decode times, and
//! Argonne's whole static batches.

use super::super::{Kind, Observation, Work};
use super::{Csv, Filters, cell, pick};
use crate::error::Field;
use crate::estimate::EstimateError;
use std::path::Path;

/// The rows of one configuration: for each `(column, what, field, wanted)` in turn, the rows
/// whose cell matches `wanted` (see [`pick`]; without it, the column must hold one value).
fn select<const N: usize>(
    mut rows: Vec<(u64, csv::StringRecord)>,
    path: &str,
    keys: [(usize, &str, Field, Option<String>); N],
) -> Result<Vec<(u64, csv::StringRecord)>, EstimateError> {
    for (col, what, field, wanted) in keys {
        let chosen = pick(
            what,
            field,
            rows.iter().map(|(_, r)| r.get(col).unwrap_or("")),
            wanted.as_deref(),
        )
        .map_err(|e| e.after(&format!("{path}: ")))?;
        rows.retain(|(_, r)| Some(r.get(col).unwrap_or("")) == chosen.as_deref());
    }
    Ok(rows)
}

/// Splitwise `perf_model.csv`: for every (prompt size, batch size, output size) of one model,
/// hardware and TP degree, `prompt_time` is one prefill iteration of the whole batch and
/// `token_time` the mean decode iteration (contexts average prompt + half the output).
pub fn splitwise(path: &Path, f: &Filters) -> Result<Vec<Observation>, EstimateError> {
    let mut csv = Csv::open(path)?;
    let c = |name: &str| csv.column(name);
    let (model, hardware, tp) = (c("model")?, c("hardware")?, c("tensor_parallel")?);
    let (prompt, batch, output) = (c("prompt_size")?, c("batch_size")?, c("token_size")?);
    let (prompt_time, token_time) = (c("prompt_time")?, c("token_time")?);
    let header = csv.header.clone();
    let p = csv.path.clone();
    let rows: Vec<(u64, csv::StringRecord)> = csv.rows().collect::<Result<_, _>>()?;
    let rows = select(
        rows,
        &p,
        [
            (model, "model", Field("model"), f.model.clone()),
            (hardware, "hardware", Field("hardware"), f.hardware.clone()),
            (
                tp,
                "tensor-parallel degree",
                Field("tp"),
                f.tp.map(|t| t.to_string()),
            ),
        ],
    )?;
    let mut out = Vec::new();
    for (line, r) in &rows {
        let v = |i: usize| cell(&p, *line, &header, r, i);
        let (pr, b, o) = (v(prompt)?, v(batch)?, v(output)?);
        if pr <= 0.0 || b <= 0.0 || o <= 0.0 {
            return Err(format!("{p}:{line}: sizes must be positive").into());
        }
        let origin = format!("{p}:{line}");
        out.push(Observation {
            work: Work::prefill(b, pr),
            time_ms: v(prompt_time)?,
            kind: Kind::Prefill,
            batch: b,
            origin: origin.clone(),
            file: 0,
            per_unit: 1.0,
        });
        out.push(Observation {
            work: Work::decode(b, pr + o / 2.0),
            time_ms: v(token_time)?,
            kind: Kind::Decode,
            batch: b,
            origin,
            file: 0,
            per_unit: 1.0,
        });
    }
    Ok(out)
}

/// The work of a static batch of `b` requests of `input` prompt and `output` output tokens:
/// the prefill (in iterations of at most `budget` tokens) and `output - 1` decode steps.
pub fn static_batch(b: f64, input: f64, output: f64, budget: f64) -> Work {
    let prefill_iterations = (b * input / budget.max(1.0)).ceil().max(1.0);
    let prefill = Work {
        iterations: prefill_iterations,
        prefill_iterations,
        tokens: b * input,
        prefill_tokens: b * input,
        kv_tokens: b * input,
        running: b * prefill_iterations,
    };
    let steps = (output - 1.0).max(0.0);
    // Step t reads input + t tokens of KV per sequence, t = 1..steps.
    let decode = Work {
        iterations: steps,
        prefill_iterations: 0.0,
        tokens: b * steps,
        prefill_tokens: 0.0,
        kv_tokens: b * (steps * input + steps * (steps + 1.0) / 2.0),
        running: b * steps,
    };
    prefill.plus(decode)
}

/// Argonne `All_results.csv`: for one framework, model, hardware and hardware count, each row
/// is a static batch (`Batch Size` requests, `Input Output Length` tokens in and out) whose
/// `Latency` (s) covers the prefill and every decode step.
pub fn argonne(path: &Path, f: &Filters) -> Result<Vec<Observation>, EstimateError> {
    let mut csv = Csv::open(path)?;
    let c = |name: &str| csv.column(name);
    let (hardware, count, framework, model) = (
        c("hardware")?,
        c("num of hardware")?,
        c("framework")?,
        c("model")?,
    );
    let (length, batch, latency) = (c("input output length")?, c("batch size")?, c("latency")?);
    let header = csv.header.clone();
    let p = csv.path.clone();
    let rows: Vec<(u64, csv::StringRecord)> = csv.rows().collect::<Result<_, _>>()?;
    let rows = select(
        rows,
        &p,
        [
            (
                framework,
                "framework",
                Field("framework"),
                f.framework.clone(),
            ),
            (model, "model", Field("model"), f.model.clone()),
            (hardware, "hardware", Field("hardware"), f.hardware.clone()),
            (
                count,
                "hardware count",
                Field("tp"),
                f.tp.map(|t| t.to_string()),
            ),
        ],
    )?;
    let mut out = Vec::new();
    for (line, r) in &rows {
        let v = |i: usize| cell(&p, *line, &header, r, i);
        let (l, b, s) = (v(length)?, v(batch)?, v(latency)?);
        if l <= 0.0 || b <= 0.0 {
            return Err(format!("{p}:{line}: sizes must be positive").into());
        }
        out.push(Observation {
            work: static_batch(b, l, l, f64::from(f.max_num_batched_tokens)),
            time_ms: s * 1000.0,
            kind: Kind::Batch,
            batch: b,
            origin: format!("{p}:{line}"),
            file: 0,
            per_unit: 1.0,
        });
    }
    Ok(out)
}
