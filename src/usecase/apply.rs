//! `wva apply` as a library call: the Kubernetes objects of a plan (made now, or read from its
//! file) for a scenario, to print or write one file per object; with the `push` feature,
//! server-side applied to a cluster.

use super::Listener;
use super::plan_file::PlanFile;
use crate::error::{Error, ExitCode, Field, request_error};
use crate::k8s::objects::{Autoscaler, Object, Objects, Options, Placement, Schema, build};
use crate::optimize::{PlanOptions, plan};
use crate::spec::Scenario;
use crate::tempfiles::TempPath;
use std::collections::BTreeMap;
use std::path::Path;

/// Namespace of the controller's ConfigMaps unless told otherwise.
pub const DEFAULT_CONFIG_NAMESPACE: &str = "workload-variant-autoscaler-system";
/// Prometheus URL of KEDA triggers unless told otherwise.
pub const DEFAULT_PROMETHEUS_URL: &str =
    "http://prometheus-operated.monitoring.svc.cluster.local:9090";

/// The plan whose objects to build.
#[derive(Clone, Debug)]
pub enum PlanSource {
    /// The plan `wva plan` makes of the scenario now (default options).
    Plan,
    /// A plan read back (`wva plan -o json`, read by [`super::plan_file::read`]).
    File(PlanFile),
}

/// Seconds to wait for the API server on each request of a push unless told otherwise.
pub const DEFAULT_PUSH_TIMEOUT_S: f64 = 30.0;

/// How to push the objects to a cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct PushSettings {
    /// The kubeconfig context (`None`: the current one).
    pub context: Option<String>,
    /// The server validates and computes each result, and persists nothing.
    pub server_dry_run: bool,
    /// Say what would change in each object, and change nothing (a server dry run).
    pub diff: bool,
    /// Take over fields another field manager owns.
    pub force_conflicts: bool,
    /// Replace an installed VariantAutoscaling CRD of the other schema (with the CRD
    /// included).
    pub replace_crd: bool,
    /// How long to wait for the API server on each request, s.
    pub timeout_s: f64,
}

impl Default for PushSettings {
    /// The current context, changes persisted, no diff, no fields taken over, no CRD replaced,
    /// [`DEFAULT_PUSH_TIMEOUT_S`].
    fn default() -> Self {
        PushSettings {
            context: None,
            server_dry_run: false,
            diff: false,
            force_conflicts: false,
            replace_crd: false,
            timeout_s: DEFAULT_PUSH_TIMEOUT_S,
        }
    }
}

/// `wva apply`'s request.
#[derive(Clone, Debug)]
pub struct ApplyRequest {
    /// The plan.
    pub plan: PlanSource,
    /// Refuse, building nothing, when the plan leaves a workload unserved (else it is left out
    /// with a warning).
    pub fail_on_infeasible: bool,
    /// Names of workloads' variants (and Deployments), each `WORKLOAD=NAME`.
    pub names: Vec<String>,
    /// VariantAutoscaling schema (`None`: v0.5, or with a push the installed CRD's).
    pub schema: Option<Schema>,
    /// Namespace of the variants, scalers and Deployments (`None`: `default`, or with a push
    /// the kubeconfig context's).
    pub namespace: Option<String>,
    /// Namespace of the controller's ConfigMaps.
    pub config_namespace: String,
    /// A scaler per variant on the desired-replicas metric.
    pub autoscaler: Option<Autoscaler>,
    /// The controller's metric (`None`: the one the schema's controller emits).
    pub metric: Option<String>,
    /// Prometheus URL of KEDA triggers.
    pub prometheus_url: String,
    /// Scalers' maximum replicas (`None`: twice the plan's, at least one more).
    pub max_replicas: Option<u32>,
    /// Deployment scale patches with the planned replicas.
    pub actuate_replicas: bool,
    /// The VariantAutoscaling CRD too.
    pub include_crd: bool,
    /// Write the variants' status, stamped with this RFC 3339 time (`None`: no status).
    pub status_time: Option<String>,
    /// Push the objects to a cluster (else only build them).
    pub push: bool,
    /// How to push: refused, when not the defaults, without `push`.
    pub push_settings: PushSettings,
}

impl ApplyRequest {
    /// A request with `wva apply`'s defaults: the objects of `plan`, built, not pushed, schema
    /// v0.5 in namespace `default`, no scalers, no scale patches, no CRD, no status.
    pub fn new(plan: PlanSource) -> Self {
        ApplyRequest {
            plan,
            fail_on_infeasible: false,
            names: Vec::new(),
            schema: None,
            namespace: None,
            config_namespace: DEFAULT_CONFIG_NAMESPACE.into(),
            autoscaler: None,
            metric: None,
            prometheus_url: DEFAULT_PROMETHEUS_URL.into(),
            max_replicas: None,
            actuate_replicas: false,
            include_crd: false,
            status_time: None,
            push: false,
            push_settings: PushSettings::default(),
        }
    }
}

/// What `wva apply` did.
#[derive(Debug)]
pub enum Applied {
    /// The objects, to print or write (no push was asked).
    Built(Objects),
    /// The objects pushed to a cluster.
    Pushed(Pushed),
}

/// One object pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedObject {
    /// `kind/name (namespace ns)`.
    pub label: String,
    /// What happened (or would, in a dry run), in kubectl's word.
    pub outcome: &'static str,
    /// It was already as planned.
    pub unchanged: bool,
    /// With a diff asked: the changed lines.
    pub diff: Option<String>,
}

/// A push: the objects applied, in order, and the failure that stopped it, if one did.
#[derive(Debug)]
pub struct Pushed {
    /// The objects applied (before the failure, if any).
    pub objects: Vec<PushedObject>,
    /// A server dry run: nothing was persisted.
    pub server_dry_run: bool,
    /// The failure, saying what was and was not applied.
    pub failure: Option<Error>,
}

impl Pushed {
    /// One line per object applied (`kind/name created`) with its diff, and when the push
    /// succeeded changing nothing, a line saying so.
    pub fn summary(&self) -> String {
        let suffix = if self.server_dry_run {
            " (server dry run)"
        } else {
            ""
        };
        let mut out = String::new();
        for x in &self.objects {
            out.push_str(&format!("{} {}{suffix}\n", x.label, x.outcome));
            if let Some(d) = x.diff.as_deref().filter(|d| !d.is_empty()) {
                out.push_str(d);
            }
        }
        if self.failure.is_none() && self.objects.iter().all(|x| x.unchanged) {
            out.push_str("nothing to change: the cluster already matches the plan\n");
        }
        out
    }
}

/// The placements of a plan, and the workloads it does not fully serve (with why).
pub fn placements_of(doc: PlanFile) -> (Vec<Placement>, Vec<String>) {
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

/// The names map of `WORKLOAD=NAME` pairs (each side trimmed; a workload named once).
pub fn names_of(pairs: &[String]) -> Result<BTreeMap<String, String>, Error> {
    let mut names = BTreeMap::new();
    for n in pairs {
        let (w, name) = n.split_once('=').ok_or_else(|| {
            request_error!(Field("names"), format!(" {n}: expected WORKLOAD=NAME"))
        })?;
        if names
            .insert(w.trim().to_string(), name.trim().to_string())
            .is_some()
        {
            return Err(
                request_error!(Field("names"), format!(" {}: given twice", w.trim())).into(),
            );
        }
    }
    Ok(names)
}

/// The controller's desired-replicas metric under `schema` unless `metric` names one.
pub fn metric_for(schema: Schema, metric: Option<&str>) -> String {
    metric
        .unwrap_or(match schema {
            Schema::V04 => "inferno_desired_replicas",
            Schema::V05 => "wva_desired_replicas",
        })
        .to_string()
}

/// The error of a push asked of a wva built without the `push` feature.
#[cfg(not(feature = "push"))]
fn no_push_feature() -> Error {
    Error::Usage(
        "this wva was built without the `push` feature; rebuild with default features, or apply the YAML with kubectl".into(),
    )
}

/// Builds the objects of `request`'s plan for `scenario` and, when asked, pushes them. Every
/// input is checked before any cluster is contacted; warnings go to `listener`. A push that
/// fails part way is an outcome ([`Pushed::failure`]), saying what was applied before.
pub fn apply(
    scenario: &Scenario,
    request: ApplyRequest,
    listener: &dyn Listener,
) -> Result<Applied, Error> {
    let doc = match &request.plan {
        PlanSource::File(doc) => doc.clone(),
        PlanSource::Plan => PlanFile::from(&plan(scenario, &PlanOptions::default())?),
    };
    let (placements, unserved) = placements_of(doc);
    if !unserved.is_empty() {
        let msg = format!("the plan cannot fully serve: {}", unserved.join("; "));
        if request.fail_on_infeasible {
            return Err(request_error!(
                format!("{msg} ("),
                Field("fail_on_infeasible"),
                ": nothing written)"
            )
            .with_exit_code(ExitCode::Infeasible)
            .into());
        }
        listener.warning(&format!("{msg}; applying the rest"));
    }
    let names = names_of(&request.names)?;
    #[cfg(not(feature = "push"))]
    if request.push {
        return Err(no_push_feature());
    }
    if !request.push {
        let settings = &request.push_settings;
        for (field, given) in [
            ("context", settings.context.is_some()),
            ("server_dry_run", settings.server_dry_run),
            ("diff", settings.diff),
            ("force_conflicts", settings.force_conflicts),
            ("replace_crd", settings.replace_crd),
        ] {
            if given {
                return Err(request_error!(Field(field), " needs ", Field("push")).into());
            }
        }
    }
    crate::k8s::names::check(&request.config_namespace)
        .map_err(|e| request_error!(Field("config_namespace"), format!(": {e}")))?;
    if let Some(ns) = &request.namespace {
        crate::k8s::names::check(ns)
            .map_err(|e| request_error!(Field("namespace"), format!(": {e}")))?;
    }
    let options = |namespace: String, schema: Schema| Options {
        schema,
        namespace,
        config_namespace: request.config_namespace.clone(),
        names: names.clone(),
        autoscaler: request.autoscaler,
        metric: metric_for(schema, request.metric.as_deref()),
        prometheus_url: request.prometheus_url.clone(),
        max_replicas: request.max_replicas,
        actuate_replicas: request.actuate_replicas,
        include_crd: request.include_crd,
        status_time: request.status_time.clone(),
    };
    // Built with the defaults even before a push: every input is checked first.
    let namespace = request
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let built = build(
        scenario,
        &placements,
        &options(namespace, request.schema.unwrap_or(Schema::V05)),
    )?;
    if !request.push {
        for w in &built.warnings {
            listener.warning(w);
        }
        return Ok(Applied::Built(built));
    }
    #[cfg(feature = "push")]
    return push_to_cluster(scenario, &placements, &request, &options, listener)
        .map(Applied::Pushed);
    #[cfg(not(feature = "push"))]
    Err(no_push_feature())
}

/// Connects to the cluster, builds the objects in its namespace and with its CRD's schema
/// (unless `request` names them), and pushes them.
#[cfg(feature = "push")]
fn push_to_cluster(
    scenario: &Scenario,
    placements: &[Placement],
    request: &ApplyRequest,
    options: &dyn Fn(String, Schema) -> Options,
    listener: &dyn Listener,
) -> Result<Pushed, Error> {
    let settings = &request.push_settings;
    let timeout = timeout_of(settings.timeout_s)?;
    let connection = crate::k8s::push::connect(settings.context.as_deref(), timeout)?;
    // Without a schema asked, the schema of the CRD the cluster has.
    let schema = match request.schema {
        Some(s) => s,
        None => match crate::k8s::push::installed_schema(&connection).map_err(|e| {
            request_error!(format!(
                "customresourcedefinition/{} failed: ",
                crate::k8s::push::VA_CRD
            ))
            .append(e)
            .then(" (nothing applied)")
            .with_exit_code(ExitCode::Cluster)
        })? {
            Some("v0.4") => Schema::V04,
            _ => Schema::V05,
        },
    };
    let namespace = request
        .namespace
        .clone()
        .unwrap_or_else(|| connection.namespace.clone());
    let built = build(scenario, placements, &options(namespace, schema))?;
    for w in &built.warnings {
        listener.warning(w);
    }
    Ok(push_objects(&connection, &built.objects, settings))
}

/// The wait of `timeout_s` seconds: an error, not a panic, for one that is no duration
/// (negative, not a number, or beyond what a `Duration` holds).
#[cfg(feature = "push")]
fn timeout_of(timeout_s: f64) -> Result<std::time::Duration, Error> {
    std::time::Duration::try_from_secs_f64(timeout_s).map_err(|_| {
        request_error!(
            Field("timeout_s"),
            format!(" must be a number of seconds a wait can last, got {timeout_s}")
        )
        .into()
    })
}

/// Pushes `objects` over `connection`: what was applied, and the failure that stopped it.
#[cfg(feature = "push")]
fn push_objects(
    connection: &crate::k8s::push::Connection,
    objects: &[Object],
    settings: &PushSettings,
) -> Pushed {
    use crate::k8s::push::{Applied as Done, Outcome, PushOptions, push};
    let options = PushOptions {
        dry_run: settings.server_dry_run || settings.diff,
        diff: settings.diff,
        force: settings.force_conflicts,
        replace_crd: settings.replace_crd,
    };
    let pushed = |done: Vec<Done>| {
        done.into_iter()
            .map(|x| PushedObject {
                label: x.label,
                outcome: x.outcome.word(),
                unchanged: x.outcome == Outcome::Unchanged,
                diff: x.diff,
            })
            .collect()
    };
    match push(connection, objects, &options) {
        Ok(done) => Pushed {
            objects: pushed(done),
            server_dry_run: options.dry_run,
            failure: None,
        },
        Err(e) => {
            let verb = if options.dry_run {
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
            let failure = request_error!(format!("{} failed: ", e.failed))
                .append(e.cause)
                .then(format!(" ({done}{not})"))
                .with_exit_code(ExitCode::Cluster)
                .into();
            Pushed {
                objects: pushed(e.applied),
                server_dry_run: options.dry_run,
                failure: Some(failure),
            }
        }
    }
}

/// Writes every object but the scale patches into `dir`, one numbered file each
/// (`NN-kind-name.yaml`), all or nothing, and returns how many files it wrote. The files are
/// written into a staging folder beside `dir` first; then the files of an earlier run are moved
/// aside and the new ones moved in, and any failure on the way moves everything back, so `dir`
/// holds the old files or the new ones, never a mix.
pub fn write_dir(dir: &Path, objects: &[Object]) -> Result<usize, Error> {
    let write_error = |path: &Path, cause| Error::Write {
        path: path.to_path_buf(),
        cause,
    };
    if dir.exists() && !dir.is_dir() {
        return Err(request_error!(
            Field("out_dir"),
            format!(" {}: not a folder", dir.display())
        )
        .into());
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
            && n.as_bytes()[2] == b'-'
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
                return Err(request_error!(
                    Field("out_dir"),
                    format!(
                        " {}: {name} is a folder, where wva writes a file (nothing written)",
                        dir.display()
                    )
                )
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
        std::fs::write(
            &path,
            crate::k8s::objects::to_yaml_stream(std::slice::from_ref(o)),
        )
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
    Ok(files.len())
}
