//! A simulation's CSV side files: every request's outcome (`wva simulate --requests-out`), with
//! the trace's measured latencies beside the simulated ones when it has them, and the
//! per-bucket timeline (`--timeline`).

use crate::sim::{SimConfig, SimResult, TIMELINE_COLUMNS, TimelineRow};
use crate::trace::TraceRecord;

/// The timeline as CSV, header included (also when there are no rows).
pub fn timeline(rows: &[TimelineRow]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    writer.write_record(TIMELINE_COLUMNS)?;
    for row in rows {
        writer.serialize(row)?;
    }
    writer.into_inner().map_err(|e| e.into_error().into())
}

/// Every request's outcome of `result` (run on `config`), by request id, as CSV; `records`
/// give the measured latencies of a trace's requests.
pub fn request_outcomes(
    result: &SimResult,
    config: &SimConfig,
    records: Option<&[TraceRecord]>,
) -> String {
    let mut starts = Vec::new();
    let mut n = 0u32;
    for g in &config.groups {
        starts.push(n);
        n += g.engines.len() as u32;
    }
    let mut outcomes = result.requests.clone();
    outcomes.sort_by_key(|o| o.id);
    let mut text = String::from(
        "id,workload,replica,arrival_s,prompt_tokens,output_tokens,queue_wait_ms,ttft_ms,e2e_ms,preemptions,rejected,counted,measured_ttft_ms,measured_e2e_ms\n",
    );
    let num = |v: f64| {
        if v.is_finite() {
            format!("{v:.3}")
        } else {
            String::new()
        }
    };
    for o in &outcomes {
        let g = o.group as usize;
        let measured = records.and_then(|r| r.get(o.id as usize));
        let ms = |v: Option<f64>| v.map_or(String::new(), |s| num(s * 1000.0));
        text.push_str(&format!(
            "{},{},{},{:.6},{},{},{},{},{},{},{},{},{},{}\n",
            o.id,
            config.groups[g].name,
            o.replica - starts[g],
            o.arrival_ms / 1000.0,
            o.prompt_tokens,
            o.output_tokens,
            num(o.queue_wait_ms),
            num(o.ttft_ms),
            num(o.e2e_ms),
            o.preemptions,
            o.rejected,
            o.counted,
            ms(measured.and_then(|m| m.ttft_s)),
            ms(measured.and_then(|m| m.e2e_s)),
        ));
    }
    text
}
