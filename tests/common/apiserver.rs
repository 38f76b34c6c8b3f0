//! A stand-in Kubernetes API server that speaks enough of the wire protocol for `wva apply
//! --push` and `wva plan --from-cluster`: server-side apply PATCH (fieldManager, force, dryRun)
//! on objects and the status subresource, GET, LIST of VariantAutoscalings, the scale
//! subresource of Deployments, and discovery of API groups. It can answer as a real server did
//! when things go wrong: status fields owned by another manager (409 unless forced), a role
//! that may patch but not get (403 on GET), a VariantAutoscaling CRD of the other schema (500
//! "field not declared in schema", as the real server's typed patch does), a missing KEDA
//! CRD (404 on discovery), and slow answers. Every request is recorded for assertions.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: String,
}

/// Where the stand-in stores the VariantAutoscaling CRD.
pub const CRD_PATH: &str =
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/variantautoscalings.llmd.ai";

/// The cluster's state and how it misbehaves.
#[derive(Default)]
pub struct Cluster {
    /// Objects by path.
    pub objects: BTreeMap<String, Value>,
    /// Deployments' replicas by name.
    pub scales: BTreeMap<String, u64>,
    /// Every request received, in order.
    pub requests: Vec<Request>,
    pub version: u64,
    /// Refuse PATCHes of paths containing this, with 403.
    pub forbid: Option<String>,
    /// Refuse GETs (not PATCHes) of paths containing this, with 403: a role with `patch` only.
    pub forbid_get: Option<String>,
    /// Answer 404 for variants until the CRD is stored.
    pub missing_crd: bool,
    /// KEDA's CRD is not installed: discovery of keda.sh answers 404.
    pub no_keda: bool,
    /// Another field manager owns the variants' status: a status PATCH without force is 409.
    pub status_conflict: bool,
    /// Wait this long before every answer.
    pub delay: Duration,
}

impl Cluster {
    /// The stand-in with the quickstart's Deployments, one replica each.
    pub fn with_deployments() -> Cluster {
        Cluster {
            scales: DEPLOYMENTS.iter().map(|d| (d.to_string(), 1)).collect(),
            ..Cluster::default()
        }
    }

    /// Stores `crd` as the installed VariantAutoscaling CRD.
    pub fn install_crd(&mut self, mut crd: Value) {
        crd["metadata"]["resourceVersion"] = json!("1");
        self.objects.insert(CRD_PATH.to_string(), crd);
    }

    /// Stores `va` at its path.
    pub fn store_variant(&mut self, mut va: Value) {
        va["metadata"]["resourceVersion"] = json!("1");
        let path = format!(
            "/apis/llmd.ai/v1alpha1/namespaces/{}/variantautoscalings/{}",
            va["metadata"]["namespace"].as_str().unwrap(),
            va["metadata"]["name"].as_str().unwrap()
        );
        self.objects.insert(path, va);
    }

    /// The PATCH requests received.
    pub fn patches(&self) -> Vec<&Request> {
        self.requests
            .iter()
            .filter(|r| r.method == "PATCH")
            .collect()
    }
}

/// The quickstart's Deployments.
pub const DEPLOYMENTS: [&str; 4] = [
    "qwen2-5-14b-instruct-premium",
    "llama-3-1-8b-instruct-standard",
    "llama-3-1-8b-instruct-premium",
    "meta-llama-3-1-8b-batch",
];

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        403 => "Forbidden",
        409 => "Conflict",
        500 => "Internal Server Error",
        _ => "Not Found",
    }
}

fn respond(stream: &mut impl Write, code: u16, body: &Value) {
    let text = body.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
        reason(code),
        text.len()
    );
    let _ = stream.flush();
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn without_version(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    v
}

/// The spec fields the stored VariantAutoscaling CRD declares, if one is stored.
fn declared_spec_fields(c: &Cluster) -> Option<Vec<String>> {
    let crd = c.objects.get(CRD_PATH)?;
    let mut fields = Vec::new();
    for v in crd["spec"]["versions"].as_array()? {
        if let Some(p) =
            v["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"].as_object()
        {
            fields.extend(p.keys().cloned());
        }
    }
    Some(fields)
}

/// Discovery of one group version: `/apis/{group}/{version}`.
fn discovery(c: &Cluster, path: &str) -> Option<(u16, Value)> {
    let rest = path.strip_prefix("/apis/")?;
    let (group, version) = rest.split_once('/')?;
    if version.contains('/') {
        return None;
    }
    let resource = |name: &str, singular: &str, kind: &str| {
        json!({"name": name, "singularName": singular, "namespaced": true, "kind": kind,
               "verbs": ["get", "list", "patch", "update", "create", "delete", "watch"]})
    };
    let resources = match group {
        "llmd.ai" if !c.missing_crd || c.objects.contains_key(CRD_PATH) => vec![
            resource(
                "variantautoscalings",
                "variantautoscaling",
                "VariantAutoscaling",
            ),
            resource("variantautoscalings/status", "", "VariantAutoscaling"),
        ],
        "keda.sh" if !c.no_keda => vec![resource("scaledobjects", "scaledobject", "ScaledObject")],
        _ => {
            let message = "the server could not find the requested resource";
            return Some((404, status(404, "NotFound", message)));
        }
    };
    Some((
        200,
        json!({"kind": "APIResourceList", "apiVersion": "v1",
               "groupVersion": format!("{group}/{version}"), "resources": resources}),
    ))
}

/// A LIST of VariantAutoscalings, of every namespace or one.
fn list_variants(c: &Cluster, path: &str) -> Option<Value> {
    let prefix = "/apis/llmd.ai/v1alpha1/";
    let rest = path.strip_prefix(prefix)?;
    let namespace = if rest == "variantautoscalings" {
        None
    } else {
        let ns = rest
            .strip_prefix("namespaces/")?
            .strip_suffix("/variantautoscalings")?;
        Some(ns)
    };
    let items: Vec<Value> = c
        .objects
        .iter()
        .filter(|(p, _)| p.contains("/variantautoscalings/"))
        .filter(|(p, _)| namespace.is_none_or(|ns| p.contains(&format!("/namespaces/{ns}/"))))
        .map(|(_, v)| v.clone())
        .collect();
    Some(
        json!({"kind": "VariantAutoscalingList", "apiVersion": "llmd.ai/v1alpha1",
                "metadata": {"resourceVersion": c.version.to_string()}, "items": items}),
    )
}

fn handle(cluster: &Mutex<Cluster>, r: &Request) -> (u16, Value) {
    let mut c = cluster.lock().unwrap();
    c.requests.push(r.clone());
    let dry = r.query.split('&').any(|q| q == "dryRun=All");
    let force = r.query.split('&').any(|q| q == "force=true");
    if let Some(deploy) = r.path.strip_suffix("/scale") {
        let name = deploy.rsplit('/').next().unwrap().to_string();
        if !c.scales.contains_key(&name) {
            let message = format!("deployments.apps \"{name}\" not found");
            return (404, status(404, "NotFound", &message));
        }
        if r.method == "PATCH" {
            let want = serde_json::from_str::<Value>(&r.body).unwrap()["spec"]["replicas"]
                .as_u64()
                .unwrap();
            if !dry {
                c.scales.insert(name.clone(), want);
            }
        }
        let replicas = c.scales[&name];
        return (
            200,
            json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": name}, "spec": {"replicas": replicas}}),
        );
    }
    if r.method == "GET"
        && let Some(answer) = discovery(&c, &r.path)
    {
        return answer;
    }
    let crd_stored = c.objects.contains_key(CRD_PATH);
    if c.missing_crd && r.path.starts_with("/apis/llmd.ai/") && !crd_stored {
        let message = "the server could not find the requested resource";
        return (404, status(404, "NotFound", message));
    }
    let (path, is_status) = match r.path.strip_suffix("/status") {
        Some(p) => (p.to_string(), true),
        None => (r.path.clone(), false),
    };
    match r.method.as_str() {
        "GET" => {
            if c.forbid_get.as_deref().is_some_and(|f| path.contains(f)) {
                let message = "forbidden: User \"ci\" cannot get resource";
                return (403, status(403, "Forbidden", message));
            }
            if let Some(list) = list_variants(&c, &path) {
                return (200, list);
            }
            match c.objects.get(&path) {
                Some(o) => (200, o.clone()),
                None => (404, status(404, "NotFound", "not found")),
            }
        }
        "PATCH" => {
            if c.forbid.as_deref().is_some_and(|f| path.contains(f)) {
                return (
                    403,
                    status(
                        403,
                        "Forbidden",
                        "variantautoscalings.llmd.ai is forbidden: User \"ci\" cannot patch resource",
                    ),
                );
            }
            let body: Value = serde_json::from_str(&r.body).unwrap();
            if path.contains("/variantautoscalings/")
                && !is_status
                && let (Some(declared), Some(spec)) =
                    (declared_spec_fields(&c), body["spec"].as_object())
                && let Some(field) = spec.keys().find(|k| !declared.contains(k))
            {
                let message = format!(
                    "failed to create typed patch object (llm/{}; llmd.ai/v1alpha1, Kind=VariantAutoscaling): .spec.{field}: field not declared in schema",
                    body["metadata"]["name"].as_str().unwrap_or_default()
                );
                return (500, status(500, "InternalError", &message));
            }
            let existing = c.objects.get(&path).cloned();
            if is_status && existing.is_none() {
                let message = format!(
                    "variantautoscalings.llmd.ai \"{}\" not found",
                    body["metadata"]["name"].as_str().unwrap_or_default()
                );
                return (404, status(404, "NotFound", &message));
            }
            if is_status && c.status_conflict && !force {
                let message = "Apply failed with 1 conflict: conflict with \"workload-variant-autoscaler\" using llmd.ai/v1alpha1: .status.desiredOptimizedAlloc.numReplicas";
                return (409, status(409, "Conflict", message));
            }
            let mut next = existing.clone().unwrap_or(json!({}));
            if is_status {
                next["status"] = body["status"].clone();
            } else {
                // With a status subresource, the object's endpoint ignores the status.
                let status = next.get("status").cloned();
                next = body;
                if let Some(o) = next.as_object_mut() {
                    o.remove("status");
                }
                if let Some(s) = status {
                    next["status"] = s;
                }
            }
            let changed = existing.as_ref().map(without_version) != Some(without_version(&next));
            let version = if changed {
                c.version + 1
            } else {
                existing.as_ref().unwrap()["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            next["metadata"]["resourceVersion"] = json!(version.to_string());
            if !dry && changed {
                c.version = version;
                c.objects.insert(path, next.clone());
            }
            (if existing.is_some() { 200 } else { 201 }, next)
        }
        _ => (404, status(404, "NotFound", "unsupported")),
    }
}

/// Serves the stand-in until the test ends; returns its URL.
pub fn serve(cluster: Arc<Mutex<Cluster>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let cluster = cluster.clone();
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or_default().to_string();
                    let target = parts.next().unwrap_or_default().to_string();
                    let (mut length, mut content_type) = (0usize, String::new());
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap_or((h, ""));
                        match k.to_ascii_lowercase().as_str() {
                            "content-length" => length = v.trim().parse().unwrap_or(0),
                            "content-type" => content_type = v.trim().to_string(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                    let request = Request {
                        method,
                        path: path.to_string(),
                        query: query.to_string(),
                        content_type,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    let delay = cluster.lock().unwrap().delay;
                    std::thread::sleep(delay);
                    let (code, value) = handle(&cluster, &request);
                    respond(&mut writer, code, &value);
                }
            });
        }
    });
    url
}

/// A kubeconfig for `url` in `dir`: context `test`, namespace `llm`, a bearer token.
pub fn kubeconfig(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: stand-in\n  cluster:\n    server: {url}\ncontexts:\n- name: test\n  context:\n    cluster: stand-in\n    user: ci\n    namespace: llm\nusers:\n- name: ci\n  user:\n    token: secret\n"
        ),
    )
    .unwrap();
    path
}
