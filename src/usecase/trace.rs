//! `wva trace` as library calls: a trace file read whole (transformed, in arrival order, from
//! 0), its statistics, a synthetic trace (like a real one, or drawn from distributions), and a
//! trace converted to another format.

use super::Listener;
use crate::error::Error;
use crate::load::shape::Shape;
use crate::load::synth::{from_distributions, like};
use crate::report::TraceReport;
use crate::sim::{Horizon, Traffic};
use crate::spec::Workload;
use crate::trace::stats::StatsBuilder;
use crate::trace::write::write;
use crate::trace::{Format, Trace, TraceRecord, Transforms};
use std::path::PathBuf;

/// A trace file and how to read it.
#[derive(Clone, Debug)]
pub struct TraceFile {
    /// The file.
    pub path: PathBuf,
    /// Its format (`None`: detected from its first line).
    pub format: Option<Format>,
    /// Skip malformed rows (and count them) instead of stopping at the first.
    pub skip_bad_rows: bool,
    /// What to do to its requests as they are read (window, rate and time scaling, models).
    pub transforms: Transforms,
}

impl TraceFile {
    /// `path`, its format detected, read as it is.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        TraceFile {
            path: path.into(),
            format: None,
            skip_bad_rows: false,
            transforms: Transforms::default(),
        }
    }

    /// Opens the file: its requests, transformed, as they are read.
    pub fn open(&self) -> Result<Trace, Error> {
        Trace::open(
            &self.path,
            self.format,
            &self.transforms,
            self.skip_bad_rows,
        )
        .map_err(Error::from)
    }
}

/// The error for a trace with nothing left to read: every row malformed (when skipped), every
/// request failed, or nothing in the window.
fn no_requests(file: &TraceFile, trace: &Trace) -> Error {
    Error::Usage(format!(
        "{}: no requests to read ({} malformed rows skipped, {} failed requests left out)",
        file.path.display(),
        trace.skipped_rows(),
        trace.failed_requests()
    ))
}

/// Reads all of `file`, in arrival order (equal arrivals in file order), the first arriving at
/// 0 s. What was left out, and a reordering, are noted to `listener`.
pub fn read(file: &TraceFile, listener: &dyn Listener) -> Result<Vec<TraceRecord>, Error> {
    let mut trace = file.open()?;
    let mut records = Vec::new();
    for r in trace.by_ref() {
        records.push(r?);
    }
    if records.is_empty() {
        return Err(no_requests(file, &trace));
    }
    if trace.skipped_rows() > 0 || trace.failed_requests() > 0 {
        listener.note(&format!(
            "{}: left out {} malformed rows and {} failed requests (no output tokens)",
            file.path.display(),
            trace.skipped_rows(),
            trace.failed_requests()
        ));
    }
    let unordered = records
        .windows(2)
        .filter(|w| w[1].arrival_s < w[0].arrival_s)
        .count();
    if unordered > 0 {
        listener.note(&format!(
            "{}: {unordered} record(s) arrive before the one above them; sorted by arrival",
            file.path.display()
        ));
        records.sort_by(|a, b| a.arrival_s.total_cmp(&b.arrival_s));
    }
    if let Some(first) = records.first().map(|r| r.arrival_s)
        && first != 0.0
    {
        for r in &mut records {
            r.arrival_s -= first;
        }
    }
    Ok(records)
}

/// `wva trace stats`: the statistics of `file`'s requests (volume, rate per minute,
/// burstiness, token distributions), streamed from a file of any size.
pub fn stats(file: &TraceFile) -> Result<TraceReport, Error> {
    let mut trace = file.open()?;
    let mut builder = StatsBuilder::new();
    let mut count = 0u64;
    for r in trace.by_ref() {
        builder.add(&r?);
        count += 1;
    }
    if count == 0 {
        return Err(no_requests(file, &trace));
    }
    Ok(TraceReport {
        file: file.path.display().to_string(),
        format: trace.format(),
        skipped_rows: trace.skipped_rows(),
        failed_requests: trace.failed_requests(),
        stats: builder.finish(),
    })
}

/// Where a synthetic trace's requests come from.
#[derive(Clone, Debug)]
pub enum SynthSource {
    /// Like a real trace: its per-minute rate curve and its joint token distribution.
    Like {
        /// The trace to copy.
        trace: TraceFile,
        /// Draw each minute's count from a Poisson distribution around the source's (else keep
        /// its counts, placing arrivals at random within each minute).
        poisson_counts: bool,
    },
    /// Drawn from an arrival process and token-length distributions around their means.
    Distributions {
        /// Arrival rate, requests/s.
        rate_rps: f64,
        /// Mean prompt tokens.
        prompt_tokens: f64,
        /// Mean output tokens.
        output_tokens: f64,
        /// The arrival process and length distributions (`None` in each: Poisson arrivals,
        /// the default lengths).
        shape: Shape,
        /// How many requests, or how long, to draw.
        horizon: Horizon,
        /// The model every request names (`None`: none).
        model: Option<String>,
    },
}

/// `wva trace synth`'s request.
#[derive(Clone, Debug)]
pub struct SynthRequest {
    /// Where the requests come from.
    pub source: SynthSource,
    /// Seed of every random choice.
    pub seed: u64,
    /// The format to write.
    pub to: Format,
}

/// `wva trace synth`: a synthetic trace, written in `request.to`'s format; what was left out of
/// a source trace is noted to `listener`.
pub fn synth(request: &SynthRequest, listener: &dyn Listener) -> Result<String, Error> {
    let seed = request.seed;
    let records = match &request.source {
        SynthSource::Like {
            trace,
            poisson_counts,
        } => {
            let records = read(trace, listener)?;
            let shape = crate::load::synth::Shape::of(records.into_iter().map(Ok), seed)
                .map_err(|e| Error::Usage(format!("{}: {e}", trace.path.display())))?;
            like(&shape, *poisson_counts, seed)
        }
        SynthSource::Distributions {
            rate_rps,
            prompt_tokens,
            output_tokens,
            shape,
            horizon,
            model,
        } => {
            let mut w = Workload::from_load(
                "synth",
                model.as_deref().unwrap_or_default(),
                "",
                *rate_rps,
                *prompt_tokens,
                *output_tokens,
            );
            shape.apply(&mut w);
            let traffic = Traffic {
                rate_rps: *rate_rps,
                arrivals: w.arrivals,
                prompt: w.prompt_dist,
                output: w.output_dist,
            };
            let mut records = from_distributions(&traffic, *horizon, seed);
            for r in &mut records {
                r.model.clone_from(model);
            }
            records
        }
    };
    Ok(write(&records, request.to)?)
}

/// `wva trace convert`'s request.
#[derive(Clone, Debug)]
pub struct ConvertRequest {
    /// The trace, and what to do to it.
    pub trace: TraceFile,
    /// The format to write.
    pub to: Format,
}

/// `wva trace convert`: the trace read (transformed, in arrival order, from 0) and written in
/// `request.to`'s format; what was left out is noted to `listener`.
pub fn convert(request: &ConvertRequest, listener: &dyn Listener) -> Result<String, Error> {
    let records = read(&request.trace, listener)?;
    Ok(write(&records, request.to)?)
}
