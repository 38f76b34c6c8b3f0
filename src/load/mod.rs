//! The load a fleet serves: requests, synthetic workloads (arrival processes and token-length
//! distributions merged into one time-ordered stream), the load a trace puts on each workload
//! of a scenario, overrides of its shape (arrival process, length distributions), and synthetic
//! traces drawn from distributions or like a real trace.
//!
//! It sits between the inputs ([`crate::spec`], [`crate::trace`]) and the simulator
//! ([`crate::sim`]), which takes any iterator of [`Request`]s.

pub mod from_trace;
mod generate;
pub mod shape;
pub mod synth;

pub(crate) use generate::Lengths;
pub use generate::{Generator, Horizon, Request, Traffic};
