//! Driving the simulator from a trace: which workload each request belongs to, the load each
//! workload then carries (for the plan and the analytic comparison), and the requests
//! themselves.

use super::Request;
use crate::spec::Scenario;
use crate::trace::TraceRecord;

/// The load a trace puts on one workload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceLoad {
    /// Requests.
    pub requests: u64,
    /// Mean arrival rate over the trace's duration, requests/s.
    pub rate_rps: f64,
    /// The 95th percentile of its per-minute rates, requests/s (the last, partial minute left
    /// out; the mean rate for traces under a minute): what a plan for this traffic should carry.
    pub busy_rate_rps: f64,
    /// Mean prompt tokens.
    pub prompt_tokens: f64,
    /// Mean output tokens.
    pub output_tokens: f64,
}

/// The workload (index in `scenario.workloads`) of each record: `workload` when given; else
/// the one whose model (or name) the record names; else the scenario's only workload.
pub fn assign_workloads(
    records: &[TraceRecord],
    scenario: &Scenario,
    workload: Option<&str>,
) -> Result<Vec<usize>, String> {
    let names = || {
        scenario
            .workloads
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(name) = workload {
        let w = scenario
            .workloads
            .iter()
            .position(|w| w.name == name)
            .ok_or_else(|| format!("the scenario has no workload `{name}`; it has: {}", names()))?;
        return Ok(vec![w; records.len()]);
    }
    let only = (scenario.workloads.len() == 1).then_some(0);
    records
        .iter()
        .enumerate()
        .map(|(i, r)| match &r.model {
            Some(m) => {
                let by_name = scenario.workloads.iter().position(|w| &w.name == m);
                let by_model: Vec<usize> = (0..scenario.workloads.len())
                    .filter(|&w| &scenario.workloads[w].model == m)
                    .collect();
                match (by_name, by_model.as_slice(), only) {
                    (Some(w), _, _) => Ok(w),
                    (None, [w], _) => Ok(*w),
                    (None, [], Some(w)) => Ok(w),
                    (None, [], None) => Err(format!(
                        "request {} names model `{m}`, which no workload serves; give --workload NAME (workloads: {})",
                        i + 1,
                        names()
                    )),
                    (None, _, _) => Err(format!(
                        "several workloads serve model `{m}`; give --workload NAME (workloads: {})",
                        names()
                    )),
                }
            }
            None => only.ok_or_else(|| {
                format!(
                    "the trace does not name models and the scenario has several workloads; give --workload NAME (workloads: {})",
                    names()
                )
            }),
        })
        .collect()
}

/// The load of each of `workloads` workloads under `records` (`None` for those it does not
/// drive). Rates are over the whole trace's duration.
pub fn trace_loads(
    records: &[TraceRecord],
    assignment: &[usize],
    workloads: usize,
) -> Vec<Option<TraceLoad>> {
    let first = records.first().map_or(0.0, |r| r.arrival_s);
    let last = records.last().map_or(0.0, |r| r.arrival_s);
    let duration_s = last - first;
    let mut sums = vec![(0u64, 0u64, 0u64); workloads];
    let minutes = (duration_s / 60.0).clamp(0.0, f64::from((1u32 << 24) - 1)) as usize + 1;
    let mut per_minute = vec![Vec::new(); workloads];
    for (r, &w) in records.iter().zip(assignment) {
        if w >= workloads {
            continue;
        }
        let s = &mut sums[w];
        s.0 += 1;
        s.1 += u64::from(r.prompt_tokens);
        s.2 += u64::from(r.output_tokens);
        let counts: &mut Vec<u64> = &mut per_minute[w];
        if counts.is_empty() {
            counts.resize(minutes, 0);
        }
        let m = (((r.arrival_s - first) / 60.0) as usize).min(minutes - 1);
        counts[m] += 1;
    }
    sums.into_iter()
        .zip(per_minute)
        .map(|((n, p, o), counts)| {
            // A trace of one instant: one second's worth.
            let rate_rps = n as f64 / duration_s.max(1.0);
            (n > 0).then(|| TraceLoad {
                requests: n,
                rate_rps,
                busy_rate_rps: if counts.len() > 1 {
                    crate::trace::stats::rate_quantile_rps(
                        &crate::trace::stats::minute_rates_rps(&counts, duration_s),
                        0.95,
                    )
                } else {
                    rate_rps
                },
                prompt_tokens: (p as f64 / n as f64).max(1.0),
                output_tokens: (o as f64 / n as f64).max(1.0),
            })
        })
        .collect()
}

/// The simulator's requests: record `i` goes to group `group_of[assignment[i]]` (records of
/// workloads without a group are left out); those arriving before `warmup_s` do not count.
/// Prompts of 0 tokens become 1 (an engine always computes at least one token).
pub fn requests(
    records: &[TraceRecord],
    assignment: &[usize],
    group_of: &[Option<u32>],
    warmup_s: f64,
) -> Vec<Request> {
    records
        .iter()
        .zip(assignment)
        .enumerate()
        .filter_map(|(i, (r, &w))| {
            group_of[w].map(|group| Request {
                id: i as u64,
                group,
                arrival_ms: r.arrival_s * 1000.0,
                prompt_tokens: r.prompt_tokens.max(1),
                output_tokens: r.output_tokens.max(1),
                counted: r.arrival_s >= warmup_s,
            })
        })
        .collect()
}
