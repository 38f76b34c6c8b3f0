//! `wva plan` as library calls, in process: a workload's load from a trace, the plan, and the
//! binary's JSON from them.

mod common;

use common::{Notes, golden_stdout, request_message, root};
use wva::load::from_trace::{BUSY_RATE_QUANTILE, trace_loads};
use wva::optimize::{PlanOptions, plan};
use wva::spec::load_scenario;
use wva::trace::{Trace, Transforms};
use wva::usecase::plan::load_from_trace;

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
fn plan_streams_the_same_load_simulate_and_replay_take_in_memory() {
    // One rule for a trace's load: `plan --trace` tallies the file as it streams; `simulate`
    // and `replay` read it into memory first. Same trace, same quantile: the same numbers.
    let mut scenario = load_scenario(&root().join("scenarios/quickstart.yaml")).unwrap();
    let path = root().join("traces/azure-code-like-10min.csv");
    let open = || Trace::open(&path, None, &Transforms::default(), false).unwrap();
    let records: Vec<_> = open().map(Result::unwrap).collect();
    let in_memory = trace_loads(&records, &vec![0; records.len()], 1)[0].unwrap();
    let workload = &mut scenario.workloads[0];
    load_from_trace(
        workload,
        &mut open(),
        &path,
        BUSY_RATE_QUANTILE,
        &Notes::default(),
    )
    .unwrap();
    assert!(in_memory.busy_from_minutes);
    assert_eq!(workload.rate_rps, in_memory.busy_rate_rps);
    assert_eq!(workload.prompt_tokens, in_memory.prompt_tokens);
    assert_eq!(workload.output_tokens, in_memory.output_tokens);
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

#[test]
fn a_plan_checked_in_the_simulator_is_the_binarys() {
    // `wva plan scenarios/percentile-slos.yaml --verify -o json`.
    use wva::usecase::plan::{PlanRequest, plan as plan_checked};
    use wva::verify::VerifyOptions;
    let request = PlanRequest {
        scenario: load_scenario(&root().join("scenarios/percentile-slos.yaml")).unwrap(),
        options: PlanOptions::default(),
        verify: Some(VerifyOptions::default()),
    };
    let outcome = plan_checked(&request, &wva::usecase::Silent).unwrap();
    let checks = outcome.checks.as_deref().expect("checked");
    assert_eq!(
        wva::report::render_verified_plan(&outcome.plan, checks, wva::report::OutputFormat::Json),
        golden_stdout("plan-percentile-verify")
    );
    assert_eq!(outcome.plan.not_fully_served(), 0);
}

#[test]
fn upstream_settings_become_defaults_and_workloads_are_found_by_name() {
    use wva::error::Error;
    use wva::optimize::{BatchPolicy, BestEffort, SaturationPolicy, SolverKind};
    use wva::spec::inferno::InfernoOptimizer;
    use wva::usecase::plan::{upstream_defaults, workload_index};
    let greedy = upstream_defaults(&InfernoOptimizer {
        delayed_best_effort: true,
        saturation_policy: "PriorityExhaustive".into(),
        ..InfernoOptimizer::default()
    })
    .unwrap();
    assert_eq!(greedy.solver, SolverKind::Greedy);
    assert_eq!(greedy.saturation, SaturationPolicy::PriorityExhaustive);
    assert_eq!(greedy.batch, BatchPolicy::Fixed);
    assert_eq!(greedy.best_effort, BestEffort::Delayed);
    assert!(!greedy.mixed);
    let mixed = upstream_defaults(&InfernoOptimizer {
        heterogeneous: true,
        saturation_policy: "None".into(),
        ..InfernoOptimizer::default()
    })
    .unwrap();
    assert_eq!((mixed.solver, mixed.mixed), (SolverKind::Exact, true));
    let bad = upstream_defaults(&InfernoOptimizer {
        saturation_policy: "Sometimes".into(),
        ..InfernoOptimizer::default()
    })
    .unwrap_err();
    assert!(
        matches!(&bad, Error::Usage(m) if m.contains("`Sometimes`")),
        "{bad}"
    );

    let scenario = load_scenario(&root().join("scenarios/quickstart.yaml")).unwrap();
    let w = workload_index(&scenario, Some("chat-standard")).unwrap();
    assert_eq!(scenario.workloads[w].name, "chat-standard");
    let missing = workload_index(&scenario, Some("nope")).unwrap_err();
    assert!(
        missing.to_string().contains("no such workload"),
        "{missing}"
    );
    assert!(scenario.workloads.len() > 1);
    assert_eq!(
        request_message(&workload_index(&scenario, None).unwrap_err()),
        "`trace` needs `workload` NAME: the scenario has several workloads"
    );
}
