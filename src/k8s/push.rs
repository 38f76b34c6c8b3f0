//! Server-side apply of the objects to a cluster (`kube`, rustls): kubeconfig as kubectl reads
//! it, field manager `wva`, `--dry-run=server`, a readable diff of what would change, and a
//! report of what was applied when object k fails.

use super::diff::line_diff;
use super::objects::Object;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::Value;

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
}

impl Outcome {
    /// kubectl's word for it.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
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
    /// Why.
    pub cause: String,
    /// The objects not attempted.
    pub not_applied: Vec<String>,
}

/// A client for a cluster, with the runtime it runs on.
pub struct Connection {
    runtime: tokio::runtime::Runtime,
    client: Client,
    /// The kubeconfig context's namespace.
    pub namespace: String,
}

/// Connects to the kubeconfig's `context` (default: the current one).
pub fn connect(context: Option<&str>) -> Result<Connection, String> {
    let runtime = runtime()?;
    let (client, namespace) = runtime.block_on(async {
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            ..KubeConfigOptions::default()
        };
        let kubeconfig = Kubeconfig::read()
            .map_err(|e| format!("cannot read a kubeconfig (KUBECONFIG or ~/.kube/config): {e}"))?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| format!("kubeconfig: {e}"))?;
        let namespace = config.default_namespace.clone();
        let client = Client::try_from(config).map_err(|e| format!("cannot make a client: {e}"))?;
        Ok::<_, String>((client, namespace))
    })?;
    Ok(Connection {
        runtime,
        client,
        namespace,
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))
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

fn describe(e: &kube::Error, o: &Object) -> String {
    match e {
        kube::Error::Api(status) => {
            let code = status.code;
            let what = match code {
                401 => "unauthorized",
                403 => "forbidden",
                404 if o.kind == "VariantAutoscaling" => {
                    "not found (is the VariantAutoscaling CRD installed? --include-crd installs it)"
                }
                404 if o.is_scale() => "not found (the Deployment does not exist)",
                404 => "not found (does the namespace exist?)",
                409 => {
                    "conflict (another field manager owns these fields; --force-conflicts takes them over)"
                }
                422 => "invalid",
                _ => "refused",
            };
            format!("{what} ({code}): {}", status.message)
        }
        other => format!("cannot reach the cluster: {other}"),
    }
}

async fn apply_one(
    client: &Client,
    o: &Object,
    options: &PushOptions,
) -> Result<Applied, kube::Error> {
    let api = api_of(client, o);
    let mut params = PatchParams::apply(FIELD_MANAGER);
    if options.force {
        params = params.force();
    }
    params.dry_run = options.dry_run;
    if o.is_scale() {
        let want = o.body["spec"]["replicas"].as_u64().unwrap_or(0);
        let current = api.get_scale(&o.name).await?;
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
        api.patch_scale(
            &o.name,
            &merge,
            &Patch::Merge(serde_json::json!({ "spec": { "replicas": want } })),
        )
        .await?;
        return Ok(Applied {
            label: o.label(),
            outcome: Outcome::Configured,
            diff,
        });
    }
    let current = api.get_opt(&o.name).await?;
    let current_value = current
        .as_ref()
        .map(|c| serde_json::to_value(c).unwrap_or(Value::Null));
    let result = api.patch(&o.name, &params, &Patch::Apply(&o.body)).await?;
    // The status, when it differs from the cluster's in more than the run time.
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
        let same = wanted
            .as_object()
            .is_some_and(|w| w.iter().all(|(k, v)| have.get(k) == Some(v)));
        if !same {
            status_changed = true;
            if !options.dry_run {
                let body = serde_json::json!({
                    "apiVersion": o.api_version,
                    "kind": o.kind,
                    "metadata": { "name": o.name, "namespace": o.namespace },
                    "status": status,
                });
                api.patch_status(&o.name, &params, &Patch::Apply(&body))
                    .await?;
            }
        }
    }
    let after = comparable(serde_json::to_value(&result).unwrap_or(Value::Null));
    let before = current_value.map(comparable);
    let outcome = match &before {
        None => Outcome::Created,
        Some(b) if *b == after && !status_changed => Outcome::Unchanged,
        Some(_) => Outcome::Configured,
    };
    let diff = options.diff.then(|| {
        let old = before.as_ref().map(yaml).unwrap_or_default();
        line_diff(&old, &yaml(&after))
    });
    Ok(Applied {
        label: o.label(),
        outcome,
        diff,
    })
}

/// Applies `objects` in order; stops at the first failure and says what was and was not
/// applied.
pub fn push(
    connection: &Connection,
    objects: &[Object],
    options: &PushOptions,
) -> Result<Vec<Applied>, PushError> {
    let client = &connection.client;
    connection.runtime.block_on(async {
        // Every Deployment to scale must exist before anything is written.
        for o in objects.iter().filter(|o| o.is_scale()) {
            if let Err(e) = api_of(client, o).get_scale(&o.name).await {
                return Err(PushError {
                    applied: Vec::new(),
                    failed: o.label(),
                    cause: describe(&e, o),
                    not_applied: objects.iter().map(Object::label).collect(),
                });
            }
        }
        let mut applied = Vec::new();
        // A server dry run does not store the CRD it would create, so the server cannot check
        // the variants it would define.
        let mut crd_pending = false;
        for (k, o) in objects.iter().enumerate() {
            match apply_one(client, o, options).await {
                Ok(a) => {
                    if o.kind == "CustomResourceDefinition" && a.outcome == Outcome::Created {
                        crd_pending = options.dry_run;
                    }
                    applied.push(a);
                }
                Err(kube::Error::Api(status))
                    if status.code == 404 && crd_pending && o.kind == "VariantAutoscaling" =>
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
                        cause: describe(&e, o),
                        not_applied: objects[k + 1..].iter().map(Object::label).collect(),
                    });
                }
            }
        }
        Ok(applied)
    })
}
