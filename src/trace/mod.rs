//! Request traces: reading the public formats of LLM serving traffic (streaming, one record at a
//! time), transforming them (time and rate scaling, windows, model names), characterising them,
//! and writing them back out (look-alike traces are drawn in [`crate::load::synth`]).
//!
//! Every reader yields [`TraceRecord`]s in file order: an arrival time in seconds (each format's
//! own origin: epoch seconds, or seconds from the trace's start), prompt and output tokens, an
//! optional model name, and the measured latencies when the format has them. [`Trace`] opens a
//! file, detects its format from the first line (or takes the one given), and applies
//! [`Transforms`]; arrival times it yields start at 0 at the trace's first record.

mod format;
mod read;
pub mod stats;
pub(crate) mod time;
mod transform;
pub mod write;

pub use format::Format;
pub use read::{Reader, read_all};
pub use transform::{MAX_RATE_SCALE, ModelMap, Transforms, Window};

use std::path::PathBuf;

/// One request of a trace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceRecord {
    /// Arrival time, s (after [`Trace`]: since the trace's first arrival).
    pub arrival_s: f64,
    /// Prompt (input) tokens.
    pub prompt_tokens: u32,
    /// Output (generated) tokens; 0 marks a failed request in formats that log them.
    pub output_tokens: u32,
    /// Model name, when the format records one.
    pub model: Option<String>,
    /// Measured time to first token, s (benchmarks and measured runs).
    pub ttft_s: Option<f64>,
    /// Measured end-to-end latency, s.
    pub e2e_s: Option<f64>,
}

/// What went wrong reading a trace.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file cannot be opened or read.
    #[error("{}: {cause}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The format cannot be recognised from the first line.
    #[error("{}", unknown_format(file, first_line))]
    UnknownFormat {
        /// The file.
        file: PathBuf,
        /// The first line, shortened.
        first_line: String,
    },
    /// A malformed row.
    #[error("{}:{line}{}: {}", file.display(), column.as_ref().map(|c| format!(": {c}")).unwrap_or_default(), crate::limits::shorten(message))]
    Row {
        /// The file.
        file: PathBuf,
        /// Line number (1-based).
        line: u64,
        /// The column (name) or JSON position.
        column: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// Bad transform settings.
    #[error("{0}")]
    Settings(crate::error::RequestError),
    /// An arrival time beyond what a trace can hold (its timestamps cannot be right).
    #[error("{0}")]
    Arrival(String),
}

/// The message of [`TraceError::UnknownFormat`], which names the request's `trace_format`.
fn unknown_format(file: &std::path::Path, first_line: &str) -> crate::error::RequestError {
    crate::error::request_error!(
        format!(
            "{}: cannot tell the trace format from its first line ({first_line}); give ",
            file.display()
        ),
        crate::error::Field("trace_format"),
        format!(" ({})", Format::names())
    )
}

impl TraceError {
    /// Whether this is one malformed row (which `--skip-bad-rows` may skip).
    pub fn is_row(&self) -> bool {
        matches!(self, TraceError::Row { .. })
    }
}

/// A trace opened for reading: its records, in file order, with arrivals shifted to start at
/// 0 and the transforms applied.
pub struct Trace {
    inner: transform::Transformed<Reader>,
}

impl Trace {
    /// Opens `path` in `format` (detected from the first line when `None`).
    pub fn open(
        path: &std::path::Path,
        format: Option<Format>,
        transforms: &Transforms,
        skip_bad_rows: bool,
    ) -> Result<Trace, TraceError> {
        let reader = Reader::open(path, format, skip_bad_rows)?.keep_failed(transforms.keep_failed);
        Ok(Trace {
            inner: transform::Transformed::new(reader, transforms.clone())?,
        })
    }

    /// The format being read.
    pub fn format(&self) -> Format {
        self.inner.inner().format()
    }

    /// Rows skipped as malformed (with `skip_bad_rows`).
    pub fn skipped_rows(&self) -> u64 {
        self.inner.inner().skipped_rows()
    }

    /// Failed requests (zero output tokens) skipped.
    pub fn failed_requests(&self) -> u64 {
        self.inner.inner().failed_requests()
    }
}

impl Iterator for Trace {
    type Item = Result<TraceRecord, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

impl crate::error::ModuleError for TraceError {
    fn request_error(&self) -> Option<crate::error::RequestError> {
        match self {
            TraceError::Settings(r) => Some(r.clone()),
            TraceError::UnknownFormat { file, first_line } => {
                Some(unknown_format(file, first_line))
            }
            _ => None,
        }
    }
}
