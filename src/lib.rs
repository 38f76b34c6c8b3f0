//! `wva`: capacity planning and offline simulation for LLM inference serving.
//!
//! The library is the whole product; the `wva` binary is a thin command line over it.
//!
//! - [`spec`]: reads and validates the YAML inputs (accelerators, profiles, service classes,
//!   scenarios) into domain types whose invariants hold.
//! - [`perf`]: the cost model of a vLLM engine iteration and its mean-field service curves.
//! - [`queueing`]: the analytic model of one replica (state-dependent M/M/1/K) and sizing.
//! - [`optimize`]: candidates per server and the allocation solvers behind `wva plan`.
//! - [`sim`]: the discrete-event simulator of vLLM engines behind routers.
//! - [`trace`]: reads, characterises, transforms, synthesises and writes request traces.
//! - [`estimate`]: fits profiles from benchmarks: the direct fit of engine iterations, and the
//!   calibration of load tests through the simulator.
//! - [`replay`]: the autoscaler in the loop over a trace, policy against policy.
//! - [`k8s`]: the VariantAutoscaling objects, ConfigMaps and replica counts `wva apply` writes
//!   or pushes.
//! - [`observe`]: the vLLM metrics in a cluster's Prometheus as scenarios, traces and
//!   observations (`wva observe`), and the simulator's twin that serves them.
//! - [`validate`]: the accuracy report (`wva validate`, docs/validation.md).
//! - [`report`]: renders plans, analyses and simulations as tables, JSON, YAML, CSV and plots.
//! - [`limits`]: the largest value each count, file and line may have (one policy).
//! - [`tempfiles`]: temporaries removed on drop and on SIGINT/SIGTERM.
//! - [`error`]: the error kinds and the exit codes they map to.
//! - [`cli`]: the command line (argument parsing, reading files, exit codes).
//!
//! `examples/concurrency_sweep.rs` (a profile in a closed loop, calibrated back) and
//! `examples/plan_what_if.rs` (a plan for today's and twice today's traffic, checked in the
//! simulator) use the library without the command line.
//!
//! The core ([`perf`], [`queueing`], [`optimize`], [`sim`]) is pure: no I/O, no clocks, no global
//! state. [`trace`] reads files, record by record.

pub mod cli;
pub mod error;
pub mod estimate;
pub mod k8s;
pub mod limits;
pub mod observe;
pub mod optimize;
pub mod perf;
pub mod queueing;
pub mod replay;
pub mod report;
pub mod sim;
pub mod spec;
pub mod tempfiles;
pub mod trace;
pub mod validate;

pub use error::{Error, ExitCode};
