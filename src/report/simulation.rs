//! What `wva simulate` reports: per workload, the simulated latencies beside the analytic
//! model's, merged over replications with 95% confidence intervals.

use super::table::{new_table, right};
use crate::sim::setup::Analytic;
use crate::sim::{GroupResult, SimResult, SloAttainment, Summary};
use comfy_table::Cell;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Half-widths of 95% confidence intervals over replications.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Ci95 {
    /// Mean TTFT, ms.
    pub ttft_ms_mean: f64,
    /// p99 TTFT, ms.
    pub ttft_ms_p99: f64,
    /// Mean ITL, ms.
    pub itl_ms_mean: f64,
    /// Mean TPOT, ms.
    pub tpot_ms_mean: f64,
    /// Mean E2E, ms.
    pub e2e_ms_mean: f64,
    /// Throughput, requests/s.
    pub throughput_rps: f64,
    /// Share of requests meeting every target.
    pub slo_attainment_both: Option<f64>,
}

/// One workload's simulated metrics.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadReport {
    /// Workload name.
    pub workload: String,
    /// Model.
    pub model: String,
    /// Accelerators of its replicas.
    pub accelerators: Vec<String>,
    /// Replicas.
    pub replicas: u32,
    /// Requests counted (after the warm-up).
    pub requests: f64,
    /// Completed.
    pub completed: f64,
    /// Rejected (prompt and output could never fit in the KV cache together).
    pub rejected: f64,
    /// Offered load: arrivals per second.
    pub offered_rps: f64,
    /// Completions per second.
    pub throughput_rps: f64,
    /// Growth of the waiting queue (requests not yet running) from the first counted arrival to
    /// the last arrival: well above zero means overload.
    pub queue_growth: f64,
    /// Time to first token, ms.
    pub ttft_ms: Summary,
    /// Every gap between consecutive tokens, ms.
    pub itl_ms: Summary,
    /// Time per output token per request, ms.
    pub tpot_ms: Summary,
    /// End to end, ms.
    pub e2e_ms: Summary,
    /// Arrival to first scheduling, ms.
    pub queue_wait_ms: Summary,
    /// Preemptions.
    pub preemptions: f64,
    /// Peak KV-cache use of a replica, fraction (null when the KV cache is unlimited).
    pub kv_peak_fraction: Option<f64>,
    /// Mean running batch.
    pub mean_batch: f64,
    /// Peak running batch.
    pub peak_batch: f64,
    /// Share of requests meeting each target.
    pub slo_attainment: SloAttainment,
    /// The analytic model's mean TTFT and ITL at the same load (single-accelerator fleets).
    pub analytic: Option<Analytic>,
    /// 95% confidence half-widths (with several replications).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci95: Option<Ci95>,
}

/// The report of a simulation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimulationReport {
    /// What was simulated.
    pub scenario: String,
    /// Seed of the first replication (the others use seed+1, seed+2, ...).
    pub seed: u64,
    /// Independent replications averaged.
    pub replications: u32,
    /// Requests simulated per replication (warm-up included).
    pub requests_simulated: u64,
    /// Simulated time of one replication, s.
    pub simulated_s: f64,
    /// Per workload.
    pub workloads: Vec<WorkloadReport>,
    /// The clients of a closed-loop run (`wva simulate --concurrency`); absent for arrivals
    /// at a rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_loop: Option<ClosedLoopInfo>,
}

/// The load of a closed-loop run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ClosedLoopInfo {
    /// Clients, each with at most one request in the server.
    pub concurrency: u32,
    /// Each client's pause between a completion and its next request, s.
    pub think_time_s: f64,
}

/// Identity of a workload for the report.
#[derive(Clone, Debug)]
pub struct WorkloadInfo {
    /// Model.
    pub model: String,
    /// Accelerators of its replicas.
    pub accelerators: Vec<String>,
    /// Analytic prediction.
    pub analytic: Option<Analytic>,
    /// Offered load, requests/s.
    pub offered_rps: f64,
    /// Whether its replicas have a finite KV cache.
    pub kv_limited: bool,
}

/// The mean of the finite values (a replication with no data has NaN statistics and does not
/// count); NaN when there are none.
fn mean(values: &[f64]) -> f64 {
    let (sum, n) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// Half-width of the 95% confidence interval of the mean of the finite `values` (0 with fewer
/// than two).
pub fn ci95(values: &[f64]) -> f64 {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let n = finite.len();
    if n < 2 {
        return 0.0;
    }
    let m = mean(&finite);
    let var = finite.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64).map_or(1.96, |d| d.inverse_cdf(0.975));
    t * (var / n as f64).sqrt()
}

fn merge_summary(parts: &[Summary]) -> Summary {
    let f = |g: fn(&Summary) -> f64| mean(&parts.iter().map(g).collect::<Vec<_>>());
    Summary {
        mean: f(|s| s.mean),
        p50: f(|s| s.p50),
        p90: f(|s| s.p90),
        p95: f(|s| s.p95),
        p99: f(|s| s.p99),
    }
}

/// Merges replications (same groups in the same order) into one report.
pub fn report(
    scenario: &str,
    seed: u64,
    results: &[SimResult],
    info: &[WorkloadInfo],
) -> SimulationReport {
    let k = results.len();
    let mut workloads = Vec::new();
    for (g, info) in info.iter().enumerate() {
        let runs: Vec<&GroupResult> = results.iter().map(|r| &r.groups[g]).collect();
        let col = |f: fn(&GroupResult) -> f64| runs.iter().map(|r| f(r)).collect::<Vec<f64>>();
        let avg = |f: fn(&GroupResult) -> f64| mean(&col(f));
        let sum = |f: fn(&GroupResult) -> Summary| {
            merge_summary(&runs.iter().map(|r| f(r)).collect::<Vec<_>>())
        };
        let first = runs[0];
        workloads.push(WorkloadReport {
            workload: first.name.clone(),
            model: info.model.clone(),
            accelerators: info.accelerators.clone(),
            replicas: first.replicas,
            requests: avg(|r| r.requests as f64),
            completed: avg(|r| r.completed as f64),
            rejected: avg(|r| r.rejected as f64),
            offered_rps: info.offered_rps,
            throughput_rps: avg(|r| r.throughput_rps),
            queue_growth: avg(|r| r.waiting_at_end as f64 - r.waiting_at_start as f64),
            ttft_ms: sum(|r| r.ttft_ms),
            itl_ms: sum(|r| r.itl_ms),
            tpot_ms: sum(|r| r.tpot_ms),
            e2e_ms: sum(|r| r.e2e_ms),
            queue_wait_ms: sum(|r| r.queue_wait_ms),
            preemptions: avg(|r| r.preemptions as f64),
            kv_peak_fraction: info.kv_limited.then(|| avg(|r| r.kv_peak_fraction)),
            mean_batch: avg(|r| r.mean_batch),
            peak_batch: avg(|r| f64::from(r.peak_batch)),
            slo_attainment: SloAttainment {
                ttft: first
                    .slo_attainment
                    .ttft
                    .map(|_| avg(|r| r.slo_attainment.ttft.unwrap_or(f64::NAN))),
                itl: first
                    .slo_attainment
                    .itl
                    .map(|_| avg(|r| r.slo_attainment.itl.unwrap_or(f64::NAN))),
                both: first
                    .slo_attainment
                    .both
                    .map(|_| avg(|r| r.slo_attainment.both.unwrap_or(f64::NAN))),
            },
            analytic: info.analytic,
            ci95: (k > 1).then(|| Ci95 {
                ttft_ms_mean: ci95(&col(|r| r.ttft_ms.mean)),
                ttft_ms_p99: ci95(&col(|r| r.ttft_ms.p99)),
                itl_ms_mean: ci95(&col(|r| r.itl_ms.mean)),
                tpot_ms_mean: ci95(&col(|r| r.tpot_ms.mean)),
                e2e_ms_mean: ci95(&col(|r| r.e2e_ms.mean)),
                throughput_rps: ci95(&col(|r| r.throughput_rps)),
                slo_attainment_both: first
                    .slo_attainment
                    .both
                    .map(|_| ci95(&col(|r| r.slo_attainment.both.unwrap_or(f64::NAN)))),
            }),
        });
    }
    SimulationReport {
        scenario: scenario.to_string(),
        seed,
        replications: k as u32,
        requests_simulated: results.first().map_or(0, |r| r.requests_simulated),
        simulated_s: results.first().map_or(0.0, |r| r.simulated_s),
        workloads,
        closed_loop: None,
    }
}

fn diff(sim: f64, analytic: f64) -> String {
    if !(sim.is_finite() && analytic.is_finite()) || analytic == 0.0 {
        return String::new();
    }
    format!(
        "{analytic:.1} ({:+.1}%)",
        (sim - analytic) / analytic * 100.0
    )
}

fn with_ci(value: f64, ci: Option<f64>) -> String {
    match ci {
        Some(c) if c > 0.0 => format!("{value:.1} ± {c:.1}"),
        _ => format!("{value:.1}"),
    }
}

/// The simulation as tables, one per workload.
pub fn simulation_table(r: &SimulationReport) -> String {
    let mut out = String::new();
    if let Some(c) = r.closed_loop {
        out.push_str(&format!(
            "closed loop: {} clients, each sending its next request {}; the rate is what they achieved\n",
            c.concurrency,
            if c.think_time_s > 0.0 {
                format!("{} s after its last completes", c.think_time_s)
            } else {
                "as soon as its last completes".to_string()
            }
        ));
    }
    for w in &r.workloads {
        let accelerators = {
            let mut a = w.accelerators.clone();
            a.dedup();
            a.join(" + ")
        };
        let name = if w.workload == w.model {
            w.model.clone()
        } else {
            format!("{}: {}", w.workload, w.model)
        };
        out.push_str(&format!(
            "{name} on {} x {}, {:.0} requests ({:.0} rejected), {:.2} req/s\n",
            w.replicas, accelerators, w.requests, w.rejected, w.throughput_rps
        ));
        if w.completed.is_nan() || w.completed <= 0.0 {
            out.push_str(
                "no request completed after the warm-up: simulate longer (--requests or --duration-s)\n\n",
            );
            continue;
        }
        let mut table = new_table(&[
            "ms",
            "mean",
            "p50",
            "p90",
            "p95",
            "p99",
            "analytic mean (sim diff)",
        ]);
        let rows: [(&str, &Summary, Option<f64>, Option<f64>); 5] = [
            (
                "TTFT",
                &w.ttft_ms,
                w.analytic.map(|a| a.ttft_ms),
                w.ci95.map(|c| c.ttft_ms_mean),
            ),
            (
                "ITL",
                &w.itl_ms,
                w.analytic.map(|a| a.itl_ms),
                w.ci95.map(|c| c.itl_ms_mean),
            ),
            ("TPOT", &w.tpot_ms, None, w.ci95.map(|c| c.tpot_ms_mean)),
            ("E2E", &w.e2e_ms, None, w.ci95.map(|c| c.e2e_ms_mean)),
            ("queue wait", &w.queue_wait_ms, None, None),
        ];
        for (name, s, analytic, ci) in rows {
            table.add_row(vec![
                Cell::new(name),
                right(with_ci(s.mean, ci)),
                right(format!("{:.1}", s.p50)),
                right(format!("{:.1}", s.p90)),
                right(format!("{:.1}", s.p95)),
                right(format!("{:.1}", s.p99)),
                right(analytic.map(|a| diff(s.mean, a)).unwrap_or_default()),
            ]);
        }
        out.push_str(&table.to_string());
        out.push('\n');
        if let Some(a) = w.analytic {
            out.push_str(&format!(
                "analytic: upstream's queue model at {:.2} req/s per replica, {:.0}% of its max rate; its TTFT adds one decode step after the prefill\n",
                a.rate_per_replica_rps,
                a.rate_per_replica_rps / a.max_rate_rps * 100.0
            ));
        }
        let mut met: Vec<String> = [
            ("TTFT", w.slo_attainment.ttft),
            ("ITL", w.slo_attainment.itl),
        ]
        .into_iter()
        .filter_map(|(name, x)| x.map(|x| format!("{name} {:.1}%", x * 100.0)))
        .collect();
        if let (Some(_), Some(_), Some(both)) = (
            w.slo_attainment.ttft,
            w.slo_attainment.itl,
            w.slo_attainment.both,
        ) {
            met.push(format!("both {:.1}%", both * 100.0));
        }
        let slo = if met.is_empty() {
            "no SLO targets".to_string()
        } else {
            format!("SLO met: {}", met.join(", "))
        };
        out.push_str(&format!(
            "batch mean {:.1} (peak {:.0}), KV peak {}, preemptions {:.0}; {slo}\n",
            w.mean_batch,
            w.peak_batch,
            w.kv_peak_fraction
                .map_or("n/a (unlimited)".to_string(), |f| format!(
                    "{:.0}%",
                    f * 100.0
                )),
            w.preemptions,
        ));
        if crate::sim::queue_grows(w.throughput_rps, w.offered_rps, w.queue_growth, w.requests) {
            out.push_str(&format!(
                "OVERLOADED: {:.2} req/s served of {:.2} offered and {:.0} more requests waiting at the end than at the start; the queue grows for as long as the run lasts, so latencies depend on its length\n",
                w.throughput_rps, w.offered_rps, w.queue_growth
            ));
        } else if w.offered_rps > 0.0 && w.throughput_rps < 0.95 * w.offered_rps {
            out.push_str(&format!(
                "NOT STEADY: {:.2} req/s served of {:.2} offered while requests (mean E2E {:.1} s) filled the replicas; simulate longer (--requests, --duration-s) or raise --warmup\n",
                w.throughput_rps,
                w.offered_rps,
                w.e2e_ms.mean / 1000.0
            ));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "{} replication{} of {} requests (seed {}), {:.0} s simulated\n",
        r.replications,
        if r.replications == 1 { "" } else { "s" },
        r.requests_simulated,
        r.seed,
        r.simulated_s
    ));
    out
}
