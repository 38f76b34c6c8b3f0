//! What `wva observe` writes: per-step observations (a sweep table `wva estimate --format
//! prometheus` fits), a scenario (the observed load on a base scenario's accelerators,
//! service classes and profiles) and a look-alike trace (the observed per-step rate and token
//! means as requests).

use super::series::{Step, VariantSteps, total};
use crate::trace::TraceRecord;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The columns of an observations file, in order.
pub const OBSERVATION_COLUMNS: [&str; 15] = [
    "model",
    "variant",
    "accelerator",
    "namespace",
    "end_s",
    "replicas",
    "requests",
    "rate_rps",
    "prompt_tokens",
    "output_tokens",
    "ttft_ms",
    "itl_ms",
    "running",
    "waiting",
    "kv_usage",
];

fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r', '#']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn figure(v: Option<f64>, decimals: usize) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| format!("{x:.decimals$}"))
        .unwrap_or_default()
}

/// The observations CSV: one row per variant and step that completed requests (`step_s`:
/// seconds of traffic per step); `provenance` goes in a leading comment.
pub fn observations_csv(variants: &[VariantSteps], step_s: f64, provenance: &str) -> String {
    let mut out = String::new();
    for line in provenance.lines() {
        let _ = writeln!(out, "# {line}");
    }
    out.push_str(&OBSERVATION_COLUMNS.join(","));
    out.push('\n');
    for v in variants {
        for s in &v.steps {
            if s.requests <= 0.0 || s.replicas == 0 {
                continue;
            }
            let _ = writeln!(
                out,
                "{},{},{},{},{:.3},{},{:.0},{},{},{},{},{},{},{},{}",
                field(&v.key.model),
                field(&v.key.variant),
                field(&v.key.accelerator),
                field(&v.key.namespace),
                s.end_s,
                s.replicas,
                s.requests,
                figure(Some(s.requests / step_s), 6),
                figure(s.prompt_tokens(), 3),
                figure(s.output_tokens(), 3),
                figure(s.ttft_ms(), 3),
                figure(s.itl_ms(), 4),
                figure(s.running_per_replica(), 4),
                figure(s.waiting_per_replica(), 4),
                figure(s.kv_usage_mean(), 5),
            );
        }
    }
    out
}

/// A model's load: its variants' steps added up.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelLoad {
    /// The model.
    pub model: String,
    /// Requests completed per step (every variant of the model).
    pub requests: Vec<f64>,
    /// Whether any variant of the model reported in each step.
    pub reported: Vec<bool>,
    /// Per step: mean prompt and output tokens (None where nothing completed).
    pub tokens: Vec<Option<(f64, f64)>>,
    /// The whole range's totals.
    pub total: Step,
}

impl ModelLoad {
    /// The `q` quantile (0-1, nearest rank) of the per-step rate over the steps the model
    /// reported in, req/s.
    pub fn rate_quantile_rps(&self, q: f64, step_s: f64) -> f64 {
        let mut rates: Vec<f64> = self
            .requests
            .iter()
            .zip(&self.reported)
            .filter(|(_, r)| **r)
            .map(|(n, _)| n / step_s)
            .collect();
        if rates.is_empty() {
            return 0.0;
        }
        rates.sort_by(f64::total_cmp);
        let rank = ((q * rates.len() as f64).ceil() as usize).clamp(1, rates.len());
        rates[rank - 1]
    }
}

/// The variants' load added up per model, in model order.
pub fn model_loads(variants: &[VariantSteps]) -> Vec<ModelLoad> {
    let mut by: BTreeMap<&str, Vec<&VariantSteps>> = BTreeMap::new();
    for v in variants {
        by.entry(v.key.model.as_str()).or_default().push(v);
    }
    by.into_iter()
        .map(|(model, vs)| {
            let n = vs.iter().map(|v| v.steps.len()).max().unwrap_or(0);
            let mut sum = vec![Step::default(); n];
            let mut reported = vec![false; n];
            for v in &vs {
                for (k, s) in v.steps.iter().enumerate() {
                    let t = &mut sum[k];
                    t.requests += s.requests;
                    t.prompt_sum += s.prompt_sum;
                    t.prompt_count += s.prompt_count;
                    t.output_sum += s.output_sum;
                    t.output_count += s.output_count;
                    reported[k] |= s.replicas > 0 || s.requests > 0.0;
                }
            }
            ModelLoad {
                model: model.to_string(),
                requests: sum.iter().map(|s| s.requests).collect(),
                reported,
                tokens: sum
                    .iter()
                    .map(|s| Some((s.prompt_tokens()?, s.output_tokens()?)))
                    .collect(),
                total: total(&sum),
            }
        })
        .collect()
}

/// A workload name from a model name: its last path segment as a DNS-1123 label.
pub fn workload_name(model: &str) -> String {
    crate::k8s::names::sanitize(model.rsplit('/').next().unwrap_or(model))
}

/// How to write the scenario.
#[derive(Clone, Debug)]
pub struct ScenarioOptions<'a> {
    /// The base scenario's text and path: its accelerators, service classes, profiles and
    /// workload settings (matched by model) are kept.
    pub base: (&'a str, &'a Path),
    /// Which quantile of the per-step rate each workload gets (0-1).
    pub rate_quantile: f64,
    /// The service class of a model the base has no workload for.
    pub service_class: &'a str,
    /// Seconds of traffic per step.
    pub step_s: f64,
    /// Comment lines at the top.
    pub provenance: &'a str,
}

/// The scenario: the base's references (paths made absolute, so the file can live anywhere)
/// and one workload per observed model.
pub fn scenario_yaml(loads: &[ModelLoad], o: &ScenarioOptions) -> Result<String, String> {
    use serde_yaml::{Mapping, Value};
    let (text, base_path) = o.base;
    let base: Value =
        serde_yaml::from_str(text).map_err(|e| format!("{}: {e}", base_path.display()))?;
    let Value::Mapping(base) = base else {
        return Err(format!(
            "{}: a scenario is a mapping (name, accelerators, service_classes, profiles, workloads)",
            base_path.display()
        ));
    };
    let dir = base_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let absolute = |v: &Value| -> Value {
        match v {
            Value::String(p) if !Path::new(p).is_absolute() => {
                let joined = dir.join(p);
                let resolved = std::fs::canonicalize(&joined).unwrap_or(joined);
                Value::String(resolved.display().to_string())
            }
            other => other.clone(),
        }
    };
    let mut out = Mapping::new();
    let name = base
        .get("name")
        .and_then(Value::as_str)
        .map_or_else(|| "observed".to_string(), |n| format!("{n}-observed"));
    out.insert("name".into(), name.into());
    out.insert(
        "description".into(),
        format!(
            "Load observed by wva observe (p{:.0} of the per-step rate) on the accelerators, service classes and profiles of {}",
            o.rate_quantile * 100.0,
            base_path.display()
        )
        .into(),
    );
    for key in ["accelerators", "service_classes", "profiles"] {
        let Some(v) = base.get(key) else { continue };
        let v = match v {
            Value::Sequence(items) => Value::Sequence(items.iter().map(absolute).collect()),
            other => absolute(other),
        };
        out.insert(key.into(), v);
    }
    let base_workloads: Vec<&Mapping> = base
        .get("workloads")
        .and_then(Value::as_sequence)
        .map(|s| s.iter().filter_map(Value::as_mapping).collect())
        .unwrap_or_default();
    let mut workloads = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for load in loads {
        let (Some(prompt), Some(output)) = (load.total.prompt_tokens(), load.total.output_tokens())
        else {
            continue;
        };
        let rate = load.rate_quantile_rps(o.rate_quantile, o.step_s);
        if rate <= 0.0 {
            continue;
        }
        let matched = base_workloads
            .iter()
            .find(|w| w.get("model").and_then(Value::as_str) == Some(load.model.as_str()));
        let mut w = match matched {
            Some(m) => (*m).clone(),
            None => {
                let mut m = Mapping::new();
                m.insert("name".into(), workload_name(&load.model).into());
                m.insert("model".into(), load.model.clone().into());
                m.insert("service_class".into(), o.service_class.into());
                m
            }
        };
        let mut wname = w
            .get("name")
            .and_then(Value::as_str)
            .map_or_else(|| workload_name(&load.model), str::to_string);
        while names.contains(&wname) {
            wname.push_str("-2");
        }
        names.push(wname.clone());
        w.insert("name".into(), wname.into());
        w.remove("rate_rpm");
        w.insert("rate_rps".into(), round(rate, 4).into());
        for (key, value) in [("prompt_tokens", prompt), ("output_tokens", output)] {
            let value = Value::from(round(value, 1));
            match w.get_mut(key) {
                Some(Value::Mapping(m)) => {
                    m.insert("mean".into(), value);
                }
                _ => {
                    w.insert(key.into(), value);
                }
            }
        }
        workloads.push(Value::Mapping(w));
    }
    if workloads.is_empty() {
        return Err("no model completed a request in the range: nothing to plan".into());
    }
    out.insert("workloads".into(), Value::Sequence(workloads));
    let body = serde_yaml::to_string(&Value::Mapping(out)).map_err(|e| e.to_string())?;
    let mut text = String::new();
    for line in o.provenance.lines() {
        let _ = writeln!(text, "# {line}");
    }
    text.push_str(&body);
    Ok(text)
}

fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// The requests of a trace like the observed load, in arrival order, to `each(arrival_s,
/// prompt, output, model)`: in each step, as many requests per model as completed in it (with
/// the fractions carried, so the totals match), at uniform random times within the step, each
/// with the step's mean prompt and output tokens (the range's means where the step has none).
/// Step by step, so a day of traffic is never held whole.
pub fn for_each_look_alike(
    loads: &[ModelLoad],
    step_s: f64,
    seed: u64,
    mut each: impl FnMut(f64, u32, u32, &str),
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let steps = loads.iter().map(|l| l.requests.len()).max().unwrap_or(0);
    let mut carried = vec![(0.0f64, 0.0f64); loads.len()];
    let mut batch: Vec<(f64, u32, u32, usize)> = Vec::new();
    for k in 0..steps {
        batch.clear();
        for (m, load) in loads.iter().enumerate() {
            let Some(&n) = load.requests.get(k) else {
                continue;
            };
            let (sum, emitted) = &mut carried[m];
            *sum += n;
            let count = (sum.round() - *emitted).max(0.0) as u64;
            *emitted += count as f64;
            let (p, o) = load.tokens[k].unwrap_or((
                load.total.prompt_tokens().unwrap_or(1.0),
                load.total.output_tokens().unwrap_or(1.0),
            ));
            let (p, o) = (p.round().max(1.0) as u32, o.round().max(1.0) as u32);
            for _ in 0..count {
                batch.push((step_s * (k as f64 + rng.random::<f64>()), p, o, m));
            }
        }
        batch.sort_by(|a, b| a.0.total_cmp(&b.0));
        for &(t, p, o, m) in &batch {
            each(t, p, o, &loads[m].model);
        }
    }
}

/// [`for_each_look_alike`] as trace records.
pub fn look_alike(loads: &[ModelLoad], step_s: f64, seed: u64) -> Vec<TraceRecord> {
    let mut out = Vec::new();
    for_each_look_alike(loads, step_s, seed, |t, p, o, model| {
        out.push(TraceRecord {
            arrival_s: t,
            prompt_tokens: p,
            output_tokens: o,
            model: Some(model.to_string()),
            ..TraceRecord::default()
        });
    });
    out
}

/// [`for_each_look_alike`] as a canonical trace (`arrival_s,prompt_tokens,output_tokens,model`),
/// written as it is drawn.
pub fn look_alike_csv(loads: &[ModelLoad], step_s: f64, seed: u64) -> String {
    let mut out = String::from("arrival_s,prompt_tokens,output_tokens,model\n");
    let quoted: Vec<String> = loads.iter().map(|l| field(&l.model)).collect();
    let index: BTreeMap<&str, usize> = loads
        .iter()
        .enumerate()
        .map(|(i, l)| (l.model.as_str(), i))
        .collect();
    for_each_look_alike(loads, step_s, seed, |t, p, o, model| {
        let _ = writeln!(out, "{t:.6},{p},{o},{}", quoted[index[model]]);
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::series::VariantKey;

    fn variant(model: &str, requests: &[f64]) -> VariantSteps {
        VariantSteps {
            key: VariantKey {
                model: model.into(),
                variant: "v".into(),
                accelerator: String::new(),
                namespace: String::new(),
            },
            steps: requests
                .iter()
                .enumerate()
                .map(|(k, &n)| Step {
                    end_s: 60.0 * (k + 1) as f64,
                    requests: n,
                    prompt_sum: 100.0 * n,
                    prompt_count: n,
                    output_sum: 10.0 * n,
                    output_count: n,
                    replicas: 1,
                    running: 2.0,
                    ..Step::default()
                })
                .collect(),
            pods: 1,
        }
    }

    #[test]
    fn quantiles_of_the_rate() {
        let loads = model_loads(&[variant("m", &[60.0, 120.0, 180.0, 240.0])]);
        assert_eq!(loads[0].rate_quantile_rps(0.5, 60.0), 2.0);
        assert_eq!(loads[0].rate_quantile_rps(1.0, 60.0), 4.0);
        assert_eq!(loads[0].rate_quantile_rps(0.0, 60.0), 1.0);
    }

    #[test]
    fn a_look_alike_keeps_the_counts_and_means() {
        let loads = model_loads(&[variant("m", &[2.4, 2.4, 2.4, 0.0, 2.8])]);
        let t = look_alike(&loads, 60.0, 7);
        assert_eq!(t.len(), 10);
        assert!(t.windows(2).all(|w| w[0].arrival_s <= w[1].arrival_s));
        assert!(
            t.iter()
                .all(|r| r.prompt_tokens == 100 && r.output_tokens == 10)
        );
        assert!(t.iter().all(|r| !(180.0..240.0).contains(&r.arrival_s)));
        assert_eq!(look_alike(&loads, 60.0, 7), t);
        let csv = look_alike_csv(&loads, 60.0, 7);
        let written = crate::trace::write::write(&t, crate::trace::Format::Canonical).unwrap();
        assert_eq!(csv, written);
    }

    #[test]
    fn observations_skip_idle_steps() {
        let csv = observations_csv(&[variant("a,b", &[0.0, 6.0])], 60.0, "from here");
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "# from here");
        assert_eq!(lines[1], OBSERVATION_COLUMNS.join(","));
        assert_eq!(lines.len(), 3);
        assert!(lines[2].starts_with("\"a,b\",v,,,120.000,1,6,0.100000,100.000,10.000,,,"));
    }

    #[test]
    fn names_for_workloads() {
        assert_eq!(
            workload_name("meta-llama/Llama-3.1-8B-Instruct"),
            "llama-3-1-8b-instruct"
        );
        assert_eq!(workload_name("///"), "variant");
    }
}
