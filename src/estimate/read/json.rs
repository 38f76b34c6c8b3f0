//! Summary JSON of serving benchmarks (read into sweep rows by [`crate::estimate::sweep`]),
//! and the direct observation of one operating point. With the throughput `X`,
//! the mean TPOT, TTFT, prompt `in` and output `out`, the mean number of requests decoding is
//! `X * (out - 1) * TPOT` (Little's law over the decode phase), and each decode iteration also
//! carries the prompts that arrive meanwhile, `X * in * TPOT` tokens. The observation is one
//! mean decode iteration at that batch, contexts averaging `in + out / 2`, lasting the TPOT.
//!
//! Fields read. vLLM `benchmark_serving.py --save-result`: `completed`, `duration` (s),
//! `total_input_tokens`, `total_output_tokens`, `mean_tpot_ms`, and `request_throughput`
//! when `duration` is absent. GuideLLM report: `benchmarks[].metrics` with
//! `requests_per_second`, `inter_token_latency_ms` (else `time_per_output_token_ms`, which
//! GuideLLM computes with the first token included), `prompt_token_count` and
//! `output_token_count`, each read from `.successful.mean`.

use super::super::{Kind, Observation, Work};
use crate::estimate::EstimateError;
use serde_json::Value;
use std::path::Path;

/// `text`, the contents of `path`, parsed; the error names file, line and column.
pub(super) fn parse<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, EstimateError> {
    serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
        EstimateError::from(format!(
            "{}:{}:{}: not JSON: {}",
            path.display(),
            e.line(),
            e.column(),
            e.to_string().split(" at line ").next().unwrap_or_default()
        ))
    })
}

/// The JSON document at `path`.
pub(crate) fn load(path: &Path) -> Result<Value, EstimateError> {
    let text =
        crate::limits::read_document_text(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(path, &text)
}

/// `v` as a finite number >= 0; the error names the field.
pub(crate) fn number(v: &Value, field: &str, path: &Path) -> Result<f64, EstimateError> {
    v.as_f64()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .ok_or_else(|| {
            EstimateError::from(format!(
                "{}: {field}: expected a number >= 0, got {}",
                path.display(),
                if v.is_null() {
                    "nothing".to_string()
                } else {
                    v.to_string()
                }
            ))
        })
}

/// The observation of one operating point.
pub(crate) fn point(
    rate_rps: f64,
    tpot_ms: f64,
    prompt: f64,
    output: f64,
    origin: String,
) -> Result<Observation, EstimateError> {
    if !(tpot_ms > 0.0 && output > 1.0 && rate_rps > 0.0 && rate_rps.is_finite()) {
        return Err(format!(
            "{origin}: a fit needs a positive request rate and TPOT and more than one output token per request"
        ).into());
    }
    let tpot_s = tpot_ms / 1000.0;
    let decoding = rate_rps * (output - 1.0) * tpot_s;
    let arriving = rate_rps * tpot_s;
    let work = Work {
        iterations: 1.0,
        prefill_iterations: arriving.min(1.0),
        tokens: decoding + arriving * prompt,
        prefill_tokens: arriving * prompt,
        kv_tokens: decoding * (prompt + output / 2.0) + arriving * prompt,
        running: decoding + arriving,
    };
    Ok(Observation {
        work,
        time_ms: tpot_ms,
        kind: Kind::Decode,
        batch: decoding,
        origin,
        file: 0,
        per_unit: 1.0,
    })
}
