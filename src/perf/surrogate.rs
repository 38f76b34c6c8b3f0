//! The analytic queue's line for a cost model that is not one: `alpha + beta x tokens + gamma x
//! KV tokens` fitted to a [`CostModel`] over the iterations a replica runs for one workload.
//!
//! The operating region is the workload's: for every batch size `n` from 1 to the max batch,
//! the decode iterations of `n` requests part-way through their output (KV lengths spread over
//! the output, at a quarter, half and three quarters of it) and the iterations that prefill a
//! new request's prompt (in chunks of the token budget left by `n - 1` decodes). Decode and
//! prefill iterations are weighted by how often a request is in each (`output` decode steps
//! against its prefill chunks), and the fit minimises relative errors, so short decode steps
//! count as much as long prefills. Data-parallel ranks that step together get `n / ranks`
//! requests each, and the line is in the replica's totals.
//!
//! The fit is a small non-negative least squares (three unknowns: every subset of them is
//! tried, the best feasible one kept), so it is exact and deterministic.

use super::cost::{BatchShape, CostModel};
use super::{Gen2Params, Gen3Params, PerfParams, RequestShape};

/// A fitted line and how well it follows the cost model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Surrogate {
    /// The line (gen 3: with the engine's token budget).
    pub params: PerfParams,
    /// Iterations it was fitted on.
    pub points: usize,
    /// Weighted mean of |line / model - 1| over them.
    pub mean_error: f64,
    /// Largest |line / model - 1|.
    pub max_error: f64,
}

/// One fitted point: the replica's totals, the model's time and the weight.
struct Point {
    tokens: f64,
    kv: f64,
    time_ms: f64,
    weight: f64,
}

/// Batch sizes of the region: every size to 16, then about 10% apart, and the largest.
fn batch_sizes(max: u32) -> Vec<u32> {
    let mut out: Vec<u32> = (1..=max.min(16)).collect();
    let mut n = 16.0f64;
    while (n as u32) < max {
        n = (n * 1.1).ceil();
        out.push((n as u32).min(max));
    }
    out.dedup();
    out
}

fn points(cost: &CostModel, shape: &RequestShape, max_batch: u32, budget: u32) -> Vec<Point> {
    let ranks = cost.ranks().max(1);
    let prompt = shape.prompt_tokens.round().max(1.0) as u32;
    let output = shape.output_tokens.max(1.0);
    let lo = prompt + 1;
    let hi = (f64::from(prompt) + output).round() as u32;
    let mid = (f64::from(prompt) + output / 2.0).round() as u32;
    let decodes = |n: u32, kv: u32| BatchShape {
        decodes: n,
        decode_kv_tokens: u64::from(n) * u64::from(kv),
        decode_kv_min: if n > 0 { lo.min(kv) } else { 0 },
        decode_kv_max: if n > 0 { hi.max(kv) } else { 0 },
        running: n,
        ..BatchShape::default()
    };
    let mut out = Vec::new();
    // The line sees the replica's totals over its ranks.
    let mut add = |shapes: &[BatchShape], weight: f64| {
        let time_ms = cost.iteration_ms(shapes);
        if time_ms > 0.0 && time_ms.is_finite() && weight > 0.0 {
            let (mut tokens, mut kv) = (0.0, 0.0);
            for s in shapes {
                let w = s.work();
                tokens += (w.prefill_tokens + u64::from(w.decode_tokens)) as f64;
                kv += w.kv_tokens_read as f64;
            }
            out.push(Point {
                tokens,
                kv,
                time_ms,
                weight,
            });
        }
    };
    for n in batch_sizes(max_batch.max(ranks)) {
        // The batch split over the ranks; rank 0 (the fullest) takes the new prompts.
        let per_rank: Vec<u32> = (0..ranks)
            .map(|r| n / ranks + u32::from(r < n % ranks))
            .collect();
        let room = budget.saturating_sub(per_rank[0].saturating_sub(1)).max(1);
        let chunks = prompt.div_ceil(room);
        // Prefill chunks an iteration carries in the mean: each of the n requests spends
        // `chunks` of its `chunks + output` iterations prefilling.
        let per_iteration = f64::from(n) * f64::from(chunks) / (output + f64::from(chunks));
        let prefilling = per_iteration.min(1.0);
        for part in [0.25, 0.5, 0.75] {
            let kv = (f64::from(prompt) + part * output).round().max(1.0) as u32;
            let shapes: Vec<BatchShape> = per_rank.iter().map(|&m| decodes(m, kv)).collect();
            add(&shapes, (1.0 - prefilling) / 3.0);
        }
        // Iterations that prefill: as many new prompts as the mean says (at least one), each
        // in chunks of the budget left by the decodes.
        let new_prompts = per_iteration.round().clamp(1.0, f64::from(per_rank[0])) as u32;
        let share = (room / new_prompts).max(1);
        let mut done = 0u32;
        while done < prompt {
            let tokens = share.min(prompt - done);
            let mut shapes: Vec<BatchShape> = per_rank.iter().map(|&m| decodes(m, mid)).collect();
            let first = &mut shapes[0];
            *first = decodes(per_rank[0] - new_prompts, mid);
            first.running = per_rank[0];
            for _ in 0..new_prompts {
                first.add_chunk(tokens, done);
            }
            let steps = prompt.div_ceil(share);
            add(&shapes, prefilling / f64::from(steps));
            done += tokens;
        }
    }
    out
}

/// Solves the weighted least squares of `rows` (`[x0, x1, x2, y]`, already weighted) on the
/// unknowns in `free` (the others held at 0). `None` when singular.
fn solve(rows: &[[f64; 4]], free: [bool; 3]) -> Option<[f64; 3]> {
    let idx: Vec<usize> = (0..3).filter(|&i| free[i]).collect();
    let k = idx.len();
    if k == 0 {
        return Some([0.0; 3]);
    }
    // Normal equations, scaled per column for conditioning.
    let scale: Vec<f64> = idx
        .iter()
        .map(|&i| {
            rows.iter()
                .map(|r| r[i] * r[i])
                .sum::<f64>()
                .sqrt()
                .max(f64::MIN_POSITIVE)
        })
        .collect();
    let mut a = vec![vec![0.0; k + 1]; k];
    for r in rows {
        for (p, &i) in idx.iter().enumerate() {
            let xi = r[i] / scale[p];
            for (q, &j) in idx.iter().enumerate() {
                a[p][q] += xi * r[j] / scale[q];
            }
            a[p][k] += xi * r[3];
        }
    }
    // Gaussian elimination with partial pivoting.
    for c in 0..k {
        let pivot = (c..k).max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs()))?;
        if a[pivot][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, pivot);
        let pivot_row = a[c].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != c {
                let f = row[c] / pivot_row[c];
                for (x, p) in row.iter_mut().zip(&pivot_row).skip(c) {
                    *x -= f * p;
                }
            }
        }
    }
    let mut out = [0.0; 3];
    for (p, &i) in idx.iter().enumerate() {
        out[i] = a[p][k] / a[p][p] / scale[p];
    }
    Some(out)
}

/// Fits the line to `cost` for requests of `shape` at batches up to `max_batch` (the replica's,
/// over all its ranks) with `budget` tokens per iteration. `gen3` gives a `wva-v3` line (with
/// the budget); otherwise `wva-v2`. `None` when the cost model gives no finite time.
pub fn fit(
    cost: &CostModel,
    shape: &RequestShape,
    max_batch: u32,
    budget: u32,
    gen3: bool,
) -> Option<Surrogate> {
    let pts = points(cost, shape, max_batch.max(1), budget.max(1));
    if pts.is_empty() {
        return None;
    }
    let rows: Vec<[f64; 4]> = pts
        .iter()
        .map(|p| {
            let w = p.weight.sqrt() / p.time_ms;
            [w, w * p.tokens, w * p.kv, w * p.time_ms]
        })
        .collect();
    let residual = |x: &[f64; 3]| -> f64 {
        rows.iter()
            .map(|r| (r[0] * x[0] + r[1] * x[1] + r[2] * x[2] - r[3]).powi(2))
            .sum()
    };
    let mut best: Option<([f64; 3], f64)> = None;
    for mask in 1u8..8 {
        let free = [mask & 1 != 0, mask & 2 != 0, mask & 4 != 0];
        let Some(x) = solve(&rows, free) else {
            continue;
        };
        if x.iter().any(|v| *v < 0.0 || !v.is_finite()) {
            continue;
        }
        let r = residual(&x);
        if best.is_none_or(|(_, b)| r < b) {
            best = Some((x, r));
        }
    }
    let (x, _) = best?;
    let iteration = Gen2Params {
        alpha_ms: x[0].max(1e-6),
        beta_ms_per_token: x[1],
        gamma_ms_per_kv_token: x[2],
    };
    let (mut total_w, mut sum, mut max_error) = (0.0, 0.0, 0.0f64);
    for p in &pts {
        let line = iteration.alpha_ms
            + iteration.beta_ms_per_token * p.tokens
            + iteration.gamma_ms_per_kv_token * p.kv;
        let e = (line / p.time_ms - 1.0).abs();
        total_w += p.weight;
        sum += p.weight * e;
        max_error = max_error.max(e);
    }
    let params = if gen3 {
        PerfParams::V3(Gen3Params {
            iteration,
            max_num_batched_tokens: budget.max(max_batch),
        })
    } else {
        PerfParams::V2(iteration)
    };
    Some(Surrogate {
        params,
        points: pts.len(),
        mean_error: sum / total_w,
        max_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linear_cost_model_is_fitted_back_exactly() {
        let line = Gen2Params {
            alpha_ms: 7.0,
            beta_ms_per_token: 0.03,
            gamma_ms_per_kv_token: 0.0002,
        };
        let cost = CostModel::Linear(PerfParams::V2(line));
        let shape = RequestShape {
            prompt_tokens: 1000.0,
            output_tokens: 200.0,
        };
        let s = fit(&cost, &shape, 64, 2048, false).unwrap();
        let PerfParams::V2(got) = s.params else {
            panic!("gen 2 asked for")
        };
        assert!((got.alpha_ms - 7.0).abs() < 1e-6, "{got:?}");
        assert!((got.beta_ms_per_token - 0.03).abs() < 1e-9);
        assert!((got.gamma_ms_per_kv_token - 0.0002).abs() < 1e-11);
        assert!(s.max_error < 1e-9);
        let s3 = fit(&cost, &shape, 64, 2048, true).unwrap();
        assert!(matches!(s3.params, PerfParams::V3(p) if p.max_num_batched_tokens == 2048));
    }

    #[test]
    fn the_region_covers_every_batch_and_the_chunks_of_long_prompts() {
        assert_eq!(batch_sizes(3), vec![1, 2, 3]);
        let sizes = batch_sizes(256);
        assert_eq!(sizes.first(), Some(&1));
        assert_eq!(sizes.last(), Some(&256));
        assert!(sizes.windows(2).all(|w| w[1] > w[0]));
        let cost = CostModel::Linear(PerfParams::V2(Gen2Params {
            alpha_ms: 1.0,
            beta_ms_per_token: 0.01,
            gamma_ms_per_kv_token: 0.0,
        }));
        let shape = RequestShape {
            prompt_tokens: 5000.0,
            output_tokens: 100.0,
        };
        // One batch size: three decode points and a 5000-token prompt in chunks of 2048.
        assert_eq!(points(&cost, &shape, 1, 2048).len(), 3 + 3);
        // A full batch of short requests carries several new prompts per iteration.
        let short = RequestShape {
            prompt_tokens: 100.0,
            output_tokens: 10.0,
        };
        let pts = points(&cost, &short, 64, 8192);
        assert!(pts.iter().any(|p| p.tokens > 64.0 + 500.0));
    }
}
