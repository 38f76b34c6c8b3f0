//! One replica's analytic model: service curve + birth-death chain, evaluated at a rate.

use super::RATE_RANGE_EPSILON;
use super::chain;
use super::waiting::{QueueModel, Variability, allen_cunneen_wait_ms, mg1_wait_ms};
use crate::perf::{PerfParams, RequestShape, ServiceCurve};
use serde::Serialize;
use std::sync::Arc;

/// Predicted steady-state metrics of one replica at one arrival rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// Arrival rate offered to the replica, requests/s.
    pub offered_rps: f64,
    /// Accepted throughput, requests/s (below `offered_rps` only when the queue overflows).
    pub throughput_rps: f64,
    /// Mean time to first token, ms.
    pub ttft_ms: f64,
    /// Mean inter-token latency, ms.
    pub itl_ms: f64,
    /// Mean queueing wait before service, ms.
    pub wait_ms: f64,
    /// Mean prefill time, ms.
    pub prefill_ms: f64,
    /// Mean end-to-end response time, ms.
    pub response_ms: f64,
    /// Mean number of requests in the running batch.
    pub mean_batch: f64,
    /// Mean number of requests in the replica (running + waiting).
    pub mean_in_system: f64,
    /// Mean batch over max batch, in `[0, 1]`.
    pub utilization: f64,
    /// Probability an arrival finds the replica full and is rejected.
    pub blocking_probability: f64,
    /// Highest sustainable rate, `(1-0.001)*mu(N)`, requests/s.
    pub max_rate_rps: f64,
}

impl Metrics {
    /// Whether every metric is a finite number.
    pub fn is_finite(&self) -> bool {
        [
            self.offered_rps,
            self.throughput_rps,
            self.ttft_ms,
            self.itl_ms,
            self.wait_ms,
            self.prefill_ms,
            self.response_ms,
            self.mean_batch,
            self.mean_in_system,
            self.utilization,
            self.blocking_probability,
            self.max_rate_rps,
        ]
        .iter()
        .all(|v| v.is_finite())
    }
}

/// Parameters that cannot form a queueing model.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidModel(pub String);

/// The analytic model of one replica for one request shape.
///
/// The service curve is shared (`Arc`): [`ReplicaModel::with_limits`] gives the model of the same
/// replica with a smaller max batch without rebuilding it, which the max-batch searches use.
#[derive(Clone, Debug)]
pub struct ReplicaModel {
    curve: Arc<ServiceCurve>,
    max_batch: u32,
    max_queue: u32,
    queue_model: QueueModel,
    variability: Variability,
}

impl ReplicaModel {
    /// Builds the model: `max_batch` is the engine's `max_num_seqs`, `max_queue` the number of
    /// requests that may wait beyond it.
    ///
    /// Fails when the parameters give a service rate that is not positive and finite at some
    /// batch size (e.g. all-zero coefficients), so that every later evaluation is defined.
    pub fn new(
        params: PerfParams,
        shape: RequestShape,
        max_batch: u32,
        max_queue: u32,
    ) -> Result<Self, InvalidModel> {
        if !(shape.output_tokens >= 1.0
            && shape.prompt_tokens >= 0.0
            && shape.prompt_tokens.is_finite()
            && shape.output_tokens.is_finite())
        {
            return Err(InvalidModel(format!(
                "request shape must have prompt >= 0 and output >= 1 tokens, got {} and {}",
                shape.prompt_tokens, shape.output_tokens
            )));
        }
        let curve = ServiceCurve::new(params, shape, max_batch);
        if let Some((i, rate)) = curve
            .service_rates_per_ms()
            .iter()
            .enumerate()
            .find(|(_, r)| !(r.is_finite() && **r > 0.0))
        {
            return Err(InvalidModel(format!(
                "{} parameters give service rate {rate} at batch {} (must be positive and finite)",
                params.kind(),
                i + 1
            )));
        }
        Ok(ReplicaModel {
            max_batch: curve.max_batch(),
            curve: Arc::new(curve),
            max_queue,
            queue_model: QueueModel::Mm1k,
            variability: Variability::default(),
        })
    }

    /// The same replica with max batch `max_batch` (clamped to `1..=` the curve's) and queue
    /// allowance `max_queue`.
    pub fn with_limits(&self, max_batch: u32, max_queue: u32) -> Self {
        ReplicaModel {
            curve: Arc::clone(&self.curve),
            max_batch: max_batch.clamp(1, self.curve.max_batch()),
            max_queue,
            queue_model: self.queue_model,
            variability: self.variability,
        }
    }

    /// The same replica whose queueing wait comes from `queue_model` with `variability`
    /// ([`super::waiting`]).
    pub fn with_queue_model(mut self, queue_model: QueueModel, variability: Variability) -> Self {
        self.queue_model = queue_model;
        self.variability = variability;
        self
    }

    /// The queue model giving the wait.
    pub fn queue_model(&self) -> QueueModel {
        self.queue_model
    }

    /// The service curve the model is built on (it may extend beyond this model's max batch).
    pub fn curve(&self) -> &ServiceCurve {
        &self.curve
    }

    /// Service rates `mu(n)` for `n = 1..=max_batch`, requests per ms.
    pub fn service_rates_per_ms(&self) -> &[f64] {
        &self.curve.service_rates_per_ms()[..self.max_batch as usize]
    }

    /// Max batch size.
    pub fn max_batch(&self) -> u32 {
        self.max_batch
    }

    /// Queue allowance beyond the max batch.
    pub fn max_queue(&self) -> u32 {
        self.max_queue
    }

    /// The valid range of arrival rates for sizing, requests/s:
    /// `[0.001*mu(1), 0.999*mu(N)]`.
    pub fn rate_range_rps(&self) -> (f64, f64) {
        let rates = self.service_rates_per_ms();
        (
            rates[0] * RATE_RANGE_EPSILON * 1000.0,
            rates[rates.len() - 1] * (1.0 - RATE_RANGE_EPSILON) * 1000.0,
        )
    }

    /// Metrics at `rate_rps` requests/s. Rates above the maximum are allowed (the finite queue
    /// then rejects the excess; see `blocking_probability`). Returns `None` for a rate that is
    /// not positive and finite.
    ///
    /// `None` also when an answer would not be finite (parameters so extreme that a latency
    /// overflows): never a NaN metric.
    pub fn analyze(&self, rate_rps: f64) -> Option<Metrics> {
        if !(rate_rps > 0.0 && rate_rps.is_finite()) {
            return None;
        }
        let sol = chain::solve(
            self.service_rates_per_ms(),
            self.max_queue,
            rate_rps / 1000.0,
        )?;
        Some(self.metrics_of(&sol, self.max_batch)).filter(Metrics::is_finite)
    }

    /// The `q`-quantile of TTFT at `rate_rps`, ms (vLLM's definition), by the tail
    /// approximation of [`super::tail`].
    pub fn ttft_quantile_ms(&self, rate_rps: f64, q: f64) -> Option<f64> {
        super::tail::ttft_quantile_ms(self, rate_rps, q)
    }

    /// The mean TTFT at `rate_rps`, ms, by the tail approximation of [`super::tail`] (vLLM's
    /// definition: the end of the prefill iteration; [`Self::analyze`] gives upstream's).
    pub fn ttft_mean_engine_ms(&self, rate_rps: f64) -> Option<f64> {
        super::tail::ttft_mean_ms(self, rate_rps)
    }

    /// The `q`-quantile of the inter-token latency at `rate_rps`, ms ([`super::tail`]).
    pub fn itl_quantile_ms(&self, rate_rps: f64, q: f64) -> Option<f64> {
        super::tail::itl_quantile_ms(self, rate_rps, q)
    }

    /// Metrics of a chain solution for this replica with max batch `max_batch`.
    pub(super) fn metrics_of(&self, sol: &chain::ChainSolution, max_batch: u32) -> Metrics {
        let mu_full = self.curve.service_rates_per_ms()[max_batch as usize - 1];
        let wait_ms = match self.queue_model {
            QueueModel::Mm1k => sol.wait_ms,
            QueueModel::Mg1 => mg1_wait_ms(sol.arrival_per_ms, mu_full, self.variability),
            QueueModel::AllenCunneen => allen_cunneen_wait_ms(
                sol.arrival_per_ms,
                max_batch,
                mu_full / f64::from(max_batch),
                self.variability,
            ),
        };
        let lat = self
            .curve
            .latencies(max_batch, wait_ms, sol.mean_in_service, sol.service_ms);
        let rates = self.curve.service_rates_per_ms();
        let rate_rps = sol.arrival_per_ms * 1000.0;
        Metrics {
            offered_rps: rate_rps,
            throughput_rps: sol.throughput_per_ms * 1000.0,
            ttft_ms: lat.ttft_ms,
            itl_ms: lat.itl_ms,
            wait_ms,
            prefill_ms: lat.prefill_ms,
            response_ms: wait_ms + sol.service_ms,
            mean_batch: sol.mean_in_service,
            mean_in_system: sol.mean_in_system,
            utilization: (sol.mean_in_service / f64::from(max_batch)).clamp(0.0, 1.0),
            blocking_probability: sol.blocking_probability,
            max_rate_rps: rates[max_batch as usize - 1] * (1.0 - RATE_RANGE_EPSILON) * 1000.0,
        }
    }
}

impl crate::error::ModuleError for InvalidModel {}
