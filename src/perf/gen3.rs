//! Generation-3 analytic model (upstream, June 2026): chunked prefill under a per-iteration
//! token budget `M` (vLLM's `max_num_batched_tokens`), without double-counting a request's own
//! work.
//!
//! With `c = c(B)` prefill chunks at batch `B`:
//! `w_pre = (beta + gamma*(c+1)/2)*in`, `w_dec = beta*out + gamma*out*(in+(out+1)/2)`,
//! `d = (w_pre+w_dec)/(c+out)`, `tau(B) = (c+out)*(alpha+B*d)`, `mu(B) = B/tau(B)`,
//! `prefill = c*max(alpha+(B-1)*d, 0) + w_pre`, `ITL = max(alpha+(B-1)*d, 0) + beta + gamma*(in+(out+1)/2)`.

use super::{Gen2Params, Latencies, RequestShape};

/// `chunks[B]` = the smallest number of prefill iterations `m` such that a batch of `B` fits:
/// `floor((m+out)*(M - in/m)/(in+out)) >= B`. Index 0 is unused (set to 1).
pub(super) fn chunk_table(
    max_num_batched_tokens: u32,
    shape: &RequestShape,
    max_batch: u32,
) -> Vec<u32> {
    let budget = f64::from(max_num_batched_tokens.max(1));
    let (input, output) = (shape.prompt_tokens, shape.output_tokens);
    let capacity = |m: u32| -> u32 {
        let m = f64::from(m);
        let b = ((m + output) * (budget - input / m) / (input + output)).max(0.0);
        b.floor().min(f64::from(u32::MAX)) as u32
    };
    let mut table = vec![1u32; max_batch as usize + 1];
    let mut m = 1u32;
    let mut fits = capacity(m);
    for (b, slot) in table.iter_mut().enumerate().skip(1) {
        while fits < b as u32 {
            m += 1;
            fits = capacity(m);
        }
        *slot = m;
    }
    table
}

fn prefill_work_ms(p: &Gen2Params, shape: &RequestShape, chunks: u32) -> f64 {
    (p.beta_ms_per_token + p.gamma_ms_per_kv_token * (f64::from(chunks) + 1.0) / 2.0)
        * shape.prompt_tokens
}

fn decode_work_ms(p: &Gen2Params, shape: &RequestShape) -> f64 {
    let (input, output) = (shape.prompt_tokens, shape.output_tokens);
    p.beta_ms_per_token * output + p.gamma_ms_per_kv_token * output * (input + (output + 1.0) / 2.0)
}

/// Work per iteration a request brings to the batch (`delta` upstream).
fn per_request_ms(p: &Gen2Params, shape: &RequestShape, chunks: u32) -> f64 {
    (prefill_work_ms(p, shape, chunks) + decode_work_ms(p, shape))
        / (f64::from(chunks) + shape.output_tokens)
}

/// Iteration time without the focal request's own work.
fn background_ms(p: &Gen2Params, shape: &RequestShape, batch: f64, chunks: u32) -> f64 {
    (p.alpha_ms + (batch - 1.0) * per_request_ms(p, shape, chunks)).max(0.0)
}

pub(super) fn prefill_ms(p: &Gen2Params, shape: &RequestShape, batch: f64, chunks: u32) -> f64 {
    f64::from(chunks) * background_ms(p, shape, batch, chunks) + prefill_work_ms(p, shape, chunks)
}

pub(super) fn itl_ms(p: &Gen2Params, shape: &RequestShape, batch: f64, chunks: u32) -> f64 {
    background_ms(p, shape, batch, chunks)
        + p.beta_ms_per_token
        + p.gamma_ms_per_kv_token * (shape.prompt_tokens + (shape.output_tokens + 1.0) / 2.0)
}

pub(super) fn service_rates(p: &Gen2Params, shape: &RequestShape, chunks: &[u32]) -> Vec<f64> {
    chunks
        .iter()
        .enumerate()
        .skip(1)
        .map(|(b, &c)| {
            let b = b as f64;
            let tau = (f64::from(c) + shape.output_tokens)
                * (p.alpha_ms + b * per_request_ms(p, shape, c));
            b / tau
        })
        .collect()
}

/// Upstream's gen-3 outputs: as gen 2, with the chunk count read off the table at the rounded
/// mean batch.
pub(super) fn latencies(
    p: &Gen2Params,
    shape: &RequestShape,
    chunks: &[u32],
    wait_ms: f64,
    mean_in_service: f64,
    mean_service_ms: f64,
) -> Latencies {
    let max_batch = chunks.len() - 1;
    let index = ((mean_in_service + 0.5).floor().max(1.0) as usize).min(max_batch);
    let prefill = prefill_ms(p, shape, mean_in_service, chunks[index]);
    let itl = (mean_service_ms - prefill) / shape.output_tokens;
    Latencies {
        ttft_ms: wait_ms + prefill + itl,
        itl_ms: itl,
        prefill_ms: prefill,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_prompts_need_one_chunk() {
        let shape = RequestShape {
            prompt_tokens: 128.0,
            output_tokens: 512.0,
        };
        let table = chunk_table(8192, &shape, 256);
        assert!(table[1..].iter().all(|&c| c == 1));
    }

    #[test]
    fn long_prompts_under_a_small_budget_need_more_chunks_as_the_batch_grows() {
        let shape = RequestShape {
            prompt_tokens: 4000.0,
            output_tokens: 100.0,
        };
        let table = chunk_table(512, &shape, 64);
        assert!(
            table[1] >= 8,
            "a 4000-token prompt needs >= 8 chunks of 512: {}",
            table[1]
        );
        assert!(table.windows(2).skip(1).all(|w| w[1] >= w[0]));
    }
}
