//! Why benchmark files could not become a fit's input: a file that cannot be read or is not
//! what its format needs, a request the files cannot serve, a calibration with no answer.

use super::calibrate::CalibrateError;
use crate::error::{ModuleError, RequestError};

/// What went wrong reading benchmark files for a fit, or calibrating on them.
#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    /// A file cannot be read, or its content is not what its format needs. The message leads
    /// with the file, and its line and column where one is at fault.
    #[error("{0}")]
    File(String),
    /// The request needs something the files do not say (the format to read them as, a
    /// tensor-parallel degree, a column map), or asks for what they do not have.
    #[error("{0}")]
    Request(RequestError),
    /// Calibration found no parameters.
    #[error("{0}")]
    Calibrate(CalibrateError),
}

impl EstimateError {
    /// The same error after `text` (a file name and a colon, say).
    pub fn after(self, text: &str) -> Self {
        match self {
            EstimateError::Request(r) => EstimateError::Request(r.after(text)),
            other => EstimateError::File(format!("{text}{other}")),
        }
    }
}

impl From<String> for EstimateError {
    fn from(message: String) -> Self {
        EstimateError::File(message)
    }
}

impl From<&str> for EstimateError {
    fn from(message: &str) -> Self {
        EstimateError::File(message.to_string())
    }
}

impl From<RequestError> for EstimateError {
    fn from(e: RequestError) -> Self {
        EstimateError::Request(e)
    }
}

impl From<CalibrateError> for EstimateError {
    fn from(e: CalibrateError) -> Self {
        EstimateError::Calibrate(e)
    }
}

impl ModuleError for EstimateError {
    fn request_error(&self) -> Option<RequestError> {
        match self {
            EstimateError::Request(r) => Some(r.clone()),
            _ => None,
        }
    }
}
