//! Server-side apply of the objects to a cluster (`kube`, rustls): kubeconfig as kubectl reads
//! it, field manager `wva`, `--dry-run=server`, a readable diff of what would change, and a
//! report of what was applied when object k fails.
//!
//! Before anything is written, the push checks what it can: the kinds the objects need are
//! served (discovery: a missing KEDA or VariantAutoscaling CRD is named), the installed
//! VariantAutoscaling CRD is the schema of the objects (a CRD of the other schema is not
//! replaced without `replace_crd`, and the message says what replacing it would prune), and
//! every Deployment to scale exists. Reads are only for reporting: a role that may patch but
//! not get still applies (the outcome is then `applied`, without a diff). Every request is
//! bounded by the connection's timeout.

use super::diff::line_diff;
use super::objects::Object;
use crate::error::{Field, RequestError, request_error};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::Value;
use std::time::Duration;

/// The VariantAutoscaling CRD's name.
pub const VA_CRD: &str = "variantautoscalings.llmd.ai";

/// The field manager `wva` applies as.
pub const FIELD_MANAGER: &str = "wva";

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It did not exist.
    Created,
    /// It existed and changed.
    Configured,
    /// It existed as it is.
    Unchanged,
    /// Applied; whether it changed is unknown (the object could not be read).
    Applied,
}

impl Outcome {
    /// kubectl's word for it.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
            Outcome::Applied => "serverside-applied",
        }
    }
}

/// How to push.
#[derive(Clone, Debug, Default)]
pub struct PushOptions {
    /// Ask the server to validate and compute the result without persisting it.
    pub dry_run: bool,
    /// Compute the diff of each object against the cluster.
    pub diff: bool,
    /// Take over fields other field managers own.
    pub force: bool,
    /// Replace an installed VariantAutoscaling CRD of the other schema.
    pub replace_crd: bool,
}

/// One object's result.
#[derive(Clone, Debug)]
pub struct Applied {
    /// `kind/name (namespace ns)`.
    pub label: String,
    /// What happened (or would, with dry run).
    pub outcome: Outcome,
    /// With `diff`: the changed lines.
    pub diff: Option<String>,
}

/// A push that stopped at one object.
#[derive(Debug, thiserror::Error)]
#[error("{failed}: {cause}")]
pub struct PushError {
    /// The objects applied before it.
    pub applied: Vec<Applied>,
    /// The object that failed.
    pub failed: String,
    /// Why (naming the request's fields that would change it).
    pub cause: RequestError,
    /// The objects not attempted.
    pub not_applied: Vec<String>,
}

/// A client for a cluster, with the runtime it runs on.
pub struct Connection {
    runtime: tokio::runtime::Runtime,
    client: Client,
    /// The kubeconfig context's namespace.
    pub namespace: String,
    /// The API server's URL.
    pub server: String,
    /// How long one request may take.
    pub timeout: Duration,
}

/// Why no connection to a cluster could be made (the cluster's exit code, 4).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The async runtime the client needs would not start.
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(std::io::Error),
    /// No kubeconfig could be read.
    #[error("cannot read a kubeconfig (KUBECONFIG or ~/.kube/config): {0}")]
    Kubeconfig(kube::config::KubeconfigError),
    /// The kubeconfig has no usable context (the one asked for, or the current one).
    #[error("kubeconfig: {0}")]
    Context(kube::config::KubeconfigError),
    /// The client could not be made from the configuration.
    #[error("cannot make a client: {0}")]
    Client(kube::Error),
}

impl crate::error::ModuleError for ConnectError {
    fn exit_code(&self) -> crate::error::ExitCode {
        crate::error::ExitCode::Cluster
    }
}

/// Connects to the kubeconfig's `context` (default: the current one); every request then
/// waits at most `timeout`.
pub fn connect(context: Option<&str>, timeout: Duration) -> Result<Connection, ConnectError> {
    let runtime = runtime().map_err(ConnectError::Runtime)?;
    let (client, namespace, server) = runtime.block_on(async {
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            ..KubeConfigOptions::default()
        };
        let kubeconfig = Kubeconfig::read().map_err(ConnectError::Kubeconfig)?;
        let mut config = Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(ConnectError::Context)?;
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        let namespace = config.default_namespace.clone();
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(ConnectError::Client)?;
        Ok::<_, ConnectError>((client, namespace, server))
    })?;
    Ok(Connection {
        runtime,
        client,
        namespace,
        server,
        timeout,
    })
}

/// A request's result, with the connection's timeout on it.
async fn bounded<T>(
    timeout: Duration,
    f: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(timeout, f).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(Failure::Kube(e)),
        Err(_) => Err(Failure::Timeout),
    }
}

/// Why a request failed.
#[derive(Debug)]
enum Failure {
    Kube(kube::Error),
    Timeout,
}

impl Failure {
    fn code(&self) -> Option<u16> {
        match self {
            Failure::Kube(kube::Error::Api(s)) => Some(s.code),
            _ => None,
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn resource_of(o: &Object) -> ApiResource {
    let (group, version) = match o.api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), o.api_version.clone()),
    };
    let kind = if o.is_scale() { "Deployment" } else { &o.kind };
    let (group, version) = if o.is_scale() {
        ("apps".to_string(), "v1".to_string())
    } else {
        (group, version)
    };
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(&group, &version, kind), &o.plural)
}

fn api_of(client: &Client, o: &Object) -> Api<DynamicObject> {
    let ar = resource_of(o);
    match &o.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

/// What is worth comparing: the object without server bookkeeping.
fn comparable(mut v: Value) -> Value {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "managedFields",
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
            "selfLink",
        ] {
            m.remove(k);
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}

fn yaml(v: &Value) -> String {
    serde_yaml::to_string(v).unwrap_or_default()
}

fn timed_out(timeout: Duration) -> RequestError {
    request_error!(
        format!(
            "the API server did not answer within {} s (",
            timeout.as_secs_f64()
        ),
        Field("timeout_s"),
        "): it may be up but unable to reach its storage (etcd), or overloaded"
    )
}

fn describe(e: &Failure, o: &Object, timeout: Duration) -> RequestError {
    match e {
        Failure::Timeout => timed_out(timeout),
        Failure::Kube(kube::Error::Api(status)) => {
            let code = status.code;
            if code == 500 && status.message.contains("field not declared in schema") {
                let fields: Vec<String> = o.body["spec"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                let cause = match schema_name(&fields) {
                    Some(ours) => {
                        let theirs = if ours == "v0.4" { "v0.5" } else { "v0.4" };
                        request_error!(
                            format!(
                                "the cluster's VariantAutoscaling CRD is the {theirs} schema and these are {ours} objects: use "
                            ),
                            Field("schema"),
                            format!(" {theirs}")
                        )
                    }
                    None => request_error!("the cluster's CRD does not declare these fields"),
                };
                return request_error!(format!("refused ({code}): "))
                    .append(cause)
                    .then(format!(": {}", status.message));
            }
            let what = match code {
                401 => request_error!("unauthorized"),
                403 => request_error!("forbidden"),
                404 if o.kind == "VariantAutoscaling" => request_error!(
                    "not found (is the VariantAutoscaling CRD installed? ",
                    Field("include_crd"),
                    " installs it)"
                ),
                404 if o.is_scale() => request_error!("not found (the Deployment does not exist)"),
                404 => request_error!("not found (does the namespace exist?)"),
                409 => request_error!(
                    "conflict (another field manager owns these fields; ",
                    Field("force_conflicts"),
                    " takes them over)"
                ),
                422 => request_error!("invalid"),
                _ => request_error!("refused"),
            };
            what.then(format!(" ({code}): {}", status.message))
        }
        Failure::Kube(other) => {
            let text = other.to_string();
            if text.contains("timed out") || text.contains("deadline has elapsed") {
                timed_out(timeout)
            } else {
                request_error!(format!("cannot reach the cluster: {text}"))
            }
        }
    }
}

async fn apply_one(
    client: &Client,
    o: &Object,
    options: &PushOptions,
    timeout: Duration,
) -> Result<Applied, Failure> {
    let api = api_of(client, o);
    let mut params = PatchParams::apply(FIELD_MANAGER);
    if options.force {
        params = params.force();
    }
    params.dry_run = options.dry_run;
    if o.is_scale() {
        let want = o.body["spec"]["replicas"].as_u64().unwrap_or(0);
        let current = bounded(timeout, api.get_scale(&o.name)).await?;
        let have = current.spec.and_then(|s| s.replicas).unwrap_or(0);
        let diff = options.diff.then(|| {
            if u64::try_from(have).ok() == Some(want) {
                String::new()
            } else {
                format!("- spec.replicas: {have}\n+ spec.replicas: {want}\n")
            }
        });
        if u64::try_from(have).ok() == Some(want) {
            return Ok(Applied {
                label: o.label(),
                outcome: Outcome::Unchanged,
                diff,
            });
        }
        let merge = PatchParams {
            dry_run: options.dry_run,
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        let patch = Patch::Merge(serde_json::json!({ "spec": { "replicas": want } }));
        bounded(timeout, api.patch_scale(&o.name, &merge, &patch)).await?;
        return Ok(Applied {
            label: o.label(),
            outcome: Outcome::Configured,
            diff,
        });
    }
    // The read is only for reporting: a role allowed to patch but not to get still applies.
    let current = match bounded(timeout, api.get_opt(&o.name)).await {
        Ok(c) => Some(c),
        Err(e) if e.code() == Some(403) => None,
        Err(e) => return Err(e),
    };
    let readable = current.is_some();
    let current_value = current
        .flatten()
        .map(|c| serde_json::to_value(c).unwrap_or(Value::Null));
    let result = bounded(timeout, api.patch(&o.name, &params, &Patch::Apply(&o.body))).await?;
    let mut after_value = serde_json::to_value(&result).unwrap_or(Value::Null);
    // The status, when it differs from the cluster's in more than the run time (or the
    // cluster's cannot be read): patched on the status subresource, as a server dry run too,
    // so that a dry run or a diff meets the same conflicts the push would.
    let mut status_changed = false;
    if let Some(status) = &o.status {
        let strip = |mut v: Value| {
            if let Some(d) = v
                .get_mut("desiredOptimizedAlloc")
                .and_then(Value::as_object_mut)
            {
                d.remove("lastRunTime");
            }
            v
        };
        let have = strip(
            current_value
                .as_ref()
                .and_then(|c| c.get("status").cloned())
                .unwrap_or(Value::Null),
        );
        let wanted = strip(status.clone());
        let same = readable
            && wanted
                .as_object()
                .is_some_and(|w| w.iter().all(|(k, v)| have.get(k) == Some(v)));
        if !same {
            status_changed = true;
            let body = serde_json::json!({
                "apiVersion": o.api_version,
                "kind": o.kind,
                "metadata": { "name": o.name, "namespace": o.namespace },
                "status": status,
            });
            match bounded(
                timeout,
                api.patch_status(&o.name, &params, &Patch::Apply(&body)),
            )
            .await
            {
                Ok(with_status) => {
                    after_value = serde_json::to_value(&with_status).unwrap_or(after_value);
                }
                // A dry run of an object that does not exist yet: no stored object has a
                // status to patch (nor fields to conflict with); the push writes it after
                // creating the object.
                Err(e) if options.dry_run && e.code() == Some(404) => {
                    after_value["status"] = status.clone();
                }
                Err(e) => return Err(e),
            }
        }
    }
    if !readable {
        return Ok(Applied {
            label: o.label(),
            outcome: Outcome::Applied,
            diff: options
                .diff
                .then(|| "  (no diff: the role may patch this object but not read it)\n".into()),
        });
    }
    let shown = |v: Value| {
        let keep_status = o.status.is_some();
        let status = v.get("status").cloned();
        let mut c = comparable(v);
        if let (true, Some(s)) = (keep_status, status) {
            c["status"] = s;
        }
        c
    };
    let after = comparable(after_value.clone());
    let before = current_value.clone().map(comparable);
    let outcome = match &before {
        None => Outcome::Created,
        Some(b) if *b == after && !status_changed => Outcome::Unchanged,
        Some(_) => Outcome::Configured,
    };
    let diff = options.diff.then(|| {
        let old = current_value
            .map(shown)
            .as_ref()
            .map(yaml)
            .unwrap_or_default();
        line_diff(&old, &yaml(&shown(after_value)))
    });
    Ok(Applied {
        label: o.label(),
        outcome,
        diff,
    })
}

/// The schema of a VariantAutoscaling CRD or object: v0.4 has `spec.modelProfile`, v0.5
/// `spec.scaleTargetRef`.
fn spec_fields_of_crd(crd: &Value) -> Vec<String> {
    let versions = crd["spec"]["versions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut fields: Vec<String> = versions
        .iter()
        .filter_map(|v| {
            v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"].as_object()
        })
        .flat_map(|p| p.keys().cloned())
        .collect();
    fields.sort();
    fields.dedup();
    fields
}

/// Which schema the fields say: `Some("v0.4")`, `Some("v0.5")` or `None`.
fn schema_name(fields: &[String]) -> Option<&'static str> {
    if fields.iter().any(|f| f == "modelProfile") {
        Some("v0.4")
    } else if fields.iter().any(|f| f == "scaleTargetRef") {
        Some("v0.5")
    } else {
        None
    }
}

/// The schema of the VariantAutoscaling CRD installed in the cluster (`v0.4` or `v0.5`), or
/// `None` when there is none (or it cannot be read).
pub fn installed_schema(connection: &Connection) -> Result<Option<&'static str>, RequestError> {
    connection.runtime.block_on(async {
        Ok(installed_crd(&connection.client, connection.timeout)
            .await?
            .and_then(|crd| schema_name(&spec_fields_of_crd(&crd))))
    })
}

fn crd_api(client: &Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        "customresourcedefinitions",
    );
    Api::all_with(client.clone(), &ar)
}

async fn installed_crd(client: &Client, timeout: Duration) -> Result<Option<Value>, RequestError> {
    match bounded(timeout, crd_api(client).get_opt(VA_CRD)).await {
        Ok(c) => Ok(c.map(|c| serde_json::to_value(c).unwrap_or(Value::Null))),
        // Not allowed to read CRDs: nothing to compare with.
        Err(e) if e.code() == Some(403) => Ok(None),
        Err(Failure::Timeout) => Err(timed_out(timeout)),
        Err(Failure::Kube(kube::Error::Api(s))) => Err(request_error!(format!(
            "cannot read the VariantAutoscaling CRD: {} ({}): {}",
            s.reason, s.code, s.message
        ))),
        Err(Failure::Kube(e)) => Err(request_error!(format!("cannot reach the cluster: {e}"))),
    }
}

fn va_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("llmd.ai", "v1alpha1", "VariantAutoscaling"),
        "variantautoscalings",
    )
}

/// The names (`namespace/name`) of the VariantAutoscalings stored, when they can be listed.
async fn stored_variants(client: &Client, timeout: Duration) -> Vec<String> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &va_resource());
    match bounded(timeout, api.list(&Default::default())).await {
        Ok(list) => list
            .items
            .iter()
            .map(|v| {
                format!(
                    "{}/{}",
                    v.metadata.namespace.clone().unwrap_or_default(),
                    v.metadata.name.clone().unwrap_or_default()
                )
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Groups the cluster serves natively, which discovery need not check.
const BUILT_IN: [&str; 5] = ["", "apps", "autoscaling", "apiextensions.k8s.io", "policy"];

/// The kinds among `objects` that the cluster does not serve (`plural.group/version`), found
/// by discovery. A VariantAutoscaling counts as served when its CRD is among the objects.
async fn missing_kinds(
    client: &Client,
    objects: &[Object],
    timeout: Duration,
) -> Result<Vec<(String, String)>, RequestError> {
    let installs_crd = objects.iter().any(|o| o.kind == "CustomResourceDefinition");
    let mut checked: Vec<(String, String)> = Vec::new();
    let mut missing = Vec::new();
    for o in objects.iter().filter(|o| !o.is_scale()) {
        let (group, version) = match o.api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), o.api_version.clone()),
        };
        if BUILT_IN.contains(&group.as_str()) || (o.kind == "VariantAutoscaling" && installs_crd) {
            continue;
        }
        let key = (format!("{group}/{version}"), o.plural.clone());
        if checked.contains(&key) {
            continue;
        }
        checked.push(key.clone());
        let served = match bounded(timeout, client.list_api_group_resources(&key.0)).await {
            Ok(list) => list.resources.iter().any(|r| r.name == o.plural),
            Err(e) if e.code() == Some(404) => false,
            Err(Failure::Timeout) => return Err(timed_out(timeout)),
            // Discovery not allowed or failing: let the apply itself say.
            Err(_) => true,
        };
        if !served {
            missing.push((
                format!("{}.{group}", o.plural),
                format!("{}/{}", key.0, o.kind),
            ));
        }
    }
    Ok(missing)
}

/// What a CRD is called to a user who has to install it.
fn install_hint(crd: &str) -> RequestError {
    if crd.ends_with(".keda.sh") {
        request_error!(" (is KEDA installed?)")
    } else if crd == VA_CRD {
        request_error!(
            " (install the WVA controller, or ",
            Field("include_crd"),
            ")"
        )
    } else {
        RequestError::new(Vec::new())
    }
}

/// Checks everything that can be checked before writing: the kinds are served, the
/// VariantAutoscaling CRD in the cluster is the objects' schema, every Deployment to scale
/// exists. The error is the object (or kind) and the cause.
async fn preflight(
    client: &Client,
    objects: &[Object],
    options: &PushOptions,
    timeout: Duration,
) -> Result<(), (String, RequestError)> {
    let missing = missing_kinds(client, objects, timeout)
        .await
        .map_err(|e| ("discovery".to_string(), e))?;
    if let Some((crd, kind)) = missing.first() {
        return Err((
            format!("{kind} objects"),
            request_error!(format!(
                "the cluster does not serve them: CRD {crd} is not installed"
            ))
            .append(install_hint(crd)),
        ));
    }
    let writes_variants = objects.iter().any(|o| o.kind == "VariantAutoscaling");
    let ours = objects
        .iter()
        .find(|o| o.kind == "CustomResourceDefinition" && o.name == VA_CRD);
    let wanted = objects
        .iter()
        .find(|o| o.kind == "VariantAutoscaling")
        .and_then(|o| {
            let fields: Vec<String> = o.body["spec"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            schema_name(&fields)
        })
        .or_else(|| ours.and_then(|c| schema_name(&spec_fields_of_crd(&c.body))));
    if writes_variants || ours.is_some() {
        let installed = installed_crd(client, timeout)
            .await
            .map_err(|e| (format!("customresourcedefinition/{VA_CRD}"), e))?;
        if let (Some(crd), Some(wanted)) = (installed, wanted) {
            let have_fields = spec_fields_of_crd(&crd);
            if let Some(have) = schema_name(&have_fields).filter(|h| *h != wanted) {
                match ours {
                    Some(new_crd) if !options.replace_crd => {
                        let new_fields = spec_fields_of_crd(&new_crd.body);
                        let pruned: Vec<String> = have_fields
                            .iter()
                            .filter(|f| !new_fields.contains(f))
                            .map(|f| format!("spec.{f}"))
                            .collect();
                        let stored = stored_variants(client, timeout).await;
                        let shown: Vec<&str> = stored.iter().take(5).map(String::as_str).collect();
                        return Err((
                            format!("customresourcedefinition/{VA_CRD}"),
                            request_error!(format!(
                                "the cluster's VariantAutoscaling CRD is the {have} schema; replacing it with the {wanted} one would prune {} from {} stored variant{}{}. Use ",
                                pruned.join(", "),
                                stored.len(),
                                if stored.len() == 1 { "" } else { "s" },
                                if shown.is_empty() {
                                    String::new()
                                } else {
                                    format!(
                                        " ({}{})",
                                        shown.join(", "),
                                        if stored.len() > 5 { ", ..." } else { "" }
                                    )
                                }
                            ))
                            .then(Field("schema"))
                            .then(format!(" {have} (or leave "))
                            .then(Field("schema"))
                            .then(" out: wva then writes the installed schema), or ")
                            .then(Field("replace_crd"))
                            .then(" to replace it anyway"),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        return Err((
                            "variantautoscaling objects".to_string(),
                            request_error!(
                                format!(
                                    "the cluster's VariantAutoscaling CRD is the {have} schema and these are {wanted} objects: use "
                                ),
                                Field("schema"),
                                format!(" {have} (or leave "),
                                Field("schema"),
                                " out: wva then writes the installed schema)"
                            ),
                        ));
                    }
                }
            }
        }
    }
    // Every Deployment to scale must exist.
    for o in objects.iter().filter(|o| o.is_scale()) {
        if let Err(e) = bounded(timeout, api_of(client, o).get_scale(&o.name)).await {
            return Err((o.label(), describe(&e, o, timeout)));
        }
    }
    Ok(())
}

/// Applies `objects` in order; stops at the first failure and says what was and was not
/// applied. Nothing is written unless the checks before writing pass.
pub fn push(
    connection: &Connection,
    objects: &[Object],
    options: &PushOptions,
) -> Result<Vec<Applied>, PushError> {
    let client = &connection.client;
    let timeout = connection.timeout;
    connection.runtime.block_on(async {
        if let Err((failed, cause)) = preflight(client, objects, options, timeout).await {
            return Err(PushError {
                applied: Vec::new(),
                failed,
                cause,
                not_applied: objects.iter().map(Object::label).collect(),
            });
        }
        let mut applied = Vec::new();
        // A server dry run does not store the CRD it would create, so the server cannot check
        // the variants it would define.
        let mut crd_pending = false;
        for (k, o) in objects.iter().enumerate() {
            match apply_one(client, o, options, timeout).await {
                Ok(a) => {
                    if o.kind == "CustomResourceDefinition" && a.outcome == Outcome::Created {
                        crd_pending = options.dry_run;
                    }
                    applied.push(a);
                }
                Err(e)
                    if e.code() == Some(404) && crd_pending && o.kind == "VariantAutoscaling" =>
                {
                    applied.push(Applied {
                        label: o.label(),
                        outcome: Outcome::Created,
                        diff: options.diff.then(|| line_diff("", &yaml(&o.body))),
                    });
                }
                Err(e) => {
                    return Err(PushError {
                        applied,
                        failed: o.label(),
                        cause: describe(&e, o, timeout),
                        not_applied: objects[k + 1..].iter().map(Object::label).collect(),
                    });
                }
            }
        }
        Ok(applied)
    })
}

/// Reads WVA's objects from the cluster as `kubectl get -o yaml` shows them: the
/// VariantAutoscalings of `namespace` (every namespace for `None`) and the
/// accelerator-unit-costs and service-classes-config ConfigMaps of `config_namespace`.
pub fn read_wva_objects(
    connection: &Connection,
    namespace: Option<&str>,
    config_namespace: &str,
) -> Result<Vec<Value>, RequestError> {
    let client = &connection.client;
    let timeout = connection.timeout;
    let fail = |what: &str, e: Failure| match e {
        Failure::Timeout => timed_out(timeout),
        Failure::Kube(kube::Error::Api(s)) => request_error!(format!(
            "cannot read {what}: {} ({}): {}",
            s.reason, s.code, s.message
        )),
        Failure::Kube(e) => request_error!(format!("cannot reach the cluster: {e}")),
    };
    connection.runtime.block_on(async {
        let mut out = Vec::new();
        let cm = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("", "v1", "ConfigMap"),
            "configmaps",
        );
        let maps: Api<DynamicObject> = Api::namespaced_with(client.clone(), config_namespace, &cm);
        for name in ["accelerator-unit-costs", "service-classes-config"] {
            let got = bounded(timeout, maps.get_opt(name))
                .await
                .map_err(|e| fail(&format!("ConfigMap {config_namespace}/{name}"), e))?;
            if let Some(o) = got {
                let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
                v["apiVersion"] = "v1".into();
                v["kind"] = "ConfigMap".into();
                out.push(v);
            }
        }
        let vas: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &va_resource()),
            None => Api::all_with(client.clone(), &va_resource()),
        };
        let list = bounded(timeout, vas.list(&Default::default()))
            .await
            .map_err(|e| fail("VariantAutoscalings", e))?;
        for o in list.items {
            let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
            v["apiVersion"] = "llmd.ai/v1alpha1".into();
            v["kind"] = "VariantAutoscaling".into();
            out.push(v);
        }
        Ok(out)
    })
}
