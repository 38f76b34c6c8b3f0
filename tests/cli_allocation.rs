//! `wva plan` with an inventory: solvers, saturation policies, current allocations, imports.

mod common;

use assert_cmd::Command;
use serde_json::Value;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn plan(args: &[&str]) -> (Option<i32>, Value, String) {
    let out = Command::cargo_bin("wva")
        .unwrap()
        .current_dir(root())
        .arg("plan")
        .args(args)
        .args(["-o", "json"])
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn by_workload<'a>(plan: &'a Value, name: &str) -> Vec<&'a Value> {
    plan["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["workload"] == name)
        .collect()
}

fn within_inventory(plan: &Value) {
    for u in plan["by_accelerator"].as_array().unwrap() {
        if let Some(avail) = u["gpus_available"].as_u64() {
            assert!(u["gpus_used"].as_u64().unwrap() <= avail, "{u}");
        }
    }
}

#[test]
fn exact_is_the_default_with_an_inventory_and_serves_everyone_in_the_shortage() {
    let (code, v, _) = plan(&["scenarios/gpu-shortage.yaml"]);
    assert_eq!(code, Some(0));
    assert_eq!(v["solver"], "exact");
    assert_eq!(v["status"], "optimal");
    assert_eq!(v["unallocated"].as_array().unwrap().len(), 0);
    within_inventory(&v);
    assert_eq!(
        by_workload(&v, "api")[0]["accelerator"],
        "L40S",
        "exact moves api off the H100s"
    );
}

#[test]
fn greedy_leaves_the_batch_workload_out_and_exits_3() {
    let (code, v, err) = plan(&["scenarios/gpu-shortage.yaml", "--solver", "greedy"]);
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(v["status"], "heuristic");
    let un = v["unallocated"].as_array().unwrap();
    assert_eq!(un.len(), 1);
    assert_eq!(un[0]["workload"], "offline-summaries");
    assert_eq!(un[0]["reason"], "out_of_capacity");
    within_inventory(&v);
    let (_, exact, _) = plan(&["scenarios/gpu-shortage.yaml", "--solver", "exact"]);
    assert!(exact["unallocated"].as_array().unwrap().len() <= un.len());
}

#[test]
fn saturation_policies_hand_out_what_is_left() {
    for policy in ["priority-exhaustive", "round-robin", "priority-round-robin"] {
        let (code, v, _) = plan(&[
            "scenarios/gpu-shortage.yaml",
            "--solver",
            "greedy",
            "--saturation-policy",
            policy,
        ]);
        assert_eq!(
            code,
            Some(3),
            "{policy}: a partial allocation is not a full one"
        );
        within_inventory(&v);
        let rows = by_workload(&v, "offline-summaries");
        assert_eq!(rows.len(), 1, "{policy}");
        assert_eq!(rows[0]["partial"], true);
        assert_eq!(rows[0]["replicas"], 1, "{policy}: the one H100 left");
        assert!(
            v["notes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n.as_str().unwrap().contains("offline-summaries"))
        );
    }
    let out = Command::cargo_bin("wva")
        .unwrap()
        .current_dir(root())
        .args([
            "plan",
            "scenarios/gpu-shortage.yaml",
            "--saturation-policy",
            "lottery",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unlimited_ignores_the_inventory() {
    let (code, v, _) = plan(&["scenarios/gpu-shortage.yaml", "--solver", "unlimited"]);
    assert_eq!(code, Some(0));
    let used: u64 = v["by_accelerator"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["gpu_type"] == "H100")
        .map(|u| u["gpus_used"].as_u64().unwrap())
        .sum();
    assert!(
        used > 9,
        "the unlimited plan uses more H100s than the 9 available: {used}"
    );
}

#[test]
fn mixed_allocations_need_the_exact_solver() {
    let (code, v, _) = plan(&["scenarios/gpu-shortage.yaml", "--allow-mixed"]);
    assert_eq!(code, Some(0));
    within_inventory(&v);
    for w in ["assistant", "support-bot", "api", "offline-summaries"] {
        let rows = by_workload(&v, w);
        let capacity: f64 = rows
            .iter()
            .map(|r| {
                r["replicas"].as_f64().unwrap() * r["max_rate_per_replica_rps"].as_f64().unwrap()
            })
            .sum();
        let rate: f64 = rows.iter().map(|r| r["rate_rps"].as_f64().unwrap()).sum();
        assert!(capacity + 1e-9 >= rate, "{w}: {capacity} < {rate}");
    }
    let (code, _, err) = plan(&[
        "scenarios/gpu-shortage.yaml",
        "--allow-mixed",
        "--solver",
        "greedy",
    ]);
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn current_allocations_keep_accelerator_and_transition_cost() {
    let pick = |extra: &[&str]| {
        let mut args = vec!["tests/fixtures/current-allocation.yaml"];
        args.extend(extra);
        let (code, v, err) = plan(&args);
        assert_eq!(code, Some(0), "{err}");
        let a = &v["allocations"][0];
        (
            a["accelerator"].as_str().unwrap().to_string(),
            a["cost"].as_f64().unwrap(),
        )
    };
    assert_eq!(
        pick(&[]),
        ("L40S".to_string(), 90.0),
        "cost alone moves it to 2 x L40S"
    );
    assert_eq!(pick(&["--keep-accelerator"]).0, "H100");
    assert_eq!(
        pick(&["--objective", "transition"]).0,
        "H100",
        "a 10 cents/h saving does not pay the move"
    );
}

#[test]
fn the_batch_size_policies_differ_as_documented() {
    for policy in ["fixed", "upstream", "exact"] {
        let (code, v, _) = plan(&["scenarios/quickstart.yaml", "--batch-size", policy]);
        assert_eq!(code, Some(0));
        assert_eq!(v["batch_policy"], policy);
        for a in v["allocations"].as_array().unwrap() {
            let (m, limit) = (
                a["max_batch"].as_u64().unwrap(),
                a["max_batch_limit"].as_u64().unwrap(),
            );
            assert!(m <= limit);
            if policy == "fixed" {
                assert_eq!(m, limit);
            }
        }
    }
}

#[test]
fn cluster_dumps_are_read_with_the_load_from_status_flags_or_a_file() {
    let (code, v, err) = plan(&["--from-cluster", "tests/fixtures/cluster/dump.yaml"]);
    assert_eq!(code, Some(0), "{err}");
    let premium = by_workload(&v, "llama-8b-premium");
    assert_eq!(premium[0]["service_class"], "Premium");
    assert!(
        (premium[0]["rate_rps"].as_f64().unwrap() - 20.0).abs() < 1e-9,
        "1200 rpm from status"
    );
    let (code, v, err) = plan(&[
        "--from-cluster",
        "tests/fixtures/cluster",
        "--workloads",
        "tests/fixtures/cluster/workloads.yaml",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        (by_workload(&v, "llama-8b-premium")[0]["rate_rps"]
            .as_f64()
            .unwrap()
            - 40.0)
            .abs()
            < 1e-9
    );
    assert!(
        !err.contains("ignored"),
        "the workload file is not read as a cluster object: {err}"
    );
    let (code, v, err) = plan(&[
        "--from-cluster",
        "tests/fixtures/cluster/dump.yaml",
        "--rate-rpm",
        "60",
        "--in-tokens",
        "100",
        "--out-tokens",
        "50",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        (by_workload(&v, "llama-8b-freemium")[0]["rate_rps"]
            .as_f64()
            .unwrap()
            - 1.0)
            .abs()
            < 1e-9
    );
}

#[test]
fn upstream_reference_objects_are_read() {
    let Some(dir) = common::shared("reference/wva/wva-incubation-2025-10") else {
        return;
    };
    let f = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let (code, v, err) = plan(&[
        "--from-cluster",
        &f("configmap-accelerator-unitcost.yaml"),
        &f("configmap-serviceclass.yaml"),
        &f("sample-va-vllme-A100.yaml"),
        "--rate-rpm",
        "60",
        "--in-tokens",
        "128",
        "--out-tokens",
        "64",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let a = &v["allocations"][0];
    assert_eq!(a["workload"], "vllme-deployment");
    assert_eq!(a["accelerator"], "A100");
    assert_eq!(a["service_class"], "Premium");
    // Without a load, the error says how to give one.
    let out = Command::cargo_bin("wva")
        .unwrap()
        .args([
            "plan",
            "--from-cluster",
            &f("configmap-accelerator-unitcost.yaml"),
            &f("configmap-serviceclass.yaml"),
            &f("sample-va-vllme-A100.yaml"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no load for variant `vllme-deployment`")
    );
}

#[test]
fn inferno_json_output_has_upstreams_shape() {
    let out = Command::cargo_bin("wva")
        .unwrap()
        .current_dir(root())
        .args(["plan", "scenarios/quickstart.yaml", "-o", "inferno-json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = &v["allocations"]["chat-premium"];
    for key in [
        "accelerator",
        "numReplicas",
        "maxBatch",
        "cost",
        "itlAverage",
        "ttftAverage",
    ] {
        assert!(!a[key].is_null(), "{key}");
    }
    assert!(
        (a["load"]["arrivalRate"].as_f64().unwrap() - 1800.0).abs() < 1e-3,
        "requests per minute"
    );
}

#[cfg(not(feature = "cbc"))]
#[test]
fn the_cbc_backend_needs_its_feature() {
    let (code, _, err) = plan(&["scenarios/gpu-shortage.yaml", "--milp-backend", "cbc"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--features cbc"), "{err}");
}

#[cfg(feature = "cbc")]
#[test]
fn the_cbc_backend_agrees_with_microlp() {
    let (_, a, _) = plan(&["scenarios/gpu-shortage.yaml", "--milp-backend", "cbc"]);
    let (_, b, _) = plan(&["scenarios/gpu-shortage.yaml", "--milp-backend", "microlp"]);
    assert_eq!(a["status"], "optimal");
    assert!((a["total_cost"].as_f64().unwrap() - b["total_cost"].as_f64().unwrap()).abs() < 1e-6);
}
