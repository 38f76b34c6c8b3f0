//! `wva apply` as a library call, in process: the binary's objects from the same request, a
//! plan file giving what the plan made now gives, warnings through the listener, errors as
//! values.

mod common;

use common::{golden_stdout, request_message, root};
use std::sync::Mutex;
use wva::error::ExitCode;
use wva::k8s::objects::{Objects, Schema, to_json_list, to_yaml_stream};
use wva::spec::{Scenario, load_scenario};
use wva::usecase::apply::{Applied, ApplyRequest, PlanSource, apply, names_of, write_dir};
use wva::usecase::{Listener, Silent, plan_file};

fn scenario(path: &str) -> Scenario {
    load_scenario(&root().join(path)).unwrap()
}

fn built(scenario: &Scenario, request: ApplyRequest, listener: &dyn Listener) -> Objects {
    match apply(scenario, request, listener).unwrap() {
        Applied::Built(objects) => objects,
        Applied::Pushed(_) => panic!("nothing was to be pushed"),
    }
}

/// Hears the warnings.
#[derive(Default)]
struct Warnings(Mutex<Vec<String>>);

impl Listener for Warnings {
    fn warning(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

#[test]
fn the_library_call_gives_the_binarys_objects() {
    // `wva apply scenarios/quickstart.yaml --schema v0.5 --namespace llm`.
    let mut request = ApplyRequest::new(PlanSource::Plan);
    request.schema = Some(Schema::V05);
    request.namespace = Some("llm".into());
    let objects = built(&scenario("scenarios/quickstart.yaml"), request, &Silent);
    assert_eq!(
        to_yaml_stream(&objects.objects),
        golden_stdout("apply-quickstart")
    );
    // `wva apply scenarios/mixed-gpus.yaml -o json`, every default the command's.
    let objects = built(
        &scenario("scenarios/mixed-gpus.yaml"),
        ApplyRequest::new(PlanSource::Plan),
        &Silent,
    );
    assert_eq!(
        to_json_list(&objects.objects),
        golden_stdout("apply-v04-json")
    );
}

#[test]
fn a_plan_file_gives_the_objects_of_the_plan_made_now_and_writes_one_file_each() {
    let s = scenario("scenarios/quickstart.yaml");
    let planned = wva::optimize::plan(&s, &wva::optimize::PlanOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    std::fs::write(&path, wva::report::to_json(&planned)).unwrap();
    let from_file = PlanSource::File(plan_file::read(&path).unwrap());
    let now = built(&s, ApplyRequest::new(PlanSource::Plan), &Silent);
    let read = built(&s, ApplyRequest::new(from_file), &Silent);
    assert_eq!(now.objects, read.objects);

    let out = dir.path().join("manifests");
    let files = write_dir(&out, &read.objects).unwrap();
    assert_eq!(files, read.objects.len());
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), files);
    // A second run replaces the files of the first.
    assert_eq!(write_dir(&out, &read.objects).unwrap(), files);
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), files);
    // A plain file is no folder to write into.
    let err = write_dir(&path, &read.objects).unwrap_err();
    assert!(request_message(&err).ends_with(": not a folder"), "{err}");
}

#[test]
fn a_workload_the_plan_cannot_serve_is_a_warning_or_with_the_flag_an_error() {
    let s = scenario("tests/fixtures/impossible-slo.yaml");
    let warnings = Warnings::default();
    let objects = built(&s, ApplyRequest::new(PlanSource::Plan), &warnings);
    assert!(!objects.objects.is_empty());
    let heard = warnings.0.into_inner().unwrap();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert!(heard[0].starts_with("the plan cannot fully serve: voice-agent ("));
    assert!(heard[0].ends_with("; applying the rest"));

    let mut request = ApplyRequest::new(PlanSource::Plan);
    request.fail_on_infeasible = true;
    let err = apply(&s, request, &Silent).unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Infeasible);
    // The binary names the field by its flag.
    let golden =
        std::fs::read_to_string(root().join("tests/fixtures/golden/apply-infeasible.txt")).unwrap();
    let message = request_message(&err);
    assert!(
        message.ends_with("(`fail_on_infeasible`: nothing written)"),
        "{message}"
    );
    let flagged = message.replace("`fail_on_infeasible`", "--fail-on-infeasible");
    assert!(golden.contains(&format!("error: {flagged}\n")), "{err}");
}

#[test]
fn bad_requests_are_errors() {
    let s = scenario("scenarios/quickstart.yaml");
    let error = |change: &dyn Fn(&mut ApplyRequest)| {
        let mut request = ApplyRequest::new(PlanSource::Plan);
        change(&mut request);
        request_message(&apply(&s, request, &Silent).unwrap_err())
    };
    assert_eq!(
        error(&|r| r.names = vec!["chat-premium".into()]),
        "`names` chat-premium: expected WORKLOAD=NAME"
    );
    assert_eq!(
        error(&|r| r.names = vec!["chat-premium=a".into(), " chat-premium =b".into()]),
        "`names` chat-premium: given twice"
    );
    assert_eq!(
        error(&|r| r.push_settings.replace_crd = true),
        "`replace_crd` needs `push`"
    );
    assert!(error(&|r| r.namespace = Some("Not_A_Name".into())).starts_with("`namespace`: "));
    assert!(error(&|r| r.config_namespace = String::new()).starts_with("`config_namespace`: "));
    let names = names_of(&[" chat-premium = chat ".into()]).unwrap();
    assert_eq!(names["chat-premium"], "chat");
}

#[cfg(feature = "push")]
#[test]
fn a_push_timeout_that_is_no_duration_is_an_error_before_any_cluster_is_asked() {
    let s = scenario("scenarios/quickstart.yaml");
    for timeout_s in [1e30, -1.0, f64::NAN] {
        let mut request = ApplyRequest::new(PlanSource::Plan);
        request.push = true;
        request.push_settings.timeout_s = timeout_s;
        let err = apply(&s, request, &Silent).unwrap_err();
        assert!(
            request_message(&err).starts_with("`timeout_s` must be"),
            "{err}"
        );
    }
}
