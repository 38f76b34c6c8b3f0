//! Generation-1 analytic model (upstream, Oct 2025): separate decode and prefill lines.
//!
//! `ITL(n) = alpha + beta*n`, `prefill(n) = gamma + delta*in*n`,
//! `S(n) = prefill(n) + (out-1)*ITL(n)`, `mu(n) = n/S(n)`.

use super::{Gen1Params, Latencies, RequestShape};

pub(super) fn itl_ms(p: &Gen1Params, batch: f64) -> f64 {
    p.alpha_ms + p.beta_ms_per_request * batch
}

pub(super) fn prefill_ms(p: &Gen1Params, shape: &RequestShape, batch: f64) -> f64 {
    p.gamma_ms + p.delta_ms_per_token_request * shape.prompt_tokens * batch
}

fn service_ms(p: &Gen1Params, shape: &RequestShape, batch: f64) -> f64 {
    prefill_ms(p, shape, batch) + (shape.output_tokens - 1.0) * itl_ms(p, batch)
}

pub(super) fn service_rates(p: &Gen1Params, shape: &RequestShape, max_batch: u32) -> Vec<f64> {
    (1..=max_batch)
        .map(|n| {
            let n = f64::from(n);
            n / service_ms(p, shape, n)
        })
        .collect()
}

/// Upstream's gen-1 outputs: the effective batch `n_eff` is the batch size whose service time
/// equals the queue's mean service time; TTFT and ITL are read off the lines at `n_eff`.
pub(super) fn latencies(
    p: &Gen1Params,
    shape: &RequestShape,
    max_batch: u32,
    wait_ms: f64,
    mean_service_ms: f64,
) -> Latencies {
    let decode_steps = shape.output_tokens - 1.0;
    let slope =
        p.delta_ms_per_token_request * shape.prompt_tokens + p.beta_ms_per_request * decode_steps;
    let n_eff = if slope > 0.0 {
        ((mean_service_ms - p.gamma_ms - p.alpha_ms * decode_steps) / slope)
            .clamp(0.0, f64::from(max_batch))
    } else {
        0.0
    };
    let prefill = prefill_ms(p, shape, n_eff);
    Latencies {
        ttft_ms: wait_ms + prefill,
        itl_ms: itl_ms(p, n_eff),
        prefill_ms: prefill,
    }
}
