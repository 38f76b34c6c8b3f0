//! Streaming readers: one record at a time from CSV (columns found by name in the header, so
//! extra columns and any order are fine) or JSON lines, in constant memory.

use super::format::Format;
use super::time::parse_datetime;
use super::{TraceError, TraceRecord};
use crate::spec::numbers::parse_finite as number;
use serde::Deserialize;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

const BUFFER_BYTES: usize = 1 << 16;

/// Longest line read (Mooncake's longest JSON lines are a few kB).
const MAX_LINE_BYTES: u64 = crate::limits::MAX_LINE_BYTES;

/// Where each field of a CSV format is.
#[derive(Clone, Copy, Debug, Default)]
struct Columns {
    arrival: usize,
    prompt: usize,
    output: usize,
    model: Option<usize>,
    ttft: Option<usize>,
    generation: Option<usize>,
}

enum Source {
    Csv {
        reader: csv::Reader<crate::limits::LineCapped<File>>,
        record: csv::ByteRecord,
        columns: Columns,
        names: Vec<String>,
    },
    Jsonl {
        lines: BufReader<File>,
        buffer: String,
        line: u64,
    },
}

/// Reads one trace file.
pub struct Reader {
    file: PathBuf,
    format: Format,
    source: Source,
    skip_bad_rows: bool,
    keep_failed: bool,
    skipped: u64,
    failed: u64,
    /// The first record's arrival, s (later ones must be within
    /// [`super::transform::MAX_ARRIVAL_S`] of it).
    origin_s: Option<f64>,
}

/// A JSON line of Mooncake or LLMServingSim (unknown keys, such as `hash_ids` or
/// `input_tok_ids`, are skipped without being kept).
#[derive(Deserialize)]
struct JsonRecord {
    // Mooncake.
    timestamp: Option<f64>,
    input_length: Option<f64>,
    output_length: Option<f64>,
    // LLMServingSim.
    input_toks: Option<f64>,
    output_toks: Option<f64>,
    arrival_time_ns: Option<f64>,
    arrival_time: Option<f64>,
    queued_ts: Option<f64>,
    first_token_ts: Option<f64>,
    last_token_ts: Option<f64>,
    // Either.
    model: Option<String>,
}

fn first_line(path: &Path) -> Result<String, TraceError> {
    let io = |cause| TraceError::Io {
        file: path.to_path_buf(),
        cause,
    };
    let file = File::open(path).map_err(io)?;
    let mut reader = BufReader::new(file).take(1 << 20);
    let mut line = Vec::new();
    // The first line with something on it.
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(io)? == 0 {
            break;
        }
        if !String::from_utf8_lossy(&line)
            .trim()
            .trim_start_matches('\u{feff}')
            .is_empty()
        {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn column_index(names: &[String], wanted: &[&str]) -> Option<usize> {
    names.iter().position(|n| wanted.contains(&n.as_str()))
}

impl Reader {
    /// Opens `path`, detecting the format from the first line unless `format` is given.
    pub fn open(
        path: &Path,
        format: Option<Format>,
        skip_bad_rows: bool,
    ) -> Result<Reader, TraceError> {
        let head = first_line(path)?;
        let format = match format.or_else(|| Format::detect(&head)) {
            Some(f) => f,
            None => {
                let shown: String = head.trim().chars().take(80).collect();
                return Err(TraceError::UnknownFormat {
                    file: path.to_path_buf(),
                    first_line: if shown.is_empty() {
                        "empty".into()
                    } else {
                        format!("`{shown}`")
                    },
                });
            }
        };
        let io = |cause| TraceError::Io {
            file: path.to_path_buf(),
            cause,
        };
        let file = File::open(path).map_err(io)?;
        let source = if format.is_jsonl() {
            Source::Jsonl {
                lines: BufReader::with_capacity(BUFFER_BYTES, file),
                buffer: String::new(),
                line: 0,
            }
        } else {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .trim(csv::Trim::All)
                .buffer_capacity(BUFFER_BYTES)
                .from_reader(crate::limits::LineCapped::new(file));
            // As written (for messages), and lowercased (for finding columns).
            let display: Vec<String> = reader
                .headers()
                .map_err(|e| TraceError::Row {
                    file: path.to_path_buf(),
                    line: 1,
                    column: None,
                    message: format!("unreadable header: {e}"),
                })?
                .iter()
                .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
                .collect();
            let names: Vec<String> = display.iter().map(|h| h.to_ascii_lowercase()).collect();
            let need = |wanted: &[&str]| {
                column_index(&names, wanted).ok_or_else(|| TraceError::Row {
                    file: path.to_path_buf(),
                    line: 1,
                    column: None,
                    message: format!(
                        "a {format} trace needs a `{}` column; the header has: {}",
                        wanted[0],
                        crate::limits::list(&display)
                    ),
                })
            };
            let columns = match format {
                Format::Canonical => Columns {
                    arrival: need(&["arrival_s"])?,
                    prompt: need(&["prompt_tokens"])?,
                    output: need(&["output_tokens"])?,
                    model: column_index(&names, &["model"]),
                    ..Columns::default()
                },
                Format::Azure => Columns {
                    arrival: need(&["timestamp"])?,
                    prompt: need(&["contexttokens"])?,
                    output: need(&["generatedtokens"])?,
                    ..Columns::default()
                },
                Format::Burstgpt => Columns {
                    arrival: need(&["timestamp"])?,
                    prompt: need(&["request tokens"])?,
                    output: need(&["response tokens"])?,
                    model: column_index(&names, &["model"]),
                    ..Columns::default()
                },
                Format::Lmbench => Columns {
                    arrival: need(&["launch_time"])?,
                    prompt: need(&["prompt_tokens"])?,
                    output: need(&["generation_tokens"])?,
                    ttft: column_index(&names, &["ttft"]),
                    generation: column_index(&names, &["generation_time"]),
                    ..Columns::default()
                },
                Format::Vidur => Columns {
                    arrival: need(&["arrived_at"])?,
                    prompt: need(&["num_prefill_tokens"])?,
                    output: need(&["num_decode_tokens"])?,
                    ..Columns::default()
                },
                Format::Mooncake | Format::Llmservingsim => unreachable!("JSON lines"),
            };
            Source::Csv {
                reader,
                record: csv::ByteRecord::new(),
                columns,
                names: display,
            }
        };
        Ok(Reader {
            file: path.to_path_buf(),
            format,
            source,
            skip_bad_rows,
            keep_failed: false,
            skipped: 0,
            failed: 0,
            origin_s: None,
        })
    }

    /// Keep failed requests (zero output tokens) instead of leaving them out (they are still
    /// counted).
    pub fn keep_failed(mut self, keep: bool) -> Self {
        self.keep_failed = keep;
        self
    }

    /// The format being read.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Malformed rows skipped (with `skip_bad_rows`).
    pub fn skipped_rows(&self) -> u64 {
        self.skipped
    }

    /// Failed requests (zero output tokens) skipped.
    pub fn failed_requests(&self) -> u64 {
        self.failed
    }

    fn row_error(&self, line: u64, column: Option<String>, message: String) -> TraceError {
        TraceError::Row {
            file: self.file.clone(),
            line,
            column,
            message,
        }
    }

    /// The next raw record and its line: `Ok(None)` at the end.
    fn next_raw(&mut self) -> Result<Option<(TraceRecord, u64)>, TraceError> {
        let format = self.format;
        match &mut self.source {
            Source::Csv {
                reader,
                record,
                columns,
                names,
            } => {
                let more = reader.read_byte_record(record).map_err(|e| {
                    let line = e.position().map_or(0, |p| p.line());
                    TraceError::Row {
                        file: self.file.clone(),
                        line,
                        column: None,
                        message: format!("unreadable row: {e}"),
                    }
                })?;
                if !more {
                    return Ok(None);
                }
                let line = record.position().map_or(0, |p| p.line());
                let c = *columns;
                let field = |i: usize| -> Result<&str, (Option<String>, String)> {
                    let name = names.get(i).cloned();
                    let bytes = record
                        .get(i)
                        .ok_or_else(|| (name.clone(), "missing".to_string()))?;
                    std::str::from_utf8(bytes).map_err(|_| (name, "not UTF-8".to_string()))
                };
                let parsed = (|| {
                    let arrival_text = field(c.arrival)?;
                    let arrival_s = if format == Format::Azure {
                        parse_datetime(arrival_text).ok_or_else(|| {
                            (
                                names.get(c.arrival).cloned(),
                                format!(
                                    "{} is not a YYYY-MM-DD HH:MM:SS.fffffff timestamp",
                                    crate::limits::quote(arrival_text)
                                ),
                            )
                        })?
                    } else {
                        number(arrival_text).map_err(|m| (names.get(c.arrival).cloned(), m))?
                    };
                    let tokens = |i: usize| -> Result<u32, (Option<String>, String)> {
                        token_count(field(i)?).map_err(|m| (names.get(i).cloned(), m))
                    };
                    let optional =
                        |i: Option<usize>| -> Result<Option<f64>, (Option<String>, String)> {
                            match i {
                                None => Ok(None),
                                Some(i) => {
                                    let text = field(i)?;
                                    if text.is_empty() {
                                        Ok(None)
                                    } else {
                                        number(text)
                                            .map(Some)
                                            .map_err(|m| (names.get(i).cloned(), m))
                                    }
                                }
                            }
                        };
                    let ttft_s = optional(c.ttft)?;
                    let generation_s = optional(c.generation)?;
                    Ok(TraceRecord {
                        arrival_s,
                        prompt_tokens: tokens(c.prompt)?,
                        output_tokens: tokens(c.output)?,
                        model: match c.model {
                            Some(i) => Some(field(i)?.to_string()).filter(|m| !m.is_empty()),
                            None => None,
                        },
                        ttft_s,
                        e2e_s: ttft_s.zip(generation_s).map(|(a, b)| a + b),
                    })
                })();
                parsed
                    .map(|r| Some((r, line)))
                    .map_err(|(column, message)| self.row_error(line, column, message))
            }
            Source::Jsonl {
                lines,
                buffer,
                line,
            } => loop {
                buffer.clear();
                let n = lines
                    .by_ref()
                    .take(MAX_LINE_BYTES)
                    .read_line(buffer)
                    .map_err(|e| TraceError::Row {
                        file: self.file.clone(),
                        line: *line + 1,
                        column: None,
                        message: format!("unreadable line: {e}"),
                    })?;
                if n == 0 {
                    return Ok(None);
                }
                *line += 1;
                if n as u64 == MAX_LINE_BYTES && !buffer.ends_with('\n') {
                    return Err(TraceError::Row {
                        file: self.file.clone(),
                        line: *line,
                        column: None,
                        message: format!("line longer than {MAX_LINE_BYTES} bytes"),
                    });
                }
                let text = buffer.trim().trim_start_matches('\u{feff}');
                if text.is_empty() {
                    continue;
                }
                let at = *line;
                let json: JsonRecord = serde_json::from_str(text).map_err(|e| TraceError::Row {
                    file: self.file.clone(),
                    line: at,
                    column: Some(format!("column {}", e.column())),
                    message: format!("not a {format} record: {e}"),
                })?;
                let err = |field: &str, message: String| TraceError::Row {
                    file: self.file.clone(),
                    line: at,
                    column: Some(field.to_string()),
                    message,
                };
                let need = |v: Option<f64>, field: &str| {
                    v.ok_or_else(|| err(field, "missing".to_string()))
                };
                let tokens = |v: Option<f64>, field: &str| -> Result<u32, TraceError> {
                    let v = need(v, field)?;
                    token_value(v).map_err(|m| err(field, m))
                };
                let finite = |v: f64, field: &str| -> Result<f64, TraceError> {
                    if v.is_finite() {
                        Ok(v)
                    } else {
                        Err(err(field, format!("must be a finite number, got {v}")))
                    }
                };
                let record = match format {
                    Format::Mooncake => TraceRecord {
                        arrival_s: finite(need(json.timestamp, "timestamp")?, "timestamp")?
                            / 1000.0,
                        prompt_tokens: tokens(json.input_length, "input_length")?,
                        output_tokens: tokens(json.output_length, "output_length")?,
                        model: json.model,
                        ttft_s: None,
                        e2e_s: None,
                    },
                    _ => {
                        let arrival_s = match (json.arrival_time_ns, json.arrival_time) {
                            (Some(ns), _) => finite(ns, "arrival_time_ns")? / 1e9,
                            (None, Some(s)) => finite(s, "arrival_time")?,
                            (None, None) => {
                                return Err(err(
                                    "arrival_time_ns",
                                    "missing (or arrival_time)".into(),
                                ));
                            }
                        };
                        let since_queued =
                            |t: Option<f64>| json.queued_ts.zip(t).map(|(q, t)| t - q);
                        TraceRecord {
                            arrival_s,
                            prompt_tokens: tokens(json.input_toks, "input_toks")?,
                            output_tokens: tokens(json.output_toks, "output_toks")?,
                            model: json.model,
                            ttft_s: since_queued(json.first_token_ts),
                            e2e_s: since_queued(json.last_token_ts),
                        }
                    }
                };
                return Ok(Some((record, at)));
            },
        }
    }
}

impl Reader {
    /// The name of the arrival field, for messages.
    fn arrival_field(&self) -> String {
        match &self.source {
            Source::Csv { columns, names, .. } => names[columns.arrival].clone(),
            Source::Jsonl { .. } if self.format == Format::Mooncake => "timestamp".into(),
            Source::Jsonl { .. } => "arrival_time_ns".into(),
        }
    }

    /// Checks what one row cannot show alone: its arrival within
    /// [`super::transform::MAX_ARRIVAL_S`] of the first record's, and measured times that run
    /// forwards.
    fn check(&mut self, r: TraceRecord, line: u64) -> Result<TraceRecord, TraceError> {
        let max = super::transform::MAX_ARRIVAL_S;
        let origin = *self.origin_s.get_or_insert(r.arrival_s);
        let since_s = r.arrival_s - origin;
        if since_s.abs() > max {
            let field = self.arrival_field();
            return Err(self.row_error(
                line,
                Some(field),
                format!(
                    "arrives {since_s:e} s after the first request: beyond {max:e} s, the timestamps cannot be right"
                ),
            ));
        }
        let (Some(ttft_s), e2e_s) = (r.ttft_s, r.e2e_s) else {
            return Ok(r);
        };
        if self.format == Format::Lmbench {
            let generation_s = e2e_s.map_or(0.0, |e| e - ttft_s);
            if ttft_s < 0.0 || generation_s < 0.0 {
                let message =
                    format!("negative times (ttft {ttft_s} s, generation {generation_s} s)");
                return Err(self.row_error(line, None, message));
            }
            return Ok(r);
        }
        if ttft_s < 0.0 {
            let message = "first_token_ts is before the request was queued".to_string();
            return Err(self.row_error(line, Some("first_token_ts".into()), message));
        }
        if e2e_s.is_some_and(|e| e < ttft_s) {
            let message = "last_token_ts is before first_token_ts".to_string();
            return Err(self.row_error(line, Some("last_token_ts".into()), message));
        }
        Ok(r)
    }
}

/// A token count: a whole number from 0 to 10^7.
fn token_value(v: f64) -> Result<u32, String> {
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= crate::spec::MAX_TOKENS {
        Ok(v as u32)
    } else {
        Err(format!(
            "must be a whole number of tokens from 0 to {:e}, got {v}",
            crate::spec::MAX_TOKENS
        ))
    }
}

fn token_count(text: &str) -> Result<u32, String> {
    // The common case, fast: plain digits.
    if !text.is_empty() && text.len() <= 7 && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(text
            .bytes()
            .fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0')));
    }
    token_value(number(text)?)
}

impl Iterator for Reader {
    type Item = Result<TraceRecord, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self
                .next_raw()
                .and_then(|r| r.map(|(r, line)| self.check(r, line)).transpose())
            {
                Ok(None) => return None,
                Ok(Some(r)) if r.output_tokens == 0 => {
                    self.failed += 1;
                    if self.keep_failed {
                        return Some(Ok(r));
                    }
                }
                Ok(Some(r)) => return Some(Ok(r)),
                Err(e) if e.is_row() && self.skip_bad_rows => self.skipped += 1,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Reads every record of `path` (after the transforms), with arrivals from 0.
pub fn read_all(
    path: &Path,
    format: Option<Format>,
    transforms: &super::Transforms,
    skip_bad_rows: bool,
) -> Result<Vec<TraceRecord>, TraceError> {
    super::Trace::open(path, format, transforms, skip_bad_rows)?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        (dir, path)
    }

    fn read(text: &str, skip: bool) -> (Result<Vec<TraceRecord>, TraceError>, u64, u64) {
        let (_dir, path) = write("t", text);
        let mut reader = Reader::open(&path, None, skip).unwrap();
        let records: Result<Vec<_>, _> = reader.by_ref().collect();
        (records, reader.skipped_rows(), reader.failed_requests())
    }

    #[test]
    fn reads_each_format() {
        let cases = [
            (
                "arrival_s,prompt_tokens,output_tokens,model\n0.5,10,20,m\n",
                0.5,
                10,
                20,
            ),
            (
                "TIMESTAMP,ContextTokens,GeneratedTokens\n1970-01-01 00:00:01.5000000,374,44",
                1.5,
                374,
                44,
            ),
            (
                "{\"timestamp\": 1500, \"input_length\": 6758, \"output_length\": 500, \"hash_ids\": [0, 1]}\n",
                1.5,
                6758,
                500,
            ),
            (
                "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,472,18,490,Conversation log\n",
                5.0,
                472,
                18,
            ),
            (
                "prompt_tokens,generation_tokens,ttft,generation_time,launch_time,finish_time\n689,275,0.17,14.6,1746153890.5,1746153905.3\n",
                1_746_153_890.5,
                689,
                275,
            ),
            (
                "arrived_at,num_prefill_tokens,num_decode_tokens\n2.25,100,7\n",
                2.25,
                100,
                7,
            ),
            (
                "{\"input_toks\": 2358, \"output_toks\": 531, \"arrival_time_ns\": 46926808, \"input_tok_ids\": [1, 2]}\n",
                0.046926808,
                2358,
                531,
            ),
        ];
        for (text, arrival, prompt, output) in cases {
            let (records, _, _) = read(text, false);
            let r = &records.unwrap()[0];
            assert!((r.arrival_s - arrival).abs() < 1e-6, "{text}: {r:?}");
            assert_eq!(
                (r.prompt_tokens, r.output_tokens),
                (prompt, output),
                "{text}"
            );
        }
    }

    #[test]
    fn measured_latencies_come_along() {
        let (records, _, _) = read(
            "prompt_tokens,generation_tokens,ttft,generation_time,launch_time,finish_time\n689,275,0.25,14.5,10,25\n",
            false,
        );
        let r = &records.unwrap()[0];
        assert_eq!((r.ttft_s, r.e2e_s), (Some(0.25), Some(14.75)));
        let (records, _, _) = read(
            "{\"input_toks\": 5, \"output_toks\": 6, \"arrival_time\": 100.0, \"queued_ts\": 7.0, \"first_token_ts\": 7.5, \"last_token_ts\": 9.0}\n",
            false,
        );
        let r = &records.unwrap()[0];
        assert_eq!((r.ttft_s, r.e2e_s), (Some(0.5), Some(2.0)));
    }

    #[test]
    fn a_bad_row_names_file_line_and_column_or_is_skipped() {
        let text = "arrival_s,prompt_tokens,output_tokens\n0,10,20\n1,ten,20\n2,10,20\n";
        let (records, _, _) = read(text, false);
        let message = records.unwrap_err().to_string();
        assert!(
            message.ends_with(":3: prompt_tokens: `ten` is not a number"),
            "{message}"
        );
        let (records, skipped, _) = read(text, true);
        assert_eq!((records.unwrap().len(), skipped), (2, 1));

        let (records, _, _) = read(
            "{\"timestamp\": 1, \"input_length\": 1, \"output_length\": 1}\n{\"timestamp\": 2, \"input_length\": -1, \"output_length\": 1}\n",
            false,
        );
        let message = records.unwrap_err().to_string();
        assert!(
            message.contains(":2: input_length: must be a whole number"),
            "{message}"
        );
        let (records, _, _) = read(
            "{\"timestamp\": 1, \"input_length\": 1, \"output_length\": 1}\n{\"timestamp\": 1, \"input_len",
            false,
        );
        let message = records.unwrap_err().to_string();
        assert!(message.contains(":2: column"), "{message}");
    }

    #[test]
    fn failed_requests_are_counted_and_skipped() {
        let (records, _, failed) = read(
            "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n1,ChatGPT,10,0,10,API log\n2,GPT-4,10,5,15,API log\n",
            false,
        );
        let records = records.unwrap();
        assert_eq!((records.len(), failed), (1, 1));
        assert_eq!(records[0].model.as_deref(), Some("GPT-4"));
    }

    #[test]
    fn an_unknown_header_asks_for_the_format() {
        let (_dir, path) = write("t.csv", "a,b,c\n1,2,3\n");
        let err = Reader::open(&path, None, false).err().unwrap().to_string();
        assert!(err.contains("give `trace_format`"), "{err}");
        let (_dir, path) = write("t.csv", "a,b,c\n1,2,3\n");
        let err = Reader::open(&path, Some(Format::Vidur), false)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("needs a `arrived_at` column"), "{err}");
    }
}
