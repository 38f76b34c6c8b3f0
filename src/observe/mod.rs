//! `wva observe`: what a cluster's Prometheus already knows, turned into `wva`'s inputs. The
//! vLLM metrics WVA's collector reads (completions, token histograms, TTFT and inter-token
//! latency histograms, running and waiting requests, KV usage) are queried over a range, per
//! model and variant, and written as a scenario `wva plan` reads, a trace `wva replay` and
//! `wva simulate` read, and per-step observations `wva estimate --format prometheus` fits.
//!
//! [`twin`] is the other side: a vLLM-compatible `/metrics` endpoint driven by the simulator,
//! so the whole loop runs against a real Prometheus on one machine.

pub mod prom;
pub mod series;
pub mod twin;
pub mod write;

pub use prom::{Client, PromError, Range, Series};
pub use series::{Grouping, Step, VariantKey, VariantSteps};

/// What to observe.
#[derive(Clone, Debug, PartialEq)]
pub struct ObserveRequest {
    /// The range and resolution, in the metrics' time (unix s).
    pub range: Range,
    /// Label matchers every query carries (`namespace="prod",model_name=~"llama.*"`), or empty.
    pub matchers: String,
    /// How series are grouped into variants.
    pub grouping: Grouping,
    /// Seconds of traffic per second of the metrics' clock: 1 for a cluster, the speed-up of
    /// a twin (`wva simulate --serve-metrics --speedup X`).
    pub traffic_per_metric_s: f64,
}

/// What went wrong observing.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// The server could not be asked, or refused.
    #[error(transparent)]
    Prom(#[from] PromError),
    /// A query found no series.
    #[error(
        "Prometheus at {url} has no `{metric}` series{} between {start} and {end}: check the selector, the range and that Prometheus scrapes the vLLM pods",
        if .matchers.is_empty() { String::new() } else { format!(" matching {{{}}}", .matchers) }
    )]
    NoData {
        /// The server.
        url: String,
        /// The metric.
        metric: String,
        /// The selector.
        matchers: String,
        /// The range, RFC 3339.
        start: String,
        /// See `start`.
        end: String,
    },
}

/// What was observed: one entry per variant, and what the user should know about the range.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// The variants, by model then variant.
    pub variants: Vec<VariantSteps>,
    /// Notes on gaps (a variant whose data start late or stop early, steps without data).
    pub notes: Vec<String>,
    /// The queries made, in order.
    pub queries: Vec<String>,
}

/// The evaluation times of `range` (start, start + step, ..., at most end).
pub fn times(range: Range) -> Vec<f64> {
    let n = ((range.end_s - range.start_s) / range.step_s + 1e-9).floor() as usize;
    (0..=n)
        .map(|k| range.start_s + k as f64 * range.step_s)
        .collect()
}

/// Queries `client` for the vLLM metrics over `request.range` and assembles them per variant.
pub fn observe(client: &Client, request: &ObserveRequest) -> Result<Observed, ObserveError> {
    let sel = &request.matchers;
    let with = |extra: &str| {
        if sel.is_empty() {
            format!("{{{extra}}}")
        } else if extra.is_empty() {
            format!("{{{sel}}}")
        } else {
            format!("{{{extra},{sel}}}")
        }
    };
    let names: Vec<&str> = series::COUNTERS
        .iter()
        .map(|c| c.trim_start_matches("vllm:"))
        .collect();
    let counter_query = with(&format!("__name__=~\"vllm:({})\"", names.join("|")));
    let window_ms = (request.range.step_s * 1000.0).round().max(1.0) as u64;
    let mut queries = vec![counter_query.clone()];
    let counters = client.query_range(&counter_query, request.range)?;
    let no_data = |metric: &str| ObserveError::NoData {
        url: client.url().to_string(),
        metric: metric.to_string(),
        matchers: sel.clone(),
        start: crate::trace::time::rfc3339(request.range.start_s),
        end: crate::trace::time::rfc3339(request.range.end_s),
    };
    let has = |name: &str| {
        counters
            .iter()
            .any(|s| s.labels.get("__name__").is_some_and(|n| n == name))
    };
    for required in [
        "vllm:request_success_total",
        "vllm:request_prompt_tokens_sum",
        "vllm:request_generation_tokens_sum",
    ] {
        if !has(required) {
            return Err(no_data(required));
        }
    }
    let mut gauges: Vec<Vec<Series>> = Vec::new();
    for (name, older) in series::GAUGES {
        let q = format!("avg_over_time({name}{}[{window_ms}ms])", with(""));
        queries.push(q.clone());
        let mut found = client.query_range(&q, request.range)?;
        if found.is_empty() && older != name {
            let q = format!("avg_over_time({older}{}[{window_ms}ms])", with(""));
            queries.push(q.clone());
            found = client.query_range(&q, request.range)?;
        }
        if found.is_empty() && name == "vllm:num_requests_running" {
            return Err(no_data(name));
        }
        gauges.push(found);
    }
    let times = times(request.range);
    let variants = series::assemble(
        &counters,
        [&gauges[0], &gauges[1], &gauges[2]],
        &times,
        &request.grouping,
        request.traffic_per_metric_s,
    );
    let notes = gaps(&variants);
    Ok(Observed {
        variants,
        notes,
        queries,
    })
}

/// What the user should know about gaps: a variant whose data start late, stop early or miss
/// steps in between (a partial range), or that has counters but no running-requests gauge.
pub fn gaps(variants: &[VariantSteps]) -> Vec<String> {
    let mut notes = Vec::new();
    for v in variants {
        let seen: Vec<usize> = v
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.replicas > 0)
            .map(|(k, _)| k)
            .collect();
        let name = variant_name(&v.key);
        let (Some(&first), Some(&last)) = (seen.first(), seen.last()) else {
            notes.push(format!(
                "{name}: counters but no running-requests gauge in the range"
            ));
            continue;
        };
        let missing = last + 1 - first - seen.len();
        if first > 0 || last + 1 < v.steps.len() || missing > 0 {
            notes.push(format!(
                "{name}: data for steps {}-{} of {}{}: a partial range (the variant started or stopped, or Prometheus missed scrapes)",
                first + 1,
                last + 1,
                v.steps.len(),
                if missing > 0 {
                    format!(", {missing} missing in between")
                } else {
                    String::new()
                }
            ));
        }
    }
    notes
}

/// One variant's range in figures (the command's report).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct VariantSummary {
    /// `model_name`.
    pub model: String,
    /// The Deployment.
    pub variant: String,
    /// The accelerator label, or empty.
    pub accelerator: String,
    /// The namespace, or empty.
    pub namespace: String,
    /// Pods seen.
    pub pods: usize,
    /// Steps with a running-requests sample, of `steps`.
    pub steps_with_data: usize,
    /// Steps in the range.
    pub steps: usize,
    /// Requests completed.
    pub requests: f64,
    /// Mean rate over the steps with data, req/s.
    pub rate_mean_rps: f64,
    /// The 95th percentile of the per-step rate, req/s.
    pub rate_p95_rps: f64,
    /// Mean prompt tokens.
    pub prompt_tokens: Option<f64>,
    /// Mean output tokens.
    pub output_tokens: Option<f64>,
    /// Mean TTFT, ms.
    pub ttft_ms: Option<f64>,
    /// Mean inter-token latency, ms.
    pub itl_ms: Option<f64>,
    /// Mean running requests per replica over the steps with data.
    pub running_per_replica: Option<f64>,
    /// Mean waiting requests per replica over the steps with data.
    pub waiting_per_replica: Option<f64>,
    /// Mean KV-cache usage (0-1), where reported.
    pub kv_usage: Option<f64>,
}

/// What `wva observe` prints.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ObserveReport {
    /// The server.
    pub prometheus: String,
    /// The range, RFC 3339.
    pub start: String,
    /// See `start`.
    pub end: String,
    /// Seconds of traffic per step.
    pub step_s: f64,
    /// One entry per variant.
    pub variants: Vec<VariantSummary>,
    /// Gaps and partial ranges.
    pub notes: Vec<String>,
}

/// The report of `observed` (`step_s`: seconds of traffic per step).
pub fn summarize(observed: &Observed, url: &str, range: Range, step_s: f64) -> ObserveReport {
    let variants = observed
        .variants
        .iter()
        .map(|v| {
            let with_data: Vec<&Step> = v.steps.iter().filter(|s| s.replicas > 0).collect();
            let t = series::total(&v.steps);
            let mean = |f: &dyn Fn(&Step) -> Option<f64>| {
                let xs: Vec<f64> = with_data.iter().filter_map(|s| f(s)).collect();
                (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
            };
            let mut rates: Vec<f64> = with_data.iter().map(|s| s.requests / step_s).collect();
            rates.sort_by(f64::total_cmp);
            let p95 = if rates.is_empty() {
                0.0
            } else {
                rates[((0.95 * rates.len() as f64).ceil() as usize).clamp(1, rates.len()) - 1]
            };
            VariantSummary {
                model: v.key.model.clone(),
                variant: v.key.variant.clone(),
                accelerator: v.key.accelerator.clone(),
                namespace: v.key.namespace.clone(),
                pods: v.pods,
                steps_with_data: with_data.len(),
                steps: v.steps.len(),
                requests: t.requests,
                rate_mean_rps: if with_data.is_empty() {
                    0.0
                } else {
                    t.requests / (step_s * with_data.len() as f64)
                },
                rate_p95_rps: p95,
                prompt_tokens: t.prompt_tokens(),
                output_tokens: t.output_tokens(),
                ttft_ms: t.ttft_ms(),
                itl_ms: t.itl_ms(),
                running_per_replica: mean(&Step::running_per_replica),
                waiting_per_replica: mean(&Step::waiting_per_replica),
                kv_usage: mean(&Step::kv_usage_mean),
            }
        })
        .collect();
    ObserveReport {
        prometheus: url.to_string(),
        start: crate::trace::time::rfc3339(range.start_s),
        end: crate::trace::time::rfc3339(range.end_s),
        step_s,
        variants,
        notes: observed.notes.clone(),
    }
}

/// `model (variant)`, or the model alone when there is no variant label.
pub fn variant_name(key: &VariantKey) -> String {
    if key.variant.is_empty() {
        key.model.clone()
    } else {
        format!("{} ({})", key.model, key.variant)
    }
}

impl crate::error::ModuleError for ObserveError {
    fn exit_code(&self) -> crate::error::ExitCode {
        match self {
            ObserveError::Prom(p) => crate::error::ModuleError::exit_code(p),
            _ => crate::error::ExitCode::Input,
        }
    }

    fn request_error(&self) -> Option<crate::error::RequestError> {
        match self {
            ObserveError::Prom(p) => crate::error::ModuleError::request_error(p),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(reporting: &[bool]) -> VariantSteps {
        VariantSteps {
            key: VariantKey {
                model: "m".into(),
                variant: "v".into(),
                accelerator: String::new(),
                namespace: String::new(),
            },
            steps: reporting
                .iter()
                .map(|&r| Step {
                    replicas: u32::from(r),
                    ..Step::default()
                })
                .collect(),
            pods: 1,
        }
    }

    #[test]
    fn partial_ranges_are_noted() {
        assert!(gaps(&[variant(&[true, true, true])]).is_empty());
        assert_eq!(
            gaps(&[variant(&[false, true, false, true])]),
            vec![
                "m (v): data for steps 2-4 of 4, 1 missing in between: a partial range (the variant started or stopped, or Prometheus missed scrapes)"
            ]
        );
        assert!(gaps(&[variant(&[false, false])])[0].contains("no running-requests gauge"));
    }

    #[test]
    fn evaluation_times() {
        let r = Range {
            start_s: 100.0,
            end_s: 220.0,
            step_s: 60.0,
        };
        assert_eq!(times(r), vec![100.0, 160.0, 220.0]);
        let r = Range { end_s: 219.0, ..r };
        assert_eq!(times(r), vec![100.0, 160.0]);
    }
}
