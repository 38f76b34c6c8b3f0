//! The replay's fleet lifecycle: replicas asked for, starting, serving, draining and stopped;
//! the gateway that holds requests while none serves; routing; the gauges a controller
//! scrapes; and the bill (replica time, per interval and per variant) once the run ends.

use super::{Intervals, ReplayConfig, ReplicaGauges, VariantState};
use crate::events::EventQueue;
use crate::rng::Stream;
use crate::sim::fleet::pick;
use crate::sim::metrics::Histogram;
use crate::sim::{Completion, Engine, Request};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;

/// Where a replica is in its life.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Starting,
    Serving,
    Draining,
    Stopped,
}

/// Gauge samples of one replica since the last control tick.
#[derive(Clone, Copy, Debug, Default)]
struct Samples {
    n: u32,
    kv_max: f64,
    kv_sum: f64,
    waiting_max: f64,
    waiting_sum: f64,
    running_sum: f64,
    waiting_last: f64,
}

struct Replica {
    variant: usize,
    engine: Engine,
    rng: ChaCha8Rng,
    phase: Phase,
    asked_ms: f64,
    ready_ms: f64,
    /// When it stopped serving (drain began or cancelled), ms.
    unready_ms: f64,
    stopped_ms: f64,
    samples: Samples,
}

/// A replica with nothing in flight and nothing queued.
fn drained(engine: &Engine) -> bool {
    !engine.is_busy() && engine.outstanding() == 0
}

/// The replicas of a replay, whatever their phase, and what serves.
pub(super) struct Lifecycle<'a> {
    config: &'a ReplayConfig,
    replicas: Vec<Replica>,
    /// The replicas serving, in the order they started to.
    serving: Vec<usize>,
    /// Replicas starting, with when they are ready (in order).
    ready_queue: VecDeque<(f64, usize)>,
    /// Replicas per variant the fleet is sized to.
    pub desired: Vec<u32>,
    /// Changes of the desired counts, and those that added replicas.
    pub actions: u32,
    pub ups: u32,
    /// Requests held at the gateway while no replica serves (scale to zero).
    pub gateway: VecDeque<Request>,
    router_rng: ChaCha8Rng,
    turn: usize,
    /// Iteration ends keyed by replica (ties: the lower replica first).
    iteration_ends: EventQueue<usize>,
}

impl<'a> Lifecycle<'a> {
    /// A fleet of `initial` replicas per variant (already within the limits), serving at 0.
    pub fn new(config: &'a ReplayConfig, initial: Vec<u32>) -> Self {
        let mut fleet = Lifecycle {
            config,
            replicas: Vec::new(),
            serving: Vec::new(),
            ready_queue: VecDeque::new(),
            desired: Vec::new(),
            actions: 0,
            ups: 0,
            gateway: VecDeque::new(),
            router_rng: crate::rng::stream(config.seed, Stream::Router, 0),
            turn: 0,
            iteration_ends: EventQueue::new(),
        };
        for (v, &n) in initial.iter().enumerate() {
            for _ in 0..n {
                let r = fleet.add(v, 0.0, 0.0);
                fleet.replicas[r].phase = Phase::Serving;
                fleet.serving.push(r);
            }
        }
        fleet.desired = initial;
        fleet
    }

    /// Asks for a replica of `variant` at `now_ms`, ready at `ready_ms`.
    fn add(&mut self, variant: usize, now_ms: f64, ready_ms: f64) -> usize {
        let index = self.replicas.len();
        self.replicas.push(Replica {
            variant,
            engine: Engine::new(self.config.variants[variant].engine.clone()),
            rng: crate::rng::stream(self.config.seed, Stream::Noise, index as u64),
            phase: Phase::Starting,
            asked_ms: now_ms,
            ready_ms,
            unready_ms: f64::INFINITY,
            stopped_ms: f64::INFINITY,
            samples: Samples::default(),
        });
        index
    }

    /// Replicas serving.
    pub fn serving(&self) -> usize {
        self.serving.len()
    }

    /// When the next starting replica is ready, ms (infinite when none starts).
    pub fn next_ready_ms(&self) -> f64 {
        self.ready_queue.front().map_or(f64::INFINITY, |&(t, _)| t)
    }

    /// When the next engine iteration ends, ms (infinite when none runs).
    pub fn next_iteration_end_ms(&self) -> f64 {
        self.iteration_ends.next_time_ms().unwrap_or(f64::INFINITY)
    }

    /// The variant of replica `r`.
    pub fn variant_of(&self, r: usize) -> usize {
        self.replicas[r].variant
    }

    /// Starts an iteration of replica `r` if it has work; requests it finishes or rejects at
    /// once go to `done`.
    fn start_iteration(&mut self, r: usize, now_ms: f64, done: &mut Vec<Completion>) {
        let rep = &mut self.replicas[r];
        if let Some(end) = rep.engine.start_iteration(now_ms, &mut rep.rng, done) {
            self.iteration_ends.push(end, r);
        }
    }

    /// The next starting replica becomes ready: unless cancelled meanwhile, it serves, and the
    /// requests held at the gateway go to it. Returns it when it started an iteration (its
    /// finished requests in `done`).
    pub fn become_ready(&mut self, now_ms: f64, done: &mut Vec<Completion>) -> Option<usize> {
        let (_, r) = self.ready_queue.pop_front().unwrap_or((0.0, 0));
        if self.replicas[r].phase != Phase::Starting {
            return None;
        }
        self.replicas[r].phase = Phase::Serving;
        self.serving.push(r);
        // Requests held at the gateway go to the first replica that serves.
        while let Some(request) = self.gateway.pop_front() {
            self.replicas[r].engine.enqueue(request);
        }
        let engine = &self.replicas[r].engine;
        if engine.is_busy() || engine.outstanding() == 0 {
            return None;
        }
        done.clear();
        self.start_iteration(r, now_ms, done);
        Some(r)
    }

    /// Prometheus scrapes every serving replica's gauges.
    pub fn scrape(&mut self) {
        for &r in &self.serving {
            let rep = &mut self.replicas[r];
            let s = &mut rep.samples;
            let (kv, waiting) = (rep.engine.kv_fraction(), rep.engine.waiting() as f64);
            s.n += 1;
            s.kv_max = s.kv_max.max(kv);
            s.kv_sum += kv;
            s.waiting_max = s.waiting_max.max(waiting);
            s.waiting_sum += waiting;
            s.running_sum += f64::from(rep.engine.running());
            s.waiting_last = waiting;
        }
    }

    /// The gauges of every serving replica scraped since the last tick (then forgotten), and
    /// each variant's desired, starting and ready replicas.
    pub fn take_gauges(&mut self) -> (Vec<ReplicaGauges>, Vec<VariantState>) {
        let gauges: Vec<ReplicaGauges> = self
            .serving
            .iter()
            .filter(|&&r| self.replicas[r].samples.n > 0)
            .map(|&r| {
                let s = self.replicas[r].samples;
                let n = f64::from(s.n);
                ReplicaGauges {
                    variant: self.replicas[r].variant,
                    kv_usage_max: s.kv_max,
                    kv_usage_mean: s.kv_sum / n,
                    waiting_max: s.waiting_max,
                    waiting_mean: s.waiting_sum / n,
                    running_mean: s.running_sum / n,
                    waiting_last: s.waiting_last,
                }
            })
            .collect();
        for rep in &mut self.replicas {
            rep.samples = Samples::default();
        }
        let mut states = vec![VariantState::default(); self.config.variants.len()];
        for (v, s) in states.iter_mut().enumerate() {
            s.desired = self.desired[v];
        }
        for rep in &self.replicas {
            match rep.phase {
                Phase::Starting => states[rep.variant].starting += 1,
                Phase::Serving => states[rep.variant].ready += 1,
                _ => {}
            }
        }
        (gauges, states)
    }

    /// Sizes the fleet to `wanted` replicas per variant at `now_ms`: new ones ready at
    /// `ready_ms` (serving at once when that is now), surplus ones removed as a ReplicaSet
    /// scales down (those starting first, newest first; then the newest serving ones drain).
    pub fn resize(&mut self, wanted: Vec<u32>, now_ms: f64, ready_ms: f64) {
        self.actions += 1;
        if wanted.iter().sum::<u32>() > self.desired.iter().sum::<u32>() {
            self.ups += 1;
        }
        for (v, &want) in wanted.iter().enumerate() {
            for _ in self.desired[v]..want {
                let r = self.add(v, now_ms, ready_ms);
                if ready_ms <= now_ms {
                    self.replicas[r].phase = Phase::Serving;
                    self.serving.push(r);
                } else {
                    self.ready_queue.push_back((ready_ms, r));
                }
            }
            let excess = self.desired[v].saturating_sub(want);
            self.scale_down(v, excess, now_ms);
        }
        self.desired = wanted;
    }

    /// Removes `excess` replicas of variant `variant`.
    fn scale_down(&mut self, variant: usize, mut excess: u32, now_ms: f64) {
        for rep in self.replicas.iter_mut().rev() {
            if excess == 0 {
                return;
            }
            if rep.variant == variant && rep.phase == Phase::Starting {
                rep.phase = Phase::Stopped;
                rep.unready_ms = now_ms;
                rep.stopped_ms = now_ms;
                excess -= 1;
            }
        }
        while excess > 0 {
            let Some(pos) = self
                .serving
                .iter()
                .rposition(|&r| self.replicas[r].variant == variant)
            else {
                return;
            };
            let r = self.serving.remove(pos);
            let rep = &mut self.replicas[r];
            rep.unready_ms = now_ms;
            if drained(&rep.engine) {
                rep.phase = Phase::Stopped;
                rep.stopped_ms = now_ms;
            } else {
                rep.phase = Phase::Draining;
            }
            excess -= 1;
        }
    }

    /// A request arrives: routed to a serving replica (returned when it started an iteration,
    /// its finished requests in `done`); or, when none serves, held at the gateway, and an
    /// empty fleet asks for a replica of the first variant at once (the activator's cold
    /// start).
    pub fn arrive(
        &mut self,
        request: Request,
        now_ms: f64,
        done: &mut Vec<Completion>,
    ) -> Option<usize> {
        if self.serving.is_empty() {
            self.gateway.push_back(request);
            if self.desired.iter().sum::<u32>() == 0 {
                let mut wake = vec![0; self.config.variants.len()];
                if let Some(v) = self.config.variants.iter().position(|c| c.max_replicas > 0) {
                    wake[v] = 1;
                }
                let wake = self.config.clamp(&wake);
                for (v, &n) in wake.iter().enumerate() {
                    for _ in 0..n {
                        let r = self.add(v, now_ms, now_ms + self.config.startup_s * 1000.0);
                        self.ready_queue.push_back((self.replicas[r].ready_ms, r));
                    }
                }
                self.desired = wake;
                self.actions += 1;
                self.ups += 1;
            }
            return None;
        }
        let replicas = &self.replicas;
        let r = pick(
            self.config.router,
            |r| replicas[r].engine.outstanding(),
            &self.serving,
            &mut self.turn,
            &mut self.router_rng,
        );
        self.replicas[r].engine.enqueue(request);
        if self.replicas[r].engine.is_busy() {
            return None;
        }
        done.clear();
        self.start_iteration(r, now_ms, done);
        Some(r)
    }

    /// The next iteration ends: its replica starts the next one (and stops if it drained).
    /// Returns the replica, its finished requests in `done`.
    pub fn end_iteration(
        &mut self,
        now_ms: f64,
        itl_sink: &mut Histogram,
        done: &mut Vec<Completion>,
    ) -> Option<usize> {
        let (_, r) = self.iteration_ends.pop()?;
        done.clear();
        self.replicas[r]
            .engine
            .finish_iteration(now_ms, itl_sink, done);
        self.start_iteration(r, now_ms, done);
        let rep = &mut self.replicas[r];
        if rep.phase == Phase::Draining && drained(&rep.engine) {
            rep.phase = Phase::Stopped;
            rep.stopped_ms = now_ms;
        }
        Some(r)
    }

    /// Preemptions over every replica.
    pub fn preemptions(&self) -> u64 {
        self.replicas
            .iter()
            .map(|r| r.engine.stats.preemptions)
            .sum()
    }

    /// The bill: from the request for a replica until it stopped, or until `run_end_ms` (the
    /// trace's span, or the last completion when a backlog outlasts it). The intervals cover
    /// the span; a drain tail after it is billed but belongs to no interval.
    pub fn bill(&self, span: &Intervals, run_end_ms: f64) -> Bill {
        let variants = self.config.variants.len();
        let mut bill = Bill {
            paid_ms: vec![0.0; span.count],
            ready_ms: vec![0.0; span.count],
            replica_ms: 0.0,
            variant_ms: vec![0.0; variants],
            peak: 0,
            variant_peaks: Vec::with_capacity(variants),
        };
        let overlap = |a: f64, b: f64, lo: f64, hi: f64| (b.min(hi) - a.max(lo)).max(0.0);
        let mut events: Vec<(f64, i32)> = Vec::new();
        let mut variant_events: Vec<Vec<(f64, i32)>> = vec![Vec::new(); variants];
        for rep in &self.replicas {
            let stop = rep.stopped_ms.min(run_end_ms);
            if stop <= rep.asked_ms {
                continue;
            }
            bill.replica_ms += stop - rep.asked_ms;
            bill.variant_ms[rep.variant] += stop - rep.asked_ms;
            events.push((rep.asked_ms, 1));
            events.push((stop, -1));
            variant_events[rep.variant].push((rep.asked_ms, 1));
            variant_events[rep.variant].push((stop, -1));
            let unready = rep.unready_ms.min(rep.stopped_ms).min(span.end_ms);
            let first = span.index(rep.asked_ms);
            let last = span.index(stop.min(span.end_ms));
            for k in first..=last {
                let (lo, hi) = span.bounds(k);
                bill.paid_ms[k] += overlap(rep.asked_ms, stop, lo, hi);
                if rep.ready_ms < unready {
                    bill.ready_ms[k] += overlap(rep.ready_ms, unready, lo, hi);
                }
            }
        }
        bill.peak = peak_of(events);
        bill.variant_peaks = variant_events.into_iter().map(peak_of).collect();
        bill
    }
}

/// Replica time of a run.
pub(super) struct Bill {
    /// Per interval: replica time paid for, ms.
    pub paid_ms: Vec<f64>,
    /// Per interval: replica time serving, ms.
    pub ready_ms: Vec<f64>,
    /// Replica time paid for over the run, ms.
    pub replica_ms: f64,
    /// The same per variant.
    pub variant_ms: Vec<f64>,
    /// Most replicas alive at once.
    pub peak: u32,
    /// The same per variant.
    pub variant_peaks: Vec<u32>,
}

/// Most replicas alive at once, from their (start, +1) and (stop, -1) events.
fn peak_of(mut events: Vec<(f64, i32)>) -> u32 {
    // Stops before starts at the same instant: a replacement is not an extra replica.
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut live, mut peak) = (0i32, 0i32);
    for (_, d) in events {
        live += d;
        peak = peak.max(live);
    }
    peak.max(0) as u32
}
