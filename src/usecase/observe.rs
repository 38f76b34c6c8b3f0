//! `wva observe` as a library call: the vLLM metrics a cluster's Prometheus recorded over a
//! range, per model and variant, and what `wva` makes of them (a summary, per-step
//! observations for `wva estimate`, a scenario on a base's accelerators, a look-alike trace).

use crate::error::{Error, Field, request_error};
use crate::observe::write::{ModelLoad, ScenarioOptions};
use crate::observe::{self, Client, Grouping, ObserveReport, Observed, Range};
use crate::trace::time::rfc3339;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most evaluation points per range query (Prometheus refuses more than 11,000).
pub const MAX_POINTS: f64 = 11_000.0;

/// Longest wait for one answer, s, whatever the request asks.
const MAX_TIMEOUT_S: f64 = 3600.0;

/// `wva observe`'s request.
#[derive(Clone, Debug, PartialEq)]
pub struct PrometheusRequest {
    /// The server's URL (http:// or https://; Thanos and other API-compatible servers work).
    pub url: String,
    /// A file holding a bearer token for the server.
    pub bearer_token_file: Option<PathBuf>,
    /// Only series with this `namespace` label.
    pub namespace: Option<String>,
    /// More label matchers, PromQL syntax without braces (empty: none).
    pub selector: Option<String>,
    /// Start of the range, unix s of the metrics' clock.
    pub start_s: f64,
    /// End of the range, unix s of the metrics' clock.
    pub end_s: f64,
    /// Resolution, s of the metrics' clock: counters are differenced and gauges averaged per
    /// step.
    pub step_s: f64,
    /// Give up on a request after this many seconds (at most an hour).
    pub timeout_s: f64,
    /// How series are grouped into variants.
    pub grouping: Grouping,
    /// Seconds of traffic per second of the metrics' clock: 1 for a cluster, the speed-up of
    /// a twin.
    pub traffic_per_metric_s: f64,
}

/// What a Prometheus server said, and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The server's URL.
    pub url: String,
    /// The range asked, in the metrics' time.
    pub range: Range,
    /// The label matchers every query carried.
    pub matchers: String,
    /// Seconds of traffic per step.
    pub traffic_step_s: f64,
    /// One line saying where the figures come from, for the files written.
    pub provenance: String,
    /// The variants observed, the notes on gaps and the queries made.
    pub observed: Observed,
}

/// Observes what `request` asks: the range checked against the server's limits, the token
/// read, every query made. A server that cannot be reached or refuses is a cluster error; a
/// selector it cannot parse, or no data, is the user's.
pub fn observe(request: &PrometheusRequest) -> Result<Observation, Error> {
    let (start_s, end_s, step_s) = (request.start_s, request.end_s, request.step_s);
    if request.timeout_s.is_nan() || request.timeout_s <= 0.0 {
        return Err(request_error!(
            Field("timeout_s"),
            format!(" must be > 0, got {}", request.timeout_s)
        )
        .into());
    }
    if start_s >= end_s {
        return Err(request_error!(
            Field("start_s"),
            format!(" ({}) is not before ", rfc3339(start_s)),
            Field("end_s"),
            format!(" ({})", rfc3339(end_s))
        )
        .into());
    }
    let points = (end_s - start_s) / step_s;
    if points < 1.0 {
        return Err(request_error!(
            format!("the range ({} s) is shorter than one ", end_s - start_s),
            Field("step_s"),
            format!(" ({step_s} s)")
        )
        .into());
    }
    if points > MAX_POINTS {
        return Err(request_error!(
            format!(
                "{points:.0} steps of {step_s} s: Prometheus answers at most {MAX_POINTS} points per query; use a larger "
            ),
            Field("step_s"),
            " or a shorter range"
        )
        .into());
    }
    let token = match &request.bearer_token_file {
        Some(path) => Some(
            crate::limits::read_document_text(path)
                .map_err(|cause| Error::Read {
                    path: path.clone(),
                    cause,
                })?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let mut matchers: Vec<String> = Vec::new();
    if let Some(ns) = &request.namespace {
        matchers.push(format!("namespace=\"{}\"", ns.replace('"', "\\\"")));
    }
    if let Some(s) = request.selector.as_deref().filter(|s| !s.is_empty()) {
        matchers.push(s.to_string());
    }
    let range = Range {
        start_s,
        end_s,
        step_s,
    };
    let query = observe::ObserveRequest {
        range,
        matchers: matchers.join(","),
        grouping: request.grouping.clone(),
        traffic_per_metric_s: request.traffic_per_metric_s,
    };
    let client = Client::new(
        &request.url,
        token,
        Duration::from_secs_f64(request.timeout_s.min(MAX_TIMEOUT_S)),
    );
    // A selector the server cannot parse is the user's input; a server that fails, the
    // cluster's (`ObserveError`'s exit code).
    let observed = observe::observe(&client, &query)?;
    let traffic_step_s = step_s * request.traffic_per_metric_s;
    let provenance = format!(
        "wva observe {} {{{}}} from {} to {}, steps of {} s of traffic",
        request.url,
        query.matchers,
        rfc3339(start_s),
        rfc3339(end_s),
        traffic_step_s
    );
    Ok(Observation {
        url: request.url.clone(),
        range,
        matchers: query.matchers,
        traffic_step_s,
        provenance,
        observed,
    })
}

impl Observation {
    /// One row per variant and step (rate, tokens, TTFT, ITL, running, waiting, KV usage),
    /// for `wva estimate --format prometheus`.
    pub fn observations_csv(&self) -> String {
        observe::write::observations_csv(
            &self.observed.variants,
            self.traffic_step_s,
            &self.provenance,
        )
    }

    /// The load of each model, per step, over its variants.
    pub fn loads(&self) -> Vec<ModelLoad> {
        observe::write::model_loads(&self.observed.variants)
    }

    /// A scenario of `loads` on the base scenario's accelerators, service classes and profiles
    /// (its text, read from `base_path`): one workload per model, at the `rate_quantile` of its
    /// per-step rate, in `service_class` when the base has no workload for the model.
    pub fn scenario_yaml(
        &self,
        loads: &[ModelLoad],
        base_text: &str,
        base_path: &Path,
        rate_quantile: f64,
        service_class: &str,
    ) -> Result<String, Error> {
        observe::write::scenario_yaml(
            loads,
            &ScenarioOptions {
                base: (base_text, base_path),
                rate_quantile,
                service_class,
                step_s: self.traffic_step_s,
                provenance: &self.provenance,
            },
        )
        .map_err(Error::Usage)
    }

    /// A canonical trace with `loads`' per-step rate and token means, arrivals drawn from
    /// `seed`.
    pub fn trace_csv(&self, loads: &[ModelLoad], seed: u64) -> String {
        observe::write::look_alike_csv(loads, self.traffic_step_s, seed)
    }

    /// The summary: per variant, what the metrics say, and notes on gaps.
    pub fn report(&self) -> ObserveReport {
        observe::summarize(&self.observed, &self.url, self.range, self.traffic_step_s)
    }
}
