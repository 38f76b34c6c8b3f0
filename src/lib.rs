//! `wva`: capacity planning and offline simulation for LLM inference serving.
//!
//! The library is the whole product; the `wva` binary is a thin command line over it.
//!
//! Top-level modules, from the bottom layer up (a module uses only modules above it in this
//! list; `tests/module_graph.rs` fails on an import cycle):
//!
//! - [`error`]: the error kinds and the exit codes they map to, the request error whose fields
//!   each caller names its own way, and the trait modules' own errors implement; [`limits`]:
//!   the largest value each count, file and line may have (one policy); [`rng`]: seeds and
//!   random streams;
//!   [`slo`]: latency statistics and targets; [`events`]: the event queue of every
//!   discrete-event loop.
//! - [`perf`]: the cost model of a vLLM engine iteration and its mean-field service curves.
//! - [`queueing`]: the analytic model of one replica (state-dependent M/M/1/K) and sizing.
//! - [`spec`]: reads and validates the YAML inputs (accelerators, profiles, service classes,
//!   scenarios) into domain types whose invariants hold.
//! - [`trace`]: reads, characterises, transforms and writes request traces.
//! - [`load`]: requests, synthetic workloads, a trace's load on a scenario's workloads, and
//!   synthetic traces.
//! - [`sim`]: the discrete-event simulator of vLLM engines behind routers.
//! - [`optimize`]: candidates per server and the allocation solvers behind `wva plan`.
//! - [`verify`]: a plan checked in the simulator (`wva plan --verify`).
//! - [`estimate`]: fits profiles from benchmarks: the direct fit of engine iterations, and the
//!   calibration of load tests through the simulator.
//! - [`replay`]: the autoscaler in the loop over a trace, policy against policy.
//! - [`k8s`]: the VariantAutoscaling objects, ConfigMaps and replica counts `wva apply` writes
//!   or pushes.
//! - [`observe`]: the vLLM metrics in a cluster's Prometheus as scenarios, traces and
//!   observations (`wva observe`), and the simulator's twin that serves them.
//! - [`report`]: renders plans, analyses and simulations as tables, JSON, YAML, CSV and plots.
//! - [`validate`]: the accuracy report (`wva validate`, docs/validation.md).
//! - [`usecase`]: the commands as library calls, a request type in and a report out
//!   (`usecase::plan`, `simulate`, `replay`, `estimate` and `tables_profile`, `apply`, `trace`,
//!   `observe`, `analyze`; `wva validate` is [`validate::run`]).
//! - [`tempfiles`]: temporaries removed on drop and on SIGINT/SIGTERM.
//! - [`cli`]: the command line (argument parsing, value lists, lowering flags into requests,
//!   rendering, exit codes).
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
pub mod events;
pub mod k8s;
pub mod limits;
pub mod load;
pub mod observe;
pub mod optimize;
pub mod perf;
pub mod queueing;
pub mod replay;
pub mod report;
pub mod rng;
pub mod sim;
pub mod slo;
pub mod spec;
pub mod tempfiles;
pub mod trace;
pub mod usecase;
pub mod validate;
pub mod verify;

pub use error::{Error, ExitCode};
