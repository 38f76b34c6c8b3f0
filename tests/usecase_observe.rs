//! `wva observe` as a library call, in process: a range Prometheus would refuse is refused
//! before asking, a missing token file and a server nobody answers are errors as values, with
//! the binary's messages. (What a real Prometheus answers: `tests/observe_roundtrip.rs`.)

mod common;

use common::request_message;
use wva::error::{Error, ExitCode};
use wva::observe::{Grouping, ObserveError};
use wva::usecase::observe::{PrometheusRequest, observe};

/// An hour in steps of a minute, from a server on `url`.
fn request(url: &str) -> PrometheusRequest {
    PrometheusRequest {
        url: url.into(),
        bearer_token_file: None,
        namespace: Some("llm".into()),
        selector: None,
        start_s: 1_800_000_000.0,
        end_s: 1_800_003_600.0,
        step_s: 60.0,
        timeout_s: 5.0,
        grouping: Grouping {
            variant_label: None,
            accelerator_label: "accelerator".into(),
        },
        traffic_per_metric_s: 1.0,
    }
}

fn usage(r: &PrometheusRequest) -> String {
    match observe(r) {
        Err(e) => request_message(&e),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn ranges_prometheus_would_refuse_are_refused_before_asking() {
    // Port 1: nothing listens, and nothing is asked.
    let mut r = request("http://127.0.0.1:1");
    r.end_s = r.start_s;
    assert_eq!(
        usage(&r),
        "`start_s` (2027-01-15T08:00:00Z) is not before `end_s` (2027-01-15T08:00:00Z)"
    );
    let mut r = request("http://127.0.0.1:1");
    r.step_s = 7200.0;
    assert_eq!(
        usage(&r),
        "the range (3600 s) is shorter than one `step_s` (7200 s)"
    );
    let mut r = request("http://127.0.0.1:1");
    r.step_s = 0.25;
    assert!(usage(&r).starts_with("14400 steps of 0.25 s: Prometheus answers at most 11000"));
    let mut r = request("http://127.0.0.1:1");
    r.timeout_s = -1.0;
    assert_eq!(usage(&r), "`timeout_s` must be > 0, got -1");
}

#[test]
fn a_missing_token_and_an_unreachable_server_are_errors() {
    let mut r = request("http://127.0.0.1:1");
    r.bearer_token_file = Some("tests/fixtures/no-such-token".into());
    assert!(matches!(observe(&r), Err(Error::Read { .. })));
    let err = observe(&request("http://127.0.0.1:1")).unwrap_err();
    // The module's own error, typed, with the cluster's exit code.
    assert!(err.downcast_ref::<ObserveError>().is_some(), "{err:?}");
    assert_eq!(err.exit_code(), ExitCode::Cluster);
    assert!(
        err.to_string()
            .contains("cannot reach Prometheus at http://127.0.0.1:1"),
        "{err}"
    );
}
