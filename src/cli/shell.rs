//! `wva completions` and `wva man`: shell completion scripts and man pages generated from the
//! same command definitions the parser uses (clap_complete, clap_mangen), so they never drift
//! from `--help`.

use super::output::write_atomically;
use crate::error::{Error, ExitCode};
use clap::{Args, CommandFactory};
use std::io::Write;
use std::path::PathBuf;

pub(super) const COMPLETIONS_AFTER_HELP: &str = "\
Examples:
  wva completions bash > ~/.local/share/bash-completion/completions/wva
  wva completions zsh > \"${fpath[1]}/_wva\"
  wva completions fish > ~/.config/fish/completions/wva.fish";

pub(super) const MAN_AFTER_HELP: &str = "\
Without --out-dir the page of `wva` itself goes to standard output. With --out-dir, one page per
command (wva.1, wva-plan.1, wva-trace-stats.1, ...) is written there.

Examples:
  wva man | man -l -
  wva man --out-dir ~/.local/share/man/man1";

/// `wva completions` arguments.
#[derive(Debug, Args)]
pub(super) struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// `wva man` arguments.
#[derive(Debug, Args)]
pub(super) struct ManArgs {
    /// Write one page per command into this directory (created if missing)
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub(super) fn completions(a: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = super::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "wva", &mut script);
    std::io::stdout()
        .write_all(&script)
        .map_err(|e| Error::Usage(format!("cannot write to standard output: {e}")))?;
    Ok(ExitCode::Success)
}

/// The man page of `cmd` (named `name`).
fn page(cmd: clap::Command) -> anyhow::Result<Vec<u8>> {
    let mut text = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut text)?;
    Ok(text)
}

/// Every command and subcommand with its page name (`wva`, `wva-plan`, `wva-trace-stats`).
fn commands(cmd: clap::Command, name: &str, out: &mut Vec<(String, clap::Command)>) {
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let sub_name = format!("{name}-{}", sub.get_name());
        commands(sub.clone().name(sub_name.clone()), &sub_name, out);
    }
    out.push((name.to_string(), cmd));
}

pub(super) fn man(a: &ManArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = super::Cli::command();
    cmd.build();
    let Some(dir) = &a.out_dir else {
        std::io::stdout()
            .write_all(&page(cmd)?)
            .map_err(|e| Error::Usage(format!("cannot write to standard output: {e}")))?;
        return Ok(ExitCode::Success);
    };
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Usage(format!(
            "{}: cannot create the directory: {e}",
            dir.display()
        ))
    })?;
    let mut all = Vec::new();
    commands(cmd, "wva", &mut all);
    all.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, cmd) in &all {
        write_atomically(&dir.join(format!("{name}.1")), &page(cmd.clone())?)?;
    }
    println!(
        "wrote {} man pages to {}: {}",
        all.len(),
        dir.display(),
        all.iter()
            .map(|(n, _)| format!("{n}.1"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::Success)
}
