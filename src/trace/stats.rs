//! Characterising a trace in one pass: volume and rate (overall and per minute), burstiness
//! (coefficient of variation of inter-arrival times, index of dispersion of counts), token
//! distributions (exact percentiles from counts of each value, so memory grows with the number
//! of distinct token counts, not of requests), models, and measured latencies when present.

use super::TraceRecord;
use serde::Serialize;
use std::collections::BTreeMap;

/// Per-second counts are kept over at most this many seconds (beyond, the dispersion indices
/// are not computed; per-minute counts go on).
const MAX_SECONDS: usize = 10_000_000;

/// Per-minute counts are kept over at most this many minutes (19 years).
const MAX_MINUTES: usize = 10_000_000;

/// Counts of arrivals in fixed-width bins from the earliest arrival seen, in any order.
#[derive(Clone, Debug)]
pub(crate) struct Bins {
    width_s: f64,
    /// Index (time / width) of the first bin.
    base: i64,
    counts: Vec<u64>,
    max_len: usize,
    overflow: bool,
}

impl Bins {
    fn new(width_s: f64, max_len: usize) -> Self {
        Bins {
            width_s,
            base: 0,
            counts: Vec::new(),
            max_len,
            overflow: false,
        }
    }

    /// Per-minute bins over at most [`MAX_MINUTES`].
    pub(crate) fn minutes() -> Self {
        Bins::new(60.0, MAX_MINUTES)
    }

    /// Counts an arrival `t` seconds after some fixed origin.
    pub(crate) fn add(&mut self, t: f64) {
        if self.overflow {
            return;
        }
        let i = (t / self.width_s).floor();
        if !i.is_finite() || i.abs() > 9e15 {
            self.overflow = true;
            return;
        }
        let i = i as i64;
        if self.counts.is_empty() {
            self.base = i;
        }
        if i < self.base {
            // An earlier arrival: prepend bins.
            let extra = (self.base - i) as usize;
            if self.counts.len() + extra > self.max_len {
                self.overflow = true;
                return;
            }
            let mut counts = vec![0; extra];
            counts.append(&mut self.counts);
            self.counts = counts;
            self.base = i;
        }
        let k = (i - self.base) as usize;
        if k >= self.max_len {
            self.overflow = true;
            return;
        }
        if self.counts.len() <= k {
            self.counts.resize(k + 1, 0);
        }
        self.counts[k] += 1;
    }

    /// The counts from the earliest bin, or `None` when they outgrew the limit.
    pub(crate) fn counts(&self) -> Option<&[u64]> {
        (!self.overflow).then_some(&self.counts[..])
    }
}

/// Mean and percentiles of a quantity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Distribution {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// Index of dispersion (variance over mean) of request counts in windows of one width.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Dispersion {
    /// Window width, s.
    pub window_s: f64,
    /// Variance over mean of the counts (1 for Poisson arrivals).
    pub index: f64,
}

/// What a trace looks like.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceStats {
    /// Requests.
    pub requests: u64,
    /// From the first to the last arrival, s.
    pub duration_s: f64,
    /// Requests per second over the duration.
    pub mean_rate_rps: f64,
    /// Per-minute rate, requests/s: its distribution over the trace's minutes (see
    /// [`minute_rates_rps`] for the last, partial one; for a trace under two minutes, its mean
    /// rate).
    pub rate_per_minute_rps: Distribution,
    /// Coefficient of variation of the gaps between arrivals (1 for Poisson).
    pub interarrival_cv: f64,
    /// Index of dispersion of counts per window.
    pub dispersion: Vec<Dispersion>,
    /// Records out of arrival order (the gap statistics assume order).
    pub out_of_order: u64,
    /// Prompt tokens per request.
    pub prompt_tokens: Distribution,
    /// Output tokens per request.
    pub output_tokens: Distribution,
    /// Mean prompt tokens over mean output tokens.
    pub input_output_ratio: f64,
    /// Requests per model, when the trace names models.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, u64>,
    /// Measured TTFT, ms (benchmark files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured_ttft_ms: Option<Distribution>,
    /// Measured end-to-end latency, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured_e2e_ms: Option<Distribution>,
    /// Requests in each minute from the first arrival, in order (the last may be partial).
    #[serde(rename = "requests_per_minute")]
    pub per_minute: Vec<u64>,
    /// How many requests have each prompt length.
    #[serde(skip)]
    pub prompt_counts: BTreeMap<u32, u64>,
    /// How many requests have each output length.
    #[serde(skip)]
    pub output_counts: BTreeMap<u32, u64>,
}

/// Percentile (nearest rank) of a value -> count map holding `n` values.
fn quantile(counts: &BTreeMap<u32, u64>, n: u64, q: f64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
    let mut seen = 0;
    for (&v, &c) in counts {
        seen += c;
        if seen >= rank {
            return f64::from(v);
        }
    }
    f64::NAN
}

fn token_distribution(counts: &BTreeMap<u32, u64>, n: u64, sum: u64) -> Distribution {
    Distribution {
        mean: if n > 0 {
            sum as f64 / n as f64
        } else {
            f64::NAN
        },
        p50: quantile(counts, n, 0.5),
        p90: quantile(counts, n, 0.9),
        p99: quantile(counts, n, 0.99),
        max: counts
            .keys()
            .next_back()
            .map_or(f64::NAN, |&v| f64::from(v)),
    }
}

fn distribution_of(values: &mut [f64]) -> Distribution {
    if values.is_empty() {
        return Distribution {
            mean: f64::NAN,
            p50: f64::NAN,
            p90: f64::NAN,
            p99: f64::NAN,
            max: f64::NAN,
        };
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let at = |q: f64| values[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    Distribution {
        mean: values.iter().sum::<f64>() / n as f64,
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        max: values[n - 1],
    }
}

/// The rate (requests/s) of each minute of `per_minute` (requests per minute from the first
/// arrival, which spans `duration_s`): whole minutes over 60 s; the last, partial minute over the
/// seconds it covers, kept only when it covers at least half a minute (a few seconds of arrivals
/// would read as a spike or a drop). Under two minutes of bins, the rate over the duration.
pub fn minute_rates_rps(per_minute: &[u64], duration_s: f64) -> Vec<f64> {
    if per_minute.len() < 2 {
        let n: u64 = per_minute.iter().sum();
        return if duration_s > 0.0 {
            vec![n as f64 / duration_s]
        } else {
            Vec::new()
        };
    }
    let (last, full) = per_minute.split_last().expect("two or more bins");
    let mut rates: Vec<f64> = full.iter().map(|&c| c as f64 / 60.0).collect();
    let last_s = duration_s - 60.0 * full.len() as f64;
    if last_s >= 30.0 {
        rates.push(*last as f64 / last_s.min(60.0));
    }
    rates
}

/// The rate (requests/s) at quantile `q` of `rates` (from [`minute_rates_rps`]); NaN when empty.
pub fn rate_quantile_rps(rates: &[f64], q: f64) -> f64 {
    let mut rates = rates.to_vec();
    if rates.is_empty() {
        return f64::NAN;
    }
    rates.sort_by(f64::total_cmp);
    let n = rates.len();
    rates[((q * n as f64).ceil() as usize).clamp(1, n) - 1]
}

/// Accumulates statistics record by record.
pub struct StatsBuilder {
    n: u64,
    first_s: Option<f64>,
    min_s: f64,
    max_s: f64,
    last_s: Option<f64>,
    out_of_order: u64,
    gap_n: u64,
    gap_mean: f64,
    gap_m2: f64,
    per_second: Option<Bins>,
    per_minute: Option<Bins>,
    prompt: BTreeMap<u32, u64>,
    output: BTreeMap<u32, u64>,
    prompt_sum: u64,
    output_sum: u64,
    models: BTreeMap<String, u64>,
    ttft_ms: Vec<f64>,
    e2e_ms: Vec<f64>,
}

impl Default for StatsBuilder {
    fn default() -> Self {
        StatsBuilder::new()
    }
}

impl StatsBuilder {
    /// A builder with no records.
    pub fn new() -> Self {
        StatsBuilder {
            n: 0,
            first_s: None,
            min_s: f64::INFINITY,
            max_s: f64::NEG_INFINITY,
            last_s: None,
            out_of_order: 0,
            gap_n: 0,
            gap_mean: 0.0,
            gap_m2: 0.0,
            per_second: Some(Bins::new(1.0, MAX_SECONDS)),
            per_minute: Some(Bins::minutes()),
            prompt: BTreeMap::new(),
            output: BTreeMap::new(),
            prompt_sum: 0,
            output_sum: 0,
            models: BTreeMap::new(),
            ttft_ms: Vec::new(),
            e2e_ms: Vec::new(),
        }
    }

    /// Adds one record.
    pub fn add(&mut self, r: &TraceRecord) {
        self.n += 1;
        let t = r.arrival_s;
        let first = *self.first_s.get_or_insert(t);
        self.min_s = self.min_s.min(t);
        self.max_s = self.max_s.max(t);
        if let Some(last) = self.last_s {
            let gap = t - last;
            if gap < 0.0 {
                self.out_of_order += 1;
            } else {
                // Welford.
                self.gap_n += 1;
                let d = gap - self.gap_mean;
                self.gap_mean += d / self.gap_n as f64;
                self.gap_m2 += d * (gap - self.gap_mean);
            }
        }
        self.last_s = Some(t);
        // Bins from the first arrival (and extended back for earlier ones).
        let since = t - first;
        for bins in [&mut self.per_second, &mut self.per_minute]
            .into_iter()
            .flatten()
        {
            bins.add(since);
        }
        *self.prompt.entry(r.prompt_tokens).or_default() += 1;
        *self.output.entry(r.output_tokens).or_default() += 1;
        self.prompt_sum += u64::from(r.prompt_tokens);
        self.output_sum += u64::from(r.output_tokens);
        if let Some(m) = &r.model {
            match self.models.get_mut(m.as_str()) {
                Some(c) => *c += 1,
                None => {
                    self.models.insert(m.clone(), 1);
                }
            }
        }
        if let Some(v) = r.ttft_s {
            self.ttft_ms.push(v * 1000.0);
        }
        if let Some(v) = r.e2e_s {
            self.e2e_ms.push(v * 1000.0);
        }
    }

    /// The statistics.
    pub fn finish(mut self) -> TraceStats {
        let duration_s = if self.n > 0 {
            self.max_s - self.min_s
        } else {
            0.0
        };
        let per_second: Option<Vec<u64>> = self
            .per_second
            .as_ref()
            .and_then(|b| b.counts().map(<[u64]>::to_vec));
        let per_minute: Vec<u64> = self
            .per_minute
            .as_ref()
            .and_then(|b| b.counts().map(<[u64]>::to_vec))
            .unwrap_or_default();
        let mut minute_rates = minute_rates_rps(&per_minute, duration_s);
        let dispersion = match &per_second {
            Some(per_second) => [1usize, 10, 60]
                .iter()
                .filter_map(|&w| {
                    // Whole windows only.
                    let counts: Vec<f64> = per_second
                        .chunks_exact(w)
                        .map(|c| c.iter().map(|&x| x as f64).sum())
                        .collect();
                    if counts.len() < 2 {
                        return None;
                    }
                    let m = counts.iter().sum::<f64>() / counts.len() as f64;
                    let var = counts.iter().map(|c| (c - m).powi(2)).sum::<f64>()
                        / (counts.len() - 1) as f64;
                    Some(Dispersion {
                        window_s: w as f64,
                        index: if m > 0.0 { var / m } else { f64::NAN },
                    })
                })
                .collect(),
            None => Vec::new(),
        };
        let prompt = token_distribution(&self.prompt, self.n, self.prompt_sum);
        let output = token_distribution(&self.output, self.n, self.output_sum);
        TraceStats {
            requests: self.n,
            duration_s,
            mean_rate_rps: if duration_s > 0.0 {
                self.n as f64 / duration_s
            } else {
                f64::NAN
            },
            rate_per_minute_rps: distribution_of(&mut minute_rates),
            interarrival_cv: if self.gap_n > 1 && self.gap_mean > 0.0 {
                (self.gap_m2 / (self.gap_n - 1) as f64).sqrt() / self.gap_mean
            } else {
                f64::NAN
            },
            dispersion,
            out_of_order: self.out_of_order,
            input_output_ratio: prompt.mean / output.mean,
            prompt_tokens: prompt,
            output_tokens: output,
            models: self.models,
            measured_ttft_ms: (!self.ttft_ms.is_empty())
                .then(|| distribution_of(&mut self.ttft_ms)),
            measured_e2e_ms: (!self.e2e_ms.is_empty()).then(|| distribution_of(&mut self.e2e_ms)),
            per_minute,
            prompt_counts: self.prompt,
            output_counts: self.output,
        }
    }
}

/// Statistics of `records`.
pub fn stats<'a>(records: impl IntoIterator<Item = &'a TraceRecord>) -> TraceStats {
    let mut b = StatsBuilder::new();
    for r in records {
        b.add(r);
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(t: f64, p: u32, o: u32) -> TraceRecord {
        TraceRecord {
            arrival_s: t,
            prompt_tokens: p,
            output_tokens: o,
            ..TraceRecord::default()
        }
    }

    #[test]
    fn evenly_spaced_requests() {
        let records: Vec<TraceRecord> = (0..600)
            .map(|i| record(f64::from(i) * 0.5, 100 + i, 10))
            .collect();
        let s = stats(&records);
        assert_eq!(s.requests, 600);
        assert!((s.duration_s - 299.5).abs() < 1e-9);
        assert!(s.interarrival_cv.abs() < 1e-9, "even gaps: cv 0");
        assert_eq!(s.per_minute, vec![120; 5]);
        assert!((s.rate_per_minute_rps.p50 - 2.0).abs() < 1e-12);
        assert_eq!(s.prompt_tokens.p50, 399.0);
        assert_eq!(s.prompt_tokens.max, 699.0);
        assert!((s.prompt_tokens.mean - 399.5).abs() < 1e-9);
        assert!(s.dispersion.iter().all(|d| d.index.abs() < 1e-9));
        assert_eq!(s.out_of_order, 0);
    }

    #[test]
    fn poisson_arrivals_look_poisson() {
        use rand::SeedableRng;
        use rand_distr::{Distribution as _, Exp};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let exp = Exp::new(5.0).unwrap();
        let mut t = 0.0;
        let records: Vec<TraceRecord> = (0..100_000)
            .map(|_| {
                t += exp.sample(&mut rng);
                record(t, 1, 1)
            })
            .collect();
        let s = stats(&records);
        assert!(
            (s.interarrival_cv - 1.0).abs() < 0.02,
            "{}",
            s.interarrival_cv
        );
        for d in &s.dispersion {
            assert!((d.index - 1.0).abs() < 0.1, "{d:?}");
        }
        assert!((s.mean_rate_rps - 5.0).abs() < 0.1);
        assert!(
            (rate_quantile_rps(&minute_rates_rps(&s.per_minute, s.duration_s), 0.5) - 5.0).abs()
                < 0.3
        );
    }
}
