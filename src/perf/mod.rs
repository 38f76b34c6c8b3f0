//! The cost model of a vLLM engine: what one iteration costs, and what one request costs at a
//! given batch size.
//!
//! One cost model serves the whole of `wva`: the analytic queue ([`crate::queueing`]) uses the
//! mean-field *service curves* built here, and the simulator runs the per-iteration form
//! directly, so the only difference between the two is the queueing approximation.
//!
//! Three published parameterisations are supported (see `docs/formats.md` and the shared
//! `domain.md`, sections 1-2):
//! - [`PerfParams::V1`] (`wva-v1`, Oct 2025, the v0.4 CRD's `decodeParms`/`prefillParms`):
//!   `ITL(n) = alpha + beta*n`, `prefill(n) = gamma + delta*in*n`.
//! - [`PerfParams::V2`] (`wva-v2`, 2026): `T_iter = alpha + beta*tokens + gamma*kv_tokens`,
//!   mean-field over a batch of `n` identical requests.
//! - [`PerfParams::V3`] (`wva-v3`, June 2026): V2's iteration cost with chunked prefill under a
//!   per-iteration token budget, and without counting a request's own work twice.
//!
//! The simulator reads every model through one seam, [`CostModel`] ([`cost`]): the linear
//! models above, or measured layer tables composed as the engine runs them ([`tables`]), with
//! the communication of tensor, expert and data parallelism ([`comm`]) sized from the model's
//! shape ([`arch`]). The analytic queue takes a line; a tables model gives it one fitted over
//! the workload's operating region ([`surrogate`]). [`memory`] sizes the KV cache as vLLM does.
//!
//! This module is pure arithmetic: no I/O, no validation of user input (that happens in
//! [`crate::spec`]).

pub mod arch;
pub mod comm;
pub mod cost;
mod gen1;
mod gen2;
mod gen3;
pub mod memory;
pub mod surrogate;
pub mod tables;

pub use arch::{Architecture, MoeShape};
pub use comm::Interconnect;
pub use cost::{BatchShape, CostModel};
pub use tables::{Parallelism, TableData, TablesModel};

use serde::{Deserialize, Serialize};
use std::fmt;

/// vLLM's KV-cache block size, tokens (the engine's and the memory model's).
pub const DEFAULT_BLOCK_SIZE: u32 = 16;

/// vLLM's default `max_num_batched_tokens` assumed by upstream's gen-3 model.
pub const DEFAULT_MAX_NUM_BATCHED_TOKENS: u32 = 8192;

/// Which published analytic model a parameter set belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PerfModelKind {
    /// Generation 1 (four parameters: decode alpha/beta, prefill gamma/delta).
    #[serde(rename = "wva-v1")]
    V1,
    /// Generation 2 (alpha, beta, gamma per-iteration cost, mean-field).
    #[serde(rename = "wva-v2")]
    V2,
    /// Generation 3 (gen 2 with chunked prefill and a token budget).
    #[serde(rename = "wva-v3")]
    V3,
}

impl PerfModelKind {
    /// All kinds, in the order they were published.
    pub const ALL: [PerfModelKind; 3] = [PerfModelKind::V1, PerfModelKind::V2, PerfModelKind::V3];

    /// The name used in files and on the command line (`wva-v2`).
    pub fn name(self) -> &'static str {
        match self {
            PerfModelKind::V1 => "wva-v1",
            PerfModelKind::V2 => "wva-v2",
            PerfModelKind::V3 => "wva-v3",
        }
    }

    /// Parses `wva-v1`, `wva-v2` or `wva-v3` (also accepts `v1`, `gen1`, ...).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "wva-v1" | "v1" | "gen1" => Some(PerfModelKind::V1),
            "wva-v2" | "v2" | "gen2" => Some(PerfModelKind::V2),
            "wva-v3" | "v3" | "gen3" => Some(PerfModelKind::V3),
            _ => None,
        }
    }

    /// Names of the parameters this model takes, as written in files.
    pub fn parameter_names(self) -> &'static [&'static str] {
        match self {
            PerfModelKind::V1 => &["alpha", "beta", "gamma", "delta"],
            PerfModelKind::V2 => &["alpha", "beta", "gamma"],
            PerfModelKind::V3 => &["alpha", "beta", "gamma", "max_num_batched_tokens"],
        }
    }
}

impl fmt::Display for PerfModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Generation-1 parameters (all in milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gen1Params {
    /// Decode: ITL at an empty batch, ms.
    pub alpha_ms: f64,
    /// Decode: ITL increase per request in the batch, ms.
    pub beta_ms_per_request: f64,
    /// Prefill: fixed time, ms.
    pub gamma_ms: f64,
    /// Prefill: time per prompt token per request in the batch, ms.
    pub delta_ms_per_token_request: f64,
}

/// Generation-2 parameters: `T_iter = alpha + beta*tokens + gamma*kv_tokens`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gen2Params {
    /// Fixed overhead per iteration, ms.
    pub alpha_ms: f64,
    /// Compute cost per token processed in the iteration, ms.
    pub beta_ms_per_token: f64,
    /// Memory cost per KV-cache token read in the iteration, ms.
    pub gamma_ms_per_kv_token: f64,
}

/// Generation-3 parameters: gen-2 iteration cost plus the engine's token budget.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gen3Params {
    /// The per-iteration cost coefficients (same meaning as gen 2).
    pub iteration: Gen2Params,
    /// vLLM's `max_num_batched_tokens`: the per-iteration token budget for chunked prefill.
    pub max_num_batched_tokens: u32,
}

/// The published models' parameters by the names files and flags give them: what a reader has
/// before it knows which model they belong to. Names a model does not have are ignored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NamedParams {
    /// `alpha`, ms (gen 1: decode intercept; gen 2-3: iteration intercept).
    pub alpha: f64,
    /// `beta` (gen 1: ms per running request; gen 2-3: ms per batched token).
    pub beta: f64,
    /// `gamma` (gen 1: prefill intercept, ms; gen 2-3: ms per KV token read).
    pub gamma: f64,
    /// `delta`, gen 1 only: prefill ms per prompt token and request.
    pub delta: f64,
    /// `max_num_batched_tokens`, gen 3 only: the token budget of an iteration.
    pub max_num_batched_tokens: u32,
}

impl NamedParams {
    /// `alpha`, `beta`, `gamma`; no `delta`; vLLM's default token budget.
    pub fn new(alpha: f64, beta: f64, gamma: f64) -> Self {
        NamedParams {
            alpha,
            beta,
            gamma,
            delta: 0.0,
            max_num_batched_tokens: DEFAULT_MAX_NUM_BATCHED_TOKENS,
        }
    }
}

/// A performance parameter set of one of the published models.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum PerfParams {
    /// Generation 1.
    V1(Gen1Params),
    /// Generation 2.
    V2(Gen2Params),
    /// Generation 3.
    V3(Gen3Params),
}

impl PerfParams {
    /// The parameters of model `kind` from their names (the one place a name becomes a field).
    pub fn from_named(kind: PerfModelKind, p: NamedParams) -> PerfParams {
        let iteration = Gen2Params {
            alpha_ms: p.alpha,
            beta_ms_per_token: p.beta,
            gamma_ms_per_kv_token: p.gamma,
        };
        match kind {
            PerfModelKind::V1 => PerfParams::V1(Gen1Params {
                alpha_ms: p.alpha,
                beta_ms_per_request: p.beta,
                gamma_ms: p.gamma,
                delta_ms_per_token_request: p.delta,
            }),
            PerfModelKind::V2 => PerfParams::V2(iteration),
            PerfModelKind::V3 => PerfParams::V3(Gen3Params {
                iteration,
                max_num_batched_tokens: p.max_num_batched_tokens,
            }),
        }
    }

    /// Which model these parameters belong to.
    pub fn kind(&self) -> PerfModelKind {
        match self {
            PerfParams::V1(_) => PerfModelKind::V1,
            PerfParams::V2(_) => PerfModelKind::V2,
            PerfParams::V3(_) => PerfModelKind::V3,
        }
    }

    /// The parameters as `(name, value)` pairs, in the order of
    /// [`PerfModelKind::parameter_names`].
    pub fn named_values(&self) -> Vec<(&'static str, f64)> {
        match self {
            PerfParams::V1(p) => vec![
                ("alpha", p.alpha_ms),
                ("beta", p.beta_ms_per_request),
                ("gamma", p.gamma_ms),
                ("delta", p.delta_ms_per_token_request),
            ],
            PerfParams::V2(p) => vec![
                ("alpha", p.alpha_ms),
                ("beta", p.beta_ms_per_token),
                ("gamma", p.gamma_ms_per_kv_token),
            ],
            PerfParams::V3(p) => vec![
                ("alpha", p.iteration.alpha_ms),
                ("beta", p.iteration.beta_ms_per_token),
                ("gamma", p.iteration.gamma_ms_per_kv_token),
                (
                    "max_num_batched_tokens",
                    f64::from(p.max_num_batched_tokens),
                ),
            ],
        }
    }

    /// Time of one engine iteration, ms, for the given work.
    ///
    /// For gen 2 and gen 3 this is the linear model itself. Gen 1 has no per-iteration form
    /// upstream: its lines describe a static batch of `n` requests, prefilled together in
    /// `gamma + delta*in*n` (so `gamma` per prefill step and `delta` per prompt token) and then
    /// decoded in steps of `alpha + beta*n`. `wva` maps an iteration to
    /// `alpha + beta*running` plus, when it prefills, `gamma + delta*prefill_tokens`, which gives
    /// back both lines for the static batch.
    pub fn iteration_ms(&self, work: &IterationWork) -> f64 {
        match self {
            PerfParams::V1(p) => {
                let running = f64::from(work.running_requests);
                let mut t = p.alpha_ms + p.beta_ms_per_request * running;
                if work.prefill_tokens > 0 {
                    t += p.gamma_ms + p.delta_ms_per_token_request * work.prefill_tokens as f64;
                }
                t
            }
            PerfParams::V2(p) => p.iteration_ms(work),
            PerfParams::V3(p) => p.iteration.iteration_ms(work),
        }
    }
}

impl Gen2Params {
    fn iteration_ms(&self, work: &IterationWork) -> f64 {
        let tokens = (work.prefill_tokens + u64::from(work.decode_tokens)) as f64;
        self.alpha_ms
            + self.beta_ms_per_token * tokens
            + self.gamma_ms_per_kv_token * work.kv_tokens_read as f64
    }
}

/// What one engine iteration does: the input of the per-iteration cost model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IterationWork {
    /// Prompt tokens prefilled in this iteration (all chunks together).
    pub prefill_tokens: u64,
    /// Decode tokens produced (one per decoding request).
    pub decode_tokens: u32,
    /// KV-cache tokens read by attention in this iteration.
    pub kv_tokens_read: u64,
    /// Requests in the running batch.
    pub running_requests: u32,
}

/// The mean request a service curve is built for.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestShape {
    /// Mean prompt (input) tokens per request.
    pub prompt_tokens: f64,
    /// Mean output (generated) tokens per request, at least 1.
    pub output_tokens: f64,
}

/// Mean-field latencies of a request, given the queue's solution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latencies {
    /// Mean time to first token, ms (queueing wait included).
    pub ttft_ms: f64,
    /// Mean inter-token latency, ms.
    pub itl_ms: f64,
    /// Mean prefill time, ms.
    pub prefill_ms: f64,
}

/// The state-dependent service rates of one replica for one request shape, and the map from
/// the queue's solution to request latencies.
///
/// Built once per (parameters, request shape, max batch); evaluating the queue at many arrival
/// rates (as sizing does) reuses it.
#[derive(Clone, Debug)]
pub struct ServiceCurve {
    params: PerfParams,
    shape: RequestShape,
    /// `service_rate_per_ms[n-1]` = requests completed per ms with `n` requests in the batch.
    service_rate_per_ms: Vec<f64>,
    /// Gen 3: prefill chunks at batch `B` (`chunks[B]`, `B` in `1..=max_batch`).
    chunks: Vec<u32>,
}

impl ServiceCurve {
    /// Builds the curve for batch sizes `1..=max_batch`.
    ///
    /// # Panics
    /// Never on validated inputs; `max_batch` must be at least 1 and the shape's output tokens
    /// at least 1 (the spec layer guarantees both). A zero `max_batch` is treated as 1.
    pub fn new(params: PerfParams, shape: RequestShape, max_batch: u32) -> Self {
        let max_batch = max_batch.max(1);
        let (service_rate_per_ms, chunks) = match &params {
            PerfParams::V1(p) => (gen1::service_rates(p, &shape, max_batch), Vec::new()),
            PerfParams::V2(p) => (gen2::service_rates(p, &shape, max_batch), Vec::new()),
            PerfParams::V3(p) => {
                let chunks = gen3::chunk_table(p.max_num_batched_tokens, &shape, max_batch);
                (gen3::service_rates(&p.iteration, &shape, &chunks), chunks)
            }
        };
        ServiceCurve {
            params,
            shape,
            service_rate_per_ms,
            chunks,
        }
    }

    /// The parameters the curve was built from.
    pub fn params(&self) -> &PerfParams {
        &self.params
    }

    /// The request shape the curve was built for.
    pub fn shape(&self) -> &RequestShape {
        &self.shape
    }

    /// The largest batch size of the curve.
    pub fn max_batch(&self) -> u32 {
        self.service_rate_per_ms.len() as u32
    }

    /// Service rates `mu(n)`, requests per ms, for `n = 1..=max_batch`.
    pub fn service_rates_per_ms(&self) -> &[f64] {
        &self.service_rate_per_ms
    }

    /// Mean latencies given the queue's mean wait, mean number in service and mean service time,
    /// for a replica whose max batch is `max_batch` (at most the curve's).
    pub fn latencies(
        &self,
        max_batch: u32,
        wait_ms: f64,
        mean_in_service: f64,
        mean_service_ms: f64,
    ) -> Latencies {
        let max_batch = max_batch.clamp(1, self.max_batch());
        match &self.params {
            PerfParams::V1(p) => {
                gen1::latencies(p, &self.shape, max_batch, wait_ms, mean_service_ms)
            }
            PerfParams::V2(p) => {
                gen2::latencies(p, &self.shape, wait_ms, mean_in_service, mean_service_ms)
            }
            PerfParams::V3(p) => gen3::latencies(
                &p.iteration,
                &self.shape,
                &self.chunks[..=max_batch as usize],
                wait_ms,
                mean_in_service,
                mean_service_ms,
            ),
        }
    }

    /// Whether the mean latencies can step as the load changes, up to max batch `max_batch`:
    /// gen 3 reads its prefill chunk count off the table at the rounded mean batch, so where that
    /// count changes within `1..=max_batch` TTFT and ITL jump, and a lighter load can miss a
    /// target that a heavier one meets. Gen 1 and 2 (and gen 3 with one chunk count) are smooth.
    pub fn latencies_step_with_load(&self, max_batch: u32) -> bool {
        let max_batch = max_batch.clamp(1, self.max_batch()) as usize;
        self.chunks
            .get(1..=max_batch)
            .is_some_and(|c| c.windows(2).any(|w| w[0] != w[1]))
    }

    /// Closed-form ITL at batch size `batch` with no queueing (used by the max-batch search).
    pub fn itl_at_batch_ms(&self, batch: u32) -> f64 {
        let b = batch.clamp(1, self.max_batch());
        match &self.params {
            PerfParams::V1(p) => gen1::itl_ms(p, f64::from(b)),
            PerfParams::V2(p) => gen2::decode_ms(p, &self.shape, f64::from(b)),
            PerfParams::V3(p) => gen3::itl_ms(
                &p.iteration,
                &self.shape,
                f64::from(b),
                self.chunks[b as usize],
            ),
        }
    }

    /// Closed-form prefill time at batch size `batch` with no queueing.
    pub fn prefill_at_batch_ms(&self, batch: u32) -> f64 {
        let b = batch.clamp(1, self.max_batch());
        match &self.params {
            PerfParams::V1(p) => gen1::prefill_ms(p, &self.shape, f64::from(b)),
            PerfParams::V2(p) => gen2::prefill_ms(p, &self.shape, f64::from(b)),
            PerfParams::V3(p) => gen3::prefill_ms(
                &p.iteration,
                &self.shape,
                f64::from(b),
                self.chunks[b as usize],
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for kind in PerfModelKind::ALL {
            assert_eq!(PerfModelKind::parse(kind.name()), Some(kind));
        }
        assert_eq!(PerfModelKind::parse("wva-v9"), None);
    }

    #[test]
    fn gen2_iteration_cost_is_linear() {
        let p = PerfParams::V2(Gen2Params {
            alpha_ms: 10.0,
            beta_ms_per_token: 0.1,
            gamma_ms_per_kv_token: 0.001,
        });
        let work = IterationWork {
            prefill_tokens: 100,
            decode_tokens: 20,
            kv_tokens_read: 5000,
            running_requests: 21,
        };
        assert!((p.iteration_ms(&work) - (10.0 + 12.0 + 5.0)).abs() < 1e-12);
    }

    #[test]
    fn service_rates_increase_with_batch_for_every_model() {
        let shape = RequestShape {
            prompt_tokens: 512.0,
            output_tokens: 128.0,
        };
        let iteration = Gen2Params {
            alpha_ms: 8.0,
            beta_ms_per_token: 0.03,
            gamma_ms_per_kv_token: 0.0002,
        };
        let all = [
            PerfParams::V1(Gen1Params {
                alpha_ms: 7.47,
                beta_ms_per_request: 0.044,
                gamma_ms: 15.4,
                delta_ms_per_token_request: 0.000337,
            }),
            PerfParams::V2(iteration),
            PerfParams::V3(Gen3Params {
                iteration,
                max_num_batched_tokens: 2048,
            }),
        ];
        for params in all {
            let curve = ServiceCurve::new(params, shape, 64);
            let rates = curve.service_rates_per_ms();
            assert_eq!(rates.len(), 64);
            assert!(rates.windows(2).all(|w| w[1] > w[0]), "{params:?}");
            assert!(curve.itl_at_batch_ms(64) > curve.itl_at_batch_ms(1));
        }
    }
}
