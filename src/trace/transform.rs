//! Transformations applied wherever a trace is read: a time window, rate scaling (thinning or
//! superposition), time scaling, a request cap and a model name. All streaming; the random
//! choices of rate scaling come from the seed.

use super::{TraceError, TraceRecord};
use crate::error::{Field, request_error};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::str::FromStr;

/// A time window of a trace, s since its first arrival: `START..END`, `START..` or `..END`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// Start, s (inclusive).
    pub start_s: f64,
    /// End, s (exclusive; infinite when open).
    pub end_s: f64,
}

impl FromStr for Window {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (a, b) = text.split_once("..").ok_or_else(|| {
            format!(
                "`{text}` is not a window: write START..END in seconds (either may be left out)"
            )
        })?;
        let bound = |s: &str, default: f64| -> Result<f64, String> {
            let s = s.trim();
            if s.is_empty() {
                return Ok(default);
            }
            let v: f64 = s
                .parse()
                .map_err(|_| format!("`{s}` is not a number of seconds"))?;
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                Err(format!("window bounds must be finite and >= 0, got {s}"))
            }
        };
        let w = Window {
            start_s: bound(a, 0.0)?,
            end_s: bound(b, f64::INFINITY)?,
        };
        if w.end_s <= w.start_s {
            return Err(format!("the window `{text}` is empty"));
        }
        Ok(w)
    }
}

/// Model names: assign one to every request, or rename some.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelMap {
    /// Every request gets this model.
    Assign(String),
    /// `(from, to)`: requests of model `from` become `to`; others keep theirs.
    Rename(Vec<(String, String)>),
}

impl FromStr for ModelMap {
    type Err = String;

    /// `NAME` assigns; `OLD=NEW[,OLD2=NEW2...]` renames.
    fn from_str(text: &str) -> Result<Self, String> {
        if !text.contains('=') {
            let name = text.trim();
            if name.is_empty() {
                return Err("a model name cannot be empty".into());
            }
            return Ok(ModelMap::Assign(name.to_string()));
        }
        let mut pairs = Vec::new();
        for part in text.split(',') {
            let (a, b) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not OLD=NEW"))?;
            let (a, b) = (a.trim(), b.trim());
            if a.is_empty() || b.is_empty() {
                return Err(format!("`{part}`: both names are needed (OLD=NEW)"));
            }
            pairs.push((a.to_string(), b.to_string()));
        }
        Ok(ModelMap::Rename(pairs))
    }
}

impl ModelMap {
    fn apply(&self, model: &mut Option<String>) {
        match self {
            ModelMap::Assign(m) => *model = Some(m.clone()),
            ModelMap::Rename(pairs) => {
                if let Some(current) = model.as_deref()
                    && let Some((_, to)) = pairs.iter().find(|(from, _)| from == current)
                {
                    *model = Some(to.clone());
                }
            }
        }
    }
}

/// Largest `--rate-scale`.
pub const MAX_RATE_SCALE: f64 = 1000.0;

/// Latest arrival accepted, s after the first (about 317 years): beyond, times are nonsense.
pub const MAX_ARRIVAL_S: f64 = 1e10;

/// What to do to a trace as it is read.
#[derive(Clone, Debug, PartialEq)]
pub struct Transforms {
    /// Keep only this window (in the trace's own time); arrivals then start at its start.
    pub window: Option<Window>,
    /// Scale the request rate by this factor: below 1, each request is kept with that
    /// probability; above 1, each is repeated `floor(F)` times plus once more with probability
    /// `F - floor(F)`, copies placed uniformly between it and the next arrival (so the rate
    /// curve keeps its shape and the token distributions are unchanged).
    pub rate_scale: f64,
    /// Multiply every arrival time by this (0.5: twice as fast).
    pub time_scale: f64,
    /// Stop after this many requests.
    pub max_requests: Option<u64>,
    /// Model names to assign or rename.
    pub model: Option<ModelMap>,
    /// Seed of the rate scaling's random choices.
    pub seed: u64,
    /// Keep failed requests (zero output tokens) instead of leaving them out.
    pub keep_failed: bool,
}

impl Default for Transforms {
    fn default() -> Self {
        Transforms {
            window: None,
            rate_scale: 1.0,
            time_scale: 1.0,
            max_requests: None,
            model: None,
            seed: 1,
            keep_failed: false,
        }
    }
}

impl Transforms {
    fn check(&self) -> Result<(), TraceError> {
        let (rate_scale, time_scale) = (Field("rate_scale"), Field("time_scale"));
        let positive = |v: f64, field: Field| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(TraceError::Settings(request_error!(
                    field,
                    format!(" must be > 0, got {v}")
                )))
            }
        };
        positive(self.rate_scale, rate_scale)?;
        positive(self.time_scale, time_scale)?;
        let (low, high) = crate::limits::TIME_SCALE_RANGE;
        if !(low..=high).contains(&self.time_scale) {
            return Err(TraceError::Settings(request_error!(
                time_scale,
                format!(" must be from {low:e} to {high:e}, got {}", self.time_scale)
            )));
        }
        if self.rate_scale > MAX_RATE_SCALE {
            return Err(TraceError::Settings(request_error!(
                rate_scale,
                format!(" must be at most {MAX_RATE_SCALE}, got {}", self.rate_scale)
            )));
        }
        Ok(())
    }
}

/// An iterator of records with the transforms applied.
pub struct Transformed<I> {
    inner: I,
    t: Transforms,
    rng: ChaCha8Rng,
    origin_s: Option<f64>,
    /// The last record kept, waiting for the next arrival to place its copies.
    pending: Option<(TraceRecord, u32)>,
    ready: VecDeque<TraceRecord>,
    emitted: u64,
    /// Mean gap between kept records so far, s (for the last record's copies).
    gap_sum_s: f64,
    gaps: u64,
    last_s: Option<f64>,
    done: bool,
}

impl<I> Transformed<I> {
    /// Applies `t` to `inner`.
    pub fn new(inner: I, t: Transforms) -> Result<Self, TraceError> {
        t.check()?;
        Ok(Transformed {
            inner,
            rng: ChaCha8Rng::seed_from_u64(t.seed),
            t,
            origin_s: None,
            pending: None,
            ready: VecDeque::new(),
            emitted: 0,
            gap_sum_s: 0.0,
            gaps: 0,
            last_s: None,
            done: false,
        })
    }

    /// The underlying reader.
    pub fn inner(&self) -> &I {
        &self.inner
    }

    /// How many times a kept record appears.
    fn copies(&mut self) -> u32 {
        let f = self.t.rate_scale;
        let whole = f.floor();
        let extra = u32::from(self.rng.random::<f64>() < f - whole);
        whole as u32 + extra
    }

    /// Moves the pending record and its copies (spread up to `next_s`) to `ready`.
    fn release(&mut self, next_s: Option<f64>) {
        let Some((record, copies)) = self.pending.take() else {
            return;
        };
        let mut gap = match next_s {
            Some(n) => (n - record.arrival_s).max(0.0),
            None if self.gaps > 0 => self.gap_sum_s / self.gaps as f64,
            None => 0.0,
        };
        // Copies stay inside the window.
        if let Some(w) = self.t.window {
            gap = gap.min((w.end_s - w.start_s - record.arrival_s).max(0.0));
        }
        let mut times: Vec<f64> = (1..copies)
            .map(|_| record.arrival_s + self.rng.random::<f64>() * gap)
            .collect();
        times.sort_by(f64::total_cmp);
        self.ready.push_back(record.clone());
        for t in times {
            // A copy was not measured.
            self.ready.push_back(TraceRecord {
                arrival_s: t,
                ttft_s: None,
                e2e_s: None,
                ..record.clone()
            });
        }
    }
}

impl<I: Iterator<Item = Result<TraceRecord, TraceError>>> Iterator for Transformed<I> {
    type Item = Result<TraceRecord, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.t.max_requests.is_some_and(|m| self.emitted >= m) {
                return None;
            }
            if let Some(mut r) = self.ready.pop_front() {
                self.emitted += 1;
                if self.t.time_scale != 1.0 {
                    r.arrival_s *= self.t.time_scale;
                    if r.arrival_s.abs() > MAX_ARRIVAL_S {
                        self.done = true;
                        return Some(Err(TraceError::Settings(request_error!(
                            Field("time_scale"),
                            format!(
                                " {} puts a request {:e} s after the first: beyond {MAX_ARRIVAL_S:e} s",
                                self.t.time_scale, r.arrival_s
                            )
                        ))));
                    }
                    // Measured latencies belong to the original timing.
                    r.ttft_s = None;
                    r.e2e_s = None;
                }
                if let Some(m) = &self.t.model {
                    m.apply(&mut r.model);
                }
                return Some(Ok(r));
            }
            if self.done {
                return None;
            }
            match self.inner.next() {
                None => {
                    self.done = true;
                    self.release(None);
                }
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(mut r)) => {
                    let origin = *self.origin_s.get_or_insert(r.arrival_s);
                    let mut t = r.arrival_s - origin;
                    if t.is_nan() || t.abs() > MAX_ARRIVAL_S {
                        self.done = true;
                        return Some(Err(TraceError::Arrival(format!(
                            "a request arrives {t:e} s after the trace's first: beyond {MAX_ARRIVAL_S:e} s, the timestamps cannot be right"
                        ))));
                    }
                    if let Some(w) = self.t.window {
                        if t < w.start_s || t >= w.end_s {
                            continue;
                        }
                        t -= w.start_s;
                    }
                    r.arrival_s = t;
                    if let Some(last) = self.last_s {
                        self.gap_sum_s += (t - last).max(0.0);
                        self.gaps += 1;
                    }
                    self.last_s = Some(t);
                    self.release(Some(t));
                    let copies = if self.t.rate_scale == 1.0 {
                        1
                    } else {
                        self.copies()
                    };
                    if copies > 0 {
                        self.pending = Some((r, copies));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(times: &[f64]) -> Vec<Result<TraceRecord, TraceError>> {
        times
            .iter()
            .map(|&t| {
                Ok(TraceRecord {
                    arrival_s: t,
                    prompt_tokens: 10,
                    output_tokens: 5,
                    ..TraceRecord::default()
                })
            })
            .collect()
    }

    fn apply(times: &[f64], t: Transforms) -> Vec<f64> {
        Transformed::new(records(times).into_iter(), t)
            .unwrap()
            .map(|r| r.unwrap().arrival_s)
            .collect()
    }

    #[test]
    fn shifts_to_zero_windows_and_scales_time() {
        assert_eq!(
            apply(&[100.0, 101.0, 103.0], Transforms::default()),
            [0.0, 1.0, 3.0]
        );
        let window = Transforms {
            window: Some("1..3".parse().unwrap()),
            time_scale: 2.0,
            ..Transforms::default()
        };
        assert_eq!(apply(&[100.0, 101.0, 102.0, 103.0], window), [0.0, 2.0]);
        let capped = Transforms {
            max_requests: Some(2),
            ..Transforms::default()
        };
        assert_eq!(apply(&[0.0, 1.0, 2.0], capped).len(), 2);
    }

    #[test]
    fn rate_scaling_thins_and_superposes_in_order() {
        let times: Vec<f64> = (0..20_000).map(|i| f64::from(i) * 0.1).collect();
        for f in [0.25, 1.0, 2.5] {
            let out = apply(
                &times,
                Transforms {
                    rate_scale: f,
                    seed: 3,
                    ..Transforms::default()
                },
            );
            let ratio = out.len() as f64 / times.len() as f64;
            assert!((ratio - f).abs() < 0.02 * f, "{f}: {ratio}");
            assert!(out.windows(2).all(|w| w[0] <= w[1]), "{f}: out of order");
            assert!(*out.last().unwrap() < 2_000.1);
        }
    }

    #[test]
    fn windows_parse() {
        let w: Window = "600..1200".parse().unwrap();
        assert_eq!((w.start_s, w.end_s), (600.0, 1200.0));
        let w: Window = "..60".parse().unwrap();
        assert_eq!((w.start_s, w.end_s), (0.0, 60.0));
        assert!("10..5".parse::<Window>().is_err());
        assert!("10".parse::<Window>().is_err());
        assert!("a..b".parse::<Window>().is_err());
    }
}
