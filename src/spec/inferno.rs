//! Reading upstream's inferno optimizer inputs: the `*-data.json` set (or one
//! `system-data.json`), in both model-data forms (2025: `decodeParms`/`prefillParms`, gen 1;
//! 2026: `perfParms`, gen 2).
//!
//! Upstream decodes with Go's `encoding/json`, which matches keys case-insensitively (the
//! samples write `AvgInTokens` and `milpsolver`); so does this reader. Mapping to `wva`:
//! - an accelerator of `multiplicity` k costing `c` per unit becomes an accelerator of
//!   `type` (its inventory pool) costing `c/k` per GPU, and a profile on it with `accCount` a
//!   uses `a*k` GPUs per replica (so cost and GPU counts match upstream's);
//! - `atTokens` becomes `max_batch_at_output_tokens` (upstream scales the max batch by
//!   `atTokens / avgOutTokens`); a model entry without it keeps its max batch (upstream would
//!   use 1);
//! - a server becomes a workload with upstream's defaults (`minNumReplicas` 0, class `Free` when
//!   empty), its `currentAlloc.load` as the load and its `currentAlloc` accelerator as the
//!   current allocation;
//! - model entries without parameters (to be calibrated upstream) are skipped, with a note.

use super::load::{Located, Origin, read_text};
use super::{
    Accelerator, ArrivalProcess, CurrentAllocation, LatencyTarget, LengthDist, Profile, Scenario,
    ScenarioParts, ServiceClass, SloTarget, SpecError, Statistic, Workload,
};
use crate::error::Error;
use crate::perf::{NamedParams, PerfModelKind, PerfParams};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Upstream's optimizer settings (`optimizer-data.json`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct InfernoOptimizer {
    /// Unlimited mode (cheapest per server).
    pub unlimited: bool,
    /// Heterogeneous (mixed) allocations.
    pub heterogeneous: bool,
    /// Use the MILP solver.
    #[serde(rename = "milpsolver")]
    pub milp_solver: bool,
    /// Give best effort after all priorities.
    #[serde(rename = "delayedbesteffort")]
    pub delayed_best_effort: bool,
    /// Saturation policy name (`None`, `PriorityExhaustive`, ...).
    #[serde(rename = "saturationpolicy")]
    pub saturation_policy: String,
}

/// An imported inferno problem.
#[derive(Clone, Debug)]
pub struct InfernoProblem {
    /// The scenario.
    pub scenario: Scenario,
    /// Upstream's optimizer settings.
    pub optimizer: InfernoOptimizer,
    /// What was skipped or adapted.
    pub notes: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct AcceleratorData {
    accelerators: Vec<InfAccelerator>,
}
#[derive(Debug, Deserialize)]
struct InfAccelerator {
    name: String,
    #[serde(rename = "type", default)]
    gpu_type: Option<String>,
    #[serde(default)]
    multiplicity: Option<u32>,
    #[serde(rename = "memsize", default)]
    mem_size: Option<f64>,
    cost: f64,
}
#[derive(Debug, Deserialize)]
struct CapacityData {
    #[serde(default)]
    count: Vec<InfCount>,
}
#[derive(Debug, Deserialize)]
struct InfCount {
    #[serde(rename = "type")]
    gpu_type: String,
    count: i64,
}
#[derive(Debug, Deserialize)]
struct ModelData {
    models: Vec<InfModel>,
}
#[derive(Debug, Deserialize)]
struct InfModel {
    name: String,
    acc: String,
    #[serde(rename = "acccount", default)]
    acc_count: Option<u32>,
    #[serde(rename = "maxbatchsize", default)]
    max_batch: u32,
    #[serde(rename = "attokens", default)]
    at_tokens: Option<u32>,
    #[serde(rename = "perfparms", alias = "serviceparms", default)]
    perf: Option<InfPerf>,
    #[serde(rename = "decodeparms", default)]
    decode: Option<InfDecode>,
    #[serde(rename = "prefillparms", default)]
    prefill: Option<InfPrefill>,
}
#[derive(Debug, Deserialize)]
struct InfPerf {
    alpha: f64,
    beta: f64,
    gamma: f64,
}
#[derive(Debug, Deserialize)]
struct InfDecode {
    alpha: f64,
    beta: f64,
}
#[derive(Debug, Deserialize)]
struct InfPrefill {
    gamma: f64,
    delta: f64,
}
#[derive(Debug, Deserialize)]
struct ServiceClassData {
    #[serde(rename = "serviceclasses")]
    service_classes: Vec<InfClass>,
}
#[derive(Debug, Deserialize)]
struct InfClass {
    name: String,
    priority: i64,
    #[serde(rename = "modeltargets", default)]
    targets: Vec<InfTarget>,
}
#[derive(Debug, Deserialize)]
struct InfTarget {
    model: String,
    #[serde(rename = "slo-itl", default)]
    itl: f64,
    #[serde(rename = "slo-ttft", default)]
    ttft: f64,
    #[serde(rename = "slo-tps", default)]
    tps: f64,
}
#[derive(Debug, Deserialize)]
struct ServerData {
    servers: Vec<InfServer>,
}
#[derive(Debug, Deserialize)]
struct InfServer {
    name: String,
    #[serde(default)]
    class: String,
    model: String,
    #[serde(rename = "keepaccelerator", default)]
    keep_accelerator: bool,
    #[serde(rename = "minnumreplicas", default)]
    min_replicas: u32,
    #[serde(rename = "maxbatchsize", default)]
    max_batch: u32,
    #[serde(rename = "currentalloc", default)]
    current: Option<InfAlloc>,
}
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InfAlloc {
    accelerator: String,
    #[serde(rename = "numreplicas")]
    replicas: u32,
    cost: f64,
    load: Option<InfLoad>,
}
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct InfLoad {
    #[serde(rename = "arrivalrate")]
    arrival_rpm: f64,
    #[serde(rename = "avgintokens")]
    in_tokens: f64,
    #[serde(rename = "avgouttokens")]
    out_tokens: f64,
}
#[derive(Debug, Deserialize)]
struct OptimizerData {
    #[serde(default)]
    optimizer: InfernoOptimizer,
}

/// Lower-cases every object key, as Go's case-insensitive JSON matching would see them.
fn lower_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), lower_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(lower_keys).collect()),
        other => other,
    }
}

fn parse_json(path: &Path) -> Result<Value, Error> {
    let text = read_text(path)?;
    let value: Value = serde_json::from_str(&text).map_err(|e| SpecError {
        file: path.to_path_buf(),
        field: String::new(),
        line: Some(e.line()),
        column: Some(e.column()),
        message: e
            .to_string()
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_string(),
    })?;
    Ok(lower_keys(value))
}

fn typed<T: DeserializeOwned>(path: &Path, value: Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        Error::from(SpecError::at(
            path,
            if field == "." { String::new() } else { field },
            e.into_inner().to_string(),
        ))
    })
}

/// The documents of a problem, from a folder of `*-data.json` files or a `system-data.json`.
struct Documents {
    /// `(file, value)` per part.
    parts: BTreeMap<&'static str, (PathBuf, Value)>,
}

const PARTS: [(&str, &str); 6] = [
    ("acceleratordata", "accelerator-data.json"),
    ("capacitydata", "capacity-data.json"),
    ("modeldata", "model-data.json"),
    ("serviceclassdata", "serviceclass-data.json"),
    ("serverdata", "server-data.json"),
    ("optimizerdata", "optimizer-data.json"),
];

fn documents(path: &Path) -> Result<Documents, Error> {
    let mut parts = BTreeMap::new();
    if path.is_dir() {
        // `exists` says why a file cannot be looked at (an unreadable folder), unlike `Path::exists`.
        let exists = |p: &Path| {
            std::fs::exists(p).map_err(|cause| Error::Read {
                path: p.to_path_buf(),
                cause,
            })
        };
        for (key, file) in PARTS {
            let p = path.join(file);
            if exists(&p)? {
                parts.insert(key, (p.clone(), parse_json(&p)?));
            }
        }
        let system = path.join("system-data.json");
        if parts.len() < 5 && exists(&system)? {
            return documents(&system);
        }
    } else {
        let value = parse_json(path)?;
        let Some(Value::Object(system)) = value.get("system").cloned() else {
            return Err(SpecError::file(path, "not an inferno system-data.json (no `system` object); give the folder of *-data.json files instead").into());
        };
        for (key, _) in PARTS {
            if let Some(v) = system.get(key) {
                parts.insert(key, (path.to_path_buf(), v.clone()));
            }
        }
    }
    for (key, file) in PARTS.iter().take(5) {
        if !parts.contains_key(key) {
            return Err(SpecError::file(path, format!("missing {file} (an inferno problem needs accelerator, capacity, model, serviceclass and server data)")).into());
        }
    }
    Ok(Documents { parts })
}

impl Documents {
    fn get<T: DeserializeOwned>(&self, key: &str) -> Result<(PathBuf, T), Error> {
        let (file, value) = &self.parts[key];
        Ok((file.clone(), typed(file, value.clone())?))
    }
}

fn origin(file: &Path, path: String) -> Origin {
    Origin {
        file: Arc::new(file.to_path_buf()),
        path,
    }
}

/// Reads an inferno problem from a folder (or a `system-data.json`).
pub fn load_inferno(path: &Path) -> Result<InfernoProblem, Error> {
    let docs = documents(path)?;
    let (acc_file, accs): (_, AcceleratorData) = docs.get("acceleratordata")?;
    let (_, capacity): (_, CapacityData) = docs.get("capacitydata")?;
    let (model_file, models): (_, ModelData) = docs.get("modeldata")?;
    let (class_file, classes): (_, ServiceClassData) = docs.get("serviceclassdata")?;
    let (server_file, servers): (_, ServerData) = docs.get("serverdata")?;
    let optimizer = match docs.parts.contains_key("optimizerdata") {
        true => docs.get::<OptimizerData>("optimizerdata")?.1.optimizer,
        false => InfernoOptimizer::default(),
    };
    let mut notes = Vec::new();

    let inventory: BTreeMap<String, u64> = capacity
        .count
        .iter()
        .map(|c| (c.gpu_type.clone(), c.count.max(0) as u64))
        .collect();
    let multiplicity: BTreeMap<&str, u32> = accs
        .accelerators
        .iter()
        .map(|a| (a.name.as_str(), a.multiplicity.unwrap_or(1).max(1)))
        .collect();
    for (i, a) in accs.accelerators.iter().enumerate() {
        if !(a.cost.is_finite() && a.cost > 0.0) {
            return Err(origin(&acc_file, format!("accelerators[{i}].cost"))
                .error(
                    "",
                    format!(
                        "must be a positive number of cents per hour, got {}",
                        a.cost
                    ),
                )
                .into());
        }
    }
    let accelerators: Vec<Located<Accelerator>> = accs
        .accelerators
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let k = f64::from(a.multiplicity.unwrap_or(1).max(1));
            let gpu_type = a
                .gpu_type
                .clone()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| a.name.clone());
            Located {
                item: Accelerator {
                    name: a.name.clone(),
                    inventory_gpus: inventory.get(&gpu_type).copied(),
                    gpu_type,
                    device: None,
                    cost_cents_per_hour: a.cost / k,
                    memory_gb: a.mem_size.filter(|m| *m > 0.0).map(|m| m / k),
                    interconnect: None,
                },
                origin: origin(&acc_file, format!("accelerators[{i}]")),
            }
        })
        .collect();

    let mut profiles = Vec::new();
    for (i, m) in models.models.iter().enumerate() {
        let perf = match (&m.perf, &m.decode, &m.prefill) {
            (Some(p), _, _) => PerfParams::from_named(
                PerfModelKind::V2,
                NamedParams::new(p.alpha, p.beta, p.gamma),
            ),
            (None, Some(d), Some(p)) => PerfParams::from_named(
                PerfModelKind::V1,
                NamedParams {
                    delta: p.delta,
                    ..NamedParams::new(d.alpha, d.beta, p.gamma)
                },
            ),
            _ => {
                notes.push(format!(
                    "{}: models[{i}] ({} on {}) has no performance parameters; skipped",
                    model_file.display(),
                    m.name,
                    m.acc
                ));
                continue;
            }
        };
        if m.max_batch == 0 {
            notes.push(format!(
                "{}: models[{i}] ({} on {}) has no maxBatchSize; skipped",
                model_file.display(),
                m.name,
                m.acc
            ));
            continue;
        }
        let k = multiplicity.get(m.acc.as_str()).copied().unwrap_or(1);
        profiles.push(Located {
            item: Profile {
                model: m.name.clone(),
                accelerator: m.acc.clone(),
                gpus_per_replica: m.acc_count.unwrap_or(1).max(1) * k,
                max_batch: m.max_batch,
                max_queue: None,
                max_batch_at_output_tokens: m.at_tokens.filter(|&t| t > 0),
                perf,
                kv_capacity_tokens: None,
                kv_auto: None,
                architecture: None,
                cost: crate::perf::CostModel::Linear(perf),
                source: format!("inferno model data {}", model_file.display()),
                provenance: None,
            },
            origin: origin(&model_file, format!("models[{i}]")),
        });
    }

    let mut service_classes = Vec::new();
    for (i, c) in classes.service_classes.iter().enumerate() {
        let at = origin(&class_file, format!("serviceclasses[{i}]"));
        let mut targets = Vec::new();
        let mut ignored_tps = Vec::new();
        for (j, t) in c.targets.iter().enumerate() {
            if t.tps > 0.0 {
                if let Some(k) = servers
                    .servers
                    .iter()
                    .position(|sv| sv.model == t.model && sv.class == c.name)
                {
                    return Err(at
                        .error(
                            &format!("modeltargets[{j}].slo-tps"),
                            format!("throughput (slo-tps) targets are not supported by wva, and server `{}` uses this one", servers.servers[k].name),
                        )
                        .into());
                }
                ignored_tps.push(t.model.clone());
                if t.ttft <= 0.0 && t.itl <= 0.0 {
                    continue;
                }
            }
            let mean = |ms: f64| {
                (ms > 0.0).then_some(LatencyTarget {
                    statistic: Statistic::Mean,
                    ms,
                })
            };
            targets.push(SloTarget {
                model: t.model.clone(),
                ttft: mean(t.ttft),
                itl: mean(t.itl),
            });
        }
        if !ignored_tps.is_empty() {
            notes.push(format!(
                "{}: class {} has throughput (slo-tps) targets for {}; wva does not support them and no server uses them, so they are left out",
                class_file.display(),
                c.name,
                ignored_tps.join(", ")
            ));
        }
        if targets.is_empty() {
            continue;
        }
        service_classes.push(Located {
            item: ServiceClass {
                name: c.name.clone(),
                priority: if (1..=100).contains(&c.priority) {
                    c.priority as u32
                } else {
                    100
                },
                description: None,
                targets,
            },
            origin: at,
        });
    }
    let has_class = |name: &str| service_classes.iter().any(|c| c.item.name == name);
    let mut workloads = Vec::new();
    for (i, s) in servers.servers.iter().enumerate() {
        let class = if s.class.is_empty() {
            "Free".to_string()
        } else {
            s.class.clone()
        };
        let at = origin(&server_file, format!("servers[{i}]"));
        if !has_class(&class) {
            let why = if classes.service_classes.iter().any(|c| c.name == class) {
                "it has no latency targets (only throughput ones, which wva does not support)"
            } else {
                "no such class in serviceclass-data.json"
            };
            return Err(at
                .error("class", format!("service class `{class}`: {why}"))
                .into());
        }
        if !profiles.iter().any(|p| p.item.model == s.model) {
            let why = if models.models.iter().any(|m| m.name == s.model) {
                "its model-data entries have no performance parameters or maxBatchSize, so they were skipped"
            } else {
                "no entry for it in model-data.json"
            };
            return Err(at
                .error("model", format!("model `{}`: {why}", s.model))
                .into());
        }
        if let Some(load) = s.current.as_ref().and_then(|a| a.load.as_ref()) {
            for (field, value, min) in [
                ("arrivalRate", load.arrival_rpm, 0.0),
                ("avgInTokens", load.in_tokens, 0.0),
                ("avgOutTokens", load.out_tokens, 0.0),
            ] {
                if !(value.is_finite() && value >= min) {
                    return Err(at
                        .error(
                            &format!("currentAlloc.load.{field}"),
                            format!("must be a number >= {min}, got {value}"),
                        )
                        .into());
                }
            }
        }
        let alloc = s.current.as_ref();
        let load = alloc.and_then(|a| a.load.as_ref());
        let (rate_rpm, prompt, output) = load.map_or((0.0, 0.0, 1.0), |l| {
            (l.arrival_rpm, l.in_tokens, l.out_tokens)
        });
        let (rate_rps, output) = if output < 1.0 {
            (0.0, 1.0)
        } else {
            (rate_rpm.max(0.0) / 60.0, output)
        };
        let current = alloc
            .filter(|a| !a.accelerator.is_empty())
            .map(|a| CurrentAllocation {
                accelerator: a.accelerator.clone(),
                replicas: a.replicas,
                cost_cents_per_hour: Some(a.cost),
                keep: s.keep_accelerator,
            });
        workloads.push(Located {
            item: Workload {
                name: s.name.clone(),
                model: s.model.clone(),
                service_class: class,
                rate_rps,
                prompt_tokens: prompt.max(0.0),
                output_tokens: output,
                prompt_dist: LengthDist::Fixed {
                    mean: prompt.max(0.0),
                },
                output_dist: LengthDist::Fixed { mean: output },
                arrivals: ArrivalProcess::Poisson,
                min_replicas: s.min_replicas,
                max_batch: (s.max_batch > 0).then_some(s.max_batch),
                current,
            },
            origin: origin(&server_file, format!("servers[{i}]")),
        });
    }
    let name = path
        .file_name()
        .or_else(|| path.parent().and_then(Path::file_name))
        .map_or_else(
            || "inferno".to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
    let scenario = Scenario::from_parts(ScenarioParts {
        name,
        description: Some(format!("imported from inferno data in {}", path.display())),
        accelerators,
        profiles,
        service_classes,
        workloads,
    })?;
    Ok(InfernoProblem {
        scenario,
        optimizer,
        notes,
    })
}
