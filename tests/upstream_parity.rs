//! Parity with upstream's own solutions: `wva plan --from-inferno DIR --solver greedy` must give
//! every server of `../shared/reference/wva/inferno-sample-data/small-*` the same accelerator,
//! replicas, max batch and cost as upstream's `solution-data.json` beside the inputs, and its
//! predicted ITL/TTFT within 1e-3. The exact solver must cost no more.

mod common;

use assert_cmd::Command;
use common::{read_json, shared};
use serde_json::Value;
use std::path::Path;

fn plan(dir: &Path, solver: &str) -> Value {
    let out = Command::cargo_bin("wva")
        .unwrap()
        .args([
            "plan",
            "--from-inferno",
            dir.to_str().unwrap(),
            "--solver",
            solver,
            "-o",
            "inferno-json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn total_cost(solution: &Value) -> f64 {
    solution["allocations"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| a["cost"].as_f64().unwrap())
        .sum()
}

fn check(sample: &str) {
    let Some(dir) = shared(&format!("reference/wva/inferno-sample-data/{sample}")) else {
        return;
    };
    let expected = read_json(&dir.join("solution-data.json"));
    let ours = plan(&dir, "greedy");
    let (e, o) = (
        expected["allocations"].as_object().unwrap(),
        ours["allocations"].as_object().unwrap(),
    );
    assert_eq!(
        e.keys().collect::<Vec<_>>(),
        o.keys().collect::<Vec<_>>(),
        "the same servers are allocated"
    );
    let mut failures = Vec::new();
    for (server, want) in e {
        let got = &o[server];
        for field in ["accelerator", "numReplicas", "maxBatch"] {
            if got[field] != want[field] {
                failures.push(format!(
                    "{server}.{field}: {} vs upstream {}",
                    got[field], want[field]
                ));
            }
        }
        let (gc, wc) = (
            got["cost"].as_f64().unwrap(),
            want["cost"].as_f64().unwrap(),
        );
        if (gc - wc).abs() > 1e-6 * wc.max(1.0) {
            failures.push(format!("{server}.cost: {gc} vs upstream {wc}"));
        }
        for field in ["itlAverage", "ttftAverage"] {
            let (g, w) = (got[field].as_f64().unwrap(), want[field].as_f64().unwrap());
            if ((g - w) / w).abs() > 1e-3 {
                failures.push(format!("{server}.{field}: {g} vs upstream {w}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{sample}: differs from upstream:\n{}",
        failures.join("\n")
    );
    let exact = plan(&dir, "exact");
    assert!(
        total_cost(&exact) <= total_cost(&ours) + 1e-6,
        "exact {} > greedy {}",
        total_cost(&exact),
        total_cost(&ours)
    );
}

#[test]
fn greedy_reproduces_upstream_2026_sample() {
    check("small-2026-03");
}

#[test]
fn greedy_reproduces_upstream_2025_legacy_sample() {
    check("small-2025-09-legacy-decode-prefill");
}

fn plan_json(dir: &Path, solver: &str) -> Value {
    let out = Command::cargo_bin("wva")
        .unwrap()
        .args([
            "plan",
            "--from-inferno",
            dir.to_str().unwrap(),
            "--solver",
            solver,
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Workloads not fully served (unallocated, or partial).
fn not_served(plan: &Value) -> usize {
    plan["unallocated"].as_array().unwrap().len()
        + plan["allocations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["partial"] == true)
            .count()
}

#[test]
fn on_the_large_samples_exact_serves_at_least_as_much_as_greedy_for_no_more() {
    for sample in ["large-2026-03", "large-2025-09-legacy-decode-prefill"] {
        let Some(dir) = shared(&format!("reference/wva/inferno-sample-data/{sample}")) else {
            return;
        };
        let greedy = plan_json(&dir, "greedy");
        let exact = plan_json(&dir, "exact");
        assert!(
            not_served(&exact) <= not_served(&greedy),
            "{sample}: exact leaves more unserved"
        );
        assert_eq!(exact["status"], "optimal", "{sample}");
        if not_served(&exact) == 0 && not_served(&greedy) == 0 {
            let (e, g) = (
                exact["total_cost"].as_f64().unwrap(),
                greedy["total_cost"].as_f64().unwrap(),
            );
            assert!(e <= g + 1e-6, "{sample}: exact {e} > greedy {g}");
        }
    }
}
