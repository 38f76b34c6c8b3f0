//! Input formats: accelerators, model profiles, service classes and scenarios (YAML).
//!
//! [`load_scenario`] reads a scenario and the catalog files it references, and returns a
//! [`Scenario`] whose invariants hold: numbers are finite and in range, names are unique, every
//! reference resolves, every workload has SLO targets and at least one profile. Every error is a
//! [`SpecError`] naming the file, the field path and (for syntax and value errors) the line and
//! column. The formats are documented in `docs/formats.md`.
//!
//! Nothing downstream re-validates: the core trusts these types.

pub mod cluster;
mod deploy;
pub mod inferno;
mod load;
pub mod numbers;
mod raw;
mod resolve;
pub mod schema;
pub mod tables;

pub use crate::error::SpecError;
pub use crate::slo::Statistic;
pub use deploy::GENERIC_SHAPE;
pub use load::{Located, Origin, load_yaml, parse_yaml, read_text};
pub use resolve::{MAX_TOKENS, ScenarioParts};

use crate::error::Error;
use crate::perf::memory::{EngineSizing, GpuMemory, KvAccounting, kv_capacity};
use crate::perf::surrogate::Surrogate;
use crate::perf::{Architecture, CostModel, Interconnect, PerfParams, RequestShape};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// An accelerator (GPU) type.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Accelerator {
    /// Name used by profiles (e.g. `H100`, or `4xA100` for a 4-GPU configuration).
    pub name: String,
    /// The physical GPU type: accelerators of one type draw on one inventory (default: the name).
    pub gpu_type: String,
    /// Device name as Kubernetes nodes report it (e.g. `NVIDIA-H100-80GB-HBM3`).
    pub device: Option<String>,
    /// Cost of one GPU for one hour, in cents (upstream's unit).
    pub cost_cents_per_hour: f64,
    /// GPUs of this type available, when limited (shared by every accelerator of the type).
    pub inventory_gpus: Option<u64>,
    /// Memory per GPU, GB.
    pub memory_gb: Option<f64>,
    /// The link between GPUs of one replica (tensor and expert parallelism).
    pub interconnect: Option<Interconnect>,
}

/// Where a profile's numbers come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provenance {
    /// Fitted to measurements of a real engine.
    Measured,
    /// Fitted by `wva estimate` from benchmark files.
    Estimated,
    /// Illustrative numbers (samples, emulators).
    Synthetic,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provenance::Measured => "measured",
            Provenance::Estimated => "estimated",
            Provenance::Synthetic => "synthetic",
        })
    }
}

/// The performance profile of one model on one accelerator type.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Profile {
    /// Model name (e.g. `meta-llama/Llama-3.1-8B-Instruct`).
    pub model: String,
    /// Accelerator name (one of the scenario's accelerators).
    pub accelerator: String,
    /// GPUs per replica (tensor-parallel degree).
    pub gpus_per_replica: u32,
    /// Max batch the engine may run (vLLM `--max-num-seqs`); an upper bound for planning.
    pub max_batch: u32,
    /// Requests that may wait beyond the max batch before the replica rejects; `None` means
    /// 10 x the max batch in use (upstream's rule).
    pub max_queue: Option<u32>,
    /// Upstream's `atTokens`: the max batch holds for requests of this many output tokens, and
    /// scales as `max_batch * this / output_tokens` (at least 1) for other workloads.
    pub max_batch_at_output_tokens: Option<u32>,
    /// The analytic model's parameters: the profile's own, or (for a `tables` profile) a line
    /// fitted to the tables over a generic region (see [`Profile::analytic_for`] for a
    /// workload's own).
    pub perf: PerfParams,
    /// The engine's cost model: [`CostModel::Linear`] of `perf`, or measured tables.
    #[serde(skip)]
    pub cost: CostModel,
    /// KV-cache capacity in tokens per engine rank, when known.
    pub kv_capacity_tokens: Option<u64>,
    /// `kv_capacity_tokens: auto`: how it was computed, and what to recompute it from when
    /// the engine's settings differ from the profile's.
    #[serde(skip)]
    pub kv_auto: Option<KvAuto>,
    /// The model's shape, when the profile gives it (`model_config` or `architecture`).
    #[serde(skip)]
    pub architecture: Option<Architecture>,
    /// Where the numbers come from.
    pub source: String,
    /// Measured, estimated or synthetic.
    pub provenance: Option<Provenance>,
}

/// What `kv_capacity_tokens: auto` is computed from, and its figures at the profile's own
/// engine settings.
#[derive(Clone, Debug, PartialEq)]
pub struct KvAuto {
    /// The GPU memory.
    pub memory: GpuMemory,
    /// The model's shape.
    pub architecture: Architecture,
    /// Tensor and expert parallelism (weights and KV heads per rank).
    pub tp: u32,
    /// See `tp`.
    pub ep: u32,
    /// vLLM's accounting at the profile's `max_batch` and token budget.
    pub accounting: KvAccounting,
}

impl Profile {
    /// KV-cache capacity per rank, tokens, for an engine run with `max_num_seqs`,
    /// `max_num_batched_tokens` and KV blocks of `block_size` tokens: an `auto` capacity is
    /// recomputed for them (vLLM profiles its activation peak with the engine's own settings;
    /// should the recomputation find no room, the profile's own figure stands); a number is as
    /// given.
    pub fn kv_capacity_for(
        &self,
        max_num_seqs: u32,
        max_num_batched_tokens: u32,
        block_size: u32,
    ) -> Option<u64> {
        match &self.kv_auto {
            Some(auto) => kv_capacity(
                &auto.architecture,
                &auto.memory,
                &EngineSizing {
                    tp: auto.tp,
                    ep: auto.ep,
                    max_num_batched_tokens,
                    max_num_seqs,
                    block_size,
                },
            )
            .ok()
            .map(|a| a.tokens)
            .or(self.kv_capacity_tokens),
            None => self.kv_capacity_tokens,
        }
    }

    /// The max batch of a replica for requests of `output_tokens` output tokens: the profile's
    /// (per engine rank, `max_num_seqs`), scaled by `max_batch_at_output_tokens / output_tokens`
    /// when that is set (upstream's rule, integer arithmetic, at least 1; at most the gen-3 token
    /// budget and 65,536), times the ranks that step together (a MoE profile's data-parallel
    /// ranks; 1 otherwise). The queue model sees the replica's batch; the simulator gives each
    /// rank its share ([`crate::sim::setup::engine_config`]).
    pub fn max_batch_for(&self, output_tokens: f64) -> u32 {
        self.per_rank_max_batch_for(output_tokens)
            .saturating_mul(self.cost.ranks())
    }

    /// The whole replica's max batch at the profile's own `max_batch`.
    pub fn replica_max_batch(&self) -> u32 {
        self.max_batch.saturating_mul(self.cost.ranks())
    }

    fn per_rank_max_batch_for(&self, output_tokens: f64) -> u32 {
        match self.max_batch_at_output_tokens {
            Some(at) if output_tokens >= 1.0 => {
                let scaled =
                    u64::from(self.max_batch) * u64::from(at) / (output_tokens as u64).max(1);
                let budget = match self.perf {
                    crate::perf::PerfParams::V3(p) => u64::from(p.max_num_batched_tokens),
                    _ => u64::MAX,
                };
                scaled.clamp(1, budget.min(u64::from(resolve::MAX_BATCH_LIMIT))) as u32
            }
            _ => self.max_batch,
        }
    }

    /// The most requests of a shape whose KV cache fits at once, when the profile knows its
    /// capacity: the cache's 16-token blocks over the blocks of a request's mean footprint in
    /// flight: its prompt and half its output, where the output's half is length-biased
    /// (requests in flight are the long ones more often): `E[O^2] / (2 E[O])`, which is
    /// `O / 2` for fixed lengths and `O` for exponential ones (`output_variance`). At least 1.
    pub fn kv_batch_limit(
        &self,
        prompt_tokens: f64,
        output_tokens: f64,
        output_variance: f64,
    ) -> Option<u32> {
        const BLOCK_TOKENS: f64 = crate::perf::DEFAULT_BLOCK_SIZE as f64;
        // Every engine rank of the replica has its own cache.
        let capacity = self.kv_capacity_tokens? as f64 * f64::from(self.cost.ranks());
        let blocks = (capacity / BLOCK_TOKENS).floor();
        let output = output_tokens.max(0.0);
        let in_flight_output = if output > 0.0 {
            (output * output + output_variance.max(0.0)) / (2.0 * output)
        } else {
            0.0
        };
        let per_request = ((prompt_tokens.max(0.0) + in_flight_output) / BLOCK_TOKENS)
            .ceil()
            .max(1.0);
        Some(
            (blocks / per_request)
                .floor()
                .clamp(1.0, f64::from(u32::MAX)) as u32,
        )
    }

    /// The analytic model's parameters for requests of `shape` at batches up to `max_batch`
    /// with `budget` tokens per iteration: the profile's own for a linear profile; for a
    /// `tables` profile, the line fitted over that operating region (with how well it fits).
    pub fn analytic_for(
        &self,
        shape: &RequestShape,
        max_batch: u32,
        budget: u32,
    ) -> (PerfParams, Option<Surrogate>) {
        match &self.cost {
            CostModel::Linear(_) => (self.perf, None),
            CostModel::Tables(_) => {
                let gen3 = matches!(self.perf, PerfParams::V3(_));
                match crate::perf::surrogate::fit(&self.cost, shape, max_batch, budget, gen3) {
                    Some(s) => (s.params, Some(s)),
                    None => (self.perf, None),
                }
            }
        }
    }

    /// The engine's token budget the profile implies: gen 3's, else vLLM's default.
    pub fn max_num_batched_tokens(&self) -> u32 {
        match self.perf {
            PerfParams::V3(p) => p.max_num_batched_tokens,
            _ => crate::perf::DEFAULT_MAX_NUM_BATCHED_TOKENS,
        }
    }

    /// The queue allowance at max batch `max_batch`: the profile's, or 10 x `max_batch`.
    pub fn queue_for(&self, max_batch: u32) -> u32 {
        self.max_queue
            .unwrap_or_else(|| max_batch.saturating_mul(crate::queueing::DEFAULT_QUEUE_PER_BATCH))
    }
}

/// A latency target: a statistic and a bound in ms.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LatencyTarget {
    /// Which statistic must stay below the bound.
    pub statistic: Statistic,
    /// The bound, ms.
    pub ms: f64,
}

impl fmt::Display for LatencyTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.statistic {
            Statistic::Mean => write!(f, "{}", self.ms),
            s => write!(f, "{}:{}", s.name(), self.ms),
        }
    }
}

/// SLO targets for one model in a service class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SloTarget {
    /// The model (or `*` for any model without its own entry).
    pub model: String,
    /// Time-to-first-token target.
    pub ttft: Option<LatencyTarget>,
    /// Inter-token latency target.
    pub itl: Option<LatencyTarget>,
}

/// A service class: a priority and per-model SLO targets.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceClass {
    /// Name.
    pub name: String,
    /// Priority, 1 = most important.
    pub priority: u32,
    /// Free text.
    pub description: Option<String>,
    /// Targets per model.
    pub targets: Vec<SloTarget>,
}

/// The wildcard model name in service-class targets.
pub const ANY_MODEL: &str = "*";

impl ServiceClass {
    /// The targets for `model`: its own entry, else the `*` entry.
    pub fn targets_for(&self, model: &str) -> Option<&SloTarget> {
        self.targets
            .iter()
            .find(|t| t.model == model)
            .or_else(|| self.targets.iter().find(|t| t.model == ANY_MODEL))
    }
}

/// A distribution of token counts per request.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "dist", rename_all = "lowercase")]
pub enum LengthDist {
    /// Every request has the same length.
    Fixed {
        /// The length.
        mean: f64,
    },
    /// Exponential with this mean (rounded, at least 1).
    Exponential {
        /// Mean.
        mean: f64,
    },
    /// Log-normal with this mean and coefficient of variation.
    Lognormal {
        /// Mean.
        mean: f64,
        /// Standard deviation over mean.
        cv: f64,
    },
    /// Uniform over the integers `min..=max`.
    Uniform {
        /// Smallest.
        min: f64,
        /// Largest.
        max: f64,
    },
}

impl LengthDist {
    /// The variance of the length.
    pub fn variance(&self) -> f64 {
        match *self {
            LengthDist::Fixed { .. } => 0.0,
            LengthDist::Exponential { mean } => mean * mean,
            LengthDist::Lognormal { mean, cv } => (cv * mean) * (cv * mean),
            LengthDist::Uniform { min, max } => {
                // Discrete uniform over min..=max.
                let n = (max - min).floor() + 1.0;
                (n * n - 1.0) / 12.0
            }
        }
    }

    /// The mean length.
    pub fn mean(&self) -> f64 {
        match *self {
            LengthDist::Fixed { mean }
            | LengthDist::Exponential { mean }
            | LengthDist::Lognormal { mean, .. } => mean,
            LengthDist::Uniform { min, max } => (min + max) / 2.0,
        }
    }
}

/// How requests arrive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(tag = "process", rename_all = "lowercase")]
pub enum ArrivalProcess {
    /// Exponential inter-arrival times.
    #[default]
    Poisson,
    /// Evenly spaced.
    Deterministic,
    /// Gamma inter-arrival times with this coefficient of variation (bursty above 1).
    Gamma {
        /// Standard deviation over mean of the inter-arrival time.
        cv: f64,
    },
}

impl ArrivalProcess {
    /// The squared coefficient of variation of the inter-arrival time.
    pub fn scv(&self) -> f64 {
        match *self {
            ArrivalProcess::Poisson => 1.0,
            ArrivalProcess::Deterministic => 0.0,
            ArrivalProcess::Gamma { cv } => cv * cv,
        }
    }
}

/// Traffic of one model in one service class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Workload {
    /// Name (default `<class>-<model>`, upstream's server name).
    pub name: String,
    /// Model.
    pub model: String,
    /// Service class.
    pub service_class: String,
    /// Mean arrival rate, requests/s.
    pub rate_rps: f64,
    /// Mean prompt tokens per request.
    pub prompt_tokens: f64,
    /// Mean output tokens per request.
    pub output_tokens: f64,
    /// Distribution of prompt tokens (for simulation; its mean is `prompt_tokens`).
    pub prompt_dist: LengthDist,
    /// Distribution of output tokens (for simulation; its mean is `output_tokens`).
    pub output_dist: LengthDist,
    /// Arrival process (for simulation).
    pub arrivals: ArrivalProcess,
    /// Replicas to keep even without load.
    pub min_replicas: u32,
    /// A max batch forced on every accelerator (upstream's per-server `maxBatchSize`).
    pub max_batch: Option<u32>,
    /// What runs today, when known.
    pub current: Option<CurrentAllocation>,
}

impl Workload {
    /// The max batch this workload runs with on `profile`: its own `max_batch` when it sets
    /// one, else the profile's for its output length.
    pub fn max_batch_on(&self, profile: &Profile) -> u32 {
        self.max_batch
            .unwrap_or_else(|| profile.max_batch_for(self.output_tokens))
    }

    /// A workload of `rate_rps` Poisson arrivals of fixed-length requests, no minimum replicas
    /// and no current allocation (for loads given on the command line).
    pub fn from_load(
        name: &str,
        model: &str,
        service_class: &str,
        rate_rps: f64,
        prompt_tokens: f64,
        output_tokens: f64,
    ) -> Workload {
        Workload {
            name: name.to_string(),
            model: model.to_string(),
            service_class: service_class.to_string(),
            rate_rps,
            prompt_tokens,
            output_tokens,
            prompt_dist: LengthDist::Fixed {
                mean: prompt_tokens,
            },
            output_dist: LengthDist::Fixed {
                mean: output_tokens,
            },
            arrivals: ArrivalProcess::Poisson,
            min_replicas: 0,
            max_batch: None,
            current: None,
        }
    }
}

/// A workload's allocation today.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CurrentAllocation {
    /// Accelerator it runs on.
    pub accelerator: String,
    /// Replicas it has.
    pub replicas: u32,
    /// Its cost, cents per hour, when known (otherwise derived from the profile).
    pub cost_cents_per_hour: Option<f64>,
    /// Keep this workload on this accelerator (upstream's per-server `keepAccelerator`).
    pub keep: bool,
}

/// Why a scenario's load cannot be scaled by a factor.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LoadScaleError {
    /// The factor is not a number > 0.
    #[error("load scale {factor}: expected a number > 0")]
    Factor {
        /// The factor.
        factor: f64,
    },
    /// A workload's scaled rate would pass [`crate::limits::MAX_RATE_RPS`].
    #[error(
        "workload `{workload}`: {rate_rps} req/s x {factor} is above the limit of {max:e} req/s",
        max = crate::limits::MAX_RATE_RPS
    )]
    AboveLimit {
        /// The workload.
        workload: String,
        /// Its rate, requests/s.
        rate_rps: f64,
        /// The factor.
        factor: f64,
    },
}

/// A validated scenario: the catalog and the workloads to plan for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scenario {
    /// Name (default: the file stem).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Accelerator types.
    pub accelerators: Vec<Accelerator>,
    /// Profiles (model x accelerator).
    pub profiles: Vec<Profile>,
    /// Service classes.
    pub service_classes: Vec<ServiceClass>,
    /// Workloads.
    pub workloads: Vec<Workload>,
}

impl Scenario {
    /// The accelerator called `name`.
    pub fn accelerator(&self, name: &str) -> Option<&Accelerator> {
        self.accelerators.iter().find(|a| a.name == name)
    }

    /// The service class called `name`.
    pub fn service_class(&self, name: &str) -> Option<&ServiceClass> {
        self.service_classes.iter().find(|c| c.name == name)
    }

    /// The latency targets of `workload`'s class for its model, each with the statistic it
    /// bounds (no class or no target: no target).
    pub fn slo_targets(&self, workload: &Workload) -> crate::slo::Targets {
        let slo = self
            .service_class(&workload.service_class)
            .and_then(|c| c.targets_for(&workload.model));
        let stat = |t: Option<LatencyTarget>| t.map_or(Statistic::Mean, |t| t.statistic);
        crate::slo::Targets {
            ttft_ms: slo.and_then(|s| s.ttft.map(|t| t.ms)),
            itl_ms: slo.and_then(|s| s.itl.map(|t| t.ms)),
            ttft_stat: stat(slo.and_then(|s| s.ttft)),
            itl_stat: stat(slo.and_then(|s| s.itl)),
        }
    }

    /// The index in [`Scenario::profiles`] of the profile of `model` on `accelerator`.
    pub fn profile_index(&self, model: &str, accelerator: &str) -> Option<usize> {
        self.profiles
            .iter()
            .position(|p| p.model == model && p.accelerator == accelerator)
    }

    /// The profile of `model` on `accelerator`.
    pub fn profile(&self, model: &str, accelerator: &str) -> Option<&Profile> {
        self.profile_index(model, accelerator)
            .map(|i| &self.profiles[i])
    }

    /// Every profile of `model`, in file order.
    pub fn profiles_for<'a>(&'a self, model: &'a str) -> impl Iterator<Item = &'a Profile> + 'a {
        self.profiles.iter().filter(move |p| p.model == model)
    }

    /// Multiplies every workload's arrival rate by `factor` (a what-if on the load: 2 is twice
    /// the traffic). Fails, changing nothing, when a rate would leave the accepted range.
    pub fn scale_load(&mut self, factor: f64) -> Result<(), LoadScaleError> {
        if !(factor.is_finite() && factor > 0.0) {
            return Err(LoadScaleError::Factor { factor });
        }
        if let Some(w) = self
            .workloads
            .iter()
            .find(|w| w.rate_rps * factor > crate::limits::MAX_RATE_RPS)
        {
            return Err(LoadScaleError::AboveLimit {
                workload: w.name.clone(),
                rate_rps: w.rate_rps,
                factor,
            });
        }
        for w in &mut self.workloads {
            w.rate_rps *= factor;
        }
        Ok(())
    }

    /// Builds a scenario from entries made in code, with the same checks as files get
    /// (errors name `<memory>` as the file).
    pub fn from_parts(parts: ScenarioParts) -> Result<Scenario, SpecError> {
        resolve::build(parts)
    }
}

/// The profiles of `model` (any, when `None`) on `accelerator` (any, when `None`), in file order:
/// how `--profile FILE` picks one with `--model` and `--accelerator`.
pub fn matching_profiles<'a>(
    profiles: &'a [Profile],
    model: Option<&str>,
    accelerator: Option<&str>,
) -> Vec<&'a Profile> {
    profiles
        .iter()
        .filter(|p| model.is_none_or(|m| p.model == m))
        .filter(|p| accelerator.is_none_or(|acc| p.accelerator == acc))
        .collect()
}

/// Reads a file of profiles (`profiles: [...]`), checking each one on its own (accelerator
/// names are not checked: there is no catalog to check them against).
pub fn load_profiles(path: &Path) -> Result<Vec<Profile>, Error> {
    resolve::load_profiles(path)
}

/// Reads an accelerator catalog (`accelerators: [...]`).
pub fn load_accelerators(path: &Path) -> Result<Vec<Accelerator>, Error> {
    resolve::load_accelerators(path)
}

/// Reads a scenario file and everything it references.
pub fn load_scenario(path: &Path) -> Result<Scenario, Error> {
    resolve::load(path)
}
