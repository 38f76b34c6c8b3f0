//! Benchmark outputs into observations: which format a file is (detected from its name,
//! header or JSON keys, or given), which rows to keep (model, hardware, tensor-parallel
//! degree, framework), and one reader per format.

mod generic;
pub(crate) mod json;
mod lmbench;
mod profiler;
mod tables;

use super::Observation;
use crate::error::{Field, request_error};
use crate::estimate::EstimateError;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub use generic::ColumnMap;

/// Most sequences a profile may batch (the profile loader's bound).
pub const MAX_BATCH: u32 = crate::limits::MAX_BATCH;

/// The benchmark formats `wva estimate` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    /// llm-d-benchmark / LMBench per-request CSV, one file per request rate.
    Lmbench,
    /// Splitwise `perf_model.csv`: per-configuration prefill and decode iteration times.
    Splitwise,
    /// LLMServingSim profiler tables (`attention.csv`, `dense.csv`, `per_sequence.csv` of one
    /// model, GPU and TP degree): a folder.
    LlmservingsimProfile,
    /// Argonne LLM-Inference-Bench `All_results.csv`: whole static batches.
    Argonne,
    /// vLLM `benchmark_serving.py --save-result` JSON.
    VllmBench,
    /// GuideLLM JSON report.
    Guidellm,
    /// Any CSV of per-iteration times, columns named or mapped with --columns.
    Csv,
    /// A summary of a load sweep: one row per run (concurrency or rate, token lengths, TTFT,
    /// TPOT), columns named or mapped with --columns.
    Sweep,
    /// Per-step observations of a variant in production (`wva observe --observations-out`):
    /// grouped into load levels and calibrated as rates over the variant's replicas.
    Prometheus,
}

impl SourceFormat {
    /// Recognises a file's format from its name and first bytes.
    pub fn detect(path: &Path) -> Result<SourceFormat, EstimateError> {
        if path.is_dir() {
            return Ok(SourceFormat::LlmservingsimProfile);
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if ["attention.csv", "dense.csv", "per_sequence.csv"].contains(&name.as_str()) {
            return Ok(SourceFormat::LlmservingsimProfile);
        }
        let head = read_head(path)?;
        let text = head.trim_start_matches('\u{feff}').trim_start();
        if text.starts_with(['{', '[']) || name.ends_with(".json") {
            // Detailed results put long per-request lists first: look at the whole document
            // (a broken one is a syntax error with its line, not a CSV without columns).
            let whole = crate::limits::read_document_text(path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let keys: Vec<String> = match json::parse::<serde_json::Value>(path, &whole)? {
                serde_json::Value::Object(map) => map.keys().cloned().collect(),
                serde_json::Value::Array(_) => {
                    return Err(request_error!(
                        format!(
                            "{}: a JSON list is not a benchmark format wva reads (vLLM results and GuideLLM reports are objects); give ",
                            path.display()
                        ),
                        Field("format")
                    )
                    .into());
                }
                _ => Vec::new(),
            };
            let has = |k: &str| keys.iter().any(|x| x == k);
            return if has("benchmarks") {
                Ok(SourceFormat::Guidellm)
            } else if has("mean_tpot_ms") || has("completed") {
                Ok(SourceFormat::VllmBench)
            } else {
                Err(request_error!(
                    format!(
                        "{}: a JSON file that is neither a vLLM benchmark result nor a GuideLLM report; give ",
                        path.display()
                    ),
                    Field("format")
                )
                .into())
            };
        }
        // The header is the first line that is not a `#` comment (sweep tables may open with
        // some).
        let header = text
            .lines()
            .find(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let columns: Vec<String> = header
            .split(',')
            .map(|h| h.trim().trim_matches('"').to_string())
            .collect();
        let has = |c: &str| columns.iter().any(|h| h == c);
        Ok(if has("launch_time") && has("generation_tokens") {
            SourceFormat::Lmbench
        } else if has("prompt_size") && has("token_time") {
            SourceFormat::Splitwise
        } else if has("hardware") && has("num of hardware") && has("latency") {
            SourceFormat::Argonne
        } else if crate::estimate::prometheus::looks_like_observations(&columns) {
            SourceFormat::Prometheus
        } else if crate::estimate::sweep::looks_like_sweep(&columns) {
            SourceFormat::Sweep
        } else {
            SourceFormat::Csv
        })
    }
}

/// Which rows of a multi-configuration file to keep.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filters {
    /// Model name (case-insensitive; a unique substring is enough).
    pub model: Option<String>,
    /// Hardware name (case-insensitive; a unique substring is enough).
    pub hardware: Option<String>,
    /// Tensor-parallel degree (GPUs per replica).
    pub tp: Option<u32>,
    /// Serving framework (Argonne: vLLM, TensorRT-LLM, ...).
    pub framework: Option<String>,
    /// LLMServingSim profiles: decoder layers of the real model (the profiler measures one).
    pub num_layers: Option<u32>,
    /// Token budget per iteration, for prefills that span several iterations.
    pub max_num_batched_tokens: u32,
    /// Generic CSV: where each quantity is.
    pub columns: ColumnMap,
    /// Per-request logs: replicas the requests were spread over (0 or 1: one).
    pub replicas: u32,
}

fn read_head(path: &Path) -> Result<String, EstimateError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buf = vec![0u8; 4096];
    let n = file
        .read(&mut buf)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    buf.truncate(n);
    if n == 0 {
        return Err(format!("{}: empty file", path.display()).into());
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// A CSV reader with its header lowercased, and a lookup of required columns that names the
/// missing one.
pub(crate) struct Csv {
    pub reader: csv::Reader<crate::limits::LineCapped<std::fs::File>>,
    pub header: Vec<String>,
    pub path: String,
}

impl Csv {
    pub fn open(path: &Path) -> Result<Csv, EstimateError> {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(true)
            .from_reader(crate::limits::LineCapped::new(file));
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| format!("{}:1: unreadable header: {e}", path.display()))?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect();
        if header.iter().all(|h| h.is_empty()) {
            return Err(format!("{}: empty file", path.display()).into());
        }
        Ok(Csv {
            reader,
            header,
            path: path.display().to_string(),
        })
    }

    /// The index of column `name` (lowercase).
    pub fn column(&self, name: &str) -> Result<usize, EstimateError> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            EstimateError::from(format!(
                "{}: missing column `{name}`; the header has: {}",
                self.path,
                crate::limits::list(&self.header)
            ))
        })
    }

    /// Every row, with its line number.
    pub fn rows(
        &mut self,
    ) -> impl Iterator<Item = Result<(u64, csv::StringRecord), EstimateError>> + '_ {
        let path = self.path.clone();
        self.reader.records().map(move |r| {
            r.map(|rec| (rec.position().map_or(0, |p| p.line()), rec))
                .map_err(|e| EstimateError::from(format!("{path}: unreadable row: {e}")))
        })
    }
}

/// A cell as a finite number, or an error naming file, line, column number and column name.
pub(crate) fn cell(
    path: &str,
    line: u64,
    header: &[String],
    row: &csv::StringRecord,
    i: usize,
) -> Result<f64, EstimateError> {
    let text = row.get(i).unwrap_or("");
    crate::spec::numbers::parse_finite(text)
        .map_err(|m| EstimateError::from(format!("{path}:{line}:{}: {}: {m}", i + 1, header[i])))
}

/// Keeps the rows whose `key` matches `wanted` (case-insensitive: exact, else a unique
/// substring; a number only the same number); an error lists the values there are.
pub(crate) fn pick<'a>(
    what: &str,
    field: Field,
    values: impl IntoIterator<Item = &'a str>,
    wanted: Option<&str>,
) -> Result<Option<String>, EstimateError> {
    let mut all: Vec<&str> = values.into_iter().collect();
    all.sort_unstable();
    all.dedup();
    let Some(wanted) = wanted else {
        return match all.as_slice() {
            [] => Err("no data rows".into()),
            [one] => Ok(Some(one.to_string())),
            _ => Err(request_error!(
                format!("several {what}s in the data; choose one with "),
                field,
                format!(": {}", crate::limits::list(&all))
            )
            .into()),
        };
    };
    if all.is_empty() {
        return Err("no data rows".into());
    }
    let w = wanted.to_ascii_lowercase();
    if let Some(exact) = all.iter().find(|v| v.to_ascii_lowercase() == w) {
        return Ok(Some(exact.to_string()));
    }
    // A number matches only the same number (`--tp 1` is not 16).
    if let Ok(n) = wanted.trim().parse::<f64>() {
        return all
            .iter()
            .find(|v| v.trim().parse::<f64>() == Ok(n))
            .map(|v| Some(v.to_string()))
            .ok_or_else(|| {
                request_error!(
                    format!("no {what} matches "),
                    field,
                    format!(" {wanted}; there are: {}", crate::limits::list(&all))
                )
                .into()
            });
    }
    let matches: Vec<&&str> = all
        .iter()
        .filter(|v| v.to_ascii_lowercase().contains(&w))
        .collect();
    match matches.as_slice() {
        [one] => Ok(Some(one.to_string())),
        [] => Err(request_error!(
            format!("no {what} matches "),
            field,
            format!(" {wanted}; there are: {}", crate::limits::list(&all))
        )
        .into()),
        _ => Err(request_error!(
            field,
            format!(
                " {wanted} matches several {what}s: {}",
                crate::limits::list(&matches.iter().map(|s| **s).collect::<Vec<_>>())
            )
        )
        .into()),
    }
}

/// Longest time an observation may have, ms (eleven days): beyond it a number is a unit
/// mistake, and its square would underflow the fit's weights.
const MAX_TIME_MS: f64 = 1e9;

/// Reads the observations of every file (file `i` tagged `i`). Every observation has a
/// positive, finite time and finite work.
pub fn read_observations(
    paths: &[std::path::PathBuf],
    format: Option<SourceFormat>,
    filters: &Filters,
) -> Result<Vec<Observation>, EstimateError> {
    read_all(paths, format, filters).map(|r| r.observations)
}

/// What [`read_all`] read.
#[derive(Clone, Debug, Default)]
pub struct Readings {
    /// Every observation.
    pub observations: Vec<Observation>,
    /// What was left out, and why.
    pub notes: Vec<String>,
    /// The format of each file.
    pub formats: Vec<SourceFormat>,
    /// The model the files name (vLLM bench results' `model_id`), when they agree on one.
    pub model: Option<String>,
}

/// [`read_observations`], with the formats found and notes on what was left out.
pub fn read_all(
    paths: &[std::path::PathBuf],
    format: Option<SourceFormat>,
    filters: &Filters,
) -> Result<Readings, EstimateError> {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let mut formats = Vec::new();
    let mut models: Vec<String> = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let f = match format {
            Some(f) => f,
            None => SourceFormat::detect(path)?,
        };
        formats.push(f);
        let mut obs = match f {
            SourceFormat::Lmbench => {
                let (obs, dropped) = lmbench::read(path, filters.replicas.max(1))?;
                if dropped > 0 {
                    notes.push(format!(
                        "{}: left out {dropped} request(s) without a decode span (failed, one output token, or no time between first and last token)",
                        path.display()
                    ));
                }
                obs
            }
            SourceFormat::Splitwise => tables::splitwise(path, filters)?,
            SourceFormat::Argonne => tables::argonne(path, filters)?,
            SourceFormat::LlmservingsimProfile => profiler::read(path, filters)?,
            SourceFormat::VllmBench => {
                if let Some(m) = json::load(path)?["model_id"].as_str() {
                    models.push(m.to_string());
                }
                crate::estimate::sweep::direct_observations(&[crate::estimate::sweep::vllm_bench(
                    path, i,
                )?])?
            }
            SourceFormat::Guidellm => crate::estimate::sweep::direct_observations(
                &crate::estimate::sweep::guidellm(path, i)?,
            )?,
            SourceFormat::Csv => generic::read(path, &filters.columns)?,
            SourceFormat::Sweep => {
                let rows = crate::estimate::sweep::read_csv(path, &filters.columns, i)?;
                crate::estimate::sweep::direct_observations(&rows)?
            }
            SourceFormat::Prometheus => {
                let rows = crate::estimate::prometheus::read(path, filters, i)?;
                crate::estimate::sweep::direct_observations(&rows)?
            }
        };
        if obs.is_empty() {
            return Err(format!("{}: no observations", path.display()).into());
        }
        if f == SourceFormat::LlmservingsimProfile {
            let tp_of_path = path
                .file_name()
                .and_then(|n| n.to_str()?.strip_prefix("tp")?.parse::<u32>().ok());
            if filters.tp.or(tp_of_path).is_some_and(|t| t > 1) {
                notes.push(format!(
                    "{}: the profiler's TP > 1 tables time one rank's sharded layers without the all-reduce between ranks; the fit leaves that communication out",
                    path.display()
                ));
            }
        }
        for o in &mut obs {
            o.file = i;
            if !(o.time_ms.is_finite() && o.time_ms > 0.0 && o.time_ms <= MAX_TIME_MS) {
                return Err(format!(
                    "{}: the measured time must be a positive number of ms up to {MAX_TIME_MS:e}, got {}",
                    o.origin, o.time_ms
                ).into());
            }
            let w = &o.work;
            let work = [
                w.iterations,
                w.prefill_iterations,
                w.tokens,
                w.prefill_tokens,
                w.kv_tokens,
                w.running,
            ];
            if work
                .iter()
                .any(|x| !(x.is_finite() && *x >= 0.0 && *x < 1e15))
            {
                return Err(format!(
                    "{}: sizes out of range (batch, tokens and counts must be finite, non-negative and below 1e15)",
                    o.origin
                ).into());
            }
        }
        out.extend(obs);
    }
    // One model named by every file that names one; otherwise none (the flag decides).
    models.dedup();
    let model = match models.as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    };
    Ok(Readings {
        observations: out,
        notes,
        formats,
        model,
    })
}

/// Every folder of per-request logs (LMBench CSVs) replaced by its CSV files, in name order;
/// other paths (files, a profiler folder) as they are.
pub fn expand_folders(
    paths: &[PathBuf],
    format: Option<SourceFormat>,
) -> Result<Vec<PathBuf>, EstimateError> {
    let mut out = Vec::new();
    for p in paths {
        let profiler = ["attention.csv", "dense.csv"]
            .iter()
            .any(|f| p.join(f).exists());
        if !p.is_dir() || profiler || format == Some(SourceFormat::LlmservingsimProfile) {
            out.push(p.clone());
            continue;
        }
        let mut csvs: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| format!("{}: {e}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| f.is_file() && f.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")))
            .collect();
        csvs.sort();
        if csvs.is_empty() {
            return Err(format!(
                "{}: a folder without benchmark CSV files (nor a profiler's attention.csv)",
                p.display()
            )
            .into());
        }
        out.extend(csvs);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::Kind;
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn formats_are_detected_from_headers_and_keys() {
        let d = tempfile::tempdir().unwrap();
        let cases = [
            (
                "a.csv",
                "prompt_tokens,generation_tokens,ttft,generation_time,launch_time,finish_time\n",
                SourceFormat::Lmbench,
            ),
            (
                "b.csv",
                "model,hardware,prompt_size,batch_size,token_size,prompt_time,token_time\n",
                SourceFormat::Splitwise,
            ),
            (
                "c.csv",
                "Hardware,Num of Hardware,Framework,Model,Input Output Length,Batch Size,Latency,Throughput\n",
                SourceFormat::Argonne,
            ),
            ("d.json", "{\"benchmarks\": []}", SourceFormat::Guidellm),
            ("e.json", "{\"mean_tpot_ms\": 1}", SourceFormat::VllmBench),
            ("f.csv", "batch,time_ms\n", SourceFormat::Csv),
            (
                "dense.csv",
                "layer,tokens,time_us\n",
                SourceFormat::LlmservingsimProfile,
            ),
        ];
        for (name, text, want) in cases {
            assert_eq!(
                SourceFormat::detect(&write(&d, name, text)).ok(),
                Some(want),
                "{name}"
            );
        }
        assert!(
            SourceFormat::detect(&write(&d, "g.json", "{\"x\": 1}"))
                .unwrap_err()
                .to_string()
                .contains("give `format`")
        );
    }

    #[test]
    fn per_request_logs_give_each_request_the_concurrency_it_saw() {
        // Request A decodes 10 tokens over 1 s; B overlaps its second half (prefill of 50
        // tokens at A's 0.5 s) and decodes 10 tokens over 1 s.
        let d = tempfile::tempdir().unwrap();
        let p = write(
            &d,
            "log.csv",
            "prompt_tokens,generation_tokens,ttft,generation_time,launch_time,finish_time\n\
             100,11,0.0,1.0,0.0,1.0\n\
             50,11,0.0,1.0,0.5,1.5\n",
        );
        let (one, dropped) = lmbench::read(&p, 1).unwrap();
        assert_eq!(dropped, 0);
        assert_eq!(one.len(), 2);
        let a = &one[0];
        assert_eq!(a.kind, Kind::DecodeSpan);
        assert_eq!((a.time_ms, a.per_unit), (1000.0, 10.0));
        assert!((a.work.iterations - 10.0).abs() < 1e-12);
        // Its own 10 tokens, B's first 5 and B's 50-token prefill.
        assert!((a.work.tokens - 65.0).abs() < 1e-9, "{:?}", a.work);
        assert!((a.work.prefill_tokens - 50.0).abs() < 1e-12);
        assert!((a.batch - 1.6).abs() < 1e-9, "{}", a.batch);
        // Over two replicas, B shares A's replica half the time.
        let (two, _) = lmbench::read(&p, 2).unwrap();
        assert!(
            (two[0].work.tokens - 37.5).abs() < 1e-9,
            "{:?}",
            two[0].work
        );
    }

    #[test]
    fn a_static_batch_is_its_prefill_and_every_decode_step() {
        // 2 requests of 4 prompt and 3 output tokens: one prefill of 8 tokens, then 2 decode
        // steps reading 4 + 1 and 4 + 2 tokens of context per request.
        let w = tables::static_batch(2.0, 4.0, 3.0, 8192.0);
        assert_eq!((w.iterations, w.prefill_iterations), (3.0, 1.0));
        assert_eq!((w.tokens, w.prefill_tokens), (12.0, 8.0));
        assert_eq!(w.kv_tokens, 8.0 + 2.0 * (5.0 + 6.0));
        // A budget of 3 tokens splits the 8-token prefill over 3 iterations.
        assert_eq!(
            tables::static_batch(2.0, 4.0, 3.0, 3.0).prefill_iterations,
            3.0
        );
    }
}
