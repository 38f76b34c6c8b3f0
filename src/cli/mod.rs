//! The `wva` command line: parses arguments, reads inputs, calls the core, writes the result,
//! and maps failures to documented exit codes (`docs/cli.md`). No modelling happens here.
//!
//! One file per subcommand; [`args`] holds the value checks shared by all of them.

mod analyze;
mod apply;
pub mod args;
mod estimate;
mod estimate_args;
mod flags;
mod load;
mod observe;
mod output;
mod plan;
mod plan_args;
mod progress;
mod replay;
mod replay_args;
mod say;
mod schema;
mod shell;
mod simulate;
mod simulate_args;
mod simulate_twin;
mod trace;
mod trace_input;
mod validate;
mod values;

use crate::error::{Error, ExitCode};
use crate::spec::SpecError;
use clap::{Parser, Subcommand};

const ABOUT: &str =
    "Capacity planner and offline simulator for LLM inference serving (vLLM on Kubernetes)";

const AFTER_HELP: &str = "\
Exit codes: 0 success, 1 internal error, 2 bad usage or input, 3 infeasible (an SLO cannot be met
or a workload is left unallocated), 4 cluster error (wva apply --push, wva observe: a server
that cannot be reached or refuses).

Examples:
  wva plan scenarios/quickstart.yaml
  wva plan scenarios/quickstart.yaml -o json
  wva simulate scenarios/quickstart.yaml
  wva replay scenarios/azure-chat-and-code.yaml --trace traces/azure-conv-like-10min.csv \\
      --workload conversation --rate-scale 10
  wva trace stats traces/azure-conv-like-10min.csv
  wva validate --data ../shared/data
  wva analyze --alpha 12 --beta 0.05 --gamma 0.0005 --max-batch 48 \\
      --in-tokens 128 --out-tokens 512 --rate-rps 3
  wva completions bash > ~/.local/share/bash-completion/completions/wva";

/// The version `--version` prints: the crate's, and the git commit when built from a checkout.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), env!("WVA_VERSION_SUFFIX"));

/// `wva`: size GPU fleets for LLM serving from a queueing model of vLLM.
#[derive(Debug, Parser)]
#[command(name = "wva", version = VERSION, about = ABOUT, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Say less on stderr: no notes, status lines or progress bars (warnings and errors stay)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Say more on stderr: what was read and how long the command took
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Tables as wide as their content (default on a terminal: cells wrap to fit its width)
    #[arg(long, global = true)]
    wide: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Predict latency and throughput of one replica, or size it for TTFT/ITL targets
    #[command(after_help = analyze::AFTER_HELP)]
    Analyze(Box<analyze::AnalyzeArgs>),
    /// Find the cheapest accelerator and replica count for every workload of a scenario
    #[command(after_help = plan::AFTER_HELP)]
    Plan(Box<plan::PlanArgs>),
    /// Simulate a scenario's fleet iteration by iteration, as vLLM schedules it
    #[command(after_help = simulate::AFTER_HELP)]
    Simulate(Box<simulate::SimulateArgs>),
    /// Emit or push the VariantAutoscaling resources, ConfigMaps and replica counts of a plan
    #[command(after_help = apply::AFTER_HELP)]
    Apply(Box<apply::ApplyArgs>),
    /// Fit a perf model's parameters from benchmark results and write the profile
    #[command(after_help = estimate::AFTER_HELP)]
    Estimate(Box<estimate::EstimateArgs>),
    /// Replay a trace with autoscaling policies in the loop: cost and SLO attainment of each
    #[command(after_help = replay::AFTER_HELP)]
    Replay(Box<replay::ReplayArgs>),
    /// Read what a cluster's Prometheus recorded of its vLLM servers: the load as a scenario
    /// and a trace, and observations to fit a profile from
    #[command(after_help = observe::AFTER_HELP)]
    Observe(Box<observe::ObserveArgs>),
    /// Characterise, synthesise and convert request traces
    #[command(after_help = trace::AFTER_HELP)]
    Trace(trace::TraceArgs),
    /// Check wva's numbers against closed forms, the simulator and real vLLM measurements, and
    /// write the validation report
    #[command(after_help = validate::AFTER_HELP)]
    Validate(Box<validate::ValidateArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(after_help = shell::COMPLETIONS_AFTER_HELP)]
    Completions(shell::CompletionsArgs),
    /// Print or write the man pages
    #[command(after_help = shell::MAN_AFTER_HELP)]
    Man(shell::ManArgs),
    /// Print the JSON Schema of a scenario, profiles, catalog, service classes or plan file (for
    /// editors and CI)
    #[command(after_help = schema::AFTER_HELP)]
    Schema(schema::SchemaArgs),
}

/// The command line with every value-taking option reading a negative number as its value
/// (`--alpha -1` is refused as "must be > 0, got -1", not as an unknown flag `-1`). No flag
/// of wva is a digit, so nothing else changes.
fn command() -> clap::Command {
    fn negatives(cmd: clap::Command) -> clap::Command {
        cmd.mut_args(|arg| {
            if arg.get_action().takes_values() {
                arg.allow_negative_numbers(true)
            } else {
                arg
            }
        })
        .mut_subcommands(negatives)
    }
    negatives(<Cli as clap::CommandFactory>::command())
}

/// Runs the command line and returns the process exit code.
pub fn main() -> std::process::ExitCode {
    let parsed = command()
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::Input
            } else {
                ExitCode::Success
            }
            .into();
        }
    };
    // SIGINT/SIGTERM: remove the temporaries of outputs being written, then exit 130 (the
    // outputs themselves are only ever renamed into place whole).
    if let Err(e) = ctrlc::set_handler(crate::tempfiles::on_signal) {
        eprintln!(
            "wva: warning: cannot handle interrupts ({e}); an interrupted run may leave .wva-tmp files"
        );
    }
    say::set_level(cli.quiet, cli.verbose);
    crate::report::set_wide(cli.wide);
    let started = std::time::Instant::now();
    let result = run(cli);
    say::detail(format_args!(
        "finished in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    ));
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("error: {}", crate::limits::shorten(&flags::message(&e)));
            exit_code_of(&e).into()
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Analyze(args) => analyze::run(*args),
        Command::Plan(args) => plan::run(*args),
        Command::Simulate(args) => simulate::run_simulate(*args),
        Command::Apply(args) => apply::run(*args),
        Command::Estimate(args) => estimate::run(*args),
        Command::Replay(args) => replay::run(*args),
        Command::Observe(args) => observe::run(*args),
        Command::Trace(args) => trace::run(args),
        Command::Validate(args) => validate::run_validate(*args),
        Command::Completions(args) => shell::completions(&args),
        Command::Man(args) => shell::man(&args),
        Command::Schema(args) => schema::run(&args),
    }
}

/// Reads a scenario (`-`: standard input), saying with `-v` what it holds and how long it took.
fn read_scenario(path: &std::path::Path) -> Result<crate::spec::Scenario, Error> {
    let started = std::time::Instant::now();
    let scenario = crate::spec::load_scenario(path)?;
    say::detail(format_args!(
        "read {}: {} workloads, {} profiles, {} accelerators, {} service classes in {:.1} ms",
        path.display(),
        scenario.workloads.len(),
        scenario.profiles.len(),
        scenario.accelerators.len(),
        scenario.service_classes.len(),
        started.elapsed().as_secs_f64() * 1e3
    ));
    Ok(scenario)
}

/// The exit code of an error: that of the first library error in its chain.
fn exit_code_of(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<Error>() {
            return e.exit_code();
        }
        if cause.downcast_ref::<SpecError>().is_some() {
            return ExitCode::Input;
        }
    }
    ExitCode::Internal
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
        // The parser main() uses: the same, with negative numbers as values.
        command().debug_assert();
    }
}
