//! Rendering results for people (tables) and machines (JSON, YAML, CSV).
//!
//! Renderers return the whole text; the command line writes it in one go, so a failure never
//! leaves half an output behind.

mod analysis;
mod csv;
mod estimate;
mod inferno;
mod observe;
pub mod plot;
mod replay;
mod simulation;
pub mod simulation_csv;
mod structured;
mod table;
mod trace;

pub use analysis::Analysis;
pub use estimate::{
    CalibrationReport, EstimateReport, calibration_table, estimate_table, fit_plot,
};
pub use observe::observe_table;
pub use replay::{
    REPLAY_TIMELINE_COLUMNS, ReplayReport, ReplayVariant, StaticChoice, pareto_front,
    replay_pareto_plot, replay_plot, replay_table, replay_timeline_csv,
};
pub use simulation::{
    Ci95, ClosedLoopInfo, SimulationReport, WorkloadInfo, WorkloadReport, ci95,
    report as simulation_report, simulation_table,
};
pub use structured::{to_json, to_yaml};
pub use table::{analysis_table, plan_table, set_wide};
pub use trace::{TraceReport, trace_table};

use crate::optimize::Plan;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// A table for people (the default).
    Table,
    /// JSON (pretty-printed).
    Json,
    /// YAML.
    Yaml,
    /// CSV, one row per allocation.
    Csv,
    /// Upstream's inferno solution JSON (`allocations` keyed by server name).
    InfernoJson,
}

/// A plan with its simulated check (`wva plan --verify`).
#[derive(serde::Serialize)]
struct VerifiedPlan<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    verification: &'a [crate::verify::Verification],
}

/// Renders a plan and its simulated check in `format` (CSV and inferno JSON carry the plan
/// only).
pub fn render_verified_plan(
    plan: &Plan,
    verification: &[crate::verify::Verification],
    format: OutputFormat,
) -> String {
    let both = VerifiedPlan { plan, verification };
    match format {
        OutputFormat::Table => {
            let mut out = plan_table(plan);
            out.push_str(&table::verification_table(verification));
            out
        }
        OutputFormat::Json => to_json(&both),
        OutputFormat::Yaml => to_yaml(&both),
        OutputFormat::Csv | OutputFormat::InfernoJson => render_plan(plan, format),
    }
}

/// Renders a plan in `format`.
pub fn render_plan(plan: &Plan, format: OutputFormat) -> String {
    match format {
        OutputFormat::Table => plan_table(plan),
        OutputFormat::Json => to_json(plan),
        OutputFormat::Yaml => to_yaml(plan),
        OutputFormat::Csv => csv::plan_csv(plan),
        OutputFormat::InfernoJson => inferno::plan_inferno_json(plan),
    }
}
