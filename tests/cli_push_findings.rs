//! What `wva apply --push` and `wva plan --from-cluster` met against a real kube-apiserver
//! (issue 22), replayed against the stand-in API server answering as the real one did: status
//! fields owned by another manager, a VariantAutoscaling CRD of the other schema, a missing KEDA
//! CRD, a role with `patch` but not `get`, the real server's 500 for undeclared fields, a slow
//! server, dumps holding both schemas, and the live cluster read by `plan --from-cluster`.

#[path = "common/apiserver.rs"]
mod apiserver;
mod common;

use apiserver::{CRD_PATH, Cluster, kubeconfig, serve};
use common::wva;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const QWEN: &str =
    "/apis/llmd.ai/v1alpha1/namespaces/llm/variantautoscalings/qwen2-5-14b-instruct-premium";

/// The documents `wva apply ARGS` prints, as JSON values.
fn emitted(args: &[&str]) -> Vec<Value> {
    let out = wva().arg("apply").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split("\n---\n")
        .map(|d| {
            serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(d).unwrap()).unwrap()
        })
        .collect()
}

/// The VariantAutoscaling CRD of `schema` and the quickstart's variants of it (namespace llm).
fn crd_and_variants(schema: &str) -> (Value, Vec<Value>) {
    let docs = emitted(&[
        "scenarios/quickstart.yaml",
        "--include-crd",
        "--schema",
        schema,
        "-n",
        "llm",
    ]);
    let crd = docs
        .iter()
        .find(|d| d["kind"] == "CustomResourceDefinition")
        .unwrap()
        .clone();
    let variants = docs
        .into_iter()
        .filter(|d| d["kind"] == "VariantAutoscaling")
        .collect();
    (crd, variants)
}

/// A stand-in with the quickstart's Deployments (after `setup`), and a kubeconfig for it.
struct Stand {
    cluster: Arc<Mutex<Cluster>>,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Stand {
    fn new(setup: impl FnOnce(&mut Cluster)) -> Stand {
        let mut c = Cluster::with_deployments();
        setup(&mut c);
        let cluster = Arc::new(Mutex::new(c));
        let url = serve(cluster.clone());
        let dir = tempfile::tempdir().unwrap();
        let config = kubeconfig(dir.path(), &url);
        Stand {
            cluster,
            config,
            _dir: dir,
        }
    }

    /// `wva apply scenarios/quickstart.yaml --push ARGS` against the stand-in.
    fn push(&self, args: &[&str]) -> Output {
        wva()
            .env("KUBECONFIG", &self.config)
            .env("SOURCE_DATE_EPOCH", "1800000000")
            .args(["apply", "scenarios/quickstart.yaml", "--push"])
            .args(args)
            .output()
            .unwrap()
    }

    /// `wva ARGS` with the stand-in's kubeconfig.
    fn run(&self, args: &[&str]) -> Output {
        wva()
            .env("KUBECONFIG", &self.config)
            .args(args)
            .output()
            .unwrap()
    }

    fn patch_count(&self) -> usize {
        self.cluster.lock().unwrap().patches().len()
    }

    fn objects(&self) -> std::collections::BTreeMap<String, Value> {
        self.cluster.lock().unwrap().objects.clone()
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[track_caller]
fn assert_ok(o: &Output) {
    let (_, stderr) = text(o);
    assert!(o.status.success(), "{stderr}");
}

#[track_caller]
fn assert_exit(o: &Output, code: i32, expect: &str) {
    let (stdout, stderr) = text(o);
    assert_eq!(o.status.code(), Some(code), "{stdout}\n{stderr}");
    assert!(stderr.contains(expect), "want `{expect}` in: {stderr}");
}

#[track_caller]
fn assert_exit_4(o: &Output, expect: &str) {
    assert_exit(o, 4, expect);
}

// Row 1: the status patch goes through the same server dry run as the object.
#[test]
fn a_dry_run_and_a_diff_meet_the_status_conflicts_the_push_would() {
    let stand = Stand::new(|c| c.status_conflict = true);
    assert_ok(&stand.push(&[]));
    let before = stand.objects();
    let conflict = "conflict (another field manager owns these fields; --force-conflicts takes them over) (409)";
    for args in [
        &["--with-status", "--dry-run", "server"][..],
        &["--with-status", "--diff"][..],
        &["--with-status"][..],
    ] {
        let out = stand.push(args);
        assert_exit_4(&out, conflict);
        assert_exit_4(
            &out,
            "variantautoscaling/qwen2-5-14b-instruct-premium (namespace llm) failed",
        );
    }
    assert_eq!(stand.objects(), before, "nothing stored");
    {
        let c = stand.cluster.lock().unwrap();
        let statuses: Vec<_> = c
            .requests
            .iter()
            .filter(|r| r.method == "PATCH" && r.path.ends_with("/status"))
            .collect();
        assert_eq!(statuses.len(), 3, "one per run, each stops at the first");
        assert!(statuses[0].query.contains("dryRun=All"));
        assert!(statuses[1].query.contains("dryRun=All"));
        assert!(!statuses[2].query.contains("dryRun"));
    }
    // Taking the fields over: the diff shows the status the push will write.
    let out = stand.push(&["--with-status", "--diff", "--force-conflicts"]);
    assert_ok(&out);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("variantautoscaling/qwen2-5-14b-instruct-premium (namespace llm) configured (server dry run)"),
        "{stdout}"
    );
    assert!(stdout.contains("+ status:"), "{stdout}");
    assert!(stdout.contains("+     numReplicas: 4"), "{stdout}");
    assert_eq!(stand.objects(), before, "a dry run stores nothing");
    assert_ok(&stand.push(&["--with-status", "--force-conflicts"]));
    let qwen = &stand.objects()[QWEN];
    assert_eq!(qwen["status"]["desiredOptimizedAlloc"]["numReplicas"], 4);

    // A dry run of variants that do not exist yet: the status has nothing to conflict with.
    let fresh = Stand::new(|c| c.status_conflict = true);
    let out = fresh.push(&["--with-status", "--diff"]);
    assert_ok(&out);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("variantautoscaling/qwen2-5-14b-instruct-premium (namespace llm) created (server dry run)"),
        "{stdout}"
    );
    assert!(stdout.contains("+     numReplicas: 4"), "{stdout}");
    assert!(fresh.objects().is_empty());
}

// Row 2: an installed CRD of the other schema is not replaced without --replace-crd.
#[test]
fn a_crd_of_the_other_schema_is_not_replaced_silently() {
    let (v05_crd, v05_variants) = crd_and_variants("v0.5");
    let stand = Stand::new(|c| {
        c.install_crd(v05_crd.clone());
        c.store_variant(v05_variants[0].clone());
    });
    let out = stand.push(&["--include-crd", "--schema", "v0.4"]);
    assert_exit_4(
        &out,
        "customresourcedefinition/variantautoscalings.llmd.ai failed: the cluster's VariantAutoscaling CRD is the v0.5 schema; replacing it with the v0.4 one would prune spec.scaleTargetRef, spec.variantCost from 1 stored variant (llm/qwen2-5-14b-instruct-premium)",
    );
    assert_exit_4(&out, "--replace-crd to replace it anyway");
    assert_exit_4(&out, "nothing applied");
    assert_eq!(stand.patch_count(), 0, "nothing written");

    // Without --schema: the installed one.
    let out = stand.push(&["--include-crd"]);
    assert_ok(&out);
    let qwen = &stand.objects()[QWEN];
    assert_eq!(
        qwen["spec"]["scaleTargetRef"]["name"],
        "qwen2-5-14b-instruct-premium"
    );
    assert!(qwen["spec"].get("modelProfile").is_none());
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("customresourcedefinition/variantautoscalings.llmd.ai unchanged"),
        "{stdout}"
    );

    // Asked for: replaced.
    assert_ok(&stand.push(&["--include-crd", "--schema", "v0.4", "--replace-crd"]));
    let crd = &stand.objects()[CRD_PATH];
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert!(spec["properties"].get("modelProfile").is_some());
    // --replace-crd means nothing without the CRD.
    let out = stand.run(&[
        "apply",
        "scenarios/quickstart.yaml",
        "--push",
        "--replace-crd",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
}

// Row 3: the kinds a push needs are checked (discovery) before anything is written.
#[test]
fn a_missing_keda_crd_is_named_before_anything_is_written() {
    let stand = Stand::new(|c| c.no_keda = true);
    let out = stand.push(&["--autoscaler", "keda"]);
    assert_exit_4(
        &out,
        "keda.sh/v1alpha1/ScaledObject objects failed: the cluster does not serve them: CRD scaledobjects.keda.sh is not installed (is KEDA installed?)",
    );
    assert_exit_4(&out, "nothing applied");
    assert_eq!(
        stand.patch_count(),
        0,
        "no variant written before the check"
    );
    // With KEDA: applied.
    let stand = Stand::new(|_| {});
    assert_ok(&stand.push(&["--autoscaler", "keda"]));
    assert!(
        stand
            .objects()
            .keys()
            .any(|k| k.starts_with("/apis/keda.sh/v1alpha1/namespaces/llm/scaledobjects/"))
    );
    // No VariantAutoscaling CRD and none to install: named too.
    let stand = Stand::new(|c| c.missing_crd = true);
    let out = stand.push(&[]);
    assert_exit_4(
        &out,
        "CRD variantautoscalings.llmd.ai is not installed (install the WVA controller, or --include-crd)",
    );
    assert_eq!(stand.patch_count(), 0);
}

// Row 4: server-side apply needs only `patch`; the read is for reporting.
#[test]
fn a_role_that_may_patch_but_not_get_still_applies() {
    let stand = Stand::new(|c| c.forbid_get = Some("/configmaps/".into()));
    let out = stand.push(&[]);
    assert_ok(&out);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("configmap/accelerator-unit-costs (namespace workload-variant-autoscaler-system) serverside-applied"),
        "{stdout}"
    );
    assert!(
        stdout.contains("variantautoscaling/qwen2-5-14b-instruct-premium (namespace llm) created"),
        "{stdout}"
    );
    assert!(stand.objects().contains_key(
        "/api/v1/namespaces/workload-variant-autoscaler-system/configmaps/accelerator-unit-costs"
    ));
    let out = stand.push(&["--diff"]);
    assert_ok(&out);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("(no diff: the role may patch this object but not read it)"),
        "{stdout}"
    );
}

// Row 5: v0.4 objects against a v0.5 CRD, whether or not the CRD can be read first.
#[test]
fn objects_of_the_other_schema_say_which_schema_to_use() {
    let (v05_crd, _) = crd_and_variants("v0.5");
    let stand = Stand::new(|c| c.install_crd(v05_crd.clone()));
    let out = stand.push(&["--schema", "v0.4"]);
    assert_exit_4(
        &out,
        "the cluster's VariantAutoscaling CRD is the v0.5 schema and these are v0.4 objects: use --schema v0.5",
    );
    assert_exit_4(&out, "nothing applied");
    assert_eq!(stand.patch_count(), 0);
    // A role that cannot read CRDs: the server's 500 is explained.
    let stand = Stand::new(|c| {
        c.install_crd(v05_crd.clone());
        c.forbid_get = Some("customresourcedefinitions".into());
    });
    let out = stand.push(&["--schema", "v0.4"]);
    assert_exit_4(
        &out,
        "variantautoscaling/qwen2-5-14b-instruct-premium (namespace llm) failed: refused (500): the cluster's VariantAutoscaling CRD is the v0.5 schema and these are v0.4 objects: use --schema v0.5: failed to create typed patch object",
    );
    assert_exit_4(&out, ".spec.modelProfile: field not declared in schema");
}

// Row 6: a server that does not answer in time.
#[test]
fn a_slow_api_server_is_given_up_after_timeout_s() {
    let stand = Stand::new(|c| c.delay = Duration::from_millis(2500));
    let started = std::time::Instant::now();
    let out = stand.push(&["--timeout-s", "0.5"]);
    assert_exit_4(
        &out,
        "the API server did not answer within 0.5 s (--timeout-s): it may be up but unable to reach its storage (etcd)",
    );
    assert_exit_4(&out, "nothing applied");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "gave up in time"
    );
    let out = stand.run(&["plan", "--from-cluster", "--timeout-s", "0.5"]);
    assert_exit_4(&out, "did not answer within 0.5 s");
    for bad in ["0", "-1", "nan"] {
        let out = stand.push(&["--timeout-s", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out).1);
    }
}

/// `wva apply` of the quickstart as v0.4 objects in the namespace `llm`.
fn quickstart_v04_in_llm() -> Output {
    wva()
        .args([
            "apply",
            "scenarios/quickstart.yaml",
            "-n",
            "llm",
            "--schema",
            "v0.4",
        ])
        .output()
        .unwrap()
}

/// A `kubectl get -A -o yaml`-like set of files: the quickstart's v0.4 variants and
/// ConfigMaps in `llm`, and its v0.5 variants in `next`.
fn mixed_dump(dir: &Path) -> (PathBuf, PathBuf) {
    let v04 = dir.join("v04.yaml");
    let out = quickstart_v04_in_llm();
    std::fs::write(&v04, &out.stdout).unwrap();
    let v05 = dir.join("v05.yaml");
    let docs: Vec<String> = emitted(&[
        "scenarios/quickstart.yaml",
        "--schema",
        "v0.5",
        "-n",
        "next",
    ])
    .into_iter()
    .filter(|d| d["kind"] == "VariantAutoscaling")
    .map(|d| serde_yaml::to_string(&d).unwrap())
    .collect();
    std::fs::write(&v05, docs.join("---\n")).unwrap();
    (v04, v05)
}

fn plan_json(o: &Output) -> Value {
    let (_, stderr) = text(o);
    assert!(o.status.success(), "{stderr}");
    serde_json::from_slice(&o.stdout).unwrap()
}

fn workloads(plan: &Value) -> Vec<(String, String)> {
    plan["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["workload"].as_str().unwrap().to_string(),
                a["service_class"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// Row 7: a dump with both schemas.
#[test]
fn a_dump_with_both_schemas_plans_the_v04_variants_and_names_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (v04, v05) = mixed_dump(dir.path());
    let load = [
        "--rate-rps",
        "5",
        "--in-tokens",
        "500",
        "--out-tokens",
        "200",
    ];
    let out = wva()
        .args(["plan", "--from-cluster"])
        .args([&v04, &v05])
        .args(load)
        .args(["-o", "json"])
        .output()
        .unwrap();
    let plan = plan_json(&out);
    let (_, stderr) = text(&out);
    assert_eq!(plan["allocations"].as_array().unwrap().len(), 4, "{plan}");
    assert!(
        stderr.contains("VariantAutoscaling llama-3-1-8b-instruct-standard is the v0.5 schema (no performance parameters); left out (give --profiles FILE with a profile of `meta-llama/Llama-3.1-8B-Instruct` on `H100` to plan it)"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("left out").count(), 4, "{stderr}");

    // With profiles for Llama-3.1-8B-Instruct: those two v0.5 variants are planned too, with
    // the service class wva annotated them with; the names repeat across namespaces.
    let out = wva()
        .args(["plan", "--from-cluster"])
        .args([&v04, &v05])
        .args(load)
        .args([
            "--profiles",
            "profiles/llama-3.1-8b-instruct.yaml",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let plan = plan_json(&out);
    let names = workloads(&plan);
    for expected in [
        ("qwen2-5-14b-instruct-premium", "premium"),
        ("llm/llama-3-1-8b-instruct-standard", "standard"),
        ("next/llama-3-1-8b-instruct-standard", "standard"),
        ("next/llama-3-1-8b-instruct-premium", "premium"),
    ] {
        assert!(
            names.contains(&(expected.0.into(), expected.1.into())),
            "{expected:?} in {names:?}"
        );
    }
    assert_eq!(names.len(), 6);
    assert_eq!(text(&out).1.matches("left out").count(), 2);

    // Only v0.5 objects and no profiles: the error says what to give.
    let only = dir.path().join("only-v05");
    std::fs::create_dir(&only).unwrap();
    std::fs::copy(&v05, only.join("v05.yaml")).unwrap();
    let configmaps: Vec<String> = emitted(&["scenarios/quickstart.yaml"])
        .into_iter()
        .filter(|d| d["kind"] == "ConfigMap")
        .map(|d| serde_yaml::to_string(&d).unwrap())
        .collect();
    std::fs::write(only.join("configmaps.yaml"), configmaps.join("---\n")).unwrap();
    let out = wva()
        .args(["plan", "--from-cluster"])
        .arg(&only)
        .args(load)
        .output()
        .unwrap();
    assert_exit(&out, 2, "none of the 4 VariantAutoscaling objects");
    // The same object twice is refused, naming both places.
    let out = wva()
        .args(["plan", "--from-cluster"])
        .args([&v04, &v04])
        .args(load)
        .output()
        .unwrap();
    assert_exit(&out, 2, "give each object once");
}

/// A plan's allocations, by workload (a live list and a dump may order them differently).
fn by_workload(plan: &Value) -> std::collections::BTreeMap<String, Value> {
    plan["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["workload"].as_str().unwrap().to_string(), a.clone()))
        .collect()
}

// Row 8: the live cluster, through the push client, plans as its dump does.
#[test]
fn plan_from_the_live_cluster_equals_the_plan_from_its_dump() {
    let stand = Stand::new(|_| {});
    assert_ok(&stand.push(&["--schema", "v0.4"]));
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump.yaml");
    let out = quickstart_v04_in_llm();
    std::fs::write(&dump, &out.stdout).unwrap();
    let load = [
        "--rate-rps",
        "5",
        "--in-tokens",
        "500",
        "--out-tokens",
        "200",
    ];
    let from_dump = plan_json(
        &wva()
            .args(["plan", "--from-cluster"])
            .arg(&dump)
            .args(load)
            .args(["-o", "json"])
            .output()
            .unwrap(),
    );
    let live = |extra: &[&str]| {
        stand.run(
            &[
                &["plan", "--from-cluster"][..],
                &load[..],
                &["-o", "json"][..],
                extra,
            ]
            .concat(),
        )
    };
    for extra in [
        &[][..],
        &["--all-namespaces"][..],
        &["--namespace", "llm"][..],
        &["-n", "llm"][..],
        &["-A"][..],
    ] {
        let from_live = plan_json(&live(extra));
        assert_eq!(
            by_workload(&from_live),
            by_workload(&from_dump),
            "{extra:?}"
        );
        assert_eq!(from_live["total_cost"], from_dump["total_cost"]);
    }
    {
        let c = stand.cluster.lock().unwrap();
        assert!(
            c.requests.iter().any(
                |r| r.method == "GET" && r.path == "/apis/llmd.ai/v1alpha1/variantautoscalings"
            )
        );
        assert!(c.requests.iter().any(|r| r.method == "GET"
            && r.path == "/apis/llmd.ai/v1alpha1/namespaces/llm/variantautoscalings"));
    }
    // A namespace without variants, and file-only flags with files.
    let out = live(&["--namespace", "empty"]);
    assert_exit(&out, 2, "no VariantAutoscaling objects in cluster http://");
    let out = wva()
        .args(["plan", "--from-cluster"])
        .arg(&dump)
        .args(["--all-namespaces"])
        .output()
        .unwrap();
    assert_exit(&out, 2, "--all-namespaces reads the live cluster");
    // An unreachable cluster: exit 4.
    let dead = kubeconfig(dir.path(), "http://127.0.0.1:9");
    let out = wva()
        .env("KUBECONFIG", dead)
        .args(["plan", "--from-cluster"])
        .output()
        .unwrap();
    assert_exit(&out, 4, "cannot reach the cluster");
}
