//! Sizing one replica: the largest arrival rate at which mean TTFT and ITL meet their targets,
//! by bisection over the valid rate range (upstream's `Size`).

use super::replica::{Metrics, ReplicaModel};
use super::{BISECTION_MAX_STEPS, BISECTION_TOLERANCE};
use crate::slo::{Statistic, Targets};
use serde::Serialize;
use std::fmt;

/// What limits the sized rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Binding {
    /// The TTFT target.
    Ttft,
    /// The ITL target.
    Itl,
    /// Neither target: the replica's maximum stable rate.
    Capacity,
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Binding::Ttft => "ttft",
            Binding::Itl => "itl",
            Binding::Capacity => "capacity",
        })
    }
}

/// The result of sizing a replica.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Sizing {
    /// Largest rate meeting the TTFT target (the max rate without one), requests/s.
    pub rate_ttft_rps: f64,
    /// Largest rate meeting the ITL target (the max rate without one), requests/s.
    pub rate_itl_rps: f64,
    /// The sized rate: the minimum of the above, requests/s.
    pub rate_rps: f64,
    /// Which limit binds.
    pub binding: Binding,
    /// Metrics at the sized rate.
    pub metrics: Metrics,
}

/// Why a replica cannot meet its targets at any load.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum SizingError {
    /// The target is below the metric at (almost) zero load.
    #[error(
        "{metric} target {target_ms} ms is below the best achievable {best_ms:.3} ms (at near-zero load)"
    )]
    Infeasible {
        /// `TTFT` or `ITL`.
        metric: &'static str,
        /// The target asked for, ms.
        target_ms: f64,
        /// The metric at the lowest valid rate, ms.
        best_ms: f64,
    },
    /// The model could not be evaluated at the sized rate (degenerate parameters).
    #[error("the model cannot be evaluated at {rate_rps} req/s")]
    Unevaluable {
        /// The rate that failed, requests/s.
        rate_rps: f64,
    },
}

fn within_tolerance(value: f64, target: f64) -> bool {
    value == target || (target != 0.0 && ((value - target) / target).abs() <= BISECTION_TOLERANCE)
}

/// Finds the rate in `[lo, hi]` (requests/s) where `metric(rate) = target` within
/// [`BISECTION_TOLERANCE`], for a metric that rises with load. `Ok(hi)` when even `hi` meets the
/// target; `Err(best)` with the metric at `lo` when `lo` does not.
///
/// The search keeps a bracket like upstream's bisection but steps by regula falsi with the
/// Illinois correction (bisecting every eighth step and whenever a step would leave the bracket),
/// which needs about a third of the evaluations on these curves. The answer satisfies the same
/// tolerance as upstream's.
fn bisect(lo: f64, hi: f64, target: f64, metric: impl Fn(f64) -> f64) -> Result<f64, f64> {
    let (y_lo, y_hi) = (metric(lo), metric(hi));
    if within_tolerance(y_lo, target) {
        return Ok(lo);
    }
    if within_tolerance(y_hi, target) || target > y_hi {
        return Ok(hi);
    }
    if target < y_lo {
        return Err(y_lo);
    }
    // Invariant: f(a) < 0 < f(b).
    // Steps are taken on f = 1/target - 1/metric: near saturation the metric grows like
    // 1/(rate_max - rate), which the reciprocal turns into a near-straight line.
    let g = |y: f64| 1.0 / target - 1.0 / y;
    let (mut a, mut fa) = (lo, g(y_lo));
    let (mut b, mut fb) = (hi, g(y_hi));
    let mut last_side = 0i8;
    for step in 0..BISECTION_MAX_STEPS {
        let mut x = if step % 8 == 7 {
            0.5 * (a + b)
        } else {
            (a * fb - b * fa) / (fb - fa)
        };
        if !(x > a && x < b) {
            x = 0.5 * (a + b);
        }
        let y = metric(x);
        if within_tolerance(y, target) {
            return Ok(x);
        }
        let fx = g(y);
        if fx < 0.0 {
            a = x;
            fa = fx;
            if last_side == -1 {
                fb *= 0.5;
            }
            last_side = -1;
        } else {
            b = x;
            fb = fx;
            if last_side == 1 {
                fa *= 0.5;
            }
            last_side = 1;
        }
        if b - a <= f64::EPSILON * b {
            break;
        }
    }
    // Out of steps (or the bracket collapsed): the lower end meets the target.
    Ok(a)
}

/// Sizes `model` for `targets`: for each target, the largest rate in the valid range meeting it;
/// the sized rate is their minimum (the maximum stable rate without targets).
pub fn size(model: &ReplicaModel, targets: &Targets) -> Result<Sizing, SizingError> {
    let (lo, hi) = model.rate_range_rps();
    // A target's metric at a rate: the model's mean, or its quantile.
    let metric = |stat: Statistic,
                  mean: fn(&Metrics) -> f64,
                  quantile: fn(&ReplicaModel, f64, f64) -> Option<f64>| {
        move |rate: f64| -> f64 {
            match stat.quantile() {
                None => model.analyze(rate).map(|m| mean(&m)),
                Some(q) => quantile(model, rate, q),
            }
            .unwrap_or(f64::INFINITY)
        }
    };
    let ttft = metric(
        targets.ttft_stat,
        |m| m.ttft_ms,
        ReplicaModel::ttft_quantile_ms,
    );
    let itl = metric(
        targets.itl_stat,
        |m| m.itl_ms,
        ReplicaModel::itl_quantile_ms,
    );
    let solve_for =
        |target: Option<f64>, name: &'static str, metric: &dyn Fn(f64) -> f64| match target {
            None => Ok(hi),
            Some(target_ms) => {
                bisect(lo, hi, target_ms, metric).map_err(|best_ms| SizingError::Infeasible {
                    metric: name,
                    target_ms,
                    best_ms,
                })
            }
        };
    let name = |stat: Statistic, mean: &'static str, [p50, p90, p95, p99]: [&'static str; 4]| {
        stat.pick([mean, p50, p90, p95, p99])
    };
    let rate_ttft_rps = solve_for(
        targets.ttft_ms,
        name(
            targets.ttft_stat,
            "TTFT",
            ["p50 TTFT", "p90 TTFT", "p95 TTFT", "p99 TTFT"],
        ),
        &ttft,
    )?;
    let rate_itl_rps = solve_for(
        targets.itl_ms,
        name(
            targets.itl_stat,
            "ITL",
            ["p50 ITL", "p90 ITL", "p95 ITL", "p99 ITL"],
        ),
        &itl,
    )?;
    let rate_rps = rate_ttft_rps.min(rate_itl_rps);
    let binding = if rate_rps >= hi {
        Binding::Capacity
    } else if rate_itl_rps <= rate_ttft_rps {
        Binding::Itl
    } else {
        Binding::Ttft
    };
    let metrics = model
        .analyze(rate_rps)
        .ok_or(SizingError::Unevaluable { rate_rps })?;
    Ok(Sizing {
        rate_ttft_rps,
        rate_itl_rps,
        rate_rps,
        binding,
        metrics,
    })
}

impl crate::error::ModuleError for SizingError {
    fn exit_code(&self) -> crate::error::ExitCode {
        match self {
            SizingError::Infeasible { .. } => crate::error::ExitCode::Infeasible,
            _ => crate::error::ExitCode::Input,
        }
    }
}
