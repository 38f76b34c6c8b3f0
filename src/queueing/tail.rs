//! Percentile latencies of one replica: the analytic approximation behind percentile SLOs.
//!
//! The mean-field model spreads every prefill over the decode steps; the tails come from the
//! opposite: a decode step that shares its iteration with a new request's prefill takes the
//! prefill's whole cost, and a new request's first token waits for the iteration in flight and
//! for the prefills that arrive with it. The approximation (documented in `docs/plan.md`):
//!
//! - The replica runs `b` requests with the chain's batch distribution (time-average); an
//!   iteration at `b` carries `k` prefills, `k ~ Poisson(lambda * E[T(b, .)])` (the arrivals
//!   during the previous iteration), and lasts `T(b, k)` by the shared cost model
//!   ([`crate::perf::PerfParams::iteration_ms`]: `b` decode tokens reading `prompt + output/2`
//!   KV tokens each, plus `k` prompts).
//! - **ITL**: a token's gap is the iteration producing it, so gaps are `T(b, k)` weighted by
//!   the tokens produced: `P(b) * b / E_k[T(b, k)] * P(k)`. The quantile is read off that
//!   discrete distribution.
//! - **TTFT** (vLLM's: the first token ends the prefill iteration): an arrival that finds a
//!   free slot waits for the iteration in flight (a uniform residual of `E_k[T(b, k)]`) and is
//!   prefilled with the `k ~ Poisson` others that arrived meanwhile, in `T(b, k + 1)` (more
//!   iterations when the prompt exceeds the token budget); one that finds the batch full (the
//!   chain's waiting probability) first waits an exponential time at rate `mu(N) - lambda` (the
//!   M/M/1 wait above the max batch), then is prefilled at the next iteration boundary.
//!
//! Lengths are the workload's means and arrivals are Poisson at each replica: variable prompt
//! and output lengths widen the real tails, and round-robin routing over several replicas
//! smooths each one's arrivals and narrows them (`wva plan --verify` measures both).

use super::chain;
use super::replica::ReplicaModel;
use crate::perf::{DEFAULT_MAX_NUM_BATCHED_TOKENS, IterationWork, PerfParams};

/// Probability mass below which batch states and prefill counts are left out.
const NEGLIGIBLE: f64 = 1e-6;
/// Residual-time points per iteration (midpoints of equal slices).
const RESIDUAL_POINTS: usize = 4;

/// The iteration-level view of a replica at one arrival rate.
struct Iterations {
    /// `P(b)`, `b = 0..=N` (batch distribution).
    batch: Vec<f64>,
    lambda_per_ms: f64,
    perf: PerfParams,
    prompt: f64,
    kv_per_decode: f64,
    budget: f64,
}

impl Iterations {
    fn new(model: &ReplicaModel, rate_rps: f64) -> Option<Self> {
        if !(rate_rps > 0.0 && rate_rps.is_finite()) {
            return None;
        }
        let lambda = rate_rps / 1000.0;
        let batch =
            chain::batch_distribution(model.service_rates_per_ms(), model.max_queue(), lambda)?;
        let curve = model.curve();
        let shape = curve.shape();
        let budget = match curve.params() {
            PerfParams::V3(p) => p.max_num_batched_tokens,
            _ => DEFAULT_MAX_NUM_BATCHED_TOKENS,
        };
        Some(Iterations {
            batch,
            lambda_per_ms: lambda,
            perf: *curve.params(),
            prompt: shape.prompt_tokens.max(1.0),
            kv_per_decode: shape.prompt_tokens + shape.output_tokens / 2.0,
            budget: f64::from(budget.max(1)),
        })
    }

    /// One iteration with `decodes` running requests and `prefills` prompts (their tokens
    /// within the budget), ms.
    fn time_ms(&self, decodes: usize, prefills: f64) -> f64 {
        self.time_with_tokens_ms(decodes, prefills, (prefills * self.prompt).min(self.budget))
    }

    /// One iteration with `decodes` running requests and `prefill_tokens` prompt tokens of
    /// `prefills` requests, ms.
    fn time_with_tokens_ms(&self, decodes: usize, prefills: f64, prefill_tokens: f64) -> f64 {
        self.perf.iteration_ms(&IterationWork {
            prefill_tokens: prefill_tokens.round() as u64,
            decode_tokens: decodes as u32,
            kv_tokens_read: (decodes as f64 * self.kv_per_decode + prefill_tokens).round() as u64,
            running_requests: (decodes as f64 + prefills).ceil() as u32,
        })
    }

    /// `P(k)` for `k = 0..` of a Poisson with mean `mean`, computed in log space, cut where
    /// both tails are negligible (the terms below the cut are zero) and renormalised.
    fn poisson(mean: f64) -> Vec<f64> {
        use statrs::function::gamma::ln_gamma;
        let mean = mean.max(0.0);
        if mean == 0.0 || !mean.is_finite() {
            return vec![1.0];
        }
        let spread = 6.0 * mean.sqrt() + 6.0;
        let (lo, hi) = (
            (mean - spread).floor().max(0.0) as usize,
            (mean + spread).ceil() as usize,
        );
        let mut out = vec![0.0; hi + 1];
        for (k, p) in out.iter_mut().enumerate().skip(lo) {
            let kf = k as f64;
            *p = (-mean + kf * mean.ln() - ln_gamma(kf + 1.0)).exp();
        }
        let total: f64 = out.iter().sum();
        if total > 0.0 {
            for p in &mut out {
                *p /= total;
            }
        }
        while out.len() > 1 && out.last().is_some_and(|p| *p < NEGLIGIBLE * 1e-3) {
            out.pop();
        }
        out
    }

    /// The iteration kinds at batch `b`: `(P(k), T(b, k))`. The prefills of an iteration are
    /// the arrivals during the one before, whose mean length depends on its own prefills: a
    /// few rounds of `mean = lambda * E[T]` settle it.
    fn kinds(&self, b: usize) -> Vec<(f64, f64)> {
        let mut mean_t = self.time_ms(b, 0.0);
        let mut kinds = Vec::new();
        for _ in 0..4 {
            kinds = Self::poisson(self.lambda_per_ms * mean_t)
                .into_iter()
                .enumerate()
                .map(|(k, p)| (p, self.time_ms(b, k as f64)))
                .collect::<Vec<_>>();
            mean_t = kinds.iter().map(|(p, t)| p * t).sum();
        }
        kinds
    }
}

/// The `q`-quantile of a discrete distribution given as `(value, weight)` pairs.
fn discrete_quantile(mut atoms: Vec<(f64, f64)>, q: f64) -> Option<f64> {
    let total: f64 = atoms.iter().map(|a| a.1).sum();
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    atoms.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut cumulative = 0.0;
    for &(value, weight) in &atoms {
        cumulative += weight / total;
        if cumulative >= q - 1e-12 {
            return Some(value);
        }
    }
    atoms.last().map(|a| a.0)
}

/// The `q`-quantile of the inter-token latency at `rate_rps`, ms.
pub fn itl_quantile_ms(model: &ReplicaModel, rate_rps: f64, q: f64) -> Option<f64> {
    let it = Iterations::new(model, rate_rps)?;
    let mut atoms = Vec::new();
    for (b, &p_b) in it.batch.iter().enumerate().skip(1) {
        if p_b < NEGLIGIBLE {
            continue;
        }
        let kinds = it.kinds(b);
        let mean_t: f64 = kinds.iter().map(|(p, t)| p * t).sum();
        if mean_t.is_nan() || mean_t <= 0.0 {
            continue;
        }
        let tokens_per_ms = p_b * b as f64 / mean_t;
        atoms.extend(kinds.into_iter().map(|(p, t)| (t, tokens_per_ms * p)));
    }
    discrete_quantile(atoms, q)
}

/// The distribution of the time to first token at one rate (vLLM's definition: the end of the
/// prefill iteration): atoms for arrivals that find a free slot, and for those that find the
/// batch full, the prefill after an exponential wait.
struct TtftDistribution {
    /// `(ms, cumulative weight)` of the no-wait atoms, sorted.
    now_cdf: Vec<(f64, f64)>,
    now_total: f64,
    /// `(prefill ms, probability)` once admitted after waiting.
    full: Vec<(f64, f64)>,
    p_wait: f64,
    /// Rate of the exponential wait, per ms (`mu(N) - lambda`; not positive: unbounded).
    theta: f64,
}

fn ttft_distribution(model: &ReplicaModel, rate_rps: f64) -> Option<TtftDistribution> {
    let it = Iterations::new(model, rate_rps)?;
    let rates = model.service_rates_per_ms();
    let mu_top = rates[rates.len() - 1];
    let sol = chain::solve(rates, model.max_queue(), it.lambda_per_ms)?;
    let p_wait = sol.waiting_probability;
    let n = it.batch.len() - 1;
    // Prompts longer than the budget take several iterations of a full budget; the last one,
    // with the remainder and the others' prompts (within the budget), ends the prefill.
    let chunks = (it.prompt / it.budget).ceil().max(1.0);
    let remainder = it.prompt - (chunks - 1.0) * it.budget;
    let prefill_ms = |b: usize, k: usize| -> f64 {
        let others = k as f64 * it.prompt;
        (chunks - 1.0) * it.time_with_tokens_ms(b, 1.0, it.budget)
            + it.time_with_tokens_ms(b, 1.0 + k as f64, (remainder + others).min(it.budget))
    };
    // No wait: a free slot. The arrival lands in an iteration in flight, a long one more
    // likely than a short one (length-biased), waits out its residual, and is prefilled with
    // the others that arrived during it (`Poisson(lambda * T)`).
    let free: f64 = it.batch[..n].iter().sum();
    let mut now = Vec::new();
    for (b, &p_b) in it.batch[..n].iter().enumerate() {
        if p_b < NEGLIGIBLE {
            continue;
        }
        if b == 0 {
            // An idle replica starts at once, with the arrivals of that first iteration.
            now.push((prefill_ms(0, 0), p_b / free));
            continue;
        }
        let kinds = it.kinds(b);
        let mean_t: f64 = kinds.iter().map(|(p, t)| p * t).sum();
        if mean_t.is_nan() || mean_t <= 0.0 {
            continue;
        }
        for &(p_kind, t_kind) in &kinds {
            let biased = p_kind * t_kind / mean_t;
            let joining = Iterations::poisson(it.lambda_per_ms * t_kind);
            for (k, &p_k) in joining.iter().enumerate() {
                let pf = prefill_ms(b, k);
                for i in 0..RESIDUAL_POINTS {
                    let u = (i as f64 + 0.5) / RESIDUAL_POINTS as f64;
                    now.push((
                        u * t_kind + pf,
                        p_b / free * biased * p_k / RESIDUAL_POINTS as f64,
                    ));
                }
            }
        }
    }
    // Sorted with running sums: the no-wait part of the distribution function by search.
    now.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut running = 0.0;
    let now_cdf: Vec<(f64, f64)> = now
        .iter()
        .map(|&(v, w)| {
            running += w;
            (v, running)
        })
        .collect();
    let now_total = running.max(f64::MIN_POSITIVE);
    // Waiting: admitted when a slot frees (an iteration boundary) into a full batch.
    let full: Vec<(f64, f64)> = it
        .kinds(n.saturating_sub(1))
        .into_iter()
        .enumerate()
        .map(|(k, (p, _))| (prefill_ms(n.saturating_sub(1), k), p))
        .collect();
    Some(TtftDistribution {
        now_cdf,
        now_total,
        full,
        p_wait,
        theta: mu_top - it.lambda_per_ms,
    })
}

impl TtftDistribution {
    /// The mean, ms (infinite when arrivals that wait are never served).
    fn mean_ms(&self) -> f64 {
        let mut mean = 0.0;
        if self.p_wait < 1.0 {
            let mut last = 0.0;
            let mut sum = 0.0;
            for &(v, c) in &self.now_cdf {
                sum += v * (c - last);
                last = c;
            }
            mean += (1.0 - self.p_wait) * sum / self.now_total;
        }
        if self.p_wait > 0.0 {
            if self.theta <= 0.0 {
                return f64::INFINITY;
            }
            let total: f64 = self.full.iter().map(|a| a.1).sum();
            let prefill: f64 =
                self.full.iter().map(|a| a.0 * a.1).sum::<f64>() / total.max(f64::MIN_POSITIVE);
            mean += self.p_wait * (prefill + 1.0 / self.theta);
        }
        mean
    }

    /// The `q`-quantile, ms. Infinite when the batch is full more often than `1 - q` and the
    /// rate is at or above the full batch's service rate.
    fn quantile_ms(&self, q: f64) -> f64 {
        let (now_cdf, now_total, full, p_wait, theta) = (
            &self.now_cdf,
            self.now_total,
            &self.full,
            self.p_wait,
            self.theta,
        );
        let cdf = |t: f64| -> f64 {
            let mut c = 0.0;
            if p_wait < 1.0 {
                let i = now_cdf.partition_point(|a| a.0 <= t);
                if i > 0 {
                    c += (1.0 - p_wait) * now_cdf[i - 1].1 / now_total;
                }
            }
            if p_wait > 0.0 && theta > 0.0 {
                c += p_wait
                    * full
                        .iter()
                        .filter(|a| a.0 <= t)
                        .map(|a| a.1 * (1.0 - (-theta * (t - a.0)).exp()))
                        .sum::<f64>();
            }
            c
        };
        // The waiting branch alone decides whether the quantile exists.
        if p_wait > 1.0 - q && theta <= 0.0 {
            return f64::INFINITY;
        }
        let top = now_cdf
            .iter()
            .chain(full.iter())
            .map(|a| a.0)
            .fold(0.0f64, f64::max);
        let mut hi = top + if theta > 0.0 { 60.0 / theta } else { 0.0 };
        let mut grow = 0;
        while cdf(hi) < q && grow < 60 {
            hi *= 2.0;
            grow += 1;
        }
        let mut lo = 0.0;
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if cdf(mid) >= q {
                hi = mid;
            } else {
                lo = mid;
            }
            if hi - lo <= 1e-6 * hi {
                break;
            }
        }
        hi
    }
}

/// The `q`-quantile of the time to first token at `rate_rps`, ms (vLLM's definition: the end
/// of the prefill iteration). Infinite when the batch is full more often than `1 - q` and the
/// rate is at or above the full batch's service rate.
pub fn ttft_quantile_ms(model: &ReplicaModel, rate_rps: f64, q: f64) -> Option<f64> {
    Some(ttft_distribution(model, rate_rps)?.quantile_ms(q))
}

/// The mean time to first token at `rate_rps`, ms, by the same approximation (vLLM's
/// definition, unlike upstream's mean-field `wait + prefill + ITL`).
pub fn ttft_mean_ms(model: &ReplicaModel, rate_rps: f64) -> Option<f64> {
    Some(ttft_distribution(model, rate_rps)?.mean_ms())
}
