//! Reading what a WVA user already has in the cluster, as `kubectl get -o yaml` dumps it: the
//! `accelerator-unit-costs` and `service-classes-config` ConfigMaps and VariantAutoscaling
//! objects of the v0.4 schema (`spec.modelProfile`). Files may hold one object, several
//! (`---`), or a `kind: List`; folders are read file by file (`*.yaml`, `*.yml`, `*.json`).
//!
//! Mapping (as upstream's controller does, `domain.md` section 5):
//! - each accelerator-unit-costs key is an accelerator, its `cost` (a quoted number) the cents
//!   per GPU-hour, its `device` the node device;
//! - each `*.yaml` key of service-classes-config is a class; `slo-tpot` is the ITL target and
//!   `slo-ttft` the TTFT target (means, ms);
//! - each VariantAutoscaling is a workload named after it, for `spec.modelID`, in the class its
//!   `sloClassRef.name` names (case-insensitive), else the most important class listing the
//!   model; each `modelProfile.accelerators[]` entry is a `wva-v1` profile (decode alpha/beta,
//!   prefill gamma/delta, quoted numbers); the label `inference.optimization/acceleratorName`
//!   and `status.currentAlloc.numReplicas` are the current allocation;
//! - the load comes from a workload file, else from flags, else from `status.currentAlloc.load`
//!   (what the controller last measured).

use super::load::{Located, Origin, read_text};
use super::numbers::{AtLeastOneF64, Name, NonNegativeF64, NonNegativeInt};
use super::{
    Accelerator, ArrivalProcess, CurrentAllocation, LatencyTarget, LengthDist, Profile, Provenance,
    Scenario, ScenarioParts, ServiceClass, SloTarget, SpecError, Statistic, Workload,
};
use crate::error::Error;
use crate::perf::{NamedParams, PerfModelKind, PerfParams};
use serde::Deserialize;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The label naming a variant's accelerator.
pub const ACCELERATOR_LABEL: &str = "inference.optimization/acceleratorName";

/// The annotation `wva apply --schema v0.5` writes with a variant's service class (the v0.5
/// spec has no `sloClassRef`); without it a variant's class is the most important one listing
/// its model.
pub const SERVICE_CLASS_ANNOTATION: &str = "wva.llmd.ai/service-class";

/// Load for every variant without a workload-file entry (from command-line flags).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DefaultLoad {
    /// Arrival rate, requests/s.
    pub rate_rps: Option<f64>,
    /// Mean prompt tokens.
    pub prompt_tokens: Option<f64>,
    /// Mean output tokens.
    pub output_tokens: Option<f64>,
}

/// A workload file: the load of each variant.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a workload file (a mapping with `workloads:`)"
)]
struct LoadFile {
    workloads: Vec<LoadEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a variant's load (variant, rate_rps or rate_rpm, prompt_tokens, output_tokens)"
)]
struct LoadEntry {
    variant: Name,
    #[serde(default)]
    rate_rps: Option<NonNegativeF64>,
    #[serde(default)]
    rate_rpm: Option<NonNegativeF64>,
    prompt_tokens: NonNegativeF64,
    output_tokens: AtLeastOneF64,
    #[serde(default)]
    min_replicas: Option<NonNegativeInt>,
}

/// One object with where it came from.
struct Object {
    value: Value,
    file: Arc<PathBuf>,
    index: usize,
}

fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|source| Error::Read {
                    path: path.clone(),
                    cause: source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && p.extension()
                            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
                })
                .collect();
            entries.sort();
            out.extend(entries);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn objects(paths: &[PathBuf]) -> Result<Vec<Object>, Error> {
    let mut out = Vec::new();
    for path in files(paths)? {
        let text = read_text(&path)?;
        let file = Arc::new(path.clone());
        for (i, document) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let value = Value::deserialize(document).map_err(|e| SpecError {
                file: path.clone(),
                field: String::new(),
                line: e.location().map(|l| l.line()),
                column: e.location().map(|l| l.column()),
                message: e
                    .to_string()
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            })?;
            if value.is_null() {
                continue;
            }
            if kind(&value) == "List" {
                for item in value
                    .get("items")
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                {
                    out.push(Object {
                        value: item.clone(),
                        file: Arc::clone(&file),
                        index: i,
                    });
                }
            } else {
                out.push(Object {
                    value,
                    file: Arc::clone(&file),
                    index: i,
                });
            }
        }
    }
    Ok(out)
}

fn kind(v: &Value) -> &str {
    v.get("kind").and_then(Value::as_str).unwrap_or("")
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| v.get(*key))
}

fn name_of(v: &Value) -> String {
    text(v, &["metadata", "name"])
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// A number written as a number or a quoted string (the CRD quotes perf parameters).
fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
}

impl Object {
    fn origin(&self, path: impl Into<String>) -> Origin {
        let name = name_of(&self.value);
        let doc = if name.is_empty() {
            format!("document {}", self.index + 1)
        } else {
            format!("{} {name}", kind(&self.value))
        };
        let path = path.into();
        Origin {
            file: Arc::clone(&self.file),
            path: if path.is_empty() {
                doc
            } else {
                format!("{doc}: {path}")
            },
        }
    }
}

/// A ConfigMap's `data` entries: key, value, and where the entry is.
fn data_entries(obj: &Object) -> Vec<(String, Value, Origin)> {
    obj.value
        .get("data")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let key = k.as_str().unwrap_or_default().to_string();
            let at = obj.origin(format!("data.{key}"));
            (key, v.clone(), at)
        })
        .collect()
}

fn accelerators(obj: &Object) -> Result<Vec<Located<Accelerator>>, Error> {
    let mut out = Vec::new();
    for (key, value, at) in data_entries(obj) {
        let entry: serde_json::Value = value
            .as_str()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| at.error("", "must be a JSON object like {\"device\": \"NVIDIA-A100-PCIE-80GB\", \"cost\": \"40.00\"}"))?;
        let cost = match entry.get("cost") {
            Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            _ => None,
        }
        .filter(|c| c.is_finite() && *c > 0.0)
        .ok_or_else(|| {
            at.error(
                "cost",
                "must be a positive number of cents per hour (e.g. \"40.00\")",
            )
        })?;
        out.push(Located {
            item: Accelerator {
                name: key.clone(),
                gpu_type: key,
                device: entry
                    .get("device")
                    .and_then(|d| d.as_str())
                    .map(str::to_string),
                cost_cents_per_hour: cost,
                inventory_gpus: None,
                memory_gb: None,
                interconnect: None,
            },
            origin: at,
        });
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
struct ClassDoc {
    name: String,
    priority: u32,
    #[serde(default)]
    data: Vec<ClassTarget>,
}

#[derive(Debug, Deserialize)]
struct ClassTarget {
    model: String,
    #[serde(rename = "slo-tpot", default)]
    tpot_ms: Option<f64>,
    #[serde(rename = "slo-ttft", default)]
    ttft_ms: Option<f64>,
}

fn classes(obj: &Object) -> Result<Vec<Located<ServiceClass>>, Error> {
    let mut out = Vec::new();
    for (_, value, at) in data_entries(obj) {
        let doc: ClassDoc = value
            .as_str()
            .ok_or_else(|| at.error("", "must be a YAML text (name, priority, data)"))
            .and_then(|s| {
                if crate::limits::too_deep(s).is_some() {
                    let max = crate::limits::MAX_NESTING;
                    return Err(at.error("", format!("nested deeper than {max} levels")));
                }
                serde_yaml::from_str(s).map_err(|e| at.error("", e.to_string()))
            })?;
        let mean = |ms: Option<f64>| {
            ms.filter(|v| *v > 0.0).map(|ms| LatencyTarget {
                statistic: Statistic::Mean,
                ms,
            })
        };
        out.push(Located {
            item: ServiceClass {
                name: doc.name,
                priority: doc.priority.clamp(1, 100),
                description: None,
                targets: doc
                    .data
                    .into_iter()
                    .map(|t| SloTarget {
                        model: t.model,
                        ttft: mean(t.ttft_ms),
                        itl: mean(t.tpot_ms),
                    })
                    .collect(),
            },
            origin: at,
        });
    }
    Ok(out)
}

/// A VariantAutoscaling object as read.
struct Variant {
    /// The object's name; `namespace/name` when another namespace has a variant of that name.
    name: String,
    namespace: String,
    model: String,
    class_ref: Option<String>,
    accelerator: Option<String>,
    replicas: Option<u32>,
    status_load: Option<(f64, f64, f64)>,
    origin: Origin,
}

/// A v0.5 VariantAutoscaling (no `modelProfile`): its profile from `extra` (by model and the
/// accelerator label) when there is one, added to `profiles`; otherwise why it is left out.
fn v05_profile(
    obj: &Object,
    model: &str,
    extra: &[Profile],
    profiles: &mut Vec<Located<Profile>>,
) -> Result<(), String> {
    let name = name_of(&obj.value);
    let Some(acc) =
        text(&obj.value, &["metadata", "labels", ACCELERATOR_LABEL]).and_then(Value::as_str)
    else {
        return Err(format!(
            "VariantAutoscaling {name} is the v0.5 schema (no performance parameters) and has no `{ACCELERATOR_LABEL}` label to find a profile by; left out"
        ));
    };
    let Some(p) = extra
        .iter()
        .find(|p| p.model == model && p.accelerator == acc)
    else {
        return Err(format!(
            "VariantAutoscaling {name} is the v0.5 schema (no performance parameters); left out (give --profiles FILE with a profile of `{model}` on `{acc}` to plan it)"
        ));
    };
    if !profiles
        .iter()
        .any(|q| q.item.model == p.model && q.item.accelerator == p.accelerator)
    {
        profiles.push(Located {
            item: p.clone(),
            origin: obj.origin(""),
        });
    }
    Ok(())
}

/// A VariantAutoscaling: its profiles go into `profiles` (v0.4: from `modelProfile`; v0.5:
/// from `extra`); `Ok(None)` with a note when a v0.5 one has no profile in `extra`.
fn variant(
    obj: &Object,
    profiles: &mut Vec<Located<Profile>>,
    extra: &[Profile],
    notes: &mut Vec<String>,
) -> Result<Option<Variant>, Error> {
    let v = &obj.value;
    let name = name_of(v);
    let at = obj.origin("");
    if name.is_empty() {
        return Err(at.error("metadata.name", "missing").into());
    }
    let model = text(v, &["spec", "modelID"])
        .and_then(Value::as_str)
        .ok_or_else(|| {
            at.error(
                "spec.modelID",
                "missing (a VariantAutoscaling names its model)",
            )
        })?
        .to_string();
    let entries = match text(v, &["spec", "modelProfile", "accelerators"]) {
        Some(e) => e
            .as_sequence()
            .ok_or_else(|| at.error("spec.modelProfile.accelerators", "must be a list"))?,
        None => {
            if let Err(note) = v05_profile(obj, &model, extra, profiles) {
                notes.push(format!("{}: {note}", obj.file.display()));
                return Ok(None);
            }
            &Vec::new()
        }
    };
    for (i, e) in entries.iter().enumerate() {
        let field = |f: &str| format!("spec.modelProfile.accelerators[{i}].{f}");
        let acc = e
            .get("acc")
            .and_then(Value::as_str)
            .ok_or_else(|| at.error(&field("acc"), "missing"))?;
        let param = |group: &str, p: &str| {
            number(text(e, &["perfParms", group, p]))
                .filter(|x| *x >= 0.0)
                .ok_or_else(|| {
                    at.error(
                        &field(&format!("perfParms.{group}.{p}")),
                        "must be a number >= 0 (quoted, as the CRD writes it)",
                    )
                })
        };
        // `wva apply` writes wva-v2/v3 profiles as decode {alpha, beta, gamma} and prefill
        // {perfModel[, maxNumBatchedTokens]}; anything else is upstream's wva-v1.
        let perf_model =
            text(e, &["perfParms", "prefillParms", "perfModel"]).and_then(Value::as_str);
        let perf = match perf_model {
            None => PerfParams::from_named(
                PerfModelKind::V1,
                NamedParams {
                    delta: param("prefillParms", "delta")?,
                    ..NamedParams::new(
                        param("decodeParms", "alpha")?,
                        param("decodeParms", "beta")?,
                        param("prefillParms", "gamma")?,
                    )
                },
            ),
            Some(m @ ("wva-v2" | "wva-v3")) => {
                let named = NamedParams::new(
                    param("decodeParms", "alpha")?,
                    param("decodeParms", "beta")?,
                    param("decodeParms", "gamma")?,
                );
                if m == "wva-v2" {
                    PerfParams::from_named(PerfModelKind::V2, named)
                } else {
                    let budget = param("prefillParms", "maxNumBatchedTokens")?;
                    if !(budget >= 1.0 && budget <= f64::from(u32::MAX) && budget.fract() == 0.0) {
                        return Err(at
                            .error(
                                &field("perfParms.prefillParms.maxNumBatchedTokens"),
                                "must be a whole number >= 1",
                            )
                            .into());
                    }
                    PerfParams::from_named(
                        PerfModelKind::V3,
                        NamedParams {
                            max_num_batched_tokens: budget as u32,
                            ..named
                        },
                    )
                }
            }
            Some(other) => {
                return Err(at
                    .error(
                        &field("perfParms.prefillParms.perfModel"),
                        format!("`{other}` is not a perf model wva knows (wva-v2, wva-v3)"),
                    )
                    .into());
            }
        };
        let count = |f: &str| {
            e.get(f)
                .and_then(Value::as_u64)
                .filter(|n| *n >= 1 && *n <= u64::from(u32::MAX))
                .map(|n| n as u32)
                .ok_or_else(|| at.error(&field(f), "must be a whole number >= 1"))
        };
        let profile = Profile {
            model: model.clone(),
            accelerator: acc.to_string(),
            gpus_per_replica: count("accCount")?,
            max_batch: count("maxBatchSize")?,
            max_queue: None,
            max_batch_at_output_tokens: None,
            perf,
            kv_capacity_tokens: None,
            kv_auto: None,
            architecture: None,
            cost: crate::perf::CostModel::Linear(perf),
            source: format!("VariantAutoscaling {name} ({})", obj.file.display()),
            provenance: Some(Provenance::Measured),
        };
        // Variants of one model agree on its parameters; their max batches may differ (each
        // variant's is what its Deployment runs with), and the largest bounds the profile.
        match profiles
            .iter_mut()
            .find(|p| p.item.model == profile.model && p.item.accelerator == profile.accelerator)
        {
            Some(existing) if existing.item.perf != profile.perf => {
                return Err(at
                    .error(
                        &field("perfParms"),
                        format!(
                            "model `{model}` on `{acc}` has other parameters in {} ({}); variants of one model must agree",
                            existing.origin.file.display(),
                            existing.origin.path
                        ),
                    )
                    .into());
            }
            Some(existing) => {
                existing.item.max_batch = existing.item.max_batch.max(profile.max_batch);
            }
            None => profiles.push(Located {
                item: profile,
                origin: obj.origin(field("")),
            }),
        }
    }
    let status = text(v, &["status", "currentAlloc"]);
    let status_load = status.and_then(|s| {
        Some((
            number(text(s, &["load", "arrivalRate"]))?,
            number(text(s, &["load", "avgInputTokens"]))?,
            number(text(s, &["load", "avgOutputTokens"]))?,
        ))
    });
    Ok(Some(Variant {
        name,
        namespace: text(v, &["metadata", "namespace"])
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string(),
        model,
        class_ref: text(v, &["spec", "sloClassRef", "name"])
            .or_else(|| text(v, &["metadata", "annotations", SERVICE_CLASS_ANNOTATION]))
            .and_then(Value::as_str)
            .map(str::to_string),
        accelerator: text(v, &["metadata", "labels", ACCELERATOR_LABEL])
            .and_then(Value::as_str)
            .map(str::to_string),
        replicas: status
            .and_then(|s| s.get("numReplicas"))
            .and_then(Value::as_u64)
            .map(|n| n as u32),
        status_load,
        origin: at,
    }))
}

/// Variants of the same name in different namespaces (`kubectl get -A`) become
/// `namespace/name`; the same variant twice (two dumps of one object) is an error.
fn qualify_repeated_names(variants: &mut [Variant]) -> Result<(), Error> {
    for (i, v) in variants.iter().enumerate() {
        if let Some(w) = variants[..i]
            .iter()
            .find(|w| w.name == v.name && w.namespace == v.namespace)
        {
            return Err(v
                .origin
                .error(
                    "metadata.name",
                    format!(
                        "VariantAutoscaling {}/{} is also in {} ({}): give each object once",
                        v.namespace,
                        v.name,
                        w.origin.file.display(),
                        w.origin.path
                    ),
                )
                .into());
        }
    }
    let repeated: Vec<String> = variants
        .iter()
        .enumerate()
        .filter(|(i, v)| variants[..*i].iter().any(|w| w.name == v.name))
        .map(|(_, v)| v.name.clone())
        .collect();
    for v in variants.iter_mut() {
        if repeated.contains(&v.name) {
            v.name = format!("{}/{}", v.namespace, v.name);
        }
    }
    Ok(())
}

/// Where the cluster's objects come from.
#[derive(Debug)]
pub enum ClusterInput<'a> {
    /// `kubectl get -o yaml` dumps: files or folders.
    Files(&'a [PathBuf]),
    /// Objects read from a live cluster (as its API server returns them); `source` names it in
    /// messages.
    Live {
        /// The cluster, as messages name it (`cluster https://...`).
        source: String,
        /// The ConfigMaps and VariantAutoscalings.
        objects: Vec<serde_json::Value>,
    },
}

/// Reads ConfigMaps and VariantAutoscalings from `input`, with the load from `load_file` (a
/// YAML `workloads:` list keyed by variant name), else `defaults`, else each object's status.
/// Variants of the v0.5 schema (no performance parameters) take their profile from
/// `extra_profiles` by model and accelerator label, or are left out with a note. Returns the
/// scenario and notes about what was ignored.
pub fn load_cluster(
    input: ClusterInput<'_>,
    load_file: Option<&Path>,
    defaults: &DefaultLoad,
    extra_profiles: &[Profile],
) -> Result<(Scenario, Vec<String>), Error> {
    let same_file =
        |p: &Path| load_file.is_some_and(|l| l.canonicalize().ok() == p.canonicalize().ok());
    let (objects, paths): (Vec<Object>, Vec<PathBuf>) = match input {
        ClusterInput::Files(paths) => (
            objects(paths)?
                .into_iter()
                .filter(|o| !same_file(&o.file))
                .collect(),
            paths.to_vec(),
        ),
        ClusterInput::Live { source, objects } => {
            let file = Arc::new(PathBuf::from(&source));
            let objects = objects
                .into_iter()
                .enumerate()
                .map(|(index, v)| Object {
                    value: serde_yaml::to_value(&v).unwrap_or(Value::Null),
                    file: Arc::clone(&file),
                    index,
                })
                .collect();
            (objects, vec![PathBuf::from(source)])
        }
    };
    let paths = paths.as_slice();
    let mut notes = Vec::new();
    let mut accs = Vec::new();
    let mut class_list = Vec::new();
    let mut profiles = Vec::new();
    let mut variants = Vec::new();
    for obj in &objects {
        match (kind(&obj.value), name_of(&obj.value).as_str()) {
            ("ConfigMap", "accelerator-unit-costs") => accs.extend(accelerators(obj)?),
            ("ConfigMap", "service-classes-config") => class_list.extend(classes(obj)?),
            ("VariantAutoscaling", _) => {
                if let Some(v) = variant(obj, &mut profiles, extra_profiles, &mut notes)? {
                    variants.push(v);
                }
            }
            (k, n) => notes.push(format!(
                "{}: ignored {} {}",
                obj.file.display(),
                if k.is_empty() {
                    "an object without kind"
                } else {
                    k
                },
                n
            )),
        }
    }
    let where_ = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let first = paths.first().cloned().unwrap_or_default();
    if accs.is_empty() {
        return Err(SpecError::file(
            &first,
            format!("no `accelerator-unit-costs` ConfigMap in {where_}"),
        )
        .into());
    }
    if class_list.is_empty() {
        return Err(SpecError::file(
            &first,
            format!("no `service-classes-config` ConfigMap in {where_}"),
        )
        .into());
    }
    qualify_repeated_names(&mut variants)?;
    if variants.is_empty() {
        let left_out = objects
            .iter()
            .filter(|o| kind(&o.value) == "VariantAutoscaling")
            .count();
        return Err(SpecError::file(
            &first,
            if left_out > 0 {
                format!(
                    "none of the {left_out} VariantAutoscaling objects in {where_} carries performance parameters (v0.5 schema): give --profiles FILE with profiles by model and accelerator"
                )
            } else {
                format!("no VariantAutoscaling objects in {where_}")
            },
        )
        .into());
    }
    let mut loads: BTreeMap<String, (LoadEntry, Origin)> = BTreeMap::new();
    if let Some(path) = load_file {
        let doc: LoadFile = super::load_yaml(path)?;
        let file = Arc::new(path.to_path_buf());
        for (i, e) in doc.workloads.into_iter().enumerate() {
            let origin = Origin {
                file: Arc::clone(&file),
                path: format!("workloads[{i}]"),
            };
            if let Some((_, first)) = loads.get(&e.variant.0) {
                return Err(origin
                    .error(
                        "variant",
                        format!("`{}` is already given at {}", e.variant.0, first.path),
                    )
                    .into());
            }
            loads.insert(e.variant.0.clone(), (e, origin));
        }
    }
    for name in loads.keys() {
        if !variants.iter().any(|v| &v.name == name) {
            let (_, origin) = &loads[name];
            let known: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
            return Err(origin
                .error(
                    "variant",
                    format!(
                        "no VariantAutoscaling named `{name}`; known: {}",
                        known.join(", ")
                    ),
                )
                .into());
        }
    }
    let mut workloads = Vec::new();
    for v in &variants {
        let class = class_list
            .iter()
            .find(|c| {
                v.class_ref.as_deref().is_some_and(|r| {
                    r.eq_ignore_ascii_case(&c.item.name)
                        || r.eq_ignore_ascii_case(&format!("{}-slo", c.item.name))
                })
            })
            .or_else(|| {
                class_list
                    .iter()
                    .filter(|c| c.item.targets.iter().any(|t| t.model == v.model))
                    .min_by_key(|c| c.item.priority)
            })
            .ok_or_else(|| {
                v.origin.error(
                    "spec.modelID",
                    format!("no service class lists model `{}`", v.model),
                )
            })?;
        let (rate_rps, prompt_tokens, output_tokens, min_replicas) = match loads.get(&v.name) {
            Some((e, origin)) => {
                let rate = match (e.rate_rps, e.rate_rpm) {
                    (Some(r), None) => r.get(),
                    (None, Some(r)) => r.get() / 60.0,
                    (Some(_), Some(_)) => {
                        return Err(origin
                            .error(
                                "rate_rpm",
                                "give the rate once: rate_rps or rate_rpm, not both",
                            )
                            .into());
                    }
                    (None, None) => {
                        return Err(origin
                            .error("rate_rps", "missing arrival rate (rate_rps or rate_rpm)")
                            .into());
                    }
                };
                let min = e
                    .min_replicas
                    .map_or(1, |m| u32::try_from(m.get()).unwrap_or(u32::MAX));
                (rate, e.prompt_tokens.get(), e.output_tokens.get(), min)
            }
            None => match (
                defaults.rate_rps,
                defaults.prompt_tokens,
                defaults.output_tokens,
                v.status_load,
            ) {
                (Some(r), Some(i), Some(o), _) => (r, i, o, 1),
                (_, _, _, Some((rpm, i, o))) => {
                    for (field, value, min) in [
                        ("arrivalRate", rpm, 0.0),
                        ("avgInputTokens", i, 0.0),
                        ("avgOutputTokens", o, 1.0),
                    ] {
                        if value.is_nan() || value < min {
                            return Err(v
                                .origin
                                .error(
                                    &format!("status.currentAlloc.load.{field}"),
                                    format!("must be a number >= {min}, got {value}"),
                                )
                                .into());
                        }
                    }
                    (
                        defaults.rate_rps.unwrap_or(rpm / 60.0),
                        defaults.prompt_tokens.unwrap_or(i),
                        defaults.output_tokens.unwrap_or(o),
                        1,
                    )
                }
                _ => {
                    return Err(v
                        .origin
                        .error(
                            "",
                            format!(
                                "no load for variant `{}`: give --workloads FILE, or --rate-rps/--rate-rpm, --in-tokens and --out-tokens (the object has no status.currentAlloc.load)",
                                v.name
                            ),
                        )
                        .into());
                }
            },
        };
        let current = match (&v.accelerator, v.replicas) {
            (Some(acc), Some(n)) => Some(CurrentAllocation {
                accelerator: acc.clone(),
                replicas: n,
                cost_cents_per_hour: None,
                keep: false,
            }),
            _ => None,
        };
        workloads.push(Located {
            item: Workload {
                name: v.name.clone(),
                model: v.model.clone(),
                service_class: class.item.name.clone(),
                rate_rps,
                prompt_tokens,
                output_tokens: output_tokens.max(1.0),
                prompt_dist: LengthDist::Fixed {
                    mean: prompt_tokens,
                },
                output_dist: LengthDist::Fixed {
                    mean: output_tokens.max(1.0),
                },
                arrivals: ArrivalProcess::Poisson,
                min_replicas,
                max_batch: None,
                current,
            },
            origin: v.origin.clone(),
        });
    }
    let scenario = Scenario::from_parts(ScenarioParts {
        name: "cluster".into(),
        description: Some(format!("imported from {where_}")),
        accelerators: accs,
        profiles,
        service_classes: class_list,
        workloads,
    })?;
    Ok((scenario, notes))
}
