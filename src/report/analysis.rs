//! The record `wva analyze` prints: one replica's configuration and its predicted metrics.

use crate::perf::PerfModelKind;
use crate::queueing::Metrics;
use crate::queueing::concurrency::ConcurrencyResult;
use serde::Serialize;

/// Everything `wva analyze` reports (flat in JSON).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Analysis {
    /// Perf model.
    pub perf_model: PerfModelKind,
    /// Max batch.
    pub max_batch: u32,
    /// Queue allowance.
    pub max_queue: u32,
    /// Mean prompt tokens.
    pub prompt_tokens: f64,
    /// Mean output tokens.
    pub output_tokens: f64,
    /// Largest rate meeting the TTFT target (sizing mode), requests/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_ttft_rps: Option<f64>,
    /// Largest rate meeting the ITL target (sizing mode), requests/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_itl_rps: Option<f64>,
    /// The analysed rate (the given one, or the sized minimum), requests/s.
    pub rate_rps: f64,
    /// Metrics at that rate.
    #[serde(flatten)]
    pub metrics: Metrics,
    /// The max-batch search, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_search: Option<ConcurrencyResult>,
}
