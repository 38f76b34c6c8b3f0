//! `wva plan` as library calls, in process: a workload's load from a trace, the plan, and the
//! binary's JSON from them.

mod common;

use common::{golden_stdout, root};
use std::sync::Mutex;
use wva::optimize::{PlanOptions, plan};
use wva::spec::load_scenario;
use wva::trace::{Trace, Transforms};
use wva::usecase::Listener;
use wva::usecase::plan::load_from_trace;

#[derive(Default)]
struct Notes(Mutex<Vec<String>>);

impl Listener for Notes {
    fn note(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
}

#[test]
fn a_trace_sets_a_workloads_load_and_the_plan_is_the_binarys() {
    // `wva plan scenarios/quickstart.yaml --trace traces/azure-conv-like-10min.csv
    // --workload chat-standard -o json`.
    let mut scenario = load_scenario(&root().join("scenarios/quickstart.yaml")).unwrap();
    let path = root().join("traces/azure-conv-like-10min.csv");
    let transforms = Transforms {
        seed: 1,
        ..Transforms::default()
    };
    let mut trace = Trace::open(&path, None, &transforms, false).unwrap();
    let w = scenario
        .workloads
        .iter()
        .position(|w| w.name == "chat-standard")
        .unwrap();
    let notes = Notes::default();
    load_from_trace(&mut scenario.workloads[w], &mut trace, &path, 0.95, &notes).unwrap();
    let notes = notes.0.into_inner().unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("workload `chat-standard` from ")
            && notes[0].contains("(quantile 0.95 of its per-minute rates)"),
        "{notes:?}"
    );
    let planned = plan(&scenario, &PlanOptions::default()).unwrap();
    assert_eq!(wva::report::to_json(&planned), golden_stdout("plan-trace"));
}

#[test]
fn a_trace_of_one_request_has_no_rate() {
    let mut scenario = load_scenario(&root().join("scenarios/quickstart.yaml")).unwrap();
    let path = root().join("traces/azure-conv-like-10min.csv");
    let transforms = Transforms {
        max_requests: Some(1),
        ..Transforms::default()
    };
    let mut trace = Trace::open(&path, None, &transforms, false).unwrap();
    let err = load_from_trace(
        &mut scenario.workloads[0],
        &mut trace,
        &path,
        0.95,
        &wva::usecase::Silent,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("azure-conv-like-10min.csv: 1 request(s): a rate needs at least two"),
        "{err}"
    );
}
