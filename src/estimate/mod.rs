//! Fitting perf-model parameters from measurements: readers turn benchmark outputs into
//! [`Observation`]s (a measured time and the engine work it covered), [`fit()`] solves the
//! non-negative (optionally robust) least-squares problem of a perf model, with standard
//! errors, intervals and identifiability diagnostics, and [`profile`] writes the result as a
//! profile `wva plan` reads.
//!
//! Every observation is linear in the parameters: the work it covers is a sum of engine
//! iterations, so its time is `alpha * iterations + beta * tokens + gamma * kv_tokens` under
//! the gen-2/3 cost model, and `alpha * iterations + beta * running + gamma * prefill
//! iterations + delta * prefill tokens` under gen 1 (`crate::perf::PerfParams::iteration_ms`).
//! A per-iteration measurement is one iteration; a whole static batch or a request's decode
//! span is the sum of the iterations it lasted.

pub mod calibrate;
pub mod check;
mod error;
pub mod fit;
pub mod load_tests;
pub mod profile;
pub mod prometheus;
pub mod read;
pub mod sweep;
pub mod tables_profile;

pub use error::EstimateError;
pub use fit::{Errors, Fit, FitOptions, KindWeights, Loss, Parameter, fit};
pub use read::{Filters, SourceFormat, read_observations};

use serde::Serialize;

/// Engine work summed over the iterations an observation covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Work {
    /// Iterations.
    pub iterations: f64,
    /// Iterations that prefilled something.
    pub prefill_iterations: f64,
    /// Tokens processed (prefill and decode).
    pub tokens: f64,
    /// Of those, prompt tokens prefilled.
    pub prefill_tokens: f64,
    /// KV-cache tokens read.
    pub kv_tokens: f64,
    /// Running requests summed over the iterations.
    pub running: f64,
}

impl Work {
    /// One decode iteration of `batch` sequences of mean context `context` tokens.
    pub fn decode(batch: f64, context: f64) -> Work {
        Work {
            iterations: 1.0,
            prefill_iterations: 0.0,
            tokens: batch,
            prefill_tokens: 0.0,
            kv_tokens: batch * context,
            running: batch,
        }
    }

    /// One iteration prefilling `batch` prompts of `prompt` tokens together (the mean-field
    /// cost model reads one KV token per prompt token).
    pub fn prefill(batch: f64, prompt: f64) -> Work {
        Work {
            iterations: 1.0,
            prefill_iterations: 1.0,
            tokens: batch * prompt,
            prefill_tokens: batch * prompt,
            kv_tokens: batch * prompt,
            running: batch,
        }
    }

    /// The sum of two works.
    pub fn plus(self, o: Work) -> Work {
        Work {
            iterations: self.iterations + o.iterations,
            prefill_iterations: self.prefill_iterations + o.prefill_iterations,
            tokens: self.tokens + o.tokens,
            prefill_tokens: self.prefill_tokens + o.prefill_tokens,
            kv_tokens: self.kv_tokens + o.kv_tokens,
            running: self.running + o.running,
        }
    }

    /// This work repeated `k` times.
    pub fn times(self, k: f64) -> Work {
        Work {
            iterations: self.iterations * k,
            prefill_iterations: self.prefill_iterations * k,
            tokens: self.tokens * k,
            prefill_tokens: self.prefill_tokens * k,
            kv_tokens: self.kv_tokens * k,
            running: self.running * k,
        }
    }
}

/// What an observation measures (for reports and plots).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One decode iteration.
    Decode,
    /// One prefill iteration.
    Prefill,
    /// One iteration doing both.
    Mixed,
    /// A request's decode span (first to last token).
    DecodeSpan,
    /// A whole static batch (prefill and every decode step).
    Batch,
}

impl Kind {
    /// The name in reports (`decode_span`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Decode => "decode",
            Kind::Prefill => "prefill",
            Kind::Mixed => "mixed",
            Kind::DecodeSpan => "decode_span",
            Kind::Batch => "batch",
        }
    }
}

/// One measurement: the time some engine work took.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Observation {
    /// The work.
    pub work: Work,
    /// How long it took, ms.
    pub time_ms: f64,
    /// What it is.
    pub kind: Kind,
    /// The x value for plots: batch size (or concurrency).
    pub batch: f64,
    /// Where it comes from (`file:line`).
    pub origin: String,
    /// Which input file (index in the list given).
    pub file: usize,
    /// Iterations per reported unit (e.g. output tokens - 1 for a decode span, so that
    /// `time / per_unit` is the TPOT); 1 for single iterations.
    pub per_unit: f64,
}
