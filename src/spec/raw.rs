//! The documents as written: serde structs mirroring the YAML, with unknown fields rejected and
//! numbers checked as they are read. [`super::resolve`] turns them into domain types.

use super::numbers::{Name, NonNegativeF64, NonNegativeInt, PositiveF64, PositiveInt};
use super::{ArrivalProcess, LengthDist, Provenance, Statistic};
use crate::perf::PerfModelKind;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// One accelerator type.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an accelerator (name, cost_cents_per_hour, ...)"
)]
pub struct AcceleratorDoc {
    pub name: Name,
    #[serde(default, rename = "type")]
    pub gpu_type: Option<Name>,
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default)]
    pub cost_cents_per_hour: Option<PositiveF64>,
    #[serde(default)]
    pub cost_usd_per_hour: Option<PositiveF64>,
    #[serde(default)]
    pub inventory_gpus: Option<NonNegativeInt>,
    #[serde(default)]
    pub memory_gb: Option<PositiveF64>,
    #[serde(default)]
    pub interconnect: Option<InterconnectDoc>,
}

/// The perf model block of a profile: all parameters optional here, checked against the model
/// in `resolve` (so that "delta is not a parameter of wva-v2" can be said).
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a perf block (model, alpha, beta, gamma, ...; or model: tables, tables, tp, ...)"
)]
pub struct PerfDoc {
    pub model: PerfModelName,
    #[serde(default)]
    pub alpha: Option<PositiveF64>,
    #[serde(default)]
    pub beta: Option<NonNegativeF64>,
    #[serde(default)]
    pub gamma: Option<NonNegativeF64>,
    #[serde(default)]
    pub delta: Option<NonNegativeF64>,
    #[serde(default)]
    pub max_num_batched_tokens: Option<PositiveInt>,
    /// `tables`: the profiler folder (relative to the file).
    #[serde(default)]
    pub tables: Option<String>,
    #[serde(default)]
    pub tp: Option<PositiveInt>,
    #[serde(default)]
    pub ep: Option<PositiveInt>,
    #[serde(default)]
    pub dp: Option<PositiveInt>,
    #[serde(default)]
    pub interconnect: Option<InterconnectDoc>,
}

/// The link between the GPUs of a replica: a generation's name (`nvlink4`, `pcie5`, ...) or
/// `{bandwidth_gb_s, latency_us}`.
#[derive(Debug, Clone, Copy)]
pub struct InterconnectDoc(pub crate::perf::Interconnect);

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InterconnectFields {
    bandwidth_gb_s: PositiveF64,
    latency_us: NonNegativeF64,
}

impl<'de> Deserialize<'de> for InterconnectDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = InterconnectDoc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an interconnect: a name (nvlink3, nvlink4, nvlink5, pcie4, pcie5, infinity-fabric) or {bandwidth_gb_s, latency_us}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<InterconnectDoc, E> {
                crate::perf::Interconnect::named(v)
                    .map(InterconnectDoc)
                    .ok_or_else(|| {
                        let known: Vec<&str> =
                            crate::perf::comm::GENERATIONS.iter().map(|g| g.name).collect();
                        E::custom(format!(
                            "unknown interconnect `{v}`; known: {}, or {{bandwidth_gb_s, latency_us}}",
                            known.join(", ")
                        ))
                    })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<InterconnectDoc, A::Error> {
                let f = InterconnectFields::deserialize(MapAccessDeserializer::new(map))?;
                Ok(InterconnectDoc(crate::perf::Interconnect {
                    bandwidth_gb_s: f.bandwidth_gb_s.get(),
                    latency_us: f.latency_us.get(),
                }))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A perf model name, checked while parsing: one of the linear models, or `tables`.
#[derive(Debug, Clone, Copy)]
pub struct PerfModelName(pub Option<PerfModelKind>);

impl<'de> Deserialize<'de> for PerfModelName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PerfModelName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a perf model name (wva-v1, wva-v2, wva-v3 or tables)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PerfModelName, E> {
                if v.trim().eq_ignore_ascii_case("tables") {
                    return Ok(PerfModelName(None));
                }
                PerfModelKind::parse(v)
                    .map(|k| PerfModelName(Some(k)))
                    .ok_or_else(|| {
                        E::custom(format!(
                            "unknown perf model `{v}`; known: wva-v1, wva-v2, wva-v3, tables"
                        ))
                    })
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A KV-cache capacity: tokens, or `auto` (from the model's shape and the GPU's memory).
#[derive(Debug, Clone, Copy)]
pub enum KvCapacityDoc {
    Tokens(u64),
    Auto,
}

impl<'de> Deserialize<'de> for KvCapacityDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KvCapacityDoc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number of tokens >= 1, or auto")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KvCapacityDoc, E> {
                if v >= 1 {
                    Ok(KvCapacityDoc::Tokens(v))
                } else {
                    Err(E::custom("must be a whole number of tokens >= 1, or auto"))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KvCapacityDoc, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("must be >= 1 or auto, got {v}")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KvCapacityDoc, E> {
                Err(E::custom(format!(
                    "must be a whole number of tokens or auto, got {v}"
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KvCapacityDoc, E> {
                if v.trim() == "auto" {
                    Ok(KvCapacityDoc::Auto)
                } else {
                    Err(E::custom(format!(
                        "must be a whole number of tokens or auto, got `{v}`"
                    )))
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A model's shape, with Hugging Face `config.json`'s names.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a model shape (num_hidden_layers, hidden_size, num_attention_heads, ...)"
)]
pub struct ArchitectureDoc {
    #[serde(default)]
    pub model_type: Option<String>,
    pub num_hidden_layers: PositiveInt,
    pub hidden_size: PositiveInt,
    pub num_attention_heads: PositiveInt,
    #[serde(default)]
    pub num_key_value_heads: Option<PositiveInt>,
    #[serde(default)]
    pub head_dim: Option<PositiveInt>,
    pub intermediate_size: PositiveInt,
    pub vocab_size: PositiveInt,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub dtype_bytes: Option<PositiveInt>,
    #[serde(default)]
    pub num_experts: Option<PositiveInt>,
    #[serde(default)]
    pub num_experts_per_tok: Option<PositiveInt>,
    #[serde(default)]
    pub moe_intermediate_size: Option<PositiveInt>,
}

/// The GPU memory a replica's ranks have, for `kv_capacity_tokens: auto`.
#[derive(Debug, Clone, Copy, serde::Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a memory block (gpu_memory_gb, gpu_memory_utilization, reserve_gb)"
)]
pub struct MemoryDoc {
    #[serde(default)]
    pub gpu_memory_gb: Option<PositiveF64>,
    #[serde(default)]
    pub gpu_memory_utilization: Option<PositiveF64>,
    #[serde(default)]
    pub reserve_gb: Option<NonNegativeF64>,
}

/// A model's performance profile on one accelerator type.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a profile (model, accelerator, max_batch, perf, source, ...)"
)]
pub struct ProfileDoc {
    pub model: Name,
    pub accelerator: Name,
    #[serde(default)]
    pub gpus_per_replica: Option<PositiveInt>,
    pub max_batch: PositiveInt,
    #[serde(default)]
    pub max_queue: Option<NonNegativeInt>,
    pub perf: PerfDoc,
    #[serde(default)]
    pub max_batch_at_output_tokens: Option<PositiveInt>,
    #[serde(default)]
    pub kv_capacity_tokens: Option<KvCapacityDoc>,
    #[serde(default)]
    pub model_config: Option<String>,
    #[serde(default)]
    pub architecture: Option<ArchitectureDoc>,
    #[serde(default)]
    pub memory: Option<MemoryDoc>,
    pub source: String,
    #[serde(default)]
    pub provenance: Option<Provenance>,
}

/// A latency target: a number (the mean) or `{mean|p50|p90|p95|p99: ms}`.
#[derive(Debug, Clone, Copy)]
pub struct LatencyTargetDoc {
    pub statistic: Statistic,
    pub ms: f64,
}

impl<'de> Deserialize<'de> for LatencyTargetDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LatencyTargetDoc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a latency in ms (the mean), or one of {mean: ms}, {p50: ms}, {p90: ms}, {p95: ms}, {p99: ms}")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LatencyTargetDoc, E> {
                if v.is_finite() && v > 0.0 {
                    Ok(LatencyTargetDoc {
                        statistic: Statistic::Mean,
                        ms: v,
                    })
                } else {
                    Err(E::custom(format!(
                        "must be a positive number of ms, got {v}"
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LatencyTargetDoc, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LatencyTargetDoc, E> {
                self.visit_f64(v as f64)
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<LatencyTargetDoc, A::Error> {
                let mut found: Option<LatencyTargetDoc> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let statistic = Statistic::parse(&key).ok_or_else(|| {
                        de::Error::custom(format!(
                            "unknown statistic `{key}`; use one of mean, p50, p90, p95, p99"
                        ))
                    })?;
                    let ms: PositiveF64 = map.next_value()?;
                    if found.is_some() {
                        return Err(de::Error::custom(
                            "give one statistic per target (e.g. {p99: 2000})",
                        ));
                    }
                    found = Some(LatencyTargetDoc {
                        statistic,
                        ms: ms.get(),
                    });
                }
                found
                    .ok_or_else(|| de::Error::custom("empty target; write e.g. 500 or {p99: 2000}"))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A token count: a number (every request the same; its mean for planning), or a
/// distribution `{dist: fixed|exponential|lognormal|uniform, mean, cv, min, max}`. `MIN` is the
/// smallest mean allowed.
#[derive(Debug, Clone, Copy)]
pub struct TokensDoc<const MIN: u32>(pub LengthDist);

impl<'de, const MIN: u32> Deserialize<'de> for TokensDoc<MIN> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<const MIN: u32>;
        fn check<E: de::Error>(what: &str, v: f64, min: f64) -> Result<f64, E> {
            if v.is_finite() && v >= min {
                Ok(v)
            } else {
                Err(E::custom(format!(
                    "{what} must be a number >= {min}, got {v}"
                )))
            }
        }
        impl<'de, const MIN: u32> Visitor<'de> for V<MIN> {
            type Value = TokensDoc<MIN>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a token count, or {dist: fixed|exponential|lognormal|uniform, mean, cv, min, max}")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TokensDoc<MIN>, E> {
                Ok(TokensDoc(LengthDist::Fixed {
                    mean: check("the token count", v, f64::from(MIN))?,
                }))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TokensDoc<MIN>, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TokensDoc<MIN>, E> {
                self.visit_f64(v as f64)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TokensDoc<MIN>, A::Error> {
                let (mut dist, mut mean, mut cv, mut min, mut max) =
                    (None::<String>, None, None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "dist" => dist = Some(map.next_value()?),
                        "mean" => mean = Some(map.next_value::<f64>()?),
                        "cv" => cv = Some(map.next_value::<f64>()?),
                        "min" => min = Some(map.next_value::<f64>()?),
                        "max" => max = Some(map.next_value::<f64>()?),
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown field `{other}`, expected one of `dist`, `mean`, `cv`, `min`, `max`"
                            )));
                        }
                    }
                }
                let lower = f64::from(MIN);
                let need = |v: Option<f64>, what: &str| {
                    v.ok_or_else(|| de::Error::custom(format!("missing `{what}`")))
                };
                let extra = |present: bool, what: &str, dist: &str| {
                    if present {
                        Err(de::Error::custom(format!(
                            "`{what}` does not apply to dist `{dist}`"
                        )))
                    } else {
                        Ok(())
                    }
                };
                let dist_name = dist.unwrap_or_else(|| "fixed".into());
                let d = match dist_name.as_str() {
                    "fixed" | "exponential" => {
                        extra(cv.is_some(), "cv", &dist_name)?;
                        extra(min.is_some() || max.is_some(), "min/max", &dist_name)?;
                        let mean = check("mean", need(mean, "mean")?, lower)?;
                        if dist_name == "fixed" {
                            LengthDist::Fixed { mean }
                        } else {
                            LengthDist::Exponential { mean }
                        }
                    }
                    "lognormal" => {
                        extra(min.is_some() || max.is_some(), "min/max", &dist_name)?;
                        let mean = check("mean", need(mean, "mean")?, lower)?;
                        let cv = need(cv, "cv")?;
                        if !(cv.is_finite() && cv > 0.0) {
                            return Err(de::Error::custom(format!(
                                "cv must be a positive number, got {cv}"
                            )));
                        }
                        LengthDist::Lognormal { mean, cv }
                    }
                    "uniform" => {
                        extra(mean.is_some() || cv.is_some(), "mean/cv", &dist_name)?;
                        let min = check("min", need(min, "min")?, lower)?;
                        let max = check("max", need(max, "max")?, min)?;
                        LengthDist::Uniform { min, max }
                    }
                    other => {
                        return Err(de::Error::custom(format!(
                            "unknown dist `{other}`; known: fixed, exponential, lognormal, uniform"
                        )));
                    }
                };
                Ok(TokensDoc(d))
            }
        }
        deserializer.deserialize_any(V::<MIN>)
    }
}

/// An arrival process: `poisson`, `deterministic`, or `{process: gamma, cv: 2.0}`.
#[derive(Debug, Clone, Copy)]
pub struct ArrivalsDoc(pub ArrivalProcess);

impl<'de> Deserialize<'de> for ArrivalsDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ArrivalsDoc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("poisson, deterministic, or {process: gamma, cv: <number>}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ArrivalsDoc, E> {
                match v {
                    "poisson" => Ok(ArrivalsDoc(ArrivalProcess::Poisson)),
                    "deterministic" => Ok(ArrivalsDoc(ArrivalProcess::Deterministic)),
                    "gamma" => Err(E::custom(
                        "a gamma process needs its cv: {process: gamma, cv: 2.0}",
                    )),
                    other => Err(E::custom(format!(
                        "unknown arrival process `{other}`; known: poisson, deterministic, gamma"
                    ))),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ArrivalsDoc, A::Error> {
                let (mut process, mut cv) = (None::<String>, None::<f64>);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "process" => process = Some(map.next_value()?),
                        "cv" => cv = Some(map.next_value()?),
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown field `{other}`, expected `process` or `cv`"
                            )));
                        }
                    }
                }
                match (process.as_deref(), cv) {
                    (Some("gamma"), Some(cv)) if cv.is_finite() && cv > 0.0 => {
                        Ok(ArrivalsDoc(ArrivalProcess::Gamma { cv }))
                    }
                    (Some("gamma"), Some(cv)) => Err(de::Error::custom(format!(
                        "cv must be a positive number, got {cv}"
                    ))),
                    (Some("gamma"), None) => Err(de::Error::custom("missing `cv`")),
                    (Some("poisson"), None) => Ok(ArrivalsDoc(ArrivalProcess::Poisson)),
                    (Some("deterministic"), None) => Ok(ArrivalsDoc(ArrivalProcess::Deterministic)),
                    (Some(p), _) => Err(de::Error::custom(format!(
                        "`{p}` takes no cv, or is unknown; known: poisson, deterministic, gamma"
                    ))),
                    (None, _) => Err(de::Error::custom("missing `process`")),
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// SLO targets of one model in a service class.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "SLO targets (model, ttft_ms, itl_ms)"
)]
pub struct TargetDoc {
    pub model: Name,
    #[serde(default)]
    pub ttft_ms: Option<LatencyTargetDoc>,
    #[serde(default)]
    pub itl_ms: Option<LatencyTargetDoc>,
}

/// A service class.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a service class (name, priority, targets)"
)]
pub struct ServiceClassDoc {
    pub name: Name,
    pub priority: PositiveInt,
    #[serde(default)]
    pub description: Option<String>,
    pub targets: Vec<TargetDoc>,
}

/// One workload (a model's traffic in a service class).
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a workload (model, service_class, rate_rps, prompt_tokens, output_tokens, ...)"
)]
pub struct WorkloadDoc {
    #[serde(default)]
    pub name: Option<Name>,
    pub model: Name,
    pub service_class: Name,
    #[serde(default)]
    pub rate_rps: Option<NonNegativeF64>,
    #[serde(default)]
    pub rate_rpm: Option<NonNegativeF64>,
    pub prompt_tokens: TokensDoc<1>,
    pub output_tokens: TokensDoc<1>,
    #[serde(default)]
    pub arrivals: Option<ArrivalsDoc>,
    #[serde(default)]
    pub min_replicas: Option<NonNegativeInt>,
    #[serde(default)]
    pub max_batch: Option<PositiveInt>,
    #[serde(default)]
    pub current: Option<CurrentDoc>,
}

/// A workload's current allocation.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a current allocation (accelerator, replicas)"
)]
pub struct CurrentDoc {
    pub accelerator: Name,
    pub replicas: NonNegativeInt,
    #[serde(default)]
    pub cost_cents_per_hour: Option<NonNegativeF64>,
    #[serde(default)]
    pub keep: bool,
}

/// A scenario: what to plan for, and where the catalog comes from.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a scenario (a mapping with `workloads:` and the catalog)"
)]
pub struct ScenarioDoc {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub accelerators: Option<Refs<AcceleratorDoc>>,
    #[serde(default)]
    pub profiles: Option<Refs<ProfileDoc>>,
    #[serde(default)]
    pub service_classes: Option<Refs<ServiceClassDoc>>,
    pub workloads: Vec<WorkloadDoc>,
}

/// A file of accelerators.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "an accelerators file (a mapping with `accelerators:`)"
)]
pub struct AcceleratorsFile {
    /// Free text for readers of the file.
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
    pub accelerators: Vec<AcceleratorDoc>,
}

/// A file of profiles.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a profiles file (a mapping with `profiles:`)"
)]
pub struct ProfilesFile {
    /// Free text for readers of the file.
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
    pub profiles: Vec<ProfileDoc>,
}

/// A file of service classes.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a service classes file (a mapping with `service_classes:`)"
)]
pub struct ServiceClassesFile {
    /// Free text for readers of the file.
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
    pub service_classes: Vec<ServiceClassDoc>,
}

/// An entry of a catalog list: a path to a file of such entries, or an inline entry.
#[derive(Debug)]
pub enum Entry<T> {
    Path(String),
    Inline(T),
}

/// A catalog block: a path, or a list of paths and inline entries.
#[derive(Debug)]
pub struct Refs<T>(pub Vec<Entry<T>>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Entry<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: DeserializeOwned> Visitor<'de> for V<T> {
            type Value = Entry<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a file path or an inline entry")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Entry<T>, E> {
                if v.trim().is_empty() {
                    Err(E::custom("empty file path"))
                } else {
                    Ok(Entry::Path(v.to_string()))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Entry<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Entry::Inline)
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Refs<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: DeserializeOwned> Visitor<'de> for V<T> {
            type Value = Refs<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a file path, or a list of file paths and inline entries")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Refs<T>, E> {
                Entry::<T>::deserialize(de::value::StrDeserializer::<E>::new(v))
                    .map(|e| Refs(vec![e]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Refs<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = seq.next_element::<Entry<T>>()? {
                    entries.push(entry);
                }
                Ok(Refs(entries))
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}
