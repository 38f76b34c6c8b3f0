//! Generation-2 analytic model (upstream, 2026): the mean-field form of the per-iteration cost
//! `alpha + beta*tokens + gamma*kv_tokens` for `n` identical requests in the batch.
//!
//! `T(n) = alpha + n*(beta*(in+out)/(out+1) + gamma*(in+out/2))`,
//! `prefill(n) = T(n) + (beta+gamma)*in` (0 without a prompt),
//! `decode(n) = T(n) + beta + gamma*(in+out/2)`, `S(n) = prefill(n) + out*decode(n)`.

use super::{Gen2Params, Latencies, RequestShape};

fn iteration_ms(p: &Gen2Params, shape: &RequestShape, batch: f64) -> f64 {
    let (input, output) = (shape.prompt_tokens, shape.output_tokens);
    p.alpha_ms
        + batch
            * (p.beta_ms_per_token * (input + output) / (output + 1.0)
                + p.gamma_ms_per_kv_token * (input + output / 2.0))
}

pub(super) fn prefill_ms(p: &Gen2Params, shape: &RequestShape, batch: f64) -> f64 {
    if shape.prompt_tokens == 0.0 {
        return 0.0;
    }
    iteration_ms(p, shape, batch)
        + (p.beta_ms_per_token + p.gamma_ms_per_kv_token) * shape.prompt_tokens
}

pub(super) fn decode_ms(p: &Gen2Params, shape: &RequestShape, batch: f64) -> f64 {
    iteration_ms(p, shape, batch)
        + p.beta_ms_per_token
        + p.gamma_ms_per_kv_token * (shape.prompt_tokens + shape.output_tokens / 2.0)
}

pub(super) fn service_rates(p: &Gen2Params, shape: &RequestShape, max_batch: u32) -> Vec<f64> {
    (1..=max_batch)
        .map(|n| {
            let n = f64::from(n);
            n / (prefill_ms(p, shape, n) + shape.output_tokens * decode_ms(p, shape, n))
        })
        .collect()
}

/// Upstream's gen-2 outputs: prefill at the mean batch in service, ITL from the rest of the
/// mean service time, TTFT = wait + prefill + one ITL.
pub(super) fn latencies(
    p: &Gen2Params,
    shape: &RequestShape,
    wait_ms: f64,
    mean_in_service: f64,
    mean_service_ms: f64,
) -> Latencies {
    let prefill = prefill_ms(p, shape, mean_in_service);
    let itl = (mean_service_ms - prefill) / shape.output_tokens;
    Latencies {
        ttft_ms: wait_ms + prefill + itl,
        itl_ms: itl,
        prefill_ms: prefill,
    }
}
