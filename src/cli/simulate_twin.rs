//! `wva simulate --serve-metrics ADDR`: the simulated fleet as a digital twin, serving vLLM's
//! `/metrics` for Prometheus on a clock `--speedup` times real time.

use crate::error::Error;
use crate::observe::twin::{Serving, Twin, TwinReplica, bind, pod_name, serve};
use crate::report::WorkloadInfo;
use crate::sim::{SimConfig, SimResult};
use clap::Args;
use std::net::SocketAddr;

/// The twin's flags.
#[derive(Debug, Args)]
pub(super) struct TwinArgs {
    /// After simulating, serve vLLM's /metrics for every replica on this address (a digital
    /// twin for Prometheus; docs/observe.md), then print the report as usual
    #[arg(long, value_name = "ADDR:PORT", conflicts_with = "concurrency")]
    pub serve_metrics: Option<SocketAddr>,
    /// With --serve-metrics: simulated seconds per real second
    #[arg(long, value_parser = super::args::time_scale, default_value_t = 60.0, requires = "serve_metrics")]
    pub speedup: f64,
    /// With --serve-metrics: real seconds to keep serving the final state after the last
    /// request completes (so the last scrapes see it)
    #[arg(long, value_parser = super::args::non_negative, default_value_t = 30.0, requires = "serve_metrics")]
    pub linger_s: f64,
    /// With --serve-metrics: the namespace label of the twin's series
    #[arg(long, default_value = "default", requires = "serve_metrics")]
    pub twin_namespace: String,
}

/// Serves the twin of `result` (outcomes recorded) until its traffic is over.
pub(super) fn run(
    a: &TwinArgs,
    addr: SocketAddr,
    config: &SimConfig,
    info: &[WorkloadInfo],
    result: &SimResult,
) -> anyhow::Result<()> {
    let mut replicas = Vec::new();
    for (group, workload) in config.groups.iter().zip(info) {
        for (i, engine) in group.engines.iter().enumerate() {
            let accelerator = workload.accelerators.get(i).cloned().unwrap_or_default();
            let deployment =
                crate::k8s::names::sanitize(&format!("{}-{}", group.name, accelerator));
            replicas.push(TwinReplica {
                pod: pod_name(&deployment, i),
                model: workload.model.clone(),
                accelerator,
                namespace: a.twin_namespace.clone(),
                kv_capacity_tokens: engine.kv_capacity_tokens,
                block_size: engine.block_size,
            });
        }
    }
    let twin = Twin::new(replicas, &result.requests);
    let listener = bind(addr).map_err(Error::from)?;
    let local = listener.local_addr().unwrap_or(addr);
    let real_s = twin.end_ms() / 1000.0 / a.speedup;
    super::say::status(format_args!(
        "serving the twin of {} replicas at http://{local}/metrics: {:.0} s of traffic at {}x, {:.0} s (then {:.0} s more)",
        twin.replicas().len(),
        twin.end_ms() / 1000.0,
        a.speedup,
        real_s,
        a.linger_s
    ));
    let scrapes = serve(
        &twin,
        listener,
        Serving {
            speedup: a.speedup,
            linger_s: a.linger_s,
        },
    )
    .map_err(|e| Error::Usage(format!("serving metrics on {local}: {e}")))?;
    super::say::note(format_args!("the twin served {scrapes} scrapes"));
    Ok(())
}
