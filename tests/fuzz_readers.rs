//! A mutation fuzzer over every reader of the library, in-process (not the binary).
//!
//! Seeds are the shipped scenarios, profiles, catalogs and traces, the test fixtures and the
//! formats in `../shared` (upstream's inferno folders and cluster objects, the benchmark and
//! trace files). Each case copies one seed, applies one to three mutations (truncation, byte
//! flips, dropped, duplicated or swapped lines, extreme numbers, wrong types, deep nesting,
//! huge numbers) and reads it. The properties: no panic, no case slower than
//! [`MAX_CASE_TIME`], and every error names the mutated file (or its folder) and, for a YAML
//! or JSON document that no longer parses, a line.
//!
//! CI runs [`CI_CASES`] cases per reader with a fixed seed (a few seconds). More:
//!
//!     WVA_FUZZ_CASES=1000000 WVA_FUZZ_SEED=7 cargo test --release --test fuzz_readers -- --nocapture
//!
//! Failing inputs are kept in `target/fuzz-failures/` to reproduce.

mod common;

use rand::prelude::*;
use rand_chacha::ChaCha8Rng;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wva::estimate::read::{Filters, SourceFormat};
use wva::spec::cluster::{ClusterInput, DefaultLoad, load_cluster};
use wva::trace::{Format, Transforms};

/// Cases per reader under `cargo test` unless `WVA_FUZZ_CASES` says otherwise.
const CI_CASES: u64 = 300;
/// The slowest a single case may be.
const MAX_CASE_TIME: Duration = Duration::from_secs(10);
/// Lines kept of a long seed (traces): mutations matter, length does not.
const SEED_LINES: usize = 120;

/// What a reader is given: a folder copied into the work area, the file in it to mutate, and
/// the path to hand to the reader (the file itself, or the folder).
struct Seed {
    /// The folder copied (relative paths inside it keep working).
    folder: PathBuf,
    /// The mutated file, relative to `folder`.
    file: PathBuf,
    /// Hand the reader the folder instead of the file.
    read_folder: bool,
}

type Read = fn(&Path) -> Result<(), String>;

fn cases() -> u64 {
    std::env::var("WVA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CI_CASES)
}

fn base_seed() -> u64 {
    std::env::var("WVA_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Extreme values put where a number was.
const EXTREMES: [&str; 16] = [
    "0",
    "-1",
    "1e308",
    "-1e308",
    "1e-320",
    ".nan",
    "NaN",
    ".inf",
    "4294967296",
    "2147483648",
    "18446744073709551616",
    "99999999999999999999999999",
    "0.5",
    "-0",
    "1e400",
    "9223372036854775807",
];

/// Values of the wrong type put where a scalar was.
const WRONG_TYPES: [&str; 9] = [
    "[]", "{}", "\"x\"", "true", "null", "~", "[1, 2]", "{a: 1}", "''",
];

fn mutate(bytes: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for _ in 0..rng.random_range(1..=3) {
        b = mutate_once(&b, rng);
    }
    b
}

fn lines_of(b: &[u8]) -> Vec<Vec<u8>> {
    b.split(|&c| c == b'\n').map(<[u8]>::to_vec).collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.join(&b'\n')
}

/// Spans of ASCII digits (with sign, point and exponent) in `b`.
fn numbers(b: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = if i > 0 && b[i - 1] == b'-' { i - 1 } else { i };
            while i < b.len() && (b[i].is_ascii_digit() || b".eE+-".contains(&b[i])) {
                i += 1;
            }
            spans.push((start, i));
        } else {
            i += 1;
        }
    }
    spans
}

fn mutate_once(b: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let len = b.len().max(1);
    match rng.random_range(0..10) {
        // Truncation.
        0 => b[..rng.random_range(0..len).min(b.len())].to_vec(),
        // Byte flips.
        1 => {
            let mut out = b.to_vec();
            for _ in 0..rng.random_range(1..=4) {
                if !out.is_empty() {
                    let i = rng.random_range(0..out.len());
                    out[i] = rng.random();
                }
            }
            out
        }
        // A line dropped, duplicated or two swapped.
        2..=4 => {
            let mut lines = lines_of(b);
            if lines.len() > 1 {
                let i = rng.random_range(0..lines.len());
                let j = rng.random_range(0..lines.len());
                match rng.random_range(0..3) {
                    0 => {
                        lines.remove(i);
                    }
                    1 => {
                        let copy = lines[i].clone();
                        lines.insert(j, copy);
                    }
                    _ => lines.swap(i, j),
                }
            }
            join(&lines)
        }
        // An extreme number.
        5 | 6 => {
            let spans = numbers(b);
            if spans.is_empty() {
                return b.to_vec();
            }
            let (s, e) = spans[rng.random_range(0..spans.len())];
            let with = EXTREMES[rng.random_range(0..EXTREMES.len())];
            [&b[..s], with.as_bytes(), &b[e..]].concat()
        }
        // A wrong type after a key or in a list.
        7 => {
            let spans: Vec<usize> = b
                .windows(2)
                .enumerate()
                .filter(|(_, w)| w == b": " || w == b", ")
                .map(|(i, _)| i + 2)
                .collect();
            if spans.is_empty() {
                return b.to_vec();
            }
            let at = spans[rng.random_range(0..spans.len())];
            let end = b[at..]
                .iter()
                .position(|c| b",}]\n".contains(c))
                .map_or(b.len(), |p| at + p);
            let with = WRONG_TYPES[rng.random_range(0..WRONG_TYPES.len())];
            [&b[..at], with.as_bytes(), &b[end..]].concat()
        }
        // Deep nesting.
        8 => {
            let at = rng.random_range(0..len).min(b.len());
            let depth = rng.random_range(100..3000);
            let open = if rng.random() { "[" } else { "{a: " };
            let close = if open == "[" { "]" } else { "}" };
            let nest = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            [&b[..at], nest.as_bytes(), &b[at..]].concat()
        }
        // A huge number.
        _ => {
            let spans = numbers(b);
            if spans.is_empty() {
                return b.to_vec();
            }
            let (s, e) = spans[rng.random_range(0..spans.len())];
            let huge = "9".repeat(rng.random_range(30..20_000));
            [&b[..s], huge.as_bytes(), &b[e..]].concat()
        }
    }
}

/// Copies `from` into `to` (a flat or nested folder of small files), keeping the first
/// [`SEED_LINES`] lines of long text files.
fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn head(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let keep: Vec<&[u8]> = bytes.split(|&c| c == b'\n').take(SEED_LINES).collect();
    let mut out = keep.join(&b'\n');
    if keep.len() == SEED_LINES {
        out.push(b'\n');
    }
    out
}

/// The first lines of `path`, copied into `into`.
fn head_copy(into: &tempfile::TempDir, path: &Path) -> PathBuf {
    let copy = into.path().join(path.file_name().unwrap());
    std::fs::write(&copy, head(path)).unwrap();
    copy
}

/// A seed of one file: its folder holds just it (a copy of its first lines).
fn single(path: &Path) -> Seed {
    Seed {
        folder: path.parent().unwrap().to_path_buf(),
        file: PathBuf::from(path.file_name().unwrap()),
        read_folder: false,
    }
}

fn is_syntax_checked(file: &Path) -> bool {
    file.extension()
        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
}

/// Runs [`cases`] mutated inputs of `seeds` through `read` and fails on any broken property.
fn fuzz(name: &str, seeds: &[Seed], read: Read) {
    assert!(!seeds.is_empty(), "{name}: no seeds");
    let work = tempfile::tempdir().unwrap();
    // One copy of each seed's folder; each case rewrites only the mutated file.
    let copies: Vec<(PathBuf, Vec<u8>)> = seeds
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let dir = work.path().join(format!("s{i}"));
            if s.read_folder {
                copy_folder(&s.folder, &dir);
            } else {
                std::fs::create_dir_all(&dir).unwrap();
                // Siblings the file refers to by relative path come along (scenarios).
                for e in std::fs::read_dir(&s.folder).unwrap().flatten() {
                    if e.file_type().unwrap().is_file() && e.metadata().unwrap().len() < 4 << 20 {
                        std::fs::write(dir.join(e.file_name()), head(&e.path())).unwrap();
                    }
                }
                // Scenarios refer to `../profiles/...`.
                if s.folder.ends_with("scenarios") {
                    copy_folder(&s.folder.join("../profiles"), &work.path().join("profiles"));
                }
            }
            let original = std::fs::read(dir.join(&s.file)).unwrap();
            (dir, original)
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(base_seed() ^ fxhash(name));
    let n = cases();
    let mut failures = Vec::new();
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    quiet_panics_while_fuzzing();
    for case in 0..n {
        let k = rng.random_range(0..seeds.len());
        let (dir, original) = &copies[k];
        let file = dir.join(&seeds[k].file);
        let mutated = mutate(original, &mut rng);
        std::fs::write(&file, &mutated).unwrap();
        let target = if seeds[k].read_folder {
            dir.clone()
        } else {
            file.clone()
        };
        let t = Instant::now();
        FUZZING.with(|f| f.set(true));
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| read(&target)));
        FUZZING.with(|f| f.set(false));
        let took = t.elapsed();
        slowest = slowest.max(took);
        let problem = match outcome {
            Err(panic) => Some(format!(
                "panicked: {}",
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
            Ok(_) if took > MAX_CASE_TIME => Some(format!("took {took:?}")),
            Ok(Ok(())) => None,
            Ok(Err(message)) => check_message(&message, &file, &target, &mutated),
        };
        if let Some(problem) = problem {
            let keep = common::root().join("target/fuzz-failures").join(name);
            std::fs::create_dir_all(&keep).unwrap();
            let saved = keep.join(format!(
                "case{case}-{}",
                seeds[k].file.file_name().unwrap().to_string_lossy()
            ));
            std::fs::write(&saved, &mutated).unwrap();
            failures.push(format!("{}: {problem}", saved.display()));
        }
        std::fs::write(&file, original).unwrap();
    }
    eprintln!(
        "fuzz {name}: {n} cases in {:.1} s, slowest {:.1} ms, {} failures",
        started.elapsed().as_secs_f64(),
        slowest.as_secs_f64() * 1e3,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{name}: {} of {n} cases failed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The error must be one line, name the file (or the folder read), and for a YAML/JSON
/// document that no longer parses, carry a line number.
fn check_message(message: &str, file: &Path, target: &Path, mutated: &[u8]) -> Option<String> {
    let shown: String = message.chars().take(300).collect();
    if message.len() > 4096 {
        return Some(format!("message of {} bytes: {shown}", message.len()));
    }
    if message.trim().is_empty() {
        return Some("empty message".into());
    }
    // The mutated file, the folder read, or a file the mutated one refers to or is referred
    // from (an unknown accelerator is reported at the profile that names it).
    let file_name = file.file_name().unwrap().to_string_lossy();
    let folder_name = target.file_name().unwrap().to_string_lossy();
    let work = target.parent().unwrap().to_string_lossy();
    if !(message.contains(&*file_name)
        || message.contains(&*folder_name)
        || message.contains(&*work))
    {
        return Some(format!("does not name {file_name}: {shown}"));
    }
    if is_syntax_checked(file) {
        let text = String::from_utf8_lossy(mutated);
        // A syntax error (not a type, range or duplicate-key one) where the parser knows where.
        let parses = if file.extension().is_some_and(|e| e == "json") {
            serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|e| e.is_syntax() || e.is_eof())
                .is_ok_or_not_syntax()
        } else {
            serde_yaml::from_str::<serde_yaml::Value>(&text)
                .map_err(|e| {
                    let m = e.to_string();
                    m.contains("while parsing")
                        || m.contains("while scanning")
                        || m.contains("did not find expected")
                })
                .is_ok_or_not_syntax()
        };
        let has_line = message.contains(&format!("{file_name}:"))
            && message
                .split(&format!("{file_name}:"))
                .skip(1)
                .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
            || message.contains(" line ");
        let not_text = message.contains("not UTF-8")
            || message.contains("not a text file")
            || message.contains("file is empty")
            || message.contains("empty file")
            || message.contains("nested deeper");
        if !parses && !has_line && !not_text && std::str::from_utf8(mutated).is_ok() {
            return Some(format!("a syntax error without a line: {shown}"));
        }
    }
    None
}

thread_local! {
    /// Set while this thread reads a mutated input: its panics are findings, reported with the
    /// input, not printed as they happen.
    static FUZZING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs (once) a panic hook that stays quiet for panics caught while fuzzing and prints
/// every other one as usual (tests run in parallel threads: the hook is global).
fn quiet_panics_while_fuzzing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !FUZZING.with(std::cell::Cell::get) {
                default(info);
            }
        }));
    });
}

/// `Ok`, or an error that is not a syntax error (`Err(false)`).
trait SyntaxResult {
    fn is_ok_or_not_syntax(&self) -> bool;
}

impl<T> SyntaxResult for Result<T, bool> {
    fn is_ok_or_not_syntax(&self) -> bool {
        !matches!(self, Err(true))
    }
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn err_string<E: std::fmt::Display>(e: E) -> String {
    format!("{e:#}")
}

// ---- the readers --------------------------------------------------------------------------

#[test]
fn scenarios() {
    let root = common::root();
    let seeds: Vec<Seed> = [
        "quickstart",
        "gpu-shortage",
        "percentile-slos",
        "azure-chat-and-code",
    ]
    .iter()
    .map(|n| single(&root.join(format!("scenarios/{n}.yaml"))))
    .collect();
    fuzz("scenario", &seeds, |p| {
        wva::spec::load_scenario(p).map(drop).map_err(err_string)
    });
}

#[test]
fn profiles_and_catalogs() {
    let root = common::root();
    let profiles: Vec<Seed> = [
        "llama-3.1-8b-instruct",
        "qwen2.5-14b-instruct",
        "wva-v04-chart",
    ]
    .iter()
    .map(|n| single(&root.join(format!("profiles/{n}.yaml"))))
    .collect();
    fuzz("profiles", &profiles, |p| {
        wva::spec::load_profiles(p).map(drop).map_err(err_string)
    });
    fuzz(
        "accelerators",
        &[single(&root.join("profiles/accelerators.yaml"))],
        |p| {
            wva::spec::load_accelerators(p)
                .map(drop)
                .map_err(err_string)
        },
    );
}

#[test]
fn inferno_folders() {
    let Some(base) = common::shared("reference/wva/inferno-sample-data") else {
        return;
    };
    let mut seeds = Vec::new();
    for folder in ["small-2026-03", "small-2025-09-legacy-decode-prefill"] {
        for file in [
            "accelerator-data.json",
            "capacity-data.json",
            "model-data.json",
            "serviceclass-data.json",
            "server-data.json",
            "optimizer-data.json",
        ] {
            seeds.push(Seed {
                folder: base.join(folder),
                file: PathBuf::from(file),
                read_folder: true,
            });
        }
    }
    fuzz("inferno", &seeds, |p| {
        wva::spec::inferno::load_inferno(p)
            .map(drop)
            .map_err(err_string)
    });
}

#[test]
fn cluster_dumps() {
    let root = common::root();
    let mut seeds = vec![single(&root.join("tests/fixtures/cluster/dump.yaml"))];
    if let Some(reference) = common::shared("reference/wva/wva-incubation-2025-10") {
        for f in [
            "configmap-accelerator-unitcost.yaml",
            "configmap-serviceclass.yaml",
            "helm-template-va-L40S-H100-A100-perfparms.yaml",
        ] {
            seeds.push(Seed {
                folder: reference.clone(),
                file: PathBuf::from(f),
                read_folder: true,
            });
        }
    }
    fuzz("cluster", &seeds, |p| {
        let defaults = DefaultLoad {
            rate_rps: Some(1.0),
            prompt_tokens: Some(500.0),
            output_tokens: Some(200.0),
        };
        let paths = [p.to_path_buf()];
        load_cluster(ClusterInput::Files(&paths), None, &defaults, &[])
            .map(drop)
            .map_err(err_string)
    });
}

/// Every trace format, read as the commands read them (with and without `--skip-bad-rows`).
#[test]
fn traces() {
    let root = common::root();
    let heads = tempfile::tempdir().unwrap();
    let mut seeds: Vec<(Seed, Option<Format>)> = vec![
        (single(&root.join("traces/azure-conv-like-10min.csv")), None),
        (
            single(&root.join("traces/mooncake-conversation-like-10min.csv")),
            Some(Format::Canonical),
        ),
        (
            single(&root.join("tests/fixtures/traces/burstgpt-sample.csv")),
            Some(Format::Burstgpt),
        ),
        (
            single(&root.join("tests/fixtures/traces/vidur-sample.csv")),
            Some(Format::Vidur),
        ),
        (single(&root.join("tests/fixtures/traces/bom.jsonl")), None),
    ];
    for (relative, format) in [
        (
            "data/azure_llm_2023/AzureLLMInferenceTrace_conv.csv",
            Format::Azure,
        ),
        ("data/mooncake/synthetic_trace.jsonl", Format::Mooncake),
        (
            "data/llm_d_benchmark/A100x2_TP2_llama3.1-70b_vllm_1replica/LMBench_sharegpt_output_0.5.csv",
            Format::Lmbench,
        ),
        (
            "data/llmservingsim/workloads/sharegpt-llama-3.1-8b-300-sps10.jsonl",
            Format::Llmservingsim,
        ),
    ] {
        if let Some(path) = common::shared(relative) {
            // Long files: a copy of their first lines, in a folder removed at the end.
            seeds.push((single(&head_copy(&heads, &path)), Some(format)));
        }
    }
    // One fuzz run per format (the format is part of the reader).
    for (i, (seed, format)) in seeds.into_iter().enumerate() {
        let read: Read = match format {
            None => |p| read_trace(p, None),
            Some(Format::Canonical) => |p| read_trace(p, Some(Format::Canonical)),
            Some(Format::Azure) => |p| read_trace(p, Some(Format::Azure)),
            Some(Format::Mooncake) => |p| read_trace(p, Some(Format::Mooncake)),
            Some(Format::Burstgpt) => |p| read_trace(p, Some(Format::Burstgpt)),
            Some(Format::Lmbench) => |p| read_trace(p, Some(Format::Lmbench)),
            Some(Format::Vidur) => |p| read_trace(p, Some(Format::Vidur)),
            Some(Format::Llmservingsim) => |p| read_trace(p, Some(Format::Llmservingsim)),
        };
        fuzz(&format!("trace{i}"), &[seed], read);
    }
}

fn read_trace(path: &Path, format: Option<Format>) -> Result<(), String> {
    for skip in [false, true] {
        let records =
            wva::trace::read_all(path, format, &Transforms::default(), skip).map_err(err_string)?;
        for r in &records {
            if !r.arrival_s.is_finite() {
                return Err(format!(
                    "{}: a non-finite arrival was accepted",
                    path.display()
                ));
            }
        }
        let mut stats = wva::trace::stats::StatsBuilder::new();
        for r in &records {
            stats.add(r);
        }
        let _ = stats.finish();
    }
    Ok(())
}

/// Every benchmark format `wva estimate` reads.
#[test]
fn estimate_inputs() {
    let root = common::root();
    let fixtures = root.join("tests/fixtures/estimate");
    let heads = tempfile::tempdir().unwrap();
    let mut seeds: Vec<(Seed, Option<SourceFormat>)> = vec![
        (
            single(&fixtures.join("generic.csv")),
            Some(SourceFormat::Csv),
        ),
        (single(&fixtures.join("vllm-bench-2rps.json")), None),
        (single(&fixtures.join("guidellm.json")), None),
        (
            single(&fixtures.join("sweep.csv")),
            Some(SourceFormat::Sweep),
        ),
        (
            single(&root.join("examples/observed/observations.csv")),
            Some(SourceFormat::Prometheus),
        ),
    ];
    for (relative, format) in [
        (
            "data/llm_d_benchmark/A100x2_TP2_llama3.1-70b_vllm_1replica/LMBench_sharegpt_output_0.5.csv",
            SourceFormat::Lmbench,
        ),
        ("data/splitwise_sim/perf_model.csv", SourceFormat::Splitwise),
        (
            "data/argonne_llm_inference_bench/All_results.csv",
            SourceFormat::Argonne,
        ),
    ] {
        if let Some(path) = common::shared(relative) {
            // Long files: a copy of their first lines, in a folder removed at the end.
            seeds.push((single(&head_copy(&heads, &path)), Some(format)));
        }
    }
    if let Some(tables) =
        common::shared("data/llmservingsim/profiler/perf/RTX4090/meta-llama/Llama-3.1-8B/bf16/tp1")
    {
        for file in ["dense.csv", "per_sequence.csv", "attention.csv"] {
            seeds.push((
                Seed {
                    folder: tables.clone(),
                    file: PathBuf::from(file),
                    read_folder: true,
                },
                Some(SourceFormat::LlmservingsimProfile),
            ));
        }
    }
    for (i, (seed, format)) in seeds.into_iter().enumerate() {
        let read: Read = match format {
            None => |p| read_estimate(p, None),
            Some(SourceFormat::Csv) => |p| read_estimate(p, Some(SourceFormat::Csv)),
            Some(SourceFormat::Sweep) => |p| read_estimate(p, Some(SourceFormat::Sweep)),
            Some(SourceFormat::Prometheus) => |p| read_estimate(p, Some(SourceFormat::Prometheus)),
            Some(SourceFormat::Lmbench) => |p| read_estimate(p, Some(SourceFormat::Lmbench)),
            Some(SourceFormat::Splitwise) => |p| read_estimate(p, Some(SourceFormat::Splitwise)),
            Some(SourceFormat::Argonne) => |p| read_estimate(p, Some(SourceFormat::Argonne)),
            Some(SourceFormat::LlmservingsimProfile) => {
                |p| read_estimate(p, Some(SourceFormat::LlmservingsimProfile))
            }
            Some(f) => panic!("no seed for {f:?}"),
        };
        fuzz(&format!("estimate{i}"), &[seed], read);
    }
}

fn read_estimate(path: &Path, format: Option<SourceFormat>) -> Result<(), String> {
    let filters = Filters {
        max_num_batched_tokens: 8192,
        ..Filters::default()
    };
    if matches!(format, Some(SourceFormat::Sweep | SourceFormat::Prometheus)) {
        // The rows calibration reruns, as well as the direct observations.
        wva::estimate::load_tests::evidence(&[path.to_path_buf()], format, &filters)
            .map_err(|e| e.to_string())?;
    }
    let readings = wva::estimate::read::read_all(&[path.to_path_buf()], format, &filters)
        .map_err(|e| e.to_string())?;
    for o in &readings.observations {
        if !format!("{o:?}").is_ascii() {
            return Err(format!("{}: odd observation", path.display()));
        }
    }
    Ok(())
}

/// Model and cluster configs of `tables` profiles, and the profiler tables themselves.
#[test]
fn tables_inputs() {
    let (Some(model), Some(tables)) = (
        common::shared("data/llmservingsim/configs/model/meta-llama/Llama-3.1-8B.json"),
        common::shared("data/llmservingsim/profiler/perf/RTX4090/meta-llama/Llama-3.1-8B/bf16/tp1"),
    ) else {
        return;
    };
    fuzz("model-config", &[single(&model)], |p| {
        wva::spec::tables::read_model_config(p)
            .map(drop)
            .map_err(err_string)
    });
    let seeds: Vec<Seed> = ["dense.csv", "per_sequence.csv"]
        .iter()
        .map(|f| Seed {
            folder: tables.clone(),
            file: PathBuf::from(f),
            read_folder: true,
        })
        .collect();
    fuzz("profiler-tables", &seeds, |p| {
        wva::spec::tables::read_profiler_tables(p, 1)
            .map(drop)
            .map_err(err_string)
    });
}

/// Plan files (`wva plan -o json`), as `simulate --plan` and `apply --plan` read them.
#[test]
fn plan_files() {
    let root = common::root();
    let scenario = wva::spec::load_scenario(&root.join("scenarios/quickstart.yaml")).unwrap();
    let plan = wva::optimize::plan(&scenario, &wva::optimize::PlanOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    std::fs::write(&path, wva::report::to_json(&plan)).unwrap();
    fuzz("plan-file", &[single(&path)], |p| {
        wva::usecase::plan_file::read(p)
            .map(drop)
            .map_err(err_string)
    });
}
