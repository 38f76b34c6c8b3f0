//! From Prometheus series to per-variant steps: the counters' increases between evaluation
//! times (per pod, counter resets handled, then summed over the variant's pods), the gauges'
//! means over each step, and the figures `wva` reads from them (rate, token means, TTFT, ITL,
//! running and waiting requests per replica, KV usage).

use super::prom::Series;
use std::collections::BTreeMap;

/// The vLLM counters (histogram sums and counts included) `observe` reads.
pub const COUNTERS: [&str; 9] = [
    "vllm:request_success_total",
    "vllm:request_prompt_tokens_sum",
    "vllm:request_prompt_tokens_count",
    "vllm:request_generation_tokens_sum",
    "vllm:request_generation_tokens_count",
    "vllm:time_to_first_token_seconds_sum",
    "vllm:time_to_first_token_seconds_count",
    "vllm:time_per_output_token_seconds_sum",
    "vllm:time_per_output_token_seconds_count",
];

/// The gauges, each with the older name vLLM used for it.
pub const GAUGES: [(&str, &str); 3] = [
    ("vllm:num_requests_running", "vllm:num_requests_running"),
    ("vllm:num_requests_waiting", "vllm:num_requests_waiting"),
    ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
];

/// Which labels say which variant a series belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grouping {
    /// The label naming the variant (Deployment); `None`: the `pod` label without its
    /// ReplicaSet hash and pod suffix (`llama-h100-7d9f8b6c5d-x2k4p` is `llama-h100`).
    pub variant_label: Option<String>,
    /// The label naming the accelerator, when the series carry one.
    pub accelerator_label: String,
}

impl Default for Grouping {
    fn default() -> Self {
        Grouping {
            variant_label: None,
            accelerator_label: "accelerator".into(),
        }
    }
}

/// A variant: a model served by one Deployment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VariantKey {
    /// `model_name`.
    pub model: String,
    /// The Deployment (see [`Grouping`]).
    pub variant: String,
    /// The accelerator label's value, or empty.
    pub accelerator: String,
    /// `namespace`, or empty.
    pub namespace: String,
}

/// A pod: where a counter's resets are tracked.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct PodKey {
    variant: VariantKey,
    pod: String,
}

impl Grouping {
    fn keys(&self, labels: &BTreeMap<String, String>) -> PodKey {
        let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
        let pod = labels
            .get("pod")
            .or_else(|| labels.get("instance"))
            .cloned()
            .unwrap_or_default();
        let variant = match &self.variant_label {
            Some(l) => get(l),
            None => deployment_of(&pod).to_string(),
        };
        PodKey {
            variant: VariantKey {
                model: get("model_name"),
                variant,
                accelerator: get(&self.accelerator_label),
                namespace: get("namespace"),
            },
            pod,
        }
    }
}

/// The Deployment a pod belongs to: its name without the ReplicaSet's template hash and the
/// pod's random suffix (`<deployment>-<hash>-<suffix>`), or the whole name when it does not
/// look like that.
pub fn deployment_of(pod: &str) -> &str {
    let mut parts = pod.rsplitn(3, '-');
    let (Some(suffix), Some(hash), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return pod;
    };
    let alnum = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    if suffix.len() == 5 && alnum(suffix) && (6..=10).contains(&hash.len()) && alnum(hash) {
        rest
    } else {
        pod
    }
}

/// One step of one variant: what happened in `(end - step, end]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Step {
    /// End of the step, seconds of traffic from the range's start.
    pub end_s: f64,
    /// Requests completed.
    pub requests: f64,
    /// Prompt tokens of the completed requests, and how many requests they are.
    pub prompt_sum: f64,
    /// See `prompt_sum`.
    pub prompt_count: f64,
    /// Output tokens of the completed requests, and how many requests they are.
    pub output_sum: f64,
    /// See `output_sum`.
    pub output_count: f64,
    /// Summed TTFT, s, and how many first tokens.
    pub ttft_sum_s: f64,
    /// See `ttft_sum_s`.
    pub ttft_count: f64,
    /// Summed inter-token gaps, s, and how many gaps.
    pub itl_sum_s: f64,
    /// See `itl_sum_s`.
    pub itl_count: f64,
    /// Replicas reporting in this step.
    pub replicas: u32,
    /// Mean running requests, summed over the replicas.
    pub running: f64,
    /// Mean waiting requests, summed over the replicas.
    pub waiting: f64,
    /// Mean KV-cache usage (0-1), summed over the replicas that report it.
    pub kv_usage: f64,
    /// Replicas reporting KV usage.
    pub kv_replicas: u32,
}

impl Step {
    fn ratio(sum: f64, count: f64) -> Option<f64> {
        (count > 0.0 && sum.is_finite()).then(|| sum / count)
    }
    /// Mean prompt tokens of the requests completed.
    pub fn prompt_tokens(&self) -> Option<f64> {
        Self::ratio(self.prompt_sum, self.prompt_count)
    }
    /// Mean output tokens of the requests completed.
    pub fn output_tokens(&self) -> Option<f64> {
        Self::ratio(self.output_sum, self.output_count)
    }
    /// Mean TTFT, ms.
    pub fn ttft_ms(&self) -> Option<f64> {
        Self::ratio(self.ttft_sum_s * 1000.0, self.ttft_count)
    }
    /// Mean inter-token latency, ms.
    pub fn itl_ms(&self) -> Option<f64> {
        Self::ratio(self.itl_sum_s * 1000.0, self.itl_count)
    }
    /// Mean running requests per replica.
    pub fn running_per_replica(&self) -> Option<f64> {
        (self.replicas > 0).then(|| self.running / f64::from(self.replicas))
    }
    /// Mean waiting requests per replica.
    pub fn waiting_per_replica(&self) -> Option<f64> {
        (self.replicas > 0).then(|| self.waiting / f64::from(self.replicas))
    }
    /// Mean KV usage (0-1) over the replicas reporting it.
    pub fn kv_usage_mean(&self) -> Option<f64> {
        (self.kv_replicas > 0).then(|| self.kv_usage / f64::from(self.kv_replicas))
    }
}

/// The steps of one variant.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantSteps {
    /// Which variant.
    pub key: VariantKey,
    /// One per step of the range (the first evaluation time is the baseline, not a step).
    pub steps: Vec<Step>,
    /// Pods seen.
    pub pods: usize,
}

/// Assembles per-variant steps from the answers of the counter query and the three gauge
/// queries, evaluated at `times` (unix s); `traffic_per_metric_s` converts the metrics' seconds
/// into seconds of traffic (1 for a real cluster; the twin's speed-up for `--serve-metrics`).
pub fn assemble(
    counters: &[Series],
    gauges: [&[Series]; 3],
    times: &[f64],
    grouping: &Grouping,
    traffic_per_metric_s: f64,
) -> Vec<VariantSteps> {
    let n = times.len().saturating_sub(1);
    let t0 = times.first().copied().unwrap_or(0.0);
    let mut by_variant: BTreeMap<VariantKey, (Vec<Step>, std::collections::BTreeSet<String>)> =
        BTreeMap::new();
    let slot = |by: &mut BTreeMap<VariantKey, (Vec<Step>, std::collections::BTreeSet<String>)>,
                key: &PodKey| {
        let entry = by.entry(key.variant.clone()).or_insert_with(|| {
            let steps = (0..n)
                .map(|k| Step {
                    end_s: (times[k + 1] - t0) * traffic_per_metric_s,
                    ..Step::default()
                })
                .collect();
            (steps, Default::default())
        });
        entry.1.insert(key.pod.clone());
    };
    let step = if times.len() > 1 {
        times[1] - times[0]
    } else {
        1.0
    };
    let index_of = |t: f64| -> Option<usize> {
        // Evaluation times are start + k*step; match to the millisecond.
        let k = ((t - t0) / step).round();
        (k >= 0.0 && (k as usize) < times.len())
            .then_some(k as usize)
            .filter(|&k| (times[k] - t).abs() < 5e-4)
    };
    for s in counters {
        let Some(name) = s.labels.get("__name__") else {
            continue;
        };
        let Some(which) = COUNTERS.iter().position(|c| c == name) else {
            continue;
        };
        let key = grouping.keys(&s.labels);
        slot(&mut by_variant, &key);
        let steps = &mut by_variant.get_mut(&key.variant).expect("inserted").0;
        let mut previous: Option<(usize, f64)> = None;
        for &(t, v) in &s.values {
            let Some(k) = index_of(t) else { continue };
            if !v.is_finite() {
                continue;
            }
            let increase = match previous {
                // A reset: the counter restarted from zero within the step.
                Some((_, p)) if v < p => v,
                Some((_, p)) => v - p,
                // A pod that appears after the range's start counts from zero.
                None if k > 0 => v,
                None => 0.0,
            };
            previous = Some((k, v));
            if k == 0 {
                continue;
            }
            let step = &mut steps[k - 1];
            let field = match which {
                0 => &mut step.requests,
                1 => &mut step.prompt_sum,
                2 => &mut step.prompt_count,
                3 => &mut step.output_sum,
                4 => &mut step.output_count,
                5 => &mut step.ttft_sum_s,
                6 => &mut step.ttft_count,
                7 => &mut step.itl_sum_s,
                _ => &mut step.itl_count,
            };
            *field += increase;
        }
    }
    for (g, series) in gauges.iter().enumerate() {
        for s in *series {
            let key = grouping.keys(&s.labels);
            slot(&mut by_variant, &key);
            let steps = &mut by_variant.get_mut(&key.variant).expect("inserted").0;
            for &(t, v) in &s.values {
                let Some(k) = index_of(t).filter(|&k| k > 0) else {
                    continue;
                };
                if !v.is_finite() {
                    continue;
                }
                let step = &mut steps[k - 1];
                match g {
                    0 => {
                        step.running += v;
                        step.replicas += 1;
                    }
                    1 => step.waiting += v,
                    _ => {
                        step.kv_usage += v;
                        step.kv_replicas += 1;
                    }
                }
            }
        }
    }
    by_variant
        .into_iter()
        .map(|(key, (steps, pods))| VariantSteps {
            key,
            steps,
            pods: pods.len(),
        })
        .collect()
}

/// Totals over a variant's steps: the whole range's means.
pub fn total(steps: &[Step]) -> Step {
    let mut t = Step::default();
    for s in steps {
        t.requests += s.requests;
        t.prompt_sum += s.prompt_sum;
        t.prompt_count += s.prompt_count;
        t.output_sum += s.output_sum;
        t.output_count += s.output_count;
        t.ttft_sum_s += s.ttft_sum_s;
        t.ttft_count += s.ttft_count;
        t.itl_sum_s += s.itl_sum_s;
        t.itl_count += s.itl_count;
        t.end_s = t.end_s.max(s.end_s);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(labels: &[(&str, &str)], values: &[(f64, f64)]) -> Series {
        Series {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            values: values.to_vec(),
        }
    }

    #[test]
    fn deployments_from_pod_names() {
        assert_eq!(deployment_of("llama-h100-7d9f8b6c5d-x2k4p"), "llama-h100");
        assert_eq!(deployment_of("vllm-0"), "vllm-0");
        assert_eq!(deployment_of("a-b-c"), "a-b-c");
        assert_eq!(deployment_of(""), "");
    }

    #[test]
    fn counters_become_increases_with_resets_and_new_pods() {
        let times = [0.0, 60.0, 120.0, 180.0];
        fn pod(p: &str) -> Vec<(&str, &str)> {
            vec![
                ("__name__", "vllm:request_success_total"),
                ("model_name", "m"),
                ("pod", p),
            ]
        }
        let a = series(
            &pod("web-5d8c7b9f6c-aaaaa"),
            &[(0.0, 100.0), (60.0, 160.0), (120.0, 10.0), (180.0, 70.0)],
        );
        // Appears at 120 s with 30 completions since it started.
        let b = series(
            &pod("web-5d8c7b9f6c-bbbbb"),
            &[(120.0, 30.0), (180.0, 90.0)],
        );
        let running = series(
            &[("model_name", "m"), ("pod", "web-5d8c7b9f6c-aaaaa")],
            &[(60.0, 4.0), (120.0, 6.0), (180.0, 8.0)],
        );
        let v = assemble(
            &[a, b],
            [&[running], &[], &[]],
            &times,
            &Grouping::default(),
            1.0,
        );
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].key.variant, "web");
        assert_eq!(v[0].pods, 2);
        let req: Vec<f64> = v[0].steps.iter().map(|s| s.requests).collect();
        assert_eq!(req, vec![60.0, 10.0 + 30.0, 120.0]);
        assert_eq!(v[0].steps[1].running_per_replica(), Some(6.0));
        assert_eq!(total(&v[0].steps).requests, 220.0);
    }

    #[test]
    fn means_come_from_sums_and_counts() {
        let s = Step {
            prompt_sum: 3000.0,
            prompt_count: 3.0,
            itl_sum_s: 0.5,
            itl_count: 20.0,
            ..Step::default()
        };
        assert_eq!(s.prompt_tokens(), Some(1000.0));
        assert_eq!(s.itl_ms(), Some(25.0));
        assert_eq!(s.ttft_ms(), None);
    }
}
