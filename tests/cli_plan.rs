//! `wva plan` from the command line.

use assert_cmd::Command;
use serde_json::Value;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn wva() -> Command {
    Command::cargo_bin("wva").unwrap()
}

fn plan_json(scenario: &str) -> (Option<i32>, Value) {
    let out = wva()
        .current_dir(root())
        .args(["plan", scenario, "-o", "json"])
        .output()
        .unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
    )
}

#[test]
fn quickstart_plans_every_workload() {
    let (code, v) = plan_json("scenarios/quickstart.yaml");
    assert_eq!(code, Some(0));
    let allocations = v["allocations"].as_array().unwrap();
    assert!(!allocations.is_empty());
    let mut total = 0.0;
    for a in allocations {
        for key in [
            "service_class",
            "model",
            "accelerator",
            "replicas",
            "max_batch",
            "gpus_per_replica",
            "cost",
            "ttft_ms",
            "itl_ms",
            "rate_rps",
            "max_rate_per_replica_rps",
        ] {
            assert!(!a[key].is_null(), "{key} missing in {a}");
        }
        assert!(a["ttft_ms"].as_f64().unwrap() <= a["slo_ttft_ms"].as_f64().unwrap());
        assert!(a["itl_ms"].as_f64().unwrap() <= a["slo_itl_ms"].as_f64().unwrap());
        let replicas = a["replicas"].as_f64().unwrap();
        let needed =
            a["rate_rps"].as_f64().unwrap() / a["max_rate_per_replica_rps"].as_f64().unwrap();
        assert!(
            replicas >= needed.ceil() - 1e-9
                && (replicas == 0.0 || replicas - 1.0 < needed || replicas <= 2.0)
        );
        total += a["cost"].as_f64().unwrap();
    }
    assert!((v["total_cost"].as_f64().unwrap() - total).abs() < 1e-9);
    assert_eq!(v["unallocated"].as_array().unwrap().len(), 0);
}

#[test]
fn every_output_format_parses() {
    for format in ["table", "json", "yaml", "csv"] {
        let out = wva()
            .current_dir(root())
            .args(["plan", "scenarios/quickstart.yaml", "-o", format])
            .output()
            .unwrap();
        assert!(out.status.success(), "{format}");
        let text = String::from_utf8(out.stdout).unwrap();
        match format {
            "json" => {
                serde_json::from_str::<Value>(&text).unwrap();
            }
            "yaml" => {
                let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
                assert!(v.get("allocations").is_some());
            }
            "csv" => {
                let mut reader = csv::Reader::from_reader(text.as_bytes());
                assert!(reader.headers().unwrap().iter().any(|h| h == "accelerator"));
                assert!(reader.records().count() >= 1);
            }
            _ => assert!(text.contains("Total:")),
        }
    }
}

#[test]
fn same_input_same_bytes() {
    let run = || {
        wva()
            .current_dir(root())
            .args(["plan", "scenarios/quickstart.yaml", "-o", "json"])
            .output()
            .unwrap()
            .stdout
    };
    assert_eq!(run(), run());
}

#[test]
fn an_slo_nobody_can_meet_is_unallocated_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tight.yaml");
    std::fs::write(
        &path,
        format!(
            "accelerators: {root}/profiles/accelerators.yaml
profiles: [{root}/profiles/llama-3.1-8b-instruct.yaml]
service_classes:
  - {{name: impossible, priority: 1, targets: [{{model: '*', ttft_ms: 1, itl_ms: 1}}]}}
  - {{name: easy, priority: 2, targets: [{{model: '*', ttft_ms: 2000, itl_ms: 100}}]}}
workloads:
  - {{model: meta-llama/Llama-3.1-8B-Instruct, service_class: impossible, rate_rps: 5, prompt_tokens: 500, output_tokens: 100}}
  - {{model: meta-llama/Llama-3.1-8B-Instruct, service_class: easy, rate_rps: 5, prompt_tokens: 500, output_tokens: 100}}
",
            root = root().display()
        ),
    )
    .unwrap();
    let out = wva()
        .args(["plan", path.to_str().unwrap(), "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let un = v["unallocated"].as_array().unwrap();
    assert_eq!(un.len(), 1);
    assert_eq!(un[0]["reason"], "slo_infeasible");
    assert!(
        un[0]["detail"]
            .as_str()
            .unwrap()
            .contains("H100: TTFT target 1 ms"),
        "{}",
        un[0]["detail"]
    );
    assert_eq!(v["allocations"].as_array().unwrap().len(), 1);
    let table = wva()
        .args(["plan", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(table.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&table.stdout)
            .contains("Unallocated: impossible-meta-llama/Llama-3.1-8B-Instruct")
    );
}

#[test]
fn a_missing_scenario_is_an_input_error() {
    let out = wva().args(["plan", "no/such/file.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: no/such/file.yaml:"));
}

#[test]
fn help_explains_the_subcommands() {
    let out = wva().arg("--help").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("plan") && text.contains("analyze") && text.contains("Exit codes"));
    let out = wva().args(["plan", "--help"]).output().unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("SCENARIO"));
}
