//! The objects `wva apply` writes for a plan: the VariantAutoscaling of each placement (v0.4 or
//! v0.5 schema), upstream's `accelerator-unit-costs` and `service-classes-config` ConfigMaps,
//! optional HPA or KEDA scalers on the desired-replicas metric, Deployment scale patches, and the
//! CRD. Pure: no I/O, no clock (the run time of `--with-status` is given).

use super::names;
use super::va::{self, Actuation, DesiredOptimizedAlloc};
use crate::error::{Field, RequestError, request_error};
use crate::perf::PerfParams;
use crate::spec::{Scenario, Statistic};
use kube::CustomResourceExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The label naming a variant's accelerator (upstream's).
pub const ACCELERATOR_LABEL: &str = crate::spec::cluster::ACCELERATOR_LABEL;
/// The annotation carrying the max batch `wva` chose (vLLM `--max-num-seqs`).
pub const MAX_NUM_SEQS_ANNOTATION: &str = "wva.llmd.ai/max-num-seqs";
/// The annotation naming the scenario workload a variant serves.
pub const WORKLOAD_ANNOTATION: &str = "wva.llmd.ai/workload";
/// The annotation naming a v0.5 variant's service class (v0.4 has `spec.sloClassRef`).
pub const SERVICE_CLASS_ANNOTATION: &str = crate::spec::cluster::SERVICE_CLASS_ANNOTATION;
/// The annotation carrying the planned replicas.
pub const REPLICAS_ANNOTATION: &str = "wva.llmd.ai/replicas";

/// Which published VariantAutoscaling schema to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    /// `wva-incubation-2025-10`: modelID, sloClassRef, modelProfile with perf parameters.
    V04,
    /// `wva-llm-d-2026-02`: scaleTargetRef, modelID, variantCost.
    V05,
}

/// What scales the Deployments on the controller's desired-replicas metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Autoscaler {
    /// An `autoscaling/v2` HorizontalPodAutoscaler on the External metric.
    Hpa,
    /// A KEDA `ScaledObject` with a Prometheus trigger on the metric.
    Keda,
}

/// One replica count to apply: a workload on an accelerator.
#[derive(Clone, Debug, PartialEq)]
pub struct Placement {
    /// Scenario workload.
    pub workload: String,
    /// Accelerator.
    pub accelerator: String,
    /// Replicas.
    pub replicas: u32,
    /// Max batch configured (vLLM `--max-num-seqs`).
    pub max_batch: u32,
}

/// How to write the objects.
#[derive(Clone, Debug)]
pub struct Options {
    /// VariantAutoscaling schema.
    pub schema: Schema,
    /// Namespace of the variants, scalers and Deployments.
    pub namespace: String,
    /// Namespace of the two ConfigMaps (the controller's).
    pub config_namespace: String,
    /// Names given to workloads' variants (workload → name).
    pub names: BTreeMap<String, String>,
    /// A scaler per variant.
    pub autoscaler: Option<Autoscaler>,
    /// The controller's metric (`inferno_desired_replicas`, later `wva_desired_replicas`).
    pub metric: String,
    /// Prometheus URL for KEDA triggers.
    pub prometheus_url: String,
    /// Scalers' max replicas (default: twice the plan's, at least 1 more).
    pub max_replicas: Option<u32>,
    /// Deployment scale patches.
    pub actuate_replicas: bool,
    /// The CRD too.
    pub include_crd: bool,
    /// Write `status.desiredOptimizedAlloc`, stamped with this RFC 3339 time (`None`: no status).
    pub status_time: Option<String>,
}

/// A Kubernetes object, ready to print or apply.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// `group/version` (or `v1`).
    pub api_version: String,
    /// Kind.
    pub kind: String,
    /// Plural resource name (`variantautoscalings`; `deployments` for a scale).
    pub plural: String,
    /// Name.
    pub name: String,
    /// Namespace (`None`: cluster-scoped).
    pub namespace: Option<String>,
    /// The whole object (for a scale: the `Scale`).
    pub body: Value,
    /// A status to apply to the status subresource, if any.
    pub status: Option<Value>,
}

impl Object {
    fn new(
        api_version: &str,
        kind: &str,
        plural: &str,
        namespace: Option<&str>,
        body: Value,
    ) -> Self {
        let name = body["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Object {
            api_version: api_version.into(),
            kind: kind.into(),
            plural: plural.into(),
            name,
            namespace: namespace.map(str::to_string),
            body,
            status: None,
        }
    }

    /// `kind/name` (and namespace), as kubectl prints it.
    pub fn label(&self) -> String {
        let kind = self.kind.to_ascii_lowercase();
        match &self.namespace {
            Some(ns) => format!("{kind}/{} (namespace {ns})", self.name),
            None => format!("{kind}/{}", self.name),
        }
    }

    /// A file name for `--out-dir`: `NN-kind-name.yaml`, numbered in apply order.
    pub fn file_name(&self, index: usize) -> String {
        format!(
            "{index:02}-{}-{}.yaml",
            self.kind.to_ascii_lowercase(),
            self.name
        )
    }

    /// True for a Deployment scale patch.
    pub fn is_scale(&self) -> bool {
        self.kind == "Scale"
    }
}

/// Objects, and what the caller should know about them.
#[derive(Clone, Debug, Default)]
pub struct Objects {
    /// In apply order: CRD, ConfigMaps, variants, scalers, scale patches.
    pub objects: Vec<Object>,
    /// Caveats (e.g. perf models the v0.4 controller does not read).
    pub warnings: Vec<String>,
}

/// The label `wva` puts on what it writes (its own key: `app.kubernetes.io/managed-by` belongs
/// to Helm on upstream's chart-installed ConfigMaps).
pub const MANAGED_LABEL: &str = "wva.llmd.ai/managed";
/// Longest ScaledObject name KEDA's admission webhook accepts (it copies the name into a label
/// with a prefix).
const KEDA_NAME_MAX: usize = 54;

/// One model's targets in a `service-classes-config` entry.
#[derive(serde::Serialize)]
struct ClassEntry {
    model: String,
    #[serde(rename = "slo-tpot")]
    slo_tpot: Value,
    #[serde(rename = "slo-ttft")]
    slo_ttft: Value,
}

/// A `service-classes-config` entry.
#[derive(serde::Serialize)]
struct ClassDoc {
    name: String,
    priority: u32,
    data: Vec<ClassEntry>,
}

/// A cost as upstream writes it (`40.00`), with every digit it needs.
fn cost_text(cents: f64) -> String {
    if (cents * 100.0).fract() == 0.0 {
        format!("{cents:.2}")
    } else {
        quoted(cents)
    }
}

/// A number as the CRDs quote it: the shortest decimal that reads back the same.
fn quoted(x: f64) -> String {
    let s = format!("{x}");
    if s.contains('e') {
        format!("{x:.12}")
    } else {
        s
    }
}

/// The v0.4 perf parameters of a profile.
fn perf_parms(perf: &PerfParams) -> va::v04::PerfParms {
    let map = |pairs: &[(&str, String)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    match perf {
        PerfParams::V1(p) => va::v04::PerfParms {
            decode_parms: map(&[
                ("alpha", quoted(p.alpha_ms)),
                ("beta", quoted(p.beta_ms_per_request)),
            ]),
            prefill_parms: map(&[
                ("gamma", quoted(p.gamma_ms)),
                ("delta", quoted(p.delta_ms_per_token_request)),
            ]),
        },
        PerfParams::V2(p) => va::v04::PerfParms {
            decode_parms: map(&[
                ("alpha", quoted(p.alpha_ms)),
                ("beta", quoted(p.beta_ms_per_token)),
                ("gamma", quoted(p.gamma_ms_per_kv_token)),
            ]),
            prefill_parms: map(&[("perfModel", "wva-v2".into())]),
        },
        PerfParams::V3(p) => va::v04::PerfParms {
            decode_parms: map(&[
                ("alpha", quoted(p.iteration.alpha_ms)),
                ("beta", quoted(p.iteration.beta_ms_per_token)),
                ("gamma", quoted(p.iteration.gamma_ms_per_kv_token)),
            ]),
            prefill_parms: map(&[
                ("perfModel", "wva-v3".into()),
                ("maxNumBatchedTokens", p.max_num_batched_tokens.to_string()),
            ]),
        },
    }
}

/// A ConfigMap of wva's in `namespace`.
fn config_map(name: &str, namespace: &str, data: serde_json::Map<String, Value>) -> Object {
    Object::new(
        "v1",
        "ConfigMap",
        "configmaps",
        Some(namespace),
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(name, namespace, json!({ MANAGED_LABEL: "true" }), json!({})),
            "data": data,
        }),
    )
}

fn metadata(name: &str, namespace: &str, labels: Value, annotations: Value) -> Value {
    let mut m = json!({ "name": name, "namespace": namespace, "labels": labels });
    if annotations.as_object().is_some_and(|a| !a.is_empty()) {
        m["annotations"] = annotations;
    }
    m
}

/// The objects for `placements` of `scenario`'s workloads.
pub fn build(
    scenario: &Scenario,
    placements: &[Placement],
    o: &Options,
) -> Result<Objects, RequestError> {
    let mut out = Objects::default();
    // Names: given, else from model and class; a workload split over accelerators gets one
    // variant per accelerator.
    let mut per_workload: BTreeMap<&str, usize> = BTreeMap::new();
    for p in placements {
        *per_workload.entry(p.workload.as_str()).or_default() += 1;
    }
    if placements.is_empty() {
        return Err(request_error!(
            "the plan allocates nothing: no variant to write"
        ));
    }
    for a in &scenario.accelerators {
        names::check_label_value(&a.name).map_err(|e| {
            request_error!(format!(
                "accelerator `{}`: {e} (it becomes a label value and a ConfigMap key)",
                a.name
            ))
        })?;
    }
    names::check_metric(&o.metric)
        .map_err(|e| request_error!(Field("metric"), format!(": {e}")))?;
    for (w, n) in &o.names {
        names::check(n).map_err(|e| request_error!(Field("names"), format!(" {w}={n}: {e}")))?;
        if !scenario.workloads.iter().any(|x| &x.name == w) {
            return Err(request_error!(
                Field("names"),
                format!(" {w}={n}: the scenario has no workload `{w}`")
            ));
        }
    }
    let mut variants: Vec<(String, &Placement)> = Vec::new();
    for p in placements {
        let w = scenario
            .workloads
            .iter()
            .find(|w| w.name == p.workload)
            .ok_or_else(|| {
                request_error!(format!(
                    "the plan names workload `{}`, which the scenario does not have",
                    p.workload
                ))
            })?;
        let profile = scenario
            .profiles_for(&w.model)
            .find(|pr| pr.accelerator == p.accelerator)
            .ok_or_else(|| {
                request_error!(format!(
                    "the plan puts workload `{}` on `{}`, but the scenario has no profile of `{}` there",
                    p.workload, p.accelerator, w.model
                ))
            })?;
        if p.max_batch == 0 || p.max_batch > profile.replica_max_batch() {
            return Err(request_error!(format!(
                "the plan gives workload `{}` max batch {} on `{}`; its profile allows 1 to {}",
                p.workload,
                p.max_batch,
                p.accelerator,
                profile.replica_max_batch()
            )));
        }
        if i32::try_from(p.replicas).is_err() {
            return Err(request_error!(format!(
                "the plan gives workload `{}` {} replicas; Kubernetes counts replicas in 32 bits",
                p.workload, p.replicas
            )));
        }
        if variants
            .iter()
            .any(|(_, q)| q.workload == p.workload && q.accelerator == p.accelerator)
        {
            return Err(request_error!(format!(
                "the plan has two rows for workload `{}` on `{}`",
                p.workload, p.accelerator
            )));
        }
        let base = o
            .names
            .get(&w.name)
            .cloned()
            .unwrap_or_else(|| names::variant(&w.model, &w.service_class));
        let name = if per_workload[p.workload.as_str()] > 1 {
            names::sanitize(&format!("{base}-{}", p.accelerator))
        } else {
            base
        };
        if let Some((_, other)) = variants.iter().find(|(n, _)| *n == name) {
            return Err(request_error!(
                format!(
                    "workloads `{}` and `{}` would both be named `{name}`; name one with ",
                    other.workload, p.workload
                ),
                Field("names"),
                format!(" {}=NAME", p.workload)
            ));
        }
        variants.push((name, p));
    }

    if o.include_crd {
        let crd = match o.schema {
            Schema::V04 => va::v04::VariantAutoscaling::crd(),
            Schema::V05 => va::v05::VariantAutoscaling::crd(),
        };
        let mut body = serde_json::to_value(crd).map_err(|e| request_error!(e.to_string()))?;
        body["spec"]["names"]["listKind"] = json!("VariantAutoscalingList");
        if let Some(versions) = body["spec"]["versions"].as_array_mut() {
            for v in versions {
                upstream_markers(&mut v["schema"]["openAPIV3Schema"]);
            }
        }
        out.objects.push(Object::new(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            None,
            body,
        ));
    }

    // accelerator-unit-costs: one key per accelerator, cents per GPU-hour.
    let costs: serde_json::Map<String, Value> = scenario
        .accelerators
        .iter()
        .map(|a| {
            let device = a.device.clone().unwrap_or_else(|| a.name.clone());
            let text = format!(
                "{{\"device\": {}, \"cost\": \"{}\"}}",
                Value::String(device),
                cost_text(a.cost_cents_per_hour)
            );
            (a.name.clone(), Value::String(text))
        })
        .collect();
    out.objects.push(config_map(
        "accelerator-unit-costs",
        &o.config_namespace,
        costs,
    ));
    // service-classes-config: one `<class>.yaml` key per class, mean targets per model served.
    let mut classes = serde_json::Map::new();
    for c in &scenario.service_classes {
        let mut models: Vec<&str> = scenario
            .workloads
            .iter()
            .filter(|w| w.service_class == c.name)
            .map(|w| w.model.as_str())
            .collect();
        for t in &c.targets {
            if t.model != crate::spec::ANY_MODEL {
                models.push(&t.model);
            }
        }
        models.sort_unstable();
        models.dedup();
        let mut data = Vec::new();
        for m in models {
            let Some(t) = c.targets_for(m) else { continue };
            let mean = |x: &Option<crate::spec::LatencyTarget>| {
                x.as_ref()
                    .filter(|l| l.statistic == Statistic::Mean)
                    .map(|l| l.ms)
            };
            if let (Some(itl), Some(ttft)) = (mean(&t.itl), mean(&t.ttft)) {
                // Whole numbers as integers, as upstream writes them.
                let number = |x: f64| {
                    if x.fract() == 0.0 && x.abs() < 1e15 {
                        json!(x as i64)
                    } else {
                        json!(x)
                    }
                };
                data.push(ClassEntry {
                    model: m.to_string(),
                    slo_tpot: number(itl),
                    slo_ttft: number(ttft),
                });
            } else {
                out.warnings.push(format!(
                    "service class `{}`: model `{m}` needs mean TTFT and ITL targets for service-classes-config; left out",
                    c.name
                ));
            }
        }
        let text = serde_yaml::to_string(&ClassDoc {
            name: c.name.clone(),
            priority: c.priority,
            data,
        })
        .map_err(|e| request_error!(e.to_string()))?;
        let key = format!("{}.yaml", names::sanitize(&c.name));
        if classes.contains_key(&key) {
            return Err(request_error!(format!(
                "service classes `{}` and another one would share the key `{key}` in service-classes-config; rename one",
                c.name
            )));
        }
        classes.insert(key, Value::String(text));
    }
    out.objects.push(config_map(
        "service-classes-config",
        &o.config_namespace,
        classes,
    ));

    // The variants.
    let mut warned_perf = false;
    for (name, p) in &variants {
        let w = scenario
            .workloads
            .iter()
            .find(|w| w.name == p.workload)
            .expect("checked above");
        let labels = json!({
            ACCELERATOR_LABEL: p.accelerator,
            MANAGED_LABEL: "true",
        });
        let ranks = scenario
            .profiles_for(&w.model)
            .find(|pr| pr.accelerator == p.accelerator)
            .map_or(1, |pr| pr.cost.ranks().max(1));
        let mut annotations = json!({
            WORKLOAD_ANNOTATION: w.name,
            // vLLM's --max-num-seqs is per engine rank.
            MAX_NUM_SEQS_ANNOTATION: p.max_batch.div_ceil(ranks).to_string(),
            REPLICAS_ANNOTATION: p.replicas.to_string(),
        });
        if o.schema == Schema::V05 {
            // The v0.5 spec has no class reference; `plan --from-cluster` reads this one.
            annotations[SERVICE_CLASS_ANNOTATION] = json!(w.service_class);
        }
        let meta = metadata(name, &o.namespace, labels, annotations);
        let chosen = scenario
            .profiles_for(&w.model)
            .find(|pr| pr.accelerator == p.accelerator)
            .ok_or_else(|| {
                request_error!(format!(
                    "the scenario has no profile of `{}` on `{}`",
                    w.model, p.accelerator
                ))
            })?;
        let status = o.status_time.as_ref().map(|t| DesiredOptimizedAlloc {
            accelerator: p.accelerator.clone(),
            last_run_time: Some(t.clone()),
            num_replicas: i32::try_from(p.replicas).unwrap_or(i32::MAX),
        });
        let (body, status_value) = match o.schema {
            Schema::V04 => {
                let accelerators = scenario
                    .profiles_for(&w.model)
                    .map(|pr| {
                        if !warned_perf && !matches!(pr.perf, PerfParams::V1(_)) {
                            warned_perf = true;
                            out.warnings.push(format!(
                                "profile `{}` on `{}` is {}: upstream's v0.4 controller reads perfParms as wva-v1 (decode alpha/beta, prefill gamma/delta); wva writes decodeParms {{alpha, beta, gamma}} and prefillParms {{perfModel}}, which `wva plan --from-cluster` reads back. Use --schema v0.5 for a controller that takes no perf parameters",
                                pr.model,
                                pr.accelerator,
                                pr.perf.kind().name()
                            ));
                        }
                        va::v04::AcceleratorProfile {
                            acc: pr.accelerator.clone(),
                            acc_count: i32::try_from(pr.gpus_per_replica).unwrap_or(i32::MAX),
                            max_batch_size: i32::try_from(if pr.accelerator == p.accelerator {
                                p.max_batch
                            } else {
                                pr.max_batch
                            })
                            .unwrap_or(i32::MAX),
                            perf_parms: perf_parms(&{
                                // A tables profile: its line for this workload's requests.
                                let shape = crate::perf::RequestShape {
                                    prompt_tokens: w.prompt_tokens,
                                    output_tokens: w.output_tokens,
                                };
                                let budget = pr.max_num_batched_tokens().max(pr.max_batch);
                                pr.analytic_for(&shape, pr.replica_max_batch(), budget).0
                            }),
                        }
                    })
                    .collect();
                let spec = va::v04::VariantAutoscalingSpec {
                    model_id: w.model.clone(),
                    slo_class_ref: va::v04::SloClassRef {
                        name: w.service_class.clone(),
                        key: w.model.clone(),
                    },
                    model_profile: va::v04::ModelProfile { accelerators },
                };
                let status = status.map(|d| va::v04::VariantAutoscalingStatus {
                    actuation: Some(Actuation { applied: false }),
                    desired_optimized_alloc: Some(d),
                    ..Default::default()
                });
                (
                    serde_json::to_value(&spec).map_err(|e| request_error!(e.to_string()))?,
                    status.map(|s| serde_json::to_value(s).expect("plain data")),
                )
            }
            Schema::V05 => {
                let cost = scenario.accelerator(&p.accelerator).map_or(0.0, |a| {
                    a.cost_cents_per_hour * f64::from(chosen.gpus_per_replica)
                });
                let spec = va::v05::VariantAutoscalingSpec {
                    model_id: w.model.clone(),
                    scale_target_ref: va::v05::ScaleTargetRef {
                        api_version: Some("apps/v1".into()),
                        kind: "Deployment".into(),
                        name: name.clone(),
                    },
                    variant_cost: Some(cost_text(cost)),
                };
                let status = status.map(|d| va::v05::VariantAutoscalingStatus {
                    actuation: Some(Actuation { applied: false }),
                    desired_optimized_alloc: Some(d),
                    ..Default::default()
                });
                (
                    serde_json::to_value(&spec).map_err(|e| request_error!(e.to_string()))?,
                    status.map(|s| serde_json::to_value(s).expect("plain data")),
                )
            }
        };
        let mut full = json!({
            "apiVersion": "llmd.ai/v1alpha1",
            "kind": "VariantAutoscaling",
            "metadata": meta,
            "spec": body,
        });
        if let Some(s) = &status_value {
            full["status"] = s.clone();
        }
        let mut obj = Object::new(
            "llmd.ai/v1alpha1",
            "VariantAutoscaling",
            "variantautoscalings",
            Some(&o.namespace),
            full,
        );
        obj.status = status_value;
        out.objects.push(obj);
    }

    // Scalers on the controller's metric.
    if let Some(kind) = o.autoscaler {
        for (name, p) in &variants {
            let w = scenario
                .workloads
                .iter()
                .find(|w| w.name == p.workload)
                .expect("checked above");
            let min = w.min_replicas.max(1);
            let max = o
                .max_replicas
                .unwrap_or_else(|| (2 * p.replicas).max(p.replicas + 1))
                .max(min);
            let labels = json!({ MANAGED_LABEL: "true" });
            let obj = match kind {
                Autoscaler::Hpa => Object::new(
                    "autoscaling/v2",
                    "HorizontalPodAutoscaler",
                    "horizontalpodautoscalers",
                    Some(&o.namespace),
                    json!({
                        "apiVersion": "autoscaling/v2",
                        "kind": "HorizontalPodAutoscaler",
                        "metadata": metadata(&format!("{name}-hpa"), &o.namespace, labels, json!({})),
                        "spec": {
                            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": name },
                            "minReplicas": min,
                            "maxReplicas": max,
                            "behavior": {
                                "scaleUp": { "stabilizationWindowSeconds": 0, "policies": [{ "type": "Pods", "value": 10, "periodSeconds": 15 }] },
                                "scaleDown": { "stabilizationWindowSeconds": 0, "policies": [{ "type": "Pods", "value": 10, "periodSeconds": 15 }] }
                            },
                            "metrics": [{
                                "type": "External",
                                "external": {
                                    "metric": { "name": o.metric, "selector": { "matchLabels": { "variant_name": name } } },
                                    "target": { "type": "AverageValue", "averageValue": "1" }
                                }
                            }]
                        }
                    }),
                ),
                Autoscaler::Keda => Object::new(
                    "keda.sh/v1alpha1",
                    "ScaledObject",
                    "scaledobjects",
                    Some(&o.namespace),
                    json!({
                        "apiVersion": "keda.sh/v1alpha1",
                        "kind": "ScaledObject",
                        "metadata": metadata(&names::with_suffix(name, "-scaler", KEDA_NAME_MAX), &o.namespace, labels, json!({})),
                        "spec": {
                            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": name },
                            "minReplicaCount": min,
                            "maxReplicaCount": max,
                            "triggers": [{
                                "type": "prometheus",
                                "metricType": "AverageValue",
                                "metadata": {
                                    "serverAddress": o.prometheus_url,
                                    "query": format!("max({}{{variant_name=\"{name}\",namespace=\"{}\"}})", o.metric, o.namespace),
                                    "threshold": "1"
                                }
                            }]
                        }
                    }),
                ),
            };
            out.objects.push(obj);
        }
    }

    // The replica counts, as Deployment scale patches.
    if o.actuate_replicas {
        for (name, p) in &variants {
            out.objects.push(Object::new(
                "autoscaling/v1",
                "Scale",
                "deployments",
                Some(&o.namespace),
                json!({
                    "apiVersion": "autoscaling/v1",
                    "kind": "Scale",
                    "metadata": { "name": name, "namespace": o.namespace },
                    "spec": { "replicas": p.replicas }
                }),
            ));
        }
    }
    Ok(out)
}

/// Every object but the scale patches (which `kubectl apply` cannot map) as one multi-document
/// YAML stream (kubectl's `---` separators).
pub fn to_yaml_stream(objects: &[Object]) -> String {
    objects
        .iter()
        .filter(|o| !o.is_scale())
        .map(|o| serde_yaml::to_string(&o.body).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Every object but the scale patches as one `v1` `List`, pretty JSON (as `kubectl get -o
/// json` prints several objects).
pub fn to_json_list(objects: &[Object]) -> String {
    let items: Vec<&serde_json::Value> = objects
        .iter()
        .filter(|o| !o.is_scale())
        .map(|o| &o.body)
        .collect();
    let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items });
    // A JSON value always serialises; rendered here rather than through `report`, which
    // sits above `k8s`.
    let mut text = serde_json::to_string_pretty(&list).unwrap_or_default();
    text.push('\n');
    text
}

/// The `kubectl scale` commands of the scale patches (for output that is not pushed).
pub fn scale_commands(objects: &[Object]) -> Vec<String> {
    objects
        .iter()
        .filter(|o| o.is_scale())
        .map(|o| {
            format!(
                "kubectl scale deployment/{} --replicas={} -n {}",
                o.name,
                o.body["spec"]["replicas"],
                o.namespace.as_deref().unwrap_or("default")
            )
        })
        .collect()
}

/// Makes a generated CRD schema as strict as upstream's: no `nullable` (upstream rejects nulls),
/// and the markers controller-gen writes for conditions and the scale target.
fn upstream_markers(schema: &mut Value) {
    fn strip_nullable(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("nullable");
                m.values_mut().for_each(strip_nullable);
            }
            Value::Array(a) => a.iter_mut().for_each(strip_nullable),
            _ => {}
        }
    }
    strip_nullable(schema);
    let status = &mut schema["properties"]["status"]["properties"];
    if let Some(conditions) = status.get_mut("conditions") {
        conditions["x-kubernetes-list-type"] = json!("map");
        conditions["x-kubernetes-list-map-keys"] = json!(["type"]);
        let item = &mut conditions["items"]["properties"];
        item["status"]["enum"] = json!(["True", "False", "Unknown"]);
        item["reason"]["pattern"] = json!("^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$");
        item["type"]["pattern"] = json!(
            "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
        );
    }
    let spec = &mut schema["properties"]["spec"]["properties"];
    if let Some(target) = spec.get_mut("scaleTargetRef") {
        target["x-kubernetes-map-type"] = json!("atomic");
    }
    if let Some(cost) = spec.get_mut("variantCost") {
        cost["default"] = json!("10.0");
    }
}
