//! CSV: one row per allocation, then one per unallocated server (with empty numbers).

use crate::optimize::Plan;

const HEADER: [&str; 30] = [
    "workload",
    "service_class",
    "priority",
    "model",
    "accelerator",
    "gpu_type",
    "replicas",
    "max_batch",
    "kv_batch_limit",
    "kv_bound",
    "gpus_per_replica",
    "gpus",
    "cost",
    "ttft_ms",
    "itl_ms",
    "slo_ttft_ms",
    "slo_itl_ms",
    "slo_ttft_statistic",
    "slo_itl_statistic",
    "ttft_at_slo_statistic_ms",
    "itl_at_slo_statistic_ms",
    "rate_rps",
    "max_rate_per_replica_rps",
    "slo_rate_per_replica_rps",
    "load_growth_to_breach",
    "utilization",
    "binding",
    "partial",
    "replicas_needed",
    "unallocated_reason",
];

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

pub(super) fn plan_csv(plan: &Plan) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let mut rows: Vec<Vec<String>> = vec![HEADER.iter().map(|s| s.to_string()).collect()];
    for a in &plan.allocations {
        rows.push(vec![
            a.workload.clone(),
            a.service_class.clone(),
            a.priority.to_string(),
            a.model.clone(),
            a.accelerator.clone(),
            a.gpu_type.clone(),
            a.replicas.to_string(),
            a.max_batch.to_string(),
            opt(a.kv_batch_limit),
            a.kv_bound.to_string(),
            a.gpus_per_replica.to_string(),
            a.gpus.to_string(),
            a.cost.to_string(),
            a.ttft_ms.to_string(),
            a.itl_ms.to_string(),
            opt(a.slo_ttft_ms),
            opt(a.slo_itl_ms),
            a.slo_ttft_statistic.clone(),
            a.slo_itl_statistic.clone(),
            a.ttft_at_slo_statistic_ms.to_string(),
            a.itl_at_slo_statistic_ms.to_string(),
            a.rate_rps.to_string(),
            a.max_rate_per_replica_rps.to_string(),
            a.slo_rate_per_replica_rps.to_string(),
            opt(a.load_growth_to_breach),
            a.utilization.to_string(),
            a.binding.to_string(),
            a.partial.to_string(),
            opt(a.replicas_needed),
            String::new(),
        ]);
    }
    for u in &plan.unallocated {
        let mut row = vec![String::new(); HEADER.len()];
        row[0] = u.workload.clone();
        row[1] = u.service_class.clone();
        row[3] = u.model.clone();
        row[HEADER.len() - 1] = u.reason.code().to_string();
        rows.push(row);
    }
    for row in rows {
        // Writing to a Vec cannot fail.
        let _ = out.write_record(&row);
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}
