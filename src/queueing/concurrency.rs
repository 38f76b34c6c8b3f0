//! Choosing the max batch (upstream's optimal-concurrency "onset" search).
//!
//! `f(M)` = the SLO-bound per-replica throughput when the engine's max batch is `M`. A larger
//! `M` raises throughput but also ITL, so once the ITL target binds, `f` stops growing. The
//! search anchors `f* = f(M_max)` and bisects, with at most `max_probes` probes, for the smallest
//! `M` with `f(M) >= (1 - epsilon/2) f*`: nearly full throughput at a much lower ITL. The
//! bracket comes from closed forms (the largest batch whose no-queue ITL, resp. prefill time,
//! meets its target).

use super::{ReplicaModel, Sizing, Targets, size};
use crate::perf::{PerfParams, RequestShape, ServiceCurve};
use serde::Serialize;

/// Settings of the search (upstream defaults: epsilon 0.02, 6 probes, `[1, 256]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConcurrencySearch {
    /// Accepted throughput loss is `epsilon/2` of the anchor.
    pub epsilon: f64,
    /// Bisection probes at most.
    pub max_probes: usize,
    /// Smallest max batch considered.
    pub min_batch: u32,
    /// Largest max batch considered (the anchor).
    pub max_batch: u32,
}

impl ConcurrencySearch {
    /// Upstream's defaults with the given upper bound.
    pub fn upstream(max_batch: u32) -> Self {
        ConcurrencySearch {
            epsilon: 0.02,
            max_probes: 6,
            min_batch: 1,
            max_batch: max_batch.max(1),
        }
    }
}

/// The outcome of the search.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConcurrencyResult {
    /// The chosen max batch `M*`.
    pub max_batch: u32,
    /// `f(M*)`, requests/s per replica (0 when infeasible).
    pub throughput_rps: f64,
    /// Largest batch whose closed-form ITL meets the target.
    pub m_itl: u32,
    /// Largest batch whose closed-form prefill time meets the TTFT target.
    pub m_tpf: u32,
    /// `f(M_max)`, requests/s.
    pub anchor_throughput_rps: f64,
    /// Feasible oracle evaluations (including the anchor and the confirmation).
    pub oracle_calls: usize,
    /// Every max batch probed, in order.
    pub probes: Vec<u32>,
    /// Whether the targets can be met at all.
    pub feasible: bool,
    /// The sizing at `M*` (absent when infeasible).
    pub sizing: Option<Sizing>,
}

fn largest_meeting(metric: impl Fn(u32) -> f64, target: Option<f64>, max_batch: u32) -> u32 {
    match target {
        None => max_batch,
        Some(target) => (1..=max_batch)
            .filter(|&b| metric(b) <= target)
            .max()
            .unwrap_or(1),
    }
}

/// Runs the onset search for the smallest max batch with near-peak SLO-bound throughput, with a
/// fixed queue allowance (upstream's `/optimize`).
pub fn optimal_max_batch(
    params: PerfParams,
    shape: RequestShape,
    max_queue: u32,
    targets: &Targets,
    search: &ConcurrencySearch,
) -> ConcurrencyResult {
    match ReplicaModel::new(params, shape, search.max_batch.max(1), max_queue) {
        Ok(model) => onset_search(&model, |_| max_queue, targets, search),
        Err(_) => ConcurrencyResult {
            max_batch: search.min_batch.max(1),
            throughput_rps: 0.0,
            m_itl: 1,
            m_tpf: 1,
            anchor_throughput_rps: 0.0,
            oracle_calls: 0,
            probes: Vec::new(),
            feasible: false,
            sizing: None,
        },
    }
}

/// The onset search on an existing replica model (its curve must reach `search.max_batch`);
/// `max_queue(m)` is the queue allowance at max batch `m`.
pub fn onset_search(
    model: &ReplicaModel,
    max_queue: impl Fn(u32) -> u32,
    targets: &Targets,
    search: &ConcurrencySearch,
) -> ConcurrencyResult {
    let curve: &ServiceCurve = model.curve();
    let m_max = search.max_batch.clamp(1, curve.max_batch());
    let m_min = search.min_batch.clamp(1, m_max);
    let m_itl = largest_meeting(|b| curve.itl_at_batch_ms(b), targets.itl_ms, m_max);
    let m_tpf = largest_meeting(|b| curve.prefill_at_batch_ms(b), targets.ttft_ms, m_max);
    let size_at = |m: u32| size(&model.with_limits(m, max_queue(m)), targets).ok();

    let mut probes = Vec::new();
    let mut calls = 0usize;
    let mut probe = |m: u32| -> f64 {
        probes.push(m);
        let thr = size_at(m).map_or(0.0, |s| s.metrics.throughput_rps);
        if thr > 0.0 {
            calls += 1;
        }
        thr
    };

    let anchor = probe(m_max);
    if anchor <= 0.0 {
        return ConcurrencyResult {
            max_batch: m_min,
            throughput_rps: 0.0,
            m_itl,
            m_tpf,
            anchor_throughput_rps: 0.0,
            oracle_calls: calls,
            probes,
            feasible: false,
            sizing: None,
        };
    }
    let threshold = (1.0 - search.epsilon / 2.0) * anchor;
    let mut lo = m_min.max(m_itl.min(m_tpf));
    let upper = m_itl.max(m_tpf);
    let mut hi = m_max.min((3 * upper).max(lo + 1)).max(lo);
    let mut steps = 0;
    while lo < hi && steps < search.max_probes {
        let mid = (lo + hi) / 2;
        if probe(mid) >= threshold {
            hi = mid;
        } else {
            lo = mid + 1;
        }
        steps += 1;
    }
    let chosen = hi.clamp(m_min, m_max);
    let throughput = probe(chosen);
    ConcurrencyResult {
        max_batch: chosen,
        throughput_rps: throughput,
        m_itl,
        m_tpf,
        anchor_throughput_rps: anchor,
        oracle_calls: calls,
        probes,
        feasible: throughput > 0.0,
        sizing: size_at(chosen),
    }
}
