//! The replay's accounting: what every request did (served within its targets, late,
//! rejected), kept per interval of arrival, per variant and over the run; the window of recent
//! completions a controller reads; and, at the end, the rows of the interval table.

use super::lifecycle::Bill;
use super::{Attainment, IntervalRow, Intervals, ReplayConfig};
use crate::sim::metrics::quantile;
use crate::sim::{Completion, Request};
use crate::slo::Statistic;
use std::collections::VecDeque;

/// A completion as the controller's window keeps it.
#[derive(Clone, Copy)]
struct Done {
    finish_ms: f64,
    prompt: u32,
    output: u32,
    ttft_ms: f64,
    /// `None` for a one-token answer (no gap to time).
    tpot_ms: Option<f64>,
}

/// Per interval (by arrival), what its requests did.
#[derive(Clone, Default)]
struct IntervalAcc {
    rejected: u64,
    tpot_ms: Vec<f64>,
    met_ttft: u64,
    met_itl: u64,
    met_both: u64,
    ttft_ms: Vec<f64>,
}

/// What the window of recent completions shows a controller.
pub(super) struct WindowView {
    /// Completions in the window.
    pub completions: f64,
    /// Their mean prompt and output tokens, TTFT and time per output token (`None` when
    /// there is none to average).
    pub mean_prompt_tokens: Option<f64>,
    pub mean_output_tokens: Option<f64>,
    pub mean_ttft_ms: Option<f64>,
    pub mean_tpot_ms: Option<f64>,
}

/// Every request's outcome, as the run goes.
pub(super) struct Ledger<'a> {
    config: &'a ReplayConfig,
    span: Intervals,
    window: VecDeque<Done>,
    acc: Vec<IntervalAcc>,
    /// Per variant: requests served and of those within both targets.
    pub served_by: Vec<(u64, u64)>,
    /// TTFT of every request served, and time per output token of those with two tokens or
    /// more.
    pub all_ttft: Vec<f64>,
    pub all_tpot: Vec<f64>,
    /// Requests within the TTFT target, the ITL target, both; and rejected.
    pub met_ttft: u64,
    pub met_itl: u64,
    pub met_both: u64,
    pub rejected: u64,
}

impl<'a> Ledger<'a> {
    /// An empty ledger over the intervals of `span`.
    pub fn new(config: &'a ReplayConfig, span: Intervals) -> Self {
        Ledger {
            config,
            acc: vec![IntervalAcc::default(); span.count],
            span,
            window: VecDeque::new(),
            served_by: vec![(0, 0); config.variants.len()],
            all_ttft: Vec::new(),
            all_tpot: Vec::new(),
            met_ttft: 0,
            met_itl: 0,
            met_both: 0,
            rejected: 0,
        }
    }

    /// A request finished (or was rejected) on a replica of `variant`.
    pub fn record(&mut self, c: &Completion, variant: usize) {
        let k = self.span.index(c.request.arrival_ms);
        self.served_by[variant].0 += 1;
        if c.rejected {
            self.rejected += 1;
            self.acc[k].rejected += 1;
            return;
        }
        let (ttft, tpot) = (c.ttft_ms(), c.tpot_ms());
        let (ok_ttft, ok_itl) = self.config.targets.met_by(ttft, tpot);
        let a = &mut self.acc[k];
        a.met_ttft += u64::from(ok_ttft);
        a.met_itl += u64::from(ok_itl);
        a.met_both += u64::from(ok_ttft && ok_itl);
        a.ttft_ms.push(ttft);
        if c.request.output_tokens > 1 {
            a.tpot_ms.push(tpot);
        }
        self.met_ttft += u64::from(ok_ttft);
        self.met_itl += u64::from(ok_itl);
        self.met_both += u64::from(ok_ttft && ok_itl);
        self.served_by[variant].1 += u64::from(ok_ttft && ok_itl);
        self.all_ttft.push(ttft);
        if c.request.output_tokens > 1 {
            self.all_tpot.push(tpot);
        }
        self.window.push_back(Done {
            finish_ms: c.finish_ms,
            prompt: c.request.prompt_tokens,
            output: c.request.output_tokens,
            ttft_ms: ttft,
            tpot_ms: (c.request.output_tokens > 1).then_some(tpot),
        });
    }

    /// The completions since `from_ms` (older ones are forgotten).
    pub fn window_since(&mut self, from_ms: f64) -> WindowView {
        while self.window.front().is_some_and(|d| d.finish_ms < from_ms) {
            self.window.pop_front();
        }
        let window = &self.window;
        let n = window.len() as f64;
        let mean = |f: fn(&Done) -> f64| (n > 0.0).then(|| window.iter().map(f).sum::<f64>() / n);
        WindowView {
            completions: n,
            mean_prompt_tokens: mean(|d| f64::from(d.prompt)),
            mean_output_tokens: mean(|d| f64::from(d.output)),
            mean_ttft_ms: mean(|d| d.ttft_ms),
            mean_tpot_ms: {
                let (sum, n) = window
                    .iter()
                    .filter_map(|d| d.tpot_ms)
                    .fold((0.0, 0u32), |(s, n), t| (s + t, n + 1));
                (n > 0).then(|| sum / f64::from(n))
            },
        }
    }

    /// The rows of the interval table: each interval's arrivals (of `requests`), the desired
    /// replicas at its start (`desired_at`), replica time from `bill`, and what its requests
    /// did.
    pub fn rows(
        &mut self,
        requests: &[Request],
        desired_at: &[u32],
        bill: &Bill,
    ) -> Vec<IntervalRow> {
        let span = self.span;
        let targets = &self.config.targets;
        let mut arrivals = vec![0u64; span.count];
        for r in requests {
            arrivals[span.index(r.arrival_ms)] += 1;
        }
        let mut rows = Vec::with_capacity(span.count);
        for (k, a) in self.acc.iter_mut().enumerate() {
            let (lo, hi) = span.bounds(k);
            let len_ms = (hi - lo).max(1e-9);
            let n = arrivals[k];
            a.ttft_ms.sort_unstable_by(f64::total_cmp);
            let mean_ttft = if a.ttft_ms.is_empty() {
                f64::NAN
            } else {
                a.ttft_ms.iter().sum::<f64>() / a.ttft_ms.len() as f64
            };
            let p99 = quantile(&a.ttft_ms, 0.99);
            a.tpot_ms.sort_unstable_by(f64::total_cmp);
            let mean_tpot = if a.tpot_ms.is_empty() {
                f64::NAN
            } else {
                a.tpot_ms.iter().sum::<f64>() / a.tpot_ms.len() as f64
            };
            // The target's statistic over the interval's requests (a percentile ITL target is
            // judged on the requests' time per output token).
            let at = |sorted: &[f64], mean: f64, stat: Statistic| match stat.quantile() {
                None => mean,
                Some(q) => quantile(sorted, q),
            };
            let ttft_stat = at(&a.ttft_ms, mean_ttft, targets.ttft_stat);
            let tpot_stat = at(&a.tpot_ms, mean_tpot, targets.itl_stat);
            let over = |value: f64, target: Option<f64>| target.is_some_and(|t| value > t);
            rows.push(IntervalRow {
                start_s: lo / 1000.0,
                duration_s: (hi - lo) / 1000.0,
                arrivals_rps: n as f64 / (len_ms / 1000.0),
                desired: desired_at[k],
                replicas_mean: bill.paid_ms[k] / len_ms,
                ready_mean: bill.ready_ms[k] / len_ms,
                requests: n,
                rejected: a.rejected,
                attainment: Attainment {
                    ttft: share(a.met_ttft, n),
                    itl: share(a.met_itl, n),
                    both: share(a.met_both, n),
                },
                mean_ttft_ms: mean_ttft,
                p99_ttft_ms: p99,
                mean_tpot_ms: mean_tpot,
                breach: n > 0
                    && (over(ttft_stat, targets.ttft_ms) || over(tpot_stat, targets.itl_ms)),
            });
        }
        rows
    }
}

/// `met` of `n` as a share (NaN when `n` is 0).
pub(super) fn share(met: u64, n: u64) -> f64 {
    if n > 0 {
        met as f64 / n as f64
    } else {
        f64::NAN
    }
}
