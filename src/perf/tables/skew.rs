//! The skew correction of decode attention: a batch whose decodes have different KV lengths
//! costs more than one whose decodes all have the mean length, because the attention kernel's
//! work is split by sequence and the longest ones finish last.
//!
//! LLMServingSim's profiler measures it (`skew.csv`) and fits one coefficient per bucket of
//! batch shapes (`skew_fit.csv`): `t = t(mean) + alpha x (t(max) - t(mean))`, where `t(mean)`
//! is the table read at the mean KV length and `t(max)` at the longest. Buckets are keyed by
//! the prefill chunk (a profiled value), the number of decodes, the skew rate
//! `(mean - min) / (max - min)`, the longest KV length and the chunk's prefix; a shape whose
//! bucket was not measured takes the pooled `alpha_default`.
//!
//! One deliberate difference from LLMServingSim: it looks the chunk up exactly, so any mixed
//! batch whose chunk is not a profiled value falls back to the pooled coefficient; `wva` takes
//! the nearest profiled chunk instead, whose coefficient was measured on the closest shapes.

use super::curve::bracket;

/// The bucket edges of `skew_fit.csv` (`meta.yaml`'s `skew_fit.bucket_axes`): a value `x` is in
/// bucket `i` when `edges[i] < x <= edges[i + 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SkewAxes {
    /// Decode-count edges.
    pub n: Vec<f64>,
    /// Skew-rate edges.
    pub skew_rate: Vec<f64>,
    /// Longest-KV edges.
    pub kv_big: Vec<f64>,
    /// Prefix edges.
    pub kp: Vec<f64>,
}

impl Default for SkewAxes {
    /// The axes LLMServingSim's profiler writes into `meta.yaml` (version 1.0.0), for a
    /// `meta.yaml` that enables the skew fit without stating them.
    fn default() -> Self {
        SkewAxes {
            n: vec![0.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1e6],
            skew_rate: vec![-0.01, 0.05, 0.15, 0.4, 0.7, 1.01],
            kv_big: vec![0.0, 1024.0, 4096.0, 16384.0, 1e9],
            kp: vec![-1.0, 0.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 1e9],
        }
    }
}

/// One fitted bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SkewBucket {
    /// The profiled prefill chunk, tokens.
    pub pc: f64,
    /// Bucket indices on the axes.
    pub n: usize,
    /// See [`SkewAxes::skew_rate`].
    pub skew_rate: usize,
    /// See [`SkewAxes::kv_big`].
    pub kv_big: usize,
    /// See [`SkewAxes::kp`].
    pub kp: usize,
    /// The coefficient.
    pub alpha: f64,
}

/// The fitted coefficients of one TP degree.
#[derive(Clone, Debug, PartialEq)]
pub struct SkewFit {
    /// Bucket edges.
    pub axes: SkewAxes,
    /// The pooled coefficient.
    pub alpha_default: f64,
    /// The buckets.
    pub buckets: Vec<SkewBucket>,
}

/// The bucket of `x` on `edges` (right-inclusive; below the first edge the first bucket,
/// beyond the last the last).
fn bucket(edges: &[f64], x: f64) -> usize {
    let buckets = edges.len().saturating_sub(1).max(1);
    let i = edges.partition_point(|&e| e < x);
    i.saturating_sub(1).min(buckets - 1)
}

/// The skew coefficients, indexed for lookups: a flat array over the five bucket axes (NaN
/// where the profiler fitted none).
#[derive(Clone, Debug)]
pub(crate) struct SkewAlpha {
    axes: SkewAxes,
    pcs: Vec<f64>,
    alpha_default: f64,
    /// Buckets per axis: pc, n, skew rate, longest KV, prefix.
    dims: [usize; 5],
    table: Vec<f64>,
}

impl SkewAlpha {
    /// Indexes `fit`.
    pub fn new(fit: &SkewFit) -> Self {
        let mut pcs: Vec<f64> = fit.buckets.iter().map(|b| b.pc).collect();
        pcs.sort_by(f64::total_cmp);
        pcs.dedup();
        let buckets = |edges: &[f64]| edges.len().saturating_sub(1).max(1);
        let dims = [
            pcs.len().max(1),
            buckets(&fit.axes.n),
            buckets(&fit.axes.skew_rate),
            buckets(&fit.axes.kv_big),
            buckets(&fit.axes.kp),
        ];
        // A profiler's axes give a few thousand buckets; absurd axes leave only the pooled value.
        let size = dims
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&s| s <= 10_000_000);
        let mut table = vec![f64::NAN; size.unwrap_or(0)];
        let dims = if size.is_some() { dims } else { [0; 5] };
        for b in &fit.buckets {
            let pc = pcs.partition_point(|&p| p < b.pc);
            if let Some(i) = Self::index(&dims, [pc, b.n, b.skew_rate, b.kv_big, b.kp]) {
                table[i] = b.alpha;
            }
        }
        SkewAlpha {
            axes: fit.axes.clone(),
            pcs,
            alpha_default: fit.alpha_default,
            dims,
            table,
        }
    }

    fn index(dims: &[usize; 5], key: [usize; 5]) -> Option<usize> {
        let mut i = 0;
        for (d, k) in dims.iter().zip(key) {
            if k >= *d {
                return None;
            }
            i = i * d + k;
        }
        Some(i)
    }

    /// The coefficient for a batch with a chunk of `pc` after `kp`, `n` decodes whose KV
    /// lengths have mean `mean`, shortest `min` and longest `max`.
    pub fn alpha(&self, pc: f64, kp: f64, n: f64, mean: f64, min: f64, max: f64) -> f64 {
        if self.pcs.is_empty() {
            return self.alpha_default;
        }
        let (lo, hi, t) = bracket(&self.pcs, pc);
        let pc_index = if t > 0.5 { hi } else { lo };
        let rate = if max > min {
            ((mean - min) / (max - min)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let key = [
            pc_index,
            bucket(&self.axes.n, n),
            bucket(&self.axes.skew_rate, rate),
            bucket(&self.axes.kv_big, max),
            bucket(&self.axes.kp, kp),
        ];
        Self::index(&self.dims, key)
            .map(|i| self.table[i])
            .filter(|a| !a.is_nan())
            .unwrap_or(self.alpha_default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_right_inclusive() {
        let edges = [0.0, 2.0, 4.0, 8.0];
        assert_eq!(bucket(&edges, 1.0), 0);
        assert_eq!(bucket(&edges, 2.0), 0);
        assert_eq!(bucket(&edges, 3.0), 1);
        assert_eq!(bucket(&edges, 100.0), 2);
        assert_eq!(bucket(&edges, -5.0), 0);
        // The prefix axis starts at -1 so that a prefix of 0 has its own bucket.
        let kp = SkewAxes::default().kp;
        assert_eq!(bucket(&kp, 0.0), 0);
        assert_eq!(bucket(&kp, 300.0), 1);
    }

    #[test]
    fn a_measured_bucket_wins_and_others_take_the_pooled_value() {
        let axes = SkewAxes::default();
        let fit = SkewFit {
            buckets: vec![SkewBucket {
                pc: 0.0,
                n: bucket(&axes.n, 100.0),
                skew_rate: bucket(&axes.skew_rate, 0.25),
                kv_big: bucket(&axes.kv_big, 3000.0),
                kp: 0,
                alpha: 0.4,
            }],
            axes,
            alpha_default: 0.06,
        };
        let skew = SkewAlpha::new(&fit);
        // 100 decodes, lengths 500..3000 with mean 1125: skew rate 0.25.
        assert_eq!(skew.alpha(0.0, 0.0, 100.0, 1125.0, 500.0, 3000.0), 0.4);
        // A chunk of 6 tokens is nearest the profiled chunk 0.
        assert_eq!(skew.alpha(6.0, 0.0, 100.0, 1125.0, 500.0, 3000.0), 0.4);
        assert_eq!(skew.alpha(0.0, 0.0, 3.0, 1125.0, 500.0, 3000.0), 0.06);
    }
}
