//! `wva estimate` end to end on small fixtures (`tests/fixtures/estimate/`, made from known
//! parameters: alpha 10 ms, beta 0.05 ms/token, gamma 0.0002 ms/KV token; see the README
//! there): recovery of the parameters, profile output, hold-out, robust fitting,
//! identifiability warnings and `--strict`, and bad input.

mod common;

use common::{root, wva};
use serde_json::Value;

const GENERIC_COLUMNS: &str = "batch=bs,time_ms=itl,context_tokens=ctx,prefill_tokens=prefill";

fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures/estimate")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

fn report(args: &[&str]) -> (Value, String) {
    let out = wva()
        .arg("estimate")
        .args(args)
        .args(["--report", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

fn param(r: &Value, name: &str) -> f64 {
    r["fit"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()["value"]
        .as_f64()
        .unwrap()
}

fn assert_recovers(r: &Value, rel: f64) {
    for (name, truth) in [("alpha", 10.0), ("beta", 0.05), ("gamma", 0.0002)] {
        let got = param(r, name);
        assert!(
            ((got - truth) / truth).abs() <= rel,
            "{name}: fitted {got}, true {truth}"
        );
    }
}

#[test]
fn generic_csv_recovers_known_parameters() {
    let (r, stderr) = report(&[&fixture("generic.csv"), "--columns", GENERIC_COLUMNS]);
    assert_recovers(&r, 1e-6);
    assert!(r["fit"]["r_squared"].as_f64().unwrap() > 0.999_999);
    assert!(r["fit"]["warnings"].as_array().unwrap().is_empty());
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(r["fit"]["observations"], 27);
}

#[test]
fn guidellm_report_recovers_known_parameters_and_says_there_is_no_uncertainty() {
    let (r, stderr) = report(&[&fixture("guidellm.json")]);
    assert_recovers(&r, 1e-4);
    assert!(
        stderr.contains("no residual left to estimate its uncertainty"),
        "{stderr}"
    );
}

#[test]
fn vllm_results_of_one_request_shape_cannot_separate_beta_and_gamma() {
    let files = [
        fixture("vllm-bench-1rps.json"),
        fixture("vllm-bench-2rps.json"),
        fixture("vllm-bench-4rps.json"),
    ];
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let (r, stderr) = report(&args);
    assert!(stderr.contains("near-singular design"), "{stderr}");
    // Identifiable or not, the fit reproduces the measurements.
    assert!(r["in_sample"]["mape"].as_f64().unwrap() < 1e-6);
    let mut strict = args.clone();
    strict.push("--strict");
    wva()
        .arg("estimate")
        .args(&strict)
        .assert()
        .code(3)
        .stderr(predicates::str::contains("not identifiable"));
}

#[test]
fn single_operating_point_warns_and_strict_fails() {
    let one = fixture("single-point.csv");
    wva()
        .args(["estimate", &one])
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "not identifiable: 1 distinct operating point(s) (batch sizes, shapes or request rates) for 3 parameters",
        ));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.yaml");
    wva()
        .args(["estimate", &one, "--strict", "--out"])
        .arg(&out)
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicates::str::contains("no profile written"));
    assert!(!out.exists());
}

#[test]
fn profile_is_written_atomically_and_analyze_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fitted.yaml");
    wva()
        .args([
            "estimate",
            &fixture("generic.csv"),
            "--columns",
            GENERIC_COLUMNS,
        ])
        .args([
            "--model",
            "example/model",
            "--accelerator",
            "L4",
            "--max-batch",
            "64",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success()
        .stdout("");
    let text = std::fs::read_to_string(&out).unwrap();
    for needle in [
        "model: example/model",
        "accelerator: L4",
        "max_batch: 64",
        "model: wva-v2",
        "provenance: estimated",
        "generic.csv",
        "R² 1.0000",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    let analysis = wva()
        .args(["analyze", "--profile"])
        .arg(&out)
        .args([
            "--in-tokens",
            "1000",
            "--out-tokens",
            "200",
            "--rate-rps",
            "1",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(analysis.status.success(), "{analysis:?}");
    // Without --out the profile goes to stdout.
    let stdout = wva()
        .args([
            "estimate",
            &fixture("generic.csv"),
            "--columns",
            GENERIC_COLUMNS,
        ])
        .output()
        .unwrap()
        .stdout;
    assert!(String::from_utf8_lossy(&stdout).contains("provenance: estimated"));
}

#[test]
fn holdout_reports_errors_on_unseen_observations_and_is_seeded() {
    let args = [
        fixture("generic.csv"),
        "--columns".into(),
        GENERIC_COLUMNS.into(),
        "--holdout".into(),
        "0.3".into(),
        "--seed".into(),
        "5".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (r, _) = report(&args);
    assert_eq!(r["fit"]["observations"], 19);
    assert_eq!(r["holdout"]["observations"], 8);
    assert!(r["holdout"]["mape"].as_f64().unwrap() < 1e-6);
    let (again, _) = report(&args);
    assert_eq!(r, again);
}

#[test]
fn robust_fit_resists_an_outlier() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outlier.csv");
    let mut text = std::fs::read_to_string(fixture("generic.csv")).unwrap();
    // One iteration measured 5x slower (a GC pause, a noisy neighbour).
    text.push_str("16,55.0,1024,0\n");
    std::fs::write(&path, text).unwrap();
    let p = path.to_str().unwrap();
    let (plain, _) = report(&[p, "--columns", GENERIC_COLUMNS]);
    let (robust, _) = report(&[p, "--columns", GENERIC_COLUMNS, "--robust"]);
    let err = |r: &Value| ((param(r, "alpha") - 10.0) / 10.0).abs();
    assert!(err(&plain) > 0.005, "the outlier moves the plain fit");
    assert!(
        err(&robust) < 1e-4,
        "robust alpha error {} vs plain {}",
        err(&robust),
        err(&plain)
    );
    assert_eq!(plain["fit"]["worst"][0]["origin"], format!("{p}:29"));
}

#[test]
fn validate_files_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("fit.svg");
    let guide = fixture("guidellm.json");
    let (r, _) = report(&[
        &fixture("generic.csv"),
        "--columns",
        GENERIC_COLUMNS,
        "--validate",
        &guide,
        "--plot",
        plot.to_str().unwrap(),
    ]);
    let v = &r["validation"]["by_file"][0];
    assert_eq!(v["file"], guide.as_str());
    assert!(v["relative_error"].as_f64().unwrap().abs() < 1e-4, "{v}");
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("<svg") && svg.contains("residuals"));
}

#[test]
fn v1_fit_separates_decode_and_prefill() {
    let (r, _) = report(&[
        &fixture("generic.csv"),
        "--columns",
        GENERIC_COLUMNS,
        "--perf-model",
        "wva-v1",
    ]);
    let names: Vec<&str> = r["fit"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta", "gamma", "delta"]);
    assert_eq!(r["fit"]["model"], "wva-v1");
}

#[test]
fn bad_input_is_one_clear_line_with_exit_2_and_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.yaml");
    for (file, extra, expect) in [
        ("empty.csv", vec![], "empty.csv: empty file"),
        (
            "missing-column.csv",
            vec![],
            "missing-column.csv: missing column `time_ms`; the header has: batch, latency",
        ),
        (
            "non-numeric.csv",
            vec![],
            "non-numeric.csv:3:2: time_ms: `abc` is not a number",
        ),
        (
            "negative-times.csv",
            vec![],
            "negative-times.csv:3: negative times",
        ),
        ("nope.csv", vec![], "nope.csv: No such file"),
        (
            "generic.csv",
            vec!["--columns", "batch=bs,speed=itl"],
            "unknown quantity `speed`",
        ),
        ("generic.csv", vec!["--holdout", "1.5"], "between 0 and 1"),
    ] {
        let o = wva()
            .arg("estimate")
            .arg(fixture(file))
            .args(&extra)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{file} {extra:?}: {stderr}");
        assert!(stderr.contains(expect), "{file}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!out.exists(), "{file}: no profile on bad input");
        if !extra.iter().any(|a| a.starts_with("--")) {
            let lines = stderr.lines().filter(|l| !l.trim().is_empty()).count();
            assert_eq!(lines, 1, "{file}: one line: {stderr}");
        }
    }
}

#[test]
fn multi_configuration_files_ask_which_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("perf_model.csv");
    std::fs::write(
        &path,
        "model,hardware,prompt_size,batch_size,token_size,prompt_time,token_time,tensor_parallel\n\
         m1,a100,512,1,128,60,30,2\n\
         m2,a100,512,1,128,50,20,2\n",
    )
    .unwrap();
    wva()
        .arg("estimate")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "several models in the data; choose one with --model: m1, m2",
        ));
    wva()
        .arg("estimate")
        .arg(&path)
        .args(["--model", "m3"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no model matches --model m3"));
}

#[test]
fn tensor_parallel_degrees_match_only_the_same_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("perf_model.csv");
    std::fs::write(
        &path,
        "model,hardware,prompt_size,batch_size,token_size,prompt_time,token_time,tensor_parallel\n\
         m,h,512,1,128,60,30,2\n\
         m,h,512,1,128,50,20,16\n",
    )
    .unwrap();
    wva()
        .arg("estimate")
        .arg(&path)
        .args(["--tp", "1"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "no tensor-parallel degree matches --tp 1; there are: 16, 2",
        ));
}

#[test]
fn lmbench_line_numbers_count_failed_requests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.csv");
    std::fs::write(
        &path,
        "prompt_tokens,generation_tokens,ttft,generation_time,launch_time,finish_time\n\
         100,0,0.1,0.1,1000.0,1000.1\n\
         100,20,0.1,1.0,1001.0,1002.0\n\
         100,20,0.1,-1.0,1002.0,1003.0\n",
    )
    .unwrap();
    wva()
        .arg("estimate")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("run.csv:4: negative times"));
}

#[test]
fn every_input_checked_including_validation_files() {
    let dir = tempfile::tempdir().unwrap();
    let zero = dir.path().join("zero.csv");
    std::fs::write(&zero, "bs,itl,ctx,prefill\n1,0,100,0\n").unwrap();
    let (generic, columns) = (fixture("generic.csv"), GENERIC_COLUMNS);
    wva()
        .args(["estimate", &generic, "--columns", columns, "--validate"])
        .arg(&zero)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "zero.csv:2: the measured time must be a positive",
        ));
    let one = dir.path().join("one.csv");
    std::fs::write(&one, "batch,time_ms\n1,5\n").unwrap();
    wva()
        .arg("estimate")
        .arg(&one)
        .args(["--holdout", "0.5"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "--holdout needs at least 2 observations",
        ));
    wva()
        .args([
            "estimate",
            &generic,
            "--columns",
            columns,
            "--max-batch",
            "100000",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("at most 65536"));
}

#[test]
fn detailed_vllm_results_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("vllm-bench-1rps.json")).unwrap())
            .unwrap();
    // `--save-detailed` puts long per-request lists before the summary.
    let mut detailed = serde_json::Map::new();
    detailed.insert("input_lens".into(), serde_json::json!(vec![1000; 3000]));
    for (k, v) in base.as_object().unwrap() {
        detailed.insert(k.clone(), v.clone());
    }
    let path = dir.path().join("detailed.json");
    std::fs::write(&path, serde_json::to_string(&detailed).unwrap()).unwrap();
    let out = wva().arg("estimate").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("not identifiable"), "one point: {stderr}");
}

#[test]
fn every_readers_profile_loads_in_analyze() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        (
            "generic",
            vec![
                fixture("generic.csv"),
                "--columns".into(),
                GENERIC_COLUMNS.into(),
            ],
        ),
        ("guidellm", vec![fixture("guidellm.json")]),
        (
            "vllm",
            vec![
                fixture("vllm-bench-1rps.json"),
                fixture("vllm-bench-2rps.json"),
                fixture("vllm-bench-4rps.json"),
            ],
        ),
    ] {
        let out = dir.path().join(format!("{name}.yaml"));
        wva()
            .arg("estimate")
            .args(&args)
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        let text = std::fs::read_to_string(&out).unwrap();
        if name != "generic" {
            assert!(
                text.contains("max_batch: 256"),
                "load tests get vLLM's default: {text}"
            );
        }
        wva()
            .args(["analyze", "--profile"])
            .arg(&out)
            .args([
                "--in-tokens",
                "500",
                "--out-tokens",
                "100",
                "--rate-rps",
                "0.5",
            ])
            .assert()
            .success();
    }
}

#[test]
fn a_symlinked_output_keeps_its_link() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real.yaml");
    std::fs::write(&target, "old").unwrap();
    let link = dir.path().join("link.yaml");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    wva()
        .args([
            "estimate",
            &fixture("generic.csv"),
            "--columns",
            GENERIC_COLUMNS,
            "--out",
        ])
        .arg(&link)
        .assert()
        .success();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(&target)
            .unwrap()
            .contains("provenance: estimated")
    );
}
