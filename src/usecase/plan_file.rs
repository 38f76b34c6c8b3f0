//! A plan read back: the rows of a plan file (`wva plan -o json`) that `simulate --plan` and
//! `apply --plan` need, read with errors naming the file, the field and (for syntax) the line,
//! or taken from a plan made in process.

use crate::error::Error;
use crate::optimize::Plan;
use crate::spec::SpecError;
use std::path::Path;

/// The parts of a plan file that are read back.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct PlanFile {
    /// Allocation rows.
    pub allocations: Vec<PlanRow>,
    /// Workloads left out.
    #[serde(default)]
    pub unallocated: Vec<Unallocated>,
}

/// One allocation row.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct PlanRow {
    /// Workload.
    pub workload: String,
    /// Accelerator.
    pub accelerator: String,
    /// Replicas.
    pub replicas: u32,
    /// Max batch.
    pub max_batch: u32,
    /// Fewer replicas than the load needs.
    #[serde(default)]
    pub partial: bool,
}

/// A workload the plan leaves out.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Unallocated {
    /// Workload.
    pub workload: String,
    /// Why.
    #[serde(default)]
    pub detail: String,
}

impl From<&Plan> for PlanFile {
    /// The rows of `plan` as its JSON holds them, so a plan made now and one read from its file
    /// are the same.
    fn from(plan: &Plan) -> Self {
        PlanFile {
            allocations: plan
                .allocations
                .iter()
                .map(|a| PlanRow {
                    workload: a.workload.clone(),
                    accelerator: a.accelerator.clone(),
                    replicas: a.replicas,
                    max_batch: a.max_batch,
                    partial: a.partial,
                })
                .collect(),
            unallocated: plan
                .unallocated
                .iter()
                .map(|u| Unallocated {
                    workload: u.workload.clone(),
                    detail: u.detail.clone(),
                })
                .collect(),
        }
    }
}

/// Reads the plan file at `path`.
pub fn read(path: &Path) -> Result<PlanFile, Error> {
    let text = crate::spec::read_text(path)?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| SpecError {
        file: path.to_path_buf(),
        field: String::new(),
        line: Some(e.line()),
        column: Some(e.column()),
        message: format!(
            "not a plan (JSON from `wva plan -o json`): {}",
            e.to_string().split(" at line ").next().unwrap_or_default()
        ),
    })?;
    Ok(serde_path_to_error::deserialize(value).map_err(|e| {
        SpecError::at(
            path,
            e.path().to_string(),
            format!(
                "not a plan (JSON from `wva plan -o json`): {}",
                e.into_inner()
            ),
        )
    })?)
}
