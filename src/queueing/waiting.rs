//! The queueing wait of a replica under general service times: the alternatives to the
//! state-dependent M/M/1/K chain's wait (which assumes exponential service), selected with
//! `--queue-model`.
//!
//! - `mm1k` (default, upstream's): the chain's wait, `L/X - n_serv/X`.
//! - `mg1`: Pollaczek-Khinchine for the replica as one server completing requests at its
//!   full-batch rate `mu(N)`: `W = rho S (Ca^2 + Cs^2) / (2 (1 - rho))`, `S = 1/mu(N)`,
//!   `rho = lambda S` (Kingman's form; `Ca^2 = 1` for Poisson arrivals).
//! - `allen-cunneen`: the batch slots as `c = N` servers of rate `mu(N)/N` each (M/G/c):
//!   Erlang C's wait times `(Ca^2 + Cs^2) / 2`.
//!
//! `Cs^2` is the squared coefficient of variation of a request's work, from the length
//! distributions: a request costs `p` per prompt token (the prefill's extra over a decode step)
//! and `d` per output token (its share of a full-batch decode step), so
//! `Cs^2 = (p^2 Var[in] + d^2 Var[out]) / (p E[in] + d E[out])^2`. `Ca^2` is the arrival
//! process's (1 for Poisson). The same `Cs^2` serves both formulas: for Allen-Cunneen it
//! under-weights the output variance a little (a slot is held for the prefill and the whole
//! decode, not a share of a full-batch step); the validation table was measured with it. Both
//! formulas ignore the queue limit; the prefill and ITL still come from the chain's mean
//! batch, and percentile targets keep the chain's wait (`super::tail`).

use crate::perf::ServiceCurve;
use serde::Serialize;
use std::fmt;

/// Which queue model gives the wait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum QueueModel {
    /// Upstream's state-dependent M/M/1/K chain.
    #[default]
    Mm1k,
    /// Pollaczek-Khinchine M/G/1 at the full-batch rate.
    Mg1,
    /// Allen-Cunneen M/G/c over the batch slots.
    AllenCunneen,
}

impl fmt::Display for QueueModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QueueModel::Mm1k => "mm1k",
            QueueModel::Mg1 => "mg1",
            QueueModel::AllenCunneen => "allen-cunneen",
        })
    }
}

/// Variability of arrivals and service.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Variability {
    /// Squared coefficient of variation of inter-arrival times.
    pub arrival_scv: f64,
    /// Squared coefficient of variation of a request's work.
    pub service_scv: f64,
}

impl Default for Variability {
    /// Poisson arrivals, exponential service: every model agrees on the shape.
    fn default() -> Self {
        Variability {
            arrival_scv: 1.0,
            service_scv: 1.0,
        }
    }
}

/// The squared coefficient of variation of a request's work on `curve` (whose shape gives
/// the mean lengths) for prompt and output length variances `prompt_var`, `output_var`.
pub fn service_scv(curve: &ServiceCurve, prompt_var: f64, output_var: f64) -> f64 {
    let shape = curve.shape();
    let n = curve.max_batch();
    let per_prompt_token = if shape.prompt_tokens > 0.0 {
        ((curve.prefill_at_batch_ms(1) - curve.itl_at_batch_ms(1)) / shape.prompt_tokens).max(0.0)
    } else {
        0.0
    };
    let per_output_token = curve.itl_at_batch_ms(n) / f64::from(n);
    let mean = per_prompt_token * shape.prompt_tokens + per_output_token * shape.output_tokens;
    if mean <= 0.0 {
        return 0.0;
    }
    (per_prompt_token.powi(2) * prompt_var.max(0.0)
        + per_output_token.powi(2) * output_var.max(0.0))
        / (mean * mean)
}

/// Pollaczek-Khinchine's mean wait, ms, at `lambda` and full-batch rate `mu` (per ms), in
/// Kingman's form for non-Poisson arrivals: `rho S (Ca^2 + Cs^2) / (2 (1 - rho))` (exact for
/// Poisson arrivals, `Ca^2 = 1`).
pub fn mg1_wait_ms(lambda: f64, mu: f64, v: Variability) -> f64 {
    let rho = lambda / mu;
    if rho >= 1.0 {
        return f64::INFINITY;
    }
    rho / mu * (v.arrival_scv + v.service_scv) / (2.0 * (1.0 - rho))
}

/// Allen-Cunneen's mean wait, ms, for `servers` servers of rate `mu_server` (per ms) each.
pub fn allen_cunneen_wait_ms(lambda: f64, servers: u32, mu_server: f64, v: Variability) -> f64 {
    let c = f64::from(servers.max(1));
    let a = lambda / mu_server;
    let rho = a / c;
    if rho >= 1.0 {
        return f64::INFINITY;
    }
    // Erlang B by recursion (stable), then Erlang C.
    let mut b = 1.0;
    for k in 1..=servers.max(1) {
        b = a * b / (f64::from(k) + a * b);
    }
    let erlang_c = b / (1.0 - rho * (1.0 - b));
    erlang_c / (c * mu_server - lambda) * (v.arrival_scv + v.service_scv) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms() {
        // M/M/1: W = rho / (mu - lambda).
        let (l, m) = (0.7, 1.0);
        let v = Variability::default();
        assert!((mg1_wait_ms(l, m, v) - 0.7 / 0.3).abs() < 1e-12);
        // M/D/1: half of it.
        let md1 = Variability {
            arrival_scv: 1.0,
            service_scv: 0.0,
        };
        assert!((mg1_wait_ms(l, m, md1) - 0.35 / 0.3).abs() < 1e-12);
        // One server: Allen-Cunneen with Ca^2 = Cs^2 = 1 is M/M/1.
        assert!((allen_cunneen_wait_ms(l, 1, m, v) - 0.7 / 0.3).abs() < 1e-12);
        // M/M/2 at a = 1.4: C(2, 1.4) = 0.5765 (tables), W = C / (2 mu - lambda).
        let w = allen_cunneen_wait_ms(1.4, 2, 1.0, v);
        assert!((w - 0.576_470_588 / 0.6).abs() < 1e-6, "{w}");
        assert_eq!(mg1_wait_ms(1.0, 1.0, v), f64::INFINITY);
    }
}
