//! Requests, and synthetic workloads: arrival processes and token-length distributions per
//! workload, merged into one time-ordered stream. The simulator takes any iterator of
//! [`Request`]s, so traces plug in the same way.

use crate::events::EventQueue;
use crate::spec::{ArrivalProcess, LengthDist};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Gamma, LogNormal};

/// One request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Request {
    /// Sequence number, unique in a run.
    pub id: u64,
    /// Which workload (group of replicas) it belongs to.
    pub group: u32,
    /// Arrival time, ms since the start.
    pub arrival_ms: f64,
    /// Prompt tokens (at least 1).
    pub prompt_tokens: u32,
    /// Output tokens (at least 1).
    pub output_tokens: u32,
    /// Whether it counts in the statistics (false during warm-up).
    pub counted: bool,
}

/// One workload's synthetic traffic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Traffic {
    /// Mean arrival rate, requests/s.
    pub rate_rps: f64,
    /// Arrival process.
    pub arrivals: ArrivalProcess,
    /// Prompt lengths.
    pub prompt: LengthDist,
    /// Output lengths.
    pub output: LengthDist,
}

/// When to stop generating.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Horizon {
    /// This many requests in all.
    Requests(u64),
    /// Arrivals within this many seconds.
    Duration(f64),
}

/// A sampler of token counts (integers >= 1).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lengths {
    Fixed(u32),
    Exponential(Exp<f64>),
    Lognormal(LogNormal<f64>),
    Uniform(u32, u32),
}

impl Lengths {
    pub(crate) fn new(d: &LengthDist) -> Self {
        let clamp = |x: f64| x.round().clamp(1.0, f64::from(u32::MAX)) as u32;
        match *d {
            LengthDist::Fixed { mean } => Lengths::Fixed(clamp(mean)),
            LengthDist::Exponential { mean } => match Exp::new(1.0 / mean.max(1e-9)) {
                Ok(e) => Lengths::Exponential(e),
                Err(_) => Lengths::Fixed(clamp(mean)),
            },
            LengthDist::Lognormal { mean, cv } => {
                let sigma2 = (1.0 + cv * cv).ln();
                match LogNormal::new(mean.max(1e-9).ln() - sigma2 / 2.0, sigma2.sqrt()) {
                    Ok(l) => Lengths::Lognormal(l),
                    Err(_) => Lengths::Fixed(clamp(mean)),
                }
            }
            LengthDist::Uniform { min, max } => {
                Lengths::Uniform(clamp(min), clamp(max).max(clamp(min)))
            }
        }
    }

    pub(crate) fn sample(&self, rng: &mut ChaCha8Rng) -> u32 {
        let clamp = |x: f64| x.round().clamp(1.0, 1e9) as u32;
        match self {
            Lengths::Fixed(n) => *n,
            Lengths::Exponential(e) => clamp(e.sample(rng)),
            Lengths::Lognormal(l) => clamp(l.sample(rng)),
            Lengths::Uniform(a, b) => rng.random_range(*a..=*b),
        }
    }
}

/// A sampler of inter-arrival times, ms.
#[derive(Clone, Copy, Debug)]
enum Gaps {
    Exponential(Exp<f64>),
    Fixed(f64),
    Gamma(Gamma<f64>),
    Never,
}

impl Gaps {
    fn new(rate_rps: f64, process: &ArrivalProcess) -> Self {
        if !(rate_rps > 0.0 && rate_rps.is_finite()) {
            return Gaps::Never;
        }
        let mean_ms = 1000.0 / rate_rps;
        match *process {
            ArrivalProcess::Poisson => {
                Exp::new(1.0 / mean_ms).map_or(Gaps::Never, Gaps::Exponential)
            }
            ArrivalProcess::Deterministic => Gaps::Fixed(mean_ms),
            ArrivalProcess::Gamma { cv } => {
                let shape = 1.0 / (cv * cv);
                Gamma::new(shape, mean_ms / shape).map_or(Gaps::Never, Gaps::Gamma)
            }
        }
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        match self {
            Gaps::Exponential(e) => e.sample(rng),
            Gaps::Fixed(ms) => *ms,
            Gaps::Gamma(g) => g.sample(rng),
            Gaps::Never => f64::INFINITY,
        }
    }
}

struct Source {
    gaps: Gaps,
    prompt: Lengths,
    output: Lengths,
    rng: ChaCha8Rng,
}

/// The merged request stream of several workloads. Each workload draws from its own random
/// stream (derived from the seed and its index), so adding a workload does not change the
/// others' requests.
pub struct Generator {
    sources: Vec<Source>,
    /// Each workload's next arrival, keyed by its group (ties: the lower group first).
    heap: EventQueue<u32>,
    horizon: Horizon,
    warmup_fraction: f64,
    next_id: u64,
}

impl Generator {
    /// Requests for `traffic[g]` (group `g`) until `horizon`; the first `warmup_fraction` of
    /// them (by count, or by time for a duration) do not count in the statistics.
    pub fn new(traffic: &[Traffic], horizon: Horizon, warmup_fraction: f64, seed: u64) -> Self {
        let mut heap = EventQueue::new();
        let sources: Vec<Source> = traffic
            .iter()
            .enumerate()
            .map(|(g, t)| {
                let mut rng = crate::rng::stream(seed, crate::rng::Stream::Arrivals, g as u64);
                let gaps = Gaps::new(t.rate_rps, &t.arrivals);
                let first = gaps.sample(&mut rng);
                if first.is_finite() {
                    heap.push(first, g as u32);
                }
                Source {
                    gaps,
                    prompt: Lengths::new(&t.prompt),
                    output: Lengths::new(&t.output),
                    rng,
                }
            })
            .collect();
        Generator {
            sources,
            heap,
            horizon,
            warmup_fraction: warmup_fraction.clamp(0.0, 0.95),
            next_id: 0,
        }
    }
}

impl Iterator for Generator {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        let (time_ms, group) = self.heap.pop()?;
        let counted = match self.horizon {
            Horizon::Requests(n) => {
                if self.next_id >= n {
                    return None;
                }
                self.next_id as f64 >= self.warmup_fraction * n as f64
            }
            Horizon::Duration(s) => {
                if time_ms > s * 1000.0 {
                    return None;
                }
                time_ms >= self.warmup_fraction * s * 1000.0
            }
        };
        let source = &mut self.sources[group as usize];
        let prompt_tokens = source.prompt.sample(&mut source.rng);
        let output_tokens = source.output.sample(&mut source.rng);
        let gap = source.gaps.sample(&mut source.rng);
        if gap.is_finite() {
            self.heap.push(time_ms + gap, group);
        }
        let id = self.next_id;
        self.next_id += 1;
        Some(Request {
            id,
            group,
            arrival_ms: time_ms,
            prompt_tokens,
            output_tokens,
            counted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic(rate: f64, arrivals: ArrivalProcess, prompt: LengthDist) -> Traffic {
        Traffic {
            rate_rps: rate,
            arrivals,
            prompt,
            output: LengthDist::Fixed { mean: 10.0 },
        }
    }

    #[test]
    fn poisson_rate_and_lognormal_mean_come_out_right() {
        let t = traffic(
            20.0,
            ArrivalProcess::Poisson,
            LengthDist::Lognormal {
                mean: 500.0,
                cv: 1.5,
            },
        );
        let reqs: Vec<Request> = Generator::new(&[t], Horizon::Requests(200_000), 0.0, 7).collect();
        assert_eq!(reqs.len(), 200_000);
        let span_s = reqs.last().unwrap().arrival_ms / 1000.0;
        assert!((reqs.len() as f64 / span_s / 20.0 - 1.0).abs() < 0.01);
        let mean = reqs.iter().map(|r| f64::from(r.prompt_tokens)).sum::<f64>() / reqs.len() as f64;
        assert!((mean / 500.0 - 1.0).abs() < 0.02, "{mean}");
        assert!(reqs.windows(2).all(|w| w[1].arrival_ms >= w[0].arrival_ms));
    }

    #[test]
    fn gamma_arrivals_have_the_asked_variability() {
        let t = traffic(
            10.0,
            ArrivalProcess::Gamma { cv: 2.0 },
            LengthDist::Fixed { mean: 5.0 },
        );
        let reqs: Vec<Request> = Generator::new(&[t], Horizon::Requests(100_000), 0.0, 1).collect();
        let gaps: Vec<f64> = reqs
            .windows(2)
            .map(|w| w[1].arrival_ms - w[0].arrival_ms)
            .collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        assert!((var.sqrt() / mean - 2.0).abs() < 0.1);
    }

    #[test]
    fn same_seed_same_stream_and_warmup_by_count_or_time() {
        let ts = [
            traffic(
                5.0,
                ArrivalProcess::Deterministic,
                LengthDist::Uniform {
                    min: 10.0,
                    max: 20.0,
                },
            ),
            traffic(
                3.0,
                ArrivalProcess::Poisson,
                LengthDist::Exponential { mean: 100.0 },
            ),
        ];
        let a: Vec<Request> = Generator::new(&ts, Horizon::Requests(1000), 0.1, 3).collect();
        let b: Vec<Request> = Generator::new(&ts, Horizon::Requests(1000), 0.1, 3).collect();
        assert_eq!(a, b);
        assert_eq!(a.iter().filter(|r| !r.counted).count(), 100);
        assert!(a.iter().all(|r| r.prompt_tokens >= 1));
        let d: Vec<Request> = Generator::new(&ts, Horizon::Duration(100.0), 0.2, 3).collect();
        assert!(d.iter().all(|r| r.arrival_ms <= 100_000.0));
        assert!(
            d.iter()
                .filter(|r| !r.counted)
                .all(|r| r.arrival_ms < 20_000.0)
        );
        assert!((d.len() as f64 - 800.0).abs() < 80.0, "{}", d.len());
    }
}
