//! `wva validate`: the accuracy report. Runs every check of `wva`'s numbers (the simulator
//! against closed forms, the analytic model against the simulator, fitted parameters and the
//! simulator against real vLLM measurements in `../shared/data`) and assembles the Markdown of
//! `docs/validation.md`, with its plots, from what the runs measured. Nothing in the report is
//! typed by hand: every figure comes from this module, seeded, so the same data and commit
//! give the same bytes.
//!
//! Each section lives in its own file and returns a [`Section`]: prose around generated
//! tables, the targets it checks ([`Check`]), and plots ([`Figure`]) the caller draws.

mod calibration;
mod closed_forms;
mod collectives;
mod kv;
mod llmservingsim;
mod lmbench;
pub mod md;
mod measured;
mod queue_models;
mod routers;
mod run16;
mod sweep;
mod tables;

use crate::report::plot::Panel;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What a validation run reads and how long it runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The shared data folder (`../shared/data`).
    pub data_dir: PathBuf,
    /// The shipped profiles (`profiles/`).
    pub profiles_dir: PathBuf,
    /// The upstream reference folder (`../shared/reference/wva`), for the Qwen curve.
    pub reference_dir: PathBuf,
    /// A tenth of the simulated requests: a smoke run (the figures are noisier).
    pub quick: bool,
    /// Seed of every simulation.
    pub seed: u64,
}

impl Options {
    /// `full` requests, or a tenth of them (at least 2,000) in a quick run.
    pub(crate) fn requests(&self, full: u64) -> u64 {
        if self.quick {
            (full / 10).max(2_000).min(full)
        } else {
            full
        }
    }
}

/// The sections, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SectionId {
    /// The simulator against M/M/1 and M/D/1.
    ClosedForms,
    /// The analytic model against the simulator over load, per shipped profile.
    Analytic,
    /// The three queue models against the simulator.
    QueueModels,
    /// Routers on one fleet.
    Routers,
    /// llm-d-benchmark Llama-3.1-70B on 2xA100: fitted parameters, replayed.
    Lmbench,
    /// LLMServingSim's vLLM 0.19 runs, end to end.
    Llmservingsim,
    /// The tables cost model on LLMServingSim's four runs (two of them blind).
    Tables,
    /// The Qwen2.5-14B/H100 concurrency curve and its KV cliff.
    Qwen,
    /// The all-reduce model against measured NCCL and vLLM all-reduces.
    Collectives,
    /// KV capacity from the model and the GPU.
    Kv,
    /// Calibration through the simulator on held-out runs.
    Calibration,
}

impl SectionId {
    /// Every section.
    pub const ALL: [SectionId; 11] = [
        SectionId::ClosedForms,
        SectionId::Analytic,
        SectionId::QueueModels,
        SectionId::Routers,
        SectionId::Lmbench,
        SectionId::Llmservingsim,
        SectionId::Tables,
        SectionId::Collectives,
        SectionId::Kv,
        SectionId::Qwen,
        SectionId::Calibration,
    ];

    /// Whether it reads `../shared`.
    pub fn needs_data(self) -> bool {
        matches!(
            self,
            SectionId::Lmbench
                | SectionId::Llmservingsim
                | SectionId::Tables
                | SectionId::Collectives
                | SectionId::Kv
                | SectionId::Qwen
                | SectionId::Calibration
        )
    }
}

/// A target and what was achieved.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    /// What is compared (`RTX4090 mean TTFT, simulated vs vLLM`).
    pub what: String,
    /// The target (`within 10%`).
    pub target: String,
    /// What was measured (`+22.1%`).
    pub achieved: String,
    /// Met.
    pub met: bool,
}

impl Check {
    /// A relative error against a bound: `error` as a signed percentage, met when
    /// `|error| <= bound`.
    pub(crate) fn within(what: impl Into<String>, error: f64, bound: f64) -> Check {
        Check {
            what: what.into(),
            target: format!("within {:.0}%", bound * 100.0),
            achieved: md::pct(error),
            met: error.abs() <= bound,
        }
    }

    /// The largest absolute relative error of several, against a bound.
    pub(crate) fn worst(what: impl Into<String>, errors: &[f64], bound: f64) -> Check {
        let worst = md::worst_finite(errors);
        let any_undefined = errors.iter().any(|e| !e.is_finite());
        Check {
            what: what.into(),
            target: format!("within {:.0}%", bound * 100.0),
            achieved: if any_undefined {
                "undefined (a prediction is infinite)".into()
            } else {
                format!("worst {}", md::pct(worst))
            },
            met: !any_undefined && worst.abs() <= bound,
        }
    }
}

/// A plot for the caller to draw: `panels` into `file` (a name under the report's `img/`).
#[derive(Clone, Debug)]
pub struct Figure {
    /// File name (`validate-sweep.svg`).
    pub file: String,
    /// Shared x-axis label.
    pub x_label: String,
    /// The panels.
    pub panels: Vec<Panel>,
}

/// One section of the report.
#[derive(Clone, Debug)]
pub struct Section {
    /// Which.
    pub id: SectionId,
    /// Heading.
    pub title: String,
    /// Markdown body (tables and prose), without the heading.
    pub body: String,
    /// Targets checked.
    pub checks: Vec<Check>,
    /// Plots.
    pub figures: Vec<Figure>,
}

/// Why validation could not run.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// Input data missing or unreadable (a file and what is wrong with it).
    #[error("{0}")]
    Input(String),
    /// A model or simulation failed where it should not have.
    #[error("{0}")]
    Internal(String),
}

impl ValidateError {
    pub(crate) fn input(path: &Path, message: impl std::fmt::Display) -> Self {
        ValidateError::Input(format!("{}: {message}", path.display()))
    }
}

/// A file or folder that must exist.
pub(crate) fn existing(path: PathBuf) -> Result<PathBuf, ValidateError> {
    if path.exists() {
        Ok(path)
    } else {
        Err(ValidateError::input(
            &path,
            "not found (is --data pointing at ../shared/data?)",
        ))
    }
}

/// Runs `sections` (in report order, each once); `progress` hears the name of each as it
/// starts.
pub fn run(
    options: &Options,
    sections: &[SectionId],
    progress: &mut dyn FnMut(SectionId),
) -> Result<Vec<Section>, ValidateError> {
    let mut out = Vec::new();
    for id in SectionId::ALL {
        if !sections.contains(&id) {
            continue;
        }
        progress(id);
        out.push(match id {
            SectionId::ClosedForms => closed_forms::section(options)?,
            SectionId::Analytic => sweep::section(options)?,
            SectionId::QueueModels => queue_models::section(options)?,
            SectionId::Routers => routers::section(options)?,
            SectionId::Lmbench => lmbench::section(options)?,
            SectionId::Llmservingsim => llmservingsim::section(options)?,
            SectionId::Tables => tables::section(options)?,
            SectionId::Collectives => collectives::section(options)?,
            SectionId::Kv => kv::section(options)?,
            SectionId::Qwen => run16::section(options)?,
            SectionId::Calibration => calibration::section(options)?,
        });
    }
    Ok(out)
}

/// Where the report came from, for its header.
#[derive(Clone, Debug)]
pub struct Provenance {
    /// The commit (`04c94e8`, with ` (modified)` for a dirty tree).
    pub commit: String,
    /// The command that produced it.
    pub command: String,
    /// A quick run.
    pub quick: bool,
}

/// The whole report as Markdown: header, the table of targets, then each section. Images are
/// referenced as `img/<file>`.
pub fn markdown(sections: &[Section], provenance: &Provenance) -> String {
    let mut s = String::new();
    s.push_str("# Validation: how right are `wva`'s numbers?\n\n");
    s.push_str(
        "`wva` has two models of a vLLM replica: the **analytic** one (upstream WVA's queueing \
model, behind `wva plan` and `wva analyze`) and the **simulator** (`wva simulate`, vLLM's \
scheduler run iteration by iteration with the same cost model). This page measures the \
simulator against closed forms, the analytic model against the simulator, and both, with \
parameters fitted by `wva estimate`, against real vLLM measurements in `../shared/data/` \
(each section says which of them the fits saw).\n\n",
    );
    s.push_str(&format!(
        "Generated by `{}` at commit `{}`{}. Every figure on this page comes from that run: \
the command regenerates the page and its plots (seeded: the same data and commit give the \
same bytes). See [validate.md](validate.md) for the command.\n\n",
        provenance.command,
        provenance.commit,
        if provenance.quick {
            " with `--quick` (a tenth of the simulated requests: noisier figures)"
        } else {
            ""
        }
    ));
    let checks: Vec<&Check> = sections.iter().flat_map(|x| &x.checks).collect();
    if !checks.is_empty() {
        s.push_str("## Targets\n\n");
        let met = checks.iter().filter(|c| c.met).count();
        s.push_str(&format!(
            "{met} of {} targets met. A missed target is reported as measured, with the reason \
in its section; none is tuned away.\n\n",
            checks.len()
        ));
        let mut t = md::Table::new(&["check", "target", "achieved", ""], "lllc");
        for c in &checks {
            t.row(vec![
                c.what.clone(),
                c.target.clone(),
                c.achieved.clone(),
                if c.met { "met" } else { "**missed**" }.into(),
            ]);
        }
        s.push_str(&t.render());
        s.push('\n');
    }
    for x in sections {
        s.push_str(&format!("## {}\n\n", x.title));
        s.push_str(x.body.trim_end());
        s.push_str("\n\n");
        for f in &x.figures {
            s.push_str(&format!("![{}](img/{})\n\n", x.title, f.file));
        }
    }
    while s.ends_with("\n\n") {
        s.pop();
    }
    s
}
