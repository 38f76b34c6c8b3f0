//! From documents to a validated [`Scenario`]: structural choices (rps or rpm, which perf
//! parameters), value ranges, unique names, and references between entries.

use super::deploy;
use super::load::{Located, Origin, expand, parse_yaml, read_text};
use super::raw::{
    AcceleratorDoc, AcceleratorsFile, PerfDoc, ProfileDoc, ProfilesFile, ScenarioDoc,
    ServiceClassDoc, ServiceClassesFile, WorkloadDoc,
};
use super::{
    ANY_MODEL, Accelerator, CurrentAllocation, LatencyTarget, Profile, Scenario, ServiceClass,
    SloTarget, SpecError, Workload,
};
use crate::error::Error;
use crate::perf::NamedParams;
use crate::perf::{CostModel, DEFAULT_MAX_NUM_BATCHED_TOKENS, PerfModelKind, PerfParams};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

/// The entries of a scenario with their origins, before cross-checks.
#[derive(Debug, Default)]
pub struct ScenarioParts {
    /// Scenario name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Accelerators.
    pub accelerators: Vec<Located<Accelerator>>,
    /// Profiles.
    pub profiles: Vec<Located<Profile>>,
    /// Service classes.
    pub service_classes: Vec<Located<ServiceClass>>,
    /// Workloads.
    pub workloads: Vec<Located<Workload>>,
}

impl ScenarioParts {
    /// Wraps entries made in code, each with a `<memory>` origin.
    pub fn in_memory(
        name: &str,
        accelerators: Vec<Accelerator>,
        profiles: Vec<Profile>,
        service_classes: Vec<ServiceClass>,
        workloads: Vec<Workload>,
    ) -> Self {
        fn wrap<T>(key: &str, items: Vec<T>) -> Vec<Located<T>> {
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| Located {
                    item,
                    origin: Origin::memory(format!("{key}[{i}]")),
                })
                .collect()
        }
        ScenarioParts {
            name: name.to_string(),
            description: None,
            accelerators: wrap("accelerators", accelerators),
            profiles: wrap("profiles", profiles),
            service_classes: wrap("service_classes", service_classes),
            workloads: wrap("workloads", workloads),
        }
    }
}

pub(super) fn load(path: &Path) -> Result<Scenario, Error> {
    let text = read_text(path)?;
    let doc: ScenarioDoc = parse_yaml(path, &text)?;
    let file = Arc::new(path.to_path_buf());
    let name = doc.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .filter(|_| path != Path::new("-"))
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into())
    });
    let accelerators = expand(
        doc.accelerators,
        "accelerators",
        &file,
        |f: AcceleratorsFile| f.accelerators,
    )?;
    let profiles = expand(doc.profiles, "profiles", &file, |f: ProfilesFile| {
        f.profiles
    })?;
    let classes = expand(
        doc.service_classes,
        "service_classes",
        &file,
        |f: ServiceClassesFile| f.service_classes,
    )?;
    let workloads: Vec<Located<WorkloadDoc>> = doc
        .workloads
        .into_iter()
        .enumerate()
        .map(|(i, item)| Located {
            item,
            origin: Origin {
                file: Arc::clone(&file),
                path: format!("workloads[{i}]"),
            },
        })
        .collect();
    let accelerators = convert(accelerators, accelerator)?;
    let profiles = convert(profiles, |d, o| profile(d, o, Some(&accelerators)))?;
    let parts = ScenarioParts {
        name,
        description: doc.description,
        accelerators,
        profiles,
        service_classes: convert(classes, service_class)?,
        workloads: convert(workloads, workload)?,
    };
    if parts.workloads.is_empty() {
        return Err(SpecError::at(path, "workloads", "must list at least one workload").into());
    }
    for (key, empty) in [
        ("accelerators", parts.accelerators.is_empty()),
        ("profiles", parts.profiles.is_empty()),
        ("service_classes", parts.service_classes.is_empty()),
    ] {
        if empty {
            return Err(SpecError::at(
                path,
                key,
                format!(
                    "no {} given (inline or as a file path)",
                    key.replace('_', " ")
                ),
            )
            .into());
        }
    }
    Ok(build(parts)?)
}

fn convert<D, T>(
    items: Vec<Located<D>>,
    f: impl Fn(D, &Origin) -> Result<T, SpecError>,
) -> Result<Vec<Located<T>>, SpecError> {
    items
        .into_iter()
        .map(|Located { item, origin }| f(item, &origin).map(|item| Located { item, origin }))
        .collect()
}

fn accelerator(doc: AcceleratorDoc, origin: &Origin) -> Result<Accelerator, SpecError> {
    let cost_cents_per_hour = match (doc.cost_cents_per_hour, doc.cost_usd_per_hour) {
        (Some(c), None) => c.get(),
        (None, Some(d)) => d.get() * 100.0,
        (Some(_), Some(_)) => {
            return Err(origin.error(
                "cost_usd_per_hour",
                "give the cost once: cost_cents_per_hour or cost_usd_per_hour, not both",
            ));
        }
        (None, None) => {
            return Err(origin.error(
                "cost_cents_per_hour",
                "missing cost per GPU-hour (cost_cents_per_hour, upstream's unit, or cost_usd_per_hour)",
            ));
        }
    };
    Ok(Accelerator {
        gpu_type: doc.gpu_type.map_or_else(|| doc.name.0.clone(), |t| t.0),
        name: doc.name.0,
        device: doc.device,
        cost_cents_per_hour,
        inventory_gpus: doc.inventory_gpus.map(|n| n.get()),
        memory_gb: doc.memory_gb.map(|m| m.get()),
        interconnect: doc.interconnect.map(|i| i.0),
    })
}

fn perf(kind: PerfModelKind, doc: &PerfDoc, origin: &Origin) -> Result<PerfParams, SpecError> {
    let allowed = kind.parameter_names();
    for (name, present) in [
        ("tables", doc.tables.is_some()),
        ("tp", doc.tp.is_some()),
        ("ep", doc.ep.is_some()),
        ("dp", doc.dp.is_some()),
        ("interconnect", doc.interconnect.is_some()),
    ] {
        if present {
            return Err(origin.error(
                &format!("perf.{name}"),
                format!("a parameter of `model: tables`, not of {kind}"),
            ));
        }
    }
    let given: [(&str, bool); 5] = [
        ("alpha", doc.alpha.is_some()),
        ("beta", doc.beta.is_some()),
        ("gamma", doc.gamma.is_some()),
        ("delta", doc.delta.is_some()),
        (
            "max_num_batched_tokens",
            doc.max_num_batched_tokens.is_some(),
        ),
    ];
    for (name, present) in given {
        if present && !allowed.contains(&name) {
            return Err(origin.error(
                &format!("perf.{name}"),
                format!(
                    "not a parameter of {kind} (it takes {})",
                    allowed.join(", ")
                ),
            ));
        }
    }
    let need = |value: Option<f64>, name: &str| {
        value.ok_or_else(|| {
            origin.error(
                &format!("perf.{name}"),
                format!("missing; {kind} needs {}", allowed.join(", ")),
            )
        })
    };
    let alpha = need(doc.alpha.map(|v| v.get()), "alpha")?;
    let beta = need(doc.beta.map(|v| v.get()), "beta")?;
    let gamma = need(doc.gamma.map(|v| v.get()), "gamma")?;
    let mut named = NamedParams::new(alpha, beta, gamma);
    if kind == PerfModelKind::V1 {
        named.delta = need(doc.delta.map(|v| v.get()), "delta")?;
    }
    if kind == PerfModelKind::V3 {
        let tokens = doc
            .max_num_batched_tokens
            .map_or(u64::from(DEFAULT_MAX_NUM_BATCHED_TOKENS), |t| t.get());
        named.max_num_batched_tokens = u32::try_from(tokens).map_err(|_| {
            origin.error(
                "perf.max_num_batched_tokens",
                format!("too large: {tokens}"),
            )
        })?;
    }
    Ok(PerfParams::from_named(kind, named))
}

fn small_int(value: u64, origin: &Origin, field: &str) -> Result<u32, SpecError> {
    u32::try_from(value).map_err(|_| origin.error(field, format!("too large: {value}")))
}

/// A count bounded by one of [`crate::limits`]' maxima.
fn count(value: u64, max: u32, origin: &Origin, field: &str) -> Result<u32, SpecError> {
    crate::limits::at_most(value, u64::from(max))
        .map(|v| v as u32)
        .map_err(|m| origin.error(field, m))
}

fn profile(
    doc: ProfileDoc,
    origin: &Origin,
    catalog: Option<&[Located<Accelerator>]>,
) -> Result<Profile, SpecError> {
    let max_batch = small_int(doc.max_batch.get(), origin, "max_batch")?;
    let max_queue = match doc.max_queue {
        Some(q) => Some(count(
            q.get(),
            crate::limits::MAX_QUEUE,
            origin,
            "max_queue",
        )?),
        None => None,
    };
    let max_batch_at_output_tokens = match doc.max_batch_at_output_tokens {
        Some(t) => Some(small_int(t.get(), origin, "max_batch_at_output_tokens")?),
        None => None,
    };
    if doc.source.trim().is_empty() {
        return Err(origin.error("source", "must say where the numbers come from"));
    }
    let architecture = deploy::architecture(
        doc.model_config.as_deref(),
        doc.architecture.as_ref(),
        origin,
    )?;
    let (perf, cost, parallel) = match doc.perf.model.0 {
        Some(kind) => {
            let perf = perf(kind, &doc.perf, origin)?;
            let tp = match doc.gpus_per_replica {
                Some(g) => small_int(g.get(), origin, "gpus_per_replica")?,
                None => 1,
            };
            let parallel = crate::perf::Parallelism { tp, ep: 1, dp: 1 };
            (perf, CostModel::Linear(perf), parallel)
        }
        None => {
            let t = deploy::tables(
                &doc.perf,
                architecture.as_ref(),
                &doc.accelerator.0,
                max_batch,
                catalog,
                origin,
            )?;
            (t.perf, t.cost, t.parallel)
        }
    };
    let gpus_per_replica = match (doc.gpus_per_replica, &cost) {
        (Some(g), CostModel::Tables(_)) if g.get() != u64::from(parallel.gpus()) => {
            return Err(origin.error(
                "gpus_per_replica",
                format!(
                    "{} but the tables' parallelism uses {} (tp {} x dp {}); leave it out or make them agree",
                    g.get(),
                    parallel.gpus(),
                    parallel.tp,
                    parallel.dp
                ),
            ));
        }
        (Some(g), _) => small_int(g.get(), origin, "gpus_per_replica")?,
        (None, _) => parallel.gpus(),
    };
    let budget = match perf {
        PerfParams::V3(p) => p.max_num_batched_tokens,
        _ => DEFAULT_MAX_NUM_BATCHED_TOKENS,
    };
    let (kv_capacity_tokens, kv_auto) = deploy::kv_capacity_tokens(
        doc.kv_capacity_tokens,
        doc.memory.as_ref(),
        architecture.as_ref(),
        parallel,
        &doc.accelerator.0,
        (budget, max_batch),
        catalog,
        origin,
    )?;
    Ok(Profile {
        model: doc.model.0,
        accelerator: doc.accelerator.0,
        gpus_per_replica,
        max_batch,
        max_queue,
        max_batch_at_output_tokens,
        perf,
        cost,
        kv_capacity_tokens,
        kv_auto,
        architecture,
        source: doc.source,
        provenance: doc.provenance,
    })
}

fn service_class(doc: ServiceClassDoc, origin: &Origin) -> Result<ServiceClass, SpecError> {
    let priority = small_int(doc.priority.get(), origin, "priority")?;
    let targets = doc
        .targets
        .into_iter()
        .map(|t| SloTarget {
            model: t.model.0,
            ttft: t.ttft_ms.map(|d| LatencyTarget {
                statistic: d.statistic,
                ms: d.ms,
            }),
            itl: t.itl_ms.map(|d| LatencyTarget {
                statistic: d.statistic,
                ms: d.ms,
            }),
        })
        .collect();
    Ok(ServiceClass {
        name: doc.name.0,
        priority,
        description: doc.description,
        targets,
    })
}

fn workload(doc: WorkloadDoc, origin: &Origin) -> Result<Workload, SpecError> {
    let max_rps = crate::limits::MAX_RATE_RPS;
    let rate_rps = match (doc.rate_rps, doc.rate_rpm) {
        (Some(r), None) => {
            crate::limits::at_most(r.get(), max_rps).map_err(|m| origin.error("rate_rps", m))?
        }
        (None, Some(r)) => {
            crate::limits::at_most(r.get(), 60.0 * max_rps)
                .map_err(|m| origin.error("rate_rpm", m))?
                / 60.0
        }
        (Some(_), Some(_)) => {
            return Err(origin.error(
                "rate_rpm",
                "give the rate once: rate_rps or rate_rpm, not both",
            ));
        }
        (None, None) => {
            return Err(origin.error("rate_rps", "missing arrival rate (rate_rps or rate_rpm)"));
        }
    };
    let min_replicas = match doc.min_replicas {
        Some(m) => count(m.get(), crate::limits::MAX_REPLICAS, origin, "min_replicas")?,
        None => 1,
    };
    let name = doc
        .name
        .map(|n| n.0)
        .unwrap_or_else(|| format!("{}-{}", doc.service_class.0, doc.model.0));
    let max_batch = match doc.max_batch {
        Some(m) => Some(count(
            m.get(),
            crate::limits::MAX_BATCH,
            origin,
            "max_batch",
        )?),
        None => None,
    };
    let current = match doc.current {
        Some(c) => Some(CurrentAllocation {
            accelerator: c.accelerator.0,
            replicas: count(
                c.replicas.get(),
                crate::limits::MAX_REPLICAS,
                origin,
                "current.replicas",
            )?,
            cost_cents_per_hour: c.cost_cents_per_hour.map(|v| v.get()),
            keep: c.keep,
        }),
        None => None,
    };
    Ok(Workload {
        max_batch,
        current,
        name,
        model: doc.model.0,
        service_class: doc.service_class.0,
        rate_rps,
        prompt_tokens: doc.prompt_tokens.0.mean(),
        output_tokens: doc.output_tokens.0.mean(),
        prompt_dist: doc.prompt_tokens.0,
        output_dist: doc.output_tokens.0,
        arrivals: doc.arrivals.map(|a| a.0).unwrap_or_default(),
        min_replicas,
    })
}

fn finite(value: f64, min: f64, inclusive: bool) -> bool {
    value.is_finite() && if inclusive { value >= min } else { value > min }
}

fn known(names: &BTreeSet<&str>) -> String {
    let list: Vec<&str> = names.iter().copied().collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// Cross-checks the entries and builds the scenario.
pub(super) fn build(parts: ScenarioParts) -> Result<Scenario, SpecError> {
    // Accelerators: values and unique names.
    let mut accelerator_names = BTreeSet::new();
    for Located { item: a, origin } in &parts.accelerators {
        if !finite(a.cost_cents_per_hour, 0.0, false) {
            return Err(origin.error(
                "cost_cents_per_hour",
                format!("must be a positive number, got {}", a.cost_cents_per_hour),
            ));
        }
        if a.name.trim().is_empty() {
            return Err(origin.error("name", "must not be empty"));
        }
        if !accelerator_names.insert(a.name.as_str()) {
            return Err(origin.error("name", format!("duplicate accelerator `{}`", a.name)));
        }
        if let Some(other) = parts.accelerators.iter().find(|o| {
            o.item.gpu_type == a.gpu_type
                && o.item.inventory_gpus.is_some()
                && a.inventory_gpus.is_some()
                && o.item.inventory_gpus != a.inventory_gpus
        }) {
            return Err(origin.error(
                "inventory_gpus",
                format!(
                    "type `{}` has two inventories: {} here and {} on `{}`; state it once (accelerators of a type share it)",
                    a.gpu_type,
                    a.inventory_gpus.unwrap_or_default(),
                    other.item.inventory_gpus.unwrap_or_default(),
                    other.item.name
                ),
            ));
        }
    }

    if !parts.accelerators.is_empty()
        && parts
            .accelerators
            .iter()
            .all(|a| a.item.inventory_gpus == Some(0))
    {
        let first = &parts.accelerators[0].origin;
        return Err(first.error(
            "inventory_gpus",
            "every accelerator has an inventory of 0 GPUs, so nothing can be allocated; remove `inventory_gpus` for unlimited capacity",
        ));
    }

    // Profiles: values, known accelerators, one per (model, accelerator).
    let mut profile_keys: HashMap<(&str, &str), &Origin> = HashMap::new();
    let mut models = BTreeSet::new();
    for Located { item: p, origin } in &parts.profiles {
        check_profile_values(p, origin)?;
        if !accelerator_names.contains(p.accelerator.as_str()) {
            return Err(origin.error(
                "accelerator",
                format!(
                    "unknown accelerator `{}`; known: {}",
                    p.accelerator,
                    known(&accelerator_names)
                ),
            ));
        }
        if let Some(first) = profile_keys.insert((p.model.as_str(), p.accelerator.as_str()), origin)
        {
            return Err(origin.error(
                "",
                format!(
                    "duplicate profile for model `{}` on `{}` (first in {} at {})",
                    p.model,
                    p.accelerator,
                    first.file.display(),
                    first.path
                ),
            ));
        }
        models.insert(p.model.as_str());
    }

    // Service classes: unique names, targets present, one entry per model.
    let mut class_names = BTreeSet::new();
    for Located { item: c, origin } in &parts.service_classes {
        if !(1..=100).contains(&c.priority) {
            return Err(origin.error(
                "priority",
                format!(
                    "must be a whole number from 1 (most important) to 100, as in WVA; got {}",
                    c.priority
                ),
            ));
        }
        if !class_names.insert(c.name.as_str()) {
            return Err(origin.error("name", format!("duplicate service class `{}`", c.name)));
        }
        if c.targets.is_empty() {
            return Err(origin.error("targets", "must list at least one model's targets"));
        }
        let mut seen = BTreeSet::new();
        for (i, t) in c.targets.iter().enumerate() {
            let field = format!("targets[{i}]");
            if !seen.insert(t.model.as_str()) {
                return Err(origin.error(
                    &format!("{field}.model"),
                    format!("duplicate targets for model `{}`", t.model),
                ));
            }
            if t.ttft.is_none() && t.itl.is_none() {
                return Err(origin.error(&field, "give ttft_ms, itl_ms or both"));
            }
            for (name, target) in [("ttft_ms", t.ttft), ("itl_ms", t.itl)] {
                if let Some(target) = target
                    && !finite(target.ms, 0.0, false)
                {
                    return Err(origin.error(
                        &format!("{field}.{name}"),
                        format!("must be a positive number of ms, got {}", target.ms),
                    ));
                }
            }
        }
    }

    // Workloads: values, known references, targets and profiles available, unique names.
    let mut workload_names = BTreeSet::new();
    for Located { item: w, origin } in &parts.workloads {
        if !finite(w.rate_rps, 0.0, true) {
            return Err(origin.error(
                "rate_rps",
                format!("must be a number >= 0, got {}", w.rate_rps),
            ));
        }
        if !finite(w.prompt_tokens, 0.0, true) || w.prompt_tokens > MAX_TOKENS {
            return Err(origin.error(
                "prompt_tokens",
                format!(
                    "must be a number from 0 to {MAX_TOKENS:e}, got {}",
                    w.prompt_tokens
                ),
            ));
        }
        if !finite(w.output_tokens, 1.0, true) || w.output_tokens > MAX_TOKENS {
            return Err(origin.error(
                "output_tokens",
                format!(
                    "must be a number from 1 to {MAX_TOKENS:e}, got {}",
                    w.output_tokens
                ),
            ));
        }
        if let Some(m) = w.max_batch {
            if m == 0 || m > MAX_BATCH_LIMIT {
                return Err(origin.error(
                    "max_batch",
                    format!("must be a whole number from 1 to {MAX_BATCH_LIMIT}, got {m}"),
                ));
            }
            if let Some(p) = parts.profiles.iter().find(|p| {
                p.item.model == w.model
                    && matches!(p.item.perf, PerfParams::V3(g) if g.max_num_batched_tokens < m)
            }) {
                return Err(origin.error(
                    "max_batch",
                    format!(
                        "{m} is above the max_num_batched_tokens of the {} profile on {}; vLLM requires max_num_batched_tokens >= max_num_seqs",
                        p.item.model, p.item.accelerator
                    ),
                ));
            }
        }
        let Some(class) = parts
            .service_classes
            .iter()
            .find(|c| c.item.name == w.service_class)
        else {
            return Err(origin.error(
                "service_class",
                format!(
                    "unknown service class `{}`; known: {}",
                    w.service_class,
                    known(&class_names)
                ),
            ));
        };
        if !models.contains(w.model.as_str()) {
            return Err(origin.error(
                "model",
                format!(
                    "unknown model `{}`: no profile for it; models with profiles: {}",
                    w.model,
                    known(&models)
                ),
            ));
        }
        if class.item.targets_for(&w.model).is_none() {
            let listed: BTreeSet<&str> = class
                .item
                .targets
                .iter()
                .map(|t| t.model.as_str())
                .collect();
            return Err(origin.error(
                "model",
                format!(
                    "service class `{}` has no targets for model `{}` (it has targets for: {}; add an entry or a `{ANY_MODEL}` entry)",
                    class.item.name,
                    w.model,
                    known(&listed)
                ),
            ));
        }
        if let Some(current) = &w.current
            && !profile_keys.contains_key(&(w.model.as_str(), current.accelerator.as_str()))
        {
            let with_profiles: BTreeSet<&str> = profile_keys
                .keys()
                .filter(|(m, _)| *m == w.model)
                .map(|(_, a)| *a)
                .collect();
            return Err(origin.error(
                "current.accelerator",
                format!(
                    "model `{}` has no profile on `{}`, so it cannot run there today; it has profiles on: {}",
                    w.model,
                    current.accelerator,
                    known(&with_profiles)
                ),
            ));
        }
        if !workload_names.insert(w.name.as_str()) {
            return Err(origin.error(
                "name",
                format!(
                    "duplicate workload name `{}` (set `name:` to tell them apart)",
                    w.name
                ),
            ));
        }
    }

    Ok(Scenario {
        name: parts.name,
        description: parts.description,
        accelerators: parts.accelerators.into_iter().map(|l| l.item).collect(),
        profiles: parts.profiles.into_iter().map(|l| l.item).collect(),
        service_classes: parts.service_classes.into_iter().map(|l| l.item).collect(),
        workloads: parts.workloads.into_iter().map(|l| l.item).collect(),
    })
}

/// Largest max batch accepted (vLLM's own limits are far lower; this keeps memory bounded).
pub const MAX_BATCH_LIMIT: u32 = crate::limits::MAX_BATCH;
/// Largest mean token count accepted per request.
pub const MAX_TOKENS: f64 = 1e7;

fn check_profile_values(p: &Profile, origin: &Origin) -> Result<(), SpecError> {
    if p.max_batch == 0 || p.max_batch > MAX_BATCH_LIMIT {
        return Err(origin.error(
            "max_batch",
            format!(
                "must be a whole number from 1 to {MAX_BATCH_LIMIT}, got {}",
                p.max_batch
            ),
        ));
    }
    if p.gpus_per_replica == 0 {
        return Err(origin.error("gpus_per_replica", "must be a whole number >= 1"));
    }
    for (name, value) in p.perf.named_values() {
        let ok = if name == "alpha" {
            finite(value, 0.0, false)
        } else {
            finite(value, 0.0, true)
        } && value <= crate::limits::MAX_PERF_COEFFICIENT;
        if !ok {
            return Err(origin.error(
                &format!("perf.{name}"),
                format!(
                    "must be a {} number at most {:e}, got {value}",
                    if name == "alpha" {
                        "positive"
                    } else {
                        "non-negative"
                    },
                    crate::limits::MAX_PERF_COEFFICIENT
                ),
            ));
        }
    }
    if let PerfParams::V3(p3) = &p.perf
        && p3.max_num_batched_tokens < p.max_batch
    {
        return Err(origin.error(
            "perf.max_num_batched_tokens",
            format!(
                "must be at least max_batch ({}), as vLLM requires max_num_batched_tokens >= max_num_seqs; got {}",
                p.max_batch, p3.max_num_batched_tokens
            ),
        ));
    }
    if p.kv_capacity_tokens == Some(0) {
        return Err(origin.error("kv_capacity_tokens", "must be a whole number >= 1"));
    }
    Ok(())
}

pub(super) fn load_accelerators(path: &Path) -> Result<Vec<Accelerator>, Error> {
    let text = read_text(path)?;
    let doc: AcceleratorsFile = parse_yaml(path, &text)?;
    let file = Arc::new(path.to_path_buf());
    doc.accelerators
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let origin = Origin {
                file: Arc::clone(&file),
                path: format!("accelerators[{i}]"),
            };
            accelerator(item, &origin).map_err(Error::from)
        })
        .collect()
}

pub(super) fn load_profiles(path: &Path) -> Result<Vec<Profile>, Error> {
    let text = read_text(path)?;
    let doc: ProfilesFile = parse_yaml(path, &text)?;
    let file = Arc::new(path.to_path_buf());
    let mut out: Vec<Profile> = Vec::new();
    for (i, item) in doc.profiles.into_iter().enumerate() {
        let origin = Origin {
            file: Arc::clone(&file),
            path: format!("profiles[{i}]"),
        };
        let p = profile(item, &origin, None)?;
        check_profile_values(&p, &origin)?;
        if out
            .iter()
            .any(|q| q.model == p.model && q.accelerator == p.accelerator)
        {
            return Err(origin
                .error(
                    "",
                    format!(
                        "duplicate profile for model `{}` on `{}`",
                        p.model, p.accelerator
                    ),
                )
                .into());
        }
        out.push(p);
    }
    if out.is_empty() {
        return Err(SpecError::at(path, "profiles", "must list at least one profile").into());
    }
    Ok(out)
}
