//! `wva schema`: the schemas accept every file wva ships and every plan it writes, reject what
//! the readers reject, and the copies in docs/schemas are current.

mod common;

use common::{root, wva};
use serde_json::Value;

fn schema(kind: &str) -> Value {
    let out = wva().args(["schema", kind]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "wva schema {kind}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn yaml_file(path: &std::path::Path) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator.iter_errors(doc).map(|e| e.to_string()).collect()
}

#[test]
fn shipped_files_are_valid() {
    let files = [
        ("scenario", "scenarios/azure-chat-and-code.yaml"),
        ("scenario", "scenarios/gpu-shortage.yaml"),
        ("scenario", "scenarios/mixed-gpus.yaml"),
        ("scenario", "scenarios/mooncake-long-context.yaml"),
        ("scenario", "scenarios/percentile-slos.yaml"),
        ("scenario", "scenarios/quickstart.yaml"),
        ("profile", "profiles/llama-3.1-8b-instruct.yaml"),
        ("profile", "profiles/qwen2.5-14b-instruct.yaml"),
        ("profile", "profiles/wva-v04-chart.yaml"),
        ("catalog", "profiles/accelerators.yaml"),
        ("service-classes", "profiles/service-classes.yaml"),
    ];
    // Every shipped YAML file is listed above.
    for dir in ["scenarios", "profiles"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let file_name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let name = format!("{dir}/{file_name}");
            // Dot files are other tests' scratch files.
            assert!(
                !name.ends_with(".yaml")
                    || file_name.starts_with('.')
                    || files.iter().any(|(_, f)| *f == name),
                "{name} is not checked against a schema"
            );
        }
    }
    for (kind, file) in files {
        let validator = jsonschema::validator_for(&schema(kind)).unwrap();
        let doc = yaml_file(&root().join(file));
        let errs = errors(&validator, &doc);
        assert!(
            errs.is_empty(),
            "{file} against `wva schema {kind}`: {errs:?}"
        );
    }
}

#[test]
fn written_plans_are_valid() {
    let validator = jsonschema::validator_for(&schema("plan")).unwrap();
    for scenario in [
        "scenarios/quickstart.yaml",
        "scenarios/gpu-shortage.yaml",
        "scenarios/percentile-slos.yaml",
        "scenarios/mixed-gpus.yaml",
    ] {
        let out = wva()
            .args(["plan", scenario, "-o", "json"])
            .output()
            .unwrap();
        let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
        let errs = errors(&validator, &plan);
        assert!(errs.is_empty(), "plan of {scenario}: {errs:?}");
    }
}

/// A change to a scenario document.
type Edit = fn(&mut Value);

/// Edits of the quick-start scenario that `wva plan` refuses with exit code 2: the schema
/// refuses each of them too, and accepts the scenario as it is.
#[test]
fn schema_rejects_what_the_reader_rejects() {
    let validator = jsonschema::validator_for(&schema("scenario")).unwrap();
    let base = yaml_file(&root().join("scenarios/quickstart.yaml"));
    assert!(errors(&validator, &base).is_empty());
    let edits: [(&str, Edit); 6] = [
        ("an unknown field", |s| s["colour"] = "blue".into()),
        ("a negative rate", |s| {
            s["workloads"][0]["rate_rps"] = (-1.0).into()
        }),
        ("an unknown distribution", |s| {
            s["workloads"][0]["prompt_tokens"] = serde_json::json!({"dist": "zipf", "mean": 10})
        }),
        ("no output tokens", |s| {
            s["workloads"][0]
                .as_object_mut()
                .unwrap()
                .remove("output_tokens");
        }),
        ("a gamma process without cv", |s| {
            s["workloads"][0]["arrivals"] = serde_json::json!({"process": "gamma"})
        }),
        ("zero tokens", |s| {
            s["workloads"][0]["output_tokens"] = 0.into()
        }),
    ];
    for (what, edit) in edits {
        let mut doc = base.clone();
        edit(&mut doc);
        assert!(
            !errors(&validator, &doc).is_empty(),
            "the schema accepts {what}"
        );
        // The reader refuses it too (paths in the scenario are relative to its folder).
        let path = root().join("scenarios").join(format!(
            ".schema-test-{}-{}.yaml",
            std::process::id(),
            what.replace(' ', "-")
        ));
        std::fs::write(&path, serde_yaml::to_string(&doc).unwrap()).unwrap();
        let out = wva().arg("plan").arg(&path).output().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(out.status.code(), Some(2), "wva plan accepts {what}");
    }
}

/// docs/schemas holds the schemas for editors to point at; they must be what `wva schema`
/// prints (`WVA_BLESS=1` rewrites them).
#[test]
fn published_schemas_are_current() {
    let bless = std::env::var_os("WVA_BLESS").is_some();
    for kind in ["scenario", "profile", "catalog", "service-classes", "plan"] {
        let out = wva().args(["schema", kind]).output().unwrap();
        let path = root().join(format!("docs/schemas/{kind}.schema.json"));
        if bless {
            std::fs::write(&path, &out.stdout).unwrap();
            continue;
        }
        let published = std::fs::read(&path).unwrap_or_default();
        assert!(
            published == out.stdout,
            "{} differs from `wva schema {kind}`; rerun with WVA_BLESS=1",
            path.display()
        );
    }
}

#[test]
fn unknown_kind_is_a_usage_error() {
    let out = wva().args(["schema", "workload"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values"));
}
