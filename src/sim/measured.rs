//! Measured runs side by side with the simulator: the latencies a benchmark recorded per
//! request, and the simulator's replay of the same requests (same arrivals, same token
//! counts) on a replica set. `wva validate` sets them against each other, and
//! `wva estimate --calibrate` fits parameters through the replay.

use super::metrics::{Summary, summarize};
use super::{EngineConfig, SimConfig, run};
use crate::queueing::Targets;
use crate::trace::TraceRecord;

/// What one run (measured or simulated) showed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunStats {
    /// Requests completed.
    pub requests: usize,
    /// Time to first token, ms.
    pub ttft_ms: Summary,
    /// Time per output token after the first, ms (requests of two tokens or more).
    pub tpot_ms: Summary,
    /// Completions over the time from the first arrival to the last completion, req/s: the
    /// served rate, which levels off at the server's capacity once it is overloaded.
    pub served_rps: f64,
    /// Preemptions (simulated only; 0 for measured runs).
    pub preemptions: u64,
}

/// Summary of per-request `(arrival_s, ttft_s, e2e_s, output_tokens)`.
fn stats(rows: impl Iterator<Item = (f64, f64, f64, u32)>, preemptions: u64) -> RunStats {
    let (mut ttft, mut tpot) = (Vec::new(), Vec::new());
    let (mut first, mut last) = (f64::INFINITY, f64::NEG_INFINITY);
    for (arrival_s, ttft_s, e2e_s, out) in rows {
        first = first.min(arrival_s);
        last = last.max(arrival_s + e2e_s);
        ttft.push(ttft_s * 1000.0);
        if out > 1 {
            tpot.push((e2e_s - ttft_s) * 1000.0 / f64::from(out - 1));
        }
    }
    let requests = ttft.len();
    RunStats {
        requests,
        ttft_ms: summarize(&mut ttft),
        tpot_ms: summarize(&mut tpot),
        served_rps: requests as f64 / (last - first),
        preemptions,
    }
}

/// What the benchmark measured (records without a measured TTFT or end-to-end latency, or
/// that generated nothing, are left out).
pub fn measured(records: &[TraceRecord]) -> RunStats {
    stats(
        records.iter().filter_map(|r| {
            let (ttft, e2e) = (r.ttft_s?, r.e2e_s?);
            (r.output_tokens > 0).then_some((r.arrival_s, ttft, e2e, r.output_tokens))
        }),
        0,
    )
}

/// The simulator's replay of `records` on `engines` (one replica each, requests spread round
/// robin), every request counted, as `wva simulate --trace` does. An error when a request
/// could never fit a KV cache.
pub fn replay(
    engines: Vec<EngineConfig>,
    records: &[TraceRecord],
    seed: u64,
) -> Result<RunStats, String> {
    let requests =
        crate::load::from_trace::requests(records, &vec![0; records.len()], &[Some(0)], 0.0);
    let mut config = SimConfig::one_group("replay", engines, Targets::default(), seed);
    config.record_requests = true;
    let result = run(&config, requests, &mut |_| {}).map_err(|e| format!("replay: {e}"))?;
    if result.requests.iter().any(|o| o.rejected) {
        return Err("replay: a request could never fit the KV cache".into());
    }
    Ok(stats(
        result.requests.iter().map(|o| {
            (
                o.arrival_ms / 1000.0,
                o.ttft_ms / 1000.0,
                o.e2e_ms / 1000.0,
                o.output_tokens,
            )
        }),
        result.groups[0].preemptions,
    ))
}
