//! The table `wva observe` prints: one row per variant of what Prometheus recorded (the
//! notes on partial ranges go to stderr as warnings, and into the JSON and YAML reports).

use super::table::{new_table, right};
use crate::observe::ObserveReport;
use comfy_table::Cell;

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.decimals$}"))
}

/// The observed variants as a table, with the range above.
pub fn observe_table(r: &ObserveReport) -> String {
    let mut out = format!(
        "{}: {} to {}, steps of {} s of traffic\n",
        r.prometheus, r.start, r.end, r.step_s
    );
    let mut table = new_table(&[
        "Model",
        "Variant",
        "Accelerator",
        "Pods",
        "Steps",
        "Requests",
        "Rate mean/p95 (req/s)",
        "Prompt",
        "Output",
        "TTFT ms",
        "ITL ms",
        "Running",
        "Waiting",
        "KV",
    ]);
    for v in &r.variants {
        table.add_row(vec![
            Cell::new(&v.model),
            Cell::new(&v.variant),
            Cell::new(if v.accelerator.is_empty() {
                "-"
            } else {
                &v.accelerator
            }),
            right(v.pods.to_string()),
            right(format!("{}/{}", v.steps_with_data, v.steps)),
            right(format!("{:.0}", v.requests)),
            right(format!("{:.3} / {:.3}", v.rate_mean_rps, v.rate_p95_rps)),
            right(opt(v.prompt_tokens, 1)),
            right(opt(v.output_tokens, 1)),
            right(opt(v.ttft_ms, 1)),
            right(opt(v.itl_ms, 2)),
            right(opt(v.running_per_replica, 2)),
            right(opt(v.waiting_per_replica, 2)),
            right(
                v.kv_usage
                    .map_or_else(|| "-".into(), |k| format!("{:.0}%", k * 100.0)),
            ),
        ]);
    }
    out.push_str(&table.to_string());
    out.push('\n');
    out
}
