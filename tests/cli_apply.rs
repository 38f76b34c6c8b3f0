//! `wva apply`: the objects validate against upstream's CRDs (read from `../shared/reference`)
//! and against the CRD wva generates; `wva plan --from-cluster` on what apply wrote gives the
//! same plan; bad input; and `--push` against a stand-in API server that speaks the wire
//! protocol (server-side apply PATCH, fieldManager, force, dryRun, the scale subresource), with
//! assertions on the exact requests. A real cluster is exercised by an ignored test when
//! `WVA_TEST_KUBECONFIG` is set.

#[path = "common/apiserver.rs"]
mod apiserver;
mod common;

use apiserver::{Cluster, Request, kubeconfig, serve};
use common::{shared, wva};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// The documents of a YAML stream, as JSON values.
fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .map(|d| {
            let v: serde_yaml::Value = serde_yaml::from_str(d).unwrap();
            serde_json::to_value(v).unwrap()
        })
        .collect()
}

fn apply(args: &[&str]) -> Vec<Value> {
    let out = wva().arg("apply").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "wva apply {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    documents(&String::from_utf8_lossy(&out.stdout))
}

/// The openAPIV3Schema of a CRD, as a JSON Schema validator.
fn validator(crd: &Value) -> jsonschema::Validator {
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    assert!(schema.is_object(), "no openAPIV3Schema in {crd}");
    jsonschema::validator_for(schema).unwrap()
}

fn upstream_crd(folder: &str) -> Option<Value> {
    let path = shared(&format!(
        "reference/wva/{folder}/llmd.ai_variantautoscalings.yaml"
    ))?;
    Some(documents(&std::fs::read_to_string(path).unwrap()).remove(0))
}

fn errors(v: &jsonschema::Validator, obj: &Value) -> Vec<String> {
    v.iter_errors(obj)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn variants(docs: &[Value]) -> Vec<Value> {
    docs.iter()
        .filter(|d| d["kind"] == "VariantAutoscaling")
        .cloned()
        .collect()
}

#[test]
fn variants_validate_against_upstream_and_generated_crds() {
    for (schema, folder, sample) in [
        (
            "v0.4",
            "wva-incubation-2025-10",
            "sample-va-vllme-A100.yaml",
        ),
        ("v0.5", "wva-llm-d-2026-02", "sample-va-with-cost.yaml"),
    ] {
        let Some(upstream) = upstream_crd(folder) else {
            return;
        };
        let docs = apply(&[
            "scenarios/quickstart.yaml",
            "--schema",
            schema,
            "--include-crd",
            "--with-status",
        ]);
        assert_eq!(docs[0]["kind"], "CustomResourceDefinition");
        let ours = validator(&docs[0]);
        let theirs = validator(&upstream);
        let vas = variants(&docs);
        assert_eq!(vas.len(), 4, "{schema}");
        for va in &vas {
            assert!(
                errors(&theirs, va).is_empty(),
                "{schema} upstream: {:?}\n{va}",
                errors(&theirs, va)
            );
            assert!(
                errors(&ours, va).is_empty(),
                "{schema} generated: {:?}",
                errors(&ours, va)
            );
        }
        // Upstream's own samples pass the generated CRD.
        let samples =
            std::fs::read_to_string(shared(&format!("reference/wva/{folder}/{sample}")).unwrap())
                .unwrap();
        for s in documents(&samples)
            .into_iter()
            .filter(|d| d["kind"] == "VariantAutoscaling")
        {
            assert!(
                errors(&ours, &s).is_empty(),
                "{schema} sample: {:?}",
                errors(&ours, &s)
            );
        }
        // Both reject what the API server would reject.
        let mut bad = vas[0].clone();
        match schema {
            "v0.4" => bad["spec"]["modelProfile"]["accelerators"][0]["accCount"] = json!(0),
            _ => bad["spec"]["variantCost"] = json!("ten"),
        }
        assert!(
            !errors(&theirs, &bad).is_empty(),
            "{schema}: upstream accepts {bad}"
        );
        assert!(
            !errors(&ours, &bad).is_empty(),
            "{schema}: generated accepts {bad}"
        );
        // The generated CRD names the resource as upstream's does.
        for field in ["group", "names", "scope"] {
            assert_eq!(
                docs[0]["spec"][field], upstream["spec"][field],
                "{schema}: spec.{field}"
            );
        }
    }
}

/// Without --schema, apply writes upstream's current schema (v0.5) and says nothing on stderr;
/// `-o json` is the same objects as one `List`.
#[test]
fn default_schema_is_current_silent_and_json_is_one_list() {
    let out = wva()
        .args(["apply", "scenarios/quickstart.yaml"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "the default path warns"
    );
    let docs = documents(&String::from_utf8_lossy(&out.stdout));
    let vas = variants(&docs);
    assert_eq!(vas.len(), 4);
    for va in &vas {
        assert!(va["spec"]["scaleTargetRef"].is_object(), "not v0.5: {va}");
        assert!(va["spec"].get("modelProfile").is_none(), "not v0.5: {va}");
    }
    let json = wva()
        .args(["apply", "scenarios/quickstart.yaml", "-o", "json"])
        .output()
        .unwrap();
    assert!(json.status.success());
    let list: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["items"].as_array().unwrap(), &docs);
    // -o is the printed format; --out-dir files are YAML.
    let both = wva()
        .args([
            "apply",
            "scenarios/quickstart.yaml",
            "-o",
            "json",
            "--out-dir",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn variants_carry_the_plan() {
    let docs = apply(&[
        "scenarios/quickstart.yaml",
        "--with-status",
        "--schema",
        "v0.4",
    ]);
    let plan: Value = serde_json::from_slice(
        &wva()
            .args(["plan", "scenarios/quickstart.yaml", "-o", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let vas = variants(&docs);
    for a in plan["allocations"].as_array().unwrap() {
        let va = vas
            .iter()
            .find(|v| v["metadata"]["annotations"]["wva.llmd.ai/workload"] == a["workload"])
            .unwrap_or_else(|| panic!("no variant for {}", a["workload"]));
        let name = va["metadata"]["name"].as_str().unwrap();
        assert_eq!(
            va["metadata"]["labels"]["inference.optimization/acceleratorName"],
            a["accelerator"]
        );
        assert_eq!(
            va["status"]["desiredOptimizedAlloc"]["numReplicas"], a["replicas"],
            "{name}"
        );
        assert_eq!(
            va["metadata"]["annotations"]["wva.llmd.ai/max-num-seqs"],
            a["max_batch"].to_string()
        );
        let chosen = va["spec"]["modelProfile"]["accelerators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["acc"] == a["accelerator"])
            .unwrap();
        assert_eq!(chosen["maxBatchSize"], a["max_batch"], "{name}");
        // Perf parameters are quoted numbers.
        for v in chosen["perfParms"]["decodeParms"]
            .as_object()
            .unwrap()
            .values()
        {
            assert!(v.as_str().unwrap().parse::<f64>().is_ok(), "{v}");
        }
    }
    let classes = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "service-classes-config")
        .unwrap();
    let premium: serde_yaml::Value =
        serde_yaml::from_str(classes["data"]["premium.yaml"].as_str().unwrap()).unwrap();
    assert_eq!(premium["priority"], 1);
    assert_eq!(premium["data"][0]["slo-tpot"], 40);
    let costs = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "accelerator-unit-costs")
        .unwrap();
    let h100: Value = serde_json::from_str(costs["data"]["H100"].as_str().unwrap()).unwrap();
    assert_eq!(h100["cost"], "100.00");
}

#[test]
fn scalers_and_scale_patches_follow_upstream() {
    let docs = apply(&[
        "scenarios/quickstart.yaml",
        "--schema",
        "v0.4",
        "--autoscaler",
        "hpa",
        "--actuate",
        "replicas",
        "--namespace",
        "llm",
    ]);
    let hpas: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "HorizontalPodAutoscaler")
        .collect();
    assert_eq!(hpas.len(), 4);
    let h = hpas[0];
    assert_eq!(h["apiVersion"], "autoscaling/v2");
    let metric = &h["spec"]["metrics"][0];
    assert_eq!(metric["type"], "External");
    assert_eq!(
        metric["external"]["metric"]["name"],
        "inferno_desired_replicas"
    );
    assert_eq!(
        metric["external"]["target"],
        json!({"type": "AverageValue", "averageValue": "1"})
    );
    let target = h["spec"]["scaleTargetRef"]["name"].as_str().unwrap();
    assert_eq!(
        metric["external"]["metric"]["selector"]["matchLabels"]["variant_name"],
        target
    );
    // kubectl cannot apply a Scale: the replica counts come as commands on stderr.
    assert!(docs.iter().all(|d| d["kind"] != "Scale"));
    let out = wva()
        .args([
            "apply",
            "scenarios/quickstart.yaml",
            "--actuate",
            "replicas",
            "--namespace",
            "llm",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("kubectl scale deployment/qwen2-5-14b-instruct-premium --replicas=4 -n llm"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("kubectl scale deployment/").count(), 4);
    let keda = apply(&[
        "scenarios/quickstart.yaml",
        "--autoscaler",
        "keda",
        "--schema",
        "v0.5",
    ]);
    let so = keda.iter().find(|d| d["kind"] == "ScaledObject").unwrap();
    let trigger = &so["spec"]["triggers"][0];
    assert_eq!(trigger["type"], "prometheus");
    assert_eq!(trigger["metricType"], "AverageValue");
    assert_eq!(trigger["metadata"]["threshold"], "1");
    assert!(
        trigger["metadata"]["query"]
            .as_str()
            .unwrap()
            .starts_with("max(wva_desired_replicas{variant_name="),
        "v0.5's controller emits wva_desired_replicas: {trigger}"
    );
    // Names KEDA's webhook accepts.
    let long_name = format!("chat-premium={}", "a".repeat(60));
    let long = apply(&[
        "scenarios/quickstart.yaml",
        "--autoscaler",
        "keda",
        "--name",
        &long_name,
    ]);
    for so in long.iter().filter(|d| d["kind"] == "ScaledObject") {
        assert!(so["metadata"]["name"].as_str().unwrap().len() <= 54, "{so}");
    }
}

#[test]
fn plan_from_cluster_of_applied_objects_is_the_same_plan() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("manifests");
    wva()
        .args([
            "apply",
            "scenarios/quickstart.yaml",
            "--schema",
            "v0.4",
            "--out-dir",
        ])
        .arg(&out)
        .assert()
        .success();
    let plan = |args: &[&str]| -> Value {
        let o = wva()
            .arg("plan")
            .args(args)
            .args(["-o", "json"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let original = plan(&["scenarios/quickstart.yaml"]);
    // The load of each variant, from the plan (a cluster's status would carry the measured one).
    let mut names = BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in &files {
        let doc = documents(&std::fs::read_to_string(f).unwrap()).remove(0);
        if doc["kind"] == "VariantAutoscaling" {
            names.insert(
                doc["metadata"]["annotations"]["wva.llmd.ai/workload"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                doc["metadata"]["name"].as_str().unwrap().to_string(),
            );
        }
    }
    let mut load = String::from("workloads:\n");
    for a in original["allocations"].as_array().unwrap() {
        load.push_str(&format!(
            "  - {{variant: {}, rate_rps: {}, prompt_tokens: {}, output_tokens: {}}}\n",
            names[a["workload"].as_str().unwrap()],
            a["rate_rps"],
            a["prompt_tokens"],
            a["output_tokens"]
        ));
    }
    let load_file = dir.path().join("load.yaml");
    std::fs::write(&load_file, load).unwrap();
    let again = plan(&[
        "--from-cluster",
        out.to_str().unwrap(),
        "--workloads",
        load_file.to_str().unwrap(),
    ]);
    assert_eq!(again["total_cost"], original["total_cost"]);
    for a in original["allocations"].as_array().unwrap() {
        let name = &names[a["workload"].as_str().unwrap()];
        let b = again["allocations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["workload"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} missing from {again}"));
        for field in ["accelerator", "replicas", "max_batch", "cost"] {
            assert_eq!(a[field], b[field], "{name}: {field}");
        }
    }
}

#[test]
fn out_dir_has_one_whole_file_per_object() {
    let dir = tempfile::tempdir().unwrap();
    wva()
        .args([
            "apply",
            "scenarios/quickstart.yaml",
            "--include-crd",
            "--autoscaler",
            "hpa",
            "--out-dir",
        ])
        .arg(dir.path())
        .assert()
        .success()
        .stdout("");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 1 + 2 + 4 + 4, "{names:?}");
    assert_eq!(
        names[0],
        "01-customresourcedefinition-variantautoscalings.llmd.ai.yaml"
    );
    assert!(
        names.iter().all(|n| !n.starts_with('.')),
        "no temporary files left: {names:?}"
    );
    for n in &names {
        let text = std::fs::read_to_string(dir.path().join(n)).unwrap();
        assert_eq!(documents(&text).len(), 1, "{n}");
    }
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let bad_plan = dir.path().join("plan.json");
    std::fs::write(&bad_plan, "{\"allocations\": [{\"workload\": 3}]}").unwrap();
    let out = dir.path().join("out");
    for (args, code, expect) in [
        (
            vec!["--name", "chat-premium=Chat_Premium"],
            2,
            "--name chat-premium=Chat_Premium: `Chat_Premium` contains `C`",
        ),
        (
            vec!["--name", "nope=x"],
            2,
            "the scenario has no workload `nope`",
        ),
        (vec!["--name", "chat-premium"], 2, "expected WORKLOAD=NAME"),
        (
            vec!["--namespace", "LLM"],
            2,
            "--namespace: `LLM` contains `L`",
        ),
        (
            vec!["--plan", bad_plan.to_str().unwrap()],
            2,
            "allocations[0].workload",
        ),
        (vec!["--context", "x"], 2, "--push"),
    ] {
        let o = wva()
            .args(["apply", "scenarios/quickstart.yaml", "--out-dir"])
            .arg(&out)
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?}: nothing written");
    }
    // Two workloads named alike.
    let o = wva()
        .args([
            "apply",
            "scenarios/quickstart.yaml",
            "--name",
            "chat-premium=same",
            "--name",
            "chat-standard=same",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("would both be named `same`"));
    // A plan that cannot serve a workload: a warning, or exit 3 with --fail-on-infeasible.
    let o = wva()
        .args(["apply", "tests/fixtures/impossible-slo.yaml"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the plan cannot fully serve: voice-agent")
    );
    wva()
        .args([
            "apply",
            "tests/fixtures/impossible-slo.yaml",
            "--fail-on-infeasible",
        ])
        .assert()
        .code(3)
        .stdout("");
}

// ---------------------------------------------------------------------------------------------
// Push, against a stand-in API server.

fn push(config: &std::path::Path, extra: &[&str]) -> std::process::Output {
    wva()
        .env("KUBECONFIG", config)
        .args([
            "apply",
            "scenarios/quickstart.yaml",
            "--push",
            "--actuate",
            "replicas",
        ])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn push_applies_server_side_and_a_second_push_changes_nothing() {
    let cluster = Arc::new(Mutex::new(Cluster::with_deployments()));
    let url = serve(cluster.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &url);

    let first = push(&config, &["--schema", "v0.4"]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("configmap/accelerator-unit-costs (namespace workload-variant-autoscaler-system) created"), "{stdout}");
    assert!(
        stdout.contains("variantautoscaling/qwen2-5-14b-instruct-premium (namespace llm) created"),
        "{stdout}"
    );
    assert!(
        stdout.contains("scale/qwen2-5-14b-instruct-premium (namespace llm) configured"),
        "{stdout}"
    );
    {
        let c = cluster.lock().unwrap();
        let patches: Vec<&Request> = c
            .requests
            .iter()
            .filter(|r| r.method == "PATCH" && !r.path.ends_with("/scale"))
            .collect();
        assert_eq!(patches.len(), 6, "2 ConfigMaps and 4 variants");
        for p in &patches {
            assert_eq!(p.content_type, "application/apply-patch+yaml", "{p:?}");
            assert!(p.query.contains("fieldManager=wva"), "{p:?}");
            assert!(
                !p.query.contains("force"),
                "no takeover without --force-conflicts: {p:?}"
            );
            assert!(!p.query.contains("dryRun"), "{p:?}");
        }
        assert!(patches.iter().any(|p| p.path == "/apis/llmd.ai/v1alpha1/namespaces/llm/variantautoscalings/qwen2-5-14b-instruct-premium"));
        assert!(patches.iter().any(|p| p.path == "/api/v1/namespaces/workload-variant-autoscaler-system/configmaps/service-classes-config"));
        let va = &c.objects["/apis/llmd.ai/v1alpha1/namespaces/llm/variantautoscalings/qwen2-5-14b-instruct-premium"];
        assert_eq!(va["spec"]["modelID"], "Qwen/Qwen2.5-14B-Instruct");
        let scale = c
            .requests
            .iter()
            .find(|r| r.method == "PATCH" && r.path.ends_with("/scale"))
            .unwrap();
        assert_eq!(scale.content_type, "application/merge-patch+json");
        assert!(scale.query.contains("fieldManager=wva"), "{scale:?}");
        assert_eq!(
            scale.path,
            "/apis/apps/v1/namespaces/llm/deployments/qwen2-5-14b-instruct-premium/scale"
        );
        assert_eq!(c.scales["qwen2-5-14b-instruct-premium"], 4);
    }

    let second = push(&config, &["--schema", "v0.4"]);
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success());
    assert!(
        !stdout.contains(" created") && !stdout.contains(" configured"),
        "{stdout}"
    );
    assert!(
        stdout.contains("nothing to change: the cluster already matches the plan"),
        "{stdout}"
    );

    // A dry run with a diff: the server computes, nothing is stored.
    let before = cluster.lock().unwrap().objects.clone();
    // --diff alone is a server dry run, as kubectl diff.
    let dry = push(&config, &["--diff", "--schema", "v0.5"]);
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(stdout.contains("variantautoscaling/qwen2-5-14b-instruct-premium (namespace llm) configured (server dry run)"), "{stdout}");
    assert!(stdout.contains("+   variantCost: '100.00'"), "{stdout}");
    assert!(stdout.contains("-   modelProfile:"), "{stdout}");
    let c = cluster.lock().unwrap();
    assert_eq!(c.objects, before, "a dry run stores nothing");
    assert!(
        c.requests
            .iter()
            .filter(|r| r.method == "PATCH")
            .rev()
            .take(3)
            .all(|r| r.query.contains("dryRun=All"))
    );
}

#[test]
fn a_refused_object_stops_the_push_and_says_what_was_applied() {
    let cluster = Arc::new(Mutex::new(Cluster {
        forbid: Some("variantautoscalings/llama-3-1-8b-instruct-standard".into()),
        ..Cluster::with_deployments()
    }));
    let url = serve(cluster.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &url);
    let out = push(&config, &[]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stdout.contains("variantautoscaling/qwen2-5-14b-instruct-premium (namespace llm) created"),
        "{stdout}"
    );
    assert!(stderr.contains("variantautoscaling/llama-3-1-8b-instruct-standard (namespace llm) failed: forbidden (403)"), "{stderr}");
    assert!(
        stderr.contains("not applied: variantautoscaling/llama-3-1-8b-instruct-premium"),
        "{stderr}"
    );
    assert!(
        stderr.contains("applied: configmap/accelerator-unit-costs"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_cluster_is_exit_4() {
    // A port nothing listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &format!("http://127.0.0.1:{port}"));
    let out = push(&config, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("cannot reach the cluster"), "{stderr}");
    assert!(stderr.contains("nothing applied"), "{stderr}");
    let missing = wva()
        .env("KUBECONFIG", dir.path().join("none"))
        .args(["apply", "scenarios/quickstart.yaml", "--push"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("kubeconfig"));
}

/// Against a real cluster (docs/apply.md says how to run a local kube-apiserver and etcd for
/// it): `WVA_TEST_KUBECONFIG=/path/to/kubeconfig cargo test --release --test cli_apply --
/// --ignored`. Applies the CRD (v0.4) and the quickstart objects to the namespace `wva-test`
/// (which must exist, as must `workload-variant-autoscaler-system`), pushes again (nothing
/// changes), refuses to replace the CRD with the v0.5 one, dry-runs the status, and plans
/// from the live cluster.
#[test]
#[ignore = "needs a real cluster: set WVA_TEST_KUBECONFIG"]
fn real_cluster_round_trip() {
    let Some(config) = std::env::var_os("WVA_TEST_KUBECONFIG") else {
        panic!("set WVA_TEST_KUBECONFIG to a kubeconfig of a disposable cluster");
    };
    let run = |extra: &[&str]| {
        wva()
            .env("KUBECONFIG", &config)
            .args([
                "apply",
                "scenarios/quickstart.yaml",
                "--include-crd",
                "--namespace",
                "wva-test",
                "--push",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let first = run(&["--schema", "v0.4"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = run(&[]);
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("nothing to change"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let other = run(&["--schema", "v0.5"]);
    assert_eq!(other.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&other.stderr)
            .contains("the cluster's VariantAutoscaling CRD is the v0.4 schema")
    );
    let status = run(&["--with-status", "--dry-run", "server"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let plan = wva()
        .env("KUBECONFIG", &config)
        .args([
            "plan",
            "--from-cluster",
            "--namespace",
            "wva-test",
            "--rate-rps",
            "5",
            "--in-tokens",
            "500",
            "--out-tokens",
            "200",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(plan["allocations"].as_array().unwrap().len(), 4, "{plan}");
}

#[test]
fn a_plan_file_that_leaves_a_workload_out_is_infeasible_with_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    let out = wva()
        .args(["plan", "tests/fixtures/impossible-slo.yaml", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    std::fs::write(&plan, &out.stdout).unwrap();
    let args = [
        "apply",
        "tests/fixtures/impossible-slo.yaml",
        "--plan",
        plan.to_str().unwrap(),
    ];
    let ok = wva().args(args).output().unwrap();
    assert_eq!(ok.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&ok.stderr).contains("voice-agent"));
    wva()
        .args(args)
        .arg("--fail-on-infeasible")
        .assert()
        .code(3)
        .stdout("");
}

#[test]
fn push_checks_deployments_first_and_reports_status_changes() {
    // No Deployments: nothing is written.
    let cluster = Arc::new(Mutex::new(Cluster::default()));
    let url = serve(cluster.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &url);
    let out = push(&config, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("not found (the Deployment does not exist)"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing applied"), "{stderr}");
    assert!(
        cluster
            .lock()
            .unwrap()
            .requests
            .iter()
            .all(|r| r.method != "PATCH")
    );

    // With status: written once, then unchanged although the run time moved on.
    let cluster = Arc::new(Mutex::new(Cluster::with_deployments()));
    let url = serve(cluster.clone());
    let config = kubeconfig(dir.path(), &url);
    let run = |epoch: &str| {
        wva()
            .env("KUBECONFIG", &config)
            .env("SOURCE_DATE_EPOCH", epoch)
            .args([
                "apply",
                "scenarios/quickstart.yaml",
                "--push",
                "--with-status",
                "--force-conflicts",
            ])
            .output()
            .unwrap()
    };
    let first = run("1800000000");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    {
        let c = cluster.lock().unwrap();
        let statuses: Vec<&Request> = c
            .requests
            .iter()
            .filter(|r| r.path.ends_with("/status"))
            .collect();
        assert_eq!(statuses.len(), 4);
        assert!(statuses.iter().all(|r| r.query.contains("force=true")));
        let va = &c.objects["/apis/llmd.ai/v1alpha1/namespaces/llm/variantautoscalings/qwen2-5-14b-instruct-premium"];
        assert_eq!(va["status"]["desiredOptimizedAlloc"]["numReplicas"], 4);
        assert_eq!(
            va["status"]["desiredOptimizedAlloc"]["lastRunTime"],
            "2027-01-15T08:00:00Z"
        );
    }
    let second = run("1800000600");
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains("nothing to change"), "{stdout}");
}

#[test]
fn a_dry_run_that_installs_the_crd_reports_the_variants_it_would_create() {
    // The stand-in knows no CRDs: until one is stored, variant paths answer 404 on GET and
    // the dry-run apply of the CRD stores nothing.
    let cluster = Arc::new(Mutex::new(Cluster {
        forbid: None,
        missing_crd: true,
        ..Cluster::with_deployments()
    }));
    let url = serve(cluster.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &url);
    let out = wva()
        .env("KUBECONFIG", &config)
        .args([
            "apply",
            "scenarios/quickstart.yaml",
            "--push",
            "--include-crd",
            "--dry-run",
            "server",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "customresourcedefinition/variantautoscalings.llmd.ai created (server dry run)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("variantautoscaling/qwen2-5-14b-instruct-premium (namespace llm) created (server dry run)"),
        "{stdout}"
    );
    assert!(cluster.lock().unwrap().objects.is_empty());
}

#[test]
fn plan_rows_are_checked_and_out_dir_keeps_no_stale_files() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let empty = write("empty.json", "{\"allocations\": []}");
    let big = write(
        "big.json",
        "{\"allocations\": [{\"workload\": \"chat-premium\", \"accelerator\": \"H100\", \"replicas\": 2, \"max_batch\": 100000}]}",
    );
    let twice = write(
        "twice.json",
        "{\"allocations\": [{\"workload\": \"chat-premium\", \"accelerator\": \"H100\", \"replicas\": 2, \"max_batch\": 64}, {\"workload\": \"chat-premium\", \"accelerator\": \"H100\", \"replicas\": 1, \"max_batch\": 64}]}",
    );
    for (plan, expect) in [
        (&empty, "the plan allocates nothing"),
        (&big, "max batch 100000 on `H100`; its profile allows 1 to"),
        (&twice, "two rows for workload `chat-premium` on `H100`"),
    ] {
        let o = wva()
            .args(["apply", "scenarios/quickstart.yaml", "--plan", plan])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{plan}: {stderr}");
        assert!(stderr.contains(expect), "{plan}: {stderr}");
    }
    wva()
        .args([
            "apply",
            "scenarios/quickstart.yaml",
            "--name",
            "chat-premium=a",
            "--name",
            "chat-premium=b",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "--name chat-premium: given twice",
        ));
    // A second run without scalers leaves no scaler files behind.
    let out = dir.path().join("manifests");
    let count = |args: &[&str]| {
        wva()
            .args(["apply", "scenarios/quickstart.yaml", "--out-dir"])
            .arg(&out)
            .args(args)
            .assert()
            .success();
        std::fs::read_dir(&out).unwrap().count()
    };
    assert_eq!(count(&["--autoscaler", "hpa"]), 10);
    assert_eq!(count(&[]), 6);
}
