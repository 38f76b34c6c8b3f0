//! The report of `wva replay`: every policy side by side (cost, SLO attainment, tail TTFT,
//! scaling actions), its per-interval timeline as CSV, and the timeline plot.

use super::plot::{Panel, PlotError, Scatter, Series, panels, scatter};
use super::table::{new_table, right};
use crate::replay::PolicyRun;
use comfy_table::Cell;
use serde::Serialize;
use std::path::Path;

/// How the static policy's count was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StaticChoice {
    /// `--static-replicas`.
    Given,
    /// The fewest with which no interval is in breach (searched by replaying).
    NoBreach,
    /// Some interval stays in breach (at `--max-replicas`, or more replicas stopped helping).
    Capped,
}

/// One variant of a fleet of several.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplayVariant {
    /// Its accelerator.
    pub accelerator: String,
    /// Max batch of its replicas.
    pub max_batch: u32,
    /// Cost of one of its replicas, dollars per hour.
    pub replica_cost_dollars_per_hour: f64,
    /// Most replicas of it (its inventory).
    pub max_replicas: u32,
}

/// What was replayed, and how each policy did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplayReport {
    /// Scenario name.
    pub scenario: String,
    /// The workload the trace drives.
    pub workload: String,
    /// Its model.
    pub model: String,
    /// The accelerator every replica runs on.
    pub accelerator: String,
    /// Max batch (`--max-num-seqs`) of every replica.
    pub max_batch: u32,
    /// Cost of one replica, dollars per hour.
    pub replica_cost_dollars_per_hour: f64,
    /// With several variants, each (cheapest capacity first; the fields above are the
    /// first's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<ReplayVariant>,
    /// TTFT target, ms.
    pub ttft_target_ms: Option<f64>,
    /// ITL target, ms (judged on each request's time per output token).
    pub itl_target_ms: Option<f64>,
    /// The statistic the TTFT target bounds (`mean`, `p99`, ...).
    pub ttft_target_statistic: String,
    /// The statistic the ITL target bounds.
    pub itl_target_statistic: String,
    /// Requests replayed.
    pub requests: u64,
    /// The trace's span, s.
    pub duration_s: f64,
    /// Control period, s.
    pub interval_s: f64,
    /// Start-up delay of a new replica, s.
    pub startup_s: f64,
    /// Seed.
    pub seed: u64,
    /// The static policy's replicas (`None` when it did not run).
    pub static_replicas: Option<u32>,
    /// How they were chosen.
    pub static_choice: Option<StaticChoice>,
    /// One entry per policy.
    pub policies: Vec<PolicyRun>,
}

fn percent(share: f64) -> String {
    if share.is_nan() {
        "-".into()
    } else {
        format!("{:.1}%", share * 100.0)
    }
}

/// The report as a table for people.
pub fn replay_table(r: &ReplayReport) -> String {
    let target = |t: Option<f64>, stat: &str| {
        t.map_or("none".to_string(), |t| {
            if stat == "mean" {
                format!("{t} ms")
            } else {
                format!("{stat} {t} ms")
            }
        })
    };
    let on = if r.variants.is_empty() {
        format!(
            "{} (max batch {}, ${:.2}/h per replica)",
            r.accelerator, r.max_batch, r.replica_cost_dollars_per_hour
        )
    } else {
        r.variants
            .iter()
            .map(|v| {
                format!(
                    "{} (max batch {}, ${:.2}/h per replica, at most {})",
                    v.accelerator, v.max_batch, v.replica_cost_dollars_per_hour, v.max_replicas
                )
            })
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let mut out = format!(
        "{}: {} requests of `{}` ({}) over {:.1} min on {}\n\
         targets per request: TTFT {}, time per output token {}; decisions every {} s, new replicas serve after {} s\n",
        r.scenario,
        r.requests,
        r.workload,
        r.model,
        r.duration_s / 60.0,
        on,
        target(r.ttft_target_ms, &r.ttft_target_statistic),
        target(r.itl_target_ms, &r.itl_target_statistic),
        r.interval_s,
        r.startup_s,
    );
    let mut table = new_table(&[
        "policy",
        "GPU-h",
        "cost",
        "replicas mean / peak",
        "actions (up)",
        "intervals in breach",
        "SLO met",
        "worst interval",
        "TTFT mean / p99 ms",
        "TPOT mean / p99 ms",
    ]);
    for p in &r.policies {
        table.add_row(vec![
            Cell::new(&p.policy),
            right(format!("{:.2}", p.gpu_hours)),
            right(format!("${:.2}", p.cost_dollars)),
            right(format!("{:.2} / {}", p.mean_replicas, p.peak_replicas)),
            right(format!("{} ({})", p.scaling_actions, p.scale_ups)),
            right(format!(
                "{} of {}",
                p.breach_intervals, p.intervals_with_requests
            )),
            right(percent(p.attainment.both)),
            right(if p.worst_interval_attainment.is_nan() {
                "-".into()
            } else {
                format!(
                    "{} at {:.0} min",
                    percent(p.worst_interval_attainment),
                    p.worst_interval_start_s / 60.0
                )
            }),
            right(format!("{:.0} / {:.0}", p.ttft_ms.mean, p.ttft_ms.p99)),
            right(format!("{:.1} / {:.1}", p.tpot_ms.mean, p.tpot_ms.p99)),
        ]);
    }
    out.push_str(&table.to_string());
    out.push('\n');
    if !r.variants.is_empty() {
        out.push_str(&variant_table(r));
    }
    if let (Some(n), Some(choice)) = (r.static_replicas, r.static_choice) {
        out.push_str(&match choice {
            StaticChoice::Given => format!("static: {n} replicas (--static-replicas)\n"),
            StaticChoice::NoBreach => format!(
                "static: {n} replicas, the fewest with which no interval breaks its SLO (searched by replaying the trace)\n"
            ),
            StaticChoice::Capped => format!(
                "static: {n} replicas, and still some interval breaks its SLO (more did not help, or --max-replicas)\n"
            ),
        });
    }
    if r.policies.len() > 2 {
        out.push_str(&format!(
            "Pareto front of cost and intervals in breach (the oracle aside): {}\n",
            pareto_front(r).join(", ")
        ));
    }
    out.push_str(
        "intervals in breach: the interval's TTFT or time per output token (the target's statistic over its requests) is over the target \
         (the service class's SLO); SLO met: share of requests within both targets\n",
    );
    for p in &r.policies {
        if p.drain_tail_s > r.interval_s {
            out.push_str(&format!(
                "{}: a backlog outlasted the trace by {:.0} s (paid for until it drained)\n",
                p.policy, p.drain_tail_s
            ));
        }
    }
    let rejected: u64 = r.policies.iter().map(|p| p.rejected).max().unwrap_or(0);
    if rejected > 0 {
        out.push_str(&format!(
            "{rejected} requests could never fit a replica's KV cache and count as missed\n"
        ));
    }
    out
}

/// Each policy's cost, replicas and attainment per variant (fleets of several variants).
fn variant_table(r: &ReplayReport) -> String {
    let mut table = new_table(&[
        "policy",
        "variant",
        "GPU-h",
        "cost",
        "replicas mean / peak",
        "requests served",
        "SLO met",
    ]);
    for p in &r.policies {
        for v in &p.variants {
            table.add_row(vec![
                Cell::new(&p.policy),
                Cell::new(&v.variant),
                right(format!("{:.2}", v.gpu_hours)),
                right(format!("${:.2}", v.cost_dollars)),
                right(format!("{:.2} / {}", v.mean_replicas, v.peak_replicas)),
                right(v.requests.to_string()),
                right(percent(v.slo_met)),
            ]);
        }
    }
    format!("per variant:\n{table}\n")
}

/// The policies that no other policy but the oracle beats on both cost and intervals in
/// breach (cheaper and no more often in breach, or as cheap and less often), in report order.
pub fn pareto_front(r: &ReplayReport) -> Vec<&str> {
    let contenders: Vec<_> = r.policies.iter().filter(|p| p.policy != "oracle").collect();
    contenders
        .iter()
        .filter(|p| {
            !contenders.iter().any(|q| {
                let no_worse =
                    q.cost_dollars <= p.cost_dollars && q.breach_intervals <= p.breach_intervals;
                let better =
                    q.cost_dollars < p.cost_dollars || q.breach_intervals < p.breach_intervals;
                no_worse && better
            })
        })
        .map(|p| p.policy.as_str())
        .collect()
}

/// The Pareto plot: cost against intervals in breach, one labelled point per policy.
pub fn replay_pareto_plot(path: &Path, r: &ReplayReport) -> Result<(), PlotError> {
    scatter(
        path,
        &Scatter {
            title: format!(
                "{}: cost against intervals in breach ({} intervals)",
                r.workload,
                r.policies.first().map_or(0, |p| p.intervals_with_requests)
            ),
            x_label: "cost ($)".into(),
            y_label: "intervals in breach".into(),
            points: r
                .policies
                .iter()
                .map(|p| {
                    (
                        p.policy.clone(),
                        p.cost_dollars,
                        f64::from(p.breach_intervals),
                    )
                })
                .collect(),
        },
    )
}

/// Column names of the timeline CSV.
pub const REPLAY_TIMELINE_COLUMNS: [&str; 16] = [
    "policy",
    "start_s",
    "duration_s",
    "arrivals_rps",
    "desired",
    "replicas_mean",
    "ready_mean",
    "requests",
    "rejected",
    "slo_met",
    "ttft_met",
    "itl_met",
    "mean_ttft_ms",
    "p99_ttft_ms",
    "mean_tpot_ms",
    "breach",
];

/// The per-interval timeline of every policy as CSV.
pub fn replay_timeline_csv(r: &ReplayReport) -> String {
    let mut out = REPLAY_TIMELINE_COLUMNS.join(",");
    out.push('\n');
    let num = |v: f64| {
        if v.is_finite() {
            format!("{v:.6}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        } else {
            String::new()
        }
    };
    for p in &r.policies {
        for row in &p.intervals {
            let fields = [
                p.policy.clone(),
                num(row.start_s),
                num(row.duration_s),
                num(row.arrivals_rps),
                row.desired.to_string(),
                num(row.replicas_mean),
                num(row.ready_mean),
                row.requests.to_string(),
                row.rejected.to_string(),
                num(row.attainment.both),
                num(row.attainment.ttft),
                num(row.attainment.itl),
                num(row.mean_ttft_ms),
                num(row.p99_ttft_ms),
                num(row.mean_tpot_ms),
                row.breach.to_string(),
            ];
            out.push_str(&fields.join(","));
            out.push('\n');
        }
    }
    out
}

/// The timeline plot: load, replicas paid for, p99 TTFT and SLO attainment per interval,
/// one line per policy.
pub fn replay_plot(path: &Path, r: &ReplayReport) -> Result<(), PlotError> {
    let minutes = |s: f64| s / 60.0;
    let series = |f: &dyn Fn(&crate::replay::IntervalRow) -> f64| -> Vec<Series> {
        r.policies
            .iter()
            .enumerate()
            .map(|(i, p)| Series {
                name: p.policy.clone(),
                color: i,
                light: false,
                points: p
                    .intervals
                    .iter()
                    .map(|row| (minutes(row.start_s), f(row)))
                    .collect(),
            })
            .collect()
    };
    let load = r
        .policies
        .first()
        .map(|p| Series {
            name: "arrivals".into(),
            color: 7,
            light: false,
            points: p
                .intervals
                .iter()
                .map(|row| (minutes(row.start_s), row.arrivals_rps))
                .collect(),
        })
        .into_iter()
        .collect();
    panels(
        path,
        "time (min)",
        &[
            Panel {
                title: "Load".into(),
                y_label: "requests/s".into(),
                x_label: None,
                series: load,
            },
            Panel {
                title: "Replicas paid for (mean over the interval)".into(),
                y_label: "replicas".into(),
                x_label: None,
                series: series(&|row| row.replicas_mean),
            },
            Panel {
                title: "p99 TTFT of the interval's arrivals".into(),
                y_label: "ms".into(),
                x_label: None,
                series: series(&|row| row.p99_ttft_ms),
            },
            Panel {
                title: "Requests meeting both targets".into(),
                y_label: "%".into(),
                x_label: None,
                series: series(&|row| row.attainment.both * 100.0),
            },
        ],
    )
}
