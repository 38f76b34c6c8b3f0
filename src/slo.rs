//! Service-level objectives: which statistic of a latency a target bounds, and a workload's
//! TTFT and ITL targets. One type from the scenario file to the sizing, the simulator's summary
//! and the replay's accounting, so a p95 target is a p95 everywhere (no detour through a
//! quantile number and back).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A latency statistic a target applies to.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Statistic {
    /// The mean.
    #[default]
    Mean,
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
}

impl Statistic {
    /// Parses `mean`, `p50`, `p90`, `p95`, `p99`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "mean" => Some(Statistic::Mean),
            "p50" => Some(Statistic::P50),
            "p90" => Some(Statistic::P90),
            "p95" => Some(Statistic::P95),
            "p99" => Some(Statistic::P99),
            _ => None,
        }
    }

    /// The name as written in files.
    pub fn name(self) -> &'static str {
        match self {
            Statistic::Mean => "mean",
            Statistic::P50 => "p50",
            Statistic::P90 => "p90",
            Statistic::P95 => "p95",
            Statistic::P99 => "p99",
        }
    }

    /// The quantile a percentile is (0.99 for p99); `None` for the mean.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Statistic::Mean => None,
            Statistic::P50 => Some(0.50),
            Statistic::P90 => Some(0.90),
            Statistic::P95 => Some(0.95),
            Statistic::P99 => Some(0.99),
        }
    }

    /// Picks this statistic's entry of `[mean, p50, p90, p95, p99]`.
    pub fn pick<T>(self, [mean, p50, p90, p95, p99]: [T; 5]) -> T {
        match self {
            Statistic::Mean => mean,
            Statistic::P50 => p50,
            Statistic::P90 => p90,
            Statistic::P95 => p95,
            Statistic::P99 => p99,
        }
    }
}

impl fmt::Display for Statistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Latency targets, ms. `None` = no target on that metric.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Targets {
    /// Time-to-first-token target, ms.
    pub ttft_ms: Option<f64>,
    /// Inter-token latency target, ms.
    pub itl_ms: Option<f64>,
    /// The statistic the TTFT target bounds (mean by default).
    pub ttft_stat: Statistic,
    /// The statistic the ITL target bounds.
    pub itl_stat: Statistic,
}

impl Targets {
    /// Whether one request with this TTFT and time per output token meets the TTFT and the
    /// ITL target (a missing target is met). Simulated attainment applies the targets per
    /// request.
    pub fn met_by(&self, ttft_ms: f64, tpot_ms: f64) -> (bool, bool) {
        (
            self.ttft_ms.is_none_or(|t| ttft_ms <= t),
            self.itl_ms.is_none_or(|t| tpot_ms <= t),
        )
    }

    /// Whether either target bounds a percentile rather than the mean.
    pub fn has_percentile(&self) -> bool {
        self.ttft_stat != Statistic::Mean || self.itl_stat != Statistic::Mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for s in [
            Statistic::Mean,
            Statistic::P50,
            Statistic::P90,
            Statistic::P95,
            Statistic::P99,
        ] {
            assert_eq!(Statistic::parse(s.name()), Some(s));
            assert_eq!(s.to_string(), s.name());
            assert_eq!(s.pick(["mean", "p50", "p90", "p95", "p99"]), s.name());
        }
        assert_eq!(Statistic::parse("p97"), None);
        assert_eq!(Statistic::P95.quantile(), Some(0.95));
        assert_eq!(Statistic::Mean.quantile(), None);
    }

    #[test]
    fn a_missing_target_is_met() {
        let t = Targets {
            ttft_ms: Some(100.0),
            ..Targets::default()
        };
        assert_eq!(t.met_by(100.0, 1e9), (true, true));
        assert_eq!(t.met_by(100.1, 0.0), (false, true));
        assert!(!t.has_percentile());
    }
}
