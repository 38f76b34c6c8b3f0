//! `wva plan`'s load from a trace as a library call: one workload's rate (a quantile of its
//! per-minute rates) and token means, streamed from a trace of any size.

use super::Listener;
use crate::error::Error;
use crate::spec::Workload;
use crate::trace::Trace;
use crate::trace::stats::{StatsBuilder, minute_rates_rps, rate_quantile_rps};
use std::collections::BTreeSet;
use std::path::Path;

/// Sets `workload`'s load from `trace` (read from `path`): its requests (those naming another
/// model left out), the `rate_quantile` of their per-minute rates (the mean rate under a
/// minute), their mean prompt and output tokens; what was left out and what was set are noted.
pub fn load_from_trace(
    workload: &mut Workload,
    trace: &mut Trace,
    path: &Path,
    rate_quantile: f64,
    listener: &dyn Listener,
) -> Result<(), Error> {
    let (model, name) = (workload.model.clone(), workload.name.clone());
    let mut builder = StatsBuilder::new();
    let (mut other_models, mut seen_models) = (0u64, BTreeSet::new());
    for r in trace.by_ref() {
        let r = r.map_err(|e| Error::Usage(e.to_string()))?;
        // A trace that names models: only this workload's requests.
        if let Some(m) = r.model.as_ref().filter(|m| **m != model && **m != name) {
            other_models += 1;
            seen_models.insert(m.clone());
            continue;
        }
        builder.add(&r);
    }
    if trace.skipped_rows() > 0 || trace.failed_requests() > 0 {
        listener.note(&format!(
            "{}: left out {} malformed rows and {} failed requests (no output tokens)",
            path.display(),
            trace.skipped_rows(),
            trace.failed_requests()
        ));
    }
    let stats = builder.finish();
    if stats.requests == 0 && other_models > 0 {
        return Err(Error::Usage(format!(
            "{}: no request names `{model}` or `{name}`; the trace's models are {} (map them with --trace-model OLD=NEW)",
            path.display(),
            seen_models.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    if other_models > 0 {
        listener.note(&format!(
            "{}: {other_models} requests of other models left out",
            path.display()
        ));
    }
    if stats.requests < 2 {
        return Err(Error::Usage(format!(
            "{}: {} request(s): a rate needs at least two",
            path.display(),
            stats.requests
        )));
    }
    let (rate_rps, how) = if stats.per_minute.len() > 1 {
        (
            rate_quantile_rps(
                &minute_rates_rps(&stats.per_minute, stats.duration_s),
                rate_quantile,
            ),
            format!("quantile {rate_quantile} of its per-minute rates"),
        )
    } else {
        (
            stats.mean_rate_rps,
            "its mean rate (under a minute of arrivals)".to_string(),
        )
    };
    if !(rate_rps.is_finite() && rate_rps >= 0.0) {
        return Err(Error::Usage(format!(
            "{}: no arrival rate can be read from it",
            path.display()
        )));
    }
    workload.rate_rps = rate_rps;
    workload.prompt_tokens = stats.prompt_tokens.mean.max(0.0);
    workload.output_tokens = stats.output_tokens.mean.max(1.0);
    listener.note(&format!(
        "workload `{}` from {}: {:.3} req/s ({how}), prompt {:.0} and output {:.0} tokens on average",
        workload.name,
        path.display(),
        rate_rps,
        workload.prompt_tokens,
        workload.output_tokens
    ));
    Ok(())
}
