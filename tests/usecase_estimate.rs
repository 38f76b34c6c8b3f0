//! `wva estimate` as library calls, in process: the binary's reports, the fit's warnings in
//! the report, and errors as values.

mod common;

use common::{golden_stdout, request_message, root};
use wva::estimate::read::Filters;
use wva::estimate::{Errors, EstimateError, FitOptions, KindWeights, Loss};
use wva::perf::{DEFAULT_MAX_NUM_BATCHED_TOKENS, PerfModelKind};
use wva::report::{calibration_table, estimate_table};
use wva::usecase::Silent;
use wva::usecase::estimate::{
    CalibrateRequest, DirectRequest, ProfileLabel, SaturatedRuns, Sources, calibrate, fit_direct,
};
use wva::usecase::tables_profile::{TablesRequest, tables_profile};

fn sources(file: &str, columns: Option<&str>) -> Sources {
    let filters = Filters {
        max_num_batched_tokens: DEFAULT_MAX_NUM_BATCHED_TOKENS,
        columns: columns.map(|c| c.parse().unwrap()).unwrap_or_default(),
        replicas: 1,
        ..Filters::default()
    };
    Sources::open(&[root().join(file)], &[], None, filters).unwrap()
}

fn direct(sources: Sources) -> DirectRequest {
    DirectRequest {
        sources,
        options: FitOptions {
            model: PerfModelKind::V2,
            loss: Loss::Squares,
            errors: Errors::Relative,
            kinds: KindWeights::Balanced,
            max_num_batched_tokens: DEFAULT_MAX_NUM_BATCHED_TOKENS,
        },
        holdout_share: None,
        seed: 1,
        saturated: SaturatedRuns::Predict,
        max_batch: None,
        label: ProfileLabel {
            gpus_per_replica: 1,
            ..ProfileLabel::default()
        },
    }
}

/// The report names files as the binary was given them (relative to the project).
fn relative(text: String) -> String {
    text.replace(&format!("{}/", root().display()), "")
}

#[test]
fn a_direct_fit_reports_what_the_binary_prints() {
    // `wva estimate tests/fixtures/estimate/generic.csv --columns ... --report`.
    let s = sources(
        "tests/fixtures/estimate/generic.csv",
        Some("batch=bs,time_ms=itl,context_tokens=ctx,prefill_tokens=prefill"),
    );
    assert!(!s.are_load_tests());
    let outcome = fit_direct(direct(s), &Silent).unwrap();
    assert_eq!(
        relative(estimate_table(&outcome.estimate.report)),
        golden_stdout("estimate-generic")
    );
    assert!(!outcome.fitted.is_empty());
    assert!(outcome.estimate.profile_yaml.contains("alpha"));
    assert_eq!(
        outcome.estimate.name_warnings.len(),
        2,
        "model and accelerator unknown"
    );
}

#[test]
fn a_calibration_reports_what_the_binary_prints() {
    // `wva estimate tests/fixtures/estimate/sweep.csv --max-batch 64 --report`.
    let s = sources("tests/fixtures/estimate/sweep.csv", None);
    assert!(s.are_load_tests(), "a sweep is calibrated by default");
    let request = CalibrateRequest {
        sources: s,
        model: PerfModelKind::V3,
        max_num_batched_tokens: None,
        max_num_seqs: Some(64),
        kv_capacity_tokens: None,
        seed: 1,
        label: ProfileLabel {
            gpus_per_replica: 1,
            ..ProfileLabel::default()
        },
    };
    let estimate = calibrate(&request, &Silent).unwrap();
    assert_eq!(
        relative(calibration_table(&estimate.report)),
        golden_stdout("estimate-sweep")
    );
    let again = calibrate(&request, &Silent).unwrap();
    assert_eq!(
        again.profile_yaml, estimate.profile_yaml,
        "same seed, same profile"
    );
}

#[test]
fn what_cannot_be_fitted_is_said_and_errors_are_values() {
    // One operating point: the fit runs, and says its parameters are not identifiable.
    let one = sources("tests/fixtures/estimate/single-point.csv", None);
    let outcome = fit_direct(direct(one.clone()), &Silent).unwrap();
    assert!(outcome.estimate.report.fit.unidentifiable());
    assert!(
        outcome.estimate.report.fit.warnings[0].starts_with("not identifiable"),
        "{:?}",
        outcome.estimate.report.fit.warnings
    );
    let mut held = direct(one.clone());
    held.holdout_share = Some(0.5);
    let split = fit_direct(held, &Silent).unwrap();
    assert_eq!(split.fitted.len(), 1, "one of three observations fitted");
    assert!(split.estimate.report.holdout.is_some());
    let v1 = CalibrateRequest {
        sources: one,
        model: PerfModelKind::V1,
        max_num_batched_tokens: None,
        max_num_seqs: None,
        kv_capacity_tokens: None,
        seed: 1,
        label: ProfileLabel::default(),
    };
    let err = calibrate(&v1, &Silent).err().unwrap();
    assert!(
        request_message(&err).ends_with("drop `perf_model` wva-v1"),
        "{err}"
    );
    let empty = Sources::open(
        &[root().join("tests/fixtures/estimate/empty.csv")],
        &[],
        None,
        Filters::default(),
    )
    .unwrap_err();
    // The estimate module's own error, typed, naming the file.
    assert!(
        matches!(empty.downcast_ref::<EstimateError>(), Some(EstimateError::File(m)) if m.contains("empty.csv")),
        "{empty}"
    );
    let tables = TablesRequest {
        files: vec![root().join("tests/fixtures/estimate/generic.csv")],
        format: None,
        cluster_config: None,
        model_config: None,
        model: Some("m".into()),
        accelerator: None,
        tp: None,
        num_layers: None,
        max_batch: None,
        max_num_batched_tokens: None,
        gpu_memory_utilization: 0.9,
        gpu_memory_gb: None,
        interconnect: None,
        out_dir: root(),
    };
    let err = tables_profile(&tables, &Silent).unwrap_err();
    assert!(err.to_string().contains("not a folder"), "{err}");
}
