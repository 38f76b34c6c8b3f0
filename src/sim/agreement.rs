//! How far the analytic model is from the simulator: one replica of a profile, requests of a
//! fixed shape arriving as a Poisson stream at a chosen share of the analytic maximum rate,
//! simulated and solved side by side. This is the check behind `docs/validation.md` and the
//! agreement tests; it uses the same engine settings as `wva simulate` (the profile's max batch
//! and token budget) but an unlimited KV cache, because the analytic model has none.

use super::engine::EngineConfig;
use super::metrics::Summary;
use super::setup::{EngineOverrides, engine_config};
use super::{GroupConfig, Router, SimConfig, SimError, run};
use crate::load::{Generator, Horizon, Traffic};
use crate::perf::RequestShape;
use crate::queueing::{InvalidModel, Metrics, ReplicaModel, Targets};
use crate::spec::{ArrivalProcess, LengthDist, Profile};
use rayon::prelude::*;
use serde::Serialize;

/// One load point of a comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgreementPoint {
    /// Offered load over the analytic maximum rate.
    pub load_fraction: f64,
    /// Arrival rate, requests/s.
    pub rate_rps: f64,
    /// The analytic model's solution at that rate.
    #[serde(skip)]
    pub analytic: Metrics,
    /// Simulated TTFT, ms.
    pub sim_ttft_ms: Summary,
    /// Simulated inter-token gaps, ms.
    pub sim_itl_ms: Summary,
    /// Simulated mean running batch.
    pub sim_mean_batch: f64,
    /// Simulated throughput, requests/s.
    pub sim_throughput_rps: f64,
}

impl AgreementPoint {
    /// The analytic TTFT as upstream defines it: wait + prefill + one ITL.
    pub fn analytic_ttft_ms(&self) -> f64 {
        self.analytic.ttft_ms
    }

    /// The analytic time to the end of the prefill (wait + prefill): when vLLM, and the
    /// simulator, emit the first token.
    pub fn analytic_prefill_end_ms(&self) -> f64 {
        self.analytic.wait_ms + self.analytic.prefill_ms
    }

    /// Relative difference of the simulated mean TTFT from upstream's analytic TTFT.
    pub fn ttft_error(&self) -> f64 {
        self.sim_ttft_ms.mean / self.analytic_ttft_ms() - 1.0
    }

    /// Relative difference of the simulated mean TTFT from the analytic time to the end of the
    /// prefill (the like-for-like comparison).
    pub fn ttft_prefill_end_error(&self) -> f64 {
        self.sim_ttft_ms.mean / self.analytic_prefill_end_ms() - 1.0
    }

    /// Relative difference of the simulated mean ITL from the analytic ITL.
    pub fn itl_error(&self) -> f64 {
        self.sim_itl_ms.mean / self.analytic.itl_ms - 1.0
    }
}

/// Why a comparison could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgreementError {
    /// The analytic model cannot be built.
    #[error(transparent)]
    Model(#[from] InvalidModel),
    /// The simulator refused the configuration.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// A load outside (0, 1).
    #[error("load fraction must be in (0, 1), got {0}")]
    Load(f64),
}

/// The golden vector of `domain.md` as a profile: gen-2 parameters (alpha 12 ms, beta 0.05 ms
/// per token, gamma 0.0005 ms per KV token), max batch 48, queue 128, no KV limit.
pub fn golden_profile() -> Profile {
    Profile {
        model: "golden vector (domain.md)".into(),
        accelerator: "any".into(),
        gpus_per_replica: 1,
        max_batch: 48,
        max_queue: Some(128),
        max_batch_at_output_tokens: None,
        perf: crate::perf::PerfParams::V2(crate::perf::Gen2Params {
            alpha_ms: 12.0,
            beta_ms_per_token: 0.05,
            gamma_ms_per_kv_token: 0.0005,
        }),
        kv_capacity_tokens: None,
        kv_auto: None,
        architecture: None,
        cost: crate::perf::CostModel::Linear(crate::perf::PerfParams::V2(
            crate::perf::Gen2Params {
                alpha_ms: 12.0,
                beta_ms_per_token: 0.05,
                gamma_ms_per_kv_token: 0.0005,
            },
        )),
        source: "domain.md golden vector".into(),
        provenance: None,
    }
}

/// The analytic model of one replica of `profile` serving `shape` at its max batch for the
/// shape (the model [`compare`] judges).
pub fn analytic_model(
    profile: &Profile,
    shape: RequestShape,
) -> Result<ReplicaModel, InvalidModel> {
    let max_batch = profile.max_batch_for(shape.output_tokens);
    ReplicaModel::new(profile.perf, shape, max_batch, profile.queue_for(max_batch))
}

/// Compares the analytic model and the simulator for `profile` (at its max batch for the
/// shape) at each of `load_fractions` of the analytic maximum rate, with `requests` requests
/// per point (10% warm-up). Points run in parallel; results are in the order given and do not
/// depend on the thread count.
pub fn compare(
    profile: &Profile,
    shape: RequestShape,
    load_fractions: &[f64],
    requests: u64,
    seed: u64,
) -> Result<Vec<AgreementPoint>, AgreementError> {
    if let Some(&bad) = load_fractions.iter().find(|f| !(**f > 0.0 && **f < 1.0)) {
        return Err(AgreementError::Load(bad));
    }
    let model = analytic_model(profile, shape)?;
    let max_batch = model.max_batch();
    let engine = EngineConfig {
        kv_capacity_tokens: None,
        ..engine_config(profile, max_batch, &EngineOverrides::default())
    };
    let (_, max_rate_rps) = model.rate_range_rps();
    load_fractions
        .par_iter()
        .map(|&fraction| {
            let rate_rps = fraction * max_rate_rps;
            let analytic = model
                .analyze(rate_rps)
                .ok_or_else(|| InvalidModel(format!("no solution at {rate_rps} req/s")))?;
            let config = SimConfig {
                groups: vec![GroupConfig {
                    name: profile.model.clone(),
                    engines: vec![engine.clone()],
                    router: Router::RoundRobin,
                    targets: Targets::default(),
                }],
                seed,
                timeline_bucket_ms: None,
                record_requests: false,
            };
            let traffic = Traffic {
                rate_rps,
                arrivals: ArrivalProcess::Poisson,
                prompt: LengthDist::Fixed {
                    mean: shape.prompt_tokens,
                },
                output: LengthDist::Fixed {
                    mean: shape.output_tokens,
                },
            };
            let generator = Generator::new(&[traffic], Horizon::Requests(requests), 0.1, seed);
            let result = run(&config, generator, &mut |_| {})?;
            let g = &result.groups[0];
            Ok(AgreementPoint {
                load_fraction: fraction,
                rate_rps,
                analytic,
                sim_ttft_ms: g.ttft_ms,
                sim_itl_ms: g.itl_ms,
                sim_mean_batch: g.mean_batch,
                sim_throughput_rps: g.throughput_rps,
            })
        })
        .collect()
}

impl crate::error::ModuleError for AgreementError {}
