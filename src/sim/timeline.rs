//! A per-time-bucket view of a simulation: load, completions, latency and engine occupancy.

use serde::Serialize;

/// One bucket of one group.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TimelineRow {
    /// Bucket start, s.
    pub start_s: f64,
    /// Group name (the workload's).
    #[serde(rename = "workload")]
    pub group: String,
    /// Arrivals in the bucket.
    pub arrivals: u64,
    /// Arrivals per second.
    pub arrivals_rps: f64,
    /// Completions in the bucket.
    pub completions: u64,
    /// Completions per second.
    pub throughput_rps: f64,
    /// Mean TTFT of the requests completed in the bucket, ms.
    pub mean_ttft_ms: f64,
    /// Largest TTFT of the requests completed in the bucket, ms.
    pub max_ttft_ms: f64,
    /// Mean requests running (summed over replicas).
    pub running: f64,
    /// Mean requests waiting (summed over replicas).
    pub waiting: f64,
    /// Mean KV-cache use, fraction (averaged over replicas).
    pub kv_fraction: f64,
    /// Preemptions in the bucket.
    pub preemptions: u64,
}

/// The CSV columns of a [`TimelineRow`], in order.
pub const TIMELINE_COLUMNS: [&str; 12] = [
    "start_s",
    "workload",
    "arrivals",
    "arrivals_rps",
    "completions",
    "throughput_rps",
    "mean_ttft_ms",
    "max_ttft_ms",
    "running",
    "waiting",
    "kv_fraction",
    "preemptions",
];

/// An engine's state during one iteration.
#[derive(Clone, Copy, Debug)]
pub(super) struct Occupancy {
    /// Requests running.
    pub running: u32,
    /// Requests waiting.
    pub waiting: usize,
    /// KV-cache use, fraction.
    pub kv_fraction: f64,
    /// Preemptions since the previous iteration.
    pub preemptions: u64,
}

/// Buckets kept per group; later events are dropped (and the timeline marked truncated), so a
/// tiny bucket on a long run cannot exhaust memory.
pub const MAX_BUCKETS: usize = 1_000_000;

/// Accumulates timeline buckets.
#[derive(Debug)]
pub(super) struct Timeline {
    bucket_ms: f64,
    rows: Vec<Vec<Acc>>,
    replicas: Vec<u32>,
    /// Where events past the last bucket go.
    overflow: Acc,
    /// True once an event fell past [`MAX_BUCKETS`].
    pub truncated: bool,
}

#[derive(Clone, Debug, Default)]
struct Acc {
    arrivals: u64,
    completions: u64,
    ttft_sum: f64,
    ttft_max: f64,
    running_ms: f64,
    waiting_ms: f64,
    kv_ms: f64,
    preemptions: u64,
}

impl Timeline {
    pub(super) fn new(bucket_ms: f64, replicas: Vec<u32>) -> Self {
        Timeline {
            bucket_ms,
            rows: vec![Vec::new(); replicas.len()],
            replicas,
            overflow: Acc::default(),
            truncated: false,
        }
    }

    fn at(&mut self, group: u32, time_ms: f64) -> &mut Acc {
        let rows = &mut self.rows[group as usize];
        let b = (time_ms / self.bucket_ms).max(0.0) as usize;
        if b >= MAX_BUCKETS {
            self.truncated = true;
            return &mut self.overflow;
        }
        if rows.len() <= b {
            rows.resize(b + 1, Acc::default());
        }
        &mut rows[b]
    }

    pub(super) fn arrival(&mut self, group: u32, time_ms: f64) {
        self.at(group, time_ms).arrivals += 1;
    }

    pub(super) fn completion(&mut self, group: u32, time_ms: f64, ttft_ms: f64) {
        let acc = self.at(group, time_ms);
        acc.completions += 1;
        acc.ttft_sum += ttft_ms;
        acc.ttft_max = acc.ttft_max.max(ttft_ms);
    }

    /// Adds an iteration of `dt_ms` starting at `time_ms` with the engine's state.
    pub(super) fn occupancy(&mut self, group: u32, time_ms: f64, dt_ms: f64, state: Occupancy) {
        let acc = self.at(group, time_ms);
        acc.running_ms += f64::from(state.running) * dt_ms;
        acc.waiting_ms += state.waiting as f64 * dt_ms;
        acc.kv_ms += state.kv_fraction * dt_ms;
        acc.preemptions += state.preemptions;
    }

    pub(super) fn rows(&self, names: &[String]) -> Vec<TimelineRow> {
        let mut out = Vec::new();
        let seconds = self.bucket_ms / 1000.0;
        for (g, rows) in self.rows.iter().enumerate() {
            for (b, acc) in rows.iter().enumerate() {
                out.push(TimelineRow {
                    start_s: b as f64 * seconds,
                    group: names[g].clone(),
                    arrivals: acc.arrivals,
                    arrivals_rps: acc.arrivals as f64 / seconds,
                    completions: acc.completions,
                    throughput_rps: acc.completions as f64 / seconds,
                    mean_ttft_ms: if acc.completions > 0 {
                        acc.ttft_sum / acc.completions as f64
                    } else {
                        f64::NAN
                    },
                    max_ttft_ms: if acc.completions > 0 {
                        acc.ttft_max
                    } else {
                        f64::NAN
                    },
                    running: acc.running_ms / self.bucket_ms,
                    waiting: acc.waiting_ms / self.bucket_ms,
                    kv_fraction: acc.kv_ms / self.bucket_ms / f64::from(self.replicas[g].max(1)),
                    preemptions: acc.preemptions,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_column_list_matches_the_row() {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.serialize(TimelineRow::default()).unwrap();
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), TIMELINE_COLUMNS.join(","));
    }
}
