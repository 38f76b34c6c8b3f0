//! Synthetic traces: from distributions (the simulator's own generator), or like a real trace:
//! the same per-minute rate curve and the same empirical joint distribution of prompt and output
//! tokens (and model).

use super::{Generator, Horizon, Traffic};
use crate::trace::{TraceError, TraceRecord};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};

/// Requests kept from the source trace for sampling tokens (reservoir sampling beyond).
const RESERVOIR: usize = 1 << 20;

/// A trace drawn from `traffic` (one workload) until `horizon`.
pub fn from_distributions(traffic: &Traffic, horizon: Horizon, seed: u64) -> Vec<TraceRecord> {
    Generator::new(std::slice::from_ref(traffic), horizon, 0.0, seed)
        .map(|r| TraceRecord {
            arrival_s: r.arrival_ms / 1000.0,
            prompt_tokens: r.prompt_tokens,
            output_tokens: r.output_tokens,
            ..TraceRecord::default()
        })
        .collect()
}

/// What a look-alike needs from a real trace: its per-minute counts and a sample of its
/// requests' token counts and models.
#[derive(Clone, Debug, Default)]
pub struct Shape {
    /// Requests per minute, from the first arrival.
    pub per_minute: Vec<u64>,
    /// Length of the last (partial) minute, s.
    pub last_minute_s: f64,
    /// `(prompt, output, model index)` of up to a million requests, uniformly sampled.
    pub sample: Vec<(u32, u32, u32)>,
    /// Model names (index 0: none).
    pub models: Vec<Option<String>>,
}

impl Shape {
    /// Reads the shape of a trace (arrivals from 0, in order) in one pass.
    pub fn of(
        records: impl Iterator<Item = Result<TraceRecord, TraceError>>,
        seed: u64,
    ) -> Result<Shape, TraceError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5A5A);
        let mut shape = Shape {
            models: vec![None],
            ..Shape::default()
        };
        let mut last_s: f64 = 0.0;
        for (index, r) in records.enumerate() {
            let r = r?;
            let seen = index as u64 + 1;
            if !(r.arrival_s >= 0.0 && r.arrival_s < 1e9) {
                return Err(TraceError::Arrival(format!(
                    "arrival at {} s is outside the trace's first 10^9 s",
                    r.arrival_s
                )));
            }
            let minute = (r.arrival_s / 60.0) as usize;
            if shape.per_minute.len() <= minute {
                shape.per_minute.resize(minute + 1, 0);
            }
            shape.per_minute[minute] += 1;
            last_s = last_s.max(r.arrival_s);
            let model = match shape.models.iter().position(|m| *m == r.model) {
                Some(i) => i as u32,
                None => {
                    shape.models.push(r.model.clone());
                    (shape.models.len() - 1) as u32
                }
            };
            let item = (r.prompt_tokens, r.output_tokens, model);
            if shape.sample.len() < RESERVOIR {
                shape.sample.push(item);
            } else {
                let j = rng.random_range(0..seen);
                if (j as usize) < RESERVOIR {
                    shape.sample[j as usize] = item;
                }
            }
        }
        shape.last_minute_s =
            (last_s - 60.0 * (shape.per_minute.len().max(1) - 1) as f64).clamp(0.0, 60.0);
        Ok(shape)
    }
}

/// A trace like `shape`: each minute receives the source's count of that minute (or, with
/// `poisson_counts`, a Poisson draw around it), at times uniform within the minute, which is a
/// Poisson process following the per-minute rate; tokens and model are drawn jointly from the
/// source's requests.
pub fn like(shape: &Shape, poisson_counts: bool, seed: u64) -> Vec<TraceRecord> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    if shape.sample.is_empty() {
        return out;
    }
    let minutes = shape.per_minute.len();
    for (m, &count) in shape.per_minute.iter().enumerate() {
        let n = if poisson_counts && count > 0 {
            Poisson::new(count as f64).map_or(count, |p| p.sample(&mut rng) as u64)
        } else {
            count
        };
        let width = if m + 1 == minutes {
            shape.last_minute_s.max(1e-3)
        } else {
            60.0
        };
        let mut times: Vec<f64> = (0..n)
            .map(|_| 60.0 * m as f64 + rng.random::<f64>() * width)
            .collect();
        times.sort_by(f64::total_cmp);
        // The source's first request arrives at 0 (its origin); so does the copy's, which keeps
        // the minutes aligned when the copy is read back.
        if out.is_empty()
            && let Some(first) = times.first_mut()
        {
            *first = 0.0;
        }
        for t in times {
            let (p, o, model) = shape.sample[rng.random_range(0..shape.sample.len())];
            out.push(TraceRecord {
                arrival_s: t,
                prompt_tokens: p,
                output_tokens: o,
                model: shape.models[model as usize].clone(),
                ..TraceRecord::default()
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_look_alike_keeps_the_minute_counts_and_the_token_means() {
        // A ramp: 10, 20, ..., 100 requests per minute.
        let mut records = Vec::new();
        for m in 0..10u32 {
            let n = 10 * (m + 1);
            for i in 0..n {
                records.push(TraceRecord {
                    arrival_s: f64::from(m) * 60.0 + f64::from(i) * 60.0 / f64::from(n),
                    prompt_tokens: 100 + (i % 50),
                    output_tokens: 1 + (i % 7),
                    ..TraceRecord::default()
                });
            }
        }
        let shape = Shape::of(records.iter().cloned().map(Ok), 1).unwrap();
        let synth = like(&shape, false, 2);
        let source = crate::trace::stats::stats(&records);
        let copy = crate::trace::stats::stats(&synth);
        assert_eq!(copy.per_minute, source.per_minute);
        assert!((copy.prompt_tokens.mean / source.prompt_tokens.mean - 1.0).abs() < 0.05);
        assert!((copy.output_tokens.mean / source.output_tokens.mean - 1.0).abs() < 0.05);
        assert!(synth.windows(2).all(|w| w[0].arrival_s <= w[1].arrival_s));
        assert_ne!(
            like(&shape, false, 3),
            synth,
            "another seed, another sample"
        );
    }
}
