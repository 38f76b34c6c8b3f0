//! The trace flags every command reading a trace shares (`wva trace`, `wva simulate`, `wva
//! plan`, `wva replay`): the format, the window, rate and time scaling, and what to leave out,
//! lowered into the library's [`TraceFile`].

use super::args;
use super::progress::Terminal;
use crate::error::Error;
use crate::trace::{Format, ModelMap, Trace, TraceRecord, Transforms, Window};
use crate::usecase::trace::{self, TraceFile};
use clap::Args;
use std::path::Path;

/// Where a trace comes from and what to do to it, wherever one is read.
#[derive(Debug, Args, Clone)]
pub(super) struct TraceInputArgs {
    /// The trace's format (default: detected from its first line)
    #[arg(long, value_enum)]
    pub trace_format: Option<Format>,
    /// Skip malformed rows (and count them) instead of stopping at the first
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Keep only this window of the trace, seconds from its first arrival: START..END, START..
    /// or ..END
    #[arg(long, value_parser = parse_window)]
    pub window: Option<Window>,
    /// Scale the request rate: below 1 keeps each request with that probability, above 1 adds
    /// copies between consecutive arrivals (the rate curve keeps its shape)
    #[arg(long, value_parser = args::positive, default_value_t = 1.0)]
    pub rate_scale: f64,
    /// Multiply arrival times by this (0.5 replays twice as fast)
    #[arg(long, value_parser = args::time_scale, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Stop after this many requests
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: Option<u64>,
    /// Keep failed requests (zero output tokens) in the statistics instead of leaving them out
    #[arg(long)]
    pub keep_failed: bool,
}

fn parse_window(text: &str) -> Result<Window, String> {
    text.parse()
}

impl TraceInputArgs {
    /// Whether any of these flags differs from its default.
    pub fn is_set(&self) -> bool {
        self.trace_format.is_some()
            || self.skip_bad_rows
            || self.window.is_some()
            || self.rate_scale != 1.0
            || self.time_scale != 1.0
            || self.max_requests.is_some()
            || self.keep_failed
    }

    /// The trace at `path` with these settings, `model` names and `seed` for rate scaling.
    pub fn file(&self, path: &Path, model: Option<ModelMap>, seed: u64) -> TraceFile {
        TraceFile {
            path: path.to_path_buf(),
            format: self.trace_format,
            skip_bad_rows: self.skip_bad_rows,
            transforms: Transforms {
                window: self.window,
                rate_scale: self.rate_scale,
                time_scale: self.time_scale,
                max_requests: self.max_requests,
                model,
                seed,
                keep_failed: self.keep_failed,
            },
        }
    }

    /// Opens `path` with these settings.
    pub fn open(&self, path: &Path, model: Option<ModelMap>, seed: u64) -> Result<Trace, Error> {
        self.file(path, model, seed).open()
    }

    /// Reads all of `path`, in arrival order from 0, reporting what was left out on stderr.
    pub fn read(
        &self,
        path: &Path,
        model: Option<ModelMap>,
        seed: u64,
    ) -> Result<Vec<TraceRecord>, Error> {
        trace::read(&self.file(path, model, seed), &Terminal::default())
    }
}
