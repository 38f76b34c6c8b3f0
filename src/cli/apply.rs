//! `wva apply`: the Kubernetes objects of a plan, printed as one YAML stream, written one file
//! per object, or server-side applied to a cluster.

use super::output::emit;
use super::plan_file::PlanFile;
use crate::error::{Error, ExitCode};
use crate::k8s::objects::{Autoscaler, Object, Options, Placement, Schema, build, to_yaml_stream};
use crate::optimize::{PlanOptions, plan};
use crate::tempfiles::TempPath;
use anyhow::Context;
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    #[arg(long, default_value = "workload-variant-autoscaler-system")]
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
        default_value = "http://prometheus-operated.monitoring.svc.cluster.local:9090",
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
    #[arg(long, value_parser = super::args::positive, default_value_t = 30.0)]
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

/// The placements of a plan, and the workloads it does not fully serve.
fn placements_of(doc: PlanFile) -> (Vec<Placement>, Vec<String>) {
    let unserved = doc
        .unallocated
        .iter()
        .map(|u| format!("{} ({})", u.workload, u.detail))
        .chain(doc.allocations.iter().filter(|r| r.partial).map(|r| {
            format!(
                "{} (partial: fewer replicas than the load needs)",
                r.workload
            )
        }))
        .collect();
    let placements = doc
        .allocations
        .into_iter()
        .map(|r| Placement {
            workload: r.workload,
            accelerator: r.accelerator,
            replicas: r.replicas,
            max_batch: r.max_batch.max(1),
        })
        .collect();
    (placements, unserved)
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
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = crate::trace::time::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Writes every object but the scale patches into `dir`, one numbered file each, all or
/// nothing: the files are written into a staging folder beside it first; then the files of an
/// earlier run (`NN-kind-name.yaml`) are moved aside and the new ones moved in, and any failure
/// on the way moves everything back, so `dir` holds the old files or the new ones, never a mix.
fn write_dir(dir: &Path, objects: &[Object]) -> anyhow::Result<()> {
    let write_error = |path: &Path, cause| Error::Write {
        path: path.to_path_buf(),
        cause,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Usage(format!("--out-dir {}: not a folder", dir.display())).into());
    }
    let files: Vec<String> = objects
        .iter()
        .filter(|o| !o.is_scale())
        .enumerate()
        .map(|(i, o)| o.file_name(i + 1))
        .collect();
    // Files of an earlier run: `NN-...yaml`. A folder of that name (or of a new file's) is
    // not ours to remove: refuse before anything changes.
    let ours = |n: &str| {
        n.len() > 3
            && n.as_bytes()[..2].iter().all(u8::is_ascii_digit)
            && &n[2..3] == "-"
            && n.ends_with(".yaml")
    };
    let mut old = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !(ours(&name) || files.contains(&name)) {
                continue;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                return Err(Error::Usage(format!(
                    "--out-dir {}: {name} is a folder, where wva writes a file (nothing written)",
                    dir.display()
                ))
                .into());
            }
            old.push(name);
        }
    }
    old.sort();
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    let base = dir
        .file_name()
        .map_or("out".into(), |n| n.to_string_lossy());
    let pid = std::process::id();
    let folder = |name: String| {
        let path = parent.join(name);
        TempPath::folder(path.clone()).map_err(|e| write_error(&path, e))
    };
    let staging = folder(format!(".{base}.wva-tmp-{pid}"))?;
    let aside = folder(format!(".{base}.wva-old-{pid}"))?;
    for (o, f) in objects.iter().filter(|o| !o.is_scale()).zip(&files) {
        let path = staging.path().join(f);
        std::fs::write(&path, to_yaml_stream(std::slice::from_ref(o)))
            .map_err(|e| write_error(&path, e))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
    // Swap: old files aside, new files in; on failure, undo what was moved.
    let mut moved_aside = Vec::new();
    let mut moved_in = Vec::new();
    let swapped = crate::tempfiles::uninterrupted(|| -> Result<(), Error> {
        for f in &old {
            std::fs::rename(dir.join(f), aside.path().join(f))
                .map_err(|e| write_error(&dir.join(f), e))?;
            moved_aside.push(f);
        }
        for f in &files {
            std::fs::rename(staging.path().join(f), dir.join(f))
                .map_err(|e| write_error(&dir.join(f), e))?;
            moved_in.push(f);
        }
        Ok(())
    })
    .inspect_err(|_| {
        crate::tempfiles::uninterrupted(|| {
            for f in &moved_in {
                let _ = std::fs::remove_file(dir.join(f));
            }
            for f in &moved_aside {
                let _ = std::fs::rename(aside.path().join(f), dir.join(f));
            }
        })
    });
    swapped?;
    super::say::status(format_args!(
        "wrote {} files to {}",
        files.len(),
        dir.display()
    ));
    Ok(())
}

/// Runs `wva apply`.
pub fn run(a: ApplyArgs) -> anyhow::Result<ExitCode> {
    let scenario = super::read_scenario(&a.scenario)?;
    let doc = match &a.plan {
        Some(path) => super::plan_file::read(path)?,
        None => {
            // The plan `wva plan` would make, read back as its JSON is.
            let planned = plan(&scenario, &PlanOptions::default())?;
            serde_json::from_value(serde_json::to_value(&planned)?)
                .context("reading back the plan")?
        }
    };
    let (placements, unserved) = placements_of(doc);
    if !unserved.is_empty() {
        let msg = format!("the plan cannot fully serve: {}", unserved.join("; "));
        if a.fail_on_infeasible {
            return Err(Error::Infeasible(format!(
                "{msg} (--fail-on-infeasible: nothing written)"
            ))
            .into());
        }
        super::say::warning(format_args!("{msg}; applying the rest"));
    }
    let mut names = BTreeMap::new();
    for n in &a.names {
        let (w, name) = n
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--name {n}: expected WORKLOAD=NAME")))?;
        if names
            .insert(w.trim().to_string(), name.trim().to_string())
            .is_some()
        {
            return Err(Error::Usage(format!("--name {}: given twice", w.trim())).into());
        }
    }

    #[cfg(not(feature = "push"))]
    if a.push {
        return Err(Error::Usage(
            "this wva was built without the `push` feature; rebuild with default features, or apply the YAML with kubectl".into(),
        )
        .into());
    }
    if !a.push {
        for (flag, given) in [
            ("--context", a.context.is_some()),
            ("--dry-run", a.dry_run.is_some()),
            ("--diff", a.diff),
            ("--force-conflicts", a.force_conflicts),
            ("--replace-crd", a.replace_crd),
        ] {
            if given {
                return Err(Error::Usage(format!("{flag} needs --push")).into());
            }
        }
    }
    crate::k8s::names::check(&a.config_namespace)
        .map_err(|e| Error::Usage(format!("--config-namespace: {e}")))?;
    if let Some(ns) = &a.namespace {
        crate::k8s::names::check(ns).map_err(|e| Error::Usage(format!("--namespace: {e}")))?;
    }
    let metric_of = |schema: Schema| {
        a.metric.clone().unwrap_or_else(|| {
            match schema {
                Schema::V04 => "inferno_desired_replicas",
                Schema::V05 => "wva_desired_replicas",
            }
            .to_string()
        })
    };
    let status_time = a.with_status.then(now_rfc3339);
    let options_in = |namespace: String, schema: Schema| Options {
        schema,
        namespace,
        config_namespace: a.config_namespace.clone(),
        names: names.clone(),
        autoscaler: a.autoscaler,
        metric: metric_of(schema),
        prometheus_url: a.prometheus_url.clone(),
        max_replicas: a.max_replicas,
        actuate_replicas: a.actuate == Actuate::Replicas,
        include_crd: a.include_crd,
        status_time: status_time.clone(),
    };
    // Every input is checked before any cluster is contacted.
    let namespace = a.namespace.clone().unwrap_or_else(|| "default".into());
    let schema = a.schema.unwrap_or(Schema::V05);
    #[cfg_attr(not(feature = "push"), allow(unused_mut))]
    let mut built =
        build(&scenario, &placements, &options_in(namespace, schema)).map_err(Error::Usage)?;

    #[cfg(feature = "push")]
    let connection = if a.push {
        let timeout = std::time::Duration::from_secs_f64(a.timeout_s);
        let c = crate::k8s::push::connect(a.context.as_deref(), timeout).map_err(Error::Cluster)?;
        // Without --schema, the schema of the CRD the cluster has.
        let schema = match a.schema {
            Some(s) => s,
            None => match crate::k8s::push::installed_schema(&c).map_err(|e| {
                Error::Cluster(format!(
                    "customresourcedefinition/{} failed: {e} (nothing applied)",
                    crate::k8s::push::VA_CRD
                ))
            })? {
                Some("v0.4") => Schema::V04,
                _ => Schema::V05,
            },
        };
        let namespace = match (&a.namespace, c.namespace.as_str()) {
            (Some(n), _) => n.clone(),
            (None, ns) => ns.to_string(),
        };
        built =
            build(&scenario, &placements, &options_in(namespace, schema)).map_err(Error::Usage)?;
        Some(c)
    } else {
        None
    };
    for w in &built.warnings {
        super::say::warning(format_args!("{w}"));
    }

    #[cfg(feature = "push")]
    if let Some(connection) = &connection {
        use crate::k8s::push::{PushOptions, push};
        let push_options = PushOptions {
            dry_run: a.dry_run.is_some() || a.diff,
            diff: a.diff,
            force: a.force_conflicts,
            replace_crd: a.replace_crd,
        };
        let suffix = if push_options.dry_run {
            " (server dry run)"
        } else {
            ""
        };
        let report = |applied: &[crate::k8s::push::Applied]| {
            let mut out = String::new();
            for x in applied {
                out.push_str(&format!("{} {}{suffix}\n", x.label, x.outcome.word()));
                if let Some(d) = x.diff.as_deref().filter(|d| !d.is_empty()) {
                    out.push_str(d);
                }
            }
            out
        };
        return match push(connection, &built.objects, &push_options) {
            Ok(applied) => {
                let mut out = report(&applied);
                if applied
                    .iter()
                    .all(|x| x.outcome == crate::k8s::push::Outcome::Unchanged)
                {
                    out.push_str("nothing to change: the cluster already matches the plan\n");
                }
                emit(&out)?;
                Ok(ExitCode::Success)
            }
            Err(e) => {
                emit(&report(&e.applied))?;
                let verb = if push_options.dry_run {
                    "validated"
                } else {
                    "applied"
                };
                let not = if e.not_applied.is_empty() {
                    String::new()
                } else {
                    format!("; not {verb}: {}", e.not_applied.join(", "))
                };
                let done = if e.applied.is_empty() {
                    format!("nothing {verb}")
                } else {
                    format!(
                        "{verb}: {}",
                        e.applied
                            .iter()
                            .map(|x| x.label.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                Err(
                    Error::Cluster(format!("{} failed: {} ({done}{not})", e.failed, e.cause))
                        .into(),
                )
            }
        };
    }

    match &a.out_dir {
        Some(dir) => write_dir(dir, &built.objects)?,
        None => emit(&match a.output {
            ManifestFormat::Yaml => to_yaml_stream(&built.objects),
            ManifestFormat::Json => crate::k8s::objects::to_json_list(&built.objects),
        })?,
    }
    let scales = crate::k8s::objects::scale_commands(&built.objects);
    if !scales.is_empty() {
        super::say::note(format_args!(
            "kubectl cannot apply replica counts; run these (or use --push):\n{}",
            scales.join("\n")
        ));
    }
    Ok(ExitCode::Success)
}
