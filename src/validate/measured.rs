//! Reading measured runs for the validation sections; the statistics and the replay are
//! [`crate::sim::measured`]'s.

use super::ValidateError;
use crate::sim::EngineConfig;
pub(crate) use crate::sim::measured::{RunStats, measured};
use crate::trace::{Format, TraceRecord, Transforms};
use std::path::Path;

/// Reads a measured run (a trace format that records TTFT and end-to-end latency).
pub(crate) fn read(path: &Path, format: Format) -> Result<Vec<TraceRecord>, ValidateError> {
    let records = crate::trace::read_all(path, Some(format), &Transforms::default(), false)
        .map_err(|e| ValidateError::Input(e.to_string()))?;
    if records.is_empty() {
        return Err(ValidateError::input(path, "no requests"));
    }
    if records
        .iter()
        .any(|r| r.ttft_s.is_none() || r.e2e_s.is_none())
    {
        return Err(ValidateError::input(
            path,
            "some requests have no measured TTFT or end-to-end latency",
        ));
    }
    Ok(records)
}

/// The simulator's replay of `records` on one replica of `engine`.
pub(crate) fn replay(
    engine: &EngineConfig,
    records: &[TraceRecord],
    seed: u64,
) -> Result<RunStats, ValidateError> {
    crate::sim::measured::replay(vec![engine.clone()], records, seed)
        .map_err(ValidateError::Internal)
}
