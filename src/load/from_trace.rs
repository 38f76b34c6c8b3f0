//! Driving the simulator from a trace: which workload each request belongs to, the load each
//! workload then carries (for the plan and the analytic comparison), and the requests
//! themselves.

use super::Request;
use crate::error::{Field, RequestError, request_error};
use crate::spec::Scenario;
use crate::trace::TraceRecord;
use crate::trace::stats::{Bins, minute_rates_rps, rate_quantile_rps};

/// The load a trace puts on one workload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceLoad {
    /// Requests.
    pub requests: u64,
    /// Mean arrival rate over the span of the requests (at least one second), requests/s.
    pub rate_rps: f64,
    /// The chosen quantile of its per-minute rates, requests/s (a last, partial minute under
    /// 30 s left out), or the mean rate when the requests fall within one minute: what a plan
    /// for this traffic should carry.
    pub busy_rate_rps: f64,
    /// Whether `busy_rate_rps` is a quantile of per-minute rates (the requests span more than
    /// one minute) rather than the mean rate.
    pub busy_from_minutes: bool,
    /// Mean prompt tokens, each request counted as at least one (as the engine computes it).
    pub prompt_tokens: f64,
    /// Mean output tokens, each request counted as at least one.
    pub output_tokens: f64,
}

/// The quantile of per-minute rates `simulate` and `replay` size a trace's workloads for.
pub const BUSY_RATE_QUANTILE: f64 = 0.95;

/// The one rule for a trace's load on a workload, tallied request by request so that a trace
/// streamed from disk (`plan --trace`) and one in memory (`simulate`, `replay`) give the same
/// numbers: the workload's requests over their own span, minutes counted from their first
/// arrival, token means as the engine sees them.
#[derive(Clone, Debug)]
pub struct LoadTally {
    requests: u64,
    prompt_tokens: u64,
    output_tokens: u64,
    first_s: Option<f64>,
    min_s: f64,
    max_s: f64,
    minutes: Bins,
}

impl Default for LoadTally {
    fn default() -> Self {
        LoadTally::new()
    }
}

impl LoadTally {
    /// A tally of no requests.
    pub fn new() -> Self {
        LoadTally {
            requests: 0,
            prompt_tokens: 0,
            output_tokens: 0,
            first_s: None,
            min_s: f64::INFINITY,
            max_s: f64::NEG_INFINITY,
            minutes: Bins::minutes(),
        }
    }

    /// The tally of `records`.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a TraceRecord>) -> Self {
        let mut tally = LoadTally::new();
        records.into_iter().for_each(|r| tally.add(r));
        tally
    }

    /// Counts one request. Minutes start at the first request counted: the earliest for a
    /// trace in time order (`simulate` and `replay` sort theirs; `plan` reads the file's order,
    /// and an earlier arrival later in the file extends the minutes back from there).
    pub fn add(&mut self, r: &TraceRecord) {
        self.requests += 1;
        self.prompt_tokens += u64::from(r.prompt_tokens.max(1));
        self.output_tokens += u64::from(r.output_tokens.max(1));
        let t = r.arrival_s;
        let first = *self.first_s.get_or_insert(t);
        self.min_s = self.min_s.min(t);
        self.max_s = self.max_s.max(t);
        self.minutes.add(t - first);
    }

    /// The requests counted so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The load, with the busy rate at `quantile` of the per-minute rates; `None` without
    /// requests.
    pub fn finish(&self, quantile: f64) -> Option<TraceLoad> {
        if self.requests == 0 {
            return None;
        }
        let n = self.requests as f64;
        let span_s = self.max_s - self.min_s;
        // A trace of one instant: one second's worth.
        let rate_rps = n / span_s.max(1.0);
        let minutes = self.minutes.counts().filter(|m| m.len() > 1);
        let busy_rate_rps =
            minutes.map(|m| rate_quantile_rps(&minute_rates_rps(m, span_s), quantile));
        Some(TraceLoad {
            requests: self.requests,
            rate_rps,
            busy_rate_rps: busy_rate_rps.unwrap_or(rate_rps),
            busy_from_minutes: busy_rate_rps.is_some(),
            prompt_tokens: self.prompt_tokens as f64 / n,
            output_tokens: self.output_tokens as f64 / n,
        })
    }
}

/// The workload (index in `scenario.workloads`) of each record: `workload` when given; else
/// the one whose model (or name) the record names; else the scenario's only workload.
pub fn assign_workloads(
    records: &[TraceRecord],
    scenario: &Scenario,
    workload: Option<&str>,
) -> Result<Vec<usize>, RequestError> {
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
            .ok_or_else(|| {
                request_error!(format!(
                    "the scenario has no workload `{name}`; it has: {}",
                    names()
                ))
            })?;
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
                    (None, [], None) => Err(request_error!(
                        format!(
                            "request {} names model `{m}`, which no workload serves; give ",
                            i + 1
                        ),
                        Field("workload"),
                        format!(" NAME (workloads: {})", names())
                    )),
                    (None, _, _) => Err(request_error!(
                        format!("several workloads serve model `{m}`; give "),
                        Field("workload"),
                        format!(" NAME (workloads: {})", names())
                    )),
                }
            }
            None => only.ok_or_else(|| {
                request_error!(
                    "the trace does not name models and the scenario has several workloads; give ",
                    Field("workload"),
                    format!(" NAME (workloads: {})", names())
                )
            }),
        })
        .collect()
}

/// The load of each of `workloads` workloads under `records` (`None` for those it does not
/// drive), by [`LoadTally`], busy rates at [`BUSY_RATE_QUANTILE`].
pub fn trace_loads(
    records: &[TraceRecord],
    assignment: &[usize],
    workloads: usize,
) -> Vec<Option<TraceLoad>> {
    let mut tallies = vec![LoadTally::new(); workloads];
    for (r, &w) in records.iter().zip(assignment) {
        if let Some(tally) = tallies.get_mut(w) {
            tally.add(r);
        }
    }
    tallies
        .iter()
        .map(|t| t.finish(BUSY_RATE_QUANTILE))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(arrival_s: f64, prompt_tokens: u32, output_tokens: u32) -> TraceRecord {
        TraceRecord {
            arrival_s,
            prompt_tokens,
            output_tokens,
            model: None,
            ttft_s: None,
            e2e_s: None,
        }
    }

    fn tally(records: &[TraceRecord]) -> LoadTally {
        LoadTally::of(records)
    }

    #[test]
    fn no_requests_no_load() {
        assert_eq!(LoadTally::new().finish(0.95), None);
    }

    #[test]
    fn one_instant_counts_as_one_second() {
        let load = tally(&[record(5.0, 10, 2), record(5.0, 30, 4)])
            .finish(0.95)
            .unwrap();
        assert_eq!(load.rate_rps, 2.0);
        assert_eq!(load.busy_rate_rps, 2.0);
        assert!(!load.busy_from_minutes);
        assert_eq!((load.prompt_tokens, load.output_tokens), (20.0, 3.0));
    }

    #[test]
    fn tokens_count_as_the_engine_computes_them() {
        // A prompt of 0 tokens is one token of prefill; the mean is of the counted tokens.
        let load = tally(&[record(0.0, 0, 1), record(1.0, 3, 1)])
            .finish(0.95)
            .unwrap();
        assert_eq!(load.prompt_tokens, 2.0);
    }

    #[test]
    fn busy_rate_is_a_quantile_of_minutes_from_the_first_arrival() {
        // Minute 0: 60 requests; minute 1: 120; minute 2: 30 s of 30 requests (kept: 30 s).
        let mut records = Vec::new();
        records.extend((0..60).map(|i| record(100.0 + f64::from(i), 1, 1)));
        records.extend((0..120).map(|i| record(160.0 + f64::from(i) * 0.5, 1, 1)));
        records.extend((0..31).map(|i| record(220.0 + f64::from(i), 1, 1)));
        let t = tally(&records);
        let load = t.finish(1.0).unwrap();
        assert!(load.busy_from_minutes);
        assert_eq!(load.busy_rate_rps, 2.0);
        assert_eq!(t.finish(0.0).unwrap().busy_rate_rps, 1.0);
        assert_eq!(load.rate_rps, 211.0 / 150.0);
    }

    #[test]
    fn a_shifted_clock_gives_the_same_load() {
        // Arrivals in time order, on quarter seconds (exact in binary, shifted or not).
        let mut records: Vec<TraceRecord> = (0..500)
            .map(|i| record(f64::from(i * i % 997) * 0.25, i % 50, 1 + i % 9))
            .collect();
        records.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
        let shifted: Vec<TraceRecord> = records
            .iter()
            .map(|r| record(r.arrival_s + 86_400.0, r.prompt_tokens, r.output_tokens))
            .collect();
        for q in [0.5, 0.95, 1.0] {
            assert_eq!(tally(&records).finish(q), tally(&shifted).finish(q));
        }
    }

    #[test]
    fn each_workload_is_measured_over_its_own_requests() {
        // Workload 1's requests fill the second half only: its rate is over its own span.
        let records: Vec<TraceRecord> = (0..200).map(|i| record(f64::from(i), 1, 1)).collect();
        let assignment: Vec<usize> = (0..200)
            .map(|i| usize::from(i >= 100 && i % 2 == 0))
            .collect();
        let loads = trace_loads(&records, &assignment, 3);
        let own: Vec<TraceRecord> = records
            .iter()
            .zip(&assignment)
            .filter(|&(_, &w)| w == 1)
            .map(|(r, _)| r.clone())
            .collect();
        assert_eq!(loads[1], tally(&own).finish(BUSY_RATE_QUANTILE));
        assert_eq!(loads[1].unwrap().rate_rps, 50.0 / 98.0);
        assert_eq!(loads[2], None);
    }
}
