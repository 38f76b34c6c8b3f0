//! Summaries of load sweeps: one row per benchmark run (a concurrency level or a request
//! rate), with the run's token lengths and its measured TTFT and TPOT. This is what vendor
//! tables, `vllm bench serve` results, GuideLLM reports and upstream's run16 curve give; the
//! rows are fitted through the simulator ([`super::calibrate`]), which runs each one as the
//! benchmark did (closed loop at its concurrency, or arrivals at its rate).
//!
//! A sweep CSV names its columns canonically (below) or maps them with
//! `--columns canonical=their_name,...`; lines starting with `#` are comments, and an empty or
//! `nan` cell is a figure the run did not record.

use super::read::{ColumnMap, cell};
use crate::error::{Field, request_error};
use crate::estimate::EstimateError;
use crate::estimate::read::json;
use serde::Serialize;
use std::path::Path;

/// The canonical columns of a sweep table.
pub const COLUMNS: [&str; 17] = [
    "concurrency",
    "rate_rps",
    "prompt_tokens",
    "output_tokens",
    "shape",
    "ttft_ms",
    "ttft_p50_ms",
    "ttft_p90_ms",
    "ttft_p99_ms",
    "tpot_ms",
    "itl_ms",
    "throughput_rps",
    "throughput_rpm",
    "replicas",
    "max_num_seqs",
    "max_num_batched_tokens",
    "achieved_rpm",
];

/// Longest mean prompt a sweep row may have, tokens.
pub const MAX_PROMPT_TOKENS: f64 = 1_000_000.0;
/// Longest mean output a sweep row may have, tokens: calibration simulates every output token
/// of every request, many times over.
pub const MAX_OUTPUT_TOKENS: f64 = 65_536.0;

/// Most clients a sweep row may have (calibration simulates each of them).
pub const MAX_CLIENTS: u32 = 100_000;

/// How a run loaded the server.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Drive {
    /// A fixed number of clients, each sending its next request when the last completes.
    Concurrency(u32),
    /// Arrivals at a rate, requests/s (Poisson).
    RateRps(f64),
    /// Arrivals at a rate, requests/s (Poisson), over all the row's replicas behind a
    /// round-robin router: what a variant served in production (`wva observe`), where each
    /// replica sees every `replicas`-th request, a steadier stream than Poisson.
    FleetRateRps(f64),
}

impl Drive {
    /// `concurrency 16` or `1.50 req/s`.
    pub fn label(self) -> String {
        match self {
            Drive::Concurrency(c) => format!("concurrency {c}"),
            Drive::RateRps(r) => format!("{r:.2} req/s"),
            Drive::FleetRateRps(r) => format!("{r:.2} req/s over the fleet"),
        }
    }
}

/// The TTFT statistic a row gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TtftStat {
    /// Mean.
    Mean,
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 99th percentile.
    P99,
}

impl TtftStat {
    /// `mean`, `p50`, ...
    pub fn name(self) -> &'static str {
        match self {
            TtftStat::Mean => "mean",
            TtftStat::P50 => "p50",
            TtftStat::P90 => "p90",
            TtftStat::P99 => "p99",
        }
    }

    /// This statistic of a summary.
    pub fn of(self, s: &crate::sim::metrics::Summary) -> f64 {
        match self {
            TtftStat::Mean => s.mean,
            TtftStat::P50 => s.p50,
            TtftStat::P90 => s.p90,
            TtftStat::P99 => s.p99,
        }
    }
}

/// Which per-token latency a row gives: TPOT (per request, first token excluded) or the mean
/// inter-token latency (per gap). Their means differ where requests have different lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStat {
    /// Mean time per output token.
    Tpot,
    /// Mean inter-token latency.
    Itl,
}

/// One run of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepRow {
    /// Where it comes from (`file:line`).
    pub origin: String,
    /// Which input file (index in the list given).
    pub file: usize,
    /// How the run loaded the server.
    pub drive: Drive,
    /// Mean prompt tokens.
    pub prompt_tokens: f64,
    /// Mean output tokens.
    pub output_tokens: f64,
    /// The measured TTFT and which statistic it is, ms.
    pub ttft_ms: Option<(TtftStat, f64)>,
    /// The measured mean TPOT or ITL, ms.
    pub token_ms: Option<(TokenStat, f64)>,
    /// Completions per second the run achieved, when recorded.
    pub throughput_rps: Option<f64>,
    /// Replicas the load was spread over.
    pub replicas: u32,
    /// The engine's max batch, when recorded.
    pub max_num_seqs: Option<u32>,
    /// The engine's token budget, when recorded.
    pub max_num_batched_tokens: Option<u32>,
}

/// Whether a CSV header (lowercase names) looks like a sweep summary.
pub fn looks_like_sweep(header: &[String]) -> bool {
    let has = |c: &str| header.iter().any(|h| h == c);
    let load = has("concurrency") || has("rate_rps");
    let latency = ["ttft_ms", "ttft_p50_ms", "tpot_ms", "itl_ms"]
        .iter()
        .any(|c| has(c));
    load && latency
}

/// A summary CSV opened for reading: its name for messages, the reader (cells trimmed, `#`
/// lines comments, rows of any length, lines capped) and its header in lowercase.
pub(crate) type SummaryCsv = (
    String,
    csv::Reader<crate::limits::LineCapped<std::fs::File>>,
    Vec<String>,
);

/// Opens a summary CSV (a sweep table, `wva observe`'s observations).
pub(crate) fn open_csv(path: &Path) -> Result<SummaryCsv, EstimateError> {
    let name = path.display().to_string();
    let handle = std::fs::File::open(path).map_err(|e| format!("{name}: {e}"))?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .comment(Some(b'#'))
        .from_reader(crate::limits::LineCapped::new(handle));
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("{name}:1: unreadable header: {e}"))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    Ok((name, reader, header))
}

/// Reads a sweep CSV.
pub fn read_csv(path: &Path, map: &ColumnMap, file: usize) -> Result<Vec<SweepRow>, EstimateError> {
    let (name, mut reader, header) = open_csv(path)?;
    let column = |field: &str| -> Option<usize> {
        let wanted = map.column_of(field);
        header.iter().position(|h| *h == wanted)
    };
    let missing = |what: &str| {
        EstimateError::from(request_error!(
            format!(
                "{name}: a sweep needs {what}; the header has: {} (map other names with ",
                crate::limits::list(&header)
            ),
            Field("columns"),
            " canonical=theirs)"
        ))
    };
    let concurrency = column("concurrency");
    let rate = column("rate_rps");
    if concurrency.is_none() && rate.is_none() {
        return Err(missing("a `concurrency` or a `rate_rps` column"));
    }
    let shape = column("shape");
    let (prompt, output) = (column("prompt_tokens"), column("output_tokens"));
    if shape.is_none() && (prompt.is_none() || output.is_none()) {
        return Err(missing(
            "`prompt_tokens` and `output_tokens` columns (or `shape`, PROMPTxOUTPUT)",
        ));
    }
    let ttft_columns: Vec<(TtftStat, usize)> = [
        ("ttft_ms", TtftStat::Mean),
        ("ttft_p50_ms", TtftStat::P50),
        ("ttft_p90_ms", TtftStat::P90),
        ("ttft_p99_ms", TtftStat::P99),
    ]
    .iter()
    .filter_map(|(c, s)| column(c).map(|i| (*s, i)))
    .collect();
    let token_columns: Vec<(TokenStat, usize)> =
        [("tpot_ms", TokenStat::Tpot), ("itl_ms", TokenStat::Itl)]
            .iter()
            .filter_map(|(c, s)| column(c).map(|i| (*s, i)))
            .collect();
    if ttft_columns.is_empty() && token_columns.is_empty() {
        return Err(missing(
            "a latency column: ttft_ms (or ttft_p50_ms, ttft_p90_ms, ttft_p99_ms), tpot_ms or itl_ms",
        ));
    }
    let throughput_rps = column("throughput_rps");
    let throughput_rpm = column("throughput_rpm").or_else(|| column("achieved_rpm"));
    let (replicas, seqs, budget) = (
        column("replicas"),
        column("max_num_seqs"),
        column("max_num_batched_tokens"),
    );

    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("{name}: unreadable row: {e}"))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        // A figure, or None where the run recorded none (empty or nan).
        let figure = |i: Option<usize>| -> Result<Option<f64>, EstimateError> {
            let Some(i) = i else { return Ok(None) };
            let text = record.get(i).unwrap_or("").trim();
            if text.is_empty() || text.eq_ignore_ascii_case("nan") {
                return Ok(None);
            }
            cell(&name, line, &header, &record, i).map(Some)
        };
        let at = |i: usize, what: &str| format!("{name}:{line}:{}: {}: {what}", i + 1, header[i]);
        let positive = |i: Option<usize>| -> Result<Option<f64>, EstimateError> {
            match figure(i)? {
                Some(v) if v <= 0.0 => Err(at(i.unwrap_or(0), "must be positive").into()),
                v => Ok(v),
            }
        };
        let whole = |i: Option<usize>, max: u32| -> Result<Option<u32>, EstimateError> {
            match figure(i)? {
                None => Ok(None),
                Some(v) if v >= 1.0 && v.fract() == 0.0 && v <= f64::from(max) => {
                    Ok(Some(v as u32))
                }
                Some(v) => Err(at(
                    i.unwrap_or(0),
                    &format!("expected a whole number from 1 to {max}, got {v}"),
                )
                .into()),
            }
        };
        let drive = match (whole(concurrency, MAX_CLIENTS)?, positive(rate)?) {
            (Some(c), _) => Drive::Concurrency(c),
            (None, Some(r)) => Drive::RateRps(
                crate::limits::at_most(r, crate::limits::MAX_RATE_RPS)
                    .map_err(|e| at(rate.unwrap_or(0), &e))?,
            ),
            (None, None) => {
                return Err(format!(
                    "{name}:{line}: the row gives neither a concurrency nor a rate"
                )
                .into());
            }
        };
        let (prompt_tokens, output_tokens) = match (positive(prompt)?, positive(output)?) {
            (Some(p), Some(o)) => (p, o),
            _ => {
                let i = shape.ok_or_else(|| {
                    format!("{name}:{line}: the row gives no prompt_tokens and output_tokens")
                })?;
                let text = record.get(i).unwrap_or("");
                text.split_once(['x', 'X'])
                    .and_then(|(p, o)| {
                        Some((p.trim().parse::<f64>().ok()?, o.trim().parse::<f64>().ok()?))
                    })
                    .filter(|(p, o)| *p >= 1.0 && *o >= 1.0 && p.is_finite() && o.is_finite())
                    .ok_or_else(|| {
                        at(
                            i,
                            &format!(
                                "expected PROMPTxOUTPUT tokens (1024x512), got {}",
                                crate::limits::quote(text)
                            ),
                        )
                    })?
            }
        };
        if prompt_tokens > MAX_PROMPT_TOKENS || output_tokens > MAX_OUTPUT_TOKENS {
            return Err(format!(
                "{name}:{line}: a run's mean prompt is at most {MAX_PROMPT_TOKENS} tokens and its mean output at most {MAX_OUTPUT_TOKENS} (calibration simulates every output token)"
            ).into());
        }
        let mut ttft_ms = None;
        for (stat, i) in &ttft_columns {
            if let Some(v) = positive(Some(*i))? {
                ttft_ms = Some((*stat, v));
                break;
            }
        }
        let mut token_ms = None;
        for (stat, i) in &token_columns {
            if let Some(v) = positive(Some(*i))? {
                token_ms = Some((*stat, v));
                break;
            }
        }
        if ttft_ms.is_none() && token_ms.is_none() {
            continue;
        }
        if token_ms.is_some() && output_tokens < 2.0 {
            return Err(format!("{name}:{line}: a TPOT needs more than one output token").into());
        }
        rows.push(SweepRow {
            origin: format!("{name}:{line}"),
            file,
            drive,
            prompt_tokens,
            output_tokens,
            ttft_ms,
            token_ms,
            throughput_rps: match positive(throughput_rps)? {
                Some(v) => Some(v),
                None => positive(throughput_rpm)?.map(|v| v / 60.0),
            },
            replicas: whole(replicas, crate::limits::MAX_REPLICAS)?.unwrap_or(1),
            max_num_seqs: whole(seqs, crate::limits::MAX_BATCH)?,
            max_num_batched_tokens: whole(budget, u32::MAX)?,
        });
    }
    if rows.is_empty() {
        return Err(format!("{name}: no run with a latency figure").into());
    }
    Ok(rows)
}

/// The direct (no queueing) observations of rows with a TPOT or ITL: one mean decode
/// iteration each, at the batch Little's law gives (see `read::json::point`). Concurrency rows
/// without a throughput take it from the clients' cycle, `concurrency / (TTFT + decode)`.
pub fn direct_observations(rows: &[SweepRow]) -> Result<Vec<super::Observation>, EstimateError> {
    let mut out = Vec::new();
    for r in rows {
        let Some((_, token_ms)) = r.token_ms else {
            continue;
        };
        let decode_ms = (r.output_tokens - 1.0) * token_ms;
        let rate_rps = match (r.throughput_rps, r.drive) {
            (Some(x), _) | (None, Drive::RateRps(x) | Drive::FleetRateRps(x)) => x,
            (None, Drive::Concurrency(c)) => {
                let ttft_ms = r.ttft_ms.map_or(0.0, |t| t.1);
                f64::from(c) * 1000.0 / (ttft_ms + decode_ms)
            }
        } / f64::from(r.replicas.max(1));
        let mut o = json::point(
            rate_rps,
            token_ms,
            r.prompt_tokens,
            r.output_tokens,
            r.origin.clone(),
        )?;
        o.file = r.file;
        out.push(o);
    }
    Ok(out)
}

/// A vLLM `bench serve` result as one row: a concurrency run when `max_concurrency` is set
/// and the request rate unlimited, else arrivals at the request rate (or at the throughput).
pub fn vllm_bench(path: &Path, file: usize) -> Result<SweepRow, EstimateError> {
    let v = json::load(path)?;
    let get = |field: &str| json::number(&v[field], field, path);
    let completed = get("completed")?;
    if completed <= 0.0 {
        return Err(format!("{}: completed: no request completed", path.display()).into());
    }
    let throughput = if v["duration"].is_null() {
        get("request_throughput")?
    } else {
        let duration = get("duration")?;
        if duration <= 0.0 {
            return Err(format!(
                "{}: duration: must be positive, got {duration}",
                path.display()
            )
            .into());
        }
        completed / duration
    };
    if !(throughput.is_finite() && throughput > 0.0) {
        return Err(format!(
            "{}: the request rate must be positive and finite, got {throughput}",
            path.display()
        )
        .into());
    }
    let rate = v["request_rate"]
        .as_f64()
        .filter(|r| r.is_finite() && *r > 0.0);
    let concurrency = v["max_concurrency"]
        .as_u64()
        .filter(|c| *c >= 1 && *c <= u64::from(MAX_CLIENTS));
    let drive = match (concurrency, rate) {
        (Some(c), None) => Drive::Concurrency(c as u32),
        (_, Some(r)) => Drive::RateRps(r),
        (None, None) => Drive::RateRps(throughput),
    };
    let optional = |field: &str| v[field].as_f64().filter(|x| x.is_finite() && *x > 0.0);
    let ttft_ms = optional("median_ttft_ms")
        .map(|x| (TtftStat::P50, x))
        .or_else(|| optional("mean_ttft_ms").map(|x| (TtftStat::Mean, x)));
    Ok(SweepRow {
        origin: path.display().to_string(),
        file,
        drive,
        prompt_tokens: get("total_input_tokens")? / completed,
        output_tokens: get("total_output_tokens")? / completed,
        ttft_ms,
        token_ms: Some((TokenStat::Tpot, get("mean_tpot_ms")?)),
        throughput_rps: Some(throughput),
        replicas: 1,
        max_num_seqs: None,
        max_num_batched_tokens: None,
    })
}

/// A GuideLLM report: one row per benchmark, arrivals at its achieved request rate.
pub fn guidellm(path: &Path, file: usize) -> Result<Vec<SweepRow>, EstimateError> {
    let v = json::load(path)?;
    let benchmarks = v["benchmarks"]
        .as_array()
        .ok_or_else(|| format!("{}: benchmarks: expected a list", path.display()))?;
    let mut out = Vec::new();
    for (i, b) in benchmarks.iter().enumerate() {
        let metric = |m: &str| b["metrics"][m]["successful"]["mean"].as_f64();
        let mean = |m: &str| {
            json::number(
                &b["metrics"][m]["successful"]["mean"],
                &format!("benchmarks[{i}].metrics.{m}.successful.mean"),
                path,
            )
        };
        let rate = mean("requests_per_second")?;
        // The inter-token latency excludes the first token, as vLLM's TPOT does; GuideLLM's
        // own time per output token includes it.
        let token_ms = if b["metrics"]["inter_token_latency_ms"].is_null() {
            (TokenStat::Tpot, mean("time_per_output_token_ms")?)
        } else {
            (TokenStat::Itl, mean("inter_token_latency_ms")?)
        };
        let ttft_ms = metric("time_to_first_token_ms")
            .filter(|x| x.is_finite() && *x > 0.0)
            .map(|x| (TtftStat::Mean, x));
        out.push(SweepRow {
            origin: format!("{}: benchmarks[{i}]", path.display()),
            file,
            drive: Drive::RateRps(rate),
            prompt_tokens: mean("prompt_token_count")?,
            output_tokens: mean("output_token_count")?,
            ttft_ms,
            token_ms: Some(token_ms),
            throughput_rps: Some(rate),
            replicas: 1,
            max_num_seqs: None,
            max_num_batched_tokens: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.csv");
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn reads_canonical_columns_shapes_comments_and_missing_figures() {
        let (_d, p) = write(
            "shape,concurrency,achieved_rpm,itl_ms,ttft_ms\n# a comment\n1024x512,4,160,15.5,589.7\n1024x2048,64,96,29.3,nan\n",
        );
        let rows = read_csv(&p, &ColumnMap::default(), 0).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].drive, Drive::Concurrency(4));
        assert_eq!(
            (rows[0].prompt_tokens, rows[0].output_tokens),
            (1024.0, 512.0)
        );
        assert_eq!(rows[0].ttft_ms, Some((TtftStat::Mean, 589.7)));
        assert_eq!(rows[0].token_ms, Some((TokenStat::Itl, 15.5)));
        assert!((rows[0].throughput_rps.unwrap() - 160.0 / 60.0).abs() < 1e-12);
        assert_eq!(rows[1].ttft_ms, None);
        assert!(rows[1].origin.ends_with(":4"), "{}", rows[1].origin);
    }

    #[test]
    fn maps_other_names_and_reads_rates() {
        let (_d, p) = write("qps,isl,osl,ttft_median,tpot\n1.5,1000,200,120,30\n");
        let map: ColumnMap =
            "rate_rps=qps,prompt_tokens=isl,output_tokens=osl,ttft_p50_ms=ttft_median,tpot_ms=tpot"
                .parse()
                .unwrap();
        let rows = read_csv(&p, &map, 2).unwrap();
        assert_eq!(rows[0].drive, Drive::RateRps(1.5));
        assert_eq!(rows[0].ttft_ms, Some((TtftStat::P50, 120.0)));
        assert_eq!(rows[0].token_ms, Some((TokenStat::Tpot, 30.0)));
        assert_eq!(rows[0].file, 2);
    }

    #[test]
    fn bad_rows_name_file_line_and_column() {
        let (_d, p) =
            write("concurrency,prompt_tokens,output_tokens,ttft_ms\n4,100,50,10\n2.5,100,50,10\n");
        let e = read_csv(&p, &ColumnMap::default(), 0).unwrap_err();
        assert!(
            e.to_string()
                .contains("s.csv:3:1: concurrency: expected a whole number"),
            "{e}"
        );
        let (_d, p) = write("concurrency,prompt_tokens,output_tokens,ttft_ms\n4,100,50,-1\n");
        let e = read_csv(&p, &ColumnMap::default(), 0).unwrap_err();
        assert!(
            e.to_string()
                .contains("s.csv:2:4: ttft_ms: must be positive"),
            "{e}"
        );
        let (_d, p) = write("concurrency,ttft_ms\n4,10\n");
        let e = read_csv(&p, &ColumnMap::default(), 0).unwrap_err();
        assert!(e.to_string().contains("prompt_tokens"), "{e}");
    }
}
