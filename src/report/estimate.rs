//! The `wva estimate` report: fitted parameters with their uncertainty, the fit's quality, and
//! its errors in sample, on held-out observations and on validation files.

use super::table::new_table;
use crate::estimate::Fit;
use crate::estimate::check::Evaluation;
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
