//! Least squares for the perf models: weighted (relative errors by default, since what users
//! check is the percentage error), non-negative (every coefficient is a cost), optionally
//! robust (Huber, by iteratively reweighted least squares), with standard errors and 95%
//! intervals from the active set's covariance, and the diagnostics that say when the data
//! cannot determine the parameters.
//!
//! The non-negativity is exact: with at most four parameters, every subset of them is tried
//! free (the others at zero) and the best feasible one is kept, which is what an active-set
//! NNLS converges to, without its iteration.

use super::{Observation, Work};
use crate::perf::NamedParams;
use crate::perf::{PerfModelKind, PerfParams};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// The loss on a fit's residuals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Loss {
    /// Least squares.
    #[default]
    Squares,
    /// Huber weights against outliers (`--robust`).
    Huber,
}

/// Which errors a fit minimises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Errors {
    /// Relative errors: a 10% miss counts the same on a 5 ms and a 500 ms iteration.
    #[default]
    Relative,
    /// Absolute errors, ms (`--absolute`).
    Absolute,
}

/// How observations of different kinds (decode, prefill, mixed iterations, decode spans,
/// batches) are weighted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KindWeights {
    /// Each kind the same total weight, so that how many of each a benchmark happened to
    /// measure does not decide the fit (a profiler grid of 98% mixed iterations would
    /// otherwise fit mixed iterations and miss pure decode).
    #[default]
    Balanced,
    /// Each observation the same weight (`--unbalanced`).
    AsMeasured,
}

/// How to fit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitOptions {
    /// The perf model.
    pub model: PerfModelKind,
    /// The loss on residuals.
    pub loss: Loss,
    /// Relative or absolute errors.
    pub errors: Errors,
    /// The weight of each kind of observation.
    pub kinds: KindWeights,
    /// For wva-v3: the token budget to write.
    pub max_num_batched_tokens: u32,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            model: PerfModelKind::V2,
            loss: Loss::Squares,
            errors: Errors::Relative,
            kinds: KindWeights::Balanced,
            max_num_batched_tokens: crate::perf::DEFAULT_MAX_NUM_BATCHED_TOKENS,
        }
    }
}

/// One fitted parameter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Parameter {
    /// Name, as in the profile (`alpha`, `beta`, ...).
    pub name: &'static str,
    /// Unit.
    pub unit: &'static str,
    /// Value.
    pub value: f64,
    /// Standard error (0 for a parameter held at its bound).
    pub std_error: f64,
    /// 95% confidence interval.
    pub ci95: (f64, f64),
    /// Held at 0: the unconstrained fit wanted it negative.
    pub at_bound: bool,
}

/// An observation the fit misses most.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Residual {
    /// Where it comes from.
    pub origin: String,
    /// Measured, ms.
    pub measured_ms: f64,
    /// Fitted, ms.
    pub fitted_ms: f64,
    /// (fitted - measured) / measured.
    pub relative_error: f64,
}

/// The result of a fit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fit {
    /// The perf model.
    pub model: PerfModelKind,
    /// Fitted on relative (not absolute) errors.
    pub relative: bool,
    /// With Huber weights against outliers.
    pub robust: bool,
    /// The fitted parameters, as a profile's `perf` block.
    #[serde(skip)]
    pub params: PerfParams,
    /// Each parameter with its uncertainty.
    pub parameters: Vec<Parameter>,
    /// Observations used.
    pub observations: usize,
    /// Distinct operating points (distinct work vectors).
    pub operating_points: usize,
    /// R² of the fitted against the measured times.
    pub r_squared: f64,
    /// Root-mean-square error, ms.
    pub rmse_ms: f64,
    /// Mean absolute percentage error.
    pub mape: f64,
    /// Condition number of the column-scaled, weighted design (over the parameters some
    /// observation exercises): above ~1e3 the parameters trade off against each other.
    pub condition_number: f64,
    /// The worst-fitted observations (by relative error).
    pub worst: Vec<Residual>,
    /// Why the parameters may not mean what they seem.
    pub warnings: Vec<String>,
    /// Caveats that do not make the parameters unidentifiable.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Fit {
    /// True when the data cannot determine the parameters.
    pub fn unidentifiable(&self) -> bool {
        !self.warnings.is_empty()
    }
}

/// Why a fit cannot run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitError {
    /// No observations.
    #[error("no observations to fit")]
    Empty,
    /// Observations with non-finite or non-positive times.
    #[error("{0}: the measured time must be a positive number of ms, got {1}")]
    BadTime(String, f64),
}

/// The parameter names and units of a model.
fn names(model: PerfModelKind) -> Vec<(&'static str, &'static str)> {
    match model {
        PerfModelKind::V1 => vec![
            ("alpha", "ms per decode step"),
            ("beta", "ms per running request"),
            ("gamma", "ms per prefill step"),
            ("delta", "ms per prompt token"),
        ],
        PerfModelKind::V2 | PerfModelKind::V3 => vec![
            ("alpha", "ms per iteration"),
            ("beta", "ms per token"),
            ("gamma", "ms per KV token"),
        ],
    }
}

/// The design row of `w` for `model`.
pub fn features(model: PerfModelKind, w: &Work) -> Vec<f64> {
    match model {
        PerfModelKind::V1 => vec![
            w.iterations,
            w.running,
            w.prefill_iterations,
            w.prefill_tokens,
        ],
        PerfModelKind::V2 | PerfModelKind::V3 => vec![w.iterations, w.tokens, w.kv_tokens],
    }
}

/// The time `params` predict for `w`, ms.
pub fn predict(params: &PerfParams, w: &Work) -> f64 {
    let (model, coef): (PerfModelKind, Vec<f64>) = match params {
        PerfParams::V1(p) => (
            PerfModelKind::V1,
            vec![
                p.alpha_ms,
                p.beta_ms_per_request,
                p.gamma_ms,
                p.delta_ms_per_token_request,
            ],
        ),
        PerfParams::V2(p) => (
            PerfModelKind::V2,
            vec![p.alpha_ms, p.beta_ms_per_token, p.gamma_ms_per_kv_token],
        ),
        PerfParams::V3(p) => (
            PerfModelKind::V3,
            vec![
                p.iteration.alpha_ms,
                p.iteration.beta_ms_per_token,
                p.iteration.gamma_ms_per_kv_token,
            ],
        ),
    };
    features(model, w)
        .iter()
        .zip(&coef)
        .map(|(x, c)| x * c)
        .sum()
}

fn params_of(model: PerfModelKind, c: &[f64], budget: u32) -> PerfParams {
    PerfParams::from_named(
        model,
        NamedParams {
            delta: c.get(3).copied().unwrap_or(0.0),
            max_num_batched_tokens: budget,
            ..NamedParams::new(c[0], c[1], c[2])
        },
    )
}

/// Solves the symmetric positive-definite `a x = b` (Cholesky); `None` when singular.
#[allow(clippy::needless_range_loop)] // Dense matrix code reads best indexed.
fn solve_spd(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                let d = a[i][i] - s;
                if d.is_nan() || d <= 1e-300 {
                    return None;
                }
                l[i][i] = d.sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        x[i] = (y[i] - (i + 1..n).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    Some(x)
}

/// The inverse of a small symmetric positive-definite matrix.
#[allow(clippy::needless_range_loop)] // Dense matrix code reads best indexed.
fn inverse_spd(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let mut inv = vec![vec![0.0; n]; n];
    for j in 0..n {
        let mut e = vec![0.0; n];
        e[j] = 1.0;
        let col = solve_spd(a, &e)?;
        for i in 0..n {
            inv[i][j] = col[i];
        }
    }
    Some(inv)
}

/// Eigenvalues of a small symmetric matrix (cyclic Jacobi).
#[allow(clippy::needless_range_loop)] // Dense matrix code reads best indexed.
fn eigenvalues(a: &[Vec<f64>]) -> Vec<f64> {
    let n = a.len();
    let mut m = a.to_vec();
    for _ in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i][j] * m[i][j])
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if m[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (m[q][q] - m[p][p]) / (2.0 * m[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (mkp, mkq) = (m[k][p], m[k][q]);
                    m[k][p] = c * mkp - s * mkq;
                    m[k][q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let (mpk, mqk) = (m[p][k], m[q][k]);
                    m[p][k] = c * mpk - s * mqk;
                    m[q][k] = s * mpk + c * mqk;
                }
            }
        }
    }
    (0..n).map(|i| m[i][i]).collect()
}

/// Weighted normal equations of the rows.
#[allow(clippy::needless_range_loop)] // Dense matrix code reads best indexed.
fn normal(rows: &[Vec<f64>], y: &[f64], w: &[f64], p: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut xtx = vec![vec![0.0; p]; p];
    let mut xty = vec![0.0; p];
    for ((x, &yi), &wi) in rows.iter().zip(y).zip(w) {
        for a in 0..p {
            let wx = wi * x[a];
            xty[a] += wx * yi;
            for b in a..p {
                xtx[a][b] += wx * x[b];
            }
        }
    }
    for a in 0..p {
        for b in 0..a {
            xtx[a][b] = xtx[b][a];
        }
    }
    (xtx, xty)
}

/// The best non-negative weighted least-squares coefficients, and which are free.
fn nnls(rows: &[Vec<f64>], y: &[f64], w: &[f64], p: usize) -> (Vec<f64>, Vec<bool>) {
    let (xtx, xty) = normal(rows, y, w, p);
    let mut best: Option<(f64, Vec<f64>, Vec<bool>)> = None;
    for mask in 1u32..(1 << p) {
        let free: Vec<usize> = (0..p).filter(|i| mask & (1 << i) != 0).collect();
        let a: Vec<Vec<f64>> = free
            .iter()
            .map(|&i| free.iter().map(|&j| xtx[i][j]).collect())
            .collect();
        let b: Vec<f64> = free.iter().map(|&i| xty[i]).collect();
        let Some(x) = solve_spd(&a, &b) else { continue };
        if x.iter().any(|v| *v < 0.0) {
            continue;
        }
        let mut coef = vec![0.0; p];
        for (k, &i) in free.iter().enumerate() {
            coef[i] = x[k];
        }
        let ssr: f64 = rows
            .iter()
            .zip(y)
            .zip(w)
            .map(|((x, yi), wi)| {
                let r = yi - x.iter().zip(&coef).map(|(a, c)| a * c).sum::<f64>();
                wi * r * r
            })
            .sum();
        if best.as_ref().is_none_or(|(s, _, _)| ssr < *s) {
            let mask: Vec<bool> = (0..p).map(|i| mask & (1 << i) != 0).collect();
            best = Some((ssr, coef, mask));
        }
    }
    best.map_or((vec![0.0; p], vec![false; p]), |(_, c, m)| (c, m))
}

/// Each observation's weight for its kind: with `balance`, `n / (kinds x n_kind)`, so every
/// kind present carries the same total weight and the weights still sum to `n`; else 1.
fn kind_weights(observations: &[Observation], kinds: KindWeights) -> Vec<f64> {
    if kinds == KindWeights::AsMeasured {
        return vec![1.0; observations.len()];
    }
    let mut counts: Vec<(super::Kind, usize)> = Vec::new();
    for o in observations {
        match counts.iter_mut().find(|(k, _)| *k == o.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((o.kind, 1)),
        }
    }
    let n = observations.len() as f64;
    let kinds = counts.len() as f64;
    observations
        .iter()
        .map(|o| {
            let n_kind = counts
                .iter()
                .find(|(k, _)| *k == o.kind)
                .map_or(1, |(_, c)| *c);
            n / (kinds * n_kind as f64)
        })
        .collect()
}

/// Fits `options.model` to `observations`.
pub fn fit(observations: &[Observation], options: &FitOptions) -> Result<Fit, FitError> {
    if observations.is_empty() {
        return Err(FitError::Empty);
    }
    if let Some(o) = observations
        .iter()
        .find(|o| !(o.time_ms.is_finite() && o.time_ms > 0.0))
    {
        return Err(FitError::BadTime(o.origin.clone(), o.time_ms));
    }
    let model = options.model;
    let names = names(model);
    let p = names.len();
    let rows: Vec<Vec<f64>> = observations
        .iter()
        .map(|o| features(model, &o.work))
        .collect();
    let y: Vec<f64> = observations.iter().map(|o| o.time_ms).collect();
    let kind_weight = kind_weights(observations, options.kinds);
    let base: Vec<f64> = y
        .iter()
        .zip(&kind_weight)
        .map(|(t, k)| {
            k * if options.errors == Errors::Relative {
                1.0 / (t * t)
            } else {
                1.0
            }
        })
        .collect();
    let mut w = base.clone();
    let (mut coef, mut free) = nnls(&rows, &y, &w, p);
    if options.loss == Loss::Huber {
        // Huber (k = 1.345) on the standardised residuals, scale from the median absolute
        // deviation.
        for _ in 0..50 {
            let r: Vec<f64> = rows
                .iter()
                .zip(&y)
                .zip(&base)
                .map(|((x, yi), bi)| {
                    (yi - x.iter().zip(&coef).map(|(a, c)| a * c).sum::<f64>()) * bi.sqrt()
                })
                .collect();
            let mut abs: Vec<f64> = r.iter().map(|v| v.abs()).collect();
            abs.sort_by(f64::total_cmp);
            let scale = (abs[abs.len() / 2] / 0.6745).max(1e-12);
            w = base
                .iter()
                .zip(&r)
                .map(|(b, ri)| b * (1.345 / (ri.abs() / scale)).min(1.0))
                .collect();
            let (next, next_free) = nnls(&rows, &y, &w, p);
            let change: f64 = next
                .iter()
                .zip(&coef)
                .map(|(a, b)| (a - b).abs() / b.abs().max(1e-12))
                .fold(0.0, f64::max);
            coef = next;
            free = next_free;
            if change < 1e-9 {
                break;
            }
        }
    }

    // Goodness of fit.
    let n = observations.len();
    let fitted: Vec<f64> = rows
        .iter()
        .map(|x| x.iter().zip(&coef).map(|(a, c)| a * c).sum())
        .collect();
    let mean_y = y.iter().sum::<f64>() / n as f64;
    let ss_tot: f64 = y.iter().map(|v| (v - mean_y).powi(2)).sum();
    let ss_res: f64 = y.iter().zip(&fitted).map(|(a, b)| (a - b).powi(2)).sum();
    let r_squared = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else {
        f64::NAN
    };
    let rmse_ms = (ss_res / n as f64).sqrt();
    let mape = y
        .iter()
        .zip(&fitted)
        .map(|(a, b)| (b - a).abs() / a)
        .sum::<f64>()
        / n as f64;

    // Uncertainty from the free parameters' covariance.
    let free_idx: Vec<usize> = (0..p).filter(|&i| free[i]).collect();
    let dof = n.saturating_sub(free_idx.len());
    let wssr: f64 = y
        .iter()
        .zip(&fitted)
        .zip(&w)
        .map(|((a, b), wi)| wi * (a - b).powi(2))
        .sum();
    let sigma2 = if dof > 0 { wssr / dof as f64 } else { f64::NAN };
    let (xtx, _) = normal(&rows, &y, &w, p);
    let sub: Vec<Vec<f64>> = free_idx
        .iter()
        .map(|&i| free_idx.iter().map(|&j| xtx[i][j]).collect())
        .collect();
    let cov = inverse_spd(&sub);
    let t = if dof > 0 {
        StudentsT::new(0.0, 1.0, dof as f64).map_or(f64::NAN, |d| d.inverse_cdf(0.975))
    } else {
        f64::NAN
    };
    let mut parameters = Vec::new();
    for (i, (name, unit)) in names.iter().enumerate() {
        let se = match (free_idx.iter().position(|&j| j == i), &cov) {
            (Some(k), Some(c)) => (sigma2 * c[k][k]).sqrt(),
            (Some(_), None) => f64::NAN,
            (None, _) => 0.0,
        };
        parameters.push(Parameter {
            name,
            unit,
            value: coef[i],
            std_error: se,
            ci95: ((coef[i] - t * se).max(0.0), coef[i] + t * se),
            at_bound: !free[i],
        });
    }

    // Identifiability.
    let mut points: Vec<Vec<u64>> = rows
        .iter()
        .map(|x| x.iter().map(|v| v.to_bits()).collect())
        .collect();
    points.sort();
    points.dedup();
    let operating_points = points.len();
    // Per-request decode spans of one run all see about the same load.
    let mut span_files: Vec<usize> = observations
        .iter()
        .filter(|o| o.kind == super::Kind::DecodeSpan)
        .map(|o| o.file)
        .collect();
    span_files.sort_unstable();
    span_files.dedup();
    let mut notes = Vec::new();
    if !span_files.is_empty() {
        notes.push(
            "per-request decode spans overlap and share their load, so the intervals (which assume independent errors) are too narrow; judge the fit by --validate on other request rates"
                .to_string(),
        );
    }
    if span_files.len() == 1 {
        notes.push(
            "every per-request observation comes from one request rate: the parameters are conditional on that load; fit two or more rates"
                .to_string(),
        );
    }
    let norms: Vec<f64> = (0..p).map(|i| xtx[i][i].sqrt()).collect();
    // The column-scaled design's condition number: the square root of its Gram matrix's
    // eigenvalue ratio, over the columns some observation exercises (the others are reported
    // on their own).
    let used: Vec<usize> = (0..p).filter(|&i| norms[i] > 0.0).collect();
    let scaled: Vec<Vec<f64>> = used
        .iter()
        .map(|&i| {
            used.iter()
                .map(|&j| xtx[i][j] / (norms[i] * norms[j]))
                .collect()
        })
        .collect();
    let eig = eigenvalues(&scaled);
    let (lo, hi) = eig.iter().fold((f64::INFINITY, 0.0f64), |(l, h), &e| {
        (l.min(e.abs()), h.max(e.abs()))
    });
    let condition_number = if used.is_empty() {
        f64::NAN
    } else if lo > 0.0 {
        (hi / lo).sqrt()
    } else {
        f64::INFINITY
    };
    let mut warnings = Vec::new();
    if operating_points < p {
        warnings.push(format!(
            "not identifiable: {operating_points} distinct operating point(s) (batch sizes, shapes or request rates) for {p} parameters; measure at more batch sizes or loads"
        ));
    } else if dof == 0 {
        warnings.push(format!(
            "{n} observation(s) for {} free parameter(s): the fit is exact, with no residual left to estimate its uncertainty; measure more operating points",
            free_idx.len()
        ));
    } else if condition_number > 1e3 {
        warnings.push(format!(
            "near-singular design (condition number {condition_number:.1e}): the parameters trade off against each other; the data do not separate them (vary batch size and context length independently)"
        ));
    }
    for (i, par) in parameters.iter().enumerate() {
        if norms[i] == 0.0 {
            warnings.push(format!(
                "{} is not determined: no observation exercises it",
                par.name
            ));
        } else if !par.at_bound && par.value > 0.0 && par.std_error > par.value {
            warnings.push(format!(
                "{} is poorly determined: {:.3e} ± {:.3e} (standard error larger than the value)",
                par.name, par.value, par.std_error
            ));
        }
    }

    let mut worst: Vec<Residual> = observations
        .iter()
        .zip(&fitted)
        .map(|(o, f)| Residual {
            origin: o.origin.clone(),
            measured_ms: o.time_ms,
            fitted_ms: *f,
            relative_error: (f - o.time_ms) / o.time_ms,
        })
        .collect();
    worst.sort_by(|a, b| b.relative_error.abs().total_cmp(&a.relative_error.abs()));
    worst.truncate(5);

    Ok(Fit {
        model,
        relative: options.errors == Errors::Relative,
        robust: options.loss == Loss::Huber,
        params: params_of(model, &coef, options.max_num_batched_tokens),
        parameters,
        observations: n,
        operating_points,
        r_squared,
        rmse_ms,
        mape,
        condition_number,
        worst,
        warnings,
        notes,
    })
}

impl crate::error::ModuleError for FitError {}

#[cfg(test)]
mod tests {
    use super::super::Kind;
    use super::*;
    use proptest::prelude::*;

    fn obs(work: Work, time_ms: f64) -> Observation {
        obs_kind(work, time_ms, Kind::Decode)
    }

    fn obs_kind(work: Work, time_ms: f64, kind: Kind) -> Observation {
        Observation {
            work,
            time_ms,
            kind,
            batch: work.running,
            origin: "test".into(),
            file: 0,
            per_unit: 1.0,
        }
    }

    fn synthetic(alpha: f64, beta: f64, gamma: f64, noise: &[f64]) -> Vec<Observation> {
        let mut out = Vec::new();
        let mut k = 0;
        for batch in [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0] {
            for context in [128.0, 512.0, 2048.0] {
                let w = Work::decode(batch, context);
                let t = alpha + beta * w.tokens + gamma * w.kv_tokens;
                out.push(obs(w, t * (1.0 + noise[k % noise.len()])));
                k += 1;
            }
        }
        for prompt in [128.0, 512.0, 2048.0] {
            let w = Work::prefill(1.0, prompt);
            out.push(obs(w, alpha + (beta + gamma) * prompt));
        }
        out
    }

    #[test]
    fn recovers_exact_parameters() {
        let f = fit(
            &synthetic(10.0, 0.05, 0.0005, &[0.0]),
            &FitOptions::default(),
        )
        .unwrap();
        let v: Vec<f64> = f.parameters.iter().map(|p| p.value).collect();
        assert!(
            (v[0] - 10.0).abs() < 1e-6
                && (v[1] - 0.05).abs() < 1e-9
                && (v[2] - 0.0005).abs() < 1e-11,
            "{v:?}"
        );
        assert!(f.mape < 1e-9 && f.warnings.is_empty(), "{f:?}");
    }

    #[test]
    fn balanced_kinds_keep_a_rare_kind_from_being_outvoted() {
        // Decode iterations follow 10 + 0.1 x tokens; 50 times as many prefills follow
        // 30 + 0.1 x tokens. A count-weighted fit tracks the prefills and misses decode by
        // far more than a fit that gives both kinds the same weight.
        let mut obs: Vec<Observation> = Vec::new();
        for b in [1.0, 8.0, 32.0, 64.0] {
            obs.push(obs_kind(Work::decode(b, 0.0), 10.0 + 0.1 * b, Kind::Decode));
        }
        for i in 0..200 {
            let tokens = 100.0 + 10.0 * f64::from(i);
            obs.push(obs_kind(
                Work::prefill(1.0, tokens),
                30.0 + 0.1 * tokens,
                Kind::Prefill,
            ));
        }
        let decode_error = |options: &FitOptions| {
            let f = fit(&obs, options).unwrap();
            obs.iter()
                .filter(|o| o.kind == Kind::Decode)
                .map(|o| (predict(&f.params, &o.work) / o.time_ms - 1.0).abs())
                .fold(0.0, f64::max)
        };
        let balanced = decode_error(&FitOptions::default());
        let counted = decode_error(&FitOptions {
            kinds: KindWeights::AsMeasured,
            ..FitOptions::default()
        });
        assert!(balanced < counted / 2.0, "{balanced} vs {counted}");
        // One kind only: balancing changes nothing.
        let decode: Vec<Observation> = obs[..4].to_vec();
        let a = fit(&decode, &FitOptions::default()).unwrap().params;
        let b = fit(
            &decode,
            &FitOptions {
                kinds: KindWeights::AsMeasured,
                ..FitOptions::default()
            },
        )
        .unwrap()
        .params;
        assert_eq!(a, b);
    }

    #[test]
    fn a_negative_coefficient_is_held_at_zero() {
        // Times that fall with the KV tokens read: gamma would be negative.
        let obs: Vec<Observation> = [
            (1.0, 100.0, 20.0),
            (1.0, 1000.0, 19.0),
            (8.0, 100.0, 30.0),
            (8.0, 1000.0, 28.0),
        ]
        .iter()
        .map(|&(b, c, t)| obs(Work::decode(b, c), t))
        .collect();
        let f = fit(&obs, &FitOptions::default()).unwrap();
        assert!(f.parameters[2].at_bound && f.parameters[2].value == 0.0);
        assert!(f.parameters.iter().all(|p| p.value >= 0.0));
    }

    #[test]
    fn one_operating_point_is_flagged() {
        let obs = vec![obs(Work::decode(8.0, 500.0), 20.0); 5];
        let f = fit(&obs, &FitOptions::default()).unwrap();
        assert!(f.unidentifiable());
        assert!(
            f.warnings[0].contains("1 distinct operating point"),
            "{:?}",
            f.warnings
        );
    }

    #[test]
    fn robust_fitting_resists_an_outlier() {
        let mut data = synthetic(10.0, 0.05, 0.0005, &[0.01, -0.01, 0.005]);
        data[3].time_ms *= 5.0;
        let plain = fit(&data, &FitOptions::default()).unwrap();
        let robust = fit(
            &data,
            &FitOptions {
                loss: Loss::Huber,
                ..FitOptions::default()
            },
        )
        .unwrap();
        let err = |f: &Fit| (f.parameters[0].value - 10.0).abs();
        assert!(
            err(&robust) < err(&plain) / 3.0,
            "{} vs {}",
            err(&robust),
            err(&plain)
        );
        assert!(err(&robust) < 0.3);
    }

    #[test]
    fn the_interval_covers_the_truth_under_noise() {
        let noise = [0.02, -0.015, 0.01, -0.02, 0.005, 0.0, -0.01];
        let f = fit(
            &synthetic(10.0, 0.05, 0.0005, &noise),
            &FitOptions::default(),
        )
        .unwrap();
        let a = &f.parameters[0];
        assert!(a.ci95.0 <= 10.0 && 10.0 <= a.ci95.1, "{a:?}");
        assert!(a.std_error > 0.0);
    }

    proptest! {
        /// The fit never returns a negative coefficient and never fits worse (in its own
        /// weighted criterion) than zero coefficients.
        #[test]
        fn coefficients_are_non_negative(
            times in prop::collection::vec(1.0f64..100.0, 6..30),
        ) {
            let data: Vec<Observation> = times
                .iter()
                .enumerate()
                .map(|(i, &t)| obs(Work::decode(1.0 + (i % 7) as f64, 100.0 * (1 + i % 5) as f64), t))
                .collect();
            let f = fit(&data, &FitOptions::default()).unwrap();
            prop_assert!(f.parameters.iter().all(|p| p.value >= 0.0));
            prop_assert!(f.mape <= 1.0 + 1e-9, "worse than predicting 0: {}", f.mape);
        }
    }
}
