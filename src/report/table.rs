//! Tables for people (comfy-table).

use super::Analysis;
use crate::optimize::Plan;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets};
use std::sync::atomic::{AtomicBool, Ordering};

/// Tables as wide as their content (`--wide`), instead of fitting the terminal.
static WIDE: AtomicBool = AtomicBool::new(false);

/// Draws tables as wide as their content, even on a narrower terminal (`--wide`).
pub fn set_wide(wide: bool) {
    WIDE.store(wide, Ordering::Relaxed);
}

/// A table with `header`. On a terminal its cells wrap to fit the terminal's width; written
/// to a file or a pipe (or with [`set_wide`]) it is as wide as its content.
pub(super) fn new_table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(if WIDE.load(Ordering::Relaxed) {
            ContentArrangement::Disabled
        } else {
            ContentArrangement::Dynamic
        })
        .set_header(header.iter().map(Cell::new));
    table
}

pub(super) fn right(text: String) -> Cell {
    Cell::new(text).set_alignment(CellAlignment::Right)
}

fn with_target(value: f64, target: Option<f64>) -> String {
    match target {
        Some(t) => format!("{value:.1} / {t}"),
        None => format!("{value:.1}"),
    }
}

/// `value / target` for a mean target; `p99 value / target` for a percentile one.
fn with_stat_target(mean: f64, at_stat: f64, stat: &str, target: Option<f64>) -> String {
    if stat == "mean" {
        with_target(mean, target)
    } else {
        format!("{stat} {}", with_target(at_stat, target))
    }
}

/// Formats cents per hour as dollars per hour.
pub fn dollars_per_hour(cents_per_hour: f64) -> String {
    format!("${:.2}", cents_per_hour / 100.0)
}

/// The plan table, the total line, and the unallocated servers.
pub fn plan_table(plan: &Plan) -> String {
    let mut table = new_table(&[
        "Workload",
        "Class",
        "Model",
        "Accelerator",
        "Replicas",
        "Max batch",
        "GPUs",
        "Cost/h",
        "TTFT ms / SLO",
        "ITL ms / SLO",
        "Max rps/replica",
        "Batch fill",
    ]);
    for a in &plan.allocations {
        table.add_row(vec![
            Cell::new(&a.workload),
            Cell::new(&a.service_class),
            Cell::new(&a.model),
            Cell::new(&a.accelerator),
            right(match a.replicas_needed {
                Some(needed) => format!("{} of {needed}", a.replicas),
                None => a.replicas.to_string(),
            }),
            right(if a.kv_bound {
                format!("{} (KV)", a.max_batch)
            } else {
                a.max_batch.to_string()
            }),
            right(a.gpus.to_string()),
            right(dollars_per_hour(a.cost)),
            right(with_stat_target(
                a.ttft_ms,
                a.ttft_at_slo_statistic_ms,
                &a.slo_ttft_statistic,
                a.slo_ttft_ms,
            )),
            right(with_stat_target(
                a.itl_ms,
                a.itl_at_slo_statistic_ms,
                &a.slo_itl_statistic,
                a.slo_itl_ms,
            )),
            right(format!("{:.3}", a.max_rate_per_replica_rps)),
            right(format!("{:.0}%", a.utilization * 100.0)),
        ]);
    }
    let mut out = String::new();
    if !plan.allocations.is_empty() {
        out.push_str(&table.to_string());
        out.push('\n');
    }
    if plan
        .by_accelerator
        .iter()
        .any(|u| u.gpus_available.is_some())
    {
        let mut usage = new_table(&[
            "GPU type",
            "Accelerators",
            "GPUs used",
            "Available",
            "Cost/h",
        ]);
        for u in &plan.by_accelerator {
            usage.add_row(vec![
                Cell::new(&u.gpu_type),
                Cell::new(u.accelerators.join(", ")),
                right(u.gpus_used.to_string()),
                right(
                    u.gpus_available
                        .map_or("unlimited".to_string(), |n| n.to_string()),
                ),
                right(dollars_per_hour(u.cost)),
            ]);
        }
        out.push_str(&usage.to_string());
        out.push('\n');
    }
    let served: std::collections::BTreeSet<&str> = plan
        .allocations
        .iter()
        .filter(|a| !a.partial)
        .map(|a| a.workload.as_str())
        .collect();
    let workloads = served.len()
        + plan.unallocated.len()
        + plan
            .allocations
            .iter()
            .filter(|a| a.partial)
            .map(|a| a.workload.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
    out.push_str(&format!(
        "Total: {} GPU{}, {}/h ({} cents/h), {} of {} workloads allocated ({} solver, {}; max batch: {}{})\n",
        plan.total_gpus,
        if plan.total_gpus == 1 { "" } else { "s" },
        dollars_per_hour(plan.total_cost),
        format_number(plan.total_cost),
        served.len(),
        workloads,
        plan.solver,
        plan.status,
        plan.batch_policy,
        match (plan.sizing, plan.queue_model) {
            ("simulate", _) => "; sized by simulation".to_string(),
            (_, crate::queueing::QueueModel::Mm1k) => String::new(),
            (_, q) => format!("; queue model: {q}"),
        }
    ));
    if let (Some(growth), Some(first)) = (plan.load_growth_to_breach, &plan.first_to_breach) {
        let planned = if plan.headroom > 0.0 {
            format!("Planned with {:.0}% headroom: the", plan.headroom * 100.0)
        } else {
            "The".to_string()
        };
        out.push_str(&format!(
            "{planned} load can grow {:.0}% before the first SLO breaks (`{first}`, by the model){}\n",
            growth * 100.0,
            if plan.headroom > 0.0 {
                ""
            } else {
                "; --headroom H plans for more"
            }
        ));
    }
    for u in &plan.unallocated {
        out.push_str(&format!(
            "Unallocated: {} ({} / {}): {}: {}\n",
            u.workload, u.service_class, u.model, u.reason, u.detail
        ));
    }
    if plan.allocations.iter().any(|a| a.kv_bound) {
        out.push_str(
            "(KV): the KV cache, not compute, caps the batch (its capacity over each request's prompt and half its output, in 16-token blocks)\n",
        );
    }
    for note in &plan.notes {
        out.push_str(&format!("Note: {note}\n"));
    }
    out
}

fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// The `wva analyze` table: one row per metric.
pub fn analysis_table(a: &Analysis) -> String {
    let mut table = new_table(&["Metric", "Value"]);
    let mut row = |name: &str, value: String| {
        table.add_row(vec![Cell::new(name), right(value)]);
    };
    if let (Some(ttft), Some(itl)) = (a.rate_ttft_rps, a.rate_itl_rps) {
        row("max rate for TTFT target (req/s)", format!("{ttft:.4}"));
        row("max rate for ITL target (req/s)", format!("{itl:.4}"));
    }
    row("arrival rate (req/s)", format!("{:.4}", a.rate_rps));
    row(
        "throughput (req/s)",
        format!("{:.4}", a.metrics.throughput_rps),
    );
    row("TTFT (ms)", format!("{:.3}", a.metrics.ttft_ms));
    row("ITL (ms)", format!("{:.3}", a.metrics.itl_ms));
    row("queueing wait (ms)", format!("{:.3}", a.metrics.wait_ms));
    row("prefill (ms)", format!("{:.3}", a.metrics.prefill_ms));
    row(
        "response time (ms)",
        format!("{:.1}", a.metrics.response_ms),
    );
    row("mean batch", format!("{:.3}", a.metrics.mean_batch));
    row(
        "utilization",
        format!("{:.1}%", a.metrics.utilization * 100.0),
    );
    let blocking = a.metrics.blocking_probability;
    row(
        "blocking probability",
        if blocking < 1e-9 {
            "< 1e-9".to_string()
        } else {
            format!("{blocking:.3e}")
        },
    );
    row(
        "max stable rate (req/s)",
        format!("{:.4}", a.metrics.max_rate_rps),
    );
    if let Some(batch) = &a.batch_search {
        row("recommended max batch", batch.max_batch.to_string());
        row(
            "  throughput at it (req/s)",
            format!("{:.4}", batch.throughput_rps),
        );
        row(
            "  throughput at max batch (req/s)",
            format!("{:.4}", batch.anchor_throughput_rps),
        );
    }
    let mut out = format!(
        "{} (max batch {}, max queue {}), {} prompt / {} output tokens\n",
        a.perf_model, a.max_batch, a.max_queue, a.prompt_tokens, a.output_tokens
    );
    out.push_str(&table.to_string());
    out.push('\n');
    if a.metrics.offered_rps > a.metrics.max_rate_rps {
        out.push_str(&format!(
            "warning: the arrival rate exceeds the replica's maximum stable rate ({:.4} req/s); the queue overflows\n",
            a.metrics.max_rate_rps
        ));
    }
    out
}

/// The simulated check of a plan: one row per workload.
pub(super) fn verification_table(rows: &[crate::verify::Verification]) -> String {
    let mut table = new_table(&[
        "Workload",
        "Replicas",
        "TTFT ms (SLO)",
        "TTFT p99",
        "ITL ms (SLO)",
        "ITL p99",
        "Requests meeting SLO",
        "Verdict",
    ]);
    let with_target = |v: f64, t: Option<f64>| match t {
        Some(t) => format!("{v:.1} ({t})"),
        None => format!("{v:.1}"),
    };
    for v in rows {
        table.add_row(vec![
            Cell::new(&v.workload),
            right(v.replicas.to_string()),
            right(format!(
                "{} {}",
                v.slo_ttft_statistic,
                with_target(v.ttft_at_slo_statistic_ms, v.slo_ttft_ms)
            )),
            right(format!("{:.1}", v.ttft_ms.p99)),
            right(format!(
                "{} {}",
                v.slo_itl_statistic,
                with_target(v.itl_at_slo_statistic_ms, v.slo_itl_ms)
            )),
            right(format!("{:.1}", v.itl_ms.p99)),
            right(
                v.attainment
                    .both
                    .map_or("-".into(), |b| format!("{:.1}%", b * 100.0)),
            ),
            Cell::new(if v.misses.is_empty() {
                "holds".to_string()
            } else {
                format!("MISSES: {}", v.misses.join("; "))
            }),
        ]);
    }
    format!(
        "Simulated check ({} requests per workload after a 10% warm-up):\n{table}\n",
        rows.first().map_or(0, |v| v.requests)
    )
}
