//! `wva simulate` as a library call, in process: the same report as the binary's, notes through
//! the listener, errors as values.

mod common;

use common::{golden_stdout, request_message, root};
use std::sync::Mutex;
use wva::error::Error;
use wva::load::shape::{LengthShape, Shape};
use wva::spec::{load_profiles, load_scenario};
use wva::usecase::simulate::ClosedLoopLoad;
use wva::usecase::{
    FleetChoice, Listener, ProfileLoad, Silent, SimulateRequest, Subject, TraceInput, simulate,
};

/// Collects notes and checks progress only moves forward.
#[derive(Default)]
struct Collect {
    notes: Mutex<Vec<String>>,
    progress: Mutex<(Option<u64>, u64, bool)>,
}

impl Listener for Collect {
    fn note(&self, message: &str) {
        self.notes.lock().unwrap().push(message.to_string());
    }
    fn start(&self, total: Option<u64>, _what: &str, _unit: &str) {
        *self.progress.lock().unwrap() = (total, 0, false);
    }
    fn advance_to(&self, done: u64) {
        let mut p = self.progress.lock().unwrap();
        assert!(done >= p.1, "progress went back from {} to {done}", p.1);
        p.1 = done;
    }
    fn finish(&self) {
        self.progress.lock().unwrap().2 = true;
    }
}

fn quickstart() -> SimulateRequest {
    let path = root().join("scenarios/quickstart.yaml");
    let scenario = load_scenario(&path).unwrap();
    SimulateRequest::new("scenarios/quickstart.yaml", Subject::Scenario(scenario))
}

#[test]
fn the_library_call_gives_the_binarys_report() {
    let mut request = quickstart();
    request.requests = Some(20_000);
    let listener = Collect::default();
    let out = simulate(request, &listener).unwrap();
    assert_eq!(
        wva::report::to_json(&out.report),
        golden_stdout("simulate-quickstart")
    );
    // Progress over every request of every group, and finished.
    let (total, done, finished) = *listener.progress.lock().unwrap();
    assert_eq!(total, Some(20_000));
    assert!(finished && done >= 20_000 * 9 / 10, "{done}");
    assert_eq!(out.results.len(), 1);
    assert_eq!(out.config.groups.len(), out.report.workloads.len());
}

#[test]
fn a_profile_under_a_closed_loop_and_replications() {
    let path = root().join("profiles/qwen2.5-14b-instruct.yaml");
    let mut request = SimulateRequest::new(
        "profiles/qwen2.5-14b-instruct.yaml",
        Subject::Profile {
            profiles: load_profiles(&path).unwrap(),
            load: ProfileLoad {
                in_tokens: Some(1024.0),
                out_tokens: Some(512.0),
                ..ProfileLoad::default()
            },
        },
    );
    request.fleet = FleetChoice::Replicas {
        replicas: 1,
        accelerator: None,
    };
    request.closed_loop = Some(ClosedLoopLoad {
        concurrency: 32,
        think_time_s: 0.0,
    });
    request.requests = Some(3000);
    assert_eq!(
        wva::report::to_json(&simulate(request.clone(), &Silent).unwrap().report),
        golden_stdout("simulate-concurrency")
    );
    // Replications are independent runs merged: the same seed gives the same bytes, another
    // seed other numbers.
    request.replications = 2;
    let a = simulate(request.clone(), &Silent).unwrap();
    let b = simulate(request.clone(), &Silent).unwrap();
    assert_eq!(a.results.len(), 2);
    assert_eq!(
        wva::report::to_json(&a.report),
        wva::report::to_json(&b.report)
    );
    request.seed = 2;
    let c = simulate(request.clone(), &Silent).unwrap();
    assert_ne!(
        wva::report::to_json(&a.report),
        wva::report::to_json(&c.report)
    );
}

#[test]
fn a_trace_drives_its_workloads_and_the_others_are_noted() {
    let path = root().join("traces/azure-conv-like-10min.csv");
    let records = wva::trace::Trace::open(&path, None, &wva::trace::Transforms::default(), false)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let mut request = quickstart();
    request.trace = Some(TraceInput {
        path: path.clone(),
        records,
        workload: Some("chat-standard".into()),
    });
    request.shape = Shape {
        output: Some(LengthShape::Lognormal { cv: 0.5 }),
        ..Shape::default()
    };
    let listener = Collect::default();
    let out = simulate(request, &listener).unwrap();
    assert_eq!(out.report.workloads.len(), 1);
    let notes = listener.notes.lock().unwrap();
    assert_eq!(
        notes
            .iter()
            .filter(|n| n.contains("the trace has no requests for it"))
            .count(),
        3,
        "{notes:?}"
    );
    assert!(out.records.is_some());
}

#[test]
fn bad_requests_are_errors_not_panics() {
    let path = root().join("profiles/qwen2.5-14b-instruct.yaml");
    let profile = |load: ProfileLoad| {
        SimulateRequest::new(
            "p.yaml",
            Subject::Profile {
                profiles: load_profiles(&path).unwrap(),
                load,
            },
        )
    };
    let err = simulate(profile(ProfileLoad::default()), &Silent).unwrap_err();
    assert!(
        request_message(&err).starts_with("`profile` needs the load: `rate_rps`, "),
        "{err}"
    );
    let err = simulate(
        profile(ProfileLoad {
            model: Some("no-such-model".into()),
            ..ProfileLoad::default()
        }),
        &Silent,
    )
    .unwrap_err();
    assert_eq!(
        request_message(&err),
        "p.yaml: no profile matches `model`/`accelerator`"
    );
    // A closed loop drives one replica.
    let mut request = profile(ProfileLoad {
        in_tokens: Some(100.0),
        out_tokens: Some(100.0),
        ..ProfileLoad::default()
    });
    request.fleet = FleetChoice::Replicas {
        replicas: 2,
        accelerator: None,
    };
    request.closed_loop = Some(ClosedLoopLoad {
        concurrency: 4,
        think_time_s: 0.0,
    });
    let err = simulate(request.clone(), &Silent).unwrap_err();
    assert!(
        request_message(&err).starts_with("`concurrency` drives one replica"),
        "{err}"
    );
    // A plan file naming a workload the scenario lacks: the file and field.
    let mut request = quickstart();
    request.fleet = FleetChoice::PlanFile {
        path: "plan.json".into(),
        allocations: vec![("nope".into(), "H100".into(), 1, 8)],
    };
    let err = simulate(request.clone(), &Silent).unwrap_err();
    assert!(matches!(err, Error::Spec(_)), "{err}");
    assert!(
        err.to_string()
            .starts_with("plan.json: allocations[0].workload: the scenario has no workload `nope`"),
        "{err}"
    );
}
