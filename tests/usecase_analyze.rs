//! `wva analyze` as a library call, in process: the binary's answer, and errors as values.

mod common;

use common::{golden_stdout, request_message};
use wva::error::Error;
use wva::perf::{NamedParams, PerfModelKind, PerfParams, RequestShape};
use wva::queueing::DEFAULT_QUEUE_PER_BATCH;
use wva::usecase::analyze::{AnalyzeRequest, Question, analyze};

fn request(question: Question) -> AnalyzeRequest {
    AnalyzeRequest {
        perf: PerfParams::from_named(PerfModelKind::V2, NamedParams::new(12.0, 0.05, 0.0005)),
        max_batch: 48,
        max_queue: 48 * DEFAULT_QUEUE_PER_BATCH,
        shape: RequestShape {
            prompt_tokens: 128.0,
            output_tokens: 512.0,
        },
        question,
    }
}

#[test]
fn sizing_for_targets_is_the_binarys_answer() {
    // `wva analyze --alpha 12 --beta 0.05 --gamma 0.0005 --max-batch 48 --in-tokens 128
    // --out-tokens 512 --target-ttft-ms 60 --target-itl-ms 20 -o json`.
    let analysis = analyze(&request(Question::Size {
        ttft_ms: Some(60.0),
        itl_ms: Some(20.0),
        search_batch: false,
    }))
    .unwrap();
    assert_eq!(
        wva::report::to_json(&analysis),
        golden_stdout("analyze-size")
    );
}

#[test]
fn a_rate_gives_its_metrics_and_the_impossible_is_an_error() {
    let at = analyze(&request(Question::AtRate(1.0))).unwrap();
    assert_eq!(at.rate_rps, 1.0);
    assert!(at.metrics.is_finite());
    let err = analyze(&request(Question::Size {
        ttft_ms: Some(0.001),
        itl_ms: None,
        search_batch: false,
    }))
    .unwrap_err();
    assert!(matches!(err, Error::Infeasible(_)), "{err}");
    let mut r = request(Question::AtRate(1.0));
    r.perf = PerfParams::from_named(
        PerfModelKind::V3,
        NamedParams {
            max_num_batched_tokens: 16,
            ..NamedParams::new(12.0, 0.05, 0.0005)
        },
    );
    assert_eq!(
        request_message(&analyze(&r).unwrap_err()),
        "`max_num_batched_tokens` (16) must be at least the max batch (48), as in vLLM"
    );
}
