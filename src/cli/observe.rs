//! `wva observe`: the vLLM metrics in a cluster's Prometheus, over a range, as a scenario, a
//! trace and observations for `wva estimate`.

use super::args;
use super::output::{DocFormat, emit, render, write_atomically};
use crate::error::{Error, ExitCode};
use crate::observe::Grouping;
use crate::report::observe_table;
use crate::usecase::observe::{PrometheusRequest, observe};
use clap::Args;
use std::path::PathBuf;

pub(super) const AFTER_HELP: &str = "\
Reads the vLLM metrics WVA's collector uses (vllm:request_success_total, the prompt and
generation token histograms, time_to_first_token_seconds, time_per_output_token_seconds,
num_requests_running, num_requests_waiting, kv_cache_usage_perc) over a range, per model and
variant (the Deployment, from the pod label or --variant-label), and prints what they say.
Counters are read at every step and differenced per pod (restarts handled), so the totals
are exact; gauges are averaged over each step.

Outputs:
  --scenario-out FILE      the observed load on --base's accelerators, service classes and
                           profiles: one workload per model (rate: --rate-quantile of the
                           per-step rate; token means over the range); `wva plan` reads it
  --trace-out FILE         a canonical trace with the per-step rate and token means
                           (`wva replay`, `wva simulate --trace`)
  --observations-out FILE  one row per variant and step (rate, tokens, TTFT, ITL, running,
                           waiting, KV usage): `wva estimate --format prometheus` fits a
                           profile from it

Examples:
  wva observe --prometheus http://prometheus.monitoring:9090 --namespace llm --since 7d \\
      --scenario-out observed.yaml --base scenarios/quickstart.yaml
  wva observe --prometheus https://thanos.example.com --bearer-token-file token \\
      --start 2026-12-01T00:00:00Z --end 2026-12-02T00:00:00Z --observations-out obs.csv
  wva estimate obs.csv --format prometheus --out profile.yaml

A local demo against the simulator's twin: docs/observe.md.";

/// `wva observe` arguments.
#[derive(Debug, Args)]
pub struct ObserveArgs {
    /// The Prometheus server (http:// or https://; Thanos and other API-compatible servers work)
    #[arg(long, value_parser = args::http_url)]
    prometheus: String,
    /// Only series with this `namespace` label
    #[arg(long)]
    namespace: Option<String>,
    /// More label matchers, PromQL syntax without braces: 'model_name=~"llama.*",env="prod"'
    #[arg(long, value_parser = matchers)]
    selector: Option<String>,
    /// How far back from --end: 30m, 24h, 7d, 1h30m (default 1h)
    #[arg(long, value_parser = duration_s, conflicts_with = "start")]
    since: Option<f64>,
    /// Start of the range: RFC 3339 UTC (2026-12-01T00:00:00Z) or unix seconds
    #[arg(long, value_parser = instant_s, requires = "end")]
    start: Option<f64>,
    /// End of the range (default: now)
    #[arg(long, value_parser = instant_s)]
    end: Option<f64>,
    /// Resolution: counters are differenced and gauges averaged per step
    #[arg(long, value_parser = duration_s, default_value = "60s")]
    step: f64,
    /// A file holding a bearer token (Kubernetes service-account tokens, OpenShift's Thanos)
    #[arg(long)]
    bearer_token_file: Option<PathBuf>,
    /// Give up on a request after this many seconds
    #[arg(long, value_parser = args::positive, default_value_t = 60.0)]
    timeout_s: f64,
    /// The label naming a series' variant (default: the pod label without its ReplicaSet hash)
    #[arg(long)]
    variant_label: Option<String>,
    /// The label naming a series' accelerator
    #[arg(long, default_value = "accelerator")]
    accelerator_label: String,
    /// Seconds of traffic per second of the metrics' clock: the --speedup of a twin
    /// (`wva simulate --serve-metrics`); 1 for a real cluster
    #[arg(long, value_parser = args::time_scale, default_value_t = 1.0)]
    time_scale: f64,
    /// Write a scenario with the observed load (needs --base)
    #[arg(long, requires = "base")]
    scenario_out: Option<PathBuf>,
    /// The scenario whose accelerators, service classes, profiles and workload settings the
    /// written scenario keeps (workloads are matched by model)
    #[arg(long)]
    base: Option<PathBuf>,
    /// Which quantile of the per-step rate a written workload gets (1: the peak step)
    #[arg(long, value_parser = quantile, default_value_t = 0.95)]
    rate_quantile: f64,
    /// The service class of a model --base has no workload for
    #[arg(long, default_value = "standard")]
    service_class: String,
    /// Write a look-alike trace (canonical CSV)
    #[arg(long)]
    trace_out: Option<PathBuf>,
    /// Seed of the look-alike trace's arrival times
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write per-step observations for `wva estimate --format prometheus`
    #[arg(long)]
    observations_out: Option<PathBuf>,
    /// Output format of the summary
    #[arg(short = 'o', long, value_enum, default_value_t = DocFormat::Table)]
    output: DocFormat,
}

/// The longest duration with units: 400 days.
const MAX_DURATION_S: f64 = 400.0 * 86_400.0;

/// `30m`, `24h`, `7d`, `1h30m`, `500ms`, or seconds.
fn duration_s(text: &str) -> Result<f64, String> {
    let bad = || {
        format!(
            "{} is not a duration (30s, 5m, 24h, 7d, 1h30m)",
            crate::limits::quote(text)
        )
    };
    if let Ok(v) = text.parse::<f64>() {
        return if v > 0.0 && v.is_finite() {
            Ok(v)
        } else {
            Err(bad())
        };
    }
    crate::observe::prom::duration_s(text, MAX_DURATION_S).ok_or_else(bad)
}

/// RFC 3339 UTC (`Z`) or unix seconds.
fn instant_s(text: &str) -> Result<f64, String> {
    if let Ok(v) = text.parse::<f64>()
        && (0.0..1e11).contains(&v)
    {
        return Ok(v);
    }
    crate::trace::time::parse_datetime(text).ok_or_else(|| {
        format!(
            "{} is not a time: RFC 3339 in UTC (2026-12-01T00:00:00Z) or unix seconds",
            crate::limits::quote(text)
        )
    })
}

/// A quantile in [0, 1].
fn quantile(text: &str) -> Result<f64, String> {
    let v = args::non_negative(text)?;
    if v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("a quantile is from 0 to 1, got {v}"))
    }
}

/// Label matchers without braces.
fn matchers(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.contains(['{', '}']) {
        return Err("give the matchers without braces: 'model_name=~\"llama.*\"'".into());
    }
    if !t.is_empty() && !t.contains('=') {
        return Err(format!(
            "{} is not a label matcher (label=\"value\", label=~\"regex\", label!=\"value\")",
            crate::limits::quote(t)
        ));
    }
    Ok(t.trim_end_matches(',').to_string())
}

/// Runs `wva observe`.
pub fn run(a: ObserveArgs) -> anyhow::Result<ExitCode> {
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let end_s = a.end.unwrap_or(now_s.floor());
    let request = PrometheusRequest {
        url: a.prometheus.clone(),
        bearer_token_file: a.bearer_token_file,
        namespace: a.namespace,
        selector: a.selector,
        start_s: match (a.start, a.since) {
            (Some(s), _) => s,
            (None, Some(d)) => end_s - d,
            (None, None) => end_s - 3600.0,
        },
        end_s,
        step_s: a.step,
        timeout_s: a.timeout_s,
        grouping: Grouping {
            variant_label: a.variant_label,
            accelerator_label: a.accelerator_label,
        },
        traffic_per_metric_s: a.time_scale,
    };
    let started = std::time::Instant::now();
    let observation = observe(&request)?;
    super::say::detail(format_args!(
        "{} queries to {} in {:.0} ms: {} variants",
        observation.observed.queries.len(),
        a.prometheus,
        started.elapsed().as_secs_f64() * 1e3,
        observation.observed.variants.len()
    ));
    if let Some(path) = &a.observations_out {
        write_atomically(path, observation.observations_csv().as_bytes())?;
    }
    let loads = observation.loads();
    if let (Some(path), Some(base)) = (&a.scenario_out, &a.base) {
        let text = crate::limits::read_document_text(base)
            .map_err(|e| Error::Usage(format!("{}: {e}", base.display())))?;
        let yaml =
            observation.scenario_yaml(&loads, &text, base, a.rate_quantile, &a.service_class)?;
        write_atomically(path, yaml.as_bytes())?;
    }
    if let Some(path) = &a.trace_out {
        write_atomically(path, observation.trace_csv(&loads, a.seed).as_bytes())?;
    }
    let report = observation.report();
    for n in &report.notes {
        super::say::warning(format_args!("{n}"));
    }
    emit(&render(a.output, &report, observe_table))?;
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_s("90"), Ok(90.0));
        assert_eq!(duration_s("1h30m"), Ok(5400.0));
        assert_eq!(duration_s("7d"), Ok(604_800.0));
        assert_eq!(duration_s("500ms"), Ok(0.5));
        for bad in ["", "h", "5x", "-5", "0s", "1y", "nan"] {
            assert!(duration_s(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instants() {
        assert_eq!(instant_s("1700000000"), Ok(1.7e9));
        assert_eq!(instant_s("2000-03-01T00:00:00Z"), Ok(951_868_800.0));
        assert!(instant_s("yesterday").is_err());
    }

    #[test]
    fn label_matchers() {
        assert_eq!(matchers("a=\"b\","), Ok("a=\"b\"".into()));
        assert!(matchers("{a=\"b\"}").is_err());
        assert!(matchers("llama").is_err());
    }
}
