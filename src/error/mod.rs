//! The library's error types and the exit codes of the `wva` binary: the bottom layer, which
//! every module may use and which uses none of them (but [`crate::limits`]).
//!
//! Library code returns [`Error`]; the command line adds context with `anyhow` and maps the
//! root cause to an [`ExitCode`] (see `docs/cli.md`). A module above this one types its own
//! errors (`TraceError`, `SimError`, `FitError`, ...) and implements [`ModuleError`] for them:
//! they travel inside [`Error::Module`] unflattened, so a caller can still downcast to them,
//! and each says which exit code it maps to.

mod document;
mod request;

pub use document::SpecError;
pub(crate) use document::join;
pub(crate) use request::request_error;
pub use request::{Field, Part, RequestError};
use std::path::PathBuf;

/// Exit codes of the `wva` binary. Stable: CI pipelines gate on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Success.
    Success = 0,
    /// An internal error (a bug, or an output that could not be written).
    Internal = 1,
    /// Bad usage or bad input: unknown flags, unreadable or invalid files.
    Input = 2,
    /// The request is valid but cannot be met: an SLO no accelerator can serve, a workload left
    /// unallocated.
    Infeasible = 3,
    /// A cluster could not be reached or refused a request.
    Cluster = 4,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// An error typed by the module that raises it, which knows its exit code. [`Error`] carries
/// any of them ([`Error::Module`]) without this bottom layer knowing the modules above it.
pub trait ModuleError: std::error::Error + Send + Sync + 'static {
    /// The exit code this error maps to (bad input, unless the module says otherwise).
    fn exit_code(&self) -> ExitCode {
        ExitCode::Input
    }

    /// The request error this is, or whose message it is (which a caller may word its own
    /// way: the command line names the fields by their flags).
    fn request_error(&self) -> Option<RequestError> {
        None
    }
}

impl<E: ModuleError> From<E> for Error {
    fn from(e: E) -> Self {
        Error::Module(Box::new(e))
    }
}

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input document is invalid (syntax, types, ranges, references).
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A file could not be read.
    #[error("{}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause (not a `source`: the message already includes it).
        cause: std::io::Error,
    },
    /// An output file could not be written.
    #[error("cannot write {}: {cause}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause (not a `source`: the message already includes it).
        cause: std::io::Error,
    },
    /// Arguments that are individually valid but do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// Valid input whose targets cannot be met.
    #[error("{0}")]
    Infeasible(String),
    /// A cluster could not be reached, or refused a request.
    #[error("{0}")]
    Cluster(String),
    /// A module's own error, kept typed: [`Error::downcast_ref`] finds the module's type. Its
    /// message is the module's.
    #[error("{0}")]
    Module(Box<dyn ModuleError>),
}

impl Error {
    /// The exit code this error maps to.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Spec(_) | Error::Read { .. } | Error::Write { .. } | Error::Usage(_) => {
                ExitCode::Input
            }
            Error::Infeasible(_) => ExitCode::Infeasible,
            Error::Cluster(_) => ExitCode::Cluster,
            Error::Module(e) => e.exit_code(),
        }
    }

    /// The request error this is or whose message it is, if any.
    pub fn request_error(&self) -> Option<RequestError> {
        match self {
            Error::Module(e) => e.request_error(),
            _ => None,
        }
    }

    /// The module error inside, when it is an `E`.
    pub fn downcast_ref<E: ModuleError>(&self) -> Option<&E> {
        match self {
            Error::Module(e) => (&**e as &dyn std::error::Error).downcast_ref::<E>(),
            _ => None,
        }
    }
}
