//! `wva trace stats|synth|convert` as library calls, in process: the binary's outputs from the
//! same requests, notes through the listener, errors as values. Paths are relative to the
//! project root, the folder tests run in, as the binary's were.

mod common;

use common::{Notes, golden_stdout};
use wva::error::{Error, ExitCode};
use wva::load::shape::{LengthShape, Shape};
use wva::sim::Horizon;
use wva::trace::{Format, TraceError, Window};
use wva::usecase::Silent;
use wva::usecase::trace::{
    ConvertRequest, SynthRequest, SynthSource, TraceFile, convert, read, stats, synth,
};

#[test]
fn stats_are_the_binarys() {
    // `wva trace stats traces/azure-conv-like-10min.csv -o json`.
    let report = stats(&TraceFile::new("traces/azure-conv-like-10min.csv")).unwrap();
    assert_eq!(wva::report::to_json(&report), golden_stdout("trace-stats"));
    // `wva trace stats traces/azure-code-like-10min.csv --rate-scale 2 --window 0..300`.
    let mut file = TraceFile::new("traces/azure-code-like-10min.csv");
    file.transforms.rate_scale = 2.0;
    file.transforms.window = Some("0..300".parse::<Window>().unwrap());
    let report = stats(&file).unwrap();
    wva::report::set_wide(true);
    assert_eq!(
        wva::report::trace_table(&report),
        golden_stdout("trace-stats-window")
    );
}

#[test]
fn a_synthetic_trace_is_the_binarys() {
    // `wva trace synth --rate-rps 2 --in-tokens 1000 --out-tokens 200 --output-dist
    // exponential --requests 50`.
    let request = SynthRequest {
        source: SynthSource::Distributions {
            rate_rps: 2.0,
            prompt_tokens: 1000.0,
            output_tokens: 200.0,
            shape: Shape {
                output: Some(LengthShape::Exponential),
                ..Shape::default()
            },
            horizon: Horizon::Requests(50),
            model: None,
        },
        seed: 1,
        to: Format::Canonical,
    };
    assert_eq!(
        synth(&request, &Silent).unwrap(),
        golden_stdout("trace-synth")
    );
}

#[test]
fn a_converted_trace_is_the_binarys_and_like_one_keeps_its_volume() {
    // `wva trace convert traces/azure-code-like-10min.csv --to vidur --max-requests 20`.
    let mut file = TraceFile::new("traces/azure-code-like-10min.csv");
    file.transforms.max_requests = Some(20);
    let request = ConvertRequest {
        trace: file.clone(),
        to: Format::Vidur,
    };
    assert_eq!(
        convert(&request, &Silent).unwrap(),
        golden_stdout("trace-convert")
    );
    // A trace like those 20 requests: as many requests, from 0 s.
    let request = SynthRequest {
        source: SynthSource::Like {
            trace: file,
            poisson_counts: false,
        },
        seed: 1,
        to: Format::Canonical,
    };
    let text = synth(&request, &Silent).unwrap();
    assert_eq!(text.lines().count(), 1 + 20, "{text}");
}

#[test]
fn reading_notes_what_it_changes_and_bad_input_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(
        &path,
        "arrival_s,prompt_tokens,output_tokens\n5,10,2\n3,20,0\n4,30,3\n",
    )
    .unwrap();
    let notes = Notes::default();
    let records = read(&TraceFile::new(&path), &notes).unwrap();
    assert_eq!(
        records.iter().map(|r| r.arrival_s).collect::<Vec<_>>(),
        [0.0, 1.0]
    );
    let heard = notes.0.into_inner().unwrap();
    assert_eq!(heard.len(), 2, "{heard:?}");
    assert!(
        heard[0].ends_with("left out 0 malformed rows and 1 failed requests (no output tokens)")
    );
    assert!(heard[1].ends_with("1 record(s) arrive before the one above them; sorted by arrival"));

    let mut file = TraceFile::new(&path);
    file.transforms.window = Some("100..".parse::<Window>().unwrap());
    let err = stats(&file).unwrap_err();
    assert!(matches!(err, Error::Usage(_)));
    assert!(
        err.to_string().ends_with(
            "t.csv: no requests to read (0 malformed rows skipped, 1 failed requests left out)"
        ),
        "{err}"
    );
    // The trace module's own error, typed, with the bad-input exit code.
    let err = read(&TraceFile::new(dir.path().join("missing.csv")), &Silent).unwrap_err();
    assert!(err.downcast_ref::<TraceError>().is_some(), "{err:?}");
    assert_eq!(err.exit_code(), ExitCode::Input);
}
