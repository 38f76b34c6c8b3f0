//! `wva analyze` as a library call: one replica's analytic model at a rate, or sized for TTFT
//! and ITL targets (with upstream's max-batch search when asked).

use crate::error::{Error, Field, request_error};
use crate::perf::{PerfParams, RequestShape};
use crate::queueing::concurrency::{ConcurrencySearch, optimal_max_batch};
use crate::queueing::{ReplicaModel, SizingError, Targets, size};
use crate::report::Analysis;

/// What to analyse at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Question {
    /// The metrics at this arrival rate, requests/s.
    AtRate(f64),
    /// The highest rate meeting mean TTFT and ITL targets (none: the stable maximum), and
    /// with `search_batch` the max batch upstream's search would choose.
    Size {
        /// Mean TTFT target, ms.
        ttft_ms: Option<f64>,
        /// Mean ITL target, ms.
        itl_ms: Option<f64>,
        /// Also run upstream's max-batch search.
        search_batch: bool,
    },
}

/// `wva analyze`'s request: a replica and a question.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnalyzeRequest {
    /// The perf parameters.
    pub perf: PerfParams,
    /// Max batch (`max_num_seqs`).
    pub max_batch: u32,
    /// Max queue length.
    pub max_queue: u32,
    /// Mean request shape.
    pub shape: RequestShape,
    /// What to compute.
    pub question: Question,
}

/// Analyses `request`: never a NaN answer (an error instead).
pub fn analyze(request: &AnalyzeRequest) -> Result<Analysis, Error> {
    let AnalyzeRequest {
        perf,
        max_batch,
        max_queue,
        shape,
        question,
    } = *request;
    if let PerfParams::V3(p) = &perf
        && p.max_num_batched_tokens < max_batch
    {
        return Err(request_error!(
            Field("max_num_batched_tokens"),
            format!(
                " ({}) must be at least the max batch ({max_batch}), as in vLLM",
                p.max_num_batched_tokens
            )
        )
        .into());
    }
    let model = ReplicaModel::new(perf, shape, max_batch, max_queue)?;
    let mut analysis = Analysis {
        perf_model: perf.kind(),
        max_batch,
        max_queue,
        prompt_tokens: shape.prompt_tokens,
        output_tokens: shape.output_tokens,
        rate_ttft_rps: None,
        rate_itl_rps: None,
        rate_rps: 0.0,
        metrics: model
            .analyze(model.rate_range_rps().0)
            .ok_or_else(|| no_answer(""))?,
        batch_search: None,
    };
    match question {
        Question::AtRate(rate) => {
            analysis.rate_rps = rate;
            analysis.metrics = model
                .analyze(rate)
                .ok_or_else(|| no_answer(&format!(" at {rate} req/s")))?;
        }
        Question::Size {
            ttft_ms,
            itl_ms,
            search_batch,
        } => {
            let targets = Targets {
                ttft_ms,
                itl_ms,
                ..Default::default()
            };
            let sizing = size(&model, &targets).map_err(|e| match e {
                SizingError::Infeasible { .. } => Error::Infeasible(format!("infeasible: {e}")),
                other => other.into(),
            })?;
            analysis.rate_ttft_rps = Some(sizing.rate_ttft_rps);
            analysis.rate_itl_rps = Some(sizing.rate_itl_rps);
            analysis.rate_rps = sizing.rate_rps;
            analysis.metrics = sizing.metrics;
            if search_batch {
                analysis.batch_search = Some(optimal_max_batch(
                    perf,
                    shape,
                    max_queue,
                    &targets,
                    &ConcurrencySearch::upstream(max_batch),
                ));
            }
        }
    }
    if !analysis.metrics.is_finite() {
        return Err(no_answer(""));
    }
    Ok(analysis)
}

/// The error for parameters so extreme that no latency can be computed (never a NaN answer).
fn no_answer(at: &str) -> Error {
    Error::Usage(format!(
        "the model has no finite answer{at}: the perf parameters are too large for a latency to be computed"
    ))
}
