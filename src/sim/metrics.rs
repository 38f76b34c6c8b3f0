//! Latency statistics: exact percentiles over per-request values, and a log-bucket histogram
//! for per-token gaps (ITL), of which there are too many to keep.
//!
//! The histogram's buckets grow by a factor `1 + 2e` (`e` = [`HISTOGRAM_RELATIVE_ERROR`]); a
//! quantile is reported as its bucket's geometric midpoint, so it is within `e` (relative) of
//! the exact sample quantile, for values in `[1e-3, 1e8]` ms. Means are exact.

use serde::Serialize;

/// Relative error bound of histogram quantiles.
pub const HISTOGRAM_RELATIVE_ERROR: f64 = 0.005;
const MIN_MS: f64 = 1e-3;
const MAX_MS: f64 = 1e8;

/// Mean and percentiles of a latency, ms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl Summary {
    /// The statistic `stat` of this latency.
    pub fn at(&self, stat: crate::slo::Statistic) -> f64 {
        stat.pick([self.mean, self.p50, self.p90, self.p95, self.p99])
    }
}

/// The `q`-quantile of sorted values (nearest rank on `(n-1) q`, interpolated).
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Exact summary of values (sorts them in place). NaN fields for no values.
pub fn summarize(values: &mut [f64]) -> Summary {
    if values.is_empty() {
        return Summary {
            mean: f64::NAN,
            p50: f64::NAN,
            p90: f64::NAN,
            p95: f64::NAN,
            p99: f64::NAN,
        };
    }
    values.sort_unstable_by(f64::total_cmp);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    Summary {
        mean,
        p50: quantile(values, 0.50),
        p90: quantile(values, 0.90),
        p95: quantile(values, 0.95),
        p99: quantile(values, 0.99),
    }
}

/// A histogram of positive values with bounded relative quantile error.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: f64,
    log_base: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        let log_base = (1.0 + 2.0 * HISTOGRAM_RELATIVE_ERROR).ln();
        let buckets = ((MAX_MS / MIN_MS).ln() / log_base).ceil() as usize + 2;
        Histogram {
            counts: vec![0; buckets],
            total: 0,
            sum: 0.0,
            log_base,
        }
    }
}

impl Histogram {
    fn bucket(&self, value: f64) -> usize {
        if value.is_nan() || value <= MIN_MS {
            return 0;
        }
        (((value / MIN_MS).ln() / self.log_base) as usize + 1).min(self.counts.len() - 1)
    }

    /// Adds `count` observations of `value` (ms).
    pub fn add(&mut self, value: f64, count: u64) {
        if count == 0 || !value.is_finite() {
            return;
        }
        let b = self.bucket(value);
        self.counts[b] += count;
        self.total += count;
        self.sum += value * count as f64;
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Adds another histogram's observations.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
    }

    fn value_of(&self, bucket: usize) -> f64 {
        if bucket == 0 {
            return MIN_MS;
        }
        // Geometric midpoint of [MIN e^{(b-1)L}, MIN e^{bL}).
        MIN_MS * ((bucket as f64 - 0.5) * self.log_base).exp()
    }

    /// The `q`-quantile (within the relative error bound).
    pub fn quantile(&self, q: f64) -> f64 {
        if self.total == 0 {
            return f64::NAN;
        }
        let rank = ((q * (self.total - 1) as f64).round() as u64).min(self.total - 1);
        let mut seen = 0u64;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen > rank {
                return self.value_of(b);
            }
        }
        self.value_of(self.counts.len() - 1)
    }

    /// Mean (exact) and percentiles.
    pub fn summary(&self) -> Summary {
        if self.total == 0 {
            return summarize(&mut []);
        }
        Summary {
            mean: self.sum / self.total as f64,
            p50: self.quantile(0.50),
            p90: self.quantile(0.90),
            p95: self.quantile(0.95),
            p99: self.quantile(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_summary() {
        let mut v: Vec<f64> = (1..=101).map(f64::from).collect();
        let s = summarize(&mut v);
        assert_eq!((s.mean, s.p50, s.p90, s.p99), (51.0, 51.0, 91.0, 100.0));
        assert!(summarize(&mut []).mean.is_nan());
    }

    proptest! {
        /// Histogram quantiles are within the stated relative error of exact ones.
        #[test]
        fn histogram_error_is_bounded(values in proptest::collection::vec(0.01f64..1e6, 1..2000), q in 0.0f64..1.0) {
            let mut h = Histogram::default();
            for &v in &values {
                h.add(v, 1);
            }
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let rank = ((q * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1);
            let exact = sorted[rank];
            let approx = h.quantile(q);
            prop_assert!(((approx - exact) / exact).abs() <= HISTOGRAM_RELATIVE_ERROR * 1.0001, "{approx} vs {exact}");
            let mean: f64 = values.iter().sum::<f64>() / values.len() as f64;
            prop_assert!((h.summary().mean - mean).abs() <= 1e-9 * mean);
        }
    }
}
