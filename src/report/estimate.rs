//! The `wva estimate` report: fitted parameters with their uncertainty, the fit's quality, and
//! its errors in sample, on held-out observations and on validation files.

use super::table::new_table;
use crate::estimate::check::Evaluation;
use crate::estimate::{Fit, Kind, Observation};
use serde::Serialize;

/// What `wva estimate --report` prints.
#[derive(Debug, Serialize)]
pub struct EstimateReport {
    /// The files fitted.
    pub files: Vec<String>,
    /// The fit.
    pub fit: Fit,
    /// Errors on the fitted observations, by kind and file.
    pub in_sample: Evaluation,
    /// Errors on the held-out observations (`--holdout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout: Option<Evaluation>,
    /// Errors on the validation files (`--validate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<Evaluation>,
}

fn percent(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

fn evaluation_rows(title: &str, e: &Evaluation, out: &mut String) {
    out.push_str(&format!(
        "{title}: {} observations, MAPE {:.1}%\n",
        e.observations,
        e.mape * 100.0
    ));
    let mut t = new_table(&["", "n", "measured ms", "predicted ms", "error", "MAPE"]);
    for k in &e.by_kind {
        t.add_row(vec![
            k.kind.name().to_string(),
            k.observations.to_string(),
            String::new(),
            String::new(),
            format!("bias {}", percent(k.bias)),
            format!("{:.1}%", k.mape * 100.0),
        ]);
    }
    for f in &e.by_file {
        t.add_row(vec![
            format!(
                "{} {} (mean {})",
                std::path::Path::new(&f.file)
                    .file_name()
                    .map_or(f.file.clone(), |n| n.to_string_lossy().into_owned()),
                f.kind.name(),
                f.unit
            ),
            f.observations.to_string(),
            format!("{:.3}", f.measured_ms),
            format!("{:.3}", f.predicted_ms),
            percent(f.relative_error),
            format!("{:.1}%", f.mape * 100.0),
        ]);
    }
    out.push_str(&t.to_string());
    out.push('\n');
}

/// The report as tables for people.
pub fn estimate_table(r: &EstimateReport) -> String {
    let f = &r.fit;
    let mut out = format!(
        "{} fit of {} observations at {} operating points: R² {:.4}, RMSE {:.3} ms, MAPE {:.1}%, condition number {:.1e}\n",
        f.model.name(),
        f.observations,
        f.operating_points,
        f.r_squared,
        f.rmse_ms,
        f.mape * 100.0,
        f.condition_number
    );
    let mut t = new_table(&["parameter", "value", "std error", "95% interval", "unit"]);
    for p in &f.parameters {
        t.add_row(vec![
            p.name.to_string(),
            format!("{:.4e}", p.value),
            if p.at_bound {
                "at bound 0".into()
            } else if !p.std_error.is_finite() {
                "n/a".into()
            } else {
                format!("{:.2e}", p.std_error)
            },
            if p.at_bound {
                "n/a".into()
            } else if p.ci95.1.is_finite() {
                format!("[{:.3e}, {:.3e}]", p.ci95.0, p.ci95.1)
            } else {
                "n/a".into()
            },
            p.unit.to_string(),
        ]);
    }
    out.push_str(&t.to_string());
    out.push('\n');
    evaluation_rows("in sample", &r.in_sample, &mut out);
    if let Some(h) = &r.holdout {
        evaluation_rows("held out", h, &mut out);
    }
    if let Some(v) = &r.validation {
        evaluation_rows("validation files", v, &mut out);
    }
    out.push_str("worst residuals:\n");
    for w in &f.worst {
        out.push_str(&format!(
            "  {}: measured {:.3} ms, fitted {:.3} ms ({})\n",
            w.origin,
            w.measured_ms,
            w.fitted_ms,
            percent(w.relative_error)
        ));
    }
    for w in &f.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    for n in &f.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

/// What `wva estimate --calibrate --report` prints.
#[derive(Debug, Serialize)]
pub struct CalibrationReport {
    /// The files calibrated on.
    pub files: Vec<String>,
    /// The calibration.
    pub calibration: crate::estimate::calibrate::Calibration,
    /// Errors on the validation files (`--validate`), with the calibrated parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<Vec<crate::estimate::calibrate::StatError>>,
}

fn stat_errors(title: &str, errors: &[crate::estimate::calibrate::StatError], out: &mut String) {
    let finite: Vec<f64> = errors
        .iter()
        .map(|e| e.error.abs())
        .filter(|e| e.is_finite())
        .collect();
    let mape = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
    out.push_str(&format!(
        "{title}: {} statistics, mean absolute error {:.1}%\n",
        errors.len(),
        mape * 100.0
    ));
    let mut t = new_table(&[
        "run",
        "load",
        "statistic",
        "measured ms",
        "predicted ms",
        "error",
    ]);
    for e in errors {
        let file = std::path::Path::new(&e.origin)
            .file_name()
            .map_or(e.origin.clone(), |n| n.to_string_lossy().into_owned());
        t.add_row(vec![
            file,
            e.load.clone(),
            e.statistic.clone(),
            format!("{:.1}", e.measured_ms),
            if e.predicted_ms.is_finite() {
                format!("{:.1}", e.predicted_ms)
            } else {
                "failed".into()
            },
            if e.error.is_finite() {
                percent(e.error)
            } else {
                "n/a".into()
            },
        ]);
    }
    out.push_str(&t.to_string());
    out.push('\n');
}

/// The calibration as tables for people.
pub fn calibration_table(r: &CalibrationReport) -> String {
    use crate::estimate::calibrate::Identified;
    use crate::perf::PerfParams;
    let c = &r.calibration;
    let (name, p) = match c.params {
        PerfParams::V2(p) => ("wva-v2", p),
        PerfParams::V3(g) => ("wva-v3", g.iteration),
        PerfParams::V1(_) => return "calibration gives gen-2 or gen-3 parameters only\n".into(),
    };
    let mut out = format!(
        "{name} calibrated through the simulator: robust log loss {:.4} (start {:.4}), {} evaluations\n",
        c.objective, c.objective_at_start, c.evaluations
    );
    let mut t = new_table(&["parameter", "value", "unit"]);
    t.add_row(vec![
        "alpha".into(),
        format!("{:.4e}", p.alpha_ms),
        "ms per iteration".into(),
    ]);
    t.add_row(vec![
        "beta".into(),
        format!("{:.4e}", p.beta_ms_per_token),
        "ms per token".into(),
    ]);
    t.add_row(vec![
        "gamma".into(),
        format!("{:.4e}", p.gamma_ms_per_kv_token),
        "ms per KV token".into(),
    ]);
    t.add_row(vec![
        "max_num_batched_tokens".into(),
        format!(
            "{}{}",
            c.max_num_batched_tokens,
            match c.budget_identified {
                Identified::Given => " (given)",
                Identified::Yes => " (chosen by the data)",
                Identified::No => " (chosen; others fit almost as well)",
            }
        ),
        "tokens per iteration".into(),
    ]);
    t.add_row(vec![
        "KV capacity".into(),
        match (c.kv_capacity_tokens, c.kv_identified) {
            (Some(kv), Identified::Given) => format!("{kv} (given)"),
            (Some(kv), _) => kv.to_string(),
            (None, Identified::No) => {
                "unlimited: no run determines it (give --kv-capacity-tokens)".into()
            }
            (None, _) => "unlimited".into(),
        },
        "tokens per replica".into(),
    ]);
    out.push_str(&t.to_string());
    out.push('\n');
    stat_errors("in sample", &c.in_sample, &mut out);
    if let Some(v) = &r.validation {
        stat_errors("validation files", v, &mut out);
    }
    out
}

/// Draws a direct fit: measured and fitted mean time per batch size, for each kind, and the
/// relative residuals (PNG, or SVG by the path's extension).
pub fn fit_plot(
    path: &std::path::Path,
    obs: &[Observation],
    f: &Fit,
) -> Result<(), super::plot::PlotError> {
    use super::plot::{Panel, Series, panels};
    use std::collections::BTreeMap;
    let mut kinds: Vec<Kind> = Vec::new();
    for o in obs {
        if !kinds.contains(&o.kind) {
            kinds.push(o.kind);
        }
    }
    let (mut times, mut residuals) = (Vec::new(), Vec::new());
    for (c, k) in kinds.iter().enumerate() {
        // Per batch size (rounded for measured concurrencies): mean measured, mean fitted.
        let mut by_batch: BTreeMap<i64, (f64, f64, f64)> = BTreeMap::new();
        for o in obs.iter().filter(|o| o.kind == *k) {
            let key = (o.batch * 10.0).round() as i64;
            let e = by_batch.entry(key).or_default();
            let fitted = crate::estimate::fit::predict(&f.params, &o.work);
            e.0 += o.time_ms / o.per_unit.max(1e-12);
            e.1 += fitted / o.per_unit.max(1e-12);
            e.2 += 1.0;
        }
        let name = k.name().to_string();
        let point = |(&b, &(m, p, n)): (&i64, &(f64, f64, f64))| (b as f64 / 10.0, m / n, p / n);
        let pts: Vec<(f64, f64, f64)> = by_batch.iter().map(point).collect();
        times.push(Series {
            name: format!("{name}: measured"),
            color: c,
            light: true,
            points: pts.iter().map(|&(b, m, _)| (b, m)).collect(),
        });
        times.push(Series {
            name: format!("{name}: fitted"),
            color: c,
            light: false,
            points: pts.iter().map(|&(b, _, p)| (b, p)).collect(),
        });
        residuals.push(Series {
            name,
            color: c,
            light: false,
            points: pts
                .iter()
                .map(|&(b, m, p)| (b, 100.0 * (p - m) / m))
                .collect(),
        });
    }
    panels(
        path,
        "batch size (or mean concurrency)",
        &[
            Panel {
                title: format!("{} fit: time per unit, ms", f.model.name()),
                y_label: "ms".into(),
                x_label: None,
                series: times,
            },
            Panel {
                title: "residuals (fitted - measured) / measured".into(),
                y_label: "%".into(),
                x_label: None,
                series: residuals,
            },
        ],
    )
}
