//! `wva replay` as a library call, in process: the binary's report from the same request,
//! errors as values.

mod common;

use common::{golden_stdout, request_message, root};
use wva::replay::PolicyKind;
use wva::spec::load_scenario;
use wva::trace::{Trace, TraceRecord, Transforms};
use wva::usecase::{ReplayRequest, Silent, TraceInput, replay};

fn trace(rate_scale: f64) -> TraceInput {
    let path = root().join("traces/azure-conv-like-10min.csv");
    let transforms = Transforms {
        rate_scale,
        ..Transforms::default()
    };
    let records: Vec<TraceRecord> = Trace::open(&path, None, &transforms, false)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    TraceInput {
        path,
        records,
        workload: Some("conversation".into()),
    }
}

fn request(rate_scale: f64) -> ReplayRequest {
    let path = root().join("scenarios/azure-chat-and-code.yaml");
    ReplayRequest::new(
        "scenarios/azure-chat-and-code.yaml",
        load_scenario(&path).unwrap(),
        trace(rate_scale),
    )
}

#[test]
fn the_library_call_gives_the_binarys_report() {
    // `wva replay scenarios/azure-chat-and-code.yaml --trace ... --workload conversation
    // --rate-scale 4 -o json`, every default the command's.
    let report = replay(request(4.0), &Silent).unwrap();
    assert_eq!(wva::report::to_json(&report), golden_stdout("replay-conv"));
}

#[test]
fn one_policy_is_one_run_and_the_seed_decides_the_bytes() {
    let mut r = request(2.0);
    r.policies = vec![PolicyKind::Static, PolicyKind::Static];
    r.settings.static_replicas = Some(2);
    r.noise_cv = 0.05;
    let a = replay(r.clone(), &Silent).unwrap();
    assert_eq!(a.policies.len(), 1, "a policy asked twice runs once");
    assert_eq!(a.static_replicas, Some(2));
    let b = replay(r.clone(), &Silent).unwrap();
    assert_eq!(wva::report::to_json(&a), wva::report::to_json(&b));
    r.seed = 7;
    let c = replay(r.clone(), &Silent).unwrap();
    assert_ne!(wva::report::to_json(&a), wva::report::to_json(&c));
}

#[test]
fn bad_requests_are_errors() {
    let mut r = request(1.0);
    r.accelerators = vec!["H100".into(), "H100".into()];
    let err = replay(r.clone(), &Silent).unwrap_err();
    assert_eq!(request_message(&err), "`accelerators` names `H100` twice");
    let mut r = request(1.0);
    r.trace.records.clear();
    assert!(
        replay(r.clone(), &Silent)
            .unwrap_err()
            .to_string()
            .ends_with("azure-conv-like-10min.csv: no requests to replay")
    );
    let mut r = request(1.0);
    r.settings.static_replicas = Some(5000);
    r.policies = vec![PolicyKind::Static];
    assert!(
        replay(r.clone(), &Silent)
            .unwrap_err()
            .to_string()
            .starts_with("`static_replicas` 5000 is outside")
    );
}
