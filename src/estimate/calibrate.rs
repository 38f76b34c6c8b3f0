//! Fitting parameters through the simulator. The direct fit ([`super::fit()`]) sees only what
//! a linear model of engine iterations can: decode spans, not the waits, the prompts queued
//! behind each other, the preemptions of a full cache. Calibration instead runs every piece of
//! evidence as the benchmark ran it (a per-request log replayed with its arrivals and tokens;
//! a summary row as a closed loop at its concurrency or Poisson arrivals at its rate) and
//! searches the gen-2 cost parameters (and the token budget and the KV capacity, when not
//! given) that minimise a robust loss of the log errors of TTFT and TPOT jointly. A constant
//! per-request overhead (API server, tokenisation) is not an unknown: the simulator has no such
//! term, so it would not carry over into a profile.
//!
//! The search: a deterministic scatter of candidates around the start (the direct fit, or a
//! generic guess), evaluated in parallel; then Nelder-Mead from the best few, in parallel; all
//! in log space so every parameter stays positive. Each evaluation is a few short simulations,
//! so the whole search is bounded by [`Search::evaluations`].

use super::sweep::{Drive, SweepRow, TokenStat, TtftStat};
use crate::perf::{Gen2Params, Gen3Params, PerfModelKind, PerfParams};
use crate::queueing::Targets;
use crate::sim::closed_loop::{ClosedLoop, run_closed_loop};
use crate::sim::measured::{RunStats, replay};
use crate::sim::{EngineConfig, Request, SimConfig, run};
use crate::spec::LengthDist;
use crate::trace::TraceRecord;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use rayon::prelude::*;
use serde::Serialize;

/// One piece of evidence.
#[derive(Clone, Debug)]
pub enum Evidence {
    /// A summary row.
    Row(SweepRow),
    /// A per-request log: its requests and what they measured.
    Run(Run),
}

/// A per-request log of one benchmark run.
#[derive(Clone, Debug)]
pub struct Run {
    /// The file.
    pub origin: String,
    /// Which input file (index in the list given).
    pub file: usize,
    /// Its requests (arrival, tokens, measured latencies).
    pub records: Vec<TraceRecord>,
    /// What it measured.
    pub measured: RunStats,
    /// Replicas the requests were spread over.
    pub replicas: u32,
}

impl Evidence {
    /// Where it comes from.
    pub fn origin(&self) -> &str {
        match self {
            Evidence::Row(r) => &r.origin,
            Evidence::Run(r) => &r.origin,
        }
    }

    /// Which input file.
    pub fn file(&self) -> usize {
        match self {
            Evidence::Row(r) => r.file,
            Evidence::Run(r) => r.file,
        }
    }

    /// The statistics it measured: (name, which, ms).
    fn targets(&self) -> Vec<(Statistic, f64)> {
        match self {
            Evidence::Row(r) => {
                let mut out = Vec::new();
                if let Some((s, ms)) = r.ttft_ms {
                    out.push((Statistic::Ttft(s), ms));
                }
                if let Some((s, ms)) = r.token_ms {
                    out.push((Statistic::Token(s), ms));
                }
                out
            }
            Evidence::Run(r) => vec![
                (Statistic::Ttft(TtftStat::P50), r.measured.ttft_ms.p50),
                (Statistic::Token(TokenStat::Tpot), r.measured.tpot_ms.mean),
            ],
        }
    }
}

/// A statistic calibration matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// A TTFT statistic.
    Ttft(TtftStat),
    /// Mean TPOT or ITL.
    Token(TokenStat),
}

impl Statistic {
    /// `TTFT p50`, `mean TPOT`.
    pub fn label(self) -> String {
        match self {
            Statistic::Ttft(s) => format!("TTFT {}", s.name()),
            Statistic::Token(TokenStat::Tpot) => "mean TPOT".into(),
            Statistic::Token(TokenStat::Itl) => "mean ITL".into(),
        }
    }
}

/// What the simulation of one piece of evidence gave.
#[derive(Clone, Copy, Debug)]
struct Predicted {
    ttft: crate::sim::metrics::Summary,
    tpot_mean_ms: f64,
    itl_mean_ms: f64,
}

impl Predicted {
    fn of(&self, s: Statistic) -> f64 {
        match s {
            Statistic::Ttft(t) => t.of(&self.ttft),
            Statistic::Token(TokenStat::Tpot) => self.tpot_mean_ms,
            Statistic::Token(TokenStat::Itl) => self.itl_mean_ms,
        }
    }
}

/// The engine every piece of evidence runs on, unless a row records its own setting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Engine {
    /// vLLM `--max-num-seqs`.
    pub max_num_seqs: u32,
    /// vLLM `--max-num-batched-tokens`.
    pub max_num_batched_tokens: u32,
    /// KV block size, tokens.
    pub block_size: u32,
    /// KV capacity per replica, tokens, when known; `None` to calibrate it (or leave it
    /// unlimited when the data do not identify it).
    pub kv_capacity_tokens: Option<u64>,
}

/// How hard to search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Search {
    /// Candidates scattered around the start.
    pub scatter: usize,
    /// Nelder-Mead starts (the best scattered candidates).
    pub starts: usize,
    /// Evaluations per Nelder-Mead start.
    pub evaluations: usize,
    /// Seed of every simulation.
    pub seed: u64,
}

impl Default for Search {
    fn default() -> Self {
        Search {
            scatter: 32,
            starts: 4,
            evaluations: 90,
            seed: 1,
        }
    }
}

/// The error of one statistic of one piece of evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatError {
    /// Where the evidence comes from.
    pub origin: String,
    /// Which input file.
    pub file: usize,
    /// The load (`concurrency 16`, `0.50 req/s`, `replay`).
    pub load: String,
    /// Which statistic.
    pub statistic: String,
    /// Measured, ms.
    pub measured_ms: f64,
    /// Predicted by the simulator with the calibrated parameters, ms.
    pub predicted_ms: f64,
    /// Predicted over measured, minus one.
    pub error: f64,
}

/// Whether the data determine an unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Identified {
    /// Given, not fitted.
    Given,
    /// Fitted, and the error rises when it moves.
    Yes,
    /// The error hardly changes when it moves: not written.
    No,
}

/// The result of a calibration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    /// The calibrated parameters.
    pub params: PerfParams,
    /// The engine's token budget the parameters go with (given, or chosen).
    pub max_num_batched_tokens: u32,
    /// Whether the token budget was given or chosen by the data.
    pub budget_identified: Identified,
    /// The KV capacity, tokens (given, or fitted and identified).
    pub kv_capacity_tokens: Option<u64>,
    /// Whether the KV capacity is determined by the data.
    pub kv_identified: Identified,
    /// The objective: the mean robust loss of the log errors over the statistics.
    pub objective: f64,
    /// The objective at the start.
    pub objective_at_start: f64,
    /// Evaluations made.
    pub evaluations: usize,
    /// Every statistic's error, in sample.
    pub in_sample: Vec<StatError>,
}

/// Engine iterations one summary row may take per evaluation (a bound on calibration time for
/// rows of long outputs; typical rows take far fewer).
const ROW_ITERATIONS: f64 = 200_000.0;

/// What a failed simulation costs in the objective (per statistic): as if off by a factor
/// e^3.
const PENALTY: f64 = 3.0;

/// The simulations of every piece of evidence with `params`.
fn predict_all(
    evidence: &[Evidence],
    params: Gen2Params,
    kind: PerfModelKind,
    engine: &Engine,
    kv: Option<u64>,
    seed: u64,
) -> Vec<Option<Predicted>> {
    evidence
        .iter()
        .map(|e| predict(e, params, kind, engine, kv, seed))
        .collect()
}

fn engine_config(
    params: Gen2Params,
    kind: PerfModelKind,
    engine: &Engine,
    kv: Option<u64>,
    row: Option<&SweepRow>,
) -> EngineConfig {
    let seqs = row
        .and_then(|r| r.max_num_seqs)
        .unwrap_or(engine.max_num_seqs);
    let budget = row
        .and_then(|r| r.max_num_batched_tokens)
        .unwrap_or(engine.max_num_batched_tokens)
        .max(seqs);
    let perf = as_params(params, kind, budget);
    EngineConfig {
        cost: perf.into(),
        max_num_seqs: seqs,
        max_num_batched_tokens: budget,
        kv_capacity_tokens: kv,
        block_size: engine.block_size,
        prefix_caching: true,
        noise_cv: 0.0,
    }
}

/// The parameters as the perf model `kind` (gen 3 carries the budget).
fn as_params(p: Gen2Params, kind: PerfModelKind, budget: u32) -> PerfParams {
    match kind {
        PerfModelKind::V3 => PerfParams::V3(Gen3Params {
            iteration: p,
            max_num_batched_tokens: budget,
        }),
        _ => PerfParams::V2(p),
    }
}

fn predict(
    e: &Evidence,
    params: Gen2Params,
    kind: PerfModelKind,
    engine: &Engine,
    kv: Option<u64>,
    seed: u64,
) -> Option<Predicted> {
    match e {
        Evidence::Run(r) => {
            let config = engine_config(params, kind, engine, kv, None);
            let stats = replay(vec![config; r.replicas.max(1) as usize], &r.records, seed).ok()?;
            Some(Predicted {
                ttft: stats.ttft_ms,
                tpot_mean_ms: stats.tpot_ms.mean,
                itl_mean_ms: stats.tpot_ms.mean,
            })
        }
        Evidence::Row(row) => {
            let config = engine_config(params, kind, engine, kv, Some(row));
            let prompt = LengthDist::Fixed {
                mean: row.prompt_tokens.round().max(1.0),
            };
            let output = LengthDist::Fixed {
                mean: row.output_tokens.round().max(1.0),
            };
            let replicas = row.replicas.max(1);
            match row.drive {
                Drive::Concurrency(c) => {
                    // The clients spread evenly over the replicas.
                    let per_replica = (f64::from(c) / f64::from(replicas)).round().max(1.0) as u32;
                    // Ten requests per client (at least 120), no more than fit the row's
                    // iteration budget (at least 10).
                    let batch = f64::from(per_replica.min(config.max_num_seqs).max(1));
                    let affordable = (ROW_ITERATIONS * batch / row.output_tokens.max(1.0)) as u64;
                    let requests = (u64::from(per_replica) * 10)
                        .max(120)
                        .min(affordable.max(10));
                    let r = run_closed_loop(
                        config,
                        &ClosedLoop {
                            concurrency: per_replica,
                            prompt,
                            output,
                            requests,
                            warmup_fraction: 0.2,
                            think_ms: 0.0,
                            targets: Targets::default(),
                        },
                        seed,
                    )
                    .ok()?;
                    (r.completed > 0).then_some(Predicted {
                        ttft: r.ttft_ms,
                        tpot_mean_ms: r.tpot_ms.mean,
                        itl_mean_ms: r.itl_ms.mean,
                    })
                }
                Drive::RateRps(rate) | Drive::FleetRateRps(rate) => {
                    // 400 requests per simulated replica, fewer for long outputs (the row's
                    // iteration budget, if each ran alone), at least 40. A benchmark's rate
                    // is split evenly (one replica at its share, Poisson); a fleet's is
                    // simulated whole, behind a round-robin router.
                    let per_replica =
                        ((ROW_ITERATIONS / row.output_tokens.max(1.0)) as u64).clamp(40, 400);
                    let (engines, rate, n) = match row.drive {
                        Drive::FleetRateRps(_) => {
                            (replicas, rate, per_replica * u64::from(replicas))
                        }
                        _ => (1, rate / f64::from(replicas), per_replica),
                    };
                    let requests = open_loop(rate, &prompt, &output, n, seed)?;
                    let engines = vec![config; engines as usize];
                    let sim = SimConfig::one_group("row", engines, Targets::default(), seed);
                    let g = run(&sim, requests, &mut |_| {}).ok()?.groups.remove(0);
                    (g.completed > 0).then_some(Predicted {
                        ttft: g.ttft_ms,
                        tpot_mean_ms: g.tpot_ms.mean,
                        itl_mean_ms: g.itl_ms.mean,
                    })
                }
            }
        }
    }
}

/// `n` Poisson arrivals at `rate_rps` of fixed lengths, the first fifth not counted.
fn open_loop(
    rate_rps: f64,
    prompt: &LengthDist,
    output: &LengthDist,
    n: u64,
    seed: u64,
) -> Option<Vec<Request>> {
    let gap = Exp::new(rate_rps / 1000.0).ok()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (p, o) = (prompt.mean().round() as u32, output.mean().round() as u32);
    let mut t = 0.0;
    Some(
        (0..n)
            .map(|id| {
                t += gap.sample(&mut rng);
                Request {
                    id,
                    group: 0,
                    arrival_ms: t,
                    prompt_tokens: p.max(1),
                    output_tokens: o.max(1),
                    counted: id >= n / 5,
                }
            })
            .collect(),
    )
}

/// Scale of the robust loss on log errors: errors well below it count as squares, errors
/// well above it only logarithmically, so one anomalous run (a benchmark row sampled while
/// the server was not in a steady state) cannot drag every parameter toward itself.
const ROBUST_SCALE: f64 = 0.25;

/// The Cauchy loss of a log error.
fn robust(log_error: f64) -> f64 {
    ROBUST_SCALE * ROBUST_SCALE * (1.0 + (log_error / ROBUST_SCALE).powi(2)).ln()
}

/// The mean robust loss of the log errors of `predicted` against the evidence's
/// measurements.
fn objective(evidence: &[Evidence], predicted: &[Option<Predicted>]) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (e, p) in evidence.iter().zip(predicted) {
        for (stat, measured) in e.targets() {
            n += 1;
            let value = p.map_or(f64::NAN, |p| p.of(stat));
            sum += if value.is_finite() && value > 0.0 && measured > 0.0 {
                robust((value / measured).ln())
            } else {
                robust(PENALTY)
            };
        }
    }
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// A point of the search: log alpha, log beta, log gamma, and log KV tokens when fitted.
type Point = Vec<f64>;

struct Problem<'a> {
    evidence: &'a [Evidence],
    kind: PerfModelKind,
    engine: Engine,
    fit_kv: bool,
    seed: u64,
}

impl Problem<'_> {
    fn decode(&self, x: &[f64]) -> (Gen2Params, Option<u64>) {
        let p = Gen2Params {
            alpha_ms: x[0].exp(),
            beta_ms_per_token: x[1].exp(),
            gamma_ms_per_kv_token: x[2].exp(),
        };
        let kv = if self.fit_kv {
            Some(x[3].exp().round() as u64)
        } else {
            self.engine.kv_capacity_tokens
        };
        (p, kv)
    }

    fn value(&self, x: &[f64]) -> f64 {
        if x.iter().any(|v| !v.is_finite() || v.abs() > 40.0) {
            return f64::INFINITY;
        }
        let (p, kv) = self.decode(x);
        let predicted = predict_all(self.evidence, p, self.kind, &self.engine, kv, self.seed);
        let v = objective(self.evidence, &predicted);
        if v.is_finite() { v } else { f64::INFINITY }
    }
}

/// The `i`-th point of the Halton sequence in `dims` dimensions, in [0, 1).
fn halton(i: usize, dims: usize) -> Vec<f64> {
    const PRIMES: [usize; 4] = [2, 3, 5, 7];
    (0..dims)
        .map(|d| {
            let base = PRIMES[d % PRIMES.len()];
            let (mut f, mut r, mut k) = (1.0, 0.0, i + 1);
            while k > 0 {
                f /= base as f64;
                r += f * (k % base) as f64;
                k /= base;
            }
            r
        })
        .collect()
}

/// Nelder-Mead from `start` with steps `step` (standard coefficients), at most `budget`
/// evaluations. Returns the best point, its value, and the evaluations made.
fn nelder_mead(
    f: &dyn Fn(&[f64]) -> f64,
    start: &[f64],
    step: f64,
    budget: usize,
) -> (Point, f64, usize) {
    let n = start.len();
    let mut simplex: Vec<(Point, f64)> = Vec::with_capacity(n + 1);
    simplex.push((start.to_vec(), f(start)));
    for i in 0..n {
        let mut x = start.to_vec();
        x[i] += step;
        let v = f(&x);
        simplex.push((x, v));
    }
    let mut used = n + 1;
    while used < budget {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let spread = simplex[n].1 - simplex[0].1;
        if spread.abs() < 1e-9 * simplex[0].1.abs().max(1e-12) {
            break;
        }
        let centroid: Point = (0..n)
            .map(|d| simplex[..n].iter().map(|s| s.0[d]).sum::<f64>() / n as f64)
            .collect();
        let along = |t: f64| -> Point {
            centroid
                .iter()
                .zip(&simplex[n].0)
                .map(|(c, w)| c + t * (w - c))
                .collect()
        };
        let reflected = along(-1.0);
        let fr = f(&reflected);
        used += 1;
        if fr < simplex[0].1 {
            let expanded = along(-2.0);
            let fe = f(&expanded);
            used += 1;
            simplex[n] = if fe < fr {
                (expanded, fe)
            } else {
                (reflected, fr)
            };
        } else if fr < simplex[n - 1].1 {
            simplex[n] = (reflected, fr);
        } else {
            let contracted = if fr < simplex[n].1 {
                along(-0.5)
            } else {
                along(0.5)
            };
            let fc = f(&contracted);
            used += 1;
            if fc < fr.min(simplex[n].1) {
                simplex[n] = (contracted, fc);
            } else {
                // Shrink toward the best.
                let best = simplex[0].0.clone();
                for s in simplex.iter_mut().skip(1) {
                    s.0 = best
                        .iter()
                        .zip(&s.0)
                        .map(|(b, x)| b + 0.5 * (x - b))
                        .collect();
                    s.1 = f(&s.0);
                    used += 1;
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (x, v) = simplex.swap_remove(0);
    (x, v, used)
}

/// Why a calibration found no parameters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalibrateError {
    /// Calibration fits the generations that have a prefill model.
    #[error("calibration fits wva-v2 or wva-v3 parameters, not wva-v1")]
    V1,
    /// The runs give no latency to reproduce.
    #[error("nothing to calibrate on: no TTFT or TPOT figure")]
    NoFigures,
    /// The search produced no candidate at all.
    #[error("calibration: no candidate")]
    NoCandidate,
    /// Every candidate failed to simulate.
    #[error("calibration: no parameters reproduce the runs (every candidate failed to simulate)")]
    NothingSimulates,
    /// No token budget gave a calibration.
    #[error("calibration: no token budget reproduces the runs")]
    NoBudget,
}

impl crate::error::ModuleError for CalibrateError {}

/// Calibrates `kind`'s cost parameters (gen 2 or gen 3) on `evidence`, starting from
/// `start`. The KV capacity is fitted when `engine` does not fix it and `fit_kv` says the
/// evidence reaches it (runs that saturate), and kept only if the data identify it; else it
/// is `engine`'s (unlimited when `None`): a cache fitted to runs that never fill it is any size
/// that does not hurt them, and it would invent a cliff beyond them.
pub fn calibrate(
    evidence: &[Evidence],
    kind: PerfModelKind,
    start: Gen2Params,
    engine: Engine,
    fit_kv: bool,
    search: Search,
) -> Result<Calibration, CalibrateError> {
    if kind == PerfModelKind::V1 {
        return Err(CalibrateError::V1);
    }
    if evidence.iter().all(|e| e.targets().is_empty()) {
        return Err(CalibrateError::NoFigures);
    }
    let fit_kv = fit_kv && engine.kv_capacity_tokens.is_none();
    let problem = Problem {
        evidence,
        kind,
        engine,
        fit_kv,
        seed: search.seed,
    };
    let floor = |v: f64| v.max(1e-9).ln();
    let mut x0 = vec![
        floor(start.alpha_ms),
        floor(start.beta_ms_per_token),
        floor(start.gamma_ms_per_kv_token.max(1e-7)),
    ];
    // The KV range: from the largest request (prompt and output) to ten million tokens.
    let largest = evidence
        .iter()
        .map(|e| match e {
            Evidence::Row(r) => r.prompt_tokens + r.output_tokens,
            Evidence::Run(r) => r
                .records
                .iter()
                .map(|q| f64::from(q.prompt_tokens) + f64::from(q.output_tokens))
                .fold(0.0, f64::max),
        })
        .fold(1.0, f64::max);
    let kv_range = ((largest * 2.0).ln(), 1e7f64.ln());
    if fit_kv {
        x0.push(kv_range.1 - 1.0);
    }
    let dims = x0.len();
    let value = |x: &[f64]| problem.value(x);
    let objective_at_start = value(&x0);
    // The scatter: each cost parameter within a factor of 10 of the start, the KV capacity
    // over its whole range.
    let scattered: Vec<Point> = (0..search.scatter)
        .map(|i| {
            let u = halton(i, dims);
            (0..dims)
                .map(|d| {
                    if d == 3 {
                        kv_range.0 + u[d] * (kv_range.1 - kv_range.0)
                    } else {
                        x0[d] + (u[d] * 2.0 - 1.0) * 10f64.ln()
                    }
                })
                .collect()
        })
        .collect();
    let mut ranked: Vec<(Point, f64)> = scattered
        .into_par_iter()
        .map(|x| {
            let v = value(&x);
            (x, v)
        })
        .collect();
    ranked.push((x0.clone(), objective_at_start));
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
    let starts: Vec<Point> = ranked
        .iter()
        .take(search.starts.max(1))
        .map(|r| r.0.clone())
        .collect();
    let runs: Vec<(Point, f64, usize)> = starts
        .par_iter()
        .map(|x| nelder_mead(&value, x, 0.3, search.evaluations))
        .collect();
    let evaluations = search.scatter + 1 + runs.iter().map(|r| r.2).sum::<usize>();
    let best = runs
        .into_iter()
        .map(|(x, v, _)| (x, v))
        .chain(std::iter::once(ranked.swap_remove(0)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .ok_or(CalibrateError::NoCandidate)?;
    if !best.1.is_finite() {
        return Err(CalibrateError::NothingSimulates);
    }
    let (params, mut kv) = problem.decode(&best.0);
    // The KV capacity counts only if halving or doubling it changes the error noticeably.
    let kv_identified = if engine.kv_capacity_tokens.is_some() {
        Identified::Given
    } else if !fit_kv {
        Identified::No
    } else {
        let moved = |factor: f64| {
            let mut x = best.0.clone();
            x[3] += factor.ln();
            value(&x)
        };
        let rises = |v: f64| v > best.1 * 1.05 + 1e-4;
        if rises(moved(0.5)) && rises(moved(2.0)) {
            Identified::Yes
        } else {
            kv = None;
            Identified::No
        }
    };
    let predicted = predict_all(evidence, params, kind, &engine, kv, search.seed);
    let in_sample = errors(evidence, &predicted);
    Ok(Calibration {
        params: as_params(params, kind, engine.max_num_batched_tokens),
        max_num_batched_tokens: engine.max_num_batched_tokens,
        budget_identified: Identified::Given,
        kv_capacity_tokens: kv,
        kv_identified,
        objective: objective(evidence, &predicted),
        objective_at_start,
        evaluations,
        in_sample,
    })
}

/// The token budgets vLLM has defaulted to across versions and GPUs (V0's chunked prefill
/// 512; V1's API server 2048, or 8192 on 70 GB GPUs; its offline engine 16384).
pub const BUDGETS: [u32; 4] = [512, 2048, 8192, 16384];

/// [`calibrate`] when the engine's token budget is not known: a short search at each of
/// [`BUDGETS`] in parallel, then the full search at the best. The budget decides how many
/// prompts share an iteration, which TTFT under load shows and TPOT hardly does; it counts as
/// identified when the best budget's error is clearly below the next best's.
pub fn calibrate_budget(
    evidence: &[Evidence],
    kind: PerfModelKind,
    start: Gen2Params,
    engine: Engine,
    fit_kv: bool,
    search: Search,
) -> Result<Calibration, CalibrateError> {
    let short = Search {
        scatter: search.scatter / 2,
        starts: 2,
        evaluations: search.evaluations * 2 / 3,
        seed: search.seed,
    };
    let mut tried: Vec<(u32, Result<Calibration, CalibrateError>)> = BUDGETS
        .par_iter()
        .map(|&b| {
            let e = Engine {
                max_num_batched_tokens: b.max(engine.max_num_seqs),
                ..engine
            };
            (b, calibrate(evidence, kind, start, e, fit_kv, short))
        })
        .collect();
    tried.retain(|t| t.1.is_ok());
    tried.sort_by(|a, b| {
        let v = |t: &(u32, Result<Calibration, CalibrateError>)| {
            t.1.as_ref().map_or(f64::INFINITY, |c| c.objective)
        };
        v(a).total_cmp(&v(b))
    });
    let Some((budget, Ok(best))) = tried.first() else {
        return Err(CalibrateError::NoBudget);
    };
    let clear = match tried.get(1) {
        Some((_, Ok(next))) => best.objective < 0.9 * next.objective,
        _ => true,
    };
    let start = match best.params {
        PerfParams::V2(p) => p,
        PerfParams::V3(g) => g.iteration,
        PerfParams::V1(_) => start,
    };
    let engine = Engine {
        max_num_batched_tokens: (*budget).max(engine.max_num_seqs),
        ..engine
    };
    let mut full = calibrate(evidence, kind, start, engine, fit_kv, search)?;
    full.budget_identified = if clear {
        Identified::Yes
    } else {
        Identified::No
    };
    full.evaluations += tried
        .iter()
        .map(|t| t.1.as_ref().map_or(0, |c| c.evaluations))
        .sum::<usize>();
    Ok(full)
}

/// The errors of `params` (a gen-2 or gen-3 parameter set) on `evidence`.
pub fn evaluate(
    evidence: &[Evidence],
    params: PerfParams,
    engine: Engine,
    seed: u64,
) -> Vec<StatError> {
    let (p, kind) = match params {
        PerfParams::V3(g) => (g.iteration, PerfModelKind::V3),
        PerfParams::V2(g) => (g, PerfModelKind::V2),
        PerfParams::V1(_) => return Vec::new(),
    };
    let predicted = predict_all(evidence, p, kind, &engine, engine.kv_capacity_tokens, seed);
    errors(evidence, &predicted)
}

fn errors(evidence: &[Evidence], predicted: &[Option<Predicted>]) -> Vec<StatError> {
    let mut out = Vec::new();
    for (e, p) in evidence.iter().zip(predicted) {
        let load = match e {
            Evidence::Row(r) => r.drive.label(),
            Evidence::Run(_) => "replay".to_string(),
        };
        for (stat, measured_ms) in e.targets() {
            let predicted_ms = p.map_or(f64::NAN, |p| p.of(stat));
            out.push(StatError {
                origin: e.origin().to_string(),
                file: e.file(),
                load: load.clone(),
                statistic: stat.label(),
                measured_ms,
                predicted_ms,
                error: predicted_ms / measured_ms - 1.0,
            });
        }
    }
    out
}

/// Why a per-request run looks saturated, if it does: it served clearly less than was
/// offered, or its TTFT kept growing over the run (a queue that never drained).
pub fn saturation(records: &[TraceRecord], measured: &RunStats) -> Option<String> {
    let (first, last) = records
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), r| {
            (a.min(r.arrival_s), b.max(r.arrival_s))
        });
    let offered = if last > first {
        (records.len() as f64 - 1.0) / (last - first)
    } else {
        f64::NAN
    };
    if offered.is_finite() && measured.served_rps < 0.9 * offered {
        return Some(format!(
            "served {:.2} of {:.2} req/s offered",
            measured.served_rps, offered
        ));
    }
    // TTFT median of the last third against the first third.
    let mut by_time: Vec<&TraceRecord> = records.iter().filter(|r| r.ttft_s.is_some()).collect();
    by_time.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
    let third = by_time.len() / 3;
    if third >= 5 {
        let median = |part: &[&TraceRecord]| {
            let mut v: Vec<f64> = part.iter().filter_map(|r| r.ttft_s).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (early, late) = (
            median(&by_time[..third]),
            median(&by_time[by_time.len() - third..]),
        );
        if late > 3.0 * early && late > 1.0 {
            return Some(format!(
                "TTFT median grew from {:.0} ms in the first third of the run to {:.0} ms in the last",
                early * 1000.0,
                late * 1000.0
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(concurrency: u32, ttft_ms: f64, tpot_ms: f64) -> Evidence {
        Evidence::Row(SweepRow {
            origin: format!("t:{concurrency}"),
            file: 0,
            drive: Drive::Concurrency(concurrency),
            prompt_tokens: 512.0,
            output_tokens: 128.0,
            ttft_ms: Some((TtftStat::Mean, ttft_ms)),
            token_ms: Some((TokenStat::Tpot, tpot_ms)),
            throughput_rps: None,
            replicas: 1,
            max_num_seqs: None,
            max_num_batched_tokens: None,
        })
    }

    const ENGINE: Engine = Engine {
        max_num_seqs: 64,
        max_num_batched_tokens: 2048,
        block_size: 16,
        kv_capacity_tokens: Some(1 << 24),
    };

    #[test]
    fn recovers_the_parameters_that_made_the_rows() {
        // Rows measured from the simulator itself with known parameters: calibration from a
        // start off by 3x in every parameter must find parameters that reproduce them.
        let truth = Gen2Params {
            alpha_ms: 8.0,
            beta_ms_per_token: 0.03,
            gamma_ms_per_kv_token: 0.0001,
        };
        let shells: Vec<Evidence> = [1, 4, 16, 48].iter().map(|&c| row(c, 1.0, 1.0)).collect();
        let predicted = predict_all(
            &shells,
            truth,
            PerfModelKind::V2,
            &ENGINE,
            ENGINE.kv_capacity_tokens,
            1,
        );
        let evidence: Vec<Evidence> = shells
            .iter()
            .zip(&predicted)
            .map(|(e, p)| {
                let Evidence::Row(r) = e else { unreachable!() };
                let p = p.unwrap();
                row(
                    match r.drive {
                        Drive::Concurrency(c) => c,
                        _ => 0,
                    },
                    p.ttft.mean,
                    p.tpot_mean_ms,
                )
            })
            .collect();
        let start = Gen2Params {
            alpha_ms: 24.0,
            beta_ms_per_token: 0.01,
            gamma_ms_per_kv_token: 0.0003,
        };
        let c = calibrate(
            &evidence,
            PerfModelKind::V2,
            start,
            ENGINE,
            false,
            Search::default(),
        )
        .unwrap();
        assert!(c.objective < c.objective_at_start);
        for e in &c.in_sample {
            assert!(e.error.abs() < 0.03, "{e:?}");
        }
        let PerfParams::V2(p) = c.params else {
            panic!()
        };
        assert!((p.alpha_ms / 8.0 - 1.0).abs() < 0.15, "{p:?}");
        assert!((p.beta_ms_per_token / 0.03 - 1.0).abs() < 0.15, "{p:?}");
    }

    #[test]
    fn same_evidence_same_result_and_gen1_is_refused() {
        let evidence = vec![row(4, 100.0, 20.0), row(16, 150.0, 25.0)];
        let start = Gen2Params {
            alpha_ms: 10.0,
            beta_ms_per_token: 0.02,
            gamma_ms_per_kv_token: 0.0001,
        };
        let small = Search {
            scatter: 8,
            starts: 2,
            evaluations: 30,
            seed: 3,
        };
        let a = calibrate(&evidence, PerfModelKind::V2, start, ENGINE, false, small).unwrap();
        let b = calibrate(&evidence, PerfModelKind::V2, start, ENGINE, false, small).unwrap();
        assert_eq!(a, b);
        assert!(calibrate(&evidence, PerfModelKind::V1, start, ENGINE, false, small).is_err());
    }

    #[test]
    fn nelder_mead_finds_a_quadratic_minimum() {
        let f = |x: &[f64]| (x[0] - 1.0).powi(2) + 3.0 * (x[1] + 2.0).powi(2);
        let (x, v, used) = nelder_mead(&f, &[0.0, 0.0], 0.5, 400);
        assert!(v < 1e-6 && (x[0] - 1.0).abs() < 1e-3 && (x[1] + 2.0).abs() < 1e-3);
        assert!(used <= 400 + 3);
    }
}
