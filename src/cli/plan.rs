//! `wva plan`: size every workload of a scenario and choose accelerators and replicas.

use super::output::emit;
use crate::error::ExitCode;
use crate::optimize::{PlanOptions, SolverKind, plan};
use crate::report::{OutputFormat, render_plan};
use crate::spec::load_scenario;
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

pub(super) const AFTER_HELP: &str = "\
For every workload (a model's traffic in a service class), wva sizes one replica on every
accelerator type the model has a profile for (the largest per-replica rate that meets the class's
mean TTFT and ITL targets), derives replicas and cost, and keeps the cheapest. Costs are per hour;
files use cents per GPU-hour as WVA does.

Exit code 3 when a workload cannot be served within its SLO (it is listed as unallocated with
the reason); 2 when the scenario or a file it references is invalid.

Examples:
  wva plan scenarios/quickstart.yaml
  wva plan scenarios/quickstart.yaml -o json > plan.json";

/// Solvers `wva plan` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum SolverArg {
    /// Each workload takes its cheapest accelerator (inventory ignored)
    Unlimited,
}

#[derive(Debug, Args)]
pub(super) struct PlanArgs {
    /// Scenario file (YAML): workloads plus the accelerators, profiles and service classes, inline
    /// or as paths relative to it
    #[arg(value_name = "SCENARIO")]
    scenario: PathBuf,
    /// How to choose among accelerators
    #[arg(long, value_enum, default_value_t = SolverArg::Unlimited)]
    solver: SolverArg,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

pub(super) fn run(a: PlanArgs) -> anyhow::Result<ExitCode> {
    let scenario = load_scenario(&a.scenario)?;
    let options = PlanOptions {
        solver: match a.solver {
            SolverArg::Unlimited => SolverKind::Unlimited,
        },
    };
    let plan = plan(&scenario, &options).with_context(|| a.scenario.display().to_string())?;
    emit(&render_plan(&plan, a.output))?;
    if plan.is_complete() {
        Ok(ExitCode::Success)
    } else {
        eprintln!(
            "wva: {} of {} workloads could not be allocated (exit code 3)",
            plan.unallocated.len(),
            plan.unallocated.len() + plan.allocations.len()
        );
        Ok(ExitCode::Infeasible)
    }
}
