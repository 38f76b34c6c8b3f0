//! `wva schema`: the JSON Schema of a scenario, a profiles file, an accelerator catalog, a
//! service classes file or a plan, for editors (the YAML language server validates and completes as you type) and CI.

use super::output::write_out;
use crate::error::ExitCode;
use crate::spec::schema::{Document, json_schema};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

pub(super) const AFTER_HELP: &str = "\
The schemas come from the types the readers use, so a file the schema accepts is one wva reads
(wva also checks what a schema cannot say: names that refer to each other, parameters of the
chosen perf model). Point an editor at one with a first line in the YAML file:
  # yaml-language-server: $schema=scenario.schema.json

Examples:
  wva schema scenario --out scenario.schema.json
  wva schema profile > profiles.schema.json
  wva schema plan | jq '.properties | keys'";

/// What `wva schema` describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// A scenario: workloads, and the catalog inline or by file
    Scenario,
    /// A profiles file (`profiles: [...]`)
    #[value(alias = "profiles")]
    Profile,
    /// An accelerator catalog (`accelerators: [...]`)
    #[value(alias = "accelerators")]
    Catalog,
    /// A file of service classes (`service_classes: [...]`)
    ServiceClasses,
    /// The plan `wva plan -o json` writes
    Plan,
}

/// `wva schema` arguments.
#[derive(Debug, Args)]
pub(super) struct SchemaArgs {
    /// The document to describe
    #[arg(value_enum)]
    kind: Kind,
    /// Write the schema to this file instead of stdout
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(super) fn run(a: &SchemaArgs) -> anyhow::Result<ExitCode> {
    let schema = match a.kind {
        Kind::Scenario => json_schema(Document::Scenario),
        Kind::Profile => json_schema(Document::Profiles),
        Kind::Catalog => json_schema(Document::Catalog),
        Kind::ServiceClasses => json_schema(Document::ServiceClasses),
        Kind::Plan => crate::optimize::Plan::json_schema(),
    };
    let text = crate::report::to_json(&schema);
    write_out(a.out.as_deref(), &text)?;
    Ok(ExitCode::Success)
}
