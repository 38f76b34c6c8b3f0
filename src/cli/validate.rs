//! `wva validate`: runs the accuracy checks and writes the validation report
//! (`docs/validation.md` and its plots).

use super::output::write_atomically;
use super::progress::Progress;
use crate::error::{Error, ExitCode};
use crate::report::plot::panels;
use crate::validate::{Options, Provenance, SectionId, markdown, run};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub(super) const AFTER_HELP: &str = "\
Sections (--section, comma-separated or repeated; default all):
  closed-forms    the simulator against M/M/1 and M/D/1
  analytic        the analytic model (mean and p99 TTFT, ITL) against the simulator, per shipped
                  profile, over 10-90% of its maximum rate
  queue-models    M/M/1/K, M/G/1 and Allen-Cunneen against the simulator
  routers         what each router does to one fleet
  lmbench         llm-d-benchmark Llama-3.1-70B/2xA100: parameters fitted by wva estimate on the
                  two lowest rates, every rate's requests replayed, against vLLM's measurements
  llmservingsim   LLMServingSim's vLLM 0.19 runs end to end (profile from the profiler tables,
                  engine settings from meta.json), beside LLMServingSim's own errors
  tables          the tables cost model on LLMServingSim's four runs (two of them blind: their
                  prediction only), where an iteration's time goes, and each tables profile's
                  analytic line against its simulator
  collectives     the ring all-reduce against measured NCCL and vLLM all-reduces
  kv              kv_capacity_tokens: auto against recorded caches, its sensitivity, and the
                  shipped profiles' figures
  qwen            upstream's Qwen2.5-14B/H100 concurrency curve (closed loop) and its KV cliff
  calibration     wva estimate's calibration through the simulator on held-out runs: the llm-d
                  sweep one rate left out at a time, the Qwen curve from low concurrency to high

Every section from lmbench on reads --data (../shared/data); qwen and calibration also --reference
(../shared/reference/wva). The
report is printed, or written to --out FILE with its images in img/ beside it; it states
the commit it was made at (from git; --commit to override). Nothing is written unless every
section runs. A full run takes about 45
seconds on 2 cores; --quick simulates a tenth of the requests.

Exit codes: 0 written, 2 bad input (missing data, bad section name), 3 with --strict when a
target is missed (the report is still written), 1 internal error.

Examples:
  wva validate --data ../shared/data > report.md
  wva validate --data ../shared/data --out docs/validation.md
  wva validate --section closed-forms,analytic --quick";

/// `wva validate` arguments.
#[derive(Debug, Args)]
pub(super) struct ValidateArgs {
    /// The shared data folder (real traces and benchmarks)
    #[arg(long, value_name = "DIR", default_value = "../shared/data")]
    data: PathBuf,
    /// Upstream's reference folder (for the Qwen curve) [default: DATA/../reference/wva]
    #[arg(long, value_name = "DIR")]
    reference: Option<PathBuf>,
    /// The shipped profiles
    #[arg(long, value_name = "DIR", default_value = "profiles")]
    profiles: PathBuf,
    /// Write the report (Markdown) to this file, and its plots to img/ beside it (default:
    /// print the report, write no plots). The project's own report is docs/validation.md
    #[arg(long, value_name = "FILE", default_value = "-")]
    out: PathBuf,
    /// Sections to run (see below)
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    section: Vec<SectionId>,
    /// Simulate a tenth of the requests (a smoke run; noisier figures)
    #[arg(long)]
    quick: bool,
    /// Seed of every simulation
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The commit to state in the report [default: from git]
    #[arg(long, value_name = "TEXT")]
    commit: Option<String>,
    /// Exit 3 when a target is missed
    #[arg(long)]
    strict: bool,
}

/// The commit of the checkout in the current folder, `(modified)` when tracked files other
/// than the report differ from it; `unknown` outside git.
fn git_commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) if !commit.is_empty() => {
            let dirty = git(&[
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!docs/validation.md",
                ":!docs/img",
            ])
            .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{commit} (modified)")
            } else {
                commit
            }
        }
        _ => "unknown (not a git checkout)".into(),
    }
}

/// The command as typed from `validate` on (for the report's header).
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip_while(|a| a != "validate").collect();
    format!("wva {}", args.join(" "))
}

pub(super) fn run_validate(a: ValidateArgs) -> anyhow::Result<ExitCode> {
    let sections = if a.section.is_empty() {
        SectionId::ALL.to_vec()
    } else {
        a.section.clone()
    };
    let options = Options {
        reference_dir: a
            .reference
            .clone()
            .unwrap_or_else(|| a.data.join("../reference/wva")),
        data_dir: a.data.clone(),
        profiles_dir: a.profiles.clone(),
        quick: a.quick,
        seed: a.seed,
    };
    let started = Instant::now();
    let progress = Progress::new(Some(sections.len() as u64), "validating", "sections");
    let mut first = true;
    let results = run(&options, &sections, &mut |id| {
        // Called as each section starts: the ones before it are done.
        if !std::mem::take(&mut first) {
            progress.inc(1);
        }
        super::say::detail(format_args!(
            "validating {} [{:.0} s]",
            clap::ValueEnum::to_possible_value(&id)
                .map_or(String::new(), |v| v.get_name().to_string()),
            started.elapsed().as_secs_f64()
        ));
    })
    .map_err(|e| match e {
        crate::validate::ValidateError::Input(m) => anyhow::Error::new(Error::Usage(m)),
        crate::validate::ValidateError::Internal(m) => anyhow::anyhow!(m),
    })?;
    drop(progress);
    let provenance = Provenance {
        commit: a.commit.clone().unwrap_or_else(git_commit),
        command: command_line(),
        quick: a.quick,
    };
    let text = markdown(&results, &provenance) + "\n";
    let checks: Vec<_> = results.iter().flat_map(|s| &s.checks).collect();
    let missed = checks.iter().filter(|c| !c.met).count();
    if a.out == Path::new("-") {
        super::output::emit(&text)?;
        // The summary goes to stderr, where it does not mix with the report.
        super::say::status(format_args!(
            "{} of {} targets met in {:.0} s",
            checks.len() - missed,
            checks.len(),
            started.elapsed().as_secs_f64()
        ));
    } else {
        // Plots first (each through a temporary file and a rename), then the report.
        let dir = a.out.parent().map_or_else(PathBuf::new, Path::to_path_buf);
        let img = dir.join("img");
        let figures: Vec<_> = results.iter().flat_map(|s| &s.figures).collect();
        if !figures.is_empty() {
            std::fs::create_dir_all(&img).map_err(|cause| Error::Write {
                path: img.clone(),
                cause,
            })?;
        }
        let mut staged = Vec::new();
        for f in &figures {
            let tmp = img.join(format!(".tmp-{}", f.file));
            panels(&tmp, &f.x_label, &f.panels).map_err(|e| anyhow::anyhow!("{e}"))?;
            staged.push((tmp, img.join(&f.file)));
        }
        for (tmp, path) in &staged {
            std::fs::rename(tmp, path).map_err(|cause| Error::Write {
                path: path.clone(),
                cause,
            })?;
        }
        write_atomically(&a.out, text.as_bytes())?;
        super::say::status(format_args!(
            "wrote {} and {} plot(s) in {:.0} s: {} of {} targets met",
            a.out.display(),
            figures.len(),
            started.elapsed().as_secs_f64(),
            checks.len() - missed,
            checks.len()
        ));
    }
    if a.strict && missed > 0 {
        eprintln!("wva: {missed} target(s) missed (--strict)");
        return Ok(ExitCode::Infeasible);
    }
    Ok(ExitCode::Success)
}
