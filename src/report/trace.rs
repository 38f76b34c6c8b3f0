//! What `wva trace stats` prints: a trace's volume, rate, burstiness and token distributions.

use super::table::{new_table, right};
use crate::trace::Format;
use crate::trace::stats::{Distribution, TraceStats};
use comfy_table::Cell;
use serde::Serialize;

/// A trace's statistics with where they come from.
#[derive(Clone, Debug, Serialize)]
pub struct TraceReport {
    /// The file.
    pub file: String,
    /// Its format.
    pub format: Format,
    /// Malformed rows skipped (`--skip-bad-rows`).
    pub skipped_rows: u64,
    /// Failed requests (zero output tokens) left out.
    pub failed_requests: u64,
    /// The statistics.
    #[serde(flatten)]
    pub stats: TraceStats,
}

fn num(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "-".into()
    }
}

/// The report as text.
pub fn trace_table(r: &TraceReport) -> String {
    let s = &r.stats;
    let mut out = format!(
        "{} ({} format): {} requests over {} s ({} min), {} req/s\n",
        r.file,
        r.format,
        s.requests,
        num(s.duration_s, 1),
        num(s.duration_s / 60.0, 1),
        num(s.mean_rate_rps, 3)
    );
    if r.skipped_rows > 0 || r.failed_requests > 0 || s.out_of_order > 0 {
        out.push_str(&format!(
            "left out: {} malformed rows, {} failed requests (no output tokens); {} records out of arrival order\n",
            r.skipped_rows, r.failed_requests, s.out_of_order
        ));
    }
    let mut table = new_table(&["", "mean", "p50", "p90", "p99", "max"]);
    let mut row = |name: &str, d: &Distribution, decimals: usize| {
        table.add_row(vec![
            Cell::new(name),
            right(num(d.mean, decimals)),
            right(num(d.p50, decimals)),
            right(num(d.p90, decimals)),
            right(num(d.p99, decimals)),
            right(num(d.max, decimals)),
        ]);
    };
    row("rate per minute, req/s", &s.rate_per_minute_rps, 3);
    row("prompt tokens", &s.prompt_tokens, 1);
    row("output tokens", &s.output_tokens, 1);
    if let Some(d) = &s.measured_ttft_ms {
        row("measured TTFT, ms", d, 1);
    }
    if let Some(d) = &s.measured_e2e_ms {
        row("measured E2E, ms", d, 1);
    }
    out.push_str(&table.to_string());
    out.push('\n');
    let dispersion: Vec<String> = s
        .dispersion
        .iter()
        .map(|d| format!("{} s: {}", d.window_s, num(d.index, 2)))
        .collect();
    out.push_str(&format!(
        "burstiness: inter-arrival CV {} (1 = Poisson); index of dispersion {}\n",
        num(s.interarrival_cv, 2),
        if dispersion.is_empty() {
            "-".to_string()
        } else {
            dispersion.join(", ")
        }
    ));
    out.push_str(&format!(
        "input:output tokens {}:1\n",
        num(s.input_output_ratio, 2)
    ));
    if !s.models.is_empty() {
        let models: Vec<String> = s.models.iter().map(|(m, n)| format!("{m} {n}")).collect();
        out.push_str(&format!("models: {}\n", models.join(", ")));
    }
    out
}
