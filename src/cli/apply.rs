//! `wva apply`: the Kubernetes objects of a plan, printed as one YAML stream, written one file
//! per object, or server-side applied to a cluster.

use super::output::emit;
use super::progress::Terminal;
use crate::error::ExitCode;
use crate::k8s::objects::{Autoscaler, Schema, scale_commands, to_json_list, to_yaml_stream};
use crate::usecase::apply::{
    Applied, ApplyRequest, DEFAULT_CONFIG_NAMESPACE, DEFAULT_PROMETHEUS_URL,
    DEFAULT_PUSH_TIMEOUT_S, PlanSource, PushSettings, apply, write_dir,
};
use crate::usecase::plan_file;
use clap::Args;
use std::path::PathBuf;

pub(super) const AFTER_HELP: &str = "\
Objects, in apply order: the CRD (--include-crd), the accelerator-unit-costs and
service-classes-config ConfigMaps, one VariantAutoscaling per workload (per accelerator when a
workload is split), an HPA or KEDA ScaledObject per variant on the controller's
desired-replicas metric (--autoscaler), and Deployment scale patches (--actuate replicas).
Variants are named after model and class (meta-llama/Llama-3.1-8B in Premium:
llama-3-1-8b-premium); the VariantAutoscaling name is the Deployment's. The max batch wva chose
is the chosen accelerator's maxBatchSize (v0.4) and the annotation wva.llmd.ai/max-num-seqs:
start vLLM with --max-num-seqs set to it.

Exit codes: 0 emitted or applied, 2 bad input, 3 a workload the plan cannot serve (with
--fail-on-infeasible; otherwise it is left out with a warning), 4 cluster error (the objects
applied before the failure are listed).

Examples:
  wva apply scenarios/quickstart.yaml
  wva apply scenarios/quickstart.yaml --plan plan.json --autoscaler hpa --out-dir manifests/
  wva apply scenarios/quickstart.yaml --schema v0.5 --namespace llm --push --diff   (changes nothing)
  wva apply scenarios/quickstart.yaml --push --dry-run server";

/// Arguments of `wva apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Scenario (YAML): the workloads, profiles, classes and accelerators
    scenario: PathBuf,
    /// The plan to apply (`wva plan SCENARIO -o json`); default: plan the scenario now
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// VariantAutoscaling schema: v0.5 (scale target and cost; upstream's current) or v0.4
    /// (perf parameters in the object). Default: with --push, the schema of the CRD installed
    /// in the cluster; else (or without one) v0.5
    #[arg(long, value_enum)]
    schema: Option<Schema>,
    /// Namespace of the variants, scalers and Deployments (default: the kubeconfig context's
    /// with --push, else `default`)
    #[arg(long, short = 'n')]
    namespace: Option<String>,
    /// Namespace of the controller's ConfigMaps
    #[arg(long, default_value = DEFAULT_CONFIG_NAMESPACE)]
    config_namespace: String,
    /// Name a workload's variant (and Deployment): WORKLOAD=NAME; repeatable
    #[arg(long = "name", value_name = "WORKLOAD=NAME")]
    names: Vec<String>,
    /// A scaler per variant on the desired-replicas metric
    #[arg(long, value_enum)]
    autoscaler: Option<Autoscaler>,
    /// The controller's metric (default: inferno_desired_replicas with --schema v0.4,
    /// wva_desired_replicas with v0.5, as each controller emits)
    #[arg(long)]
    metric: Option<String>,
    /// Prometheus URL for KEDA triggers
    #[arg(
        long,
        default_value = DEFAULT_PROMETHEUS_URL,
        value_parser = super::args::http_url
    )]
    prometheus_url: String,
    /// Scalers' maximum replicas (default: twice the plan's, at least one more)
    #[arg(long, value_parser = super::args::k8s_count)]
    max_replicas: Option<u32>,
    /// Also set the Deployments' replica counts (scale patches)
    #[arg(long, value_enum, default_value = "none")]
    actuate: Actuate,
    /// Include the VariantAutoscaling CRD (generated from wva's own types)
    #[arg(long)]
    include_crd: bool,
    /// Write status.desiredOptimizedAlloc (stamped now, or at SOURCE_DATE_EPOCH when set)
    #[arg(long)]
    with_status: bool,
    /// Format of the printed objects: yaml (a multi-document stream) or json (one `List`, as
    /// `kubectl get -o json` prints); --out-dir files are YAML
    #[arg(short = 'o', long, value_enum, default_value_t = ManifestFormat::Yaml, conflicts_with = "out_dir")]
    output: ManifestFormat,
    /// Write one file per object into this folder instead of printing
    #[arg(long, value_name = "DIR", conflicts_with = "push")]
    out_dir: Option<PathBuf>,
    /// Exit 3, writing nothing, when the plan leaves a workload unserved
    #[arg(long)]
    fail_on_infeasible: bool,

    /// Server-side apply to the cluster of the kubeconfig (KUBECONFIG, ~/.kube/config)
    #[arg(long)]
    push: bool,
    /// With --push: the kubeconfig context (default: the current one)
    #[arg(long, requires = "push")]
    context: Option<String>,
    /// With --push: `server` validates on the server without persisting anything
    #[arg(long, value_enum, requires = "push")]
    dry_run: Option<DryRun>,
    /// With --push: print what would change in each object, and change nothing (a server dry
    /// run, as kubectl diff)
    #[arg(long, requires = "push")]
    diff: bool,
    /// With --push: take over fields another field manager owns (kubectl's --force-conflicts)
    #[arg(long, requires = "push")]
    force_conflicts: bool,
    /// With --push --include-crd: replace an installed VariantAutoscaling CRD of the other
    /// schema (which prunes the fields of stored variants the new schema does not have)
    #[arg(long, requires = "include_crd")]
    replace_crd: bool,
    /// With --push: how long to wait for the API server on each request, s
    #[arg(long, value_parser = super::args::positive, default_value_t = DEFAULT_PUSH_TIMEOUT_S)]
    timeout_s: f64,
}

/// `-o/--output` of `wva apply`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ManifestFormat {
    /// YAML documents separated by `---`, for `kubectl apply -f -`.
    Yaml,
    /// One JSON `List` of the objects, for `kubectl apply -f -` and `jq`.
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Actuate {
    /// Only the VariantAutoscalings (the controller or a scaler sets replicas).
    None,
    /// Deployment scale patches with the planned replicas.
    Replicas,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum DryRun {
    /// The API server validates and computes each result, and persists nothing.
    Server,
}

/// RFC 3339 UTC of `SOURCE_DATE_EPOCH` (reproducible builds' convention) or now.
fn now_rfc3339() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    format!("{}Z", crate::trace::time::date_time(secs, 'T'))
}

/// Runs `wva apply`.
pub fn run(a: ApplyArgs) -> anyhow::Result<ExitCode> {
    let scenario = super::read_scenario(&a.scenario)?;
    let plan = match &a.plan {
        Some(path) => PlanSource::File(plan_file::read(path)?),
        None => PlanSource::Plan,
    };
    let request = ApplyRequest {
        plan,
        fail_on_infeasible: a.fail_on_infeasible,
        names: a.names,
        schema: a.schema,
        namespace: a.namespace,
        config_namespace: a.config_namespace,
        autoscaler: a.autoscaler,
        metric: a.metric,
        prometheus_url: a.prometheus_url,
        max_replicas: a.max_replicas,
        actuate_replicas: a.actuate == Actuate::Replicas,
        include_crd: a.include_crd,
        status_time: a.with_status.then(now_rfc3339),
        push: a.push,
        push_settings: PushSettings {
            context: a.context,
            server_dry_run: a.dry_run.is_some(),
            diff: a.diff,
            force_conflicts: a.force_conflicts,
            replace_crd: a.replace_crd,
            timeout_s: a.timeout_s,
        },
    };
    let built = match apply(&scenario, request, &Terminal::default())? {
        Applied::Built(built) => built,
        Applied::Pushed(pushed) => {
            emit(&pushed.summary())?;
            return match pushed.failure {
                Some(e) => Err(e.into()),
                None => Ok(ExitCode::Success),
            };
        }
    };
    match &a.out_dir {
        Some(dir) => {
            let files = write_dir(dir, &built.objects)?;
            super::say::status(format_args!("wrote {files} files to {}", dir.display()));
        }
        None => emit(&match a.output {
            ManifestFormat::Yaml => to_yaml_stream(&built.objects),
            ManifestFormat::Json => to_json_list(&built.objects),
        })?,
    }
    let scales = scale_commands(&built.objects);
    if !scales.is_empty() {
        super::say::note(format_args!(
            "kubectl cannot apply replica counts; run these (or use --push):\n{}",
            scales.join("\n")
        ));
    }
    Ok(ExitCode::Success)
}
