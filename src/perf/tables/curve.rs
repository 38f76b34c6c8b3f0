//! A measured 1-D curve (time by token or sequence count), and the bracketing both the curves
//! and the attention grid interpolate with.

/// Where `q` falls on the sorted `values`: the two indices to interpolate between and the
/// weight of the second. Below the first value it clamps (`(0, 0, 0)`); above the last it
/// extrapolates from the last two (as LLMServingSim's lookups do).
pub(crate) fn bracket(values: &[f64], q: f64) -> (usize, usize, f64) {
    let n = values.len();
    if n <= 1 || q <= values[0] || q.is_nan() {
        return (0, 0, 0.0);
    }
    let i = values.partition_point(|&v| v <= q);
    let (lo, hi) = if i >= n { (n - 2, n - 1) } else { (i - 1, i) };
    let span = values[hi] - values[lo];
    let t = if span > 0.0 {
        (q - values[lo]) / span
    } else {
        0.0
    };
    (lo, hi, t)
}

/// Time (µs) by size, measured at sorted points.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Curve {
    xs: Vec<f64>,
    ys: Vec<f64>,
}

impl Curve {
    /// A curve through `points` (sorted here; repeated sizes keep their mean). `None` when
    /// there are no points.
    pub fn new(mut points: Vec<(f64, f64)>) -> Option<Self> {
        if points.is_empty() {
            return None;
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
        let mut count = 0.0;
        for (x, y) in points {
            if xs.last() == Some(&x) {
                let last = ys.len() - 1;
                ys[last] = (ys[last] * count + y) / (count + 1.0);
                count += 1.0;
            } else {
                xs.push(x);
                ys.push(y);
                count = 1.0;
            }
        }
        Some(Curve { xs, ys })
    }

    /// The time at `x`, never below zero.
    pub fn at(&self, x: f64) -> f64 {
        let (lo, hi, t) = bracket(&self.xs, x);
        (self.ys[lo] + t * (self.ys[hi] - self.ys[lo])).max(0.0)
    }

    /// The largest measured size.
    pub fn max_x(&self) -> f64 {
        self.xs.last().copied().unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_clamps_below_and_extrapolates_above() {
        let c = Curve::new(vec![(16.0, 20.0), (1.0, 10.0), (8.0, 12.0)]).unwrap();
        assert_eq!(c.at(1.0), 10.0);
        assert_eq!(c.at(0.0), 10.0);
        assert!((c.at(12.0) - 16.0).abs() < 1e-12);
        // Above 16: the last segment's slope, 1 per unit.
        assert!((c.at(20.0) - 24.0).abs() < 1e-12);
        assert_eq!(c.max_x(), 16.0);
        assert!(Curve::new(Vec::new()).is_none());
    }

    #[test]
    fn repeated_sizes_are_averaged() {
        let c = Curve::new(vec![(2.0, 4.0), (2.0, 6.0), (4.0, 9.0)]).unwrap();
        assert_eq!(c.at(2.0), 5.0);
    }
}
