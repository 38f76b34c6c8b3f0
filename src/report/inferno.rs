//! Upstream's inferno solution format (`solution-data.json`): `allocations` keyed by server
//! name (`<class>-<model>` in upstream's samples), in upstream's units (arrival rate in requests
//! per minute, cost in cents per hour) and `float32` precision.
//!
//! One entry per workload; a mixed allocation (several accelerator types) cannot be expressed in
//! this format, so its largest part is written (as upstream does with its last part).

use crate::optimize::Plan;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
struct Solution {
    allocations: BTreeMap<String, Alloc>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Alloc {
    accelerator: String,
    num_replicas: u32,
    max_batch: u32,
    cost: f32,
    itl_average: f32,
    ttft_average: f32,
    load: Load,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Load {
    arrival_rate: f32,
    avg_in_tokens: u64,
    avg_out_tokens: u64,
}

/// The plan as upstream's solution JSON.
pub fn plan_inferno_json(plan: &Plan) -> String {
    let mut allocations: BTreeMap<String, Alloc> = BTreeMap::new();
    let mut workload_rate: BTreeMap<&str, f64> = BTreeMap::new();
    for a in &plan.allocations {
        *workload_rate.entry(&a.workload).or_default() += a.rate_rps;
    }
    for a in &plan.allocations {
        let bigger = allocations
            .get(&a.workload)
            .is_none_or(|existing| a.replicas > existing.num_replicas);
        if bigger {
            allocations.insert(
                a.workload.clone(),
                Alloc {
                    accelerator: a.accelerator.clone(),
                    num_replicas: a.replicas,
                    max_batch: a.max_batch,
                    cost: a.cost as f32,
                    itl_average: a.itl_ms as f32,
                    ttft_average: a.ttft_ms as f32,
                    load: Load {
                        arrival_rate: (workload_rate[a.workload.as_str()] * 60.0) as f32,
                        avg_in_tokens: a.prompt_tokens.round() as u64,
                        avg_out_tokens: a.output_tokens.round() as u64,
                    },
                },
            );
        }
    }
    super::to_json(&Solution { allocations })
}
