//! Use cases: one library call per command, each with a request type and a report type, so a
//! program (or a test) does what `wva <command>` does without the command line. The command
//! line reads the files, lowers its flags into the request, calls, and renders the report.
//!
//! Notes, warnings and progress go through a [`Listener`]: the command line prints them on
//! stderr as it always has; [`Silent`] drops them.

pub mod analyze;
pub mod apply;
pub mod estimate;
pub mod observe;
pub mod plan;
pub mod plan_file;
pub mod replay;
pub mod simulate;
pub mod tables_profile;
pub mod trace;

pub use replay::{ReplayRequest, replay};
pub use simulate::{
    FleetChoice, ProfileLoad, SimulateOutcome, SimulateRequest, Subject, TraceInput, simulate,
};

/// Hears what a use case says while it runs: notes for the user, and progress over long work.
/// Called from several threads at once during parallel work.
pub trait Listener: Sync {
    /// A note: something the user should know about the result (a workload left out, rows
    /// dropped).
    fn note(&self, _message: &str) {}
    /// A warning: the result may not be what was meant (a workload the plan leaves out).
    fn warning(&self, _message: &str) {}
    /// Long work starts: `total` units of `unit` (when known), doing `what`.
    fn start(&self, _total: Option<u64>, _what: &str, _unit: &str) {}
    /// `done` units of the work are done.
    fn advance_to(&self, _done: u64) {}
    /// The work ended.
    fn finish(&self) {}
}

/// A listener that hears nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Listener for Silent {}
